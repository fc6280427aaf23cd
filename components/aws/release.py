"""The release path on AWS beyond the native rollback: the post-window rollback function and
what it is allowed to do (review E5, issue 10).

ECS deployment alarms and SageMaker guardrails roll a candidate back only while a deployment
runs. An EventBridge rule on this stack's rollback alarms entering ALARM invokes a small Lambda
(components/aws/rollback_fn/handler.py) at any time; it verifies the alarm, calls the one
decision (components/rollout.py, shipped as ``rollout_decision.py``), and moves traffic to
stable through the same split the stack declares, writing the marker the pipeline reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import Tier
from components.aws import functions, release_watch, security
from components.naming import resource_name
from components.rollout import ROLLBACK_MARKER, settings_for
from components.spec import DeploymentSpec

_HERE = Path(__file__).resolve().parent
ROLLBACK_FN_DIR = _HERE / "rollback_fn"
# Minutes of fresh data the function judges the candidate on: the rollback rules' longest
# window (5 one-minute periods for "starved"), so it sees what the alarm saw.
ROLLBACK_WINDOW_MINUTES = 5

# Each AWS call the function's code makes -> the IAM action that authorises it. A journey test
# parses the calls out of handler.py (and the release_watch functions it uses) and keeps this
# table equal to them, and the captured role equal to this table plus PLATFORM_ACTIONS.
API_CALLS: Mapping[tuple[str, str], str] = {
    ("cloudwatch", "DescribeAlarms"): "cloudwatch:DescribeAlarms",
    ("cloudwatch", "GetMetricData"): "cloudwatch:GetMetricData",
    ("sns", "Publish"): "sns:Publish",
    ("ssm", "PutParameter"): "ssm:PutParameter",
    ("apigateway", "UpdateStage"): "apigateway:PATCH",
    ("sagemaker", "UpdateEndpointWeightsAndCapacities"): (
        "sagemaker:UpdateEndpointWeightsAndCapacities"
    ),
}
# What Lambda itself does with the function's role, not its code: its logs, its dead-letter
# queue, traces, and the key of its environment and of the KMS-encrypted topics it publishes to.
PLATFORM_ACTIONS: tuple[str, ...] = (
    *security.LOG_WRITE_ACTIONS,
    "sqs:SendMessage",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
    "kms:Decrypt",
    "kms:GenerateDataKey",
)


def archive_files() -> dict[str, Path]:
    """The function's package: its handler, the one decision and the shared watch code."""
    return {
        "handler.py": ROLLBACK_FN_DIR / "handler.py",
        "rollout_decision.py": _HERE.parent / "rollout.py",
        "release_watch.py": _HERE / "release_watch.py",
    }


@dataclass(frozen=True)
class SplitTarget:
    """Where the stack's traffic split lives, for the function's environment and rights."""

    pattern: str  # release_watch.API_FIRST or MANAGED_PLATFORM
    environment: Mapping[str, pulumi.Input[str]]
    # (service, operation) of the drain call -> the resources it may act on
    drain_resources: Sequence[pulumi.Input[str]]
    marker_parameter: pulumi.Input[str]


def api_first_target(
    spec: DeploymentSpec, rest_api_id: pulumi.Output[str], stage_name: pulumi.Output[str]
) -> SplitTarget:
    """The stage's canary share (api-first)."""
    stage_arn = pulumi.Output.concat(
        "arn:aws:apigateway:", spec.region, "::/restapis/", rest_api_id, "/stages/", stage_name
    )
    return SplitTarget(
        release_watch.API_FIRST,
        {"REST_API_ID": rest_api_id, "STAGE_NAME": stage_name},
        [stage_arn],
        rest_api_id.apply(lambda i: str(release_watch.marker_parameter({"api_id": i}))),
    )


def managed_platform_target(spec: DeploymentSpec, endpoint_name: pulumi.Output[str]) -> SplitTarget:
    """The SageMaker endpoint's variant weights (managed platform)."""
    # SageMaker ARNs carry the endpoint name in lower case.
    endpoint_arn = pulumi.Output.all(security.account_id(), endpoint_name).apply(
        lambda v: f"arn:aws:sagemaker:{spec.region}:{v[0]}:endpoint/{str(v[1]).lower()}"
    )
    return SplitTarget(
        release_watch.MANAGED_PLATFORM,
        {"ENDPOINT_NAME": endpoint_name},
        [endpoint_arn],
        endpoint_name.apply(lambda n: str(release_watch.marker_parameter({"endpoint_name": n}))),
    )


def _parameter_arn(region: str, name: pulumi.Input[str]) -> pulumi.Output[str]:
    # A parameter whose name starts with "/" has the ARN ...:parameter/<name without the />.
    return pulumi.Output.all(security.account_id(), name).apply(
        lambda v: f"arn:aws:ssm:{region}:{v[0]}:parameter/{str(v[1]).lstrip('/')}"
    )


