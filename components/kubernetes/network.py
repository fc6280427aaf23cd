"""Kubernetes building block: the flows a stack's pods may have, on top of the namespace's
default deny (namespace.py). Each policy names one flow, so a review reads them one by one:

* :func:`allow_from_namespace`: ingress to the model pods from one namespace on one port: the
  gateway's (Envoy's proxies) on the model port, the monitoring namespace on the metrics port;
* :func:`allow_dns`: egress to the cluster DNS in ``kube-system`` (UDP and TCP 53);
* :func:`allow_egress`: egress on named ports to the client's services (the broker, the object
  store), limited to ``cluster.egress_cidrs`` when given.

Policies select pods by label and namespaces by ``kubernetes.io/metadata.name``, the label the
API server sets on every namespace (it cannot be forged by someone who may label namespaces).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DNS_NAMESPACE = "kube-system"
DNS_PORT = 53


def _namespace(name: str) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: name})


def _pods(labels: Mapping[str, str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels))


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
) -> k8s.networking.v1.NetworkPolicy:
    """Ingress to ``pods`` from any pod of ``source_namespace``, on TCP ``port`` only."""
    return k8s.networking.v1.NetworkPolicy(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_pods(pods),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace(source_namespace)
                        )
                    ],
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
) -> k8s.networking.v1.NetworkPolicy:
    """Egress from ``pods`` to the cluster DNS: kube-system, UDP and TCP 53 (TCP for answers
    too large for UDP)."""
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
                            namespace_selector=_namespace(DNS_NAMESPACE)
                        )
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol=p, port=DNS_PORT)
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
    ports: Sequence[int],
    cidrs: Sequence[str],
) -> k8s.networking.v1.NetworkPolicy:
    """Egress from ``pods`` on TCP ``ports`` to ``cidrs``. Without ``cidrs`` the rule has no
    ``to``: any address, but on these ports only. NetworkPolicy matches addresses, not host
    names, and the broker's and object store's addresses are the client's to give
    (``cluster.egress_cidrs``); until they are, the port is the only limit (docs/cluster.md)."""
    peers = (
        [k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
         for c in cidrs]
        if cidrs
        else None
    )  # fmt: skip
    return k8s.networking.v1.NetworkPolicy(
        logical,
        metadata=metadata(name, namespace, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_pods(pods),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=peers,
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p)
                        for p in sorted(set(ports))
                    ],
                )
            ],
        ),
        opts=opts,
    )
