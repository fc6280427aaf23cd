"""The one rollback rule (components/rollout.py) against the shared vectors every caller uses."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components import rollout
from components.rollout import Action, Observation, Sample, Settings, Trigger, decide

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "rollout_decisions.json").read_text())


@pytest.mark.parametrize("vector", VECTORS["decisions"], ids=lambda v: v["name"])
def test_each_shared_vector_gets_its_decision(vector: dict[str, Any]) -> None:
    out = rollout.decide_json(json.dumps(vector["input"]))
    assert (out["action"], out["page"]) == (vector["action"], vector["page"])
    assert out["reason"] and "\n" not in out["reason"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_input_that_does_not_fit_is_named_in_one_line(vector: dict[str, Any]) -> None:
    with pytest.raises(rollout.ObservationError, match=vector["error"]):
        rollout.decide_json(json.dumps(vector["input"]))


def test_the_cli_prints_one_json_decision_and_exits_0() -> None:
    vector = VECTORS["decisions"][3]
    stdout, stderr = io.StringIO(), io.StringIO()
    code = rollout.main(io.StringIO(json.dumps(vector["input"])), stdout, stderr)
    assert code == 0 and stderr.getvalue() == ""
    decision = json.loads(stdout.getvalue())
    assert set(decision) == {"action", "page", "reason"}
    assert decision["action"] == vector["action"]


@pytest.mark.parametrize("text", ["", "{", "null", '{"candidate": 1}'])
def test_the_cli_refuses_bad_input_with_exit_2_and_one_line(text: str) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    assert rollout.main(io.StringIO(text), stdout, stderr) == 2
    assert stdout.getvalue() == ""
    assert stderr.getvalue().count("\n") == 1 and stderr.getvalue().startswith("error: ")


def test_the_module_is_standard_library_only_so_it_ships_as_one_file(tmp_path: Path) -> None:
    # The rollback functions receive this file alone; it must import nothing of ours at run time.
    (tmp_path / "rollout_decision.py").write_bytes(
        (ROOT / "components" / "rollout.py").read_bytes()
    )
    vector = VECTORS["decisions"][0]
    result = subprocess.run(
        [sys.executable, "-I", "rollout_decision.py"],
        input=json.dumps(vector["input"]), capture_output=True, text=True, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["action"] == vector["action"]


samples = st.builds(
    lambda r, e, p: Sample(r, min(e, r), p),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.none() | st.floats(0, 60_000),
)
settings = st.builds(Settings, st.floats(0.001, 1), st.floats(1, 10), st.integers(1, 1000))
triggers = st.none() | st.builds(Trigger, st.booleans(), st.booleans(), st.just("rule"))


@given(triggers, samples, samples, settings)
def test_only_an_unverified_trigger_pages_and_a_resolved_one_is_always_ignored(
    trigger: Trigger | None, cand: Sample, stable: Sample, s: Settings
) -> None:
    d = decide(Observation(trigger, cand, stable, s))
    assert d.page == (trigger is not None and not trigger.verified)
    if trigger is not None and trigger.verified and not trigger.firing:
        assert d.action is Action.IGNORE
    if trigger is None or not trigger.verified:
        assert d.action is not Action.IGNORE


@given(samples, samples, settings)
def test_a_verified_firing_trigger_rolls_back_whenever_the_periodic_check_would(
    cand: Sample, stable: Sample, s: Settings
) -> None:
    # Fail safe: what the candidate's numbers alone condemn, a verified alarm never keeps.
    periodic = decide(Observation(None, cand, stable, s))
    fired = decide(Observation(Trigger(True, True, "r"), cand, stable, s))
    if periodic.action is Action.ROLLBACK:
        assert fired.action is Action.ROLLBACK
    if cand.requests < s.min_requests:
        assert periodic.action is Action.HOLD and fired.action is Action.ROLLBACK


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"candidate": "' + "x" * 70_000 + '"}'],
    ids=["nested too deeply", "too large"],
)
def test_hostile_input_is_refused_in_one_line_not_a_traceback(text: str) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    assert rollout.main(io.StringIO(text), stdout, stderr) == 2
    assert stderr.getvalue().count("\n") == 1 and stderr.getvalue().startswith("error: ")
