"""S3 rules (POLICY-RULES 1-4).

Since AWS provider v4 a bucket's controls live on separate resources (SSE configuration, public
access block, bucket policy, versioning, logging) that point at the bucket through their
``bucket`` input. Rules on such controls are stack rules: they follow that input's property
dependency back to the bucket (or match a literal bucket name), and also accept the deprecated
inline arguments of ``Bucket`` / ``BucketV2``.
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
    denies_insecure_transport,
    each,
    get,
    is_true,
    items,
    known,
    linked,
    of_types,
    present,
    public_allows,
)
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp

BUCKET = "aws:s3/bucket:Bucket"  # BucketV2 matches through base.TYPE_ALIASES
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"

KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GRANTEE_URIS = frozenset(
    {
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    }
)
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
S3_ALL_ACTIONS = frozenset({"s3:*", "*"})


def _bucket_names(bucket: PolicyResource) -> list[Any]:
    """Literal names a separate resource may use to point at this bucket."""
    return [known(bucket.props, "bucket")]


def _controls(
    bucket: PolicyResource, args: StackValidationArgs, control_type: str
) -> list[PolicyResource]:
    """The separate resources of ``control_type`` whose ``bucket`` input is this bucket."""
    return list(
        linked(bucket, of_types(args, control_type), "bucket", target_values=_bucket_names(bucket))
    )


def _label(r: PolicyResource) -> str:
    return f"'{r.name}'"


# ---------------------------------------------------------------------------- 1: SSE with KMS
def _sse_algorithms(rules: Any) -> list[Any]:
    by_default = "applyServerSideEncryptionByDefault"
    return [get(rule, by_default, "sseAlgorithm") for rule in items(rules)]


def _inline_sse_algorithms(bucket: PolicyResource) -> list[Any]:
    props = bucket.props
    algorithms = _sse_algorithms(get(props, "serverSideEncryptionConfiguration", "rule"))
    for config in items(get(props, "serverSideEncryptionConfigurations")):  # BucketV2
        algorithms += _sse_algorithms(get(config, "rules"))
    return algorithms


def _sse_findings(bucket: PolicyResource, args: StackValidationArgs) -> StackFindings:
    algorithms = _inline_sse_algorithms(bucket)
    for sse in _controls(bucket, args, SSE):
        algorithms += _sse_algorithms(get(sse.props, "rules"))
    if not algorithms:
        yield (
            f"S3 bucket {_label(bucket)} has no server-side encryption configuration "
            "with aws:kms (none found for it in this stack).",
            bucket.urn,
        )
    elif not all(a in KMS_ALGORITHMS for a in algorithms):
        found = ", ".join(sorted({str(a) for a in algorithms}))
        yield (
            f"S3 bucket {_label(bucket)} default encryption is {found}; "
            "it must be aws:kms (or aws:kms:dsse).",
            bucket.urn,
        )


def _orphan_sse_findings(sse: PolicyResource) -> StackFindings:
    algorithms = _sse_algorithms(get(sse.props, "rules"))
    if not algorithms or not all(a in KMS_ALGORITHMS for a in algorithms):
        yield (f"S3 encryption configuration {_label(sse)} does not use aws:kms.", sse.urn)


def _check_sse(args: StackValidationArgs) -> StackFindings:
    buckets = of_types(args, BUCKET)
    yield from each(buckets, lambda b: _sse_findings(b, args))
    claimed = {c.urn for b in buckets for c in _controls(b, args, SSE)}
    # Configurations of buckets defined outside this stack are judged on their own.
    orphans = [r for r in of_types(args, SSE) if r.urn not in claimed]
    yield from each(orphans, _orphan_sse_findings)


REQUIRE_KMS = stack_rule(
    "aws-s3-bucket-require-kms-encryption",
    "S3 buckets must have default server-side encryption with aws:kms, set by a "
    "BucketServerSideEncryptionConfiguration that points at the bucket (or the deprecated "
    "inline argument).",
    check=_check_sse,
    severity=Severity.HIGH,
    tags=["encryption", "s3", "key-management"],
    category=SECURITY,
    remediation=(
        "Add aws.s3.BucketServerSideEncryptionConfiguration(bucket=<bucket>.id, rules=[...]) with "
        "apply_server_side_encryption_by_default.sse_algorithm='aws:kms' and "
        "kms_master_key_id=<your key ARN>; set bucket_key_enabled=True to cut KMS cost."
    ),
    references=[checkov("CKV_AWS_145"), fsbp("S3.17")],
)


# ---------------------------------------------------------------------------- 2: public access
def _blocks_all(r: PolicyResource) -> bool:
    return all(is_true(get(r.props, flag)) for flag in BLOCK_FLAGS)


def _block_findings(bucket: PolicyResource, args: StackValidationArgs) -> StackFindings:
    blocks = _controls(bucket, args, PUBLIC_ACCESS_BLOCK)
    if not blocks:
        yield (f"S3 bucket {_label(bucket)} has no BucketPublicAccessBlock.", bucket.urn)
    for block in blocks:
        off = [f for f in BLOCK_FLAGS if not is_true(get(block.props, f))]
        if off:
            yield (
                f"S3 bucket {_label(bucket)}: public access block {_label(block)} leaves "
                f"{', '.join(off)} off; all four must be true.",
                bucket.urn,
            )


def _check_public_access_block(args: StackValidationArgs) -> StackFindings:
    if any(_blocks_all(a) for a in of_types(args, ACCOUNT_PUBLIC_ACCESS_BLOCK)):
        return  # the account-wide block covers every bucket
    yield from each(of_types(args, BUCKET), lambda b: _block_findings(b, args))


REQUIRE_PUBLIC_ACCESS_BLOCK = stack_rule(
    "aws-s3-bucket-require-public-access-block",
    "Every S3 bucket must have a public access block with all four flags on (or the stack "
    "sets an account-wide block with all four).",
    check=_check_public_access_block,
    severity=Severity.CRITICAL,
    tags=["network", "s3", "public-access"],
    category=SECURITY,
    remediation=(
        "Add aws.s3.BucketPublicAccessBlock(bucket=<bucket>.id, block_public_acls=True, "
        "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)."
    ),
    references=[
        fsbp("S3.8"),
        checkov("CKV_AWS_53"),
        checkov("CKV_AWS_54"),
        checkov("CKV_AWS_55"),
        checkov("CKV_AWS_56"),
    ],
)


def _public_grants(grants: Any) -> bool:
    for grant in items(grants):
        uri = get(grant, "uri")
        if uri is None:
            uri = get(grant, "grantee", "uri")
        if uri in PUBLIC_GRANTEE_URIS:
            return True
    return False


def _check_acl(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    acl = get(props, "acl")
    if acl in PUBLIC_CANNED_ACLS:
        yield f"S3 ACL '{acl}' makes the bucket readable outside the account; use 'private'."
    if _public_grants(get(props, "grants")) or _public_grants(
        get(props, "accessControlPolicy", "grants")
    ):
        yield "S3 ACL grants access to AllUsers or AuthenticatedUsers."


DISALLOW_PUBLIC_ACL = resource_rule(
    "aws-s3-bucket-disallow-public-acl",
    "S3 buckets and bucket ACLs must not use a public canned ACL or grant to AllUsers / "
    "AuthenticatedUsers.",
    types=[BUCKET, BUCKET_ACL],
    check=_check_acl,
    severity=Severity.CRITICAL,
    tags=["network", "s3", "public-access"],
    remediation=(
        "Remove the public ACL or grant; keep acl='private' (or no ACL with "
        "object_ownership='BucketOwnerEnforced') and share data through IAM or presigned URLs."
    ),
    references=[checkov("CKV_AWS_20"), checkov("CKV_AWS_57"), fsbp("S3.2"), fsbp("S3.3")],
)


def _check_policy_principal(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in public_allows(get(props, "policy")):
        sid = statement.get("Sid") or "(no Sid)"
        yield (
            f"Bucket policy statement {sid} allows Principal '*' without a Condition: "
            "anyone on the internet gets that access."
        )


DISALLOW_PUBLIC_POLICY = resource_rule(
    "aws-s3-bucket-policy-disallow-public-principal",
    "S3 bucket policies must not Allow Principal '*' without a Condition.",
    types=[BUCKET, BUCKET_POLICY],
    check=_check_policy_principal,
    severity=Severity.CRITICAL,
    tags=["iam", "s3", "public-access"],
    remediation=(
        "Name the principals (account or role ARNs) in the Allow statement, or restrict it with "
        "a Condition such as aws:PrincipalOrgID or aws:SourceVpce."
    ),
    references=[checkov("CKV_AWS_70"), fsbp("S3.2")],
)


# ---------------------------------------------------------------------------- 3: TLS only
def _tls_findings(bucket: PolicyResource, args: StackValidationArgs) -> StackFindings:
    documents = [get(bucket.props, "policy")]
    documents += [get(p.props, "policy") for p in _controls(bucket, args, BUCKET_POLICY)]
    if not any(denies_insecure_transport(d, S3_ALL_ACTIONS) for d in documents):
        yield (
            f"S3 bucket {_label(bucket)} has no bucket policy denying requests with "
            "aws:SecureTransport=false.",
            bucket.urn,
        )


def _check_tls_policy(args: StackValidationArgs) -> StackFindings:
    yield from each(of_types(args, BUCKET), lambda b: _tls_findings(b, args))


REQUIRE_TLS_POLICY = stack_rule(
    "aws-s3-bucket-require-tls-only-policy",
    "Every S3 bucket must have a bucket policy that denies s3:* to everyone when "
    "aws:SecureTransport is false.",
    check=_check_tls_policy,
    severity=Severity.HIGH,
    tags=["encryption", "network", "s3", "tls"],
    category=SECURITY,
    remediation=(
        "Add aws.s3.BucketPolicy(bucket=<bucket>.id, policy=...) with a statement "
        '{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [<arn>, <arn>/*], '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}.'
    ),
    references=[fsbp("S3.5")],
)


# ---------------------------------------------------------------------------- 4: versioning, logs
def _versioned(bucket: PolicyResource, args: StackValidationArgs) -> bool:
    if is_true(get(bucket.props, "versioning", "enabled")):
        return True
    if any(is_true(get(v, "enabled")) for v in items(get(bucket.props, "versionings"))):
        return True
    return any(
        get(v.props, "versioningConfiguration", "status") == "Enabled"
        for v in _controls(bucket, args, VERSIONING)
    )


def _versioning_findings(bucket: PolicyResource, args: StackValidationArgs) -> StackFindings:
    if not _versioned(bucket, args):
        yield (f"S3 bucket {_label(bucket)} does not have versioning enabled.", bucket.urn)


def _check_versioning(args: StackValidationArgs) -> StackFindings:
    yield from each(of_types(args, BUCKET), lambda b: _versioning_findings(b, args))


REQUIRE_VERSIONING = stack_rule(
    "aws-s3-bucket-require-versioning",
    "S3 buckets should keep object versions so overwritten or deleted data can be recovered.",
    check=_check_versioning,
    severity=Severity.MEDIUM,
    tags=["resilience", "s3"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add aws.s3.BucketVersioning(bucket=<bucket>.id, versioning_configuration="
        "{'status': 'Enabled'}) and a lifecycle rule expiring noncurrent versions."
    ),
    references=[checkov("CKV_AWS_21")],
)


def _log_targets(args: StackValidationArgs) -> set[str]:
    """URNs of buckets that receive other buckets' access logs (they need not log themselves)."""
    targets: set[str] = set()
    for logging in of_types(args, LOGGING):
        targets.update(d.urn for d in logging.property_dependencies.get("targetBucket") or [])
    for bucket in of_types(args, BUCKET):
        for key in ("logging", "loggings"):
            targets.update(d.urn for d in bucket.property_dependencies.get(key) or [])
    return targets


