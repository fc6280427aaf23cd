"""Every stack a generated project holds passes the pack with zero mandatory violations.

For each cloud x pattern that exists x environment: the spec a freshly generated project holds,
its component run under mocks, and the real pack judging it over the analyzer protocol with that
environment's config file (policies/config/<env>.json), as `aideploy check --all` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.registry import REGISTRY, is_available, policy_waivers
from components.spec import Cloud, Environment, Pattern
from policies.runner.analyzer import PackProcess
from policies.runner.engine import analyze_resources, effective_config
from templates.generator import merge_waivers
from tests.conftest import make_spec, run_component

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


def _case(cloud: Cloud, pattern: Pattern, env: Environment) -> object:
    return pytest.param(cloud, pattern, env, id=f"{cloud.value}-{pattern.value}-{env.value}")


CASES = [
    _case(cloud, pattern, env)
    for (cloud, pattern) in sorted(REGISTRY, key=lambda k: (k[0].value, k[1].value))
    if is_available(cloud, pattern)
    for env in Environment
]


@pytest.fixture(scope="module")
def pack() -> Iterator[PackProcess]:
    with PackProcess(PACK_DIR) as running:
        yield running


@pytest.mark.parametrize(("cloud", "pattern", "env"), CASES)
def test_generated_stack_has_no_mandatory_violation(
    pack: PackProcess, cloud: Cloud, pattern: Pattern, env: Environment, tmp_path: Path
) -> None:
    spec = make_spec(cloud, pattern, env)
    resources = run_component(spec).resources
    # The config a generated project holds: the pack's, plus the component's declared waivers.
    config = merge_waivers(
        json.loads((PACK_DIR / "config" / f"{env.value}.json").read_text()),
        policy_waivers(cloud, pattern, spec.project),
    )
    config_file = tmp_path / f"{env.value}.json"
    config_file.write_text(json.dumps(config))
    effective = effective_config(pack.info(), config_file)
    pack.configure(effective)
    violations, _ = analyze_resources(
        pack, resources, effective, project=spec.project, stack=env.value
    )
    mandatory = [
        f"{v.policy} on {v.resource_type} {v.resource_name}: {v.message}"
        for v in violations
        if v.level == "mandatory"
    ]
    assert mandatory == [], "\n".join(mandatory)
