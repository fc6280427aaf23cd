"""components/azure/release_watch.py against recorded Azure answers: the observation it hands
``components.rollout.decide`` (shared vectors), alarm matching by exact name, a 403 and an
unreadable alert list, the rolled-back marker the rollback service writes, the drain, and a
fresh CLI token for every call (a watch outlives one token, review #6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import rollout
from components.azure import release_watch as watch
from components.azure.rollback_fn import decision as service
from tests.journey.azure_doubles import (
    APP,
    CUSTOMER_ID,
    ENDPOINT,
    FORBIDDEN,
    ML_WS,
    RG,
    WORKSPACE,
    Azure,
    alert,
    sample_table,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rollout_decisions.json").read_text()
)["decisions"]
NAMES = ["acme-prod-canary-error-rate", "acme-prod-canary-latency-ratio"]
API_OUTPUTS: dict[str, Any] = {
    "log_group": WORKSPACE,
    "serving_service": "acme-prod-model",
    "rollback_alarms": NAMES,
    "health_url": "https://acme.azurefd.net/status/model/health",
}
ML_OUTPUTS: dict[str, Any] = {
    "endpoint_name": "acme-prod-ep",
    "rollback_trigger": f"{RG}/providers/Microsoft.Insights/actionGroups/acme-prod-rollback",
    "rollback_alarms": NAMES,
}
SETTINGS = {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20}
RULE_URL = r"/providers/Microsoft\.Insights/scheduledQueryRules/acme-prod-canary-error-rate\?"
ALERTS_URL = rf"{WORKSPACE}/providers/Microsoft\.AlertsManagement/alerts\?"
RULE_BODY = {
    "properties": {
        "scopes": [WORKSPACE],
        "actions": {"customProperties": {watch.SAMPLES_PROPERTY: "union ... by version"}},
    }
}


def cloud(fired: list[dict[str, Any]], samples: dict[str, Any] | None = None) -> Azure:
    double = Azure()
    double.on("GET", RULE_URL, 200, RULE_BODY)
    double.on("GET", ALERTS_URL, 200, {"value": fired})
    double.on("GET", rf"{WORKSPACE}\?", 200, {"properties": {"customerId": CUSTOMER_ID}})
    double.on("POST", rf"/v1/workspaces/{CUSTOMER_ID}/query$", 200, sample_table(samples or {}))
    return double


def client(double: Azure, tokens: list[str] | None = None) -> watch.Client:
    def token(audience: str) -> str:
        if tokens is not None:
            tokens.append(audience)
        return f"token-for-{audience}"

    return watch.Client(send=double.send, token=token)


WATCHED = [
    v for v in VECTORS if v["input"].get("trigger") is None or v["input"]["trigger"]["firing"]
]


def replay(trigger: dict[str, Any] | None) -> tuple[list[dict[str, Any]], bool]:
    """(fired alerts to list, whether the list read fails) that make the watch see ``trigger``."""
    if trigger is None:
        return [alert("acme-staging-canary-error-rate")], False  # another stack's alert
    if not trigger["verified"]:
        return [], True
    return [alert(NAMES[0])], False


@pytest.mark.parametrize("vector", WATCHED, ids=[v["name"] for v in WATCHED])
def test_the_observation_decides_like_the_shared_vector(vector: dict[str, Any]) -> None:
    data = vector["input"]
    fired, fails = replay(data.get("trigger"))
    double = cloud(fired, {"candidate": data["candidate"], "stable": data["stable"]})
    if fails:
        double.on("GET", ALERTS_URL, *FORBIDDEN)
    observed = watch.observe(API_OUTPUTS, data["settings"], 10, client=client(double))
    decision = rollout.decide(rollout.parse_observation(observed))
    assert (decision.action.value, decision.page) == (vector["action"], vector["page"])
    if fails:
        assert observed["trigger"]["verified"] is False and "403" in observed["trigger"]["rule"]
    else:
        assert observed["candidate"] == data["candidate"] and observed["stable"] == data["stable"]


def test_alarms_match_by_exact_name_only() -> None:
    # A staging alert whose name contains the prod key, and a prod name as a prefix: no match.
    fired = [alert("acme-staging-canary-error-rate"), alert("acme-prod-canary-error-rate-old")]
    observed = watch.observe(API_OUTPUTS, SETTINGS, 10, client=client(cloud(fired)))
    assert "trigger" not in observed
    observed = watch.observe(API_OUTPUTS, SETTINGS, 10, client=client(cloud([alert(NAMES[1])])))
    assert observed["trigger"] == {"verified": True, "firing": True, "rule": NAMES[1]}


@pytest.mark.parametrize("broken", [FORBIDDEN, (200, {"unexpected": True}), (500, {})])
def test_an_unreadable_alarm_state_is_an_unverifiable_firing_trigger(
    broken: tuple[int, Any],
) -> None:
    double = cloud([]).on("GET", ALERTS_URL, *broken)
    observed = watch.observe(API_OUTPUTS, SETTINGS, 10, client=client(double))
    assert observed["trigger"]["verified"] is False and observed["trigger"]["firing"] is True
    assert rollout.decide(rollout.parse_observation(observed)).page is True


def test_the_watch_reads_the_same_tables_for_managed_platform() -> None:
    double = cloud(
        [alert(NAMES[0])], {"candidate": {"requests": 30, "errors_5xx": 9, "p99_ms": 50.0}}
    )
    observed = watch.observe(ML_OUTPUTS, SETTINGS, 10, client=client(double))
    assert observed["trigger"]["verified"] is True
    assert observed["candidate"]["errors_5xx"] == 9
    assert any(
        f"{RG}/providers/Microsoft.Insights/scheduledQueryRules/" in c[1] for c in double.calls
    )


def test_event_driven_is_not_watched() -> None:
    observed = watch.observe({"queue_name": "q"}, SETTINGS, 10, client=client(Azure()))
    assert "trigger" not in observed
    assert (
        observed["candidate"]
        == observed["stable"]
        == {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    )


def test_every_call_fetches_a_fresh_token_for_its_audience() -> None:
    tokens: list[str] = []
    double = cloud(
        [alert(NAMES[0])], {"candidate": {"requests": 30, "errors_5xx": 0, "p99_ms": 5.0}}
    )
    watch.observe(API_OUTPUTS, SETTINGS, 10, client=client(double, tokens))
    assert len(tokens) == len(double.calls) == 4
    assert tokens.count("https://api.loganalytics.io") == 1


def marked(version: str | None) -> dict[str, Any]:
    tags = {"project": "acme"} | ({service.ROLLED_BACK_TAG: version} if version else {})
    return {"tags": tags, "properties": {}}


@pytest.mark.parametrize(("tag", "expected"), [("1.1.0", True), ("1.0.9", False), (None, False)])
def test_rolled_back_reads_the_marker_the_rollback_service_writes(
    tag: str | None, expected: bool
) -> None:
    # The marker is the one the service writes (same tag name on both sides).
    assert watch.ROLLED_BACK_TAG == service.ROLLED_BACK_TAG
    double = Azure().on("GET", rf"{APP}\?", 200, marked(tag))
    assert watch.rolled_back(API_OUTPUTS, "1.1.0", client=client(double)) is expected
    ml = (
        Azure()
        .on("GET", r"/workspaces\?", 200, {"value": [{"id": ML_WS}]})
        .on("GET", rf"{ENDPOINT}\?", 200, marked(tag))
    )
    assert watch.rolled_back(ML_OUTPUTS, "1.1.0", client=client(ml)) is expected


def test_after_a_service_rollback_the_watch_sees_it() -> None:
    app = {"tags": {"project": "acme"}, "properties": {"configuration": {"ingress": {}}}}
    body = service.reset_container_app(app, "acme-prod-model--v1-0-0-abc", "1.1.0")
    double = Azure().on("GET", rf"{APP}\?", 200, body)
    assert watch.rolled_back(API_OUTPUTS, "1.1.0", client=client(double))


def test_drain_writes_what_the_rollback_service_writes() -> None:
    app = {
        "tags": {"project": "acme"},
        "properties": {
            "configuration": {
                "ingress": {
                    "external": True,
                    "traffic": [
                        {
                            "revisionName": "acme-prod-model--v1-0-0-abc",
                            "weight": 90,
                            "label": "stable",
                        },
                        {"latestRevision": True, "weight": 10, "label": "candidate"},
                    ],
                }
            },
            "template": {"containers": [{"env": [{"name": "MODEL_VERSION", "value": "1.1.0"}]}]},
        },
    }
    double = Azure().on("GET", rf"{APP}\?", 200, app).on("PATCH", rf"{APP}\?", 200, {})
    line = watch.drain_candidate(API_OUTPUTS, client=client(double))
    assert "acme-prod-model--v1-0-0-abc" in line
    ((_, _, body),) = [c for c in double.calls if c[0] == "PATCH"]
    assert body == service.reset_container_app(app, "acme-prod-model--v1-0-0-abc", "1.1.0")
    endpoint = {
        "location": "westeurope",
        "tags": {},
        "properties": {"traffic": {"blue": 90, "green": 10}, "scoringUri": "x"},
    }
    ml = (
        Azure()
        .on("GET", r"/workspaces\?", 200, {"value": [{"id": ML_WS}]})
        .on("GET", rf"{ENDPOINT}\?", 200, endpoint)
        .on("PUT", rf"{ENDPOINT}\?", 200, {})
    )
    watch.drain_candidate(ML_OUTPUTS, client=client(ml))
    ((_, _, put),) = [c for c in ml.calls if c[0] == "PUT"]
    assert put["properties"] == {"traffic": {"blue": 100, "green": 0}, "mirrorTraffic": {}}


def test_a_refused_drain_raises() -> None:
    double = Azure().on("GET", rf"{APP}\?", *FORBIDDEN)
    with pytest.raises(watch.WatchError, match="403"):
        watch.drain_candidate(API_OUTPUTS, client=client(double))


def test_the_watch_is_standard_library_only_and_names_its_cli() -> None:
    source = Path(watch.__file__).read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {
        "__future__",
        "json",
        "shutil",
        "subprocess",
        "urllib",
        "collections",
        "dataclasses",
        "typing",
    }
    assert watch.CLI_TOOLS == ("az",)
