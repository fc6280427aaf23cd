"""Pure parts of the rollback service (no I/O): what the notification names, what the alert read
back from Azure Monitor proves, the samples a log query returned, and the body that moves all
traffic to the stable version and leaves the rolled-back marker (review E8).

The decision itself is not here: it is ``components.rollout.decide``, shipped beside this file as
``rollout_decision.py`` (the one rule every cloud's rollback and the pipeline's watch use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components import rollout
else:
    try:  # the deployed service: components/rollout.py is mounted as rollout_decision.py
        from . import rollout_decision as rollout
    except ImportError:  # in the repository the module lives at components/rollout.py
        from components import rollout

Observation = rollout.Observation
Sample = rollout.Sample
Settings = rollout.Settings
Trigger = rollout.Trigger
Decision = rollout.Decision
Action = rollout.Action
decide = rollout.decide

# The tag the rollback writes on the target (and release_watch.rolled_back reads): the
# candidate version that was removed from traffic.
ROLLED_BACK_TAG = "aideploy-rolled-back"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _essentials(body: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    node: Any = body
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _rule_name(rule_id: Any) -> str:
    return str(rule_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def alert_guid(payload: Mapping[str, Any]) -> tuple[str | None, str]:
    """(the alert's GUID, the rule it names) from a common-alert-schema notification; the GUID
    is None when the payload does not carry a well-formed one. Nothing else is taken from it."""
    essentials = _essentials(payload, "data", "essentials")
    rule = str(essentials.get("alertRule") or "<no rule in the notification>")
    alert_id = str(essentials.get("alertId") or "")
    tail = alert_id.rstrip("/").rsplit("/", 1)[-1]
    if not alert_id.startswith("/subscriptions/") or not _GUID.fullmatch(tail):
        return None, rule
    return tail.lower(), rule


def trigger_from_alert(
    alert: Mapping[str, Any], rules: set[str], workspace_id: str, named_rule: str
) -> Trigger:
    """What the alert as Azure Monitor holds it proves: verified when it is an alert of one of
    ``rules`` (lower-case names) raised on this stack's workspace; firing when still Fired and
    not closed. Anything else (another rule, another scope, no essentials) is unverifiable."""
    essentials = _essentials(alert, "properties", "essentials")
    rule = _rule_name(essentials.get("alertRule"))
    if not essentials or not rule:
        return Trigger(False, True, f"alert for {named_rule!r} (unreadable alert)")
    if rule not in rules:
        return Trigger(False, True, f"{rule} (not a rollback rule of this stack)")
    target = str(essentials.get("targetResource") or "").lower()
    if target != workspace_id.lower():
        return Trigger(False, True, f"{rule} (raised on {target or 'no resource'})")
    firing = essentials.get("monitorCondition") == "Fired" and essentials.get("alertState") != (
        "Closed"
    )
    return Trigger(True, firing, rule)


def samples(rows: Sequence[Mapping[str, Any]]) -> tuple[Sample, Sample]:
    """(candidate, stable) from the sample query's rows (``version``, ``requests``,
    ``errors_5xx``, ``p99_ms``); a version without a row had no requests."""
    found: dict[str, Sample] = {}
    for row in rows:
        requests = int(row.get("requests") or 0)
        errors = min(int(row.get("errors_5xx") or 0), requests)
        p99 = row.get("p99_ms")
        found[str(row.get("version"))] = Sample(
            requests, errors, float(p99) if isinstance(p99, (int, float)) and requests else None
        )
    empty = Sample(0, 0, None)
    return found.get("candidate", empty), found.get("stable", empty)


def reset_container_app(
    app: Mapping[str, Any], stable_revision: str, candidate_version: str
) -> dict[str, Any]:
    """The PATCH body that sends 100% of a Container App's traffic to ``stable_revision`` and
    tags the app with the rolled-back candidate.

    The ingress section is written back whole (only ``traffic`` changes), so no other ingress
    setting (IP restrictions, TLS) is lost by the update.
    """
    ingress = dict(((app.get("properties") or {}).get("configuration") or {}).get("ingress") or {})
    ingress["traffic"] = [{"revisionName": stable_revision, "weight": 100, "label": "stable"}]
    tags = {**(app.get("tags") or {}), ROLLED_BACK_TAG: candidate_version}
    return {"tags": tags, "properties": {"configuration": {"ingress": ingress}}}


# Read-only fields ARM returns on an online endpoint and refuses (or ignores) on PUT.
_ENDPOINT_READ_ONLY = frozenset({"provisioningState", "scoringUri", "swaggerUri"})


def reset_online_endpoint(
    endpoint: Mapping[str, Any], stable: str, candidate: str, candidate_version: str
) -> dict[str, Any]:
    """The PUT body that gives ``stable`` 100%, stops live and mirrored candidate traffic and
    tags the endpoint with the rolled-back candidate."""
    properties = {
        k: v for k, v in (endpoint.get("properties") or {}).items() if k not in _ENDPOINT_READ_ONLY
    }
    properties["traffic"] = {stable: 100, candidate: 0}
    properties["mirrorTraffic"] = {}
    body: dict[str, Any] = {
        key: endpoint[key] for key in ("location", "kind", "identity", "sku") if key in endpoint
    }
    body["tags"] = {**(endpoint.get("tags") or {}), ROLLED_BACK_TAG: candidate_version}
    body["properties"] = properties
    return body


# What the service can reset; it picks by its ROLLBACK_TARGET_KIND setting.
TARGET_KINDS: tuple[str, ...] = ("container-app", "ml-online-endpoint")


def reset_body(
    kind: str, resource: Mapping[str, Any], stable: str, candidate: str, candidate_version: str
) -> dict[str, Any]:
    """The body that resets ``resource`` (as read from ARM) to all-stable traffic."""
    if kind == "container-app":
        return reset_container_app(resource, stable, candidate_version)
    if kind == "ml-online-endpoint":
        return reset_online_endpoint(resource, stable, candidate, candidate_version)
    raise ValueError(f"unknown rollback target kind {kind!r} (expected {TARGET_KINDS})")
