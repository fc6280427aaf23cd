"""KubernetesApiFirst under Pulumi's mocks: dev, staging and prod of a generated project, with
and without a candidate, held to the pattern's outputs, the neutral alarms, the canary split,
drain-safe budgets, the hardened pods and the policy pack."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from components.alarms import alarm_name, rollback_alarms, serving_alarms, traffic_split
from components.kubernetes import gateway, network, rollback
from components.kubernetes.meta import ROLE_LABEL, namespace_name
from components.kubernetes.scaling import budget
from components.spec import PATTERN_OUTPUTS, AuthMode, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from policies.rules import all_policies
from tests.components.test_kubernetes_blocks import (
    CANDIDATE,
    assert_hardened_pod,
    k8s_spec,
    manifest,
    objects,
    of_kind,
    pod_specs,
)
from tests.conftest import run_component
from tests.policies.harness import evaluate

ENVS = list(Environment)


@cache
def _run(
    env: Environment, candidate: bool = False, auth: str = ""
) -> tuple[DeploymentSpec, Capture]:
    overrides: dict[str, Any] = dict(CANDIDATE) if candidate else {}
    if auth:
        overrides["api"] = {"auth": auth}
    spec = k8s_spec(Pattern.API_FIRST, env, overrides)
    return spec, run_component(spec)


def outputs(cap: Capture) -> dict[str, Any]:
    (component,) = [r for r in cap.resources if r.type == "aideploy:kubernetes:ApiFirst"]
    return cap.outputs[component.urn]


def named(resources: list[CapturedResource], kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in of_kind(resources, kind) if r.inputs["metadata"]["name"] == name]
    return manifest(found)


def model_deployments(resources: list[CapturedResource]) -> list[CapturedResource]:
    """The model's Deployments (not the rollback service's)."""
    return [
        d
        for d in of_kind(resources, "Deployment")
        if d.inputs["metadata"]["labels"][ROLE_LABEL] != rollback.ROLE
    ]


@pytest.mark.parametrize("candidate", [False, True])
@pytest.mark.parametrize("env", ENVS)
def test_outputs_are_exactly_the_patterns(env: Environment, candidate: bool) -> None:
    spec, cap = _run(env, candidate)
    out = outputs(cap)
    assert set(out) == set(PATTERN_OUTPUTS[Pattern.API_FIRST])
    assert out["endpoint_url"] == f"https://{spec.api.domain}{spec.model.predict_path}"
    assert out["health_url"] == f"https://{spec.api.domain}{spec.model.health_path}"
    assert out["rollback_alarms"] == [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert out["log_group"] == namespace_name(spec) == f"{spec.project}-{env.value}"
    assert spec.cluster is not None and out["kms_key_id"] == spec.cluster.secret_store
    assert out["canary_service"] == ("acme-support-candidate" if candidate else "")
    assert out["serving_service"] == "acme-support-stable"
    named(cap.resources, "HTTPRoute", out["api_id"])
    named(cap.resources, "AlertmanagerConfig", out["alert_topic"])
    named(cap.resources, "ConfigMap", out["dashboard_name"])
    for name in (out["serving_service"], out["canary_service"] or out["serving_service"]):
        named(cap.resources, "Deployment", name)


@pytest.mark.parametrize("env", ENVS)
def test_alert_names_are_the_neutral_alarms(env: Environment) -> None:
    spec, cap = _run(env)
    (rule,) = of_kind(cap.resources, "PrometheusRule")
    (group,) = rule.inputs["spec"]["groups"]
    alerts = {a["alert"]: a for a in group["rules"]}
    expected = serving_alarms(spec)
    assert list(alerts) == [alarm_name(spec, r.key) for r in expected]
    for r in expected:
        labels = alerts[alarm_name(spec, r.key)]["labels"]
        assert labels["severity"] == r.tier.value
        assert labels["namespace"] == namespace_name(spec)
    # The watch's names (outputs) are alerts of the stack: derived from the same rules.
    assert set(outputs(cap)["rollback_alarms"]) <= set(alerts)


@pytest.mark.parametrize("env", ENVS)
def test_the_route_splits_as_the_rollout_says(env: Environment) -> None:
    spec, cap = _run(env, candidate=True)
    route = named(cap.resources, "HTTPRoute", outputs(cap)["api_id"])
    (rule,) = route["spec"]["rules"]
    weights = [b["weight"] for b in rule["backendRefs"]]
    assert tuple(weights) == traffic_split(spec)
    assert [b["name"] for b in rule["backendRefs"]] == [
        "acme-support-stable",
        "acme-support-candidate",
    ]
    services = {s.inputs["metadata"]["name"] for s in of_kind(cap.resources, "Service")}
    assert {b["name"] for b in rule["backendRefs"]} <= services
    _, plain = _run(env)
    (only,) = named(plain.resources, "HTTPRoute", "acme-support-api")["spec"]["rules"]
    assert [b["weight"] for b in only["backendRefs"]] == [100]


@pytest.mark.parametrize("env", ENVS)
def test_health_is_reachable_without_credentials_through_the_same_gateway(
    env: Environment,
) -> None:
    spec, cap = _run(env)
    api = named(cap.resources, "HTTPRoute", "acme-support-api")
    health = named(cap.resources, "HTTPRoute", "acme-support-health")
    assert health["spec"]["parentRefs"] == api["spec"]["parentRefs"]
    assert health["spec"]["hostnames"] == [spec.api.domain]
    (match,) = health["spec"]["rules"][0]["matches"]
    assert match == {"path": {"type": "Exact", "value": spec.model.health_path}, "method": "GET"}
    targeted = {
        ref["name"]
        for p in of_kind(cap.resources, "SecurityPolicy")
        for ref in p.inputs["spec"]["targetRefs"]
    }
    assert targeted == {"acme-support-api"}
    # ... and it says so, with the one label k8s-route-authenticated exempts; the API does not.
    assert health["metadata"]["labels"][gateway.PUBLIC_LABEL] == "true"
    assert gateway.PUBLIC_LABEL not in api["metadata"]["labels"]
    # The health URL's path is the probe's path: both from model.health_path.
    assert outputs(cap)["health_url"].endswith(match["path"]["value"])
    for d in model_deployments(cap.resources):
        (c,) = manifest(d)["spec"]["template"]["spec"]["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == match["path"]["value"]


@pytest.mark.parametrize("auth", list(AuthMode))
def test_authentication_follows_the_auth_mode(auth: AuthMode) -> None:
    spec, cap = _run(Environment.PROD, auth=auth.value)
    (policy,) = of_kind(cap.resources, "SecurityPolicy")
    assert ("jwt" in policy.inputs["spec"]) is spec.api.uses_jwt
    assert ("apiKeyAuth" in policy.inputs["spec"]) is spec.api.uses_api_key
    keys = [
        e for e in of_kind(cap.resources, "ExternalSecret")
        if e.inputs["metadata"]["name"] == "acme-support-api-keys"
    ]  # fmt: skip
    assert len(keys) == int(spec.api.uses_api_key)


@pytest.mark.parametrize("env", ENVS)
def test_limits_come_from_the_api_settings(env: Environment) -> None:
    spec, cap = _run(env)
    limits = named(cap.resources, "BackendTrafficPolicy", "acme-support-limits")["spec"]
    assert limits["rateLimit"]["local"]["rules"][0]["limit"] == {
        "requests": spec.api.rate_limit_rps,
        "unit": "Second",
    }
    assert limits["requestBuffer"]["limit"] == str(spec.api.max_request_bytes)


@pytest.mark.parametrize("candidate", [False, True])
@pytest.mark.parametrize("env", ENVS)
def test_budgets_never_block_a_drain(env: Environment, candidate: bool) -> None:
    _, cap = _run(env, candidate)
    hpas = {
        h.inputs["metadata"]["name"]: h.inputs["spec"]
        for h in of_kind(cap.resources, "HorizontalPodAutoscaler")
    }
    for pdb in of_kind(cap.resources, "PodDisruptionBudget"):
        spec_ = pdb.inputs["spec"]
        floor = hpas[pdb.inputs["metadata"]["name"]]["minReplicas"]
        expected = budget(int(floor))
        assert spec_.get("minAvailable") == expected.min_available
        assert spec_.get("maxUnavailable") == expected.max_unavailable
        if "minAvailable" in spec_:
            assert spec_["minAvailable"] < floor
    assert len(of_kind(cap.resources, "PodDisruptionBudget")) == (2 if candidate else 1)


@pytest.mark.parametrize("candidate", [False, True])
@pytest.mark.parametrize("env", ENVS)
def test_every_pod_is_hardened(env: Environment, candidate: bool) -> None:
    spec, cap = _run(env, candidate)
    pods = pod_specs(cap.resources)
    # The model's slots and the rollback service: the same hardened pod builder.
    assert len(pods) == (3 if candidate else 2)
    for pod in pods:
        assert_hardened_pod(pod)
    images = {c["image"] for pod in pods for c in pod["containers"]}
    assert rollback.PYTHON_IMAGE in images
    assert spec.model.image in images
    if candidate:
        assert spec.rollout.candidate_image in images


@pytest.mark.parametrize("env", ENVS)
def test_every_object_is_namespaced_parented_and_labelled(env: Environment) -> None:
    spec, cap = _run(env, candidate=True)
    (component,) = [r for r in cap.resources if r.type == "aideploy:kubernetes:ApiFirst"]
    for r in objects(cap.resources):
        assert r.parent == component.urn, r.name
        meta = r.inputs["metadata"]
        assert meta["labels"]["project"] == spec.project
        assert meta["labels"]["environment"] == env.value
        if r.inputs["kind"] != "Namespace":
            assert meta["namespace"] == namespace_name(spec), r.name
    # No Secret with data: secrets enter only through External Secrets.
    assert of_kind(cap.resources, "Secret") == []


@pytest.mark.parametrize("env", ENVS)
def test_the_policy_pack_finds_nothing(env: Environment) -> None:
    _, cap = _run(env, candidate=True)
    assert evaluate(all_policies(), cap.resources) == []


@pytest.mark.parametrize("kserve", [False, True])
def test_the_clients_ca_reaches_every_model_pod(kserve: bool) -> None:
    overrides: dict[str, Any] = {
        **CANDIDATE,
        "cluster": {"ca_bundle_key": "acme-support/ca", "kserve": kserve},
    }
    spec = k8s_spec(Pattern.API_FIRST, Environment.PROD, overrides)
    cap = run_component(spec)
    (bundle,) = [
        e for e in of_kind(cap.resources, "ExternalSecret")
        if any(d["remoteRef"]["key"] == "acme-support/ca" for d in e.inputs["spec"].get("data", []))
    ]  # fmt: skip
    secret = bundle.inputs["spec"]["target"]["name"]
    kind = "InferenceService" if kserve else "Deployment"
    pods = [
        manifest(r)["spec"]["predictor"] if kserve else manifest(r)["spec"]["template"]["spec"]
        for r in of_kind(cap.resources, kind)
        if r.inputs["metadata"]["labels"].get(ROLE_LABEL) != rollback.ROLE
    ]
    assert len(pods) == 2  # stable and candidate
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        ca_volumes = [
            v for v in volumes.values() if v.get("secret", {}).get("secretName") == secret
        ]
        assert len(ca_volumes) == 1, volumes
        (model,) = pod["containers"]
        mounts = {m["name"]: m for m in model["volumeMounts"]}
        assert mounts[ca_volumes[0]["name"]]["readOnly"] is True
        env = {e["name"]: e["value"] for e in model["env"]}
        assert env["SSL_CERT_FILE"].startswith(mounts[ca_volumes[0]["name"]]["mountPath"])


def test_only_the_gateways_proxies_reach_the_model() -> None:
    _, cap = _run(Environment.PROD)
    policy = named(cap.resources, "NetworkPolicy", "acme-support-from-gateway")
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"] == network.ENVOY_PROXY_PODS
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "envoy-gateway-system"
    }
