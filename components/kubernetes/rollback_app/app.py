"""The kubernetes target's rollback service: Alertmanager's webhook receiver that moves all of
the predict route's traffic back to the stable version when a rollback alert really fires.

Standard library only: the pod runs it from a ConfigMap (components/kubernetes/rollback.py) on
a plain python image, with ``components/rollout.py`` shipped beside it as
``rollout_decision.py`` (the one rollback rule every cloud uses).

    Alertmanager --POST /alerts, Authorization: Bearer <token>--> this service
      1. authenticate: the bearer token equals the Secret the AlertmanagerConfig's webhook
         sends (read from its file on every request, so a rotation needs no restart);
      2. keep the alerts that are this stack's rollback alerts (exact names, label
         rollback="true"), firing;
      3. verify each with Alertmanager's API v2 (GET /api/v2/alerts?filter=alertname="..."
         &filter=namespace="..."&active=true): a payload is a claim, the API is the fact;
      4. ``rollout_decision.decide`` (fresh request figures are not read here: a verified,
         firing alert already carries its own volume guard, and decide fails safe on it);
      5. ROLLBACK: read the HTTPRoute, set the candidate's backendRef weight to 0 and the
         stable's to 100 in every rule that holds both, and write it back in ONE JSON merge
         patch carrying the resourceVersion it read (a concurrent change makes the API server
         refuse it with 409: nothing half-done) and the rolled-back annotation. A route
         already at 0/100 is left alone (idempotent: Alertmanager repeats notifications).

HTTP answers (Alertmanager retries a notification on 5xx, not on 4xx):

    GET  /healthz  200 "ok" (the probes; no credentials)
    POST /alerts   200 done: {"action": "rollback" | "hold" | "ignore", "changed": bool, ...}
                   400 not an Alertmanager webhook payload      401 no or wrong bearer token
                   413 body larger than MAX_BODY                 404 / 405 other paths, methods
                   500 misconfigured (no token file) or the route has no stable backend
                   502 the API server refused or failed the read or the patch (route unchanged)
                   503 the alert could not be verified (Alertmanager unreadable): HOLD, page
Every request that reaches step 2 logs one JSON line on stdout (``tier`` page/ticket/info).

Process exit codes: 0 after SIGTERM (the pod's shutdown), 2 when ROLLBACK_CONFIG is missing or
malformed at start (the pod crash-loops and its Deployment's rollout never completes).
"""

from __future__ import annotations

import hmac
import importlib
import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

CONFIG_ENV = "ROLLBACK_CONFIG"
ALERTS_PATH = "/alerts"
HEALTH_PATH = "/healthz"
MAX_BODY = 1_048_576  # Alertmanager's payloads are a few KiB; 1 MiB is not one
TIMEOUT_SECONDS = 10
# The Kubernetes API calls this file makes: (API group, resource, verb). The Role the component
# grants is built from exactly this (components/kubernetes/rollback.py), one HTTPRoute by name.
ROUTE_GROUP, ROUTE_VERSION, ROUTE_RESOURCE = "gateway.networking.k8s.io", "v1", "httproutes"
API_CALLS: tuple[tuple[str, str, str], ...] = (
    (ROUTE_GROUP, ROUTE_RESOURCE, "get"),
    (ROUTE_GROUP, ROUTE_RESOURCE, "patch"),
)
MERGE_PATCH = "application/merge-patch+json"
# Who wrote the weights, in the route's managedFields (a later `pulumi up` sees the owner).
FIELD_MANAGER = "aideploy-rollback"
# Written with the weights, in the same patch: the release the rollback undid, when and why.
ROLLED_BACK_ANNOTATION = "aideploy.io/rolled-back"
# Where the report of each outcome goes (decision action, page).
TIERS: dict[tuple[str, bool], str] = {
    ("rollback", False): "ticket",
    ("hold", True): "page",
    ("hold", False): "ticket",
    ("ignore", False): "info",
}


