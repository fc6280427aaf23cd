"""CloudTrail rules on small real programs: a compliant trail, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import cloudtrail
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/audit"
ct = aws.cloudtrail
DATA_ONLY = [
    ct.TrailAdvancedEventSelectorArgs(
        name="objects",
        field_selectors=[
            ct.TrailAdvancedEventSelectorFieldSelectorArgs(field="eventCategory", equals=["Data"]),
            ct.TrailAdvancedEventSelectorFieldSelectorArgs(
                field="resources.type", equals=["AWS::S3::Object"]
            ),
        ],
    )
]
MANAGEMENT = [
    ct.TrailAdvancedEventSelectorArgs(
        field_selectors=[
            ct.TrailAdvancedEventSelectorFieldSelectorArgs(
                field="eventCategory", equals=["Management"]
            )
        ]
    )
]


def trail(**change: Any) -> Program:
    args: dict[str, Any] = {
        "s3_bucket_name": "audit-logs",
        "is_multi_region_trail": True,
        "include_global_service_events": True,
        "enable_log_file_validation": True,
        "kms_key_id": KEY,
        "cloud_watch_logs_group_arn": "arn:aws:logs:eu-west-1:123456789012:log-group:trail:*",
        "cloud_watch_logs_role_arn": "arn:aws:iam::123456789012:role/trail-logs",
        **change,
    }
    return lambda: ct.Trail("audit", **{k: v for k, v in args.items() if v is not None})


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (trail(), set()),
        (trail(is_multi_region_trail=None, advanced_event_selectors=DATA_ONLY), set()),
        (
            trail(
                is_multi_region_trail=False,
                event_selectors=[ct.TrailEventSelectorArgs(include_management_events=False)],
            ),
            set(),
        ),
        (trail(is_multi_region_trail=None), {"audit"}),
        (trail(is_multi_region_trail=False, advanced_event_selectors=MANAGEMENT), {"audit"}),
        (
            trail(
                is_multi_region_trail=False,
                event_selectors=[ct.TrailEventSelectorArgs(read_write_type="All")],
            ),
            {"audit"},
        ),
    ],
    ids=["multi-region", "data-only", "basic-data-only", "single-region", "advanced-mgmt",
         "basic-mgmt"],
)  # fmt: skip
def test_aws_cloudtrail_require_multi_region(program: Program, flagged: set[str]) -> None:
    assert judge(cloudtrail.REQUIRE_MULTI_REGION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (trail(), set()),
        (trail(enable_logging=True), set()),
        (trail(enable_logging=False), {"audit"}),
    ],
    ids=["default", "on", "stopped"],
)
def test_aws_cloudtrail_require_logging_enabled(program: Program, flagged: set[str]) -> None:
    assert judge(cloudtrail.REQUIRE_LOGGING_ENABLED, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (trail(), set()),
        (trail(enable_log_file_validation=None), {"audit"}),
        (trail(enable_log_file_validation=False), {"audit"}),
    ],
    ids=["on", "unset", "off"],
)
def test_aws_cloudtrail_require_log_file_validation(program: Program, flagged: set[str]) -> None:
    assert judge(cloudtrail.REQUIRE_LOG_FILE_VALIDATION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(trail(), set()), (trail(kms_key_id=None), {"audit"})],
    ids=["cmk", "sse-s3"],
)
def test_aws_cloudtrail_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(cloudtrail.REQUIRE_KMS, program) == flagged


def test_cloudtrail_kms_waiver() -> None:
    assert judge(cloudtrail.REQUIRE_KMS, trail(kms_key_id=None), waiver("audit")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (trail(), set()),
        (
            trail(
                cloud_watch_logs_group_arn=None,
                cloud_watch_logs_role_arn=None,
                advanced_event_selectors=DATA_ONLY,
            ),
            set(),
        ),
        (trail(cloud_watch_logs_group_arn=None, cloud_watch_logs_role_arn=None), {"audit"}),
        (trail(cloud_watch_logs_role_arn=None), {"audit"}),
    ],
    ids=["delivered", "data-only", "none", "no-role"],
)
def test_aws_cloudtrail_require_cloudwatch_logs(program: Program, flagged: set[str]) -> None:
    assert judge(cloudtrail.REQUIRE_CLOUDWATCH_LOGS, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in cloudtrail.POLICIES]
    assert names == [
        "aws-cloudtrail-require-multi-region",
        "aws-cloudtrail-require-logging-enabled",
        "aws-cloudtrail-require-log-file-validation",
        "aws-cloudtrail-require-kms",
        "aws-cloudtrail-require-cloudwatch-logs",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
