"""k8s-service-not-exposed and k8s-gateway-tls: Services stay inside the cluster, and the
gateway's listeners all terminate TLS with a certificate."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest

from policies.rules.kubernetes import exposure
from tests.policies.test_kubernetes_common import Program, findings, judge, waiver

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


def listener(name: str, protocol: str, port: int = 443, tls: Any = CERTIFICATE) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "protocol": protocol, "port": port}
    if tls is not None:
        entry["tls"] = tls
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
