"""Compute Engine: VM instances and templates, disks, and firewall rules (CIS section 3 and 4).

A VM runs as its own service account, has no external address, no serial console, logs in
through OS Login (or at least refuses project-wide SSH keys), does not forward packets, boots
verified (Shielded VM) and keeps its disks under a customer-managed key; no firewall rule opens
SSH, RDP or other administration and database ports to the whole internet.

``gcp.compute.InstanceFromTemplate`` is left to its template: what it does not override, it
inherits, so an unset property there says nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, as_list, canonical_type, prop_at, resource_rule
from policies.rules.references import checkov, cis
from policies.rules.settings import show

INSTANCE = "gcp:compute/instance:Instance"
INSTANCE_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
REGION_INSTANCE_TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
VM_TYPES: tuple[str, ...] = (INSTANCE, INSTANCE_TEMPLATE, REGION_INSTANCE_TEMPLATE)
DISK = "gcp:compute/disk:Disk"
REGION_DISK = "gcp:compute/regionDisk:RegionDisk"
FIREWALL = "gcp:compute/firewall:Firewall"
FIREWALL_POLICY_RULES: tuple[str, ...] = (
    "gcp:compute/firewallPolicyRule:FirewallPolicyRule",
    "gcp:compute/networkFirewallPolicyRule:NetworkFirewallPolicyRule",
    "gcp:compute/regionNetworkFirewallPolicyRule:RegionNetworkFirewallPolicyRule",
)

# The default Compute Engine account (holds roles/editor on new projects unless an org policy
# stops it); "default" is how the API names it in an instance's serviceAccounts.
DEFAULT_COMPUTE_DOMAIN = "developer.gserviceaccount.com"
FULL_ACCESS_SCOPES: frozenset[str] = frozenset(
    {"cloud-platform", "https://www.googleapis.com/auth/cloud-platform"}
)
# GCE metadata booleans are strings; Compute Engine reads these spellings.
TRUTHY: frozenset[str] = frozenset({"true", "1", "yes", "y", "on"})
FALSY: frozenset[str] = frozenset({"false", "0", "no", "n", "off"})


def is_default_compute_account(email: Any) -> bool:
    """The project's default Compute Engine service account, by its whole domain or alias."""
    if not isinstance(email, str):
        return False
    value = email.strip().lower()
    return value == "default" or value.rsplit("@", 1)[-1] == DEFAULT_COMPUTE_DOMAIN


def metadata_flag(props: Mapping[str, Any], key: str, path: str = "metadata") -> bool | None:
    """A metadata boolean: True / False when set to a known spelling, None when unset."""
    metadata = prop_at(props, path)
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    return None


def _metadata_value(props: Mapping[str, Any], key: str, path: str = "metadata") -> Any:
    metadata = prop_at(props, path)
    return metadata.get(key) if isinstance(metadata, Mapping) else None


# -- identity ----------------------------------------------------------------------------------
def account_findings(email: Any, scopes: Any, path: str) -> Iterator[str]:
    """Messages for a VM identity block at ``path`` (``email`` and ``scopes`` under it)."""
    if email is None or email == "" or is_default_compute_account(email):
        shown = "unset (the default Compute Engine account)" if not email else str(email)
        full = FULL_ACCESS_SCOPES & {str(s) for s in as_list(scopes)}
        access = " with full access to all Cloud APIs" if full else ""
        yield (
            f"VM runs as the project's default service account{access}: `{path}.email` is "
            f"{shown}; create a dedicated service account with only the roles it needs."
        )


