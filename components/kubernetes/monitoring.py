"""Kubernetes building block: alerts, their routing and a dashboard, with Prometheus Operator.

* :func:`create_service_monitor`: Prometheus scrapes the stack's Services on their ``metrics``
  port (label ``release=<cluster.prometheus_release>``, which the operator selects by);
* :func:`create_rules`: one PrometheusRule whose alert names are exactly
  ``alarm_name(spec, rule.key)`` for every neutral alarm (components/alarms.py), so the
  pipeline's watch finds them by the names the stack exports; ``severity`` is the tier;
* :func:`create_routing`: an AlertmanagerConfig routing each tier (``severity``) to the spec's
  destinations: e-mail addresses inline, webhook URLs only by Secret reference (the Secret is
  synced by an ExternalSecret from the store keys named by ``Destination.secret``);
* :func:`create_pod_monitor`: Prometheus scrapes the Envoy proxies of the stack's Gateway
  (in ``cluster.gateway_namespace``) on their ``metrics`` port, 19001, path ``/stats/prometheus``
  (Envoy Gateway's proxy Deployment: envoyproxy/gateway internal/infrastructure/kubernetes/proxy
  testdata/deployments/default.yaml), where the ``envoy_cluster_*`` series the API's endpoint
  alarms read come from. The Prometheus must allow PodMonitors to select other namespaces (no
  ``ignoreNamespaceSelectors``) and reach the proxies' port 19001;
* :func:`create_dashboard`: a Grafana dashboard ConfigMap (``grafana_dashboard: "1"``, the
  label Grafana's sidecar loads dashboards by).

The PrometheusRule names its AlertmanagerConfig (annotation ``aideploy-routing``, an Output of
the routing: the rule is created after it, so a first alert has somewhere to go) and the neutral
signals it holds (one annotation ``aideploy-signal-<signal>`` each): the policy pack's S1 and S2
read both (policies/rules/stack.py, rollback_paths.py).

Which metrics (:func:`signal_value`, one PromQL expression per neutral signal):

* the API's endpoint alarms read Envoy's upstream statistics of the HTTPRoute's rule cluster
  (``envoy_cluster_upstream_rq_xx``, ``envoy_cluster_upstream_rq_total``,
  ``envoy_cluster_upstream_rq_time_bucket`` in ms; Envoy Gateway names the cluster of rule 0 of
  a route ``httproute/<namespace>/<route>/rule/0``);
* the candidate's rollback alarms read the model's own metrics (the model contract on
  kubernetes: ``http_requests_total{code}`` and ``http_request_duration_seconds_bucket`` on the
  metrics port), selected by the ``service`` label Prometheus Operator gives every target: the
  stable and candidate Services (the selectors are ``release_watch.model_series``: the
  pipeline's watch samples the same series). Envoy mixes both weighted backends into one
  cluster, so only the Services tell them apart; a candidate that answers nothing (crash
  loop) leaves its share of model requests near zero, which the starved rule catches;
* the workers' alarms read the worker's ``aideploy_jobs_total{outcome}`` and
  ``aideploy_job_duration_seconds_bucket``, and the queue's RabbitMQ's own Prometheus plugin
  (``rabbitmq_queue_messages_ready``, ``rabbitmq_queue_messages``,
  ``rabbitmq_queue_head_message_timestamp``), which the client's Prometheus scrapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.alarms import GUARDRAIL_PERIOD_SECONDS, AlarmRule, Comparison, Signal, Tier
from components.kubernetes.meta import metadata
from components.kubernetes.network import ENVOY_PROXY_PODS
from components.kubernetes.release_watch import (
    LATENCY_BUCKETS,
    REQUESTS_METRIC,
    SERVER_ERRORS,
    model_series,
)
from components.kubernetes.workload import METRICS_PATH
from components.llm import BLOCKED_COUNTER, Direction
from components.spec import Destination, DestinationKind

MONITORING_API = "monitoring.coreos.com/v1"
ALERTMANAGER_API = "monitoring.coreos.com/v1alpha1"
SCRAPE_INTERVAL = "30s"
DASHBOARD_LABEL = "grafana_dashboard"
# Extra label matchers: the model's 5xx answers (SERVER_ERRORS, with the model's series and
# metric names, is release_watch's: the pipeline samples the series these alerts evaluate),
# the worker's failed jobs.
FAILED_JOBS = ',outcome="failed"'
# The rule's annotations the policy pack reads (keys without dots: the pack reads dotted paths).
ROUTING_ANNOTATION = "aideploy-routing"
SIGNAL_ANNOTATION = "aideploy-signal-{signal}"
# Envoy Gateway's proxy pods: their metrics port (name and number) and path, and the labels
# naming the Gateway a proxy serves (besides network.ENVOY_PROXY_PODS and name=envoy).
ENVOY_METRICS_PORT = "metrics"
ENVOY_METRICS_PORT_NUMBER = 19001
ENVOY_METRICS_PATH = "/stats/prometheus"
ENVOY_OWNER_NAME = "gateway.envoyproxy.io/owning-gateway-name"
ENVOY_OWNER_NAMESPACE = "gateway.envoyproxy.io/owning-gateway-namespace"
# The receiver the rollback alerts go to (besides their tier's), and how soon and how often.
ROLLBACK_RECEIVER = "rollback"
ROLLBACK_LABEL = "rollback"


def after(resource: pulumi.Resource, value: Any) -> pulumi.Output[Any]:
    """``value``, once ``resource`` exists: a property that names another object by name
    carries that object as a dependency, so Pulumi creates them in order and the policy pack
    sees the reference. The URN is known at preview, so the value stays known there."""
    return pulumi.Output.all(resource.urn, value).apply(lambda both: both[1])


@dataclass(frozen=True)
class Targets:
    """What the alarms look at: the namespace, the API's route and Services, the worker's
    Service and the queues. Names a pattern does not have are ""."""

    namespace: str
    route: str = ""
    stable_service: str = ""
    candidate_service: str = ""
    worker_service: str = ""
    queue: str = ""
    dead_letter_queue: str = ""


def _envoy(t: Targets, metric: str, extra: str = "") -> str:
    cluster = f"httproute/{t.namespace}/{t.route}/rule/0"
    return f'{metric}{{envoy_cluster_name="{cluster}"{extra}}}'


def _model(t: Targets, metric: str, service: str, extra: str = "") -> str:
    return model_series(t.namespace, metric, service, extra)


def _rate(series: str) -> str:
    return f"sum(rate({series}[1m]))"


def _quantile(q: float, buckets: str, scale: str = "") -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({buckets}[1m]))){scale}"


def _envoy_class_rate(t: Targets, code_class: str) -> str:
    failed = _rate(
        _envoy(t, "envoy_cluster_upstream_rq_xx", f',envoy_response_code_class="{code_class}"')
    )
    return f"({failed} / {_rate(_envoy(t, 'envoy_cluster_upstream_rq_total'))})"


def _candidate_requests(t: Targets, extra: str = "") -> str:
    return _model(t, REQUESTS_METRIC, t.candidate_service, extra)


def _candidate_p99(t: Targets) -> str:
    return _quantile(0.99, _model(t, LATENCY_BUCKETS, t.candidate_service))


def _stable_p99(t: Targets) -> str:
    return _quantile(0.99, _model(t, LATENCY_BUCKETS, t.stable_service))


def _all_model_requests(t: Targets) -> str:
    services = f"{t.stable_service}|{t.candidate_service}"
    return f'{REQUESTS_METRIC}{{namespace="{t.namespace}",service=~"{services}"}}'


def _blocked(t: Targets, direction: str) -> str:
    """Blocked calls of ``direction`` in the guardrail rules' period, over both release slots
    (the model server's counter components.llm.BLOCKED_COUNTER)."""
    services = f"{t.stable_service}|{t.candidate_service}"
    series = (
        f'{BLOCKED_COUNTER}{{namespace="{t.namespace}",service=~"{services}",'
        f'direction="{direction}"}}'
    )
    return f"(sum(increase({series}[{GUARDRAIL_PERIOD_SECONDS}s])) or vector(0))"


def _worker(t: Targets, metric: str, extra: str = "") -> str:
    return _model(t, metric, t.worker_service, extra)


def _queue(metric: str, queue: str) -> str:
    return f'{metric}{{queue="{queue}"}}'


def signal_value(signal: Signal, t: Targets, *, api: bool) -> str:
    """The PromQL whose value the rule for ``signal`` compares (``api``: the API pattern's
    latency is Envoy's; otherwise the worker's processing time)."""
    latency = {Signal.LATENCY_P50: 0.5, Signal.LATENCY_P95: 0.95, Signal.LATENCY_P99: 0.99}
    if signal in latency:
        if api:
            return _quantile(latency[signal], _envoy(t, "envoy_cluster_upstream_rq_time_bucket"))
        return _quantile(
            latency[signal], _worker(t, "aideploy_job_duration_seconds_bucket"), " * 1000"
        )
    table: dict[Signal, str] = {
        Signal.ERROR_RATE_4XX: _envoy_class_rate(t, "4"),
        Signal.ERROR_RATE_5XX: _envoy_class_rate(t, "5"),
        Signal.AVAILABILITY: f"(1 - {_envoy_class_rate(t, '5')})",
        Signal.CANARY_ERROR_RATE: (
            f"({_rate(_candidate_requests(t, SERVER_ERRORS))} / {_rate(_candidate_requests(t))})"
        ),
        Signal.CANARY_LATENCY_P99: f"{_candidate_p99(t)} * 1000",
        Signal.CANARY_LATENCY_RATIO: f"({_candidate_p99(t)} / {_stable_p99(t)})",
        # No candidate series at all (it serves nothing) counts as a share of 0.
        Signal.CANARY_STARVED: (
            f"(({_rate(_candidate_requests(t))} or vector(0)) / {_rate(_all_model_requests(t))})"
        ),
        Signal.QUEUE_DEPTH: f"sum({_queue('rabbitmq_queue_messages_ready', t.queue)})",
        Signal.QUEUE_OLDEST_AGE: (
            f"(time() - min({_queue('rabbitmq_queue_head_message_timestamp', t.queue)}))"
        ),
        Signal.DEAD_LETTERS: f"sum({_queue('rabbitmq_queue_messages', t.dead_letter_queue)})",
        Signal.GUARDRAIL_BLOCKED_PROMPTS: _blocked(t, Direction.PROMPT.value),
        Signal.GUARDRAIL_BLOCKED_RESPONSES: _blocked(t, Direction.RESPONSE.value),
        Signal.WORKER_ERROR_RATE: (
            f"({_rate(_worker(t, 'aideploy_jobs_total', FAILED_JOBS))} / "
            f"{_rate(_worker(t, 'aideploy_jobs_total'))})"
        ),
    }
    return table[signal]


def _guard(rule: AlarmRule, t: Targets) -> str:
    """The volume guard: at least ``min_requests`` requests in the period (the candidate's own,
    or for the starved rule all model requests: a starved candidate has none by definition)."""
    if not rule.min_requests:
        return ""
    series = (
        _all_model_requests(t) if rule.signal is Signal.CANARY_STARVED else _candidate_requests(t)
    )
    window = f"{rule.period_seconds}s"
    return f" and sum(increase({series}[{window}])) >= {rule.min_requests}"


def expression(rule: AlarmRule, t: Targets, *, api: bool) -> str:
    """The alert's PromQL: the signal against the threshold, and the volume guard."""
    op = ">" if rule.comparison is Comparison.ABOVE else "<"
    return f"{signal_value(rule.signal, t, api=api)} {op} {rule.threshold:g}{_guard(rule, t)}"


def create_service_monitor(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector_labels: Mapping[str, str],
    release: str,
) -> k8s.apiextensions.CustomResource:
    """Scrape every Service ``selector_labels`` selects on its ``metrics`` port."""
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=MONITORING_API,
        kind="ServiceMonitor",
        metadata=metadata(name, namespace, {**labels, "release": release}),
        spec={
            "selector": {"matchLabels": dict(selector_labels)},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [{"port": "metrics", "path": METRICS_PATH, "interval": SCRAPE_INTERVAL}],
        },
        opts=opts,
    )


