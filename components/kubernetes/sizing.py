"""Hardware for one environment of the kubernetes target: what its stack requests at the ceiling
and how many nodes of which size hold that with a node to spare.

Pure arithmetic over a :class:`~components.spec.DeploymentSpec` (no pulumi, nothing but
``components.spec``), so the numbers in docs/patterns/kubernetes.md come from the same function
a test holds them to. The rule, step by step:

1. **Model pods.** The floor is ``capacity.min_instances`` (0 for event-driven workers whose
   profile scales to zero: KEDA stops the last one), the ceiling ``capacity.max_instances``.
2. **The candidate.** A pattern that serves a candidate beside the stable version
   (``CANDIDATE_PATTERNS``; on a cluster: api-first) runs the candidate's own Deployment at its
   floor, at least one pod, while a rollout lasts. The ceiling is sized with it, because a
   rollout can start while the stable version is at its ceiling.
3. **The gateway's share.** A pattern with a gateway (``GATEWAY_PATTERNS``) gets its own
   Gateway, and Envoy Gateway runs one proxy Deployment per Gateway. We count
   GATEWAY_PROXY_REPLICAS proxies per stack at Envoy Gateway's default requests (PROXY_*).
4. **Requests, not limits.** The scheduler places pods by their requests: vCPU and memory are
   the sum of requests (workload.py requests memory equal to its limit; the CPU limit above the
   request is burst the quota bounds, not capacity reserved on a node).
5. **Nodes, N+1.** For each node shape of a small table, the fewest nodes ``n`` on which every
   node can hold its even share of the ceiling (``ceil(pods / n)`` model pods and
   ``ceil(proxies / n)`` proxies) within the node's allocatable resources (the shape less
   NODE_RESERVED_*); then one more node, so a drain or a failure of any node (they are all the
   same size, so the largest) leaves ``n`` nodes that still hold the ceiling. The shape chosen
   is the one with the least hardware in total, spare included (GPUs, then vCPU, then nodes).

Out of scope, and said so in the docs: the control plane, the cluster's own add-ons
(Prometheus, Envoy Gateway's controller, cert-manager, External Secrets, KEDA), and a rolling
update's surge (``maxUnavailable: 0``: a surge pod that finds no room waits, serving capacity
never drops).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from components.spec import (
    CANDIDATE_PATTERNS,
    GATEWAY_PATTERNS,
    DeploymentSpec,
    Environment,
    Pattern,
)

MIB_PER_GIB = 1024
# Envoy Gateway's default requests for a proxy pod (gateway.envoyproxy.io/v1alpha1, the
# constants in api/v1alpha1/shared_types.go): the envoy container 100m and 512Mi, its
# shutdown-manager sidecar 10m and 32Mi. A client that sizes proxies in its EnvoyProxy
# resource replaces these two figures.
PROXY_MILLICORES = 100 + 10
PROXY_MIB = 512 + 32
# Proxies per stack's Gateway: Envoy Gateway's default is one; two, so a node drain never takes
# the only path in (set in the GatewayClass's EnvoyProxy, the client's platform team's choice).
GATEWAY_PROXY_REPLICAS = 2
# What a node keeps for itself before pods: kubelet and system reservations, the eviction
# threshold, and the DaemonSets every node runs (CNI, kube-proxy, node-exporter, a log agent;
# the GPU operator's device plugin on GPU nodes). Deliberately round and on the safe side.
NODE_RESERVED_MILLICORES = 1000
NODE_RESERVED_MIB = 4 * MIB_PER_GIB
# Nodes beyond the load: losing any one node still leaves room for the ceiling.
SPARE_NODES = 1


@dataclass(frozen=True)
class NodeShape:
    """A node size: vCPU, memory and GPUs (``nvidia.com/gpu``)."""

    vcpu: int
    memory_gib: int
    gpus: int = 0

    @property
    def allocatable_millicores(self) -> int:
        """vCPU left for pods, in millicores."""
        return self.vcpu * 1000 - NODE_RESERVED_MILLICORES

    @property
    def allocatable_mib(self) -> int:
        """Memory left for pods, in MiB."""
        return self.memory_gib * MIB_PER_GIB - NODE_RESERVED_MIB

    @property
    def label(self) -> str:
        """``8 vCPU / 32 GiB`` (and ``/ 1 GPU`` on a GPU node)."""
        base = f"{self.vcpu} vCPU / {self.memory_gib} GiB"
        return f"{base} / {self.gpus} GPU" if self.gpus else base


# General-purpose servers and VMs (4 GiB per vCPU), the shapes most clusters are built from.
NODE_SHAPES: tuple[NodeShape, ...] = tuple(NodeShape(v, 4 * v) for v in (4, 8, 16, 32, 64))
# GPU servers: 8 vCPU and 64 GiB per GPU, the usual balance of 1-, 2-, 4- and 8-GPU machines.
GPU_NODE_SHAPES: tuple[NodeShape, ...] = tuple(NodeShape(8 * g, 64 * g, g) for g in (1, 2, 4, 8))


@dataclass(frozen=True)
class Demand:
    """What must fit at the ceiling: ``pods`` model pods of one size, ``proxies`` proxy pods.

    ``proxies`` counts only the proxies packed on the same nodes: GPU nodes carry the GPU
    operator's ``nvidia.com/gpu`` taint, which only the model pods tolerate, so on a GPU stack
    the proxies run on the cluster's general nodes and are not packed here.
    """

    pods: int
    pod_millicores: int
    pod_mib: int
    pod_gpus: int
    proxies: int


def fits(shape: NodeShape, nodes: int, demand: Demand) -> bool:
    """True when ``nodes`` nodes of ``shape`` each hold an even share of ``demand``: at most
    ``ceil(pods / nodes)`` model pods and ``ceil(proxies / nodes)`` proxies per node."""
    if nodes < 1:
        return False
    pods = math.ceil(demand.pods / nodes)
    proxies = math.ceil(demand.proxies / nodes)
    return (
        pods * demand.pod_millicores + proxies * PROXY_MILLICORES <= shape.allocatable_millicores
        and pods * demand.pod_mib + proxies * PROXY_MIB <= shape.allocatable_mib
        and pods * demand.pod_gpus <= shape.gpus
    )


def nodes_for(shape: NodeShape, demand: Demand) -> int | None:
    """The fewest nodes of ``shape`` that hold ``demand`` (:func:`fits`), or None when a single
    pod is larger than the node. One pod per node is the most spreading can give, so beyond
    ``max(pods, proxies)`` nodes nothing changes."""
    most = max(demand.pods, demand.proxies, 1)
    return next((n for n in range(1, most + 1) if fits(shape, n, demand)), None)


@dataclass(frozen=True)
class ClusterSizing:
    """One environment's stack at its ceiling, and the nodes recommended for it.

    ``vcpu_millicores``, ``memory_mib`` and ``gpus`` are requests at the ceiling: model pods at
    ``pods_max``, the candidate's ``canary_pods`` and the gateway's ``proxy_replicas``.
    ``nodes`` = ``nodes_for_load`` + SPARE_NODES of ``node``.
    """

    environment: Environment
    pattern: Pattern
    pods_min: int
    pods_max: int
    canary_pods: int
    proxy_replicas: int
    vcpu_millicores: int
    memory_mib: int
    gpus: int
    node: NodeShape
    nodes_for_load: int
    nodes: int

    @property
    def pods_ceiling(self) -> int:
        """Model pods at the ceiling during a rollout: the stable's maximum plus the candidate."""
        return self.pods_max + self.canary_pods

    @property
    def vcpu(self) -> float:
        """vCPU requested at the ceiling."""
        return self.vcpu_millicores / 1000

    @property
    def memory_gib(self) -> float:
        """Memory requested at the ceiling, GiB."""
        return self.memory_mib / MIB_PER_GIB


