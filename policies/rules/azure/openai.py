"""Hosted LLMs on Azure OpenAI / AI Services accounts: customer-managed keys, restricted
outbound access, and content filtering on every model deployment.

Local auth, public network access (including network ACLs defaulting to Deny) and the managed
identity of accounts are cognitive.py's rules; these add what is specific to hosting models.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.azure.state import UNKNOWN, read
from policies.rules.base import OPERATIONAL, as_list, resource_rule
from policies.rules.references import checkov, guardrail, mcsb
from policies.rules.settings import Setting, show

ACCOUNT = "azure-native:cognitiveservices:Account"
DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
RAI_POLICY = "azure-native:cognitiveservices:RaiPolicy"
# Account kinds that host LLM deployments.
LLM_KINDS = {"openai", "aiservices"}


def _hosts_llms(props: Mapping[str, Any]) -> bool:
    kind = read(props, "kind")
    return isinstance(kind, str) and kind.casefold() in LLM_KINDS


def _account_setting(setting: Setting, demand: str) -> Any:
    def check(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
        if not _hosts_llms(props):
            return
        value = read(props, setting.path)
        if value is UNKNOWN or setting.satisfied(props):
            return
        yield f"{demand}: `{setting.path}` is {show(value)}; set {setting.describe()}."

    return check


openai_require_cmk = resource_rule(
    "azure-openai-require-cmk",
    "OpenAI / AI Services accounts encrypt stored data (fine-tuning files, batches, stored "
    "completions) with a customer-managed key.",
    types=[ACCOUNT],
    check=_account_setting(
        Setting("properties.encryption.keySource", ("Microsoft.KeyVault",)),
        "account data is not encrypted with a customer-managed key",
    ),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Set `properties=cognitiveservices.AccountPropertiesArgs(encryption=cognitiveservices."
        'EncryptionArgs(key_source="Microsoft.KeyVault", key_vault_properties=...), ...)` with '
        "an identity that can use the key."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV2_AZURE_22"), mcsb("DP-5")],
    since=2,
)

openai_restrict_outbound_access = resource_rule(
    "azure-openai-restrict-outbound-access",
    "OpenAI / AI Services accounts can reach only the listed FQDNs (data-exfiltration "
    "protection for features that fetch data: On Your Data, tools, fine-tuning sources).",
    types=[ACCOUNT],
    check=_account_setting(
        Setting("properties.restrictOutboundNetworkAccess", (True,)),
        "account can send data to any internet destination",
    ),
    severity=Severity.MEDIUM,
    tags=["network-exposure"],
    remediation=(
        "Set `restrict_outbound_network_access=True` and `allowed_fqdn_list=[...]` in the "
        "account's properties."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_247")],
    since=2,
)


def _deployment_filter(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    value = read(props, "properties.raiPolicyName")
    if value is UNKNOWN or (isinstance(value, str) and value.strip()):
        return
    yield (
        "model deployment names no content filter policy: `properties.raiPolicyName` is "
        f'{show(value)}; name the RAI policy it must run under (e.g. "Microsoft.DefaultV2" or '
        "the account's own RaiPolicy) so the filtering is reviewed with the code."
    )


openai_deployment_require_content_filter = resource_rule(
    "azure-openai-deployment-require-content-filter",
    "Every LLM deployment names the content filter (RAI) policy it runs under.",
    types=[DEPLOYMENT],
    check=_deployment_filter,
    severity=Severity.MEDIUM,
    tags=["content-safety"],
    remediation=(
        "Set `properties=cognitiveservices.DeploymentPropertiesArgs(rai_policy_name="
        '"Microsoft.DefaultV2" (or <RaiPolicy>.name), model=...)`.'
    ),
    # The service applies its default filter when none is named: naming it is review hygiene.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[guardrail("20")],
    since=2,
)

# The harm categories the default policy blocks at medium severity on prompts and completions,
# and prompt-attack detection. Switching these off needs Microsoft's approval (modified content
# filtering); a deployment that has it records a waiver with the approval.
HARM_FILTERS = {"hate", "sexual", "violence", "selfharm", "jailbreak"}


def _disabled_filters(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    filters = read(props, "properties.contentFilters")
    if filters is UNKNOWN:
        return
    for i, item in enumerate(as_list(filters)):
        if not isinstance(item, Mapping):
            continue
        name = read(item, "name")
        if not isinstance(name, str) or name.replace(" ", "").casefold() not in HARM_FILTERS:
            continue
        source = read(item, "source")
        where = f"{name} ({source})" if isinstance(source, str) else name
        for field in ("enabled", "blocking"):
            if read(item, field) is False:
                yield (
                    f"content filter {where} does not block harmful content: "
                    f"`properties.contentFilters[{i}].{field}` is false; set it to true."
                )


openai_content_filters_enabled = resource_rule(
    "azure-openai-content-filters-enabled",
    "RAI (content filter) policies keep the hate, sexual, violence, self-harm and jailbreak "
    "filters on and blocking.",
    types=[RAI_POLICY],
    check=_disabled_filters,
    severity=Severity.HIGH,
    tags=["content-safety"],
    remediation=(
        "Keep `enabled=True, blocking=True` on the Hate, Sexual, Violence, Selfharm and "
        "Jailbreak content filters (raise `severity_threshold` instead of turning one off)."
    ),
    references=[guardrail("20")],
    since=2,
)
