"""CloudWatch Logs rules (POLICY-RULES 14): retention at least the configured minimum (M);
log groups encrypted with a customer KMS key (A)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, present
from policies.rules.base import OPERATIONAL, WAIVER_SCHEMA, resource_rule
from policies.rules.references import checkov

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

# Pack config may raise it per environment (the spec's retention.log_days: 30 / 90 / 365).
DEFAULT_MINIMUM_DAYS = 30
MINIMUM_KEY = "minimumRetentionDays"


def _minimum(args: ResourceValidationArgs) -> int:
    value = (args.get_config() or {}).get(MINIMUM_KEY)
    return int(value) if isinstance(value, (int, float)) and value >= 1 else DEFAULT_MINIMUM_DAYS


def _check_retention(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    days = get(props, "retentionInDays")
    # Unset or 0 means the logs never expire, which keeps them at least as long as required.
    if days is None or days == 0:
        return
    minimum = _minimum(args)
    if days < minimum:
        yield f"Log group keeps logs {days:g} days; the minimum for this stack is {minimum}."


REQUIRE_RETENTION = resource_rule(
    "aws-cloudwatch-log-group-require-retention",
    "CloudWatch log groups must keep logs at least the configured minimum number of days "
    f"(config '{MINIMUM_KEY}', default {DEFAULT_MINIMUM_DAYS}).",
    types=[LOG_GROUP],
    check=_check_retention,
    severity=Severity.MEDIUM,
    tags=["logging", "retention"],
    category=OPERATIONAL,
    remediation=(
        "Set retention_in_days to a CloudWatch-supported value at or above the minimum "
        "(e.g. 30, 90, 365), normally from the spec's retention.log_days."
    ),
    references=[checkov("CKV_AWS_338")],
)
REQUIRE_RETENTION.config_schema = PolicyConfigSchema(
    properties={
        **WAIVER_SCHEMA.properties,
        MINIMUM_KEY: {"type": "integer", "minimum": 1, "default": DEFAULT_MINIMUM_DAYS},
    }
)


def _check_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsKeyId")):
        yield "Log group is not encrypted with a customer KMS key (kms_key_id unset)."


REQUIRE_KMS = resource_rule(
    "aws-cloudwatch-log-group-require-kms",
    "CloudWatch log groups should be encrypted with a customer KMS key.",
    types=[LOG_GROUP],
    check=_check_kms,
    severity=Severity.LOW,
    tags=["encryption", "logging", "key-management"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set kms_key_id=<key ARN>; the key policy must allow the logs.<region>.amazonaws.com "
        "service principal."
    ),
    references=[checkov("CKV_AWS_158")],
)

POLICIES = [REQUIRE_RETENTION, REQUIRE_KMS]
