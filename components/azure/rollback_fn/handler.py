"""What one rollback notification does: decide, verify the alert is real, reset the target.

Configuration comes from the environment the component sets; the target is never taken from the
request. The request is only a trigger: before anything moves, the alert it names is read back
from Azure Monitor with the function's own identity and must exist, be fired, and belong to one
of this stack's rollback rules, so a forged call cannot roll anything back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from .arm import ArmClient
from .decision import Action, Decision, decide, reset_body, verify_alert

log = logging.getLogger("aideploy.rollback")


def handle(payload: Mapping[str, Any], env: Mapping[str, str], client: ArmClient) -> str:
    """Decide and, on ROLLBACK of a verified alert, reset the target. Returns a JSON summary."""
    decision = decide(payload)
    if decision.action is Action.ROLLBACK:
        alert_id = str(((payload.get("data") or {}).get("essentials") or {}).get("alertId", ""))
        rules = {r.strip().lower() for r in env["ROLLBACK_ALERT_RULES"].split(",") if r.strip()}
        checked = verify_alert(_read_alert(client, alert_id), rules)
        if checked is not None:
            decision = checked
    log.warning("rollback decision: %s (%s)", decision.action.value, decision.reason)
    if decision.action is Action.ROLLBACK:
        _reset(env, client)
    return json.dumps({"action": decision.action.value, "reason": decision.reason})


def _read_alert(client: ArmClient, alert_id: str) -> Mapping[str, Any]:
    """The alert as Azure Monitor holds it, or {} when it is not an ARM id or cannot be read
    (a forged id is a 404: answering, rather than failing, stops the sender's retries)."""
    if not alert_id.startswith("/subscriptions/"):
        return {}
    try:
        return client.get(alert_id, "alert")
    except RuntimeError:
        return {}


def _reset(env: Mapping[str, str], client: ArmClient) -> Decision:
    kind = env["ROLLBACK_TARGET_KIND"]
    target = env["ROLLBACK_TARGET_ID"]
    current = client.get(target, kind)
    client.write(target, kind, reset_body(kind, current, env["ROLLBACK_STABLE"],
                                          env["ROLLBACK_CANDIDATE"]))  # fmt: skip
    return Decision(Action.ROLLBACK, f"{target} reset to {env['ROLLBACK_STABLE']}")
