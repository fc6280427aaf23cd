"""Kubernetes building blocks (components/kubernetes/*.py) under mocks, each alone with explicit
inputs, and the helpers the kubernetes pattern and schema tests share (k8s_spec, manifest).

The hardening each block guarantees is held here once; test_kubernetes_api_first.py and
test_kubernetes_event_driven.py then hold every stack's objects to it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pydantic
import pytest

from components.alarms import AlarmRule, Comparison, Signal, Tier
from components.kubernetes import (
    gateway,
    kserve,
    meta,
    monitoring,
    namespace,
    network,
    scaling,
    secrets,
    workload,
)
from components.spec import (
    Capacity,
    Cloud,
    DeploymentSpec,
    Destination,
    DestinationKind,
    Environment,
    Pattern,
)
from offline.capture import CapturedResource, capture
from tests.conftest import make_spec

IMAGE = "registry.acme.example/support/model@sha256:" + "3" * 64
CANDIDATE_IMAGE = "registry.acme.example/support/model@sha256:" + "4" * 64
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
NS = "acme-support-dev"
LABELS = {"project": "acme-support", "environment": "dev", "managed-by": "aideploy"}
PODS = {meta.NAME_LABEL: "acme-support", meta.ROLE_LABEL: "stable"}


# -- shared helpers -----------------------------------------------------------------------------
def k8s_spec(
    pattern: Pattern, environment: Environment, overrides: dict[str, Any] | None = None
) -> DeploymentSpec:
    """The spec a generated kubernetes project holds for this stack, plus ``overrides``."""
    return make_spec(Cloud.KUBERNETES, pattern, environment, overrides)


def manifest(r: CapturedResource) -> dict[str, Any]:
    """The object as kubectl would send it: apiVersion, kind, metadata, spec/data/...; captured
    numbers arrive as floats, integral ones become ints again."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    doc = plain(copy.deepcopy(dict(r.inputs)))
    assert isinstance(doc, dict)
    return doc


def objects(resources: list[CapturedResource]) -> list[CapturedResource]:
    """The Kubernetes objects (not the component) of a capture."""
    return [r for r in resources if r.type.startswith("kubernetes:")]


def of_kind(resources: list[CapturedResource], kind: str) -> list[CapturedResource]:
    """Objects of ``kind`` (any API group)."""
    return [r for r in objects(resources) if r.inputs.get("kind") == kind]


def pod_specs(resources: list[CapturedResource]) -> list[dict[str, Any]]:
    """Every pod spec: Deployments' templates and KServe predictors."""
    out = [manifest(d)["spec"]["template"]["spec"] for d in of_kind(resources, "Deployment")]
    out += [manifest(i)["spec"]["predictor"] for i in of_kind(resources, "InferenceService")]
    return out


