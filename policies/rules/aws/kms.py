"""KMS rules (POLICY-RULES 5): rotation on; no unconditioned ``*`` principal in key policies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_true, public_allows
from policies.rules.base import resource_rule
from policies.rules.references import checkov, fsbp

KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"

# Only symmetric encryption keys support automatic rotation; other specs are exempt.
ROTATABLE_SPECS = frozenset({None, "SYMMETRIC_DEFAULT"})
ROTATABLE_USAGES = frozenset({None, "ENCRYPT_DECRYPT"})


def _check_rotation(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    spec = get(props, "customerMasterKeySpec") or get(props, "keySpec")
    if spec not in ROTATABLE_SPECS or get(props, "keyUsage") not in ROTATABLE_USAGES:
        return
    if not is_true(get(props, "enableKeyRotation")):
        yield "KMS key does not rotate its key material (enable_key_rotation is not true)."


REQUIRE_ROTATION = resource_rule(
    "aws-kms-key-require-rotation",
    "Symmetric KMS keys must rotate their key material automatically.",
    types=[KEY],
    check=_check_rotation,
    severity=Severity.MEDIUM,
    tags=["encryption", "kms", "key-management"],
    remediation="Set enable_key_rotation=True (optionally rotation_period_in_days=90..2560).",
    references=[checkov("CKV_AWS_7"), fsbp("KMS.4")],
)


def _check_key_policy(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in public_allows(get(props, "policy")):
        sid = statement.get("Sid") or "(no Sid)"
        yield (
            f"Key policy statement {sid} allows Principal '*' without a Condition: any AWS "
            "account could use or manage the key."
        )


DISALLOW_PUBLIC_KEY_POLICY = resource_rule(
    "aws-kms-key-policy-disallow-public-principal",
    "KMS key policies must not Allow Principal '*' unless a Condition restricts who.",
    types=[KEY, KEY_POLICY],
    check=_check_key_policy,
    severity=Severity.CRITICAL,
    tags=["encryption", "iam", "kms", "key-management", "public-access"],
    remediation=(
        "Grant to the account root (arn:aws:iam::<account>:root) and named roles, or add a "
        "Condition such as kms:CallerAccount / kms:ViaService to the '*' statement."
    ),
    references=[checkov("CKV_AWS_33")],
)

POLICIES = [REQUIRE_ROTATION, DISALLOW_PUBLIC_KEY_POLICY]
