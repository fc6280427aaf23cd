"""Reports rendered from a real check: the JSON contract, SARIF code scanning accepts, Markdown.

The reports come from checking a small real program (a SageMaker endpoint without alarms, and a
waiver with its reason) through the real pack, not from hand-written report objects.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from policies.rules.references import from_tags
from policies.runner.engine import StackReport, check_project
from policies.runner.report import Format, exit_code, render, to_text
from tests.policies.test_check_cli import ENDPOINT, write_project

S1 = "aideploy-stack-require-routed-serving-alarms"
REASON = "Load-test endpoint; its alarms live in the load-test account (OPS-7)."
CONTRACT_KEYS = {"policy", "level", "resource_type", "resource_name", "urn", "message"}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[StackReport]]:
    project = write_project(tmp_path_factory.mktemp("reports") / "p", ENDPOINT)
    prod = json.loads(
        (Path(__file__).resolve().parents[2] / "policies/config/prod.json").read_text()
    )
    prod["aideploy-stack-require-rollback-wired-to-alarms"]["waivers"] = [
        {"resource": "endpoint", "reason": REASON}
    ]
    config = project / "policy-prod.json"
    config.write_text(json.dumps(prod))
    return project, check_project(project, ["prod"], config_file=config)


def test_json_is_exactly_the_contract(checked: tuple[Path, list[StackReport]]) -> None:
    project, reports = checked
    data = json.loads(render(reports, Format.JSON, project_dir=project))
    assert set(data) == {"stack", "resources", "violations", "summary"}
    assert data["stack"] == "prod" and data["resources"] == 2
    assert set(data["summary"]) == {"mandatory", "advisory"}
    assert data["violations"] and all(set(v) == CONTRACT_KEYS for v in data["violations"])
    assert {v["level"] for v in data["violations"]} <= {"mandatory", "advisory"}
    assert data["summary"]["mandatory"] == sum(
        v["level"] == "mandatory" for v in data["violations"]
    )
    assert exit_code(reports) == 1


def test_waived_rule_is_silent_and_listed(checked: tuple[Path, list[StackReport]]) -> None:
    _, reports = checked
    report = reports[0]
    assert "aideploy-stack-require-rollback-wired-to-alarms" not in {
        v.policy for v in report.violations
    }
    assert [(w.resource, w.reason, w.used) for w in report.waivers] == [("endpoint", REASON, True)]


def test_sarif_has_the_structure_code_scanning_requires(
    checked: tuple[Path, list[StackReport]],
) -> None:
    project, reports = checked
    sarif = json.loads(render(reports, Format.SARIF, project_dir=project))
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "aideploy-guardrails" and driver["version"]
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert isinstance(rule["properties"]["tags"], list) and rule["properties"]["tags"]
        score = float(rule["properties"]["security-severity"])
        assert 0.0 <= score <= 10.0
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note", "none"}
        # The benchmark controls travel with the rule: help URI and reference tags.
        assert rule["helpUri"].startswith("https://"), rule["id"]
        assert from_tags(rule["properties"]["tags"]), rule["id"]
    assert run["automationDetails"]["id"].endswith("/prod/")
    assert run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note", "none"}
        assert result["message"]["text"]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uri"] == "stacks/Pulumi.prod.yaml"
        assert (project / artifact["uri"]).is_file()
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        (logical,) = location["logicalLocations"]
        assert logical["fullyQualifiedName"].startswith("urn:pulumi:prod::fixture::")
        assert result["partialFingerprints"]
    s1 = next(r for r in run["results"] if r["ruleId"] == S1)
    assert s1["level"] == "error"


def test_markdown_is_a_pr_comment_with_fixes_and_waivers(
    checked: tuple[Path, list[StackReport]],
) -> None:
    project, reports = checked
    text = render(reports, Format.MARKDOWN, project_dir=project)
    assert "### Stack `prod`: ❌ failed" in text
    assert f"| mandatory | high | `{S1}` | `endpoint` (aws:sagemaker/endpoint:Endpoint) |" in text
    assert "How to fix" in text and "**Waivers**" in text and "OPS-7" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all(line.count(" | ") >= 2 for line in table_rows)


def test_text_groups_by_severity_and_honours_no_color(
    checked: tuple[Path, list[StackReport]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, reports = checked
    monkeypatch.setenv("NO_COLOR", "1")
    plain = to_text(reports, terminal_width=100)
    assert "\x1b[" not in plain
    assert "high severity" in plain and "How to fix" in plain and "Waivers" in plain
    monkeypatch.delenv("NO_COLOR")
    coloured = to_text(reports, terminal_width=100)
    assert re.search(r"\x1b\[[0-9;]*m", coloured)
