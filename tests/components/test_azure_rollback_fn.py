"""The Azure rollback function's logic, with recorded metric samples and alert payloads.

The samples below are shaped like what Azure Monitor hands the function: per-minute values of
the candidate's 5xx rate / p99 latency as the rollback alarm's query computes them (None where
the log had no requests that minute), and common-alert-schema notifications of a log search
alert (``alertContext.condition.allOf[0]`` carries the measured value and the threshold).
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import HTTPServer
from typing import Any

import pytest

from components.azure.rollback_fn import arm
from components.azure.rollback_fn.decision import (
    Action,
    breached,
    decide,
    reset_body,
    reset_container_app,
    reset_online_endpoint,
    verify_alert,
)
from components.azure.rollback_fn.handler import handle
from components.azure.rollback_fn.server import RollbackRequestHandler

# Candidate 5xx rate per minute against a 5% rollback threshold, two periods required.
ERROR_RATE_BREACH = [0.004, 0.01, 0.02, 0.09, 0.12]
ERROR_RATE_HEALTHY = [0.004, 0.01, 0.002, 0.0, 0.03]
ERROR_RATE_SPIKE_ONCE = [0.004, 0.01, 0.02, 0.30, 0.01]
ERROR_RATE_MISSING = [0.004, 0.09, None, 0.12]
# Candidate p99 latency (ms) against 2 x 1500 ms.
LATENCY_BREACH = [900.0, 1200.0, 3100.0, 4800.0]
LATENCY_HEALTHY = [900.0, 1200.0, 1400.0, 1350.0]

ALERT_ID = (
    "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/"
    "0a1b2c3d-0000-4000-8000-000000000001"
)
RULE_ID = (
    "/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/scheduledqueryrules/"
    "acme-support-prod-canary-error-rate"
)
# The alert as Azure Monitor returns it (GET of the alert id), trimmed to what is read.
ALERT_RESOURCE: dict[str, Any] = {
    "id": ALERT_ID,
    "properties": {"essentials": {"alertRule": RULE_ID, "monitorCondition": "Fired"}},
}
RULES = {"acme-support-prod-canary-error-rate", "acme-support-prod-canary-latency-p99"}

FIRED_ALERT: dict[str, Any] = {
    "schemaId": "azureMonitorCommonAlertSchema",
    "data": {
        "essentials": {
            "alertId": ALERT_ID,
            "alertRule": "acme-support-prod-canary-error-rate",
            "severity": "Sev1",
            "signalType": "Log",
            "monitorCondition": "Fired",
            "monitoringService": "Log Alerts V2",
        },
        "alertContext": {
            "conditionType": "LogQueryCriteria",
            "condition": {
                "windowSize": "PT5M",
                "allOf": [
                    {
                        "metricMeasureColumn": "value",
                        "timeAggregation": "Maximum",
                        "operator": "GreaterThan",
                        "threshold": "0.05",
                        "metricValue": 0.12,
                        "dimensions": [],
                    }
                ],
            },
        },
        "customProperties": {
            "aideploy-signal": "canary-error-rate",
            "aideploy-tier": "page",
            "aideploy-rollback": "true",
        },
    },
}


def alert(**changes: Any) -> dict[str, Any]:
    """The recorded alert with ``condition`` / ``essentials`` / ``custom`` fields changed."""
    payload = copy.deepcopy(FIRED_ALERT)
    data = payload["data"]
    data["alertContext"]["condition"]["allOf"][0].update(changes.get("condition", {}))
    data["essentials"].update(changes.get("essentials", {}))
    data["customProperties"].update(changes.get("custom", {}))
    return payload


@pytest.mark.parametrize(
    ("samples", "threshold", "operator", "expected"),
    [
        (ERROR_RATE_BREACH, 0.05, "GreaterThan", Action.ROLLBACK),
        (ERROR_RATE_HEALTHY, 0.05, "GreaterThan", Action.IGNORE),
        (ERROR_RATE_SPIKE_ONCE, 0.05, "GreaterThan", Action.IGNORE),
        (ERROR_RATE_MISSING, 0.05, "GreaterThan", Action.HOLD),
        (LATENCY_BREACH, 3000.0, "GreaterThan", Action.ROLLBACK),
        (LATENCY_HEALTHY, 3000.0, "GreaterThan", Action.IGNORE),
        ([0.999, 0.97, 0.96], 0.995, "LessThan", Action.ROLLBACK),
        ([], 0.05, "GreaterThan", Action.HOLD),
        ([0.2, 0.3], 0.05, "Sideways", Action.HOLD),
    ],
)
def test_recorded_samples(
    samples: list[float | None], threshold: float, operator: str, expected: Action
) -> None:
    assert breached(samples, threshold, operator, periods=2).action is expected


def test_missing_data_in_the_window_holds_even_if_the_rest_breaches() -> None:
    # Only the last `periods` samples count: a gap there is missing data, not a breach.
    assert breached([0.2, 0.2, None], 0.05, "GreaterThan", 2).action is Action.HOLD
    assert breached([None, 0.2, 0.2], 0.05, "GreaterThan", 2).action is Action.ROLLBACK


def test_fired_rollback_alert_with_breaching_value_rolls_back() -> None:
    decision = decide(FIRED_ALERT)
    assert decision.action is Action.ROLLBACK
    assert "0.12" in decision.reason


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"condition": {"metricValue": 0.01}}, Action.IGNORE),  # no longer breaching
        ({"condition": {"metricValue": None}}, Action.HOLD),  # missing data
        ({"condition": {"metricValue": "NaN"}}, Action.HOLD),
        ({"condition": {"threshold": None}}, Action.HOLD),
        ({"essentials": {"monitorCondition": "Resolved"}}, Action.IGNORE),
        ({"custom": {"aideploy-rollback": "false"}}, Action.IGNORE),  # a paging-only alarm
        ({"condition": {"operator": "LessThan", "threshold": "0.995", "metricValue": 0.97}},
         Action.ROLLBACK),
    ],
)  # fmt: skip
def test_alert_payloads(changes: dict[str, Any], expected: Action) -> None:
    assert decide(alert(**changes)).action is expected


def test_payload_outside_the_common_schema_holds() -> None:
    assert decide({"text": "hello"}).action is Action.HOLD
    no_conditions = alert()
    no_conditions["data"]["alertContext"]["condition"]["allOf"] = []
    assert decide(no_conditions).action is Action.HOLD


CONTAINER_APP: dict[str, Any] = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/app",
    "location": "westeurope",
    "properties": {
        "configuration": {
            "activeRevisionsMode": "Multiple",
            "ingress": {
                "external": True,
                "allowInsecure": False,
                "ipSecurityRestrictions": [{"name": "apim-0", "ipAddressRange": "1.2.3.4/32"}],
                "traffic": [
                    {"revisionName": "app--v1-0-0", "weight": 90, "label": "stable"},
                    {"latestRevision": True, "weight": 10, "label": "candidate"},
                ],
            },
        }
    },
}

ONLINE_ENDPOINT: dict[str, Any] = {
    "location": "westeurope",
    "kind": "Managed",
    "identity": {"type": "SystemAssigned"},
    "tags": {"project": "acme"},
    "properties": {
        "authMode": "AADToken",
        "publicNetworkAccess": "Disabled",
        "traffic": {"blue": 90, "green": 10},
        "mirrorTraffic": {"green": 20},
        "provisioningState": "Succeeded",
        "scoringUri": "https://x.inference.ml.azure.com/score",
    },
}


def test_container_app_reset_keeps_ingress_settings_and_sends_all_to_stable() -> None:
    body = reset_container_app(CONTAINER_APP, "app--v1-0-0")
    ingress = body["properties"]["configuration"]["ingress"]
    assert ingress["traffic"] == [{"revisionName": "app--v1-0-0", "weight": 100, "label": "stable"}]
    assert ingress["ipSecurityRestrictions"] == [{"name": "apim-0", "ipAddressRange": "1.2.3.4/32"}]
    assert ingress["allowInsecure"] is False
    assert CONTAINER_APP["properties"]["configuration"]["ingress"]["traffic"][0]["weight"] == 90


def test_online_endpoint_reset_stops_live_and_mirrored_candidate_traffic() -> None:
    body = reset_online_endpoint(ONLINE_ENDPOINT, "blue", "green")
    assert body["properties"]["traffic"] == {"blue": 100, "green": 0}
    assert body["properties"]["mirrorTraffic"] == {}
    assert body["properties"]["authMode"] == "AADToken"
    assert "provisioningState" not in body["properties"]
    assert "scoringUri" not in body["properties"]
    assert body["location"] == "westeurope"


def test_unknown_target_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rollback target kind"):
        reset_body("vm", {}, "a", "b")


class FakeArm:
    """Records calls; serves the token endpoint, the alert and one resource."""

    def __init__(self, resource: Mapping[str, Any], alert: Mapping[str, Any] = ALERT_RESOURCE):
        self.resource = resource
        self.alert = alert
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, Any]:
        self.calls.append((method, url, json.loads(body) if body else None))
        if url.startswith("http://identity"):
            assert headers["X-IDENTITY-HEADER"] == "secret-header"
            return 200, {"access_token": "tok"}
        assert headers["Authorization"] == "Bearer tok"
        if "Microsoft.AlertsManagement/alerts/" in url:
            return (200, self.alert) if self.alert else (404, {})
        return 200, self.resource if method == "GET" else {}


ENV = {
    "ROLLBACK_ALERT_RULES": ",".join(sorted(RULES)),
    "ROLLBACK_TARGET_KIND": "ml-online-endpoint",
    "ROLLBACK_TARGET_ID": "/subscriptions/s/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e",
    "ROLLBACK_STABLE": "blue",
    "ROLLBACK_CANDIDATE": "green",
}


def client(fake: FakeArm) -> arm.ArmClient:
    return arm.ArmClient("http://identity/msi/token", "secret-header", "client-1", transport=fake)


def test_handler_rolls_back_the_configured_target_only() -> None:
    fake = FakeArm(ONLINE_ENDPOINT)
    result = json.loads(handle(FIRED_ALERT, ENV, client(fake)))
    assert result["action"] == "rollback"
    writes = [c for c in fake.calls if c[0] in {"PUT", "PATCH"}]
    assert len(writes) == 1
    method, url, body = writes[0]
    assert method == "PUT"
    assert url.startswith(f"{arm.ARM}{ENV['ROLLBACK_TARGET_ID']}?api-version=")
    assert body is not None and body["properties"]["traffic"] == {"blue": 100, "green": 0}
    token_call = fake.calls[0][1]
    assert "client_id=client-1" in token_call
    assert any(ALERT_ID in url for _, url, _ in fake.calls)  # the alert was read back first


FORGED = [
    pytest.param({}, id="alert-cannot-be-read"),
    pytest.param(
        {"properties": {"essentials": {"alertRule": RULE_ID + "x", "monitorCondition": "Fired"}}},
        id="someone-elses-rule",
    ),
    pytest.param(
        {"properties": {"essentials": {"alertRule": RULE_ID, "monitorCondition": "Resolved"}}},
        id="no-longer-fired",
    ),
]


@pytest.mark.parametrize("alert_resource", FORGED)
def test_a_notification_that_azure_monitor_does_not_confirm_moves_nothing(
    alert_resource: dict[str, Any],
) -> None:
    fake = FakeArm(ONLINE_ENDPOINT, alert_resource)
    result = json.loads(handle(FIRED_ALERT, ENV, client(fake)))
    assert result["action"] == "hold"
    assert [c for c in fake.calls if c[0] in {"PUT", "PATCH"}] == []


def test_verify_alert_accepts_only_fired_alerts_of_the_stacks_rules() -> None:
    assert verify_alert(ALERT_RESOURCE, RULES) is None
    held = verify_alert(ALERT_RESOURCE, {"other"})
    assert held is not None and held.action is Action.HOLD
    assert verify_alert({"properties": {}}, RULES) is not None


def test_an_alert_id_outside_arm_is_never_fetched() -> None:
    payload = alert(essentials={"alertId": "https://evil.example/alert"})
    fake = FakeArm(ONLINE_ENDPOINT)
    assert json.loads(handle(payload, ENV, client(fake)))["action"] == "hold"
    assert all("evil" not in url for _, url, _ in fake.calls)


@pytest.mark.parametrize("payload", [alert(condition={"metricValue": None}), {"data": {}}])
def test_handler_does_not_touch_the_target_without_a_breach(payload: dict[str, Any]) -> None:
    fake = FakeArm(ONLINE_ENDPOINT)
    result = json.loads(handle(payload, ENV, client(fake)))
    assert result["action"] in {"hold", "ignore"}
    assert fake.calls == []


def test_container_app_target_is_patched() -> None:
    fake = FakeArm(CONTAINER_APP)
    env = {**ENV, "ROLLBACK_TARGET_KIND": "container-app", "ROLLBACK_STABLE": "app--v1-0-0"}
    handle(FIRED_ALERT, env, client(fake))
    assert [c[0] for c in fake.calls if c[0] != "GET"] == ["PATCH"]


def test_failed_arm_call_raises_so_the_action_group_retries() -> None:
    def failing(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Any:
        if "identity" in url:
            return 200, {"access_token": "tok"}
        return (200, ALERT_RESOURCE) if "AlertsManagement" in url else (403, {})

    c = arm.ArmClient("http://identity/msi/token", "h", "c", transport=failing)
    with pytest.raises(RuntimeError, match="HTTP 403"):
        handle(FIRED_ALERT, ENV, c)


def test_real_transport_refuses_plain_http() -> None:
    with pytest.raises(ValueError, match="non-HTTPS"):
        arm.urllib_transport("GET", "http://example.com/x", {}, None)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in {**ENV, "IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi", "IDENTITY_HEADER": "h",
                       "ROLLBACK_IDENTITY_CLIENT_ID": "c"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    httpd = HTTPServer(("127.0.0.1", 0), RollbackRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def call(url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_server_routes_health_alerts_and_rejects_the_rest(server: str) -> None:
    assert call(f"{server}/healthz") == (200, {"ok": True})
    assert call(f"{server}/other")[0] == 404
    assert call(f"{server}/api/rollback", b"not json")[0] == 400
    resolved = json.dumps(alert(essentials={"monitorCondition": "Resolved"})).encode()
    status, body = call(f"{server}/api/rollback", resolved)
    assert (status, body["action"]) == (200, "ignore")  # decided without touching ARM
