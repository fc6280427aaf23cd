"""The Azure rollback service end to end against recorded Azure answers: it verifies the alert
at the scope it was raised on, re-reads the versions' samples, calls the one rollout rule
(components.rollout.decide, shipped as rollout_decision.py) and acts, for every shared vector,
a 403, a resolved (stale) alert and a forged one."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.azure import rollout as component
from components.azure.rollback_fn import arm
from components.azure.rollback_fn.decision import ROLLED_BACK_TAG
from components.azure.rollback_fn.handler import handle
from tests.journey.azure_doubles import (
    ALERT_GUID,
    APP,
    CONNECTION,
    CUSTOMER_ID,
    ENDPOINT,
    FORBIDDEN,
    WORKSPACE,
    Azure,
    alert,
    notification,
    sample_table,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rollout_decisions.json").read_text()
)["decisions"]
RULES = ["acme-prod-canary-error-rate", "acme-prod-canary-latency-ratio"]
RULE = RULES[0]
ALERT_URL = rf"{WORKSPACE}/providers/Microsoft\.AlertsManagement/alerts/{ALERT_GUID}\?"
QUERY_URL = rf"/v1/workspaces/{CUSTOMER_ID}/query$"
TRACK_URL = r"applicationinsights\.azure\.com/v2\.1/track$"


def env(kind: str = "container-app", settings: dict[str, Any] | None = None) -> dict[str, str]:
    s = settings or {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20}
    return {
        "ROLLBACK_ALERT_RULES": ",".join(RULES),
        "ROLLBACK_WORKSPACE_ID": WORKSPACE,
        "ROLLBACK_WORKSPACE_CUSTOMER_ID": CUSTOMER_ID,
        "ROLLBACK_SAMPLE_QUERY": "union ... | summarize ... by version",
        "ROLLBACK_TARGET_KIND": kind,
        "ROLLBACK_TARGET_ID": APP if kind == "container-app" else ENDPOINT,
        "ROLLBACK_STABLE": "acme-prod-model--v1-0-0-abc123" if kind == "container-app" else "blue",
        "ROLLBACK_CANDIDATE": "acme-prod-model--v1-1-0-def456"
        if kind == "container-app"
        else "green",
        "ROLLBACK_CANDIDATE_VERSION": "1.1.0",
        "ROLLBACK_ERROR_RATE": str(s["error_rate"]),
        "ROLLBACK_LATENCY_MULTIPLIER": str(s["latency_multiplier"]),
        "ROLLBACK_MIN_REQUESTS": str(s["min_requests"]),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "ROLLBACK_SERVICE_NAME": "acme-prod-rollback",
    }


APP_BODY: dict[str, Any] = {
    "location": "westeurope",
    "tags": {"project": "acme"},
    "properties": {
        "configuration": {
            "ingress": {
                "external": True,
                "ipSecurityRestrictions": [{"name": "apim-0", "ipAddressRange": "1.2.3.4/32"}],
                "traffic": [
                    {
                        "revisionName": "acme-prod-model--v1-0-0-abc123",
                        "weight": 90,
                        "label": "stable",
                    },
                    {"latestRevision": True, "weight": 10, "label": "candidate"},
                ],
            }
        }
    },
}
ENDPOINT_BODY: dict[str, Any] = {
    "location": "westeurope",
    "identity": {"type": "UserAssigned"},
    "tags": {"project": "acme"},
    "properties": {
        "authMode": "AADToken",
        "traffic": {"blue": 90, "green": 10},
        "mirrorTraffic": {},
        "scoringUri": "https://x",
        "provisioningState": "Succeeded",
    },
}


def azure(alert_reply: tuple[int, Any], samples: dict[str, Any] | None = None) -> Azure:
    double = Azure()
    double.on("GET", ALERT_URL, *alert_reply)
    double.on("POST", QUERY_URL, 200, sample_table(samples or {}))
    double.on("GET", rf"{APP}\?api-version=", 200, APP_BODY)
    double.on("PATCH", rf"{APP}\?api-version=", 200, {})
    double.on("GET", rf"{ENDPOINT}\?api-version=", 200, ENDPOINT_BODY)
    double.on("PUT", rf"{ENDPOINT}\?api-version=", 200, {})
    double.on("POST", TRACK_URL, 200, {"itemsReceived": 1, "itemsAccepted": 1})
    return double


def client(double: Azure) -> arm.ArmClient:
    return arm.ArmClient("http://127.0.0.1:42356/msi/token", "header", "client", double.transport)


def alert_reply(trigger: dict[str, Any]) -> tuple[int, Any]:
    """The Azure answer that makes the service see ``trigger``."""
    if not trigger["verified"]:
        return FORBIDDEN
    return 200, alert(RULE, "Fired" if trigger["firing"] else "Resolved")


def writes(double: Azure) -> list[tuple[str, str, Any]]:
    return [c for c in double.calls if c[0] in ("PATCH", "PUT")]


def reports(double: Azure) -> list[dict[str, Any]]:
    return [
        c[2][0]["data"]["baseData"]["properties"] for c in double.calls if "/v2.1/track" in c[1]
    ]


TRIGGERED = [v for v in VECTORS if v["input"].get("trigger")]


@pytest.mark.parametrize("vector", TRIGGERED, ids=[v["name"] for v in TRIGGERED])
def test_every_shared_vector_decides_the_same_through_the_service(vector: dict[str, Any]) -> None:
    data = vector["input"]
    double = azure(
        alert_reply(data["trigger"]), {"candidate": data["candidate"], "stable": data["stable"]}
    )
    result = handle(notification(RULE), env(settings=data["settings"]), client(double))
    assert (result["action"], result["page"]) == (vector["action"], vector["page"])
    assert bool(writes(double)) is (vector["action"] == "rollback")
    # Every decision is reported, with the page flag the page tier's rule routes on.
    (report,) = reports(double)
    assert (report["action"], report["page"]) == (vector["action"], str(vector["page"]).lower())


def test_a_403_on_the_alert_read_holds_and_pages_and_moves_nothing() -> None:
    double = azure(FORBIDDEN, {"candidate": {"requests": 200, "errors_5xx": 150, "p99_ms": 900.0}})
    result = handle(notification(RULE), env(), client(double))
    assert (result["action"], result["page"]) == ("hold", True)
    assert "read-back failed" in result["trigger"]["rule"] and "403" in result["trigger"]["rule"]
    assert writes(double) == []
    assert reports(double)[0]["page"] == "true"


def test_a_resolved_alert_is_ignored_however_bad_the_payload_claims_things_are() -> None:
    double = azure(
        (200, alert(RULE, "Resolved")),
        {"candidate": {"requests": 50, "errors_5xx": 50, "p99_ms": 1.0}},
    )
    result = handle(notification(RULE), env(), client(double))
    assert result["action"] == "ignore" and writes(double) == []


@pytest.mark.parametrize(
    ("reply", "payload"),
    [
        ((200, alert("acme-staging-canary-error-rate")), notification(RULE)),  # another stack's
        ((200, alert(RULE, target=WORKSPACE + "-other")), notification(RULE)),  # another scope
        ((200, {}), notification(RULE)),  # nothing readable
        ((200, alert(RULE)), notification(RULE, alert_id="/not/an/alert")),  # forged id
        ((200, alert(RULE)), {"hello": "world"}),  # not the common alert schema
    ],
)
def test_an_alert_azure_monitor_does_not_confirm_holds_and_pages(
    reply: tuple[int, Any], payload: dict[str, Any]
) -> None:
    double = azure(reply, {"candidate": {"requests": 500, "errors_5xx": 400, "p99_ms": 9000.0}})
    result = handle(payload, env(), client(double))
    assert (result["action"], result["page"]) == ("hold", True)
    assert writes(double) == []


def test_the_alert_is_read_at_the_workspace_it_was_raised_on_not_the_subscription() -> None:
    double = azure((200, alert(RULE)))
    handle(notification(RULE), env(), client(double))
    reads = [url for method, url, _ in double.calls if "AlertsManagement" in url]
    assert reads == [
        f"https://management.azure.com{WORKSPACE}/providers/Microsoft.AlertsManagement/alerts/"
        f"{ALERT_GUID}?api-version=2023-07-12-preview"
    ]


def test_a_verified_breach_with_no_readable_samples_rolls_back() -> None:
    double = azure((200, alert(RULE))).on("POST", QUERY_URL, *FORBIDDEN)
    result = handle(notification(RULE), env(), client(double))
    assert result["action"] == "rollback"


def test_rollback_moves_the_container_app_to_stable_keeps_ingress_and_writes_the_marker() -> None:
    double = azure(
        (200, alert(RULE)), {"candidate": {"requests": 100, "errors_5xx": 60, "p99_ms": 100.0}}
    )
    handle(notification(RULE), env(), client(double))
    ((method, url, body),) = writes(double)
    assert method == "PATCH" and url.startswith(f"https://management.azure.com{APP}?")
    ingress = body["properties"]["configuration"]["ingress"]
    assert ingress["traffic"] == [
        {"revisionName": "acme-prod-model--v1-0-0-abc123", "weight": 100, "label": "stable"}
    ]
    assert ingress["ipSecurityRestrictions"] == [{"name": "apim-0", "ipAddressRange": "1.2.3.4/32"}]
    assert body["tags"] == {"project": "acme", ROLLED_BACK_TAG: "1.1.0"}
    assert reports(double)[0] == {**reports(double)[0], "action": "rollback", "page": "false"}


def test_rollback_of_an_online_endpoint_stops_live_and_mirrored_candidate_traffic() -> None:
    double = azure((200, alert(RULE)))
    handle(notification(RULE), env("ml-online-endpoint"), client(double))
    ((method, _url, body),) = writes(double)
    assert method == "PUT"
    assert body["properties"]["traffic"] == {"blue": 100, "green": 0}
    assert body["properties"]["mirrorTraffic"] == {}
    assert "scoringUri" not in body["properties"]
    assert body["tags"][ROLLED_BACK_TAG] == "1.1.0"


def test_a_refused_write_pages_and_raises_so_the_action_group_retries() -> None:
    double = azure((200, alert(RULE))).on("PATCH", rf"{APP}\?", *FORBIDDEN)
    with pytest.raises(arm.AzureError):
        handle(notification(RULE), env(), client(double))
    assert reports(double)[0]["page"] == "true"


def test_every_request_the_service_makes_is_one_of_its_declared_calls() -> None:
    for kind in ("container-app", "ml-online-endpoint"):
        double = azure((200, alert(RULE)))
        handle(notification(RULE), env(kind), client(double))
        for method, url, _ in double.calls:
            assert any(
                c.method == method and __import__("re").fullmatch(c.url, url)
                for c in arm.CALLS.values()
            ), (method, url)


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[str]:
    """The service's package exactly as the Container App mounts it (secrets -> files)."""
    secrets = component.code_secrets()
    for item in component.code_volume_items():
        path = tmp_path / str(item.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets[str(item.secret_ref)])
    sys.path.insert(0, str(tmp_path))
    try:
        yield "rollback_fn"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "rollback_fn" or m.startswith("rollback_fn.")]:
            del sys.modules[name]


def test_the_shipped_package_decides_with_the_mounted_rollout_module(shipped: str) -> None:
    handler = importlib.import_module(f"{shipped}.handler")
    decision = importlib.import_module(f"{shipped}.decision")
    # The decision is the mounted copy of components/rollout.py, not the repository's module.
    assert decision.rollout.__name__ == f"{shipped}.rollout_decision"
    assert Path(decision.rollout.__file__).read_text() == component.ROLLOUT_MODULE.read_text()
    shipped_arm = importlib.import_module(f"{shipped}.arm")
    for vector in TRIGGERED:
        data = vector["input"]
        double = azure(
            alert_reply(data["trigger"]), {"candidate": data["candidate"], "stable": data["stable"]}
        )
        c = shipped_arm.ArmClient("http://127.0.0.1:1/msi/token", "h", "c", double.transport)
        result = handler.handle(notification(RULE), env(settings=data["settings"]), c)
        assert (result["action"], result["page"]) == (vector["action"], vector["page"]), vector[
            "name"
        ]
