"""Parity: config and resource drift between stacks, on a small real Pulumi program under mocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from offline.program import ProjectError, run_stack
from stacks.parity_check import check_parity, main, render, stack_pairs
from tests.unit.parity_fake_project import inject, make_project, stack_config, write_stack


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "fake")


def test_stacks_at_parity_pass_although_capacity_and_retention_differ(project: Path) -> None:
    report = check_parity(project)
    assert report.pairs == [("dev", "staging"), ("staging", "prod")]
    assert report.ok, render(report)
    # prod alone pages (a declared difference), so it alone has the pager topic: not drift
    assert report.resources == {"dev": 10, "staging": 10, "prod": 11}
    # the declared differences really reached the resources, and were ignored there
    min_capacity = {
        stack: next(
            r.inputs["minCapacity"]
            for r in run_stack(project, stack).resources
            if r.type == "aws:appautoscaling/target:Target"
        )
        for stack in ("dev", "prod")
    }
    assert min_capacity == {"dev": 1, "prod": 2}


def test_a_release_recorded_in_one_stack_is_in_flight_not_drift(project: Path) -> None:
    # the release pull request writes a new image into dev only: it must pass the check
    write_stack(project, "dev", stack_config("dev", version="2.0.0"))
    report = check_parity(project, ("dev", "staging"))
    assert report.ok, render(report)
    assert {d.subject for d in report.in_flight} == {"model.version", "model.image"}
    assert "RELEASE IN FLIGHT dev -> staging model.version" in render(report)
    assert json.loads(render(report, "json"))["in_flight"]


def test_a_model_edit_beside_other_drift_still_fails_on_the_other(project: Path) -> None:
    config = stack_config("prod", version="2.0.0")
    config["fake:model"]["port"] = 9090
    write_stack(project, "prod", config)
    report = check_parity(project, ("staging", "prod"))
    assert {d.subject for d in report.drift if d.kind == "config"} == {"model.port"}
    assert {d.subject for d in report.in_flight} == {"model.version", "model.image"}


def test_unencrypted_store_in_one_stack_is_resource_drift(project: Path) -> None:
    inject(project, "PLAIN_STACKS", {"prod"})
    report = check_parity(project)
    assert [d.pair for d in report.drift] == [("staging", "prod")]
    (drift,) = report.drift
    assert drift.kind == "resource"
    assert (
        drift.subject
        == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert (drift.left, drift.right) == (1, 0)
    assert "only in staging: fake-data-sse" in drift.detail


def test_missing_alarm_is_resource_drift(project: Path) -> None:
    inject(project, "NO_LATENCY_ALARM_STACKS", {"staging"})
    report = check_parity(project)
    assert {d.pair for d in report.drift} == {("dev", "staging"), ("staging", "prod")}
    assert {d.subject for d in report.drift} == {"aws:cloudwatch/metricAlarm:MetricAlarm"}
    assert {(d.left, d.right) for d in report.drift} == {(2, 1), (1, 2)}


def test_a_weakened_setting_on_a_matching_resource_is_drift(project: Path) -> None:
    main_py = project / "__main__.py"
    main_py.write_text(
        main_py.read_text().replace(
            "block_public_policy=True", 'block_public_policy=stack != "dev"'
        )
    )
    report = check_parity(project)
    (drift,) = report.drift
    assert drift.pair == ("dev", "staging")
    assert drift.detail == "network-exposure: blockPublicPolicy"
    assert (drift.left, drift.right) == (False, True)


def test_undeclared_config_difference_is_drift_and_declared_one_is_not(project: Path) -> None:
    config = stack_config("prod")
    config["fake:rollout"]["strategy"] = "blue-green"  # not declared
    config["fake:rollout"]["bake_minutes"] = 60  # declared
    write_stack(project, "prod", config)
    report = check_parity(project, ("staging", "prod"))
    assert [(d.kind, d.subject, d.left, d.right) for d in report.drift] == [
        ("config", "rollout.strategy", "canary", "blue-green")
    ]


def test_project_parity_yaml_overrides_the_default_rules(project: Path) -> None:
    config = stack_config("prod")
    config["fake:rollout"]["strategy"] = "blue-green"
    write_stack(project, "prod", config)
    (project / "stacks" / "parity.yaml").write_text(
        yaml.safe_dump(
            {
                "may_differ": ["environment", "capacity", "retention", "rollout", "alerts"],
                "promotable": ["model.version"],
            }
        )
    )
    assert check_parity(project, ("staging", "prod")).ok


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_cli_entry_reports_drift_with_exit_1(
    project: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    inject(project, "PLAIN_STACKS", {"prod"})
    assert main([str(project), "--format", fmt]) == 1
    out = capsys.readouterr().out
    assert "fake-data-sse" in out
    if fmt == "json":
        data = json.loads(out)
        assert data["ok"] is False and data["drift"][0]["pair"] == ["staging", "prod"]
    if fmt == "markdown":
        assert out.startswith("### Environment parity: 1 drift finding")


def test_cli_entry_exit_0_when_at_parity(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(project), "--between", "dev", "prod"]) == 0
    assert "no drift" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("between", "message"),
    [
        (("staging", "production"), "unknown stack 'production'"),
        (("prod", "prod"), "two different stacks"),
    ],
)
def test_bad_stack_names_are_usage_errors(
    project: Path, between: tuple[str, str], message: str
) -> None:
    with pytest.raises(ProjectError, match=message):
        stack_pairs(project, between)


def test_malformed_yaml_and_missing_stack_are_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "stacks" / "Pulumi.prod.yaml").write_text("config: [unclosed\n")
    assert main([str(project)]) == 2
    assert "malformed YAML" in capsys.readouterr().err
    (project / "stacks" / "Pulumi.prod.yaml").unlink()
    (project / "stacks" / "Pulumi.staging.yaml").unlink()
    assert main([str(project)]) == 2
    assert "at least two stack files" in capsys.readouterr().err
    assert main([str(project / "nowhere")]) == 2


def test_a_resource_tied_to_a_declared_difference_is_no_drift_but_others_are(
    project: Path,
) -> None:
    # the same pager topic, created by a per-stack hand edit instead of the config: drift
    main_py = project / "__main__.py"
    main_py.write_text(
        main_py.read_text().replace(
            'if config.get_object("alerts", {}).get("page_on_critical"):',
            'if stack == "prod":',
        )
    )
    config = stack_config("prod")
    config["fake:alerts"]["page_on_critical"] = False
    write_stack(project, "prod", config)
    report = check_parity(project, ("staging", "prod"))
    assert [(d.kind, d.subject, d.detail) for d in report.drift] == [
        ("resource", "aws:sns/topic:Topic", "only in prod: fake-pager")
    ]


def test_a_value_that_merely_contains_a_stack_name_is_compared_raw(project: Path) -> None:
    main_py = project / "__main__.py"
    main_py.write_text(
        main_py.read_text().replace(
            'tags={"model-version": model["version"], "environment": stack},',
            'tags={"model-version": model["version"] + "-prod", "environment": stack},',
        )
    )
    assert check_parity(project).ok, "a constant containing 'prod' must match itself"


@pytest.mark.parametrize(
    ("path", "left", "right"),
    [
        ("aws:allowedAccountIds", ["111111111111"], ["222222222222"]),
        ("azure-native:subscriptionId", "0000-dev-subscription", "0000-prod-subscription"),
        ("gcp:project", "acme-dev-01", "acme-prd-01"),
        ("alerts.emails", ["dev-team@acme.example"], ["oncall@acme.example"]),
        ("api.domain", "dev.api.acme.example", "api.acme.example"),
        ("network.cidr", "10.40.0.0/16", "10.42.0.0/16"),
        ("suffix", "a1b2c3", "d4e5f6"),
    ],
)  # fmt: skip
def test_each_environment_may_have_its_own_account_domain_network_and_routing(
    path: str, left: object, right: object
) -> None:
    # Review #4: one account, subscription or project per environment, and per-environment
    # alert routing, are declared differences, not drift.
    from stacks.profiles import parity_violations

    def config(value: object) -> dict[str, object]:
        out: dict[str, object] = {"model": {"version": "1.0.0"}}
        node = out
        *parents, leaf = path.split(".") if ":" not in path else (path,)
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[leaf] = value
        return out

    assert parity_violations(config(left), config(right)) == []
    # ... while the model, which is not declared, still is drift
    drifted = config(right)
    drifted["model"] = {"version": "2.0.0"}
    assert parity_violations(config(left), drifted) == [("model.version", "1.0.0", "2.0.0")]
