"""DynamoDB rules on small real programs: a compliant table, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import dynamodb
from tests.policies.test_aws_common import Program, judge

CMK = aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn="arn:aws:kms:k")
PITR = aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True)


def table(**change: Any) -> Program:
    args: dict[str, Any] = {
        "hash_key": "id",
        "attributes": [aws.dynamodb.TableAttributeArgs(name="id", type="S")],
        "billing_mode": "PAY_PER_REQUEST",
        "server_side_encryption": CMK,
        "point_in_time_recovery": PITR,
        **change,
    }

    def program() -> None:
        aws.dynamodb.Table("sessions", **args)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (table(), set()),
        (table(server_side_encryption=None), {"sessions"}),
        (
            table(server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True)),
            {"sessions"},
        ),
        (
            table(
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                    enabled=False, kms_key_arn="arn:aws:kms:k"
                )
            ),
            {"sessions"},
        ),
    ],
    ids=["cmk", "aws-owned", "aws-managed", "disabled"],
)
def test_aws_dynamodb_table_require_cmk(program: Program, flagged: set[str]) -> None:
    assert judge(dynamodb.REQUIRE_CMK, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (table(), set()),
        (table(point_in_time_recovery=None), {"sessions"}),
        (
            table(point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=False)),
            {"sessions"},
        ),
    ],
    ids=["on", "unset", "off"],
)
def test_aws_dynamodb_table_require_point_in_time_recovery(
    program: Program, flagged: set[str]
) -> None:
    assert judge(dynamodb.REQUIRE_PITR, program) == flagged
