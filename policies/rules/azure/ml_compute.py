"""Azure Machine Learning workspace compute: notebooks (ComputeInstance) and training clusters
(AmlCompute): no public node IPs, no local (key) authentication, no public SSH."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.azure.state import UNKNOWN, read
from policies.rules.base import resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import show

COMPUTE = "azure-native:machinelearningservices:Compute"
# The compute kinds that run VMs in the client's subscription network (notebooks, training).
_VM_KINDS = {"computeinstance", "amlcompute"}


def _kind(props: Mapping[str, Any]) -> str | None:
    kind = read(props, "properties.computeType")
    return kind.casefold() if isinstance(kind, str) else None


def _node_public_ip(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if _kind(props) not in _VM_KINDS:
        return
    path = "properties.properties.enableNodePublicIp"
    value = read(props, path)
    # The service gives nodes a public IP unless told otherwise.
    if value is not False and value is not UNKNOWN:
        yield (
            f"compute nodes are reachable from the internet: `{path}` is {show(value)}; set "
            "false (with a `subnet` or the workspace's managed network)."
        )


ml_compute_disable_node_public_ip = resource_rule(
    "azure-ml-compute-disable-node-public-ip",
    "ML compute instances and clusters run without public IP addresses on their nodes.",
    types=[COMPUTE],
    check=_node_public_ip,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Set `properties=machinelearningservices.ComputeInstanceArgs(properties="
        "machinelearningservices.ComputeInstancePropertiesArgs(enable_node_public_ip=False, "
        "subnet=...))` (AmlComputePropertiesArgs likewise), or use a managed-network workspace."
    ),
    references=[mcsb("NS-2")],
    since=2,
)


def _local_auth(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if _kind(props) not in _VM_KINDS:
        return
    value = read(props, "properties.disableLocalAuth")
    if value is not True and value is not UNKNOWN:
        yield (
            "compute accepts local (key) authentication: `properties.disableLocalAuth` is "
            f"{show(value)}; set true so only Entra ID identities can use it."
        )


ml_compute_disable_local_auth = resource_rule(
    "azure-ml-compute-disable-local-auth",
    "ML compute instances and clusters accept Entra ID only (local authentication off).",
    types=[COMPUTE],
    check=_local_auth,
    severity=Severity.HIGH,
    tags=["authentication"],
    remediation="Set `disable_local_auth=True` on the ComputeInstanceArgs / AmlComputeArgs.",
    references=[checkov("CKV_AZURE_142"), mcsb("IM-1")],
    since=2,
)


def _public_ssh(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    kind = _kind(props)
    if kind == "computeinstance":
        path = "properties.properties.sshSettings.sshPublicAccess"
        value = read(props, path)
        # A compute instance's SSH port is closed unless opened.
        if isinstance(value, str) and value.casefold() != "disabled":
            yield f'SSH is open to the internet: `{path}` is {show(value)}; set "Disabled".'
    elif kind == "amlcompute":
        path = "properties.properties.remoteLoginPortPublicAccess"
        value = read(props, path)
        if value is UNKNOWN:
            return
        folded = value.casefold() if isinstance(value, str) else "notspecified"
        subnet = read(props, "properties.properties.subnet.id")
        # NotSpecified closes the port only on a cluster in a virtual network.
        if folded == "enabled" or (folded == "notspecified" and not subnet):
            yield (
                f"SSH is open to the internet: `{path}` is {show(value)}"
                f'{"" if subnet else " with no subnet"}; set "Disabled".'
            )


ml_compute_disable_public_ssh = resource_rule(
    "azure-ml-compute-disable-public-ssh",
    "ML compute instances and clusters do not open SSH to the internet.",
    types=[COMPUTE],
    check=_public_ssh,
    severity=Severity.HIGH,
    tags=["network-exposure"],
    remediation=(
        'ComputeInstance: leave `ssh_settings.ssh_public_access` "Disabled"; AmlCompute: set '
        '`remote_login_port_public_access="Disabled"`.'
    ),
    references=[mcsb("NS-1")],
    since=2,
)
