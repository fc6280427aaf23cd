"""End-to-end smoke tests against a deployed stack (pipeline stage 3 and the rollback drill).

They need the stack's outputs (`pulumi stack output --json > outputs.json`) named by the
SMOKE_OUTPUTS environment variable; without it (offline `pytest`) they are skipped. The stack
is named by SMOKE_STACK (default ``staging``): its stack file gives the pattern, the predict path
and the auth. The health check probes the stack's own ``health_url`` (GET, no credentials,
through the same gateway as predict) and predict must refuse a call without credentials, on
every stack. The credentialed prediction needs the test client's credentials (docs/ci.md, "Test
credentials"), which only dev and staging have: without them (prod) it is skipped, saying so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ci import api_client
from ci.stack import https_output, predict_url, stack_spec
from components.spec import PATTERN_OUTPUTS

OUTPUTS = os.environ.get("SMOKE_OUTPUTS", "")
pytestmark = pytest.mark.skipif(not OUTPUTS, reason="runs against a deployed stack: SMOKE_OUTPUTS")

STACK = os.environ.get("SMOKE_STACK", "") or "staging"
SPEC = stack_spec(STACK)


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(OUTPUTS).read_text())
    return data


@pytest.fixture(scope="module")
def endpoint(outputs: dict[str, Any]) -> str:
    url = predict_url(outputs, SPEC.model.predict_path)
    if not url:
        pytest.skip("this pattern has no HTTPS endpoint")
    return url


def test_the_stack_exports_every_output_of_its_pattern(outputs: dict[str, Any]) -> None:
    assert set(PATTERN_OUTPUTS[SPEC.pattern]) <= set(outputs)


def test_health_url_answers_200_without_credentials(outputs: dict[str, Any], endpoint: str) -> None:
    url = https_output(outputs, "health_url")
    assert url, "the stack exports no https health_url"
    assert api_client.call(url, timeout=15).status == 200


def test_the_endpoint_refuses_anonymous_predictions(endpoint: str) -> None:
    reply = api_client.call(endpoint, {"input": "ping"}, timeout=15)
    assert reply.status in (401, 403)


def test_the_endpoint_predicts_with_the_test_clients_credentials(endpoint: str) -> None:
    absent = api_client.missing(SPEC.api.auth.value)
    if absent:
        pytest.skip(
            f"no test credentials on {STACK} ({', '.join(absent)} unset: only dev and staging "
            "have them); health and the refusal of anonymous predictions still ran"
        )
    headers = api_client.auth_headers(SPEC.cloud.value, SPEC.api.auth.value)
    reply = api_client.call(endpoint, {"input": "I was charged twice"}, headers, timeout=30)
    assert reply.status == 200, reply.body
    assert "prediction" in reply.body or "predictions" in reply.body


@pytest.fixture(scope="module")
def device_api(outputs: dict[str, Any]) -> str:
    url = https_output(outputs, "device_api_url")
    if not url:
        pytest.skip("this pattern has no device API")
    return url.rstrip("/")


def test_the_device_api_refuses_calls_without_a_device_token(device_api: str) -> None:
    """Releases and telemetry are for authenticated devices only (the JWT authorizer)."""
    assert api_client.call(f"{device_api}/releases/latest", timeout=15).status in (401, 403)
    report = {"device": "smoke", "model_version": "0", "app_version": "0"}
    assert api_client.call(f"{device_api}/telemetry", report, timeout=15).status in (401, 403)