def create_rollback_function(
    name: str,
    spec: DeploymentSpec,
    *,
    key: aws.kms.Key,
    alarms: Sequence[aws.cloudwatch.MetricAlarm],
    topics: Mapping[Tier, aws.sns.Topic],
    target: SplitTarget,
    opts: pulumi.ResourceOptions,
) -> aws.lambda_.Function:
    """The EventBridge rule on ``alarms`` entering ALARM, and the function it invokes."""
    o = opts
    function_name = resource_name(
        "aws", "default", spec.project, spec.environment.value, "rollback"
    )
    ticket, page = topics[Tier.TICKET], topics[Tier.PAGE]
    drain_action = API_CALLS[
        ("apigateway", "UpdateStage")
        if target.pattern == release_watch.API_FIRST
        else ("sagemaker", "UpdateEndpointWeightsAndCapacities")
    ]

    def statements(logs: aws.cloudwatch.LogGroup, dlq: aws.sqs.Queue) -> list[dict[str, Any]]:
        return [
            functions.log_write_statement(logs),
            security.statement(functions.XRAY_WRITE_ACTIONS, ["*"]),
            security.statement(["sqs:SendMessage"], [dlq.arn]),
            # Its environment, dead letters and the KMS-encrypted topics only (review B4).
            security.key_use_statement(
                ["kms:Decrypt", "kms:GenerateDataKey"], key.arn, spec.region, "lambda", "sqs", "sns"
            ),
            # Exactly its stack's rollback alarms (DescribeAlarms takes alarm ARNs).
            security.statement(["cloudwatch:DescribeAlarms"], [a.arn for a in alarms]),
            # GetMetricData has no resource-level permissions: "*" is the only resource.
            security.statement(["cloudwatch:GetMetricData"], ["*"]),
            security.statement(["sns:Publish"], [ticket.arn, page.arn]),
            security.statement(
                ["ssm:PutParameter"], [_parameter_arn(spec.region, target.marker_parameter)]
            ),
            security.statement([drain_action], list(target.drain_resources)),
        ]

    settings = settings_for(spec)
    alarm_names = pulumi.Output.all(*[a.name for a in alarms]).apply(json.dumps)
    environment: dict[str, pulumi.Input[str]] = {
        "PATTERN": target.pattern,
        "ALARM_NAMES": alarm_names,
        "SETTINGS": json.dumps(
            {
                "error_rate": settings.error_rate,
                "latency_multiplier": settings.latency_multiplier,
                "min_requests": settings.min_requests,
            },
            sort_keys=True,
        ),
        "WINDOW_MINUTES": str(ROLLBACK_WINDOW_MINUTES),
        "CANDIDATE_VERSION": spec.rollout.candidate_version or "",
        "MARKER_PARAMETER": target.marker_parameter,
        "TICKET_TOPIC_ARN": ticket.arn,
        "PAGE_TOPIC_ARN": page.arn,
        **target.environment,
    }
    function = functions.create_function(
        f"{name}-rollback",
        spec,
        key,
        o,
        function_name=function_name,
        description="Rolls the candidate back when a rollback alarm fires, at any time",
        role_description=(
            "Post-window rollback: reads its alarms and metrics, moves traffic to stable"
        ),
        handler="handler.handler",
        code=pulumi.AssetArchive(
            {arc: pulumi.FileAsset(str(path)) for arc, path in archive_files().items()}
        ),
        statements=statements,
        timeout=60,
        memory_size=256,
        environment=environment,
        tags={**spec.standard_tags(), **ROLLBACK_MARKER},
    ).function
    pattern = pulumi.Output.all(*[a.arn for a in alarms]).apply(
        lambda arns: json.dumps(
            {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": sorted(arns),
                "detail": {"state": {"value": ["ALARM"]}},
            },
            sort_keys=True,
        )
    )
    rule = aws.cloudwatch.EventRule(
        f"{name}-rollback-rule",
        name=resource_name("aws", "default", spec.project, spec.environment.value, "rollback"),
        description="A rollback alarm of this stack entered ALARM",
        event_pattern=pattern,
        tags=spec.standard_tags(),
        opts=o,
    )
    aws.cloudwatch.EventTarget(
        f"{name}-rollback-target",
        rule=rule.name,
        arn=function.arn,
        # An event older than an hour is stale; the function re-reads the alarm state anyway.
        retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
            maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
        ),
        opts=o,
    )
    aws.lambda_.Permission(
        f"{name}-rollback-invoke",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="events.amazonaws.com",
        source_arn=rule.arn,
        source_account=security.account_id(),
        opts=o,
    )
    return function
