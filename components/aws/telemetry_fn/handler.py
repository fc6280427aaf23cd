"""The embedded pattern's telemetry endpoint (Lambda behind the authenticated API).

``POST /telemetry`` with one report (components/embedded_telemetry.py). The report becomes
CloudWatch metrics through the embedded metric format: one JSON log line that CloudWatch Logs
turns into metrics, so the function needs no cloudwatch:PutMetricData right and a burst of
devices costs log lines, not API calls. The latest release's sequence (for stale devices) comes
from the channel's pointer, read at most once a minute per instance.

Answers: 202 accepted, 400 with one line saying what is wrong with the report, 413 over
4 KB. Environment: ``CHANNEL_BUCKET``, ``ENVIRONMENT``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the archive ships the neutral module beside this file under this name
    from components import embedded_telemetry as telemetry
else:
    import embedded_telemetry as telemetry

POINTER = "releases/LATEST.json"
# Never read yet: a fresh instance reads the pointer on its first report.
_cache: dict[str, Any] = {"at": float("-inf"), "sequence": None}


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def latest_sequence(s3: Any, bucket: str, now: float) -> int | None:
    """The channel's current sequence, cached for a minute (None before any release, or when
    the pointer cannot be read: then nothing counts as stale)."""
    if now - _cache["at"] < 60:
        cached: int | None = _cache["sequence"]
        return cached
    try:
        pointer = json.loads(s3.get_object(Bucket=bucket, Key=POINTER)["Body"].read())
        sequence: int | None = int(pointer["sequence"])
    except Exception:  # a missing or unreadable pointer: no release to be stale against
        sequence = None
    _cache.update(at=now, sequence=sequence)
    return sequence


def emf_line(report: telemetry.Report, values: dict[str, float], environment: str) -> str:
    """One embedded-metric-format record: the metrics, dimensioned by environment only (a
    dimension per device or version would multiply metrics and cost)."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": telemetry.NAMESPACE,
                        "Dimensions": [["Environment"]],
                        "Metrics": [{"Name": name} for name in sorted(values)],
                    }
                ],
            },
            "Environment": environment,
            "device": report.device,
            "model_version": report.model_version,
            "app_version": report.app_version,
            **values,
        },
        sort_keys=True,
    )


def handler(event: dict[str, Any], context: Any, s3: Any = None) -> dict[str, Any]:
    """Lambda entry point: accept one report."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return _answer(400, {"error": "the body is not valid base64 text"})
    if len(raw.encode()) > telemetry.MAX_REPORT_BYTES:
        return _answer(413, {"error": f"a report is at most {telemetry.MAX_REPORT_BYTES} bytes"})
    try:
        body = json.loads(raw)
    except ValueError:
        return _answer(400, {"error": "the report is not valid JSON"})
    try:
        report = telemetry.parse(body)
    except telemetry.InvalidReport as exc:
        return _answer(400, {"error": str(exc)[:200]})
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    latest = latest_sequence(s3, os.environ["CHANNEL_BUCKET"], time.monotonic())
    values = telemetry.metrics(report, latest)
    print(emf_line(report, values, os.environ.get("ENVIRONMENT", "")))  # the EMF record
    return _answer(202, {"accepted": True})