def create_pod_monitor(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    release: str,
    gateway: str,
    gateway_namespace: str,
) -> k8s.apiextensions.CustomResource:
    """Scrape the Envoy proxies Envoy Gateway runs for the Gateway ``gateway`` (of
    ``namespace``) in ``gateway_namespace``: only that Gateway's proxies, by its owner labels."""
    proxies = {
        **ENVOY_PROXY_PODS,
        "app.kubernetes.io/name": "envoy",
        ENVOY_OWNER_NAME: gateway,
        ENVOY_OWNER_NAMESPACE: namespace,
    }
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=MONITORING_API,
        kind="PodMonitor",
        metadata=metadata(name, namespace, {**labels, "release": release}),
        spec={
            "selector": {"matchLabels": proxies},
            "namespaceSelector": {"matchNames": [gateway_namespace]},
            "podMetricsEndpoints": [
                {
                    "port": ENVOY_METRICS_PORT,
                    "path": ENVOY_METRICS_PATH,
                    "interval": SCRAPE_INTERVAL,
                }
            ],
        },
        opts=opts,
    )


@dataclass(frozen=True)
class NamedRule:
    """A neutral alarm and the exact name its alert carries."""

    name: str
    rule: AlarmRule


def create_rules(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    release: str,
    rules: Sequence[NamedRule],
    targets: Targets,
    api: bool,
    routing: pulumi.Resource | None = None,
    routing_name: str = "",
) -> k8s.apiextensions.CustomResource:
    """One PrometheusRule with an alert per rule: ``for`` the rule's evaluation window, the
    tier as ``severity`` and the namespace as a label (Alertmanager routes a namespace's
    AlertmanagerConfig only alerts that carry it; ``sum`` would otherwise drop it); annotated
    with its ``routing`` (the AlertmanagerConfig ``routing_name``) and its signals."""
    alerts = [
        {
            "alert": r.name,
            "expr": expression(r.rule, targets, api=api),
            "for": f"{r.rule.period_seconds * r.rule.evaluation_periods}s",
            "labels": {
                "severity": r.rule.tier.value,
                "namespace": namespace,
                "signal": r.rule.signal.value,
                "rollback": "true" if r.rule.triggers_rollback else "false",
            },
            "annotations": {
                "summary": (
                    f"{r.rule.signal.value} {r.rule.comparison.value} {r.rule.threshold:g} "
                    f"for {r.rule.evaluation_periods} x {r.rule.period_seconds}s in {namespace}"
                )
            },
        }
        for r in rules
    ]
    annotations: dict[str, pulumi.Input[str]] = {
        SIGNAL_ANNOTATION.format(signal=r.rule.signal.value): r.rule.signal.value for r in rules
    }
    if routing is not None:
        annotations[ROUTING_ANNOTATION] = after(routing, routing_name)
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=MONITORING_API,
        kind="PrometheusRule",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels={**labels, "release": release},
            annotations=annotations,
        ),
        spec={"groups": [{"name": name, "interval": "60s", "rules": alerts}]},
        opts=opts,
    )


