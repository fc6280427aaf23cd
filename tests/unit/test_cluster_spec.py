"""The kubernetes target's part of the spec: what a client's cluster must be told, refused early."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from components.bootstrap import BootstrapSpec
from components.registry import REGISTRY, project_clouds, scaffolded
from components.spec import (
    CLUSTER_PATTERNS,
    SUPPORTED_KUBERNETES_VERSIONS,
    Cloud,
    Environment,
    Pattern,
    describe_validation_error,
)
from stacks.profiles import load_parity_rules, parity_violations
from templates.answers import EXAMPLE_CLUSTER, cli_flags, cluster_file_text, example_answers
from templates.generator import plan_project
from tests.conftest import make_spec

K8S = Cloud.KUBERNETES


def _error(pattern: Pattern, overrides: dict[str, Any]) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(K8S, pattern, Environment.DEV, overrides)
    return describe_validation_error(info.value)


@pytest.mark.parametrize("pattern", sorted(CLUSTER_PATTERNS))
@pytest.mark.parametrize("env", list(Environment))
def test_example_stacks_are_valid_and_carry_the_cluster(pattern: Pattern, env: Environment) -> None:
    spec = make_spec(K8S, pattern, env)
    assert spec.cluster is not None
    assert spec.cluster.kubernetes_version in SUPPORTED_KUBERNETES_VERSIONS
    assert spec.model.serving_image.split("@sha256:")[1].isalnum()
    assert (spec.cluster.queue is not None) == (pattern is Pattern.EVENT_DRIVEN)


def test_the_cluster_section_is_refused_on_a_cloud() -> None:
    cluster = {"cluster": {"tls_issuer": "letsencrypt"}}
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV, cluster)
    assert "only the kubernetes target takes it" in describe_validation_error(info.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"model": {"image": "registry.acme.example/m:1.0.0"}}, "pinned by digest"),
        ({"region": "Paris DC"}, "site's label"),
        ({"cluster": {"kubernetes_version": "1.29"}}, "supported are 1.30"),
        ({"cluster": {"tls_secret_key": "acme/tls"}}, "exactly one"),
        ({"cluster": {"tls_issuer": None}}, "exactly one"),
        ({"cluster": {"gateway_namespace": "Envoy_GW"}}, "gateway_namespace"),
        ({"cluster": {"prometheus_release": "kube prometheus"}}, "prometheus_release"),
    ],
)
def test_bad_cluster_settings_are_one_clear_error(overrides: dict[str, Any], expected: str) -> None:
    assert expected in _error(Pattern.API_FIRST, overrides)


def test_event_driven_needs_the_clients_queue_and_store() -> None:
    message = _error(Pattern.EVENT_DRIVEN, {"cluster": {"queue": None, "object_store": None}})
    assert "cluster.queue" in message


@pytest.mark.parametrize("empty", [("queue",), ("object_store",), ("queue", "object_store")])
@pytest.mark.parametrize("env", list(Environment))
def test_the_workers_egress_ranges_are_required_outside_dev(
    env: Environment, empty: tuple[str, ...]
) -> None:
    # Without a service's ranges its port is open to any address: dev only.
    overrides: dict[str, Any] = {"cluster": {service: {"cidrs": []} for service in empty}}
    if env is Environment.DEV:
        spec = make_spec(K8S, Pattern.EVENT_DRIVEN, env, overrides)
        assert spec.cluster is not None and spec.cluster.queue is not None
        return
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(K8S, Pattern.EVENT_DRIVEN, env, overrides)
    assert info.value.error_count() == 1
    message = describe_validation_error(info.value)
    assert "cluster.queue.cidrs, cluster.object_store.cidrs" in message
    assert "outside dev" in message


@pytest.mark.parametrize("pattern", [Pattern.EMBEDDED, Pattern.MANAGED_PLATFORM])
def test_cloud_only_patterns_are_refused_on_kubernetes(pattern: Pattern) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        example_answers(K8S, pattern)
    assert "does not run on kubernetes" in describe_validation_error(info.value)
    assert (K8S, pattern) not in REGISTRY


def test_answers_refuse_a_tagged_image_and_the_sample_model() -> None:
    with pytest.raises(pydantic.ValidationError, match="pinned by digest"):
        example_answers(K8S, Pattern.API_FIRST, model_image="registry.acme.example/m:1")
    with pytest.raises(pydantic.ValidationError, match="sample model"):
        example_answers(K8S, Pattern.API_FIRST, model_image=None, sample_model=True)


@pytest.mark.parametrize("pattern", sorted(CLUSTER_PATTERNS))
def test_the_three_stacks_are_at_parity(pattern: Pattern) -> None:
    plan = plan_project(example_answers(K8S, pattern))
    for env in (Environment.STAGING, Environment.PROD):
        rules = load_parity_rules()
        problems = parity_violations(plan.sections[Environment.DEV], plan.sections[env], rules)
        assert [p for p in problems if not rules.promotes(p[0])] == [], problems
    clusters = {repr(plan.specs[env].cluster) for env in Environment}
    assert len(clusters) == 1


def test_new_scaffolds_kubernetes_from_a_cluster_file(tmp_path: Any) -> None:
    # `aideploy new --cloud kubernetes` as a platform team types it: the cluster's settings in
    # a file, the state store's address, the model image by digest.
    assert K8S in project_clouds()
    assert scaffolded(K8S, Pattern.API_FIRST) and scaffolded(K8S, Pattern.EVENT_DRIVEN)
    answers = example_answers(K8S, Pattern.EVENT_DRIVEN)
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(cluster_file_text(answers))
    flags = cli_flags(answers, str(cluster))
    result = CliRunner().invoke(app, ["new", *flags, "--no-input", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    project = tmp_path / "p"
    stack = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    assert stack["kubernetes:context"] == answers.accounts[Environment.PROD]
    assert stack[f"{answers.project_slug}:cluster"] == answers.cluster.model_dump(
        mode="json", exclude_none=True
    )  # type: ignore[union-attr]
    (boot,) = (project / "bootstrap" / "stacks").glob("Pulumi.*.yaml")
    spec = yaml.safe_load(boot.read_text())["config"][f"{answers.project_slug}-bootstrap:bootstrap"]
    assert spec["state_endpoint"] == answers.state_endpoint
    assert spec["client_repository"] == answers.model_image.split("@")[0]  # type: ignore[union-attr]
    assert (project / "ci" / "kube_credentials.py").is_file()
    assert {p.name for p in (project / "components").iterdir() if p.is_dir()} >= {"kubernetes"}


@pytest.mark.parametrize(
    ("drop", "message"),
    [("--cluster", "--cluster"), ("--state-endpoint", "--state-endpoint")],
)
def test_new_on_kubernetes_without_the_clusters_answers_is_one_line(
    tmp_path: Any, drop: str, message: str
) -> None:
    answers = example_answers(K8S, Pattern.API_FIRST)
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(cluster_file_text(answers))
    flags = cli_flags(answers, str(cluster))
    at = flags.index(drop)
    flags = flags[:at] + flags[at + 2 :]
    result = CliRunner().invoke(app, ["new", *flags, "--no-input", "-o", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "p").exists()


def test_a_cluster_file_with_a_wrong_setting_is_one_line(tmp_path: Any) -> None:
    answers = example_answers(K8S, Pattern.API_FIRST)
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(cluster_file_text(answers) + "gateway_class: 'x y'\n")
    flags = cli_flags(answers, str(cluster))
    result = CliRunner().invoke(app, ["new", *flags, "--no-input", "-o", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "gateway_class" in result.output
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("env", [Environment.STAGING, Environment.PROD])
def test_the_rollback_services_api_server_ranges_are_required_outside_dev(env: Environment) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        make_spec(K8S, Pattern.API_FIRST, env, {"cluster": {"api_server_cidrs": []}})
    assert "cluster.api_server_cidrs" in describe_validation_error(info.value)
    # dev may leave them out (port-only egress), and without Prometheus there is no rollback
    # service to reach the API server.
    make_spec(K8S, Pattern.API_FIRST, Environment.DEV, {"cluster": {"api_server_cidrs": []}})
    make_spec(
        K8S, Pattern.API_FIRST, env, {"cluster": {"api_server_cidrs": [], "prometheus": False}}
    )


def test_the_isolation_the_client_records_is_the_one_the_contexts_show() -> None:
    split = {Environment.DEV: "dc-dev", Environment.STAGING: "dc-stg", Environment.PROD: "dc-prd"}
    cluster_each = {**EXAMPLE_CLUSTER[Pattern.API_FIRST], "isolation": "cluster"}
    with pytest.raises(pydantic.ValidationError, match="namespace isolation"):
        example_answers(K8S, Pattern.API_FIRST, accounts=split)
    with pytest.raises(pydantic.ValidationError, match="cluster isolation"):
        example_answers(K8S, Pattern.API_FIRST, cluster=cluster_each)
    # A cluster per environment: one bootstrap per cluster, each guarding its one namespace.
    plan = plan_project(
        example_answers(K8S, Pattern.API_FIRST, accounts=split, cluster=cluster_each)
    )
    assert sorted(len(b.environments) for b in plan.bootstrap.values()) == [1, 1, 1]
    assert {b.account for b in plan.bootstrap.values()} == set(split.values())
    assert {plan.specs[e].cluster.isolation.value for e in Environment} == {"cluster"}  # type: ignore[union-attr]


def test_the_state_store_is_the_clients_and_only_kubernetes_names_one() -> None:
    with pytest.raises(pydantic.ValidationError, match="S3 API host"):
        example_answers(K8S, Pattern.API_FIRST, state_endpoint=None)
    with pytest.raises(pydantic.ValidationError, match="only kubernetes takes one"):
        example_answers(Cloud.AWS, Pattern.API_FIRST, state_endpoint="s3.acme.example")
    for bad in ("https://s3.acme.example", "s3.acme.example/state", "S3.ACME", "s3 .acme"):
        with pytest.raises(pydantic.ValidationError):
            example_answers(K8S, Pattern.API_FIRST, state_endpoint=bad)
    assert example_answers(K8S, Pattern.API_FIRST, state_endpoint="10.0.0.5:9000")


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        (
            "registry.acme.example/support/model@sha256:" + "3" * 64,
            "registry.acme.example/support/model",
        ),
        ("registry.acme.example:5000/m@sha256:" + "a" * 64, "registry.acme.example:5000/m"),
        (
            "harbor.acme.example/ai/team/model:1.2@sha256:" + "b" * 64,
            "harbor.acme.example/ai/team/model",
        ),
    ],
)
def test_images_are_pushed_to_the_repository_the_clients_image_is_in(
    image: str, repository: str
) -> None:
    plan = plan_project(example_answers(K8S, Pattern.API_FIRST, model_image=image))
    (spec,) = plan.bootstrap.values()
    assert spec.image_repository == repository
    assert plan.image == image  # the stacks keep the digest the client gave


def test_the_on_premises_fields_are_refused_on_a_cloud() -> None:
    plan = plan_project(example_answers(Cloud.AWS, Pattern.API_FIRST))
    (spec,) = plan.bootstrap.values()
    data = spec.model_dump()
    for field, value in (("state_endpoint", "s3.acme.example"), ("client_repository", "r.x/m")):
        with pytest.raises(pydantic.ValidationError, match=f"{field}: required on kubernetes"):
            BootstrapSpec.model_validate({**data, field: value})
    k8s = next(iter(plan_project(example_answers(K8S, Pattern.API_FIRST)).bootstrap.values()))
    with pytest.raises(pydantic.ValidationError, match="state_endpoint: required on kubernetes"):
        BootstrapSpec.model_validate({**k8s.model_dump(), "state_endpoint": None})
