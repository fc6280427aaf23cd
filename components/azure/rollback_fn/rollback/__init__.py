"""HTTP-triggered entry point: an action group posts a rollback alert, traffic returns to stable.

Azure Functions (Python, v1 programming model: function.json beside this file) calls
:func:`main` with the request; returning a string makes the HTTP response body. Configuration
comes from app settings the component sets; the target is never taken from the request, so a
forged call can at most roll back the one resource this function is allowed to touch.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from ..arm import ArmClient
from ..decision import Action, decide, reset_body

log = logging.getLogger("aideploy.rollback")


def handle(payload: Mapping[str, Any], env: Mapping[str, str], client: ArmClient) -> str:
    """Decide and, on ROLLBACK, reset the configured target. Returns a JSON summary."""
    decision = decide(payload)
    log.warning("rollback decision: %s (%s)", decision.action.value, decision.reason)
    if decision.action is Action.ROLLBACK:
        kind = env["ROLLBACK_TARGET_KIND"]
        target = env["ROLLBACK_TARGET_ID"]
        current = client.get(target, kind)
        body = reset_body(kind, current, env["ROLLBACK_STABLE"], env["ROLLBACK_CANDIDATE"])
        client.write(target, kind, body)
    return json.dumps({"action": decision.action.value, "reason": decision.reason})


def main(req: Any) -> str:
    """Azure Functions entry point (``req`` is an ``azure.functions.HttpRequest``)."""
    try:
        payload = req.get_json()
    except ValueError:
        payload = {}
    env = dict(os.environ)
    client = ArmClient(
        identity_endpoint=env["IDENTITY_ENDPOINT"],
        identity_header=env["IDENTITY_HEADER"],
        client_id=env["ROLLBACK_IDENTITY_CLIENT_ID"],
    )
    return handle(payload if isinstance(payload, Mapping) else {}, env, client)