# Where each kind of webhook destination goes in Alertmanager, and the field holding the
# Secret reference to its URL. E-mail needs no secret (the address is inline).
WEBHOOK_FIELDS: dict[DestinationKind, tuple[str, str]] = {
    DestinationKind.EVENTS: ("webhookConfigs", "urlSecret"),
    DestinationKind.SLACK: ("slackConfigs", "apiURL"),
    DestinationKind.TEAMS: ("msteamsConfigs", "webhookUrl"),
}


@dataclass(frozen=True)
class Smtp:
    """The mail relay (``host:port``) and sender of the e-mail receivers, when Alertmanager's
    global settings do not give them (cluster.smtp_smarthost, cluster.smtp_from)."""

    smarthost: str | None = None
    sender: str | None = None

    def fields(self) -> dict[str, str]:
        """The emailConfig fields these set."""
        out = {"smarthost": self.smarthost, "from": self.sender}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class RollbackHook:
    """The rollback service's webhook: its URL (an Output of its Service) and the Secret key
    holding the bearer token Alertmanager sends (the same Secret the service checks it with)."""

    url: pulumi.Input[str]
    secret: str
    key: str


def receiver(
    tier: Tier, destinations: Sequence[Destination], secret: str, smtp: Smtp | None = None
) -> dict[str, object]:
    """The Alertmanager receiver of ``tier``: e-mails inline (with ``smtp``'s relay and sender
    when given), webhooks by reference to keys (named by ``Destination.secret``) of the Secret
    ``secret``."""
    out: dict[str, object] = {"name": tier.value}
    mail = smtp.fields() if smtp else {}
    for d in destinations:
        if d.kind is DestinationKind.EMAIL:
            configs = out.setdefault("emailConfigs", [])
            assert isinstance(configs, list)
            configs.append({"to": d.address, **mail, "sendResolved": True})
            continue
        field_name, ref = WEBHOOK_FIELDS[d.kind]
        configs = out.setdefault(field_name, [])
        assert isinstance(configs, list)
        configs.append({ref: {"name": secret, "key": d.secret}, "sendResolved": True})
    return out


