"""The no-false-positive guarantee, on every generated stack and the whole pack.

Every cloud x pattern x environment component, judged by every rule at the level the generated
project's config gives it, with the waivers the component declares: no mandatory finding, and
each advisory finding's rule is explained in the pattern docs the project ships
(docs/patterns/<cloud>.md), so a reviewer reading a PR's advisory list finds the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.registry import is_available, policy_waivers
from components.spec import Cloud, Environment, Pattern
from policies import pack
from policies.rules import all_policies
from tests.conftest import make_spec, run_component
from tests.policies.harness import evaluate

REPO = Path(__file__).resolve().parents[2]
POLICIES = all_policies()
CASES = [
    (cloud, pattern, env)
    for cloud in Cloud
    for pattern in Pattern
    for env in Environment
    if is_available(cloud, pattern)
]


def _config(environment: Environment, cloud: Cloud, pattern: Pattern, project: str) -> dict:
    levels = json.loads(pack.config_path(environment.value).read_text())
    config = {name: {"waivers": []} for name in levels}
    for rule, waivers in policy_waivers(cloud, pattern, project).items():
        config.setdefault(rule, {})["waivers"] = waivers
    return config


@pytest.mark.parametrize(
    ("cloud", "pattern", "environment"),
    CASES,
    ids=[f"{c.value}-{p.value}-{e.value}" for c, p, e in CASES],
)
def test_generated_stack_has_no_mandatory_finding_and_every_advisory_one_is_explained(
    cloud: Cloud, pattern: Pattern, environment: Environment
) -> None:
    spec = make_spec(cloud, pattern, environment)
    config = _config(environment, cloud, pattern, spec.project)
    for p in POLICIES:  # the retention rules get this environment's log retention
        schema = (p.config_schema and p.config_schema.properties) or {}
        if "minimumRetentionDays" in schema:
            config[p.name]["minimumRetentionDays"] = spec.retention.log_days
    findings = evaluate(POLICIES, run_component(spec).resources, config)
    levels = json.loads(pack.config_path(environment.value).read_text())
    mandatory = sorted(
        (f.policy, f.resource_name, f.message)
        for f in findings
        if levels[f.policy]["enforcementLevel"] == "mandatory"
    )
    assert mandatory == []
    docs = (REPO / "docs" / "patterns" / f"{cloud.value}.md").read_text(encoding="utf-8")
    explained = {p.name for p in POLICIES if p.name in docs}
    unexplained = sorted({f.policy for f in findings} - explained)
    assert unexplained == [], (
        f"advisory findings on the generated {cloud.value} {pattern.value} {environment.value} "
        f"stack not explained in docs/patterns/{cloud.value}.md: {unexplained}"
    )
