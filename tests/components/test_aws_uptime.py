"""The uptime check (issue 10 item 5), held from captured resources: the canary probes exactly
the exported health_url, its alarm pages, its bucket and role are as private as the rest."""

from __future__ import annotations

import io
import json
import re
import urllib.error
from functools import cache
from typing import Any

import pytest

from components.alarms import alarm_name, rollback_alarms
from components.aws import uptime
from components.aws.uptime_fn import canary as script
from components.spec import Cloud, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import make_spec, of_type, run_component
from tests.journey.aws_iam import as_list, statements

CANARY = "aws:synthetics/canary:Canary"


@cache
def _run(env: Environment, domain: bool = False) -> Capture:
    overrides: dict[str, Any] = {"api": {"domain": "api.acme.example"}} if domain else {}
    return run_component(make_spec(Cloud.AWS, Pattern.API_FIRST, env, overrides))


def _outputs(run: Capture) -> dict[str, Any]:
    [component] = [r for r in run.resources if r.type == "aideploy:aws:ApiFirst"]
    return dict(run.outputs[component.urn])


def _by_arn(run: Capture) -> dict[str, CapturedResource]:
    # The mocks' ARN is arn:aws:<service>:<region>:<account>:<logical name>.
    return {
        f"arn:aws:{r.type.split(':')[1].split('/')[0].lower()}:eu-west-1:123456789012:{r.name}": r
        for r in run.resources
        if r.custom
    }


