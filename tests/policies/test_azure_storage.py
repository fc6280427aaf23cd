"""Azure storage rules (17, 18) on small real programs, one change per failing case."""

from __future__ import annotations

from dataclasses import replace

import pulumi_azure_native.storage as storage
import pytest

from policies.rules.azure import storage as storage_rules
from tests.policies.harness import evaluate, names_violating, run_program
from tests.policies.test_azure_common import (
    RG,
    TARGET,
    Case,
    Program,
    account,
    container,
    findings_for,
    judge_case,
    params,
    proxied,
)

CASES: dict[str, Case] = {
    "azure-storage-require-tls12:tls12-ok": (account(), False),
    "azure-storage-require-tls12:tls12-tls10": (
        account(minimum_tls_version="TLS1_0"),
        True,
    ),
    "azure-storage-require-tls12:tls12-tls-unset": (
        account(minimum_tls_version=None),
        True,
    ),
    "azure-storage-require-tls12:tls12-http": (
        account(enable_https_traffic_only=False),
        True,
    ),
    "azure-storage-disallow-public-blob-access:public-ok": (account(), False),
    "azure-storage-disallow-public-blob-access:public-account": (
        account(allow_blob_public_access=True),
        True,
    ),
    "azure-storage-disallow-public-blob-access:public-account-unset": (
        account(allow_blob_public_access=None),
        True,
    ),
    "azure-storage-disallow-public-blob-access:public-container-ok": (container(), False),
    "azure-storage-disallow-public-blob-access:public-container-none": (
        container(public_access=storage.PublicAccess.NONE),
        False,
    ),
    "azure-storage-disallow-public-blob-access:public-container-blob": (
        container(public_access=storage.PublicAccess.BLOB),
        True,
    ),
    "azure-storage-disable-shared-key:shared-key-ok": (account(), False),
    "azure-storage-disable-shared-key:shared-key-on": (
        account(allow_shared_key_access=True),
        True,
    ),
    "azure-storage-restrict-network-access:network-ok": (account(), False),
    "azure-storage-restrict-network-access:network-deny-only": (
        account(public_network_access=None),
        False,
    ),
    "azure-storage-restrict-network-access:network-open": (
        account(
            public_network_access="Enabled",
            network_rule_set=storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.ALLOW),
        ),
        True,
    ),
    "azure-storage-require-cmk:cmk-ok": (account(), False),
    "azure-storage-require-cmk:cmk-microsoft-keys": (
        account(encryption=storage.EncryptionArgs(key_source="Microsoft.Storage")),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)


def test_waiver_with_reason_skips_only_the_named_resource() -> None:
    """azure-storage-require-tls12 waived for one account still flags the other."""
    policy = storage_rules.storage_require_tls12

    def program() -> None:
        for name in ("legacy", "fresh"):
            storage.StorageAccount(
                name,
                resource_group_name=RG,
                kind="StorageV2",
                sku=storage.SkuArgs(name="Standard_LRS"),
                minimum_tls_version="TLS1_0",
            )

    waiver = {"waivers": [{"resource": "legacy", "reason": "old SDK client until 2027-01"}]}
    assert findings_for(policy, program, waiver) == {"fresh"}


def test_versioned_token_is_checked_like_the_default_one() -> None:
    """azure-storage-disallow-public-blob-access matches azure-native:storage/v2023...:... too."""
    policy = storage_rules.storage_disallow_public_blob_access
    resources = [
        replace(proxied(r), type="azure-native:storage/v20230101:StorageAccount")
        for r in run_program(account(allow_blob_public_access=True))
    ]
    assert names_violating(evaluate([policy], resources), policy.name) == {TARGET}
