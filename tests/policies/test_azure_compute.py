"""Azure VM, scale set, NIC and disk rules (policies/rules/azure/compute.py) on small real
programs: a compliant resource, then one change per case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.compute as compute
import pulumi_azure_native.network as network
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import compute as compute_rules
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
DES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des"
SUBNET = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
)
BY_NAME: dict[str, Policy] = {
    p.name: p for p in vars(compute_rules).values() if isinstance(p, Policy)
}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


LINUX = compute.LinuxConfigurationArgs(
    disable_password_authentication=True,
    ssh=compute.SshConfigurationArgs(
        public_keys=[
            compute.SshPublicKeyArgs(
                key_data="ssh-ed25519 AAAA", path="/home/ops/.ssh/authorized_keys"
            )
        ]
    ),
)


def vm(
    linux: compute.LinuxConfigurationArgs | None = LINUX,
    windows: bool = False,
    admin_password: str | None = None,
    public_ip: bool = False,
    **over: Any,
) -> Callable[[], object]:
    ip = compute.VirtualMachineNetworkInterfaceIPConfigurationArgs(
        name="ip",
        subnet=compute.SubResourceArgs(id=SUBNET),
        public_ip_address_configuration=(
            compute.VirtualMachinePublicIPAddressConfigurationArgs(name="pip")
            if public_ip
            else None
        ),
    )
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "hardware_profile": compute.HardwareProfileArgs(vm_size="Standard_D2s_v5"),
        "identity": compute.VirtualMachineIdentityArgs(
            type=compute.ResourceIdentityType.SYSTEM_ASSIGNED
        ),
        "os_profile": compute.OSProfileArgs(
            computer_name="vm",
            admin_username="ops",
            admin_password=admin_password,
            linux_configuration=None if windows else linux,
            windows_configuration=compute.WindowsConfigurationArgs() if windows else None,
        ),
        "security_profile": compute.SecurityProfileArgs(encryption_at_host=True),
        "storage_profile": compute.StorageProfileArgs(
            os_disk=compute.OSDiskArgs(create_option="FromImage")
        ),
        "network_profile": compute.NetworkProfileArgs(
            network_api_version="2020-11-01",
            network_interface_configurations=[
                compute.VirtualMachineNetworkInterfaceConfigurationArgs(
                    name="nic", ip_configurations=[ip]
                )
            ],
        ),
    }
    return lambda: compute.VirtualMachine(TARGET, **{**args, **over})


def scale_set(
    disable_password: bool = True, public_ip: bool = False, **profile: Any
) -> Callable[[], object]:
    ip = compute.VirtualMachineScaleSetIPConfigurationArgs(
        name="ip",
        subnet=compute.ApiEntityReferenceArgs(id=SUBNET),
        public_ip_address_configuration=(
            compute.VirtualMachineScaleSetPublicIPAddressConfigurationArgs(name="pip")
            if public_ip
            else None
        ),
    )
    vm_profile: dict[str, Any] = {
        "os_profile": compute.VirtualMachineScaleSetOSProfileArgs(
            computer_name_prefix="w",
            admin_username="ops",
            linux_configuration=compute.LinuxConfigurationArgs(
                disable_password_authentication=disable_password
            ),
        ),
        "security_profile": compute.SecurityProfileArgs(encryption_at_host=True),
        "network_profile": compute.VirtualMachineScaleSetNetworkProfileArgs(
            network_interface_configurations=[
                compute.VirtualMachineScaleSetNetworkConfigurationArgs(
                    name="nic", ip_configurations=[ip]
                )
            ]
        ),
    }
    return lambda: compute.VirtualMachineScaleSet(
        TARGET,
        resource_group_name=RG,
        identity=compute.VirtualMachineScaleSetIdentityArgs(
            type=compute.ResourceIdentityType.SYSTEM_ASSIGNED
        ),
        virtual_machine_profile=compute.VirtualMachineScaleSetVMProfileArgs(
            **{**vm_profile, **profile}
        ),
    )


def nic(public_ip: bool = False) -> Callable[[], object]:
    def program() -> None:
        pip = network.PublicIPAddress("pip", resource_group_name=RG) if public_ip else None
        network.NetworkInterface(
            TARGET,
            resource_group_name=RG,
            ip_configurations=[
                network.NetworkInterfaceIPConfigurationArgs(
                    name="ip",
                    subnet=network.SubnetArgs(id=SUBNET),
                    public_ip_address=network.PublicIPAddressArgs(id=pip.id) if pip else None,
                )
            ],
        )

    return program


def disk(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "creation_data": compute.CreationDataArgs(create_option="Empty"),
        "disk_size_gb": 64,
        "encryption": compute.EncryptionArgs(
            type="EncryptionAtRestWithCustomerKey", disk_encryption_set_id=DES
        ),
        "network_access_policy": "DenyAll",
        "public_network_access": "Disabled",
    }
    return lambda: compute.Disk(TARGET, **{**args, **over})


Case = tuple[Callable[[], object], bool]
PASSWORD = "azure-vm-disable-password-authentication"
ENCRYPTION = "azure-vm-require-host-or-cmk-disk-encryption"
IDENTITY = "azure-vm-require-managed-identity"
PUBLIC_IP = "azure-vm-disallow-public-ip"
DISK_CMK = "azure-disk-require-cmk"
DISK_NETWORK = "azure-disk-restrict-network-access"

CASES: dict[str, Case] = {
    f"{PASSWORD}:ok": (vm(), False),
    f"{PASSWORD}:windows-not-judged": (vm(windows=True, admin_password="x"), False),
    f"{PASSWORD}:password-allowed": (
        vm(linux=compute.LinuxConfigurationArgs(disable_password_authentication=False)),
        True,
    ),
    f"{PASSWORD}:linux-default": (vm(linux=compute.LinuxConfigurationArgs()), True),
    f"{PASSWORD}:scale-set-ok": (scale_set(), False),
    f"{PASSWORD}:scale-set-password": (scale_set(disable_password=False), True),
    f"{ENCRYPTION}:host-ok": (vm(), False),
    f"{ENCRYPTION}:cmk-os-disk-ok": (
        vm(
            security_profile=None,
            storage_profile=compute.StorageProfileArgs(
                os_disk=compute.OSDiskArgs(
                    create_option="FromImage",
                    managed_disk=compute.ManagedDiskParametersArgs(
                        disk_encryption_set=compute.DiskEncryptionSetParametersArgs(id=DES)
                    ),
                )
            ),
        ),
        False,
    ),
    f"{ENCRYPTION}:neither": (vm(security_profile=None), True),
    f"{ENCRYPTION}:scale-set-ok": (scale_set(), False),
    f"{ENCRYPTION}:scale-set-host-off": (
        scale_set(security_profile=compute.SecurityProfileArgs(encryption_at_host=False)),
        True,
    ),
    f"{IDENTITY}:ok": (vm(), False),
    f"{IDENTITY}:none": (vm(identity=None), True),
    f"{PUBLIC_IP}:vm-ok": (vm(), False),
    f"{PUBLIC_IP}:vm-inline-public-ip": (vm(public_ip=True), True),
    f"{PUBLIC_IP}:scale-set-ok": (scale_set(), False),
    f"{PUBLIC_IP}:scale-set-public-ip": (scale_set(public_ip=True), True),
    f"{PUBLIC_IP}:nic-ok": (nic(), False),
    f"{PUBLIC_IP}:nic-public-ip": (nic(public_ip=True), True),
    f"{DISK_CMK}:ok": (disk(), False),
    f"{DISK_CMK}:platform-key": (
        disk(encryption=compute.EncryptionArgs(type="EncryptionAtRestWithPlatformKey")),
        True,
    ),
    f"{DISK_CMK}:unset": (disk(encryption=None), True),
    f"{DISK_NETWORK}:ok": (disk(), False),
    f"{DISK_NETWORK}:private-only": (
        disk(network_access_policy="AllowPrivate", public_network_access=None, disk_access_id="x"),
        False,
    ),
    f"{DISK_NETWORK}:allow-all": (
        disk(network_access_policy="AllowAll", public_network_access="Enabled"),
        True,
    ),
    f"{DISK_NETWORK}:defaults": (
        disk(network_access_policy=None, public_network_access=None),
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


def test_waiver_keeps_a_bastion_host_public() -> None:
    """azure-vm-disallow-public-ip: a waived jump host passes, the other VM is flagged."""
    policy = compute_rules.vm_disallow_public_ip

    def program() -> None:
        for name in ("jump", "worker"):
            network.NetworkInterface(
                name,
                resource_group_name=RG,
                ip_configurations=[
                    network.NetworkInterfaceIPConfigurationArgs(
                        name="ip", public_ip_address=network.PublicIPAddressArgs(id="/pip")
                    )
                ],
            )

    waiver = {"waivers": [{"resource": "jump", "reason": "break-glass host, JIT access only"}]}
    assert findings_for(policy, program, waiver) == {"worker"}


def test_message_names_the_field() -> None:
    """azure-vm-disable-password-authentication names the wire path."""
    policy = compute_rules.vm_disable_password_authentication
    program = vm(linux=compute.LinuxConfigurationArgs(disable_password_authentication=False))
    [finding] = evaluate([policy], [proxied(r) for r in run_program(program)])
    assert (
        "`osProfile.linuxConfiguration.disablePasswordAuthentication` is False" in finding.message
    )
