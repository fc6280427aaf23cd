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

from components.alarms import AlarmRule, Comparison, Signal, Tier, alarm_name
from components.aws import notify, security
from components.llm import BLOCKED_EVENT, Direction
from components.naming import resource_name
from components.spec import DeploymentSpec, Destination, DestinationKind


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric; ``target`` names which dimension set (see create_alarms) it uses.

    ``id`` is the metric's query id in the alarm (what the expression refers to). The rollback
    alarms' ids are a contract with components/aws/release_watch.py, which reads the alarms'
    own queries back to take its samples from the same signals: ``candidate_requests_<source>``,
    ``candidate_errors_<source>[_<kind>]``, ``candidate_p99``, ``stable_requests_<source>``,
    ``stable_p99`` (release_watch.sample_queries documents how they combine).
    """

    namespace: str
    name: str
    stat: str
    target: str
    id: str = ""


@dataclass(frozen=True)
class SignalMetric:
    """How a Signal is measured: metrics (ids ``m0``, ``m1``, ... unless named) and optional
    math over them.

    ``scale`` converts the neutral threshold into the metric's unit (e.g. ms -> s is 0.001).
    ``expression`` may hold ``{min_requests}``, the rule's volume guard (requests per period).
    """

    metrics: tuple[Metric, ...]
    expression: str | None = None
    scale: float = 1.0

    def ids(self) -> tuple[str, ...]:
        """The query id of each metric, in order."""
        return tuple(m.id or f"m{i}" for i, m in enumerate(self.metrics))


def _single(namespace: str, name: str, stat: str, target: str, scale: float = 1.0) -> SignalMetric:
    return SignalMetric((Metric(namespace, name, stat, target),), None, scale)


_APIGW = "AWS/ApiGateway"
_ALB = "AWS/ApplicationELB"
_SAGEMAKER = "AWS/SageMaker"
_SAGEMAKER_HOST = "/aws/sagemaker/Endpoints"

# The volume guard of every rollback expression: a period with fewer candidate requests than
# the rule's min_requests evaluates to 0 (no breach), so a quiet night rolls nothing back.
_GUARD = "IF(FILL(candidate_requests_{src}, 0) >= {{min_requests}}, {value}, 0)"


def _guarded(src: str, value: str) -> str:
    return _GUARD.format(src=src, value=value)


def _canary_signals(
    *,
    src: str,
    namespace: str,
    requests: str,
    errors: tuple[tuple[str, str], ...],
    latency: str,
    latency_scale: float,
    candidate: str,
    stable: str,
) -> dict[Signal, SignalMetric]:
    """The four rollback signals of a candidate/stable pair measured by one metric source.

    ``errors`` are (kind, metric name) pairs summed into the candidate's 5xx count.
    """

    def m(name: str, stat: str, target: str, mid: str) -> Metric:
        return Metric(namespace, name, stat, target, mid)

    cand_req = m(requests, "Sum", candidate, f"candidate_requests_{src}")
    stable_req = m(requests, "Sum", stable, f"stable_requests_{src}")
    cand_p99 = m(latency, "p99", candidate, "candidate_p99")
    stable_p99 = m(latency, "p99", stable, "stable_p99")
    error_metrics = tuple(
        m(name, "Sum", candidate, f"candidate_errors_{src}_{kind}") for kind, name in errors
    )
    error_sum = " + ".join(f"FILL({e.id}, 0)" for e in error_metrics)
    # The stable p99 is floored at 1 ms (in the metric's unit) so an idle-fast stable version
    # cannot make any candidate look infinitely slow.
    floor = f"{latency_scale:g}"  # 1 ms in the metric's unit
    return {
        Signal.CANARY_ERROR_RATE: SignalMetric(
            (*error_metrics, cand_req),
            _guarded(src, f"({error_sum}) / candidate_requests_{src}"),
        ),
        # E4: the candidate's p99 over the STABLE version's measured p99, not a constant.
        Signal.CANARY_LATENCY_RATIO: SignalMetric(
            (cand_p99, stable_p99, cand_req),
            _guarded(
                src,
                f"candidate_p99 / IF(FILL(stable_p99, 0) > {floor}, stable_p99, {floor})",
            ),
        ),
        # The absolute ceiling: multiplier x the configured p99, in the metric's unit.
        Signal.CANARY_LATENCY_P99: SignalMetric(
            (cand_p99, cand_req), _guarded(src, "candidate_p99"), latency_scale
        ),
        # The candidate's share of requests while stable serves at least min_requests; with
        # less stable traffic the share is 1 (nothing to judge). FILL turns the candidate's
        # silence into 0 on every period where stable has data, so a crash-looping or ejected
        # candidate breaches even though it publishes nothing (review E.10 step 1).
        Signal.CANARY_STARVED: SignalMetric(
            (cand_req, stable_req),
            f"IF(FILL(stable_requests_{src}, 0) >= {{min_requests}}, "
            f"FILL(candidate_requests_{src}, 0) / "
            f"(FILL(candidate_requests_{src}, 0) + stable_requests_{src}), 1)",
        ),
    }


# API-first: the gateway stage measures what consumers see (latency in ms; 4XXError/5XXError
# averaged are the error ratios). The canary is judged on its own ALB target group against the
# stable target group, because its share of gateway traffic is not separable in the stage's
# metrics. Its 5xx count adds the ALB's connection errors to the target's own 5xx: a target
# that resets or refuses the connection makes the ALB answer 502/503 with no target 5xx. The
# LB-level HTTPCode_ELB_5XX_Count has no target-group dimension, so it cannot be attributed to
# the canary; a canary without healthy targets gets no requests and the starved rule fires,
# and API Gateway's 29 s integration timeout shows as a target response time above the
# ceiling.
API_GATEWAY_METRICS: Mapping[Signal, SignalMetric] = {
    Signal.LATENCY_P50: _single(_APIGW, "Latency", "p50", "api"),
    Signal.LATENCY_P95: _single(_APIGW, "Latency", "p95", "api"),
    Signal.LATENCY_P99: _single(_APIGW, "Latency", "p99", "api"),
    Signal.ERROR_RATE_4XX: _single(_APIGW, "4XXError", "Average", "api"),
    Signal.ERROR_RATE_5XX: _single(_APIGW, "5XXError", "Average", "api"),
    Signal.AVAILABILITY: SignalMetric(
        (Metric(_APIGW, "5XXError", "Average", "api"),), "1 - FILL(m0, 0)"
    ),
    **_canary_signals(
        src="lb",
        namespace=_ALB,
        requests="RequestCount",
        errors=(
            ("target", "HTTPCode_Target_5XX_Count"),
            ("connection", "TargetConnectionErrorCount"),
        ),
        latency="TargetResponseTime",
        latency_scale=0.001,
        candidate="canary",
        stable="stable",
    ),
}

# Managed platform: SageMaker reports ModelLatency in microseconds and per-request error flags
# whose average is the error ratio. "stable"/"candidate" are the two production variants; the
# rollback signals count the candidate variant's Invocation5XXErrors (SageMaker's own 5xx,
# including a model container that fails or times out) over its Invocations.
SAGEMAKER_METRICS: Mapping[Signal, SignalMetric] = {
    Signal.LATENCY_P50: _single(_SAGEMAKER, "ModelLatency", "p50", "stable", 1000.0),
    Signal.LATENCY_P95: _single(_SAGEMAKER, "ModelLatency", "p95", "stable", 1000.0),
    Signal.LATENCY_P99: _single(_SAGEMAKER, "ModelLatency", "p99", "stable", 1000.0),
    Signal.ERROR_RATE_4XX: _single(_SAGEMAKER, "Invocation4XXErrors", "Average", "stable"),
    Signal.ERROR_RATE_5XX: _single(_SAGEMAKER, "Invocation5XXErrors", "Average", "stable"),
    Signal.AVAILABILITY: SignalMetric(
        (Metric(_SAGEMAKER, "Invocation5XXErrors", "Average", "stable"),), "1 - FILL(m0, 0)"
    ),
    **_canary_signals(
        src="sm",
        namespace=_SAGEMAKER,
        requests="Invocations",
        errors=(("5xx", "Invocation5XXErrors"),),
        latency="ModelLatency",
        latency_scale=1000.0,
        candidate="candidate",
        stable="stable",
    ),
}

# How CloudWatch treats a period without data, per signal (default: not breaching). An idle
# endpoint, or a canary at 0%, must not page anyone, so "no data" is not a breach for the
# serving alarms; the rollback expressions produce a value of their own wherever there is
# traffic (the volume guard gives 0 below min_requests, the starved share fills the
# candidate's silence with 0 while stable serves), so a period with no data at all is a period
# with no traffic: not a breach either. The uptime check is the exception (see UPTIME_*).
MISSING_DATA: Mapping[Signal, str] = {
    Signal.CANARY_ERROR_RATE: "notBreaching",
    Signal.CANARY_LATENCY_RATIO: "notBreaching",
    Signal.CANARY_LATENCY_P99: "notBreaching",
    # Breaches on the candidate's silence through FILL (above), not through missing data:
    # "breaching" here would fire on a whole idle endpoint too.
    Signal.CANARY_STARVED: "notBreaching",
}
DEFAULT_MISSING_DATA = "notBreaching"

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

# LLM stacks: the model server logs one JSON line per blocked call (components.llm.BLOCKED_EVENT,
# ``{"event": "guardrail_blocked", "direction": "prompt"|"response", "reasons": [...]}``), and a
# CloudWatch Logs metric filter per direction on the serving container's log group counts them
# (value 1 per line) into a per-stack namespace: a filter cannot set a constant dimension, so
# the namespace keeps two stacks of one account apart.
GUARDRAIL_NAMESPACE = "aideploy/Guardrail"
# The log line's fields the filters read (the model server's contract, components.llm).
BLOCKED_EVENT_FIELD = "event"
BLOCKED_DIRECTION_FIELD = "direction"
GUARDRAIL_SIGNALS: Mapping[Signal, Direction] = {
    Signal.GUARDRAIL_BLOCKED_PROMPTS: Direction.PROMPT,
    Signal.GUARDRAIL_BLOCKED_RESPONSES: Direction.RESPONSE,
}
GUARDRAIL_METRIC_NAMES: Mapping[Direction, str] = {
    Direction.PROMPT: "BlockedPrompts",
    Direction.RESPONSE: "BlockedResponses",
}


def blocked_filter_pattern(direction: Direction) -> str:
    """The CloudWatch Logs filter pattern matching one direction's blocked-call lines."""
    return (
        f'{{ ($.{BLOCKED_EVENT_FIELD} = "{BLOCKED_EVENT}") && '
        f'($.{BLOCKED_DIRECTION_FIELD} = "{direction.value}") }}'
    )


