"""AWS building blocks for the embedded pattern's release side: the channel and the signing key.

* :func:`create_release_channel`: an S3 bucket per environment that keeps every release version
  (versioning + Object Lock), private, encrypted with the stack's key, TLS only, logged. The lock
  mode keeps environments alike: GOVERNANCE with a retention period by default, so a bad model
  can still be withdrawn by a privileged identity (``s3:BypassGovernanceRetention``); COMPLIANCE
  only when the client asks (then not even the account's root can remove a release early).
  Releases are never expired by lifecycle; old versions of an object go after data retention,
  as the lock allows.
* :func:`create_signing_key`: a KMS key per environment for ECDSA P-256 signatures
  (``SIGN_VERIFY`` / ``ECC_NIST_P256``). Its key policy lets the account administer it (IAM
  policies can then grant the administration a deployer needs) and lets exactly one principal
  sign: the environment's CI deployer, which runs ``python -m ci.release sign|promote``. Apps
  and devices need only the public key (``python -m ci.release public-key``). AWS does not
  rotate asymmetric keys: a new key and the alias moved to it is a rotation, and apps keep the
  old public key until its releases expire.

Both are plain functions: the caller's ``opts`` keep the pattern component as parent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.bootstrap import DEPLOYERS, identity_name
from components.naming import resource_name
from components.spec import Cloud, DeploymentSpec

SIGN_ACTIONS = ("kms:GetPublicKey", "kms:Sign")
# The administration a signing key has: the stack's key administration without the data and
# rotation actions, which an asymmetric SIGN_VERIFY key does not take.
_NOT_FOR_SIGNING_KEYS = ("Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt", "KeyRotation")
SIGNING_KEY_ADMIN_ACTIONS = tuple(
    a for a in security.KEY_ADMIN_ACTIONS if not any(word in a for word in _NOT_FOR_SIGNING_KEYS)
)
# Everything in the channel lives under this prefix, and nothing there expires: only old
# versions do (the lifecycle's prefixed expiry applies to this one, which holds nothing).
RELEASES_PREFIX = "releases/"
_NOTHING_EXPIRES = "aideploy-expiring/"


class LockMode(str, Enum):
    """S3 Object Lock retention modes."""

    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class ChannelSettings:
    """How long a release version is locked, and how hard."""

    mode: LockMode = LockMode.GOVERNANCE
    retention_days: int = 30


@dataclass(frozen=True)
class ReleaseChannel:
    """The channel's bucket and the resources that make it one."""

    bucket: aws.s3.Bucket
    children: tuple[pulumi.Resource, ...]


def create_release_channel(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    access_log_bucket: aws.s3.Bucket | None,
    settings: ChannelSettings,
    opts: pulumi.ResourceOptions,
) -> ReleaseChannel:
    """The environment's release channel (logical name ``<name>-releases``)."""
    private = security.create_private_bucket(
        f"{name}-releases",
        spec,
        key,
        opts,
        access_log_bucket=access_log_bucket,
        expire_prefix=_NOTHING_EXPIRES,
        object_lock=security.ObjectLock(settings.mode.value, settings.retention_days),
    )
    return ReleaseChannel(private.bucket, tuple(private.children))


def deployer_role_arn(account: pulumi.Input[str], spec: DeploymentSpec) -> pulumi.Output[str]:
    """The environment's CI deployer (bootstrap's role for this environment)."""
    role = identity_name(Cloud.AWS, spec.project, DEPLOYERS[spec.environment])
    return pulumi.Output.from_input(account).apply(lambda a: f"arn:aws:iam::{a}:role/{role}")


def signing_key_policy(account: pulumi.Input[str], signer: pulumi.Input[str]) -> pulumi.Output[str]:
    """The account administers; ``signer`` alone signs (and reads the public key)."""

    def build(values: list[str]) -> str:
        acct, signer_arn = values
        statements = [
            security.statement(
                SIGNING_KEY_ADMIN_ACTIONS,
                ["*"],
                sid="AccountAdministers",
                principal={"AWS": f"arn:aws:iam::{acct}:root"},
            ),
            # The public half is public: people in the account may read it to pin it in apps
            # (`python -m ci.release public-key`); only the deployer signs.
            security.statement(
                ("kms:GetPublicKey",),
                ["*"],
                sid="AccountReadsPublicKey",
                principal={"AWS": f"arn:aws:iam::{acct}:root"},
            ),
            security.statement(
                SIGN_ACTIONS, ["*"], sid="DeployerSigns", principal={"AWS": signer_arn}
            ),
        ]
        return json.dumps(security.document(statements), sort_keys=True)

    return pulumi.Output.all(account, signer).apply(build)


def create_signing_key(
    name: str,
    spec: DeploymentSpec,
    signer: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.kms.Key:
    """The environment's release-signing key and its alias ``alias/<project>-<env>-signing``."""
    key = aws.kms.Key(
        f"{name}-signing-key",
        description=f"{spec.project} {spec.environment.value}: signs model releases (ECDSA P-256)",
        key_usage="SIGN_VERIFY",
        customer_master_key_spec="ECC_NIST_P256",
        deletion_window_in_days=30 if spec.retention.deletion_protection else 7,
        policy=signing_key_policy(security.account_id(), signer),
        tags=spec.standard_tags(),
        # Every device of the environment pins this key's public half: deleting or replacing
        # it strands them all, so a `pulumi destroy` must be a deliberate, unprotected step.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
    )
    aws.kms.Alias(
        f"{name}-signing-key-alias",
        name=signing_alias(spec),
        target_key_id=key.key_id,
        opts=opts,
    )
    return key


def signing_alias(spec: DeploymentSpec) -> str:
    """The alias ``ci.release`` signs with: ``--key awskms:<this>``."""
    return "alias/" + resource_name(
        "aws", "default", spec.project, spec.environment.value, "signing"
    )
