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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.alertsmanagement as alertsmanagement
import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components import llm
from components.alarms import (
    AlarmRule,
    Comparison,
    Signal,
    Tier,
    alarm_name,
    guardrail_alarms,
    traffic_split,
)
from components.spec import DeploymentSpec, DestinationKind


@dataclass(frozen=True)
class LogView:
    """Rows of one Log Analytics table: ``latency_ms`` and ``status`` are KQL expressions over
    its columns, ``where`` keeps the rows that belong to this deployment, and ``failed`` (a
    KQL condition over ``{status}``) says which rows are failures: 5xx, and timeouts where the
    table reports them with another code."""

    table: str
    latency_ms: str
    status: str
    where: str
    failed: str = "{status} >= 500"

    def failure(self) -> str:
        """The KQL condition that marks one row as failed."""
        return self.failed.format(status=self.status)


@dataclass(frozen=True)
class RequestLog:
    """Where one pattern's requests are logged: all traffic, the candidate's and the stable
    version's alone, and the failures the gateway generated without reaching any version
    (a backend timeout, an unreachable revision: review E3), which count against the candidate
    while one is live (a rollback returns to the version that served alone before; E.10)."""

    serving: LogView
    candidate: LogView
    stable: LogView | None = None
    gateway_failures: LogView | None = None


@dataclass(frozen=True)
class SignalExpression:
    """How one signal is computed per evaluation period from a :class:`RequestLog`."""

    candidate_only: bool
    kql: str  # a KQL aggregate; {latency} and {status} are the RequestLog's expressions


_RATE_5XX = "todouble(countif({status} >= 500)) / count()"

# Signal -> KQL aggregate over all traffic. One row per signal; the event-driven pattern adds
# its own signals (queue depth, dead letters) by passing a larger table to :func:`alarm`. The
# candidate's rollback signals compare versions and carry a volume guard: CANDIDATE_SIGNALS.
SIGNAL_EXPRESSIONS: dict[Signal, SignalExpression] = {
    Signal.LATENCY_P50: SignalExpression(False, "percentile({latency}, 50)"),
    Signal.LATENCY_P95: SignalExpression(False, "percentile({latency}, 95)"),
    Signal.LATENCY_P99: SignalExpression(False, "percentile({latency}, 99)"),
    Signal.ERROR_RATE_4XX: SignalExpression(
        False, "todouble(countif({status} >= 400 and {status} < 500)) / count()"
    ),
    Signal.ERROR_RATE_5XX: SignalExpression(False, _RATE_5XX),
    Signal.AVAILABILITY: SignalExpression(False, f"1.0 - {_RATE_5XX}"),
}


def sample_query(log: RequestLog) -> str:
    """The KQL the rollback service and the pipeline's watch read fresh samples with: one row
    per version (``candidate``, ``stable``) with ``requests``, ``errors_5xx`` and ``p99_ms``,
    from the same rows and failure rule as the rollback alerts (gateway failures count against
    the candidate). The caller bounds the time with the query API's ``timespan``."""
    stable = _stable(log)

    def part(view: LogView, version: str, failed: str, latency: str) -> str:
        return (
            f'({view.table} | where {view.where} | project version = "{version}",'
            f" failed = ({failed}), latency = todouble({latency}))"
        )

    parts = [
        part(log.candidate, "candidate", log.candidate.failure(), log.candidate.latency_ms),
        part(stable, "stable", stable.failure(), stable.latency_ms),
    ]
    if log.gateway_failures is not None:
        parts.append(part(log.gateway_failures, "candidate", "true", "real(null)"))
    return "\n".join(
        [
            "union " + ", ".join(parts),
            "| summarize requests = count(), errors_5xx = countif(failed),"
            " p99_ms = percentile(latency, 99) by version",
        ]
    )


# The rollback rules' custom property holding sample_query (release_watch.SAMPLES_PROPERTY).
SAMPLES_PROPERTY = "aideploy-samples"

# Alert severity (0 critical .. 4 verbose) by tier.
TIER_SEVERITY: dict[Tier, int] = {Tier.PAGE: 1, Tier.TICKET: 2, Tier.INFO: 3}