def guardrail_namespace(spec: DeploymentSpec) -> str:
    """The stack's own namespace for the blocked-call metrics."""
    return f"{GUARDRAIL_NAMESPACE}/{spec.project}-{spec.environment.value}"


def guardrail_metrics(spec: DeploymentSpec) -> dict[Signal, SignalMetric]:
    """The table for components.alarms.guardrail_alarms: blocked calls summed per period
    (dimension set ``guardrail``: none, the namespace is the stack's)."""
    namespace = guardrail_namespace(spec)
    return {
        signal: _single(namespace, GUARDRAIL_METRIC_NAMES[direction], "Sum", "guardrail")
        for signal, direction in GUARDRAIL_SIGNALS.items()
    }


def create_blocked_filters(
    name: str,
    spec: DeploymentSpec,
    log_group: aws.cloudwatch.LogGroup,
    opts: pulumi.ResourceOptions,
) -> dict[Signal, aws.cloudwatch.LogMetricFilter]:
    """One metric filter per direction on ``log_group`` (the serving container's logs)."""
    namespace = guardrail_namespace(spec)
    filters = {}
    for signal, direction in GUARDRAIL_SIGNALS.items():
        filters[signal] = aws.cloudwatch.LogMetricFilter(
            f"{name}-filter-{signal.value}",
            name=resource_name(
                "aws", "default", spec.project, spec.environment.value, signal.value
            ),
            log_group_name=log_group.name,
            pattern=blocked_filter_pattern(direction),
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=GUARDRAIL_METRIC_NAMES[direction],
                namespace=namespace,
                value="1",
                unit="Count",
            ),
            opts=opts,
        )
    return filters


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
    min_requests: int = 0
    missing_data: str = DEFAULT_MISSING_DATA

    def expression(self) -> str | None:
        """The metric math with the volume guard filled in."""
        if self.metric.expression is None:
            return None
        return self.metric.expression.format(min_requests=self.min_requests)


