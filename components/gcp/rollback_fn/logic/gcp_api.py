"""The rollback function's calls to Google APIs, over the standard library only.

The transport is injectable (tests fake it); the deployed function authenticates with its own
service account through the metadata server, so no key or library is needed.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from .decision import Samples, reset_split, series_max, series_total

Transport = Callable[[str, str, "dict[str, Any] | None"], "dict[str, Any]"]

# The metadata server's endpoint that hands the function's identity a short-lived credential.
METADATA_CREDENTIAL_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
MONITORING = "https://monitoring.googleapis.com/v3"
COMPUTE = "https://compute.googleapis.com/compute/v1"


def _metadata_token() -> str:
    request = urllib.request.Request(METADATA_CREDENTIAL_URL, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 # nosec B310 - fixed URL
        return str(json.load(response)["access_token"])


def urllib_transport(token: Callable[[], str] = _metadata_token) -> Transport:
    """A JSON-over-HTTPS transport authenticated with ``token()``."""

    def send(method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        if not url.startswith("https://"):
            raise ValueError(f"refusing non-HTTPS URL {url!r}")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - https checked above
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 # nosec B310 - https only
            text = response.read().decode() or "{}"
        result = json.loads(text)
        return result if isinstance(result, dict) else {}

    return send


def _series(
    send: Transport,
    project: str,
    metric_filter: str,
    reducer: str,
    aligner: str,
    window_s: int,
    now: float,
) -> dict[str, Any]:
    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    query = urllib.parse.urlencode(
        {
            "filter": metric_filter,
            "interval.startTime": stamp(now - window_s),
            "interval.endTime": stamp(now),
            "aggregation.alignmentPeriod": f"{window_s}s",
            "aggregation.perSeriesAligner": aligner,
            "aggregation.crossSeriesReducer": reducer,
        }
    )
    return send("GET", f"{MONITORING}/projects/{project}/timeSeries?{query}", None)


def fetch_samples(send: Transport, config: Mapping[str, Any], now: float) -> Samples:
    """The candidate's request and error counts and both versions' p99 over the window."""
    project = str(config["project"])
    window = int(config.get("window_seconds", 300))
    filters = config["filters"]

    def count(key: str) -> float | None:
        return series_total(
            _series(send, project, filters[key], "REDUCE_SUM", "ALIGN_DELTA", window, now)
        )

    def p99(key: str) -> float | None:
        return series_max(
            _series(send, project, filters[key], "REDUCE_PERCENTILE_99", "ALIGN_DELTA", window, now)
        )

    return Samples(
        candidate_requests=count("candidate_requests"),
        candidate_errors=count("candidate_errors"),
        candidate_p99_ms=p99("candidate_latency"),
        stable_p99_ms=p99("stable_latency"),
    )


def _reset_vertex_endpoint(send: Transport, target: Mapping[str, Any]) -> dict[str, int]:
    """Vertex AI: every percent to the stable deployed model (endpoints.patch, trafficSplit)."""
    url = f"https://{target['region']}-aiplatform.googleapis.com/v1/{target['endpoint']}"
    current = send("GET", url, None).get("trafficSplit", {})
    split = reset_split(
        {str(k): int(v) for k, v in current.items()},
        str(target["stable"]),
        str(target["candidate"]),
    )
    send("PATCH", f"{url}?updateMask=trafficSplit", {"trafficSplit": split})
    return split


def _reset_url_map(send: Transport, target: Mapping[str, Any]) -> dict[str, int]:
    """Load balancer: weight 100 to the stable backend service, 0 to the candidate's."""
    url = f"{COMPUTE}/projects/{target['project']}/global/urlMaps/{target['url_map']}"
    current = send("GET", url, None)
    action = current.get("defaultRouteAction", {})
    weights = {
        str(w["backendService"]): int(w.get("weight", 0))
        for w in action.get("weightedBackendServices", [])
    }
    by_name = {key.rsplit("/", 1)[-1]: key for key in weights}
    stable = by_name.get(str(target["stable"]), str(target["stable"]))
    candidate = by_name.get(str(target["candidate"]), str(target["candidate"]))
    split = reset_split(weights, stable, candidate)
    action["weightedBackendServices"] = [
        {"backendService": key, "weight": weight} for key, weight in split.items()
    ]
    send(
        "PATCH",
        url,
        {"defaultRouteAction": action, "fingerprint": current.get("fingerprint", "")},
    )
    return split


# What "reset the traffic split" means per kind of target: a table, not branches.
RESETTERS: dict[str, Callable[[Transport, Mapping[str, Any]], dict[str, int]]] = {
    "vertex-endpoint": _reset_vertex_endpoint,
    "url-map": _reset_url_map,
}


def reset_traffic(send: Transport, target: Mapping[str, Any]) -> dict[str, int]:
    """Send all traffic back to the stable version of ``target``; returns the new split."""
    return RESETTERS[str(target["kind"])](send, target)
