"""Cloud Monitoring for every GCP pattern: alert routing, alert policies, dashboards.

The alarm rules themselves are cloud-neutral (components.alarms). This module maps each
:class:`Signal` to a Cloud Monitoring query with two lookup tables: ``SIGNAL_QUERIES`` says what
kind of query a signal is (a latency percentile or a ratio of responses), and a
:class:`ServingMetrics` says where one serving platform (an HTTPS load balancer, a Vertex AI
endpoint, ...) publishes its request counts and latencies. Adding a platform is adding a
``ServingMetrics``; adding a signal is adding a table row. No per-signal branches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import pulumi
import pulumi_gcp as gcp

from components.alarms import AlarmRule, Comparison, Signal, Tier
from components.gcp.security import labels
from components.spec import DeploymentSpec


class QueryKind(str, Enum):
    """The two shapes of serving signal."""

    LATENCY = "latency"  # a percentile of a latency distribution, in ms
    RATIO = "ratio"  # responses of one outcome / all responses
    GAUGE = "gauge"  # a value the platform reports directly (queue depth, message age)


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
    gauge: str = ""  # for GAUGE: a key of ServingMetrics.gauges
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


@dataclass(frozen=True)
class MetricFilters:
    """The filters a signal needs: numerator (or the distribution) and, for ratios, all traffic."""

    filter: pulumi.Output[str]
    denominator: pulumi.Output[str] | None


def filters_for(query: SignalQuery, metrics: ServingMetrics) -> MetricFilters:
    """The Cloud Monitoring filters of ``query`` on ``metrics``' platform."""
    if query.kind is QueryKind.GAUGE:
        return MetricFilters(pulumi.Output.from_input(metrics.gauges[query.gauge]), None)
    scope = metrics.scopes[query.scope]
    if query.kind is QueryKind.LATENCY:
        return MetricFilters(
            pulumi.Output.concat('metric.type = "', metrics.latency, '" AND ', scope), None
        )
    total = pulumi.Output.concat('metric.type = "', metrics.requests, '" AND ', scope)
    return MetricFilters(
        pulumi.Output.concat(total, " AND ", metrics.outcomes[query.outcome]), total
    )


def _aggregation(query: SignalQuery) -> dict[str, str]:
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
    """Notification channels by tier; every email address of the spec is on every tier."""

    channels: dict[Tier, list[gcp.monitoring.NotificationChannel]] = field(default_factory=dict)

    def ids(self, tier: Tier) -> list[pulumi.Output[str]]:
        """The channel names (``projects/.../notificationChannels/...``) of ``tier``."""
        return [c.name for c in self.channels.get(tier, [])]

    @property
    def page_channel(self) -> pulumi.Output[str]:
        """The PAGE tier's first channel: the ``alert_topic`` output of every pattern."""
        return self.channels[Tier.PAGE][0].name


def create_routing(
    name: str, spec: DeploymentSpec, rules: Sequence[AlarmRule], opts: pulumi.ResourceOptions
) -> AlertRouting:
    """One email channel per (tier, address) for every tier in use.

    The PAGE tier always exists, even when no rule pages (dev), so every environment has the
    same escalation target and the ``alert_topic`` output.
    """
    tiers = [t for t in Tier if t is Tier.PAGE or any(r.tier is t for r in rules)]
    routing = AlertRouting()
    for tier in tiers:
        routing.channels[tier] = [
            gcp.monitoring.NotificationChannel(
                f"{name}-alerts-{tier.value}-{index}",
                gcp.monitoring.NotificationChannelArgs(
                    type="email",
                    display_name=f"{spec.project} {spec.environment.value} {tier.value} {email}",
                    labels={"email_address": email},
                    user_labels=labels(spec, tier=tier.value),
                ),
                opts=opts,
            )
            for index, email in enumerate(spec.alerts.emails)
        ]
    return routing


def create_alert_policies(
    name: str,
    spec: DeploymentSpec,
    rules: Sequence[AlarmRule],
    metrics: ServingMetrics,
    routing: AlertRouting,
    opts: pulumi.ResourceOptions,
    rollback_channels: Sequence[pulumi.Input[str]] = (),
) -> dict[Signal, gcp.monitoring.AlertPolicy]:
    """One alert policy per rule, routed to its tier; rollback rules also to the rollback path."""
    policies: dict[Signal, gcp.monitoring.AlertPolicy] = {}
    for rule in rules:
        query = SIGNAL_QUERIES[rule.signal]
        filters = filters_for(query, metrics)
        aggregation = _aggregation(query)
        channels: list[pulumi.Input[str]] = list(routing.ids(rule.tier))
        if rule.triggers_rollback:
            channels.extend(rollback_channels)
        policies[rule.signal] = gcp.monitoring.AlertPolicy(
            f"{name}-alarm-{rule.key}",
            gcp.monitoring.AlertPolicyArgs(
                display_name=f"{spec.project} {spec.environment.value} {rule.key}",
                combiner="OR",
                severity=SEVERITIES[rule.tier],
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=f"{rule.key} {rule.comparison.value} {rule.threshold:g}",
                        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                            filter=filters.filter,
                            denominator_filter=filters.denominator,
                            aggregations=[
                                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                    **aggregation
                                )
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
                            duration=f"{rule.period_seconds * rule.evaluation_periods}s",
                            trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(
                                count=1
                            ),
                        ),
                    )
                ],
                notification_channels=channels,
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    mime_type="text/markdown",
                    content=_runbook(rule),
                ),
                user_labels={
                    "signal": rule.key,
                    "tier": rule.tier.value,
                    "rollback": str(rule.triggers_rollback).lower(),
                    "environment": spec.environment.value,
                },
            ),
            opts=opts,
        )
    return policies


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
