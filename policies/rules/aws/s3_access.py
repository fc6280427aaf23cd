"""S3 access controls that s3.py does not judge.

s3.py covers every bucket of the stack (its public access block, public ACLs on buckets and
BucketAcl resources, public bucket policies, TLS, encryption, versioning, logging). Missing there,
and added here:

* an account-wide ``AccountPublicAccessBlock`` with a flag off (M);
* a ``BucketPublicAccessBlock`` for a bucket defined outside the stack, or an S3 access point,
  with a flag off (M) — a stack's own buckets are judged by
  ``aws-s3-bucket-require-public-access-block``;
* objects uploaded with a public canned ACL (M);
* ownership controls that keep ACLs enabled (A).
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
    is_false,
    is_true,
    known,
    linked,
    of_types,
)
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp, guardrail

BUCKET = "aws:s3/bucket:Bucket"  # BucketV2 matches through base.TYPE_ALIASES
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCESS_POINT = "aws:s3/accessPoint:AccessPoint"
OWNERSHIP_CONTROLS = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
OBJECTS = ("aws:s3/bucketObject:BucketObject", "aws:s3/bucketObjectv2:BucketObjectv2")

BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
ENFORCED = "BucketOwnerEnforced"


def _check_account_block(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    off = [flag for flag in BLOCK_FLAGS if not is_true(get(props, flag))]
    if off:
        yield (
            f"Account-wide S3 public access block leaves {', '.join(off)} off: any bucket in "
            "the account can be made public by an ACL or a bucket policy."
        )


ACCOUNT_BLOCK_REQUIRE_ALL = resource_rule(
    "aws-s3-account-public-access-block-require-all",
    "An account-wide S3 public access block must turn on all four flags.",
    types=[ACCOUNT_PUBLIC_ACCESS_BLOCK],
    check=_check_account_block,
    severity=Severity.CRITICAL,
    tags=["s3", "public-access"],
    remediation=(
        "Set block_public_acls, block_public_policy, ignore_public_acls and "
        "restrict_public_buckets to True on aws.s3.AccountPublicAccessBlock."
    ),
    references=[fsbp("S3.1")],
    since=2,
)


def _orphan_blocks(args: StackValidationArgs) -> list[PolicyResource]:
    blocks = of_types(args, PUBLIC_ACCESS_BLOCK)
    claimed: set[str] = set()
    for bucket in of_types(args, BUCKET):
        names = [known(bucket.props, "bucket")]
        claimed.update(b.urn for b in linked(bucket, blocks, "bucket", target_values=names))
    return [b for b in blocks if b.urn not in claimed]


def _check_blocks(args: StackValidationArgs) -> StackFindings:
    def bucket_block(block: PolicyResource) -> StackFindings:
        off = [flag for flag in BLOCK_FLAGS if not is_true(get(block.props, flag))]
        if off:
            yield (
                f"S3 public access block '{block.name}' leaves {', '.join(off)} off: its "
                "bucket can be made public.",
                block.urn,
            )

    def access_point(point: PolicyResource) -> StackFindings:
        config = get(point.props, "publicAccessBlockConfiguration")
        off = [flag for flag in BLOCK_FLAGS if is_false(get(config, flag))]  # default: on
        if off:
            yield (
                f"S3 access point '{point.name}' turns {', '.join(off)} off: it can grant "
                "public access to the bucket's objects.",
                point.urn,
            )

    yield from each(_orphan_blocks(args), bucket_block)
    yield from each(of_types(args, ACCESS_POINT), access_point)


PUBLIC_ACCESS_BLOCK_REQUIRE_ALL = stack_rule(
    "aws-s3-public-access-block-require-all-flags",
    "Public access blocks of buckets defined outside the stack, and of S3 access points, must "
    "keep all four flags on.",
    check=_check_blocks,
    severity=Severity.CRITICAL,
    tags=["s3", "public-access"],
    category=SECURITY,
    remediation=(
        "Set block_public_acls, block_public_policy, ignore_public_acls and "
        "restrict_public_buckets to True (access points: leave public_access_block_configuration "
        "at its defaults)."
    ),
    references=[
        checkov("CKV_AWS_53"),
        checkov("CKV_AWS_54"),
        checkov("CKV_AWS_55"),
        checkov("CKV_AWS_56"),
        checkov("CKV_AWS_392"),
    ],
    since=2,
)


def _check_object_acl(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    acl = get(props, "acl")
    if acl in PUBLIC_CANNED_ACLS:
        yield (
            f"S3 object is uploaded with the canned ACL '{acl}': it is readable outside the "
            "account (unless the bucket ignores public ACLs)."
        )


OBJECT_DISALLOW_PUBLIC_ACL = resource_rule(
    "aws-s3-object-disallow-public-acl",
    "S3 objects must not be uploaded with a public canned ACL.",
    types=OBJECTS,
    check=_check_object_acl,
    severity=Severity.HIGH,
    tags=["s3", "public-access"],
    remediation=(
        "Drop acl (or use 'private'); share objects through presigned URLs or CloudFront with "
        "origin access control."
    ),
    references=[guardrail("2")],
    since=2,
)


def _check_ownership(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    ownership = get(props, "rule", "objectOwnership")
    if ownership != ENFORCED:
        yield (
            f"Bucket ownership controls keep ACLs enabled (object_ownership is {ownership}): "
            "access can be granted per object, outside the bucket policy."
        )


OWNERSHIP_REQUIRE_ENFORCED = resource_rule(
    "aws-s3-bucket-ownership-require-enforced",
    "S3 bucket ownership controls should disable ACLs (object_ownership BucketOwnerEnforced).",
    types=[OWNERSHIP_CONTROLS],
    check=_check_ownership,
    severity=Severity.LOW,
    tags=["s3", "public-access", "least-privilege"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set rule={'object_ownership': 'BucketOwnerEnforced'} and grant access through the "
        "bucket policy (log delivery works with a bucket policy too)."
    ),
    references=[checkov("CKV2_AWS_65"), fsbp("S3.12")],
    since=2,
)

POLICIES = [
    ACCOUNT_BLOCK_REQUIRE_ALL,
    PUBLIC_ACCESS_BLOCK_REQUIRE_ALL,
    OBJECT_DISALLOW_PUBLIC_ACL,
    OWNERSHIP_REQUIRE_ENFORCED,
]
