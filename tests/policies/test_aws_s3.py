"""S3 rules on small real programs: a compliant bucket, then one change per failing case."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import s3
from tests.policies.test_aws_common import Program, doc, judge, waiver

ALL_BLOCKED: dict[str, Any] = {
    "block_public_acls": True,
    "block_public_policy": True,
    "ignore_public_acls": True,
    "restrict_public_buckets": True,
}


def tls_only(arn: str) -> str:
    return doc(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def secure_bucket(**change: Any) -> Program:
    """A bucket with every control on separate resources; ``change`` alters or drops one
    (``None`` drops it)."""
    settings: dict[str, Any] = {
        "bucket": {},
        "sse": "aws:kms",
        "block": ALL_BLOCKED,
        "policy": tls_only,
        "versioning": "Enabled",
        "logging": "central-access-logs",
        "acl": None,
        "extra": None,
    }
    settings.update(change)

    def program() -> None:
        bucket = aws.s3.Bucket("data", **settings["bucket"])
        key = aws.kms.Key("data-key", enable_key_rotation=True)
        if settings["sse"]:
            by_default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(  # noqa: E501
                sse_algorithm=settings["sse"], kms_master_key_id=key.arn
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                "data-sse",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=by_default,
                        bucket_key_enabled=True,
                    )
                ],
            )
        if settings["block"]:
            aws.s3.BucketPublicAccessBlock("data-block", bucket=bucket.id, **settings["block"])
        if settings["policy"]:
            aws.s3.BucketPolicy(
                "data-policy", bucket=bucket.id, policy=bucket.arn.apply(settings["policy"])
            )
        if settings["versioning"]:
            aws.s3.BucketVersioning(
                "data-versioning",
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                    status=settings["versioning"]
                ),
            )
        if settings["logging"]:
            aws.s3.BucketLogging(
                "data-logging",
                bucket=bucket.id,
                target_bucket=settings["logging"],
                target_prefix="data/",
            )
        if settings["acl"]:
            aws.s3.BucketAcl("data-acl", bucket=bucket.id, acl=settings["acl"])
        if settings["extra"]:
            settings["extra"](bucket)

    return program


def inline_bucket(**bucket: Any) -> Program:
    """The deprecated style: controls as inline Bucket arguments."""

    def program() -> None:
        aws.s3.Bucket("legacy", **bucket)

    return program


KMS_INLINE = aws.s3.BucketServerSideEncryptionConfigurationArgs(
    rule=aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms"
        )
    )
)


# ---------------------------------------------------------------------------- 1: SSE via KMS
@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(sse="aws:kms:dsse"), set()),
        (secure_bucket(sse="AES256"), {"data"}),
        (secure_bucket(sse=None), {"data"}),
        (inline_bucket(server_side_encryption_configuration=KMS_INLINE), set()),
        (inline_bucket(), {"legacy"}),
    ],
    ids=["kms", "dsse", "aes256", "no-sse", "inline-kms", "inline-none"],
)
def test_aws_s3_bucket_require_kms_encryption(program: Program, flagged: set[str]) -> None:
    assert judge(s3.REQUIRE_KMS, program) == flagged


def test_kms_rule_follows_the_bucket_dependency_not_the_order_or_name() -> None:
    # Two buckets, only the second encrypted: the SSE resource must be attributed to it.
    def program() -> None:
        first = aws.s3.Bucket("first")
        second = aws.s3.Bucket("second")
        del first
        aws.s3.BucketServerSideEncryptionConfiguration(
            "first-sse",  # misleading name: it points at "second"
            bucket=second.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}],
        )

    assert judge(s3.REQUIRE_KMS, program) == {"first"}


def test_kms_rule_matches_a_literal_bucket_name_and_external_buckets() -> None:
    def program() -> None:
        aws.s3.Bucket("named", bucket="acme-named")
        aws.s3.BucketServerSideEncryptionConfiguration(
            "named-sse",
            bucket="acme-named",
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}],
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            "external-sse",
            bucket="someone-elses-bucket",
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        )

    assert judge(s3.REQUIRE_KMS, program) == {"external-sse"}


def test_kms_rule_waiver() -> None:
    program = secure_bucket(sse=None)
    assert judge(s3.REQUIRE_KMS, program, waiver("data")) == set()
    assert judge(s3.REQUIRE_KMS, program, waiver("other")) == {"data"}


# ---------------------------------------------------------------------------- 2: public access
@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(block=None), {"data"}),
        (secure_bucket(block={**ALL_BLOCKED, "restrict_public_buckets": False}), {"data"}),
        (secure_bucket(block={**ALL_BLOCKED, "ignore_public_acls": None}), {"data"}),
        (
            secure_bucket(
                block=None,
                extra=lambda _b: aws.s3.AccountPublicAccessBlock("account", **ALL_BLOCKED),
            ),
            set(),
        ),
    ],
    ids=["all-four", "missing", "one-false", "one-unset", "account-wide"],
)
def test_aws_s3_bucket_require_public_access_block(program: Program, flagged: set[str]) -> None:
    assert judge(s3.REQUIRE_PUBLIC_ACCESS_BLOCK, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(acl="private"), set()),
        (secure_bucket(acl="public-read"), {"data-acl"}),
        (secure_bucket(acl="authenticated-read"), {"data-acl"}),
        (inline_bucket(acl="public-read-write"), {"legacy"}),
        (inline_bucket(acl="log-delivery-write"), set()),
        (
            inline_bucket(
                grants=[
                    aws.s3.BucketGrantArgs(
                        type="Group",
                        uri="http://acs.amazonaws.com/groups/global/AllUsers",
                        permissions=["READ"],
                    )
                ]
            ),
            {"legacy"},
        ),
    ],
    ids=["no-acl", "private", "public-read", "auth-read", "inline-rw", "log-delivery", "grant"],
)
def test_aws_s3_bucket_disallow_public_acl(program: Program, flagged: set[str]) -> None:
    assert judge(s3.DISALLOW_PUBLIC_ACL, program) == flagged


def _public_read(arn: str) -> str:
    return doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn})


def _org_read(arn: str) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObject",
            "Resource": arn,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        }
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(policy=_org_read), set()),
        (secure_bucket(policy=_public_read), {"data-policy"}),
        (inline_bucket(policy=_public_read("arn:aws:s3:::legacy")), {"legacy"}),
    ],
    ids=["deny-only", "conditioned", "public", "inline-public"],
)
def test_aws_s3_bucket_policy_disallow_public_principal(
    program: Program, flagged: set[str]
) -> None:
    assert judge(s3.DISALLOW_PUBLIC_POLICY, program) == flagged


# ---------------------------------------------------------------------------- 3: TLS only
def _tls_true(arn: str) -> str:
    return tls_only(arn).replace('"false"', '"true"')


def _tls_get_only(arn: str) -> str:
    return tls_only(arn).replace('"s3:*"', '"s3:GetObject"')


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(policy=None), {"data"}),
        (secure_bucket(policy=_tls_true), {"data"}),
        (secure_bucket(policy=_tls_get_only), {"data"}),
        (secure_bucket(policy=_org_read), {"data"}),
        (inline_bucket(policy=tls_only("arn:aws:s3:::legacy")), set()),
    ],
    ids=["deny-http", "none", "wrong-value", "one-action", "unrelated", "inline"],
)
def test_aws_s3_bucket_require_tls_only_policy(program: Program, flagged: set[str]) -> None:
    assert judge(s3.REQUIRE_TLS_POLICY, program) == flagged


# ---------------------------------------------------------------------------- 4: versioning, logs
@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(versioning="Suspended"), {"data"}),
        (secure_bucket(versioning=None), {"data"}),
        (inline_bucket(versioning=aws.s3.BucketVersioningArgs(enabled=True)), set()),
    ],
    ids=["enabled", "suspended", "none", "inline"],
)
def test_aws_s3_bucket_require_versioning(program: Program, flagged: set[str]) -> None:
    assert judge(s3.REQUIRE_VERSIONING, program) == flagged


def _log_bucket_in_stack(bucket: aws.s3.Bucket) -> None:
    # "data" logs to a bucket of this stack; that log bucket writes no access logs of its own.
    logs = aws.s3.Bucket("logs")
    aws.s3.BucketLogging(
        "data-logging-local", bucket=bucket.id, target_bucket=logs.id, target_prefix="data/"
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (secure_bucket(), set()),
        (secure_bucket(logging=None), {"data"}),
        (secure_bucket(logging=None, extra=_log_bucket_in_stack), set()),
        (inline_bucket(logging=aws.s3.BucketLoggingArgs(target_bucket="central-logs")), set()),
    ],
    ids=["logged", "none", "log-target-exempt", "inline"],
)
def test_aws_s3_bucket_require_access_logging(program: Program, flagged: set[str]) -> None:
    assert judge(s3.REQUIRE_ACCESS_LOGGING, program) == flagged


def test_stack_rules_skip_a_bucket_whose_policy_is_unknown_during_preview() -> None:
    # In `pulumi preview` a new bucket's policy (built from its ARN) is unknown; that bucket is
    # skipped, and the rule still judges every other bucket instead of failing as a whole.
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    from tests.policies.harness import evaluate, names_violating, run_program

    def program() -> None:
        secure_bucket()()
        aws.s3.Bucket("plain")

    resources = []
    for r in run_program(program):
        inputs = dict(r.inputs)
        if r.name == "data-policy":
            inputs["policy"] = UNKNOWN_STRING_VALUE
        resources.append(dataclasses.replace(r, inputs=unknown_checking_proxy(inputs)))
    findings = evaluate([s3.REQUIRE_TLS_POLICY], resources)
    assert names_violating(findings, s3.REQUIRE_TLS_POLICY.name) == {"plain"}


# ---------------------------------------------------------------------------- revision 2
LifecycleRule = aws.s3.BucketLifecycleConfigurationRuleArgs


def lifecycle(*rules: LifecycleRule) -> Program:
    def program() -> None:
        aws.s3.BucketLifecycleConfiguration("data-lifecycle", bucket="data", rules=list(rules))

    return program


def lifecycle_rule(
    *, prefix: str = "", days: int | None = 7, status: str = "Enabled"
) -> LifecycleRule:
    return LifecycleRule(
        id="retention",
        status=status,
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=30),
        abort_incomplete_multipart_upload=(
            aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=days
            )
            if days is not None
            else None
        ),
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (lifecycle(lifecycle_rule()), set()),
        (lifecycle(lifecycle_rule(prefix="tmp/", days=None), lifecycle_rule()), set()),
        (lifecycle(lifecycle_rule(days=None)), {"data-lifecycle"}),
        (lifecycle(lifecycle_rule(prefix="uploads/")), {"data-lifecycle"}),
        (lifecycle(lifecycle_rule(status="Disabled")), {"data-lifecycle"}),
    ],
    ids=["whole-bucket", "second-rule", "no-abort", "prefix-only", "disabled"],
)
def test_aws_s3_lifecycle_require_abort_incomplete_multipart(
    program: Program, flagged: set[str]
) -> None:
    assert judge(s3.LIFECYCLE_REQUIRE_ABORT_MULTIPART, program) == flagged
