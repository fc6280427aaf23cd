"""Cloud Monitoring for every GCP pattern: alert routing, alert policies, dashboards.

The alarm rules themselves are cloud-neutral (components.alarms). This module maps each
:class:`Signal` to a Cloud Monitoring query with two lookup tables: ``SIGNAL_QUERIES`` says what
kind of query a signal is (a latency percentile or a ratio of responses), and a
:class:`ServingMetrics` says where one serving platform (an HTTPS load balancer, a Vertex AI
endpoint, ...) publishes its request counts and latencies. Adding a platform is adding a
``ServingMetrics``; adding a signal is adding a table row. No per-signal branches.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import pulumi
import pulumi_gcp as gcp

from components.alarms import AlarmRule, Comparison, Signal, Tier, alarm_name
from components.gcp.release_watch import Target, rule_query
from components.gcp.security import labels
from components.llm import BLOCKED_EVENT, Direction
from components.naming import resource_name
from components.rollout import traffic_split
from components.spec import DeploymentSpec, Destination, DestinationKind


class QueryKind(str, Enum):
    """The two shapes of serving signal."""

    LATENCY = "latency"  # a percentile of a latency distribution, in ms
    RATIO = "ratio"  # responses of one outcome / all responses
    GAUGE = "gauge"  # a value the platform reports directly (queue depth, message age)
    # Events counted over the rule's whole period (a log-based metric: blocked LLM calls).
    COUNT = "count"


class Scope(str, Enum):
    """Which traffic a signal looks at."""

    ALL = "all"
    CANDIDATE = "candidate"
    STABLE = "stable"


@dataclass(frozen=True)
class SignalQuery:
    """How a signal is computed, independent of the platform."""

    kind: QueryKind
    scope: Scope = Scope.ALL
    percentile: int = 0  # for LATENCY
    outcome: str = ""  # for RATIO: a key of ServingMetrics.outcomes
    gauge: str = ""  # for GAUGE and COUNT: a key of ServingMetrics.gauges
    aligner: str = "ALIGN_MAX"  # for GAUGE: per series, over the alignment period
    reducer: str = "REDUCE_SUM"  # for GAUGE: across series


SIGNAL_QUERIES: dict[Signal, SignalQuery] = {
    Signal.LATENCY_P50: SignalQuery(QueryKind.LATENCY, percentile=50),
    Signal.LATENCY_P95: SignalQuery(QueryKind.LATENCY, percentile=95),
    Signal.LATENCY_P99: SignalQuery(QueryKind.LATENCY, percentile=99),
    Signal.ERROR_RATE_4XX: SignalQuery(QueryKind.RATIO, outcome="client_error"),
    Signal.ERROR_RATE_5XX: SignalQuery(QueryKind.RATIO, outcome="server_error"),
    Signal.AVAILABILITY: SignalQuery(QueryKind.RATIO, outcome="success"),
    Signal.CANARY_ERROR_RATE: SignalQuery(QueryKind.RATIO, Scope.CANDIDATE, outcome="server_error"),
    Signal.CANARY_LATENCY_P99: SignalQuery(QueryKind.LATENCY, Scope.CANDIDATE, percentile=99),
    # Event-driven: the queue's own gauges and the worker's failed requests.
    Signal.QUEUE_DEPTH: SignalQuery(QueryKind.GAUGE, gauge="queue_depth"),
    Signal.QUEUE_OLDEST_AGE: SignalQuery(QueryKind.GAUGE, gauge="oldest_age", reducer="REDUCE_MAX"),
    Signal.DEAD_LETTERS: SignalQuery(QueryKind.GAUGE, gauge="dead_letters", aligner="ALIGN_DELTA"),
    Signal.WORKER_ERROR_RATE: SignalQuery(QueryKind.RATIO, outcome="server_error"),
    # LLM guardrails: the model server's blocked-call log lines, by direction
    # (guardrail_metric_filters).
    Signal.GUARDRAIL_BLOCKED_PROMPTS: SignalQuery(
        QueryKind.COUNT, gauge=f"guardrail_blocked_{Direction.PROMPT.value}"
    ),
    Signal.GUARDRAIL_BLOCKED_RESPONSES: SignalQuery(
        QueryKind.COUNT, gauge=f"guardrail_blocked_{Direction.RESPONSE.value}"
    ),
}

COMPARISONS: dict[Comparison, str] = {
    Comparison.ABOVE: "COMPARISON_GT",
    Comparison.BELOW: "COMPARISON_LT",
}
SEVERITIES: dict[Tier, str] = {Tier.PAGE: "CRITICAL", Tier.TICKET: "ERROR", Tier.INFO: "WARNING"}


@dataclass(frozen=True)
class ServingMetrics:
    """Where one serving platform publishes its request signals.

    ``scopes`` maps each :class:`Scope` to a filter fragment selecting that traffic (resource
    labels of the platform's monitored resource); ``outcomes`` maps an outcome to the filter
    fragment on the response-code label; ``gauges`` maps a gauge to its complete filter (a queue
    reports on its own monitored resource, not the platform's).
    """

    requests: str  # metric type counting responses, labelled with the response code
    latency: str  # distribution metric type, milliseconds
    outcomes: Mapping[str, str]
    scopes: Mapping[Scope, pulumi.Input[str]]
    gauges: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Narrows the latency distribution to one kind of point (Vertex: latency_type, E9).
    latency_filter: str = ""


# Response-code fragments per platform: the load balancer labels a response class (an int),
# Vertex AI labels the code itself (a string).
LB_OUTCOMES: dict[str, str] = {
    "client_error": "metric.label.response_code_class = 400",
    "server_error": "metric.label.response_code_class = 500",
    "success": "NOT metric.label.response_code_class = 500",
}
VERTEX_OUTCOMES: dict[str, str] = {
    "client_error": 'metric.label.response_code = starts_with("4")',
    "server_error": 'metric.label.response_code = starts_with("5")',
    "success": 'NOT metric.label.response_code = starts_with("5")',
}


def load_balancer_metrics(
    url_map: pulumi.Input[str], stable: pulumi.Input[str], candidate: pulumi.Input[str]
) -> ServingMetrics:
    """Signals of an external Application Load Balancer, per backend service."""

    def rule(extra: pulumi.Input[str] | None) -> pulumi.Output[str]:
        base = pulumi.Output.concat(
            'resource.type = "https_lb_rule" AND resource.label.url_map_name = "', url_map, '"'
        )
        if extra is None:
            return base
        return pulumi.Output.concat(base, ' AND resource.label.backend_target_name = "', extra, '"')

    return ServingMetrics(
        requests="loadbalancing.googleapis.com/https/request_count",
        latency="loadbalancing.googleapis.com/https/total_latencies",
        outcomes=LB_OUTCOMES,
        scopes={
            Scope.ALL: rule(None),
            Scope.STABLE: rule(stable),
            Scope.CANDIDATE: rule(candidate),
        },
    )


def vertex_metrics(
    endpoint_id: pulumi.Input[str], stable: pulumi.Input[str], candidate: pulumi.Input[str]
) -> ServingMetrics:
    """Signals of a Vertex AI endpoint, per deployed model."""

    def rule(extra: pulumi.Input[str] | None) -> pulumi.Output[str]:
        base = pulumi.Output.concat(
            'resource.type = "aiplatform.googleapis.com/Endpoint" AND '
            'resource.label.endpoint_id = "',
            endpoint_id,
            '"',
        )
        if extra is None:
            return base
        return pulumi.Output.concat(base, ' AND metric.label.deployed_model_id = "', extra, '"')

    return ServingMetrics(
        requests="aiplatform.googleapis.com/prediction/online/response_count",
        latency="aiplatform.googleapis.com/prediction/online/prediction_latencies",
        outcomes=VERTEX_OUTCOMES,
        latency_filter='metric.label.latency_type = "total"',
        scopes={
            Scope.ALL: rule(None),
            Scope.STABLE: rule(stable),
            Scope.CANDIDATE: rule(candidate),
        },
    )


# Cloud Run labels a response class as a string ("2xx" ... "5xx").
RUN_OUTCOMES: dict[str, str] = {
    "client_error": 'metric.label.response_code_class = "4xx"',
    "server_error": 'metric.label.response_code_class = "5xx"',
    "success": 'NOT metric.label.response_code_class = "5xx"',
}
# Pub/Sub subscription gauges by SignalQuery.gauge key (dead letters are counted on the source
# subscription, as messages it forwarded to its dead-letter topic).
PUBSUB_GAUGES: dict[str, str] = {
    "queue_depth": "pubsub.googleapis.com/subscription/num_undelivered_messages",
    "oldest_age": "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
    "dead_letters": "pubsub.googleapis.com/subscription/dead_letter_message_count",
}


def cloud_run_metrics(
    service: pulumi.Input[str], subscription: pulumi.Input[str] | None = None
) -> ServingMetrics:
    """Signals of one Cloud Run service, plus the gauges of the subscription that feeds it."""
    scope = pulumi.Output.concat(
        'resource.type = "cloud_run_revision" AND resource.label.service_name = "', service, '"'
    )
    gauges: dict[str, pulumi.Input[str]] = {}
    if subscription is not None:
        gauges = {
            key: pulumi.Output.concat(
                'metric.type = "',
                metric,
                '" AND resource.type = "pubsub_subscription" AND '
                'resource.label.subscription_id = "',
                subscription,
                '"',
            )
            for key, metric in PUBSUB_GAUGES.items()
        }
    return ServingMetrics(
        requests="run.googleapis.com/request_count",
        latency="run.googleapis.com/request_latencies",
        outcomes=RUN_OUTCOMES,
        scopes={Scope.ALL: scope, Scope.STABLE: scope, Scope.CANDIDATE: scope},
        gauges=gauges,
    )


def api_gateway_metrics(gateway_id: pulumi.Input[str]) -> ServingMetrics:
    """Signals of one API Gateway gateway (no split: every scope is the whole gateway). The
    gateway labels a response class as a string ("2xx" ... "5xx"), as Cloud Run does."""
    scope = pulumi.Output.concat(
        'resource.type = "apigateway.googleapis.com/Gateway" AND resource.label.gateway_id = "',
        gateway_id,
        '"',
    )
    return ServingMetrics(
        requests="apigateway.googleapis.com/proxy/request_count",
        latency="apigateway.googleapis.com/proxy/request_latencies",
        outcomes=RUN_OUTCOMES,
        scopes={Scope.ALL: scope, Scope.STABLE: scope, Scope.CANDIDATE: scope},
    )


@dataclass(frozen=True)
class MetricFilters:
    """The filters a signal needs: numerator (or the distribution) and, for ratios, all traffic."""

    filter: pulumi.Output[str]
    denominator: pulumi.Output[str] | None


def filters_for(query: SignalQuery, metrics: ServingMetrics) -> MetricFilters:
    """The Cloud Monitoring filters of ``query`` on ``metrics``' platform."""
    if query.kind in (QueryKind.GAUGE, QueryKind.COUNT):
        return MetricFilters(pulumi.Output.from_input(metrics.gauges[query.gauge]), None)
    scope = metrics.scopes[query.scope]
    if query.kind is QueryKind.LATENCY:
        narrow = f" AND {metrics.latency_filter}" if metrics.latency_filter else ""
        return MetricFilters(
            pulumi.Output.concat('metric.type = "', metrics.latency, '" AND ', scope, narrow), None
        )
    total = pulumi.Output.concat('metric.type = "', metrics.requests, '" AND ', scope)
    return MetricFilters(
        pulumi.Output.concat(total, " AND ", metrics.outcomes[query.outcome]), total
    )


def _aggregation(query: SignalQuery, rule: AlarmRule) -> dict[str, str]:
    # A count is summed over the rule's period in each series and across series: the events
    # of one window, compared with the threshold as soon as the window closes.
    if query.kind is QueryKind.COUNT:
        return {
            "alignment_period": f"{rule.period_seconds}s",
            "per_series_aligner": "ALIGN_SUM",
            "cross_series_reducer": "REDUCE_SUM",
        }
    # Distributions are summed over the window and reduced to the percentile across series, so a
    # percentile spans every instance; counts become rates summed across series; gauges say
    # their own aligner and reducer (a depth sums across series, an age takes the maximum).
    if query.kind is QueryKind.GAUGE:
        return {
            "alignment_period": "60s",
            "per_series_aligner": query.aligner,
            "cross_series_reducer": query.reducer,
        }
    if query.kind is QueryKind.LATENCY:
        return {
            "alignment_period": "60s",
            "per_series_aligner": "ALIGN_DELTA",
            "cross_series_reducer": f"REDUCE_PERCENTILE_{query.percentile:02d}",
        }
    return {
        "alignment_period": "60s",
        "per_series_aligner": "ALIGN_RATE",
        "cross_series_reducer": "REDUCE_SUM",
    }


@dataclass
class AlertRouting:
    """Notification channels by tier: one per destination of ``spec.alerts.destinations(tier)``."""

    channels: dict[Tier, list[gcp.monitoring.NotificationChannel]] = field(default_factory=dict)

    def ids(self, tier: Tier) -> list[pulumi.Output[str]]:
        """The channel names (``projects/.../notificationChannels/...``) of ``tier``."""
        return [c.name for c in self.channels.get(tier, [])]

    @property
    def page_channel(self) -> pulumi.Output[str]:
        """The PAGE tier's first channel: the ``alert_topic`` output of every pattern."""
        return self.channels[Tier.PAGE][0].name


@dataclass(frozen=True)
class ChannelSpec:
    """A notification channel for one destination: type, labels, sensitive labels."""

    type: str
    labels: Mapping[str, pulumi.Input[str]]
    sensitive: gcp.monitoring.NotificationChannelSensitiveLabelsArgs | None = None


def _email(d: Destination, config: pulumi.Config) -> ChannelSpec:
    return ChannelSpec("email", {"email_address": str(d.address)})


def _webhook(d: Destination, config: pulumi.Config) -> ChannelSpec:
    # An incident tool's events endpoint or a Teams workflow URL carries its key in the URL.
    # webhook_tokenauth has no sensitive label for the URL, so the Output stays a Pulumi secret
    # (encrypted in state, masked in previews); GCP keeps it as a channel label.
    assert d.secret is not None  # the spec requires it for webhooks  # nosec B101
    return ChannelSpec("webhook_tokenauth", {"url": config.require_secret(d.secret)})


def _slack(d: Destination, config: pulumi.Config) -> ChannelSpec:
    # Cloud Monitoring's Slack channel posts with the Slack app's OAuth token (a sensitive label,
    # write-only in the API) to a named channel: the secret holds the token, ``<secret>_channel``
    # the channel (docs/patterns/gcp.md).
    assert d.secret is not None  # nosec B101
    return ChannelSpec(
        "slack",
        {"channel_name": config.require(f"{d.secret}_channel")},
        gcp.monitoring.NotificationChannelSensitiveLabelsArgs(
            auth_token=config.require_secret(d.secret)
        ),
    )


# How each kind of destination becomes a channel: a table, not branches.
CHANNEL_KINDS: dict[DestinationKind, Callable[[Destination, pulumi.Config], ChannelSpec]] = {
    DestinationKind.EMAIL: _email,
    DestinationKind.EVENTS: _webhook,
    DestinationKind.TEAMS: _webhook,
    DestinationKind.SLACK: _slack,
}


def _target_of(d: Destination) -> str:
    return str(d.address) if d.kind is DestinationKind.EMAIL else f"{d.kind.value}:{d.secret}"


def create_routing(
    name: str, spec: DeploymentSpec, rules: Sequence[AlarmRule], opts: pulumi.ResourceOptions
) -> AlertRouting:
    """One channel per destination of each tier in use (``spec.alerts.destinations(tier)``).

    The PAGE and TICKET tiers always exist, even when no rule uses them (dev): every environment
    has the same escalation target, the ``alert_topic`` output, and a tier for the rollback
    reports. Logical names keep ``<name>-alerts-<tier>-<index>``, so the e-mail channels of
    stacks created before routes existed are kept.
    """
    always = (Tier.PAGE, Tier.TICKET)
    tiers = [t for t in Tier if t in always or any(r.tier is t for r in rules)]
    config = pulumi.Config()
    routing = AlertRouting()
    for tier in tiers:
        channels = []
        for index, destination in enumerate(spec.alerts.destinations(tier.value)):
            channel = CHANNEL_KINDS[destination.kind](destination, config)
            channels.append(
                gcp.monitoring.NotificationChannel(
                    f"{name}-alerts-{tier.value}-{index}",
                    gcp.monitoring.NotificationChannelArgs(
                        type=channel.type,
                        display_name=(
                            f"{spec.project} {spec.environment.value} {tier.value} "
                            f"{_target_of(destination)}"
                        ),
                        labels=channel.labels,
                        sensitive_labels=channel.sensitive,
                        user_labels=labels(spec, tier=tier.value),
                    ),
                    opts=opts,
                )
            )
        routing.channels[tier] = channels
    return routing


# An open alert closes itself after this long without data; an incident older than this is a
# stale retry to the rollback function (E6).
AUTO_CLOSE_SECONDS = 1800


def _threshold_condition(
    rule: AlarmRule, metrics: ServingMetrics
) -> gcp.monitoring.AlertPolicyConditionArgs:
    query = SIGNAL_QUERIES[rule.signal]
    filters = filters_for(query, metrics)
    aggregation = _aggregation(query, rule)
    # A count's window is its alignment; later periods must breach as well.
    periods = (
        rule.evaluation_periods - 1 if query.kind is QueryKind.COUNT else rule.evaluation_periods
    )
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=f"{rule.key} {rule.comparison.value} {rule.threshold:g}",
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=filters.filter,
            denominator_filter=filters.denominator,
            aggregations=[
                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(**aggregation)
            ],
            denominator_aggregations=(
                [
                    gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(
                        **aggregation
                    )
                ]
                if filters.denominator is not None
                else None
            ),
            comparison=COMPARISONS[rule.comparison],
            threshold_value=rule.threshold,
            duration=f"{rule.period_seconds * periods}s",
            trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
        ),
    )


