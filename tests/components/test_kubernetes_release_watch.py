"""The kubernetes release watch (components/kubernetes/release_watch.py) held at its seams.

Every call goes through the real :class:`release_watch.CliApi`: its kubectl argv reaches a
recorded cluster (``Cluster.run``, answering as kubectl prints, errors on stderr) and its HTTP
requests a recorded Prometheus and Alertmanager (``Cluster.urlopen``, answering as their APIs
do, errors included). Both sides of every seam come from the real code: the PrometheusRule and
the HTTPRoute are the ones the component registers under Pulumi's mocks, the outputs are its
outputs, the rolled-back marker is the one rollback_app.app writes, the Alertmanager query and
the drain patch are compared with what the app sends, and the kubectl calls with the deployer
Role of the kubernetes bootstrap.
"""

from __future__ import annotations

import copy
import email.message
import importlib.util
import io
import json
import math
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from components import rollout
from components.alarms import Signal, alarm_name, rollback_alarms
from components.kubernetes import bootstrap, monitoring
from components.kubernetes import release_watch as watch
from components.kubernetes.release_watch import ApiError
from components.kubernetes.rollback_app import app
from components.spec import Cloud, Environment, Pattern
from offline.capture import Capture
from tests.components.test_kubernetes_api_first import outputs as outputs_of
from tests.components.test_kubernetes_blocks import CANDIDATE, k8s_spec, manifest, of_kind
from tests.components.test_kubernetes_rollback import _run, captured_config, merge_patch
from tests.conftest import run_component

ROOT = Path(__file__).resolve().parents[2]
WATCHERS = ROOT / "templates" / "client-project" / "{{cookiecutter.project_slug}}" / "ci"
VERSION = CANDIDATE["rollout"]["candidate_version"]
NOW = 1_796_378_405.0
PROMETHEUS = "http://prometheus.test:9090"
ALERTMANAGER = "http://alertmanager.test:9093/prefix"
ENV = {"PROMETHEUS_URL": PROMETHEUS, "ALERTMANAGER_URL": ALERTMANAGER}

# -- recorded answers ----------------------------------------------------------------------------
# kubectl's stderr as it prints the API server's refusals (last line, exit status 1).
FORBIDDEN = (
    'Error from server (Forbidden): {resource} is forbidden: User "ci:github:acme/support:'
    'production" cannot {verb} resource "{plural}" in API group "{group}" in the namespace '
    '"{namespace}"\n'
)
CONFLICT = (
    'Error from server (Conflict): Operation cannot be fulfilled on {resource} "{name}": the '
    "object has been modified; please apply your changes to the latest version and try again\n"
)
NOT_FOUND = 'Error from server (NotFound): {resource} "{name}" not found\n'
# Prometheus refusing a query: HTTP 400 with its JSON error object.
BAD_DATA = {
    "status": "error",
    "errorType": "bad_data",
    "error": 'invalid parameter "query": 1:1: parse error: unexpected character',
}
# An Alertmanager v2 gettableAlert, as GET /api/v2/alerts lists it.
ACTIVE_ALERT: dict[str, Any] = {
    "annotations": {"summary": "canary-error-rate above 0.01 for 2 x 60s"},
    "endsAt": "2026-12-04T10:24:05.000Z",
    "fingerprint": "5a1f0c7e9b2d4c61",
    "receivers": [{"name": "rollback"}, {"name": "ticket"}],
    "startsAt": "2026-12-04T10:18:05.000Z",
    "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
    "updatedAt": "2026-12-04T10:20:05.000Z",
    "generatorURL": "http://prometheus.test:9090/graph?g0.expr=...",
    "labels": {},
}
# The figures the recorded Prometheus holds per Service role: requests and 5xx over the window,
# p99 in seconds (the histogram's unit).
HEALTHY = {
    "candidate": {"requests": 600.4, "errors": 1.0, "p99": 0.21},
    "stable": {"requests": 5400.2, "errors": 5.0, "p99": 0.2},
}
FAILING = {
    "candidate": {"requests": 600.4, "errors": 90.2, "p99": 0.9},
    "stable": {"requests": 5400.2, "errors": 5.0, "p99": 0.2},
}

SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)(=~|!=|!~|=)"([^"]*)"')


class _Response(io.BytesIO):
    """What urlopen returns: readable, a context manager."""


