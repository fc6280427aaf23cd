"""What both cluster patterns compose the same way: the namespace, the alerting, the names.

Plain functions over the spec with explicit results, called by api_first.py and
event_driven.py; each creates its resources with the caller's options (parented to the
pattern component), so the URNs stay the pattern's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.alarms import AlarmRule, Tier, alarm_name
from components.kubernetes import monitoring, secrets
from components.kubernetes.meta import NAME_LABEL, label_value, object_name
from components.spec import ClusterSettings, DeploymentSpec

# The store entry holding the stack's alert webhook URLs, one property per Destination.secret.
ALERTS_STORE_KEY = "{project}/{environment}/alerts"


def cluster_of(spec: DeploymentSpec) -> ClusterSettings:
    """The spec's cluster settings (the spec guarantees them on kubernetes)."""
    if spec.cluster is None:
        raise ValueError("cluster: the kubernetes target needs its cluster settings")
    return spec.cluster


@dataclass(frozen=True)
class Alerting:
    """The alerting a stack exports: its routing's name and its dashboard's name ("" when the
    cluster has no Prometheus Operator)."""

    routing: str
    dashboard: str
    rules: k8s.apiextensions.CustomResource | None = None


def webhook_entries(spec: DeploymentSpec) -> list[secrets.Entry]:
    """One Secret key per webhook destination: the property of that name of the stack's alerts
    entry in the store (``<project>/<environment>/alerts``). A property, never the whole entry:
    a Vault KV entry is a map, and without one External Secrets hands over its JSON, which the
    Prometheus Operator refuses as a URL."""
    keys = sorted(
        {d.secret for tier in Tier for d in spec.alerts.destinations(tier.value) if d.secret}
    )
    store_key = ALERTS_STORE_KEY.format(project=spec.project, environment=spec.environment.value)
    return [secrets.Entry(secret_key=k, remote_key=store_key, remote_property=k) for k in keys]


def create_alerting(
    name: str,
    spec: DeploymentSpec,
    labels: Mapping[str, str],
    rules: Sequence[AlarmRule],
    targets: monitoring.Targets,
    *,
    api: bool,
    opts: pulumi.ResourceOptions,
    gateway: str | None = None,
    rollback: monitoring.RollbackHook | None = None,
) -> Alerting:
    """ServiceMonitor, PodMonitor of the ``gateway``'s Envoy proxies (the API pattern),
    AlertmanagerConfig (with the webhook Secret's ExternalSecret when a tier has webhooks, and
    the ``rollback`` service's webhook), PrometheusRule (alert names ``alarm_name(spec, key)``,
    created after its routing) and dashboard; nothing when ``cluster.prometheus`` is off (then
    the stack exports "" for them)."""
    cluster = cluster_of(spec)
    if not cluster.prometheus:
        return Alerting(routing="", dashboard="")
    ns = targets.namespace
    release = cluster.prometheus_release
    monitoring.create_service_monitor(
        f"{name}-metrics", opts, name=object_name(name, "metrics"), namespace=ns, labels=labels,
        selector_labels={NAME_LABEL: label_value(name)}, release=release,
    )  # fmt: skip
    if gateway is not None:
        monitoring.create_pod_monitor(
            f"{name}-proxy-metrics", opts, name=object_name(name, "proxy-metrics"), namespace=ns,
            labels=labels, release=release, gateway=gateway,
            gateway_namespace=cluster.gateway_namespace,
        )  # fmt: skip
    named = [monitoring.NamedRule(alarm_name(spec, r.key), r) for r in rules]
    webhook_secret = object_name(name, "alert-webhooks")
    entries = webhook_entries(spec)
    if entries:
        secrets.external_secret(
            f"{name}-alert-webhooks", opts, name=webhook_secret, namespace=ns, labels=labels,
            store=cluster.secret_store, entries=entries,
        )  # fmt: skip
    routing = object_name(name, "routing")
    routing_resource = monitoring.create_routing(
        f"{name}-routing", opts, name=routing, namespace=ns, labels=labels, release=release,
        destinations={tier: spec.alerts.destinations(tier.value) for tier in Tier},
        webhook_secret=webhook_secret, rollback=rollback,
        smtp=monitoring.Smtp(cluster.smtp_smarthost, cluster.smtp_from),
    )  # fmt: skip
    prometheus_rule = monitoring.create_rules(
        f"{name}-alerts", opts, name=object_name(name, "alerts"), namespace=ns, labels=labels,
        release=release, rules=named, targets=targets, api=api, routing=routing_resource,
        routing_name=routing,
    )  # fmt: skip
    dashboard = object_name(name, "dashboard")
    monitoring.create_dashboard(
        f"{name}-dashboard", opts, name=dashboard, namespace=ns, labels=labels,
        title=dashboard,
        panels={n.name: monitoring.signal_value(n.rule.signal, targets, api=api) for n in named},
    )  # fmt: skip
    return Alerting(routing=routing, dashboard=dashboard, rules=prometheus_rule)
