"""The LLM guardrail of the api-first pattern on Azure (components/llm.py's neutral setting).

- ``llm.mode: hosted``: an Azure OpenAI account (Entra only), a content-filter (RAI) policy
  mapped from :class:`~components.llm.GuardrailSettings` through the tables below, and the
  model deployment bound to it (``properties.rai_policy_name``). The serving container calls
  chat completions on that deployment as its own identity (Cognitive Services OpenAI User on
  this account alone); the filter runs inside the service on every prompt and completion.
- ``llm.mode: self-hosted``: an Azure AI Content Safety account (Entra only). The model
  server's hook sends every prompt and every answer to Prompt Shields and text:analyze, read
  whole in chunks (Cognitive Services User on this account alone).

Not at the gateway: API Management's ``llm-content-safety`` policy calls Content Safety through
a backend that must authenticate with the gateway's managed identity, and the backend of the
pinned SDK (API 2024-05-01) has no managed-identity credential; with key auth off it would
answer 500 to every prompt. The hook checks prompt and answer whole instead.

Not mapped, and why (docs/patterns/azure.md):

- PII: the RAI policy of the pinned SDK (API 2025-06-01) names no PII filter and Content Safety
  has no PII analysis; the hook masks or refuses PII locally (``pii``/``pii_action`` in its
  config) in both modes.
- Denied topics: ``RaiPolicyProperties`` of API 2025-06-01 has no custom-topic list (``RaiTopic``
  exists but no policy can reference it, and it learns from a blob of samples); a blocklist
  matches terms, not subjects. So Azure is not in components.llm.DENIED_TOPIC_CLOUDS: the spec
  refuses denied topics on Azure instead of pretending to enforce them.
- Customer-managed key: Azure AI services encrypt with RSA-2048 keys only and CMK needs an
  approval form; the stack key is RSA-3072 and nothing of this stack is stored in the account
  (no fine-tuning, no stored completions). Declared as a waiver (components/azure/waivers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native.cognitiveservices as cognitive
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components import llm
from components.azure import security
from components.llm import HarmCategory, LlmMode, LlmSettings, Strength
from components.spec import DeploymentSpec

# -- hosted: the RAI (content filter) policy --------------------------------------------------
# Neutral category -> the RAI content filter that covers it. Azure has four harm filters:
# harassment is listed under "hate and fairness" (harassment and bullying of identity groups),
# misconduct (weapons, extremism, criminal planning) is nearest to "violence". Two neutral
# categories on one filter: the stronger strength wins.
RAI_HARM_FILTERS: dict[HarmCategory, str] = {
    HarmCategory.HATE: "Hate",
    HarmCategory.SEXUAL: "Sexual",
    HarmCategory.VIOLENCE: "Violence",
    HarmCategory.SELF_HARM: "Selfharm",
    HarmCategory.HARASSMENT: "Hate",
    HarmCategory.MISCONDUCT: "Violence",
}
# Strength -> the lowest severity the filter blocks. HIGH strength blocks low severity and
# above. A harm filter cannot be switched off without Microsoft's approval (modified content
# filtering; azure-openai-content-filters-enabled), so OFF keeps the service's floor: high only.
RAI_SEVERITY: dict[Strength, str] = {
    Strength.HIGH: cognitive.ContentLevel.LOW.value,
    Strength.MEDIUM: cognitive.ContentLevel.MEDIUM.value,
    Strength.LOW: cognitive.ContentLevel.HIGH.value,
    Strength.OFF: cognitive.ContentLevel.HIGH.value,
}
# Prompt attacks: direct (jailbreak) and indirect (documents carrying instructions), checked on
# the prompt side. They have no severity: any strength but OFF blocks; OFF only annotates.
RAI_PROMPT_ATTACK_FILTERS: tuple[str, ...] = ("Jailbreak", "Indirect Attack")
RAI_HARM_SOURCES: tuple[str, ...] = (
    cognitive.RaiPolicyContentSource.PROMPT.value,
    cognitive.RaiPolicyContentSource.COMPLETION.value,
)
RAI_BASE_POLICY = "Microsoft.DefaultV2"
# Blocking: the filter runs before the caller sees anything (streaming included); the async
# modes (Asynchronous_filter, formerly Deferred) would let unfiltered tokens through.
RAI_MODE = cognitive.RaiPolicyMode.BLOCKING.value
RAI_POLICY_NAME = "aideploy-guardrail"

# -- hosted: the model deployment -------------------------------------------------------------
# GlobalStandard is offered for the current models in every region of LLM_REGIONS["azure"];
# data at rest stays in the account's geography, prompts may be processed in any Azure region
# (DataZoneStandard keeps processing in the EU or US data zone where the region is in one;
# Standard keeps it in the region but is offered for fewer models and regions).
DEPLOYMENT_SKU = "GlobalStandard"
# Capacity is in units of 1,000 tokens per minute: this many per serving replica the profile
# allows (capacity.max_instances), so a larger environment gets a larger quota.
TPM_THOUSANDS_PER_INSTANCE = 10
# A pinned model version is kept until Azure retires it, then moved to the new default
# (NoAutoUpgrade would stop the deployment at retirement).
VERSION_UPGRADE = cognitive.DeploymentModelVersionUpgradeOption.ONCE_CURRENT_VERSION_EXPIRED.value

# -- both ---------------------------------------------------------------------------------------
ACCOUNT_KIND: dict[LlmMode, str] = {LlmMode.HOSTED: "OpenAI", LlmMode.SELF_HOSTED: "ContentSafety"}
# The data-plane host of each kind (custom subdomain: token authentication needs one).
ENDPOINT_HOST: dict[LlmMode, str] = {
    LlmMode.HOSTED: "openai.azure.com",
    LlmMode.SELF_HOSTED: "cognitiveservices.azure.com",
}
# The serving identity's role on the account (security.BUILTIN_ROLES keys): call the model's
# inference API / call Content Safety; neither can read keys or change the account.
SERVING_ROLE: dict[LlmMode, str] = {
    LlmMode.HOSTED: "cognitive-services-openai-user",
    LlmMode.SELF_HOSTED: "cognitive-services-user",
}
ACCOUNT_SUFFIX = "guardrail"


def rai_content_filters(llm_settings: LlmSettings) -> list[cognitive.RaiPolicyContentFilterArgs]:
    """The RAI policy's content filters for the neutral guardrail (both sources per harm)."""
    guardrail = llm_settings.guardrail
    order = list(dict.fromkeys(RAI_HARM_FILTERS.values()))
    rank = list(Strength)
    strongest: dict[str, Strength] = {}
    for category, name in RAI_HARM_FILTERS.items():
        current = strongest.get(name, Strength.OFF)
        wanted = guardrail.strength(category)
        strongest[name] = max(current, wanted, key=rank.index)
    filters = [
        cognitive.RaiPolicyContentFilterArgs(
            name=name,
            source=source,
            enabled=True,
            blocking=True,
            severity_threshold=RAI_SEVERITY[strongest[name]],
        )
        for name in order
        for source in RAI_HARM_SOURCES
    ]
    attack_on = guardrail.prompt_attack is not Strength.OFF
    filters += [
        cognitive.RaiPolicyContentFilterArgs(
            name=name,
            source=cognitive.RaiPolicyContentSource.PROMPT.value,
            enabled=True,
            blocking=attack_on,
        )
        for name in RAI_PROMPT_ATTACK_FILTERS
    ]
    return filters


