"""Every object the kubernetes target renders, checked against the Kubernetes API's own
OpenAPI schemas (kubernetes-validate, strict: unknown fields are errors) for every supported
minor (components.spec.SUPPORTED_KUBERNETES_VERSIONS), offline.

The objects are rebuilt from what the real programs registered under mocks (apiVersion, kind,
metadata, spec/data...), for both patterns in dev, staging and prod and the variants that change
what is rendered (a candidate, KServe, the client's own certificate, no KEDA, no Prometheus
Operator, GPUs, the client's CA bundle with a node-local DNS cache). Custom resources have no
schema there: their kinds are listed explicitly and each gets a structural check of the fields
its CRD requires.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # no stubs or py.typed
import kubernetes_validate.utils as kv_utils  # type: ignore[import-untyped]
import pytest

from components.spec import (
    LABEL_VALUE_RE,
    SUPPORTED_KUBERNETES_VERSIONS,
    Environment,
    Pattern,
)
from tests.components.test_kubernetes_blocks import CANDIDATE, k8s_spec, manifest, objects
from tests.conftest import ROOT, run_component

CA_DNS = {"ca_bundle_key": "acme-support/internal-ca", "dns_cidrs": ["169.254.20.10/32"]}
# (pattern, environment, overrides) of every stack rendered here.
VARIANTS: dict[str, tuple[Pattern, Environment, dict[str, Any]]] = {
    **{
        f"{p.value}-{e.value}": (p, e, {})
        for p in (Pattern.API_FIRST, Pattern.EVENT_DRIVEN)
        for e in Environment
    },
    "api-first-prod-candidate": (Pattern.API_FIRST, Environment.PROD, CANDIDATE),
    "api-first-prod-kserve-candidate": (
        Pattern.API_FIRST, Environment.PROD, {**CANDIDATE, "cluster": {"kserve": True}},
    ),
    "api-first-staging-tls-secret": (
        Pattern.API_FIRST, Environment.STAGING,
        {"cluster": {"tls_issuer": None, "tls_secret_key": "acme-support/tls"}},
    ),
    "api-first-dev-api-key-gpu": (
        Pattern.API_FIRST, Environment.DEV, {"api": {"auth": "api-key"}, "cluster": {"gpus": 1}},
    ),
    "api-first-prod-no-prometheus": (
        Pattern.API_FIRST, Environment.PROD, {"cluster": {"prometheus": False}},
    ),
    # Tags Kubernetes would refuse as labels as they stand (a trailing "_", an "@").
    "api-first-dev-odd-tags": (
        Pattern.API_FIRST, Environment.DEV, {"tags": {"cost_center_": "@ml.ops-"}},
    ),
    "event-driven-dev-keda-off": (
        Pattern.EVENT_DRIVEN, Environment.DEV, {"cluster": {"keda": False}},
    ),
    "event-driven-prod-cidrs-webhooks": (
        Pattern.EVENT_DRIVEN, Environment.PROD,
        {
            "cluster": {"queue": {"cidrs": ["10.20.0.0/24"]}},
            "alerts": {"routes": {"page": [{"kind": "slack", "secret": "slack_url"}]}},
        },
    ),
    # The client's internal CA (a Secret volume, its env, KEDA's TLS parameters) and a
    # node-local DNS cache (ipBlock peers of the DNS policy).
    **{
        f"{p.value}-prod-ca-dns": (p, Environment.PROD, {"cluster": CA_DNS})
        for p in (Pattern.API_FIRST, Pattern.EVENT_DRIVEN)
    },
}  # fmt: skip

# The custom kinds (apiVersion, kind) the target renders, and the fields each CRD requires.
CUSTOM_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("gateway.networking.k8s.io/v1", "Gateway"): ("gatewayClassName", "listeners"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): ("parentRefs", "rules"),
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"): ("targetRefs",),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"): ("targetRefs", "rateLimit"),
    ("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy"): ("targetRefs",),
    ("external-secrets.io/v1", "ExternalSecret"): ("secretStoreRef", "target"),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ("secretTargetRef",),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("selector", "podMetricsEndpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): ("route", "receivers"),
    ("serving.kserve.io/v1beta1", "InferenceService"): ("predictor",),
}
# The stacks' kinds; the namespace, its quota and limit range are bootstrap's (validated in
# test_kubernetes_bootstrap.py).
CORE_KINDS = {
    "NetworkPolicy", "ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "ConfigMap", "Role", "RoleBinding",
}  # fmt: skip


@functools.cache
def documents() -> tuple[dict[str, Any], ...]:
    """Every distinct object of every variant (identical objects are validated once)."""
    seen: dict[str, dict[str, Any]] = {}
    for pattern, env, overrides in VARIANTS.values():
        spec = k8s_spec(pattern, env, overrides)
        for r in objects(run_component(spec).resources):
            doc = manifest(r)
            seen.setdefault(json.dumps(doc, sort_keys=True), doc)
    return tuple(seen.values())


@pytest.fixture(scope="module", autouse=True)
def _cached_schemas() -> Iterator[None]:
    """kubernetes-validate parses the schema files on every call: parse each once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kv_utils, "schema_contents", functools.cache(kv_utils.schema_contents))
        yield