def assert_hardened_pod(pod: dict[str, Any]) -> None:
    """What workload.py guarantees for every pod and container."""
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"]
    sc = pod["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == sc["runAsGroup"] == sc["fsGroup"] == workload.RUN_AS
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    assert all("hostPath" not in v for v in pod["volumes"])
    mounts = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert mounts == {"tmp", "model-cache"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    spread = pod["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in spread] == ["kubernetes.io/hostname"]
    for c in pod["containers"]:
        csc = c["securityContext"]
        assert csc["allowPrivilegeEscalation"] is False
        assert csc["readOnlyRootFilesystem"] is True
        assert csc["privileged"] is False
        assert csc["capabilities"] == {"drop": ["ALL"]}
        assert "@sha256:" in c["image"]
        res = c["resources"]
        assert res["requests"]["memory"] == res["limits"]["memory"]
        # Writable: the two scratch emptyDirs only; anything else (the client's CA bundle, the
        # rollback service's code, webhook token and projected API token) is a Secret, a
        # ConfigMap or a projection mounted read-only. Every mount has its volume in the pod.
        assert {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")} == {
            workload.TMP_DIR,
            workload.CACHE_DIR,
        }
        for m in c["volumeMounts"]:
            assert m["name"] in volumes, m
            if m["mountPath"] not in (workload.TMP_DIR, workload.CACHE_DIR):
                assert m["readOnly"] is True, m
                assert {"secret", "configMap", "projected"} & set(volumes[m["name"]]), m
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"]["port"] == "http"


def run_blocks(build: Callable[[pulumi.ResourceOptions], object]) -> list[CapturedResource]:
    """Run ``build(opts)`` inside a component, as a pattern does; return its objects."""

    class Blocks(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("aideploy:test:Blocks", "blocks")
            build(pulumi.ResourceOptions(parent=self))

    return objects(capture(Blocks, project="blocks", stack="dev").resources)


def _container(**overrides: Any) -> workload.Container:
    values: dict[str, Any] = {
        "image": IMAGE,
        "port": 8080,
        "health_path": "/health",
        "cpu": 0.5,
        "memory_mb": 1024,
    }
    values.update(overrides)
    return workload.Container(**values)


# -- meta ---------------------------------------------------------------------------------------
def test_names_are_dns_labels_and_long_ones_keep_a_hash() -> None:
    assert meta.object_name("acme-support", "alert-webhooks") == "acme-support-alert-webhooks"
    long = meta.object_name("a" * 60, "alert-webhooks")
    assert len(long) <= 63 and long.startswith("a" * 20)
    assert long != meta.object_name("a" * 61, "alert-webhooks")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ops_at_acme_example", "ops_at_acme_example"), ("a@b-", "a_b"), ("-x-", "x"), ("", "")],
)
def test_label_values_are_cleaned(value: str, expected: str) -> None:
    assert meta.label_value(value) == expected


# -- namespace ----------------------------------------------------------------------------------
def test_the_namespace_enforces_restricted_and_denies_by_default() -> None:
    hard = namespace.quota_for(
        Capacity(min_instances=1, max_instances=4, cpu=1, memory_mb=2048), 2, 0
    )
    resources = run_blocks(
        lambda o: namespace.create_namespace(
            "acme-support", o, name=NS, kubernetes_version="1.33", labels=LABELS, hard=hard,
            protect=True,
        )
    )  # fmt: skip
    (ns,) = of_kind(resources, "Namespace")
    labels = ns.inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.33"
    assert labels["project"] == "acme-support"
    assert ns.protect is True
    (quota,) = of_kind(resources, "ResourceQuota")
    assert quota.inputs["spec"]["hard"] == hard
    (deny,) = of_kind(resources, "NetworkPolicy")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    (defaults,) = of_kind(resources, "LimitRange")
    assert defaults.inputs["spec"]["limits"][0]["type"] == "Container"
    for r in resources:
        if r.inputs["kind"] != "Namespace":
            assert r.inputs["metadata"]["namespace"] == NS


def test_the_quota_covers_the_ceiling_with_surge_and_headroom() -> None:
    cap = Capacity(min_instances=2, max_instances=10, cpu=2, memory_mb=4096)
    hard = namespace.quota_for(cap, workloads=2, gpus=1)
    # 2 workloads x (10 + 3 surge) x 1.5 = 39 pods.
    assert hard["pods"] == "39"
    assert hard["requests.cpu"] == "78000m"
    assert hard["limits.cpu"] == "156000m"
    assert hard["requests.memory"] == hard["limits.memory"] == f"{39 * 4096}Mi"
    assert hard["requests.nvidia.com/gpu"] == "39"
    assert "requests.nvidia.com/gpu" not in namespace.quota_for(cap, 1, 0)


# -- workload -----------------------------------------------------------------------------------
def test_an_image_without_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="pinned by digest"):
        workload.container("model", _container(image="registry.acme.example/model:1.0.0"))


@pytest.mark.parametrize("gpus", [0, 2])
def test_the_pod_template_is_hardened(gpus: int) -> None:
    def build(o: pulumi.ResourceOptions) -> None:
        template = workload.pod_template(
            _container(gpus=gpus), container_name="model", service_account="acme-model",
            selector_labels=PODS, labels=LABELS,
        )  # fmt: skip
        workload.create_deployment(
            "d", o, name="acme-support-stable", namespace=NS, labels=LABELS,
            selector_labels=PODS, template=template,
        )  # fmt: skip
        workload.service_account("sa", o, name="acme-model", namespace=NS, labels=LABELS)

    resources = run_blocks(build)
    (pod,) = pod_specs(resources)
    assert_hardened_pod(pod)
    (c,) = pod["containers"]
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1024Mi"}
    assert c["resources"]["limits"]["cpu"] == "1000m"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "metrics": 9464}
    if gpus:
        assert c["resources"]["limits"][workload.GPU_RESOURCE] == "2"
        assert pod["tolerations"][0]["key"] == workload.GPU_RESOURCE
    else:
        assert workload.GPU_RESOURCE not in c["resources"]["limits"]
        assert "tolerations" not in pod
    (deployment,) = of_kind(resources, "Deployment")
    assert "replicas" not in deployment.inputs["spec"]  # the autoscaler owns it
    assert deployment.inputs["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (account,) = of_kind(resources, "ServiceAccount")
    assert account.inputs["automountServiceAccountToken"] is False


@pytest.mark.parametrize("ca_secret", [None, "acme-support-ca"])
def test_the_clients_ca_is_mounted_read_only_and_named_to_the_tls_clients(
    ca_secret: str | None,
) -> None:
    # Review (platform engineer): the broker, the object store and the identity provider use
    # certificates the client's internal CA signed; without its bundle every TLS call fails.
    def build(o: pulumi.ResourceOptions) -> None:
        template = workload.pod_template(
            _container(ca_secret=ca_secret), container_name="model",
            service_account="acme-model", selector_labels=PODS, labels=LABELS,
        )  # fmt: skip
        workload.create_deployment(
            "d", o, name="acme-support-stable", namespace=NS, labels=LABELS,
            selector_labels=PODS, template=template,
        )  # fmt: skip

    (pod,) = pod_specs(run_blocks(build))
    assert_hardened_pod(pod)
    (c,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    cas = [v for v in pod["volumes"] if v["name"] == workload.CA_VOLUME]
    mounts = [m for m in c["volumeMounts"] if m["name"] == workload.CA_VOLUME]
    if ca_secret is None:
        assert cas == [] and mounts == []
        assert not set(workload.CA_ENV) & set(env)
        return
    (volume,) = cas
    assert volume["secret"] == {
        "secretName": ca_secret,
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
        "defaultMode": 0o444,
    }
    assert mounts == [{"name": workload.CA_VOLUME, "mountPath": workload.CA_DIR, "readOnly": True}]
    for name in ("SSL_CERT_FILE", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        assert env[name] == f"{workload.CA_DIR}/ca.crt"


def test_the_metrics_port_avoids_the_model_port() -> None:
    assert workload.metrics_port(8080) == workload.METRICS_PORT
    assert workload.metrics_port(workload.METRICS_PORT) == workload.METRICS_PORT + 1


def test_a_service_is_cluster_internal() -> None:
    resources = run_blocks(
        lambda o: workload.create_service(
            "s", o, name="acme-support-stable", namespace=NS, labels=LABELS,
            selector_labels=PODS, ports={"http": 8080, "metrics": 9464},
        )
    )  # fmt: skip
    (service,) = of_kind(resources, "Service")
    assert service.inputs["spec"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in service.inputs["spec"]["ports"]] == ["http", "metrics"]


# -- network ------------------------------------------------------------------------------------
@pytest.mark.parametrize("source_pods", [None, network.ENVOY_PROXY_PODS])
def test_ingress_only_from_the_named_namespace_on_the_port(
    source_pods: dict[str, str] | None,
) -> None:
    resources = run_blocks(
        lambda o: network.allow_from_namespace(
            "p", o, name="from-gateway", namespace=NS, labels=LABELS, pods=PODS,
            source_namespace="envoy-gateway-system", port=8080, source_pods=source_pods,
        )
    )  # fmt: skip
    (policy,) = resources
    spec = policy.inputs["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    # One peer: the namespace AND (with source_pods) the pods' labels, never either alone.
    (peer,) = rule["from"]
    assert peer["namespaceSelector"] == {
        "matchLabels": {network.NAMESPACE_NAME_LABEL: "envoy-gateway-system"}
    }
    if source_pods is None:
        assert "podSelector" not in peer
    else:
        assert peer["podSelector"] == {"matchLabels": source_pods}
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_the_gateway_peer_is_envoy_gateways_proxy_pods() -> None:
    # Review (platform engineer): the whole gateway namespace was trusted; only the proxies
    # carry these labels (Envoy Gateway's EnvoyAppLabel, see network.py).
    assert network.ENVOY_PROXY_PODS == {
        "app.kubernetes.io/component": "proxy",
        "app.kubernetes.io/managed-by": "envoy-gateway",
    }


def test_dns_egress_defaults_to_kube_system_udp_and_tcp_53() -> None:
    (policy,) = run_blocks(
        lambda o: network.allow_dns("p", o, name="to-dns", namespace=NS, labels=LABELS, pods=PODS)
    )
    (rule,) = policy.inputs["spec"]["egress"]
    assert rule["to"] == [
        {"namespaceSelector": {"matchLabels": {network.NAMESPACE_NAME_LABEL: "kube-system"}}}
    ]
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_dns_egress_follows_the_clusters_dns_and_reaches_a_node_local_cache() -> None:
    # Review (platform engineer): OpenShift's DNS is openshift-dns on 5353; NodeLocal DNSCache
    # (169.254.20.10) runs in the host network, where no namespaceSelector can match it.
    (policy,) = run_blocks(
        lambda o: network.allow_dns(
            "p", o, name="to-dns", namespace=NS, labels=LABELS, pods=PODS,
            dns_namespace="openshift-dns", dns_port=5353,
            dns_cidrs=("169.254.20.10/32", "10.96.0.10/32"),
        )
    )  # fmt: skip
    (rule,) = policy.inputs["spec"]["egress"]
    assert rule["to"] == [
        {"namespaceSelector": {"matchLabels": {network.NAMESPACE_NAME_LABEL: "openshift-dns"}}},
        {"ipBlock": {"cidr": "169.254.20.10/32"}},
        {"ipBlock": {"cidr": "10.96.0.10/32"}},
    ]
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 5353), ("TCP", 5353)}


def test_service_egress_opens_each_port_to_its_own_ranges_only() -> None:
    # Review (platform engineer): one rule with both ports and both services' ranges let the
    # workers reach the store's port at the broker's addresses and the reverse.
    upstreams = [
        network.Upstream(5671, ("10.20.1.0/28", "10.20.1.16/28")),
        network.Upstream(443, ("10.30.2.0/28",)),
    ]
    (policy,) = run_blocks(
        lambda o: network.allow_egress(
            "p", o, name="to-services", namespace=NS, labels=LABELS, pods=PODS,
            upstreams=upstreams,
        )
    )  # fmt: skip
    assert policy.inputs["spec"]["policyTypes"] == ["Egress"]
    rules = policy.inputs["spec"]["egress"]
    assert [
        ([p["port"] for p in r["ports"]], [peer["ipBlock"]["cidr"] for peer in r["to"]])
        for r in rules
    ] == [([5671], ["10.20.1.0/28", "10.20.1.16/28"]), ([443], ["10.30.2.0/28"])]
    assert all(p["protocol"] == "TCP" for r in rules for p in r["ports"])


def test_service_egress_without_ranges_is_its_port_only() -> None:
    (policy,) = run_blocks(
        lambda o: network.allow_egress(
            "p", o, name="to-services", namespace=NS, labels=LABELS, pods=PODS,
            upstreams=[network.Upstream(5671), network.Upstream(443, ("10.30.2.0/28",))],
        )
    )  # fmt: skip
    broker, store = policy.inputs["spec"]["egress"]
    assert "to" not in broker and broker["ports"] == [{"protocol": "TCP", "port": 5671}]
    assert store["to"] == [{"ipBlock": {"cidr": "10.30.2.0/28"}}]
    with pytest.raises(ValueError, match="at least one upstream"):
        network.allow_egress(
            "p", pulumi.ResourceOptions(), name="x", namespace=NS, labels=LABELS, pods=PODS,
            upstreams=[],
        )  # fmt: skip


# -- gateway ------------------------------------------------------------------------------------
@pytest.mark.parametrize("issuer", ["letsencrypt", None])
def test_the_gateway_terminates_tls_with_its_secret(issuer: str | None) -> None:
    (gw,) = run_blocks(
        lambda o: gateway.create_gateway(
            "g", o, name="acme-gateway", namespace=NS, labels=LABELS,
            gateway_class="envoy-gateway", hostname="api.acme.example", tls_secret="acme-tls",
            tls_issuer=issuer,
        )
    )  # fmt: skip
    annotations = gw.inputs["metadata"].get("annotations", {})
    assert annotations.get(gateway.ISSUER_ANNOTATION) == issuer
    (listener,) = gw.inputs["spec"]["listeners"]
    assert listener["protocol"] == "HTTPS" and listener["hostname"] == "api.acme.example"
    assert listener["tls"]["mode"] == "Terminate"
    assert listener["tls"]["certificateRefs"][0]["name"] == "acme-tls"
    assert listener["allowedRoutes"] == {"namespaces": {"from": "Same"}}


def test_a_route_splits_by_weight_on_one_exact_path() -> None:
    backends = [gateway.Backend("s", 8080, 90), gateway.Backend("c", 8080, 10)]
    (route,) = run_blocks(
        lambda o: gateway.create_route(
            "r", o, name="acme-api", namespace=NS, labels=LABELS, gateway="acme-gateway",
            hostname="api.acme.example", method="POST", path="/predict", backends=backends,
        )
    )  # fmt: skip
    (rule,) = route.inputs["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "Exact", "value": "/predict"}, "method": "POST"}]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("s", 90), ("c", 10)]


@pytest.mark.parametrize(("jwt", "keys"), [(True, False), (False, True), (True, True)])
def test_the_security_policy_has_the_asked_authentication(jwt: bool, keys: bool) -> None:
    provider = gateway.Jwt("https://login.acme.example", "api://acme", "https://k/jwks.json")
    (policy,) = run_blocks(
        lambda o: gateway.create_security_policy(
            "a", o, name="acme-auth", namespace=NS, labels=LABELS, route="acme-api",
            jwt=provider if jwt else None, api_key_secret="acme-keys" if keys else None,
        )
    )  # fmt: skip
    spec = policy.inputs["spec"]
    assert spec["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "acme-api"}
    ]
    assert ("jwt" in spec) is jwt and ("apiKeyAuth" in spec) is keys
    if jwt:
        (p,) = spec["jwt"]["providers"]
        assert p["issuer"] == provider.issuer and p["audiences"] == [provider.audience]
        assert p["remoteJWKS"] == {"uri": provider.jwks_uri}
    if keys:
        assert spec["apiKeyAuth"]["extractFrom"] == [{"headers": ["x-api-key"]}]
        assert spec["apiKeyAuth"]["credentialRefs"][0]["name"] == "acme-keys"


def test_a_security_policy_without_authentication_is_refused() -> None:
    with pytest.raises(ValueError, match="JWT provider or API keys"):
        gateway.create_security_policy(
            "a", pulumi.ResourceOptions(), name="x", namespace=NS, labels=LABELS, route="r",
            jwt=None, api_key_secret=None,
        )  # fmt: skip


def test_the_jwks_uri_is_never_guessed() -> None:
    # Review (platform engineer, this stop): <issuer>/.well-known/jwks.json is Auth0's path,
    # not Keycloak's or Entra ID's; a wrong guess answers every request with 401.
    with pytest.raises(ValueError, match=r"cluster\.jwks_uri"):
        gateway.jwks_uri(None)
    assert gateway.jwks_uri("https://k.example/j") == "https://k.example/j"
    with pytest.raises(pydantic.ValidationError, match="jwks_uri"):
        make_spec(
            Cloud.KUBERNETES, Pattern.API_FIRST, Environment.DEV, {"cluster": {"jwks_uri": None}}
        )


def test_the_traffic_policy_limits_rate_and_body() -> None:
    (policy,) = run_blocks(
        lambda o: gateway.create_traffic_policy(
            "l", o, name="acme-limits", namespace=NS, labels=LABELS, route="acme-api",
            requests=50, unit="Second", max_request_bytes=1048576,
        )
    )  # fmt: skip
    spec = policy.inputs["spec"]
    assert spec["rateLimit"]["local"]["rules"] == [{"limit": {"requests": 50, "unit": "Second"}}]
    # Required by Envoy Gateway up to v1.5: without it the whole policy is refused.
    assert spec["rateLimit"]["type"] == "Local"
    assert spec["requestBuffer"] == {"limit": "1048576"}


# -- secrets ------------------------------------------------------------------------------------
def test_an_external_secret_reads_the_cluster_store_and_owns_its_secret() -> None:
    (es,) = run_blocks(
        lambda o: secrets.external_secret(
            "e", o, name="acme-tls", namespace=NS, labels=LABELS, store="vault",
            entries=[secrets.Entry("tls.crt", "acme/tls", "tls.crt")],
            secret_type="kubernetes.io/tls",
        )
    )  # fmt: skip
    assert es.inputs["apiVersion"] == "external-secrets.io/v1"
    spec = es.inputs["spec"]
    assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "vault"}
    assert spec["target"]["creationPolicy"] == "Owner"
    assert spec["target"]["template"] == {"type": "kubernetes.io/tls"}
    assert spec["data"] == [
        {"secretKey": "tls.crt", "remoteRef": {"key": "acme/tls", "property": "tls.crt"}}
    ]


@pytest.mark.parametrize("literals", [None, {"tls": "enable"}])
def test_the_ca_bundle_syncs_one_property_and_keeps_it_beside_literals(
    literals: dict[str, str] | None,
) -> None:
    (es,) = run_blocks(
        lambda o: secrets.ca_bundle(
            "c", o, name="acme-support-ca", namespace=NS, labels=LABELS, store="vault",
            remote_key="acme/internal-ca", literals=literals,
        )
    )  # fmt: skip
    spec = manifest(es)["spec"]
    assert spec["data"] == [
        {"secretKey": "ca.crt", "remoteRef": {"key": "acme/internal-ca", "property": "ca.crt"}}
    ]
    assert spec["target"]["name"] == "acme-support-ca"
    if literals is None:
        assert "template" not in spec["target"]
    else:
        # Merge: the synced ca.crt stays next to the literal (Replace would drop it).
        assert spec["target"]["template"] == {"mergePolicy": "Merge", "data": literals}


def test_an_external_secret_needs_something_to_copy() -> None:
    with pytest.raises(ValueError, match="entries or a key"):
        secrets.external_secret(
            "e", pulumi.ResourceOptions(), name="x", namespace=NS, labels=LABELS, store="vault"
        )


# -- scaling ------------------------------------------------------------------------------------
@pytest.mark.parametrize("floor", [0, 1, 2, 3, 10])
def test_a_disruption_budget_never_blocks_a_drain(floor: int) -> None:
    b = scaling.budget(floor)
    if b.min_available is not None:
        assert b.max_unavailable is None and b.min_available < floor
    else:
        assert b.max_unavailable == 1 and floor < 2


def test_the_hpa_scales_on_cpu_within_bounds_and_never_below_one() -> None:
    (hpa,) = run_blocks(
        lambda o: scaling.create_hpa(
            "h", o, name="acme-stable", namespace=NS, labels=LABELS, deployment="acme-stable",
            min_replicas=0, max_replicas=4, target_cpu_percent=60,
        )
    )  # fmt: skip
    spec = hpa.inputs["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    assert spec["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 60,
    }


def test_keda_scales_on_queue_length_with_the_url_from_the_secret() -> None:
    resources = run_blocks(
        lambda o: scaling.create_queue_scaler(
            "k", o, name="acme-worker", namespace=NS, labels=LABELS, deployment="acme-worker",
            queue="acme-dev-jobs", url_secret="acme-queue", url_key="url", min_replicas=0,
            max_replicas=2,
        )
    )  # fmt: skip
    (so,) = of_kind(resources, "ScaledObject")
    (auth,) = of_kind(resources, "TriggerAuthentication")
    spec = so.inputs["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 2)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"] == {
        "queueName": "acme-dev-jobs",
        "mode": "QueueLength",
        "value": "1",
    }
    assert trigger["authenticationRef"]["name"] == auth.inputs["metadata"]["name"]
    assert auth.inputs["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "acme-queue", "key": "url"}
    ]


def test_keda_verifies_the_broker_against_the_clients_ca_when_given() -> None:
    # KEDA's rabbitmq scaler reads tls and ca from authentication parameters only.
    resources = run_blocks(
        lambda o: scaling.create_queue_scaler(
            "k", o, name="acme-worker", namespace=NS, labels=LABELS, deployment="acme-worker",
            queue="acme-dev-jobs", url_secret="acme-queue", url_key="url", min_replicas=0,
            max_replicas=2, ca_secret="acme-ca",
        )
    )  # fmt: skip
    (auth,) = of_kind(resources, "TriggerAuthentication")
    assert auth.inputs["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "acme-queue", "key": "url"},
        {"parameter": "tls", "name": "acme-ca", "key": "tls"},
        {"parameter": "ca", "name": "acme-ca", "key": "ca.crt"},
    ]
    assert scaling.KEDA_TLS_LITERALS == {"tls": "enable"}


# -- monitoring ---------------------------------------------------------------------------------
def test_a_guarded_candidate_rule_needs_volume() -> None:
    targets = monitoring.Targets(namespace=NS, route="r", stable_service="s", candidate_service="c")
    rule = AlarmRule(Signal.CANARY_ERROR_RATE, 0.05, Comparison.ABOVE, Tier.TICKET, 60, 2, True, 20)
    expr = monitoring.expression(rule, targets, api=True)
    assert 'service="c"' in expr and expr.endswith(">= 20")
    starved = AlarmRule(Signal.CANARY_STARVED, 0.05, Comparison.BELOW, Tier.TICKET, 60, 5, True, 20)
    assert "or vector(0)" in monitoring.expression(starved, targets, api=True)
    plain = AlarmRule(Signal.ERROR_RATE_5XX, 0.01, Comparison.ABOVE, Tier.PAGE)
    assert "httproute/acme-support-dev/r/rule/0" in monitoring.expression(plain, targets, api=True)


def test_webhooks_are_secret_references_and_emails_inline() -> None:
    destinations = [
        Destination(kind=DestinationKind.EMAIL, address="ops@acme.example"),
        Destination(kind=DestinationKind.SLACK, secret="slack_url"),
        Destination(kind=DestinationKind.EVENTS, secret="pager_url"),
        Destination(kind=DestinationKind.TEAMS, secret="teams_url"),
    ]
    receiver = monitoring.receiver(Tier.PAGE, destinations, "acme-alert-webhooks")
    assert receiver["emailConfigs"] == [{"to": "ops@acme.example", "sendResolved": True}]
    ref = {"name": "acme-alert-webhooks"}
    assert receiver["slackConfigs"] == [
        {"apiURL": {**ref, "key": "slack_url"}, "sendResolved": True}
    ]
    assert receiver["webhookConfigs"] == [
        {"urlSecret": {**ref, "key": "pager_url"}, "sendResolved": True}
    ]
    assert receiver["msteamsConfigs"] == [
        {"webhookUrl": {**ref, "key": "teams_url"}, "sendResolved": True}
    ]


def test_the_dashboard_is_a_labelled_config_map() -> None:
    (cm,) = run_blocks(
        lambda o: monitoring.create_dashboard(
            "d", o, name="acme-dashboard", namespace=NS, labels=LABELS, title="acme",
            panels={"requests": "sum(rate(x[1m]))"},
        )
    )  # fmt: skip
    assert cm.inputs["metadata"]["labels"][monitoring.DASHBOARD_LABEL] == "1"
    assert '"title": "acme"' in cm.inputs["data"]["acme-dashboard.json"]


# -- kserve -------------------------------------------------------------------------------------
def test_an_inference_service_runs_the_hardened_pod_in_raw_mode() -> None:
    (isvc,) = run_blocks(
        lambda o: kserve.create_inference_service(
            "i", o, name="acme-stable", namespace=NS, labels=LABELS, selector_labels=PODS,
            c=_container(gpus=1), service_account="acme-model", min_replicas=0, max_replicas=3,
            target_cpu_percent=60,
        )
    )  # fmt: skip
    assert isvc.inputs["metadata"]["annotations"] == kserve.DEPLOYMENT_MODE
    # Review (platform engineer, this stop): without it KServe routes to the model itself,
    # around the gateway's authentication and rate limits.
    assert isvc.inputs["metadata"]["labels"]["networking.kserve.io/visibility"] == "cluster-local"
    predictor = manifest(isvc)["spec"]["predictor"]
    assert_hardened_pod(predictor)
    assert predictor["labels"][meta.ROLE_LABEL] == "stable"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert predictor["containers"][0]["name"] == kserve.CONTAINER_NAME
