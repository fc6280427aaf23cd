"""AWS security building blocks shared by every pattern: keys, log sinks, identities, buckets.

Each function creates a small group of resources with the secure settings the policy pack demands
(POLICY-RULES.md rules 1-5, 12-14), so a pattern component gets them right by construction:
customer-managed KMS keys with rotation and a key policy naming its principals, KMS-encrypted log
groups with the profile's retention, roles trusted by one service in this account only, with
inline policies that list explicit actions, and private, TLS-only, KMS-encrypted S3 buckets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.naming import resource_name
from components.spec import DeploymentSpec, Environment

# Key administration, spelled out: a key policy with `kms:*` would pass KMS's own checks but not
# our "no wildcard actions" rule, and listing them documents what the account root can do.
KEY_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)

KEY_USE_ACTIONS: tuple[str, ...] = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


@dataclass(frozen=True)
class KeyUser:
    """An AWS service allowed to use a key, always bound to this account by a condition.

    ``condition_key``/``condition_values`` narrow it further (e.g. CloudWatch Logs to this
    account's log groups through the encryption context); ``{account}`` and ``{region}`` in the
    values are filled in.
    """

    service: str
    actions: tuple[str, ...] = KEY_USE_ACTIONS
    condition_test: str = "StringEquals"
    condition_key: str = "aws:SourceAccount"
    condition_values: tuple[str, ...] = ("{account}",)


# The service principals our patterns' resources need on their key, by role.
LOGS_KEY_USER = KeyUser(
    "logs.{region}.amazonaws.com",
    condition_test="ArnLike",
    condition_key="kms:EncryptionContext:aws:logs:arn",
    condition_values=("arn:aws:logs:{region}:{account}:log-group:*",),
)
ALARMS_KEY_USER = KeyUser("cloudwatch.amazonaws.com", ("kms:Decrypt", "kms:GenerateDataKey"))
S3_LOGGING_KEY_USER = KeyUser("logging.s3.amazonaws.com", ("kms:GenerateDataKey",))
# EventBridge rules (and their dead-letter queue) delivering to KMS-encrypted SQS queues and SNS
# topics: the service encrypts with the target's key itself.
EVENTS_KEY_USER = KeyUser("events.amazonaws.com", ("kms:Decrypt", "kms:GenerateDataKey"))
# Fargate encrypts its tasks' ephemeral storage with the cluster's key (review C7): it makes a
# data key and a Decrypt grant for each task, with this account's clusters in the encryption
# context (ECS's documented key policy for fargate_ephemeral_storage_kms_key_id).
FARGATE_KEY_USER = KeyUser(
    "fargate.amazonaws.com",
    ("kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"),
    condition_key="kms:EncryptionContext:aws:ecs:clusterAccount",
)


def account_id() -> pulumi.Output[str]:
    """The deploying account's id."""
    return aws.get_caller_identity_output().account_id


def to_json(document: Any) -> pulumi.Output[str]:
    """A policy document (possibly holding Outputs) as a JSON string Output."""
    return pulumi.Output.from_input(document).apply(lambda d: json.dumps(d, sort_keys=True))


def statement(
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]],
    *,
    sid: str | None = None,
    effect: str = "Allow",
    principal: Mapping[str, Any] | None = None,
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One IAM statement. Actions are exact: callers pass explicit `service:Action` names."""
    out: dict[str, Any] = {"Effect": effect, "Action": list(actions), "Resource": list(resources)}
    if sid:
        out["Sid"] = sid
    if principal is not None:
        out["Principal"] = dict(principal)
    if condition is not None:
        out["Condition"] = dict(condition)
    return out


def via_services(region: str, *services: str) -> dict[str, Any]:
    """The condition that lets a key grant work only through ``services`` (review B4): a
    principal holding it cannot decrypt a ciphertext it fetched some other way."""
    return {
        "StringEquals": {
            "kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services]
        }
    }


def key_use_statement(
    actions: Sequence[str], key_arn: pulumi.Input[str], region: str, *services: str
) -> dict[str, Any]:
    """``actions`` on the stack key, through ``services`` only (s3, sqs, sns, dynamodb, ...)."""
    return statement(actions, [key_arn], condition=via_services(region, *services))


def document(statements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An IAM policy document."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def tls_only_statement(action: str, resources: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """Deny ``action`` (e.g. ``s3:*``, ``sns:Publish``) over plain HTTP, for every principal.

    A Deny with ``Principal: *`` is how AWS expresses "nobody, whoever they are"; it grants
    nothing, and the condition scopes it to insecure transport.
    """
    return statement(
        [action],
        resources,
        sid="DenyInsecureTransport",
        effect="Deny",
        principal={"AWS": "*"},
        condition={"Bool": {"aws:SecureTransport": "false"}},
    )


def _fill(text: str, account: str, region: str) -> str:
    return text.replace("{account}", account).replace("{region}", region)


def key_policy(
    account: pulumi.Input[str], region: str, users: Sequence[KeyUser]
) -> pulumi.Output[str]:
    """Key policy: the account root administers (so IAM policies can grant use), named
    services use it under conditions; no statement has an unconditioned ``*`` principal."""

    def build(acct: str) -> str:
        statements = [
            statement(
                KEY_ADMIN_ACTIONS,
                ["*"],
                sid="AccountAdministers",
                principal={"AWS": f"arn:aws:iam::{acct}:root"},
            )
        ]
        for user in users:
            service = _fill(user.service, acct, region)
            statements.append(
                statement(
                    user.actions,
                    ["*"],
                    sid="Use" + "".join(ch for ch in service.split(".")[0].title() if ch.isalnum()),
                    principal={"Service": service},
                    condition={
                        user.condition_test: {
                            user.condition_key: [
                                _fill(v, acct, region) for v in user.condition_values
                            ]
                        }
                    },
                )
            )
        return json.dumps(document(statements), sort_keys=True)

    return pulumi.Output.from_input(account).apply(build)


def create_kms_key(
    name: str,
    spec: DeploymentSpec,
    opts: pulumi.ResourceOptions,
    *,
    description: str,
    users: Sequence[KeyUser] = (LOGS_KEY_USER, ALARMS_KEY_USER),
) -> aws.kms.Key:
    """A customer-managed key with rotation, in every environment (parity), plus an alias."""
    key = aws.kms.Key(
        f"{name}-key",
        description=description,
        enable_key_rotation=True,
        rotation_period_in_days=365,
        deletion_window_in_days=30 if spec.retention.deletion_protection else 7,
        policy=key_policy(account_id(), spec.region, users),
        tags=spec.standard_tags(),
        opts=opts,
    )
    aws.kms.Alias(
        f"{name}-key-alias",
        name="alias/" + resource_name("aws", "default", spec.project, spec.environment.value, name),
        target_key_id=key.key_id,
        opts=opts,
    )
    return key


def create_log_group(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    opts: pulumi.ResourceOptions,
    *,
    log_group_name: pulumi.Input[str] | None = None,
) -> aws.cloudwatch.LogGroup:
    """A log group encrypted with ``key``, kept for the profile's log retention."""
    return aws.cloudwatch.LogGroup(
        name,
        name=log_group_name,
        retention_in_days=spec.retention.log_days,
        kms_key_id=key.arn,
        tags=spec.standard_tags(),
        opts=opts,
    )