# ARM operator names, and the aggregate over periods that makes a breach "sustained": a rule
# above its threshold fires only when even the best period of the window breaches.
_OPERATOR: dict[Comparison, str] = {
    Comparison.ABOVE: "GreaterThan",
    Comparison.BELOW: "LessThan",
}
_SUSTAINED: dict[Comparison, str] = {Comparison.ABOVE: "min", Comparison.BELOW: "max"}

# Window sizes a log search alert accepts (minutes); a rule's window rounds up to one of these.
_ALLOWED_WINDOWS_MIN: tuple[int, ...] = (1, 5, 10, 15, 30, 45, 60, 120, 180, 240, 300, 360)

# Request logs reach Log Analytics minutes after the request (Application Insights and
# diagnostic-setting tables: typically 1-5 min; review E3). A query judges only periods that
# ended at least this long ago, so a period is complete when it is judged, and never the
# current, partial one.
INGESTION_ALLOWANCE_SECONDS = 300
# The stable version's p99 is floored at this many ms in the latency ratio, so an idle stable
# version measuring 0 ms does not turn every candidate request into an infinite ratio.
RATIO_FLOOR_MS = 1.0


def _iso_minutes(minutes: int) -> str:
    return f"PT{minutes // 60}H" if minutes >= 60 and minutes % 60 == 0 else f"PT{minutes}M"


def lookback_seconds(rule: AlarmRule) -> int:
    """How far back a rule's query reads: its periods, behind the ingestion allowance."""
    return rule.period_seconds * rule.evaluation_periods + INGESTION_ALLOWANCE_SECONDS