def rollback_threshold(spec: DeploymentSpec, rule: AlarmRule) -> float:
    """The rule's threshold on GCP. The starved rule compares with the live split's share: a
    stack without a candidate routes 0% to the candidate slot and must not starve-alarm."""
    if rule.signal is Signal.CANARY_STARVED:
        return min(rule.threshold, traffic_split(spec)[1] / 200)
    return rule.threshold


def rollback_condition(
    spec: DeploymentSpec, rule: AlarmRule, target: pulumi.Output[Target]
) -> gcp.monitoring.AlertPolicyConditionArgs:
    """A rollback rule as a PromQL condition (ratios of two versions and the volume guard need
    more than a filter with one denominator): the query of release_watch.rule_query, evaluated
    over the rule's window, firing after one more period."""
    window = rule.period_seconds * rule.evaluation_periods
    guard = rule.min_requests * rule.evaluation_periods
    threshold = rollback_threshold(spec, rule)
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=f"{rule.key} {rule.comparison.value} {threshold:g}",
        condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
            query=target.apply(lambda t: rule_query(rule.key, t, threshold, window, guard)),
            duration=f"{rule.period_seconds}s",
            evaluation_interval="60s",
            # The candidate's metrics do not exist until it serves: validation would refuse.
            disable_metric_validation=True,
        ),
    )