# Services documented to send aws:SourceAccount when assuming a role get a strict condition. For
# the others (Lambda execution roles, API Gateway's logging role) the key may be absent, and a
# strict match on an absent key would deny the service: IfExists still refuses other accounts.
TRUST_CONDITION_OPERATORS: Mapping[str, str] = {
    "ecs-tasks.amazonaws.com": "StringEquals",
    "vpc-flow-logs.amazonaws.com": "StringEquals",
    # EventBridge Scheduler documents both keys in its execution role's trust (review B8).
    "scheduler.amazonaws.com": "StringEquals",
}
DEFAULT_TRUST_CONDITION_OPERATOR = "StringEqualsIfExists"
# Services whose source resource we can name in the trust as well (confused-deputy guard on
# the calling resource, review A22): IfExists, because SageMaker hosting does not document
# that it sends the keys when it assumes an execution role, and a strict match on an absent
# key would make endpoint creation fail 20 minutes in; when present, they must match.
TRUST_SOURCE_ARNS: Mapping[str, str] = {
    "sagemaker.amazonaws.com": "arn:aws:sagemaker:{region}:{account}:*",
    # Scheduler's aws:SourceArn is the schedule group; the stack's schedules are in the
    # default group, whose ARN is known before anything is created (no cycle).
    "scheduler.amazonaws.com": "arn:aws:scheduler:{region}:{account}:schedule-group/default",
}
# Source-ARN tests that must match (not IfExists): the service always sends the key.
STRICT_SOURCE_ARN_SERVICES = frozenset({"scheduler.amazonaws.com"})


