"""`aideploy new` and `aideploy patterns` from the command line: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from templates import generator

runner = CliRunner()
BASE = ["--cloud", "aws", "--pattern", "api-first", "--owner", "ops@acme.example", "--no-input"]


@pytest.fixture(autouse=True)
def _any_component_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "is_available", lambda cloud, pattern: True)


def _new(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["new", *args], env={"NO_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_new_scaffolds_and_reports_json(tmp_path: Path) -> None:
    code, out, _ = _new(
        tmp_path, "Acme Support", *BASE, "-o", str(tmp_path / "p"), "--format", "json"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["project"] == "acme-support"
    assert payload["stacks"] == ["dev", "staging", "prod"]
    assert (tmp_path / "p" / "stacks" / "Pulumi.prod.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["acme", "--cloud", "ibm", "--pattern", "api-first", "--owner", "a@b.co", "--no-input"],
         "unknown cloud 'ibm'"),
        (["acme;rm -rf", *BASE], "project name"),
        (["acme", *BASE[:-3], "--no-input"], "missing answer: --owner"),
        (["acme", *BASE, "--region", "mars-1"], "not a known aws region"),
        (["acme", *BASE, "--alert-email", "nope"], "alert_emails"),
        (["acme", "--cloud", "aws", "--pattern", "monolith", "--owner", "a@b.co", "--no-input"],
         "pattern"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _new(tmp_path, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "p"
    target.mkdir()
    (target / "notes.md").write_text("keep me")
    code, _, err = _new(tmp_path, "acme", *BASE, "-o", str(target))
    assert code == 2 and "--force" in err
    assert (target / "notes.md").read_text() == "keep me"
    code, _, _ = _new(tmp_path, "acme", *BASE, "-o", str(target), "--force")
    assert code == 0 and not (target / "notes.md").exists()


def test_patterns_lists_every_cloud_and_pattern() -> None:
    result = runner.invoke(app, ["patterns", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 12
    assert {r["cloud"] for r in rows} == {"aws", "azure", "gcp"}
    assert all(r["services"] for r in rows)


def test_patterns_table_for_people() -> None:
    result = runner.invoke(app, ["patterns"], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == 0
    assert "managed-platform" in result.stdout and "SageMaker" in result.stdout
    assert "\x1b[" not in result.stdout
