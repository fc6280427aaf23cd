"""KMS rules on small real programs: a compliant key, then one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import kms
from tests.policies.test_aws_common import Program, doc, judge, waiver

ROOT = {"AWS": "arn:aws:iam::123456789012:root"}
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": ROOT, "Action": "kms:*", "Resource": "*"}
PUBLIC_USE = {"Sid": "Use", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}
VIA_SERVICE = {**PUBLIC_USE, "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012"}}}


def key(**change: Any) -> Program:
    args: dict[str, Any] = {"enable_key_rotation": True, "policy": doc(ADMIN), **change}

    def program() -> None:
        aws.kms.Key("data-key", **args)

    return program


def key_policy(*statements: dict[str, Any]) -> Program:
    def program() -> None:
        k = aws.kms.Key("data-key", enable_key_rotation=True)
        aws.kms.KeyPolicy("data-key-policy", key_id=k.id, policy=doc(*statements))

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (key(), set()),
        (key(enable_key_rotation=False), {"data-key"}),
        (key(enable_key_rotation=None), {"data-key"}),
        (key(enable_key_rotation=None, customer_master_key_spec="RSA_2048"), set()),
        (key(enable_key_rotation=None, key_usage="SIGN_VERIFY"), set()),
    ],
    ids=["on", "off", "unset", "asymmetric-exempt", "signing-exempt"],
)
def test_aws_kms_key_require_rotation(program: Program, flagged: set[str]) -> None:
    assert judge(kms.REQUIRE_ROTATION, program) == flagged


def test_rotation_waiver() -> None:
    assert judge(kms.REQUIRE_ROTATION, key(enable_key_rotation=False), waiver("data-key")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (key(), set()),
        (key(policy=doc(ADMIN, VIA_SERVICE)), set()),
        (key(policy=doc(ADMIN, PUBLIC_USE)), {"data-key"}),
        (key(policy=doc({**PUBLIC_USE, "Principal": {"AWS": "*"}})), {"data-key"}),
        (key(policy=doc({**PUBLIC_USE, "Effect": "Deny"})), set()),
        (key_policy(ADMIN), set()),
        (key_policy(ADMIN, PUBLIC_USE), {"data-key-policy"}),
    ],
    ids=["root", "conditioned", "public", "aws-star", "deny", "keypolicy", "keypolicy-public"],
)
def test_aws_kms_key_policy_disallow_public_principal(program: Program, flagged: set[str]) -> None:
    assert judge(kms.DISALLOW_PUBLIC_KEY_POLICY, program) == flagged
