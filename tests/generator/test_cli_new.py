"""`aideploy new` and `aideploy patterns` from the command line: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from templates import generator

runner = CliRunner()
# Every answer a real deploy needs, as a script passes them.
BASE = [
    "--cloud", "aws", "--pattern", "api-first", "--region", "eu-west-1",
    "--owner", "ops@acme.example", "--account", "123456789012", "--repo", "acme/support",
    "--sample-model", "--jwt-issuer", "https://login.acme.example",
    "--jwt-audience", "api://acme", "--no-input",
]  # fmt: skip


def _with(flag: str, value: str) -> list[str]:
    """BASE with one flag's value replaced."""
    i = BASE.index(flag)
    return [*BASE[: i + 1], value, *BASE[i + 2 :]]


def _without(flag: str, takes_value: bool = True) -> list[str]:
    """BASE minus one flag (and its value)."""
    i = BASE.index(flag)
    return BASE[:i] + BASE[i + (2 if takes_value else 1) :]


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
    assert payload["bootstrap_stacks"] == ["shared"]
    # the three stacks' monthly list prices, printed and in the README (stacks/cost.py)
    totals = {env: c["monthly_total"] for env, c in payload["monthly_cost"].items()}
    assert set(totals) == {"dev", "staging", "prod"} and totals["prod"] > totals["dev"] > 0
    readme = (tmp_path / "p" / "README.md").read_text()
    for env, total in totals.items():
        assert f"| {env} | USD {total:,.2f} + usage |" in readme
    assert (tmp_path / "p" / "stacks" / "Pulumi.prod.yaml").is_file()
    assert (tmp_path / "p" / "bootstrap" / "stacks" / "Pulumi.shared.yaml").is_file()


def test_one_account_per_environment_gives_one_bootstrap_stack_each(tmp_path: Path) -> None:
    args = [*_without("--account"), "--account", "dev=111111111111"]
    args += ["--account", "staging=222222222222", "--account", "prod=333333333333"]
    code, out, err = _new(tmp_path, "acme", *args, "-o", str(tmp_path / "p"), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["bootstrap_stacks"] == ["dev", "staging", "prod"]
    dev = yaml.safe_load((tmp_path / "p" / "stacks" / "Pulumi.dev.yaml").read_text())
    assert dev["config"]["aws:allowedAccountIds"] == ["111111111111"]


def test_no_cost_skips_the_estimate_and_says_how_to_get_it(tmp_path: Path) -> None:
    code, out, err = _new(
        tmp_path, "acme", *BASE, "--no-cost", "-o", str(tmp_path / "p"), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["monthly_cost"] == {}
    assert "`aideploy cost . --stack <env>` itemises" in (tmp_path / "p" / "README.md").read_text()


def test_a_shared_account_is_said(tmp_path: Path) -> None:
    code, out, _ = _new(tmp_path, "acme", *BASE, "-o", str(tmp_path / "p"))
    assert code == 0
    assert "share AWS account id 123456789012" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["acme", *_with("--cloud", "ibm")], "'ibm' is not one of 'aws', 'azure', 'gcp'"),
        (["acme", *BASE, "--bogus"], "No such option: --bogus"),
        (["acme;rm -rf", *BASE], "project name"),
        (["acme", *_without("--owner")], "missing answer: --owner"),
        (["acme", *_without("--region")], "missing answer: --region"),
        (["acme", *_without("--account")], "missing answer: --account"),
        (["acme", *_without("--repo")], "missing answer: --repo"),
        (["acme", *_without("--sample-model", False)], "--model-image or --sample-model"),
        (["acme", *_without("--jwt-issuer")], "missing answer: --jwt-issuer"),
        (["acme", *BASE, "--region", "mars-1"], "not a known aws region"),
        (["acme", *BASE, "--region", "westeurope"], "belongs to azure, not to aws"),
        (["acme", *BASE, "--alert-email", "nope"], "alert_emails"),
        (["acme", *BASE, "--account", "prod=12"], "account"),
        (["acme", *BASE, "--domain", "prod=api.sslip.io"], "wildcard-DNS"),
        (["acme", *_with("--pattern", "monolith")], "unknown pattern 'monolith'"),
        (["acme", *_with("--pattern", "serverless")], "unknown pattern 'serverless'"),
        # Brackets and regexes reach the terminal whole (no markup eats them).
        (["acme", *BASE, "--model-version", "[bold]x"], "'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'"),
        # An LLM: where the service is offered, with a model of the project's cloud.
        (["acme", *BASE, "--llm", "maybe"], "unknown --llm 'maybe'"),
        (
            ["acme", *_with("--region", "af-south-1"), "--llm", "hosted"],
            "not offered in af-south-1",
        ),
        (
            ["acme", *BASE, "--llm", "hosted", "--llm-model", "gpt-4o-mini"],
            "--llm-model 'gpt-4o-mini'",
        ),
        (["acme", *BASE, "--llm", "hosted", "--llm-model-version", "1"], "--llm-model-version"),
        (["acme", *BASE, "--llm", "self-hosted", "--llm-model", "x.y"], "only --llm hosted"),
        (["acme", *_with("--region", "sa-east-1"), "--llm", "hosted"], "no model to propose"),
        (["acme", *_with("--pattern", "event-driven"), "--llm", "hosted"], "behind the api-first"),
    ],
)
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


