"""GcpManagedPlatform under Pulumi's mocks: Vertex AI endpoint, deployment, alarms, rollback."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import dill
import pytest

from components.alarms import serving_alarms, traffic_split
from components.gcp.managed_platform import ROLLBACK_PERMISSIONS, machine_type, policy_waivers
from components.gcp.prerequisites import rollback_reader_role_name, rollback_role_name
from components.gcp.security import AUDIT_RULE
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import GCP_PROJECT, Capture, CapturedResource
from policies.rules import all_policies
from tests.conftest import candidate_image, make_spec, of_type, run_component
from tests.policies.harness import evaluate

CANDIDATE_IMAGE = candidate_image(Cloud.GCP, Pattern.MANAGED_PLATFORM)

ENVS = list(Environment)
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
DEPLOYMENT = "pulumi-python:dynamic/gcp:VertexDeployment"
MODEL = "pulumi-python:dynamic/gcp:VertexModel"
MONITORING = "pulumi-python:dynamic/gcp:VertexModelMonitoring"


@cache
def _run(env: Environment, candidate: bool = False) -> tuple[DeploymentSpec, Capture]:
    spec = make_spec(Cloud.GCP, Pattern.MANAGED_PLATFORM, env, CANDIDATE if candidate else None)
    return spec, run_component(spec)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def component(cap: Capture) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.type == "aideploy:gcp:ManagedPlatform"]
    return found


def outputs(cap: Capture) -> dict[str, Any]:
    return cap.outputs[component(cap).urn]


@pytest.mark.parametrize("env", ENVS)
def test_registers_every_part_of_the_pattern(env: Environment) -> None:
    _, cap = _run(env)
    for token in (
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:vertex/aiEndpoint:AiEndpoint",
        DEPLOYMENT,
        "gcp:monitoring/dashboard:Dashboard",
        "gcp:cloudfunctionsv2/function:Function",
        "gcp:pubsub/topic:Topic",
    ):
        assert len(of_type(cap.resources, token)) == 1, token
    assert len(of_type(cap.resources, MODEL)) == 1  # no candidate: one model


@pytest.mark.parametrize("env", ENVS)
def test_endpoint_models_and_data_capture_use_the_stack_key(env: Environment) -> None:
    spec, cap = _run(env, candidate=True)
    key = outputs(cap)["kms_key_id"]
    endpoint = one(cap.resources, "gcp:vertex/aiEndpoint:AiEndpoint")
    assert endpoint.inputs["encryptionSpec"]["kmsKeyName"] == key
    # Data capture is the monitoring job's request logging (its BigQuery tables under the stack
    # key, kept for the data retention); the endpoint configures none of its own, which would
    # conflict with the job's (review A16).
    assert not endpoint.inputs.get("predictRequestResponseLoggingConfig")
    assert of_type(cap.resources, "gcp:bigquery/dataset:Dataset") == []
    job = one(cap.resources, MONITORING)
    assert job.inputs["kms_key_name"] == key
    assert job.inputs["log_ttl_days"] == spec.retention.data_days
    assert job.inputs["sample_rate"] == 1.0
    models = of_type(cap.resources, MODEL)
    assert len(models) == 2
    assert {m.inputs["kms_key_name"] for m in models} == {key}
    assert {m.inputs["image"] for m in models} == {spec.model.image, spec.rollout.candidate_image}
    assert endpoint.protect is spec.retention.deletion_protection


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("candidate", [False, True])
def test_deployment_scales_within_the_profile_and_splits_traffic(
    env: Environment, candidate: bool
) -> None:
    spec, cap = _run(env, candidate)
    deployment = one(cap.resources, DEPLOYMENT)
    slots, traffic = deployment.inputs["slots"], deployment.inputs["traffic"]
    stable_pct, candidate_pct = traffic_split(spec)
    assert traffic == {"stable": stable_pct, "candidate": candidate_pct}
    assert sum(traffic.values()) == 100
    assert traffic["candidate"] == (spec.rollout.canary_percent if candidate else 0)
    assert set(slots) == ({"stable", "candidate"} if candidate else {"stable"})
    stable = slots["stable"]
    assert stable["min_replicas"] == max(1, spec.capacity.min_instances)
    assert stable["max_replicas"] == spec.capacity.max_instances
    assert stable["target_cpu_percent"] == spec.capacity.target_cpu_percent
    assert stable["machine_type"] == machine_type(spec.capacity.cpu, spec.capacity.memory_mb)
    assert stable["service_account"].endswith(".iam.gserviceaccount.com")
    endpoint = one(cap.resources, "gcp:vertex/aiEndpoint:AiEndpoint")
    assert endpoint.urn in deployment.dependencies
    for model in of_type(cap.resources, MODEL):
        assert model.urn in deployment.property_dependencies["slots"]


def test_machine_type_fits_the_profile() -> None:
    assert machine_type(0.5, 1024) == "n1-standard-2"
    assert machine_type(2, 4096) == "n1-standard-2"
    assert machine_type(2, 16384) == "n1-standard-8"
    assert machine_type(64, 65536) == "n1-standard-16"


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_rule_and_rollback_alarms_wired_to_the_deployment(env: Environment) -> None:
    spec, cap = _run(env, candidate=True)
    rules = serving_alarms(spec)
    policies = [
        p
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
        if "signal" in p.inputs["userLabels"]
    ]
    assert len(policies) == len(rules)
    channels = of_type(cap.resources, "gcp:monitoring/notificationChannel:NotificationChannel")
    (rollback_channel,) = [c for c in channels if c.inputs["type"] == "pubsub"]
    tiers: dict[str, set[str]] = {}
    for channel in channels:
        if channel.inputs["type"] == "email":
            tiers.setdefault(channel.inputs["userLabels"]["tier"], set()).add(channel.name)
    deployment = one(cap.resources, DEPLOYMENT)
    for rule in rules:
        (policy,) = [p for p in policies if p.inputs["userLabels"]["signal"] == rule.key]
        if not rule.triggers_rollback:
            condition = policy.inputs["conditions"][0]["conditionThreshold"]
            assert condition["thresholdValue"] == pytest.approx(rule.threshold)
            assert "aiplatform.googleapis.com/prediction/online/" in condition["filter"]
        routed = set(policy.inputs["notificationChannels"])
        assert tiers[rule.tier.value] <= routed
        assert (rollback_channel.name in routed) is rule.triggers_rollback
        if rule.triggers_rollback:
            # The rollback alarms watch exactly the model the deployment puts in the candidate slot.
            candidate_id = deployment.inputs["slots"]["candidate"]["deployed_id"]
            query = policy.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
            assert f'deployed_model_id="{candidate_id}"' in query
    function = one(cap.resources, "gcp:cloudfunctionsv2/function:Function")
    topic = one(cap.resources, "gcp:pubsub/topic:Topic")
    assert topic.urn in function.property_dependencies["eventTrigger"]
    assert topic.urn in rollback_channel.property_dependencies["labels"]
    assert function.inputs["eventTrigger"]["pubsubTopic"] == outputs(cap)["rollback_trigger"]


@pytest.mark.parametrize("env", ENVS)
def test_rollback_function_may_only_patch_this_endpoint(env: Environment) -> None:
    spec, cap = _run(env)
    function = one(cap.resources, "gcp:cloudfunctionsv2/function:Function")
    config = json.loads(function.inputs["serviceConfig"]["environmentVariables"]["ROLLBACK_CONFIG"])
    endpoint = one(cap.resources, "gcp:vertex/aiEndpoint:AiEndpoint")
    assert config["target"]["kind"] == "vertex-endpoint"
    assert config["target"]["scope"] == endpoint.inputs["name"]
    assert config["settings"]["latency_multiplier"] == spec.rollout.rollback_latency_multiplier
    # The custom role is the bootstrap's: a deployer never edits a role it may grant.
    assert of_type(cap.resources, "gcp:projects/iAMCustomRole:IAMCustomRole") == []
    assert sorted(ROLLBACK_PERMISSIONS) == [
        "aiplatform.endpoints.get",
        "aiplatform.endpoints.update",
    ]
    grant = one(cap.resources, "gcp:vertex/aiEndpointIamMember:AiEndpointIamMember")
    assert grant.inputs["endpoint"] == endpoint.inputs["name"]
    assert grant.inputs["role"] == rollback_role_name(GCP_PROJECT, spec.project, spec.environment)
    project_roles = {
        r.inputs["role"] for r in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
    }
    # The build's log writes, and the function's Monitoring reads through the bootstrap's
    # reader role: never roles/monitoring.viewer.
    assert project_roles == {
        "roles/logging.logWriter",
        rollback_reader_role_name(GCP_PROJECT, spec.project, spec.environment),
    }


@pytest.mark.parametrize("env", ENVS)
def test_no_public_members_and_keys_only_for_service_agents(env: Environment) -> None:
    _, cap = _run(env)
    members = [r.inputs["member"] for r in cap.resources if "member" in r.inputs]
    assert not [m for m in members if m in ("allUsers", "allAuthenticatedUsers")]
    grants = of_type(cap.resources, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    agents = {g.inputs["member"] for g in grants}
    assert "serviceAccount:service-123456789@gcp-sa-aiplatform.iam.gserviceaccount.com" in agents
    # BigQuery's encryption agent is read from BigQuery, not spelled out (review A3).
    assert "serviceAccount:bq-123456789@bigquery-encryption.iam.gserviceaccount.com" in agents
    assert all("@" in m and "123456789" in m for m in agents)


@pytest.mark.parametrize("env", ENVS)
def test_dashboard_shows_serving_and_resource_signals(env: Environment) -> None:
    _, cap = _run(env)
    dashboard = json.loads(
        one(cap.resources, "gcp:monitoring/dashboard:Dashboard").inputs["dashboardJson"]
    )
    titles = {t["widget"]["title"] for t in dashboard["mosaicLayout"]["tiles"]}
    assert {"latency-p50", "latency-p99", "error-rate-5xx", "cpu utilization"} <= titles
    assert {"memory bytes", "gpu duty cycle", "predictions"} <= titles


@pytest.mark.parametrize("env", ENVS)
def test_outputs_and_parents(env: Environment) -> None:
    spec, cap = _run(env)
    out = outputs(cap)
    assert set(out) == set(spec.outputs)
    endpoint = one(cap.resources, "gcp:vertex/aiEndpoint:AiEndpoint")
    assert out["endpoint_name"] == endpoint.inputs["name"]
    root = component(cap).urn
    parents = {r.urn: r.parent for r in cap.resources}
    for resource in cap.resources:
        if resource.custom:
            urn = resource.urn
            while urn and urn != root:
                urn = parents.get(urn, "")
            assert urn == root, resource.name


def test_staging_and_prod_deploy_the_same_model() -> None:
    staging = one(_run(Environment.STAGING)[1].resources, MODEL)
    prod = one(_run(Environment.PROD)[1].resources, MODEL)
    for key in ("image", "display_name", "port", "predict_route", "health_route"):
        assert staging.inputs[key] == prod.inputs[key], key


@pytest.mark.parametrize("env", ENVS)
def test_logs_keep_the_profile_retention_with_cmek_and_audit(env: Environment) -> None:
    spec, cap = _run(env)
    bucket = one(cap.resources, "gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert bucket.inputs["retentionDays"] == spec.retention.log_days
    assert bucket.inputs["cmekSettings"]["kmsKeyName"] == outputs(cap)["kms_key_id"]
    sink = one(cap.resources, "gcp:logging/projectSink:ProjectSink")
    assert 'resource.type="aiplatform.googleapis.com/Endpoint"' in sink.inputs["filter"]
    # Vertex AI's data access audit logs are the bootstrap's (A21); the pack config says so.
    assert of_type(cap.resources, "gcp:projects/iAMAuditConfig:IAMAuditConfig") == []
    waived = {w["resource"] for w in policy_waivers(spec.project)[AUDIT_RULE]["waivers"]}
    assert waived == {f"{spec.project}-endpoint", f"{spec.project}-fn-source"}


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("candidate", [False, True])
def test_the_policy_pack_finds_nothing(env: Environment, candidate: bool) -> None:
    spec, cap = _run(env, candidate)
    assert evaluate(all_policies(), cap.resources, policy_waivers(spec.project)) == []


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("candidate", [False, True])
def test_model_monitoring_watches_the_deployed_models_for_drift(
    env: Environment, candidate: bool
) -> None:
    spec, cap = _run(env, candidate)
    job = one(cap.resources, MONITORING)
    deployment = one(cap.resources, DEPLOYMENT)
    slot_ids = [slot["deployed_id"] for slot in deployment.inputs["slots"].values()]
    assert sorted(job.inputs["deployed_ids"]) == sorted(slot_ids)
    assert job.inputs["kms_key_name"] == outputs(cap)["kms_key_id"]
    assert job.inputs["log_ttl_days"] == spec.retention.data_days
    assert job.inputs["emails"] == list(spec.alerts.emails)
    ticket = {
        c.name
        for c in of_type(cap.resources, "gcp:monitoring/notificationChannel:NotificationChannel")
        if c.inputs["userLabels"].get("tier") == "ticket"
    }
    assert set(job.inputs["notification_channels"]) == ticket
    assert deployment.urn in job.dependencies


def test_dynamic_providers_serialize_by_reference_without_a_client() -> None:
    # Pulumi pickles each provider into the state; the real client must be built where the
    # provider runs, so the pickle holds a module reference and no client or credentials.
    _, cap = _run(Environment.PROD, candidate=True)
    dynamic = [r for r in cap.resources if r.type.startswith("pulumi-python:dynamic/gcp:")]
    assert {r.type.rsplit(":", 1)[-1] for r in dynamic} == {
        "VertexModel",
        "VertexDeployment",
        "VertexModelMonitoring",
    }
    for resource in dynamic:
        pickled = base64.b64decode(str(resource.inputs["__provider"]))
        assert len(pickled) < 512, resource.name
        provider = dill.loads(pickled)
        assert type(provider).__module__ == "components.gcp.vertex_deployment"
        assert provider._api is None