def _vm_identity(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    account = props.get("serviceAccount")
    if not isinstance(account, Mapping):
        return  # no service account attached: the VM holds no Google credentials
    yield from account_findings(account.get("email"), account.get("scopes"), "serviceAccount")


compute_disallow_default_service_account = resource_rule(
    "gcp-compute-instance-disallow-default-service-account",
    "VM instances and templates do not run as the default Compute Engine service account "
    "(least of all with the cloud-platform scope).",
    types=VM_TYPES,
    check=_vm_identity,
    severity=Severity.HIGH,
    tags=["least-privilege"],
    remediation=(
        "Create a `gcp.serviceaccount.Account` for the workload, grant it only the roles it "
        "needs and set `service_account=...ServiceAccountArgs(email=account.email, "
        'scopes=["cloud-platform"])`: with a dedicated account, IAM (not scopes) limits access.'
    ),
    references=[
        checkov("CKV_GCP_30"),
        checkov("CKV_GCP_31"),
        cis("gcp", "4.1"),
        cis("gcp", "4.2"),
    ],
    since=2,
)


# -- external addresses ----------------------------------------------------------------------
def external_interfaces(props: Mapping[str, Any], path: str) -> Iterator[str]:
    """Messages for network interfaces at ``path`` that carry an external address."""
    for index, nic in enumerate(as_list(prop_at(props, path))):
        if not isinstance(nic, Mapping):
            continue
        for key in ("accessConfigs", "ipv6AccessConfigs"):
            if as_list(nic.get(key)):
                yield (
                    "VM is reachable from the internet: "
                    f"`{path}[{index}].{key}` gives it an external IP address; remove it and "
                    "reach the internet through Cloud NAT, the VM through IAP TCP forwarding."
                )


def _external_ip(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    yield from external_interfaces(props, "networkInterfaces")


compute_disallow_external_ip = resource_rule(
    "gcp-compute-instance-disallow-external-ip",
    "VM instances and templates have no external IP address.",
    types=VM_TYPES,
    check=_external_ip,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Drop `access_configs` (and `ipv6_access_configs`) from the network interfaces; use "
        "Cloud NAT for egress and IAP TCP forwarding or a load balancer for ingress."
    ),
    references=[checkov("CKV_GCP_40"), cis("gcp", "4.9")],
    since=2,
)


# -- serial console --------------------------------------------------------------------------
def _serial_port(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if metadata_flag(props, "serial-port-enable") is True:
        yield (
            "VM accepts interactive serial console connections from any address: metadata "
            f"`serial-port-enable` is {show(_metadata_value(props, 'serial-port-enable'))}; "
            "remove it or set it to false."
        )


compute_disable_serial_port = resource_rule(
    "gcp-compute-instance-disable-serial-port",
    "VM instances and templates do not enable interactive serial port access.",
    types=VM_TYPES,
    check=_serial_port,
    severity=Severity.MEDIUM,
    tags=["network-exposure", "authentication"],
    remediation='Remove the `serial-port-enable` metadata key (or set it to "false").',
    references=[checkov("CKV_GCP_35"), cis("gcp", "4.5")],
    since=2,
)


# -- OS Login / project-wide SSH keys --------------------------------------------------------
def login_findings(props: Mapping[str, Any], path: str) -> Iterator[str]:
    """Messages for a metadata map at ``path`` that lets SSH keys bypass IAM."""
    os_login = metadata_flag(props, "enable-oslogin", path)
    if os_login is False:
        yield (
            "VM turns OS Login off: metadata `enable-oslogin` is "
            f"{show(_metadata_value(props, 'enable-oslogin', path))}, so SSH keys in metadata "
            "authenticate instead of IAM."
        )
        return
    # With OS Login on, Compute Engine ignores metadata SSH keys (project-wide ones included).
    if os_login is not True and metadata_flag(props, "block-project-ssh-keys", path) is not True:
        yield (
            "VM accepts project-wide SSH keys: metadata `block-project-ssh-keys` is "
            f"{show(_metadata_value(props, 'block-project-ssh-keys', path))} and "
            '`enable-oslogin` is unset; set `enable-oslogin` to "TRUE" (or '
            '`block-project-ssh-keys` to "true").'
        )


def _os_login(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    yield from login_findings(props, "metadata")


compute_require_os_login = resource_rule(
    "gcp-compute-instance-require-os-login",
    "VM instances and templates authenticate SSH through OS Login (IAM), never through "
    "project-wide metadata keys.",
    types=VM_TYPES,
    check=_os_login,
    severity=Severity.MEDIUM,
    tags=["authentication"],
    remediation=(
        'Set metadata `enable-oslogin="TRUE"` (or project-wide via '
        '`gcp.compute.ProjectMetadataItem`) and `block-project-ssh-keys="true"`; grant '
        "roles/compute.osLogin to the people who need a shell."
    ),
    references=[
        checkov("CKV_GCP_32"),
        checkov("CKV_GCP_34"),
        cis("gcp", "4.3"),
        cis("gcp", "4.4"),
    ],
    since=2,
)


# -- IP forwarding ---------------------------------------------------------------------------
def _ip_forwarding(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if props.get("canIpForward") is True:
        yield (
            "VM forwards packets for other addresses: `canIpForward` is true; only a network "
            "appliance needs it (waive it there with a reason)."
        )


compute_disable_ip_forwarding = resource_rule(
    "gcp-compute-instance-disable-ip-forwarding",
    "VM instances and templates do not forward packets (can_ip_forward off).",
    types=VM_TYPES,
    check=_ip_forwarding,
    severity=Severity.MEDIUM,
    tags=["network-exposure"],
    remediation="Remove `can_ip_forward=True`; use Cloud NAT or a routing appliance with a waiver.",
    references=[checkov("CKV_GCP_36"), cis("gcp", "4.6")],
    since=2,
)


# -- Shielded VM -----------------------------------------------------------------------------
# Compute Engine's defaults: secure boot off, vTPM and integrity monitoring on.
SHIELDED_DEFAULTS: dict[str, bool] = {
    "enableSecureBoot": False,
    "enableVtpm": True,
    "enableIntegrityMonitoring": True,
}


def shielded_findings(props: Mapping[str, Any], path: str) -> Iterator[str]:
    """Messages for a Shielded VM block at ``path`` that leaves a protection off."""
    block = prop_at(props, path)
    block = block if isinstance(block, Mapping) else {}
    for key, default in SHIELDED_DEFAULTS.items():
        value = block.get(key)
        effective = default if value is None else value
        if effective is not True:
            shown = f"{show(value)} (off by default)" if value is None else show(value)
            yield (f"VM boot chain is not verified: `{path}.{key}` is {shown}; set it to true.")


def _shielded(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    yield from shielded_findings(props, "shieldedInstanceConfig")


compute_require_shielded_vm = resource_rule(
    "gcp-compute-instance-require-shielded-vm",
    "VM instances and templates boot as Shielded VMs: secure boot, vTPM and integrity "
    "monitoring on.",
    types=VM_TYPES,
    check=_shielded,
    severity=Severity.MEDIUM,
    tags=["supply-chain"],
    remediation=(
        "Set `shielded_instance_config=...(enable_secure_boot=True, enable_vtpm=True, "
        "enable_integrity_monitoring=True)` with a Shielded VM image."
    ),
    # Advisory in dev: secure boot refuses unsigned kernel modules, and some GPU driver builds
    # are unsigned; staging and prod still require it (waive a proven exception with a reason).
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_GCP_39"), cis("gcp", "4.8")],
    since=2,
)


# -- disk encryption -------------------------------------------------------------------------
_KEY_FIELDS: tuple[str, ...] = (
    "kmsKeySelfLink",  # customer-managed (Cloud KMS)
    "rawKey",  # customer-supplied
    "rsaEncryptedKey",
)
_BOOT_KEY_FIELDS: tuple[str, ...] = (
    "kmsKeySelfLink",
    "diskEncryptionKeyRaw",
    "diskEncryptionKeyRsa",
)


def _has_key(block: Any, fields: tuple[str, ...]) -> bool:
    return isinstance(block, Mapping) and any(
        isinstance(block.get(f), str) and block.get(f) for f in fields
    )


def _disk_cmek(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    missing = "is not encrypted with a customer-managed key"
    if token in (DISK, REGION_DISK):
        if not _has_key(props.get("diskEncryptionKey"), _KEY_FIELDS):
            yield f"disk {missing}: `diskEncryptionKey.kmsKeySelfLink` is unset."
    elif token == INSTANCE:
        boot = props.get("bootDisk")
        # A boot disk made from an existing Disk is judged on that Disk resource.
        if (
            isinstance(boot, Mapping)
            and not boot.get("source")
            and not _has_key(boot, _BOOT_KEY_FIELDS)
        ):
            yield f"boot disk {missing}: `bootDisk.kmsKeySelfLink` is unset."
    else:
        for index, disk in enumerate(as_list(props.get("disks"))):
            if not isinstance(disk, Mapping) or disk.get("source"):
                continue
            if not _has_key(disk.get("diskEncryptionKey"), ("kmsKeySelfLink",)):
                yield f"disk {missing}: `disks[{index}].diskEncryptionKey.kmsKeySelfLink` is unset."


compute_disk_require_cmek = resource_rule(
    "gcp-compute-disk-require-cmek",
    "Persistent disks, VM boot disks and template disks encrypt with a customer-managed (or "
    "customer-supplied) key.",
    types=(DISK, REGION_DISK, *VM_TYPES),
    check=_disk_cmek,
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Disk: `disk_encryption_key=...(kms_key_self_link=key.id)`; instance: "
        "`boot_disk=...(kms_key_self_link=key.id)`; template: "
        "`disks=[...(disk_encryption_key=...(kms_key_self_link=key.id))]`; grant the Compute "
        "Engine service agent roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_GCP_37"), checkov("CKV_GCP_38"), cis("gcp", "4.7")],
    since=2,
)


# -- firewall rules --------------------------------------------------------------------------
ANYWHERE: frozenset[str] = frozenset({"0.0.0.0/0", "::/0"})
# Administration and database ports that must never face the internet.
ADMIN_PORTS: dict[int, str] = {
    22: "SSH",
    3389: "RDP",
    20: "FTP data",
    21: "FTP",
    3306: "MySQL",
}
_TCP: frozenset[str] = frozenset({"tcp", "6", "all"})


def covers(ports: list[Any], port: int) -> bool:
    """Whether a GCP port list (``"22"``, ``"1000-2000"``; empty = every port) holds ``port``."""
    if not ports:
        return True
    for entry in ports:
        text = str(entry).strip()
        low, _, high = text.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def open_ports(rules: list[Any], protocol_key: str) -> list[str]:
    """Names of the admin ports that allow entries (``protocol_key``, ``ports``) open."""
    opened: list[str] = []
    for entry in rules:
        if not isinstance(entry, Mapping):
            continue
        if str(entry.get(protocol_key) or "").lower() not in _TCP:
            continue
        ports = as_list(entry.get("ports"))
        for port, name in ADMIN_PORTS.items():
            label = f"{port} ({name})"
            if covers(ports, port) and label not in opened:
                opened.append(label)
    return opened


def _firewall(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    if props.get("disabled") is True:
        return
    direction = str(props.get("direction") or "INGRESS").upper()
    if direction != "INGRESS":
        return
    if token == FIREWALL:
        ranges = [str(r).strip() for r in as_list(props.get("sourceRanges"))]
        # An ingress rule with no source at all applies to 0.0.0.0/0.
        no_source = not ranges and not any(
            as_list(props.get(k)) for k in ("sourceTags", "sourceServiceAccounts")
        )
        where, rules, key = "sourceRanges", as_list(props.get("allows")), "protocol"
    else:
        if str(props.get("action") or "").lower() != "allow":
            return
        ranges = [str(r).strip() for r in as_list(prop_at(props, "match.srcIpRanges"))]
        no_source = False
        where, rules, key = (
            "match.srcIpRanges",
            as_list(prop_at(props, "match.layer4Configs")),
            ("ipProtocol"),
        )
    anywhere = sorted(ANYWHERE & set(ranges))
    if not anywhere and not no_source:
        return
    opened = open_ports(rules, key)
    if opened:
        source = ", ".join(anywhere) if anywhere else "unset (0.0.0.0/0)"
        yield (
            f"rule opens {', '.join(opened)} to the internet: `{where}` is {source}; allow "
            "only known ranges (IAP TCP forwarding: 35.235.240.0/20)."
        )


compute_firewall_disallow_open_admin_ports = resource_rule(
    "gcp-compute-firewall-disallow-open-admin-ports",
    "No ingress firewall rule opens SSH, RDP, FTP or MySQL ports to 0.0.0.0/0 or ::/0.",
    types=(FIREWALL, *FIREWALL_POLICY_RULES),
    check=_firewall,
    severity=Severity.CRITICAL,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Restrict `source_ranges` to known networks; for administration use IAP TCP forwarding "
        "(source 35.235.240.0/20) with roles/iap.tunnelResourceAccessor, or OS Login through a "
        "bastion."
    ),
    references=[
        checkov("CKV_GCP_2"),
        checkov("CKV_GCP_3"),
        checkov("CKV_GCP_75"),
        checkov("CKV_GCP_77"),
        checkov("CKV_GCP_88"),
        checkov("CKV2_GCP_12"),
        cis("gcp", "3.6"),
        cis("gcp", "3.7"),
    ],
    since=2,
)
