"""The kubernetes api-first rollback: the service's objects under mocks, and its app against
local doubles of Alertmanager and the Kubernetes API (http.server in threads).

Both sides of every seam come from the real code: the doubles' HTTPRoute is the one the
component registered (its inputs, captured under mocks), the app's configuration is the
ROLLBACK_CONFIG the captured Deployment carries, the Role is checked against the calls the
app makes (app.API_CALLS), and the alert names, ports, Secret keys and paths the app reads are
checked against the objects that provide them.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components import rollout
from components.alarms import alarm_name, rollback_alarms
from components.kubernetes import monitoring, network, rollback
from components.kubernetes.meta import ROLE_LABEL
from components.kubernetes.rollback_app import app
from components.spec import DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.components.test_kubernetes_blocks import CANDIDATE, k8s_spec, manifest, of_kind
from tests.conftest import run_component

NAME = "acme-support-rollback"


@cache
def _run(candidate: bool = True, cluster: tuple[tuple[str, Any], ...] = ()) -> tuple[
    DeploymentSpec, Capture
]:  # fmt: skip
    overrides: dict[str, Any] = dict(CANDIDATE) if candidate else {}
    if cluster:
        overrides["cluster"] = dict(cluster)
    spec = k8s_spec(Pattern.API_FIRST, Environment.PROD, overrides)
    return spec, run_component(spec)


def named(cap: Capture, kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in of_kind(cap.resources, kind) if r.inputs["metadata"]["name"] == name]
    return manifest(found)


def resource(cap: Capture, kind: str, name: str) -> CapturedResource:
    (found,) = [r for r in of_kind(cap.resources, kind) if r.inputs["metadata"]["name"] == name]
    return found


def urn_of(cap: Capture, kind: str, name: str) -> str:
    return resource(cap, kind, name).urn


def captured_config(cap: Capture) -> dict[str, Any]:
    """The app's configuration exactly as the captured Deployment hands it over."""
    pod = named(cap, "Deployment", NAME)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return app.load_config(env[app.CONFIG_ENV])


def the_pod(cap: Capture) -> dict[str, Any]:
    return named(cap, "Deployment", NAME)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


