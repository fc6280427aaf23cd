"""The pipeline's release watch on the kubernetes target: one observation of a stack's release,
in the JSON shape ``components.rollout.parse_observation`` accepts, and the two actions around
it (was the candidate rolled back; drain it now).

Standard library only: it runs in CI (vendored into generated projects with the rest of
``components/kubernetes``). It talks to three things through an injectable :class:`Api`; the
default :class:`CliApi` uses the pipeline's own access to each, so what it reads is what the
cluster itself says:

* the Kubernetes API through ``kubectl`` (CLI_TOOLS) with a fixed argv, as the job's kubeconfig
  allows (the deployer Role of components/kubernetes/bootstrap.py): the stack's PrometheusRules
  (do the rollback alerts exist?), and the predict HTTPRoute, read and patched exactly as the
  automatic rollback does (rollback_app/app.py: the same resource, the same JSON merge patch
  guarded by the ``resourceVersion`` it read, the same ``aideploy.io/rolled-back`` marker);
* Prometheus' HTTP API (``GET /api/v1/query``) for both versions' requests, 5xx and p99 over
  the window, on the very series the rollback alerts evaluate: :func:`model_series` and the
  metric names below are the ones components/kubernetes/monitoring.py builds the alerts with;
* Alertmanager's API v2 (``GET /api/v2/alerts``) for whether a rollback alert fires, with the
  query the rollback service verifies with (:func:`alert_query`: exact alert name and the
  stack's namespace label, active, neither silenced nor inhibited).

Where Prometheus and Alertmanager are: the environment variables ``PROMETHEUS_URL`` and
``ALERTMANAGER_URL`` (CI variables of each environment; http or https, any path prefix). There
is no default: the CI runner is usually outside the cluster, and the monitoring namespace
(``cluster.monitoring_namespace`` of the stack file) is not among the stack's outputs. A runner
inside the cluster uses the Services the Prometheus Operator creates in that namespace:
``http://prometheus-operated.<monitoring namespace>.svc:9090`` and
``http://alertmanager-operated.<monitoring namespace>.svc:9093`` (rollback.ALERTMANAGER_URL).

What it reads from the stack's outputs (``pulumi stack output --json --show-secrets``):
``rollback_alarms`` (the alerts' exact names), ``api_id`` (the predict HTTPRoute),
``log_group`` (the stack's namespace), ``serving_service`` and ``canary_service`` (the stable
and candidate Services; ``""`` without a candidate). Event-driven stacks have none of these and
no traffic split: zero samples, no trigger, nothing to drain, never rolled back.

Any failure to read (kubectl refused or missing, an HTTP error, a timeout, an answer that does
not parse) is an :class:`ApiError` with a one-line message; in :func:`observe` it becomes an
unverified trigger (the rule: hold and page), as on the other clouds.
"""

from __future__ import annotations

import json
import math
import os
import subprocess  # nosec B404 - runs kubectl with a fixed argv, never a shell
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from components.kubernetes.rollback_app import app

__all__ = [
    "CLI_TOOLS",
    "Api",
    "ApiError",
    "CliApi",
    "ConflictError",
    "Target",
    "alert_query",
    "drain_candidate",
    "drain_patch",
    "model_series",
    "observe",
    "rolled_back",
    "sample_queries",
]

CLI_TOOLS: tuple[str, ...] = ("kubectl",)

API_FIRST, EVENT_DRIVEN = "api-first", "event-driven"

# -- the model contract on kubernetes (monitoring.py builds the alerts from these) -------------
# Every model server exports these on its metrics port; Prometheus Operator labels each target
# with its Service (``service``) and namespace, the only labels that tell stable from candidate
# (Envoy mixes both weighted backends into one upstream cluster).
REQUESTS_METRIC = "http_requests_total"
LATENCY_BUCKETS = "http_request_duration_seconds_bucket"  # seconds
SERVER_ERRORS = ',code=~"5.."'


def model_series(namespace: str, metric: str, service: str, extra: str = "") -> str:
    """The selector of one Service's ``metric`` in ``namespace`` (``extra``: more matchers,
    each starting with a comma). The rollback alerts and the samples both use it."""
    return f'{metric}{{namespace="{namespace}",service="{service}"{extra}}}'


