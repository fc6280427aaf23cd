"""k8s-service-not-exposed and k8s-gateway-tls: Services stay inside the cluster (no node
port, load balancer, external IP or external name), and the gateway's listeners all terminate
TLS with a certificate and take routes from their own namespace only."""

from __future__ import annotations

import functools
from typing import Any

import pulumi_kubernetes as k8s
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from offline.capture import CapturedResource
from policies.rules.kubernetes import exposure
from tests.policies.harness import run_program
from tests.policies.test_kubernetes_common import (
    REMOVE,
    Program,
    changed,
    findings,
    judge,
    waiver,
)

SERVICE = exposure.service_not_exposed
GATEWAY = exposure.gateway_tls
CERTIFICATE = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "scorer-tls"}]}


def service(kind: str | None) -> Program:
    return lambda: k8s.core.v1.Service(
        "scorer",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace="serving"),
        spec=k8s.core.v1.ServiceSpecArgs(
            type=kind,
            selector={"app": "scorer"},
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")],
        ),
    )


@pytest.mark.parametrize("kind", [None, "ClusterIP"])
def test_a_service_inside_the_cluster_passes(kind: str | None) -> None:
    assert judge(SERVICE, service(kind)) == set()


@pytest.mark.parametrize("kind", ["NodePort", "LoadBalancer"])
def test_a_service_reaching_past_the_gateway_fails(kind: str) -> None:
    (found,) = findings(SERVICE, service(kind))
    assert found[0] == "scorer" and f'of type "{kind}"' in found[1]
    assert judge(SERVICE, service(kind), waiver("scorer")) == set()


@functools.cache
def captured_service() -> CapturedResource:
    """The compliant ClusterIP Service as the engine receives it."""
    (resource,) = run_program(service(None))
    return resource


@pytest.mark.parametrize("change", [{}, {"spec__externalIPs": []}], ids=["unset", "empty"])
def test_a_service_claiming_no_external_ip_passes(change: dict[str, Any]) -> None:
    assert "externalIPs" not in captured_service().inputs["spec"]
    assert judge(SERVICE, [changed(captured_service(), **change)]) == set()


# One change to the compliant Service per case, and what the one message must say.
OUTSIDE: dict[str, tuple[dict[str, Any], str]] = {
    "external-ips": (
        {"spec__externalIPs": ["203.0.113.10"]},
        'claims `externalIPs` ["203.0.113.10"]',
    ),
    "external-ip-unknown": (
        {"spec__externalIPs": [UNKNOWN_STRING_VALUE]},
        "claims `externalIPs` (unknown until deployed)",
    ),
    "external-name": (
        {"spec__type": "ExternalName"},
        'of type "ExternalName": a DNS alias to a name',
    ),
}


@pytest.mark.parametrize(("change", "says"), OUTSIDE.values(), ids=OUTSIDE.keys())
def test_a_service_reaching_outside_the_cluster_fails(change: dict[str, Any], says: str) -> None:
    bad = changed(captured_service(), **change)
    (found,) = findings(SERVICE, [bad])
    assert found[0] == "scorer" and says in found[1], found
    assert judge(SERVICE, [bad], waiver("scorer")) == set()


def test_an_external_name_service_names_its_target() -> None:
    program: Program = lambda: k8s.core.v1.Service(  # noqa: E731
        "billing",
        spec=k8s.core.v1.ServiceSpecArgs(type="ExternalName", external_name="billing.example.com"),
    )
    (found,) = findings(SERVICE, program)
    assert found[0] == "billing" and 'alias to "billing.example.com"' in found[1], found


def listener(
    name: str,
    protocol: str,
    port: int = 443,
    tls: Any = CERTIFICATE,
    routes_from: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "protocol": protocol, "port": port}
    if tls is not None:
        entry["tls"] = tls
    if routes_from is not None:
        entry["allowedRoutes"] = {"namespaces": {"from": routes_from}}
    return entry