def assume_role_policy(
    service: str, account: pulumi.Input[str], region: str = ""
) -> pulumi.Output[str]:
    """Trust ``service`` only when it acts for this account (confused-deputy guard)."""
    operator = TRUST_CONDITION_OPERATORS.get(service, DEFAULT_TRUST_CONDITION_OPERATOR)
    condition: dict[str, Any] = {operator: {"aws:SourceAccount": account}}
    source = TRUST_SOURCE_ARNS.get(service)
    if source is not None:
        arn_operator = "ArnLike" if service in STRICT_SOURCE_ARN_SERVICES else "ArnLikeIfExists"
        condition[arn_operator] = {
            "aws:SourceArn": pulumi.Output.from_input(account).apply(
                lambda a: source.format(region=region, account=a)
            )
        }
    return to_json(
        document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["sts:AssumeRole"],
                    "Condition": condition,
                }
            ]
        )
    )


# -- the permissions boundary ----------------------------------------------------------------
# Every role a stack creates carries its environment's permissions boundary, a managed policy
# the bootstrap creates; the deployer may create roles only with it attached. Both sides take
# its name from this one function.
def boundary_policy_name(project: str, environment: Environment) -> str:
    """The permissions boundary policy of one environment's stack roles."""
    return resource_name("aws", "default", project, environment.value, "boundary")


def boundary_arn(account: str, project: str, environment: Environment) -> str:
    """The ARN of :func:`boundary_policy_name` in ``account``."""
    return f"arn:aws:iam::{account}:policy/{boundary_policy_name(project, environment)}"


def stack_boundary(spec: DeploymentSpec) -> pulumi.Output[str]:
    """The permissions boundary every role of ``spec``'s stack carries."""
    return account_id().apply(lambda a: boundary_arn(a, spec.project, spec.environment))


def create_role(
    name: str,
    spec: DeploymentSpec,
    service: str,
    statements: Sequence[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    *,
    description: str,
) -> aws.iam.Role:
    """A role for one service with an inline least-privilege policy (explicit actions only).

    Inline rather than managed policies: the grant lives and dies with the role, and no AWS
    managed "FullAccess" policy is ever attached.
    """
    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=assume_role_policy(service, account_id(), spec.region),
        max_session_duration=3600,
        permissions_boundary=stack_boundary(spec),
        tags=spec.standard_tags(),
        opts=opts,
    )
    if statements:
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=to_json(document(list(statements))),
            opts=opts,
        )
    return role


def create_account_role(
    name: str,
    spec: DeploymentSpec,
    statements: Sequence[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    *,
    description: str,
    access: str,
) -> aws.iam.Role:
    """A role for people and systems of this account (a client's producer or reader), with an
    inline least-privilege policy.

    Trusting the account root delegates half the decision to IAM: only principals of this
    account whose own policies allow sts:AssumeRole on this role can. The trust names the
    other half (review B2): the principal must also carry the tag :func:`access_tag_key`
    (``access`` names the role: producer, reader) with the value ``"true"``, set by whoever
    administers the client's IAM roles and users, so an admin or developer role allowed
    sts:AssumeRole on "*" cannot assume it by accident.
    """
    trust = account_trust_policy(account_id(), access_tag_key(spec, access))
    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=trust,
        max_session_duration=3600,
        permissions_boundary=stack_boundary(spec),
        tags=spec.standard_tags(),
        opts=opts,
    )
    if statements:
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=to_json(document(list(statements))),
            opts=opts,
        )
    return role


def access_tag_key(spec: DeploymentSpec, role: str) -> str:
    """The IAM principal tag that admits a principal to one of the stack's client roles
    (``aideploy-<project>-<environment>-<role>``, value ``"true"``)."""
    return f"aideploy-{spec.project}-{spec.environment.value}-{role}"


def account_trust_policy(account: pulumi.Input[str], tag_key: str) -> pulumi.Output[str]:
    """Trust policy letting this account's IAM principals that carry ``tag_key = "true"`` (and
    whose own policies allow it) assume the role."""
    return to_json(
        document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": pulumi.Output.from_input(account).apply(
                            lambda a: f"arn:aws:iam::{a}:root"
                        )
                    },
                    "Action": ["sts:AssumeRole"],
                    "Condition": {"StringEquals": {f"aws:PrincipalTag/{tag_key}": "true"}},
                }
            ]
        )
    )


# Days after which S3 drops the parts of a multipart upload that was never completed.
ABORT_INCOMPLETE_UPLOAD_DAYS = 7


@dataclass(frozen=True)
class ObjectLock:
    """Every new object version is locked for ``days`` in ``mode``: GOVERNANCE (a privileged
    identity with s3:BypassGovernanceRetention may still withdraw it) or COMPLIANCE (no one can,
    not even the account's root, until the days pass)."""

    mode: str
    days: int


