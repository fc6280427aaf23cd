"""What an AWS account needs before the first `pulumi up` of a project's stacks, created once.

Per account (one bootstrap stack, components/bootstrap.py names everything):

* the **state backend**: an S3 bucket (``spec.state_name``), versioned, SSE-KMS with the
  bootstrap's key, public access blocked, TLS-only, old versions expired after
  :data:`NONCURRENT_STATE_DAYS`, server access logs to a bucket of its own, protected;
* a **secrets-provider key per environment** (``alias/<spec.secrets_key_name(env)>``): the
  account root administers it; only that environment's deployer and the previewer of that
  environment may use it, so a pull request's preview can never decrypt prod's secrets;
* **OIDC federation** for the CI (``spec.oidc_issuer``, audience sts.amazonaws.com) and one IAM
  role per CI identity (``spec.identity_name(role)``), trusted only by that identity's OIDC
  subjects (:func:`components.bootstrap.oidc_subjects`);
* a **permissions boundary per environment** (:func:`components.aws.security.boundary_policy_name`)
  that every role the stacks create must carry, and each deployer's policies
  (components/aws/permissions.py): the pattern's resource types, its own stack's state, roles
  only with the boundary;
* the **model registry** (ECR ``<registry>/<model>``: immutable tags, scan on push, KMS,
  untagged images expired, pull for the project's other accounts) and the **publish** role
  (push to that repository only), in the account that holds prod;
* for API-first, the **account-wide singletons** the stacks rely on: API Gateway's CloudWatch
  role (one per account and region) and a CloudWatch Logs resource policy letting WAF deliver
  to the project's `aws-waf-logs-<project>-*` groups (one policy instead of one per stack).

The identities' rights are data (components/aws/permissions.py) turned into documents by pure
functions (components/aws/identity_policies.py); this module creates the resources and wires
them by Output (a key policy waits for the roles it names, a policy for the bucket it grants).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import permissions, security
from components.aws.identity_policies import (
    boundary_statements,
    deployer_statements,
    previewer_statements,
    sid,
)
from components.aws.permissions import BOOTSTRAP_MANAGED_BY
from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    READ_ONLY_ROLES,
    BootstrapSpec,
    IdentityRole,
)
from components.naming import resource_name
from components.spec import Environment, Pattern

COMPONENT_TYPE = "aideploy:aws:Bootstrap"
# GitHub's configure-aws-credentials and GitLab's ID token both ask STS for this audience.
OIDC_AUDIENCE = "sts.amazonaws.com"
# A deploy job runs `pulumi up`, bakes (rollout.bake_minutes, up to 60 in prod) and may roll
# back with another `pulumi up`: the prod job allows 180 minutes, so a 4-hour session outlives
# it with margin (the pipeline asks for the same with role-duration-seconds). Previewers and
# the publisher finish in minutes.
SESSION_SECONDS: Mapping[IdentityRole, int] = {
    IdentityRole.DEPLOY_DEV: 4 * 3600,
    IdentityRole.DEPLOY_STAGING: 4 * 3600,
    IdentityRole.DEPLOY_PROD: 4 * 3600,
    IdentityRole.PREVIEW: 3600,
    IdentityRole.PREVIEW_PROD: 3600,
    IdentityRole.PUBLISH: 3600,
}
# Old versions of the state are kept this long (every `pulumi up` writes a new one).
NONCURRENT_STATE_DAYS = 90
STATE_ACCESS_LOG_DAYS = 365
# Untagged images (layers of superseded builds) are expired; tagged releases are kept.
UNTAGGED_IMAGE_DAYS = 14
KEY_DELETION_DAYS = 30
# What the deployer and the previewer may do with their environment's secrets key.
SECRETS_KEY_USE: Mapping[bool, tuple[str, ...]] = {
    False: ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
    True: ("kms:Decrypt", "kms:DescribeKey"),  # read-only identities
}
# API Gateway's account-wide role writes access and execution logs of every REST API in the
# region (it is one role per account), so its log-group scope is the region's.
APIGW_LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)
# Patterns whose stacks need the API Gateway account role and WAF log delivery.
API_GATEWAY_PATTERNS = frozenset({Pattern.API_FIRST})


def bootstrap_tags(spec: BootstrapSpec, environment: Environment | None = None) -> dict[str, str]:
    """Tags of everything the bootstrap creates: `managed-by` differs from the stacks' so no
    deployer can manage it; environment-specific resources carry their environment."""
    tags = {
        "project": spec.project,
        "owner": spec.owner.lower().replace("@", "_at_").replace(".", "_")[:63],
        "managed-by": BOOTSTRAP_MANAGED_BY,
    }
    if environment is not None:
        tags["environment"] = environment.value
    return tags


def _role_arn(spec: BootstrapSpec, name: str) -> str:
    return f"arn:aws:iam::{spec.account}:role/{name}"


def _opts(opts: pulumi.ResourceOptions, **extra: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(**extra))


# -- the bootstrap's own key ---------------------------------------------------------------
def create_bootstrap_key(
    name: str, spec: BootstrapSpec, opts: pulumi.ResourceOptions
) -> aws.kms.Key:
    """The key of the state bucket, its access logs and the registry: the root administers
    it (identities use it through S3 by IAM policy); S3 server access logging may write."""
    key = aws.kms.Key(
        f"{name}-key",
        description=f"{spec.project} bootstrap: Pulumi state, its access logs, model images",
        enable_key_rotation=True,
        rotation_period_in_days=365,
        deletion_window_in_days=KEY_DELETION_DAYS,
        policy=security.key_policy(spec.account, spec.region, [security.S3_LOGGING_KEY_USER]),
        tags=bootstrap_tags(spec),
        opts=_opts(opts, protect=True),
    )
    aws.kms.Alias(
        f"{name}-key-alias",
        name=f"alias/{spec.project}-bootstrap",
        target_key_id=key.key_id,
        opts=opts,
    )
    return key


# -- the state backend ---------------------------------------------------------------------
@dataclass(frozen=True)
class StateBackend:
    """The state bucket, the bucket of its access logs, and what makes them safe."""

    bucket: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    children: tuple[pulumi.Resource, ...]


def _locked_down_bucket(
    name: str,
    spec: BootstrapSpec,
    key: aws.kms.Key,
    opts: pulumi.ResourceOptions,
    *,
    bucket_name: str,
    lifecycle: aws.s3.BucketLifecycleConfigurationRuleArgs,
    grants: Sequence[Mapping[str, Any]] = (),
) -> tuple[aws.s3.Bucket, list[pulumi.Resource]]:
    """A protected, versioned, SSE-KMS, public-access-blocked, TLS-only bucket."""
    bucket = aws.s3.Bucket(
        name,
        bucket=bucket_name,
        force_destroy=False,
        tags=bootstrap_tags(spec),
        opts=_opts(opts, protect=True),
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
    rules = aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[lifecycle],
        opts=_opts(opts, depends_on=[versioning]),
    )
    objects = bucket.arn.apply(lambda arn: f"{arn}/*")
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=security.to_json(
            security.document([security.tls_only_statement("s3:*", [bucket.arn, objects]), *grants])
        ),
        opts=_opts(opts, depends_on=[pab]),
    )
    return bucket, [pab, ownership, sse, versioning, rules, policy]


def state_log_bucket_name(spec: BootstrapSpec) -> str:
    """The bucket of the state bucket's access logs (unique worldwide: it carries the suffix)."""
    return resource_name("aws", "s3-bucket", spec.project, "state-logs", spec.suffix)


