"""What one rollback notification does: verify the trigger, observe, decide, act, report.

Configuration comes from the environment the component sets; the target is never taken from the
request. The request is only a trigger: the alert it names is read back from Azure Monitor at the
scope it was raised on (the stack's log workspace; review E2), with the service's own identity.
Then the candidate's and the stable version's requests are re-read from the same tables the
alerts query, and ``components.rollout.decide`` (shipped as ``rollout_decision.py``) decides:

* an unverifiable trigger (malformed notification, another rule, the read-back failed, a 403):
  HOLD, and the decision is reported with page=true, which the page tier's alert routes to a
  person (review E7: not a log line);
* a resolved (stale) alert: IGNORE;
* a verified firing alert: ROLLBACK unless fresh data proves the candidate healthy.

A rollback moves all traffic to stable and tags the target with the rolled-back candidate (the
marker ``release_watch.rolled_back`` reads, review E8); every decision is reported as one
Application Insights event, routed by tier (components/azure/monitoring.py REPORT_RULES).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .arm import ArmClient, AzureError
from .decision import (
    Action,
    Decision,
    Observation,
    Settings,
    Trigger,
    alert_guid,
    decide,
    reset_body,
    samples,
    trigger_from_alert,
)

log = logging.getLogger("aideploy.rollback")
SERVICE_NAME = "aideploy-rollback"


@dataclass(frozen=True)
class Config:
    """The service's settings (environment variables the component sets)."""

    rules: frozenset[str]
    workspace_id: str
    workspace_customer_id: str
    sample_query: str
    sample_timespan: str
    target_kind: str
    target_id: str
    stable: str
    candidate: str
    candidate_version: str
    settings: Settings
    insights_connection: str
    role_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read the settings; a missing one is a KeyError (the service cannot work without)."""
        return cls(
            rules=frozenset(
                r.strip().lower() for r in env["ROLLBACK_ALERT_RULES"].split(",") if r.strip()
            ),
            workspace_id=env["ROLLBACK_WORKSPACE_ID"],
            workspace_customer_id=env.get("ROLLBACK_WORKSPACE_CUSTOMER_ID", ""),
            sample_query=env["ROLLBACK_SAMPLE_QUERY"],
            sample_timespan=env.get("ROLLBACK_SAMPLE_TIMESPAN", "PT10M"),
            target_kind=env["ROLLBACK_TARGET_KIND"],
            target_id=env["ROLLBACK_TARGET_ID"],
            stable=env["ROLLBACK_STABLE"],
            candidate=env["ROLLBACK_CANDIDATE"],
            candidate_version=env["ROLLBACK_CANDIDATE_VERSION"],
            settings=Settings(
                float(env["ROLLBACK_ERROR_RATE"]),
                float(env["ROLLBACK_LATENCY_MULTIPLIER"]),
                int(env["ROLLBACK_MIN_REQUESTS"]),
            ),
            insights_connection=env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", ""),
            role_name=env.get("ROLLBACK_SERVICE_NAME", SERVICE_NAME),
        )


def verify(payload: Mapping[str, Any], config: Config, client: ArmClient) -> Trigger:
    """The trigger as Azure Monitor confirms it; unverifiable when anything fails."""
    guid, named = alert_guid(payload)
    if guid is None:
        return Trigger(False, True, f"{named} (the notification names no alert id)")
    try:
        alert = client.read_alert(config.workspace_id, guid)
    except AzureError as exc:
        return Trigger(False, True, f"{named} (read-back failed: {exc})")
    return trigger_from_alert(alert, set(config.rules), config.workspace_id, named)


def observe(config: Config, client: ArmClient) -> tuple[Any, Any]:
    """(candidate, stable) samples from the alerts' own tables; none when the read fails (no
    data proves nothing healthy: a verified breach then rolls back, E.10)."""
    try:
        rows = client.query(
            config.workspace_customer_id, config.sample_query, config.sample_timespan
        )
    except AzureError as exc:
        log.warning("sample query failed: %s", exc)
        rows = []
    return samples(rows)


def report(config: Config, client: ArmClient, decision: Decision, rule: str) -> None:
    """One custom event per decision; the report rules route it to its tier."""
    event = {
        "name": "Microsoft.ApplicationInsights.Event",
        "time": datetime.now(UTC).isoformat(),
        "tags": {"ai.cloud.role": config.role_name},
        "data": {
            "baseType": "EventData",
            "baseData": {
                "ver": 2,
                "name": "aideploy-rollback",
                "properties": {
                    "action": decision.action.value,
                    "page": str(decision.page).lower(),
                    "reason": decision.reason,
                    "rule": rule,
                    "target": config.target_id,
                    # With the target, the marker the pipeline's rolled_back() finds in the
                    # workspace after any later `pulumi up` rewrote the target's tags (E8).
                    "candidate_version": config.candidate_version,
                },
            },
        },
    }
    client.report(config.insights_connection, event)


def handle(payload: Mapping[str, Any], env: Mapping[str, str], client: ArmClient) -> dict[str, Any]:
    """Verify, observe, decide; on ROLLBACK reset the target; report. Returns a summary.

    A failed write or report raises :class:`AzureError`: the server answers 500 and the action
    group retries, and the alert stays fired for the watch and the on-call to see.
    """
    config = Config.from_env(env)
    trigger = verify(payload, config, client)
    candidate, stable = observe(config, client)
    decision = decide(Observation(trigger, candidate, stable, config.settings))
    log.warning("rollback decision: %s (%s)", decision.action.value, decision.reason)
    if decision.action is Action.ROLLBACK:
        try:
            current = client.get(config.target_id, config.target_kind)
            body = reset_body(
                config.target_kind, current, config.stable, config.candidate,
                config.candidate_version,
            )  # fmt: skip
            client.write(config.target_id, config.target_kind, body)
        except AzureError as exc:
            failed = Decision(Action.HOLD, True, f"rollback of {config.target_id} failed: {exc}")
            report(config, client, failed, trigger.rule)
            raise
    report(config, client, decision, trigger.rule)
    return {
        "action": decision.action.value,
        "page": decision.page,
        "reason": decision.reason,
        "trigger": {"verified": trigger.verified, "firing": trigger.firing, "rule": trigger.rule},
    }


def summary_json(result: Mapping[str, Any]) -> str:
    """The HTTP answer."""
    return json.dumps(result, sort_keys=True)