@dataclass
class Cluster:
    """A recorded cluster: the HTTPRoute and PrometheusRules kubectl reads and patches, the
    alerts Alertmanager holds, the figures Prometheus answers; every call recorded."""

    namespace: str
    route: dict[str, Any]
    rules: list[dict[str, Any]]
    services: dict[str, str]  # Service name -> "stable" | "candidate"
    figures: dict[str, dict[str, float]] = field(default_factory=lambda: copy.deepcopy(HEALTHY))
    firing: set[str] = field(default_factory=set)
    kubectl_stderr: dict[str, str] = field(default_factory=dict)  # "get-rules", "get-route", ...
    kubectl_raises: BaseException | None = None
    http_raises: dict[str, BaseException] = field(default_factory=dict)  # service -> error
    http_answers: dict[str, Any] = field(default_factory=dict)  # service -> raw body (bytes)
    conflicts: int = 0  # patches refused with 409 because someone writes after each GET
    calls: list[tuple[str, Any]] = field(default_factory=list)

    # -- kubectl -------------------------------------------------------------------------------
    def _exit(self, code: int, out: str = "", err: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], code, out, err)

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(("kubectl", argv))
        assert kwargs["capture_output"] and kwargs["text"] and kwargs["timeout"] > 0
        assert kwargs.get("shell") is None  # a fixed argv, never a shell
        if self.kubectl_raises is not None:
            raise self.kubectl_raises
        assert argv[0] in watch.CLI_TOOLS and argv[-1] == "--request-timeout=30s"
        verb, resource, rest = argv[1], argv[2], argv[3:-1]
        key = f"{verb}-{'rules' if resource == watch.RULES_RESOURCE else 'route'}"
        if key in self.kubectl_stderr:
            return self._exit(1, err=self.kubectl_stderr[key])
        if key == "get-rules":
            assert rest == ["-n", self.namespace, "-o", "json"]
            items = [manifest_like(r) for r in self.rules]
            return self._exit(0, json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        assert resource == watch.ROUTE_RESOURCE
        name = self.route["metadata"]["name"]
        if rest[:3] != [name, "-n", self.namespace]:
            return self._exit(1, err=NOT_FOUND.format(resource=resource, name=rest[0]))
        if verb == "get":
            assert rest[3:] == ["-o", "json"]
            out = json.dumps(self.route)
            if self.conflicts:  # a concurrent writer changes the route after this read
                self.conflicts -= 1
                meta = self.route["metadata"]
                meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
            return self._exit(0, out)
        assert verb == "patch"
        assert rest[3:5] == ["--type", "merge"] and rest[5] == "-p"
        assert rest[7:] == [f"--field-manager={app.FIELD_MANAGER}", "-o", "json"]
        patch = json.loads(rest[6])
        if patch["metadata"]["resourceVersion"] != self.route["metadata"]["resourceVersion"]:
            return self._exit(1, err=CONFLICT.format(resource=resource, name=name))
        updated = merge_patch(self.route, patch)
        updated["metadata"]["resourceVersion"] = str(int(patch["metadata"]["resourceVersion"]) + 1)
        self.route = updated
        return self._exit(0, json.dumps(self.route))

    # -- Prometheus and Alertmanager ------------------------------------------------------------
    def urlopen(self, request: urllib.request.Request, timeout: float) -> _Response:
        url = urllib.parse.urlsplit(request.full_url)
        service = "prometheus" if request.full_url.startswith(PROMETHEUS) else "alertmanager"
        query = urllib.parse.parse_qsl(url.query)
        self.calls.append((service, query))
        assert request.get_method() == "GET" and 0 < timeout <= 30
        if service in self.http_raises:
            raise self.http_raises[service]
        if service in self.http_answers:
            return _Response(self.http_answers[service])
        if service == "alertmanager":
            assert url.path == "/prefix" + watch.ALERTS_PATH
            return _Response(json.dumps(self._alerts(query)).encode())
        assert url.path == watch.QUERY_PATH
        return _Response(json.dumps(self._evaluate(dict(query))).encode())

    def _alerts(self, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        params = dict(query)
        assert (params["active"], params["silenced"], params["inhibited"]) == (
            "true",
            "false",
            "false",
        )
        filters = dict(f.split("=", 1) for v in [query] for k, f in v if k == "filter")
        name, namespace = json.loads(filters["alertname"]), json.loads(filters["namespace"])
        if name not in self.firing or namespace != self.namespace:
            return []
        labels = {"alertname": name, "namespace": namespace, "rollback": "true"}
        return [{**ACTIVE_ALERT, "labels": labels}]

    def _evaluate(self, params: dict[str, str]) -> dict[str, Any]:
        """The figure a sample query asks for, from its selector: a stand-in for PromQL that
        knows only the shapes the watch may send (anything else fails the test)."""
        query, at = params["query"], float(params["time"])
        assert at == NOW
        ((metric, body),) = SELECTOR.findall(query)
        labels = {k: (op, v) for k, op, v in MATCHER.findall(body)}
        assert labels["namespace"] == ("=", self.namespace)
        role = self.services[labels["service"][1]]
        assert re.search(r"\[300s\]", query), query  # the window the watch was asked for
        value: float | None
        if query.startswith("histogram_quantile(0.99, sum by (le) (increase("):
            assert metric == watch.LATENCY_BUCKETS and query.endswith(" * 1000")
            seconds = self.figures[role]["p99"]
            value = None if seconds is None else seconds * 1000
        else:
            assert metric == watch.REQUESTS_METRIC and query.startswith("sum(increase(")
            figure = "errors" if "code" in labels else "requests"
            value = self.figures[role][figure]
        if value is None:
            return {"status": "success", "data": {"resultType": "vector", "result": []}}
        text = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
        return {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [at, text]}]},
        }

    def api(self, env: Mapping[str, str] = ENV) -> watch.CliApi:
        """The watch's real transport, pointed at this recorded cluster."""
        return watch.CliApi(env=env, run=self.run, urlopen=self.urlopen)

    def kubectl_calls(self) -> list[list[str]]:
        return [argv for who, argv in self.calls if who == "kubectl"]

    def patches(self) -> list[dict[str, Any]]:
        return [json.loads(a[a.index("-p") + 1]) for a in self.kubectl_calls() if a[1] == "patch"]


