"""IAM user rules on small real programs: one change per failing case."""

from __future__ import annotations

import json

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import iam_users
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

READ = "arn:aws:iam::aws:policy/ReadOnlyAccess"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
        ],
    }
)


def user(*extras: str) -> Program:
    def program() -> None:
        u = aws.iam.User("ci-user", name="ci-user")
        group = aws.iam.Group("readers", name="readers")
        aws.iam.GroupPolicyAttachment("readers-read", group=group.name, policy_arn=READ)
        aws.iam.UserGroupMembership("ci-user-groups", user=u.name, groups=[group.name])
        if "key" in extras:
            aws.iam.AccessKey("ci-key", user=u.name)
        if "inactive-key" in extras:
            aws.iam.AccessKey("ci-key", user=u.name, status="Inactive")
        if "login" in extras:
            aws.iam.UserLoginProfile("ci-login", user=u.name)
        if "inline" in extras:
            aws.iam.UserPolicy("ci-inline", user=u.name, policy=POLICY)
        if "attached" in extras:
            aws.iam.UserPolicyAttachment("ci-attached", user=u.name, policy_arn=READ)
        if "legacy-attachment" in extras:
            aws.iam.PolicyAttachment("shared-read", policy_arn=READ, users=[u.name])
        if "group-attachment" in extras:
            aws.iam.PolicyAttachment("group-read", policy_arn=READ, groups=[group.name])
        if "exclusive-none" in extras:
            aws.iam.UserPolicyAttachmentsExclusive("ci-none", user_name=u.name, policy_arns=[])
        if "exclusive" in extras:
            aws.iam.UserPolicyAttachmentsExclusive(
                "ci-exclusive", user_name=u.name, policy_arns=[READ]
            )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(user(), set()), (user("inactive-key"), set()), (user("key"), {"ci-key"})],
    ids=["no-key", "inactive", "active"],
)
def test_aws_iam_user_disallow_access_keys(program: Program, flagged: set[str]) -> None:
    assert judge(iam_users.DISALLOW_ACCESS_KEYS, program) == flagged


def test_access_key_waiver() -> None:
    rule = iam_users.DISALLOW_ACCESS_KEYS
    assert judge(rule, user("key"), waiver("ci-key")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(user(), set()), (user("login"), {"ci-login"})],
    ids=["no-password", "password"],
)
def test_aws_iam_user_disallow_console_password(program: Program, flagged: set[str]) -> None:
    assert judge(iam_users.DISALLOW_CONSOLE_PASSWORD, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (user(), set()),
        (user("group-attachment"), set()),
        (user("exclusive-none"), set()),
        (user("inline"), {"ci-inline"}),
        (user("attached"), {"ci-attached"}),
        (user("legacy-attachment"), {"shared-read"}),
        (user("exclusive"), {"ci-exclusive"}),
    ],
    ids=[
        "groups",
        "group-attachment",
        "exclusive-none",
        "inline",
        "attached",
        "legacy",
        "exclusive",
    ],
)
def test_aws_iam_user_disallow_direct_policies(program: Program, flagged: set[str]) -> None:
    assert judge(iam_users.DISALLOW_USER_POLICIES, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in iam_users.POLICIES]
    assert names == [
        "aws-iam-user-disallow-access-keys",
        "aws-iam-user-disallow-console-password",
        "aws-iam-user-disallow-direct-policies",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
