"""Vertex AI Workbench instances (and Colab Enterprise runtime templates): the notebooks data
scientists use, which hold data, credentials and a shell.

No external IP, no root for notebook users, a dedicated service account, disks under a
customer-managed key, Shielded VM. The legacy ``gcp.notebooks.Instance`` is no longer in the
SDK (pulumi-gcp 10 removed the Notebooks API resources); Workbench instances replace it.
Vertex AI training pipelines and custom jobs are jobs started through the API, not resources a
Pulumi program declares, so no rule can see them: their network and key settings belong in the
code that submits them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, as_list, canonical_type, prop_at, resource_rule
from policies.rules.gcp.compute import (
    account_findings,
    external_interfaces,
    metadata_flag,
    shielded_findings,
)
from policies.rules.references import checkov, cis, guardrail
from policies.rules.settings import show

WORKBENCH = "gcp:workbench/instance:Instance"
COLAB_TEMPLATE = "gcp:colab/runtimeTemplate:RuntimeTemplate"


# -- network exposure ------------------------------------------------------------------------
def _public_notebook(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if canonical_type(args.resource_type) == COLAB_TEMPLATE:
        # Colab Enterprise runtimes get internet access unless the template turns it off.
        internet = prop_at(props, "networkSpec.enableInternetAccess")
        if internet is True:
            yield (
                "notebook runtime is reachable from the internet: "
                "`networkSpec.enableInternetAccess` is true; run it in a VPC subnetwork "
                "without internet access."
            )
        return
    disabled = prop_at(props, "gceSetup.disablePublicIp")
    if disabled is not True:
        yield (
            "notebook is reachable from the internet: `gceSetup.disablePublicIp` is "
            f"{show(disabled)}; set it to true (reach it through its proxy URL or IAP)."
        )
    yield from external_interfaces(props, "gceSetup.networkInterfaces")


workbench_disallow_public_ip = resource_rule(
    "gcp-workbench-instance-disallow-public-ip",
    "Workbench instances have no external IP; Colab Enterprise runtime templates no internet "
    "access.",
    types=(WORKBENCH, COLAB_TEMPLATE),
    check=_public_notebook,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Workbench: `gce_setup=...(disable_public_ip=True)` with a subnetwork that has Private "
        "Google Access (and Cloud NAT for package installs); Colab: "
        "`network_spec=...(enable_internet_access=False, network=..., subnetwork=...)`."
    ),
    references=[checkov("CKV2_GCP_28"), checkov("CKV_GCP_89")],
    since=2,
)


# -- root access -----------------------------------------------------------------------------
ROOT_KEY = "notebook-disable-root"


def _root_access(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if metadata_flag(props, ROOT_KEY, "gceSetup.metadata") is not True:
        metadata = prop_at(props, "gceSetup.metadata")
        value = metadata.get(ROOT_KEY) if isinstance(metadata, Mapping) else None
        yield (
            f"notebook users get root on the VM: `gceSetup.metadata` `{ROOT_KEY}` is "
            f'{show(value)}; set it to "true".'
        )


workbench_disallow_root_access = resource_rule(
    "gcp-workbench-instance-disallow-root-access",
    "Workbench instances do not give notebook users root (sudo) on the VM.",
    types=[WORKBENCH],
    check=_root_access,
    severity=Severity.MEDIUM,
    tags=["least-privilege"],
    remediation=f'Add `"{ROOT_KEY}": "true"` to `gce_setup.metadata`.',
    # The notebook half of guardrail 8 ("notebook no internet/root"); no public benchmark has a
    # control for Workbench root access.
    references=[guardrail("8")],
    since=2,
)


# -- identity --------------------------------------------------------------------------------
def _notebook_identity(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    accounts = [a for a in as_list(prop_at(props, "gceSetup.serviceAccounts")) if a]
    if not accounts:
        yield (
            "notebook runs as the project's default service account: "
            "`gceSetup.serviceAccounts` is unset; set a dedicated service account."
        )
        return
    for index, account in enumerate(accounts):
        if isinstance(account, Mapping):
            yield from account_findings(
                account.get("email"), account.get("scopes"), f"gceSetup.serviceAccounts[{index}]"
            )


workbench_require_dedicated_identity = resource_rule(
    "gcp-workbench-instance-require-dedicated-identity",
    "Workbench instances run as a dedicated service account, not the default Compute Engine one.",
    types=[WORKBENCH],
    check=_notebook_identity,
    severity=Severity.HIGH,
    tags=["least-privilege"],
    remediation=(
        "Create a `gcp.serviceaccount.Account` for the notebook, grant it only the data it "
        "needs, and set `gce_setup=...(service_accounts=[...(email=account.email)])`."
    ),
    references=[cis("gcp", "4.1"), cis("gcp", "4.2")],
    since=2,
)


# -- disk encryption -------------------------------------------------------------------------
def _disk_unencrypted(block: Any) -> bool:
    if not isinstance(block, Mapping):
        return True
    key = block.get("kmsKey")
    return block.get("diskEncryption") != "CMEK" or not (isinstance(key, str) and key)


def _notebook_cmek(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    missing = "is not encrypted with a customer-managed key"
    if canonical_type(args.resource_type) == COLAB_TEMPLATE:
        key = prop_at(props, "encryptionSpec.kmsKeyName")
        if not (isinstance(key, str) and key):
            yield f"notebook runtime disk {missing}: `encryptionSpec.kmsKeyName` is unset."
        return
    if _disk_unencrypted(prop_at(props, "gceSetup.bootDisk")):
        yield (
            f"notebook boot disk {missing}: set `gceSetup.bootDisk.diskEncryption` to "
            '"CMEK" and `gceSetup.bootDisk.kmsKey`.'
        )
    data = prop_at(props, "gceSetup.dataDisks")
    for index, disk in enumerate(as_list(data) if not isinstance(data, Mapping) else [data]):
        if _disk_unencrypted(disk):
            where = "gceSetup.dataDisks" if isinstance(data, Mapping) else f"dataDisks[{index}]"
            yield f'notebook data disk {missing}: set `{where}.diskEncryption` to "CMEK".'


workbench_require_cmek = resource_rule(
    "gcp-workbench-instance-require-cmek",
    "Workbench instance disks and Colab Enterprise runtime disks encrypt with a "
    "customer-managed key.",
    types=(WORKBENCH, COLAB_TEMPLATE),
    check=_notebook_cmek,
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Workbench: `boot_disk=...(disk_encryption="CMEK", kms_key=key.id)` and the same on '
        "`data_disks`; Colab: `encryption_spec=...(kms_key_name=key.id)`; grant the Compute "
        "Engine service agent roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV2_GCP_27"), guardrail("30")],
    since=2,
)


# -- Shielded VM -----------------------------------------------------------------------------
def _notebook_shielded(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    yield from shielded_findings(props, "gceSetup.shieldedInstanceConfig")


workbench_require_shielded_vm = resource_rule(
    "gcp-workbench-instance-require-shielded-vm",
    "Workbench instances boot as Shielded VMs: secure boot, vTPM and integrity monitoring on.",
    types=[WORKBENCH],
    check=_notebook_shielded,
    severity=Severity.MEDIUM,
    tags=["supply-chain"],
    remediation=(
        "Set `gce_setup=...(shielded_instance_config=...(enable_secure_boot=True, "
        "enable_vtpm=True, enable_integrity_monitoring=True))`."
    ),
    # As for VMs: GPU notebook images with unsigned drivers cannot secure-boot (advisory in
    # dev, required in staging and prod unless waived with a reason).
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_GCP_126"), checkov("CKV_GCP_127"), cis("gcp", "4.8")],
    since=2,
)
