"""The rollback function's logic with recorded Cloud Monitoring samples and a fake transport."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from components.gcp.rollback_fn.logic import gcp_api
from components.gcp.rollback_fn.logic.decision import (
    Action,
    Samples,
    Thresholds,
    decide,
    parse_incident,
    reset_split,
    series_max,
    series_total,
)
from components.gcp.rollback_fn.logic.handler import handle

SAMPLES = json.loads((Path(__file__).parent / "data" / "gcp_rollback_samples.json").read_text())
THRESHOLDS = Thresholds(error_rate=0.05, latency_multiplier=2.0, baseline_p99_ms=1500)
FILTERS = {key: f"FILTER-{key}" for key in SAMPLES["no_breach"]}


def samples(case: str) -> Samples:
    recorded = SAMPLES[case]
    return Samples(
        candidate_requests=series_total(recorded["candidate_requests"]),
        candidate_errors=series_total(recorded["candidate_errors"]),
        candidate_p99_ms=series_max(recorded["candidate_latency"]),
        stable_p99_ms=series_max(recorded["stable_latency"]),
    )


def envelope(state: str) -> dict[str, Any]:
    incident = {"incident": {"state": state, "policy_name": "acme prod canary-error-rate"}}
    data = base64.b64encode(json.dumps(incident).encode()).decode()
    return {"message": {"data": data, "messageId": "1"}, "subscription": "s"}


@pytest.mark.parametrize(
    ("case", "action", "why"),
    [
        ("breach_errors", Action.ROLLBACK, "error rate 0.1200"),
        ("breach_latency", Action.ROLLBACK, "p99 2300 ms > 2 x baseline 800"),
        ("no_breach", Action.HOLD, "no breach"),
        ("missing_data", Action.ROLLBACK, "cannot show the candidate is healthy"),
    ],
)
def test_decision_on_recorded_samples(case: str, action: Action, why: str) -> None:
    decision = decide("open", samples(case), THRESHOLDS)
    assert decision.action is action
    assert why in decision.reason


@pytest.mark.parametrize("case", ["breach_errors", "missing_data"])
def test_closed_incident_is_ignored_whatever_the_samples(case: str) -> None:
    assert decide("closed", samples(case), THRESHOLDS).action is Action.IGNORE


def test_latency_baseline_falls_back_to_the_configured_p99() -> None:
    no_stable = Samples(500, 0, 3100, None)
    assert decide("open", no_stable, THRESHOLDS).action is Action.ROLLBACK  # 3100 > 2 x 1500
    assert decide("open", Samples(500, 0, 2900, None), THRESHOLDS).action is Action.HOLD


def test_series_helpers_read_the_api_shapes() -> None:
    assert series_total(SAMPLES["breach_latency"]["candidate_requests"]) == 510
    assert series_max(SAMPLES["breach_latency"]["candidate_latency"]) == 2300.0
    assert series_total({}) is None
    assert series_max({"timeSeries": [{"points": [{"value": {}}]}]}) is None


def test_parse_incident_handles_bad_payloads() -> None:
    assert parse_incident(envelope("open"))["state"] == "open"
    assert parse_incident({"message": {"data": "not base64 json"}}) == {}
    assert parse_incident({}) == {}


def test_reset_split_sends_everything_to_stable() -> None:
    assert reset_split({"a": 90, "b": 10}, "a", "b") == {"a": 100, "b": 0}


class FakeApi:
    """Answers monitoring reads from a recorded case and keeps every write."""

    def __init__(self, case: str, resource: dict[str, Any]) -> None:
        self.case = case
        self.resource = resource
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []

    def __call__(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self.calls.append((method, url, body))
        if "monitoring.googleapis.com" in url:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            key = query["filter"][0].removeprefix("FILTER-")
            return dict(SAMPLES[self.case][key])
        if method == "GET":
            return json.loads(json.dumps(self.resource))
        return {}

    def writes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        return [c for c in self.calls if c[0] != "GET"]


URL_MAP_TARGET = {
    "kind": "url-map",
    "project": "p1",
    "url_map": "acme-prod-api",
    "stable": "acme-prod-be-stable",
    "candidate": "acme-prod-be-canary",
}
URL_MAP = {
    "fingerprint": "abc=",
    "defaultRouteAction": {
        "weightedBackendServices": [
            {"backendService": "https://x/projects/p1/global/backendServices/acme-prod-be-stable",
             "weight": 90},
            {"backendService": "https://x/projects/p1/global/backendServices/acme-prod-be-canary",
             "weight": 10},
        ]
    },
}  # fmt: skip


def config(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": "p1",
        "window_seconds": 300,
        "target": target,
        "filters": FILTERS,
        "thresholds": {"error_rate": 0.05, "latency_multiplier": 2.0, "baseline_p99_ms": 1500},
    }


def test_handler_resets_the_url_map_on_breach() -> None:
    api = FakeApi("breach_errors", URL_MAP)
    decision = handle(envelope("open"), config=config(URL_MAP_TARGET), send=api, now=1_800_000_000)
    assert decision.action is Action.ROLLBACK
    ((method, url, body),) = api.writes()
    assert method == "PATCH"
    assert url.endswith("/projects/p1/global/urlMaps/acme-prod-api")
    assert body is not None and body["fingerprint"] == "abc="
    weights = {
        w["backendService"].rsplit("/", 1)[-1]: w["weight"]
        for w in body["defaultRouteAction"]["weightedBackendServices"]
    }
    assert weights == {"acme-prod-be-stable": 100, "acme-prod-be-canary": 0}
    reads = [c for c in api.calls if "monitoring" in c[1]]
    assert len(reads) == 4
    assert "interval.startTime=2027-01-15T07%3A55%3A00Z" in reads[0][1]


def test_handler_leaves_traffic_alone_without_breach() -> None:
    api = FakeApi("no_breach", URL_MAP)
    decision = handle(envelope("open"), config=config(URL_MAP_TARGET), send=api, now=1_800_000_000)
    assert decision.action is Action.HOLD
    assert api.writes() == []


def test_handler_resets_a_vertex_endpoint_split() -> None:
    target = {
        "kind": "vertex-endpoint",
        "region": "europe-west1",
        "endpoint": "projects/p1/locations/europe-west1/endpoints/42",
        "stable": "111",
        "candidate": "222",
    }
    api = FakeApi("missing_data", {"trafficSplit": {"111": 95, "222": 5}})
    decision = handle(envelope("open"), config=config(target), send=api, now=1_800_000_000)
    assert decision.action is Action.ROLLBACK
    ((method, url, body),) = api.writes()
    assert (method, body) == ("PATCH", {"trafficSplit": {"111": 100, "222": 0}})
    assert url == (
        "https://europe-west1-aiplatform.googleapis.com/v1/"
        "projects/p1/locations/europe-west1/endpoints/42?updateMask=trafficSplit"
    )


def test_transport_refuses_plain_http() -> None:
    send = gcp_api.urllib_transport(token=lambda: "t")
    with pytest.raises(ValueError, match="non-HTTPS"):
        send("GET", "http://example.com", None)
