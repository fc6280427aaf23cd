"""DynamoDB rules (POLICY-RULES 7): customer-managed KMS key (M); point-in-time recovery (A)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_true, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp

TABLE = "aws:dynamodb/table:Table"


def _check_cmk(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    sse = get(props, "serverSideEncryption")
    if not is_true(get(sse, "enabled")):
        yield "DynamoDB table uses the AWS-owned key (server_side_encryption is not enabled)."
    elif not present(get(sse, "kmsKeyArn")):
        yield "DynamoDB table uses the AWS-managed key; set kms_key_arn to a customer key."


REQUIRE_CMK = resource_rule(
    "aws-dynamodb-table-require-cmk",
    "DynamoDB tables must be encrypted with a customer-managed KMS key.",
    types=[TABLE],
    check=_check_cmk,
    severity=Severity.HIGH,
    tags=["encryption", "dynamodb", "key-management"],
    remediation="Set server_side_encryption={'enabled': True, 'kms_key_arn': <key ARN>}.",
    references=[checkov("CKV_AWS_119")],
)


def _check_pitr(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "pointInTimeRecovery", "enabled")):
        yield "DynamoDB table has no point-in-time recovery."


REQUIRE_PITR = resource_rule(
    "aws-dynamodb-table-require-point-in-time-recovery",
    "DynamoDB tables should have point-in-time recovery so data can be restored.",
    types=[TABLE],
    check=_check_pitr,
    severity=Severity.MEDIUM,
    tags=["resilience", "dynamodb"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set point_in_time_recovery={'enabled': True}.",
    references=[checkov("CKV_AWS_28"), fsbp("DynamoDB.2")],
)

POLICIES = [REQUIRE_CMK, REQUIRE_PITR]
