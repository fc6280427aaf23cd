"""Azure Monitor building blocks: alert routing, alarms from components.alarms rules, dashboards.

Every :class:`~components.alarms.AlarmRule` becomes one Azure Monitor alert. Percentiles and
ratios (p99 latency, 5xx rate, availability) cannot be expressed by platform metric alerts
(which offer average/min/max/count of one metric), so serving alarms are log search alerts
(``ScheduledQueryRule``) over the resource-specific request logs the diagnostic settings send to
Log Analytics. Where a platform metric already is the signal (CPU, memory, GPU) a metric alert
is used. Which log table and columns hold a pattern's requests is a :class:`RequestLog`; how
each :class:`~components.alarms.Signal` is computed from it is the ``SIGNAL_EXPRESSIONS`` table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components.alarms import AlarmRule, Comparison, Signal, Tier
from components.naming import resource_name
from components.spec import DeploymentSpec


@dataclass(frozen=True)
class LogView:
    """Rows of one Log Analytics table: ``latency_ms`` and ``status`` are KQL expressions over
    its columns, ``where`` keeps the rows that belong to this deployment."""

    table: str
    latency_ms: str
    status: str
    where: str


@dataclass(frozen=True)
class RequestLog:
    """Where one pattern's requests are logged: all traffic, and the candidate's alone."""

    serving: LogView
    candidate: LogView


@dataclass(frozen=True)
class SignalExpression:
    """How one signal is computed per evaluation period from a :class:`RequestLog`."""

    candidate_only: bool
    kql: str  # a KQL aggregate; {latency} and {status} are the RequestLog's expressions


_RATE_5XX = "todouble(countif({status} >= 500)) / count()"

# Signal -> KQL aggregate. One row per signal; the event-driven pattern adds its own signals
# (queue depth, dead letters) by passing a larger table to :func:`alarm`.
SIGNAL_EXPRESSIONS: dict[Signal, SignalExpression] = {
    Signal.LATENCY_P50: SignalExpression(False, "percentile({latency}, 50)"),
    Signal.LATENCY_P95: SignalExpression(False, "percentile({latency}, 95)"),
    Signal.LATENCY_P99: SignalExpression(False, "percentile({latency}, 99)"),
    Signal.ERROR_RATE_4XX: SignalExpression(
        False, "todouble(countif({status} >= 400 and {status} < 500)) / count()"
    ),
    Signal.ERROR_RATE_5XX: SignalExpression(False, _RATE_5XX),
    Signal.AVAILABILITY: SignalExpression(False, f"1.0 - {_RATE_5XX}"),
    Signal.CANARY_ERROR_RATE: SignalExpression(True, _RATE_5XX),
    Signal.CANARY_LATENCY_P99: SignalExpression(True, "percentile({latency}, 99)"),
}

# Alert severity (0 critical .. 4 verbose) by tier.
TIER_SEVERITY: dict[Tier, int] = {Tier.PAGE: 1, Tier.TICKET: 2, Tier.INFO: 3}

# ARM operator names, and the aggregate over periods that makes a breach "sustained": a rule
# above its threshold fires only when even the best period of the window breaches.
_OPERATOR: dict[Comparison, str] = {
    Comparison.ABOVE: "GreaterThan",
    Comparison.BELOW: "LessThan",
}
_SUSTAINED: dict[Comparison, str] = {Comparison.ABOVE: "min", Comparison.BELOW: "max"}

# Window sizes a log search alert accepts (minutes); a rule's window rounds up to one of these
# and the query itself looks back exactly periods x period.
_ALLOWED_WINDOWS_MIN: tuple[int, ...] = (1, 5, 10, 15, 30, 45, 60, 120, 180, 240, 300, 360)


def _iso_minutes(minutes: int) -> str:
    return f"PT{minutes // 60}H" if minutes >= 60 and minutes % 60 == 0 else f"PT{minutes}M"


def window_minutes(rule: AlarmRule) -> int:
    """The smallest accepted alert window covering the rule's evaluation periods."""
    needed = max(1, -(-rule.period_seconds * rule.evaluation_periods // 60))
    return next((w for w in _ALLOWED_WINDOWS_MIN if w >= needed), _ALLOWED_WINDOWS_MIN[-1])


def alarm_query(
    rule: AlarmRule,
    log: RequestLog,
    expressions: Mapping[Signal, SignalExpression] = SIGNAL_EXPRESSIONS,
) -> str:
    """The KQL of one alarm: one value per period, and only if every period breached.

    Missing periods mean no row and so no alert: an idle endpoint does not page anyone, and the
    availability alarm (a ratio over real requests) is not fooled by silence either.
    """
    lookback = rule.period_seconds * rule.evaluation_periods
    table, where, summarize = _series(rule, log, expressions)
    return "\n".join(
        [
            table,
            f"| where TimeGenerated > ago({lookback}s)",
            where,
            summarize,
            f"| summarize value = {_SUSTAINED[rule.comparison]}(value), periods = count()",
            f"| where periods >= {rule.evaluation_periods}",
        ]
    )


def _series(
    rule: AlarmRule, log: RequestLog, expressions: Mapping[Signal, SignalExpression]
) -> tuple[str, str, str]:
    """The table, row filter and per-period aggregate of one rule's signal (KQL lines)."""
    expr = expressions[rule.signal]
    view = log.candidate if expr.candidate_only else log.serving
    aggregate = expr.kql.format(latency=view.latency_ms, status=view.status)
    return (
        view.table,
        f"| where {view.where}",
        f"| summarize value = {aggregate} by bin(TimeGenerated, {rule.period_seconds}s)",
    )


def alert_channels(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    tiers: Sequence[Tier],
    opts: pulumi.ResourceOptions,
) -> dict[Tier, monitor.ActionGroup]:
    """One action group per tier used, each emailing every address in ``spec.alerts.emails``."""
    channels: dict[Tier, monitor.ActionGroup] = {}
    for tier in Tier:
        if tier not in tiers:
            continue
        channels[tier] = monitor.ActionGroup(
            f"{name}-alerts-{tier.value}",
            resource_group_name=rg.name,
            location="global",
            enabled=True,
            group_short_name=f"aid-{tier.value}"[:12],
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=f"{tier.value}-{i}", email_address=email, use_common_alert_schema=True
                )
                for i, email in enumerate(spec.alerts.emails)
            ],
            tags=spec.standard_tags(),
            opts=opts,
        )
    return channels


