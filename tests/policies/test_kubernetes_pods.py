"""k8s-workload-hardened and k8s-serving-probes on real pulumi_kubernetes workloads: the
hardened pod passes on every kind, and removing or altering any one setting fails it."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

from policies.rules.kubernetes import pods
from tests.policies.test_kubernetes_common import (
    DEPLOYMENT,
    INFERENCE_SERVICE,
    POD_AT,
    REMOVE,
    at,
    captured,
    changed,
    findings,
    judge,
    waiver,
)

HARDENED = pods.workload_hardened
PROBES = pods.serving_probes
MAIN = ("containers.0", 'container "server"')
INIT = ("initContainers.0", 'init container "fetch-model"')

# One failing change per case: (setting, where, path under the container or the pod, value).
# "container" cases run on the main and on the init container; "pod" cases change the pod's
# securityContext, which both containers inherit.
UNHARDENING: list[tuple[str, str, str, Any]] = [
    ("runAsNonRoot", "pod", "securityContext.runAsNonRoot", REMOVE),
    ("runAsNonRoot", "pod", "securityContext.runAsNonRoot", False),
    ("runAsNonRoot", "container", "securityContext.runAsNonRoot", False),
    ("allowPrivilegeEscalation", "container", "securityContext.allowPrivilegeEscalation", REMOVE),
    ("allowPrivilegeEscalation", "container", "securityContext.allowPrivilegeEscalation", True),
    ("readOnlyRootFilesystem", "container", "securityContext.readOnlyRootFilesystem", REMOVE),
    ("readOnlyRootFilesystem", "container", "securityContext.readOnlyRootFilesystem", False),
    ("capabilities.drop", "container", "securityContext.capabilities.drop", REMOVE),
    ("capabilities.drop", "container", "securityContext.capabilities.drop", ["NET_RAW"]),
    ("capabilities.drop", "container", "securityContext.capabilities.drop", ["all"]),
    ("capabilities.add", "container", "securityContext.capabilities.add", ["NET_BIND_SERVICE"]),
    ("seccompProfile", "pod", "securityContext.seccompProfile", REMOVE),
    ("seccompProfile", "pod", "securityContext.seccompProfile.type", "Unconfined"),
    ("seccompProfile", "container", "securityContext.seccompProfile", {"type": "Unconfined"}),
    ("requests.cpu", "container", "resources.requests.cpu", REMOVE),
    ("requests.memory", "container", "resources.requests.memory", REMOVE),
    ("limits.cpu", "container", "resources.limits.cpu", REMOVE),
    ("limits.memory", "container", "resources.limits.memory", REMOVE),
    ("limits.memory", "container", "resources.limits.memory", ""),
]


def test_every_hardening_setting_has_failing_cases() -> None:
    assert {setting for setting, *_ in UNHARDENING} == set(pods.HARDENING)


@pytest.mark.parametrize("kind", sorted(POD_AT))
def test_the_hardened_pod_passes_on_every_kind(kind: str) -> None:
    assert judge(HARDENED, [captured(kind)]) == set()


def _cases() -> list[Any]:
    cases = []
    for setting, where, path, value in UNHARDENING:
        shown = "removed" if value is REMOVE else repr(value)
        if where == "pod":
            cases.append(pytest.param(setting, path, value, [MAIN, INIT], id=f"pod-{path}-{shown}"))
            continue
        for container in (MAIN, INIT):
            full = f"{container[0]}.{path}"
            cases.append(pytest.param(setting, full, value, [container], id=f"{full}-{shown}"))
    return cases


@pytest.mark.parametrize(("setting", "path", "value", "flagged"), _cases())
def test_a_deployment_missing_any_one_setting_fails(
    setting: str, path: str, value: Any, flagged: list[tuple[str, str]]
) -> None:
    """One change, one finding per affected container, naming it and the setting."""
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, path): value})
    found = findings(HARDENED, [deployment])
    assert {name for name, _ in found} == {"scorer"}
    messages = [message for _, message in found]
    assert len(messages) == len(flagged), messages
    expected_path = pods.HARDENING[setting].path
    for (_, label), message in zip(
        sorted(flagged, key=lambda c: c[1]), sorted(messages), strict=True
    ):
        assert message.startswith(f"{label}: "), message
        assert f"`{expected_path}`" in message, message


def test_removing_the_whole_resources_block_names_each_missing_quantity() -> None:
    deployment = changed(captured(DEPLOYMENT), **{at(DEPLOYMENT, "containers.0.resources"): REMOVE})
    messages = [m for _, m in findings(HARDENED, [deployment])]
    assert len(messages) == 4
    for quantity in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        assert any(f"`resources.{quantity}`" in m for m in messages), quantity


@pytest.mark.parametrize("kind", sorted(POD_AT))
def test_every_kind_is_read_where_it_keeps_its_pod(kind: str) -> None:
    path = "containers.0.securityContext.readOnlyRootFilesystem"
    workload = changed(captured(kind), **{at(kind, path): REMOVE})
    assert judge(HARDENED, [workload]) == {"scorer"}


def test_pod_level_settings_may_sit_on_each_container_instead() -> None:
    """runAsNonRoot and seccomp set per container (none on the pod) pass."""
    change: dict[str, Any] = {at(DEPLOYMENT, "securityContext"): REMOVE}
    for container, _ in (MAIN, INIT):
        change[at(DEPLOYMENT, f"{container}.securityContext.runAsNonRoot")] = True
        change[at(DEPLOYMENT, f"{container}.securityContext.seccompProfile")] = {
            "type": "Localhost",
            "localhostProfile": "profiles/scorer.json",
        }
    assert judge(HARDENED, [changed(captured(DEPLOYMENT), **change)]) == set()


def _ephemeral(**security: Any) -> dict[str, Any]:
    """A debug container as `kubectl debug` would add it, hardened but without resources
    (ephemeral containers take none)."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    context.update(security)
    return {"name": "debug", "image": "busybox@sha256:" + "0" * 64, "securityContext": context}


