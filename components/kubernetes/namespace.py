"""Kubernetes building block: the environment's namespace and what bounds everything in it.

:func:`create_namespace` makes ``<project>-<environment>`` with the Pod Security Standards'
``restricted`` level enforced (pinned to the cluster's minor, so a cluster upgrade cannot
silently change what is admitted) and audited and warned at the latest level; a ResourceQuota
sized from the capacity profile (:func:`quota_for`), so a runaway autoscaler or a mistaken
manifest cannot take the client's whole cluster; a LimitRange that gives any container without
resources (an injected sidecar) modest defaults, because the quota refuses pods without them;
and a default-deny NetworkPolicy, so every flow a pod has is one a later policy names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata, object_name
from components.spec import Capacity

PSS_LEVEL = "restricted"
# Room above the profile's ceiling: a rolling update surges 25 % (rounded up), and the quota
# must never be what stops a rollback or a scale-up during an incident.
QUOTA_HEADROOM = 1.5
ROLLING_SURGE = 0.25
# CPU limit per container as a multiple of its request (see components/kubernetes/workload.py).
CPU_LIMIT_FACTOR = 2
# What a container without resources of its own gets (the quota requires requests and limits).
DEFAULT_REQUEST = {"cpu": "50m", "memory": "64Mi"}
DEFAULT_LIMIT = {"cpu": "250m", "memory": "256Mi"}


@dataclass(frozen=True)
class Namespace:
    """The namespace (its name known at preview) and its guard rails."""

    name: str
    resource: k8s.core.v1.Namespace
    quota: k8s.core.v1.ResourceQuota
    limit_range: k8s.core.v1.LimitRange
    default_deny: k8s.networking.v1.NetworkPolicy


def pod_security_labels(kubernetes_version: str) -> dict[str, str]:
    """Pod Security Admission labels: restricted enforced at ``v<minor>``, audited and warned."""
    labels = {
        f"pod-security.kubernetes.io/{mode}": PSS_LEVEL for mode in ("enforce", "audit", "warn")
    }
    labels["pod-security.kubernetes.io/enforce-version"] = f"v{kubernetes_version}"
    return labels


def quota_for(capacity: Capacity, workloads: int, gpus: int) -> dict[str, str]:
    """The namespace's hard limits: ``workloads`` Deployments each at the profile's ceiling
    (``max_instances`` pods of ``cpu`` and ``memory_mb``), plus the rolling surge, plus
    headroom. Pods are counted with ``pods`` (non-terminal pods), not ``count/pods``: evicted
    pods linger in the Failed phase until garbage-collected and would otherwise hold quota
    during exactly the node drain that needs room."""
    per_workload = capacity.max_instances + math.ceil(capacity.max_instances * ROLLING_SURGE)
    pods = math.ceil(workloads * per_workload * QUOTA_HEADROOM)
    millicores = math.ceil(pods * capacity.cpu * 1000)
    memory = pods * capacity.memory_mb
    hard = {
        "pods": str(pods),
        "requests.cpu": f"{millicores}m",
        "limits.cpu": f"{millicores * CPU_LIMIT_FACTOR}m",
        "requests.memory": f"{memory}Mi",
        "limits.memory": f"{memory}Mi",
    }
    if gpus:
        hard["requests.nvidia.com/gpu"] = str(pods * gpus)
    return hard


def create_namespace(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    kubernetes_version: str,
    labels: Mapping[str, str],
    hard: Mapping[str, str],
    protect: bool,
) -> Namespace:
    """The namespace ``name`` (logical names ``<logical>-*``) with its quota ``hard``, default
    container resources and default-deny policy. ``protect``: deleting a namespace deletes
    everything in it, so a profile with deletion protection protects the namespace itself."""
    namespace = k8s.core.v1.Namespace(
        f"{logical}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, labels={**labels, **pod_security_labels(kubernetes_version)}
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=protect)),
    )
    # Every other object waits for the namespace (its name alone is known before it exists).
    inside = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    quota = k8s.core.v1.ResourceQuota(
        f"{logical}-quota",
        metadata=metadata(object_name(logical, "quota"), name, labels),
        spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=dict(hard)),
        opts=inside,
    )
    limit_range = k8s.core.v1.LimitRange(
        f"{logical}-defaults",
        metadata=metadata(object_name(logical, "defaults"), name, labels),
        spec=k8s.core.v1.LimitRangeSpecArgs(
            limits=[
                k8s.core.v1.LimitRangeItemArgs(
                    type="Container",
                    default_request=dict(DEFAULT_REQUEST),
                    default=dict(DEFAULT_LIMIT),
                )
            ]
        ),
        opts=inside,
    )
    # No rules: nothing in, nothing out, until network.py names a flow.
    default_deny = k8s.networking.v1.NetworkPolicy(
        f"{logical}-default-deny",
        metadata=metadata(object_name(logical, "default-deny"), name, labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Ingress", "Egress"],
        ),
        opts=inside,
    )
    return Namespace(name, namespace, quota, limit_range, default_deny)