def create_alert_policies(
    name: str,
    spec: DeploymentSpec,
    rules: Sequence[AlarmRule],
    metrics: ServingMetrics,
    routing: AlertRouting,
    opts: pulumi.ResourceOptions,
    rollback_channels: Sequence[pulumi.Input[str]] = (),
    target: pulumi.Output[Target] | None = None,
) -> dict[Signal, gcp.monitoring.AlertPolicy]:
    """One alert policy per rule, named ``alarm_name(spec, rule.key)``, routed to its tier.

    Rollback rules are PromQL conditions on ``target`` (whose user labels they carry, so the
    release watch finds what they guard from their names alone) and also notify the rollback
    channel.
    """
    policies: dict[Signal, gcp.monitoring.AlertPolicy] = {}
    for rule in rules:
        channels: list[pulumi.Input[str]] = list(routing.ids(rule.tier))
        base_labels = {
            "signal": rule.key,
            "tier": rule.tier.value,
            "rollback": str(rule.triggers_rollback).lower(),
            "environment": spec.environment.value,
        }
        user_labels: pulumi.Input[Mapping[str, str]] = base_labels
        if rule.triggers_rollback:
            if target is None:
                raise ValueError(f"rollback rule {rule.key} needs the target it guards")
            channels.extend(rollback_channels)
            condition = rollback_condition(spec, rule, target)
            user_labels = target.apply(functools.partial(_with_target, base_labels))
        else:
            condition = _threshold_condition(rule, metrics)
        policies[rule.signal] = gcp.monitoring.AlertPolicy(
            f"{name}-alarm-{rule.key}",
            gcp.monitoring.AlertPolicyArgs(
                display_name=alarm_name(spec, rule.key),
                combiner="OR",
                severity=SEVERITIES[rule.tier],
                conditions=[condition],
                notification_channels=channels,
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                    auto_close=f"{AUTO_CLOSE_SECONDS}s"
                ),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    mime_type="text/markdown",
                    content=_runbook(rule),
                ),
                user_labels=user_labels,
            ),
            opts=opts,
        )
    return policies