def http_error(url: str, code: int, reason: str, body: Any = None) -> urllib.error.HTTPError:
    """An HTTP error answer as urllib raises it, with its JSON body (if any)."""
    data = json.dumps(body).encode() if body is not None else b""
    return urllib.error.HTTPError(url, code, reason, email.message.Message(), io.BytesIO(data))


def manifest_like(rule: dict[str, Any]) -> dict[str, Any]:
    """A captured object as the API server lists it (a uid and resourceVersion added)."""
    out = copy.deepcopy(rule)
    out["metadata"] = {**out["metadata"], "uid": "0f2c", "resourceVersion": "7"}
    return out


def captured(candidate: bool = True) -> tuple[Any, Capture, dict[str, Any]]:
    spec, cap = _run(candidate)
    return spec, cap, outputs_of(cap)


def cluster(candidate: bool = True) -> tuple[Cluster, dict[str, Any]]:
    """The recorded cluster holding exactly what the component registered."""
    _, cap, outputs = captured(candidate)
    (route,) = [
        manifest(r)
        for r in of_kind(cap.resources, "HTTPRoute")
        if r.inputs["metadata"]["name"] == outputs["api_id"]
    ]
    route["metadata"]["resourceVersion"] = "41"
    services = {outputs["serving_service"]: "stable"}
    if outputs["canary_service"]:
        services[outputs["canary_service"]] = "candidate"
    rules = [manifest(r) for r in of_kind(cap.resources, "PrometheusRule")]
    return Cluster(outputs["log_group"], route, rules, services), outputs


def settings() -> dict[str, Any]:
    spec, _, _ = captured()
    s = rollout.settings_for(spec)
    return {
        "error_rate": s.error_rate,
        "latency_multiplier": s.latency_multiplier,
        "min_requests": s.min_requests,
    }


