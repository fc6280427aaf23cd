"""Azure AI Search (vector / retrieval stores for RAG): not on the internet, Entra ID only,
customer-managed keys enforced, a managed identity for indexers and vectorizers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.azure.state import UNKNOWN, read
from policies.rules.base import OPERATIONAL, as_list, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import Setting, settings_check, show

SEARCH = "azure-native:search:Service"
_OPEN_RANGES = {"0.0.0.0/0", "0.0.0.0", "*", "any", "internet"}  # noqa: S104  # nosec B104 - address ranges, not a bind


def _search_network(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    access = read(props, "publicNetworkAccess")
    if access is UNKNOWN:
        return
    if isinstance(access, str) and access.casefold() in {"disabled", "securedbyperimeter"}:
        return
    # Public access on: acceptable only behind an IP allow-list that is not the internet.
    rules = as_list(read(props, "networkRuleSet.ipRules"))
    values = [read(r, "value") for r in rules if isinstance(r, Mapping)]
    if not values:
        yield (
            "search service is reachable from the internet: `publicNetworkAccess` is "
            f"{show(access)} (the service default is enabled) and `networkRuleSet.ipRules` is "
            'empty; set `publicNetworkAccess` = "Disabled" with a private endpoint, or list '
            "the allowed addresses."
        )
    for value in values:
        if isinstance(value, str) and value.strip().casefold() in _OPEN_RANGES:
            yield (
                "search service is reachable from the internet: `networkRuleSet.ipRules` allows "
                f"{show(value)}."
            )


search_disable_public_network = resource_rule(
    "azure-search-disable-public-network",
    "AI Search services are not reachable from the internet (public network access off, or "
    "an IP allow-list that excludes 0.0.0.0/0).",
    types=[SEARCH],
    check=_search_network,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        'Set `public_network_access="Disabled"` and add a private endpoint, or keep it enabled '
        "with `network_rule_set=search.NetworkRuleSetArgs(ip_rules=[search.IpRuleArgs("
        'value="<office / NAT range>")])`.'
    ),
    references=[checkov("CKV_AZURE_124"), checkov("CKV_AZURE_210"), mcsb("NS-2")],
    since=2,
)

_LOCAL_AUTH = {SEARCH: (Setting("disableLocalAuth", (True,)),)}

search_disable_local_auth = resource_rule(
    "azure-search-disable-local-auth",
    "AI Search services accept Entra ID tokens only (API keys off).",
    types=_LOCAL_AUTH,
    check=settings_check(_LOCAL_AUTH, "search accepts API keys, shared secrets that never expire"),
    severity=Severity.HIGH,
    tags=["authentication"],
    remediation=(
        "Set `disable_local_auth=True` (and no `auth_options`); grant callers Search Index Data "
        "Reader / Contributor."
    ),
    references=[mcsb("IM-1")],
    since=2,
)

_CMK = {SEARCH: (Setting("encryptionWithCmk.enforcement", ("Enabled",)),)}

search_require_cmk = resource_rule(
    "azure-search-require-cmk",
    "AI Search services refuse indexes and synonym maps that are not encrypted with a "
    "customer-managed key.",
    types=_CMK,
    check=settings_check(_CMK, "search content may be stored without a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Set `encryption_with_cmk=search.EncryptionWithCmkArgs(enforcement="Enabled")` and '
        "give each index an `encryptionKey`."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5")],
    since=2,
)

_IDENTITY = {
    SEARCH: (
        Setting(
            "identity.type", ("SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned")
        ),
    )
}

search_require_managed_identity = resource_rule(
    "azure-search-require-managed-identity",
    "AI Search services have a managed identity for indexers, skills and vectorizers (no "
    "connection strings or keys to data sources and embedding models).",
    types=_IDENTITY,
    check=settings_check(_IDENTITY, "search has no managed identity to reach its data sources"),
    severity=Severity.LOW,
    tags=["authentication"],
    remediation='Set `identity=search.IdentityArgs(type="SystemAssigned")`.',
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_207"), mcsb("IM-3")],
    since=2,
)