def window_minutes(rule: AlarmRule) -> int:
    """The smallest accepted alert window covering the query's look-back (plus one period for
    bin alignment): the service limits the query to the window, so a shorter one would cut it."""
    needed = -(-(lookback_seconds(rule) + rule.period_seconds) // 60)
    return next((w for w in _ALLOWED_WINDOWS_MIN if w >= needed), _ALLOWED_WINDOWS_MIN[-1])


def time_bounds(rule: AlarmRule) -> list[str]:
    """KQL ``let`` lines: ``start``/``end`` of the rule's complete, ingested periods.

    ``end`` is the start of the current period minus the ingestion allowance, so the partial
    current bin is dropped and every bin judged has had time to arrive (review E3).
    """
    p = rule.period_seconds
    return [
        f"let end = bin(now(), {p}s) - {INGESTION_ALLOWANCE_SECONDS}s;",
        f"let start = end - {p * rule.evaluation_periods}s;",
    ]


def _rows(view: LogView) -> list[str]:
    return [
        view.table,
        "| where TimeGenerated >= start and TimeGenerated < end",
        f"| where {view.where}",
    ]


def _inline(lines: Sequence[str]) -> str:
    return " ".join(line.strip() for line in lines)


def _per_bin(rule: AlarmRule) -> str:
    return f"bin(TimeGenerated, {rule.period_seconds}s)"


def _guard(rule: AlarmRule) -> list[str]:
    """The volume guard: a period with fewer candidate requests does not count (E.10 step 1)."""
    return [f"| where requests >= {rule.min_requests}"] if rule.min_requests else []


def _candidate_error_rate(rule: AlarmRule, log: RequestLog) -> list[str]:
    """Failed candidate requests per request, the gateway's own failures included."""
    parts = [
        _inline(
            [
                *_rows(log.candidate),
                f"| project TimeGenerated, failed = ({log.candidate.failure()})",
            ]
        )
    ]
    if log.gateway_failures is not None:
        parts.append(
            _inline([*_rows(log.gateway_failures), "| project TimeGenerated, failed = true"])
        )
    source = parts[0] if len(parts) == 1 else "union (" + "), (".join(parts) + ")"
    return [
        source,
        "| summarize requests = count(), errors = countif(failed)"
        f" by TimeGenerated = {_per_bin(rule)}",
        *_guard(rule),
        "| extend value = todouble(errors) / requests",
    ]


def _candidate_p99(rule: AlarmRule, log: RequestLog) -> list[str]:
    """The candidate's own p99 (the absolute ceiling)."""
    v = log.candidate
    return [
        *_rows(v),
        f"| summarize requests = count(), value = percentile({v.latency_ms}, 99)"
        f" by TimeGenerated = {_per_bin(rule)}",
        *_guard(rule),
    ]


def _stable(log: RequestLog) -> LogView:
    if log.stable is None:
        raise ValueError("a candidate-versus-stable rule needs the stable version's log view")
    return log.stable


def _candidate_latency_ratio(rule: AlarmRule, log: RequestLog) -> list[str]:
    """Candidate p99 / the stable version's measured p99, bin by bin (review E4)."""
    c, s = log.candidate, _stable(log)
    return [
        "let candidate = "
        + _inline(
            [
                *_rows(c),
                f"| summarize requests = count(), p99 = percentile({c.latency_ms}, 99)"
                f" by TimeGenerated = {_per_bin(rule)}",
                *_guard(rule),
            ]
        )
        + ";",
        "let stable = "
        + _inline(
            [
                *_rows(s),
                f"| summarize stable_p99 = percentile({s.latency_ms}, 99)"
                f" by TimeGenerated = {_per_bin(rule)}",
            ]
        )
        + ";",
        "candidate",
        "| join kind=inner stable on TimeGenerated",
        f"| extend value = p99 / max_of(stable_p99, {RATIO_FLOOR_MS})",
    ]


def _candidate_starved(rule: AlarmRule, log: RequestLog) -> list[str]:
    """The candidate's share of requests in periods where stable serves (>= the guard)."""
    c, s = log.candidate, _stable(log)
    stable_guard = [f"| where stable_requests >= {rule.min_requests}"] if rule.min_requests else []
    return [
        "let candidate = "
        + _inline(
            [*_rows(c), f"| summarize requests = count() by TimeGenerated = {_per_bin(rule)}"]
        )
        + ";",
        "let stable = "
        + _inline(
            [
                *_rows(s),
                f"| summarize stable_requests = count() by TimeGenerated = {_per_bin(rule)}",
                *stable_guard,
            ]
        )
        + ";",
        "stable",
        "| join kind=leftouter candidate on TimeGenerated",
        "| extend requests = coalesce(requests, 0)",
        "| extend value = todouble(requests) / (requests + stable_requests)",
    ]


# The candidate's rollback signals: each compares the candidate with its own guard, or with the
# stable version, per period (one function per signal: the query shapes differ).
CandidateSeries = Callable[[AlarmRule, RequestLog], list[str]]
CANDIDATE_SIGNALS: dict[Signal, CandidateSeries] = {
    Signal.CANARY_ERROR_RATE: _candidate_error_rate,
    Signal.CANARY_LATENCY_P99: _candidate_p99,
    Signal.CANARY_LATENCY_RATIO: _candidate_latency_ratio,
    Signal.CANARY_STARVED: _candidate_starved,
}


def series_query(
    rule: AlarmRule,
    log: RequestLog,
    expressions: Mapping[Signal, SignalExpression] = SIGNAL_EXPRESSIONS,
) -> list[str]:
    """KQL lines yielding one ``value`` per period (``TimeGenerated``) between ``start`` and
    ``end`` (bound by the caller's ``let`` lines)."""
    candidate = CANDIDATE_SIGNALS.get(rule.signal)
    if candidate is not None:
        return candidate(rule, log)
    expr = expressions[rule.signal]
    view = log.candidate if expr.candidate_only else log.serving
    aggregate = expr.kql.format(latency=view.latency_ms, status=view.status)
    return [
        *_rows(view),
        f"| summarize value = {aggregate} by TimeGenerated = {_per_bin(rule)}",
    ]


def alarm_query(
    rule: AlarmRule,
    log: RequestLog,
    expressions: Mapping[Signal, SignalExpression] = SIGNAL_EXPRESSIONS,
) -> str:
    """The KQL of one alarm: one value per complete period, and only if every period breached.

    Missing periods mean no row and so no alert: an idle endpoint does not page anyone, and the
    availability alarm (a ratio over real requests) is not fooled by silence either; a candidate
    that goes silent while stable serves is the starved rule's to catch.
    """
    return "\n".join(
        [
            *time_bounds(rule),
            *series_query(rule, log, expressions),
            f"| summarize value = {_SUSTAINED[rule.comparison]}(value), periods = count()",
            f"| where periods >= {rule.evaluation_periods}",
        ]
    )


# Destination kind -> the action group receiver that delivers it. E-mail is an e-mail receiver;
# every webhook kind (an incident tool's events endpoint, a Slack or Teams workflow) is a webhook
# receiver posting the common alert schema to the URL kept as a Pulumi secret.
WEBHOOK_KINDS: frozenset[DestinationKind] = frozenset(
    {DestinationKind.EVENTS, DestinationKind.SLACK, DestinationKind.TEAMS}
)


def tier_receivers(
    spec: DeploymentSpec, tier: Tier
) -> tuple[list[monitor.MicrosoftCommonEmailReceiverArgs], list[monitor.WebhookReceiverArgs]]:
    """One receiver per ``spec.alerts.destinations(tier)``: e-mail, or a webhook whose URL is
    read with ``require_secret`` (never plain text in the stack file, the state or a preview)."""
    config = pulumi.Config()
    emails: list[monitor.MicrosoftCommonEmailReceiverArgs] = []
    hooks: list[monitor.WebhookReceiverArgs] = []
    for i, dest in enumerate(spec.alerts.destinations(tier.value)):
        name = f"{tier.value}-{dest.kind.value}-{i}"
        if dest.kind is DestinationKind.EMAIL:
            emails.append(
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=name, email_address=str(dest.address), use_common_alert_schema=True
                )
            )
        elif dest.kind in WEBHOOK_KINDS and dest.secret is not None:
            hooks.append(
                monitor.WebhookReceiverArgs(
                    name=name,
                    service_uri=config.require_secret(dest.secret),
                    use_common_alert_schema=True,
                )
            )
        else:  # pragma: no cover - the spec's validator allows no other combination
            raise ValueError(f"alerts.routes.{tier.value}: cannot deliver {dest.kind.value}")
    return emails, hooks


