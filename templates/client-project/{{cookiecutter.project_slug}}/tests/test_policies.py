"""The guardrails: every stack passes the project's policy pack with no mandatory violation.

This is the same check as ``python -m policies.check --all``: each stack's program runs under
Pulumi's mocks and the pack in policies/ (the one ``pulumi preview --policy-pack policies``
runs) judges every resource over the analyzer protocol, with the stack's environment config
from policies/config/. No cloud credentials are needed.
"""

from pathlib import Path

import pytest

from policies.runner.engine import StackReport, check_project
from offline.program import stack_names

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policies"
STACKS = stack_names(ROOT)


@pytest.fixture(scope="module")
def reports() -> dict[str, StackReport]:
    # One pack process checks every stack, as `python -m policies.check --all` does.
    return {r.stack: r for r in check_project(ROOT, STACKS, pack_dir=PACK)}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_has_no_mandatory_violation(reports: dict[str, StackReport], stack: str) -> None:
    report = reports[stack]
    mandatory = [
        f"{v.policy} on {v.resource_type} {v.resource_name}: {v.message}"
        for v in report.violations
        if v.level == "mandatory"
    ]
    assert mandatory == [], "\n".join(mandatory)
    assert report.resources > 0


@pytest.mark.parametrize("stack", STACKS)
def test_stack_is_held_to_its_environments_policy_config(
    reports: dict[str, StackReport], stack: str
) -> None:
    assert (PACK / "config" / f"{stack}.json").is_file()
    assert reports[stack].config_file == PACK / "config" / f"{stack}.json"


def test_every_waiver_names_a_resource_of_its_stack_and_says_why(
    reports: dict[str, StackReport],
) -> None:
    for report in reports.values():
        for waiver in report.waivers:
            assert waiver.used, f"{report.stack}: waiver for unknown resource {waiver.resource}"
            assert len(waiver.reason.strip()) >= 10, f"{report.stack}: {waiver.resource}"
