"""The policy waivers the Azure pattern components declare, each with its written reason.

A waiver names one resource (by its logical name) and says why the control cannot be applied
there, or what replaces it. The generator writes them into the project's pack config, so both
runners and every report show them (components/registry.py ``policy_waivers``). Each reason is
repeated in docs/patterns/azure.md.
"""

from __future__ import annotations

from typing import Any

from components.alarms import Tier
from components.spec import Pattern

# rule -> ((resource suffix after the component name, reason), ...), per pattern.
_ROLLBACK_INGRESS = (
    "rollback",
    "Azure Monitor action groups call the rollback service from the ActionGroup service tag, "
    "whose addresses change and which Container Apps IP rules (CIDRs only) cannot name. Every "
    "call must carry an Entra token that Azure Monitor's action-group application obtained for "
    "this stack's webhook application; the service verifies its signature, issuer, audience "
    "and appid before reading anything (review B1), and then acts only on an alert it reads "
    "back from Azure Monitor itself.",
)
_ENV_CMK = (
    "Container Apps disk encryption with a customer-managed key is a preview API (2025-02-02-"
    "preview) reading the key as a user-assigned identity; Container Apps is not a Key Vault "
    "trusted service and the stack vault has public network access off, so the environment could "
    "not reach the key (review A6). Disks use platform-managed keys; no model data is stored on "
    "them (data lives in the CMK-encrypted storage, Service Bus, Cosmos DB and ML workspace)."
)
_INGESTION = (
    "Closing public ingestion needs an Azure Monitor Private Link Scope with a private endpoint "
    "in every sender's network; API Management (classic tier, not VNet-injected), the Front "
    "Door standard test and the consumption Container Apps environments have none. Ingestion "
    "is Entra-only (local auth off: Monitoring Metrics Publisher per identity), over TLS."
)
_PRIVATE_ORIGIN = (
    "apim",
    "Front Door Premium's Private Link origin to API Management needs the connection approved "
    "after both exist, and API Management refuses public network access Disabled at creation: "
    "a second deployment step, documented as the production option in docs/patterns/azure.md. "
    "Until then only requests carrying this Front Door's X-Azure-FDID pass the gateway policy.",
)
_ACR_CMK = (
    "acr",
    "ACR encryption is set only at creation and reads the key as the registry's identity; a "
    "firewalled vault admits a registry only through the trusted-services bypass with a "
    "system-assigned identity, which cannot be granted before the registry exists (review A6). "
    "The release image of record lives in the bootstrap registry, which is CMK-encrypted.",
)
_KEDA_OWNER = (
    "grant-scaler-queue",
    "KEDA's azure-servicebus scaler reads the queue's runtime properties (active message "
    "count), a management read Service Bus authorizes only for Azure Service Bus Data Owner. "
    "It is assigned on the one queue, to an identity no container runs as.",
)
_ROLLBACK_CODE = (
    "rollback",
    "The rollback service's secrets are its own Python source (rollback_fn/*.py mounted as a "
    "secret volume so the image stays a stock Python image), not credentials: nothing in them "
    "grants access, and the code's digest is the revision suffix. The service reads no "
    "credential; it signs in as its managed identity.",
)
_PAGING_WEBHOOK = (
    "A paging destination is a third-party URL (Slack or Teams workflow, incident tool) that "
    "cannot verify an Entra token; it only notifies people and can change nothing. Its URL is "
    "a Pulumi secret (never in the stack file, state or preview)."
)

_HEALTH_API = (
    "health-api",
    "The health API is anonymous by design (review E1): the pipeline's watch and the "
    "availability test probe it without credentials. It answers one GET route with the model's "
    "readiness only, passes the same Front Door WAF and X-Azure-FDID check as predict, and is "
    "rate limited per caller IP at the gateway.",
)

