"""GcpApiFirst under Pulumi's mocks: the resources it registers and their security settings."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.alarms import Tier, rollback_alarms, serving_alarms, traffic_split
from components.gcp.api_first import policy_waivers
from components.gcp.prerequisites import ROLLBACK_ROLES, rollback_role_name
from components.gcp.security import KEY_ROTATION_PERIOD
from components.spec import AuthMode, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import GCP_PROJECT, Capture, CapturedResource
from policies.rules import all_policies
from tests.conftest import candidate_image, make_spec, of_type, run_component
from tests.policies.harness import evaluate

CANDIDATE_IMAGE = candidate_image(Cloud.GCP, Pattern.API_FIRST)

ENVS = list(Environment)
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
FORBIDDEN_PROJECT_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
}


@cache
def _run(
    env: Environment, candidate: bool = False, auth: str = ""
) -> tuple[DeploymentSpec, Capture]:
    overrides: dict[str, Any] = dict(CANDIDATE) if candidate else {}
    if auth:
        overrides["api"] = {"auth": auth}
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, env, overrides)
    return spec, run_component(spec)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def component_outputs(cap: Capture) -> dict[str, Any]:
    (component,) = [r for r in cap.resources if r.type == "aideploy:gcp:ApiFirst"]
    return cap.outputs[component.urn]


def by_name(resources: list[CapturedResource], token: str, suffix: str) -> CapturedResource:
    (found,) = [r for r in of_type(resources, token) if r.name.endswith(suffix)]
    return found


@pytest.mark.parametrize("env", ENVS)
def test_registers_every_part_of_the_pattern(env: Environment) -> None:
    _, cap = _run(env)
    for token, count in {
        "gcp:kms/keyRing:KeyRing": 1,
        "gcp:kms/cryptoKey:CryptoKey": 1,
        "gcp:cloudrunv2/service:Service": 2,
        "gcp:endpoints/service:Service": 1,
        "gcp:compute/securityPolicy:SecurityPolicy": 1,
        "gcp:compute/backendService:BackendService": 2,
        "gcp:compute/uRLMap:URLMap": 1,
        "gcp:compute/sSLPolicy:SSLPolicy": 1,
        "gcp:compute/managedSslCertificate:ManagedSslCertificate": 1,
        "gcp:compute/targetHttpsProxy:TargetHttpsProxy": 1,
        "gcp:compute/globalForwardingRule:GlobalForwardingRule": 1,
        "gcp:logging/projectBucketConfig:ProjectBucketConfig": 1,
        "gcp:logging/projectSink:ProjectSink": 1,
        "gcp:monitoring/dashboard:Dashboard": 1,
        "gcp:cloudfunctionsv2/function:Function": 1,
    }.items():
        assert len(of_type(cap.resources, token)) == count, token


@pytest.mark.parametrize("env", ENVS)
def test_key_rotates_within_90_days_and_only_service_agents_may_use_it(env: Environment) -> None:
    _, cap = _run(env)
    key = one(cap.resources, "gcp:kms/cryptoKey:CryptoKey")
    assert key.inputs["rotationPeriod"] == KEY_ROTATION_PERIOD
    assert int(KEY_ROTATION_PERIOD.rstrip("s")) <= 90 * 86400
    grants = of_type(cap.resources, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert {g.inputs["role"] for g in grants} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    members = {g.inputs["member"] for g in grants}
    assert (
        "serviceAccount:service-123456789@serverless-robot-prod.iam.gserviceaccount.com" in members
    )
    # The Cloud Logging CMEK account is read from the project's settings (older projects have
    # cmek-p<number>@), never spelled out (review A3).
    assert "serviceAccount:cmek-p123456789@gcp-sa-logging.iam.gserviceaccount.com" in members
    assert all(m.endswith(".iam.gserviceaccount.com") for m in members), members
    assert key.protect is (env is not Environment.DEV)


@pytest.mark.parametrize("env", ENVS)
def test_cloud_run_is_private_encrypted_and_scales_within_the_profile(env: Environment) -> None:
    spec, cap = _run(env)
    kms_key = component_outputs(cap)["kms_key_id"]
    stable = by_name(cap.resources, "gcp:cloudrunv2/service:Service", "-run-stable")
    for service in of_type(cap.resources, "gcp:cloudrunv2/service:Service"):
        assert service.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
        assert service.inputs["defaultUriDisabled"] is True
        template = service.inputs["template"]
        assert template["encryptionKey"] == kms_key
        assert template["serviceAccount"].endswith(".iam.gserviceaccount.com")
        names = [c["name"] for c in template["containers"]]
        assert names == ["esp", "model"]
    scaling = stable.inputs["template"]["scaling"]
    assert scaling["minInstanceCount"] == spec.capacity.min_instances
    assert scaling["maxInstanceCount"] == spec.capacity.max_instances
    assert scaling["cpuUtilization"] == pytest.approx(spec.capacity.target_cpu_percent / 100)


@pytest.mark.parametrize("env", ENVS)
def test_tls_policy_certificate_and_https_only(env: Environment) -> None:
    _, cap = _run(env)
    policy = one(cap.resources, "gcp:compute/sSLPolicy:SSLPolicy")
    assert policy.inputs["profile"] == "MODERN"
    assert policy.inputs["minTlsVersion"] == "TLS_1_2"
    proxy = one(cap.resources, "gcp:compute/targetHttpsProxy:TargetHttpsProxy")
    assert policy.urn in proxy.property_dependencies["sslPolicy"]
    rule = one(cap.resources, "gcp:compute/globalForwardingRule:GlobalForwardingRule")
    assert rule.inputs["portRange"] == "443"
    assert rule.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert of_type(cap.resources, "gcp:compute/targetHttpProxy:TargetHttpProxy") == []


@pytest.mark.parametrize("env", ENVS)
def test_cloud_armor_is_attached_with_waf_and_rate_rules(env: Environment) -> None:
    spec, cap = _run(env)
    armor = one(cap.resources, "gcp:compute/securityPolicy:SecurityPolicy")
    for backend in of_type(cap.resources, "gcp:compute/backendService:BackendService"):
        assert armor.urn in backend.property_dependencies["securityPolicy"]
        assert backend.inputs["logConfig"]["enable"] is True
    rules = armor.inputs["rules"]
    expressions = [r.get("match", {}).get("expr", {}).get("expression", "") for r in rules]
    assert any("sqli-v33-stable" in e for e in expressions)
    assert any("xss-v33-stable" in e for e in expressions)
    assert any(str(spec.api.max_request_bytes) in e for e in expressions)
    (ban,) = [r for r in rules if r["action"] == "rate_based_ban"]
    threshold = ban["rateLimitOptions"]["rateLimitThreshold"]
    assert threshold == {"count": spec.api.waf_rate_limit_per_5min, "intervalSec": 300}
    (throttle,) = [r for r in rules if r["action"] == "throttle" and r["priority"] == 2000]
    assert throttle["rateLimitOptions"]["enforceOnKey"] == "HTTP_HEADER"
    assert throttle["rateLimitOptions"]["enforceOnKeyName"] == "x-api-key"
    assert max(r["priority"] for r in rules) == 2147483647


@pytest.mark.parametrize(
    ("auth", "schemes", "header"),
    [
        (AuthMode.JWT_AND_API_KEY, {"jwt", "api_key"}, "x-api-key"),
        (AuthMode.JWT, {"jwt"}, "authorization"),
        (AuthMode.API_KEY, {"api_key"}, "x-api-key"),
    ],
)
def test_api_contract_enforces_the_auth_mode_and_quota(
    auth: AuthMode, schemes: set[str], header: str
) -> None:
    spec, cap = _run(Environment.PROD, auth=auth.value)
    service = one(cap.resources, "gcp:endpoints/service:Service")
    document = json.loads(service.inputs["openapiConfig"])
    assert set(document["securityDefinitions"]) == {"jwt", "api_key"} & (schemes | {"api_key"})
    if "jwt" in schemes:
        jwt = document["securityDefinitions"]["jwt"]
        assert jwt["x-google-issuer"] == spec.api.jwt_issuer
        assert jwt["x-google-audiences"] == spec.api.jwt_audience
        # Signing keys by OpenID Connect discovery, like AWS and Azure; never a guessed path.
        assert "x-google-jwks_uri" not in jwt
    operation = document["paths"][spec.model.predict_path]["post"]
    assert operation["security"] == [{s: [] for s in schemes}]
    assert set(document["paths"]) == {spec.model.predict_path, spec.model.health_path}
    (limit,) = document["x-google-management"]["quota"]["limits"]
    assert limit["values"]["STANDARD"] == spec.api.rate_limit_rps * 60
    assert ("x-google-quota" in operation) == ("api_key" in schemes)
    armor = one(cap.resources, "gcp:compute/securityPolicy:SecurityPolicy")
    (throttle,) = [
        r for r in armor.inputs["rules"] if r["action"] == "throttle" and r["priority"] == 2000
    ]
    assert throttle["rateLimitOptions"]["enforceOnKeyName"] == header


@pytest.mark.parametrize("env", ENVS)
def test_no_public_members_and_no_broad_project_roles(env: Environment) -> None:
    _, cap = _run(env)
    members = [r.inputs.get("member", "") for r in cap.resources if "member" in r.inputs]
    assert members
    assert not [m for m in members if m in ("allUsers", "allAuthenticatedUsers")]
    project_roles = {
        r.inputs["role"] for r in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
    }
    assert not project_roles & FORBIDDEN_PROJECT_ROLES
    assert of_type(cap.resources, "gcp:serviceaccount/key:Key") == []


@pytest.mark.parametrize("env", ENVS)
def test_logs_keep_the_profile_retention_with_cmek_and_audit(env: Environment) -> None:
    spec, cap = _run(env)
    bucket = one(cap.resources, "gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert bucket.inputs["retentionDays"] == spec.retention.log_days
    assert bucket.inputs["cmekSettings"]["kmsKeyName"] == component_outputs(cap)["kms_key_id"]
    # Audit configs are authoritative per project and service: the bootstrap owns them (A21).
    assert of_type(cap.resources, "gcp:projects/iAMAuditConfig:IAMAuditConfig") == []
    sink = one(cap.resources, "gcp:logging/projectSink:ProjectSink")
    assert bucket.urn in sink.property_dependencies["destination"]


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_rule_routed_to_its_tier(env: Environment) -> None:
    spec, cap = _run(env)
    rules = serving_alarms(spec)
    policies = [
        p
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
        if "signal" in p.inputs["userLabels"]
    ]
    assert len(policies) == len(rules)
    channels = of_type(cap.resources, "gcp:monitoring/notificationChannel:NotificationChannel")
    emails = [c for c in channels if c.inputs["type"] == "email"]
    tier_of = {c.inputs["userLabels"]["tier"]: set() for c in emails}
    for c in emails:
        tier_of[c.inputs["userLabels"]["tier"]].add(c.name)
        assert c.inputs["labels"]["email_address"] in spec.alerts.emails
    (rollback_channel,) = [c for c in channels if c.inputs["type"] == "pubsub"]
    for rule in rules:
        (policy,) = [p for p in policies if p.inputs["userLabels"]["signal"] == rule.key]
        if not rule.triggers_rollback:  # rollback rules are PromQL (test_gcp_release.py)
            condition = policy.inputs["conditions"][0]["conditionThreshold"]
            assert condition["thresholdValue"] == pytest.approx(rule.threshold)
            assert condition["duration"] == f"{rule.period_seconds * rule.evaluation_periods}s"
        routed = set(policy.inputs["notificationChannels"])
        assert tier_of[rule.tier.value] <= routed
        assert (rollback_channel.name in routed) is rule.triggers_rollback
    assert Tier.PAGE.value in tier_of  # the alert_topic output always exists
    assert component_outputs(cap)["alert_topic"] in tier_of[Tier.PAGE.value]


def test_rollback_alarms_watch_the_candidate_backend() -> None:
    spec, cap = _run(Environment.PROD)
    policies = of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    canary_backend = by_name(cap.resources, "gcp:compute/backendService:BackendService", "canary")
    for rule in rollback_alarms(spec):
        (policy,) = [p for p in policies if p.inputs["userLabels"].get("signal") == rule.key]
        condition = policy.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]
        assert f'backend_target_name="{canary_backend.inputs["name"]}"' in condition["query"]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("candidate", [False, True])
def test_canary_split_follows_the_rollout(env: Environment, candidate: bool) -> None:
    spec, cap = _run(env, candidate)
    url_map = one(cap.resources, "gcp:compute/uRLMap:URLMap")
    weights = [w["weight"] for w in url_map.inputs["defaultRouteAction"]["weightedBackendServices"]]
    assert weights == list(traffic_split(spec))
    assert sum(weights) == 100
    assert weights[1] == (spec.rollout.canary_percent if candidate else 0)
    canary = by_name(cap.resources, "gcp:cloudrunv2/service:Service", "-run-canary")
    template = canary.inputs["template"]
    model = next(c for c in template["containers"] if c["name"] == "model")
    expected = spec.rollout.candidate_image if candidate else spec.model.image
    assert model["image"] == expected
    if not candidate:
        assert template["scaling"]["minInstanceCount"] == 0


def test_rollback_function_guards_only_this_url_map() -> None:
    spec, cap = _run(Environment.PROD)
    function = one(cap.resources, "gcp:cloudfunctionsv2/function:Function")
    config = json.loads(function.inputs["serviceConfig"]["environmentVariables"]["ROLLBACK_CONFIG"])
    url_map = one(cap.resources, "gcp:compute/uRLMap:URLMap")
    assert config["target"]["kind"] == "url-map"
    assert config["target"]["scope"] == url_map.inputs["name"]
    assert config["settings"]["error_rate"] == spec.rollout.rollback_error_rate
    assert function.inputs["serviceConfig"]["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
    assert function.inputs["kmsKeyName"] == component_outputs(cap)["kms_key_id"]
    (grant,) = [
        r
        for r in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
        if "condition" in r.inputs
    ]
    assert url_map.inputs["name"] in grant.inputs["condition"]["expression"]
    # The custom role is the bootstrap's (a deployer must not edit a role it may grant).
    assert of_type(cap.resources, "gcp:projects/iAMCustomRole:IAMCustomRole") == []
    assert grant.inputs["role"] == rollback_role_name(GCP_PROJECT, spec.project, spec.environment)
    role = ROLLBACK_ROLES[Pattern.API_FIRST]
    assert all(p.startswith("compute.") for p in role.permissions)
    assert not [p for p in role.permissions if "*" in p]


@pytest.mark.parametrize("env", ENVS)
def test_outputs_and_parents(env: Environment) -> None:
    spec, cap = _run(env)
    outputs = component_outputs(cap)
    assert set(outputs) == set(spec.outputs)
    assert outputs["serving_service"].endswith("-stable")
    assert outputs["canary_service"].endswith("-canary")
    (component,) = [r for r in cap.resources if r.type == "aideploy:gcp:ApiFirst"]
    parents = {r.urn: r.parent for r in cap.resources}
    for resource in cap.resources:
        if not resource.custom:
            continue
        urn = resource.urn
        while urn and urn != component.urn:
            urn = parents.get(urn, "")
        assert urn == component.urn, resource.name


def test_every_resource_carries_the_standard_labels() -> None:
    spec, cap = _run(Environment.STAGING)
    labelled = [r for r in cap.resources if "labels" in r.inputs and r.type.startswith("gcp:")]
    assert len(labelled) >= 5
    for resource in labelled:
        if resource.type == "gcp:monitoring/notificationChannel:NotificationChannel":
            continue  # its `labels` are the channel's settings; user labels are checked above
        for key, value in spec.standard_tags().items():
            assert resource.inputs["labels"][key] == value, resource.name


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("candidate", [False, True])
def test_the_policy_pack_finds_nothing(env: Environment, candidate: bool) -> None:
    spec, cap = _run(env, candidate)
    assert evaluate(all_policies(), cap.resources, policy_waivers(spec.project)) == []


@pytest.mark.parametrize(("cpu", "concurrency"), [(0.5, 1), (1, 80), (2, 80)])
def test_request_concurrency_respects_cloud_run_cpu_rule(cpu: float, concurrency: int) -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.DEV, {"capacity": {"cpu": cpu}})
    services = of_type(run_component(spec).resources, "gcp:cloudrunv2/service:Service")
    assert services
    for service in services:
        assert service.inputs["template"]["maxInstanceRequestConcurrency"] == concurrency


def test_model_container_does_not_set_the_reserved_port_variable() -> None:
    _, cap = _run(Environment.PROD)
    for service in of_type(cap.resources, "gcp:cloudrunv2/service:Service"):
        for container in service.inputs["template"]["containers"]:
            names = {env["name"] for env in container.get("envs", [])}
            assert "PORT" not in names