def alert_channels(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    tiers: Sequence[Tier],
    opts: pulumi.ResourceOptions,
) -> dict[Tier, monitor.ActionGroup]:
    """One action group per tier used, delivering to the tier's own destinations
    (``spec.alerts.destinations(tier)``: routed per environment by each stack's file)."""
    channels: dict[Tier, monitor.ActionGroup] = {}
    for tier in Tier:
        if tier not in tiers:
            continue
        emails, hooks = tier_receivers(spec, tier)
        channels[tier] = monitor.ActionGroup(
            f"{name}-alerts-{tier.value}",
            resource_group_name=rg.name,
            location="global",
            enabled=True,
            group_short_name=f"aid-{tier.value}"[:12],
            email_receivers=emails,
            webhook_receivers=hooks or None,
            tags=spec.standard_tags(),
            opts=opts,
        )
        tier_routing(spec, name, rg, tier, channels[tier], opts)
    return channels


def stack_rule_prefix(spec: DeploymentSpec) -> str:
    """What every alert rule name of this stack starts with: ``alarm_name``'s
    ``<project>-<env>-`` (the project is cut only past ALARM_NAME_MAX, ~90 characters)."""
    return alarm_name(spec, "k")[:-1]


def tier_routing(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    tier: Tier,
    group: monitor.ActionGroup,
    opts: pulumi.ResourceOptions,
) -> alertsmanagement.AlertProcessingRuleByName:
    """An alert processing rule: every alert fired in the stack's resource group at the tier's
    severity reaches the tier's action group (this environment's destinations), so an alert
    rule added later in the group (a smart detector, a client's own rule) is routed by its
    severity without naming a group.

    The stack's own rules keep naming their group (policy S1 holds each alarm to a route, and
    the rollback must not depend on a rule anyone can disable), so they are left out by name:
    the platform would otherwise run the group once from the rule and once from here."""
    return alertsmanagement.AlertProcessingRuleByName(
        f"{name}-alerts-{tier.value}-routing",
        alert_processing_rule_name=alarm_name(spec, f"route-{tier.value}"),
        resource_group_name=rg.name,
        location="Global",
        properties=alertsmanagement.AlertProcessingRulePropertiesArgs(
            scopes=[rg.id],
            conditions=[
                alertsmanagement.ConditionArgs(
                    field=alertsmanagement.Field.SEVERITY,
                    operator=alertsmanagement.Operator.EQUALS,
                    values=[f"Sev{TIER_SEVERITY[tier]}"],
                ),
                alertsmanagement.ConditionArgs(
                    field=alertsmanagement.Field.ALERT_RULE_NAME,
                    operator=alertsmanagement.Operator.DOES_NOT_CONTAIN,
                    values=[stack_rule_prefix(spec)],
                ),
            ],
            actions=[
                alertsmanagement.AddActionGroupsArgs(
                    action_type="AddActionGroups", action_group_ids=[group.id]
                )
            ],
            description=(
                f"{tier.value} tier of {spec.project} {spec.environment.value}: alerts of "
                f"severity {TIER_SEVERITY[tier]} in this resource group go to its action group"
            ),
            enabled=True,
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )


def primary_channel(channels: Mapping[Tier, monitor.ActionGroup]) -> monitor.ActionGroup:
    """The most urgent channel that exists (the page tier where anything pages)."""
    for tier in (Tier.PAGE, Tier.TICKET, Tier.INFO):
        if tier in channels:
            return channels[tier]
    raise ValueError("no alert channel was created")


def alarm_rule_name(spec: DeploymentSpec, rule: AlarmRule) -> str:
    """The alert rule's Azure name: exactly ``alarm_name(spec, rule.key)`` (review #10), the
    name the pipeline's watch and the rollback service match, never cut or hashed."""
    return alarm_name(spec, rule.key)


def starved_by_design(spec: DeploymentSpec, rule: AlarmRule) -> bool:
    """True for the starved rule while no candidate has a live share: a candidate at 0% (or
    none at all) is "starved" by design, so the rule must not fire (it stays enabled and
    routed: policy S1 holds every alarm to that)."""
    return rule.signal is Signal.CANARY_STARVED and traffic_split(spec)[1] == 0


# Appended to a query that must find nothing (see starved_by_design).
NO_LIVE_SHARE = "| where false // no live candidate share: nothing can be starved"


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
        display_name=alarm_rule_name(spec, rule),
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
                    query=alarm_query(rule, log, expressions)
                    + ("\n" + NO_LIVE_SHARE if starved_by_design(spec, rule) else ""),
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
                # The pipeline's watch reads the versions' samples with the same query as the
                # rollback service (components/azure/release_watch.py).
                **(
                    {SAMPLES_PROPERTY: sample_query(log)}
                    if rule.triggers_rollback and log.stable is not None
                    else {}
                ),
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
        rule_name=alarm_name(spec, watch.key),
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


@dataclass(frozen=True)
class Charts:
    """More workbook charts: ``rules`` computed from another log view and signal table."""

    rules: Sequence[AlarmRule]
    log: RequestLog
    expressions: Mapping[Signal, SignalExpression]


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
    more: Sequence[Charts] = (),
) -> applicationinsights.Workbook:
    """An Azure Monitor workbook (the dashboard): one chart per alarm's signal, same KQL.

    ``expressions`` as for :func:`alarm` (a pattern with its own signals passes its table);
    ``purpose`` ends the display name; ``more`` adds charts read from other logs.
    """
    display = f"{spec.project} {spec.environment.value} {purpose}"
    sets = [Charts(rules, log, expressions), *more]

    def serialize(workspace_id: str) -> str:
        items = [
            {
                "type": 3,
                "name": rule.key,
                "content": {
                    "version": "KqlItem/1.0",
                    "title": f"{rule.signal.value} (threshold {rule.threshold:g})",
                    "query": "\n".join(
                        [
                            "let end = now();",
                            "let start = ago(1d);",
                            *series_query(rule, charts.log, charts.expressions),
                            "| render timechart",
                        ]
                    ),
                    "queryType": 0,
                    "resourceType": "microsoft.operationalinsights/workspaces",
                    "crossComponentResources": [workspace_id],
                    "visualization": "timechart",
                },
            }
            for charts in sets
            for rule in charts.rules
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


# Where the standard (web) test probes ``health_url`` from: five Azure regions on three
# continents (Microsoft's recommended minimum is five), two failing locations raise the alert.
UPTIME_LOCATIONS: tuple[str, ...] = (
    "emea-nl-ams-azr",
    "emea-gb-db3-azr",
    "us-va-ash-azr",
    "us-ca-sjc-azr",
    "apac-sg-sin-azr",
)
UPTIME_FAILED_LOCATIONS = 2
UPTIME_KEY = "uptime"


def uptime_check(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    insights: applicationinsights.Component,
    url: pulumi.Input[str],
    page: monitor.ActionGroup,
    opts: pulumi.ResourceOptions,
) -> tuple[applicationinsights.WebTest, monitor.MetricAlert]:
    """An Application Insights standard test of ``url`` (the public ``health_url``: GET, no
    credentials, 200 when the model is ready) and its availability alert on the page tier."""
    test_name = alarm_name(spec, UPTIME_KEY)
    test = applicationinsights.WebTest(
        f"{name}-uptime",
        web_test_name=test_name,
        synthetic_monitor_id=test_name,
        resource_group_name=rg.name,
        location=spec.region,
        kind=applicationinsights.WebTestKind.STANDARD,
        web_test_kind=applicationinsights.WebTestKind.STANDARD,
        enabled=True,
        frequency=300,
        timeout=30,
        retry_enabled=True,
        locations=[
            applicationinsights.WebTestGeolocationArgs(location=loc) for loc in UPTIME_LOCATIONS
        ],
        request=applicationinsights.WebTestPropertiesRequestArgs(
            request_url=url, http_verb="GET", follow_redirects=False, parse_dependent_requests=False
        ),
        validation_rules=applicationinsights.WebTestPropertiesValidationRulesArgs(
            expected_http_status_code=200, s_sl_check=True, s_sl_cert_remaining_lifetime_check=7
        ),
        # Application Insights lists a web test under its component only with this hidden link.
        tags=insights.id.apply(
            lambda component: {**spec.standard_tags(), f"hidden-link:{component}": "Resource"}
        ),
        opts=opts,
    )
    alert = monitor.MetricAlert(
        f"{name}-uptime-alert",
        rule_name=test_name,
        resource_group_name=rg.name,
        location="global",
        description=f"{url_description(spec)} fails from {UPTIME_FAILED_LOCATIONS}+ locations",
        enabled=True,
        severity=TIER_SEVERITY[Tier.PAGE],
        scopes=[test.id, insights.id],
        evaluation_frequency="PT1M",
        window_size="PT5M",
        auto_mitigate=True,
        criteria=monitor.WebtestLocationAvailabilityCriteriaArgs(
            odata_type="Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria",
            web_test_id=test.id,
            component_id=insights.id,
            failed_location_count=UPTIME_FAILED_LOCATIONS,
        ),
        actions=[monitor.MetricAlertActionArgs(action_group_id=page.id)],
        tags=spec.standard_tags(),
        opts=opts,
    )
    return test, alert


def url_description(spec: DeploymentSpec) -> str:
    """How the uptime alert names what it probes."""
    return f"{spec.project} {spec.environment.value} health_url"


# The rollback service reports each decision as one Application Insights custom event; these
# rules route it: an unverifiable trigger (page=true) to the page tier, a rollback to the ticket
# tier, a hold on a healthy candidate to the info tier (components.rollout: "a rollback is
# reported at the ticket tier; only an unverifiable trigger pages").
ROLLBACK_EVENT = "aideploy-rollback"
REPORT_RULES: dict[Tier, tuple[str, str]] = {
    Tier.PAGE: ("rollback-page", "page"),
    Tier.TICKET: ("rollback-done", 'action == "rollback" and not(page)'),
    Tier.INFO: ("rollback-held", 'action == "hold" and not(page)'),
}
REPORT_WINDOW_MIN = 10


def report_query(service_name: str, condition: str) -> str:
    """The KQL of one report rule: the service's decision events matching ``condition``."""
    return "\n".join(
        [
            "AppEvents",
            f"| where TimeGenerated > ago({REPORT_WINDOW_MIN}m)",
            f'| where AppRoleName == "{service_name}" and Name == "{ROLLBACK_EVENT}"',
            "| extend action = tostring(Properties.action),"
            ' page = tostring(Properties.page) == "true"',
            f"| where {condition}",
            "| summarize value = count()",
        ]
    )


def rollback_reports(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    service_name: str,
    channels: Mapping[Tier, monitor.ActionGroup],
    opts: pulumi.ResourceOptions,
) -> list[monitor.ScheduledQueryRule]:
    """One log search alert per tier on the rollback service's decision events."""
    created = []
    for tier, (key, condition) in REPORT_RULES.items():
        created.append(
            monitor.ScheduledQueryRule(
                f"{name}-report-{key}",
                rule_name=alarm_name(spec, key),
                display_name=alarm_name(spec, key),
                resource_group_name=rg.name,
                location=spec.region,
                kind="LogAlert",
                description=f"the rollback service decided: {condition} (tier {tier.value})",
                enabled=True,
                severity=TIER_SEVERITY[tier],
                scopes=[workspace.id],
                evaluation_frequency="PT5M",
                window_size=_iso_minutes(REPORT_WINDOW_MIN),
                auto_mitigate=True,
                criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                    all_of=[
                        monitor.ConditionArgs(
                            query=report_query(service_name, condition),
                            time_aggregation=monitor.TimeAggregation.TOTAL,
                            metric_measure_column="value",
                            operator="GreaterThan",
                            threshold=0.0,
                            failing_periods=monitor.ConditionFailingPeriodsArgs(
                                number_of_evaluation_periods=1, min_failing_periods_to_alert=1
                            ),
                        )
                    ]
                ),
                actions=monitor.ActionsArgs(
                    action_groups=[channels[tier].id],
                    custom_properties={"aideploy-tier": tier.value, "aideploy-rollback": "false"},
                ),
                tags=spec.standard_tags(),
                opts=opts,
            )
        )
    return created