# -- where things are ------------------------------------------------------------------------
# The HTTPRoute as the rollback service's Role names it (app.API_CALLS): resource.group, so
# kubectl never resolves a short name to another API group's kind.
ROUTE_RESOURCE = f"{app.ROUTE_RESOURCE}.{app.ROUTE_GROUP}"
# Prometheus Operator's rule kind (monitoring.MONITORING_API's group; a test holds them equal).
RULES_RESOURCE = "prometheusrules.monitoring.coreos.com"
URL_ENV: Mapping[str, str] = {"prometheus": "PROMETHEUS_URL", "alertmanager": "ALERTMANAGER_URL"}
QUERY_PATH = "/api/v1/query"
ALERTS_PATH = "/api/v2/alerts"
# Seconds one kubectl call or one HTTP request may take.
TIMEOUT_SECONDS = 30.0
# A drain that meets a concurrent change (409) reads the route again this many times in all.
PATCH_ATTEMPTS = 3
# The marker of a drain the pipeline makes (the rollback service writes the alert's name).
DRAIN_RULE = "pipeline"
DRAIN_REASON = "the pipeline's rollback (python -m ci.rollout rollback)"
# Error text kept in a one-line message, and in a trigger's rule (parse_observation: <= 512).
MESSAGE_CHARS = 300
RULE_CHARS = 500

_ZERO: Mapping[str, Any] = {"requests": 0, "errors_5xx": 0, "p99_ms": None}


class ApiError(Exception):
    """A read or write failed: refused (403), missing, timed out or answered something
    unreadable. The message is one line."""


class ConflictError(ApiError):
    """The API server refused a patch with 409: the route changed since it was read."""


def _one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class Api(Protocol):
    """The watch's three peers: ``kubectl(args)`` -> the parsed JSON object kubectl printed;
    ``get(service, path, params)`` -> the parsed JSON answer of Prometheus or Alertmanager
    (``service`` is a key of :data:`URL_ENV`). Both raise :class:`ApiError`."""

    def kubectl(self, args: Sequence[str]) -> dict[str, Any]: ...  # pragma: no cover

    def get(
        self, service: str, path: str, params: Sequence[tuple[str, str]]
    ) -> Any: ...  # pragma: no cover - a protocol


Runner = Callable[..., "subprocess.CompletedProcess[str]"]
Opener = Callable[..., Any]


class CliApi:
    """:class:`Api` through ``kubectl`` (the job's kubeconfig and context) and urllib."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = TIMEOUT_SECONDS,
        run: Runner | None = None,
        urlopen: Opener | None = None,
    ) -> None:
        self.env = os.environ if env is None else env
        self.timeout = timeout
        self.run: Runner = run or subprocess.run
        self.urlopen: Opener = urlopen or urllib.request.urlopen

    def argv(self, args: Sequence[str]) -> list[str]:
        """The command line of one call, with kubectl's own timeout on the API request."""
        return ["kubectl", *args, f"--request-timeout={int(self.timeout)}s"]

    def kubectl(self, args: Sequence[str]) -> dict[str, Any]:
        """Run kubectl; a non-zero exit (409 as :class:`ConflictError`), a timeout, a missing
        kubectl or output that is not a JSON object is an :class:`ApiError`."""
        what = "kubectl " + " ".join(a for a in args[:3] if not a.startswith("-"))
        try:
            done = self.run(
                self.argv(args),
                capture_output=True,
                text=True,
                # kubectl's own timeout first; this one only if kubectl hangs before the request.
                timeout=self.timeout + 15,
                check=False,
            )
        except FileNotFoundError:
            raise ApiError("kubectl is not installed or not on PATH") from None
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ApiError(_one_line(f"{what}: {error}")) from None
        if done.returncode != 0:
            lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit status {done.returncode}"
            kind = ConflictError if "(Conflict)" in (done.stderr or "") else ApiError
            raise kind(_one_line(f"{what}: {why}"))
        try:
            answer = json.loads(done.stdout or "")
        except ValueError:
            raise ApiError(f"{what}: the output is not JSON") from None
        if not isinstance(answer, dict):
            raise ApiError(f"{what}: the output is not a JSON object")
        return answer

    def base_url(self, service: str) -> str:
        """The configured URL of ``service`` (ApiError when unset or not http(s))."""
        name = URL_ENV[service]
        base = (self.env.get(name) or "").strip().rstrip("/")
        if not base:
            raise ApiError(f"{name} is not set: the pipeline reads {service} there")
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise ApiError(f"{name} must be an http:// or https:// URL")
        return base

    def get(self, service: str, path: str, params: Sequence[tuple[str, str]]) -> Any:
        """GET ``path`` of ``service`` with ``params``; the parsed JSON answer."""
        base = self.base_url(service)
        url = f"{base}{path}?{urllib.parse.urlencode(list(params))}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with self.urlopen(request, timeout=self.timeout) as response:  # nosec B310 - http(s)
                text = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(
                _one_line(f"{service} {path}: HTTP {error.code}{_detail(error)}")
            ) from None
        except (urllib.error.URLError, OSError) as error:
            why = getattr(error, "reason", None) or error
            # The host only: a URL may carry credentials, which never reach a log line.
            host = urllib.parse.urlsplit(base).hostname
            raise ApiError(_one_line(f"{service} {path}: no answer from {host}: {why}")) from None
        try:
            return json.loads(text or b"null")
        except ValueError:
            raise ApiError(f"{service} {path}: the answer is not JSON") from None


