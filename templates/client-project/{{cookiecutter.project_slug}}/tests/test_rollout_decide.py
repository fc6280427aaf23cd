"""`python -m ci.rollout decide` against the shared vectors (tests/vectors/), the same vectors
aideploy holds every cloud's rollback path to: one rule, whoever applies it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components import rollout

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "rollout_decisions.json").read_text())


def _decide(text: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = rollout.main(io.StringIO(text), stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("vector", VECTORS["decisions"], ids=lambda v: v["name"])
def test_each_vector_gets_its_decision(vector: dict[str, Any]) -> None:
    code, out, err = _decide(json.dumps(vector["input"]))
    decision = json.loads(out)
    assert code == 0 and err == ""
    assert (decision["action"], decision["page"]) == (vector["action"], vector["page"])


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_input_that_does_not_fit_exits_2_with_one_line(vector: dict[str, Any]) -> None:
    code, out, err = _decide(json.dumps(vector["input"]))
    assert (code, out) == (2, "") and err.count("\n") == 1 and vector["error"] in err


def test_the_command_line_is_the_same_function() -> None:
    vector = VECTORS["decisions"][0]
    result = subprocess.run(
        [sys.executable, "-m", "ci.rollout", "decide"], input=json.dumps(vector["input"]),
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["action"] == vector["action"]