def _shipped(module: str, fallback: str) -> ModuleType:
    """The module shipped beside this file, or the repository's original in tests."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return importlib.import_module(fallback)


rollout = _shipped("rollout_decision", "components.rollout")


class ApiError(Exception):
    """A call to the API server or Alertmanager failed; nothing was changed by it."""


def log(record: Mapping[str, Any]) -> None:
    """One JSON line on stdout (the cluster's log collector parses it)."""
    print(json.dumps({"time": time.time(), **record}, sort_keys=True), flush=True)


# -- HTTP clients ------------------------------------------------------------------------------


def _call(
    url: str,
    *,
    method: str = "GET",
    token: str | None = None,
    body: Any = None,
    content_type: str = "application/json",
    cafile: str | None = None,
) -> Any:
    """One JSON call; ApiError for any failure (network, status, body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(  # noqa: S310  # nosec B310 - the configured http(s) URL
            request, timeout=TIMEOUT_SECONDS, context=context
        ) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise ApiError(f"{method} {url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ApiError(f"{method} {url}: {error}") from None


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def firing_in_alertmanager(cfg: Mapping[str, Any], alert: str) -> bool:
    """Whether Alertmanager holds ``alert`` of this namespace active now (not silenced, not
    inhibited). ApiError when it cannot be read."""
    query = urllib.parse.urlencode(
        [
            ("filter", f'alertname="{alert}"'),
            ("filter", f'namespace="{cfg["namespace"]}"'),
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
        ]
    )
    found = _call(f"{cfg['alertmanager'].rstrip('/')}/api/v2/alerts?{query}")
    if not isinstance(found, list):
        raise ApiError("Alertmanager answered something other than a list of alerts")
    return any(
        isinstance(a, dict)
        and a.get("labels", {}).get("alertname") == alert
        and a.get("status", {}).get("state") == "active"
        for a in found
    )


def _route_url(cfg: Mapping[str, Any]) -> str:
    base = cfg["api_server"].rstrip("/")
    return (
        f"{base}/apis/{ROUTE_GROUP}/{ROUTE_VERSION}/namespaces/{cfg['namespace']}/"
        f"{ROUTE_RESOURCE}/{cfg['route']}"
    )


def _api(cfg: Mapping[str, Any], method: str, body: Any = None) -> Any:
    """A call on the one HTTPRoute, with the pod's projected, short-lived token (re-read every
    call: the kubelet rotates it before it expires)."""
    try:
        token = _read(cfg["api_token_file"])
    except OSError as error:
        raise ApiError(f"no API token: {error}") from None
    url = _route_url(cfg)
    if method == "PATCH":
        url += f"?fieldManager={FIELD_MANAGER}"
    return _call(
        url,
        method=method,
        token=token,
        body=body,
        content_type=MERGE_PATCH,
        cafile=cfg.get("api_ca_file"),
    )


# -- the route ---------------------------------------------------------------------------------


class RouteError(Exception):
    """The route does not have the shape a rollback can act on (no stable backend)."""


def drained(route: Mapping[str, Any], stable: str, candidate: str) -> list[dict[str, Any]] | None:
    """The route's rules with all traffic on ``stable``, or None when they already are.

    Only rules holding the stable backend change: a rule without it would be left with no
    weight at all. RouteError when the candidate takes traffic in a rule without the stable."""
    rules = [dict(r) for r in route.get("spec", {}).get("rules", [])]
    changed = False
    for rule in rules:
        refs = [dict(b) for b in rule.get("backendRefs", [])]
        names = {b.get("name") for b in refs}
        if candidate not in names:
            continue
        if stable not in names:
            raise RouteError(f"a rule sends traffic to {candidate!r} without {stable!r}")
        for ref in refs:
            name = ref.get("name")
            target = 0 if name == candidate else 100 if name == stable else None
            if target is not None and ref.get("weight", 1) != target:
                ref["weight"] = target
                changed = True
        rule["backendRefs"] = refs
    return rules if changed else None


def roll_back(cfg: Mapping[str, Any], reason: str, rule: str) -> bool:
    """Move every weighted rule of the route to stable; True when the route changed."""
    route = _api(cfg, "GET")
    rules = drained(route, cfg["stable"], cfg["candidate"])
    if rules is None:
        return False
    marker = {
        "version": cfg.get("candidate_version") or "unknown",
        "rule": rule,
        "reason": reason,
        "at": int(time.time()),
    }
    patch = {
        "metadata": {
            # A merge patch carrying the resourceVersion it read: 409 if anyone changed the
            # route since, and then nothing of this patch is applied.
            "resourceVersion": route.get("metadata", {}).get("resourceVersion"),
            "annotations": {ROLLED_BACK_ANNOTATION: json.dumps(marker, sort_keys=True)},
        },
        # A merge patch replaces a list whole: every rule, as read, with its new weights.
        "spec": {"rules": rules},
    }
    _api(cfg, "PATCH", patch)
    return True


# -- one notification --------------------------------------------------------------------------


def authorized(cfg: Mapping[str, Any], header: str | None) -> bool:
    """The request carries the webhook's bearer token (constant-time comparison). OSError when
    the token file cannot be read: a misconfiguration, never an open door."""
    expected = _read(cfg["webhook_token_file"])
    if not expected:
        raise OSError("the webhook token file is empty")
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


def rollback_alerts(cfg: Mapping[str, Any], payload: Any) -> list[str] | None:
    """The names of this stack's firing rollback alerts in a webhook payload (None: not a
    payload). Alerts of other names or namespaces, resolved ones and ones without the
    rollback="true" label are not this service's business."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return None
    names: list[str] = []
    for alert in payload["alerts"]:
        labels = alert.get("labels") if isinstance(alert, dict) else None
        if not isinstance(labels, dict) or alert.get("status") != "firing":
            continue
        name = labels.get("alertname")
        if (
            isinstance(name, str)
            and name in cfg["alerts"]
            and labels.get("rollback") == "true"
            and labels.get("namespace") == cfg["namespace"]
            and name not in names
        ):
            names.append(name)
    return names