@pytest.mark.parametrize("env", list(Environment))
@pytest.mark.parametrize("domain", [False, True])
def test_the_canary_probes_exactly_the_exported_health_url(env: Environment, domain: bool) -> None:
    run = _run(env, domain)
    [canary] = of_type(run.resources, CANARY)
    assert (
        canary.inputs["runConfig"]["environmentVariables"]["HEALTH_URL"]
        == (_outputs(run)["health_url"])
    )
    assert canary.inputs["handler"] == uptime.HANDLER
    assert canary.inputs["runtimeVersion"].startswith("syn-python-selenium-")
    assert canary.inputs["schedule"]["expression"] in {"rate(1 minute)", "rate(5 minutes)"}
    # Synthetics' function is cwsyn-<name>-<uuid>: 64 characters at most
    assert len(f"cwsyn-{canary.inputs['name']}-{'0' * 36}") <= 64
    assert re.fullmatch(r"[0-9a-z_-]+", canary.inputs["name"])
    # the script the canary runs is the one it reads the URL into
    [code] = of_type(run.resources, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert canary.inputs["s3Key"] == code.inputs["key"]
    assert canary.inputs["s3Bucket"] == code.inputs["bucket"]
    archive = code.inputs["source"]
    module, function = uptime.HANDLER.split(".")
    assert set(archive.assets) == {f"python/{module}.py"}
    assert callable(getattr(script, function))
    assert archive.assets[f"python/{module}.py"].path == script.__file__


def test_the_uptime_alarm_pages_on_the_canarys_success_and_is_no_rollback_alarm() -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD)
    run = _run(Environment.PROD)
    [canary] = of_type(run.resources, CANARY)
    [alarm] = [
        a
        for a in of_type(run.resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.inputs["name"] == alarm_name(spec, "uptime")
    ]
    [query] = alarm.inputs["metricQueries"]
    metric = query["metric"]
    assert (metric["namespace"], metric["metricName"]) == ("CloudWatchSynthetics", "SuccessPercent")
    assert metric["dimensions"] == {"CanaryName": canary.inputs["name"]}
    assert query["returnData"] is True
    assert alarm.inputs["comparisonOperator"] == "LessThanThreshold"
    assert alarm.inputs["threshold"] == 100
    assert (
        int(metric["period"])
        == int(canary.inputs["schedule"]["expression"].split("(")[1].split()[0]) * 60
    )
    assert alarm.inputs["evaluationPeriods"] >= 2
    assert alarm.inputs["treatMissingData"] == "breaching"
    topics = _by_arn(run)
    [target] = [topics[a] for a in set(alarm.inputs["alarmActions"])]
    assert target.inputs["tags"]["alert-tier"] == "page"
    assert alarm.inputs["name"] not in _outputs(run)["rollback_alarms"]
    assert "uptime" not in {r.key for r in rollback_alarms(spec)}


def test_the_canary_role_holds_only_its_artifacts_logs_metrics_and_key() -> None:
    run = _run(Environment.PROD)
    [canary] = of_type(run.resources, CANARY)
    arns = _by_arn(run)
    role = arns[canary.inputs["executionRoleArn"]]
    assert role.inputs["permissionsBoundary"].endswith("-prod-boundary")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    [policy] = [
        p
        for p in of_type(run.resources, "aws:iam/rolePolicy:RolePolicy")
        if p.name == f"{role.name}-policy"
    ]
    held = {a: s for s in statements(policy.inputs["policy"]) for a in as_list(s["Action"])}
    assert set(held) == set(uptime.ROLE_ACTIONS)
    [bucket] = [
        b for b in of_type(run.resources, "aws:s3/bucket:Bucket") if b.name.endswith("-uptime")
    ]
    bucket_arn = f"arn:aws:s3:eu-west-1:123456789012:{bucket.name}"
    assert as_list(held["s3:PutObject"]["Resource"]) == [f"{bucket_arn}/{uptime.ARTIFACT_PREFIX}*"]
    assert canary.inputs["artifactS3Location"].endswith(uptime.ARTIFACT_PREFIX.rstrip("/"))
    logs = as_list(held["logs:PutLogEvents"]["Resource"])
    assert logs == [
        f"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/cwsyn-{canary.inputs['name']}-*"
    ]
    assert held["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "CloudWatchSynthetics"}
    }
    assert canary.inputs["artifactConfig"]["s3Encryption"]["encryptionMode"] == "SSE_KMS"
    assert as_list(held["kms:GenerateDataKey"]["Resource"]) == [
        canary.inputs["artifactConfig"]["s3Encryption"]["kmsKeyArn"]
    ]


def test_artifacts_expire_and_the_script_is_kept() -> None:
    run = _run(Environment.DEV)
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV)
    [lifecycle] = [
        r
        for r in of_type(
            run.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        )
        if r.name.endswith("-uptime-lifecycle")
    ]
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    assert rules["retention"]["filter"]["prefix"] == uptime.ARTIFACT_PREFIX
    assert rules["retention"]["expiration"]["days"] == spec.retention.log_days
    assert "expiration" not in rules["old-versions"]
    [code] = of_type(run.resources, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert not code.inputs["key"].startswith(uptime.ARTIFACT_PREFIX)


@pytest.mark.parametrize(
    ("project", "env"), [("acme-support", "dev"), ("a-very-long-client-project-name", "staging")]
)
def test_canary_names_fit_synthetics(project: str, env: str) -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment(env), {"project": project})
    name = uptime.canary_name(spec)
    assert 1 <= len(name) <= uptime.CANARY_NAME_MAX
    assert name == uptime.canary_name(spec)  # stable
    other = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD, {"project": project})
    assert uptime.canary_name(other) != name


# -- the script --------------------------------------------------------------------------------


class _Response(io.BytesIO):
    def __init__(self, status: int) -> None:
        super().__init__(b"{}")
        self.status = status


def test_the_script_passes_on_200_and_fails_on_anything_else() -> None:
    seen: list[Any] = []

    def ok(request: Any, timeout: float) -> _Response:
        seen.append((request.full_url, request.get_method(), request.headers, timeout))
        return _Response(200)

    assert script.probe("https://x.example/health", opener=ok) == 200
    url, method, headers, timeout = seen[0]
    assert (url, method) == ("https://x.example/health", "GET")
    assert "Authorization" not in headers and timeout <= uptime.CANARY_TIMEOUT_SECONDS
    with pytest.raises(script.ProbeError, match="HTTP 204"):
        script.probe("https://x.example/health", opener=lambda r, timeout: _Response(204))

    def unavailable(request: Any, timeout: float) -> Any:
        raise urllib.error.HTTPError(request.full_url, 503, "Service Unavailable", {}, None)  # type: ignore[arg-type]

    with pytest.raises(script.ProbeError, match="503"):
        script.probe("https://x.example/health", opener=unavailable)
    with pytest.raises(script.ProbeError, match="non-HTTPS"):
        script.probe("http://x.example/health", opener=ok)
