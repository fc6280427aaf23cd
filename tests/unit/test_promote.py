"""Promotion: only promotable settings move, parity holds after, bad input changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from offline.program import ProjectError
from stacks.profiles import flatten, load_parity_rules
from stacks.promote import PromotionError, apply_promotion, plan_graduation, plan_promotion
from tests.unit.parity_fake_project import inject, make_project, stack_config, write_stack

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "fake")
    # a new model version with a candidate in staging, not yet in prod
    config = stack_config("staging", version="2.0.0")
    config["fake:rollout"].update(
        candidate_version="2.1.0", candidate_image="ghcr.io/acme/model:2.1.0"
    )
    write_stack(root, "staging", config)
    return root


def _bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "stacks").iterdir())}


def _config(path: Path) -> dict[str, object]:
    return flatten(yaml.safe_load(path.read_text())["config"])


def test_promotion_lands_as_the_targets_candidate_and_keeps_its_stable(project: Path) -> None:
    prod = project / "stacks" / "Pulumi.prod.yaml"
    before = _config(prod)
    before_text = prod.read_text()
    plan = plan_promotion(project, "staging", "prod")
    apply_promotion(plan)
    after = _config(prod)
    rules = load_parity_rules()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # staging's newest release (its candidate 2.1.0) becomes prod's candidate; prod's stable
    # (1.0.0) keeps serving until the candidate passes prod's watch and is graduated.
    assert changed == {"fake:rollout.candidate_version", "fake:rollout.candidate_image"}
    assert all(rules.promotes(k.split(":", 1)[1]) for k in changed)
    assert after["fake:model.version"] == before["fake:model.version"] == "1.0.0"
    assert after["fake:rollout.candidate_version"] == "2.1.0"
    assert after["fake:rollout.candidate_image"] == "ghcr.io/acme/model:2.1.0"
    # comments, order and capacity (a declared difference) are kept
    text = prod.read_text()
    assert text.startswith("# Stack prod of fake.\n# Keep in step with the other environments.\n")
    assert after["fake:capacity.min_instances"] == 2
    assert [line for line in text.splitlines() if line in before_text.splitlines()] == [
        line for line in before_text.splitlines()
    ]
    edited = [line for line in plan.diff().splitlines()[2:] if line[:1] in "+-"]
    leaf = re.compile(r"^[+] +(candidate_version|candidate_image): \S+$")
    assert len(edited) == 2 and all(leaf.match(line) for line in edited), edited


def test_a_stable_only_source_promotes_its_stable_as_the_candidate(project: Path) -> None:
    write_stack(project, "staging", stack_config("staging", version="2.0.0"))
    apply_promotion(plan_promotion(project, "staging", "prod"))
    after = _config(project / "stacks" / "Pulumi.prod.yaml")
    assert after["fake:model.version"] == "1.0.0"
    assert after["fake:rollout.candidate_version"] == "2.0.0"


def test_graduation_makes_the_candidate_stable_and_drops_it(project: Path) -> None:
    apply_promotion(plan_promotion(project, "staging", "prod"))
    plan = plan_graduation(project, "prod")
    apply_promotion(plan)
    rollout = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    assert rollout["fake:model"]["version"] == "2.1.0"
    assert rollout["fake:model"]["image"] == "ghcr.io/acme/model:2.1.0"
    assert "candidate_version" not in rollout["fake:rollout"]
    assert "candidate_image" not in rollout["fake:rollout"]
    # promoting the same release again is a no-op: prod already serves it as stable
    assert not plan_promotion(project, "staging", "prod").changed


def test_graduation_without_a_candidate_is_refused(project: Path) -> None:
    before = _bytes(project)
    with pytest.raises(ProjectError, match="no candidate to graduate"):
        plan_graduation(project, "prod")
    assert _bytes(project) == before


def test_a_new_candidate_drops_a_retry_permission_for_another(project: Path) -> None:
    config = stack_config("prod")
    config["fake:rollout"].update(
        candidate_version="1.5.0",
        candidate_image="ghcr.io/acme/model:1.5.0",
        retry_version="1.5.0",
    )
    write_stack(project, "prod", config)
    apply_promotion(plan_promotion(project, "staging", "prod"))
    rollout = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"][
        "fake:rollout"
    ]
    assert rollout["candidate_version"] == "2.1.0" and "retry_version" not in rollout


def test_nothing_to_promote_is_a_no_op(project: Path) -> None:
    write_stack(project, "prod", stack_config("prod", version="2.0.0"))
    config = stack_config("staging", version="2.0.0")
    write_stack(project, "staging", config)
    plan = plan_promotion(project, "staging", "prod")
    assert not plan.changed and plan.changes == ()


def test_refused_when_parity_would_still_fail(project: Path) -> None:
    config = stack_config("prod")
    config["fake:rollout"]["strategy"] = "blue-green"  # beyond the promotable settings
    write_stack(project, "prod", config)
    before = _bytes(project)
    with pytest.raises(PromotionError, match=r"rollout\.strategy"):
        plan_promotion(project, "staging", "prod")
    assert _bytes(project) == before


def test_refused_when_the_programs_drift(project: Path) -> None:
    inject(project, "PLAIN_STACKS", {"prod"})
    before = _bytes(project)
    result = runner.invoke(app, ["promote", str(project), "--yes"])
    assert result.exit_code == 1, result.output
    assert "fake-data-sse" in result.output and "nothing written" in result.output
    assert _bytes(project) == before


def test_cli_promotes_with_yes_and_shows_the_diff(project: Path) -> None:
    result = runner.invoke(
        app, ["promote", str(project), "--from", "staging", "--to", "prod", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "+    candidate_version: 2.1.0" in result.output
    prod = _config(project / "stacks" / "Pulumi.prod.yaml")
    assert prod["fake:rollout.candidate_version"] == "2.1.0"
    assert prod["fake:model.version"] == "1.0.0"
    # and parity now holds between them
    parity = runner.invoke(app, ["parity", str(project), "--between", "staging", "prod"])
    assert parity.exit_code == 0, parity.output
    # after the watch: --graduate makes it prod's stable version
    graduated = runner.invoke(app, ["promote", str(project), "--graduate", "--to", "prod", "--yes"])
    assert graduated.exit_code == 0, graduated.output
    prod = _config(project / "stacks" / "Pulumi.prod.yaml")
    assert prod["fake:model.version"] == "2.1.0" and "fake:rollout.candidate_version" not in prod


def test_cli_without_terminal_or_yes_refuses_with_exit_2(project: Path) -> None:
    before = _bytes(project)
    result = runner.invoke(app, ["promote", str(project)])
    assert result.exit_code == 2
    assert "pass --yes" in result.output
    assert _bytes(project) == before


@pytest.mark.parametrize(
    ("args", "setup", "message"),
    [
        (["--to", "production"], None, "unknown stack 'production'"),
        (["--from", "prod", "--to", "prod"], None, "same stack"),
        ([], "missing", "unknown stack 'prod'"),
        ([], "malformed", "malformed YAML"),
        ([], "not-a-mapping", "'config' must be a mapping"),
    ],
)
def test_bad_input_is_a_clear_usage_error_and_changes_nothing(
    project: Path, args: list[str], setup: str | None, message: str
) -> None:
    prod = project / "stacks" / "Pulumi.prod.yaml"
    if setup == "missing":
        prod.unlink()
    elif setup == "malformed":
        prod.write_text("config:\n  fake:model: {version: [\n")
    elif setup == "not-a-mapping":
        prod.write_text("config: [1, 2]\n")
    before = _bytes(project)
    result = runner.invoke(app, ["promote", str(project), "--yes", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _bytes(project) == before


def test_a_file_changed_after_planning_is_not_overwritten(project: Path) -> None:
    plan = plan_promotion(project, "staging", "prod")
    prod = project / "stacks" / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text() + "# edited meanwhile\n")
    edited = prod.read_bytes()
    with pytest.raises(ProjectError, match="changed since"):
        apply_promotion(plan)
    assert prod.read_bytes() == edited
    assert [p.name for p in (project / "stacks").iterdir() if p.name.startswith(".")] == []


def test_cli_parity_exit_codes(project: Path) -> None:
    # a release in flight (staging ahead of prod) is reported, and is not drift
    in_flight = runner.invoke(app, ["parity", str(project), "--format", "json"])
    assert in_flight.exit_code == 0
    assert '"model.version"' in in_flight.output
    # drift is exit 1
    config = stack_config("prod")
    config["fake:model"]["port"] = 9090
    write_stack(project, "prod", config)
    drift = runner.invoke(app, ["parity", str(project), "--format", "json"])
    assert drift.exit_code == 1 and '"model.port"' in drift.output
    bad = runner.invoke(app, ["parity", str(project), "--between", "dev", "qa"])
    assert bad.exit_code == 2 and "unknown stack 'qa'" in bad.output


# -- recording a new release (the image CI pushed, by digest) ----------------------------------


def _generated(tmp_path: Path) -> Path:
    import random

    from components.spec import Cloud, Pattern
    from templates.generator import generate
    from tests.conftest import sample_answers

    answers = sample_answers(Cloud.AWS, Pattern.API_FIRST)
    return generate(answers, tmp_path / "p", rng=random.Random(1)).path


def test_a_release_is_recorded_by_digest_in_one_stack_only(tmp_path: Path) -> None:
    from stacks.promote import apply_promotion, plan_release

    project = _generated(tmp_path)
    dev = project / "stacks" / "Pulumi.dev.yaml"
    repo = yaml.safe_load(dev.read_text())["config"]["acme-support:model"]["image"].split(":1")[0]
    digest = f"{repo}@sha256:{'ab' * 32}"
    staging_before = (project / "stacks" / "Pulumi.staging.yaml").read_text()
    plan = plan_release(project, "dev", digest, "1.1.0")
    assert {c[0] for c in plan.changes} == {"model.image", "model.version"}
    apply_promotion(plan)
    model = yaml.safe_load(dev.read_text())["config"]["acme-support:model"]
    assert model["image"] == digest and model["version"] == "1.1.0"
    assert (project / "stacks" / "Pulumi.staging.yaml").read_text() == staging_before


def test_a_release_by_tag_is_refused(tmp_path: Path) -> None:
    from offline.program import ProjectError
    from stacks.promote import plan_release

    project = _generated(tmp_path)
    tag = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-support/model:1.1.0"
    with pytest.raises(ProjectError, match="by digest"):
        plan_release(project, "dev", tag)


def test_a_release_the_platform_cannot_pull_is_refused(tmp_path: Path) -> None:
    import random

    from components.spec import Cloud, Pattern
    from offline.program import ProjectError
    from stacks.promote import plan_release
    from templates.generator import generate
    from tests.conftest import sample_answers

    answers = sample_answers(Cloud.AWS, Pattern.MANAGED_PLATFORM)
    project = generate(answers, tmp_path / "mp", rng=random.Random(1)).path
    before = (project / "stacks" / "Pulumi.dev.yaml").read_text()
    with pytest.raises(ProjectError, match="only from Amazon ECR"):
        plan_release(project, "dev", "ghcr.io/acme/model@sha256:" + "ab" * 32)
    assert (project / "stacks" / "Pulumi.dev.yaml").read_text() == before


@pytest.mark.parametrize(("source", "target"), [("dev", "prod"), ("prod", "staging")])
def test_promotion_goes_one_environment_at_a_time(project: Path, source: str, target: str) -> None:
    from offline.program import ProjectError

    before = (project / "stacks" / f"Pulumi.{target}.yaml").read_text()
    with pytest.raises(ProjectError, match="one environment at a time"):
        plan_promotion(project, source, target)
    assert (project / "stacks" / f"Pulumi.{target}.yaml").read_text() == before


def test_a_pattern_without_a_candidate_split_takes_the_release_as_stable(project: Path) -> None:
    # Event-driven workers have no split to judge a candidate in (components.spec
    # CANDIDATE_PATTERNS): the release replaces the stable version, and no candidate is written.
    for env, version in (("staging", "2.0.0"), ("prod", "1.0.0")):
        config = stack_config(env, version=version)
        config["fake:pattern"] = "event-driven"
        write_stack(project, env, config)
    apply_promotion(plan_promotion(project, "staging", "prod"))
    prod = _config(project / "stacks" / "Pulumi.prod.yaml")
    assert prod["fake:model.version"] == "2.0.0"
    assert "fake:rollout.candidate_version" not in prod