# -- the objects ---------------------------------------------------------------------------------
def test_the_role_allows_exactly_the_apps_calls_on_the_one_route() -> None:
    _, cap = _run()
    role = resource(cap, "Role", NAME)
    (rule,) = role.inputs["rules"]
    granted = {
        (g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    assert granted == set(app.API_CALLS)
    assert sorted(rule["verbs"]) == ["get", "patch"]
    cfg = captured_config(cap)
    assert rule["resourceNames"] == [cfg["route"]] == ["acme-support-api"]
    # The name is read from the route itself (an Output): Pulumi orders them, S2 follows it.
    assert role.property_dependencies["rules"] == (urn_of(cap, "HTTPRoute", "acme-support-api"),)
    # Nothing else in the stack grants anything.
    kinds = {r.inputs["kind"] for r in cap.resources if r.type.startswith("kubernetes:rbac")}
    assert kinds == {"Role", "RoleBinding"}
    assert len(of_kind(cap.resources, "Role")) == len(of_kind(cap.resources, "RoleBinding")) == 1


def test_the_binding_gives_the_role_to_the_services_own_account() -> None:
    _, cap = _run()
    binding = named(cap, "RoleBinding", NAME)
    pod = the_pod(cap)
    account_name = pod["serviceAccountName"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account_name, "namespace": "acme-support-prod"}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": NAME,
    }
    account = named(cap, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False


def test_the_pod_calls_the_api_with_a_projected_short_lived_token_only() -> None:
    _, cap = _run()
    pod = the_pod(cap)
    # No legacy token: the pod keeps automount off, as every pod of ours.
    assert pod["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    (token, ca) = volumes["api-token"]["projected"]["sources"]
    # No audience: the API server's own (a custom one would be refused by it).
    assert token == {
        "serviceAccountToken": {"path": "token", "expirationSeconds": rollback.TOKEN_SECONDS}
    }
    assert ca["configMap"]["name"] == "kube-root-ca.crt"
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    cfg = captured_config(cap)
    # The files the app reads are in the volumes that hold them.
    api_dir = mounts["api-token"]["mountPath"]
    assert cfg["api_token_file"] == f"{api_dir}/token"
    assert cfg["api_ca_file"] == f"{api_dir}/ca.crt"
    webhook_dir = mounts["webhook-token"]["mountPath"]
    (item,) = volumes["webhook-token"]["secret"]["items"]
    assert cfg["webhook_token_file"] == f"{webhook_dir}/{item['path']}"
    assert all(m["readOnly"] for n, m in mounts.items() if n in ("api-token", "webhook-token"))
    assert container["command"][-1] == f"{mounts['code']['mountPath']}/rollback.py"
    assert cfg["api_server"] == "https://kubernetes.default.svc"


def test_the_code_is_the_repositorys_app_and_decision() -> None:
    _, cap = _run()
    code = named(cap, "ConfigMap", f"{NAME}-code")
    assert code["data"]["rollback.py"] == Path(app.__file__).read_text()
    assert code["data"]["rollout_decision.py"] == Path(rollout.__file__).read_text()
    template = named(cap, "Deployment", NAME)["spec"]["template"]
    assert template["metadata"]["annotations"][rollback.CODE_ANNOTATION]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["code"]["configMap"]["name"] == f"{NAME}-code"


def test_the_deployment_carries_the_rollback_marker() -> None:
    _, cap = _run()
    labels = named(cap, "Deployment", NAME)["metadata"]["labels"]
    assert {k: labels[k] for k in rollout.ROLLBACK_MARKER} == rollout.ROLLBACK_MARKER
    # Its pods are not the model's: no model NetworkPolicy or ServiceMonitor selects them.
    pod_labels = named(cap, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    for policy in of_kind(cap.resources, "NetworkPolicy"):
        selector = manifest(policy)["spec"]["podSelector"].get("matchLabels", {})
        if policy.inputs["metadata"]["name"].startswith(NAME):
            assert selector.items() <= pod_labels.items()
        else:
            assert not selector or not selector.items() <= pod_labels.items(), policy.name


def test_alertmanager_sends_the_rollback_alerts_to_the_service_with_the_token() -> None:
    spec, cap = _run()
    routing = named(cap, "AlertmanagerConfig", "acme-support-routing")["spec"]
    first = routing["route"]["routes"][0]
    assert first["receiver"] == monitoring.ROLLBACK_RECEIVER
    assert first["matchers"] == [{"name": "rollback", "value": "true", "matchType": "="}]
    assert first["continue"] is True  # the tier's route still tells people
    (receiver,) = [r for r in routing["receivers"] if r["name"] == monitoring.ROLLBACK_RECEIVER]
    (hook,) = receiver["webhookConfigs"]
    # The URL is the Service's, on the port that reaches the app's port, on the app's path.
    service = named(cap, "Service", NAME)
    (port,) = service["spec"]["ports"]
    cfg = captured_config(cap)
    assert hook["url"] == f"http://{NAME}.acme-support-prod.svc:{port['port']}{app.ALERTS_PATH}"
    (container,) = the_pod(cap)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[port["targetPort"]] == cfg["port"]
    # The token Alertmanager sends is the one the pod reads: the same Secret and key, synced.
    credentials = hook["httpConfig"]["authorization"]["credentials"]
    volumes = {v["name"]: v for v in the_pod(cap)["volumes"]}
    secret = volumes["webhook-token"]["secret"]
    assert credentials["name"] == secret["secretName"]
    assert [i["key"] for i in secret["items"]] == [credentials["key"]]
    synced = named(cap, "ExternalSecret", credentials["name"])["spec"]
    assert [d["secretKey"] for d in synced["data"]] == [credentials["key"]]
    assert synced["data"][0]["remoteRef"] == {
        "key": "acme-support/prod/rollback",
        "property": rollback.TOKEN_KEY,
    }
    # The alerts routed there are exactly the ones the app acts on, and the stack's outputs.
    (rule,) = of_kind(cap.resources, "PrometheusRule")
    (group,) = rule.inputs["spec"]["groups"]
    flagged = [a["alert"] for a in group["rules"] if a["labels"]["rollback"] == "true"]
    assert flagged == cfg["alerts"] == [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert all(a["labels"]["namespace"] == cfg["namespace"] for a in group["rules"])


def test_the_rule_names_its_routing_and_signals() -> None:
    _, cap = _run()
    (rule,) = of_kind(cap.resources, "PrometheusRule")
    annotations = rule.inputs["metadata"]["annotations"]
    assert annotations[monitoring.ROUTING_ANNOTATION] == "acme-support-routing"
    assert rule.property_dependencies["metadata"] == (
        urn_of(cap, "AlertmanagerConfig", "acme-support-routing"),
    )
    (group,) = rule.inputs["spec"]["groups"]
    for alert in group["rules"]:
        signal = alert["labels"]["signal"]
        assert annotations[monitoring.SIGNAL_ANNOTATION.format(signal=signal)] == signal


def test_only_alertmanager_reaches_it_and_it_reaches_only_what_it_calls() -> None:
    spec, cap = _run()
    assert spec.cluster is not None
    cfg = captured_config(cap)
    policies = {
        p.inputs["metadata"]["name"]: manifest(p)["spec"]
        for p in of_kind(cap.resources, "NetworkPolicy")
    }
    (ingress,) = policies[f"{NAME}-from-alertmanager"]["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": cfg["port"]}]
    (peer,) = ingress["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        network.NAMESPACE_NAME_LABEL: spec.cluster.monitoring_namespace
    }
    assert peer["podSelector"]["matchLabels"] == rollback.ALERTMANAGER_PODS
    (to_am,) = policies[f"{NAME}-to-alertmanager"]["egress"]
    am = urllib.parse.urlsplit(cfg["alertmanager"])
    assert am.hostname == f"alertmanager-operated.{spec.cluster.monitoring_namespace}.svc"
    assert to_am["ports"] == [{"protocol": "TCP", "port": am.port}]
    assert to_am["to"][0]["namespaceSelector"]["matchLabels"] == {
        network.NAMESPACE_NAME_LABEL: spec.cluster.monitoring_namespace
    }
    (to_api,) = policies[f"{NAME}-to-api-server"]["egress"]
    assert {p["port"] for p in to_api["ports"]} == set(rollback.API_SERVER_PORTS)
    # Only the control plane's addresses (required outside dev: the spec refuses without).
    assert [peer["ipBlock"]["cidr"] for peer in to_api["to"]] == list(spec.cluster.api_server_cidrs)
    assert spec.cluster.api_server_cidrs
    assert f"{NAME}-to-dns" in policies


def test_no_prometheus_no_rollback_service() -> None:
    _, cap = _run(cluster=(("prometheus", False),))
    roles = {
        d.inputs["metadata"]["labels"][ROLE_LABEL] for d in of_kind(cap.resources, "Deployment")
    }
    assert rollback.ROLE not in roles
    assert of_kind(cap.resources, "Role") == []


def test_the_envoy_proxies_are_scraped() -> None:
    spec, cap = _run()
    assert spec.cluster is not None
    (monitor,) = of_kind(cap.resources, "PodMonitor")
    body = manifest(monitor)
    assert body["apiVersion"] == "monitoring.coreos.com/v1"
    assert body["metadata"]["labels"]["release"] == spec.cluster.prometheus_release
    assert body["spec"]["namespaceSelector"] == {"matchNames": [spec.cluster.gateway_namespace]}
    selector = body["spec"]["selector"]["matchLabels"]
    (gw,) = of_kind(cap.resources, "Gateway")
    assert selector[monitoring.ENVOY_OWNER_NAME] == gw.inputs["metadata"]["name"]
    assert selector[monitoring.ENVOY_OWNER_NAMESPACE] == gw.inputs["metadata"]["namespace"]
    assert network.ENVOY_PROXY_PODS.items() <= selector.items()
    assert body["spec"]["podMetricsEndpoints"] == [
        {"port": "metrics", "path": "/stats/prometheus", "interval": monitoring.SCRAPE_INTERVAL}
    ]


@pytest.mark.parametrize("smtp", [False, True])
def test_email_receivers_take_the_clusters_relay_and_sender(smtp: bool) -> None:
    cluster = (("smtp_smarthost", "mail.acme.example:587"), ("smtp_from", "am@acme.example"))
    _, cap = _run(cluster=cluster if smtp else ())
    routing = named(cap, "AlertmanagerConfig", "acme-support-routing")["spec"]
    emails = [c for r in routing["receivers"] for c in r.get("emailConfigs", [])]
    assert emails
    for config in emails:
        if smtp:
            assert config["smarthost"] == "mail.acme.example:587"
            assert config["from"] == "am@acme.example"
        else:
            assert "smarthost" not in config and "from" not in config


# -- the app against doubles ---------------------------------------------------------------------
TOKEN = "s3cret-webhook-token"
API_TOKEN = "projected-api-token"


@dataclass
class Doubles:
    """Alertmanager's API v2 and the API server's HTTPRoute endpoint, recording every call."""

    route: dict[str, Any]
    firing: set[str] = field(default_factory=set)
    alertmanager_status: int = 200
    get_status: int = 200
    patch_status: int = 200
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    route_path: str = ""
    write_after_get: bool = False  # a concurrent writer bumps the resourceVersion after a GET


def _server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def start_doubles(d: Doubles) -> tuple[ThreadingHTTPServer, ThreadingHTTPServer]:
    class Alertmanager(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            d.calls.append(("alertmanager", self.path, None))
            if d.alertmanager_status != 200:
                self.send_error(d.alertmanager_status)
                return
            assert url.path == "/api/v2/alerts"
            assert query["active"] == ["true"]
            filters = dict(f.split("=", 1) for f in query["filter"])
            name = json.loads(filters["alertname"])
            namespace = json.loads(filters["namespace"])
            alerts = [
                {
                    "labels": {"alertname": name, "namespace": namespace, "rollback": "true"},
                    "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
                }
            ] if name in d.firing else []  # fmt: skip
            body = json.dumps(alerts).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class Api(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _allowed(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
                self._reply(401, {"kind": "Status", "code": 401})
                return False
            if urllib.parse.urlsplit(self.path).path != d.route_path:
                self._reply(404, {"kind": "Status", "code": 404})
                return False
            return True

        def do_GET(self) -> None:
            d.calls.append(("api", "GET", None))
            if not self._allowed():
                return
            if d.get_status != 200:
                self._reply(d.get_status, {"kind": "Status", "code": d.get_status})
                return
            self._reply(200, d.route)
            if d.write_after_get:
                meta = d.route["metadata"]
                meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

        def do_PATCH(self) -> None:
            patch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            d.calls.append(("api", "PATCH", patch))
            if not self._allowed():
                return
            assert self.headers["Content-Type"] == app.MERGE_PATCH
            assert urllib.parse.urlsplit(self.path).query == f"fieldManager={app.FIELD_MANAGER}"
            if d.patch_status != 200:
                self._reply(d.patch_status, {"kind": "Status", "code": d.patch_status})
                return
            version = patch.get("metadata", {}).get("resourceVersion")
            if version is not None and version != d.route["metadata"]["resourceVersion"]:
                self._reply(409, {"kind": "Status", "code": 409, "reason": "Conflict"})
                return
            updated = merge_patch(d.route, patch)
            updated["metadata"]["resourceVersion"] = str(int(version or 0) + 1)
            d.route = updated
            self._reply(200, d.route)

        def log_message(self, *args: Any) -> None:
            pass

    return _server(Alertmanager), _server(Api)


@dataclass
class Rig:
    """The app served with the captured configuration, its doubles pointed at."""

    doubles: Doubles
    url: str
    cfg: dict[str, Any]
    captured_route: dict[str, Any]

    def post(self, payload: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + app.ALERTS_PATH, data=json.dumps(payload).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def patches(self) -> list[Any]:
        return [body for who, method, body in self.doubles.calls if method == "PATCH"]

    def weights(self) -> dict[str, int]:
        (rule,) = self.doubles.route["spec"]["rules"]
        return {b["name"]: b["weight"] for b in rule["backendRefs"]}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    servers: list[ThreadingHTTPServer] = []

    def make(candidate: bool = True) -> Rig:
        _, cap = _run(candidate)
        cfg = captured_config(cap)
        route = named(cap, "HTTPRoute", cfg["route"])
        route["metadata"]["resourceVersion"] = "41"
        doubles = Doubles(route=json.loads(json.dumps(route)))
        doubles.route_path = app._route_url({**cfg, "api_server": ""})
        alertmanager, api = start_doubles(doubles)
        (tmp_path / "webhook").write_text(TOKEN + "\n")
        (tmp_path / "api").write_text(API_TOKEN)
        local = {
            **cfg,
            "alertmanager": _url(alertmanager),
            "api_server": _url(api),
            "api_token_file": str(tmp_path / "api"),
            "webhook_token_file": str(tmp_path / "webhook"),
            "port": 0,
        }
        server = app.serve(local, host="127.0.0.1")
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.extend([alertmanager, api, server])
        return Rig(doubles, _url(server), local, route)

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def notification(cfg: dict[str, Any], name: str, status: str = "firing") -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one alert of the stack."""
    labels = {"alertname": name, "namespace": cfg["namespace"], "rollback": "true"}
    return {
        "version": "4",
        "status": status,
        "receiver": monitoring.ROLLBACK_RECEIVER,
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "alerts": [{"status": status, "labels": labels, "annotations": {}}],
    }


def test_a_firing_alert_moves_all_traffic_to_stable(rig: Callable[..., Rig]) -> None:
    r = rig()
    names = [b["name"] for b in r.captured_route["spec"]["rules"][0]["backendRefs"]]
    assert [b["weight"] for b in r.captured_route["spec"]["rules"][0]["backendRefs"]] == [90, 10]
    alert = r.cfg["alerts"][0]
    r.doubles.firing.add(alert)
    status, body = r.post(notification(r.cfg, alert))
    assert status == 200, body
    assert body["action"] == "rollback" and body["changed"] is True and body["tier"] == "ticket"
    (patch,) = r.patches()
    # The seam: the names the app patches are the captured route's backendRefs.
    (rule,) = patch["spec"]["rules"]
    assert (
        [b["name"] for b in rule["backendRefs"]] == names == [r.cfg["stable"], r.cfg["candidate"]]
    )
    assert r.weights() == {r.cfg["stable"]: 100, r.cfg["candidate"]: 0}
    # Everything else of the rule is kept (a merge patch replaces the list whole).
    assert rule["matches"] == r.captured_route["spec"]["rules"][0]["matches"]
    assert patch["metadata"]["resourceVersion"] == "41"
    marker = json.loads(r.doubles.route["metadata"]["annotations"][app.ROLLED_BACK_ANNOTATION])
    assert (
        marker["rule"] == alert and marker["version"] == CANDIDATE["rollout"]["candidate_version"]
    )
    # Verified with Alertmanager before acting, by exact name and namespace.
    (am,) = [p for who, p, _ in r.doubles.calls if who == "alertmanager"]
    assert f'alertname="{alert}"' in urllib.parse.unquote(am)
    # Again: already at 0/100, nothing more is written (Alertmanager repeats notifications).
    status, body = r.post(notification(r.cfg, alert))
    assert status == 200 and body["action"] == "rollback" and body["changed"] is False
    assert len(r.patches()) == 1


def test_an_alert_not_firing_in_alertmanager_changes_nothing(rig: Callable[..., Rig]) -> None:
    r = rig()
    status, body = r.post(notification(r.cfg, r.cfg["alerts"][0]))
    assert status == 200 and body["action"] == "ignore"
    assert r.patches() == []
    assert r.weights() == {r.cfg["stable"]: 90, r.cfg["candidate"]: 10}


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
def test_a_caller_without_the_token_is_refused(rig: Callable[..., Rig], token: str | None) -> None:
    r = rig()
    r.doubles.firing.add(r.cfg["alerts"][0])
    status, _ = r.post(notification(r.cfg, r.cfg["alerts"][0]), token=token)
    assert status == 401
    assert r.doubles.calls == []  # neither verified nor acted on


@pytest.mark.parametrize("failing", ["get", "patch", "conflict"])
def test_an_api_error_is_a_5xx_and_leaves_the_route_as_it_was(
    rig: Callable[..., Rig], failing: str
) -> None:
    r = rig()
    r.doubles.firing.add(r.cfg["alerts"][0])
    if failing == "get":
        r.doubles.get_status = 500
    elif failing == "patch":
        r.doubles.patch_status = 500
    else:  # someone writes the route between the app's read and its write
        r.doubles.write_after_get = True
    status, body = r.post(notification(r.cfg, r.cfg["alerts"][0]))
    assert status == 502, body
    assert body["action"] == "rollback-failed" and body["page"] is True and body["tier"] == "page"
    # No partial state: the weights and every other field are as they were.
    assert r.weights() == {r.cfg["stable"]: 90, r.cfg["candidate"]: 10}
    assert app.ROLLED_BACK_ANNOTATION not in r.doubles.route["metadata"].get("annotations", {})
    assert {k: v for k, v in r.doubles.route.items() if k != "metadata"} == {
        k: v for k, v in r.captured_route.items() if k != "metadata"
    }


def test_an_alertmanager_it_cannot_read_holds_and_pages(rig: Callable[..., Rig]) -> None:
    r = rig()
    r.doubles.alertmanager_status = 500
    status, body = r.post(notification(r.cfg, r.cfg["alerts"][0]))
    assert status == 503  # Alertmanager retries the notification
    assert body["action"] == "hold" and body["page"] is True and body["tier"] == "page"
    assert r.patches() == []


def test_a_candidate_already_at_zero_is_a_no_op(rig: Callable[..., Rig]) -> None:
    r = rig()
    (rule,) = r.doubles.route["spec"]["rules"]
    for ref in rule["backendRefs"]:
        ref["weight"] = 0 if ref["name"] == r.cfg["candidate"] else 100
    r.doubles.firing.add(r.cfg["alerts"][0])
    status, body = r.post(notification(r.cfg, r.cfg["alerts"][0]))
    assert status == 200 and body["action"] == "rollback" and body["changed"] is False
    assert r.patches() == []


def test_a_route_without_a_candidate_is_left_alone(rig: Callable[..., Rig]) -> None:
    r = rig(candidate=False)
    assert [b["weight"] for b in r.captured_route["spec"]["rules"][0]["backendRefs"]] == [100]
    r.doubles.firing.add(r.cfg["alerts"][0])
    status, body = r.post(notification(r.cfg, r.cfg["alerts"][0]))
    assert status == 200 and body["changed"] is False and r.patches() == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p["alerts"][0]["labels"].update(alertname="acme-support-prod-latency-p99"),
        lambda p: p["alerts"][0]["labels"].update(namespace="someone-else"),
        lambda p: p["alerts"][0]["labels"].update(rollback="false"),
        lambda p: p["alerts"][0].update(status="resolved"),
    ],
    ids=["not-a-rollback-alert", "other-namespace", "not-labelled", "resolved"],
)
def test_only_this_stacks_firing_rollback_alerts_count(
    rig: Callable[..., Rig], edit: Callable[[dict[str, Any]], None]
) -> None:
    r = rig()
    r.doubles.firing.update(r.cfg["alerts"])
    payload = notification(r.cfg, r.cfg["alerts"][0])
    edit(payload)
    status, body = r.post(payload)
    assert status == 200 and body["action"] == "ignore"
    assert r.patches() == [] and [c for c in r.doubles.calls if c[0] == "alertmanager"] == []


def test_malformed_requests(rig: Callable[..., Rig]) -> None:
    r = rig()
    assert r.post({"no": "alerts"})[0] == 400
    with urllib.request.urlopen(r.url + app.HEALTH_PATH, timeout=5) as response:
        assert response.status == 200 and response.read() == b"ok"


def test_a_missing_configuration_exits_2() -> None:
    assert app.main({}) == 2
    assert app.main({app.CONFIG_ENV: json.dumps({"namespace": "x"})}) == 2