def test_help_offers_only_what_can_be_generated() -> None:
    result = runner.invoke(app, ["new", "--help"], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == 0
    text = result.stdout
    assert "api-first, event-driven, managed-platform or embedded" in text
    assert "--no-no-input" not in text and "--no-force" not in text
    assert "--no-sample-model" not in text
    for flag in ("--model-image", "--sample-model", "--jwt-issuer", "--jwt-audience", "--domain"):
        assert flag in text
    for flag in ("--account", "--repo", "--tenant", "--region"):
        assert flag in text


def test_patterns_lists_every_cloud_and_pattern() -> None:
    result = runner.invoke(app, ["patterns", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 14  # 4 patterns x 3 clouds, and the two the kubernetes target runs
    assert {r["cloud"] for r in rows} == {"aws", "azure", "gcp", "kubernetes"}
    assert all(r["services"] for r in rows)
    # The kubernetes target scaffolds its two patterns, like the clouds.
    k8s = {r["pattern"]: r for r in rows if r["cloud"] == "kubernetes"}
    assert set(k8s) == {"api-first", "event-driven"}
    assert all(r["status"] == "available" and r["available"] for r in k8s.values())


def test_patterns_table_for_people() -> None:
    result = runner.invoke(app, ["patterns"], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == 0
    assert "managed-platform" in result.stdout and "SageMaker" in result.stdout
    assert "\x1b[" not in result.stdout


@pytest.mark.parametrize(
    ("cloud", "pattern", "overrides"),
    [
        ("aws", "api-first", {"accounts": {"dev": "111111111111", "staging": "111111111111",
                                           "prod": "222222222222"}, "private_ca": True}),
        ("azure", "managed-platform", {"alert_emails": ("a@acme.example", "b@acme.example")}),
        ("gcp", "api-first", {"domains": {"dev": "sslip.io", "staging": "s.acme.example",
                                          "prod": "api.acme.example"}, "ci": "gitlab"}),
        ("gcp", "event-driven", {"model_image": "europe-west1-docker.pkg.dev/p/r/m:1"}),
        ("kubernetes", "event-driven", {"ci": "gitlab"}),
        ("azure", "api-first", {"llm": "hosted", "llm_model": "gpt-4o",
                                "llm_model_version": "2024-11-20"}),
        ("kubernetes", "api-first", {"llm": "self-hosted"}),
    ],
)  # fmt: skip
def test_the_flags_a_script_types_give_the_same_answers(
    tmp_path: Path, cloud: str, pattern: str, overrides: dict[str, object]
) -> None:
    from components.spec import Cloud, Pattern
    from templates.answers import cli_flags, cluster_file_text, example_answers

    answers = example_answers(Cloud(cloud), Pattern(pattern), **overrides)
    cluster = None
    if answers.cluster is not None:  # kubernetes: the cluster settings come in a file
        cluster = tmp_path / "cluster.yaml"
        cluster.write_text(cluster_file_text(answers))
    flags = cli_flags(answers, str(cluster) if cluster else None)
    code, _, err = _new(tmp_path, *flags, "--no-input", "-o", str(tmp_path / "p"))
    assert code == 0, err
    recorded = json.loads((tmp_path / "p" / ".aideploy.json").read_text())["answers"]
    assert recorded == answers.model_dump(mode="json")


def test_a_person_at_a_terminal_is_asked_for_every_answer_a_deploy_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cli

    monkeypatch.setattr(cli, "_interactive", lambda no_input: True)
    answers = [
        "gcp",  # cloud
        "serverless",  # refused at the prompt: not a pattern
        "api-first",  # pattern
        "",  # region: the suggestion shown, taken knowingly
        "ops@acme.example",  # owner
        "acme-dev-01",  # project for dev
        "acme-stg-01",  # staging
        "acme-prd-01",  # prod
        "acme/support",  # repo
        "sample",  # the sample model
        "https://accounts.google.com",  # issuer
        "acme-support",  # audience
        "api.acme.example",  # domain: prod's; dev and staging get sub-domains
        "self-hosted",  # an LLM: the image is the model, its server checks with Model Armor
    ]
    result = runner.invoke(
        app,
        ["new", "acme", "-o", str(tmp_path / "p"), "--format", "json"],
        input="\n".join(answers) + "\n",
        env={"NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "choose one of: api-first" in result.output  # embedded was refused
    recorded = json.loads((tmp_path / "p" / ".aideploy.json").read_text())["answers"]
    assert recorded["region"] == "europe-west1"
    assert recorded["accounts"] == {
        "dev": "acme-dev-01",
        "staging": "acme-stg-01",
        "prod": "acme-prd-01",
    }
    assert recorded["sample_model"] is True and recorded["model_image"] is None
    assert recorded["llm"] == "self-hosted"
    assert recorded["domains"] == {
        "dev": "dev.api.acme.example",
        "staging": "staging.api.acme.example",
        "prod": "api.acme.example",
    }
    assert json.loads(result.stdout.splitlines()[-1])["bootstrap_stacks"] == [
        "dev",
        "staging",
        "prod",
    ]


def test_an_llm_project_gets_the_guardrail_in_every_stack_file(tmp_path: Path) -> None:
    """--llm hosted: the region's Bedrock inference profile, the guardrail written out whole and
    equal in every stack file, and the guardrail runbook."""
    code, _, err = _new(
        tmp_path, "acme", *BASE, "--llm", "hosted", "--no-cost", "-o", str(tmp_path / "p")
    )
    assert code == 0, err
    sections = [
        yaml.safe_load((tmp_path / "p" / "stacks" / f"Pulumi.{env}.yaml").read_text())["config"][
            "acme:llm"
        ]
        for env in ("dev", "staging", "prod")
    ]
    assert sections[0] == sections[1] == sections[2]
    assert sections[0]["mode"] == "hosted" and sections[0]["model"] == "eu.amazon.nova-lite-v1:0"
    assert sections[0]["guardrail"]["prompt_attack"] == "high"
    assert sections[0]["guardrail"]["fail_open"] is False
    assert (tmp_path / "p" / "docs" / "runbooks" / "guardrail.md").is_file()
