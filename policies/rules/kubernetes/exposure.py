"""How traffic enters the cluster: only through the client's ingress or gateway, and only over
TLS there. No Service opens node ports or a load balancer of its own, claims external IPs or
aliases a name outside the cluster; the gateway takes routes from its own namespace only."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import resource_rule
from policies.rules.kubernetes._common import GATEWAYS, SERVICE, UNKNOWN, items, read, show
from policies.rules.references import guardrail

# Service types that reach past the gateway: a port on every node, or a cloud/metal load
# balancer in front of the pods. Kubernetes enum values are case-sensitive: compared whole.
EXPOSED_TYPES = frozenset({"NodePort", "LoadBalancer"})
# A DNS alias (CNAME) to a name outside the cluster: whatever routes to the Service (the
# gateway, another pod) is sent to that host, requests and their credentials included.
EXTERNAL_NAME = "ExternalName"


def _sets_external_ips(value: Any) -> bool:
    """A non-empty ``externalIPs`` list (entries still unknown at preview count: an address
    is claimed all the same)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) > 0


def _exposed(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    kind = read(props, "spec.type")
    if isinstance(kind, str) and kind in EXPOSED_TYPES:
        yield (
            f"the Service is of type {show(kind)}: it takes traffic past the gateway (no "
            'TLS, no authentication, no rate limits there); use type "ClusterIP" and route to '
            "it from the gateway."
        )
    elif kind == EXTERNAL_NAME:
        target = read(props, "spec.externalName")
        alias = show(target) if isinstance(target, str) else "a name"
        yield (
            f"the Service is of type {show(kind)}: a DNS alias to {alias} outside the "
            "cluster, so traffic routed to it (by the gateway too, credentials included) leaves "
            "for a host no policy here controls; call the external endpoint from the workload "
            "through an egress NetworkPolicy instead."
        )
    external_ips = read(props, "spec.externalIPs")
    if _sets_external_ips(external_ips):
        known = any(True for _ in items(external_ips))
        listed = show(external_ips) if known else "(unknown until deployed)"
        yield (
            f"the Service claims `externalIPs` {listed}: every node then takes "
            "traffic for those addresses past the gateway, and a Service can intercept traffic "
            "meant for someone else's address (CVE-2020-8554); drop `externalIPs`."
        )


service_not_exposed = resource_rule(
    "k8s-service-not-exposed",
    "No Service is of type NodePort, LoadBalancer or ExternalName, or sets `externalIPs`: "
    "traffic enters through the cluster's ingress or gateway, and leaves by no alias.",
    types=[SERVICE],
    check=_exposed,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    # No benchmark control: the cluster's form of guardrail 31 (reachable only through the
    # load balancer) and 15 (listeners behind TLS).
    references=[guardrail("31"), guardrail("15")],
    remediation=(
        "Leave `type` unset (ClusterIP) and `external_ips` unset, and attach the Service to "
        "the gateway with an `HTTPRoute` (or an `Ingress`); the gateway's own Service is the "
        "cluster operators'. Reach an outside endpoint from the workload by its own name, "
        "through an egress NetworkPolicy, not through an ExternalName Service. Clusters "
        "should also run the DenyServiceExternalIPs admission plugin (CVE-2020-8554)."
    ),
    since=3,
)

# Listener protocols that terminate (or carry) TLS at the gateway.
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})


# Where a listener takes routes from, beyond its own namespace: any namespace, or every
# namespace a label selector matches (labels anyone who creates a namespace may set).
OPEN_ROUTE_SOURCES = frozenset({"All", "Selector"})


def _tls_faults(listener: Mapping[str, Any], name: str) -> Iterator[str]:
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


def _listener_faults(listener: Mapping[str, Any]) -> Iterator[str]:
    name = show(read(listener, "name"))
    yield from _tls_faults(listener, name)
    source = read(listener, "allowedRoutes.namespaces.from")  # unset: "Same"
    if isinstance(source, str) and source in OPEN_ROUTE_SOURCES:
        yield (
            f"listener {name} takes routes from namespaces {show(source)}: an HTTPRoute "
            "created in another namespace attaches to it and is served on the gateway's "
            "hostname and certificate, without this stack's authentication; set "
            '`allowedRoutes.namespaces.from` to "Same" (or leave it unset).'
        )


def _gateway_without_tls(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for listener in items(read(props, "spec.listeners")):
        if isinstance(listener, Mapping):
            yield from _listener_faults(listener)


gateway_tls = resource_rule(
    "k8s-gateway-tls",
    "Every listener of a Gateway (Gateway API) is HTTPS or TLS with a certificate "
    "(`tls.certificateRefs`), and takes routes from its own namespace only "
    "(`allowedRoutes.namespaces.from` unset or `Same`); no plain HTTP listener.",
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
        "carry no certificate here and need a waiver stating where TLS terminates. Leave "
        '`allowedRoutes` unset or set `namespaces: {from: "Same"}`: a route another team '
        "needs on the edge belongs on a Gateway of its own (or is waived with the reason)."
    ),
    since=3,
)
