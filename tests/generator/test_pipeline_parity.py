"""`aideploy parity` and `aideploy promote` on freshly generated projects, for each cloud.

The real components run under mocks here: a generated project is at parity, a new model in
staging is drift until promoted, promotion writes only the promotable keys, and a promotion that
would leave other differences is refused without touching the file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from components.registry import scaffolded
from components.spec import Cloud, Pattern
from stacks.parity_check import check_parity, render
from stacks.profiles import flatten
from templates.generator import generate
from tests.conftest import candidate_image, sample_answers
from tests.unit.parity_fake_project import PROJECT, make_project, stack_config, write_stack

runner = CliRunner()
REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west1"}
CLOUDS = [c for c in Cloud if scaffolded(c, Pattern.API_FIRST)]


def _edit(path: Path, section: str, **values: Any) -> None:
    data = yaml.safe_load(path.read_text())
    key = next(k for k in data["config"] if k.endswith(f":{section}"))
    data["config"][key].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _parity(project: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["parity", str(project), "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.slow  # ~11 runs of a real component under mocks per cloud
@pytest.mark.parametrize("cloud", CLOUDS)
def test_parity_and_promotion_on_a_generated_project(tmp_path: Path, cloud: Cloud) -> None:
    answers = sample_answers(cloud, Pattern.API_FIRST, name=f"acme {cloud.value}")
    project = generate(answers, tmp_path / "project", rng=random.Random(0)).path
    stacks = project / "stacks"
    slug = answers.project_slug

    # a fresh project is at parity, though capacity, retention and paging differ
    code, report = _parity(project)
    assert code == 0, report["drift"]
    assert report["pairs"] == [["dev", "staging"], ["staging", "prod"]]
    assert min(report["resources"].values()) >= 10

    # a new model reaches staging: a release in flight between staging and prod, not drift
    # (in config or in the resources that serve it)
    image = candidate_image(cloud, Pattern.API_FIRST, f"2.0.0-{cloud.value}")
    _edit(stacks / "Pulumi.staging.yaml", "model", version="2.0.0", image=image)
    code, report = _parity(project, "--between", "staging", "prod")
    assert code == 0, report["drift"]
    assert {d["subject"] for d in report["in_flight"]} == {"model.version", "model.image"}

    # promotion lands the release as prod's candidate (prod's stable keeps serving), and
    # parity holds: a candidate is a release in flight
    dev_before = (stacks / "Pulumi.dev.yaml").read_bytes()
    prod_before = flatten(yaml.safe_load((stacks / "Pulumi.prod.yaml").read_text())["config"])
    result = runner.invoke(
        app, ["promote", str(project), "--from", "staging", "--to", "prod", "--yes"]
    )
    assert result.exit_code == 0, result.output
    prod_text = (stacks / "Pulumi.prod.yaml").read_text()
    assert prod_text.startswith(f"# Stack prod of {slug}")  # the header comment survives
    prod_after = flatten(yaml.safe_load(prod_text)["config"])
    assert {k for k in prod_before if prod_before[k] != prod_after.get(k)} == set()
    assert set(prod_after) - set(prod_before) == {
        f"{slug}:rollout.candidate_version",
        f"{slug}:rollout.candidate_image",
    }
    assert prod_after[f"{slug}:rollout.candidate_image"] == image
    assert (stacks / "Pulumi.dev.yaml").read_bytes() == dev_before
    assert _parity(project, "--between", "staging", "prod")[0] == 0
    # after prod's watch, graduation makes it prod's stable version; parity still holds
    result = runner.invoke(app, ["promote", str(project), "--graduate", "--to", "prod", "--yes"])
    assert result.exit_code == 0, result.output
    prod_after = flatten(yaml.safe_load((stacks / "Pulumi.prod.yaml").read_text())["config"])
    assert prod_after[f"{slug}:model.image"] == image
    assert set(prod_after) == set(prod_before)
    assert _parity(project, "--between", "staging", "prod")[0] == 0

    # a difference beyond the promotable settings: promotion is refused, nothing is written
    newer = candidate_image(
        cloud, Pattern.API_FIRST, f"2.1.0-{cloud.value}"
    )  # kubernetes: a digest
    _edit(stacks / "Pulumi.staging.yaml", "model", version="2.1.0", image=newer)
    _edit(stacks / "Pulumi.prod.yaml", "api", rate_limit_rps=500)
    before = {p.name: p.read_bytes() for p in stacks.iterdir()}
    result = runner.invoke(app, ["promote", str(project), "--yes"])
    assert result.exit_code == 1
    assert "api.rate_limit_rps" in result.output and "nothing written" in result.output
    assert {p.name: p.read_bytes() for p in stacks.iterdir()} == before


# The fake project's program, plus a candidate served by a model of its own (as kubernetes serves
# one from its own Deployment and Service): it exists only while a candidate is configured.
CANDIDATE_SLOT = """
rollout = config.require_object("rollout")
if rollout.get("candidate_image"):
    aws.sagemaker.Model(
        "fake-candidate",
        execution_role_arn=role.arn,
        primary_container=aws.sagemaker.ModelPrimaryContainerArgs(image=rollout["candidate_image"]),
    )
"""


@pytest.mark.parametrize("hand_edited", [False, True])
def test_resources_a_release_in_flight_brings_are_no_drift_and_others_are(
    tmp_path: Path, hand_edited: bool
) -> None:
    """Regression: parity called a candidate's own resources in prod (kubernetes' candidate
    Deployment, Service, autoscaler and budget) drift, so `promote` refused every promotion
    into a kubernetes stack. The same resource made by a per-stack hand edit is still drift."""
    project = make_project(tmp_path / "fake")
    main_py = project / "__main__.py"
    slot = CANDIDATE_SLOT
    if hand_edited:
        slot = slot.replace('if rollout.get("candidate_image"):', 'if stack == "prod":')
        slot = slot.replace('rollout["candidate_image"]', 'model["image"]')
    main_py.write_text(main_py.read_text() + slot)
    write_stack(project, "staging", stack_config("staging", version="2.0.0"))
    prod = stack_config("prod")
    if not hand_edited:  # the release promoted into prod as its candidate
        prod[f"{PROJECT}:rollout"] |= {
            "candidate_version": "2.0.0",
            "candidate_image": "ghcr.io/acme/model:2.0.0",
        }
    write_stack(project, "prod", prod)
    report = check_parity(project, ("staging", "prod"))
    drift = [(d.kind, d.subject, d.detail) for d in report.drift]
    if hand_edited:
        assert drift == [("resource", "aws:sagemaker/model:Model", "only in prod: fake-candidate")]
    else:
        assert report.ok, render(report)
        assert report.resources["prod"] == report.resources["staging"] + 2  # + pager, candidate
        assert {d.subject for d in report.in_flight} == {
            "model.version",
            "model.image",
            "rollout.candidate_version",
            "rollout.candidate_image",
        }
