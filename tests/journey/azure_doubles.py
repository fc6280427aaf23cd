"""A local double of the Azure APIs the rollback service and the release watch call: recorded
responses by (method, URL pattern), every request kept, so tests can hold the calls made to the
rights granted. The bodies are shaped like the documented answers (Alerts - Get By Id
2023-07-12-preview, Log Analytics Query API, Container Apps / ML online endpoints GET)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SUB = "aaaaaaaa-0000-4000-8000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/acme-prod-rg"
WORKSPACE = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/acme-prod-logs"
CUSTOMER_ID = "0f0f0f0f-1111-4222-8333-444444444444"
APP = f"{RG}/providers/Microsoft.App/containerApps/acme-prod-model"
ML_WS = f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/acme-prod-mlw"
ENDPOINT = f"{ML_WS}/onlineEndpoints/acme-prod-ep"
ALERT_GUID = "66114d64-d9d9-478b-95c9-b789d6502100"
CONNECTION = (
    "InstrumentationKey=00000000-1111-2222-3333-444444444444;"
    "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"
)


def rule_id(name: str) -> str:
    return f"{RG}/providers/microsoft.insights/scheduledqueryrules/{name}"


def alert(rule: str, condition: str = "Fired", target: str = WORKSPACE) -> dict[str, Any]:
    """An alert as Alerts - Get By Id returns it."""
    return {
        "id": f"{target}/providers/Microsoft.AlertsManagement/alerts/{ALERT_GUID}",
        "name": rule,
        "properties": {
            "essentials": {
                "severity": "Sev2",
                "signalType": "Log",
                "alertState": "New",
                "monitorCondition": condition,
                "monitorService": "Log Alerts V2",
                "targetResource": target,
                "alertRule": rule_id(rule),
            }
        },
    }


def notification(rule: str, alert_id: str | None = None) -> dict[str, Any]:
    """A common-alert-schema notification as an action group posts it."""
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": alert_id
                or f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{ALERT_GUID}",
                "alertRule": rule,
                "monitorCondition": "Fired",
                "alertTargetIDs": [WORKSPACE.lower()],
            },
            "alertContext": {"condition": {"allOf": [{"searchQuery": "..."}]}},
        },
    }


def sample_table(samples: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The Log Analytics answer to the sample query: one row per version with requests."""
    rows = [
        [version, s["requests"], s["errors_5xx"], s["p99_ms"]]
        for version, s in samples.items()
        if s["requests"]
    ]
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [
                    {"name": "version", "type": "string"},
                    {"name": "requests", "type": "long"},
                    {"name": "errors_5xx", "type": "long"},
                    {"name": "p99_ms", "type": "real"},
                ],
                "rows": rows,
            }
        ]
    }


FORBIDDEN = (
    403,
    {"error": {"code": "AuthorizationFailed", "message": "does not have authorization"}},
)


@dataclass
class Azure:
    """Recorded answers; ``calls`` keeps (method, url, body) of every request."""

    # (method, URL pattern, reply): a recorded (status, body), or a function of the request
    # body that answers one (a double that computes, e.g. a query over recorded rows).
    routes: list[tuple[str, str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def on(self, method: str, pattern: str, status: int, body: Any) -> Azure:
        self.routes.insert(0, (method, pattern, (status, body)))
        return self

    def respond(self, method: str, pattern: str, reply: Callable[[Any], tuple[int, Any]]) -> Azure:
        """Answer matching requests with ``reply(request body)``."""
        self.routes.insert(0, (method, pattern, reply))
        return self

    def answer(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        self.calls.append((method, url, body))
        for m, pattern, reply in self.routes:
            if m == method and re.search(pattern, url):
                result: tuple[int, Any] = reply(body) if callable(reply) else reply
                return result
        return 404, {"error": {"code": "NotFound"}}

    # the rollback service's transport: (method, url, headers, bytes body)
    def transport(
        self, method: str, url: str, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, Any]:
        if "/msi/token" in url:
            return 200, {"access_token": "token"}
        return self.answer(method, url, json.loads(data) if data else None)

    # the release watch's transport: (method, url, token, body)
    def send(self, method: str, url: str, token: str, body: Any) -> tuple[int, Any]:
        assert token.startswith("token-for-")
        return self.answer(method, url, body)
