"""An LLM project's model validation judges its guardrail, not a label it cannot produce.

The classifier's evaluation set scores an exact label; a hosted LLM answers in free text, so that
set would fail every release at the pipeline's model-validation and integration stages. An LLM
project gets eval/data/guardrail.jsonl instead: known injections must be refused before the
model, ordinary questions answered. Run the way the pipeline runs it (`python -m eval.run
--local`, the project's own files), it passes with the stack file's guardrail and fails when the
guardrail is weakened; and a deployed endpoint's refusals and withheld answers are read as such.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.llm import LlmMode
from components.spec import Cloud, Pattern
from templates.generator import generate
from tests.conftest import sample_answers


def _project(tmp_path: Path, mode: LlmMode) -> Path:
    target = tmp_path / mode.value
    generate(sample_answers(Cloud.AWS, Pattern.API_FIRST, llm=mode), target, rng=random.Random(0))
    return target


def _evaluate(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eval.run", "--stack", "prod", "--local"],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("mode", [LlmMode.HOSTED, LlmMode.SELF_HOSTED])
def test_an_llm_projects_validation_judges_its_guardrail(tmp_path: Path, mode: LlmMode) -> None:
    project = _project(tmp_path, mode)
    config = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    evaluation = config["acme-support:evaluation"]
    assert evaluation["scorer"] == "eval.scorers:guardrail_outcome"
    rows = [json.loads(line) for line in (project / evaluation["dataset"]).read_text().splitlines()]
    assert {r["expected"] for r in rows} == {"<answered>", "<blocked:prompt>"}
    passed = _evaluate(project)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "score 1.000" in passed.stdout
    # The same evaluation with prompt-attack detection off: the injections are answered.
    for env in ("dev", "staging", "prod"):
        path = project / "stacks" / f"Pulumi.{env}.yaml"
        path.write_text(path.read_text().replace("prompt_attack: high", "prompt_attack: 'off'"))
    failed = _evaluate(project)
    assert failed.returncode == 1 and "FAIL" in failed.stdout, failed.stdout + failed.stderr
    assert "score 0.500" in failed.stdout


def test_a_classic_project_keeps_its_label_evaluation(tmp_path: Path) -> None:
    project = _project(tmp_path, LlmMode.NONE)
    config = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    assert config["acme-support:evaluation"]["scorer"] == "eval.scorers:exact_match"
    assert not (project / "eval" / "data" / "guardrail.jsonl").exists()


def test_a_deployed_endpoints_refusals_are_read_as_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--endpoint: a 400 with "blocked": "prompt" and a 200 with "blocked": "response" are the
    guardrail's outcomes (no version: not a foreign model); any other non-200 stops the run."""
    project = _project(tmp_path, LlmMode.HOSTED)
    monkeypatch.syspath_prepend(str(project))
    for name in [m for m in sys.modules if m == "eval" or m.startswith(("eval.", "ci."))]:
        monkeypatch.delitem(sys.modules, name)
    from ci import api_client  # the project's own
    from eval import run

    answers = {
        "attack": (400, {"error": "blocked", "blocked": "prompt"}),
        "withheld": (200, {"prediction": "Sorry", "blocked": "response", "version": "1.0.0"}),
        "answered": (200, {"prediction": "Reset it under Settings.", "version": "1.0.0"}),
        "broken": (503, {"error": "the content check is unavailable"}),
    }

    class Reply:
        def __init__(self, status: int, body: dict[str, object]) -> None:
            self.status, self.body, self.headers = status, body, {}

    monkeypatch.setattr(
        api_client, "call", lambda url, body, headers, timeout: Reply(*answers[body["input"]])
    )
    predict = run.http_predictor("https://api.example/predict", {})
    assert predict({"input": "attack"}) == ("<blocked:prompt>", "")
    assert predict({"input": "withheld"}) == ("<blocked:response>", "1.0.0")
    assert predict({"input": "answered"}) == ("Reset it under Settings.", "1.0.0")
    with pytest.raises(SystemExit, match="503"):
        predict({"input": "broken"})