def _floor(spec: DeploymentSpec) -> int:
    # Only KEDA-scaled workers stop at zero; an HPA (serving) never goes below one.
    if spec.pattern is Pattern.EVENT_DRIVEN and spec.capacity.scale_to_zero:
        return 0
    return spec.capacity.min_instances


def _canary_pods(spec: DeploymentSpec) -> int:
    return max(spec.capacity.min_instances, 1) if spec.pattern in CANDIDATE_PATTERNS else 0


def cluster_sizing(spec: DeploymentSpec) -> ClusterSizing:
    """The sizing of ``spec``'s stack (the module docstring gives the rule).

    ValueError when ``spec`` is not for the kubernetes target, or when one model pod is larger
    than every node shape (it cannot be, within the spec's bounds: 16 vCPU, 64 GiB, 8 GPUs).
    """
    if spec.cluster is None:
        raise ValueError(f"{spec.cloud.value}: sizing is for the kubernetes target's stacks")
    capacity = spec.capacity
    gpus_per_pod = spec.cluster.gpus
    canary = _canary_pods(spec)
    proxies = GATEWAY_PROXY_REPLICAS if spec.pattern in GATEWAY_PATTERNS else 0
    pods = capacity.max_instances + canary
    pod_millicores = round(capacity.cpu * 1000)  # as workload.cpu_quantity requests it
    demand = Demand(
        pods=pods,
        pod_millicores=pod_millicores,
        pod_mib=capacity.memory_mb,
        pod_gpus=gpus_per_pod,
        proxies=0 if gpus_per_pod else proxies,
    )
    shapes = GPU_NODE_SHAPES if gpus_per_pod else NODE_SHAPES
    options = [(shape, n) for shape in shapes if (n := nodes_for(shape, demand)) is not None]
    if not options:
        raise ValueError(
            f"{spec.environment.value}: one model pod ({capacity.cpu} vCPU, "
            f"{capacity.memory_mb} MiB, {gpus_per_pod} GPUs) is larger than every node shape"
        )

    def hardware(option: tuple[NodeShape, int]) -> tuple[int, int, int]:
        shape, n = option
        total = n + SPARE_NODES
        return (total * shape.gpus, total * shape.vcpu, total)

    node, load = min(options, key=hardware)
    return ClusterSizing(
        environment=spec.environment,
        pattern=spec.pattern,
        pods_min=_floor(spec),
        pods_max=capacity.max_instances,
        canary_pods=canary,
        proxy_replicas=proxies,
        vcpu_millicores=pods * pod_millicores + proxies * PROXY_MILLICORES,
        memory_mib=pods * capacity.memory_mb + proxies * PROXY_MIB,
        gpus=pods * gpus_per_pod,
        node=node,
        nodes_for_load=load,
        nodes=load + SPARE_NODES,
    )


def sizing_table(specs: Mapping[Environment, DeploymentSpec]) -> str:
    """A Markdown table of :func:`cluster_sizing` for ``specs``, one row per environment in
    dev, staging, prod order (no trailing newline): what docs/patterns/kubernetes.md shows."""
    rows = [
        "| environment | model pods (floor–ceiling) | vCPU requested | memory GiB requested "
        "| GPUs | nodes (N+1) |",
        "|---|---|---|---|---|---|",
    ]
    for environment in Environment:
        if environment not in specs:
            continue
        s = cluster_sizing(specs[environment])
        pods = f"{s.pods_min}–{s.pods_max}"
        if s.canary_pods:
            pods += f" (+{s.canary_pods} candidate)"
        rows.append(
            f"| {environment.value} | {pods} | {s.vcpu:.2f} | {s.memory_gib:.2f} | {s.gpus} "
            f"| {s.nodes} × {s.node.label} ({s.nodes_for_load} + {SPARE_NODES} spare) |"
        )
    return "\n".join(rows)