def create_state_backend(
    name: str, spec: BootstrapSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> StateBackend:
    """The state bucket ``spec.state_name`` and the bucket of its server access logs."""
    abort = aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
        days_after_initiation=7
    )
    log_name = state_log_bucket_name(spec)
    log_bucket, log_children = _locked_down_bucket(
        f"{name}-state-logs",
        spec,
        key,
        opts,
        bucket_name=log_name,
        lifecycle=aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="access-logs",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                days=STATE_ACCESS_LOG_DAYS
            ),
            noncurrent_version_expiration=(
                aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=STATE_ACCESS_LOG_DAYS
                )
            ),
            abort_incomplete_multipart_upload=abort,
        ),
        grants=[
            security.statement(
                ["s3:PutObject"],
                [f"arn:aws:s3:::{log_name}/*"],
                sid="S3ServerAccessLogs",
                principal={"Service": "logging.s3.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": spec.account}},
            )
        ],
    )
    bucket, children = _locked_down_bucket(
        f"{name}-state",
        spec,
        key,
        opts,
        bucket_name=spec.state_name,
        # The current state is never expired; superseded versions are, after a while.
        lifecycle=aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="old-state-versions",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            noncurrent_version_expiration=(
                aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=NONCURRENT_STATE_DAYS
                )
            ),
            abort_incomplete_multipart_upload=abort,
        ),
    )
    logging = aws.s3.BucketLogging(
        f"{name}-state-logging",
        bucket=bucket.id,
        target_bucket=log_bucket.id,
        target_prefix="state/",
        opts=opts,
    )
    return StateBackend(bucket, log_bucket, (*children, *log_children, logging))