def _logs(bucket: PolicyResource, args: StackValidationArgs) -> bool:
    if present(get(bucket.props, "logging", "targetBucket")):
        return True
    if any(present(get(entry, "targetBucket")) for entry in items(get(bucket.props, "loggings"))):
        return True
    return any(present(get(c.props, "targetBucket")) for c in _controls(bucket, args, LOGGING))


def _logging_findings(bucket: PolicyResource, args: StackValidationArgs) -> StackFindings:
    if not _logs(bucket, args):
        yield (f"S3 bucket {_label(bucket)} has no server access logging.", bucket.urn)


def _check_logging(args: StackValidationArgs) -> StackFindings:
    targets = _log_targets(args)
    buckets = [b for b in of_types(args, BUCKET) if b.urn not in targets]
    yield from each(buckets, lambda b: _logging_findings(b, args))


REQUIRE_ACCESS_LOGGING = stack_rule(
    "aws-s3-bucket-require-access-logging",
    "S3 buckets should write server access logs to a log bucket (log buckets themselves are "
    "exempt).",
    check=_check_logging,
    severity=Severity.LOW,
    tags=["logging", "s3", "logging-audit"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add aws.s3.BucketLogging(bucket=<bucket>.id, target_bucket=<log bucket>.id, "
        "target_prefix='<bucket>/')."
    ),
    references=[checkov("CKV_AWS_18"), fsbp("S3.9")],
)

# ---------------------------------------------------------------------------- revision 2
LIFECYCLE_TYPES = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)


