"""End-to-end smoke tests against a deployed stack (pipeline stage 3 and the rollback drill).

They need the stack's outputs (`pulumi stack output --json > outputs.json`) named by the
SMOKE_OUTPUTS environment variable; without it (offline `pytest`) they are skipped.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import PATTERN_OUTPUTS, Pattern

OUTPUTS = os.environ.get("SMOKE_OUTPUTS", "")
pytestmark = pytest.mark.skipif(not OUTPUTS, reason="runs against a deployed stack: SMOKE_OUTPUTS")

ROOT = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
STAGING = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())["config"]
MODEL = STAGING[f"{PROJECT}:model"]


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(OUTPUTS).read_text())
    return data


@pytest.fixture(scope="module")
def endpoint(outputs: dict[str, Any]) -> str:
    url = str(outputs.get("endpoint_url", "")).rstrip("/")
    if not url.startswith("https://"):
        pytest.skip("this pattern has no HTTPS endpoint")
    return url


def test_the_stack_exports_every_output_of_its_pattern(outputs: dict[str, Any]) -> None:
    pattern = Pattern(STAGING[f"{PROJECT}:pattern"])
    assert set(PATTERN_OUTPUTS[pattern]) <= set(outputs)


def test_the_endpoint_is_healthy_over_https(endpoint: str) -> None:
    url = endpoint + MODEL.get("health_path", "/health")
    with urllib.request.urlopen(url, timeout=15) as response:
        assert response.status == 200


def test_the_endpoint_refuses_anonymous_predictions(endpoint: str) -> None:
    request = urllib.request.Request(
        endpoint + MODEL.get("predict_path", "/predict"),
        data=b'{"input": "ping"}',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=15)
    assert error.value.code in (401, 403)
