"""The embedded pattern's telemetry endpoint on GCP (Cloud Function gen2 behind API Gateway).

``POST /telemetry`` with one report (components/embedded_telemetry.py, shipped beside this file
as ``embedded_telemetry.py``). The report becomes one structured log line (``event:
device-report``, the neutral metrics under ``metrics``), from which the stack's log-based
metrics extract the values the telemetry alarms watch. Log lines rather than Cloud Monitoring
custom metrics: a custom time series takes at most one point every five seconds, so a burst of
devices would be refused or need aggregation here, and writing needs a project-level
metricWriter grant; a log line costs neither. The latest release's sequence (for stale devices)
comes from the channel's pointer, the one object this function may read, at most once a minute
per instance.

Answers: 202 accepted, 400 with one line saying what is wrong with the report, 413 over 4 KB.
Environment: ``CHANNEL_BUCKET``, ``ENVIRONMENT``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the archive ships the neutral module beside this file under this name
    from components import embedded_telemetry as telemetry
else:
    import embedded_telemetry as telemetry

POINTER = "releases/LATEST.json"
EVENT = "device-report"  # the log lines the log-based metrics select
METADATA_CREDENTIAL_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
ReadObject = Callable[[str, str], "bytes | None"]
# Never read yet: a fresh instance reads the pointer on its first report.
_cache: dict[str, Any] = {"at": float("-inf"), "sequence": None}


def metadata_token() -> str:
    """A fresh access token of the function's service account."""
    request = urllib.request.Request(METADATA_CREDENTIAL_URL, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310  # nosec B310
        return str(json.load(answer)["access_token"])


def gcs_reader(token: Callable[[], str] = metadata_token) -> ReadObject:
    """Reads an object with the JSON API as the function's identity (None when missing)."""

    def read(bucket: str, key: str) -> bytes | None:
        url = (
            f"https://storage.googleapis.com/storage/v1/b/{bucket}/o/"
            f"{urllib.parse.quote(key, safe='')}?alt=media"
        )
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token()}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310  # nosec B310
                return bytes(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    return read


def latest_sequence(read: ReadObject, bucket: str, now: float) -> int | None:
    """The channel's current sequence, cached for a minute (None before any release, or when
    the pointer cannot be read: then nothing counts as stale)."""
    if now - _cache["at"] < 60:
        cached: int | None = _cache["sequence"]
        return cached
    try:
        raw = read(bucket, POINTER)
        sequence: int | None = None if raw is None else int(json.loads(raw)["sequence"])
    except Exception:  # a missing or unreadable pointer: no release to be stale against
        sequence = None
    _cache.update(at=now, sequence=sequence)
    return sequence


def report_line(report: telemetry.Report, values: dict[str, float], environment: str) -> str:
    """The structured log line of one report: the metrics, labelled by environment only (a
    label per device or version would multiply time series and cost)."""
    return json.dumps(
        {
            "severity": "INFO",
            "event": EVENT,
            "environment": environment,
            "device": report.device,
            "model_version": report.model_version,
            "app_version": report.app_version,
            "metrics": values,
        },
        sort_keys=True,
    )


def _answer(status: int, body: dict[str, Any]) -> tuple[str, int, dict[str, str]]:
    return json.dumps(body, sort_keys=True), status, {"Content-Type": "application/json"}


def report(request: Any, read: ReadObject | None = None) -> tuple[str, int, dict[str, str]]:
    """Cloud Functions entry point: accept one report."""
    raw = request.get_data(cache=False)
    if len(raw) > telemetry.MAX_REPORT_BYTES:
        return _answer(413, {"error": f"a report is at most {telemetry.MAX_REPORT_BYTES} bytes"})
    try:
        body = json.loads(raw)
    except ValueError:  # also bytes that are not UTF-8
        return _answer(400, {"error": "the report is not valid JSON"})
    try:
        parsed = telemetry.parse(body)
    except telemetry.InvalidReport as exc:
        return _answer(400, {"error": str(exc)[:200]})
    latest = latest_sequence(read or gcs_reader(), os.environ["CHANNEL_BUCKET"], time.monotonic())
    values = telemetry.metrics(parsed, latest)
    print(report_line(parsed, values, os.environ.get("ENVIRONMENT", "")), flush=True)
    return _answer(202, {"accepted": True})
