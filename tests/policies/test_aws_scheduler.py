"""EventBridge Scheduler rules on small real programs: a schedule under a customer key."""

from __future__ import annotations

import json

import pulumi_aws as aws
import pytest

from policies.rules.aws import scheduler
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"


def schedule(kms_key_arn: str | None) -> Program:
    def program() -> None:
        aws.scheduler.Schedule(
            "batch",
            schedule_expression="cron(0 2 * * ? *)",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            kms_key_arn=kms_key_arn,
            target=aws.scheduler.ScheduleTargetArgs(
                arn="arn:aws:sqs:eu-west-1:123456789012:jobs",
                role_arn="arn:aws:iam::123456789012:role/scheduler",
                input=json.dumps({"kind": "batch"}),
            ),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(schedule(KEY), set()), (schedule(None), {"batch"})],
    ids=["cmk", "aws-owned-key"],
)
def test_aws_scheduler_schedule_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(scheduler.SCHEDULE_REQUIRE_KMS, program) == flagged


def test_schedule_kms_waiver() -> None:
    assert judge(scheduler.SCHEDULE_REQUIRE_KMS, schedule(None), waiver("batch")) == set()
