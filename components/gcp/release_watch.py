"""The release watch on GCP: read the rollback alerts, sample both versions, drain the candidate.

Standard library only: the pipeline vendors this file and runs it in CI, and the rollback Cloud
Function ships it beside its own code, so the queries the alert policies evaluate, the samples
the function and the pipeline decide on, and the way traffic goes back to stable are written
once, here (components/gcp/monitoring.py builds its alert conditions with these functions).

Everything is found from the stack's outputs: the project from ``alert_topic`` (a notification
channel's name), the rollback policies by the exact names in ``rollback_alarms``, and what they
guard (URL map and backends, or Vertex endpoint and deployed models) from the policies' user
labels. REST calls carry a token from ``gcloud auth print-access-token``, fetched for every call
so a long watch never outlives its credential (gcloud refreshes it as needed).
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess  # nosec B404 - runs gcloud with fixed arguments
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLI_TOOLS",
    "ApiError",
    "Client",
    "Target",
    "drain_candidate",
    "gcloud_client",
    "http_client",
    "marker",
    "marker_payload",
    "observe",
    "rolled_back",
    "rule_query",
    "sample_queries",
]

CLI_TOOLS: tuple[str, ...] = ("gcloud",)

MONITORING = "https://monitoring.googleapis.com"
COMPUTE = "https://compute.googleapis.com/compute/v1"
LOGGING = "https://logging.googleapis.com/v2"
# The user label every rollback alert policy carries, and the labels that name its target.
TARGET_LABEL = "rollback_target"
# The automatic rollback writes this into the target's description (E8): the pipeline refuses to
# re-apply the candidate it names until the stack file's rollout.retry_version says so.
MARKER_PREFIX = "[rolled-back "
# The marker that outlives every `pulumi up`: a Cloud Logging entry whose jsonPayload carries
# this field (the function prints it on its report line, which Cloud Logging parses into
# jsonPayload; the pipeline's drain writes it with entries.write). No Pulumi program manages log
# entries, so neither the rollback's own `pulumi up` of an older stack file nor any later one
# erases it, unlike the URL map's description, which the URL map's update (a PUT of the whole
# map, weights included) rewrites. It lives as long as the _Default bucket keeps entries.
MARKER_FIELD = "aideploy_rolled_back"
MARKER_LOG = "aideploy-rollback"
MARKER_RETENTION_DAYS = 30  # the _Default log bucket's retention

# One HTTP call: (method, url, JSON body or None) -> the JSON response object.
Client = Callable[[str, str, "dict[str, Any] | None"], "dict[str, Any]"]


class ApiError(Exception):
    """A call failed: HTTP status (0 when there was no answer) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


