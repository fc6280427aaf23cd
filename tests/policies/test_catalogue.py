"""The rule catalogue: IDs, references, categories, levels by baseline, docs, SARIF and CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from policies import catalogue, pack
from policies.rules import all_policies
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from policies.rules.references import CATEGORIES, Reference, checkov, cis, fsbp, guardrail, mcsb

REPO = Path(__file__).resolve().parents[2]
ENTRIES = catalogue.catalogue()


def test_every_rule_has_an_id_references_a_category_and_a_remediation() -> None:
    problems = []
    for e in ENTRIES:
        if not e.references:
            problems.append(f"{e.id}: no benchmark reference")
        if not e.categories:
            problems.append(f"{e.id}: no category among {CATEGORIES}")
        if len(e.remediation) < 20:
            problems.append(f"{e.id}: no remediation")
        if not e.help_uri.startswith("https://"):
            problems.append(f"{e.id}: no help URI")
    assert problems == []


def test_ids_are_unique_and_resource_rules_name_their_types() -> None:
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        if e.kind == "resource":
            assert e.resource_types, e.id


def test_references_are_well_formed_and_carried_as_tags_and_framework() -> None:
    for policy in all_policies():
        refs = RULE_REFERENCES[policy.name]
        for ref in refs:
            assert ref.tag in (policy.tags or []), policy.name
        if refs:
            assert policy.framework is not None
            assert policy.framework.reference == refs[0].control
            assert policy.url == refs[0].url


@pytest.mark.parametrize(
    ("make", "value"),
    [
        (checkov, "CKV_AWS_999x"),
        (fsbp, "iam one"),
        (mcsb, "ZZ-1"),
        (guardrail, "twelve"),
        (lambda c: cis("mars", c), "1.1"),
    ],
)
def test_a_malformed_reference_is_refused(make: object, value: str) -> None:
    with pytest.raises(ValueError):
        make(value)  # type: ignore[operator]


def test_reference_urls_point_at_the_control() -> None:
    assert fsbp("IAM.1").url.endswith("iam-controls.html#iam-1")
    assert mcsb("DP-5").url.endswith("mcsb-data-protection")
    assert isinstance(checkov("CKV2_GCP_33"), Reference)


def test_docs_rules_md_is_in_step_with_the_pack() -> None:
    assert catalogue.main(["--check-docs"]) == 0, "run python -m policies.catalogue --write-docs"
    text = (REPO / "docs" / "rules.md").read_text()
    for e in ENTRIES:
        assert f"`{e.id}`" in text


def _project_config(tmp_path: Path, baseline: int | None) -> Path:
    config_dir = tmp_path / "config"
    shutil.copytree(pack.CONFIG_DIR, config_dir)
    (config_dir / pack.BASELINE_FILE).unlink()
    if baseline is not None:
        pack.write_baseline(config_dir, baseline)
    return config_dir


def test_a_rule_newer_than_the_projects_baseline_starts_advisory_until_raised(
    tmp_path: Path,
) -> None:
    newest = max(RULE_SINCE.values())
    newer = sorted(n for n, since in RULE_SINCE.items() if since == newest)
    if newest == 1:
        pytest.skip("no rule newer than the first rule set yet")
    config_dir = _project_config(tmp_path, baseline=None)  # a project from before the record
    assert pack.project_baseline(config_dir) == 1
    # Its config files predate the new rules: drop them, as an old project's files would.
    for env in pack.ENVIRONMENTS:
        path = config_dir / f"{env}.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in data.items() if k not in newer}))
    levels = {e.id: e.levels for e in catalogue.catalogue(config_dir)}
    assert all(levels[n] == dict.fromkeys(pack.ENVIRONMENTS, "advisory") for n in newer)
    # Regenerating the config keeps them advisory; the project raises one on purpose.
    pack.write_configs(config_dir)
    prod = json.loads((config_dir / "prod.json").read_text())
    assert prod[newer[0]]["enforcementLevel"] == "advisory"
    prod[newer[0]]["enforcementLevel"] = "mandatory"
    (config_dir / "prod.json").write_text(json.dumps(prod))
    pack.write_configs(config_dir)
    assert json.loads((config_dir / "prod.json").read_text())[newer[0]] == {
        "enforcementLevel": "mandatory",
        "waivers": [],
    }
    # The pack itself serves them as advisory to a project at that baseline.
    served = {p.name: p.enforcement_level.value for p in pack.pack_policies(config_dir)}
    assert {served[n] for n in newer} == {"advisory"}
    # A new project (baseline = today's rule set) gets the designed levels.
    fresh = {p.name: p.enforcement_level for p in pack.pack_policies(pack.CONFIG_DIR)}
    assert any(fresh[n] is None or fresh[n].value == "mandatory" for n in newer)


def test_list_rules_prints_the_catalogue_as_json_and_text(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(tmp_path), "--list-rules", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["id"] for r in data] == [e.id for e in ENTRIES]
    assert {"id", "levels", "references", "help_uri", "categories", "since"} <= set(data[0])
    text = runner.invoke(app, ["check", str(tmp_path), "--list-rules"], env={"NO_COLOR": "1"})
    assert text.exit_code == 0 and ENTRIES[0].id in text.output and "\x1b[" not in text.output
    bad = runner.invoke(app, ["check", str(tmp_path), "--list-rules", "--format", "sarif"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_a_generated_project_lists_its_own_vendored_rules(tmp_path: Path) -> None:
    from components.spec import Cloud, Pattern
    from templates.answers import example_answers
    from templates.generator import generate

    project = generate(example_answers(Cloud.GCP, Pattern.EVENT_DRIVEN, name="cat"), tmp_path / "p")
    assert (project.path / "docs" / "rules.md").read_text() == (REPO / "docs/rules.md").read_text()
    assert json.loads((project.path / "policies/config/baseline.json").read_text()) == {
        "ruleset": pack.RULESET
    }
    result = CliRunner().invoke(
        app, ["check", str(project.path), "--list-rules", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.output)] == [e.id for e in ENTRIES]
