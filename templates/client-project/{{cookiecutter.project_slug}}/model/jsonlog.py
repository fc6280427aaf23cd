"""One JSON object per line on stdout: what every platform's log agent ships as it is.

CloudWatch Logs (awslogs driver), Container Apps and Azure Machine Learning console logs, and
Cloud Logging all take stdout; Cloud Logging reads ``severity`` and ``message`` from a JSON line,
and CloudWatch extracts embedded-metric-format records (``_aws``) from the same stream.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

_lock = threading.Lock()


def log(
    event: str, /, *, severity: str = "INFO", stream: TextIO | None = None, **fields: Any
) -> None:
    """Write one log line: ``{"time", "severity", "message", ...fields}`` (a field may be
    named ``event``: the guardrail's lines carry it for the metric filters)."""
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "severity": severity,
        "message": event,
        **fields,
    }
    emit(record, stream=stream)


def emit(record: dict[str, Any], *, stream: TextIO | None = None) -> None:
    """Write ``record`` as one JSON line (whole lines only, also from several threads)."""
    line = json.dumps(record, separators=(",", ":"), sort_keys=False, default=str)
    out = stream or sys.stdout
    with _lock:
        out.write(line + "\n")
        out.flush()
