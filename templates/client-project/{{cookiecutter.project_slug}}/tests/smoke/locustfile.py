"""Bounded load test against the staging endpoint (pipeline stage 3).

    SMOKE_OUTPUTS=staging-outputs.json locust -f tests/smoke/locustfile.py --headless \
        --host ENDPOINT_URL --users 20 --spawn-rate 5 --run-time 2m

Users and duration are bounded on the command line (the pipeline's values); the run fails when
the error ratio or the p95 latency exceeds the staging stack's alert thresholds. Every user
calls predict at ``endpoint_url`` with the test client's credentials (an API key and/or a
client-credentials JWT: docs/ci.md, "Test credentials"; the run stops at once when they are
missing) and probes ``health_url`` without credentials. The file name is not test_*.py, so
offline `pytest` never collects it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from locust import HttpUser, between, events, task

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ci import api_client  # noqa: E402
from ci.stack import https_output, predict_url, stack_spec  # noqa: E402

SPEC = stack_spec("staging")
MAX_ERROR_RATIO = SPEC.alerts.error_rate_5xx
MAX_P95_MS = float(SPEC.alerts.latency_p95_ms)
OUTPUTS = json.loads(Path(os.environ["SMOKE_OUTPUTS"]).read_text())
ENDPOINT = predict_url(OUTPUTS, SPEC.model.predict_path)
HEALTH = https_output(OUTPUTS, "health_url")
# Fetched once for the run (a client-credentials token outlives a two-minute test).
HEADERS = api_client.auth_headers(SPEC.cloud.value, SPEC.api.auth.value)


class ApiUser(HttpUser):
    """A client calling predict with credentials, and the health route without."""

    wait_time = between(0.5, 2)

    @task(1)
    def health(self) -> None:
        self.client.get(HEALTH, name="health_url")

    @task(5)
    def predict(self) -> None:
        self.client.post(
            ENDPOINT,
            data=json.dumps({"input": "load test: I was charged twice"}),
            headers={"Content-Type": "application/json", **HEADERS},
            name="predict",
        )


@events.quitting.add_listener
def _enforce_thresholds(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    stats = environment.stats.total
    p95 = stats.get_response_time_percentile(0.95) or 0
    if stats.num_requests == 0 or stats.fail_ratio > MAX_ERROR_RATIO or p95 > MAX_P95_MS:
        print(
            f"load test failed: {stats.num_requests} requests, error ratio "
            f"{stats.fail_ratio:.2%}, p95 {p95:.0f} ms"
        )
        environment.process_exit_code = 1
