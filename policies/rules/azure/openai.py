"""Hosted LLMs on Azure OpenAI / AI Services accounts: customer-managed keys, restricted
outbound access, and content filtering on every model deployment.

Local auth, public network access (including network ACLs defaulting to Deny) and the managed
identity of accounts are cognitive.py's rules; these add what is specific to hosting models.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.azure.state import UNKNOWN, of_type, read
from policies.rules.base import OPERATIONAL, as_list, resource_rule, stack_rule
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


def _policy_matches(deployment: PolicyResource, policy: PolicyResource, name: Any) -> bool:
    """Whether ``policy`` is the RAI policy ``deployment`` names, on the same account."""
    bound = any(
        dep.urn == policy.urn for dep in deployment.property_dependencies.get("properties", [])
    )
    if not bound and read(policy.props, "raiPolicyName") != name:
        return False
    mine, theirs = read(deployment.props, "accountName"), read(policy.props, "accountName")
    if isinstance(mine, str) and isinstance(theirs, str):
        return mine == theirs
    shared = {d.urn for d in deployment.property_dependencies.get("accountName", [])}
    return bound or bool(
        shared & {d.urn for d in policy.property_dependencies.get("accountName", [])}
    )


def _deployments_without_policy(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    policies = of_type(args.resources, RAI_POLICY)
    for deployment in of_type(args.resources, DEPLOYMENT):
        name = read(deployment.props, "properties.raiPolicyName")
        if name is UNKNOWN:
            continue  # a preview cannot tell yet; the update will
        if not isinstance(name, str) or not name.strip():
            yield (
                f"model deployment '{deployment.name}' names no content filter policy: "
                f"`properties.raiPolicyName` is {show(name)}; bind it to a RaiPolicy defined in "
                "this stack.",
                deployment.urn,
            )
            continue
        if not any(_policy_matches(deployment, p, name) for p in policies):
            yield (
                f"model deployment '{deployment.name}' runs under content filter policy "
                f"{show(name)}, which this stack does not define (a built-in default such as "
                "Microsoft.DefaultV2, or one changed outside review): define the RaiPolicy on the "
                "deployment's account in the stack and bind it by name.",
                deployment.urn,
            )


openai_deployment_require_content_filter = stack_rule(
    "azure-openai-deployment-require-content-filter",
    "Every LLM deployment is bound to a content filter (RAI) policy defined in the same stack, "
    "on the same account, so the filtering is reviewed with the code.",
    check=_deployments_without_policy,
    severity=Severity.MEDIUM,
    tags=["content-safety"],
    remediation=(
        "Create `cognitiveservices.RaiPolicy(account_name=<account>.name, rai_policy_name=...)` "
        "and set `properties=cognitiveservices.DeploymentPropertiesArgs(rai_policy_name="
        "<policy>.name, model=...)` on the Deployment."
    ),
    # Advisory in dev, mandatory in staging and prod (operational): a stack serving an LLM
    # there without its own guardrail fails.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[guardrail("20")],
    since=2,
    types=[DEPLOYMENT, RAI_POLICY],
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