def _detail(error: urllib.error.HTTPError) -> str:
    """Prometheus explains a refused query in its JSON body (``error``); keep that."""
    try:
        body = json.loads(error.read() or b"null")
    except (ValueError, OSError):
        return f" {error.reason}" if error.reason else ""
    if isinstance(body, dict) and body.get("error"):
        return f" {body.get('errorType', 'error')}: {body['error']}"
    return f" {error.reason}" if error.reason else ""


# -- what the stack's outputs name -----------------------------------------------------------


def pattern_of(outputs: Mapping[str, Any]) -> str:
    """Which pattern a stack's outputs belong to (only api-first exports the route)."""
    return API_FIRST if "api_id" in outputs else EVENT_DRIVEN


@dataclass(frozen=True)
class Target:
    """The release an api-first stack serves: its namespace, predict route and Services."""

    namespace: str
    route: str
    stable: str
    candidate: str  # "" without a candidate

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Target:
        """The target the outputs name (ApiError naming a missing output)."""
        keys = ("log_group", "api_id", "serving_service")
        missing = [k for k in keys if not isinstance(outputs.get(k), str) or not outputs[k]]
        if missing:
            raise ApiError(f"the stack's outputs lack {', '.join(missing)}")
        return cls(
            namespace=str(outputs["log_group"]),
            route=str(outputs["api_id"]),
            stable=str(outputs["serving_service"]),
            candidate=str(outputs.get("canary_service") or ""),
        )


# -- the rollback alerts ---------------------------------------------------------------------


def _unverified(why: str) -> dict[str, Any]:
    return {"verified": False, "firing": True, "rule": _one_line(why, RULE_CHARS)}


def rule_alerts(api: Api, namespace: str) -> dict[str, dict[str, Any]]:
    """Every alert of the PrometheusRules in ``namespace``, by name (``kubectl get``)."""
    answer = api.kubectl(["get", RULES_RESOURCE, "-n", namespace, "-o", "json"])
    items = answer.get("items")
    if not isinstance(items, list):
        raise ApiError(f"kubectl get {RULES_RESOURCE}: no items list in the answer")
    found: dict[str, dict[str, Any]] = {}
    try:
        for item in items:
            for group in item.get("spec", {}).get("groups") or []:
                for rule in group.get("rules") or []:
                    if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                        found[rule["alert"]] = rule
    except AttributeError:
        raise ApiError(f"kubectl get {RULES_RESOURCE}: malformed PrometheusRule") from None
    return found


