"""IAM rules on small real programs: a least-privilege role, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import iam
from tests.policies.test_aws_common import Program, doc, judge, waiver

LAMBDA_TRUST = {
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
INVOKE = {
    "Sid": "Invoke",
    "Effect": "Allow",
    "Action": ["sagemaker:InvokeEndpoint"],
    "Resource": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/serving",
}
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def role(
    *,
    trust: dict[str, Any] = LAMBDA_TRUST,
    statement: dict[str, Any] = INVOKE,
    managed: str = READ_ONLY,
    role_args: dict[str, Any] | None = None,
) -> Program:
    def program() -> None:
        r = aws.iam.Role("serving-role", assume_role_policy=doc(trust), **(role_args or {}))
        aws.iam.RolePolicy("serving-role-policy", role=r.name, policy=doc(statement))
        aws.iam.Policy("serving-policy", policy=doc(INVOKE))
        aws.iam.RolePolicyAttachment("serving-role-managed", role=r.name, policy_arn=managed)

    return program


def action(value: Any, resource: Any = "*") -> dict[str, Any]:
    return {**INVOKE, "Action": value, "Resource": resource}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(statement=action("sagemaker:InvokeEndpoint")), set()),
        (role(statement=action("s3:Get*")), set()),
        (role(statement=action("*", "arn:aws:s3:::bucket/*")), set()),
        (role(statement={**action("*"), "Effect": "Deny"}), set()),
        (role(statement=action("*")), {"serving-role-policy"}),
        (role(statement=action(["s3:GetObject", "S3:*"])), {"serving-role-policy"}),
        (role(statement=action("iam:*", ["arn:x", "*"])), {"serving-role-policy"}),
        (
            role(statement={"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
            {"serving-role-policy"},
        ),
        (
            role(
                role_args={
                    "inline_policies": [
                        aws.iam.RoleInlinePolicyArgs(name="everything", policy=doc(action("*")))
                    ]
                }
            ),
            {"serving-role"},
        ),
    ],
    ids=[
        "scoped",
        "action-on-star",
        "prefix-wildcard",
        "star-on-arn",
        "deny",
        "admin",
        "service-star",
        "star-among-resources",
        "not-action",
        "inline-role-policy",
    ],
)
def test_aws_iam_policy_disallow_wildcard_admin(program: Program, flagged: set[str]) -> None:
    assert judge(iam.DISALLOW_WILDCARD_ADMIN, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(managed="arn:aws:iam::123456789012:policy/AdministratorAccess"), set()),
        (role(managed="arn:aws:iam::aws:policy/AdministratorAccess"), {"serving-role-managed"}),
        (
            role(managed="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"),
            {"serving-role-managed"},
        ),
        (role(managed="arn:aws:iam::aws:policy/PowerUserAccess"), {"serving-role-managed"}),
        (
            role(managed="arn:aws-us-gov:iam::aws:policy/job-function/AdministratorAccess"),
            {"serving-role-managed"},
        ),
        (
            role(role_args={"managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]}),
            {"serving-role"},
        ),
    ],
    ids=[
        "read-only",
        "customer-named-like-admin",
        "admin",
        "full-access",
        "power-user",
        "gov-partition-path",
        "role-managed-arns",
    ],
)
def test_aws_iam_disallow_admin_managed_policy(program: Program, flagged: set[str]) -> None:
    assert judge(iam.DISALLOW_ADMIN_MANAGED, program) == flagged


def test_admin_managed_policy_on_exclusive_attachments() -> None:
    def program() -> None:
        aws.iam.RolePolicyAttachmentsExclusive(
            "exclusive", role_name="r", policy_arns=["arn:aws:iam::aws:policy/AdministratorAccess"]
        )

    assert judge(iam.DISALLOW_ADMIN_MANAGED, program) == {"exclusive"}


def test_admin_managed_policy_waiver() -> None:
    program = role(managed="arn:aws:iam::aws:policy/AdministratorAccess")
    assert judge(iam.DISALLOW_ADMIN_MANAGED, program, waiver("serving-role-managed")) == set()


PUBLIC_TRUST = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (
            role(
                trust={
                    **PUBLIC_TRUST,
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
                }
            ),
            set(),
        ),
        (role(trust=PUBLIC_TRUST), {"serving-role"}),
        (role(trust={**PUBLIC_TRUST, "Principal": "*"}), {"serving-role"}),
        (role(trust={**PUBLIC_TRUST, "Principal": {"Federated": "*"}}), {"serving-role"}),
    ],
    ids=["service", "conditioned", "aws-star", "star", "federated-star"],
)
def test_aws_iam_role_trust_disallow_public_principal(program: Program, flagged: set[str]) -> None:
    assert judge(iam.TRUST_DISALLOW_PUBLIC, program) == flagged


# ---------------------------------------------------------------------------- revision 2
ACCOUNT_TRUST = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "sts:AssumeRole",
}
TAGGED = {"StringEquals": {"aws:PrincipalTag/aideploy-acme-prod-reader": "true"}}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(trust={**ACCOUNT_TRUST, "Condition": TAGGED}), set()),
        (
            role(
                trust={
                    **ACCOUNT_TRUST,
                    "Condition": {
                        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app-*"}
                    },
                }
            ),
            set(),
        ),
        (
            role(
                trust={
                    **ACCOUNT_TRUST,
                    "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
                }
            ),
            set(),
        ),
        (role(trust=ACCOUNT_TRUST), {"serving-role"}),
        (role(trust={**ACCOUNT_TRUST, "Principal": {"AWS": "123456789012"}}), {"serving-role"}),
        (
            role(
                trust={
                    **ACCOUNT_TRUST,
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                }
            ),
            {"serving-role"},
        ),
    ],
    ids=["service", "tag", "principal-arn", "named-role", "root", "bare-account", "mfa-only"],
)
def test_aws_iam_role_trust_require_named_principal(program: Program, flagged: set[str]) -> None:
    assert judge(iam.TRUST_REQUIRE_NAMED_PRINCIPAL, program) == flagged


def test_named_principal_waiver() -> None:
    program = role(trust=ACCOUNT_TRUST)
    assert judge(iam.TRUST_REQUIRE_NAMED_PRINCIPAL, program, waiver("serving-role")) == set()


ENI_WRITES = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"]
IN_VPC = {"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-1"}}


def boundary_program(statement: dict[str, Any]) -> Program:
    """A managed policy nobody in the stack attaches (a permissions boundary)."""

    def program() -> None:
        aws.iam.Policy("boundary", policy=doc(statement))

    return program


def attached_program(statement: dict[str, Any]) -> Program:
    def program() -> None:
        r = aws.iam.Role("serving-role", assume_role_policy=doc(LAMBDA_TRUST))
        p = aws.iam.Policy("grants", policy=doc(statement))
        aws.iam.RolePolicyAttachment("grants-attached", role=r.name, policy_arn=p.arn)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(statement=action(["ec2:DescribeSubnets", "ec2:DescribeVpcs"])), set()),
        (role(statement=action(["xray:PutTraceSegments", "xray:PutTelemetryRecords"])), set()),
        (role(statement={**action(ENI_WRITES), "Condition": IN_VPC}), set()),
        (role(statement=action(ENI_WRITES, "arn:aws:ec2:*:*:network-interface/*")), set()),
        (boundary_program(action(ENI_WRITES)), set()),
        (role(statement=action(ENI_WRITES)), {"serving-role-policy"}),
        (role(statement=action(["ec2:DescribeVpcs", "s3:PutObject"])), {"serving-role-policy"}),
        (attached_program(action(ENI_WRITES)), {"grants"}),
        (
            role(
                role_args={
                    "inline_policies": [
                        aws.iam.RoleInlinePolicyArgs(name="eni", policy=doc(action(ENI_WRITES)))
                    ]
                }
            ),
            {"serving-role"},
        ),
    ],
    ids=[
        "scoped",
        "reads",
        "no-resource-level-writes",
        "vpc-condition",
        "arn-pattern",
        "unattached-boundary",
        "eni-writes",
        "one-write-among-reads",
        "attached-managed-policy",
        "inline-role-policy",
    ],
)
def test_aws_iam_policy_restrict_mutating_actions_on_wildcard_resource(
    program: Program, flagged: set[str]
) -> None:
    assert judge(iam.RESTRICT_MUTATING_ON_WILDCARD, program) == flagged


def test_mutating_on_wildcard_waiver() -> None:
    program = role(statement=action(ENI_WRITES))
    rule = iam.RESTRICT_MUTATING_ON_WILDCARD
    assert judge(rule, program, waiver("serving-role-policy")) == set()


def test_read_actions_are_told_by_their_verb() -> None:
    assert iam.is_read_action("ec2:DescribeVpcs") and iam.is_read_action("s3:Get*")
    assert not iam.is_read_action("ec2:CreateNetworkInterface")


KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"
DECRYPT = {"Sid": "Key", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY}
VIA_S3 = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(statement={**DECRYPT, "Condition": VIA_S3}), set()),
        (
            role(
                statement={
                    **DECRYPT,
                    "Condition": {
                        "StringEquals": {"kms:EncryptionContext:aws:sqs:arn": "arn:aws:sqs:q"}
                    },
                }
            ),
            set(),
        ),
        (role(statement={**DECRYPT, "Action": ["kms:DescribeKey"]}), set()),
        (boundary_program(DECRYPT), set()),
        (role(statement=DECRYPT), {"serving-role-policy"}),
        (
            role(statement={**DECRYPT, "Action": ["kms:GenerateDataKey*"]}),
            {"serving-role-policy"},
        ),
        (attached_program(DECRYPT), {"grants"}),
    ],
    ids=[
        "no-key",
        "via-service",
        "encryption-context",
        "describe-only",
        "unattached-boundary",
        "decrypt",
        "generate-data-key-star",
        "attached-managed-policy",
    ],
)
def test_aws_iam_kms_require_via_service(program: Program, flagged: set[str]) -> None:
    assert judge(iam.KMS_REQUIRE_VIA_SERVICE, program) == flagged


def service_trust(service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition is not None:
        statement["Condition"] = condition
    return statement


ACCOUNT = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
ACCOUNT_IF_EXISTS = {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}
SCHEDULE_GROUP = {
    "ArnLike": {"aws:SourceArn": "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/default"}
}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(trust=service_trust("scheduler.amazonaws.com", ACCOUNT)), set()),
        (role(trust=service_trust("scheduler.amazonaws.com", SCHEDULE_GROUP)), set()),
        (role(trust=service_trust("sagemaker.amazonaws.com", ACCOUNT_IF_EXISTS)), set()),
        (role(trust=service_trust("lambda.amazonaws.com")), set()),
        (role(trust=service_trust("scheduler.amazonaws.com")), {"serving-role"}),
        (
            role(trust=service_trust("ecs-tasks.amazonaws.com", ACCOUNT_IF_EXISTS)),
            {"serving-role"},
        ),
        (role(trust=service_trust("apigateway.amazonaws.com")), {"serving-role"}),
    ],
    ids=[
        "lambda-if-exists",
        "scheduler-account",
        "scheduler-source-arn",
        "sagemaker-if-exists",
        "lambda-bare",
        "scheduler-bare",
        "ecs-tasks-if-exists",
        "apigateway-bare",
    ],
)
def test_aws_iam_service_trust_require_source_condition(
    program: Program, flagged: set[str]
) -> None:
    assert judge(iam.SERVICE_TRUST_REQUIRE_SOURCE, program) == flagged


SUBSCRIBE = {
    "Sid": "Notify",
    "Effect": "Allow",
    "Action": ["sns:Subscribe"],
    "Resource": "arn:aws:sns:eu-west-1:123456789012:jobs",
}
SQS_ONLY = {"StringEquals": {"sns:Protocol": ["sqs", "lambda"]}}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(), set()),
        (role(statement={**SUBSCRIBE, "Condition": SQS_ONLY}), set()),
        (boundary_program(SUBSCRIBE), set()),
        (role(statement=SUBSCRIBE), {"serving-role-policy"}),
        (
            role(statement={**SUBSCRIBE, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
            {"serving-role-policy"},
        ),
    ],
    ids=["none", "protocol", "unattached-boundary", "any-protocol", "unrelated-condition"],
)
def test_aws_sns_subscribe_require_protocol_condition(program: Program, flagged: set[str]) -> None:
    assert judge(iam.SNS_SUBSCRIBE_REQUIRE_PROTOCOL, program) == flagged


# -- issue 14: Bedrock invocation only with the stack's guardrail ----------------------------
PINNED = "arn:aws:bedrock:eu-west-1:123456789012:guardrail/gr1abc:3"
BEDROCK_INVOKE = {
    "Sid": "InvokeWithGuardrail",
    "Effect": "Allow",
    "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
    "Resource": "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0",
    "Condition": {"StringEquals": {"bedrock:GuardrailIdentifier": PINNED}},
}


def _unguarded(**change: Any) -> dict[str, Any]:
    return {k: v for k, v in {**BEDROCK_INVOKE, **change}.items() if v is not None}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (role(statement=BEDROCK_INVOKE), set()),
        (role(statement=_unguarded(Condition={"StringLike": {"bedrock:GuardrailIdentifier": "arn:aws:bedrock:*:guardrail/gr1abc:*"}})), set()),  # noqa: E501
        (role(statement=_unguarded(Action=["bedrock:ApplyGuardrail"], Condition=None)), set()),
        # A Deny needs no guardrail condition (it only takes away).
        (role(statement=_unguarded(Effect="Deny", Condition=None)), set()),
        (boundary_program(_unguarded(Condition=None)), set()),
        (role(statement=_unguarded(Condition=None)), {"serving-role-policy"}),
        (role(statement=_unguarded(Action="bedrock:InvokeModel*", Condition=None)), {"serving-role-policy"}),  # noqa: E501
        (role(statement=_unguarded(Action="bedrock:Converse", Condition=None)), {"serving-role-policy"}),  # noqa: E501
        (role(statement=_unguarded(Action="bedrock:*", Condition=None)), {"serving-role-policy"}),
        # IfExists passes a request without any guardrail: not a requirement.
        (
            role(statement=_unguarded(Condition={"StringEqualsIfExists": {"bedrock:GuardrailIdentifier": PINNED}})),  # noqa: E501
            {"serving-role-policy"},
        ),
        (attached_program(_unguarded(Condition=None)), {"grants"}),
    ],
    ids=[
        "pinned",
        "string-like",
        "apply-guardrail-only",
        "deny",
        "unattached-boundary",
        "unguarded",
        "invoke-star",
        "converse",
        "bedrock-star",
        "if-exists",
        "attached-managed-policy",
    ],
)  # fmt: skip
def test_aws_iam_bedrock_invoke_require_guardrail(program: Program, flagged: set[str]) -> None:
    assert judge(iam.BEDROCK_INVOKE_REQUIRE_GUARDRAIL, program) == flagged


def test_bedrock_invoke_guardrail_waiver_and_levels() -> None:
    from pulumi_policy import EnforcementLevel

    from policies.pack import level_for
    from policies.rules.base import OPERATIONAL

    rule = iam.BEDROCK_INVOKE_REQUIRE_GUARDRAIL
    program = role(statement=_unguarded(Condition=None))
    assert judge(rule, program, waiver("serving-role-policy")) == set()
    assert rule in iam.POLICIES and OPERATIONAL in (rule.tags or [])
    assert rule.enforcement_level is EnforcementLevel.ADVISORY
    tags = list(rule.tags or [])
    levels = [level_for(env, rule.name, tags, "advisory") for env in ("dev", "staging", "prod")]
    assert levels == ["advisory", "mandatory", "mandatory"]
