"""Azure container registries (rule 22)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import Present, Setting, settings_check

REGISTRY = "azure-native:containerregistry:Registry"

# Both default to off; only an explicit true opens the registry.
_ACCESS = {
    REGISTRY: (
        Setting("adminUserEnabled", (False,), unset_ok=True),
        Setting("anonymousPullEnabled", (False,), unset_ok=True),
    ),
}

acr_disable_admin_and_anonymous_pull = resource_rule(
    "azure-acr-disable-admin-and-anonymous-pull",
    "Container registries have the admin user and anonymous pull off.",
    types=_ACCESS,
    check=settings_check(_ACCESS, "registry must be reached with Entra identities only"),
    severity=Severity.HIGH,
    tags=["iam", "authentication", "supply-chain"],
    remediation=(
        "Set `admin_user_enabled=False` and `anonymous_pull_enabled=False`; grant AcrPull to the "
        "workload's managed identity."
    ),
    references=[mcsb("IM-1"), checkov("CKV_AZURE_137"), checkov("CKV_AZURE_138")],
)

# Images (the model itself) under the stack's Key Vault key (review D-3); Premium SKU only.
_CMK = {
    REGISTRY: (
        Setting("encryption.status", ("enabled",)),
        Present("encryption.keyVaultProperties.keyIdentifier", "the Key Vault key's URI"),
    ),
}

acr_require_cmk = resource_rule(
    "azure-acr-require-cmk",
    "Container registries encrypt images with a customer-managed key (Premium SKU).",
    types=_CMK,
    check=settings_check(_CMK, "registry is not encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Set `encryption=containerregistry.EncryptionPropertyArgs(status="enabled", '
        "key_vault_properties=containerregistry.KeyVaultPropertiesArgs(key_identifier=<key "
        "URI>, identity=<client id>))` on a Premium registry; only at creation, and the identity "
        "must reach the vault (a firewalled vault admits a registry's system-assigned identity "
        "through the trusted-services bypass, not a user-assigned one)."
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5")],
    since=2,
)