@dataclass(frozen=True)
class ServingMonitoring:
    """Channels per tier, one alarm per rule, and the dashboard of one serving endpoint."""

    channels: Mapping[Tier, monitor.ActionGroup]
    alarms: list[monitor.ScheduledQueryRule]
    dashboard: applicationinsights.Workbook
    rollback_alarm_names: tuple[str, ...] = ()

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
    guardrail_app: str | None = None,
) -> ServingMonitoring:
    """Everything policy S1/S2 asks of an endpoint: routed alarms, rollback wiring, dashboard.

    Every tier gets its channel: the rollback service reports to all three. ``guardrail_app``:
    the Container App whose model server logs the LLM guardrail's blocked calls (its alarms
    and charts, :func:`guardrail_log`), None without an LLM.
    """
    channels = alert_channels(spec, name, rg, list(Tier), opts)
    created = alarms(spec, name, rules, rg, workspace, log, channels, rollback_group, opts)
    more: list[Charts] = []
    if guardrail_app is not None:
        guarded = guardrail_alarms(spec)
        blocked = guardrail_log(guardrail_app)
        created += [
            alarm(spec, name, rule, rg, workspace, blocked, [channels[rule.tier].id], opts,
                  expressions=GUARDRAIL_EXPRESSIONS)
            for rule in guarded
        ]  # fmt: skip
        more.append(Charts(guarded, blocked, GUARDRAIL_EXPRESSIONS))
    dashboard = workbook(spec, name, rg, workspace, log, rules, opts, more=more)
    names = tuple(alarm_rule_name(spec, r) for r in rules if r.triggers_rollback)
    return ServingMonitoring(channels, created, dashboard, names)


