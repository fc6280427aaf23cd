"""AWS monitoring shared by every pattern: alert topics per tier, alarms, dashboards.

The neutral rules in components.alarms say WHAT to watch; this module says HOW on AWS. A
:class:`SignalMetric` lookup table per serving surface maps each Signal to CloudWatch metrics
(and metric math where the neutral unit is a ratio), with the factor that converts the neutral
threshold unit (ms, ratio) into the metric's unit. Alarms route to one SNS topic per tier.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import AlarmRule, Comparison, Signal, Tier
from components.aws import security
from components.naming import resource_name
from components.spec import DeploymentSpec


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric; ``target`` names which dimension set (see create_alarms) it uses."""

    namespace: str
    name: str
    stat: str
    target: str


@dataclass(frozen=True)
class SignalMetric:
    """How a Signal is measured: metrics m0, m1, ... and optional math over them.

    ``scale`` converts the neutral threshold into the metric's unit (e.g. ms -> s is 0.001).
    """

    metrics: tuple[Metric, ...]
    expression: str | None = None
    scale: float = 1.0


def _single(namespace: str, name: str, stat: str, target: str, scale: float = 1.0) -> SignalMetric:
    return SignalMetric((Metric(namespace, name, stat, target),), None, scale)


_APIGW = "AWS/ApiGateway"
_ALB = "AWS/ApplicationELB"
_SAGEMAKER = "AWS/SageMaker"
_SAGEMAKER_HOST = "/aws/sagemaker/Endpoints"

# API-first: the gateway stage measures what consumers see (latency in ms; 4XXError/5XXError
# averaged are the error ratios). The canary is judged on its own ALB target group, because its
# share of gateway traffic is not separable in the stage's metrics.
API_GATEWAY_METRICS: Mapping[Signal, SignalMetric] = {
    Signal.LATENCY_P50: _single(_APIGW, "Latency", "p50", "api"),
    Signal.LATENCY_P95: _single(_APIGW, "Latency", "p95", "api"),
    Signal.LATENCY_P99: _single(_APIGW, "Latency", "p99", "api"),
    Signal.ERROR_RATE_4XX: _single(_APIGW, "4XXError", "Average", "api"),
    Signal.ERROR_RATE_5XX: _single(_APIGW, "5XXError", "Average", "api"),
    Signal.AVAILABILITY: SignalMetric(
        (Metric(_APIGW, "5XXError", "Average", "api"),), "1 - FILL(m0, 0)"
    ),
    Signal.CANARY_ERROR_RATE: SignalMetric(
        (
            Metric(_ALB, "HTTPCode_Target_5XX_Count", "Sum", "canary"),
            Metric(_ALB, "RequestCount", "Sum", "canary"),
        ),
        "IF(FILL(m1, 0) > 0, FILL(m0, 0) / m1, 0)",
    ),
    Signal.CANARY_LATENCY_P99: _single(_ALB, "TargetResponseTime", "p99", "canary", 0.001),
}

# Managed platform: SageMaker reports ModelLatency in microseconds and per-request error flags
# whose average is the error ratio. "stable"/"candidate" are the two production variants.
SAGEMAKER_METRICS: Mapping[Signal, SignalMetric] = {
    Signal.LATENCY_P50: _single(_SAGEMAKER, "ModelLatency", "p50", "stable", 1000.0),
    Signal.LATENCY_P95: _single(_SAGEMAKER, "ModelLatency", "p95", "stable", 1000.0),
    Signal.LATENCY_P99: _single(_SAGEMAKER, "ModelLatency", "p99", "stable", 1000.0),
    Signal.ERROR_RATE_4XX: _single(_SAGEMAKER, "Invocation4XXErrors", "Average", "stable"),
    Signal.ERROR_RATE_5XX: _single(_SAGEMAKER, "Invocation5XXErrors", "Average", "stable"),
    Signal.AVAILABILITY: SignalMetric(
        (Metric(_SAGEMAKER, "Invocation5XXErrors", "Average", "stable"),), "1 - FILL(m0, 0)"
    ),
    Signal.CANARY_ERROR_RATE: _single(_SAGEMAKER, "Invocation5XXErrors", "Average", "candidate"),
    Signal.CANARY_LATENCY_P99: _single(_SAGEMAKER, "ModelLatency", "p99", "candidate", 1000.0),
}

_SQS = "AWS/SQS"
# Event-driven workers publish their own job metrics in this namespace, as CloudWatch embedded
# metric format records in their log stream (docs/patterns/aws.md, "worker contract"): per job
# JobsSucceeded or JobsFailed (Count) and ProcessingTime (Milliseconds), dimension Deployment.
WORKER_NAMESPACE = "aideploy/EventDriven"