def _whole_bucket(rule: Any) -> bool:
    """A rule whose filter selects every object (no filter, or an empty prefix)."""
    rule_filter = get(rule, "filter")
    if rule_filter is None:
        return not present(get(rule, "prefix"))
    keys = {k for k, v in dict(rule_filter).items() if v not in (None, "", [], {})}
    return not keys


def _aborts_uploads(rule: Any) -> bool:
    days = get(rule, "abortIncompleteMultipartUpload", "daysAfterInitiation")
    return (
        get(rule, "status") == "Enabled"
        and isinstance(days, (int, float))
        and days >= 1
        and _whole_bucket(rule)
    )


def _check_abort_multipart(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not any(_aborts_uploads(rule) for rule in items(get(props, "rules"))):
        yield (
            "S3 lifecycle configuration keeps incomplete multipart uploads forever: no enabled "
            "rule over the whole bucket sets abort_incomplete_multipart_upload."
        )


LIFECYCLE_REQUIRE_ABORT_MULTIPART = resource_rule(
    "aws-s3-lifecycle-require-abort-incomplete-multipart",
    "S3 lifecycle configurations should abort incomplete multipart uploads (their parts are "
    "stored, billed and invisible to listings) with an enabled rule over the whole bucket.",
    types=LIFECYCLE_TYPES,
    check=_check_abort_multipart,
    severity=Severity.LOW,
    tags=["retention", "s3"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add abort_incomplete_multipart_upload={'days_after_initiation': 7} to an enabled rule "
        "whose filter is {'prefix': ''}."
    ),
    references=[checkov("CKV_AWS_300")],
    since=2,
)

POLICIES = [
    REQUIRE_KMS,
    REQUIRE_PUBLIC_ACCESS_BLOCK,
    DISALLOW_PUBLIC_ACL,
    DISALLOW_PUBLIC_POLICY,
    REQUIRE_TLS_POLICY,
    REQUIRE_VERSIONING,
    REQUIRE_ACCESS_LOGGING,
    LIFECYCLE_REQUIRE_ABORT_MULTIPART,
]
