"""How traffic enters the cluster: only through the client's ingress or gateway, and only over
TLS there. No Service opens node ports or a load balancer of its own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import resource_rule
from policies.rules.kubernetes._common import GATEWAYS, SERVICE, UNKNOWN, items, read, show
from policies.rules.references import guardrail

# Service types that reach past the gateway: a port on every node, or a cloud/metal load
# balancer in front of the pods. Kubernetes enum values are case-sensitive: compared whole.
EXPOSED_TYPES = frozenset({"NodePort", "LoadBalancer"})


def _exposed(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    kind = read(props, "spec.type")
    if isinstance(kind, str) and kind in EXPOSED_TYPES:
        yield (
            f"the Service is of type {show(kind)}: it takes traffic past the gateway (no "
            'TLS, no authentication, no rate limits there); use type "ClusterIP" and route to '
            "it from the gateway."
        )


service_not_exposed = resource_rule(
    "k8s-service-not-exposed",
    "No Service is of type NodePort or LoadBalancer: traffic enters through the cluster's "
    "ingress or gateway.",
    types=[SERVICE],
    check=_exposed,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    # No benchmark control: the cluster's form of guardrail 31 (reachable only through the
    # load balancer) and 15 (listeners behind TLS).
    references=[guardrail("31"), guardrail("15")],
    remediation=(
        "Leave `type` unset (ClusterIP) and attach the Service to the gateway with an "
        "`HTTPRoute` (or an `Ingress`); the gateway's own Service is the cluster operators'."
    ),
    since=3,
)

# Listener protocols that terminate (or carry) TLS at the gateway.
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})


def _listener_faults(listener: Mapping[str, Any]) -> Iterator[str]:
    name = show(read(listener, "name"))
    protocol = read(listener, "protocol")
    if protocol is UNKNOWN:
        return
    if protocol not in TLS_PROTOCOLS:
        yield (
            f"listener {name} accepts {show(protocol)}: traffic to the models travels in the "
            'clear; use protocol "HTTPS" with a certificate.'
        )
        return
    refs = read(listener, "tls.certificateRefs")
    if refs is not UNKNOWN and not any(True for _ in items(refs)):
        yield (
            f"listener {name} ({protocol}) names no certificate: set "
            "`tls.certificateRefs` to the Secret cert-manager (or the client's PKI) keeps."
        )


def _gateway_without_tls(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for listener in items(read(props, "spec.listeners")):
        if isinstance(listener, Mapping):
            yield from _listener_faults(listener)


gateway_tls = resource_rule(
    "k8s-gateway-tls",
    "Every listener of a Gateway (Gateway API) is HTTPS or TLS with a certificate "
    "(`tls.certificateRefs`); no plain HTTP listener.",
    types=GATEWAYS,
    check=_gateway_without_tls,
    severity=Severity.HIGH,
    tags=["tls", "network-exposure"],
    # No benchmark control covers Gateway API listeners: guardrail 15 (listeners HTTPS).
    references=[guardrail("15")],
    remediation=(
        'Give each listener `protocol: "HTTPS"`, a `hostname` and `tls: {mode: "Terminate", '
        'certificateRefs: [{kind: "Secret", name: <certificate secret>}]}` (cert-manager '
        "issues it); drop plain HTTP listeners (redirect at the client's edge if one is "
        "needed, or waive the listener's Gateway with the reason). TLS passthrough listeners "
        "carry no certificate here and need a waiver stating where TLS terminates."
    ),
    since=3,
)