def handle(cfg: Mapping[str, Any], payload: Any) -> tuple[int, dict[str, Any]]:
    """Steps 2-5 for an authenticated payload: (HTTP status, report)."""
    names = rollback_alerts(cfg, payload)
    if names is None:
        return 400, {"error": "not an Alertmanager webhook payload"}
    trigger: dict[str, Any] = {"verified": True, "firing": False, "rule": ",".join(names)}
    note = "no firing rollback alert of this stack in the notification"
    for name in names:
        try:
            firing = firing_in_alertmanager(cfg, name)
        except ApiError as error:
            trigger, note = {"verified": False, "firing": True, "rule": name}, str(error)
            continue
        if firing:
            trigger, note = {"verified": True, "firing": True, "rule": name}, "alert active"
            break
        if trigger["verified"]:
            note = "alert no longer active in Alertmanager"
    if not names:
        trigger["rule"] = "none"
    zero = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    observation = {"trigger": trigger, "candidate": zero, "stable": zero}
    decision = rollout.decide(
        rollout.parse_observation({**observation, "settings": cfg["settings"]})
    ).to_dict()
    record: dict[str, Any] = {
        **decision,
        "rule": trigger["rule"],
        "note": note
        + ("; fresh figures not read" if trigger["verified"] and trigger["firing"] else ""),
        "route": cfg["route"],
        "changed": False,
        "tier": TIERS[(decision["action"], decision["page"])],
    }
    if decision["action"] == "hold" and decision["page"] and not trigger["verified"]:
        return 503, record  # Alertmanager retries; the verification may succeed then
    if decision["action"] != "rollback":
        return 200, record
    try:
        record["changed"] = roll_back(cfg, decision["reason"], trigger["rule"])
    except (ApiError, RouteError) as error:
        failed = {**record, "action": "rollback-failed", "page": True, "tier": "page"}
        failed["reason"] = f"{decision['reason']}; the route was not changed: {error}"
        return (502 if isinstance(error, ApiError) else 500), failed
    if not record["changed"]:
        record["note"] += "; the route already sends everything to stable"
    return 200, record


# -- the server --------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """The webhook endpoint and the health check."""

    server_version = "aideploy-rollback"
    cfg: Mapping[str, Any] = {}
    lock = threading.Lock()  # one rollback at a time: the second one finds the route drained

    def _answer(self, status: int, body: Mapping[str, Any] | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body, sort_keys=True)).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == HEALTH_PATH:
            self._answer(200, "ok")
        else:
            self._answer(404 if self.path != ALERTS_PATH else 405, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != ALERTS_PATH:
            self._answer(404, {"error": "not found"})
            return
        try:
            allowed = authorized(self.cfg, self.headers.get("Authorization"))
        except OSError as error:
            log({"severity": "ERROR", "tier": "page", "error": f"webhook token: {error}"})
            self._answer(500, {"error": "the service has no webhook token"})
            return
        if not allowed:
            self._answer(401, {"error": "unauthorized"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "body too large"})
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._answer(400, {"error": "the body is not JSON"})
            return
        with self.lock:
            status, record = handle(self.cfg, payload)
        if status != 400:
            severity = "CRITICAL" if record.get("tier") == "page" else "INFO"
            log({"severity": severity, "status": status, **record})
        self._answer(status, record)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log lines: every webhook call logs its own JSON line."""


def load_config(text: str | None) -> dict[str, Any]:
    """The service's configuration (ROLLBACK_CONFIG, JSON); ValueError naming what is wrong."""
    if not text:
        raise ValueError(f"{CONFIG_ENV} is not set")
    cfg = json.loads(text)
    required = (
        "namespace", "route", "stable", "candidate", "alerts", "alertmanager", "api_server",
        "api_token_file", "webhook_token_file", "port", "settings",
    )  # fmt: skip
    missing = [k for k in required if k not in cfg]
    if missing:
        raise ValueError(f"{CONFIG_ENV} lacks {', '.join(missing)}")
    rollout.parse_observation(
        {"candidate": {"requests": 0, "errors_5xx": 0, "p99_ms": None},
         "stable": {"requests": 0, "errors_5xx": 0, "p99_ms": None},
         "settings": cfg["settings"]}
    )  # fmt: skip
    return dict(cfg)


# Every address of the pod: its NetworkPolicy admits only Alertmanager's pods to the port.
ALL_ADDRESSES = "0.0.0.0"  # noqa: S104  # nosec B104


def serve(cfg: Mapping[str, Any], host: str = ALL_ADDRESSES) -> ThreadingHTTPServer:
    """A server for ``cfg`` (not yet serving: call ``serve_forever``)."""
    handler = type("ConfiguredHandler", (Handler,), {"cfg": cfg, "lock": threading.Lock()})
    return ThreadingHTTPServer((host, int(cfg["port"])), handler)


def main(environ: Mapping[str, str] | None = None) -> int:
    """Serve until SIGTERM: exit 0; 2 when the configuration is missing or malformed."""
    env = os.environ if environ is None else environ
    try:
        cfg = load_config(env.get(CONFIG_ENV))
    except (ValueError, rollout.ObservationError) as error:
        log({"severity": "CRITICAL", "tier": "page", "error": f"configuration: {error}"})
        return 2
    server = serve(cfg)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log({"severity": "INFO", "tier": "info", "note": f"serving on :{cfg['port']}"})
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
