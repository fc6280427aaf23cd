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
