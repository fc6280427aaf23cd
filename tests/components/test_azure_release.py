"""components/azure/release_watch.py against recorded Azure answers: the observation it hands
``components.rollout.decide`` (shared vectors), alarm matching by exact name, a 403 and an
unreadable alert list, the rolled-back marker the rollback service writes, the drain, and a
fresh CLI token for every call (a watch outlives one token, review #6)."""

from __future__ import annotations

import json
import re
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


def app_events(double: Azure, events: list[dict[str, Any]]) -> Azure:
    """The stack's workspace answering KQL over ``events`` (AppEvents rows: Name, Properties),
    for the ``where`` forms the marker query uses (==, =~ on Name and tostring(Properties.x))."""

    def count(query: str) -> dict[str, Any]:
        rows = events
        for line in query.splitlines()[1:]:
            for clause in line.removeprefix("| where ").split(" and "):
                found = re.fullmatch(
                    r'(Name|tostring\(Properties\.(\w+)\)) (==|=~) "((?:[^"\\]|\\.)*)"', clause
                )
                if not found:
                    continue
                _field, key, op, value = found.groups()
                value = value.replace('\\"', '"')

                def keep(
                    e: dict[str, Any], k: str | None = key, o: str = op, v: str = value
                ) -> bool:
                    have = str(e["Name"] if k is None else e["Properties"].get(k, ""))
                    return have == v if o == "==" else have.lower() == v.lower()

                rows = [e for e in rows if keep(e)]
        return {"tables": [{"columns": [{"name": "value"}], "rows": [[len(rows)]]}]}

    double.on("GET", RULE_URL, 200, RULE_BODY)
    double.on("GET", rf"{WORKSPACE}\?", 200, {"properties": {"customerId": CUSTOMER_ID}})
    return double.respond(
        "POST", rf"/v1/workspaces/{CUSTOMER_ID}/query$", lambda b: (200, count(b["query"]))
    )


