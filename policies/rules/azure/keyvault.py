"""Azure Key Vault (rule 19): deletion guarded, network closed, RBAC authorization."""

from __future__ import annotations

from pulumi_policy import Severity

from policies.rules.base import resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import AnyOf, Setting, settings_check

VAULT = "azure-native:keyvault:Vault"

_PURGE = {
    VAULT: (
        Setting("properties.enablePurgeProtection", (True,)),
        # Soft delete is on by default and can no longer be turned off: only explicit false fails.
        Setting("properties.enableSoftDelete", (True,), unset_ok=True),
    ),
}

keyvault_require_purge_protection = resource_rule(
    "azure-keyvault-require-purge-protection",
    "Key vaults keep deleted keys and secrets recoverable: soft delete and purge protection on.",
    types=_PURGE,
    check=settings_check(_PURGE, "a deleted vault or key must stay recoverable"),
    severity=Severity.HIGH,
    tags=["data-protection", "encryption", "key-management", "resilience"],
    remediation=(
        "Set `enable_purge_protection=True` (and leave `enable_soft_delete` unset or True) in "
        "`keyvault.VaultPropertiesArgs`."
    ),
    references=[mcsb("DP-8"), checkov("CKV_AZURE_110"), checkov("CKV_AZURE_42")],
)

_NETWORK = {
    VAULT: (
        AnyOf(
            (
                Setting("properties.publicNetworkAccess", ("Disabled",)),
                Setting("properties.networkAcls.defaultAction", ("Deny",)),
            )
        ),
    ),
}

keyvault_restrict_network_access = resource_rule(
    "azure-keyvault-restrict-network-access",
    "Key vaults disable public network access or deny networks by default.",
    types=_NETWORK,
    check=settings_check(_NETWORK, "key vault must not be reachable from any network"),
    severity=Severity.HIGH,
    tags=["network", "network-exposure"],
    remediation=(
        'Set `public_network_access="Disabled"` (with a private endpoint) or '
        '`network_acls=keyvault.NetworkRuleSetArgs(default_action="Deny", ...)`.'
    ),
    references=[mcsb("NS-2"), checkov("CKV_AZURE_189"), checkov("CKV_AZURE_109")],
)

_RBAC = {VAULT: (Setting("properties.enableRbacAuthorization", (True,)),)}

keyvault_require_rbac_authorization = resource_rule(
    "azure-keyvault-require-rbac-authorization",
    "Key vaults authorize data access with Azure RBAC, not vault access policies.",
    types=_RBAC,
    check=settings_check(_RBAC, "vault access policies bypass RBAC and PIM"),
    severity=Severity.MEDIUM,
    tags=["iam", "least-privilege"],
    remediation=(
        "Set `enable_rbac_authorization=True` and grant roles such as Key Vault Secrets User "
        "instead of `access_policies`."
    ),
    references=[mcsb("PA-7")],
)