def observe(c: Cluster, outputs: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
    return watch.observe(outputs, settings(), 5, client=kw.pop("api", c.api()), now=NOW, **kw)


def decided(observation: dict[str, Any]) -> rollout.Decision:
    """The pipeline's decision: the observation must parse with the shared contract."""
    return rollout.decide(rollout.parse_observation(json.loads(json.dumps(observation))))


def one_line(text: str) -> bool:
    return "\n" not in text and "Traceback" not in text and 0 < len(text) <= 512


# -- the contract and its tables -----------------------------------------------------------------
def test_the_pipelines_table_names_this_module_and_the_cli_it_calls() -> None:
    spec = importlib.util.spec_from_file_location("watchers_under_test", WATCHERS / "watchers.py")
    assert spec is not None and spec.loader is not None
    watchers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(watchers)
    assert watchers.release_watch(Cloud.KUBERNETES.value) is watch
    # Every cloud with a release watch is in the table, under its module's own name.
    for cloud in Cloud:
        if (ROOT / "components" / cloud.value / "release_watch.py").is_file():
            assert watchers.RELEASE_WATCH[cloud.value] == f"components.{cloud.value}.release_watch"
    assert watch.CLI_TOOLS == ("kubectl",)
    for name in ("observe", "rolled_back", "drain_candidate"):
        assert callable(getattr(watch, name))


def test_it_imports_the_standard_library_only() -> None:
    """Vendored into projects and run in CI, where neither pulumi nor the cloud SDKs are."""
    code = (
        "before = set(sys.modules); import components.kubernetes.release_watch; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names)))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["['components']"], done.stdout + done.stderr


def test_the_watch_calls_only_what_the_deployer_role_grants() -> None:
    """The watch runs as the environment's deployer: every (group, resource, verb) it asks
    kubectl for is in components/kubernetes/bootstrap.py's Role."""
    c, outputs = cluster()
    c.firing.add(outputs["rollback_alarms"][0])
    observe(c, outputs)
    watch.rolled_back(outputs, VERSION, client=c.api())
    watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    granted = {
        (group, kind, verb)
        for group, kinds in bootstrap.DEPLOYER_RULES
        for kind in kinds
        for verb in bootstrap.WRITE_VERBS
    }
    # kubectl get of a collection is the verb list, of one named object get.
    seen = set()
    for argv in c.kubectl_calls():
        kind, _, group = argv[2].partition(".")
        named = not argv[3].startswith("-")
        seen.add((group, kind, argv[1] if argv[1] != "get" or named else "list"))
    assert seen == {
        ("monitoring.coreos.com", "prometheusrules", "list"),
        ("gateway.networking.k8s.io", "httproutes", "get"),
        ("gateway.networking.k8s.io", "httproutes", "patch"),
    }
    assert seen <= granted
    # The route is the resource the automatic rollback's Role names (app.API_CALLS).
    assert {(g, r, v) for g, r, v in seen if r == "httproutes"} == set(app.API_CALLS)
    assert "prometheusrules." + monitoring.MONITORING_API.split("/")[0] == watch.RULES_RESOURCE


# -- the seams with the component ----------------------------------------------------------------
def _selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    return [
        (metric, {k: (op, v) for k, op, v in MATCHER.findall(body)})
        for metric, body in SELECTOR.findall(expr)
    ]


def _expanded(matchers: dict[str, tuple[str, str]]) -> list[dict[str, tuple[str, str]]]:
    """A selector whose ``service=~"a|b"`` is split into one selector per Service."""
    op, value = matchers.get("service", ("=", ""))
    if op != "=~":
        return [matchers]
    return [{**matchers, "service": ("=", s)} for s in value.split("|")]


@pytest.mark.parametrize("candidate", [True, False])
def test_the_samples_read_the_series_the_rollback_alerts_evaluate(candidate: bool) -> None:
    """The seam: the queries the watch sends select the series the captured PrometheusRule's
    rollback alerts evaluate, for the Services the outputs name, in the namespace they name."""
    c, outputs = cluster(candidate)
    observe(c, outputs)
    sent = [dict(q)["query"] for who, q in c.calls if who == "prometheus"]
    assert len(sent) == (6 if candidate else 3)
    (rule,) = c.rules
    (group,) = rule["spec"]["groups"]
    rollback = [a for a in group["rules"] if a["labels"]["rollback"] == "true"]
    assert [a["alert"] for a in rollback] == outputs["rollback_alarms"]
    rule_selectors = [s for a in rollback for s in _selectors(a["expr"])]
    concrete = [(m, e) for m, sel in rule_selectors for e in _expanded(sel)]
    exprs = " ".join(a["expr"] for a in rollback)
    verbatim = 0
    for query in sent:
        ((metric, matchers),) = _selectors(query)
        # The Service and namespace: a selector of the same metric in the alerts names them.
        scope = {k: matchers[k] for k in ("namespace", "service")}
        assert any(m == metric and scope.items() <= e.items() for m, e in concrete), query
        # Every further matcher (the 5xx class) is one the alerts use on that metric.
        for key, value in matchers.items():
            assert any(m == metric and e.get(key) == value for m, e in concrete), (key, query)
        verbatim += SELECTOR.search(query).group(0) in exprs  # type: ignore[union-attr]
    # The candidate's three and the stable p99 are, character for character, the alerts' own.
    assert verbatim == (4 if candidate else 1)
    # p99 in ms, as the absolute p99 alert compares it (threshold in ms, `* 1000`).
    (p99_rule,) = [a for a in rollback if a["labels"]["signal"] == Signal.CANARY_LATENCY_P99.value]
    assert " * 1000 > " in p99_rule["expr"]


def test_the_outputs_name_what_the_rules_and_the_route_hold() -> None:
    spec, cap, outputs = captured()
    c, _ = cluster()
    target = watch.Target.from_outputs(outputs)
    assert c.route["metadata"]["name"] == target.route
    assert c.route["metadata"]["namespace"] == target.namespace
    (rule,) = c.rules
    assert rule["metadata"]["namespace"] == target.namespace
    backends = [b["name"] for b in c.route["spec"]["rules"][0]["backendRefs"]]
    assert backends == [target.stable, target.candidate]
    assert outputs["rollback_alarms"] == [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    # The rollback service guards the same route and Services.
    cfg = captured_config(cap)
    assert (cfg["namespace"], cfg["route"], cfg["stable"], cfg["candidate"]) == (
        target.namespace,
        target.route,
        target.stable,
        target.candidate,
    )


def test_the_alertmanager_query_is_the_rollback_services(monkeypatch: pytest.MonkeyPatch) -> None:
    _, cap, outputs = captured()
    cfg = captured_config(cap)
    name = cfg["alerts"][0]
    sent: list[str] = []

    def fake_call(url: str, **kw: Any) -> Any:
        sent.append(url)
        return []

    monkeypatch.setattr(app, "_call", fake_call)
    assert app.firing_in_alertmanager(cfg, name) is False
    (url,) = sent
    app_query = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)
    assert urllib.parse.urlsplit(url).path == watch.ALERTS_PATH
    assert watch.alert_query(outputs["log_group"], name) == app_query
    c, _ = cluster()
    observe(c, outputs)
    am = [q for who, q in c.calls if who == "alertmanager"]
    assert am[0] == app_query


# -- observe -------------------------------------------------------------------------------------
def test_a_firing_rollback_alert_is_a_verified_trigger_with_fresh_samples() -> None:
    c, outputs = cluster()
    c.figures = copy.deepcopy(FAILING)
    name = outputs["rollback_alarms"][1]
    c.firing.add(name)
    obs = observe(c, outputs)
    assert obs["trigger"] == {"verified": True, "firing": True, "rule": name}
    assert obs["candidate"] == {"requests": 600, "errors_5xx": 90, "p99_ms": 900.0}
    assert obs["stable"] == {"requests": 5400, "errors_5xx": 5, "p99_ms": 200.0}
    decision = decided(obs)
    assert decision.action is rollout.Action.ROLLBACK and not decision.page


def test_nothing_firing_leaves_the_trigger_out_and_the_numbers_decide() -> None:
    c, outputs = cluster()
    obs = observe(c, outputs)
    assert "trigger" not in obs
    assert obs["candidate"] == {"requests": 600, "errors_5xx": 1, "p99_ms": 210.0}
    assert decided(obs).action is rollout.Action.HOLD
    # Every rollback alert was asked for, by exact name, in the stack's namespace.
    asked = [[f for k, f in q if k == "filter"] for who, q in c.calls if who == "alertmanager"]
    assert asked == [
        [f'alertname="{name}"', f'namespace="{outputs["log_group"]}"']
        for name in outputs["rollback_alarms"]
    ]
    c.figures = copy.deepcopy(FAILING)
    assert decided(observe(c, outputs)).action is rollout.Action.ROLLBACK


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("rules-forbidden", "(Forbidden)"),
        ("kubectl-missing", "kubectl is not installed"),
        ("kubectl-timeout", "timed out"),
        ("kubectl-garbage", "not JSON"),
        ("alertmanager-timeout", "no answer from"),
        ("alertmanager-500", "HTTP 500"),
        ("alertmanager-not-a-list", "not a list of alerts"),
        ("alertmanager-not-json", "not JSON"),
        ("alertmanager-unset", "ALERTMANAGER_URL is not set"),
        ("alertmanager-not-http", "ALERTMANAGER_URL must be an http:// or https:// URL"),
        ("alert-missing", "not found in the PrometheusRules"),
    ],
)
def test_an_alarm_state_it_cannot_read_is_an_unverified_trigger(case: str, expect: str) -> None:
    c, outputs = cluster()
    c.firing.add(outputs["rollback_alarms"][0])
    env = dict(ENV)
    ns = outputs["log_group"]
    if case == "rules-forbidden":
        c.kubectl_stderr["get-rules"] = FORBIDDEN.format(
            resource=watch.RULES_RESOURCE,
            verb="list",
            plural="prometheusrules",
            group="monitoring.coreos.com",
            namespace=ns,
        )
    elif case == "kubectl-missing":
        c.kubectl_raises = FileNotFoundError(2, "No such file or directory", "kubectl")
    elif case == "kubectl-timeout":
        c.kubectl_raises = subprocess.TimeoutExpired(["kubectl"], 45)
    elif case == "kubectl-garbage":
        c.kubectl_stderr.clear()
        c.run = lambda argv, **kw: subprocess.CompletedProcess(argv, 0, "error: <html>", "")  # type: ignore[method-assign]
    elif case == "alertmanager-timeout":
        c.http_raises["alertmanager"] = urllib.error.URLError(TimeoutError("timed out"))
        env["ALERTMANAGER_URL"] = ALERTMANAGER.replace("http://", "http://am:s3cret@")
    elif case == "alertmanager-500":
        c.http_raises["alertmanager"] = http_error(ALERTMANAGER, 500, "Internal Server Error")
    elif case == "alertmanager-not-a-list":
        c.http_answers["alertmanager"] = b'{"alerts": []}'
    elif case == "alertmanager-not-json":
        c.http_answers["alertmanager"] = b"<html>502 Bad Gateway</html>"
    elif case == "alertmanager-unset":
        del env["ALERTMANAGER_URL"]
    elif case == "alertmanager-not-http":
        env["ALERTMANAGER_URL"] = "file:///etc/passwd"
    else:  # the stack exports the name, the cluster evaluates no such rule (no Prometheus)
        group = c.rules[0]["spec"]["groups"][0]
        gone = outputs["rollback_alarms"][-1]
        group["rules"] = [r for r in group["rules"] if r["alert"] != gone]
    obs = observe(c, outputs, api=c.api(env))
    trigger = obs["trigger"]
    assert trigger["verified"] is False and trigger["firing"] is True
    assert expect in trigger["rule"] and one_line(trigger["rule"]), trigger["rule"]
    assert "s3cret" not in trigger["rule"]
    decision = decided(obs)
    assert decision.action is rollout.Action.HOLD and decision.page is True


