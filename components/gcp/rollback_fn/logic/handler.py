"""Glue of the rollback function: incident -> samples -> decision -> (maybe) reset the split."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from .decision import Action, Decision, Thresholds, decide, parse_incident
from .gcp_api import Transport, fetch_samples, reset_traffic, urllib_transport

CONFIG_ENV = "ROLLBACK_CONFIG"


def handle(
    envelope: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    send: Transport | None = None,
    now: float | None = None,
) -> Decision:
    """Handle one alert notification; returns the decision (and logs it as one JSON line)."""
    cfg = config if config is not None else json.loads(os.environ[CONFIG_ENV])
    transport = send or urllib_transport()
    incident = parse_incident(envelope)
    thresholds = Thresholds(**cfg["thresholds"])
    samples = fetch_samples(transport, cfg, time.time() if now is None else now)
    decision = decide(str(incident.get("state", "")), samples, thresholds)
    split: dict[str, int] | None = None
    if decision.action is Action.ROLLBACK:
        split = reset_traffic(transport, cfg["target"])
    # Cloud Logging reads one structured JSON line from stdout.
    print(
        json.dumps(
            {
                "severity": "WARNING" if split is not None else "INFO",
                "message": f"rollback {decision.action.value}: {decision.reason}",
                "policy": incident.get("policy_name"),
                "split": split,
            }
        )
    )
    return decision
