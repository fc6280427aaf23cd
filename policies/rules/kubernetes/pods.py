"""What every container of a workload carries: the restricted security context, resource
requests and limits, and (on serving workloads) health probes.

The settings are one table (:data:`HARDENING`): each names where a container sets it, what it
must hold, and, where the pod's ``securityContext`` may set it for all containers, where the pod
does. A container's own value wins over the pod's, as in Kubernetes, so a container that turns
``runAsNonRoot`` off under a pod that turns it on is flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.kubernetes._common import (
    CONTAINERS,
    DEPLOYMENT,
    EPHEMERAL_CONTAINERS,
    INFERENCE_SERVICE,
    STATEFUL_SET,
    UNKNOWN,
    WORKLOADS,
    Container,
    containers,
    items,
    pod_check,
    read,
    show,
)
from policies.rules.references import checkov, cis, pss

# Seccomp profiles that filter system calls: the runtime's default, or one on the node.
_FILTERING_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})


def _is_true(value: Any) -> bool:
    return value is True


def _is_false(value: Any) -> bool:
    return value is False


def _drops_all(value: Any) -> bool:
    # "ALL" exactly: the runtime matches capability names case-sensitively.
    return any(cap == "ALL" for cap in items(value))


def _adds_none(value: Any) -> bool:
    return not any(True for _ in items(value))


def _filters_syscalls(value: Any) -> bool:
    return isinstance(value, str) and value in _FILTERING_SECCOMP


def _quantity(value: Any) -> bool:
    # Quantities arrive as strings ("500m", "1Gi") or numbers (floats on the wire).
    return (isinstance(value, str) and value != "") or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


@dataclass(frozen=True)
class Hardening:
    """One setting every container carries.

    ``path`` is read under the container; ``pod_path``, when the pod's securityContext can set
    it for every container, under the pod spec when the container leaves it unset. Ephemeral
    containers take no resources, so ``ephemeral`` is False for requests and limits.
    """

    path: str
    demand: str
    met: Callable[[Any], bool]
    pod_path: str | None = None
    ephemeral: bool = True

    def value(self, container: Container, pod: Mapping[str, Any]) -> Any:
        """The value in force for ``container``: its own, else the pod's."""
        own = read(container.spec, self.path)
        if own is None and self.pod_path is not None:
            return read(pod, self.pod_path)
        return own

    def message(self, container: Container, value: Any) -> str:
        """Why ``container`` fails this setting, and what to set."""
        where = f"`{self.path}`"
        if self.pod_path is not None:
            where += f" or the pod's `{self.pod_path}`"
        return f"{container.label}: needs {self.demand} ({where}); it is {show(value)}."


# Keyed by the setting's short name (the tests parametrize over these keys).
HARDENING: dict[str, Hardening] = {
    "runAsNonRoot": Hardening(
        "securityContext.runAsNonRoot",
        "`runAsNonRoot` = true",
        _is_true,
        pod_path="securityContext.runAsNonRoot",
    ),
    "allowPrivilegeEscalation": Hardening(
        "securityContext.allowPrivilegeEscalation",
        "`allowPrivilegeEscalation` = false",
        _is_false,
    ),
    "readOnlyRootFilesystem": Hardening(
        "securityContext.readOnlyRootFilesystem",
        "`readOnlyRootFilesystem` = true",
        _is_true,
    ),
    "capabilities.drop": Hardening(
        "securityContext.capabilities.drop",
        '`capabilities.drop` including "ALL"',
        _drops_all,
    ),
    "capabilities.add": Hardening(
        "securityContext.capabilities.add",
        "no `capabilities.add`",
        _adds_none,
    ),
    "seccompProfile": Hardening(
        "securityContext.seccompProfile.type",
        '`seccompProfile.type` = "RuntimeDefault" or "Localhost"',
        _filters_syscalls,
        pod_path="securityContext.seccompProfile.type",
    ),
    "requests.cpu": Hardening(
        "resources.requests.cpu", "a CPU request", _quantity, ephemeral=False
    ),
    "requests.memory": Hardening(
        "resources.requests.memory", "a memory request", _quantity, ephemeral=False
    ),
    "limits.cpu": Hardening("resources.limits.cpu", "a CPU limit", _quantity, ephemeral=False),
    "limits.memory": Hardening(
        "resources.limits.memory", "a memory limit", _quantity, ephemeral=False
    ),
}