def test_one_unreadable_alert_does_not_hide_another_that_fires() -> None:
    c, outputs = cluster()
    first, second = outputs["rollback_alarms"][:2]
    c.firing.add(second)
    real = c.urlopen

    def flaky(request: urllib.request.Request, timeout: float) -> _Response:
        if urllib.parse.quote(f'"{first}"') in request.full_url:
            raise TimeoutError("timed out")
        return real(request, timeout)

    c.urlopen = flaky  # type: ignore[method-assign]
    assert observe(c, outputs)["trigger"] == {"verified": True, "firing": True, "rule": second}


@pytest.mark.parametrize("firing", [False, True])
def test_a_prometheus_error_is_unverified_unless_an_alert_is_verified(firing: bool) -> None:
    c, outputs = cluster()
    if firing:
        c.firing.add(outputs["rollback_alarms"][0])
    c.http_raises["prometheus"] = http_error(PROMETHEUS, 400, "Bad Request", BAD_DATA)
    obs = observe(c, outputs)
    assert obs["candidate"] == obs["stable"] == {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    if firing:
        assert obs["trigger"]["verified"] is True
        # Verified and firing, no fresh data: decide fails safe (E.10).
        assert decided(obs).action is rollout.Action.ROLLBACK
    else:
        assert obs["trigger"]["verified"] is False
        assert "HTTP 400 bad_data: invalid parameter" in obs["trigger"]["rule"]
        assert decided(obs).page is True


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "error", "errorType": "timeout", "error": "query timed out in expression"},
        {"status": "success", "data": {"resultType": "matrix", "result": []}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": "x"}]}},
        ["not", "an", "object"],
    ],
    ids=["status-error", "not-a-vector", "malformed-sample", "not-an-object"],
)
def test_an_unreadable_prometheus_answer_is_an_unverified_trigger(answer: Any) -> None:
    c, outputs = cluster()
    c.http_answers["prometheus"] = json.dumps(answer).encode()
    trigger = observe(c, outputs)["trigger"]
    assert trigger["verified"] is False and trigger["rule"].startswith("samples: prometheus")
    assert one_line(trigger["rule"])


