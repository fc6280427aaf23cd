"""Opt-in device telemetry: the neutral report contract and the AWS ingestion function.

The function is loaded from exactly the files its Lambda archive ships (its handler and the
neutral module beside it); the channel's pointer is read from moto's S3.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from components import embedded_telemetry as telemetry
from components.aws import delivery

GOOD: dict[str, Any] = {
    "device": "install-7f3a",
    "model_version": "1.4.0",
    "sequence": 12,
    "app_version": "3.2.1",
    "inferences": 140,
    "latency_ms_p50": 12.5,
    "latency_ms_p95": 40.1,
    "mean_confidence": 0.87,
    "drift": 0.04,
    "download_failures": 0,
    "signature_failures": 1,
}


def test_a_report_keeps_no_install_id() -> None:
    report = telemetry.parse(GOOD)
    assert report.device != GOOD["device"] and len(report.device) == 64
    assert report.signature_failures == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"device": ""}, "device: a string of 1 to 128 characters"),
        ({"sequence": -1}, "sequence: a whole number from 0"),
        ({"sequence": True}, "sequence: a whole number from 0"),
        ({"drift": 1.5}, "drift: a number from 0 to 1"),
        ({"drift": float("nan")}, "drift: a number from 0 to 1"),
        ({"model_version": None}, "model_version: a string of 1 to 64 characters"),
    ],
)
def test_an_invalid_report_says_which_field(change: dict[str, Any], why: str) -> None:
    with pytest.raises(telemetry.InvalidReport) as refused:
        telemetry.parse({**GOOD, **change})
    assert str(refused.value) == why


@pytest.mark.parametrize(("latest", "stale"), [(None, 0.0), (12, 0.0), (13, 0.0), (14, 1.0)])
def test_a_device_two_releases_behind_is_stale(latest: int | None, stale: float) -> None:
    assert telemetry.metrics(telemetry.parse(GOOD), latest)["StaleDevices"] == stale


@given(
    st.dictionaries(
        st.text(max_size=20), st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=30))
    )
)
def test_any_json_object_is_a_report_or_one_line_refusal(body: dict[str, Any]) -> None:
    try:
        telemetry.parse(body)
    except telemetry.InvalidReport as exc:
        assert "\n" not in str(exc)


def test_every_alarm_watches_a_metric_the_reports_produce() -> None:
    produced = set(telemetry.metrics(telemetry.parse(GOOD), 1))
    assert {a.metric for a in telemetry.ALARMS} <= produced
    assert {a.tier for a in telemetry.ALARMS} <= {"page", "ticket", "info"}
    assert next(a for a in telemetry.ALARMS if a.metric == "SignatureFailures").tier == "page"


def load_function(where: Path) -> ModuleType:
    """The handler imported from a copy of its archive's files, as Lambda imports it."""
    where.mkdir()
    shutil.copy(delivery.TELEMETRY_DIR / "handler.py", where / "handler.py")
    shutil.copy(delivery.TELEMETRY_MODULE, where / "embedded_telemetry.py")
    for name in ("handler", "embedded_telemetry"):
        sys.modules.pop(name, None)
    sys.path.insert(0, str(where))
    try:
        spec = importlib.util.spec_from_file_location("handler", where / "handler.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(where))


@pytest.fixture
def fn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("CHANNEL_BUCKET", "channel")
    monkeypatch.setenv("ENVIRONMENT", "prod")
    return load_function(tmp_path / "archive")


def test_a_report_becomes_one_emf_record(
    fn: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="channel")
        s3.put_object(
            Bucket="channel", Key="releases/LATEST.json", Body=json.dumps({"sequence": 15})
        )
        answer = fn.handler({"body": json.dumps(GOOD)}, None, s3=s3)
    assert answer["statusCode"] == 202
    (line,) = capsys.readouterr().out.strip().splitlines()
    record = json.loads(line)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == telemetry.NAMESPACE
    assert directive["Dimensions"] == [["Environment"]]
    assert record["Environment"] == "prod"
    assert record["StaleDevices"] == 1.0 and record["SignatureFailures"] == 1.0
    assert GOOD["device"] not in line  # only its hash


@pytest.mark.parametrize(
    ("event", "status", "error"),
    [
        ({"body": "{not json"}, 400, "the report is not valid JSON"),
        ({"body": json.dumps({**GOOD, "drift": 2})}, 400, "drift: a number from 0 to 1"),
        ({"body": "x" * 5000}, 413, "a report is at most 4096 bytes"),
        ({"body": "%%%", "isBase64Encoded": True}, 400, "the body is not valid base64 text"),
    ],
    ids=["not-json", "bad-field", "too-big", "bad-base64"],
)
def test_bad_reports_are_refused_with_one_line(
    fn: ModuleType, event: dict[str, Any], status: int, error: str | None
) -> None:
    answer = fn.handler(event, None, s3=object())
    assert answer["statusCode"] == status
    message = json.loads(answer["body"])["error"]
    assert "\n" not in message and (error is None or message == error)


def test_a_base64_body_is_read(fn: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="channel")  # no release yet: nothing is stale
        body = base64.b64encode(json.dumps(GOOD).encode()).decode()
        answer = fn.handler({"body": body, "isBase64Encoded": True}, None, s3=s3)
    assert answer["statusCode"] == 202
    assert json.loads(capsys.readouterr().out)["StaleDevices"] == 0.0


def test_a_huge_integer_is_refused_not_a_crash() -> None:
    with pytest.raises(telemetry.InvalidReport, match="latency_ms_p50"):
        telemetry.parse({**GOOD, "latency_ms_p50": 10**400})


def test_a_fresh_instance_reads_the_pointer_at_once(fn: ModuleType) -> None:
    """Lambda's monotonic clock may start near zero: the first report still reads the pointer."""

    class S3:
        calls = 0

        def get_object(self, **_: Any) -> dict[str, Any]:
            S3.calls += 1
            return {"Body": __import__("io").BytesIO(b'{"sequence": 4}')}

    assert fn.latest_sequence(S3(), "channel", 30.0) == 4
    assert S3.calls == 1
