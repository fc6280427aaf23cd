"""Azure ML compute rules (policies/rules/azure/ml_compute.py): notebooks (ComputeInstance) and
training clusters (AmlCompute) as small real programs, one change per case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.machinelearningservices as ml
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import ml_compute
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
SUBNET = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/ml"
)
BY_NAME: dict[str, Policy] = {p.name: p for p in vars(ml_compute).values() if isinstance(p, Policy)}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def instance(disable_local_auth: bool | None = True, **props: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "vm_size": "Standard_DS3_v2",
        "enable_node_public_ip": False,
        "subnet": ml.ResourceIdArgs(id=SUBNET),
    }
    return lambda: ml.Compute(
        TARGET,
        resource_group_name=RG,
        workspace_name="ws",
        properties=ml.ComputeInstanceArgs(
            compute_type="ComputeInstance",
            disable_local_auth=disable_local_auth,
            properties=ml.ComputeInstancePropertiesArgs(**{**args, **props}),
        ),
    )


def cluster(disable_local_auth: bool | None = True, **props: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "vm_size": "Standard_NC6s_v3",
        "enable_node_public_ip": False,
        "remote_login_port_public_access": "Disabled",
        "subnet": ml.ResourceIdArgs(id=SUBNET),
        "scale_settings": ml.ScaleSettingsArgs(max_node_count=4, min_node_count=0),
    }
    return lambda: ml.Compute(
        TARGET,
        resource_group_name=RG,
        workspace_name="ws",
        properties=ml.AmlComputeArgs(
            compute_type="AmlCompute",
            disable_local_auth=disable_local_auth,
            properties=ml.AmlComputePropertiesArgs(**{**args, **props}),
        ),
    )


def attached_aks() -> object:
    """Other compute kinds (attached Kubernetes, Synapse) are not judged by these rules."""
    return ml.Compute(
        TARGET,
        resource_group_name=RG,
        workspace_name="ws",
        properties=ml.AKSArgs(compute_type="AKS", resource_id="/subscriptions/s/aks"),
    )


Case = tuple[Callable[[], object], bool]
PUBLIC_IP = "azure-ml-compute-disable-node-public-ip"
LOCAL_AUTH = "azure-ml-compute-disable-local-auth"
SSH = "azure-ml-compute-disable-public-ssh"

CASES: dict[str, Case] = {
    f"{PUBLIC_IP}:instance-ok": (instance(), False),
    f"{PUBLIC_IP}:instance-public": (instance(enable_node_public_ip=True), True),
    f"{PUBLIC_IP}:instance-default": (instance(enable_node_public_ip=None), True),
    f"{PUBLIC_IP}:cluster-ok": (cluster(), False),
    f"{PUBLIC_IP}:cluster-default": (cluster(enable_node_public_ip=None), True),
    f"{PUBLIC_IP}:aks-not-judged": (attached_aks, False),
    f"{LOCAL_AUTH}:instance-ok": (instance(), False),
    f"{LOCAL_AUTH}:instance-keys": (instance(disable_local_auth=False), True),
    f"{LOCAL_AUTH}:cluster-ok": (cluster(), False),
    f"{LOCAL_AUTH}:cluster-unset": (cluster(disable_local_auth=None), True),
    f"{SSH}:instance-ok": (instance(), False),
    f"{SSH}:instance-ssh-open": (
        instance(ssh_settings=ml.ComputeInstanceSshSettingsArgs(ssh_public_access="Enabled")),
        True,
    ),
    f"{SSH}:cluster-ok": (cluster(), False),
    f"{SSH}:cluster-enabled": (cluster(remote_login_port_public_access="Enabled"), True),
    f"{SSH}:cluster-not-specified-in-vnet": (
        cluster(remote_login_port_public_access="NotSpecified"),
        False,
    ),
    f"{SSH}:cluster-not-specified-no-vnet": (
        cluster(remote_login_port_public_access="NotSpecified", subnet=None),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def test_message_names_the_field() -> None:
    """azure-ml-compute-disable-node-public-ip names the nested wire path."""
    policy = ml_compute.ml_compute_disable_node_public_ip
    [finding] = evaluate(
        [policy], [proxied(r) for r in run_program(cluster(enable_node_public_ip=True))]
    )
    assert "`properties.properties.enableNodePublicIp` is true" in finding.message
