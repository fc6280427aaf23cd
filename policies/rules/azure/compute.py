"""Azure virtual machines, scale sets, network interfaces and managed disks a client adds
(SSH keys over passwords, host / CMK disk encryption, managed identity, no public IP, disk
export network policy)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.azure.state import UNKNOWN, read
from policies.rules.base import OPERATIONAL, as_list, canonical_type, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import AnyOf, Present, Setting, settings_check

VM = "azure-native:compute:VirtualMachine"
SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
DISK = "azure-native:compute:Disk"
NIC = "azure-native:network:NetworkInterface"

# Where a VM and a scale set keep the same settings (a scale set's are in its VM profile).
_PREFIX = {VM: "", SCALE_SET: "virtualMachineProfile."}


def _is_linux(props: Mapping[str, Any], prefix: str) -> bool:
    linux = read(props, f"{prefix}osProfile.linuxConfiguration")
    os_type = read(props, f"{prefix}storageProfile.osDisk.osType")
    return isinstance(linux, Mapping) or (isinstance(os_type, str) and os_type == "Linux")


def _password_auth(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    prefix = _PREFIX[canonical_type(args.resource_type)]
    if not _is_linux(props, prefix):
        return  # Windows signs in with a password by design; RDP exposure is the NSG rule's
    path = f"{prefix}osProfile.linuxConfiguration.disablePasswordAuthentication"
    value = read(props, path)
    if value is not True and value is not UNKNOWN:
        yield (
            f"Linux VM accepts SSH password authentication: `{path}` is "
            f"{'unset' if value is None else value!r}; set it to true and give "
            "`linux_configuration.ssh.public_keys`."
        )


vm_disable_password_authentication = resource_rule(
    "azure-vm-disable-password-authentication",
    "Linux virtual machines and scale sets sign in with SSH keys only (password "
    "authentication disabled).",
    types=list(_PREFIX),
    check=_password_auth,
    severity=Severity.HIGH,
    tags=["authentication"],
    remediation=(
        "Set `os_profile=compute.OSProfileArgs(linux_configuration=compute."
        "LinuxConfigurationArgs(disable_password_authentication=True, ssh=compute."
        "SshConfigurationArgs(public_keys=[...])), ...)` and no `admin_password` (better: "
        "sign in through Entra ID with the AADSSHLoginForLinux extension or Bastion)."
    ),
    references=[
        checkov("CKV_AZURE_1"),
        checkov("CKV_AZURE_149"),
        checkov("CKV_AZURE_49"),
        checkov("CKV_AZURE_178"),
        mcsb("IM-6"),
    ],
    since=2,
)


def _encryption_table() -> dict[str, tuple[AnyOf, ...]]:
    table: dict[str, tuple[AnyOf, ...]] = {}
    for token, prefix in _PREFIX.items():
        table[token] = (
            AnyOf(
                (
                    Setting(f"{prefix}securityProfile.encryptionAtHost", (True,)),
                    Present(
                        f"{prefix}storageProfile.osDisk.managedDisk.diskEncryptionSet.id",
                        "a disk encryption set (customer-managed key)",
                    ),
                )
            ),
        )
    return table


_ENCRYPTION = _encryption_table()

vm_require_host_or_cmk_disk_encryption = resource_rule(
    "azure-vm-require-host-or-cmk-disk-encryption",
    "Virtual machines and scale sets encrypt at the host (temp disk and caches too) or encrypt "
    "their OS disk with a customer-managed key (disk encryption set).",
    types=_ENCRYPTION,
    check=settings_check(
        _ENCRYPTION,
        "VM temp disk and caches are not encrypted at the host and the OS disk is not "
        "encrypted with a customer-managed key",
    ),
    severity=Severity.MEDIUM,
    tags=["encryption", "key-management"],
    remediation=(
        "Set `security_profile=compute.SecurityProfileArgs(encryption_at_host=True)` (register "
        "the EncryptionAtHost feature once per subscription), or "
        "`managed_disk=compute.ManagedDiskParametersArgs(disk_encryption_set="
        "compute.DiskEncryptionSetParametersArgs(id=<des>.id))` on the OS disk."
    ),
    # Managed disks are already encrypted at rest with platform keys; this closes the temp disk
    # and cache gap (a subscription feature) or moves to a CMK: advisory in dev.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_97"), checkov("CKV_AZURE_151"), mcsb("DP-4")],
    since=2,
)

_IDENTITY = {
    token: (
        Setting(
            "identity.type",
            (
                "SystemAssigned",
                "UserAssigned",
                "SystemAssigned, UserAssigned",
                "SystemAssigned,UserAssigned",
            ),
        ),
    )
    for token in _PREFIX
}

vm_require_managed_identity = resource_rule(
    "azure-vm-require-managed-identity",
    "Virtual machines and scale sets have a managed identity for the Azure resources they "
    "reach (no stored credentials).",
    types=_IDENTITY,
    check=settings_check(_IDENTITY, "VM has no managed identity and authenticates with secrets"),
    severity=Severity.LOW,
    tags=["authentication"],
    remediation='Set `identity=compute.VirtualMachineIdentityArgs(type="SystemAssigned")`.',
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("IM-3")],
    since=2,
)


def _ip_configurations(props: Mapping[str, Any], token: str) -> Iterator[tuple[str, Any]]:
    """(wire path, IP configuration) of a NIC, or of a VM's / scale set's inline NICs."""
    if token == NIC:
        for i, ipc in enumerate(as_list(read(props, "ipConfigurations"))):
            yield f"ipConfigurations[{i}].publicIPAddress", ipc
        return
    nics = as_list(read(props, f"{_PREFIX[token]}networkProfile.networkInterfaceConfigurations"))
    for n, nic in enumerate(nics):
        ipcs = as_list(read(nic, "ipConfigurations")) if isinstance(nic, Mapping) else []
        for i, ipc in enumerate(ipcs):
            yield (
                f"networkInterfaceConfigurations[{n}].ipConfigurations[{i}]."
                "publicIPAddressConfiguration",
                ipc,
            )


def _public_ip(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    for path, ipc in _ip_configurations(props, token):
        if not isinstance(ipc, Mapping):
            continue
        leaf = path.rsplit(".", 1)[-1]
        value = read(ipc, leaf)
        if isinstance(value, Mapping) and len(value) > 0:
            yield (
                f"machine is reachable from the internet: `{path}` attaches a public IP; "
                "reach it through Bastion, a load balancer or a private network instead."
            )


vm_disallow_public_ip = resource_rule(
    "azure-vm-disallow-public-ip",
    "Network interfaces, virtual machines and scale sets attach no public IP address.",
    types=[NIC, *_PREFIX],
    check=_public_ip,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Remove `public_ip_address` from the NIC's IP configurations (and "
        "`public_ip_address_configuration` from inline VM / scale set NICs); use Azure Bastion "
        "for administration and a load balancer or Application Gateway for traffic."
    ),
    references=[checkov("CKV_AZURE_119"), checkov("CKV2_AZURE_39"), mcsb("NS-1")],
    since=2,
)

_DISK_CMK = {
    DISK: (
        Setting(
            "encryption.type",
            ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys"),
        ),
        Present("encryption.diskEncryptionSetId", "a disk encryption set id"),
    ),
}

disk_require_cmk = resource_rule(
    "azure-disk-require-cmk",
    "Managed disks are encrypted with a customer-managed key through a disk encryption set.",
    types=_DISK_CMK,
    check=settings_check(_DISK_CMK, "disk is not encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Set `encryption=compute.EncryptionArgs(type="EncryptionAtRestWithCustomerKey", '
        "disk_encryption_set_id=<des>.id)`."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_93"), mcsb("DP-5")],
    since=2,
)

# AllowAll (the default) lets anyone with a SAS export or import the disk from any network.
_DISK_NETWORK = {
    DISK: (
        AnyOf(
            (
                Setting("networkAccessPolicy", ("DenyAll", "AllowPrivate")),
                Setting("publicNetworkAccess", ("Disabled",)),
            )
        ),
    ),
}

disk_restrict_network_access = resource_rule(
    "azure-disk-restrict-network-access",
    "Managed disks cannot be exported or imported from the internet (network access policy "
    "DenyAll or AllowPrivate, or public network access disabled).",
    types=_DISK_NETWORK,
    check=settings_check(_DISK_NETWORK, "disk can be exported from the internet with a SAS URL"),
    severity=Severity.MEDIUM,
    tags=["network-exposure", "public-access"],
    remediation=(
        'Set `network_access_policy="DenyAll"` (or `"AllowPrivate"` with `disk_access_id`) '
        'and `public_network_access="Disabled"`.'
    ),
    references=[checkov("CKV_AZURE_251"), mcsb("NS-2")],
    since=2,
)
