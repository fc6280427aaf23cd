"""Azure AI services / Azure OpenAI accounts (rule 20)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import AnyOf, Setting, settings_check

ACCOUNT = "azure-native:cognitiveservices:Account"

_LOCAL_AUTH = {ACCOUNT: (Setting("properties.disableLocalAuth", (True,)),)}

ai_services_disable_local_auth = resource_rule(
    "azure-ai-services-disable-local-auth",
    "AI services / OpenAI accounts accept Entra ID tokens only (API keys off).",
    types=_LOCAL_AUTH,
    check=settings_check(_LOCAL_AUTH, "API keys are shared secrets that never expire"),
    severity=Severity.HIGH,
    tags=["iam", "authentication"],
    remediation=(
        "Set `properties=cognitiveservices.AccountPropertiesArgs(disable_local_auth=True, ...)` "
        "and grant callers Cognitive Services OpenAI User."
    ),
    references=[mcsb("IM-1"), checkov("CKV_AZURE_236")],
)

_NETWORK = {
    ACCOUNT: (
        AnyOf(
            (
                Setting("properties.publicNetworkAccess", ("Disabled",)),
                Setting("properties.networkAcls.defaultAction", ("Deny",)),
            )
        ),
    ),
}

ai_services_disable_public_network = resource_rule(
    "azure-ai-services-disable-public-network",
    "AI services / OpenAI accounts are not reachable from the internet.",
    types=_NETWORK,
    check=settings_check(_NETWORK, "model endpoint must not be open to every network"),
    severity=Severity.HIGH,
    tags=["network", "network-exposure"],
    remediation=(
        'Set `public_network_access="Disabled"` with a private endpoint, or '
        '`network_acls=cognitiveservices.NetworkRuleSetArgs(default_action="Deny", ...)`.'
    ),
    references=[mcsb("NS-2"), checkov("CKV_AZURE_134")],
)

# The identity types that give the account its own Entra identity (to reach Key Vault, storage).
_IDENTITY = {
    ACCOUNT: (
        Setting(
            "identity.type",
            ("SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned"),
        ),
    ),
}

ai_services_require_managed_identity = resource_rule(
    "azure-ai-services-require-managed-identity",
    "AI services / OpenAI accounts have a managed identity for the resources they reach.",
    types=_IDENTITY,
    check=settings_check(_IDENTITY, "account needs a managed identity, not stored credentials"),
    severity=Severity.LOW,
    tags=["iam", "authentication"],
    remediation='Set `identity=cognitiveservices.IdentityArgs(type="SystemAssigned")`.',
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("IM-3"), checkov("CKV_AZURE_238")],
)