def alert_query(namespace: str, alert: str) -> list[tuple[str, str]]:
    """Alertmanager's ``/api/v2/alerts`` parameters for ``alert`` of ``namespace``, active now
    and neither silenced nor inhibited: what the rollback service verifies with (a test holds
    the two equal), so the watch and the automatic rollback never judge one alert apart."""
    return [
        ("filter", f'alertname="{alert}"'),
        ("filter", f'namespace="{namespace}"'),
        ("active", "true"),
        ("silenced", "false"),
        ("inhibited", "false"),
    ]


def alert_active(api: Api, namespace: str, alert: str) -> bool:
    """Whether Alertmanager holds ``alert`` of ``namespace`` active now."""
    found = api.get("alertmanager", ALERTS_PATH, alert_query(namespace, alert))
    if not isinstance(found, list):
        raise ApiError(f"alertmanager {ALERTS_PATH}: the answer is not a list of alerts")
    for entry in found:
        labels = entry.get("labels") if isinstance(entry, dict) else None
        status = entry.get("status") if isinstance(entry, dict) else None
        if (
            isinstance(labels, dict)
            and isinstance(status, dict)
            and labels.get("alertname") == alert
            and labels.get("namespace") == namespace
            and status.get("state") == "active"
        ):
            return True
    return False


def read_trigger(api: Api, namespace: str, names: Sequence[str]) -> dict[str, Any] | None:
    """The watch's trigger: the first of ``names`` active in Alertmanager (verified); an
    unverifiable one when an alert is missing from the cluster's rules or its state cannot be
    read; None when none fires. ApiError when the rules cannot be read."""
    alerts = rule_alerts(api, namespace)
    # A name the cluster evaluates no rule for can never fire: "not firing" would be a guess.
    missing = [n for n in names if n not in alerts]
    if missing:
        where = f"the PrometheusRules of {namespace}"
        return _unverified(f"rollback alert not found in {where}: {', '.join(missing)}")
    failure: str | None = None
    for name in names:
        try:
            if alert_active(api, namespace, name):
                return {"verified": True, "firing": True, "rule": name}
        except ApiError as error:  # another alert may still be read as firing
            failure = failure or f"state of {name}: {error}"
    return _unverified(failure) if failure else None


# -- samples -----------------------------------------------------------------------------------


def window_seconds(minutes: float) -> int:
    """The sample window: ``minutes``, at least one minute (the alerts' own period)."""
    return max(60, int(minutes * 60))


def sample_queries(target: Target, window: int) -> dict[str, str]:
    """PromQL for each figure of an observation (``candidate_requests``, ``stable_p99_ms``, ...):
    increases over ``window`` seconds of the series the rollback alerts take rates of; p99 in
    milliseconds. No candidate Service: no candidate queries (its sample stays zero)."""
    queries: dict[str, str] = {}
    for who, service in (("candidate", target.candidate), ("stable", target.stable)):
        if not service:
            continue
        ns = target.namespace
        requests = model_series(ns, REQUESTS_METRIC, service)
        errors = model_series(ns, REQUESTS_METRIC, service, SERVER_ERRORS)
        buckets = model_series(ns, LATENCY_BUCKETS, service)
        queries[f"{who}_requests"] = f"sum(increase({requests}[{window}s]))"
        queries[f"{who}_errors_5xx"] = f"sum(increase({errors}[{window}s]))"
        queries[f"{who}_p99_ms"] = (
            f"histogram_quantile(0.99, sum by (le) (increase({buckets}[{window}s]))) * 1000"
        )
    return queries


def prometheus_value(api: Api, query: str, at: float) -> float | None:
    """One instant query: the sum of its finite values, None when it has none (no series, or
    NaN: a quantile of no requests)."""
    answer = api.get("prometheus", QUERY_PATH, [("query", query), ("time", f"{at:.3f}")])
    if not isinstance(answer, dict):
        raise ApiError(f"prometheus {QUERY_PATH}: the answer is not an object")
    if answer.get("status") != "success":
        why = f"{answer.get('errorType', 'error')}: {answer.get('error', 'no status')}"
        raise ApiError(_one_line(f"prometheus {QUERY_PATH}: {why}"))
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise ApiError(f"prometheus {QUERY_PATH}: not an instant vector")
    result = data.get("result")
    if not isinstance(result, list):
        raise ApiError(f"prometheus {QUERY_PATH}: no result list")
    values: list[float] = []
    for series in result:
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise ApiError(f"prometheus {QUERY_PATH}: malformed sample") from None
        if math.isfinite(value):
            values.append(value)
    return sum(values) if values else None