# -- CI federation and identities ----------------------------------------------------------
def create_oidc_provider(
    name: str, spec: BootstrapSpec, opts: pulumi.ResourceOptions
) -> aws.iam.OpenIdConnectProvider:
    """The CI's OIDC issuer, trusted for STS. No thumbprints: for GitHub's and GitLab's
    issuers IAM verifies the TLS chain against its own trusted CAs and ignores any list (SDK
    docstring of thumbprint_lists), and a stale pinned thumbprint is a known outage cause.

    IAM holds one provider per issuer URL and account: an account that already has one (from
    another project) imports it instead (bootstrap README)."""
    return aws.iam.OpenIdConnectProvider(
        f"{name}-oidc",
        url=spec.oidc_issuer,
        client_id_lists=[OIDC_AUDIENCE],
        tags=bootstrap_tags(spec),
        opts=opts,
    )


def trust_policy(
    spec: BootstrapSpec, role: IdentityRole, provider_arn: pulumi.Input[str]
) -> pulumi.Output[str]:
    """Web-identity trust for exactly ``role``'s OIDC subjects and our audience: StringEquals,
    StringLike only where a subject is a wildcard (GitLab merge-request previews)."""
    host = spec.oidc_issuer.removeprefix("https://")
    subjects = list(spec.oidc_subjects(role))
    wildcard = any("*" in s for s in subjects)
    condition: dict[str, dict[str, Any]] = {"StringEquals": {f"{host}:aud": OIDC_AUDIENCE}}
    if wildcard:
        condition["StringLike"] = {f"{host}:sub": subjects}
    else:
        condition["StringEquals"][f"{host}:sub"] = subjects
    return security.to_json(
        security.document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": ["sts:AssumeRoleWithWebIdentity"],
                    "Condition": condition,
                }
            ]
        )
    )


