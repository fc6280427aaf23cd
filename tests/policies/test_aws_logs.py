"""CloudWatch Logs rules on small real programs: one compliant log group, one change per case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import logs
from tests.policies.test_aws_common import Program, judge, waiver


def log_group(**change: Any) -> Program:
    args: dict[str, Any] = {"retention_in_days": 30, "kms_key_id": "arn:aws:kms:k", **change}

    def program() -> None:
        aws.cloudwatch.LogGroup("api-logs", **args)

    return program


@pytest.mark.parametrize(
    ("program", "config", "flagged"),
    [
        (log_group(), None, set()),
        (log_group(retention_in_days=None), None, set()),
        (log_group(retention_in_days=0), None, set()),
        (log_group(retention_in_days=7), None, {"api-logs"}),
        (log_group(), {"minimumRetentionDays": 365}, {"api-logs"}),
        (log_group(retention_in_days=400), {"minimumRetentionDays": 365}, set()),
        (log_group(retention_in_days=7), waiver("api-logs"), set()),
    ],
    ids=[
        "default-minimum",
        "never-expire",
        "zero-never-expire",
        "too-short",
        "prod-minimum",
        "prod-ok",
        "waived",
    ],
)
def test_aws_cloudwatch_log_group_require_retention(
    program: Program, config: dict[str, Any] | None, flagged: set[str]
) -> None:
    assert judge(logs.REQUIRE_RETENTION, program, config) == flagged


def test_retention_minimum_is_in_the_config_schema() -> None:
    schema = logs.REQUIRE_RETENTION.config_schema
    assert schema is not None
    assert schema.properties["minimumRetentionDays"]["default"] == 30
    assert "waivers" in schema.properties


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(log_group(), set()), (log_group(kms_key_id=None), {"api-logs"})],
    ids=["cmk", "none"],
)
def test_aws_cloudwatch_log_group_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(logs.REQUIRE_KMS, program) == flagged
