"""The rollback runbook's values: the real names of what fires, what acts and what to move.

``docs/runbooks/rollback.md`` of a generated project is rendered from
``templates/client-project/templates/runbooks/<cloud>-<pattern>.md`` with these values. Every
name here comes from the component's own naming (its functions and constants, or
``components.naming.resource_name`` with the parts the component passes), never typed into a
template, and tests/generator/test_runbooks.py holds each one against the resources the
generated project's program registers: a component that renames a thing fails that test.

Names a cloud assigns at deploy time (IDs, auto-named services) are never guessed: the runbook
reads them with ``pulumi stack output`` or the cloud CLI's lookup by a name we do set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components import embedded_telemetry as telemetry
from components.alarms import (
    AlarmRule,
    Signal,
    alarm_name,
    event_alarms,
    guardrail_alarms,
    rollback_alarms,
)
from components.llm import BLOCKED_EVENT, UNAVAILABLE_EVENT, Direction
from components.naming import resource_name
from components.spec import (
    RELEASE_OUTPUTS,
    SHIPPED_PATTERNS,
    Cloud,
    DeploymentSpec,
    Destination,
    Environment,
    Pattern,
)

# The environments a runbook covers: where rollback alarms exist and the drill runs.
RUNBOOK_ENVIRONMENTS = (Environment.STAGING, Environment.PROD)
# The ECS workload whose containers serve the api-first model (components/aws/api_first.py).
AWS_SERVING_ROLE = "serving"
TIERS = ("page", "ticket", "info")
# Without a candidate (event-driven) the alarms that say a release broke the worker: its errors,
# its latency and work left waiting (every cloud's event-driven component creates these).
RELEASE_SIGNALS = frozenset({Signal.WORKER_ERROR_RATE, Signal.LATENCY_P99, Signal.QUEUE_OLDEST_AGE})


def _aws_rollback(spec: DeploymentSpec) -> dict[str, Any]:
    # The post-window rollback Lambda (components/aws/release.py).
    return {
        "rollback_function": resource_name(
            "aws", "default", spec.project, spec.environment.value, "rollback"
        )
    }


def _aws_api_first(spec: DeploymentSpec) -> dict[str, Any]:
    p, e = spec.project, spec.environment.value
    return {
        **_aws_rollback(spec),
        # API Gateway: the stage's canary setting carries the candidate's share.
        "rest_api": resource_name("aws", "default", p, e, "api"),
        "stage": e,
        "target_groups": {
            role: resource_name("aws", "target-group", p, e, role) for role in ("stable", "canary")
        },
        "task_families": {
            role: resource_name("aws", "default", p, e, role) for role in ("stable", "canary")
        },
    }


def _aws_managed_platform(spec: DeploymentSpec) -> dict[str, Any]:
    from components.aws.managed_platform import VARIANT_NAMES

    return {
        **_aws_rollback(spec),
        "endpoint": resource_name("aws", "sagemaker", spec.project, spec.environment.value),
        "variants": dict(VARIANT_NAMES),
    }


def _aws_event_driven(spec: DeploymentSpec) -> dict[str, Any]:
    return {}


def _azure_common(spec: DeploymentSpec) -> dict[str, Any]:
    from components.azure import security

    p, e = spec.project, spec.environment.value
    return {
        "resource_group": security.resource_group_name(spec),
        "rollback_app": resource_name("azure", "container-app", p, e, "rollback"),
    }


def _azure_api_first(spec: DeploymentSpec) -> dict[str, Any]:
    from components.azure import rollout

    p, e = spec.project, spec.environment.value
    return {
        **_azure_common(spec),
        "app": resource_name("azure", "container-app", p, e, "model"),
        "labels": {"stable": rollout.STABLE_LABEL, "candidate": "candidate"},
    }


def _azure_managed_platform(spec: DeploymentSpec) -> dict[str, Any]:
    from components.azure import rollout, security

    return {
        **_azure_common(spec),
        "workspace": security.physical_name(spec, "ml-workspace"),
        "endpoint": security.physical_name(spec, "ml-endpoint"),
        "deployments": {
            "stable": rollout.STABLE_DEPLOYMENT,
            "candidate": rollout.CANDIDATE_DEPLOYMENT,
        },
    }


def _azure_event_driven(spec: DeploymentSpec) -> dict[str, Any]:
    from components.azure import security

    return {"resource_group": security.resource_group_name(spec)}


def _gcp_rollback(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "rollback_function": resource_name(
            "gcp", "default", spec.project, spec.environment.value, "rollback"
        )
    }


def _gcp_api_first(spec: DeploymentSpec) -> dict[str, Any]:
    from components.gcp.api_first import backend_name

    p, e = spec.project, spec.environment.value
    return {
        **_gcp_rollback(spec),
        "url_map": resource_name("gcp", "default", p, e, "api"),
        "backends": {role: backend_name(spec, role) for role in ("stable", "canary")},
        "services": {
            role: resource_name("gcp", "cloud-run", p, e, role) for role in ("stable", "canary")
        },
    }


def _gcp_managed_platform(spec: DeploymentSpec) -> dict[str, Any]:
    from components.gcp.managed_platform import endpoint_number

    return {
        **_gcp_rollback(spec),
        "endpoint": endpoint_number(spec),
        "endpoint_display_name": resource_name(
            "gcp", "default", spec.project, spec.environment.value
        ),
    }


def _gcp_event_driven(spec: DeploymentSpec) -> dict[str, Any]:
    return {}


def _kubernetes_common(spec: DeploymentSpec) -> dict[str, Any]:
    from components.kubernetes.meta import namespace_name

    return {"namespace": namespace_name(spec)}


def _kubernetes_api_first(spec: DeploymentSpec) -> dict[str, Any]:
    # The component is named after the project (components/kubernetes/api_first.py): its
    # route, slots and rollback service are object_name(project, role).
    from components.kubernetes.api_first import CANDIDATE, STABLE
    from components.kubernetes.meta import object_name

    p = spec.project
    return {
        **_kubernetes_common(spec),
        "route": object_name(p, "api"),
        "deployments": {"stable": object_name(p, STABLE), "candidate": object_name(p, CANDIDATE)},
        "rollback_service": object_name(p, "rollback"),
        "alerts": object_name(p, "alerts"),
    }


def _kubernetes_event_driven(spec: DeploymentSpec) -> dict[str, Any]:
    from components.kubernetes.meta import object_name

    p = spec.project
    return {
        **_kubernetes_common(spec),
        "worker": object_name(p, "worker"),
        "scaled_object": object_name(p, "worker"),
        "alerts": object_name(p, "alerts"),
    }


# What each cloud x pattern's runbook names, from the component's own naming.
NAMES: dict[tuple[Cloud, Pattern], Callable[[DeploymentSpec], dict[str, Any]]] = {
    (Cloud.AWS, Pattern.API_FIRST): _aws_api_first,
    (Cloud.AWS, Pattern.MANAGED_PLATFORM): _aws_managed_platform,
    (Cloud.AWS, Pattern.EVENT_DRIVEN): _aws_event_driven,
    (Cloud.AZURE, Pattern.API_FIRST): _azure_api_first,
    (Cloud.AZURE, Pattern.MANAGED_PLATFORM): _azure_managed_platform,
    (Cloud.AZURE, Pattern.EVENT_DRIVEN): _azure_event_driven,
    (Cloud.GCP, Pattern.API_FIRST): _gcp_api_first,
    (Cloud.GCP, Pattern.MANAGED_PLATFORM): _gcp_managed_platform,
    (Cloud.GCP, Pattern.EVENT_DRIVEN): _gcp_event_driven,
    (Cloud.KUBERNETES, Pattern.API_FIRST): _kubernetes_api_first,
    (Cloud.KUBERNETES, Pattern.EVENT_DRIVEN): _kubernetes_event_driven,
}


def has_candidate_path(pattern: Pattern) -> bool:
    """True when the pattern serves a candidate next to the stable version (not event-driven,
    not embedded)."""
    return pattern not in (Pattern.EVENT_DRIVEN, *SHIPPED_PATTERNS)


def _names_of(spec: DeploymentSpec) -> dict[str, Any]:
    """The cell's real names; a pattern that ships model files names its release side."""
    if spec.pattern in SHIPPED_PATTERNS:
        return embedded_names(spec)
    return NAMES[(spec.cloud, spec.pattern)](spec)