def deployment_capacity(spec: DeploymentSpec) -> int:
    """The deployment's quota in thousands of tokens per minute."""
    return TPM_THOUSANDS_PER_INSTANCE * spec.capacity.max_instances


# The account's name part per mode: an account's kind cannot change, and a deleted account keeps
# its name for 48 hours (soft delete), so switching llm.mode on a live stack must replace the
# account under another name.
ACCOUNT_NAMES: dict[LlmMode, str] = {LlmMode.HOSTED: "openai", LlmMode.SELF_HOSTED: "safety"}


def subdomain(spec: DeploymentSpec) -> str:
    """The account's name and custom subdomain (unique worldwide: it carries the stack's
    suffix, and the mode: see :data:`ACCOUNT_NAMES`)."""
    return security.physical_name(spec, "container-app", ACCOUNT_NAMES[spec.llm.mode])


def endpoint_url(mode: LlmMode, sub: str) -> str:
    """The account's data-plane endpoint for its custom subdomain."""
    return f"https://{sub}.{ENDPOINT_HOST[mode]}/"


@dataclass(frozen=True)
class Guardrail:
    """The guardrail's resources and what the serving container and the gateway need."""

    mode: LlmMode
    account: cognitive.Account
    endpoint: pulumi.Output[str]
    grant: pulumi.Resource
    rai_policy: cognitive.RaiPolicy | None = None
    deployment: cognitive.Deployment | None = None
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def create_guardrail(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    serving: security.Identity,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
) -> Guardrail | None:
    """The stack's guardrail for ``spec.llm`` (None without an LLM); its audit and request
    logs and metrics go to ``workspace``."""
    settings = spec.llm
    if not settings.enabled:
        return None
    mode = settings.mode
    sub = subdomain(spec)
    account = cognitive.Account(
        f"{name}-{ACCOUNT_SUFFIX}",
        account_name=sub,
        resource_group_name=rg.name,
        location=spec.region,
        kind=ACCOUNT_KIND[mode],
        sku=cognitive.SkuArgs(name="S0"),
        identity=cognitive.IdentityArgs(type=cognitive.ResourceIdentityType.SYSTEM_ASSIGNED),
        properties=cognitive.AccountPropertiesArgs(
            custom_sub_domain_name=sub,
            disable_local_auth=True,
            # The callers are API Management (classic tier) and a consumption Container Apps
            # environment: neither has a fixed egress address or a virtual network, so the
            # account stays reachable publicly, Entra-only (a declared waiver).
            public_network_access=cognitive.PublicNetworkAccess.ENABLED.value,
            restrict_outbound_network_access=True,
            allowed_fqdn_list=[],
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )
    security.diagnostics(f"{name}-{ACCOUNT_SUFFIX}-diagnostics", account.id, workspace, opts)
    endpoint = account.name.apply(lambda _: endpoint_url(mode, sub))
    grant = security.grant(
        f"{name}-serving-{ACCOUNT_SUFFIX}-grant", serving, SERVING_ROLE[mode], account.id, opts
    )
    env: dict[str, pulumi.Input[str]] = dict(llm.hook_environment("azure", settings))
    if mode is LlmMode.SELF_HOSTED:
        env[llm.HOOK_CONTENT_SAFETY_ENDPOINT_VARIABLE] = endpoint
        return Guardrail(mode, account, endpoint, grant, env=env)
    policy = cognitive.RaiPolicy(
        f"{name}-{ACCOUNT_SUFFIX}-rai",
        account_name=account.name,
        resource_group_name=rg.name,
        rai_policy_name=RAI_POLICY_NAME,
        properties=cognitive.RaiPolicyPropertiesArgs(
            base_policy_name=RAI_BASE_POLICY,
            mode=RAI_MODE,
            content_filters=rai_content_filters(settings),
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )
    deployment_name = settings.model or ""
    deployment = cognitive.Deployment(
        f"{name}-{ACCOUNT_SUFFIX}-model",
        account_name=account.name,
        resource_group_name=rg.name,
        deployment_name=deployment_name,
        sku=cognitive.SkuArgs(name=DEPLOYMENT_SKU, capacity=deployment_capacity(spec)),
        properties=cognitive.DeploymentPropertiesArgs(
            model=cognitive.DeploymentModelArgs(
                format="OpenAI", name=settings.model, version=settings.model_version
            ),
            # From the policy's own output: the deployment waits for it, and the policy pack
            # sees the binding as a dependency (azure-openai-deployment-require-content-filter).
            rai_policy_name=policy.name.apply(lambda _: RAI_POLICY_NAME),
            version_upgrade_option=VERSION_UPGRADE,
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )
    env[llm.LLM_ENDPOINT_VARIABLE] = endpoint
    env[llm.LLM_DEPLOYMENT_VARIABLE] = deployment.name.apply(lambda _: deployment_name)
    return Guardrail(mode, account, endpoint, grant, policy, deployment, env)
