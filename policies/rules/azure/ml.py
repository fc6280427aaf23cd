"""Azure Machine Learning workspaces and online endpoints (rule 21)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import Present, Setting, settings_check

WORKSPACE = "azure-native:machinelearningservices:Workspace"
ONLINE_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"

_WORKSPACE_NETWORK = {WORKSPACE: (Setting("publicNetworkAccess", ("Disabled",)),)}

ml_workspace_disable_public_network = resource_rule(
    "azure-ml-workspace-disable-public-network",
    "Machine Learning workspaces are reached through private endpoints only.",
    types=_WORKSPACE_NETWORK,
    check=settings_check(_WORKSPACE_NETWORK, "workspace must not be reachable from the internet"),
    severity=Severity.HIGH,
    tags=["network", "network-exposure"],
    remediation=(
        'Set `public_network_access="Disabled"` on the Workspace and add a private endpoint '
        "(or a managed network)."
    ),
    references=[mcsb("NS-2"), checkov("CKV_AZURE_144")],
)

# AADToken (Entra ID) and AMLToken are short-lived tokens; "Key" is a static shared secret.
_ENDPOINT_AUTH = {ONLINE_ENDPOINT: (Setting("properties.authMode", ("AADToken", "AMLToken")),)}

ml_endpoint_require_token_auth = resource_rule(
    "azure-ml-endpoint-require-token-auth",
    "Online endpoints authenticate callers with expiring tokens (Entra ID), not static keys.",
    types=_ENDPOINT_AUTH,
    check=settings_check(_ENDPOINT_AUTH, "endpoint keys are long-lived shared secrets"),
    severity=Severity.MEDIUM,
    tags=["iam", "authentication"],
    remediation=(
        "Set `properties=machinelearningservices.OnlineEndpointPropertiesArgs("
        'auth_mode="AADToken", ...)` and grant callers the AzureML Data Scientist role.'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("IM-1")],
)

# The workspace's own data (metadata, the storage and search it provisions) under the stack's
# Key Vault key (review D-3).
_WORKSPACE_CMK = {
    WORKSPACE: (
        Setting("encryption.status", ("Enabled",)),
        Present("encryption.keyVaultProperties.keyIdentifier", "the Key Vault key's URI"),
    ),
}

ml_workspace_require_cmk = resource_rule(
    "azure-ml-workspace-require-cmk",
    "Machine Learning workspaces encrypt their data with a customer-managed key.",
    types=_WORKSPACE_CMK,
    check=settings_check(_WORKSPACE_CMK, "workspace is not encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Set `encryption=machinelearningservices.EncryptionPropertyArgs(status="Enabled", '
        "key_vault_properties=machinelearningservices.KeyVaultPropertiesArgs("
        "key_identifier=<key URI>, key_vault_arm_id=<vault id>), identity=...)`; it can only be "
        "set when the workspace is created."
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5")],
    since=2,
)
