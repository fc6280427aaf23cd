"""Shared fixtures: specs as a generated project would hold them, and components run under mocks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.registry import component_for  # noqa: E402
from components.spec import Cloud, DeploymentSpec, Environment, Pattern  # noqa: E402
from policies.runner.capture import Capture, CapturedResource, capture  # noqa: E402
from stacks.profiles import deep_merge  # noqa: E402
from templates.generator import Answers, stack_sections  # noqa: E402

SAMPLE_REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west1"}


def make_spec(
    cloud: Cloud,
    pattern: Pattern,
    environment: Environment,
    overrides: dict[str, Any] | None = None,
) -> DeploymentSpec:
    """The spec a freshly generated project holds for this stack, plus ``overrides``."""
    answers = Answers(
        name="acme-support",
        cloud=cloud,
        pattern=pattern,
        region=SAMPLE_REGION[cloud],
        owner="ops@acme.example",
    )
    sections = deep_merge(stack_sections(answers, environment), overrides or {})
    return DeploymentSpec.model_validate({"project": answers.project_slug, **sections})


def run_component(spec: DeploymentSpec) -> Capture:
    """Instantiate the registry's component for ``spec`` under mocks; return what it registered."""

    def program() -> None:
        component_for(spec.cloud, spec.pattern)(spec.project, spec)

    return capture(
        program,
        project=spec.project,
        stack=spec.environment.value,
        region=spec.region,
    )


def of_type(resources: list[CapturedResource], *tokens: str) -> list[CapturedResource]:
    """Resources whose type is one of ``tokens`` (exact, or any version for azure-native)."""
    wanted = set(tokens)
    out = []
    for r in resources:
        parts = r.type.split(":")
        unversioned = r.type
        if len(parts) == 3 and "/" in parts[1]:
            unversioned = f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
        if r.type in wanted or unversioned in wanted:
            out.append(r)
    return out


@pytest.fixture
def spec_factory() -> Callable[..., DeploymentSpec]:
    """``spec_factory(cloud, pattern, env, overrides=None)``."""
    return make_spec
