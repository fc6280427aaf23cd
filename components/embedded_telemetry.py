"""The embedded pattern's opt-in device telemetry: what a device reports, what it becomes.

Cloud-neutral and standard-library only: each cloud's ingestion function ships this file and
turns a report into the same metrics, which the same alarm rules watch (:data:`ALARMS`).

A report is one JSON object per device per interval; nothing in it identifies a person (the
device id is the app's own pseudonymous install id, hashed before it is stored):

    {"device": "<install id>", "model_version": "1.4.0", "sequence": 12,
     "app_version": "3.2.1", "inferences": 140, "latency_ms_p50": 12.5,
     "latency_ms_p95": 40.1, "mean_confidence": 0.87, "drift": 0.04,
     "download_failures": 0, "signature_failures": 0}

``drift`` is the app's own summary distance between recent inputs and the model's reference
distribution (0 same, 1 disjoint); ``signature_failures`` counts bundles the device refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NAMESPACE = "aideploy/Embedded"
MAX_REPORT_BYTES = 4096
# Releases a device may lag behind the channel before it counts as stale.
STALE_AFTER_RELEASES = 2


class InvalidReport(ValueError):  # noqa: N818 - reads as what the device sent
    """A report that is not one; ``str()`` is one line saying why."""


@dataclass(frozen=True)
class Report:
    """A validated report."""

    device: str  # SHA-256 of the install id: stored, never the id itself
    model_version: str
    sequence: int
    app_version: str
    inferences: int
    latency_ms_p50: float
    latency_ms_p95: float
    mean_confidence: float
    drift: float
    download_failures: int
    signature_failures: int


_COUNTS = ("sequence", "inferences", "download_failures", "signature_failures")
_RATIOS = ("mean_confidence", "drift")
_LATENCIES = ("latency_ms_p50", "latency_ms_p95")


def _text(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidReport(f"{key}: a string of 1 to {limit} characters")
    return value


def _count(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise InvalidReport(f"{key}: a whole number from 0")
    return value


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = body.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidReport(f"{key}: a number from {low:g} to {high:g}")
    if isinstance(value, int) and not low <= value <= high:  # before float(): ints are unbounded
        raise InvalidReport(f"{key}: a number from {low:g} to {high:g}")
    number = float(value)
    if math.isnan(number) or not low <= number <= high:
        raise InvalidReport(f"{key}: a number from {low:g} to {high:g}")
    return number


def parse(body: Any) -> Report:
    """A report from a decoded JSON body; :class:`InvalidReport` otherwise."""
    if not isinstance(body, Mapping):
        raise InvalidReport("the report is a JSON object")
    device = _text(body, "device", 128)
    return Report(
        device=hashlib.sha256(device.encode()).hexdigest(),
        model_version=_text(body, "model_version", 64),
        sequence=_count(body, "sequence"),
        app_version=_text(body, "app_version", 64),
        inferences=_count(body, "inferences"),
        latency_ms_p50=_number(body, "latency_ms_p50", 0, 600_000),
        latency_ms_p95=_number(body, "latency_ms_p95", 0, 600_000),
        mean_confidence=_number(body, "mean_confidence", 0, 1),
        drift=_number(body, "drift", 0, 1),
        download_failures=_count(body, "download_failures"),
        signature_failures=_count(body, "signature_failures"),
    )


def metrics(report: Report, latest_sequence: int | None) -> dict[str, float]:
    """The metrics one report adds (all in :data:`NAMESPACE`, per environment)."""
    stale = (
        latest_sequence is not None and report.sequence + STALE_AFTER_RELEASES <= latest_sequence
    )
    return {
        "Reports": 1.0,
        "Inferences": float(report.inferences),
        "LatencyP95": report.latency_ms_p95,
        "MeanConfidence": report.mean_confidence,
        "Drift": report.drift,
        "DownloadFailures": float(report.download_failures),
        "SignatureFailures": float(report.signature_failures),
        "StaleDevices": 1.0 if stale else 0.0,
    }


@dataclass(frozen=True)
class TelemetryAlarm:
    """A neutral alarm on a telemetry metric (each cloud maps it to its own alarm)."""

    key: str
    metric: str
    statistic: str  # "Sum" or "Maximum"
    threshold: float  # fires when the statistic is above this
    period_seconds: int
    evaluation_periods: int
    tier: str  # "page", "ticket" or "info"
    description: str


ALARMS: tuple[TelemetryAlarm, ...] = (
    TelemetryAlarm(
        "device-signature-failures", "SignatureFailures", "Sum", 0.0, 300, 1, "page",
        "devices refused a release bundle: a tampered channel or a key mix-up; stop releasing",
    ),
    TelemetryAlarm(
        "device-download-failures", "DownloadFailures", "Sum", 10.0, 900, 1, "ticket",
        "devices cannot download releases: the download API, the channel or the network",
    ),
    TelemetryAlarm(
        "device-stale", "StaleDevices", "Sum", 0.0, 86400, 1, "ticket",
        f"devices {STALE_AFTER_RELEASES} or more releases behind the channel for a day",
    ),
    TelemetryAlarm(
        "device-drift", "Drift", "Maximum", 0.3, 3600, 3, "ticket",
        "device inputs drift from the model's reference distribution for three hours",
    ),
)  # fmt: skip
