"""The rollback function: verify the trigger, read fresh data, let the one rule decide, act.

1. Verify (E6, B5): the incident must name one of this stack's rollback policies (exact display
   names, with their ids, in ROLLBACK_CONFIG), be open and younger than the policy's auto-close
   (an older one is a stale retry), and the Cloud Monitoring Alerts API, read with the
   function's own identity, must show that policy's alert open now. A message that names no
   policy of this stack, or an alert that cannot be read back: unverifiable.
2. Read both versions' requests, 5xx and p99 over the last window (release_watch.samples: the
   same PromQL the pipeline's watch uses), only for a verified firing trigger.
3. ``rollout_decision.decide`` (components/rollout.py, shipped under that name) decides.
4. Act and report: a rollback drains the candidate and writes the rolled-back marker into the
   target's description (E8), reported at the TICKET tier; an unverifiable trigger, or a
   rollback that failed, is reported at the PAGE tier; a healthy hold at the TICKET tier. The
   report is one JSON log line whose ``tier`` field log-match alert policies route to the tier's
   notification channels (components/gcp/monitoring.create_report_policies).
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .gcp_api import metadata_token

CONFIG_ENV = "ROLLBACK_CONFIG"


def _shipped(module: str, fallback: str) -> ModuleType:
    """The module shipped at the archive's root, or the repository's original in tests."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return importlib.import_module(fallback)


rollout = _shipped("rollout_decision", "components.rollout")
watch = _shipped("release_watch", "components.gcp.release_watch")

# Where each outcome is reported (the ``tier`` of the log line).
TIERS: dict[tuple[str, bool], str] = {
    ("rollback", False): "ticket",
    ("hold", True): "page",
    ("hold", False): "ticket",
    ("ignore", False): "info",
}


def parse_incident(envelope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The incident in a Pub/Sub CloudEvent envelope, or None when it is not one."""
    message = envelope.get("message", envelope)
    raw = message.get("data", "") if isinstance(message, Mapping) else ""
    try:
        payload = json.loads(base64.b64decode(raw, validate=True).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError):
        return None
    incident = payload.get("incident") if isinstance(payload, dict) else None
    return incident if isinstance(incident, dict) else None


def verify(
    incident: Mapping[str, Any] | None, cfg: Mapping[str, Any], send: Any, now: float
) -> tuple[dict[str, Any], str]:
    """The trigger (the ``decide`` JSON shape) and a note on how it was judged."""
    policies: Mapping[str, str] = cfg["policies"]
    name = incident.get("policy_name") if incident else None
    if not isinstance(name, str) or name not in policies:
        what = "a malformed message" if incident is None else f"policy {name!r}"
        trigger = {"verified": False, "firing": True, "rule": what}
        return trigger, "not one of this stack's rollback policies"
    assert incident is not None  # a name was found in it  # nosec B101
    started = incident.get("started_at")
    if incident.get("state") != "open":
        return {"verified": True, "firing": False, "rule": name}, "incident closed"
    if isinstance(started, bool) or not isinstance(started, (int, float)):
        return {"verified": False, "firing": True, "rule": name}, "incident has no start time"
    if now - started > int(cfg["auto_close_seconds"]):
        return {"verified": True, "firing": False, "rule": name}, "stale incident (a retry)"
    try:
        alerts = watch.open_alerts(send, str(cfg["target"]["project"]))
    except watch.ApiError as error:
        return {"verified": False, "firing": True, "rule": name}, f"alerts unreadable: {error}"
    firing = any(a.get("policy", {}).get("name") == policies[name] for a in alerts)
    return {"verified": True, "firing": firing, "rule": name}, (
        "alert open" if firing else "alert no longer open"
    )


def _report(record: dict[str, Any]) -> dict[str, Any]:
    severity = {"page": "CRITICAL", "ticket": "WARNING", "info": "INFO"}[record["tier"]]
    # Cloud Logging parses one JSON object per stdout line into jsonPayload.
    print(json.dumps({"severity": severity, **record}, sort_keys=True))
    return record


def handle(
    envelope: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    send: Any = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Handle one alert notification; returns (and logs) the report."""
    cfg = config if config is not None else json.loads(os.environ[CONFIG_ENV])
    client = send or watch.http_client(metadata_token)
    at = time.time() if now is None else now
    target = watch.Target(**cfg["target"])
    trigger, note = verify(parse_incident(envelope), cfg, client, at)
    zero = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    figures: dict[str, Any] = {"candidate": zero, "stable": zero}
    if trigger["verified"] and trigger["firing"]:
        try:
            figures = watch.samples(client, target, int(cfg["window_seconds"]) / 60, at)
        except watch.ApiError as error:
            note += f"; fresh data unreadable ({error})"
    observation = {"trigger": trigger, **figures, "settings": cfg["settings"]}
    decision = rollout.decide(rollout.parse_observation(observation)).to_dict()
    record: dict[str, Any] = {
        **decision,
        "rule": trigger["rule"],
        "note": note,
        "observation": observation,
        "tier": TIERS[(decision["action"], decision["page"])],
        "split": None,
    }
    if decision["action"] == "rollback":
        version = cfg["release"].get("candidate_version") or "unknown"
        try:
            record["split"] = watch.drain(client, target, watch.marker(version, at))
            # The marker that outlives `pulumi up`: this report line, parsed by Cloud Logging
            # into jsonPayload, carries the field the pipeline's rolled_back() looks for.
            record[watch.MARKER_FIELD] = watch.marker_payload(target, version, at)
        except watch.ApiError as error:
            # Traffic could not be moved: a person must act now; the retry tries again.
            _report({**record, "action": "rollback-failed", "tier": "page", "page": True,
                     "reason": f"{decision['reason']}; drain failed: {error}"})  # fmt: skip
            raise
    return _report(record)