def create_routing(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    release: str,
    destinations: Mapping[Tier, Sequence[Destination]],
    webhook_secret: str,
    smtp: Smtp | None = None,
    rollback: RollbackHook | None = None,
) -> k8s.apiextensions.CustomResource:
    """An AlertmanagerConfig: one route per tier matching ``severity``, to that tier's
    receiver; anything unmatched goes to the ticket tier (never dropped). With ``rollback``,
    the alerts labelled rollback="true" also go, first and at once, to the rollback service
    (``continue``: their tier's route still tells people)."""
    routes: list[dict[str, object]] = [
        {
            "receiver": tier.value,
            "matchers": [{"name": "severity", "value": tier.value, "matchType": "="}],
        }
        for tier in Tier
    ]
    receivers: list[dict[str, object]] = [
        receiver(tier, destinations[tier], webhook_secret, smtp) for tier in Tier
    ]
    if rollback is not None:
        routes.insert(0, rollback_route())
        receivers.append(rollback_receiver(rollback))
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=ALERTMANAGER_API,
        kind="AlertmanagerConfig",
        metadata=metadata(name, namespace, {**labels, "release": release}),
        spec={
            "route": {
                "receiver": Tier.TICKET.value,
                "groupBy": ["alertname"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "4h",
                "routes": routes,
            },
            "receivers": receivers,
        },
        opts=opts,
    )


