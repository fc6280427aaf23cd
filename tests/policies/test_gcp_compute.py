"""Compute Engine rules (compute.py): a compliant VM, template, disk and firewall rule; one
property changed per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from policies.rules.gcp import compute
from tests.policies.test_gcp_common import (
    DEFAULT_COMPUTE,
    KEY,
    RUNNER,
    TARGET,
    Program,
    judge,
    waiver,
)

SUBNET = "projects/acme/regions/europe-west1/subnetworks/app"
IMAGE = "debian-cloud/debian-12"
SECURE_METADATA = {"enable-oslogin": "TRUE", "block-project-ssh-keys": "true"}


def vm(
    *,
    metadata: dict[str, str] | None = None,
    account: dict[str, Any] | None = None,
    nic: dict[str, Any] | None = None,
    shielded: dict[str, Any] | None = None,
    boot: dict[str, Any] | None = None,
    **over: Any,
) -> Program:
    """A private Shielded VM with its own account, OS Login and a CMEK boot disk."""
    account_args = {"email": RUNNER, "scopes": ["cloud-platform"], **(account or {})}
    shielded_args = {
        "enable_secure_boot": True,
        "enable_vtpm": True,
        "enable_integrity_monitoring": True,
        **(shielded or {}),
    }
    boot_args: dict[str, Any] = {
        "initialize_params": gcp.compute.InstanceBootDiskInitializeParamsArgs(image=IMAGE),
        "kms_key_self_link": KEY,
        **(boot or {}),
    }
    args: dict[str, Any] = {
        "machine_type": "e2-standard-2",
        "zone": "europe-west1-b",
        "boot_disk": gcp.compute.InstanceBootDiskArgs(**boot_args),
        "network_interfaces": [
            gcp.compute.InstanceNetworkInterfaceArgs(subnetwork=SUBNET, **(nic or {}))
        ],
        "service_account": gcp.compute.InstanceServiceAccountArgs(**account_args),
        "metadata": SECURE_METADATA if metadata is None else metadata,
        "shielded_instance_config": gcp.compute.InstanceShieldedInstanceConfigArgs(**shielded_args),
        **over,
    }
    return lambda: gcp.compute.Instance(TARGET, **args)


def template(*, key: str | None = KEY, **over: Any) -> Program:
    encryption = (
        gcp.compute.InstanceTemplateDiskDiskEncryptionKeyArgs(kms_key_self_link=key)
        if key
        else None
    )
    args: dict[str, Any] = {
        "machine_type": "e2-standard-2",
        "disks": [
            gcp.compute.InstanceTemplateDiskArgs(
                source_image=IMAGE, boot=True, disk_encryption_key=encryption
            )
        ],
        "network_interfaces": [gcp.compute.InstanceTemplateNetworkInterfaceArgs(subnetwork=SUBNET)],
        "service_account": gcp.compute.InstanceTemplateServiceAccountArgs(
            email=RUNNER, scopes=["cloud-platform"]
        ),
        "metadata": SECURE_METADATA,
        "shielded_instance_config": gcp.compute.InstanceTemplateShieldedInstanceConfigArgs(
            enable_secure_boot=True
        ),
        **over,
    }
    return lambda: gcp.compute.InstanceTemplate(TARGET, **args)


def disk(key: str | None = KEY) -> Program:
    encryption = gcp.compute.DiskDiskEncryptionKeyArgs(kms_key_self_link=key) if key else None
    return lambda: gcp.compute.Disk(
        TARGET, zone="europe-west1-b", size=50, disk_encryption_key=encryption
    )


def firewall(
    ranges: list[str] | None = None, ports: list[str] | None = None, **over: Any
) -> Program:
    """Ingress SSH from IAP's range only."""
    args: dict[str, Any] = {
        "network": "vpc",
        "direction": "INGRESS",
        "source_ranges": ["35.235.240.0/20"] if ranges is None else ranges,
        "allows": [gcp.compute.FirewallAllowArgs(protocol="tcp", ports=ports or ["22"])],
        **over,
    }
    return lambda: gcp.compute.Firewall(TARGET, **args)


