"""AWS building block: the Bedrock guardrail in front of an LLM served behind api-first.

From the neutral :class:`components.llm.GuardrailSettings` (only when ``spec.llm.enabled``):

* an ``aws.bedrock.Guardrail`` mapped through the lookup tables below (harm categories to
  Bedrock content filters, strengths, prompt attack on the input side, PII entities with
  BLOCK or ANONYMIZE, denied topics, the blocked messages), encrypted with the stack's KMS key;
* an ``aws.bedrock.GuardrailVersion`` whose description carries
  :meth:`GuardrailSettings.fingerprint`. Editing a guardrail only changes its DRAFT; a version is
  an immutable snapshot, and the provider replaces a version when its description changes
  (``description`` is RequiresReplaceIfConfigured, ``guardrail_arn`` RequiresReplace in the
  provider's schema), so a changed setting makes a new numbered version and an unchanged one
  keeps it. ``skip_destroy`` leaves every replaced version in place for rollback;
* the serving task's grants (:func:`task_role_statements`): ``bedrock:ApplyGuardrail`` on the
  guardrail, and for a hosted model ``bedrock:InvokeModel`` / ``InvokeModelWithResponseStream``
  (what Converse and ConverseStream authorise as) only with ``bedrock:GuardrailIdentifier`` equal
  to the pinned ``<guardrail ARN>:<version>``, plus an explicit Deny of any invocation without
  it; ``kms:Decrypt`` of the guardrail's key through Bedrock (what a guardrail's caller needs);
* the container's environment (:func:`container_environment`): the hook's static part
  (components.llm.hook_environment) plus the guardrail's id, version and the region.

CLASSIC tier: the STANDARD tier needs a cross-Region guardrail profile
(``cross_region_config.guardrail_profile_identifier``), which may send prompts to other Regions
of its geography; a stack keeps its data in its own Region unless the client opts in.

A plain function: the caller's ``opts`` keep the pattern component as parent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.llm import (
    HOOK_GUARDRAIL_ID_VARIABLE,
    HOOK_GUARDRAIL_VERSION_VARIABLE,
    LLM_REGION_VARIABLE,
    GuardrailSettings,
    HarmCategory,
    LlmMode,
    LlmSettings,
    PiiAction,
    PiiEntity,
    Strength,
    hook_environment,
)
from components.naming import resource_name
from components.spec import DeploymentSpec

# -- Bedrock's limits (CreateGuardrail / CreateGuardrailVersion API reference; the provider's
# schema, hashicorp/terraform-provider-aws internal/service/bedrock/guardrail*.go) -------------
NAME_MAX = 50
NAME_RE = re.compile(r"^[0-9a-zA-Z_-]{1,50}$")
MESSAGE_MAX = 500
DESCRIPTION_MAX = 200
TOPIC_NAME_RE = re.compile(r"^[0-9a-zA-Z_ !?.-]{1,100}$")
TOPIC_DEFINITION_MAX = 200
TOPIC_EXAMPLE_MAX = 100
TOPIC_EXAMPLES_MAX = 5
TOPICS_MAX = 30
# CLASSIC: processed in the stack's Region, no cross-Region profile (see the module docstring).
TIER = "CLASSIC"

# -- the neutral setting -> Bedrock, as lookup tables ------------------------------------------
# Bedrock's content filter types: HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT (+ PROMPT_ATTACK).
# Bedrock has no self-harm filter: its nearest is VIOLENCE ("content that includes glorification
# of, or threats to inflict, physical pain, hurt, or injury"); self-harm content is physical
# injury. Harassment is INSULTS (demeaning, humiliating, mocking, bullying language). When two
# neutral categories share a Bedrock filter, the stronger of their strengths applies.
HARM_FILTERS: Mapping[HarmCategory, tuple[str, ...]] = {
    HarmCategory.HATE: ("HATE",),
    HarmCategory.SEXUAL: ("SEXUAL",),
    HarmCategory.VIOLENCE: ("VIOLENCE",),
    HarmCategory.SELF_HARM: ("VIOLENCE",),
    HarmCategory.HARASSMENT: ("INSULTS",),
    HarmCategory.MISCONDUCT: ("MISCONDUCT",),
}
STRENGTHS: Mapping[Strength, str] = {
    Strength.OFF: "NONE",
    Strength.LOW: "LOW",
    Strength.MEDIUM: "MEDIUM",
    Strength.HIGH: "HIGH",
}
_ORDER = tuple(STRENGTHS)  # weakest first
# Prompt attacks (jailbreaks, prompt injection) are judged on the input only: Bedrock requires
# the output strength NONE for this filter.
PROMPT_ATTACK = "PROMPT_ATTACK"
PII_TYPES: Mapping[PiiEntity, str] = {
    PiiEntity.EMAIL: "EMAIL",
    PiiEntity.PHONE: "PHONE",
    PiiEntity.CARD_NUMBER: "CREDIT_DEBIT_CARD_NUMBER",
    PiiEntity.IBAN: "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    PiiEntity.US_SSN: "US_SOCIAL_SECURITY_NUMBER",
    PiiEntity.IP_ADDRESS: "IP_ADDRESS",
}
PII_ACTIONS: Mapping[PiiAction, str] = {PiiAction.BLOCK: "BLOCK", PiiAction.REDACT: "ANONYMIZE"}
TOPIC_TYPE = "DENY"

# -- what the serving task may call --------------------------------------------------------------
APPLY_ACTIONS = ("bedrock:ApplyGuardrail",)
# Converse authorises as bedrock:InvokeModel, ConverseStream as InvokeModelWithResponseStream
# (there is no bedrock:Converse action); bedrock:GuardrailIdentifier applies to all four APIs.
INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
GUARDRAIL_CONDITION_KEY = "bedrock:GuardrailIdentifier"
# A guardrail's caller needs kms:Decrypt on its key (Bedrock user guide, "guardrails-permissions-
# kms"); Bedrock makes the call, so it is scoped to the service like every other key grant.
CALLER_KEY_ACTIONS = ("kms:Decrypt",)
# System-defined cross-Region inference profiles: "<geography>.<model id>".
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global.")


def _strongest(strengths: Sequence[Strength]) -> Strength:
    return max(strengths, key=_ORDER.index, default=Strength.OFF)


def content_filters(settings: GuardrailSettings) -> list[dict[str, Any]]:
    """Bedrock content filters (input and output strength each) for ``settings``; filters whose
    strength is off on both sides are left out."""
    by_type: dict[str, list[Strength]] = {}
    for category, types in HARM_FILTERS.items():
        for filter_type in types:
            by_type.setdefault(filter_type, []).append(settings.strength(category))
    filters = []
    for filter_type, strengths in by_type.items():
        strength = STRENGTHS[_strongest(strengths)]
        if strength != "NONE":
            filters.append(
                {"type": filter_type, "input_strength": strength, "output_strength": strength}
            )
    attack = STRENGTHS[settings.prompt_attack]
    if attack != "NONE":
        filters.append({"type": PROMPT_ATTACK, "input_strength": attack, "output_strength": "NONE"})
    return filters


def pii_entities(settings: GuardrailSettings) -> list[dict[str, Any]]:
    """One entity config per PII entity, the same action on prompts and answers."""
    action = PII_ACTIONS[settings.pii_action]
    return [
        {
            "type": PII_TYPES[entity],
            "action": action,
            "input_action": action,
            "output_action": action,
            "input_enabled": True,
            "output_enabled": True,
        }
        for entity in settings.pii
    ]


def denied_topics(settings: GuardrailSettings) -> list[dict[str, Any]]:
    """Bedrock DENY topics, one per neutral denied topic."""
    return [
        {
            "name": t.name,
            "definition": t.definition,
            "examples": list(t.examples),
            "type": TOPIC_TYPE,
        }
        for t in settings.denied_topics
    ]


def guardrail_name(spec: DeploymentSpec) -> str:
    """``<project>-<env>-guardrail``, cut with a stable hash to Bedrock's 50 characters."""
    full = resource_name("aws", "default", spec.project, spec.environment.value, "guardrail")
    if len(full) <= NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[: NAME_MAX - 7].rstrip('-')}-{digest}"


