"""Hosted-LLM rules (policies/rules/azure/openai.py) on small real programs: OpenAI / AI
Services accounts, model deployments and content filter (RAI) policies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.cognitiveservices as cognitive
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import openai
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
BY_NAME: dict[str, Policy] = {p.name: p for p in vars(openai).values() if isinstance(p, Policy)}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def account(kind: str = "OpenAI", **over: Any) -> Callable[[], object]:
    props: dict[str, Any] = {
        "custom_sub_domain_name": "acme-llm",
        "disable_local_auth": True,
        "public_network_access": "Disabled",
        "restrict_outbound_network_access": True,
        "allowed_fqdn_list": ["acmedocs.blob.core.windows.net"],
        "encryption": cognitive.EncryptionArgs(
            key_source="Microsoft.KeyVault",
            key_vault_properties=cognitive.KeyVaultPropertiesArgs(
                key_name="llm", key_vault_uri="https://kv.vault.azure.net", key_version="1"
            ),
        ),
    }
    return lambda: cognitive.Account(
        TARGET,
        resource_group_name=RG,
        kind=kind,
        sku=cognitive.SkuArgs(name="S0"),
        identity=cognitive.IdentityArgs(type=cognitive.ResourceIdentityType.SYSTEM_ASSIGNED),
        properties=cognitive.AccountPropertiesArgs(**{**props, **over}),
    )


def deployment(rai_policy_name: str | None = "Microsoft.DefaultV2") -> Callable[[], object]:
    return lambda: cognitive.Deployment(
        TARGET,
        resource_group_name=RG,
        account_name="acme-llm",
        sku=cognitive.SkuArgs(name="GlobalStandard", capacity=10),
        properties=cognitive.DeploymentPropertiesArgs(
            model=cognitive.DeploymentModelArgs(
                format="OpenAI", name="gpt-4o", version="2024-11-20"
            ),
            rai_policy_name=rai_policy_name,
        ),
    )


def content_filter(
    name: str, source: str, enabled: bool = True, blocking: bool = True
) -> cognitive.RaiPolicyContentFilterArgs:
    return cognitive.RaiPolicyContentFilterArgs(
        name=name, source=source, enabled=enabled, blocking=blocking, severity_threshold="Medium"
    )


def rai_policy(**changed: tuple[bool, bool]) -> Callable[[], object]:
    """A policy with every harm filter on both sides; ``changed`` maps "Name_Source" to
    (enabled, blocking)."""
    filters = []
    for name in ("Hate", "Sexual", "Violence", "Selfharm"):
        for source in ("Prompt", "Completion"):
            enabled, blocking = changed.get(f"{name}_{source}", (True, True))
            filters.append(content_filter(name, source, enabled, blocking))
    enabled, blocking = changed.get("Jailbreak_Prompt", (True, True))
    filters.append(content_filter("Jailbreak", "Prompt", enabled, blocking))
    enabled, blocking = changed.get("Profanity_Prompt", (True, True))
    filters.append(content_filter("Profanity", "Prompt", enabled, blocking))
    return lambda: cognitive.RaiPolicy(
        TARGET,
        resource_group_name=RG,
        account_name="acme-llm",
        properties=cognitive.RaiPolicyPropertiesArgs(
            base_policy_name="Microsoft.DefaultV2", mode="Blocking", content_filters=filters
        ),
    )


def bound_deployment(
    bind: str = "output", policy_account: str = "acme-llm", rai_name: str = "guardrail"
) -> Callable[[], object]:
    """An account, an RAI policy on ``policy_account`` and a deployment bound to it: by the
    policy's output (``bind="output"``), by its literal name, or to a built-in policy."""

    def program() -> None:
        acct = cognitive.Account(
            "account",
            account_name="acme-llm",
            resource_group_name=RG,
            kind="OpenAI",
            sku=cognitive.SkuArgs(name="S0"),
        )
        policy = cognitive.RaiPolicy(
            "policy",
            resource_group_name=RG,
            account_name=acct.name if policy_account == "acme-llm" else policy_account,
            rai_policy_name=rai_name,
            properties=cognitive.RaiPolicyPropertiesArgs(base_policy_name="Microsoft.DefaultV2"),
        )
        name: Any = {
            "output": policy.name.apply(lambda _: rai_name),
            "literal": rai_name,
            "builtin": "Microsoft.DefaultV2",
            "none": None,
        }[bind]
        cognitive.Deployment(
            TARGET,
            resource_group_name=RG,
            account_name=acct.name,
            sku=cognitive.SkuArgs(name="GlobalStandard", capacity=10),
            properties=cognitive.DeploymentPropertiesArgs(
                model=cognitive.DeploymentModelArgs(
                    format="OpenAI", name="gpt-4o", version="2024-11-20"
                ),
                rai_policy_name=name,
            ),
        )

    return program