def rollback_route() -> dict[str, object]:
    """The rollback alerts' route: sent within seconds, and again every few minutes while they
    fire (the service is idempotent; a rollback that failed is retried)."""
    return {
        "receiver": ROLLBACK_RECEIVER,
        "matchers": [{"name": ROLLBACK_LABEL, "value": "true", "matchType": "="}],
        "groupWait": "10s",
        "groupInterval": "1m",
        "repeatInterval": "5m",
        "continue": True,
    }


def rollback_receiver(hook: RollbackHook) -> dict[str, object]:
    """The rollback service's webhook, authenticated with the bearer token of ``hook``'s
    Secret. Resolved alerts are not sent: there is nothing to undo."""
    return {
        "name": ROLLBACK_RECEIVER,
        "webhookConfigs": [
            {
                "url": hook.url,
                "httpConfig": {
                    "authorization": {
                        "type": "Bearer",
                        "credentials": {"name": hook.secret, "key": hook.key},
                    }
                },
                "sendResolved": False,
            }
        ],
    }


def dashboard_json(title: str, panels: Mapping[str, str]) -> str:
    """A Grafana dashboard (schema 39) of one time-series panel per ``panels`` title -> PromQL."""
    return json.dumps(
        {
            "title": title,
            "uid": title[:40],
            "schemaVersion": 39,
            "tags": ["aideploy"],
            "time": {"from": "now-6h", "to": "now"},
            "panels": [
                {
                    "id": i + 1,
                    "type": "timeseries",
                    "title": panel_title,
                    "gridPos": {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8},
                    "targets": [{"expr": expr, "refId": "A"}],
                }
                for i, (panel_title, expr) in enumerate(panels.items())
            ],
        },
        indent=2,
        sort_keys=True,
    )


def create_dashboard(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    title: str,
    panels: Mapping[str, str],
) -> k8s.core.v1.ConfigMap:
    """The dashboard as a ConfigMap Grafana's sidecar loads (label ``grafana_dashboard: "1"``)."""
    return k8s.core.v1.ConfigMap(
        logical,
        metadata=metadata(name, namespace, {**labels, DASHBOARD_LABEL: "1"}),
        data={f"{name}.json": dashboard_json(title, panels)},
        opts=opts,
    )
