"""State bucket and soft delete rules (state.py): a versioned state bucket; one change per
failing case."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from policies.rules.gcp import state
from tests.policies.test_gcp_common import KEY, Program, judge, waiver

STATE = "acme-pulumi-state"


def bucket(resource: str = STATE, **over: Any) -> Program:
    args: dict[str, Any] = {
        "location": "EU",
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "encryption": gcp.storage.BucketEncryptionArgs(default_kms_key_name=KEY),
        "versioning": gcp.storage.BucketVersioningArgs(enabled=True),
        **over,
    }
    return lambda: gcp.storage.Bucket(resource, **args)


VERSIONING = state.state_bucket_require_versioning
SOFT_DELETE = state.bucket_keep_soft_delete
NO_SOFT_DELETE = gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=0)

CASES: dict[str, tuple[Policy, Program, set[str]]] = {
    "gcp-state-bucket-require-versioning:versioned-ok": (VERSIONING, bucket(), set()),
    "gcp-state-bucket-require-versioning:unversioned": (
        VERSIONING,
        bucket(versioning=None),
        {STATE},
    ),
    "gcp-state-bucket-require-versioning:force-destroy": (
        VERSIONING,
        bucket(force_destroy=True),
        {STATE},
    ),
    "gcp-state-bucket-require-versioning:tfstate-by-bucket-name": (
        VERSIONING,
        bucket("backend", name="acme_tfstate", versioning=None),
        {"backend"},
    ),
    "gcp-state-bucket-require-versioning:other-bucket-not-asked": (
        VERSIONING,
        bucket("model-artifacts", versioning=None),
        set(),
    ),
    "gcp-state-bucket-require-versioning:lookalike-word-not-asked": (
        VERSIONING,
        bucket("statements", versioning=None),
        set(),
    ),
    "gcp-storage-bucket-keep-soft-delete:default-ok": (SOFT_DELETE, bucket("data"), set()),
    "gcp-storage-bucket-keep-soft-delete:soft-delete-off": (
        SOFT_DELETE,
        bucket("data", soft_delete_policy=NO_SOFT_DELETE),
        {"data"},
    ),
    "gcp-storage-bucket-keep-soft-delete:longer-ok": (
        SOFT_DELETE,
        bucket(
            "data",
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=30 * 86400
            ),
        ),
        set(),
    ),
}


@pytest.mark.parametrize(("policy", "program", "flagged"), CASES.values(), ids=CASES.keys())
def test_state_rules(policy: Policy, program: Program, flagged: set[str]) -> None:
    assert judge(policy, program) == flagged


def test_state_buckets_named_in_config() -> None:
    """gcp-state-bucket-require-versioning: a bucket listed in `stateBuckets` is a state bucket."""
    program = bucket("backend-store", versioning=None)
    assert judge(VERSIONING, program, {"stateBuckets": ["backend-store"]}) == {"backend-store"}


def test_state_bucket_waiver() -> None:
    program = bucket(versioning=None)
    assert judge(VERSIONING, program, waiver(STATE)) == set()
