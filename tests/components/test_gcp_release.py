"""The GCP release path held at its seams, from captured resources and recorded API responses.

The health route the gateway serves (parsed from the captured OpenAPI document), the exact alert
policy names the watch looks for, the PromQL the policies evaluate, the rollback function run
against a recorded Cloud Monitoring/Compute double with the shared decision vectors (including a
403 and a stale message), the shipped archive, the function's rights, paging and the release
watch.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.alarms import Tier, alarm_name, rollback_alarms
from components.bootstrap import DEPLOYERS
from components.gcp import release_watch, rollout
from components.gcp.bootstrap import GcpBootstrap
from components.gcp.prerequisites import WATCH_READER
from components.gcp.release_watch import ApiError, Target
from components.gcp.rollback_fn.logic import handler
from components.spec import Cloud, Environment, Pattern
from offline.capture import GCP_PROJECT, Capture, CapturedResource, capture
from tests.conftest import candidate_image, make_spec, of_type, run_component, sample_plan

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((Path(__file__).parent / "data" / "gcp_release_responses.json").read_text())
VECTORS = json.loads((ROOT / "tests" / "vectors" / "rollout_decisions.json").read_text())
NOW = 1796378405.0 + 30  # 30 s after the recorded incident started
PATTERNS = (Pattern.API_FIRST, Pattern.MANAGED_PLATFORM)


def _run(
    pattern: Pattern, env: Environment = Environment.PROD, **extra: Any
) -> tuple[Any, Capture]:
    overrides: dict[str, Any] = {
        "rollout": {
            "candidate_version": "1.1.0",
            "candidate_image": candidate_image(Cloud.GCP, pattern),
        }
    }
    overrides.update(extra)
    spec = make_spec(Cloud.GCP, pattern, env, overrides)
    return spec, run_component(spec)


def _outputs(cap: Capture) -> dict[str, Any]:
    for urn, values in cap.outputs.items():
        if "kms_key_id" in values and "::" in urn:
            return values
    raise AssertionError("no component outputs")


def _one(resources: list[CapturedResource], type_: str) -> CapturedResource:
    (found,) = of_type(resources, type_)
    return found


# -- 1. the health route -------------------------------------------------------------------


def test_health_route_is_declared_get_unauthenticated_and_rate_limited() -> None:
    spec, cap = _run(Pattern.API_FIRST)
    outputs = _outputs(cap)
    health = urllib.parse.urlparse(outputs["health_url"])
    endpoint = urllib.parse.urlparse(outputs["endpoint_url"])
    assert health.scheme == "https" and health.netloc == endpoint.netloc
    assert health.path == spec.model.health_path
    document = json.loads(
        _one(cap.resources, "gcp:endpoints/service:Service").inputs["openapiConfig"]
    )
    # No top-level requirement an operation could inherit.
    assert "security" not in document
    route = document["paths"][health.path]
    assert set(route) == {"get"}
    assert route["get"]["security"] == []
    predict = document["paths"][spec.model.predict_path]["post"]
    assert predict["security"] and all(predict["security"])
    # Rate-limited at the gateway: Cloud Armor throttles GET <health> per client IP, before the
    # credential-keyed throttle (which an unauthenticated probe could not be keyed on).
    armor = _one(cap.resources, "gcp:compute/securityPolicy:SecurityPolicy")
    (rule,) = [
        r
        for r in armor.inputs["rules"]
        if f"request.path == '{health.path}'"
        in r.get("match", {}).get("expr", {}).get("expression", "")
    ]
    assert rule["action"] == "throttle" and rule["rateLimitOptions"]["enforceOnKey"] == "IP"
    consumer = [
        r
        for r in armor.inputs["rules"]
        if r["rateLimitOptions" if "rateLimitOptions" in r else "action"]
        and r["action"] == "throttle"
        and r is not rule
    ]
    assert all(rule["priority"] < r["priority"] for r in consumer)
    assert all(
        r["priority"] < rule["priority"] for r in armor.inputs["rules"] if "Waf" in json.dumps(r)
    )


def test_health_route_reaches_the_serving_backends_through_the_same_edge() -> None:
    _, cap = _run(Pattern.API_FIRST)
    url_map = _one(cap.resources, "gcp:compute/uRLMap:URLMap")
    # No path matcher sends the health path elsewhere: the default route (both serving
    # backends, behind the Cloud Armor policy) serves it as it serves predict.
    assert not url_map.inputs.get("pathMatchers") and not url_map.inputs.get("hostRules")
    backends = of_type(cap.resources, "gcp:compute/backendService:BackendService")
    armor = _one(cap.resources, "gcp:compute/securityPolicy:SecurityPolicy")
    assert {b.urn for b in backends} <= set(url_map.dependencies)
    assert all(armor.urn in b.property_dependencies["securityPolicy"] for b in backends)
    # ESPv2 forwards to the model, whose readiness probe is the same path.
    run = [r for r in of_type(cap.resources, "gcp:cloudrunv2/service:Service")]
    for service in run:
        model = next(c for c in service.inputs["template"]["containers"] if c["name"] == "model")
        assert (
            model["startupProbe"]["httpGet"]["path"]
            == urllib.parse.urlparse(_outputs(cap)["health_url"]).path
        )


# -- 2. exact names -------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rollback_alarms_are_the_exact_policy_names(pattern: Pattern) -> None:
    spec, cap = _run(pattern)
    expected = [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert _outputs(cap)["rollback_alarms"] == expected
    names = {
        p.inputs["displayName"]
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    }
    assert set(expected) <= names
    # The function trusts exactly these policies.
    function = _one(cap.resources, "gcp:cloudfunctionsv2/function:Function")
    config = json.loads(function.inputs["serviceConfig"]["environmentVariables"]["ROLLBACK_CONFIG"])
    assert sorted(config["policies"]) == sorted(expected)


# -- 3. signals -----------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rollback_policies_evaluate_the_watch_queries_on_their_labelled_target(
    pattern: Pattern,
) -> None:
    spec, cap = _run(pattern)
    policies = {
        p.inputs["displayName"]: p
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    }
    for rule in rollback_alarms(spec):
        policy = policies[alarm_name(spec, rule.key)]
        target = Target.from_labels("mock-project", policy.inputs["userLabels"])
        query = policy.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
        window = rule.period_seconds * rule.evaluation_periods
        threshold = rule.threshold
        assert query == release_watch.rule_query(
            rule.key, target, threshold, window, rule.min_requests * rule.evaluation_periods
        )
        # The volume guard is in every rule.
        assert f">= {rule.min_requests * rule.evaluation_periods})" in query
    ratio = policies[alarm_name(spec, "canary-latency-ratio")]
    query = ratio.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    target = Target.from_labels("mock-project", ratio.inputs["userLabels"])
    stable_sel = "backend_target_name" if target.kind == "url-map" else "deployed_model_id"
    assert (
        f'{stable_sel}="{target.stable}"' in query and f'{stable_sel}="{target.candidate}"' in query
    )
    if pattern is Pattern.API_FIRST:
        assert "https_backend_latencies" in query and "total_latencies" not in query
    else:
        assert 'latency_type="total"' in query


def test_starved_rule_cannot_fire_without_a_candidate() -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.PROD)
    cap = run_component(spec)
    (policy,) = [
        p
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
        if p.inputs["displayName"] == alarm_name(spec, "canary-starved")
    ]
    assert (
        " < 0 and on()"
        in policy.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    )


# -- 4. the rollback function ---------------------------------------------------------------

TARGET = Target(
    "url-map", "mock-project", "acme-prod-api", "acme-prod-be-stable", "acme-prod-be-canary"
)
POLICY = "acme-prod-canary-error-rate"
POLICY_ID = "projects/mock-project/alertPolicies/123"


class Recorded:
    """A double of the Google APIs built from the recorded responses; records every call."""

    def __init__(self, figures: dict[str, Any], *, alerts: str = "open", drain: str = "ok") -> None:
        self.figures = figures
        self.alerts = alerts
        self.drain = drain
        self.calls: list[tuple[str, str, Any]] = []
        self.description = RECORDED["url_map"]["description"]
        # Cloud Logging: (timestamp, jsonPayload) of every entry the project holds.
        self.log: list[tuple[str, dict[str, Any]]] = []

    def printed(self, out: str, at: float) -> None:
        """What Cloud Logging makes of a function's stdout: one jsonPayload per JSON line."""
        for line in out.strip().splitlines():
            self.log.append(
                (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)), json.loads(line))
            )

    def _matches(self, filter_: str, stamp: str, payload: dict[str, Any]) -> bool:
        for clause in filter_.split(" AND "):
            field, op, value = re.fullmatch(r'([\w.]+)(=|>=)"([^"]*)"', clause).groups()  # type: ignore[union-attr]
            if field == "timestamp":
                if not stamp >= value:
                    return False
                continue
            node: Any = {"jsonPayload": payload}
            for part in field.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if op != "=" or node != value:
                return False
        return True

    def __call__(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self.calls.append((method, url, body))
        path = urllib.parse.urlparse(url).path
        if path.endswith("/entries:write"):
            assert method == "POST" and body is not None
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW))
            self.log += [(stamp, dict(e["jsonPayload"])) for e in body["entries"]]
            return {}
        if path.endswith("/entries:list"):
            assert method == "POST" and body is not None
            found = [p for t, p in self.log if self._matches(body["filter"], t, p)]
            return {"entries": [{"jsonPayload": p} for p in found][: body["pageSize"]]}
        if path.endswith("/alerts"):
            if self.alerts == "403":
                raise ApiError(403, RECORDED["forbidden"]["error"]["message"])
            alert = json.loads(
                json.dumps(RECORDED["alert_open"])
                .replace("POLICY_ID", POLICY_ID)
                .replace("POLICY_DISPLAY", POLICY)
            )
            return {"alerts": [alert] if self.alerts == "open" else []}
        if path.endswith("/alertPolicies"):
            labels = {**TARGET.labels(), "signal": "canary-error-rate"}
            return {
                "alertPolicies": [{"name": POLICY_ID, "displayName": POLICY, "userLabels": labels}]
            }
        if path.endswith("/prometheus/api/v1/query"):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["query"][0]
            (key,) = [k for k, q in release_watch.sample_queries(TARGET, 300).items() if q == query]
            who, figure = key.split("_", 1)
            value = self.figures[who][figure]
            if value is None:
                return dict(RECORDED["prometheus_empty"])
            answer = copy.deepcopy(RECORDED["prometheus_value"])
            answer["data"]["result"][0]["value"][1] = str(value)
            return dict(answer)
        if "/urlMaps/" in path:
            if method == "PATCH":
                if self.drain == "403":
                    raise ApiError(403, "Required 'compute.urlMaps.update' permission")
                assert body is not None
                self.description = body["description"]
                return {"kind": "compute#operation"}
            text = json.dumps(RECORDED["url_map"]).replace("URL_MAP", TARGET.scope)
            text = text.replace("/STABLE", f"/{TARGET.stable}").replace(
                "/CANDIDATE", f"/{TARGET.candidate}"
            )
            current = json.loads(text)
            current["description"] = self.description
            return dict(current)
        raise AssertionError(f"unexpected call {method} {url}")


