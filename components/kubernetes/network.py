"""Kubernetes building block: the flows a stack's pods may have, on top of the namespace's
default deny (namespace.py). Each policy names one flow, so a review reads them one by one:

* :func:`allow_from_namespace`: ingress to the model pods from one namespace on one port: the
  gateway's Envoy proxies (:data:`ENVOY_PROXY_PODS` in ``cluster.gateway_namespace``) on the
  model port, the monitoring namespace on the metrics port;
* :func:`allow_dns`: egress to the cluster DNS (``cluster.dns_namespace`` on UDP and TCP
  ``cluster.dns_port``) and to a node-local cache's addresses (``cluster.dns_cidrs``);
* :func:`allow_egress`: egress to the client's services (the broker, the object store), one
  rule per service: its port, to its own address ranges only (``cluster.queue.cidrs``,
  ``cluster.object_store.cidrs``).

Policies select pods by label and namespaces by ``kubernetes.io/metadata.name``, the label the
API server sets on every namespace (it cannot be forged by someone who may label namespaces).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# The defaults of cluster.dns_namespace and cluster.dns_port (CoreDNS / kube-dns).
DNS_NAMESPACE = "kube-system"
DNS_PORT = 53
# The labels Envoy Gateway puts on every proxy pod it runs for a Gateway: EnvoyAppLabel() in
# envoyproxy/gateway internal/infrastructure/kubernetes/proxy/resource.go (name envoy, component
# proxy, managed-by envoy-gateway; there since v0.5.0, unchanged on main after v1.9), which the
# proxy Deployment's selector and pod template carry (resource_provider.go, envoyLabels). Its
# own controller and rate-limit pods share the namespace, not these labels (component
# "ratelimit" for the latter), so they cannot reach the model pods.
ENVOY_PROXY_PODS = {
    "app.kubernetes.io/component": "proxy",
    "app.kubernetes.io/managed-by": "envoy-gateway",
}


@dataclass(frozen=True)
class Upstream:
    """A service outside the cluster the pods call (the broker, the object store): its TCP
    ``port`` and its address ranges. No ranges: any address on that port (dev only; the spec
    refuses it elsewhere)."""

    port: int
    cidrs: Sequence[str] = ()


def _namespace(name: str) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: name})


def _pods(labels: Mapping[str, str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels))


def _ranges(cidrs: Sequence[str]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
        for c in cidrs
    ]


def allow_from_namespace(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pods: Mapping[str, str],
    source_namespace: str,
    port: int,
    source_pods: Mapping[str, str] | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """Ingress to ``pods`` from the pods of ``source_namespace``, on TCP ``port`` only: every
    pod there, or with ``source_pods`` only those carrying these labels (one peer with both
    selectors: the namespace and the labels, e.g. :data:`ENVOY_PROXY_PODS` for the gateway)."""
    peer = k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=_namespace(source_namespace),
        pod_selector=_pods(source_pods) if source_pods else None,
    )
    return k8s.networking.v1.NetworkPolicy(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_pods(pods),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[peer],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
                )
            ],
        ),
        opts=opts,
    )


def allow_dns(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pods: Mapping[str, str],
    dns_namespace: str = DNS_NAMESPACE,
    dns_port: int = DNS_PORT,
    dns_cidrs: Sequence[str] = (),
) -> k8s.networking.v1.NetworkPolicy:
    """Egress from ``pods`` to the cluster DNS: the pods of ``dns_namespace`` and the addresses
    ``dns_cidrs``, on UDP and TCP ``dns_port`` (TCP for answers too large for UDP).

    ``dns_cidrs`` is for a resolver no namespaceSelector can match: NodeLocal DNSCache listens
    on a link-local address (169.254.20.10) of every node, in the host network, so its
    traffic belongs to no pod of any namespace."""
    return k8s.networking.v1.NetworkPolicy(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_pods(pods),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace(dns_namespace)
                        ),
                        *_ranges(dns_cidrs),
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol=p, port=dns_port)
                        for p in ("UDP", "TCP")
                    ],
                )
            ],
        ),
        opts=opts,
    )


def allow_egress(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pods: Mapping[str, str],
    upstreams: Sequence[Upstream],
) -> k8s.networking.v1.NetworkPolicy:
    """Egress from ``pods`` to ``upstreams``: one rule per service, its TCP port to its own
    ranges, so the broker's ranges never open the store's port nor the reverse (a single rule
    would open every port to every range). NetworkPolicy matches addresses, not host names:
    the ranges are the client's to give (``cluster.queue.cidrs``,
    ``cluster.object_store.cidrs``)."""
    if not upstreams:
        raise ValueError(f"{logical}: an egress policy needs at least one upstream")
    rules = [
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            # No ranges (dev only: the spec refuses empty ranges in staging and prod): the rule
            # has no `to`, so any address, but on this service's port only
            # (docs/patterns/kubernetes.md, "What the cluster must provide").
            to=_ranges(u.cidrs) or None,
            ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=u.port)],
        )
        for u in upstreams
    ]
    return k8s.networking.v1.NetworkPolicy(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_pods(pods), policy_types=["Egress"], egress=rules
        ),
        opts=opts,
    )