def alarm_defs(
    rules: Iterable[AlarmRule],
    table: Mapping[Signal, SignalMetric],
    *,
    has_candidate: bool = True,
) -> list[AlarmDef]:
    """The neutral rules as AWS alarms through ``table``; a rule without a mapping is an error.

    Without a candidate the canary path serves 0% of traffic, so "starved" cannot mean a
    failing candidate: its threshold becomes 0 (a share is never below 0) and the alarm stays
    OK instead of firing forever and waking the rollback path.
    """
    defs = []
    for rule in rules:
        metric = table[rule.signal]
        threshold = rule.threshold
        if rule.signal is Signal.CANARY_STARVED and not has_candidate:
            threshold = 0.0
        defs.append(
            AlarmDef(
                key=rule.key,
                metric=metric,
                threshold=round(threshold * metric.scale, 6),
                comparison=rule.comparison,
                tier=rule.tier,
                period_seconds=rule.period_seconds,
                evaluation_periods=rule.evaluation_periods,
                triggers_rollback=rule.triggers_rollback,
                description=(
                    f"{rule.signal.value} {rule.comparison.value} {threshold:g} "
                    f"for {rule.evaluation_periods} x {rule.period_seconds}s"
                    + (f" with at least {rule.min_requests} requests" if rule.min_requests else "")
                    + (" (rolls the candidate back)" if rule.triggers_rollback else "")
                ),
                min_requests=rule.min_requests,
                missing_data=MISSING_DATA.get(rule.signal, DEFAULT_MISSING_DATA),
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


# SNS delivers a tier to e-mail addresses and to an incident tool's HTTPS events endpoint
# (PagerDuty, Opsgenie, incident.io accept SNS's HTTPS notifications and confirm them). Slack and
# Teams webhooks go through a forwarder function instead (notify.CHAT_KINDS).
SNS_PROTOCOLS: Mapping[DestinationKind, str] = {
    DestinationKind.EMAIL: "email",
    DestinationKind.EVENTS: "https",
}


def _subscription(destination: Destination) -> tuple[str, pulumi.Input[str]]:
    """(protocol, endpoint) of one destination; a webhook URL is read as a Pulumi secret."""
    protocol = SNS_PROTOCOLS.get(destination.kind)
    if protocol is None:
        raise ValueError(
            f"alerts.routes: {destination.kind.value} destinations have no SNS protocol "
            "(chat destinations go through components/aws/notify.py)"
        )
    if destination.kind is DestinationKind.EMAIL:
        return protocol, str(destination.address)
    return protocol, pulumi.Config().require_secret(str(destination.secret))


def create_alert_topics(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    tiers: Sequence[Tier],
    opts: pulumi.ResourceOptions,
    *,
    publishers: Sequence[str] = ("cloudwatch.amazonaws.com",),
) -> dict[Tier, aws.sns.Topic]:
    """One KMS-encrypted SNS topic per tier, TLS-only, each of the tier's destinations
    (``spec.alerts.destinations(tier)``) subscribed.

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
        destinations = spec.alerts.destinations(tier.value)
        # Slack/Teams: a forwarder function per destination (components/aws/notify.py).
        notify.create_forwarders(
            name, spec, key=key, tier=tier, topic=topic, destinations=destinations, opts=opts
        )
        for i, destination in enumerate(destinations):
            if notify.is_chat(destination):
                continue
            protocol, endpoint = _subscription(destination)
            aws.sns.TopicSubscription(
                # Email subscriptions keep their original names (`...-email-<i>`).
                f"{name}-alerts-{tier.value}-{destination.kind.value}-{i}",
                topic=topic.arn,
                protocol=protocol,
                endpoint=endpoint,
                # An incident tool's SNS integration confirms its subscription itself.
                endpoint_auto_confirms=protocol == "https" or None,
                opts=opts,
            )
        topics[tier] = topic
    return topics


def _queries(
    d: AlarmDef,
    dimensions: Mapping[str, Mapping[str, pulumi.Input[str]]],
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    metric, period, expression = d.metric, d.period_seconds, d.expression()
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            return_data=expression is None,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=m.namespace,
                metric_name=m.name,
                stat=m.stat,
                period=period,
                dimensions=dict(dimensions[m.target]),
            ),
        )
        for query_id, m in zip(metric.ids(), metric.metrics, strict=True)
    ]
    if expression is not None:
        queries.append(
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="e0", expression=expression, return_data=True, label="value"
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

    ``dimensions`` maps each Metric.target used to its CloudWatch dimensions. Every alarm is
    named ``components.alarms.alarm_name(spec, key)`` exactly (review #10: the watch and the
    rollback function match alarms by exact name from the stack's outputs). Missing data per
    :data:`MISSING_DATA`.
    """
    alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
    for d in defs:
        topic = topics[d.tier]
        alarms[d.key] = aws.cloudwatch.MetricAlarm(
            f"{name}-alarm-{d.key}",
            name=alarm_name(spec, d.key),
            alarm_description=d.description,
            comparison_operator=COMPARISON_OPERATORS[d.comparison],
            threshold=d.threshold,
            evaluation_periods=d.evaluation_periods,
            datapoints_to_alarm=d.evaluation_periods,
            metric_queries=_queries(d, dimensions),
            treat_missing_data=d.missing_data,
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