def create_identity(
    name: str,
    spec: BootstrapSpec,
    role: IdentityRole,
    provider: aws.iam.OpenIdConnectProvider,
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """The IAM role of one CI identity (its policies are attached separately)."""
    return aws.iam.Role(
        f"{name}-{role.value}",
        name=spec.identity_name(role),
        description=f"CI identity {role.value} of {spec.project} ({spec.repo})",
        assume_role_policy=trust_policy(spec, role, provider.arn),
        max_session_duration=SESSION_SECONDS[role],
        tags=bootstrap_tags(spec),
        opts=opts,
    )


def _attach(
    name: str,
    spec: BootstrapSpec,
    role: aws.iam.Role,
    policy_name: str,
    statements: Sequence[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    description: str,
) -> aws.iam.Policy:
    """A customer-managed policy of ``statements`` attached to ``role``."""
    policy = aws.iam.Policy(
        name,
        name=policy_name,
        description=description,
        policy=security.to_json(security.document(list(statements))),
        tags=bootstrap_tags(spec),
        opts=opts,
    )
    aws.iam.RolePolicyAttachment(
        f"{name}-attachment", role=role.name, policy_arn=policy.arn, opts=opts
    )
    return policy


# -- per-environment keys and boundaries -----------------------------------------------------
def create_secrets_key(
    name: str,
    spec: BootstrapSpec,
    env: Environment,
    users: Mapping[IdentityRole, aws.iam.Role],
    opts: pulumi.ResourceOptions,
) -> aws.kms.Alias:
    """The secrets-provider key of ``env``: the root administers, ``users`` use it (the
    deployer encrypts and decrypts, read-only identities decrypt). Its policy names the roles
    by Output, so the key waits for them (KMS rejects unknown principals)."""

    def build(values: list[Any]) -> str:
        account, *arns = values
        statements = [
            security.statement(
                security.KEY_ADMIN_ACTIONS,
                ["*"],
                sid="AccountAdministers",
                principal={"AWS": f"arn:aws:iam::{account}:root"},
            )
        ]
        for role, arn in zip(users, arns, strict=True):
            statements.append(
                security.statement(
                    SECRETS_KEY_USE[role in READ_ONLY_ROLES],
                    ["*"],
                    sid=sid(f"use-{role.value}"),
                    principal={"AWS": arn},
                )
            )
        return json.dumps(security.document(statements), sort_keys=True)

    key = aws.kms.Key(
        f"{name}-{env.value}-secrets",
        description=f"{spec.project} {env.value}: Pulumi secrets provider",
        enable_key_rotation=True,
        rotation_period_in_days=365,
        deletion_window_in_days=KEY_DELETION_DAYS,
        policy=pulumi.Output.all(spec.account, *(r.arn for r in users.values())).apply(build),
        tags=bootstrap_tags(spec, env),
        opts=_opts(opts, protect=True),
    )
    return aws.kms.Alias(
        f"{name}-{env.value}-secrets-alias",
        name=f"alias/{spec.secrets_key_name(env)}",
        target_key_id=key.key_id,
        opts=opts,
    )


def key_users(
    spec: BootstrapSpec, env: Environment, roles: Mapping[IdentityRole, aws.iam.Role]
) -> dict[IdentityRole, aws.iam.Role]:
    """The identities of this account that work on ``env``'s stack (its deployer and
    previewer), in identity order."""
    return {r: roles[r] for r in spec.identities if env in IDENTITY_STACKS[r]}


# -- the registry ------------------------------------------------------------------------------
def create_registry(
    name: str, spec: BootstrapSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> aws.ecr.Repository:
    """ECR ``<registry>/<model>``: immutable tags, scan on push, the bootstrap key; untagged
    images expire; the project's other accounts may pull (their roles' own policies still
    decide who there). ECR decrypts with its own grant on the key when anyone pulls."""
    repository = aws.ecr.Repository(
        f"{name}-registry",
        name=f"{spec.registry_name}/{spec.model_name}",
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        encryption_configurations=[
            aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key.arn)
        ],
        force_delete=False,
        tags=bootstrap_tags(spec),
        opts=_opts(opts, protect=True),
    )
    aws.ecr.LifecyclePolicy(
        f"{name}-registry-lifecycle",
        repository=repository.name,
        policy=security.to_json(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} days",
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": UNTAGGED_IMAGE_DAYS,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
        opts=opts,
    )
    if spec.pull_accounts:
        aws.ecr.RepositoryPolicy(
            f"{name}-registry-pull",
            repository=repository.name,
            policy=security.to_json(
                security.document(
                    [
                        # A repository policy names no Resource: the repository is implied.
                        {
                            "Sid": "ProjectAccountsPull",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": [f"arn:aws:iam::{a}:root" for a in spec.pull_accounts]
                            },
                            "Action": list(permissions.ECR_PULL_ACTIONS),
                        }
                    ]
                )
            ),
            opts=opts,
        )
    return repository


# -- account-wide singletons of API-first --------------------------------------------------
@dataclass(frozen=True)
class ApiGatewayAccount:
    """API Gateway's account-wide CloudWatch role and the WAF log resource policy."""

    role: aws.iam.Role
    account: aws.apigateway.Account
    waf_log_policy: aws.cloudwatch.LogResourcePolicy


def create_api_gateway_account(
    name: str, spec: BootstrapSpec, opts: pulumi.ResourceOptions
) -> ApiGatewayAccount:
    """The account's API Gateway logging role (one per account and region: every stage's
    access and execution logs go through it), and one CloudWatch Logs resource policy for WAF
    delivery to the project's `aws-waf-logs-<project>-*` groups, so the stacks' WAF logging
    does not grow the account's size-limited policies stack by stack."""
    role = aws.iam.Role(
        f"{name}-apigateway-logs",
        name=resource_name("aws", "iam-role", spec.project, "apigateway-logs"),
        description="API Gateway's account-level role for access and execution logs",
        assume_role_policy=security.assume_role_policy("apigateway.amazonaws.com", spec.account),
        tags=bootstrap_tags(spec),
        opts=opts,
    )
    logs = f"arn:aws:logs:{spec.region}:{spec.account}:log-group:*"
    policy = aws.iam.RolePolicy(
        f"{name}-apigateway-logs-policy",
        role=role.id,
        policy=security.to_json(security.document([security.statement(APIGW_LOG_ACTIONS, [logs])])),
        opts=opts,
    )
    account = aws.apigateway.Account(
        f"{name}-apigateway-account",
        cloudwatch_role_arn=role.arn,
        # API Gateway checks it can assume the role with these rights.
        opts=_opts(opts, depends_on=[policy]),
    )
    groups = f"arn:aws:logs:{spec.region}:{spec.account}:log-group:aws-waf-logs-{spec.project}-*"
    waf_log_policy = aws.cloudwatch.LogResourcePolicy(
        f"{name}-waf-logs",
        policy_name=resource_name("aws", "default", spec.project, "waf-logs"),
        policy_document=security.to_json(
            security.document(
                [
                    security.statement(
                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                        [f"{groups}:log-stream:*"],
                        sid="WafLogDelivery",
                        principal={"Service": "delivery.logs.amazonaws.com"},
                        condition={
                            "StringEquals": {"aws:SourceAccount": spec.account},
                            "ArnLike": {
                                "aws:SourceArn": f"arn:aws:logs:{spec.region}:{spec.account}:*"
                            },
                        },
                    )
                ]
            )
        ),
        opts=opts,
    )
    return ApiGatewayAccount(role, account, waf_log_policy)


# -- the component -----------------------------------------------------------------------------
class AwsBootstrap(pulumi.ComponentResource):
    """One AWS account's bootstrap; outputs per components.bootstrap.BOOTSTRAP_OUTPUTS."""

    def __init__(
        self, name: str, spec: BootstrapSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.spec = spec
        o = pulumi.ResourceOptions(parent=self)
        self.key = create_bootstrap_key(name, spec, o)
        self.state = create_state_backend(name, spec, self.key, o)
        self.provider = create_oidc_provider(name, spec, o)
        self.roles = {r: create_identity(name, spec, r, self.provider, o) for r in spec.identities}
        self.api_gateway = (
            create_api_gateway_account(name, spec, o)
            if spec.pattern in API_GATEWAY_PATTERNS
            else None
        )
        self.boundaries = {
            env: aws.iam.Policy(
                f"{name}-{env.value}-boundary",
                name=security.boundary_policy_name(spec.project, env),
                description=f"Ceiling of every role {spec.project}'s {env.value} stack creates",
                policy=security.to_json(
                    security.document(boundary_statements(spec, env, self._state_arns()))
                ),
                tags=bootstrap_tags(spec, env),
                opts=o,
            )
            for env in spec.environments
        }
        self.secrets = {
            env: create_secrets_key(name, spec, env, key_users(spec, env, self.roles), o)
            for env in spec.environments
        }
        self.registry = create_registry(name, spec, self.key, o) if spec.registry else None
        self._attach_policies(name, o)
        self.register_outputs(self.outputs())

    # -- policies ------------------------------------------------------------------------
    def _state_arns(self) -> list[pulumi.Output[str]]:
        arns = []
        for bucket in (self.state.bucket, self.state.log_bucket):
            arns.extend([bucket.arn, bucket.arn.apply(lambda a: f"{a}/*")])
        return arns

    def _protected_arns(self) -> list[pulumi.Input[str]]:
        """What no deployer may touch: the identities, boundaries, OIDC provider and the
        API Gateway role of this bootstrap."""
        spec = self.spec
        arns: list[pulumi.Input[str]] = [
            _role_arn(spec, spec.identity_name(r)) for r in spec.identities
        ]
        arns.extend(
            f"arn:aws:iam::{spec.account}:policy/{security.boundary_policy_name(spec.project, e)}"
            for e in Environment
        )
        arns.append(self.provider.arn)
        if self.api_gateway is not None:
            arns.append(self.api_gateway.role.arn)
        return arns

    def _attach_policies(self, name: str, o: pulumi.ResourceOptions) -> None:
        spec = self.spec
        self.policies: dict[IdentityRole, list[aws.iam.Policy]] = {}
        for env in spec.environments:
            role = DEPLOYERS[env]
            parts = deployer_statements(
                spec,
                env,
                boundary_arn=security.boundary_arn(spec.account, spec.project, env),
                state_arn=self.state.bucket.arn,
                key_arn=self.key.arn,
                protected_arns=self._protected_arns(),
            )
            self.policies[role] = [
                _attach(
                    f"{name}-{role.value}-{part}",
                    spec,
                    self.roles[role],
                    resource_name("aws", "default", spec.project, role.value, part),
                    statements,
                    o,
                    f"{spec.project} {env.value} deployer: {part}",
                )
                for part, statements in parts.items()
                if statements
            ]
        for role in spec.identities:
            if role not in READ_ONLY_ROLES:
                continue
            envs = [e for e in IDENTITY_STACKS[role] if e in spec.environments]
            self.policies[role] = [
                _attach(
                    f"{name}-{role.value}-read",
                    spec,
                    self.roles[role],
                    resource_name("aws", "default", spec.project, role.value, "read"),
                    [
                        *previewer_statements(
                            spec, envs, state_arn=self.state.bucket.arn, key_arn=self.key.arn
                        ),
                    ],
                    o,
                    # A new description replaces the (named) policy: the provider deletes it
                    # before creating the new one, so the previewer goes without it only then.
                    f"{spec.project} {role.value}: read the state of "
                    f"{', '.join(e.value for e in envs)}",
                )
            ]
        if self.registry is not None and IdentityRole.PUBLISH in self.roles:
            self.policies[IdentityRole.PUBLISH] = [
                _attach(
                    f"{name}-publish-push",
                    spec,
                    self.roles[IdentityRole.PUBLISH],
                    resource_name("aws", "default", spec.project, "publish", "push"),
                    [
                        # The registry login call has no resource-level permission.
                        security.statement(["ecr:GetAuthorizationToken"], ["*"], sid="Login"),
                        security.statement(
                            permissions.ECR_PUSH_ACTIONS, [self.registry.arn], sid="PushModel"
                        ),
                    ],
                    o,
                    f"{spec.project} publish: push model images to its repository",
                )
            ]

    # -- outputs -------------------------------------------------------------------------
    def _backend_url(self) -> pulumi.Output[str]:
        return pulumi.Output.concat("s3://", self.state.bucket.bucket, "?region=", self.spec.region)

    def _image_repository(self) -> pulumi.Output[str]:
        if self.registry is None:
            return pulumi.Output.from_input("")
        host = f"{self.spec.account}.dkr.ecr.{self.spec.region}.amazonaws.com"
        return self.registry.name.apply(lambda n: f"{host}/{n}")

    def _ci_variables(self) -> dict[str, dict[str, pulumi.Input[str]]]:
        spec = self.spec
        out: dict[str, dict[str, pulumi.Input[str]]] = {}
        for role in spec.identities:
            variables: dict[str, pulumi.Input[str]] = {
                "AWS_ROLE_ARN": self.roles[role].arn,
                "AWS_REGION": spec.region,
            }
            if role is IdentityRole.PUBLISH:
                variables["IMAGE_REPOSITORY"] = self._image_repository()
            else:
                variables["PULUMI_BACKEND_URL"] = self._backend_url()
            for ci_environment in self.spec.ci_environments(role):
                out[ci_environment] = variables
        return out

    def _stack_prerequisites(self) -> dict[str, dict[str, pulumi.Input[str]]]:
        out: dict[str, dict[str, pulumi.Input[str]]] = {}
        for env in self.spec.environments:
            needs: dict[str, pulumi.Input[str]] = {
                "backend_url": self._backend_url(),
                "secrets_provider": self._secrets_provider(env),
                "deployer_role": self.roles[DEPLOYERS[env]].arn,
                "permissions_boundary": self.boundaries[env].arn,
            }
            if self.api_gateway is not None:
                needs["apigateway_cloudwatch_role"] = (
                    self.api_gateway.account.cloudwatch_role_arn.apply(lambda a: a or "")
                )
                needs["waf_log_resource_policy"] = (
                    self.api_gateway.waf_log_policy.policy_name.apply(lambda n: n or "")
                )
            out[env.value] = needs
        return out

    def _secrets_provider(self, env: Environment) -> pulumi.Output[str]:
        alias = self.secrets[env]
        return alias.name.apply(lambda n: f"awskms://{n}?region={self.spec.region}")

    def outputs(self) -> dict[str, pulumi.Output[Any]]:
        """Exactly BOOTSTRAP_OUTPUTS, derived from the resources created (not from names)."""
        values: dict[str, Any] = {
            "backend_url": self._backend_url(),
            "secrets_providers": {e.value: self._secrets_provider(e) for e in self.secrets},
            "identities": {r.value: role.arn for r, role in self.roles.items()},
            "ci_variables": self._ci_variables(),
            "image_repository": self._image_repository(),
            "stack_prerequisites": self._stack_prerequisites(),
        }
        assert tuple(values) == BOOTSTRAP_OUTPUTS
        return {k: pulumi.Output.from_input(v) for k, v in values.items()}
