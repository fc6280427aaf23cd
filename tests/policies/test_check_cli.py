"""`aideploy check` and `python -m policies.check`: exit codes, formats and bad input.

Exit codes: 0 no mandatory violation, 1 a mandatory violation, 2 bad input or a failing program,
always one clear line and never a traceback of ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

REPO = Path(__file__).resolve().parents[2]

CLEAN = "import pulumi\npulumi.export('answer', 42)\n"
ENDPOINT = """\
import pulumi_aws as aws

config = aws.sagemaker.EndpointConfiguration(
    "config",
    production_variants=[
        {"model_name": "m", "variant_name": "stable", "initial_instance_count": 1},
    ],
)
aws.sagemaker.Endpoint("endpoint", endpoint_config_name=config.name)
"""


def write_project(
    path: Path,
    program: str,
    stacks: dict[str, str] | None = None,
    name: str = "fixture",
) -> Path:
    """A small Pulumi Python project: Pulumi.yaml, stacks/Pulumi.<s>.yaml, __main__.py."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\nstackConfigDir: stacks\n")
    (path / "stacks").mkdir(exist_ok=True)
    for stack, text in (stacks or {"dev": "", "prod": ""}).items():
        body = text or "config:\n  aws:region: eu-west-1\n"
        (path / "stacks" / f"Pulumi.{stack}.yaml").write_text(body)
    (path / "__main__.py").write_text(program)
    return path


runner = CliRunner()


def check(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check", *args], env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def test_clean_program_exits_0_with_the_json_contract(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", CLEAN)
    code, out, _ = check(str(project), "--stack", "dev", "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "stack": "dev",
        "resources": 0,
        "violations": [],
        "summary": {"mandatory": 0, "advisory": 0},
    }


def test_mandatory_violation_exits_1(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", ENDPOINT)
    code, out, _ = check(str(project), "--stack", "prod", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["summary"]["mandatory"] >= 2
    assert {v["resource_name"] for v in data["violations"]} >= {"endpoint"}


def test_advisory_only_exits_0(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", ENDPOINT)
    config = tmp_path / "advisory.json"
    config.write_text(json.dumps({"all": "advisory"}))
    code, out, _ = check(
        str(project), "--stack", "prod", "--format", "json", "--config", str(config)
    )
    assert code == 0
    assert json.loads(out)["summary"]["mandatory"] == 0


def test_all_prints_one_object_per_stack_as_an_array(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", CLEAN, {"dev": "", "staging": "", "prod": ""})
    code, out, _ = check(str(project), "--all", "--format", "json")
    assert code == 0
    assert [d["stack"] for d in json.loads(out)] == ["dev", "staging", "prod"]


def test_text_report_honours_no_color(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", ENDPOINT)
    code, out, _ = check(str(project), "--stack", "prod")
    assert code == 1
    assert "\x1b[" not in out
    assert "aideploy-stack-require-routed-serving-alarms" in out
    assert "How to fix" in out


@pytest.mark.parametrize(
    ("program", "stacks", "args", "message"),
    [
        (
            "raise RuntimeError('model image is required')\n",
            None,
            ["--stack", "dev"],
            "the Pulumi program failed: RuntimeError: model image is required",
        ),
        (
            "import pulumi_aws as aws\naws.sns.Topic('t')\nraise ValueError('half way')\n",
            None,
            ["--all"],
            "the Pulumi program failed: ValueError: half way",
        ),
        (CLEAN, None, ["--stack", "qa"], "no stack file for stack 'qa'"),
        (CLEAN, {"dev": "config: [\n"}, ["--stack", "dev"], "malformed YAML"),
        (CLEAN, None, [], "name a stack with --stack"),
        (CLEAN, None, ["--stack", "dev", "--all"], "either --stack or --all"),
        (CLEAN, None, ["--stack", "dev", "--format", "xml"], "unknown format 'xml'"),
        (
            "import pulumi\npulumi.Config().require('model')\n",
            None,
            ["--stack", "dev"],
            "the Pulumi program failed",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, program: str, stacks: dict[str, str] | None, args: list[str], message: str
) -> None:
    project = write_project(tmp_path / "p", program, stacks)
    code, out, err = check(str(project), *args)
    assert code == 2, out + err
    assert message in " ".join(err.split())
    assert "Traceback" not in out + err


def test_missing_project_and_config_files_are_exit_2(tmp_path: Path) -> None:
    code, _, err = check(str(tmp_path), "--stack", "dev")
    assert code == 2 and "no Pulumi.yaml" in err
    project = write_project(tmp_path / "p", CLEAN)
    code, _, err = check(str(project), "--stack", "dev", "--config", str(tmp_path / "no.json"))
    assert code == 2 and "policy config file not found" in err
    (tmp_path / "bad.json").write_text("{not json")
    code, _, err = check(str(project), "--stack", "dev", "--config", str(tmp_path / "bad.json"))
    assert code == 2 and "malformed JSON" in err


def test_secret_config_is_replaced_and_said_so(tmp_path: Path) -> None:
    stacks = {"dev": "config:\n  fixture:token:\n    secure: AAABAKZ\n"}
    project = write_project(tmp_path / "p", CLEAN, stacks)
    code, out, _ = check(str(project), "--stack", "dev", "--format", "markdown")
    assert code == 0
    assert "secret fixture:token replaced by a placeholder" in out


def test_module_entry_point_runs_inside_a_project_without_aideploy(tmp_path: Path) -> None:
    # A generated project vendors policies/ and offline/ and runs `python -m policies.check`
    # from its root.
    project = write_project(tmp_path / "p", ENDPOINT)
    import shutil

    for package in ("policies", "offline"):
        shutil.copytree(
            REPO / package, project / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "policies.check", "--stack", "prod", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["stack"] == "prod"
    bad = subprocess.run(
        [sys.executable, "-m", "policies.check", "--stack", "nope"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: no stack file for stack 'nope'")
    assert "Traceback" not in bad.stderr
