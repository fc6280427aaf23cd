"""Shared fixtures: specs as a generated project would hold them, and components run under mocks."""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import random  # noqa: E402

from components.registry import component_for  # noqa: E402
from components.spec import Cloud, DeploymentSpec, Environment, Pattern  # noqa: E402
from offline.capture import (  # noqa: E402
    ACCOUNT_ID,
    GCP_PROJECT,
    SUBSCRIPTION_ID,
    Capture,
    CapturedResource,
    capture,
)
from stacks.profiles import deep_merge  # noqa: E402
from templates.answers import Answers, example_answers  # noqa: E402
from templates.generator import ProjectPlan, plan_project  # noqa: E402

SAMPLE_REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west1"}
# The environments' accounts in tests: the ones the mocks answer with, so a stack's own
# lookups (caller identity, client config, project) agree with its stack file.
SAMPLE_ACCOUNT = {
    Cloud.AWS: ACCOUNT_ID,
    Cloud.AZURE: SUBSCRIPTION_ID,
    Cloud.GCP: GCP_PROJECT,
    # The kubeconfig context the stacks pin (`kubernetes:context`); the mocks never read it.
    Cloud.KUBERNETES: "acme-onprem",
}


def sample_answers(cloud: Cloud, pattern: Pattern, **overrides: Any) -> Answers:
    """Complete answers for a generated project (templates.answers.example_answers) whose
    accounts are the ones the mocks answer with, plus ``overrides``."""
    values: dict[str, Any] = {"accounts": {env: SAMPLE_ACCOUNT[cloud] for env in Environment}}
    values.update(overrides)
    return example_answers(cloud, pattern, **values)


def sample_plan(cloud: Cloud, pattern: Pattern, seed: int = 0, **overrides: Any) -> ProjectPlan:
    """The plan ``aideploy new`` makes for :func:`sample_answers`, with reproducible suffixes."""
    return plan_project(sample_answers(cloud, pattern, **overrides), rng=random.Random(seed))


def candidate_image(cloud: Cloud, pattern: Pattern, version: str = "1.1.0") -> str:
    """A candidate release's image in the project's own registry (where CI pushes it); on the
    kubernetes target by digest (a digest derived from ``version``), as the spec requires."""
    image = sample_plan(cloud, pattern).image
    if "@sha256:" in image:
        digest = hashlib.sha256(version.encode()).hexdigest()
        return f"{image.split('@', 1)[0]}@sha256:{digest}"
    return image.rsplit(":", 1)[0] + f":{version}"


def make_spec(
    cloud: Cloud,
    pattern: Pattern,
    environment: Environment,
    overrides: dict[str, Any] | None = None,
) -> DeploymentSpec:
    """The spec a freshly generated project holds for this stack, plus ``overrides``."""
    plan = sample_plan(cloud, pattern)
    sections = deep_merge(plan.sections[environment], overrides or {})
    return DeploymentSpec.model_validate({"project": plan.answers.project_slug, **sections})


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


@contextmanager
def generated_package(
    project: Path, names: Sequence[str], package: str = "model"
) -> Iterator[SimpleNamespace]:
    """``package``'s modules ``names`` imported from a generated ``project``, then forgotten:
    every generated project has a package of that name, and the next one must not find this
    one's modules in ``sys.modules``."""
    before = set(sys.modules)
    sys.path.insert(0, str(project))
    try:
        yield SimpleNamespace(**{n: importlib.import_module(f"{package}.{n}") for n in names})
    finally:
        sys.path.remove(str(project))
        for name in set(sys.modules) - before:
            if name == package or name.startswith(f"{package}."):
                del sys.modules[name]
