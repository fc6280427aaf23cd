"""Resource-policy and Secrets Manager rules on small real programs: one change per failing
case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import resource_policies as rp
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, doc, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"
SEND = {
    "Sid": "Send",
    "Effect": "Allow",
    "Principal": {"Service": "events.amazonaws.com"},
    "Action": "sqs:SendMessage",
    "Resource": "arn:aws:sqs:eu-west-1:123456789012:jobs",
}
PUBLIC = {**SEND, "Principal": "*"}


def conditioned(operator: str, key: str, value: Any) -> dict[str, Any]:
    return {**PUBLIC, "Condition": {operator: {key: value}}}


def queue_policy(statement: dict[str, Any]) -> Program:
    def program() -> None:
        q = aws.sqs.Queue("jobs", kms_master_key_id=KEY)
        aws.sqs.QueuePolicy("jobs-policy", queue_url=q.url, policy=doc(statement))

    return program


def topic(inline: dict[str, Any] | None = None, policy: dict[str, Any] | None = None) -> Program:
    def program() -> None:
        t = aws.sns.Topic("alerts", kms_master_key_id=KEY, policy=doc(inline) if inline else None)
        if policy:
            aws.sns.TopicPolicy("alerts-policy", arn=t.arn, policy=doc(policy))

    return program


def repository_policy(statement: dict[str, Any]) -> Program:
    return lambda: aws.ecr.RepositoryPolicy(
        "images-policy", repository="images", policy=doc(statement)
    )


def secret_policy(statement: dict[str, Any]) -> Program:
    return lambda: aws.secretsmanager.SecretPolicy(
        "api-key-policy",
        secret_arn="arn:aws:secretsmanager:eu-west-1:1:secret:k",
        policy=doc(statement),
    )


def search(*, fgac: bool = False, vpc: bool = False, separate: bool = False) -> Program:
    statement = {**PUBLIC, "Action": "es:ESHttp*", "Resource": "arn:aws:es:eu-west-1:1:domain/s/*"}

    def program() -> None:
        d = aws.opensearch.Domain(
            "search",
            domain_name="search",
            access_policies=None if separate else doc(statement),
            advanced_security_options=(
                aws.opensearch.DomainAdvancedSecurityOptionsArgs(
                    enabled=True, internal_user_database_enabled=False
                )
                if fgac
                else None
            ),
            vpc_options=(
                aws.opensearch.DomainVpcOptionsArgs(subnet_ids=["subnet-1"]) if vpc else None
            ),
        )
        if separate:
            aws.opensearch.DomainPolicy(
                "search-policy", domain_name=d.domain_name, access_policies=doc(statement)
            )

    return program


def orphan_domain_policy() -> Program:
    statement = {**PUBLIC, "Action": "es:*", "Resource": "arn:aws:es:eu-west-1:1:domain/x/*"}
    return lambda: aws.opensearch.DomainPolicy(
        "other-policy", domain_name="other", access_policies=doc(statement)
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (queue_policy(SEND), set()),
        (queue_policy({**PUBLIC, "Effect": "Deny"}), set()),
        (queue_policy(conditioned("ArnLike", "aws:SourceArn", "arn:aws:events:*:1:rule/r")), set()),
        (queue_policy(conditioned("StringEquals", "aws:PrincipalOrgID", "o-abc")), set()),
        (topic(inline=conditioned("StringEquals", "AWS:SourceOwner", "123456789012")), set()),
        (repository_policy(conditioned("StringEquals", "aws:PrincipalOrgID", ["o-abc"])), set()),
        (search(fgac=True), set()),
        (search(vpc=True, separate=True), set()),
        (queue_policy(PUBLIC), {"jobs-policy"}),
        (queue_policy({**PUBLIC, "Principal": {"AWS": "*"}}), {"jobs-policy"}),
        (queue_policy({**SEND, "Principal": None, "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}),
         {"jobs-policy"}),
        (queue_policy(conditioned("StringNotEquals", "aws:SourceAccount", "1")), {"jobs-policy"}),
        (queue_policy(conditioned("StringEqualsIfExists", "aws:SourceAccount", "1")),
         {"jobs-policy"}),
        (queue_policy(conditioned("IpAddress", "aws:SourceIp", "0.0.0.0/0")), {"jobs-policy"}),
        (queue_policy(conditioned("Bool", "aws:SecureTransport", "true")), {"jobs-policy"}),
        (topic(policy=PUBLIC), {"alerts-policy"}),
        (topic(inline=PUBLIC), {"alerts"}),
        (repository_policy(PUBLIC), {"images-policy"}),
        (secret_policy(PUBLIC), {"api-key-policy"}),
        (search(), {"search"}),
        (search(separate=True), {"search-policy"}),
        (orphan_domain_policy(), {"other-policy"}),
    ],
    ids=["service", "deny", "source-arn", "org", "sns-source-owner", "ecr-org", "opensearch-fgac",
         "opensearch-vpc-policy", "star", "aws-star", "not-principal", "negated",
         "if-exists", "any-ip", "unrelated-condition", "sns-policy", "sns-inline", "ecr",
         "secret", "opensearch-open", "opensearch-policy-open", "opensearch-orphan-policy"],
)  # fmt: skip
def test_aws_resource_policy_disallow_public_principal(program: Program, flagged: set[str]) -> None:
    assert judge(rp.DISALLOW_PUBLIC_PRINCIPAL, program) == flagged


def test_public_principal_waiver() -> None:
    program = queue_policy(PUBLIC)
    assert judge(rp.DISALLOW_PUBLIC_PRINCIPAL, program, waiver("jobs-policy")) == set()


def secret(*, kms: bool = True, rotation: dict[str, Any] | None = None) -> Program:
    def program() -> None:
        s = aws.secretsmanager.Secret("api-key", kms_key_id=KEY if kms else None)
        if rotation is not None:
            aws.secretsmanager.SecretRotation(
                "api-key-rotation",
                secret_id=s.id,
                rotation_lambda_arn="arn:aws:lambda:eu-west-1:1:function:rotate",
                **rotation,
            )

    return program


DAYS_30 = {"rotation_rules": aws.secretsmanager.SecretRotationRotationRulesArgs(
    automatically_after_days=30)}  # fmt: skip


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(secret(), set()), (secret(kms=False), {"api-key"})],
    ids=["cmk", "aws-managed-key"],
)
def test_aws_secretsmanager_secret_require_cmk(program: Program, flagged: set[str]) -> None:
    assert judge(rp.SECRET_REQUIRE_CMK, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secret(rotation=DAYS_30), set()),
        (
            secret(
                rotation={
                    "rotation_rules": aws.secretsmanager.SecretRotationRotationRulesArgs(
                        schedule_expression="rate(10 days)"
                    )
                }
            ),
            set(),
        ),
        (secret(), {"api-key"}),
        (
            secret(
                rotation={
                    "rotation_rules": aws.secretsmanager.SecretRotationRotationRulesArgs(
                        automatically_after_days=180
                    )
                }
            ),
            {"api-key"},
        ),
    ],
    ids=["thirty-days", "schedule", "never", "too-slow"],
)
def test_aws_secretsmanager_secret_require_rotation(program: Program, flagged: set[str]) -> None:
    assert judge(rp.SECRET_REQUIRE_ROTATION, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in rp.POLICIES]
    assert names == [
        "aws-resource-policy-disallow-public-principal",
        "aws-secretsmanager-secret-require-cmk",
        "aws-secretsmanager-secret-require-rotation",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
