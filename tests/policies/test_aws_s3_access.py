"""S3 access rules beyond s3.py on small real programs: one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import s3_access
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

ALL_ON = {
    "block_public_acls": True,
    "block_public_policy": True,
    "ignore_public_acls": True,
    "restrict_public_buckets": True,
}


def account_block(**change: Any) -> Program:
    return lambda: aws.s3.AccountPublicAccessBlock("account-block", **{**ALL_ON, **change})


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (account_block(), set()),
        (account_block(restrict_public_buckets=False), {"account-block"}),
        (account_block(block_public_policy=None), {"account-block"}),
    ],
    ids=["all-on", "one-off", "one-unset"],
)
def test_aws_s3_account_public_access_block_require_all(
    program: Program, flagged: set[str]
) -> None:
    assert judge(s3_access.ACCOUNT_BLOCK_REQUIRE_ALL, program) == flagged


def blocks(
    *,
    own: dict[str, Any] | None = None,
    external: dict[str, Any] | None = None,
    point: dict[str, Any] | None = None,
) -> Program:
    def program() -> None:
        bucket = aws.s3.Bucket("data")
        aws.s3.BucketPublicAccessBlock("data-block", bucket=bucket.id, **{**ALL_ON, **(own or {})})
        if external is not None:
            aws.s3.BucketPublicAccessBlock(
                "shared-block", bucket="shared-bucket", **{**ALL_ON, **external}
            )
        if point is not None:
            aws.s3.AccessPoint(
                "data-ap",
                bucket=bucket.id,
                public_access_block_configuration=(
                    aws.s3.AccessPointPublicAccessBlockConfigurationArgs(**point)
                ),
            )

    return program  # fmt: skip


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (blocks(), set()),
        (blocks(own={"ignore_public_acls": False}), set()),
        (blocks(external={}), set()),
        (blocks(point={}), set()),
        (blocks(external={"block_public_acls": False}), {"shared-block"}),
        (blocks(point={"restrict_public_buckets": False}), {"data-ap"}),
    ],
    ids=["own", "own-left-to-s3-rule", "external", "access-point", "external-off", "ap-off"],
)
def test_aws_s3_public_access_block_require_all_flags(program: Program, flagged: set[str]) -> None:
    assert judge(s3_access.PUBLIC_ACCESS_BLOCK_REQUIRE_ALL, program) == flagged


def upload(acl: str | None = None) -> Program:
    return lambda: aws.s3.BucketObjectv2(
        "index", bucket="site", key="index.html", content="<html/>", acl=acl
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (upload(), set()),
        (upload("private"), set()),
        (upload("public-read"), {"index"}),
        (
            lambda: aws.s3.BucketObject(
                "legacy", bucket="site", source=pulumi.StringAsset("x"), acl="public-read-write"
            ),
            {"legacy"},
        ),
    ],
    ids=["default", "private", "public-read", "legacy-object"],
)
def test_aws_s3_object_disallow_public_acl(program: Program, flagged: set[str]) -> None:
    assert judge(s3_access.OBJECT_DISALLOW_PUBLIC_ACL, program) == flagged


def test_object_acl_waiver() -> None:
    rule = s3_access.OBJECT_DISALLOW_PUBLIC_ACL
    assert judge(rule, upload("public-read"), waiver("index")) == set()


def ownership(value: str) -> Program:
    return lambda: aws.s3.BucketOwnershipControls(
        "data-ownership",
        bucket="data",
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership=value),
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (ownership("BucketOwnerEnforced"), set()),
        (ownership("BucketOwnerPreferred"), {"data-ownership"}),
        (ownership("ObjectWriter"), {"data-ownership"}),
    ],
    ids=["enforced", "preferred", "object-writer"],
)
def test_aws_s3_bucket_ownership_require_enforced(program: Program, flagged: set[str]) -> None:
    assert judge(s3_access.OWNERSHIP_REQUIRE_ENFORCED, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in s3_access.POLICIES]
    assert names == [
        "aws-s3-account-public-access-block-require-all",
        "aws-s3-public-access-block-require-all-flags",
        "aws-s3-object-disallow-public-acl",
        "aws-s3-bucket-ownership-require-enforced",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
