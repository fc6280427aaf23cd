"""The kubernetes target's hardware arithmetic (components/kubernetes/sizing.py), on the example
stacks of every environment, and the docs page that quotes it (so the page cannot drift)."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

from components.kubernetes import sizing
from components.kubernetes.sizing import (
    GATEWAY_PROXY_REPLICAS,
    PROXY_MIB,
    PROXY_MILLICORES,
    SPARE_NODES,
    ClusterSizing,
    cluster_sizing,
    sizing_table,
)
from components.spec import (
    CLUSTER_PATTERNS,
    SUPPORTED_KUBERNETES_VERSIONS,
    Cloud,
    DeploymentSpec,
    Environment,
    Pattern,
)
from templates.answers import example_answers
from templates.generator import plan_project
from tests.conftest import make_spec

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "patterns" / "kubernetes.md"
K8S = Cloud.KUBERNETES
PATTERNS = sorted(CLUSTER_PATTERNS, key=lambda p: p.value)


def _block(text: str, name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n?(.*?)\n?<!-- {name}:end -->", text, re.S)
    assert match, f"docs/patterns/kubernetes.md has no {name} block"
    return match.group(1)


def _even_share_fits(s: ClusterSizing, spec: DeploymentSpec, nodes: int) -> bool:
    """Written out here rather than calling sizing.fits: each of ``nodes`` nodes takes its even
    share of the ceiling (proxies stay off GPU nodes) within the node's allocatable resources."""
    pods = math.ceil(s.pods_ceiling / nodes)
    proxies = 0 if spec.cluster and spec.cluster.gpus else math.ceil(s.proxy_replicas / nodes)
    cpu = pods * round(spec.capacity.cpu * 1000) + proxies * PROXY_MILLICORES
    mib = pods * spec.capacity.memory_mb + proxies * PROXY_MIB
    gpus = pods * (spec.cluster.gpus if spec.cluster else 0)
    node = s.node
    return cpu <= node.allocatable_millicores and mib <= node.allocatable_mib and gpus <= node.gpus


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("env", list(Environment))
def test_the_ceiling_is_never_below_the_floor(pattern: Pattern, env: Environment) -> None:
    spec = make_spec(K8S, pattern, env)
    s = cluster_sizing(spec)
    assert s.pods_max == spec.capacity.max_instances
    assert s.pods_min <= s.pods_max <= s.pods_ceiling
    # Only KEDA-scaled workers stop at zero; serving keeps the profile's floor.
    stops = pattern is Pattern.EVENT_DRIVEN and spec.capacity.scale_to_zero
    assert s.pods_min == (0 if stops else spec.capacity.min_instances)