def gateway(*listeners: dict[str, Any], version: str = "v1") -> Program:
    return lambda: k8s.apiextensions.CustomResource(
        "edge",
        api_version=f"gateway.networking.k8s.io/{version}",
        kind="Gateway",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace="gateway"),
        spec={"gatewayClassName": "cluster-gateway", "listeners": list(listeners)},
    )


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_a_gateway_terminating_tls_passes(version: str) -> None:
    program = gateway(listener("https", "HTTPS"), listener("grpc", "TLS", 8443), version=version)
    assert judge(GATEWAY, program) == set()


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "http": (listener("http", "HTTP", 80, tls=None), 'listener "http" accepts "HTTP"'),
    "tcp": (listener("tcp", "TCP", 5432, tls=None), 'listener "tcp" accepts "TCP"'),
    "https-without-tls": (listener("https", "HTTPS", tls=None), 'listener "https" (HTTPS)'),
    "https-without-certificate": (
        listener("https", "HTTPS", tls={"mode": "Terminate", "certificateRefs": []}),
        'listener "https" (HTTPS) names no certificate',
    ),
    "tls-passthrough": (
        listener("tls", "TLS", tls={"mode": "Passthrough"}),
        'listener "tls" (TLS) names no certificate',
    ),
}


@pytest.mark.parametrize(("bad", "says"), CASES.values(), ids=CASES.keys())
def test_a_listener_without_tls_and_a_certificate_fails(bad: dict[str, Any], says: str) -> None:
    (found,) = findings(GATEWAY, gateway(listener("https", "HTTPS"), bad))
    assert found[0] == "edge" and says in found[1], found


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_every_gateway_version_is_judged_and_a_waiver_skips_it(version: str) -> None:
    program = gateway(listener("http", "HTTP", 80, tls=None), version=version)
    assert judge(GATEWAY, program) == {"edge"}
    assert judge(GATEWAY, program, waiver("edge")) == set()


# ---------------------------------------------------------------------------- allowed routes
@functools.cache
def captured_gateway() -> CapturedResource:
    """The compliant Gateway, taking routes from its own namespace as the component writes it."""
    (resource,) = run_program(gateway(listener("https", "HTTPS", routes_from="Same")))
    return resource


FROM = "spec__listeners__0__allowedRoutes__namespaces__from"


@pytest.mark.parametrize(
    "change",
    [{}, {"spec__listeners__0__allowedRoutes": REMOVE}, {FROM: REMOVE}],
    ids=["same", "no-allowed-routes", "no-from"],
)
def test_a_listener_taking_routes_from_its_own_namespace_passes(change: dict[str, Any]) -> None:
    """``Same`` written out, or left to the default (``Same``) at either level."""
    assert judge(GATEWAY, [changed(captured_gateway(), **change)]) == set()


@pytest.mark.parametrize("source", ["All", "Selector"])
def test_a_listener_taking_routes_from_other_namespaces_fails(source: str) -> None:
    bad = changed(captured_gateway(), **{FROM: source})
    assert findings(GATEWAY, [bad]) == [
        (
            "edge",
            f'listener "https" takes routes from namespaces "{source}": an HTTPRoute created in '
            "another namespace attaches to it and is served on the gateway's hostname and "
            "certificate, without this stack's authentication; set "
            '`allowedRoutes.namespaces.from` to "Same" (or leave it unset).',
        )
    ]
    assert judge(GATEWAY, [bad], waiver("edge")) == set()


def test_a_selector_listener_fails_whatever_it_selects() -> None:
    """A namespace selector matches labels anyone creating a namespace may set."""
    selector = {"from": "Selector", "selector": {"matchLabels": {"team": "serving"}}}
    bad = changed(captured_gateway(), spec__listeners__0__allowedRoutes__namespaces=selector)
    assert judge(GATEWAY, [bad]) == {"edge"}


def test_an_open_plain_listener_is_named_for_both_faults() -> None:
    bad = changed(
        captured_gateway(),
        spec__listeners__0=listener("http", "HTTP", 80, tls=None, routes_from="All"),
    )
    messages = [m for _, m in findings(GATEWAY, [bad])]
    assert len(messages) == 2
    assert 'accepts "HTTP"' in messages[0] and 'namespaces "All"' in messages[1]


def test_a_route_source_unknown_at_preview_is_left_to_the_update_run() -> None:
    unknown = changed(captured_gateway(), **{FROM: UNKNOWN_STRING_VALUE})
    assert judge(GATEWAY, [unknown]) == set()
