"""EventBridge Scheduler rules (review C7): schedules encrypt their data with a customer key.

A schedule's target input (the message it sends) is stored by Scheduler; without
``kms_key_arn`` it is encrypted with an AWS-owned key no key policy of the account governs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.aws._common import get, present
from policies.rules.base import resource_rule
from policies.rules.references import checkov

SCHEDULE = "aws:scheduler/schedule:Schedule"


def _check_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsKeyArn")):
        yield (
            "EventBridge Scheduler schedule is not encrypted with a customer-managed key "
            "(kms_key_arn unset: an AWS-owned key)."
        )


SCHEDULE_REQUIRE_KMS = resource_rule(
    "aws-scheduler-schedule-require-kms",
    "EventBridge Scheduler schedules must encrypt their data with a customer-managed KMS key.",
    types=[SCHEDULE],
    check=_check_kms,
    severity=Severity.LOW,
    tags=["encryption", "key-management", "scheduler"],
    remediation=(
        "Set kms_key_arn=<key ARN> on the schedule; the key policy must let the schedule's "
        "callers (the deployer) use it for scheduler.<region>.amazonaws.com."
    ),
    references=[checkov("CKV_AWS_297")],
    since=2,
)

POLICIES = [SCHEDULE_REQUIRE_KMS]
