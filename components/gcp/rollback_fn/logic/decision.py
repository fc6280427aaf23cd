"""Pure decision logic of the automatic rollback: no I/O, unit-tested with recorded samples.

An alert policy on the candidate's error rate or p99 latency fired and published its incident to
Pub/Sub. Before touching traffic the function re-reads the candidate's recent metrics and decides:

- incident closed (the alert recovered)                  -> IGNORE
- candidate error rate above the rollback threshold        -> ROLLBACK
- candidate p99 above ``multiplier`` x the stable baseline -> ROLLBACK
- not enough candidate data to judge while the alert is open -> ROLLBACK (fail safe: taking a
  canary out costs little, keeping a broken one costs customers; the alert itself already saw a
  breach and we cannot show the candidate is healthy)
- otherwise (the breach is over by now)                  -> HOLD (humans were alerted anyway)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Action(str, Enum):
    """What the function does."""

    ROLLBACK = "rollback"
    HOLD = "hold"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Thresholds:
    """The rollout's rollback thresholds (from the spec, passed in the function's config)."""

    error_rate: float
    latency_multiplier: float
    baseline_p99_ms: float  # used when the stable version has no recent latency data
    min_requests: int = 20


@dataclass(frozen=True)
class Samples:
    """The candidate's and stable version's recent figures; None means no data in the window."""

    candidate_requests: float | None
    candidate_errors: float | None
    candidate_p99_ms: float | None
    stable_p99_ms: float | None


@dataclass(frozen=True)
class Decision:
    """The action and a one-line reason for the log."""

    action: Action
    reason: str


def decide(incident_state: str, samples: Samples, thresholds: Thresholds) -> Decision:
    """Whether to roll the candidate back, from the incident state and recent samples."""
    if incident_state.lower() != "open":
        return Decision(Action.IGNORE, f"incident is {incident_state or 'unknown'}, not open")
    requests = samples.candidate_requests
    if requests is None or requests < thresholds.min_requests:
        return Decision(
            Action.ROLLBACK,
            f"alert open and only {requests or 0:g} candidate requests in the window "
            f"(< {thresholds.min_requests}): cannot show the candidate is healthy",
        )
    error_rate = (samples.candidate_errors or 0.0) / requests
    if error_rate > thresholds.error_rate:
        return Decision(
            Action.ROLLBACK,
            f"candidate error rate {error_rate:.4f} > {thresholds.error_rate:g}",
        )
    baseline = samples.stable_p99_ms or thresholds.baseline_p99_ms
    limit = baseline * thresholds.latency_multiplier
    if samples.candidate_p99_ms is not None and samples.candidate_p99_ms > limit:
        return Decision(
            Action.ROLLBACK,
            f"candidate p99 {samples.candidate_p99_ms:g} ms > {thresholds.latency_multiplier:g}"
            f" x baseline {baseline:g} ms",
        )
    return Decision(
        Action.HOLD,
        f"no breach in the window: error rate {error_rate:.4f}, "
        f"p99 {samples.candidate_p99_ms if samples.candidate_p99_ms is not None else 'n/a'} ms",
    )


def parse_incident(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The Cloud Monitoring incident inside a Pub/Sub CloudEvent envelope (``{"message": ...}``)."""
    message = envelope.get("message", envelope)
    raw = message.get("data", "")
    try:
        payload = json.loads(base64.b64decode(raw).decode("utf-8")) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    incident = payload.get("incident", {}) if isinstance(payload, dict) else {}
    return incident if isinstance(incident, dict) else {}


def series_total(response: Mapping[str, Any]) -> float | None:
    """Sum of every point of a ``timeSeries.list`` response (counts); None when it has none."""
    values = [_point_value(p) for s in response.get("timeSeries", []) for p in s.get("points", [])]
    numbers = [v for v in values if v is not None]
    return sum(numbers) if numbers else None


def series_max(response: Mapping[str, Any]) -> float | None:
    """Largest point of a ``timeSeries.list`` response (percentiles); None when it has none."""
    values = [_point_value(p) for s in response.get("timeSeries", []) for p in s.get("points", [])]
    numbers = [v for v in values if v is not None]
    return max(numbers) if numbers else None


def _point_value(point: Mapping[str, Any]) -> float | None:
    value = point.get("value", {})
    for key in ("doubleValue", "int64Value"):
        if key in value:
            return float(value[key])
    return None


def reset_split(current: Mapping[str, int], stable_key: str, candidate_key: str) -> dict[str, int]:
    """The traffic split after a rollback: everything to stable, the candidate at 0."""
    split = {key: 0 for key in current}
    split[candidate_key] = 0
    split[stable_key] = 100
    return split
