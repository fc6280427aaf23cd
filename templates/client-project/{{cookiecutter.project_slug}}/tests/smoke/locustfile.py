"""Bounded load test against the staging endpoint (pipeline stage 3).

    locust -f tests/smoke/locustfile.py --headless --host URL \
        --users 20 --spawn-rate 5 --run-time 2m

Users and duration are bounded on the command line (the pipeline's values); the run fails when
the error ratio or the p95 latency exceeds the staging stack's alert thresholds. The file name
is not test_*.py, so offline `pytest` never collects it. Authenticated predictions need a key:
set LOAD_TEST_API_KEY (a CI secret of the staging environment) to include them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from locust import HttpUser, between, events, task

ROOT = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
CONFIG = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())["config"]
MODEL = CONFIG[f"{PROJECT}:model"]
ALERTS = CONFIG.get(f"{PROJECT}:alerts") or {}
MAX_ERROR_RATIO = float(ALERTS.get("error_rate_5xx", 0.01))
MAX_P95_MS = float(ALERTS.get("latency_p95_ms", 800))
API_KEY = os.environ.get("LOAD_TEST_API_KEY", "")


class ApiUser(HttpUser):
    """A client calling the health check and, with a key, the prediction path."""

    wait_time = between(0.5, 2)

    @task(1)
    def health(self) -> None:
        self.client.get(MODEL.get("health_path", "/health"), name="health")

    @task(3)
    def predict(self) -> None:
        if not API_KEY:
            return
        self.client.post(
            MODEL.get("predict_path", "/predict"),
            data=json.dumps({"input": "load test"}),
            headers={"Content-Type": "application/json", "x-api-key": API_KEY},
            name="predict",
        )


@events.quitting.add_listener
def _enforce_thresholds(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    stats = environment.stats.total
    p95 = stats.get_response_time_percentile(0.95) or 0
    if stats.fail_ratio > MAX_ERROR_RATIO or p95 > MAX_P95_MS:
        print(f"load test failed: error ratio {stats.fail_ratio:.2%}, p95 {p95:.0f} ms")
        environment.process_exit_code = 1