@dataclass
class PrivateBucket:
    """A bucket and the resources that make it private, encrypted, versioned and logged."""

    bucket: aws.s3.Bucket
    children: list[pulumi.Resource] = field(default_factory=list)


# Extra bucket-policy statements, built from the bucket's ARN (which exists only once created).
BucketGrants = Callable[[pulumi.Output[str]], Sequence[Mapping[str, Any]]]


def create_private_bucket(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    opts: pulumi.ResourceOptions,
    *,
    access_log_bucket: aws.s3.Bucket | None = None,
    grants: BucketGrants | None = None,
    expire_days: int | None = None,
    expire_prefix: str = "",
    object_lock: ObjectLock | None = None,
) -> PrivateBucket:
    """An S3 bucket per rules 1-4: public access blocked, SSE-KMS with a bucket key, TLS-only
    policy, versioning, and server access logs to ``access_log_bucket`` when given.

    Current and noncurrent objects expire after ``expire_days`` (default: data retention);
    with ``expire_prefix``, current objects expire under that prefix only (the rest is kept,
    e.g. a canary's script next to its artifacts) and old versions everywhere.
    """
    # Object Lock is a bucket's birth property in the API's model (a later PutObjectLock works
    # too, but only on a versioned bucket): ask for it at creation when the bucket needs it.
    lock_args: dict[str, Any] = {} if object_lock is None else {"object_lock_enabled": True}
    bucket = aws.s3.Bucket(
        name,
        force_destroy=not spec.retention.deletion_protection,
        tags=spec.standard_tags(),
        opts=opts,
        **lock_args,
    )
    pab = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    sse = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=(
                    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    )
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled"
        ),
        opts=opts,
    )
    days = expire_days or spec.retention.data_days
    # Parts of uploads never completed are billed and invisible to listings (CKV_AWS_300):
    # the rule over the whole bucket drops them after a week.
    abort = aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
        days_after_initiation=ABORT_INCOMPLETE_UPLOAD_DAYS
    )
    lifecycle = aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="retention",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=expire_prefix),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                noncurrent_version_expiration=(
                    aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=days
                    )
                ),
                abort_incomplete_multipart_upload=None if expire_prefix else abort,
            ),
            *(
                [
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="old-versions",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        noncurrent_version_expiration=(
                            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                                noncurrent_days=days
                            )
                        ),
                        abort_incomplete_multipart_upload=abort,
                    )
                ]
                if expire_prefix
                else []
            ),
        ],
        # Lifecycle rules on a versioned bucket need versioning in place first.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
    )
    objects = bucket.arn.apply(lambda arn: f"{arn}/*")
    statements = [tls_only_statement("s3:*", [bucket.arn, objects])]
    statements.extend(dict(s) for s in (grants(bucket.arn) if grants else ()))
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=to_json(document(statements)),
        # The public access block must exist first, so no policy ever applies without it.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[pab])),
    )
    children: list[pulumi.Resource] = [pab, ownership, sse, versioning, lifecycle, policy]
    if object_lock is not None:
        children.append(
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=object_lock.mode, days=object_lock.days
                    )
                ),
                # Object Lock needs versioning enabled first.
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(depends_on=[versioning])
                ),
            )
        )
    if access_log_bucket is not None:
        children.append(
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=bucket.id,
                target_bucket=access_log_bucket.id,
                target_prefix=f"{name}/",
                opts=opts,
            )
        )
    return PrivateBucket(bucket, children)


def create_access_log_bucket(
    name: str, spec: DeploymentSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> PrivateBucket:
    """The bucket that receives S3 server access logs: private, SSE-KMS, versioned, kept for
    the log retention; only this account's S3 logging service may write to it.

    The key must list :data:`S3_LOGGING_KEY_USER`. It does not log itself (that would loop).
    """
    account = account_id()

    def grants(bucket_arn: pulumi.Output[str]) -> list[dict[str, Any]]:
        return [
            statement(
                ["s3:PutObject"],
                [bucket_arn.apply(lambda arn: f"{arn}/*")],
                sid="S3ServerAccessLogs",
                principal={"Service": "logging.s3.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": account}},
            )
        ]

    return create_private_bucket(
        name, spec, key, opts, grants=grants, expire_days=spec.retention.log_days
    )