def _with_target(base: Mapping[str, str], target: Target) -> dict[str, str]:
    return {**base, **target.labels()}


# The rollback function's reports, by the tier field of its JSON log line: an unverifiable
# trigger (or a rollback that failed) pages; a rollback or a healthy hold is a ticket.
REPORT_KEYS: dict[Tier, str] = {Tier.PAGE: "rollback-page", Tier.TICKET: "rollback-report"}


def create_report_policies(
    name: str,
    spec: DeploymentSpec,
    routing: AlertRouting,
    function_name: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> dict[Tier, gcp.monitoring.AlertPolicy]:
    """Log-match alert policies that deliver the rollback function's reports to their tier."""
    policies = {}
    for tier, key in REPORT_KEYS.items():
        log_filter = pulumi.Output.concat(
            'resource.type="cloud_run_revision" AND resource.labels.service_name="',
            function_name,
            f'" AND jsonPayload.tier="{tier.value}"',
        )
        policies[tier] = gcp.monitoring.AlertPolicy(
            f"{name}-alarm-{key}",
            gcp.monitoring.AlertPolicyArgs(
                display_name=alarm_name(spec, key),
                combiner="OR",
                severity=SEVERITIES[tier],
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=f"rollback function reports at the {tier.value} tier",
                        condition_matched_log=gcp.monitoring.AlertPolicyConditionConditionMatchedLogArgs(
                            filter=log_filter,
                            label_extractors={
                                "action": "EXTRACT(jsonPayload.action)",
                                "rule": "EXTRACT(jsonPayload.rule)",
                            },
                        ),
                    )
                ],
                notification_channels=routing.ids(tier),
                # Log-match policies must rate-limit their notifications.
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                    auto_close=f"{AUTO_CLOSE_SECONDS}s",
                    notification_rate_limit=gcp.monitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs(
                        period="300s"
                    ),
                ),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    mime_type="text/markdown",
                    content=(
                        "The automatic rollback reported: read its log line (action, rule, "
                        "reason). A page means it could not verify the alert or could not move "
                        "traffic: decide now (docs/runbooks)."
                    ),
                ),
                user_labels={"tier": tier.value, "environment": spec.environment.value},
            ),
            opts=opts,
        )
    return policies


