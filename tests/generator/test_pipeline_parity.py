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
from stacks.profiles import flatten
from templates.generator import generate
from tests.conftest import candidate_image, sample_answers

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
    _edit(stacks / "Pulumi.staging.yaml", "model", version="2.1.0", image=image + "1")
    _edit(stacks / "Pulumi.prod.yaml", "api", rate_limit_rps=500)
    before = {p.name: p.read_bytes() for p in stacks.iterdir()}
    result = runner.invoke(app, ["promote", str(project), "--yes"])
    assert result.exit_code == 1
    assert "api.rate_limit_rps" in result.output and "nothing written" in result.output
    assert {p.name: p.read_bytes() for p in stacks.iterdir()} == before
