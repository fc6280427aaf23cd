"""The device API's service: ``python -m device_fn.server`` (standard library only).

Behind API Management, which validates each device's JWT (the spec's issuer and audience)
and is the only caller the app's ingress admits (its public addresses alone):

* ``GET /releases/latest``: 200 ``{version, sequence, expires_in, bundle, files{name: url}}``
  with user-delegation SAS URLs valid ``URL_SECONDS`` (default 300, at most 3600); 404 before
  the first release; 502 when the channel cannot be read (the log line says why). The same
  answers as the AWS download function (components/aws/release_fn/handler.py).
* ``POST /telemetry``: one report (components/embedded_telemetry.py); 202 accepted, 400 with
  one line saying what is wrong, 413 over 4 KB. The report becomes one JSON line on stdout
  (``"event": "device-report"`` and the metrics of :func:`embedded_telemetry.metrics`), which
  Container Apps sends to Log Analytics (ContainerAppConsoleLogs); the stack's log search
  alerts turn those lines into the telemetry alarms. No metrics API, no extra right.
* ``GET /healthz``: 200 (liveness).

Settings: ``CHANNEL_ACCOUNT``, ``CHANNEL_CONTAINER``, ``URL_SECONDS``, ``ENVIRONMENT``,
``AZURE_CLIENT_ID`` (the service's identity), ``PORT``; the platform sets
:data:`PLATFORM_SETTINGS` (the identity endpoint).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the service ships the neutral module beside this file
    from components import embedded_telemetry as telemetry
    from components.azure.device_fn.channel import MAX_URL_SECONDS, Channel, IdentityToken
else:
    try:
        from . import embedded_telemetry as telemetry
    except ImportError:  # run from the repository (tests)
        from components import embedded_telemetry as telemetry
    from .channel import MAX_URL_SECONDS, Channel, IdentityToken

log = logging.getLogger("aideploy.device")

# Set by Container Apps in every replica with a managed identity (not by the stack).
PLATFORM_SETTINGS = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")
REPORT_EVENT = "device-report"
DEFAULT_URL_SECONDS = 300
# The pointer's sequence is re-read at most this often per replica (stale-device metric).
SEQUENCE_TTL_SECONDS = 60.0

Answer = tuple[int, dict[str, Any]]


def latest_release(channel: Any, seconds: int) -> dict[str, Any] | None:
    """The current release with signed URLs, or None before the first."""
    pointer = channel.read_pointer()
    if pointer is None:
        return None
    prefix = pointer["prefix"]
    return {
        "version": pointer["version"],
        "sequence": pointer["sequence"],
        "expires_in": seconds,
        "bundle": channel.url(f"{prefix}bundle.json", seconds),
        "files": {name: channel.url(f"{prefix}model/{name}", seconds) for name in pointer["files"]},
    }


def release_answer(channel: Any, seconds: int) -> Answer:
    """GET /releases/latest."""
    seconds = max(1, min(seconds, MAX_URL_SECONDS))
    try:
        release = latest_release(channel, seconds)
    except Exception as exc:  # any failure reading the channel: the device retries later
        log.error(json.dumps({"event": "channel-unreadable", "error": str(exc)[:300]}))
        return 502, {"error": "the release channel cannot be read; retry later"}
    if release is None:
        return 404, {"error": "no release has been published yet"}
    log.info(json.dumps({"event": "release-served", "sequence": release["sequence"]}))
    return 200, release


class SequenceCache:
    """The channel's current sequence, read at most once a :data:`SEQUENCE_TTL_SECONDS` (None
    before any release or when unreadable: then no device counts as stale)."""

    def __init__(self, channel: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._channel, self._clock = channel, clock
        self._at = float("-inf")
        self._sequence: int | None = None
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        with self._lock:
            now = self._clock()
            if now - self._at >= SEQUENCE_TTL_SECONDS:
                try:
                    pointer = self._channel.read_pointer()
                    self._sequence = int(pointer["sequence"]) if pointer else None
                except Exception:  # a missing or unreadable pointer: nothing is stale
                    self._sequence = None
                self._at = now
            return self._sequence


def report_line(report: telemetry.Report, values: Mapping[str, float], environment: str) -> str:
    """The log line the telemetry alerts read: the metrics, the environment, no personal data
    (the device id is already hashed by :func:`embedded_telemetry.parse`)."""
    return json.dumps(
        {
            "event": REPORT_EVENT,
            "environment": environment,
            "device": report.device,
            "model_version": report.model_version,
            "app_version": report.app_version,
            **values,
        },
        sort_keys=True,
    )


def telemetry_answer(
    raw: bytes, latest: Callable[[], int | None], environment: str, emit: Callable[[str], None]
) -> Answer:
    """POST /telemetry with body ``raw``."""
    if len(raw) > telemetry.MAX_REPORT_BYTES:
        return 413, {"error": f"a report is at most {telemetry.MAX_REPORT_BYTES} bytes"}
    try:
        body = json.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        return 400, {"error": "the report is not valid JSON"}
    try:
        report = telemetry.parse(body)
    except telemetry.InvalidReport as exc:
        return 400, {"error": str(exc)[:200]}
    emit(report_line(report, telemetry.metrics(report, latest()), environment))
    return 202, {"accepted": True}


def _emit(line: str) -> None:
    print(line, flush=True)  # stdout: Container Apps' console log, read by the alerts


class DeviceRequestHandler(BaseHTTPRequestHandler):
    """Routes the three paths; anything else is 404."""

    channel: Any = None
    latest: Callable[[], int | None] = staticmethod(lambda: None)
    url_seconds: int = DEFAULT_URL_SECONDS
    environment: str = ""

    def _reply(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """Liveness and the current release."""
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._reply(200, {"ok": True})
        elif path == "/releases/latest":
            self._reply(*release_answer(type(self).channel, type(self).url_seconds))
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        """One telemetry report."""
        if self.path.split("?", 1)[0] != "/telemetry":
            self._reply(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > telemetry.MAX_REPORT_BYTES:
            self._reply(413, {"error": f"a report is at most {telemetry.MAX_REPORT_BYTES} bytes"})
            return
        raw = self.rfile.read(length)
        cls = type(self)
        self._reply(*telemetry_answer(raw, cls.latest, cls.environment, _emit))

    def log_message(self, format: str, *args: Any) -> None:
        log.info(format, *args)


def configure(env: Mapping[str, str]) -> type[DeviceRequestHandler]:
    """The request handler class for the service's settings."""
    token = IdentityToken(
        env["AZURE_CLIENT_ID"],
        env.get(PLATFORM_SETTINGS[0], ""),
        env.get(PLATFORM_SETTINGS[1], ""),
    )
    channel = Channel(env["CHANNEL_ACCOUNT"], env["CHANNEL_CONTAINER"], token)
    DeviceRequestHandler.channel = channel
    DeviceRequestHandler.latest = SequenceCache(channel)
    DeviceRequestHandler.url_seconds = min(
        int(env.get("URL_SECONDS", str(DEFAULT_URL_SECONDS))), MAX_URL_SECONDS
    )
    DeviceRequestHandler.environment = env.get("ENVIRONMENT", "")
    return DeviceRequestHandler


def main() -> None:
    """Serve on ``PORT`` until stopped."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    handler = configure(os.environ)
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), handler).serve_forever()  # nosec B104


if __name__ == "__main__":
    main()