# The uptime check: every minute from Google's checkers, a failure when the endpoint does not
# answer 2xx within the timeout; the alert pages after two minutes of failed checks.
UPTIME_PERIOD = "60s"
UPTIME_TIMEOUT = "10s"
UPTIME_KEY = "health-uptime"


def create_uptime_check(
    name: str,
    spec: DeploymentSpec,
    project_id: pulumi.Input[str],
    host: pulumi.Input[str],
    path: str,
    routing: AlertRouting,
    opts: pulumi.ResourceOptions,
) -> tuple[gcp.monitoring.UptimeCheckConfig, gcp.monitoring.AlertPolicy]:
    """An uptime check on ``https://<host><path>`` (the health_url) and its PAGE-tier policy."""
    check = gcp.monitoring.UptimeCheckConfig(
        f"{name}-uptime",
        gcp.monitoring.UptimeCheckConfigArgs(
            display_name=alarm_name(spec, UPTIME_KEY),
            timeout=UPTIME_TIMEOUT,
            period=UPTIME_PERIOD,
            checker_type="STATIC_IP_CHECKERS",
            http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                path=path,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
            ),
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url",
                labels={"host": host, "project_id": project_id},
            ),
            user_labels=labels(spec, role="uptime"),
        ),
        opts=opts,
    )
    uptime_filter = pulumi.Output.concat(
        'metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND '
        'resource.type = "uptime_url" AND metric.label.check_id = "',
        check.uptime_check_id,
        '"',
    )
    policy = gcp.monitoring.AlertPolicy(
        f"{name}-alarm-{UPTIME_KEY}",
        gcp.monitoring.AlertPolicyArgs(
            display_name=alarm_name(spec, UPTIME_KEY),
            combiner="OR",
            severity=SEVERITIES[Tier.PAGE],
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{path} fails its uptime check",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=uptime_filter,
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period="120s",
                                per_series_aligner="ALIGN_NEXT_OLDER",
                                cross_series_reducer="REDUCE_COUNT_FALSE",
                                group_by_fields=["resource.label.host"],
                            )
                        ],
                        comparison="COMPARISON_GT",
                        threshold_value=1,
                        duration="120s",
                        trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(
                            count=1
                        ),
                    ),
                )
            ],
            notification_channels=routing.ids(Tier.PAGE),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                auto_close=f"{AUTO_CLOSE_SECONDS}s"
            ),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                content=f"GET https://<host>{path} fails from more than one checker region.",
            ),
            user_labels={"tier": Tier.PAGE.value, "environment": spec.environment.value},
        ),
        opts=opts,
    )
    return check, policy


