"""CloudTrail trails: the audit log of the account.

Mandatory: trails log (``enable_logging`` not false), validate their log files, encrypt them
with a customer-managed KMS key, and a trail that records management events covers every
region. Advisory: a trail that records management events also delivers them to CloudWatch Logs,
where metric filters and alarms can watch them (CIS section 4 / FSBP CloudWatch.x).

A trail whose selectors record data events only (e.g. the S3 object events of a stack's own
buckets) is a workload trail beside the account's management trail: the multi-region and
CloudWatch Logs checks do not apply to it. Data events are optional and never required.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_false, is_true, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp

TRAIL = "aws:cloudtrail/trail:Trail"
MANAGEMENT = "Management"


def records_management_events(props: Any) -> bool:
    """True unless the trail's selectors exclude management events."""
    advanced = items(get(props, "advancedEventSelectors"))
    if advanced:
        for selector in advanced:
            for field in items(get(selector, "fieldSelectors")):
                if get(field, "field") == "eventCategory" and MANAGEMENT in items(
                    get(field, "equals")
                ):
                    return True
        return False
    basic = items(get(props, "eventSelectors"))
    if basic:
        return any(not is_false(get(s, "includeManagementEvents")) for s in basic)
    return True  # no selectors: all management events


def _check_multi_region(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if records_management_events(props) and not is_true(get(props, "isMultiRegionTrail")):
        yield (
            "CloudTrail trail records management events in one region only "
            "(is_multi_region_trail not true): API calls in other regions leave no audit log."
        )


REQUIRE_MULTI_REGION = resource_rule(
    "aws-cloudtrail-require-multi-region",
    "CloudTrail trails that record management events must be multi-region.",
    types=[TRAIL],
    check=_check_multi_region,
    severity=Severity.HIGH,
    tags=["cloudtrail", "logging-audit"],
    remediation=(
        "Set is_multi_region_trail=True and include_global_service_events=True (or rely on an "
        "organization trail and record data events only in this one)."
    ),
    references=[checkov("CKV_AWS_67"), fsbp("CloudTrail.1")],
    since=2,
)


def _check_logging(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(get(props, "enableLogging")):
        yield "CloudTrail trail is stopped (enable_logging is false): it records nothing."


REQUIRE_LOGGING_ENABLED = resource_rule(
    "aws-cloudtrail-require-logging-enabled",
    "CloudTrail trails must be logging.",
    types=[TRAIL],
    check=_check_logging,
    severity=Severity.HIGH,
    tags=["cloudtrail", "logging-audit"],
    remediation="Remove enable_logging=False (it defaults to true).",
    references=[checkov("CKV_AWS_251")],
    since=2,
)


def _check_validation(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "enableLogFileValidation")):
        yield (
            "CloudTrail trail does not sign its log files (enable_log_file_validation not "
            "true): edited or deleted audit records go unnoticed."
        )


REQUIRE_LOG_FILE_VALIDATION = resource_rule(
    "aws-cloudtrail-require-log-file-validation",
    "CloudTrail trails must enable log file integrity validation.",
    types=[TRAIL],
    check=_check_validation,
    severity=Severity.MEDIUM,
    tags=["cloudtrail", "logging-audit"],
    remediation="Set enable_log_file_validation=True.",
    references=[checkov("CKV_AWS_36"), fsbp("CloudTrail.4")],
    since=2,
)


def _check_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsKeyId")):
        yield (
            "CloudTrail log files are not encrypted with a customer-managed key (kms_key_id "
            "unset: only SSE-S3)."
        )


REQUIRE_KMS = resource_rule(
    "aws-cloudtrail-require-kms",
    "CloudTrail trails must encrypt log files with a customer-managed KMS key.",
    types=[TRAIL],
    check=_check_kms,
    severity=Severity.HIGH,
    tags=["cloudtrail", "encryption", "key-management"],
    remediation=(
        "Set kms_key_id=<customer-managed key ARN>; its key policy must let "
        "cloudtrail.amazonaws.com GenerateDataKey* with the trail's encryption context."
    ),
    references=[checkov("CKV_AWS_35"), fsbp("CloudTrail.2")],
    since=2,
)


def _check_cloudwatch(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not records_management_events(props):
        return
    if not present(get(props, "cloudWatchLogsGroupArn")) or not present(
        get(props, "cloudWatchLogsRoleArn")
    ):
        yield (
            "CloudTrail trail does not deliver management events to CloudWatch Logs "
            "(cloud_watch_logs_group_arn / cloud_watch_logs_role_arn unset): no metric filter "
            "or alarm can watch them."
        )


REQUIRE_CLOUDWATCH_LOGS = resource_rule(
    "aws-cloudtrail-require-cloudwatch-logs",
    "CloudTrail trails that record management events should deliver them to CloudWatch Logs.",
    types=[TRAIL],
    check=_check_cloudwatch,
    severity=Severity.LOW,
    tags=["cloudtrail", "logging-audit", "monitoring"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set cloud_watch_logs_group_arn='<log group ARN>:*' and cloud_watch_logs_role_arn to a "
        "role cloudtrail.amazonaws.com can assume with logs:CreateLogStream / PutLogEvents."
    ),
    references=[checkov("CKV2_AWS_10"), fsbp("CloudTrail.5")],
    since=2,
)

POLICIES = [
    REQUIRE_MULTI_REGION,
    REQUIRE_LOGGING_ENABLED,
    REQUIRE_LOG_FILE_VALIDATION,
    REQUIRE_KMS,
    REQUIRE_CLOUDWATCH_LOGS,
]
