"""Pure decision logic of the rollback function (no I/O, unit-tested with recorded samples).

Two questions, answered from data only:
1. should this alert roll the candidate back? (:func:`decide`, from a common-alert-schema
   payload, or :func:`breached` from a recorded series of per-period metric samples);
2. what must the target's traffic look like afterwards? (:func:`reset_container_app`,
   :func:`reset_online_endpoint`, which turn the resource as read from ARM into the body to
   write back).

Missing data never rolls back: a rollback alert is built to fire only on sustained measured
breaches, so a fired alert without a measured value is malformed or stale and acting on it
could move traffic for no reason. It is reported (HOLD) so a human looks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Action(str, Enum):
    """What the function does about one alert."""

    ROLLBACK = "rollback"  # move all traffic to the stable version
    IGNORE = "ignore"  # nothing to do (resolved, not a rollback alert, no breach)
    HOLD = "hold"  # cannot tell (missing data): do nothing, report it


@dataclass(frozen=True)
class Decision:
    """The action and a one-line reason (logged and returned to the caller)."""

    action: Action
    reason: str


# ARM condition operators and whether ``value`` breaches ``threshold`` under each.
_BREACHES: dict[str, Any] = {
    "GreaterThan": lambda v, t: v > t,
    "GreaterThanOrEqual": lambda v, t: v >= t,
    "LessThan": lambda v, t: v < t,
    "LessThanOrEqual": lambda v, t: v <= t,
}


def _number(value: Any) -> float | None:
    """A finite float, or None for anything missing or unparsable (strings included)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def breached(
    samples: Sequence[float | None], threshold: float, operator: str, periods: int
) -> Decision:
    """Decide from a recorded series (oldest first, one value per period, None = no data).

    Rolls back only when each of the last ``periods`` samples exists and breaches.
    """
    if operator not in _BREACHES:
        return Decision(Action.HOLD, f"unknown operator {operator!r}")
    recent = list(samples)[-periods:] if periods > 0 else []
    if len(recent) < periods or any(_number(s) is None for s in recent):
        return Decision(Action.HOLD, f"missing data in the last {periods} periods")
    values = [_number(s) for s in recent]
    if all(v is not None and _BREACHES[operator](v, threshold) for v in values):
        return Decision(Action.ROLLBACK, f"{periods} periods {operator} {threshold:g}")
    return Decision(Action.IGNORE, f"not every one of the last {periods} periods breached")


def decide(payload: Mapping[str, Any]) -> Decision:
    """Decide from an alert notification in the common alert schema.

    Acts only on a *fired* alert whose rule is marked ``aideploy-rollback: true`` and whose
    measured value still breaches the rule's own threshold.
    """
    data = payload.get("data")
    if not isinstance(data, Mapping):
        return Decision(Action.HOLD, "payload is not in the common alert schema")
    essentials = data.get("essentials") or {}
    if essentials.get("monitorCondition") != "Fired":
        return Decision(Action.IGNORE, f"alert is {essentials.get('monitorCondition')!r}")
    custom = data.get("customProperties") or {}
    if str(custom.get("aideploy-rollback", "")).lower() != "true":
        return Decision(Action.IGNORE, "alert rule does not trigger rollback")
    conditions = ((data.get("alertContext") or {}).get("condition") or {}).get("allOf") or []
    if not conditions:
        return Decision(Action.HOLD, "alert carries no condition")
    condition = conditions[0]
    value = _number(condition.get("metricValue"))
    threshold = _number(condition.get("threshold"))
    operator = str(condition.get("operator", ""))
    if value is None or threshold is None:
        return Decision(Action.HOLD, "missing data: alert has no measured value or threshold")
    if operator not in _BREACHES:
        return Decision(Action.HOLD, f"unknown operator {operator!r}")
    if _BREACHES[operator](value, threshold):
        rule = essentials.get("alertRule", "alert")
        return Decision(Action.ROLLBACK, f"{rule}: {value:g} {operator} {threshold:g}")
    return Decision(Action.IGNORE, f"{value:g} no longer breaches {threshold:g}")


def verify_alert(alert: Mapping[str, Any], rules: set[str]) -> Decision | None:
    """Check the alert as Azure Monitor holds it (GET of its ``alertId``): None when it is a
    fired alert of one of ``rules`` (rule names, lower case), else the HOLD to return.

    This is what makes the notification only a trigger: the caller cannot invent an alert.
    """
    essentials = (alert.get("properties") or {}).get("essentials") or {}
    if not essentials:
        return Decision(Action.HOLD, "the alert could not be read back from Azure Monitor")
    rule = str(essentials.get("alertRule", "")).rstrip("/").rsplit("/", 1)[-1].lower()
    if rule not in rules:
        return Decision(Action.HOLD, f"alert rule {rule!r} is not a rollback rule of this stack")
    if essentials.get("monitorCondition") != "Fired":
        return Decision(Action.HOLD, "the alert is no longer fired")
    return None


def reset_container_app(app: Mapping[str, Any], stable_revision: str) -> dict[str, Any]:
    """The PATCH body that sends 100% of a Container App's traffic to ``stable_revision``.

    The ingress section is written back whole (only ``traffic`` changes), so no other ingress
    setting (IP restrictions, TLS) is lost by the update.
    """
    ingress = dict(((app.get("properties") or {}).get("configuration") or {}).get("ingress") or {})
    ingress["traffic"] = [{"revisionName": stable_revision, "weight": 100, "label": "stable"}]
    return {"properties": {"configuration": {"ingress": ingress}}}


# Read-only fields ARM returns on an online endpoint and refuses (or ignores) on PUT.
_ENDPOINT_READ_ONLY = frozenset({"provisioningState", "scoringUri", "swaggerUri"})


def reset_online_endpoint(
    endpoint: Mapping[str, Any], stable: str, candidate: str
) -> dict[str, Any]:
    """The PUT body that gives ``stable`` 100% and stops live and mirrored candidate traffic."""
    properties = {
        k: v for k, v in (endpoint.get("properties") or {}).items() if k not in _ENDPOINT_READ_ONLY
    }
    properties["traffic"] = {stable: 100, candidate: 0}
    properties["mirrorTraffic"] = {}
    body: dict[str, Any] = {
        key: endpoint[key] for key in ("location", "kind", "identity", "tags") if key in endpoint
    }
    body["properties"] = properties
    return body


# What the service can reset; it picks by its ROLLBACK_TARGET_KIND setting.
TARGET_KINDS: tuple[str, ...] = ("container-app", "ml-online-endpoint")


def reset_body(
    kind: str, resource: Mapping[str, Any], stable: str, candidate: str
) -> dict[str, Any]:
    """The body that resets ``resource`` (as read from ARM) to all-stable traffic."""
    builders = {
        "container-app": lambda: reset_container_app(resource, stable),
        "ml-online-endpoint": lambda: reset_online_endpoint(resource, stable, candidate),
    }
    if kind not in builders:
        raise ValueError(f"unknown rollback target kind {kind!r} (expected {TARGET_KINDS})")
    return builders[kind]()