def _azure_resource_group(spec: DeploymentSpec) -> dict[str, Any]:
    from components.azure import security

    return {"resource_group": security.resource_group_name(spec)}


# What a cloud's embedded runbook names beyond the alarms (the Azure CLI needs the group).
EMBEDDED_NAMES: dict[Cloud, Callable[[DeploymentSpec], dict[str, Any]]] = {
    Cloud.AZURE: _azure_resource_group,
}


def embedded_names(spec: DeploymentSpec) -> dict[str, Any]:
    """The embedded pattern's names on every cloud: its telemetry alarms (the components name
    them with :func:`components.alarms.alarm_name`), the stack outputs the release uses and
    what the cloud's CLI needs besides."""
    extra = EMBEDDED_NAMES.get(spec.cloud)
    return {
        "telemetry_alarms": {rule.key: alarm_name(spec, rule.key) for rule in telemetry.ALARMS},
        "outputs": RELEASE_OUTPUTS,
        **(extra(spec) if extra else {}),
    }


def _telemetry_alarm(spec: DeploymentSpec, rule: telemetry.TelemetryAlarm) -> dict[str, Any]:
    return {
        "name": alarm_name(spec, rule.key),
        "key": rule.key,
        "tier": rule.tier,
        "minutes": rule.period_seconds * rule.evaluation_periods // 60,
        "description": rule.description,
    }


def destination_values(destination: Destination) -> dict[str, str | None]:
    """One destination as the runbook's route tables get it (runbooks/destinations.j2 words
    it): its kind, and its e-mail address or the config key of the secret holding its URL."""
    return {
        "kind": destination.kind.value,
        "address": destination.address,
        "secret": destination.secret,
    }


