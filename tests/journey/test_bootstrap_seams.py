"""The journey from `aideploy new` through bootstrap to the first stack, held at every seam.

For each cloud, with one account per environment and with one shared account, generate a
project the way a client does, run every bootstrap stack under mocks exactly as
`pulumi up` would run `bootstrap/__main__.py`, and hold what bootstrap creates against what the
rest of the project uses: the backend URL and secrets providers the README tells a person to
type, the image repository every stack pulls from, the CI identities and variables docs/ci.md
names, and the policy pack (bootstrap is held to prod's levels, like the stacks).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    CI_ENVIRONMENTS,
    IdentityRole,
    all_ci_environments,
)
from components.registry import project_clouds
from components.spec import Cloud, Environment, Pattern
from offline.program import StackRun, run_stack, stack_names
from policies.runner.engine import check_project
from templates.answers import EXAMPLE_ACCOUNTS, EXAMPLE_CLUSTER
from templates.generator import generate
from tests.conftest import sample_answers

SPLIT = {
    Cloud.AWS: {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"},
    Cloud.AZURE: {
        "dev": "11111111-1111-1111-1111-111111111111",
        "staging": "22222222-2222-2222-2222-222222222222",
        "prod": "33333333-3333-3333-3333-333333333333",
    },
    Cloud.GCP: {"dev": "acme-dev-1111", "staging": "acme-stg-2222", "prod": "acme-prd-3333"},
    # a kubeconfig context per environment: a cluster each (the isolation the client records)
    Cloud.KUBERNETES: {"dev": "acme-dev", "staging": "acme-staging", "prod": "acme-prod"},
}
LAYOUTS = ("shared", "split")
CASES = [(c, layout) for c in project_clouds() for layout in LAYOUTS]


def _generate(root: Path, cloud: Cloud, layout: str) -> Path:
    accounts: dict[str, str] = (
        SPLIT[cloud] if layout == "split" else dict.fromkeys(("dev", "staging", "prod"),
                                                               EXAMPLE_ACCOUNTS[cloud])
    )  # fmt: skip
    extra: dict[str, Any] = {}
    if cloud is Cloud.KUBERNETES and layout == "split":
        extra["cluster"] = {**EXAMPLE_CLUSTER[Pattern.API_FIRST], "isolation": "cluster"}
    answers = sample_answers(cloud, Pattern.API_FIRST, accounts=accounts, **extra)
    return generate(answers, root / f"{cloud.value}-{layout}", rng=random.Random(11)).path


@pytest.fixture(scope="module")
def journeys(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[Cloud, str], tuple[Path, dict[str, StackRun]]]:
    root = tmp_path_factory.mktemp("journey")
    out = {}
    for cloud, layout in CASES:
        project = _generate(root, cloud, layout)
        runs = {s: run_stack(project / "bootstrap", s) for s in stack_names(project / "bootstrap")}
        out[(cloud, layout)] = (project, runs)
    return out


def _config(project: Path, stack: str) -> dict[str, Any]:
    data = yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = data["config"]
    return config


def _fenced(text: str) -> str:
    return "\n".join(re.findall(r"```[^\n]*\n(.*?)```", text, re.S))


@pytest.mark.parametrize(("cloud", "layout"), CASES, ids=[f"{c.value}-{x}" for c, x in CASES])
def test_bootstrap_outputs_are_what_the_project_uses(
    journeys: dict[tuple[Cloud, str], tuple[Path, dict[str, StackRun]]], cloud: Cloud, layout: str
) -> None:
    project, runs = journeys[(cloud, layout)]
    expected_stacks = ["shared"] if layout == "shared" else ["dev", "staging", "prod"]
    assert sorted(runs) == sorted(expected_stacks)
    readme = _fenced((project / "README.md").read_text())
    envs_seen: set[str] = set()
    for stack, run in runs.items():
        outputs = run.outputs
        assert set(outputs) == set(BOOTSTRAP_OUTPUTS), stack
        # `pulumi login` and `pulumi stack init --secrets-provider` as the README types them
        assert f'pulumi login "{outputs["backend_url"]}"' in readme, stack
        for env, provider in outputs["secrets_providers"].items():
            envs_seen.add(env)
            assert f'pulumi stack init {env} --secrets-provider "{provider}"' in readme
        # the CI identities of this account's environments, and their variables
        identities = outputs["identities"]
        for env in outputs["secrets_providers"]:
            assert f"deploy-{env}" in identities
        for ci_env, variables in outputs["ci_variables"].items():
            assert ci_env in all_ci_environments()
            # every job that runs pulumi logs in to this account's backend (the release job
            # only pushes an image)
            if ci_env != CI_ENVIRONMENTS[IdentityRole.PUBLISH]:
                assert variables.get("PULUMI_BACKEND_URL") == outputs["backend_url"], ci_env
    assert envs_seen == {e.value for e in Environment}


@pytest.mark.parametrize(("cloud", "layout"), CASES, ids=[f"{c.value}-{x}" for c, x in CASES])
def test_every_stack_pulls_from_the_registry_bootstrap_creates(
    journeys: dict[tuple[Cloud, str], tuple[Path, dict[str, StackRun]]], cloud: Cloud, layout: str
) -> None:
    project, runs = journeys[(cloud, layout)]
    repositories = {r.outputs["image_repository"] for r in runs.values()} - {""}
    assert len(repositories) == 1, "exactly one account holds the registry"
    (repository,) = repositories
    # ... the one holding prod, with the publish identity beside it
    holder = next(r for r in runs.values() if r.outputs["image_repository"])
    assert "prod" in holder.outputs["secrets_providers"]
    assert IdentityRole.PUBLISH.value in holder.outputs["identities"]
    for env in Environment:
        model = next(v for k, v in _config(project, env.value).items() if k.endswith(":model"))
        # by tag (the sample model) or by digest (kubernetes takes digests only)
        assert str(model["image"]).startswith((repository + ":", repository + "@")), env


@pytest.mark.parametrize(("cloud", "layout"), CASES, ids=[f"{c.value}-{x}" for c, x in CASES])
def test_ci_docs_name_the_variables_bootstrap_provides(
    journeys: dict[tuple[Cloud, str], tuple[Path, dict[str, StackRun]]], cloud: Cloud, layout: str
) -> None:
    project, runs = journeys[(cloud, layout)]
    documented = set(
        re.findall(r"^\| `([A-Z_]+)` \|", (project / "docs" / "ci.md").read_text(), re.M)
    )
    provided = {v for r in runs.values() for vs in r.outputs["ci_variables"].values() for v in vs}
    assert documented and documented <= provided, documented - provided
    # every variable a workflow reads from its environment is one bootstrap provides, or one
    # the client sets itself (the test client's settings), named as such in docs/ci.md
    ci_md = (project / "docs" / "ci.md").read_text()
    client_set = set(re.findall(r"^\s*\| `([A-Z0-9_]+)` \| variable", ci_md, re.M))
    assert not client_set & provided, client_set & provided
    workflows = "\n".join(p.read_text() for p in (project / ".github" / "workflows").glob("*.yml"))
    read = set(re.findall(r"vars\.([A-Z0-9_]+)", workflows))
    assert read <= provided | client_set, read - provided - client_set


@pytest.mark.parametrize("cloud", project_clouds())
def test_bootstrap_passes_the_policy_pack_at_prod_levels(
    journeys: dict[tuple[Cloud, str], tuple[Path, dict[str, StackRun]]], cloud: Cloud
) -> None:
    project, runs = journeys[(cloud, "split")]
    reports = check_project(project / "bootstrap", sorted(runs), pack_dir=project / "policies")
    for report in reports:
        mandatory = [
            f"{v.policy} on {v.resource_type} {v.resource_name}: {v.message}"
            for v in report.violations
            if v.level == "mandatory"
        ]
        assert mandatory == [], (report.stack, mandatory)
        assert report.resources > 0


@pytest.mark.parametrize("cloud", project_clouds())
def test_each_ci_environment_gets_one_set_of_variables_even_across_accounts(
    journeys: dict[tuple[Cloud, str], tuple[Path, dict[str, StackRun]]], cloud: Cloud
) -> None:
    # With one account per environment, dev's and staging's previews have different identities
    # and backends: two accounts must never write variables for the same CI environment.
    project, runs = journeys[(cloud, "split")]
    seen: dict[str, str] = {}
    for stack, run in runs.items():
        for ci_env in run.outputs["ci_variables"]:
            assert ci_env not in seen, f"{ci_env} set by both {seen.get(ci_env)} and {stack}"
            seen[ci_env] = stack
    # ... and every CI environment the workflows run a job in is set by exactly one account
    from tests.journey.ci_jobs import job_environments

    named = {ci_env for ci_env, _ in job_environments(project)}
    # On premises the image release pushes with the client's registry robot account: its
    # environment holds only what the client sets (REGISTRY_USER/PASSWORD in docs/ci.md).
    client_only = {"release"} if cloud is Cloud.KUBERNETES else set()
    assert named and named <= set(seen) | client_only, named - set(seen) - client_only
    if client_only:
        assert "`REGISTRY_PASSWORD`" in (project / "docs" / "ci.md").read_text()