def http_client(token: Callable[[], str], timeout: float = 30) -> Client:
    """JSON over HTTPS with a bearer token from ``token()``, asked for on every call."""

    def send(method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        if not url.startswith("https://"):
            raise ApiError(0, f"refusing non-HTTPS URL {url!r}")
        request = urllib.request.Request(  # noqa: S310 - https checked above
            url,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 # nosec B310
                text = response.read().decode() or "{}"
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.reason or "error") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise ApiError(0, f"no answer from {url.split('?')[0]}: {error}") from None
        try:
            result = json.loads(text)
        except ValueError:
            raise ApiError(0, f"malformed JSON from {url.split('?')[0]}") from None
        if not isinstance(result, dict):
            raise ApiError(0, f"unexpected answer from {url.split('?')[0]}")
        return result

    return send


def gcloud_token() -> str:
    """A fresh access token of the active gcloud account (the pipeline's identity)."""
    done = subprocess.run(
        ["gcloud", "auth", "print-access-token"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise ApiError(0, f"gcloud auth print-access-token failed: {done.stderr.strip()[:200]}")
    return done.stdout.strip()


def gcloud_client() -> Client:
    """The pipeline's transport: REST with a token from gcloud, fetched per call."""
    return http_client(gcloud_token)


# -- what a rollback guards, and the queries on it --------------------------------------------


@dataclass(frozen=True)
class Platform:
    """Where one serving platform publishes its signals, in PromQL names (Cloud Monitoring's
    metric names with the first ``/`` made ``:`` and every other ``.``/``/`` made ``_``)."""

    requests: str  # a counter of responses labelled with the response code
    latency: str  # the latency distribution's ``_bucket`` series, milliseconds
    server_error: str  # matcher of 5xx responses
    latency_filter: str  # matcher narrowing the latency distribution ("" for none)


PLATFORMS: dict[str, Platform] = {
    # Backend latency, not total: total_latencies includes the client's round trip (E9). The
    # load balancer counts every response it sends, so 502/503/504 it generates itself (no
    # healthy backend, backend timeout, connection reset) are in the 5xx class of the backend
    # service it chose, beside the ones ESPv2 and the model return.
    "url-map": Platform(
        requests="loadbalancing_googleapis_com:https_request_count",
        latency="loadbalancing_googleapis_com:https_backend_latencies_bucket",
        server_error='response_code_class="500"',
        latency_filter="",
    ),
    # Vertex labels each latency point with its kind (model, overhead, total): the percentile
    # of one kind, the total a client waits for, not a mix of the three (E9). response_count
    # counts responses Vertex itself fails (503 while a replica is unavailable) too.
    "vertex-endpoint": Platform(
        requests="aiplatform_googleapis_com:prediction_online_response_count",
        latency="aiplatform_googleapis_com:prediction_online_prediction_latencies_bucket",
        server_error='response_code=~"5.."',
        latency_filter='latency_type="total"',
    ),
}


@dataclass(frozen=True)
class Target:
    """The traffic split one rollback guards (the user labels of its alert policies)."""

    kind: str  # a key of PLATFORMS
    project: str
    scope: str  # url map name, or Vertex endpoint id
    stable: str  # backend service name, or deployed model id
    candidate: str
    region: str = ""  # Vertex only

    def labels(self) -> dict[str, str]:
        """The alert policy user labels that carry this target (values fit GCP's label rules)."""
        out = {
            TARGET_LABEL: self.kind,
            "target_scope": self.scope,
            "stable": self.stable,
            "candidate": self.candidate,
        }
        if self.region:
            out["region"] = self.region
        return out

    @classmethod
    def from_labels(cls, project: str, labels: Mapping[str, Any]) -> Target:
        """The target named by a policy's user labels (KeyError when one is missing)."""
        kind = str(labels[TARGET_LABEL])
        if kind not in PLATFORMS:
            raise KeyError(f"unknown rollback target kind {kind!r}")
        return cls(
            kind,
            project,
            str(labels["target_scope"]),
            str(labels["stable"]),
            str(labels["candidate"]),
            str(labels.get("region", "")),
        )


def _selector(target: Target, who: str) -> str:
    scope_label = "url_map_name" if target.kind == "url-map" else "endpoint_id"
    version_label = "backend_target_name" if target.kind == "url-map" else "deployed_model_id"
    parts = [f'{scope_label}="{target.scope}"']
    if who in ("stable", "candidate"):
        parts.append(f'{version_label}="{getattr(target, who)}"')
    return ",".join(parts)


def _requests(target: Target, who: str, window: int, *, errors: bool = False) -> str:
    p = PLATFORMS[target.kind]
    sel = _selector(target, who) + (f",{p.server_error}" if errors else "")
    return f"sum(increase({p.requests}{{{sel}}}[{window}s]))"


def _p99(target: Target, who: str, window: int) -> str:
    p = PLATFORMS[target.kind]
    sel = _selector(target, who) + (f",{p.latency_filter}" if p.latency_filter else "")
    return f"histogram_quantile(0.99, sum by (le) (increase({p.latency}{{{sel}}}[{window}s])))"


def sample_queries(target: Target, window: int) -> dict[str, str]:
    """PromQL for each figure of an observation: requests, 5xx and p99 of both versions."""
    return {
        f"{who}_{figure}": query
        for who in ("candidate", "stable")
        for figure, query in (
            ("requests", _requests(target, who, window)),
            ("errors_5xx", _requests(target, who, window, errors=True)),
            ("p99_ms", _p99(target, who, window)),
        )
    }


def _guard(target: Target, who: str, window: int, minimum: int) -> str:
    # The volume guard: the rule evaluates only windows with enough requests (E.10 step 1).
    return f" and on() ({_requests(target, who, window)} >= {minimum})"


def _errors_or_zero(target: Target, who: str, window: int, **kw: bool) -> str:
    # No 5xx (or no candidate) series at all is a count of 0, not an absent answer.
    return f"({_requests(target, who, window, **kw)} or vector(0))"


# One PromQL condition per rollback rule key: (target, threshold, window s, guard) -> query. The
# condition fires while the query returns a series.
RULE_QUERIES: dict[str, Callable[[Target, float, int, int], str]] = {
    "canary-error-rate": lambda t, x, w, g: (
        f"{_errors_or_zero(t, 'candidate', w, errors=True)} / {_requests(t, 'candidate', w)}"
        f" > {x:g}" + _guard(t, "candidate", w, g)
    ),
    # E4: a ratio to the stable version's measured p99, not to a constant.
    "canary-latency-ratio": lambda t, x, w, g: (
        f"{_p99(t, 'candidate', w)} / {_p99(t, 'stable', w)} > {x:g}" + _guard(t, "candidate", w, g)
    ),
    # The absolute ceiling, kept beside the ratio.
    "canary-latency-p99": lambda t, x, w, g: (
        f"{_p99(t, 'candidate', w)} > {x:g}" + _guard(t, "candidate", w, g)
    ),
    # The candidate's share of requests below the threshold while stable serves traffic: a crash
    # loop or an ejected backend produces no errors, only silence.
    "canary-starved": lambda t, x, w, g: (
        f"{_errors_or_zero(t, 'candidate', w)} / {_requests(t, 'all', w)} < {x:g}"
        + _guard(t, "stable", w, g)
    ),
}


def rule_query(key: str, target: Target, threshold: float, window: int, guard: int) -> str:
    """The PromQL condition of the rollback rule ``key`` on ``target``."""
    return RULE_QUERIES[key](target, threshold, window, guard)


# -- reading Cloud Monitoring ------------------------------------------------------------------


def project_of(outputs: Mapping[str, Any]) -> str:
    """The project id, from ``alert_topic`` (``projects/<id>/notificationChannels/<n>``)."""
    parts = str(outputs.get("alert_topic", "")).split("/")
    if len(parts) < 2 or parts[0] != "projects" or not parts[1]:
        raise ApiError(0, "outputs.alert_topic is not a notification channel name")
    return parts[1]


def _paged(client: Client, url: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    for _ in range(50):  # a bound: 50 pages of policies or alerts is far beyond one project
        sep = "&" if "?" in url else "?"
        page = client(
            "GET", url + (f"{sep}pageToken={urllib.parse.quote(token)}" if token else ""), None
        )
        found = page.get(key, [])
        if not isinstance(found, list):
            raise ApiError(0, f"malformed {key} list")
        items.extend(x for x in found if isinstance(x, dict))
        token = str(page.get("nextPageToken", ""))
        if not token:
            return items
    return items


def rollback_policies(client: Client, project: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """The stack's rollback alert policies by exact display name (ApiError if one is missing)."""
    url = f"{MONITORING}/v3/projects/{project}/alertPolicies?pageSize=500"
    found = {
        str(p.get("displayName")): p
        for p in _paged(client, url, "alertPolicies")
        if p.get("displayName") in names
    }
    missing = [n for n in names if n not in found]
    if missing:
        raise ApiError(0, f"no alert policy named {', '.join(missing)}")
    return found


def open_alerts(client: Client, project: str) -> list[dict[str, Any]]:
    """The project's open alerts (Cloud Monitoring Alerts API, ``monitoring.alerts.list``)."""
    query = urllib.parse.urlencode({"filter": 'state = "OPEN"', "pageSize": "1000"})
    return _paged(client, f"{MONITORING}/v3/projects/{project}/alerts?{query}", "alerts")


def prometheus_value(client: Client, project: str, query: str, now: float) -> float | None:
    """One PromQL instant query (``monitoring.timeSeries.list``); None when it has no value."""
    params = urllib.parse.urlencode({"query": query, "time": f"{now:.3f}"})
    url = f"{MONITORING}/v1/projects/{project}/location/global/prometheus/api/v1/query?{params}"
    answer = client("GET", url, None)
    if answer.get("status") != "success":
        raise ApiError(0, f"PromQL query failed: {answer.get('error', 'no status')}")
    result = answer.get("data", {}).get("result", [])
    values = []
    for series in result if isinstance(result, list) else []:
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise ApiError(0, "malformed PromQL result") from None
        if math.isfinite(value):
            values.append(value)
    return sum(values) if values else None


def samples(client: Client, target: Target, minutes: float, now: float) -> dict[str, Any]:
    """Both versions' requests, 5xx and p99 over the last ``minutes``, in the decide shape."""
    window = max(60, int(minutes * 60))
    values = {
        key: prometheus_value(client, target.project, q, now)
        for key, q in sample_queries(target, window).items()
    }
    out: dict[str, Any] = {}
    for who in ("candidate", "stable"):
        requests = round(values[f"{who}_requests"] or 0)
        errors = min(requests, round(values[f"{who}_errors_5xx"] or 0))
        p99 = values[f"{who}_p99_ms"]
        out[who] = {"requests": requests, "errors_5xx": errors, "p99_ms": p99}
    return out


def _zero() -> dict[str, Any]:
    return {"requests": 0, "errors_5xx": 0, "p99_ms": None}


def observe(
    outputs: Mapping[str, Any],
    settings: Mapping[str, Any],
    minutes: float,
    *,
    client: Client | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One observation for ``components.rollout.decide`` (see the module docstring)."""
    names = [str(n) for n in outputs.get("rollback_alarms") or []]
    observation: dict[str, Any] = {
        "candidate": _zero(),
        "stable": _zero(),
        "settings": {k: settings[k] for k in ("error_rate", "latency_multiplier", "min_requests")},
    }
    if not names:  # event-driven: no candidate, nothing to watch
        return observation
    send = client or gcloud_client()
    at = time.time() if now is None else now
    try:
        project = project_of(outputs)
        policies = rollback_policies(send, project, names)
        by_id = {str(p.get("name")): n for n, p in policies.items()}
        firing = sorted(
            by_id[str(a.get("policy", {}).get("name"))]
            for a in open_alerts(send, project)
            if str(a.get("policy", {}).get("name")) in by_id
        )
        target = Target.from_labels(project, policies[names[0]].get("userLabels", {}))
    except (ApiError, KeyError, AttributeError, TypeError) as error:
        what = f"rollback alerts of {', '.join(names)}: {error}"
        observation["trigger"] = {"verified": False, "firing": True, "rule": what}
        return observation
    if firing:
        observation["trigger"] = {"verified": True, "firing": True, "rule": firing[0]}
    # Unreadable samples stay zero: decide holds without a trigger, rolls back with one.
    with contextlib.suppress(ApiError):
        observation.update(samples(send, target, minutes, at))
    return observation


# -- the split: drain and the rolled-back marker ----------------------------------------------


def marker(version: str, at: float) -> str:
    """The text the automatic rollback appends to the target's description."""
    return f"{MARKER_PREFIX}{version} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(at))}]"


def _url_map_url(t: Target) -> str:
    return f"{COMPUTE}/projects/{t.project}/global/urlMaps/{t.scope}"


def _endpoint_url(t: Target) -> str:
    return (
        f"https://{t.region}-aiplatform.googleapis.com/v1/projects/{t.project}/locations/"
        f"{t.region}/endpoints/{t.scope}"
    )


def _described(current: str, note: str | None) -> str:
    kept = current.split(f" {MARKER_PREFIX}")[0].split(MARKER_PREFIX)[0].rstrip()
    return f"{kept} {note}".strip() if note else current


def _drain_url_map(send: Client, t: Target, note: str | None) -> dict[str, int]:
    """Weight 100 to the stable backend service, 0 to the candidate's (urlMaps.get, .patch)."""
    current = send("GET", _url_map_url(t), None)
    action = dict(current.get("defaultRouteAction", {}))
    split: dict[str, int] = {}
    services = []
    for entry in action.get("weightedBackendServices", []):
        service = str(entry["backendService"])
        weight = 100 if service.rsplit("/", 1)[-1] == t.stable else 0
        split[service.rsplit("/", 1)[-1]] = weight
        services.append({**entry, "weight": weight})
    if t.stable not in split:
        raise ApiError(0, f"stable backend {t.stable} is not in URL map {t.scope}")
    action["weightedBackendServices"] = services
    body: dict[str, Any] = {
        "defaultRouteAction": action,
        "fingerprint": current.get("fingerprint", ""),
        "description": _described(str(current.get("description", "")), note),
    }
    send("PATCH", _url_map_url(t), body)
    return split


def _drain_endpoint(send: Client, t: Target, note: str | None) -> dict[str, int]:
    """Every percent to the stable deployed model (endpoints.get, endpoints.patch)."""
    current = send("GET", _endpoint_url(t), None)
    split = {str(k): 0 for k in current.get("trafficSplit", {})}
    split[t.stable] = 100
    body = {
        "trafficSplit": split,
        "description": _described(str(current.get("description", "")), note),
    }
    send("PATCH", f"{_endpoint_url(t)}?updateMask=trafficSplit,description", body)
    return split


def _description(send: Client, t: Target) -> str:
    url = _url_map_url(t) if t.kind == "url-map" else _endpoint_url(t)
    return str(send("GET", url, None).get("description", ""))


# What "all traffic to stable" means per target kind: a table, not branches.
DRAINERS: dict[str, Callable[[Client, Target, str | None], dict[str, int]]] = {
    "url-map": _drain_url_map,
    "vertex-endpoint": _drain_endpoint,
}


def drain(send: Client, target: Target, note: str | None = None) -> dict[str, int]:
    """Send all traffic to stable; ``note`` (the marker) is written into the description."""
    return DRAINERS[target.kind](send, target, note)


def _target(outputs: Mapping[str, Any], send: Client) -> Target:
    names = [str(n) for n in outputs.get("rollback_alarms") or []]
    if not names:
        raise ApiError(0, "the stack has no rollback_alarms (no candidate to drain)")
    project = project_of(outputs)
    policies = rollback_policies(send, project, names)
    return Target.from_labels(project, policies[names[0]].get("userLabels", {}))


def marker_payload(target: Target, version: str, at: float) -> dict[str, str]:
    """The log marker's fields (under :data:`MARKER_FIELD` in an entry's jsonPayload)."""
    return {
        "project": target.project,
        "target_kind": target.kind,
        "target_scope": target.scope,
        "candidate_version": version,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
    }


def marker_filter(target: Target, version: str, now: float) -> str:
    """The Cloud Logging filter that finds a marker of ``version`` on ``target``, from the
    function's report line or the pipeline's entry alike (both carry :func:`marker_payload`)."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - MARKER_RETENTION_DAYS * 86400))
    field = f"jsonPayload.{MARKER_FIELD}"
    return (
        f'{field}.target_scope="{target.scope}" AND '
        f'{field}.candidate_version="{version}" AND '
        f'timestamp>="{since}"'
    )


def write_marker_entry(send: Client, target: Target, version: str, at: float) -> None:
    """The pipeline's marker: one entry in the project's ``aideploy-rollback`` log
    (``logging.logEntries.create``)."""
    send(
        "POST",
        f"{LOGGING}/entries:write",
        {
            "logName": f"projects/{target.project}/logs/{MARKER_LOG}",
            "resource": {"type": "global", "labels": {"project_id": target.project}},
            "entries": [
                {
                    "severity": "NOTICE",
                    "jsonPayload": {MARKER_FIELD: marker_payload(target, version, at)},
                }
            ],
        },
    )


def _logged(send: Client, target: Target, version: str, now: float) -> bool:
    answer = send(
        "POST",
        f"{LOGGING}/entries:list",
        {
            "resourceNames": [f"projects/{target.project}"],
            "filter": marker_filter(target, version, now),
            "orderBy": "timestamp desc",
            "pageSize": 1,
        },
    )
    entries = answer.get("entries", [])
    if not isinstance(entries, list):
        raise ApiError(0, "malformed entries list")
    return bool(entries)


def rolled_back(
    outputs: Mapping[str, Any],
    candidate_version: str,
    *,
    client: Client | None = None,
    now: float | None = None,
) -> bool:
    """True when a rollback (the function's or the pipeline's drain) removed
    ``candidate_version``: its log marker is found (``logging.logEntries.list``), or the
    target's description still carries the marker. A read that fails raises :class:`ApiError`
    (the pipeline must not guess)."""
    send = client or gcloud_client()
    target = _target(outputs, send)
    if f"{MARKER_PREFIX}{candidate_version} " in _description(send, target):
        return True
    return _logged(send, target, candidate_version, time.time() if now is None else now)


def drain_candidate(
    outputs: Mapping[str, Any],
    *,
    client: Client | None = None,
    candidate_version: str | None = None,
    now: float | None = None,
) -> str:
    """Move all traffic to stable now, through the API the automatic rollback uses, then leave
    the markers the rollback function leaves (E8) for ``candidate_version`` (the stack file's):
    the description note, in the same call as the split, and the log entry. Traffic first: the
    log entry is written after the split moved. Without ``candidate_version`` no marker is
    written and the line says so."""
    send = client or gcloud_client()
    target = _target(outputs, send)
    at = time.time() if now is None else now
    note = marker(candidate_version, at) if candidate_version else None
    split = drain(send, target, note)
    shares = ", ".join(f"{k}={v}%" for k, v in sorted(split.items()))
    if candidate_version:
        write_marker_entry(send, target, candidate_version, at)
        marked = f"marked {candidate_version} (log {MARKER_LOG})"
    else:
        marked = "rolled-back marker NOT written (no candidate version given)"
    return f"drained {target.kind} {target.scope} in {target.project} to stable: {shares}; {marked}"
