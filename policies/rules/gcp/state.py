"""Recoverable Cloud Storage data, Pulumi state buckets first.

A bucket that holds Pulumi (or Terraform) state is an ordinary ``gcp.storage.Bucket`` and gets
every storage rule (storage.py: uniform access, public access prevention, CMEK). What state
needs beyond those is an undo: object versioning (every ``pulumi up`` rewrites the stack file,
and a broken or deleted checkpoint is recovered from its previous version), and a bucket that
`pulumi destroy` cannot take down with its objects. Soft delete (7 days by default) keeps any
bucket's deleted objects restorable; turning it off is a finding on every bucket.

Not asked: a retention policy or object retention lock. Pulumi's DIY backend overwrites the
stack file and deletes its lock files on every update, which a locked retention period forbids.

Which buckets hold state: those whose bucket name or logical name has a word ``state``,
``tfstate`` or ``pulumistate`` (words split on ``-``, ``_`` and ``.``), plus any listed in the
rule's ``stateBuckets`` config.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, prop_at, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import show

BUCKET = "gcp:storage/bucket:Bucket"
STATE_WORDS: frozenset[str] = frozenset({"state", "tfstate", "pulumistate"})


def is_state_bucket(props: Mapping[str, Any], args: ResourceValidationArgs) -> bool:
    """Whether the bucket (by its name, logical name or the rule's config) holds state."""
    listed = {str(n) for n in (args.get_config() or {}).get("stateBuckets") or []}
    name = props.get("name")
    names = [n for n in (name, args.name) if isinstance(n, str) and n]
    if any(n in listed for n in names):
        return True
    return any(STATE_WORDS & set(re.split(r"[-_.]", n.lower())) for n in names)


def _state_bucket(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if not is_state_bucket(props, args):
        return
    versioning = prop_at(props, "versioning.enabled")
    if versioning is not True:
        yield (
            "state bucket keeps no previous versions: `versioning.enabled` is "
            f"{show(versioning)}; set it to true (and expire noncurrent versions with a "
            "lifecycle rule)."
        )
    if props.get("forceDestroy") is True:
        yield (
            "state bucket is deleted with all its objects by `pulumi destroy`: `forceDestroy` "
            "is true; remove it."
        )


state_bucket_require_versioning = resource_rule(
    "gcp-state-bucket-require-versioning",
    "Buckets that hold Pulumi or Terraform state keep object versions and are not force-destroyed.",
    types=[BUCKET],
    check=_state_bucket,
    severity=Severity.MEDIUM,
    tags=["resilience", "retention"],
    remediation=(
        "Set `versioning=gcp.storage.BucketVersioningArgs(enabled=True)`, a lifecycle rule "
        "deleting noncurrent versions after N days, `force_destroy=False`, and protect the "
        "bucket resource (`protect=True`)."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    config_properties={
        "stateBuckets": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Bucket names (or logical names) that hold state, beyond the "
            "ones named *state*.",
        }
    },
    references=[checkov("CKV_GCP_78"), mcsb("BR-1")],
    since=2,
)


def _soft_delete(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    seconds = prop_at(props, "softDeletePolicy.retentionDurationSeconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds <= 0:
        yield (
            "deleted objects cannot be restored: `softDeletePolicy.retentionDurationSeconds` "
            f"is {seconds:g} (soft delete off); remove it to keep the 7-day default."
        )


bucket_keep_soft_delete = resource_rule(
    "gcp-storage-bucket-keep-soft-delete",
    "Buckets keep soft delete on, so deleted and overwritten objects stay restorable.",
    types=[BUCKET],
    check=_soft_delete,
    severity=Severity.LOW,
    tags=["resilience", "retention"],
    remediation=(
        "Remove `soft_delete_policy` (7 days by default) or set "
        "`retention_duration_seconds` between 604800 and 7776000."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("BR-1")],
    since=2,
)
