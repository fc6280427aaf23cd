"""GCP building blocks for Cloud Storage: the encrypted bucket every pattern keeps data in, and
the grants on it.

* :func:`create_encrypted_bucket`: what no aideploy bucket goes without: in the stack's region
  (the key's, which CMEK requires), uniform bucket-level access (no object ACLs), public access
  prevention enforced, the stack's key as default key (created only once the storage agent may
  use it), versioned, emptied on destroy only when the profile has no deletion protection. The
  caller says what the bucket keeps and for how long (lifecycle rules, object retention, labels).
* :func:`private_bucket`: the data bucket of a pattern (inputs, results, function sources): the
  encrypted bucket whose objects are deleted after the profile's data retention.
* :func:`grant_on_bucket`: one role on one bucket for one member, optionally narrowed by an IAM
  condition: never a project-wide storage grant.

Used by event-driven (input and results buckets), the rollback and device functions' source
bucket (components/gcp/functions.py) and the embedded release channel (release_channel.py).
Blocks are plain functions: the caller's ``opts`` keep the pattern as parent, so the URNs of
existing stacks do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.security import StackKey, labels
from components.spec import DeploymentSpec


def create_encrypted_bucket(
    logical: str,
    spec: DeploymentSpec,
    key: StackKey,
    opts: pulumi.ResourceOptions,
    *,
    lifecycle_rules: Sequence[gcp.storage.BucketLifecycleRuleArgs],
    bucket_labels: Mapping[str, str],
    enable_object_retention: bool | None = None,
) -> gcp.storage.Bucket:
    """A private, CMEK-encrypted, versioned bucket (logical name ``logical``) in the stack's
    region, created after the key's grants (the storage agent must be able to use the key
    before the bucket names it as default)."""
    return gcp.storage.Bucket(
        logical,
        gcp.storage.BucketArgs(
            location=spec.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key.id),
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            # None leaves the input unset, exactly as a bucket that never asked for it.
            enable_object_retention=enable_object_retention,
            lifecycle_rules=list(lifecycle_rules),
            force_destroy=not spec.retention.deletion_protection,
            labels=dict(bucket_labels),
        ),
        opts=key.after(opts),
    )


def private_bucket(
    name: str,
    role: str,
    spec: DeploymentSpec,
    key: StackKey,
    opts: pulumi.ResourceOptions,
) -> gcp.storage.Bucket:
    """A pattern's data bucket ``<name>-<role>``: the encrypted bucket, objects deleted after
    the profile's data retention, labelled with its role."""
    return create_encrypted_bucket(
        f"{name}-{role}",
        spec,
        key,
        opts,
        lifecycle_rules=[
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    age=spec.retention.data_days
                ),
            )
        ],
        bucket_labels=labels(spec, role=role),
    )


@dataclass(frozen=True)
class Condition:
    """An IAM condition on a grant: its title and CEL expression."""

    title: str
    expression: pulumi.Input[str]


def grant_on_bucket(
    logical: str,
    bucket: gcp.storage.Bucket,
    role: str,
    member: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    *,
    condition: Condition | None = None,
) -> gcp.storage.BucketIAMMember:
    """``role`` on ``bucket`` alone for ``member`` (logical name ``logical``), narrowed by
    ``condition`` when given (e.g. to objects under a prefix)."""
    return gcp.storage.BucketIAMMember(
        logical,
        gcp.storage.BucketIAMMemberArgs(
            bucket=bucket.name,
            role=role,
            member=member,
            condition=(
                gcp.storage.BucketIAMMemberConditionArgs(
                    title=condition.title, expression=condition.expression
                )
                if condition is not None
                else None
            ),
        ),
        opts=opts,
    )
