"""Workbench and Colab Enterprise rules (workbench.py): a compliant notebook; one property
changed per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from policies.rules.gcp import workbench
from tests.policies.test_gcp_common import (
    DEFAULT_COMPUTE,
    KEY,
    RUNNER,
    TARGET,
    Program,
    judge,
    waiver,
)

SUBNET = "projects/acme/regions/europe-west1/subnetworks/notebooks"
CMEK_DISK = {"disk_encryption": "CMEK", "kms_key": KEY}


def notebook(
    *,
    metadata: dict[str, str] | None = None,
    boot: dict[str, Any] | None = None,
    shielded: dict[str, Any] | None = None,
    **setup: Any,
) -> Program:
    """A private Workbench instance: no public IP, no root, own account, CMEK, Shielded VM."""
    args: dict[str, Any] = {
        "machine_type": "e2-standard-4",
        "disable_public_ip": True,
        "metadata": {"notebook-disable-root": "true"} if metadata is None else metadata,
        "service_accounts": [gcp.workbench.InstanceGceSetupServiceAccountArgs(email=RUNNER)],
        "boot_disk": gcp.workbench.InstanceGceSetupBootDiskArgs(**{**CMEK_DISK, **(boot or {})}),
        "data_disks": gcp.workbench.InstanceGceSetupDataDisksArgs(**CMEK_DISK),
        "shielded_instance_config": gcp.workbench.InstanceGceSetupShieldedInstanceConfigArgs(
            **{
                "enable_secure_boot": True,
                "enable_vtpm": True,
                "enable_integrity_monitoring": True,
                **(shielded or {}),
            }
        ),
        "network_interfaces": [
            gcp.workbench.InstanceGceSetupNetworkInterfaceArgs(network="vpc", subnet=SUBNET)
        ],
        **setup,
    }
    return lambda: gcp.workbench.Instance(
        TARGET,
        location="europe-west1-b",
        gce_setup=gcp.workbench.InstanceGceSetupArgs(**args),
    )


def colab(*, internet: bool = False, key: str | None = KEY) -> Program:
    return lambda: gcp.colab.RuntimeTemplate(
        TARGET,
        display_name="analysis",
        location="europe-west1",
        network_spec=gcp.colab.RuntimeTemplateNetworkSpecArgs(
            enable_internet_access=internet, network="vpc", subnetwork=SUBNET
        ),
        encryption_spec=gcp.colab.RuntimeTemplateEncryptionSpecArgs(kms_key_name=key)
        if key
        else None,
    )


PUBLIC = workbench.workbench_disallow_public_ip
ROOT = workbench.workbench_disallow_root_access
IDENTITY = workbench.workbench_require_dedicated_identity
CMEK = workbench.workbench_require_cmek
SHIELDED = workbench.workbench_require_shielded_vm

CASES: dict[str, tuple[Policy, Program, bool]] = {
    "gcp-workbench-instance-disallow-public-ip:private-ok": (PUBLIC, notebook(), False),
    "gcp-workbench-instance-disallow-public-ip:public-ip-default": (
        PUBLIC,
        notebook(disable_public_ip=None),
        True,
    ),
    "gcp-workbench-instance-disallow-public-ip:access-config": (
        PUBLIC,
        notebook(
            network_interfaces=[
                gcp.workbench.InstanceGceSetupNetworkInterfaceArgs(
                    network="vpc",
                    subnet=SUBNET,
                    access_configs=[
                        gcp.workbench.InstanceGceSetupNetworkInterfaceAccessConfigArgs(
                            external_ip="203.0.113.10"
                        )
                    ],
                )
            ]
        ),
        True,
    ),
    "gcp-workbench-instance-disallow-public-ip:colab-private-ok": (PUBLIC, colab(), False),
    "gcp-workbench-instance-disallow-public-ip:colab-internet": (
        PUBLIC,
        colab(internet=True),
        True,
    ),
    "gcp-workbench-instance-disallow-root-access:root-off-ok": (ROOT, notebook(), False),
    "gcp-workbench-instance-disallow-root-access:root-default": (
        ROOT,
        notebook(metadata={}),
        True,
    ),
    "gcp-workbench-instance-disallow-root-access:root-on": (
        ROOT,
        notebook(metadata={"notebook-disable-root": "false"}),
        True,
    ),
    "gcp-workbench-instance-require-dedicated-identity:own-account-ok": (
        IDENTITY,
        notebook(),
        False,
    ),
    "gcp-workbench-instance-require-dedicated-identity:account-unset": (
        IDENTITY,
        notebook(service_accounts=None),
        True,
    ),
    "gcp-workbench-instance-require-dedicated-identity:default-compute": (
        IDENTITY,
        notebook(
            service_accounts=[
                gcp.workbench.InstanceGceSetupServiceAccountArgs(email=DEFAULT_COMPUTE)
            ]
        ),
        True,
    ),
    "gcp-workbench-instance-require-cmek:cmek-ok": (CMEK, notebook(), False),
    "gcp-workbench-instance-require-cmek:boot-google-key": (
        CMEK,
        notebook(boot={"disk_encryption": "GMEK", "kms_key": None}),
        True,
    ),
    "gcp-workbench-instance-require-cmek:data-disk-google-key": (
        CMEK,
        notebook(data_disks=gcp.workbench.InstanceGceSetupDataDisksArgs(disk_size_gb="100")),
        True,
    ),
    "gcp-workbench-instance-require-cmek:colab-ok": (CMEK, colab(), False),
    "gcp-workbench-instance-require-cmek:colab-google-key": (CMEK, colab(key=None), True),
    "gcp-workbench-instance-require-shielded-vm:shielded-ok": (SHIELDED, notebook(), False),
    "gcp-workbench-instance-require-shielded-vm:secure-boot-off": (
        SHIELDED,
        notebook(shielded={"enable_secure_boot": False}),
        True,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_workbench_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_root_access_waiver() -> None:
    """gcp-workbench-instance-disallow-root-access: a waived notebook is skipped."""
    assert judge(ROOT, notebook(metadata={}), waiver(TARGET)) == set()