def _runbook(rule: AlarmRule) -> str:
    action = (
        "The rollback function resets the traffic split to the stable version automatically. "
        "Confirm the split, then remove the candidate from the stack config and `pulumi up`."
        if rule.triggers_rollback
        else "See docs/runbooks in the project; roll back manually if a release caused it."
    )
    return f"{rule.signal.value} {rule.comparison.value} {rule.threshold:g}. {action}"


def create_dashboard(
    name: str,
    spec: DeploymentSpec,
    metrics: ServingMetrics,
    signals: Sequence[Signal],
    extra_metrics: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> gcp.monitoring.Dashboard:
    """A dashboard with one chart per signal plus ``extra_metrics`` (title -> filter)."""
    charts: dict[str, pulumi.Output[str]] = {}
    for signal in signals:
        if signal not in SIGNAL_QUERIES:  # ratio and starved rules are PromQL: no filter chart
            continue
        charts[signal.value] = filters_for(SIGNAL_QUERIES[signal], metrics).filter
    for title, metric_filter in extra_metrics.items():
        charts[title] = pulumi.Output.from_input(metric_filter)
    titles = list(charts)

    def render(filters: list[str]) -> str:
        tiles = [
            {
                "xPos": (i % 2) * 6,
                "yPos": (i // 2) * 4,
                "width": 6,
                "height": 4,
                "widget": {
                    "title": title,
                    "xyChart": {
                        "dataSets": [{"timeSeriesQuery": {"timeSeriesFilter": {"filter": f}}}]
                    },
                },
            }
            for i, (title, f) in enumerate(zip(titles, filters, strict=True))
        ]
        return json.dumps(
            {
                "displayName": f"{spec.project} {spec.environment.value}",
                "mosaicLayout": {"columns": 12, "tiles": tiles},
            },
            sort_keys=True,
        )

    dashboard_json = pulumi.Output.all(*charts.values()).apply(lambda fs: render(list(fs)))
    return gcp.monitoring.Dashboard(
        f"{name}-dashboard", gcp.monitoring.DashboardArgs(dashboard_json=dashboard_json), opts=opts
    )


def dashboard_name(dashboard: gcp.monitoring.Dashboard, spec: DeploymentSpec) -> pulumi.Output[str]:
    """The dashboard's display name (its id is a generated path)."""
    return dashboard.id.apply(lambda _: f"{spec.project} {spec.environment.value}")


# -- LLM guardrails: blocked calls from the model server's log lines --------------------------
# The model server writes one JSON line per blocked call (components.llm.BLOCKED_EVENT), with
# the side it stopped in ``direction`` and never the prompt or the answer: one log-based counter
# of those lines, labelled by direction, feeds both guardrail signals.
GUARDRAIL_DIRECTION_LABEL = "direction"
GUARDRAIL_SIGNALS: dict[Signal, Direction] = {
    Signal.GUARDRAIL_BLOCKED_PROMPTS: Direction.PROMPT,
    Signal.GUARDRAIL_BLOCKED_RESPONSES: Direction.RESPONSE,
}


def blocked_log_filter(services: Sequence[str]) -> str:
    """The Cloud Logging filter selecting the blocked-call lines of ``services``."""
    names = " OR ".join(f'"{s}"' for s in services)
    return (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name=({names}) AND '
        f'jsonPayload.event="{BLOCKED_EVENT}"'
    )


def guardrail_metric_name(spec: DeploymentSpec) -> str:
    """The log-based metric's name (unique in the project: it carries project and env)."""
    return resource_name(
        "gcp", "default", spec.project, spec.environment.value, "guardrail-blocked"
    )


def create_guardrail_metric(
    name: str,
    spec: DeploymentSpec,
    services: pulumi.Input[Sequence[str]],
    opts: pulumi.ResourceOptions,
) -> gcp.logging.Metric:
    """A counter of blocked calls with a ``direction`` label, from the services' log lines."""
    return gcp.logging.Metric(
        f"{name}-metric-guardrail-blocked",
        gcp.logging.MetricArgs(
            name=guardrail_metric_name(spec),
            description=(
                f"LLM calls the guardrail blocked, by direction ({spec.environment.value})"
            ),
            filter=pulumi.Output.from_input(services).apply(lambda s: blocked_log_filter(list(s))),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key=GUARDRAIL_DIRECTION_LABEL,
                        value_type="STRING",
                        description="prompt (refused) or response (withheld)",
                    )
                ],
            ),
            label_extractors={
                GUARDRAIL_DIRECTION_LABEL: f"EXTRACT(jsonPayload.{GUARDRAIL_DIRECTION_LABEL})"
            },
        ),
        opts=opts,
    )


def guardrail_metric_filters(metric: gcp.logging.Metric) -> dict[str, pulumi.Output[str]]:
    """The Cloud Monitoring filter of each guardrail signal's series (``ServingMetrics.gauges``
    entries, keyed as SIGNAL_QUERIES names them)."""
    out: dict[str, pulumi.Output[str]] = {}
    for signal, direction in GUARDRAIL_SIGNALS.items():
        out[SIGNAL_QUERIES[signal].gauge] = pulumi.Output.concat(
            'metric.type = "logging.googleapis.com/user/',
            metric.name,
            '" AND resource.type = "cloud_run_revision" AND ',
            f'metric.label.{GUARDRAIL_DIRECTION_LABEL} = "{direction.value}"',
        )
    return out
