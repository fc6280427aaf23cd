"""The uptime canary's script (CloudWatch Synthetics, Python runtime): one HTTPS GET.

Standard library only. Synthetics runs ``handler``; a run that raises counts as failed in the
canary's ``SuccessPercent`` metric, which the page-tier uptime alarm watches. ``HEALTH_URL``
is the stack's exported ``health_url`` (set in the canary's run configuration).
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any

# A readiness answer is quick; the gateway itself gives up after 5 s.
TIMEOUT_SECONDS = 10
EXPECTED_STATUS = 200


class ProbeError(Exception):
    """The endpoint did not answer 200 over HTTPS."""


def probe(url: str, *, opener: Any = urllib.request.urlopen) -> int:
    """GET ``url`` without credentials; the status, or ProbeError."""
    if not url.startswith("https://"):
        raise ProbeError(f"refusing to probe a non-HTTPS URL: {url!r}")
    # The scheme is checked above: only https:// is ever opened.
    request = urllib.request.Request(  # noqa: S310
        url, method="GET", headers={"User-Agent": "aideploy-uptime"}
    )
    try:
        with opener(request, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
    except Exception as error:  # HTTPError (4xx/5xx), URLError, timeout: all are "down"
        raise ProbeError(f"GET {url}: {error}") from error
    if status != EXPECTED_STATUS:
        raise ProbeError(f"GET {url}: HTTP {status}, expected {EXPECTED_STATUS}")
    return status


def handler(event: Any, context: Any) -> str:
    """Synthetics' entry point (``canary.handler``)."""
    url = os.environ["HEALTH_URL"]
    probe(url)
    return f"GET {url}: {EXPECTED_STATUS}"