@pytest.mark.parametrize(("tag", "expected"), [("1.1.0", True), ("1.0.9", False), (None, False)])
def test_rolled_back_reads_the_marker_the_rollback_service_writes(
    tag: str | None, expected: bool
) -> None:
    # The marker is the one the service writes (same tag name on both sides).
    assert watch.ROLLED_BACK_TAG == service.ROLLED_BACK_TAG
    double = app_events(Azure().on("GET", rf"{APP}\?", 200, marked(tag)), [])
    assert watch.rolled_back(API_OUTPUTS, "1.1.0", client=client(double)) is expected
    ml = app_events(
        Azure()
        .on("GET", r"/workspaces\?", 200, {"value": [{"id": ML_WS}]})
        .on("GET", rf"{ENDPOINT}\?", 200, marked(tag)),
        [],
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


def test_a_pipeline_drain_of_an_endpoint_marks_it_as_the_service_does() -> None:
    endpoint = {
        "location": "westeurope",
        "tags": {"project": "acme"},
        "properties": {"traffic": {"blue": 90, "green": 10}, "scoringUri": "x"},
    }
    ml = (
        Azure()
        .on("GET", r"/workspaces\?", 200, {"value": [{"id": ML_WS}]})
        .on("GET", rf"{ENDPOINT}\?", 200, endpoint)
        .on("PUT", rf"{ENDPOINT}\?", 200, {})
    )
    line = watch.drain_candidate(ML_OUTPUTS, client=client(ml), candidate_version="1.1.0")
    assert "marked 1.1.0" in line
    ((_, _, put),) = [c for c in ml.calls if c[0] == "PUT"]
    assert put == service.reset_online_endpoint(endpoint, "blue", "green", "1.1.0")
    # the guard's read of what the drain wrote
    after = app_events(
        Azure()
        .on("GET", r"/workspaces\?", 200, {"value": [{"id": ML_WS}]})
        .on("GET", rf"{ENDPOINT}\?", 200, put),
        [],
    )
    assert watch.rolled_back(ML_OUTPUTS, "1.1.0", client=client(after)) is True
    assert watch.rolled_back(ML_OUTPUTS, "1.2.0", client=client(after)) is False


def test_a_pipeline_drain_of_the_app_marks_the_stack_files_candidate() -> None:
    app = {
        "tags": {},
        "properties": {
            "configuration": {"ingress": {"traffic": [{"revisionName": "r1", "label": "stable"}]}},
            "template": {"containers": [{"env": [{"name": "MODEL_VERSION", "value": "9.9.9"}]}]},
        },
    }
    double = Azure().on("GET", rf"{APP}\?", 200, app).on("PATCH", rf"{APP}\?", 200, {})
    watch.drain_candidate(API_OUTPUTS, client=client(double), candidate_version="1.1.0")
    ((_, _, body),) = [c for c in double.calls if c[0] == "PATCH"]
    assert body == service.reset_container_app(app, "r1", "1.1.0")


def _service_rollback_events(kind: str) -> list[dict[str, Any]]:
    """The rollback service's report events of one rollback of ``kind``, as AppEvents rows."""
    from components.azure.rollback_fn.handler import handle
    from tests.components.test_azure_rollback_service import azure as service_azure
    from tests.components.test_azure_rollback_service import client as service_client
    from tests.components.test_azure_rollback_service import env as service_env
    from tests.journey.azure_doubles import notification

    bad = {"candidate": {"requests": 100, "errors_5xx": 60, "p99_ms": 100.0}}
    double = service_azure((200, alert(NAMES[0])), bad)
    result = handle(notification(NAMES[0]), service_env(kind), service_client(double))
    assert result["action"] == "rollback"
    return [
        {
            "Name": c[2][0]["data"]["baseData"]["name"],
            "Properties": c[2][0]["data"]["baseData"]["properties"],
        }
        for c in double.calls
        if "/v2.1/track" in c[1]
    ]


@pytest.mark.parametrize("kind", ["container-app", "ml-online-endpoint"])
def test_the_services_report_outlives_the_tag_a_later_up_rewrites(kind: str) -> None:
    events = _service_rollback_events(kind)
    # A later `pulumi up` (same or older stack file) writes the component's tags back: the
    # marker tag is gone, the report in the workspace is not.
    wiped = marked(None)
    if kind == "container-app":
        double = app_events(Azure().on("GET", rf"{APP}\?", 200, wiped), events)
        outputs = API_OUTPUTS
    else:
        double = app_events(
            Azure()
            .on("GET", r"/workspaces\?", 200, {"value": [{"id": ML_WS}]})
            .on("GET", rf"{ENDPOINT}\?", 200, wiped),
            events,
        )
        outputs = ML_OUTPUTS
    assert watch.rolled_back(outputs, "1.1.0", client=client(double)) is True
    # the stack file names another candidate: that one was not rolled back
    assert watch.rolled_back(outputs, "1.2.0", client=client(double)) is False


def test_an_unreadable_marker_query_raises_so_the_guard_refuses() -> None:
    double = Azure().on("GET", rf"{APP}\?", 200, marked(None))
    double.on("GET", RULE_URL, 200, RULE_BODY)
    double.on("GET", rf"{WORKSPACE}\?", 200, {"properties": {"customerId": CUSTOMER_ID}})
    double.on("POST", rf"/v1/workspaces/{CUSTOMER_ID}/query$", *FORBIDDEN)
    with pytest.raises(watch.WatchError, match="403"):
        watch.rolled_back(API_OUTPUTS, "1.1.0", client=client(double))


def test_the_marker_query_quotes_the_version() -> None:
    query = watch.marker_query(APP, '1.1.0" or 1 == 1 or "')
    assert '== "1.1.0\\" or 1 == 1 or \\""' in query
    assert watch.ROLLBACK_EVENT == "aideploy-rollback"