def _is_custom(doc: dict[str, Any]) -> bool:
    return (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS


def test_every_variant_renders_the_expected_kinds() -> None:
    kinds = {d["kind"] for d in documents()}
    assert kinds == CORE_KINDS | {kind for _, kind in CUSTOM_KINDS}


def test_the_ca_and_dns_variant_renders_what_it_adds() -> None:
    # Else the strict validation below would not see the Secret volume or the ipBlock peers.
    docs = documents()
    volumes = [
        v
        for d in docs
        if d["kind"] == "Deployment"
        for v in d["spec"]["template"]["spec"]["volumes"]
        if "secret" in v
    ]
    # (The rollback service's pod also mounts a Secret: its webhook token.)
    assert "ca.crt" in {v["secret"]["items"][0]["key"] for v in volumes}
    dns_peers = [
        peer
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-to-dns")
        for rule in d["spec"]["egress"]
        for peer in rule["to"]
    ]
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in dns_peers


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_core_objects_validate_strictly(version: str) -> None:
    failures = []
    for doc in documents():
        if _is_custom(doc):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {e.message}")
    assert failures == []


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_custom_kinds_have_no_schema_and_are_exactly_the_expected_ones(version: str) -> None:
    missing: set[tuple[str, str]] = set()
    for doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            missing.add((doc["apiVersion"], doc["kind"]))
    assert missing == set(CUSTOM_KINDS)


def test_custom_objects_have_their_required_fields() -> None:
    for doc in documents():
        if not _is_custom(doc):
            continue
        assert set(doc) >= {"apiVersion", "kind", "metadata", "spec"}, doc["kind"]
        assert doc["metadata"]["name"] and doc["metadata"]["namespace"], doc["kind"]
        for key in CUSTOM_KINDS[(doc["apiVersion"], doc["kind"])]:
            assert doc["spec"].get(key), f"{doc['kind']}/{doc['metadata']['name']}: spec.{key}"


LABEL_KEY_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
)


def _label_maps(value: Any) -> Iterator[dict[str, str]]:
    """Every ``labels`` / ``matchLabels`` map anywhere in an object."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("labels", "matchLabels") and isinstance(inner, dict):
                yield inner
            else:
                yield from _label_maps(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _label_maps(inner)


def test_every_label_is_one_kubernetes_accepts() -> None:
    for doc in documents():
        for labels in _label_maps(doc):
            for key, value in labels.items():
                assert LABEL_KEY_RE.match(key), (doc["kind"], key)
                assert LABEL_VALUE_RE.match(value) and len(value) <= 63, (doc["kind"], key, value)
    tagged = [d for d in documents() if "cost_center" in d["metadata"]["labels"]]
    assert tagged and {d["metadata"]["labels"]["cost_center"] for d in tagged} == {"ml.ops"}


def _deployment() -> dict[str, Any]:
    return next(d for d in documents() if d["kind"] == "Deployment")


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_a_misspelt_field_fails_strict_validation(version: str) -> None:
    doc = _deployment()
    kubernetes_validate.validate(doc, version, strict=True)
    container = doc["spec"]["template"]["spec"]["containers"][0]
    bad = json.loads(json.dumps(doc))
    bad_container = bad["spec"]["template"]["spec"]["containers"][0]
    bad_container["securityContext"]["readOnlyRootFS"] = bad_container["securityContext"].pop(
        "readOnlyRootFilesystem"
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] is True  # original untouched
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, version, strict=True)


def test_pyproject_pins_the_sdk_the_generator_pins() -> None:
    import tomllib

    from components.spec import Cloud
    from templates.generator import CLOUD_PINS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(line.split("==", 1) for line in project["dependencies"] if "==" in line)
    expected = CLOUD_PINS[Cloud.KUBERNETES]
    assert {k: pins.get(k) for k in expected} == expected
    dev = [line.split("=", 1)[0].rstrip("=<>") for line in project["optional-dependencies"]["dev"]]
    assert "kubernetes-validate" in dev