def test_no_series_is_no_requests_and_a_nan_quantile_is_not_measured() -> None:
    c, outputs = cluster()
    c.figures["candidate"] = {"requests": None, "errors": None, "p99": None}  # type: ignore[dict-item]
    c.figures["stable"]["p99"] = math.nan
    obs = observe(c, outputs)
    assert obs["candidate"] == {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    assert obs["stable"]["p99_ms"] is None and obs["stable"]["requests"] == 5400
    decision = decided(obs)
    assert decision.action is rollout.Action.HOLD and "too little data" in decision.reason


def test_a_stack_without_a_candidate_samples_only_the_stable_version() -> None:
    c, outputs = cluster(candidate=False)
    assert outputs["canary_service"] == ""
    obs = observe(c, outputs)
    assert obs["candidate"] == {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    assert obs["stable"]["requests"] == 5400
    queries = [dict(q)["query"] for who, q in c.calls if who == "prometheus"]
    assert all(f'service="{outputs["serving_service"]}"' in q for q in queries)


def test_event_driven_has_no_split_to_watch_drain_or_mark() -> None:
    spec = k8s_spec(Pattern.EVENT_DRIVEN, Environment.PROD)
    cap = run_component(spec)
    (component,) = [r for r in cap.resources if r.type == "aideploy:kubernetes:EventDriven"]
    outputs = cap.outputs[component.urn]
    c, _ = cluster()
    obs = observe(c, outputs)
    assert "trigger" not in obs and obs["candidate"]["requests"] == 0
    assert decided(obs).action is rollout.Action.HOLD
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is False
    line = watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION)
    assert line == "event-driven stacks have no candidate: nothing to drain"
    assert c.calls == []


# -- the rolled-back marker ----------------------------------------------------------------------
def _rolled_back_by_the_app(c: Cluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the rollback service's own roll_back against the recorded route; its patch."""
    _, cap, _ = captured()
    cfg = captured_config(cap)
    sent: list[Any] = []

    def api(cfg: Mapping[str, Any], method: str, body: Any = None) -> Any:
        if method == "GET":
            return copy.deepcopy(c.route)
        sent.append(body)
        c.route = merge_patch(c.route, body)
        return c.route

    monkeypatch.setattr(app, "_api", api)
    monkeypatch.setattr(app, "time", SimpleNamespace(time=lambda: NOW))
    assert app.roll_back(cfg, "trigger fires", cfg["alerts"][0]) is True
    (patch,) = sent
    return patch  # type: ignore[no-any-return]


def test_rolled_back_reads_the_marker_the_rollback_service_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c, outputs = cluster()
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is False
    _rolled_back_by_the_app(c, monkeypatch)
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is True
    assert watch.rolled_back(outputs, "9.9.9", client=c.api()) is False


@pytest.mark.parametrize("case", ["forbidden", "not-found", "malformed-marker"])
def test_a_rolled_back_state_it_cannot_read_raises_one_line(case: str) -> None:
    c, outputs = cluster()
    if case == "forbidden":
        c.kubectl_stderr["get-route"] = "W0101 warning line\n" + FORBIDDEN.format(
            resource=watch.ROUTE_RESOURCE,
            verb="get",
            plural="httproutes",
            group="gateway.networking.k8s.io",
            namespace=outputs["log_group"],
        )
    elif case == "not-found":
        outputs = {**outputs, "api_id": "someone-elses-route"}
    else:
        c.route["metadata"]["annotations"] = {app.ROLLED_BACK_ANNOTATION: "rolled back!"}
    with pytest.raises(ApiError) as raised:
        watch.rolled_back(outputs, VERSION, client=c.api())
    assert one_line(str(raised.value))
    if case == "forbidden":
        assert str(raised.value).startswith("kubectl get httproutes.gateway.networking.k8s.io")
        assert "(Forbidden)" in str(raised.value) and "W0101" not in str(raised.value)


# -- drain_candidate ------------------------------------------------------------------------------
def test_the_drain_sends_the_rollback_services_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    c, outputs = cluster()
    before = copy.deepcopy(c.route)
    line = watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    (ours,) = c.patches()
    # The rollback service's patch of the same route as read.
    twin = Cluster(c.namespace, before, [], {})
    theirs = _rolled_back_by_the_app(twin, monkeypatch)
    assert ours["spec"] == theirs["spec"]
    assert ours["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"] == "41"
    assert ours["metadata"].keys() == theirs["metadata"].keys()
    (key,) = ours["metadata"]["annotations"]
    assert key == next(iter(theirs["metadata"]["annotations"])) == app.ROLLED_BACK_ANNOTATION
    our_marker = json.loads(ours["metadata"]["annotations"][key])
    their_marker = json.loads(theirs["metadata"]["annotations"][key])
    assert our_marker.keys() == their_marker.keys()
    assert our_marker["version"] == their_marker["version"] == VERSION
    assert our_marker["at"] == their_marker["at"] == int(NOW)
    # ... and the route ends as the service leaves it.
    assert c.route["spec"] == twin.route["spec"]
    weights = {b["name"]: b["weight"] for b in c.route["spec"]["rules"][0]["backendRefs"]}
    assert weights == {outputs["serving_service"]: 100, outputs["canary_service"]: 0}
    assert line == (
        f"route {c.namespace}/{outputs['api_id']}: candidate {outputs['canary_service']} weight "
        f"0, stable {outputs['serving_service']} weight 100; marker "
        f"{app.ROLLED_BACK_ANNOTATION} = {VERSION}"
    )
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is True
    # Again: nothing more to write.
    again = watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    assert "already on stable" in again and "marker names it already" in again
    assert len(c.patches()) == 1


def test_a_drain_without_a_version_moves_traffic_and_writes_no_marker() -> None:
    c, outputs = cluster()
    line = watch.drain_candidate(outputs, client=c.api(), now=NOW)
    (patch,) = c.patches()
    assert "annotations" not in patch["metadata"] and "spec" in patch
    assert line.endswith("rolled-back marker NOT written (no candidate version given)")
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is False


def test_a_route_already_on_stable_gets_the_marker_alone() -> None:
    c, outputs = cluster()
    for ref in c.route["spec"]["rules"][0]["backendRefs"]:
        ref["weight"] = 0 if ref["name"] == outputs["canary_service"] else 100
    spec_before = copy.deepcopy(c.route["spec"])
    line = watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    (patch,) = c.patches()
    assert "spec" not in patch and patch["metadata"]["resourceVersion"] == "41"
    assert c.route["spec"] == spec_before
    assert "already on stable" in line and f"= {VERSION}" in line
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is True


def test_a_409_is_read_again_and_the_patch_carries_the_new_version() -> None:
    c, outputs = cluster()
    c.conflicts = 1  # someone writes the route right after the first read
    watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    first, second = c.patches()
    assert first["metadata"]["resourceVersion"] == "41"
    assert second["metadata"]["resourceVersion"] == "42"
    assert watch.rolled_back(outputs, VERSION, client=c.api()) is True


def test_a_route_that_keeps_changing_is_an_error_and_stays_as_it_was() -> None:
    c, outputs = cluster()
    c.conflicts = watch.PATCH_ATTEMPTS
    before = copy.deepcopy(c.route["spec"])
    with pytest.raises(ApiError) as raised:
        watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    assert "409 Conflict" in str(raised.value) and one_line(str(raised.value))
    assert len(c.patches()) == watch.PATCH_ATTEMPTS
    assert c.route["spec"] == before
    assert app.ROLLED_BACK_ANNOTATION not in c.route["metadata"].get("annotations", {})


def test_a_refused_patch_is_one_line_and_changes_nothing() -> None:
    c, outputs = cluster()
    c.kubectl_stderr["patch-route"] = FORBIDDEN.format(
        resource=watch.ROUTE_RESOURCE,
        verb="patch",
        plural="httproutes",
        group="gateway.networking.k8s.io",
        namespace=outputs["log_group"],
    )
    before = copy.deepcopy(c.route)
    with pytest.raises(ApiError) as raised:
        watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION, now=NOW)
    assert type(raised.value) is ApiError and "(Forbidden)" in str(raised.value)
    assert one_line(str(raised.value))
    assert c.route == before


def test_a_stack_without_a_candidate_has_nothing_to_drain() -> None:
    c, outputs = cluster(candidate=False)
    line = watch.drain_candidate(outputs, client=c.api(), candidate_version=VERSION)
    assert "nothing to drain" in line and c.calls == []
    # Outputs naming a candidate the live route does not hold: read, nothing written.
    c2, with_candidate = cluster()
    c2.route["spec"]["rules"][0]["backendRefs"].pop()
    line = watch.drain_candidate(with_candidate, client=c2.api(), candidate_version=VERSION)
    assert "no backend" in line and c2.patches() == []


def test_missing_outputs_are_named_in_one_line() -> None:
    c, outputs = cluster()
    broken = {k: v for k, v in outputs.items() if k != "log_group"}
    with pytest.raises(ApiError, match="outputs lack log_group"):
        watch.drain_candidate(broken, client=c.api())
    trigger = observe(c, broken)["trigger"]
    assert trigger["verified"] is False and "log_group" in trigger["rule"]