# Event-driven: the jobs queue ("queue"), its dead-letter queue ("dlq") and the workers' own
# metrics ("worker"). Depth and dead letters are visible messages, age is seconds (the neutral
# unit), latency is the workers' ProcessingTime in ms, error rate failed / (failed + succeeded).
SQS_WORKER_METRICS: Mapping[Signal, SignalMetric] = {
    Signal.QUEUE_DEPTH: _single(_SQS, "ApproximateNumberOfMessagesVisible", "Maximum", "queue"),
    Signal.QUEUE_OLDEST_AGE: _single(_SQS, "ApproximateAgeOfOldestMessage", "Maximum", "queue"),
    Signal.DEAD_LETTERS: _single(_SQS, "ApproximateNumberOfMessagesVisible", "Maximum", "dlq"),
    Signal.WORKER_ERROR_RATE: SignalMetric(
        (
            Metric(WORKER_NAMESPACE, "JobsFailed", "Sum", "worker"),
            Metric(WORKER_NAMESPACE, "JobsSucceeded", "Sum", "worker"),
        ),
        "IF(FILL(m0, 0) + FILL(m1, 0) > 0, FILL(m0, 0) / (FILL(m0, 0) + FILL(m1, 0)), 0)",
    ),
    Signal.LATENCY_P50: _single(WORKER_NAMESPACE, "ProcessingTime", "p50", "worker"),
    Signal.LATENCY_P95: _single(WORKER_NAMESPACE, "ProcessingTime", "p95", "worker"),
    Signal.LATENCY_P99: _single(WORKER_NAMESPACE, "ProcessingTime", "p99", "worker"),
}

COMPARISON_OPERATORS: Mapping[Comparison, str] = {
    Comparison.ABOVE: "GreaterThanThreshold",
    Comparison.BELOW: "LessThanThreshold",
}


@dataclass(frozen=True)
class AlarmDef:
    """One CloudWatch alarm to create, in the metric's own unit."""

    key: str
    metric: SignalMetric
    threshold: float
    comparison: Comparison
    tier: Tier
    period_seconds: int
    evaluation_periods: int
    triggers_rollback: bool = False
    description: str = ""


def alarm_defs(rules: Iterable[AlarmRule], table: Mapping[Signal, SignalMetric]) -> list[AlarmDef]:
    """The neutral rules as AWS alarms through ``table``; a rule without a mapping is an error."""
    defs = []
    for rule in rules:
        metric = table[rule.signal]
        defs.append(
            AlarmDef(
                key=rule.key,
                metric=metric,
                threshold=round(rule.threshold * metric.scale, 6),
                comparison=rule.comparison,
                tier=rule.tier,
                period_seconds=rule.period_seconds,
                evaluation_periods=rule.evaluation_periods,
                triggers_rollback=rule.triggers_rollback,
                description=(
                    f"{rule.signal.value} {rule.comparison.value} {rule.threshold:g} "
                    f"for {rule.evaluation_periods} x {rule.period_seconds}s"
                    + (" (rolls the candidate back)" if rule.triggers_rollback else "")
                ),
            )
        )
    return defs


def sagemaker_capacity_alarms(
    *, vcpus: int, gpus: int, invocations_target: int, evaluation_periods: int
) -> list[AlarmDef]:
    """Saturation alarms for the stable variant's instances (ticket tier: act before latency
    suffers). CPU and GPU utilisation are summed over cores, so thresholds scale with them;
    invocations per instance well above the scaling target means scaling cannot keep up."""

    def host(name: str) -> SignalMetric:
        return _single(_SAGEMAKER_HOST, name, "Average", "stable")

    limits: list[tuple[str, SignalMetric, float]] = [
        ("cpu-utilisation", host("CPUUtilization"), 90.0 * vcpus),
        ("memory-utilisation", host("MemoryUtilization"), 90.0),
        ("disk-utilisation", host("DiskUtilization"), 85.0),
        (
            "invocations-per-instance",
            _single(_SAGEMAKER, "InvocationsPerInstance", "Sum", "stable"),
            1.5 * invocations_target,
        ),
    ]
    if gpus:  # GPU metrics exist only on accelerated instances
        limits += [
            ("gpu-utilisation", host("GPUUtilization"), 90.0 * gpus),
            ("gpu-memory-utilisation", host("GPUMemoryUtilization"), 90.0),
        ]
    return [
        AlarmDef(
            key=key,
            metric=metric,
            threshold=threshold,
            comparison=Comparison.ABOVE,
            tier=Tier.TICKET,
            period_seconds=60,
            evaluation_periods=evaluation_periods,
            description=f"{key} above {threshold:g} for {evaluation_periods} x 60s",
        )
        for key, metric, threshold in limits
    ]


def tiers_used(defs: Iterable[AlarmDef]) -> list[Tier]:
    """The tiers alarms route to, plus PAGE always: the stack's ``alert_topic`` output."""
    used = {d.tier for d in defs} | {Tier.PAGE}
    return [t for t in Tier if t in used]


SNS_OWNER_ACTIONS = (
    "sns:AddPermission",
    "sns:DeleteTopic",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",
    "sns:RemovePermission",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
)


