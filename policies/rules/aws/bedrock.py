"""Hosted LLMs on Amazon Bedrock: guardrails, agents and custom (fine-tuned) models.

Mandatory: guardrails, agents and custom models encrypted with a customer-managed KMS key
(guardrail policies, agent sessions and fine-tuned weights are the sensitive part of an AI
deployment), and a guardrail's key is one the stack itself creates and rotates (rule-set 3:
the guardrail configs of issue 14 are encrypted with the stack's key; an imported key ARN is a
key whose rotation and policy no rule of this stack can see). Advisory: agents run with a
guardrail attached (content filters, denied topics, PII redaction between the user and the
model).

Model invocation logging (``aws.bedrockmodel.InvocationLoggingConfiguration``) is one setting
per account and region, usually owned by a platform stack rather than a workload: its absence
from one program says nothing, so no rule requires it (docs/patterns/aws.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.aws._common import (
    StackFindings,
    each,
    get,
    items,
    known,
    linked,
    of_types,
    present,
)
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, mcsb

GUARDRAIL = "aws:bedrock/guardrail:Guardrail"
AGENT = "aws:bedrock/agentAgent:AgentAgent"
CUSTOM_MODEL = "aws:bedrock/customModel:CustomModel"
KMS_KEY = "aws:kms/key:Key"

# Resource type -> (message subject, the input naming the customer-managed key).
KEY_INPUTS: dict[str, tuple[str, str, str]] = {
    GUARDRAIL: ("Bedrock guardrail", "kmsKeyArn", "kms_key_arn"),
    AGENT: ("Bedrock agent", "customerEncryptionKeyArn", "customer_encryption_key_arn"),
    CUSTOM_MODEL: ("Bedrock custom model", "customModelKmsKeyId", "custom_model_kms_key_id"),
}


def _check_cmk(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    subject, key, argument = KEY_INPUTS[args.resource_type]
    if not present(get(props, key)):
        yield (
            f"{subject} is not encrypted with a customer-managed key ({argument} unset: an "
            "AWS-owned key is used)."
        )


REQUIRE_CMK = resource_rule(
    "aws-bedrock-require-cmk",
    "Bedrock guardrails, agents and custom models must be encrypted with a customer-managed "
    "KMS key.",
    types=list(KEY_INPUTS),
    check=_check_cmk,
    severity=Severity.HIGH,
    tags=["bedrock", "encryption", "key-management"],
    remediation=(
        "Set kms_key_arn (aws.bedrock.Guardrail), customer_encryption_key_arn "
        "(aws.bedrock.AgentAgent) or custom_model_kms_key_id (aws.bedrock.CustomModel) to a "
        "customer-managed key whose policy lets bedrock.amazonaws.com use it."
    ),
    references=[checkov("CKV_AWS_373"), mcsb("DP-5")],
    since=2,
)


def _check_guardrail_stack_key(args: StackValidationArgs) -> StackFindings:
    keys = of_types(args, KMS_KEY)

    def check(guardrail: PolicyResource) -> StackFindings:
        if not present(known(guardrail.props, "kmsKeyArn")) and not (
            guardrail.property_dependencies.get("kmsKeyArn")
        ):
            return  # no key at all: aws-bedrock-require-cmk's finding
        if any(
            list(linked(key, [guardrail], "kmsKeyArn", target_values=[known(key.props, "arn")]))
            for key in keys
        ):
            return
        yield (
            f"Bedrock guardrail '{guardrail.name}' is encrypted with a key this stack does not "
            "create (kms_key_arn names no aws.kms.Key of the stack): its rotation and key policy "
            "are outside the stack's rules.",
            guardrail.urn,
        )

    yield from each(of_types(args, GUARDRAIL), check)


# Extends aws-bedrock-require-cmk (a key is set) to the key's owner (the stack's own key).
GUARDRAIL_REQUIRE_STACK_KEY = stack_rule(
    "aws-bedrock-guardrail-require-stack-key",
    "Bedrock guardrails must be encrypted with a KMS key the stack creates (its rotation and key "
    "policy are then held to the pack's KMS rules).",
    check=_check_guardrail_stack_key,
    severity=Severity.MEDIUM,
    tags=["bedrock", "encryption", "key-management"],
    category=SECURITY,
    remediation=(
        "Create an aws.kms.Key (rotation on) in the stack and pass its arn as kms_key_arn of "
        "the aws.bedrock.Guardrail; the guardrail's callers need kms:Decrypt on it."
    ),
    references=[checkov("CKV_AWS_373"), mcsb("DP-5")],
    since=4,
    types=[GUARDRAIL],
)


def _check_agent_guardrail(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    configured = [
        g
        for g in items(get(props, "guardrailConfigurations"))
        if present(get(g, "guardrailIdentifier"))
    ]
    if not configured:
        yield (
            "Bedrock agent has no guardrail (guardrail_configurations unset): prompts and "
            "answers pass without content filters, denied topics or PII redaction."
        )


# Advisory: a guardrail is a content control whose filters the workload must tune.
AGENT_REQUIRE_GUARDRAIL = resource_rule(
    "aws-bedrock-agent-require-guardrail",
    "Bedrock agents should be associated with a Bedrock guardrail.",
    types=[AGENT],
    check=_check_agent_guardrail,
    severity=Severity.MEDIUM,
    tags=["bedrock", "least-privilege"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Create an aws.bedrock.Guardrail (+ GuardrailVersion) and set guardrail_configurations="
        "[{'guardrail_identifier': <guardrail id>, 'guardrail_version': <version>}]."
    ),
    references=[checkov("CKV_AWS_383")],
    since=2,
)

POLICIES = [REQUIRE_CMK, AGENT_REQUIRE_GUARDRAIL, GUARDRAIL_REQUIRE_STACK_KEY]