def policy_rule(ranges: list[str], action: str = "allow") -> Program:
    return lambda: gcp.compute.NetworkFirewallPolicyRule(
        TARGET,
        firewall_policy="edge",
        priority=1000,
        action=action,
        direction="INGRESS",
        match=gcp.compute.NetworkFirewallPolicyRuleMatchArgs(
            src_ip_ranges=ranges,
            layer4_configs=[
                gcp.compute.NetworkFirewallPolicyRuleMatchLayer4ConfigArgs(
                    ip_protocol="tcp", ports=["3380-3390"]
                )
            ],
        ),
    )


IDENTITY = compute.compute_disallow_default_service_account
EXTERNAL = compute.compute_disallow_external_ip
SERIAL = compute.compute_disable_serial_port
OS_LOGIN = compute.compute_require_os_login
FORWARD = compute.compute_disable_ip_forwarding
SHIELDED = compute.compute_require_shielded_vm
DISK_CMEK = compute.compute_disk_require_cmek
FIREWALL = compute.compute_firewall_disallow_open_admin_ports
ACCESS = {"access_configs": [gcp.compute.InstanceNetworkInterfaceAccessConfigArgs()]}

CASES: dict[str, tuple[Policy, Program, bool]] = {
    # identity
    "gcp-compute-instance-disallow-default-service-account:own-account-ok": (
        IDENTITY,
        vm(),
        False,
    ),
    "gcp-compute-instance-disallow-default-service-account:default-account": (
        IDENTITY,
        vm(account={"email": DEFAULT_COMPUTE}),
        True,
    ),
    "gcp-compute-instance-disallow-default-service-account:email-unset": (
        IDENTITY,
        vm(account={"email": None}),
        True,
    ),
    "gcp-compute-instance-disallow-default-service-account:no-account-ok": (
        IDENTITY,
        vm(service_account=None),
        False,
    ),
    "gcp-compute-instance-disallow-default-service-account:template-ok": (
        IDENTITY,
        template(),
        False,
    ),
    "gcp-compute-instance-disallow-default-service-account:template-default": (
        IDENTITY,
        template(
            service_account=gcp.compute.InstanceTemplateServiceAccountArgs(
                email="default", scopes=["cloud-platform"]
            )
        ),
        True,
    ),
    # external IP
    "gcp-compute-instance-disallow-external-ip:private-ok": (EXTERNAL, vm(), False),
    "gcp-compute-instance-disallow-external-ip:access-config": (EXTERNAL, vm(nic=ACCESS), True),
    "gcp-compute-instance-disallow-external-ip:template-access-config": (
        EXTERNAL,
        template(
            network_interfaces=[
                gcp.compute.InstanceTemplateNetworkInterfaceArgs(
                    subnetwork=SUBNET,
                    access_configs=[gcp.compute.InstanceTemplateNetworkInterfaceAccessConfigArgs()],
                )
            ]
        ),
        True,
    ),
    # serial port
    "gcp-compute-instance-disable-serial-port:serial-unset-ok": (SERIAL, vm(), False),
    "gcp-compute-instance-disable-serial-port:serial-on": (
        SERIAL,
        vm(metadata={**SECURE_METADATA, "serial-port-enable": "TRUE"}),
        True,
    ),
    "gcp-compute-instance-disable-serial-port:serial-off-ok": (
        SERIAL,
        vm(metadata={**SECURE_METADATA, "serial-port-enable": "false"}),
        False,
    ),
    # OS Login
    "gcp-compute-instance-require-os-login:os-login-ok": (OS_LOGIN, vm(), False),
    "gcp-compute-instance-require-os-login:os-login-only-ok": (
        OS_LOGIN,
        vm(metadata={"enable-oslogin": "TRUE"}),
        False,
    ),
    "gcp-compute-instance-require-os-login:block-keys-only-ok": (
        OS_LOGIN,
        vm(metadata={"block-project-ssh-keys": "true"}),
        False,
    ),
    "gcp-compute-instance-require-os-login:no-metadata": (OS_LOGIN, vm(metadata={}), True),
    "gcp-compute-instance-require-os-login:os-login-off": (
        OS_LOGIN,
        vm(metadata={**SECURE_METADATA, "enable-oslogin": "FALSE"}),
        True,
    ),
    # IP forwarding
    "gcp-compute-instance-disable-ip-forwarding:forwarding-off-ok": (FORWARD, vm(), False),
    "gcp-compute-instance-disable-ip-forwarding:forwarding-on": (
        FORWARD,
        vm(can_ip_forward=True),
        True,
    ),
    # Shielded VM
    "gcp-compute-instance-require-shielded-vm:shielded-ok": (SHIELDED, vm(), False),
    "gcp-compute-instance-require-shielded-vm:secure-boot-default-off": (
        SHIELDED,
        vm(shielded_instance_config=None),
        True,
    ),
    "gcp-compute-instance-require-shielded-vm:vtpm-off": (
        SHIELDED,
        vm(shielded={"enable_vtpm": False}),
        True,
    ),
    "gcp-compute-instance-require-shielded-vm:template-defaults-ok": (SHIELDED, template(), False),
    # disk keys
    "gcp-compute-disk-require-cmek:disk-ok": (DISK_CMEK, disk(), False),
    "gcp-compute-disk-require-cmek:disk-google-key": (DISK_CMEK, disk(None), True),
    "gcp-compute-disk-require-cmek:boot-ok": (DISK_CMEK, vm(), False),
    "gcp-compute-disk-require-cmek:boot-google-key": (
        DISK_CMEK,
        vm(boot={"kms_key_self_link": None}),
        True,
    ),
    "gcp-compute-disk-require-cmek:boot-existing-disk-ok": (
        DISK_CMEK,
        vm(boot={"kms_key_self_link": None, "initialize_params": None, "source": "data-disk"}),
        False,
    ),
    "gcp-compute-disk-require-cmek:template-ok": (DISK_CMEK, template(), False),
    "gcp-compute-disk-require-cmek:template-google-key": (DISK_CMEK, template(key=None), True),
    # firewall
    "gcp-compute-firewall-disallow-open-admin-ports:iap-range-ok": (FIREWALL, firewall(), False),
    "gcp-compute-firewall-disallow-open-admin-ports:ssh-anywhere": (
        FIREWALL,
        firewall(["0.0.0.0/0"]),
        True,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:rdp-in-range-ipv6": (
        FIREWALL,
        firewall(["::/0"], ["3000-4000"]),
        True,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:no-source-is-anywhere": (
        FIREWALL,
        firewall([]),
        True,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:https-anywhere-ok": (
        FIREWALL,
        firewall(["0.0.0.0/0"], ["443"]),
        False,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:all-ports-anywhere": (
        FIREWALL,
        lambda: gcp.compute.Firewall(
            TARGET,
            network="vpc",
            source_ranges=["0.0.0.0/0"],
            allows=[gcp.compute.FirewallAllowArgs(protocol="all")],
        ),
        True,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:egress-ok": (
        FIREWALL,
        firewall(["0.0.0.0/0"], direction="EGRESS", destination_ranges=["0.0.0.0/0"]),
        False,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:disabled-ok": (
        FIREWALL,
        firewall(["0.0.0.0/0"], disabled=True),
        False,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:policy-rule-anywhere": (
        FIREWALL,
        policy_rule(["0.0.0.0/0"]),
        True,
    ),
    "gcp-compute-firewall-disallow-open-admin-ports:policy-rule-deny-ok": (
        FIREWALL,
        policy_rule(["0.0.0.0/0"], action="deny"),
        False,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_compute_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_ip_forwarding_waiver_for_an_appliance() -> None:
    """gcp-compute-instance-disable-ip-forwarding: a NAT appliance is waived by name."""
    reason = "NAT appliance: forwards the private subnet's egress (NET-42)"
    assert judge(FORWARD, vm(can_ip_forward=True), waiver(TARGET, reason)) == set()


@pytest.mark.parametrize(
    ("ports", "port", "covered"),
    [([], 22, True), (["22"], 22, True), (["20-25"], 22, True), (["2222"], 22, False)],
)
def test_port_ranges(ports: list[str], port: int, covered: bool) -> None:
    assert compute.covers(ports, port) is covered