@pytest.mark.parametrize("env", list(Environment))
def test_a_candidate_adds_pods_and_a_gateway_adds_proxies_only_for_api_first(
    env: Environment,
) -> None:
    api = cluster_sizing(make_spec(K8S, Pattern.API_FIRST, env))
    worker = cluster_sizing(make_spec(K8S, Pattern.EVENT_DRIVEN, env))
    floor = make_spec(K8S, Pattern.API_FIRST, env).capacity.min_instances
    assert api.canary_pods == max(floor, 1) >= 1
    assert api.pods_ceiling == api.pods_max + api.canary_pods
    assert api.proxy_replicas == GATEWAY_PROXY_REPLICAS
    assert worker.canary_pods == 0 and worker.proxy_replicas == 0
    assert worker.pods_ceiling == worker.pods_max


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("env", list(Environment))
def test_requests_are_the_sum_of_the_pods_at_the_ceiling(
    pattern: Pattern, env: Environment
) -> None:
    spec = make_spec(K8S, pattern, env)
    s = cluster_sizing(spec)
    pods = spec.capacity.max_instances + s.canary_pods
    assert s.vcpu_millicores == pods * round(spec.capacity.cpu * 1000) + (
        s.proxy_replicas * PROXY_MILLICORES
    )
    assert s.memory_mib == pods * spec.capacity.memory_mb + s.proxy_replicas * PROXY_MIB
    assert s.gpus == 0  # the example stacks run on CPU


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("env", list(Environment))
@pytest.mark.parametrize("gpus", [0, 1, 2])
def test_losing_any_node_still_fits_the_ceiling(
    pattern: Pattern, env: Environment, gpus: int
) -> None:
    spec = make_spec(K8S, pattern, env, {"cluster": {"gpus": gpus}})
    s = cluster_sizing(spec)
    assert s.nodes == s.nodes_for_load + SPARE_NODES >= 2
    # N+1: all nodes are one shape, so losing the largest leaves nodes_for_load of them.
    assert _even_share_fits(s, spec, s.nodes - SPARE_NODES)
    # ... and no node beyond the spare: one fewer for the load would not hold the ceiling.
    assert s.nodes_for_load == 1 or not _even_share_fits(s, spec, s.nodes_for_load - 1)
    # The sums agree with the per-node shares.
    remaining = s.nodes - SPARE_NODES
    packed_proxies = 0 if gpus else s.proxy_replicas
    assert remaining * s.node.allocatable_millicores >= (
        s.pods_ceiling * round(spec.capacity.cpu * 1000) + packed_proxies * PROXY_MILLICORES
    )
    assert remaining * s.node.allocatable_mib >= (
        s.pods_ceiling * spec.capacity.memory_mb + packed_proxies * PROXY_MIB
    )
    assert remaining * s.node.gpus >= s.gpus


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("env", list(Environment))
def test_the_chosen_shape_is_the_least_hardware(pattern: Pattern, env: Environment) -> None:
    spec = make_spec(K8S, pattern, env)
    s = cluster_sizing(spec)
    chosen = (s.nodes * s.node.gpus, s.nodes * s.node.vcpu, s.nodes)
    demand = sizing.Demand(
        pods=s.pods_ceiling,
        pod_millicores=round(spec.capacity.cpu * 1000),
        pod_mib=spec.capacity.memory_mb,
        pod_gpus=0,
        proxies=s.proxy_replicas,
    )
    for shape in sizing.NODE_SHAPES:
        n = sizing.nodes_for(shape, demand)
        if n is not None:
            total = n + SPARE_NODES
            assert chosen <= (total * shape.gpus, total * shape.vcpu, total)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("env", list(Environment))
def test_gpus_scale_with_pods(pattern: Pattern, env: Environment) -> None:
    one = cluster_sizing(make_spec(K8S, pattern, env, {"cluster": {"gpus": 1}}))
    two = cluster_sizing(make_spec(K8S, pattern, env, {"cluster": {"gpus": 2}}))
    assert one.gpus == one.pods_ceiling  # the candidate's pods need GPUs too
    assert two.gpus == 2 * one.gpus
    assert one.node.gpus >= 1 and two.node.gpus >= 2
    # More GPUs per pod never needs fewer GPUs in the cluster.
    assert two.nodes * two.node.gpus >= one.nodes * one.node.gpus


def test_a_cloud_stack_is_refused() -> None:
    with pytest.raises(ValueError, match="kubernetes target"):
        cluster_sizing(make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV))


def test_the_docs_sizing_block_is_the_functions_output() -> None:
    specs = plan_project(example_answers(K8S, Pattern.API_FIRST)).specs
    table = sizing_table(specs)
    assert _block(DOC.read_text(), "sizing") == table
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == [
        e.value for e in Environment
    ]


def test_the_docs_version_list_is_the_supported_one() -> None:
    listed = [v.strip() for v in _block(DOC.read_text(), "versions").split(",")]
    assert tuple(listed) == SUPPORTED_KUBERNETES_VERSIONS


def test_the_patterns_overview_links_the_page() -> None:
    assert "(patterns/kubernetes.md)" in (ROOT / "docs" / "patterns.md").read_text()


def test_sizing_imports_only_the_spec() -> None:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(Path(sizing.__file__).read_text())):
        if isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    assert not any(m.split(".")[0].startswith("pulumi") for m in modules)
    assert {m for m in modules if m.startswith("components")} == {"components.spec"}
