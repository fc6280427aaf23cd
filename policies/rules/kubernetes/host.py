"""Nothing in a pod reaches into its node: no privileged container, no host namespace, no host
path, no host port (the Pod Security Standards' baseline controls that matter for a workload)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from policies.rules.base import resource_rule
from policies.rules.kubernetes._common import (
    UNKNOWN,
    WORKLOADS,
    containers,
    items,
    pod_check,
    read,
    show,
)
from policies.rules.references import checkov, cis, pss

# Pod fields that share one of the node's namespaces, and what sharing it hands the pod.
HOST_NAMESPACES: dict[str, str] = {
    "hostNetwork": "the node's network: every port on the node and traffic NetworkPolicies miss",
    "hostPID": "the node's processes: it can see and signal every process on the node",
    "hostIPC": "the node's IPC namespace: shared memory of every process on the node",
}


def _host_port(port: Any) -> Any:
    """A container port's hostPort when one is bound (unset and 0 bind none)."""
    value = read(port, "hostPort") if isinstance(port, Mapping) else None
    return None if value in (None, 0) else value


def _reaches_host(pod: Mapping[str, Any]) -> Iterator[str]:
    for field, shares in HOST_NAMESPACES.items():
        value = read(pod, field)
        if value is True:
            yield f"the pod sets `{field}` = true and so shares {shares}."
    for volume in items(read(pod, "volumes")):
        if isinstance(volume, Mapping) and read(volume, "hostPath") is not None:
            path = read(volume, "hostPath.path")
            yield (
                f"volume {show(read(volume, 'name'))} mounts the node's {show(path)} "
                "(`hostPath`): a container escapes to the node through it."
            )
    for container in containers(pod):
        if read(container.spec, "securityContext.privileged") is True:
            yield (
                f"{container.label} is privileged (`securityContext.privileged` = true): it "
                "holds every capability and every device of the node."
            )
        for port in items(read(container.spec, "ports")):
            bound = _host_port(port)
            if bound is not None and bound is not UNKNOWN:
                yield (
                    f"{container.label} binds node port {show(bound)} (`hostPort`): traffic "
                    "reaches it past the Service and the gateway."
                )


no_privileged_or_host_namespaces = resource_rule(
    "k8s-no-privileged-or-host-namespaces",
    "No container is privileged, and no pod shares the node's network, process or IPC "
    "namespace, mounts a host path or binds a host port.",
    types=WORKLOADS,
    check=pod_check(_reaches_host),
    severity=Severity.CRITICAL,
    tags=["least-privilege", "network-exposure"],
    references=[
        cis("kubernetes", "5.2.2"),
        cis("kubernetes", "5.2.3"),
        cis("kubernetes", "5.2.4"),
        cis("kubernetes", "5.2.5"),
        cis("kubernetes", "5.2.12"),
        cis("kubernetes", "5.2.13"),
        pss("baseline/privileged-containers"),
        pss("baseline/host-namespaces"),
        pss("baseline/hostpath-volumes"),
        pss("baseline/host-ports"),
        checkov("CKV_K8S_16"),
        checkov("CKV_K8S_17"),
        checkov("CKV_K8S_18"),
        checkov("CKV_K8S_19"),
        checkov("CKV_K8S_26"),
    ],
    remediation=(
        "Drop `privileged=True` from every container's security context and `host_network`, "
        "`host_pid` and `host_ipc` from the pod; use an emptyDir, a ConfigMap or a "
        "PersistentVolumeClaim instead of a `host_path` volume, and a Service (behind the "
        "cluster's ingress or gateway) instead of a `host_port`. Node agents that truly need "
        "the host belong to the cluster's operators, not to a client stack."
    ),
    since=3,
)
