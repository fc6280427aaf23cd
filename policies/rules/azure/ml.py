"""Azure Machine Learning workspaces and online endpoints (rule 21)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.settings import Setting, settings_check

WORKSPACE = "azure-native:machinelearningservices:Workspace"
ONLINE_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"

_WORKSPACE_NETWORK = {WORKSPACE: (Setting("publicNetworkAccess", ("Disabled",)),)}

ml_workspace_disable_public_network = resource_rule(
    "azure-ml-workspace-disable-public-network",
    "Machine Learning workspaces are reached through private endpoints only.",
    types=_WORKSPACE_NETWORK,
    check=settings_check(_WORKSPACE_NETWORK, "workspace must not be reachable from the internet"),
    severity=Severity.HIGH,
    tags=["network"],
    remediation=(
        'Set `public_network_access="Disabled"` on the Workspace and add a private endpoint '
        "(or a managed network)."
    ),
)

# AADToken (Entra ID) and AMLToken are short-lived tokens; "Key" is a static shared secret.
_ENDPOINT_AUTH = {ONLINE_ENDPOINT: (Setting("properties.authMode", ("AADToken", "AMLToken")),)}

ml_endpoint_require_token_auth = resource_rule(
    "azure-ml-endpoint-require-token-auth",
    "Online endpoints authenticate callers with expiring tokens (Entra ID), not static keys.",
    types=_ENDPOINT_AUTH,
    check=settings_check(_ENDPOINT_AUTH, "endpoint keys are long-lived shared secrets"),
    severity=Severity.MEDIUM,
    tags=["iam"],
    remediation=(
        "Set `properties=machinelearningservices.OnlineEndpointPropertiesArgs("
        'auth_mode="AADToken", ...)` and grant callers the AzureML Data Scientist role.'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
)
