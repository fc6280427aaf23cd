"""Bedrock rules on small real programs: compliant resources, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import bedrock
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/llm"
ROLE = "arn:aws:iam::123456789012:role/bedrock"
GUARDED = [
    aws.bedrock.AgentAgentGuardrailConfigurationArgs(
        guardrail_identifier="gr-123", guardrail_version="1"
    )
]


def guardrail(key: str | None = KEY) -> Program:
    return lambda: aws.bedrock.Guardrail(
        "filters",
        name="filters",
        blocked_input_messaging="Blocked.",
        blocked_outputs_messaging="Blocked.",
        kms_key_arn=key,
        content_policy_config=aws.bedrock.GuardrailContentPolicyConfigArgs(
            filters_configs=[
                aws.bedrock.GuardrailContentPolicyConfigFiltersConfigArgs(
                    type="PROMPT_ATTACK", input_strength="HIGH", output_strength="NONE"
                )
            ]
        ),
    )


def agent(**change: Any) -> Program:
    args: dict[str, Any] = {
        "agent_name": "support",
        "agent_resource_role_arn": ROLE,
        "foundation_model": "anthropic.claude-3-haiku-20240307-v1:0",
        "customer_encryption_key_arn": KEY,
        "guardrail_configurations": GUARDED,
        **change,
    }
    return lambda: aws.bedrock.AgentAgent(
        "support", **{k: v for k, v in args.items() if v is not None}
    )


def custom_model(key: str | None = KEY) -> Program:
    return lambda: aws.bedrock.CustomModel(
        "tuned",
        base_model_identifier="amazon.titan-text-express-v1",
        custom_model_name="tuned",
        job_name="tune-1",
        role_arn=ROLE,
        custom_model_kms_key_id=key,
        output_data_config=aws.bedrock.CustomModelOutputDataConfigArgs(s3_uri="s3://out/"),
        training_data_config=aws.bedrock.CustomModelTrainingDataConfigArgs(s3_uri="s3://in/t"),
        hyperparameters={"epochCount": "1"},
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (guardrail(), set()),
        (agent(), set()),
        (custom_model(), set()),
        (guardrail(None), {"filters"}),
        (agent(customer_encryption_key_arn=None), {"support"}),
        (custom_model(None), {"tuned"}),
    ],
    ids=["guardrail", "agent", "custom-model", "guardrail-aws-key", "agent-aws-key",
         "custom-model-aws-key"],
)  # fmt: skip
def test_aws_bedrock_require_cmk(program: Program, flagged: set[str]) -> None:
    assert judge(bedrock.REQUIRE_CMK, program) == flagged


def test_bedrock_cmk_waiver() -> None:
    assert judge(bedrock.REQUIRE_CMK, guardrail(None), waiver("filters")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(agent(), set()), (agent(guardrail_configurations=None), {"support"})],
    ids=["guarded", "unguarded"],
)
def test_aws_bedrock_agent_require_guardrail(program: Program, flagged: set[str]) -> None:
    assert judge(bedrock.AGENT_REQUIRE_GUARDRAIL, program) == flagged


def stack_keyed_guardrail(*, key: str | None = None, stack_key: bool = True) -> Program:
    """A guardrail under a key the program creates (``stack_key``), or a literal ``key``."""

    def program() -> None:
        created = aws.kms.Key("guardrail-key", enable_key_rotation=True)
        arn: Any = created.arn if stack_key else key
        aws.bedrock.Guardrail(
            "filters",
            name="filters",
            blocked_input_messaging="Blocked.",
            blocked_outputs_messaging="Blocked.",
            kms_key_arn=arn,
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (stack_keyed_guardrail(), set()),
        # Someone else's key: its rotation and policy are out of this stack's rules.
        (stack_keyed_guardrail(stack_key=False, key=KEY), {"filters"}),
        # No key at all is aws-bedrock-require-cmk's finding, not this rule's.
        (stack_keyed_guardrail(stack_key=False), set()),
    ],
    ids=["stack-key", "foreign-key", "no-key"],
)
def test_aws_bedrock_guardrail_require_stack_key(program: Program, flagged: set[str]) -> None:
    assert judge(bedrock.GUARDRAIL_REQUIRE_STACK_KEY, program) == flagged


def test_the_stack_key_rule_and_the_cmk_rule_split_the_findings() -> None:
    foreign = stack_keyed_guardrail(stack_key=False, key=KEY)
    assert judge(bedrock.REQUIRE_CMK, foreign) == set()
    assert judge(bedrock.GUARDRAIL_REQUIRE_STACK_KEY, foreign, waiver("filters")) == set()


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in bedrock.POLICIES]
    assert names == [
        "aws-bedrock-require-cmk",
        "aws-bedrock-agent-require-guardrail",
        "aws-bedrock-guardrail-require-stack-key",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_REFERENCES[n] for n in names)
    assert [RULE_SINCE[n] for n in names] == [2, 2, 4]