def _unhardened(pod: Mapping[str, Any]) -> Iterator[str]:
    for container in containers(pod):
        for setting in HARDENING.values():
            if container.list_name == EPHEMERAL_CONTAINERS and not setting.ephemeral:
                continue
            value = setting.value(container, pod)
            if value is UNKNOWN:
                continue  # computed at deployment: the update run judges it
            if not setting.met(value):
                yield setting.message(container, value)


workload_hardened = resource_rule(
    "k8s-workload-hardened",
    "Every container of a workload runs as non-root, without privilege escalation, on a "
    "read-only root filesystem, with every capability dropped, a filtering seccomp profile, and "
    "CPU and memory requests and limits.",
    types=WORKLOADS,
    check=pod_check(_unhardened),
    severity=Severity.HIGH,
    tags=["least-privilege", "resilience"],
    references=[
        cis("kubernetes", "5.7.3"),
        pss("restricted/running-as-non-root"),
        pss("restricted/privilege-escalation"),
        pss("restricted/capabilities"),
        pss("restricted/seccomp"),
        cis("kubernetes", "5.2.6"),
        cis("kubernetes", "5.2.7"),
        cis("kubernetes", "5.2.9"),
        cis("kubernetes", "5.2.10"),
        cis("kubernetes", "5.7.2"),
        checkov("CKV_K8S_20"),
        checkov("CKV_K8S_22"),
        checkov("CKV_K8S_23"),
        checkov("CKV_K8S_25"),
        checkov("CKV_K8S_31"),
        checkov("CKV_K8S_37"),
        checkov("CKV_K8S_10"),
        checkov("CKV_K8S_11"),
        checkov("CKV_K8S_12"),
        checkov("CKV_K8S_13"),
    ],
    remediation=(
        "On the pod: `security_context=PodSecurityContextArgs(run_as_non_root=True, "
        'seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))`; on every container, init '
        "and ephemeral ones included: `security_context=SecurityContextArgs("
        "allow_privilege_escalation=False, read_only_root_filesystem=True, "
        'capabilities=CapabilitiesArgs(drop=["ALL"]))` with no `add`, and `resources` with '
        "`requests` and `limits` for cpu and memory (not on ephemeral containers, which take "
        "none). A process that writes files gets an emptyDir volume mounted where it writes."
    ),
    since=3,
)

# Workloads that serve traffic: the ones a Service routes to and a rollout replaces gradually
# (KServe runs its predictor as one: a Deployment in raw mode, a Knative revision otherwise).
SERVING: tuple[str, ...] = (DEPLOYMENT, STATEFUL_SET, INFERENCE_SERVICE)


# What a missing probe costs, for messages.
PROBES: dict[str, str] = {
    "readinessProbe": (
        "the Service sends it traffic before it answers, and a rollout carries on past a "
        "replica that never becomes ready"
    ),
    "livenessProbe": "a replica that hangs keeps its place and its share of traffic",
}


def _unprobed(pod: Mapping[str, Any]) -> Iterator[str]:
    # Main containers only: init containers run to completion before any probe would matter.
    for container in containers(pod, (CONTAINERS,)):
        for probe, cost in PROBES.items():
            value = read(container.spec, probe)
            if value is UNKNOWN or (isinstance(value, Mapping) and len(value) > 0):
                continue
            yield f"{container.label} has no `{probe}`: {cost}."


serving_probes = resource_rule(
    "k8s-serving-probes",
    "Every container of a serving workload (Deployment, StatefulSet, KServe InferenceService "
    "predictor) has a readiness and a liveness probe.",
    types=SERVING,
    check=pod_check(_unprobed),
    severity=Severity.MEDIUM,
    tags=["resilience", "monitoring"],
    references=[checkov("CKV_K8S_9"), checkov("CKV_K8S_8")],
    remediation=(
        "Give each container `readiness_probe` (the model is loaded and answers) and "
        "`liveness_probe` (the process still serves; a longer period and threshold than "
        'readiness), e.g. `ProbeArgs(http_get=HTTPGetActionArgs(path="/healthz", '
        'port="http"))`; a slow-loading model adds a `startup_probe` instead of a long delay.'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    since=3,
)