def samples(api: Api, target: Target, minutes: float, at: float) -> dict[str, dict[str, Any]]:
    """``{"candidate": sample, "stable": sample}`` over the last ``minutes`` (decide's shape):
    counts rounded (``increase`` extrapolates), 5xx capped at the requests, p99 in ms."""
    values = {
        key: prometheus_value(api, query, at)
        for key, query in sample_queries(target, window_seconds(minutes)).items()
    }
    out: dict[str, dict[str, Any]] = {}
    for who in ("candidate", "stable"):
        requests = round(values.get(f"{who}_requests") or 0)
        errors = min(requests, round(values.get(f"{who}_errors_5xx") or 0))
        p99 = values.get(f"{who}_p99_ms")
        out[who] = {
            "requests": requests,
            "errors_5xx": errors,
            "p99_ms": None if p99 is None else round(p99, 3),
        }
    return out


# -- the contract ----------------------------------------------------------------------------


def observe(
    outputs: Mapping[str, Any],
    settings: Mapping[str, Any],
    minutes: float,
    *,
    client: Api | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One observation of the stack's release (see the module docstring).

    An active rollback alert is a verified trigger; rules or an alert state that cannot be read
    (403, timeout, malformed answer, a missing alert), or samples that cannot be read while no
    alert fires, an unverifiable one; nothing firing leaves ``trigger`` out.
    """
    observation: dict[str, Any] = {
        "candidate": dict(_ZERO),
        "stable": dict(_ZERO),
        "settings": {k: settings[k] for k in ("error_rate", "latency_multiplier", "min_requests")},
    }
    names = [str(n) for n in outputs.get("rollback_alarms") or []]
    if pattern_of(outputs) == EVENT_DRIVEN or not names:
        return observation
    api = client or CliApi()
    at = time.time() if now is None else now
    try:
        target = Target.from_outputs(outputs)
        trigger = read_trigger(api, target.namespace, names)
    except ApiError as error:
        observation["trigger"] = _unverified(f"rollback alerts: {error}")
        return observation
    try:
        observation.update(samples(api, target, minutes, at))
    except ApiError as error:
        trigger = trigger or _unverified(f"samples: {error}")
    if trigger is not None:
        observation["trigger"] = trigger
    return observation


def read_route(api: Api, target: Target) -> dict[str, Any]:
    """The predict HTTPRoute as the API server has it now."""
    return api.kubectl(["get", ROUTE_RESOURCE, target.route, "-n", target.namespace, "-o", "json"])


def marker_of(route: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rolled-back marker on ``route`` (None: none); ApiError when it does not parse."""
    annotations = (route.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(app.ROLLED_BACK_ANNOTATION)
    if text is None:
        return None
    try:
        marker = json.loads(text)
    except (TypeError, ValueError):
        marker = None
    if not isinstance(marker, dict):
        raise ApiError(f"annotation {app.ROLLED_BACK_ANNOTATION} is not a JSON object")
    return marker


def rolled_back(
    outputs: Mapping[str, Any], candidate_version: str, *, client: Api | None = None
) -> bool:
    """True when a rollback (the automatic one, or the pipeline's drain) removed
    ``candidate_version``: the route's rolled-back marker names it. A read that fails raises
    :class:`ApiError`: the pipeline must not guess."""
    if pattern_of(outputs) == EVENT_DRIVEN:
        return False
    target = Target.from_outputs(outputs)
    marker = marker_of(read_route(client or CliApi(), target))
    return marker is not None and marker.get("version") == candidate_version


def _backends(route: Mapping[str, Any]) -> set[str]:
    rules = (route.get("spec") or {}).get("rules") or []
    return {str(b.get("name")) for r in rules for b in r.get("backendRefs") or []}


def drain_patch(
    route: Mapping[str, Any],
    target: Target,
    candidate_version: str | None,
    at: float,
) -> dict[str, Any] | None:
    """The JSON merge patch the rollback service writes (app.roll_back): every rule holding the
    candidate with weight 0 for it and 100 for stable (app.drained, the list whole, as read),
    the rolled-back marker, and the ``resourceVersion`` read, so a concurrent change is refused
    (409) with nothing applied. Weights already at 0/100: the marker alone, when
    ``candidate_version`` is given and not yet marked; None when there is nothing to write."""
    try:
        rules = app.drained(route, target.stable, target.candidate)
    except app.RouteError as error:
        raise ApiError(f"route {target.namespace}/{target.route}: {error}") from None
    current = marker_of(route)
    mark = bool(candidate_version) and (current or {}).get("version") != candidate_version
    if rules is None and not mark:
        return None
    version = (route.get("metadata") or {}).get("resourceVersion")
    if not version:
        raise ApiError(f"route {target.namespace}/{target.route} has no resourceVersion")
    metadata: dict[str, Any] = {"resourceVersion": version}
    if mark:
        marker = {
            "version": candidate_version,
            "rule": DRAIN_RULE,
            "reason": DRAIN_REASON,
            "at": int(at),
        }
        metadata["annotations"] = {app.ROLLED_BACK_ANNOTATION: json.dumps(marker, sort_keys=True)}
    patch: dict[str, Any] = {"metadata": metadata}
    if rules is not None:
        patch["spec"] = {"rules": rules}
    return patch


def patch_args(target: Target, patch: Mapping[str, Any]) -> list[str]:
    """kubectl's arguments for the merge patch, under the rollback service's field manager
    (the route's managedFields then name one owner of rolled-back weights)."""
    return [
        "patch", ROUTE_RESOURCE, target.route, "-n", target.namespace, "--type", "merge",
        "-p", json.dumps(patch, sort_keys=True), f"--field-manager={app.FIELD_MANAGER}",
        "-o", "json",
    ]  # fmt: skip


def drain_candidate(
    outputs: Mapping[str, Any],
    *,
    client: Api | None = None,
    candidate_version: str | None = None,
    now: float | None = None,
) -> str:
    """Move all traffic to the stable version now, through the call the automatic rollback
    makes (one merge patch of the HTTPRoute), with the rolled-back marker for
    ``candidate_version`` (the stack file's) in the same patch, so the guard (E8) refuses to
    re-apply it. A 409 (the route changed since it was read, e.g. the automatic rollback
    drained it meanwhile) is read again, up to PATCH_ATTEMPTS times. One line saying what.
    Without ``candidate_version`` no marker is written and the line says so."""
    if pattern_of(outputs) == EVENT_DRIVEN:
        return "event-driven stacks have no candidate: nothing to drain"
    api = client or CliApi()
    target = Target.from_outputs(outputs)
    where = f"route {target.namespace}/{target.route}"
    if not target.candidate:
        return f"{where}: the stack has no candidate (canary_service is empty); nothing to drain"
    at = time.time() if now is None else now
    for _ in range(PATCH_ATTEMPTS):
        route = read_route(api, target)
        if target.candidate not in _backends(route):
            return f"{where}: no backend {target.candidate}; nothing to drain"
        patch = drain_patch(route, target, candidate_version, at)
        if patch is None:
            marked = "; marker names it already" if candidate_version else ""
            return f"{where}: all traffic already on stable {target.stable}{marked}"
        try:
            api.kubectl(patch_args(target, patch))
        except ConflictError:
            continue
        moved = (
            f"candidate {target.candidate} weight 0, stable {target.stable} weight 100"
            if "spec" in patch
            else f"all traffic already on stable {target.stable}"
        )
        if not candidate_version:
            return f"{where}: {moved}; rolled-back marker NOT written (no candidate version given)"
        return f"{where}: {moved}; marker {app.ROLLED_BACK_ANNOTATION} = {candidate_version}"
    raise ApiError(
        f"{where} changed between each of {PATCH_ATTEMPTS} reads and patches (409 Conflict); "
        "nothing was changed by the drain"
    )
