"""What the Kubernetes rules share: type tokens, where each workload keeps its pod, its
containers, and reads that survive a preview.

pulumi_kubernetes registers every object as ``kubernetes:<group>/<version>:<Kind>`` (the core
group is spelled ``core``; a custom resource's group is its API group, e.g.
``kubernetes:gateway.networking.k8s.io/v1:Gateway``), with its inputs in Kubernetes wire form:
``apiVersion``, ``kind``, ``metadata``, ``spec``, camelCase keys. The rules read those inputs and
import no Kubernetes SDK (a generated project vendors the pack next to one SDK only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import ResourceCheck, canonical_type, prop_at

POD = "kubernetes:core/v1:Pod"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
REPLICATION_CONTROLLER = "kubernetes:core/v1:ReplicationController"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECRET = "kubernetes:core/v1:Secret"  # noqa: S105 - a type token
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
# Gateway API is a set of custom resources: v1 is GA, v1beta1 still served by its controllers.
GATEWAYS = (
    "kubernetes:gateway.networking.k8s.io/v1:Gateway",
    "kubernetes:gateway.networking.k8s.io/v1beta1:Gateway",
)
HTTP_ROUTES = (
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "kubernetes:gateway.networking.k8s.io/v1beta1:HTTPRoute",
)
# Envoy Gateway's policy attachment: authentication on a Gateway or an HTTPRoute.
SECURITY_POLICY = "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"
# KServe's model server: the predictor inlines a pod spec (containers, securityContext,
# serviceAccountName... directly under ``spec.predictor``).
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"

# Where each workload kind holds the pod it runs. Only the GA API versions: the beta ones
# (apps/v1beta2, extensions/v1beta1, batch/v1beta1) are gone from every cluster version the
# kubernetes target supports. A KServe InferenceService is judged on its predictor (the pod
# KServe runs the model in); its transformer and explainer, and a predictor given as a
# ``model`` for a ServingRuntime rather than as ``containers``, are not read.
POD_SPEC_PATHS: dict[str, str] = {
    POD: "spec",
    DEPLOYMENT: "spec.template.spec",
    STATEFUL_SET: "spec.template.spec",
    DAEMON_SET: "spec.template.spec",
    REPLICA_SET: "spec.template.spec",
    REPLICATION_CONTROLLER: "spec.template.spec",
    JOB: "spec.template.spec",
    CRON_JOB: "spec.jobTemplate.spec.template.spec",
    INFERENCE_SERVICE: "spec.predictor",
}
WORKLOADS: tuple[str, ...] = tuple(POD_SPEC_PATHS)

# The pod's container lists, and how a message names a container of each.
CONTAINERS = "containers"
INIT_CONTAINERS = "initContainers"
EPHEMERAL_CONTAINERS = "ephemeralContainers"
CONTAINER_LISTS: dict[str, str] = {
    CONTAINERS: "container",
    INIT_CONTAINERS: "init container",
    EPHEMERAL_CONTAINERS: "ephemeral container",
}


class Unknown:
    """A value a preview does not know yet (an Output of a resource still to be created)."""

    def __repr__(self) -> str:
        return "unknown"


UNKNOWN = Unknown()


def read(props: Mapping[str, Any], path: str) -> Any:
    """``prop_at`` that returns :data:`UNKNOWN` instead of raising on a preview's unknown: one
    computed value (an image digest from a build, a generated name) must not stop the whole rule,
    which the engine would report as a failed policy."""
    try:
        return prop_at(props, path)
    except UnknownValueError:
        return UNKNOWN


def items(value: Any) -> Iterator[Any]:
    """The known entries of a wire list (read-only Sequence proxies in the pack); an entry still
    unknown at preview is skipped, so is anything that is not a list."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return
    for index in range(len(value)):
        try:
            yield value[index]
        except UnknownValueError:
            continue


def entry(mapping: Any, key: str) -> Any:
    """``mapping[key]`` for a key that holds dots or slashes (a label, an annotation), None when
    absent, :data:`UNKNOWN` when unknown at preview."""
    if not isinstance(mapping, Mapping):
        return None
    try:
        # Not ``key in mapping`` first: ``in`` reads the value too (Mapping.__contains__), so
        # an unknown one would raise there, outside this guard.
        return mapping.get(key)
    except UnknownValueError:
        return UNKNOWN


@dataclass(frozen=True)
class Container:
    """One container of a pod: which list it sits in, its name and its wire spec."""

    list_name: str
    spec: Mapping[str, Any]

    @property
    def label(self) -> str:
        """How messages name it: ``container "app"``, ``init container "migrate"``."""
        name = read(self.spec, "name")
        shown = f'"{name}"' if isinstance(name, str) else "(unnamed)"
        return f"{CONTAINER_LISTS[self.list_name]} {shown}"


def pod_spec(props: Mapping[str, Any], resource_type: str) -> Mapping[str, Any] | None:
    """The pod spec a workload runs, or None when the kind runs none or it is unknown."""
    path = POD_SPEC_PATHS.get(canonical_type(resource_type))
    spec = read(props, path) if path else None
    return spec if isinstance(spec, Mapping) else None


def containers(
    pod: Mapping[str, Any], lists: Sequence[str] = tuple(CONTAINER_LISTS)
) -> Iterator[Container]:
    """The pod's containers in ``lists`` (every list by default: a setting left off an init or
    ephemeral container is as open as one left off the main container)."""
    for list_name in lists:
        for spec in items(read(pod, list_name)):
            if isinstance(spec, Mapping):
                yield Container(list_name, spec)


PodCheck = Callable[[Mapping[str, Any]], Iterator[str]]


def pod_check(check: PodCheck) -> ResourceCheck:
    """A resource check that runs ``check(pod_spec)`` on whatever pod the workload runs."""

    def run(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
        pod = pod_spec(props, args.resource_type)
        if pod is not None:
            yield from check(pod)

    return run


def show(value: Any) -> str:
    """A wire value as a user would write it (lists too; the pack's list proxies print badly)."""
    if value is None:
        return "unset"
    if value is UNKNOWN:
        return "unknown until deployed"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Sequence):
        return "[" + ", ".join(show(v) for v in items(value)) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # numbers arrive as floats: port 8080.0 reads as 8080
    return str(value)