# -- the LLM guardrail's blocked calls -------------------------------------------------------
# The model server writes one JSON line per blocked call to stdout (components.llm.BLOCKED_EVENT:
# {"event": "guardrail_blocked", "direction": "prompt"|"response", "reasons": [...]}, never the
# text). Container Apps sends console output to the workspace through the environment's
# diagnostic setting, resource-specific: table ContainerAppConsoleLogs, the line in ``Log``.
CONSOLE_LOG_TABLE = "ContainerAppConsoleLogs"
_EVENT = "parse_json(Log)"


def guardrail_log(app_name: str) -> RequestLog:
    """The blocked-call events of one Container App (no candidate split: a spike is news
    whichever version served it)."""
    view = LogView(
        table=CONSOLE_LOG_TABLE,
        latency_ms="real(null)",
        status="int(null)",
        where=(
            f'ContainerAppName == "{app_name}"'
            f' and tostring({_EVENT}.event) == "{llm.BLOCKED_EVENT}"'
        ),
    )
    return RequestLog(serving=view, candidate=view)


def _blocked(direction: llm.Direction) -> SignalExpression:
    return SignalExpression(
        False, f'todouble(countif(tostring({_EVENT}.direction) == "{direction.value}"))'
    )


# Signal -> blocked calls per period in one direction.
GUARDRAIL_EXPRESSIONS: dict[Signal, SignalExpression] = {
    Signal.GUARDRAIL_BLOCKED_PROMPTS: _blocked(llm.Direction.PROMPT),
    Signal.GUARDRAIL_BLOCKED_RESPONSES: _blocked(llm.Direction.RESPONSE),
}