def _config(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "auto_close_seconds": 1800,
        "policies": {POLICY: POLICY_ID},
        "target": TARGET.__dict__,
        "window_seconds": 300,
        "settings": settings,
        "release": {"stable_version": "1.0.0", "candidate_version": "1.1.0"},
    }


def _envelope(policy: str = POLICY, **incident: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(RECORDED["incident"]).replace("POLICY_DISPLAY", policy))
    payload["incident"].update(incident)
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return {"message": {"data": data, "messageId": "1"}, "subscription": "s"}


FUNCTION_VECTORS = [v for v in VECTORS["decisions"] if v["input"].get("trigger")]


@pytest.mark.parametrize("vector", FUNCTION_VECTORS, ids=[v["name"] for v in FUNCTION_VECTORS])
def test_function_follows_the_shared_vectors(
    vector: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = vector["input"]["trigger"]
    # Each trigger state as the function meets it: an unknown policy cannot be verified; a
    # verified one that is no longer open in the Alerts API is resolved.
    policy = POLICY if trigger["verified"] else "someone-elses-policy"
    api = Recorded(vector["input"], alerts="open" if trigger["firing"] else "none")
    report = handler.handle(
        _envelope(policy), config=_config(vector["input"]["settings"]), send=api, now=NOW
    )
    assert (report["action"], report["page"]) == (vector["action"], vector["page"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["tier"] == {"rollback": "ticket", "ignore": "info"}.get(
        vector["action"], "page" if vector["page"] else "ticket"
    )
    drained = [c for c in api.calls if c[0] == "PATCH"]
    assert bool(drained) is (vector["action"] == "rollback")
    if drained:
        weights = {
            w["backendService"].rsplit("/", 1)[-1]: w["weight"]
            for w in drained[0][2]["defaultRouteAction"]["weightedBackendServices"]
        }
        assert weights == {TARGET.stable: 100, TARGET.candidate: 0}
        # E8: the marker the watch reads.
        assert release_watch.rolled_back(
            {
                "alert_topic": "projects/mock-project/notificationChannels/1",
                "rollback_alarms": [POLICY],
            },
            "1.1.0",
            client=api,
        )


BAD = {
    "candidate": {"requests": 500, "errors_5xx": 200, "p99_ms": 900.0},
    "stable": {"requests": 5000, "errors_5xx": 1, "p99_ms": 200.0},
}
SETTINGS = {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20}


def test_a_403_on_the_alert_read_back_holds_and_pages() -> None:
    api = Recorded(BAD, alerts="403")
    report = handler.handle(_envelope(), config=_config(SETTINGS), send=api, now=NOW)
    assert (report["action"], report["page"], report["tier"]) == ("hold", True, "page")
    assert not [c for c in api.calls if c[0] == "PATCH"]


@pytest.mark.parametrize(
    "incident",
    [{"started_at": NOW - 1801}, {"state": "closed"}],
    ids=["stale-retry", "closed"],
)
def test_stale_or_closed_incidents_are_ignored_without_touching_traffic(
    incident: dict[str, Any],
) -> None:
    api = Recorded(BAD)
    report = handler.handle(_envelope(**incident), config=_config(SETTINGS), send=api, now=NOW)
    assert report["action"] == "ignore"
    assert not [c for c in api.calls if c[0] == "PATCH"]
    assert not [c for c in api.calls if "/alerts" in c[1]]  # decided before any read


def test_a_malformed_message_holds_and_pages() -> None:
    api = Recorded(BAD)
    report = handler.handle(
        {"message": {"data": "not-base64!"}}, config=_config(SETTINGS), send=api, now=NOW
    )
    assert (report["action"], report["page"]) == ("hold", True)


def test_a_failed_drain_pages_and_raises_for_the_retry(capsys: pytest.CaptureFixture[str]) -> None:
    api = Recorded(BAD, drain="403")
    with pytest.raises(ApiError):
        handler.handle(_envelope(), config=_config(SETTINGS), send=api, now=NOW)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["action"], line["tier"]) == ("rollback-failed", "page")


# Each REST call the function and the watch make, and the permission it needs (kept equal to the
# calls by test_function_identity_holds_exactly_what_its_calls_need, which records them).
CALL_PERMISSIONS: dict[tuple[str, str], str] = {
    ("POST", "/entries:write"): "logging.logEntries.create",
    ("POST", "/entries:list"): "logging.logEntries.list",
    ("GET", "/alertPolicies"): "monitoring.alertPolicies.list",
    ("GET", "/alerts"): "monitoring.alerts.list",
    ("GET", "/prometheus/api/v1/query"): "monitoring.timeSeries.list",
    ("GET", "/urlMaps/"): "compute.urlMaps.get",
    ("PATCH", "/urlMaps/"): "compute.urlMaps.update",
}
# Permissions Compute checks on a call beyond the one its method names: the URL map PATCH
# references the two backend services (compute.backendServices.use on each).
IMPLIED: dict[str, set[str]] = {"compute.urlMaps.update": {"compute.backendServices.use"}}


def _permission(method: str, url: str) -> str:
    path = urllib.parse.urlparse(url).path
    (perm,) = [
        p for (m, part), p in CALL_PERMISSIONS.items() if m == method and path.endswith(part)
    ] or [p for (m, part), p in CALL_PERMISSIONS.items() if m == method and part in path]
    return perm


def _needed(calls: list[tuple[str, str, Any]]) -> set[str]:
    direct = {_permission(m, u) for m, u, _ in calls}
    return direct | {p for d in direct for p in IMPLIED.get(d, set())}


@functools.cache
def _bootstrap(pattern: Pattern) -> tuple[Any, Capture]:
    """The bootstrap `aideploy new` plans for the pattern (one project), captured."""
    (boot,) = sample_plan(Cloud.GCP, pattern).bootstrap.values()
    return boot, capture(
        lambda: GcpBootstrap(boot.project, boot),
        project=f"{boot.project}-bootstrap",
        stack=boot.stack,
        config={"gcp:project": boot.account, "gcp:region": boot.region},
        region=boot.region,
    )


def _custom_permissions(pattern: Pattern, project: str = GCP_PROJECT) -> dict[str, set[str]]:
    """The bootstrap's custom roles, by the full name grants use (``projects/<project>/roles/
    <id>``), with the permissions the bootstrap creates them with."""
    _, cap = _bootstrap(pattern)
    return {
        f"projects/{project}/roles/{r.inputs['roleId']}": set(r.inputs["permissions"])
        for r in of_type(cap.resources, "gcp:projects/iAMCustomRole:IAMCustomRole")
    }


def test_function_identity_holds_exactly_what_its_calls_need() -> None:
    """The function's grants (captured) == the permissions of the calls it makes (recorded):
    nothing missing, nothing broader, no predefined Monitoring role."""
    api = Recorded(BAD)
    handler.handle(_envelope(), config=_config(SETTINGS), send=api, now=NOW)
    needed = _needed(api.calls)
    assert needed >= {"monitoring.alerts.list", "monitoring.timeSeries.list"}
    _, cap = _run(Pattern.API_FIRST)
    runtime = [
        r
        for r in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
        if "rollback" in r.inputs["member"] and "build" not in r.inputs["member"]
    ]
    roles = {r.inputs["role"] for r in runtime}
    custom = _custom_permissions(Pattern.API_FIRST)
    assert roles <= set(custom), roles - set(custom)  # only the bootstrap's custom roles
    granted = {p for role in roles for p in custom[role]}
    assert granted == needed, (needed - granted, granted - needed)


def test_watch_identity_holds_what_the_watch_calls() -> None:
    """The pipeline's watch and drain run as the environment's deployer: every call they make
    is covered by the release-watch role the bootstrap grants it, or (drain) the deployer's
    predefined roles the stack already needs (Compute load balancer admin)."""
    api = Recorded(BAD)
    release_watch.observe(OUTPUTS, SETTINGS, 5, client=api, now=NOW)
    release_watch.drain_candidate(OUTPUTS, client=api, candidate_version="1.1.0", now=NOW)
    _wiped(api)  # as after the next up: the guard reads the marker log
    assert release_watch.rolled_back(OUTPUTS, "1.1.0", client=api, now=NOW)
    # Monitoring reads and the marker log: the release-watch role; the drain's traffic move
    # runs on the deployer's Compute load balancer admin, which the stack already needs.
    reads = {p for p in _needed(api.calls) if p.startswith(("monitoring.", "logging."))}
    assert reads == set(WATCH_READER.permissions)
    boot, cap = _bootstrap(Pattern.API_FIRST)
    custom = _custom_permissions(Pattern.API_FIRST, boot.account)
    for env in boot.environments:
        deployer = boot.identity_name(DEPLOYERS[env])
        held = [
            custom[r.inputs["role"]]
            for r in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
            if deployer in r.inputs["member"] and r.inputs["role"] in custom
        ]
        # Exactly one custom role: the watch's reads, for the environment it deploys.
        assert held == [reads], (env, held)


def test_the_shipped_archive_imports_the_one_decision(tmp_path: Path) -> None:
    archive = rollout.function_archive()
    for name, asset in archive.assets.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(asset, pulumi.FileAsset)
        (tmp_path / name).write_bytes(Path(asset.path).read_bytes())
    assert (tmp_path / "rollout_decision.py").read_bytes() == (
        ROOT / "components" / "rollout.py"
    ).read_bytes()
    probe = (
        "import sys; sys.path[:] = [p for p in sys.path "
        "if 'work/main' not in p or p.endswith('site-packages')];"
        "import main, logic.handler as h; print(h.rollout.__file__, h.watch.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        str(tmp_path / "rollout_decision.py"),
        str(tmp_path / "release_watch.py"),
    ]


# -- 5. the release watch -------------------------------------------------------------------

OUTPUTS = {
    "alert_topic": "projects/mock-project/notificationChannels/1",
    "rollback_alarms": [POLICY],
}


def test_watch_reports_a_firing_alarm_as_a_verified_trigger_with_samples() -> None:
    obs = release_watch.observe(OUTPUTS, SETTINGS, 5, client=Recorded(BAD), now=NOW)
    assert obs["trigger"] == {"verified": True, "firing": True, "rule": POLICY}
    assert obs["candidate"] == BAD["candidate"] and obs["stable"] == BAD["stable"]
    from components.rollout import parse_observation

    parse_observation(obs)


def test_watch_omits_the_trigger_when_nothing_fires_and_flags_a_403() -> None:
    quiet = release_watch.observe(
        OUTPUTS, SETTINGS, 5, client=Recorded(BAD, alerts="none"), now=NOW
    )
    assert "trigger" not in quiet
    denied = release_watch.observe(
        OUTPUTS, SETTINGS, 5, client=Recorded(BAD, alerts="403"), now=NOW
    )
    assert denied["trigger"]["verified"] is False and denied["trigger"]["firing"] is True
    assert "403" in denied["trigger"]["rule"]


def test_watch_drains_with_the_rollback_call_and_knows_no_marker_yet() -> None:
    api = Recorded(BAD)
    assert release_watch.rolled_back(OUTPUTS, "1.1.0", client=api) is False
    line = release_watch.drain_candidate(OUTPUTS, client=api)
    assert TARGET.scope in line and f"{TARGET.stable}=100%" in line
    assert release_watch.CLI_TOOLS == ("gcloud",)


def test_watch_fetches_a_token_for_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = iter(["t1", "t2"])
    seen: list[str] = []

    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def read(self) -> bytes:
            return b"{}"

    def urlopen(request: Any, timeout: float) -> Answer:
        seen.append(request.headers["Authorization"])
        return Answer()

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    send = release_watch.http_client(lambda: next(tokens))
    send("GET", "https://monitoring.googleapis.com/v3/x", None)
    send("GET", "https://monitoring.googleapis.com/v3/y", None)
    assert seen == ["Bearer t1", "Bearer t2"]


def test_event_driven_is_not_watched() -> None:
    obs = release_watch.observe(
        {"alert_topic": "projects/p/notificationChannels/1"}, SETTINGS, 5, client=Recorded(BAD)
    )
    assert "trigger" not in obs and obs["candidate"]["requests"] == 0 == obs["stable"]["requests"]


# -- 6. paging ------------------------------------------------------------------------------


def test_tiers_route_to_typed_channels_with_secrets_and_an_uptime_check_pages() -> None:
    routes = {
        "page": [
            {"kind": "events", "secret": "pagerduty_url"},
            {"kind": "slack", "secret": "slack_token"},
        ],
        "ticket": [{"kind": "teams", "secret": "teams_url"}],
    }
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.PROD, {"alerts": {"routes": routes}})
    from components.registry import component_for
    from offline.capture import capture

    config = {
        f"{spec.project}:pagerduty_url": "https://events.pagerduty.com/integration/KEY/enqueue",
        f"{spec.project}:slack_token": "xoxb-secret",
        f"{spec.project}:slack_token_channel": "#oncall",
        f"{spec.project}:teams_url": "https://prod.example.logic.azure.com/workflows/1",
    }
    cap = capture(
        lambda: component_for(spec.cloud, spec.pattern)(spec.project, spec),
        project=spec.project,
        stack="prod",
        region=spec.region,
        config=config,
        secret_keys=[k for k in config if not k.endswith("_channel")],
    )
    channels = of_type(cap.resources, "gcp:monitoring/notificationChannel:NotificationChannel")
    by_tier: dict[str, list[CapturedResource]] = {}
    for c in channels:
        if c.inputs["type"] != "pubsub":
            by_tier.setdefault(c.inputs["userLabels"]["tier"], []).append(c)
    assert sorted(c.inputs["type"] for c in by_tier["page"]) == ["slack", "webhook_tokenauth"]
    assert [c.inputs["type"] for c in by_tier["ticket"]] == ["webhook_tokenauth"]
    assert {c.inputs["labels"]["email_address"] for c in by_tier["info"]} == set(spec.alerts.emails)
    # Secrets stay secrets: the wire form marks them (Pulumi's secret signature), and the Slack
    # token is a sensitive (write-only) label, never a plain one.
    secret_sig = "4dabf18193072939515e22adb298388d"
    slack = next(c for c in by_tier["page"] if c.inputs["type"] == "slack")
    assert (
        slack.inputs["sensitiveLabels"][secret_sig]
        and "authToken" in slack.inputs["sensitiveLabels"]["value"]
    )
    assert "xoxb-secret" not in json.dumps(slack.inputs["labels"])
    for hook in [
        c for cs in by_tier.values() for c in cs if c.inputs["type"] == "webhook_tokenauth"
    ]:
        assert secret_sig in hook.inputs["labels"], hook.inputs["labels"]
    page_ids = {c.name for c in by_tier["page"]}
    uptime = _one(cap.resources, "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig")
    check = uptime.inputs["httpCheck"]
    outputs = _outputs(cap)
    assert (
        f"https://{uptime.inputs['monitoredResource']['labels']['host']}{check['path']}"
        == outputs["health_url"]
    )
    assert check["requestMethod"] == "GET" and check["useSsl"] and check["validateSsl"]
    policies = {
        p.inputs["displayName"]: p
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    }
    assert (
        set(policies[alarm_name(spec, "health-uptime")].inputs["notificationChannels"]) == page_ids
    )
    assert (
        set(policies[alarm_name(spec, "rollback-page")].inputs["notificationChannels"]) == page_ids
    )
    ticket_ids = {c.name for c in by_tier["ticket"]}
    assert (
        set(policies[alarm_name(spec, "rollback-report")].inputs["notificationChannels"])
        == ticket_ids
    )
    assert Tier.PAGE.value == "page"


def test_a_pipeline_drain_writes_the_functions_marker_and_the_guard_sees_it() -> None:
    api = Recorded(BAD)
    line = release_watch.drain_candidate(OUTPUTS, client=api, candidate_version="1.1.0", now=NOW)
    assert "marked 1.1.0" in line
    # traffic first: the split moved before the log marker was written
    methods = [(m, urllib.parse.urlparse(u).path.rsplit("/", 1)[-1]) for m, u, _ in api.calls]
    assert methods.index(("PATCH", TARGET.scope)) < methods.index(("POST", "entries:write"))
    assert release_watch.rolled_back(OUTPUTS, "1.1.0", client=api, now=NOW) is True
    assert release_watch.rolled_back(OUTPUTS, "1.2.0", client=api, now=NOW) is False
    # the same description the rollback function writes for that version at that time
    function_api = Recorded(BAD)
    config = _config(SETTINGS)
    config["release"] = {**config["release"], "candidate_version": "1.1.0"}
    handler.handle(_envelope(), config=config, send=function_api, now=NOW)
    [drained] = [b for m, _, b in api.calls if m == "PATCH"]
    [rolled] = [b for m, _, b in function_api.calls if m == "PATCH"]
    assert drained == rolled


def _wiped(api: Recorded) -> None:
    """What the URL map's update in a later `pulumi up` does: a PUT of the whole map from the
    stack's inputs, so the description is the component's again (the marker there is gone)."""
    [url_map] = [
        r for r in of_type(_run(Pattern.API_FIRST)[1].resources, "gcp:compute/uRLMap:URLMap")
    ]
    api.description = url_map.inputs["description"]


@pytest.mark.parametrize("writer", ["function", "pipeline"])
def test_the_marker_outlives_the_url_maps_next_update(
    writer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api = Recorded(BAD)
    if writer == "function":
        handler.handle(_envelope(), config=_config(SETTINGS), send=api, now=NOW)
        api.printed(capsys.readouterr().out, NOW)  # Cloud Logging parses the report line
    else:
        release_watch.drain_candidate(OUTPUTS, client=api, candidate_version="1.1.0", now=NOW)
    _wiped(api)
    assert release_watch.MARKER_PREFIX not in api.description
    # the log marker is still found, from either writer, with the same filter
    assert release_watch.rolled_back(OUTPUTS, "1.1.0", client=api, now=NOW + 86400) is True
    # another candidate in the stack file: the marker is ignored for it
    assert release_watch.rolled_back(OUTPUTS, "1.2.0", client=api, now=NOW + 86400) is False
    # past the _Default bucket's retention the entry is gone (documented limit)
    late = NOW + (release_watch.MARKER_RETENTION_DAYS + 1) * 86400
    assert release_watch.rolled_back(OUTPUTS, "1.1.0", client=api, now=late) is False


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_stack_resource_drops_or_shortens_the_marker_log(pattern: Pattern) -> None:
    # The log marker survives any `pulumi up` because the stack manages no log entries, and
    # nothing it declares excludes them or keeps the _Default bucket shorter than the guard
    # reads back (MARKER_RETENTION_DAYS). The stack's one exclusion on the _Default sink (its
    # routed logs, review C6) keeps marker entries out of what it excludes.
    _, cap = _run(pattern)
    keep_markers = f" AND NOT jsonPayload.{release_watch.MARKER_FIELD}:*"
    for resource in cap.resources:
        if resource.type.startswith("gcp:logging/"):
            if "Exclusion" in resource.type:
                assert resource.inputs["filter"].endswith(keep_markers), resource.name
                continue
            if "BucketConfig" in resource.type and resource.inputs.get("bucketId") == "_Default":
                days = resource.inputs.get("retentionDays", 30)
                assert days >= release_watch.MARKER_RETENTION_DAYS
            assert release_watch.MARKER_FIELD not in json.dumps(resource.inputs, default=str)


def test_the_deployer_may_write_and_read_the_log_marker() -> None:
    api = Recorded(BAD)
    release_watch.drain_candidate(OUTPUTS, client=api, candidate_version="1.1.0", now=NOW)
    _wiped(api)  # the description no longer answers: the log is read
    assert release_watch.rolled_back(OUTPUTS, "1.1.0", client=api, now=NOW)
    logging_needs = {p for p in _needed(api.calls) if p.startswith("logging.")}
    assert logging_needs == {"logging.logEntries.create", "logging.logEntries.list"}
    assert logging_needs <= set(WATCH_READER.permissions)