def create_encrypted_queue(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    opts: pulumi.ResourceOptions,
    *,
    retention_days: int = 14,
    visibility_timeout_seconds: int = 30,
    redrive_to: aws.sqs.Queue | None = None,
    max_receive_count: int = 5,
    grants: BucketGrants | None = None,
) -> aws.sqs.Queue:
    """An SQS queue encrypted with ``key`` and a TLS-only queue policy (rule 6).

    ``redrive_to`` makes it redrive to a dead-letter queue after ``max_receive_count`` tries.
    Senders need kms:GenerateDataKey and kms:Decrypt on the key through their own role.
    ``grants`` adds queue-policy statements built from the queue's ARN (e.g. an EventBridge
    rule allowed to send); a queue has one policy, so they must go in this one.
    """
    redrive = (
        redrive_to.arn.apply(
            lambda arn: json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count}
            )
        )
        if redrive_to is not None
        else None
    )
    queue = aws.sqs.Queue(
        name,
        kms_master_key_id=key.arn,
        kms_data_key_reuse_period_seconds=300,
        message_retention_seconds=min(retention_days, 14) * 86400,
        visibility_timeout_seconds=visibility_timeout_seconds,
        redrive_policy=redrive,
        tags=spec.standard_tags(),
        opts=opts,
    )
    aws.sqs.QueuePolicy(
        f"{name}-policy",
        queue_url=queue.url,
        policy=to_json(
            document(
                [
                    tls_only_statement("sqs:*", [queue.arn]),
                    *(dict(g) for g in (grants(queue.arn) if grants else ())),
                ]
            )
        ),
        opts=opts,
    )
    return queue


ECR_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
_ECR_HOST = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")


def ecr_repository_arn(image: str) -> str:
    """The ECR repository ARN of an ECR image reference, else "" (another registry)."""
    host, _, path = image.partition("/")
    match = _ECR_HOST.fullmatch(host)
    if not match or not path:
        return ""
    repository = re.split(r"[:@]", path, maxsplit=1)[0]
    return f"arn:aws:ecr:{match.group(2)}:{match.group(1)}:repository/{repository}"


def is_ecr_image(image: str) -> bool:
    """True when ``image`` lives in an ECR repository."""
    return bool(ecr_repository_arn(image))


def image_pull_statements(images: Sequence[str]) -> list[dict[str, Any]]:
    """What a role needs to pull ``images``: ECR reads on exactly their repositories (plus the
    token call, which has no resource-level permission); nothing for other registries."""
    repositories = sorted({ecr_repository_arn(i) for i in images} - {""})
    if not repositories:
        return []
    return [
        statement(["ecr:GetAuthorizationToken"], ["*"]),
        statement(ECR_PULL_ACTIONS, repositories),
    ]


LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class EcsFoundation:
    """What every ECS-based pattern starts from: a cluster, its log group, the agent's role."""

    cluster: aws.ecs.Cluster
    logs: aws.cloudwatch.LogGroup
    execution_role: aws.iam.Role


def ecs_log_group_name(spec: DeploymentSpec, role: str) -> str:
    """The log group of a Fargate workload's containers (runbooks read it by this name)."""
    return f"/aws/ecs/{spec.project}-{spec.environment.value}/{role}"


def create_ecs_foundation(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    role: str,
    images: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> EcsFoundation:
    """An ECS cluster (Container Insights on, Fargate ephemeral storage under ``key``, which
    must list :data:`FARGATE_KEY_USER`), a KMS-encrypted log group for ``role``'s tasks,
    and the execution role that may only write those logs and pull ``images`` from ECR."""
    cluster = aws.ecs.Cluster(
        f"{name}-cluster",
        settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
        # Tasks' ephemeral storage under the stack key (review C7); the key lists
        # FARGATE_KEY_USER so Fargate may make its per-task data keys and grants.
        configuration=aws.ecs.ClusterConfigurationArgs(
            managed_storage_configuration=aws.ecs.ClusterConfigurationManagedStorageConfigurationArgs(
                fargate_ephemeral_storage_kms_key_id=key.arn
            )
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )
    logs = create_log_group(
        f"{name}-{role}-logs",
        spec,
        key,
        opts,
        log_group_name=ecs_log_group_name(spec, role),
    )
    execution_role = create_role(
        f"{name}-execution-role",
        spec,
        "ecs-tasks.amazonaws.com",
        [
            statement(LOG_WRITE_ACTIONS, [logs.arn.apply(lambda a: f"{a}:*")]),
            *image_pull_statements(images),
        ],
        opts,
        description=f"ECS agent: write the {role} logs (and pull from ECR when used)",
    )
    return EcsFoundation(cluster, logs, execution_role)