def create_alert_topics(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    tiers: Sequence[Tier],
    opts: pulumi.ResourceOptions,
    *,
    publishers: Sequence[str] = ("cloudwatch.amazonaws.com",),
) -> dict[Tier, aws.sns.Topic]:
    """One KMS-encrypted SNS topic per tier, TLS-only, every alert address subscribed.

    Only the account and the named AWS services (acting for this account) may publish. The key
    must let those services use it (security.ALARMS_KEY_USER for CloudWatch).
    """
    account = security.account_id()
    topics: dict[Tier, aws.sns.Topic] = {}
    for tier in tiers:
        topic = aws.sns.Topic(
            f"{name}-alerts-{tier.value}",
            display_name=f"{spec.project} {spec.environment.value} {tier.value} alerts",
            kms_master_key_id=key.arn,
            tags={**spec.standard_tags(), "alert-tier": tier.value},
            opts=opts,
        )
        statements = [
            security.statement(
                SNS_OWNER_ACTIONS,
                [topic.arn],
                sid="AccountOwns",
                principal={"AWS": account.apply(lambda a: f"arn:aws:iam::{a}:root")},
            ),
            security.tls_only_statement("sns:Publish", [topic.arn]),
        ]
        statements.extend(
            security.statement(
                ["sns:Publish"],
                [topic.arn],
                sid="Publish" + "".join(c for c in svc.split(".")[0].title() if c.isalnum()),
                principal={"Service": svc},
                condition={"StringEquals": {"aws:SourceAccount": account}},
            )
            for svc in publishers
        )
        aws.sns.TopicPolicy(
            f"{name}-alerts-{tier.value}-policy",
            arn=topic.arn,
            policy=security.to_json(security.document(statements)),
            opts=opts,
        )
        for i, email in enumerate(spec.alerts.emails):
            aws.sns.TopicSubscription(
                f"{name}-alerts-{tier.value}-email-{i}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=opts,
            )
        topics[tier] = topic
    return topics


def _queries(
    metric: SignalMetric,
    period: int,
    dimensions: Mapping[str, Mapping[str, pulumi.Input[str]]],
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=f"m{i}",
            return_data=metric.expression is None,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=m.namespace,
                metric_name=m.name,
                stat=m.stat,
                period=period,
                dimensions=dict(dimensions[m.target]),
            ),
        )
        for i, m in enumerate(metric.metrics)
    ]
    if metric.expression is not None:
        queries.append(
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="e0", expression=metric.expression, return_data=True, label="value"
            )
        )
    return queries


def create_alarms(
    name: str,
    spec: DeploymentSpec,
    defs: Sequence[AlarmDef],
    dimensions: Mapping[str, Mapping[str, pulumi.Input[str]]],
    topics: Mapping[Tier, aws.sns.Topic],
    opts: pulumi.ResourceOptions,
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """One CloudWatch alarm per definition, alarm and OK notifications to its tier's topic.

    ``dimensions`` maps each Metric.target used to its CloudWatch dimensions. Missing data is
    not a breach: an idle endpoint (or a canary at 0%) must not page anyone.
    """
    alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
    for d in defs:
        topic = topics[d.tier]
        alarms[d.key] = aws.cloudwatch.MetricAlarm(
            f"{name}-alarm-{d.key}",
            name=resource_name("aws", "default", spec.project, spec.environment.value, name, d.key),
            alarm_description=d.description,
            comparison_operator=COMPARISON_OPERATORS[d.comparison],
            threshold=d.threshold,
            evaluation_periods=d.evaluation_periods,
            datapoints_to_alarm=d.evaluation_periods,
            metric_queries=_queries(d.metric, d.period_seconds, dimensions),
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags={**spec.standard_tags(), "alert-tier": d.tier.value},
            opts=opts,
        )
    return alarms


def create_dashboard(
    name: str,
    spec: DeploymentSpec,
    alarms: Mapping[str, aws.cloudwatch.MetricAlarm],
    opts: pulumi.ResourceOptions,
    *,
    title: str,
) -> aws.cloudwatch.Dashboard:
    """A dashboard: the alarm status board, then one graph per alarm with its threshold."""
    keys = list(alarms)

    def body(arns: list[str]) -> str:
        widgets: list[dict[str, Any]] = [
            {
                "type": "alarm",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 4,
                "properties": {"title": title, "alarms": arns},
            }
        ]
        for i, (key, arn) in enumerate(zip(keys, arns, strict=True)):
            widgets.append(
                {
                    "type": "metric",
                    "x": (i % 3) * 8,
                    "y": 4 + (i // 3) * 6,
                    "width": 8,
                    "height": 6,
                    "properties": {
                        "title": key,
                        "region": spec.region,
                        "annotations": {"alarms": [arn]},
                        "view": "timeSeries",
                    },
                }
            )
        return json.dumps({"widgets": widgets}, sort_keys=True)

    return aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=resource_name("aws", "default", spec.project, spec.environment.value, name),
        dashboard_body=pulumi.Output.all(*[alarms[k].arn for k in keys]).apply(body),
        opts=opts,
    )