Case = tuple[Callable[[], object], bool]
CMK = "azure-openai-require-cmk"
OUTBOUND = "azure-openai-restrict-outbound-access"
DEPLOYMENT = "azure-openai-deployment-require-content-filter"
FILTERS = "azure-openai-content-filters-enabled"

CASES: dict[str, Case] = {
    f"{CMK}:ok": (account(), False),
    f"{CMK}:ai-services-ok": (account(kind="AIServices"), False),
    f"{CMK}:microsoft-keys": (account(encryption=None), True),
    f"{CMK}:ai-services-microsoft-keys": (account(kind="AIServices", encryption=None), True),
    f"{CMK}:speech-not-judged": (account(kind="SpeechServices", encryption=None), False),
    f"{OUTBOUND}:ok": (account(), False),
    f"{OUTBOUND}:unrestricted": (account(restrict_outbound_network_access=False), True),
    f"{OUTBOUND}:unset": (
        account(restrict_outbound_network_access=None, allowed_fqdn_list=None),
        True,
    ),
    f"{DEPLOYMENT}:ok-bound-by-output": (bound_deployment(), False),
    f"{DEPLOYMENT}:ok-bound-by-name": (bound_deployment("literal"), False),
    f"{DEPLOYMENT}:builtin-policy": (bound_deployment("builtin"), True),
    f"{DEPLOYMENT}:policy-on-another-account": (
        bound_deployment("literal", policy_account="other-llm"),
        True,
    ),
    f"{DEPLOYMENT}:ok-own-policy-name": (bound_deployment("literal", rai_name="x"), False),
    f"{DEPLOYMENT}:no-policy-in-stack": (deployment("guardrail"), True),
    f"{DEPLOYMENT}:unnamed": (deployment(None), True),
    f"{DEPLOYMENT}:empty": (deployment(""), True),
    f"{FILTERS}:ok": (rai_policy(), False),
    f"{FILTERS}:profanity-off-not-judged": (rai_policy(Profanity_Prompt=(False, False)), False),
    f"{FILTERS}:hate-completion-off": (rai_policy(Hate_Completion=(False, True)), True),
    f"{FILTERS}:violence-annotate-only": (rai_policy(Violence_Prompt=(True, False)), True),
    f"{FILTERS}:jailbreak-off": (rai_policy(Jailbreak_Prompt=(False, False)), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def test_each_disabled_filter_is_named() -> None:
    """azure-openai-content-filters-enabled: one message per filter and field, naming both."""
    policy = openai.openai_content_filters_enabled
    program = rai_policy(Sexual_Prompt=(False, False))
    messages = [f.message for f in evaluate([policy], [proxied(r) for r in run_program(program)])]
    assert len(messages) == 2
    assert all("Sexual (Prompt)" in m for m in messages)
    assert any(".enabled` is false" in m for m in messages)


def test_waiver_records_an_approved_modified_filter() -> None:
    """A policy Microsoft approved for modified filtering is waived with the approval."""
    policy = openai.openai_content_filters_enabled
    waiver = {"waivers": [{"resource": TARGET, "reason": "modified content filtering approved"}]}
    assert findings_for(policy, rai_policy(Hate_Prompt=(False, False)), waiver) == set()