def _alarm(spec: DeploymentSpec, rule: AlarmRule) -> dict[str, Any]:
    return {
        "name": alarm_name(spec, rule.key),
        "key": rule.key,
        "tier": rule.tier.value,
        "minutes": rule.period_seconds * rule.evaluation_periods // 60,
    }


def _guardrail_logs(spec: DeploymentSpec) -> dict[str, Any]:
    """Where the model server's guardrail lines are read, per cloud (the components' names)."""
    if spec.cloud is Cloud.AWS:
        from components.aws.security import ecs_log_group_name

        return {"log_group": ecs_log_group_name(spec, AWS_SERVING_ROLE)}
    if spec.cloud is Cloud.AZURE:
        return _azure_api_first(spec)
    if spec.cloud is Cloud.GCP:
        return {"services": _gcp_api_first(spec)["services"]}
    from components.kubernetes.meta import NAME_LABEL, label_value

    # Both release slots' model pods carry the component's name label (components.kubernetes.meta).
    return {**_kubernetes_common(spec), "pods": f"{NAME_LABEL}={label_value(spec.project)}"}


def guardrail_context(spec: DeploymentSpec) -> dict[str, Any] | None:
    """The guardrail runbook's part of one environment (None without an LLM): its alarms by
    their exact names and where the blocked-call lines are read."""
    if not spec.llm.enabled:
        return None
    g = spec.llm.guardrail
    return {
        "mode": spec.llm.mode.value,
        "alarms": [
            {
                "name": alarm_name(spec, rule.key),
                "direction": (
                    Direction.PROMPT.value
                    if rule.signal is Signal.GUARDRAIL_BLOCKED_PROMPTS
                    else Direction.RESPONSE.value
                ),
                "threshold": int(rule.threshold),
                "minutes": rule.period_seconds * rule.evaluation_periods // 60,
            }
            for rule in guardrail_alarms(spec)
        ],
        "logs": _guardrail_logs(spec),
        "fail_open": g.fail_open,
    }


def environment_context(spec: DeploymentSpec) -> dict[str, Any]:
    """One environment's part of the runbook: its alarms, names, routes and timings."""
    if spec.pattern in SHIPPED_PATTERNS:
        alarms = [_telemetry_alarm(spec, rule) for rule in telemetry.ALARMS]
    else:
        release_rules = (
            rollback_alarms(spec)
            if has_candidate_path(spec.pattern)
            else [rule for rule in event_alarms(spec) if rule.signal in RELEASE_SIGNALS]
        )
        alarms = [_alarm(spec, rule) for rule in release_rules]
    r = spec.rollout
    return {
        "env": spec.environment.value,
        "region": spec.region,
        "alarms": alarms,
        "guardrail": guardrail_context(spec),
        "names": _names_of(spec),
        "tiers": [
            {
                "tier": tier,
                "destinations": [destination_values(d) for d in spec.alerts.destinations(tier)],
            }
            for tier in TIERS
        ],
        "canary_percent": r.canary_percent,
        "bake_minutes": r.bake_minutes,
        "recovery_minutes": r.recovery_minutes,
        "min_requests": r.min_requests,
        "error_rate": f"{r.rollback_error_rate:.1%}",
        "latency_multiplier": f"{r.rollback_latency_multiplier:g}",
    }


def _alerts_store_entry(spec: DeploymentSpec) -> str:
    # components/kubernetes/patterns.py webhook_entries: one property of the stack's alerts
    # entry per Destination.secret, synced by an ExternalSecret for the AlertmanagerConfig.
    from components.kubernetes.patterns import ALERTS_STORE_KEY

    return ALERTS_STORE_KEY.format(project=spec.project, environment="<env>")


# The entry of the client's secret store that holds the webhook URLs, on the clouds that keep
# them there (runbooks/<cloud>-webhooks.md says so); elsewhere they are Pulumi secrets
# (runbooks/webhooks.md).
WEBHOOK_STORE_ENTRIES: dict[Cloud, Callable[[DeploymentSpec], str]] = {
    Cloud.KUBERNETES: _alerts_store_entry,
}


def runbook_context(specs: dict[Environment, DeploymentSpec]) -> dict[str, Any]:
    """The ``runbook`` key of the cookiecutter context (empty before specs are built)."""
    envs = [environment_context(specs[env]) for env in RUNBOOK_ENVIRONMENTS if env in specs]
    if not envs:
        return {"envs": envs, "prod": {}}
    spec = specs[RUNBOOK_ENVIRONMENTS[-1]]
    store_entry = WEBHOOK_STORE_ENTRIES.get(spec.cloud)
    return {
        "envs": envs,
        "prod": envs[-1],
        "webhook_store_entry": store_entry(spec) if store_entry else None,
        "guardrail_events": {"blocked": BLOCKED_EVENT, "unavailable": UNAVAILABLE_EVENT},
        # The guardrail alerts exist in every environment, dev included.
        "guardrail_envs": [
            {"env": env.value, "region": specs[env].region, **(guardrail_context(specs[env]) or {})}
            for env in Environment
            if env in specs and specs[env].llm.enabled
        ],
    }
