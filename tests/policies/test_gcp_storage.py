"""Cloud Storage bucket rules (27): one property changed per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest

from policies.rules.gcp import storage
from tests.policies.test_gcp_common import KEY, TARGET, Program, judge, waiver


def bucket(**over: Any) -> Program:
    args: dict[str, Any] = {
        "location": "EU",
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "encryption": gcp.storage.BucketEncryptionArgs(default_kms_key_name=KEY),
    }
    return lambda: gcp.storage.Bucket(TARGET, **{**args, **over})


CASES: dict[str, tuple[Any, Program, bool]] = {
    "gcp-storage-bucket-require-uniform-access:uniform-ok": (
        storage.bucket_require_uniform_access,
        bucket(),
        False,
    ),
    "gcp-storage-bucket-require-uniform-access:uniform-off": (
        storage.bucket_require_uniform_access,
        bucket(uniform_bucket_level_access=False),
        True,
    ),
    "gcp-storage-bucket-enforce-public-access-prevention:pap-ok": (
        storage.bucket_enforce_public_access_prevention,
        bucket(),
        False,
    ),
    "gcp-storage-bucket-enforce-public-access-prevention:pap-inherited": (
        storage.bucket_enforce_public_access_prevention,
        bucket(public_access_prevention="inherited"),
        True,
    ),
    "gcp-storage-bucket-enforce-public-access-prevention:pap-unset": (
        storage.bucket_enforce_public_access_prevention,
        bucket(public_access_prevention=None),
        True,
    ),
    "gcp-storage-bucket-require-cmek:bucket-cmek-ok": (
        storage.bucket_require_cmek,
        bucket(),
        False,
    ),
    "gcp-storage-bucket-require-cmek:bucket-cmek-google-key": (
        storage.bucket_require_cmek,
        bucket(encryption=None),
        True,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_bucket_rules(policy: Any, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_bucket_cmek_waiver() -> None:
    """gcp-storage-bucket-require-cmek: a waived bucket is skipped."""
    policy = storage.bucket_require_cmek
    assert judge(policy, bucket(encryption=None), waiver(TARGET)) == set()