def test_ephemeral_containers_are_held_to_the_security_settings_not_to_resources() -> None:
    path = at(DEPLOYMENT, "ephemeralContainers")
    compliant = changed(captured(DEPLOYMENT), **{path: [_ephemeral()]})
    assert judge(HARDENED, [compliant]) == set()
    writable = changed(captured(DEPLOYMENT), **{path: [_ephemeral(readOnlyRootFilesystem=False)]})
    assert [m for _, m in findings(HARDENED, [writable])] == [
        'ephemeral container "debug": needs `readOnlyRootFilesystem` = true '
        "(`securityContext.readOnlyRootFilesystem`); it is false."
    ]


def test_a_value_unknown_at_preview_is_left_to_the_update_run() -> None:
    path = at(DEPLOYMENT, "containers.0.securityContext.readOnlyRootFilesystem")
    deployment = changed(captured(DEPLOYMENT), **{path: UNKNOWN_BOOLEAN_VALUE})
    assert judge(HARDENED, [deployment]) == set()


def test_a_waived_workload_is_skipped() -> None:
    path = at(DEPLOYMENT, "containers.0.securityContext.readOnlyRootFilesystem")
    deployment = changed(captured(DEPLOYMENT), **{path: False})
    assert judge(HARDENED, [deployment], waiver("scorer")) == set()


def test_an_inference_service_predictor_is_held_to_the_pod_settings() -> None:
    """KServe: the pod-level fields sit on ``spec.predictor`` itself."""
    path = at(INFERENCE_SERVICE, "securityContext.runAsNonRoot")
    assert path == "spec__predictor__securityContext__runAsNonRoot"
    isvc = changed(captured(INFERENCE_SERVICE), **{path: False})
    assert {m.split(":")[0] for _, m in findings(HARDENED, [isvc])} == {MAIN[1], INIT[1]}


# ---------------------------------------------------------------------------- probes
@pytest.mark.parametrize("kind", [DEPLOYMENT, "kubernetes:apps/v1:StatefulSet", INFERENCE_SERVICE])
@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_a_serving_container_without_a_probe_fails(kind: str, probe: str) -> None:
    assert judge(PROBES, [captured(kind)]) == set()
    workload = changed(captured(kind), **{at(kind, f"containers.0.{probe}"): REMOVE})
    assert findings(PROBES, [workload]) == [
        ("scorer", f'container "server" has no `{probe}`: {pods.PROBES[probe]}.')
    ]


@pytest.mark.parametrize(
    "kind", ["kubernetes:apps/v1:DaemonSet", "kubernetes:batch/v1:Job", "kubernetes:core/v1:Pod"]
)
def test_probes_are_asked_of_serving_workloads_only(kind: str) -> None:
    change = {at(kind, f"containers.0.{p}"): REMOVE for p in ("readinessProbe", "livenessProbe")}
    assert judge(PROBES, [changed(captured(kind), **change)]) == set()


def test_init_containers_need_no_probes() -> None:
    init = captured(DEPLOYMENT).inputs["spec"]["template"]["spec"]["initContainers"][0]
    assert "readinessProbe" not in init and "livenessProbe" not in init
    assert judge(PROBES, [captured(DEPLOYMENT)]) == set()
