"""The per-stack name suffix: chosen at `aideploy new`, renewed only after a destroy."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from components.spec import SUFFIX_RE, Cloud, Environment, Pattern
from stacks import suffix
from templates.generator import generate
from tests.conftest import sample_answers


def _project(tmp_path: Path) -> Path:
    return generate(
        sample_answers(Cloud.AWS, Pattern.EVENT_DRIVEN), tmp_path / "p", rng=random.Random(3)
    ).path


def _suffix(project: Path, stack: str) -> str:
    config = yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str(config["acme-support:suffix"])


def test_every_stack_gets_its_own_valid_suffix_at_generation(tmp_path: Path) -> None:
    project = _project(tmp_path)
    suffixes = [_suffix(project, env.value) for env in Environment]
    assert all(SUFFIX_RE.fullmatch(s) for s in suffixes)
    assert len(set(suffixes)) == 3


def test_two_projects_never_share_suffixes(tmp_path: Path) -> None:
    a = generate(sample_answers(Cloud.AWS, Pattern.EVENT_DRIVEN), tmp_path / "a").path
    b = generate(sample_answers(Cloud.AWS, Pattern.EVENT_DRIVEN), tmp_path / "b").path
    assert {_suffix(a, e.value) for e in Environment}.isdisjoint(
        {_suffix(b, e.value) for e in Environment}
    )


def test_renew_needs_yes_and_then_changes_only_the_suffix(tmp_path: Path) -> None:
    project = _project(tmp_path)
    path = project / "stacks" / "Pulumi.dev.yaml"
    before = path.read_text()
    assert suffix.main(["renew", "dev", "--project", str(project)]) == 0
    assert path.read_text() == before  # shown, not written
    assert suffix.main(["renew", "dev", "--project", str(project), "--yes"]) == 0
    after = path.read_text()
    old, new = yaml.safe_load(before)["config"], yaml.safe_load(after)["config"]
    assert new.pop("acme-support:suffix") != old.pop("acme-support:suffix")
    assert new == old
    assert after.splitlines()[:5] == before.splitlines()[:5]  # the header comments stay


def test_renew_refuses_an_unknown_stack_with_one_line(tmp_path: Path, capsys: object) -> None:
    project = _project(tmp_path)
    assert suffix.main(["renew", "qa", "--project", str(project), "--yes"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "qa" in err and len(err.strip().splitlines()) == 1