def version_description(settings: GuardrailSettings) -> str:
    """The version's description: it changes exactly when what the guardrail enforces does."""
    return f"aideploy guardrail config {settings.fingerprint()}"


def guardrail_args(spec: DeploymentSpec, key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The Guardrail's inputs for ``spec.llm.guardrail`` (dictionaries, as the SDK accepts)."""
    settings = spec.llm.guardrail
    tier = [{"tier_name": TIER}]
    filters = content_filters(settings)
    entities = pii_entities(settings)
    topics = denied_topics(settings)
    return {
        "name": guardrail_name(spec),
        "description": f"{spec.project} {spec.environment.value}: {version_description(settings)}",
        "blocked_input_messaging": settings.blocked_input_message,
        "blocked_outputs_messaging": settings.blocked_output_message,
        "kms_key_arn": key_arn,
        "content_policy_config": (
            {"filters_configs": filters, "tier_configs": tier} if filters else None
        ),
        "sensitive_information_policy_config": (
            {"pii_entities_configs": entities} if entities else None
        ),
        "topic_policy_config": {"topics_configs": topics, "tier_configs": tier} if topics else None,
        "tags": spec.standard_tags(),
    }


@dataclass(frozen=True)
class Guardrail:
    """The guardrail, its pinned version, and what callers name it by."""

    guardrail: aws.bedrock.Guardrail
    version: aws.bedrock.GuardrailVersion

    @property
    def id(self) -> pulumi.Output[str]:
        """What callers name the guardrail by (ApplyGuardrail's and Converse's
        guardrailIdentifier): its ARN, the form the IAM condition key
        ``bedrock:GuardrailIdentifier`` is written in (both APIs accept the id or the ARN)."""
        return self.guardrail.guardrail_arn

    @property
    def number(self) -> pulumi.Output[str]:
        """The pinned version's number (guardrailVersion)."""
        return self.version.version

    @property
    def identifier(self) -> pulumi.Output[str]:
        """``<guardrail ARN>:<version>``: the value of bedrock:GuardrailIdentifier in a request
        that names this guardrail and version."""
        return pulumi.Output.concat(self.guardrail.guardrail_arn, ":", self.version.version)


def create_guardrail(
    name: str, spec: DeploymentSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> Guardrail:
    """The stack's guardrail (encrypted with ``key``) and the version the stack pins."""
    if not spec.llm.enabled:
        raise ValueError("create_guardrail: the stack serves no LLM (llm.mode is none)")
    guardrail = aws.bedrock.Guardrail(
        f"{name}-guardrail", **guardrail_args(spec, key.arn), opts=opts
    )
    version = aws.bedrock.GuardrailVersion(
        f"{name}-guardrail-version",
        guardrail_arn=guardrail.guardrail_arn,
        description=version_description(spec.llm.guardrail),
        # A replaced version stays in the account: rolling back means pinning it again.
        skip_destroy=True,
        opts=opts,
    )
    return Guardrail(guardrail, version)


def model_arns(llm: LlmSettings, region: str, account: str) -> list[str]:
    """What ``bedrock:InvokeModel`` names for the hosted model: the foundation model in the
    stack's Region, or for a cross-Region inference profile (``eu.amazon.nova-lite-v1:0``) the
    profile and its model in every Region the profile may route to (Bedrock user guide,
    "Prerequisites for inference profiles")."""
    model = llm.model or ""
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model.startswith(prefix):
            base = model.removeprefix(prefix)
            return [
                f"arn:aws:bedrock:{region}:{account}:inference-profile/{model}",
                f"arn:aws:bedrock:*::foundation-model/{base}",
            ]
    return [f"arn:aws:bedrock:{region}::foundation-model/{model}"]


def task_role_statements(
    spec: DeploymentSpec, guardrail: Guardrail, key: aws.kms.Key
) -> list[dict[str, Any]]:
    """The serving task's grants: the guardrail check, its key through Bedrock, and for a
    hosted model invocation only with the pinned guardrail (and a Deny of any other)."""
    pinned = {GUARDRAIL_CONDITION_KEY: guardrail.identifier}
    statements = [
        security.statement(APPLY_ACTIONS, [guardrail.guardrail.guardrail_arn], sid="Guardrail"),
        security.key_use_statement(CALLER_KEY_ACTIONS, key.arn, spec.region, "bedrock"),
    ]
    if spec.llm.mode is LlmMode.HOSTED:
        resources = security.account_id().apply(
            lambda account: model_arns(spec.llm, spec.region, account)
        )
        statements.append(
            {
                "Sid": "InvokeWithGuardrail",
                "Effect": "Allow",
                "Action": list(INVOKE_ACTIONS),
                "Resource": resources,
                "Condition": {"StringEquals": pinned},
            }
        )
    # Whatever else the role is ever given, no call reaches a model without this guardrail.
    statements.append(
        security.statement(
            INVOKE_ACTIONS,
            ["*"],
            sid="DenyInvokeWithoutGuardrail",
            effect="Deny",
            condition={"StringNotEquals": pinned},
        )
    )
    return statements


def container_environment(
    spec: DeploymentSpec, guardrail: Guardrail
) -> list[dict[str, pulumi.Input[str]]]:
    """The serving container's LLM variables (ECS's name/value form): the hook's static part,
    the guardrail's id and pinned version, and the Region to call Bedrock in."""
    static = hook_environment(spec.cloud.value, spec.llm)
    deployed: dict[str, pulumi.Input[str]] = {
        HOOK_GUARDRAIL_ID_VARIABLE: guardrail.id,
        HOOK_GUARDRAIL_VERSION_VARIABLE: guardrail.number,
        LLM_REGION_VARIABLE: spec.region,
    }
    return [{"name": k, "value": v} for k, v in {**static, **deployed}.items()]