def primary_channel(channels: Mapping[Tier, monitor.ActionGroup]) -> monitor.ActionGroup:
    """The most urgent channel that exists (the page tier where anything pages)."""
    for tier in (Tier.PAGE, Tier.TICKET, Tier.INFO):
        if tier in channels:
            return channels[tier]
    raise ValueError("no alert channel was created")


def alarm_rule_name(spec: DeploymentSpec, rule: AlarmRule) -> str:
    """The alert rule's Azure name: fixed, so the rollback service can recognise its alerts."""
    return resource_name("azure", "default", spec.project, spec.environment.value, rule.key)


def alarm(
    spec: DeploymentSpec,
    name: str,
    rule: AlarmRule,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    log: RequestLog,
    action_groups: Sequence[pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
    expressions: Mapping[Signal, SignalExpression] = SIGNAL_EXPRESSIONS,
) -> monitor.ScheduledQueryRule:
    """One log search alert for ``rule`` on ``workspace``, notifying ``action_groups``."""
    return monitor.ScheduledQueryRule(
        f"{name}-alarm-{rule.key}",
        rule_name=alarm_rule_name(spec, rule),
        resource_group_name=rg.name,
        location=spec.region,
        kind="LogAlert",
        display_name=f"{spec.project} {spec.environment.value} {rule.key}",
        description=(
            f"{rule.signal.value} {rule.comparison.value} {rule.threshold:g} for "
            f"{rule.evaluation_periods} x {rule.period_seconds}s (tier {rule.tier.value}"
            f"{', rolls back the candidate' if rule.triggers_rollback else ''})"
        ),
        enabled=True,
        severity=TIER_SEVERITY[rule.tier],
        scopes=[workspace.id],
        evaluation_frequency="PT1M",
        window_size=_iso_minutes(window_minutes(rule)),
        auto_mitigate=True,
        criteria=monitor.ScheduledQueryRuleCriteriaArgs(
            all_of=[
                monitor.ConditionArgs(
                    query=alarm_query(rule, log, expressions),
                    time_aggregation=monitor.TimeAggregation.MAXIMUM,
                    metric_measure_column="value",
                    operator=_OPERATOR[rule.comparison],
                    threshold=float(rule.threshold),
                    failing_periods=monitor.ConditionFailingPeriodsArgs(
                        number_of_evaluation_periods=1, min_failing_periods_to_alert=1
                    ),
                )
            ]
        ),
        actions=monitor.ActionsArgs(
            action_groups=list(action_groups),
            custom_properties={
                "aideploy-signal": rule.signal.value,
                "aideploy-tier": rule.tier.value,
                "aideploy-rollback": str(rule.triggers_rollback).lower(),
            },
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )


def alarms(
    spec: DeploymentSpec,
    name: str,
    rules: Sequence[AlarmRule],
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    log: RequestLog,
    channels: Mapping[Tier, monitor.ActionGroup],
    rollback_group: monitor.ActionGroup | None,
    opts: pulumi.ResourceOptions,
) -> list[monitor.ScheduledQueryRule]:
    """One alarm per rule, routed to its tier's channel; rollback rules also to the rollback."""
    created = []
    for rule in rules:
        groups: list[pulumi.Input[str]] = [channels[rule.tier].id]
        if rule.triggers_rollback and rollback_group is not None:
            groups.append(rollback_group.id)
        created.append(alarm(spec, name, rule, rg, workspace, log, groups, opts))
    return created


@dataclass(frozen=True)
class MetricWatch:
    """A platform metric alert: one metric of one resource against a fixed threshold."""

    key: str
    namespace: str
    metric: str
    aggregation: str
    threshold: float
    tier: Tier
    dimensions: Mapping[str, str] | None = None


def metric_alert(
    spec: DeploymentSpec,
    name: str,
    watch: MetricWatch,
    scope: pulumi.Input[str],
    rg: resources.ResourceGroup,
    channels: Mapping[Tier, monitor.ActionGroup],
    opts: pulumi.ResourceOptions,
) -> monitor.MetricAlert:
    """A metric alert on one resource (utilisation signals the platform already measures)."""
    return monitor.MetricAlert(
        f"{name}-metric-{watch.key}",
        resource_group_name=rg.name,
        location="global",
        description=f"{watch.metric} {watch.aggregation} above {watch.threshold:g}",
        enabled=True,
        severity=TIER_SEVERITY[watch.tier],
        scopes=[scope],
        evaluation_frequency="PT1M",
        window_size="PT5M",
        auto_mitigate=True,
        criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
            odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
            all_of=[
                monitor.MetricCriteriaArgs(
                    criterion_type="StaticThresholdCriterion",
                    name=watch.key,
                    metric_namespace=watch.namespace,
                    metric_name=watch.metric,
                    time_aggregation=watch.aggregation,
                    operator="GreaterThan",
                    threshold=watch.threshold,
                    dimensions=[
                        monitor.MetricDimensionArgs(name=k, operator="Include", values=[v])
                        for k, v in (watch.dimensions or {}).items()
                    ],
                )
            ],
        ),
        actions=[monitor.MetricAlertActionArgs(action_group_id=channels[watch.tier].id)],
        tags=spec.standard_tags(),
        opts=opts,
    )


def workbook(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    log: RequestLog,
    rules: Sequence[AlarmRule],
    opts: pulumi.ResourceOptions,
    expressions: Mapping[Signal, SignalExpression] = SIGNAL_EXPRESSIONS,
    purpose: str = "serving",
) -> applicationinsights.Workbook:
    """An Azure Monitor workbook (the dashboard): one chart per alarm's signal, same KQL.

    ``expressions`` as for :func:`alarm` (a pattern with its own signals passes its table);
    ``purpose`` ends the display name.
    """
    display = f"{spec.project} {spec.environment.value} {purpose}"

    def serialize(workspace_id: str) -> str:
        items = [
            {
                "type": 3,
                "name": rule.key,
                "content": {
                    "version": "KqlItem/1.0",
                    "title": f"{rule.signal.value} (threshold {rule.threshold:g})",
                    "query": "\n".join([*_series(rule, log, expressions), "| render timechart"]),
                    "queryType": 0,
                    "resourceType": "microsoft.operationalinsights/workspaces",
                    "crossComponentResources": [workspace_id],
                    "visualization": "timechart",
                },
            }
            for rule in rules
        ]
        return json.dumps({"version": "Notebook/1.0", "items": items, "isLocked": False})

    return applicationinsights.Workbook(
        f"{name}-dashboard",
        # A workbook's name must be a GUID; derive a stable one so updates replace nothing.
        resource_name_=str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"aideploy/{spec.project}/{spec.environment.value}")
        ),
        resource_group_name=rg.name,
        location=spec.region,
        kind=applicationinsights.WorkbookSharedTypeKind.SHARED,
        category="workbook",
        display_name=display,
        serialized_data=workspace.id.apply(serialize),
        source_id=workspace.id,
        tags=spec.standard_tags(),
        opts=opts,
    )


@dataclass(frozen=True)
class ServingMonitoring:
    """Channels per tier, one alarm per rule, and the dashboard of one serving endpoint."""

    channels: Mapping[Tier, monitor.ActionGroup]
    alarms: list[monitor.ScheduledQueryRule]
    dashboard: applicationinsights.Workbook

    @property
    def alert_topic(self) -> pulumi.Output[str]:
        """The most urgent channel's id (the page tier's wherever anything pages)."""
        return primary_channel(self.channels).id


def serving_monitoring(
    spec: DeploymentSpec,
    name: str,
    rules: Sequence[AlarmRule],
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    log: RequestLog,
    rollback_group: monitor.ActionGroup | None,
    opts: pulumi.ResourceOptions,
) -> ServingMonitoring:
    """Everything policy S1/S2 asks of an endpoint: routed alarms, rollback wiring, dashboard."""
    channels = alert_channels(spec, name, rg, [r.tier for r in rules], opts)
    created = alarms(spec, name, rules, rg, workspace, log, channels, rollback_group, opts)
    dashboard = workbook(spec, name, rg, workspace, log, rules, opts)
    return ServingMonitoring(channels, created, dashboard)
