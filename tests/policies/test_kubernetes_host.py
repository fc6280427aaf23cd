"""k8s-no-privileged-or-host-namespaces: the hardened pod passes; privileged containers (main,
init or ephemeral), host namespaces, host paths and host ports each fail it."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules.kubernetes import host
from tests.policies.test_kubernetes_common import (
    DEPLOYMENT,
    INFERENCE_SERVICE,
    POD_AT,
    at,
    captured,
    changed,
    findings,
    judge,
    waiver,
)

RULE = host.no_privileged_or_host_namespaces
HOST_PATH = [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]

# (pod-relative path, value, what the one message must say)
CASES: dict[str, tuple[str, Any, str]] = {
    "privileged": (
        "containers.0.securityContext.privileged",
        True,
        'container "server" is privileged',
    ),
    "privileged-init": (
        "initContainers.0.securityContext.privileged",
        True,
        'init container "fetch-model" is privileged',
    ),
    "privileged-ephemeral": (
        "ephemeralContainers",
        [{"name": "debug", "image": "busybox", "securityContext": {"privileged": True}}],
        'ephemeral container "debug" is privileged',
    ),
    "host-network": ("hostNetwork", True, "`hostNetwork` = true"),
    "host-pid": ("hostPID", True, "`hostPID` = true"),
    "host-ipc": ("hostIPC", True, "`hostIPC` = true"),
    "host-path": (
        "volumes",
        HOST_PATH,
        'volume "docker" mounts the node\'s "/var/run/docker.sock"',
    ),
    "host-port": ("containers.0.ports.0.hostPort", 8080, "binds node port 8080"),
}


@pytest.mark.parametrize("kind", sorted(POD_AT))
def test_the_hardened_pod_reaches_nothing_of_its_node(kind: str) -> None:
    assert judge(RULE, [captured(kind)]) == set()


@pytest.mark.parametrize(("path", "value", "says"), CASES.values(), ids=CASES.keys())
def test_each_way_into_the_node_fails(path: str, value: Any, says: str) -> None:
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, path): value})
    found = findings(RULE, [deployment])
    assert len(found) == 1 and found[0][0] == "scorer", found
    assert says in found[0][1], found[0][1]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("containers.0.securityContext.privileged", False),
        ("hostNetwork", False),
        ("containers.0.ports.0.hostPort", 0),
    ],
)
def test_the_safe_values_written_out_pass(path: str, value: Any) -> None:
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, path): value})
    assert judge(RULE, [deployment]) == set()


def test_a_cronjob_sharing_the_host_network_fails() -> None:
    kind = "kubernetes:batch/v1:CronJob"
    assert judge(RULE, [changed(captured(kind), **{at(kind, "hostNetwork"): True})]) == {"scorer"}


@pytest.mark.parametrize(("path", "value", "says"), CASES.values(), ids=CASES.keys())
def test_an_inference_service_predictor_reaching_its_node_fails(
    path: str, value: Any, says: str
) -> None:
    isvc = changed(captured(INFERENCE_SERVICE), **{at(INFERENCE_SERVICE, path): value})
    ((name, message),) = findings(RULE, [isvc])
    assert name == "scorer" and says in message, message


def test_a_waived_node_agent_is_skipped() -> None:
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, "hostPID"): True})
    assert judge(RULE, [deployment], waiver("scorer")) == set()