# The LLM guardrail's account (components/azure/guardrail.py; only LLM stacks have one).
_GUARDRAIL_NETWORK = (
    "guardrail",
    "The guardrail account is called by API Management (classic tier, not VNet-injected) and by "
    "the model's consumption Container Apps environment, which have no fixed egress address or "
    "virtual network for an IP rule or a private endpoint. Local (key) auth is off: every call "
    "needs an Entra token of an identity granted a data-plane role on this account alone.",
)
_GUARDRAIL_CMK = (
    "guardrail",
    "Azure AI services encrypt with RSA-2048 Key Vault keys only and customer-managed keys need "
    "Microsoft's approval (request form); the stack key is RSA-3072. The account stores nothing "
    "of this stack: no fine-tuning files, batches or stored completions; the content-filter "
    "policy is configuration kept in code.",
)

PATTERN_WAIVERS: dict[Pattern, dict[str, tuple[tuple[str, str], ...]]] = {
    Pattern.API_FIRST: {
        "azure-apim-api-require-authentication": (_HEALTH_API,),
        "azure-container-app-restrict-external-ingress": (_ROLLBACK_INGRESS,),
        "azure-container-app-secrets-from-key-vault": (_ROLLBACK_CODE,),
        "azure-container-app-environment-require-cmk": (
            ("env", _ENV_CMK),
            ("rollback-env", _ENV_CMK),
        ),
        "azure-apim-require-private-origin": (_PRIVATE_ORIGIN,),
        "azure-monitor-disable-public-ingestion": (
            ("logs", _INGESTION),
            ("appinsights", _INGESTION),
        ),
    },
    Pattern.EVENT_DRIVEN: {
        "azure-container-app-environment-require-cmk": (("env", _ENV_CMK),),
        "azure-monitor-disable-public-ingestion": (
            ("logs", _INGESTION),
            ("appinsights", _INGESTION),
        ),
        "azure-role-assignment-flag-data-owner": (_KEDA_OWNER,),
    },
    Pattern.MANAGED_PLATFORM: {
        "azure-container-app-restrict-external-ingress": (_ROLLBACK_INGRESS,),
        "azure-container-app-secrets-from-key-vault": (_ROLLBACK_CODE,),
        "azure-container-app-environment-require-cmk": (("rollback-env", _ENV_CMK),),
        "azure-acr-require-cmk": (_ACR_CMK,),
        "azure-monitor-disable-public-ingestion": (
            ("logs", _INGESTION),
            ("appinsights", _INGESTION),
        ),
    },
}

# Waivers of an LLM stack only (a stack without an LLM has no guardrail account to name).
LLM_WAIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "azure-ai-services-disable-public-network": (_GUARDRAIL_NETWORK,),
    "azure-openai-require-cmk": (_GUARDRAIL_CMK,),
}

WEBHOOK_RULE = "azure-action-group-webhook-require-aad-auth"


def paging_webhook_tiers(spec: Any) -> list[Tier]:
    """The tiers whose action group has a webhook destination (a third-party URL)."""
    from components.azure.monitoring import WEBHOOK_KINDS

    if spec is None:
        return []
    return [
        tier
        for tier in Tier
        if any(d.kind in WEBHOOK_KINDS for d in spec.alerts.destinations(tier.value))
    ]


def policy_waivers(
    name: str, pattern: Pattern, spec: Any = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config waiving the pattern's declared exceptions for the component ``name``; with a
    spec, also the paging action groups that deliver to third-party webhooks and, for an LLM
    stack, its guardrail account's."""
    declared = dict(PATTERN_WAIVERS[pattern])
    if spec is not None and spec.llm.enabled:
        declared |= LLM_WAIVERS
    entries: dict[str, dict[str, list[dict[str, str]]]] = {
        rule: {
            "waivers": [
                {"resource": f"{name}-{suffix}", "reason": reason} for suffix, reason in items
            ]
        }
        for rule, items in declared.items()
    }
    tiers = paging_webhook_tiers(spec)
    if tiers:
        entries[WEBHOOK_RULE] = {
            "waivers": [
                {"resource": f"{name}-alerts-{tier.value}", "reason": _PAGING_WEBHOOK}
                for tier in tiers
            ]
        }
    return entries
