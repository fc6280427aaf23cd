"""GCP building blocks for the embedded pattern's release side: the channel and the signing key.

* :func:`create_release_channel`: a Cloud Storage bucket per environment, the encrypted bucket
  of components/gcp/storage.py (private, the stack's key, versioned) with **object retention**
  enabled. GCS's alternative, a bucket retention policy, forbids replacing
  any object younger than the period, which would freeze the channel's pointer
  (``releases/LATEST.json``); object retention locks each release object as the publisher
  uploads it instead: ``Unlocked`` by default (a privileged identity with
  ``storage.objects.overrideUnlockedRetention`` can still withdraw a bad model, S3's
  GOVERNANCE), ``Locked`` when the client asks (no one can shorten it, S3's COMPLIANCE). The
  retention days travel in the bucket's labels for the publisher. Noncurrent versions are
  deleted after data retention; current releases never expire.
* :func:`create_signing_key`: a Cloud KMS key for ECDSA P-256 signatures
  (``ASYMMETRIC_SIGN`` / ``EC_SIGN_P256_SHA256``, HSM protection in every environment) in the
  stack's key ring, which only the environment's deployer service account may use to sign
  (``roles/cloudkms.signer``) and read the public key of. Cloud KMS keys can never be deleted
  (destroying only schedules the versions' destruction), so the key's name is fixed per ring
  and the ring carries the stack's suffix; asymmetric keys do not rotate automatically: a new
  version is a rotation, and apps keep the old public key until its releases expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pulumi
import pulumi_gcp as gcp

from components.bootstrap import DEPLOYERS, identity_name
from components.gcp import storage
from components.gcp.security import Project, StackKey, labels
from components.naming import resource_name
from components.spec import Cloud, DeploymentSpec

SIGNER_ROLES = ("roles/cloudkms.signer", "roles/cloudkms.publicKeyViewer")
SIGNING_ALGORITHM = "EC_SIGN_P256_SHA256"


class RetentionMode(str, Enum):
    """Cloud Storage object retention modes."""

    UNLOCKED = "Unlocked"
    LOCKED = "Locked"


@dataclass(frozen=True)
class ChannelSettings:
    """How long a release object is retained, and how hard."""

    mode: RetentionMode = RetentionMode.UNLOCKED
    retention_days: int = 30


def create_release_channel(
    name: str,
    spec: DeploymentSpec,
    key: StackKey,
    settings: ChannelSettings,
    opts: pulumi.ResourceOptions,
) -> gcp.storage.Bucket:
    """The environment's release channel (logical name ``<name>-releases``): the encrypted
    bucket (components/gcp/storage.py) with object retention, keeping current releases."""
    return storage.create_encrypted_bucket(
        f"{name}-releases",
        spec,
        key,
        opts,
        enable_object_retention=True,
        lifecycle_rules=[
            # Old versions of an object go after data retention (as their retention allows);
            # current releases stay.
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=spec.retention.data_days,
                    with_state="ARCHIVED",
                ),
            )
        ],
        bucket_labels=labels(
            spec,
            role="releases",
            retention_mode=settings.mode.value.lower(),
            retention_days=str(settings.retention_days),
        ),
    )


def deployer_member(spec: DeploymentSpec, project: Project) -> pulumi.Output[str]:
    """The environment's CI deployer (bootstrap's service account for this environment)."""
    account = identity_name(Cloud.GCP, spec.project, DEPLOYERS[spec.environment])
    return project.project_id.apply(
        lambda p: f"serviceAccount:{account}@{p}.iam.gserviceaccount.com"
    )


def create_signing_key(
    name: str,
    spec: DeploymentSpec,
    key: StackKey,
    signer: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> gcp.kms.CryptoKey:
    """The environment's release-signing key (``<project>-signing`` in the stack's ring) and
    the signer's two grants on it."""
    signing = gcp.kms.CryptoKey(
        f"{name}-signing-key",
        gcp.kms.CryptoKeyArgs(
            name=resource_name("gcp", "default", spec.project, "signing"),
            key_ring=key.ring.id,
            purpose="ASYMMETRIC_SIGN",
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm=SIGNING_ALGORITHM, protection_level="HSM"
            ),
            labels=labels(spec, role="signing"),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=spec.retention.deletion_protection)
        ),
    )
    for role in SIGNER_ROLES:
        gcp.kms.CryptoKeyIAMMember(
            f"{name}-signing-key-{role.rsplit('.', 1)[-1].lower()}",
            gcp.kms.CryptoKeyIAMMemberArgs(crypto_key_id=signing.id, role=role, member=signer),
            opts=opts,
        )
    return signing
