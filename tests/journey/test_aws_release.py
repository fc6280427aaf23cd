"""The AWS release path, held at its seams (issue 10): the health route the watch and smoke
tests probe, the alarm names the watch and the rollback function look for, the signals both
read, the rollback function's rights against the calls its code makes, and the function and the
watch running against a local AWS (moto's server: CloudWatch alarms, SNS, SSM, IAM 403s) with
recorded GetMetricData answers.

Both sides of every seam come from captured resources or the shipped code, never a restated
constant.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components import rollout
from components.alarms import alarm_name, rollback_alarms
from components.aws import release, release_watch
from components.aws.api_first import health_method_path
from components.aws.managed_platform import VARIANT_NAMES
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import candidate_image, make_spec, of_type, run_component
from tests.journey.aws_iam import as_list, statements
from tests.journey.aws_recorded import get_metric_data_answer
from tests.journey.aws_release_env import (
    MotoAws,
    Recorder,
    iam_enforced,
    load_rollback_package,
    moto_server,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rollout_decisions.json").read_text())
PATTERNS = (Pattern.API_FIRST, Pattern.MANAGED_PLATFORM)
COMPONENT_TYPES = {
    Pattern.API_FIRST: "aideploy:aws:ApiFirst",
    Pattern.MANAGED_PLATFORM: "aideploy:aws:ManagedPlatform",
}


def _overrides(pattern: Pattern, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    image = candidate_image(Cloud.AWS, pattern)
    return {"rollout": {"candidate_version": "1.1.0", "candidate_image": image}, **(extra or {})}


@cache
def _spec(pattern: Pattern, env: Environment = Environment.PROD) -> DeploymentSpec:
    return make_spec(Cloud.AWS, pattern, env, _overrides(pattern))


@cache
def _run(pattern: Pattern, env: Environment = Environment.PROD) -> Capture:
    return run_component(_spec(pattern, env))


def _outputs(pattern: Pattern, env: Environment = Environment.PROD) -> dict[str, Any]:
    run = _run(pattern, env)
    [component] = [r for r in run.resources if r.type == COMPONENT_TYPES[pattern]]
    return dict(run.outputs[component.urn])


def _one(run: Capture, token: str, name: str) -> CapturedResource:
    [found] = [r for r in of_type(run.resources, token) if r.name == name]
    return found


def _mock_arn(resource: CapturedResource) -> str:
    service = resource.type.split(":")[1].split("/")[0].lower()
    return f"arn:aws:{service}:eu-west-1:123456789012:{resource.name}"


# -- the health route (contract 1, review E1 / journey #1) -------------------------------------


def _paths(run: Capture) -> dict[str, str]:
    """Gateway resource id -> its full path, from the captured resources and their parents."""
    api = next(iter(of_type(run.resources, "aws:apigateway/restApi:RestApi")))
    from offline.capture import _fake_id

    api_id = _fake_id(api.type, api.name)
    ids = {f"{api_id}root": ""}
    pending = list(of_type(run.resources, "aws:apigateway/resource:Resource"))
    while pending:
        for r in list(pending):
            parent = r.inputs["parentId"]
            if parent in ids:
                ids[_fake_id(r.type, r.name)] = f"{ids[parent]}/{r.inputs['pathPart']}"
                pending.remove(r)
    return ids


@pytest.mark.parametrize("auth", ["jwt", "api-key", "jwt+api-key"])
def test_the_health_route_is_an_unauthenticated_throttled_get_to_the_models_health_path(
    auth: str,
) -> None:
    spec = make_spec(
        Cloud.AWS,
        Pattern.API_FIRST,
        Environment.PROD,
        _overrides(Pattern.API_FIRST, {"api": {"auth": auth}}),
    )
    run = run_component(spec)
    paths = _paths(run)
    methods = {
        (paths[m.inputs["resourceId"]], m.inputs["httpMethod"]): m
        for m in of_type(run.resources, "aws:apigateway/method:Method")
    }
    integrations = {
        (paths[i.inputs["resourceId"]], i.inputs["httpMethod"]): i
        for i in of_type(run.resources, "aws:apigateway/integration:Integration")
    }
    health = methods[(spec.model.health_path, "GET")]
    assert health.inputs["authorization"] == "NONE"
    assert not health.inputs.get("authorizerId")
    assert health.inputs["apiKeyRequired"] is False
    # predict stays authenticated, whatever the auth mode
    predict = methods[(spec.model.predict_path, "POST")]
    assert predict.inputs["authorization"] == "CUSTOM" or predict.inputs["apiKeyRequired"] is True
    # the same VPC link and ALB, to the model's readiness path (never the predict path)
    hop, pred = (
        integrations[(spec.model.health_path, "GET")],
        integrations[(spec.model.predict_path, "POST")],
    )
    assert hop.inputs["integrationHttpMethod"] == "GET"
    assert hop.inputs["uri"].endswith(spec.model.health_path)
    assert not hop.inputs["uri"].endswith(spec.model.predict_path)
    for key in ("connectionType", "connectionId", "integrationTarget", "requestParameters"):
        assert hop.inputs[key] == pred.inputs[key]
    # the ALB's health check probes that same path on the model: the model answers it
    for tg in of_type(run.resources, "aws:lb/targetGroup:TargetGroup"):
        assert tg.inputs["healthCheck"]["path"] == spec.model.health_path
    # method-level throttling on exactly that route, within the stage's own ceiling
    settings = {
        s.inputs["methodPath"]: s.inputs["settings"]
        for s in of_type(run.resources, "aws:apigateway/methodSettings:MethodSettings")
    }
    route = settings[health_method_path(spec)]
    assert route == {**route, "throttlingRateLimit": pytest.approx(route["throttlingRateLimit"])}
    assert 0 < route["throttlingRateLimit"] <= settings["*/*"]["throttlingRateLimit"]
    assert 0 < route["throttlingBurstLimit"] <= settings["*/*"]["throttlingBurstLimit"]
    assert health_method_path(spec) == f"{spec.model.health_path.lstrip('/')}/GET"
    # on the one stage the WAF guards and the deployment that publishes it
    stage = next(iter(of_type(run.resources, "aws:apigateway/stage:Stage")))
    [association] = of_type(run.resources, "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association.inputs["resourceArn"] == _mock_arn(stage)
    [deployment] = of_type(run.resources, "aws:apigateway/deployment:Deployment")
    assert health.urn in deployment.dependencies
    # the exported URL is the stage's URL of that path, and endpoint_url stays predict
    [component] = [r for r in run.resources if r.type == "aideploy:aws:ApiFirst"]
    outputs = run.outputs[component.urn]
    invoke = outputs["endpoint_url"].removesuffix(spec.model.predict_path)
    assert outputs["health_url"] == invoke + spec.model.health_path
    assert outputs["health_url"].startswith("https://")
    assert outputs["endpoint_url"].endswith(spec.model.predict_path)


def test_a_health_path_sharing_a_segment_with_predict_reuses_the_gateway_resource() -> None:
    # API Gateway rejects two resources with the same path part under one parent.
    spec = make_spec(
        Cloud.AWS,
        Pattern.API_FIRST,
        Environment.DEV,
        {"model": {"predict_path": "/v1/predict", "health_path": "/v1/health"}},
    )
    run = run_component(spec)
    resources = of_type(run.resources, "aws:apigateway/resource:Resource")
    keys = [(r.inputs["parentId"], r.inputs["pathPart"]) for r in resources]
    assert len(keys) == len(set(keys)) == 3
    assert sorted(_paths(run).values()) == ["", "/v1", "/v1/health", "/v1/predict"]


# -- exact alarm names (review #10) ------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_alarm_is_named_exactly_by_its_key_and_the_outputs_name_the_rollback_alarms(
    pattern: Pattern,
) -> None:
    run, spec, outputs = _run(pattern), _spec(pattern), _outputs(pattern)
    alarms = of_type(run.resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    prefix = f"{spec.project}-alarm-"
    for alarm in alarms:
        key = alarm.name.removeprefix(prefix)
        assert alarm.inputs["name"] == alarm_name(spec, key)
        assert len(alarm.inputs["name"]) <= 255
    by_name = {a.inputs["name"]: a for a in alarms}
    expected = [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert outputs["rollback_alarms"] == expected
    assert all(name in by_name for name in expected)
    # the watch finds every one of them by exact name, and a staging alarm never matches
    described = {n: {"AlarmName": n, "StateValue": "OK"} for n in by_name}
    assert release_watch.trigger_from(described, outputs["rollback_alarms"]) is None
    staging = _outputs(pattern, Environment.STAGING)["rollback_alarms"]
    assert not set(staging) & set(by_name)


def test_ecs_and_sagemaker_native_rollback_watch_the_exported_alarms() -> None:
    api = _run(Pattern.API_FIRST)
    canary = _one(api, "aws:ecs/service:Service", f"{_spec(Pattern.API_FIRST).project}-canary")
    assert canary.inputs["alarms"]["alarmNames"] == _outputs(Pattern.API_FIRST)["rollback_alarms"]
    managed = _run(Pattern.MANAGED_PLATFORM)
    [endpoint] = of_type(managed.resources, "aws:sagemaker/endpoint:Endpoint")
    guard = endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    assert [a["alarmName"] for a in guard] == _outputs(Pattern.MANAGED_PLATFORM)["rollback_alarms"]


def test_event_driven_has_no_candidate_to_watch() -> None:
    spec = make_spec(Cloud.AWS, Pattern.EVENT_DRIVEN, Environment.PROD)
    assert "rollback_alarms" not in spec.outputs
    outputs = {"queue_name": "q", "alert_topic": "arn"}
    settings = {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20}
    observation = release_watch.observe(outputs, settings, 10, client=Recorder())
    assert "trigger" not in observation
    assert rollout.decide(rollout.parse_observation(observation)).action is rollout.Action.HOLD
    assert release_watch.drain_candidate(outputs, client=Recorder()).startswith("event-driven")
    assert release_watch.rolled_back(outputs, "1.1.0", client=Recorder()) is False


# -- the signals (reviews E4, E5) --------------------------------------------------------------

QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _alarm(pattern: Pattern, key: str) -> CapturedResource:
    return _one(
        _run(pattern),
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        f"{_spec(pattern).project}-alarm-{key}",
    )


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_alarm_query_is_valid_metric_math(pattern: Pattern) -> None:
    # CloudWatch: ids start lower-case, at most 10 metrics, exactly one query returns data,
    # and an expression refers only to ids of the same alarm.
    for alarm in of_type(_run(pattern).resources, "aws:cloudwatch/metricAlarm:MetricAlarm"):
        queries = alarm.inputs["metricQueries"]
        ids = {q["id"] for q in queries}
        assert all(QUERY_ID.match(i) for i in ids) and len(ids) == len(queries) <= 10
        assert sum(bool(q.get("returnData")) for q in queries) == 1
        for q in queries:
            if "expression" in q:
                refs = set(re.findall(r"\b(?:m\d+|candidate_\w+|stable_\w+)\b", q["expression"]))
                assert refs <= ids - {q["id"]}, (alarm.name, refs)
                assert "{" not in q["expression"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rollback_rules_carry_the_volume_guard_and_compare_with_stable(pattern: Pattern) -> None:
    spec = _spec(pattern)
    guard = f">= {spec.rollout.min_requests}"
    for rule in rollback_alarms(spec):
        alarm = _alarm(pattern, rule.key)
        [expression] = [q["expression"] for q in alarm.inputs["metricQueries"] if "expression" in q]
        assert guard in expression
        assert alarm.inputs["treatMissingData"] == "notBreaching"
        assert alarm.inputs["alarmActions"]  # ticket tier, and the rule below
    ratio = _alarm(pattern, "canary-latency-ratio")
    metrics = {q["id"]: q["metric"] for q in ratio.inputs["metricQueries"] if "metric" in q}
    assert metrics["candidate_p99"]["stat"] == metrics["stable_p99"]["stat"] == "p99"
    assert metrics["candidate_p99"]["dimensions"] != metrics["stable_p99"]["dimensions"]
    assert ratio.inputs["threshold"] == spec.rollout.rollback_latency_multiplier
    starved = _alarm(pattern, "canary-starved")
    assert starved.inputs["comparisonOperator"] == "LessThanThreshold"
    assert starved.inputs["threshold"] == pytest.approx(spec.rollout.canary_percent / 200)


def test_the_api_first_error_rate_counts_connection_errors_on_the_canary_target_group() -> None:
    alarm = _alarm(Pattern.API_FIRST, "canary-error-rate")
    metrics = {
        q["metric"]["metricName"]: q["metric"]
        for q in alarm.inputs["metricQueries"]
        if "metric" in q
    }
    assert set(metrics) == {
        "HTTPCode_Target_5XX_Count",
        "TargetConnectionErrorCount",
        "RequestCount",
    }
    project = _spec(Pattern.API_FIRST).project
    assert {m["dimensions"]["TargetGroup"] for m in metrics.values()} == {f"{project}-canary-tg"}


def _described(alarm: CapturedResource) -> dict[str, Any]:
    """A captured alarm as DescribeAlarms (and PutMetricAlarm) spell it."""
    metrics = []
    for q in alarm.inputs["metricQueries"]:
        item: dict[str, Any] = {"Id": q["id"], "ReturnData": bool(q.get("returnData"))}
        if "expression" in q:
            item["Expression"] = q["expression"]
            item["Label"] = q.get("label", q["id"])
        else:
            m = q["metric"]
            item["MetricStat"] = {
                "Metric": {
                    "Namespace": m["namespace"],
                    "MetricName": m["metricName"],
                    "Dimensions": [
                        {"Name": k, "Value": v} for k, v in sorted(m["dimensions"].items())
                    ],
                },
                "Period": int(m["period"]),  # captured numbers are floats
                "Stat": m["stat"],
            }
        metrics.append(item)
    return {
        "AlarmName": alarm.inputs["name"],
        "Metrics": metrics,
        "EvaluationPeriods": int(alarm.inputs["evaluationPeriods"]),
        "DatapointsToAlarm": int(alarm.inputs["datapointsToAlarm"]),
        "Threshold": alarm.inputs["threshold"],
        "ComparisonOperator": alarm.inputs["comparisonOperator"],
        "TreatMissingData": alarm.inputs["treatMissingData"],
    }


def _rollback_described(pattern: Pattern) -> list[dict[str, Any]]:
    names = set(_outputs(pattern)["rollback_alarms"])
    alarms = of_type(_run(pattern).resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    return [_described(a) for a in alarms if a.inputs["name"] in names]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_watch_samples_the_alarms_own_metrics(pattern: Pattern) -> None:
    described = _rollback_described(pattern)
    queries = release_watch.sample_queries(described, 600)
    ids = {q["Id"] for q in queries}
    alarm_metric_ids = {m["Id"] for a in described for m in a["Metrics"] if "MetricStat" in m}
    assert alarm_metric_ids <= ids
    assert {"candidate_p99", "stable_p99"} <= ids
    assert any(i.startswith("stable_errors_") for i in ids)
    assert all(q["MetricStat"]["Period"] == 600 for q in queries)
    # the stable twin of an error metric has the stable version's dimensions
    for q in queries:
        if q["Id"].startswith("stable_errors_"):
            src = q["Id"].split("_")[2]
            stable = next(x for x in queries if x["Id"] == f"stable_requests_{src}")
            assert (
                q["MetricStat"]["Metric"]["Dimensions"]
                == stable["MetricStat"]["Metric"]["Dimensions"]
            )
    # latency units the watch converts are the ones the alarms use
    p99 = next(q for q in queries if q["Id"] == "candidate_p99")["MetricStat"]["Metric"]
    assert (p99["Namespace"], p99["MetricName"]) in release_watch.LATENCY_TO_MS


@pytest.mark.parametrize("pattern", PATTERNS)
def test_recorded_metric_answers_make_a_valid_observation(pattern: Pattern) -> None:
    queries = release_watch.sample_queries(_rollback_described(pattern), 600)
    answer = get_metric_data_answer(pattern.value)
    samples = release_watch.samples_from(queries, answer["MetricDataResults"])
    spec = _spec(pattern)
    settings = rollout.settings_for(spec)
    observation = rollout.parse_observation(
        {
            **samples,
            "settings": {
                "error_rate": settings.error_rate,
                "latency_multiplier": settings.latency_multiplier,
                "min_requests": settings.min_requests,
            },
        }
    )
    # the recordings: a candidate at 200 requests and 12% 5xx, its p99 in milliseconds
    assert observation.candidate.requests == 200
    assert observation.candidate.errors_5xx == 24
    assert observation.candidate.p99_ms == pytest.approx(480.0)
    assert observation.stable.p99_ms == pytest.approx(150.0)
    assert rollout.decide(observation).action is rollout.Action.ROLLBACK


# -- the rollback function's rights (contract 3) -----------------------------------------------


def _calls_in(tree: ast.AST) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "call"
            and len(node.args) >= 2
        ):
            service, operation = node.args[0], node.args[1]
            if (
                isinstance(service, ast.Constant)
                and isinstance(service.value, str)
                and isinstance(operation, ast.Constant)
                and isinstance(operation.value, str)
            ):
                found.add((service.value, operation.value))
    return found


def _code_calls() -> set[tuple[str, str]]:
    """Every AWS call the function's code makes: in handler.py, and in each release_watch
    function it uses (and the release_watch functions those use)."""
    handler = ast.parse(release.archive_files()["handler.py"].read_text())
    watch = ast.parse(release.archive_files()["release_watch.py"].read_text())
    functions = {f.name: f for f in ast.walk(watch) if isinstance(f, ast.FunctionDef)}
    used = {
        n.attr
        for n in ast.walk(handler)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "release_watch"
    }
    pending, seen = [u for u in used if u in functions], set()
    calls = _calls_in(handler)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        calls |= _calls_in(functions[name])
        pending += [
            n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id in functions
        ]
    return calls


def test_the_call_table_is_exactly_the_calls_the_code_makes() -> None:
    assert _code_calls() == set(release.API_CALLS)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_rollback_role_holds_exactly_what_its_code_calls_on_exactly_its_resources(
    pattern: Pattern,
) -> None:
    run, outputs, spec = _run(pattern), _outputs(pattern), _spec(pattern)
    project = spec.project
    [policy] = [
        p
        for p in of_type(run.resources, "aws:iam/rolePolicy:RolePolicy")
        if p.name.startswith(f"{project}-rollback-role")
    ]
    granted: dict[str, list[str]] = {}
    for s in statements(policy.inputs["policy"]):
        assert s["Effect"] == "Allow"
        for action in as_list(s["Action"]):
            granted.setdefault(action, []).extend(as_list(s["Resource"]))
    other = (
        "apigateway:PATCH"
        if pattern is Pattern.MANAGED_PLATFORM
        else "sagemaker:UpdateEndpointWeightsAndCapacities"
    )
    needed = {a for a in release.API_CALLS.values() if a != other} | set(release.PLATFORM_ACTIONS)
    assert set(granted) == needed
    alarms = {
        a.inputs["name"]: a
        for a in of_type(run.resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert sorted(granted["cloudwatch:DescribeAlarms"]) == sorted(
        _mock_arn(alarms[n]) for n in outputs["rollback_alarms"]
    )
    assert granted["cloudwatch:GetMetricData"] == ["*"]  # no resource-level permissions exist
    topics = {
        t.name.rsplit("-", 1)[1]: _mock_arn(t)
        for t in of_type(run.resources, "aws:sns/topic:Topic")
    }
    assert sorted(granted["sns:Publish"]) == sorted([topics["ticket"], topics["page"]])
    marker = str(release_watch.marker_parameter(outputs))
    assert granted["ssm:PutParameter"] == [f"arn:aws:ssm:eu-west-1:123456789012:parameter{marker}"]
    [fn] = [
        f
        for f in of_type(run.resources, "aws:lambda/function:Function")
        if f.name == f"{project}-rollback"
    ]
    env = fn.inputs["environment"]["variables"]
    assert env["MARKER_PARAMETER"] == marker
    assert json.loads(env["ALARM_NAMES"]) == outputs["rollback_alarms"]
    assert env["TICKET_TOPIC_ARN"] == topics["ticket"] and env["PAGE_TOPIC_ARN"] == topics["page"]
    if pattern is Pattern.API_FIRST:
        stage = next(iter(of_type(run.resources, "aws:apigateway/stage:Stage")))
        stage_path = f"/restapis/{outputs['api_id']}/stages/{stage.inputs['stageName']}"
        arn = f"arn:aws:apigateway:eu-west-1::{stage_path}"
        assert granted["apigateway:PATCH"] == [arn]
        assert env["REST_API_ID"] == outputs["api_id"]
    else:
        endpoint = outputs["endpoint_name"]
        assert granted["sagemaker:UpdateEndpointWeightsAndCapacities"] == [
            f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{endpoint.lower()}"
        ]
        assert env["ENDPOINT_NAME"] == endpoint
    # woken by exactly its rollback alarms entering ALARM
    [rule] = [
        r
        for r in of_type(run.resources, "aws:cloudwatch/eventRule:EventRule")
        if r.name == f"{project}-rollback-rule"
    ]
    pattern_doc = json.loads(rule.inputs["eventPattern"])
    assert pattern_doc["resources"] == sorted(
        _mock_arn(alarms[n]) for n in outputs["rollback_alarms"]
    )
    assert pattern_doc["detail"] == {"state": {"value": ["ALARM"]}}
    [permission] = [
        p
        for p in of_type(run.resources, "aws:lambda/permission:Permission")
        if p.name == f"{project}-rollback-invoke"
    ]
    assert permission.inputs["sourceArn"] == _mock_arn(rule)
    # the archive ships the one decision under the name the handler imports
    files = release.archive_files()
    assert files["rollout_decision.py"].read_bytes() == Path(rollout.__file__).read_bytes()


def test_the_watch_and_the_component_agree_on_sagemaker_variant_names() -> None:
    names = (VARIANT_NAMES["stable"], VARIANT_NAMES["canary"])
    assert names == (release_watch.STABLE_VARIANT, release_watch.CANDIDATE_VARIANT)


# -- the rollback function against a local AWS -------------------------------------------------


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoAws]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_rollback_package(release.archive_files(), tmp_path_factory.mktemp("rollback_fn"))


def _put_alarms(aws: MotoAws, pattern: Pattern) -> list[str]:
    cw = aws.client("cloudwatch")
    names = []
    for alarm in _rollback_described(pattern):
        cw.put_metric_alarm(**alarm)
        names.append(alarm["AlarmName"])
    return names


def _topic_inbox(aws: MotoAws, name: str) -> tuple[str, str]:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, queue


def _received(aws: MotoAws, queue: str) -> list[dict[str, Any]]:
    messages = (
        aws.client("sqs")
        .receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def _config(handler: Any, pattern: Pattern, names: list[str], ticket: str, page: str) -> Any:
    outputs, spec = _outputs(pattern), _spec(pattern)
    s = rollout.settings_for(spec)
    return handler.Config(
        pattern=pattern.value,
        alarm_names=tuple(names),
        settings={
            "error_rate": s.error_rate,
            "latency_multiplier": s.latency_multiplier,
            "min_requests": s.min_requests,
        },
        window_minutes=release.ROLLBACK_WINDOW_MINUTES,
        candidate_version=str(spec.rollout.candidate_version),
        marker_parameter=str(release_watch.marker_parameter(outputs)),
        ticket_topic=ticket,
        page_topic=page,
        rest_api_id=str(outputs.get("api_id", "")),
        stage_name=spec.environment.value,
        endpoint_name=str(outputs.get("endpoint_name", "")),
    )


def _event(name: str, state: str = "ALARM") -> dict[str, Any]:
    return {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {"alarmName": name, "state": {"value": state}},
    }


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_verified_alarm_with_bad_fresh_data_rolls_back_marks_and_tickets(
    aws: MotoAws, handler: Any, pattern: Pattern
) -> None:
    names = _put_alarms(aws, pattern)
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=names[0], StateValue="ALARM", StateReason="test"
    )
    ticket, ticket_inbox = _topic_inbox(aws, f"{pattern.value}-ticket")
    page, page_inbox = _topic_inbox(aws, f"{pattern.value}-page")
    config = _config(handler, pattern, names, ticket, page)
    api = Recorder(
        handler.BotoApi(**aws.boto_args()),
        answers={
            ("cloudwatch", "GetMetricData"): get_metric_data_answer(pattern.value),
            ("apigateway", "UpdateStage"): {},
            ("sagemaker", "UpdateEndpointWeightsAndCapacities"): {},
        },
    )
    report = handler.handle(_event(names[0]), config, api)
    assert (report["action"], report["page"]) == ("rollback", False)
    drain = [c for c in api.calls if c[1] in {"UpdateStage", "UpdateEndpointWeightsAndCapacities"}]
    if pattern is Pattern.API_FIRST:
        assert drain == [
            (
                "apigateway",
                "UpdateStage",
                {
                    "restApiId": config.rest_api_id,
                    "stageName": config.stage_name,
                    "patchOperations": [
                        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0"}
                    ],
                },
            )
        ]
    else:
        weights = drain[0][2]["DesiredWeightsAndCapacities"]
        assert {w["VariantName"]: w["DesiredWeight"] for w in weights} == {
            VARIANT_NAMES["stable"]: 1.0,
            VARIANT_NAMES["canary"]: 0.0,
        }
    # the marker the pipeline reads, through the watch's own reader
    outputs = _outputs(pattern)
    # (the archive's copy of release_watch: its ApiError is the one BotoApi raises)
    watch, watch_api = handler.release_watch, handler.BotoApi(**aws.boto_args())
    assert watch.rolled_back(outputs, "1.1.0", client=watch_api) is True
    assert watch.rolled_back(outputs, "1.2.0", client=watch_api) is False
    [message] = _received(aws, ticket_inbox)
    assert message["action"] == "rollback"
    assert _received(aws, page_inbox) == []


def test_an_alarm_that_is_ok_by_the_time_it_is_read_is_ignored(aws: MotoAws, handler: Any) -> None:
    names = _put_alarms(aws, Pattern.API_FIRST)
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=names[1], StateValue="OK", StateReason="recovered"
    )
    ticket, ticket_inbox = _topic_inbox(aws, "stale-ticket")
    page, page_inbox = _topic_inbox(aws, "stale-page")
    api = Recorder(handler.BotoApi(**aws.boto_args()))
    report = handler.handle(
        _event(names[1]), _config(handler, Pattern.API_FIRST, names, ticket, page), api
    )
    assert report["action"] == "ignore"
    assert api.operations() == [("cloudwatch", "DescribeAlarms")]
    # no marker: a stack that was never rolled back reads as not rolled back (ParameterNotFound)
    watch = handler.release_watch
    never = {"api_id": "neverrolledback", "rollback_alarms": names}
    assert watch.rolled_back(never, "1.1.0", client=handler.BotoApi(**aws.boto_args())) is False
    assert _received(aws, ticket_inbox) == _received(aws, page_inbox) == []


def test_a_denied_alarm_read_holds_and_pages(aws: MotoAws, handler: Any) -> None:
    names = _put_alarms(aws, Pattern.API_FIRST)
    ticket, _ = _topic_inbox(aws, "denied-ticket")
    page, page_inbox = _topic_inbox(aws, "denied-page")
    credentials = aws.user_denied(["sns:Publish"])
    api = Recorder(handler.BotoApi(**aws.boto_args(**credentials)))
    with iam_enforced():
        report = handler.handle(
            _event(names[0]), _config(handler, Pattern.API_FIRST, names, ticket, page), api
        )
    assert (report["action"], report["page"]) == ("hold", True)
    assert "AccessDenied" in report["observation"]["trigger"]["rule"]
    assert api.operations() == [("cloudwatch", "DescribeAlarms"), ("sns", "Publish")]
    [message] = _received(aws, page_inbox)
    assert message["page"] is True


@pytest.mark.parametrize(
    "event",
    [
        _event("someone-elses-alarm"),
        {"source": "aws.cloudwatch", "detail": {}},
        {
            "source": "forged",
            "detail-type": "CloudWatch Alarm State Change",
            "detail": {"alarmName": "x"},
        },
    ],
)
def test_an_unknown_or_malformed_event_is_never_acted_on(
    handler: Any, event: dict[str, Any]
) -> None:
    api = Recorder(answers={("sns", "Publish"): {}})
    config = _config(handler, Pattern.API_FIRST, ["a", "b"], "ticket", "page")
    report = handler.handle(event, config, api)
    assert (report["action"], report["page"]) == ("hold", True)
    assert api.operations() == [("sns", "Publish")]
    assert api.calls[0][2]["TopicArn"] == "page"


@pytest.mark.parametrize("vector", VECTORS["decisions"], ids=lambda v: v["name"])
def test_the_function_acts_on_every_shared_decision_vector(
    handler: Any, vector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "observe", lambda event, config, api: vector["input"])
    api = Recorder(answers={(s, o): {} for s, o in release.API_CALLS})
    config = _config(handler, Pattern.API_FIRST, ["a"], "ticket", "page")
    report = handler.handle(_event("a"), config, api)
    assert (report["action"], report["page"]) == (vector["action"], vector["page"])
    expected = {
        ("rollback", False): [
            ("apigateway", "UpdateStage"),
            ("ssm", "PutParameter"),
            ("sns", "Publish"),
        ],
        ("hold", True): [("sns", "Publish")],
        ("hold", False): [("sns", "Publish")],
        ("ignore", False): [],
    }[(vector["action"], vector["page"])]
    assert api.operations() == expected
    topics = [c[2]["TopicArn"] for c in api.calls if c[1] == "Publish"]
    assert topics == (["page"] if vector["page"] else ["ticket"] if expected else [])


# -- the pipeline's watch (contract 2) ---------------------------------------------------------

SETTINGS = {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_watch_observes_through_moto_and_recorded_metrics(
    aws: MotoAws, handler: Any, pattern: Pattern
) -> None:
    names = _put_alarms(aws, pattern)
    cw = aws.client("cloudwatch")
    for name in names:
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset")
    outputs = _outputs(pattern)
    watch = handler.release_watch  # the archive's copy: its ApiError is BotoApi's
    api = Recorder(
        handler.BotoApi(**aws.boto_args()),
        answers={("cloudwatch", "GetMetricData"): get_metric_data_answer(pattern.value)},
    )
    quiet = watch.observe(outputs, SETTINGS, 10, client=api)
    assert "trigger" not in quiet
    assert rollout.decide(rollout.parse_observation(quiet)).action is rollout.Action.ROLLBACK
    cw.set_alarm_state(AlarmName=names[2], StateValue="ALARM", StateReason="test")
    firing = watch.observe(outputs, SETTINGS, 10, client=api)
    assert firing["trigger"] == {"verified": True, "firing": True, "rule": names[2]}
    rollout.parse_observation(firing)
    # a 403 on the alarms is an unverifiable trigger, never "nothing fires"
    denied = aws.user_denied(["cloudwatch:GetMetricData"])
    with iam_enforced():
        blocked = watch.observe(
            outputs, SETTINGS, 10, client=handler.BotoApi(**aws.boto_args(**denied))
        )
    assert blocked["trigger"]["verified"] is False
    assert rollout.decide(rollout.parse_observation(blocked)).page is True
    # an alarm the outputs name but the account lacks cannot be verified either
    missing = watch.observe(
        {**outputs, "rollback_alarms": [*names, "gone"]}, SETTINGS, 10, client=api
    )
    assert missing["trigger"]["verified"] is False


def test_the_watch_drains_through_the_same_split_as_the_function() -> None:
    api_first = _outputs(Pattern.API_FIRST)
    api = Recorder(
        answers={
            ("apigateway", "GetStages"): {
                "item": [{"stageName": "prod", "canarySettings": {"percentTraffic": 10.0}}]
            },
            ("apigateway", "UpdateStage"): {},
        }
    )
    line = release_watch.drain_candidate(api_first, client=api)
    assert "0%" in line
    assert api.calls[-1][2]["patchOperations"] == release_watch.stage_patch()
    managed = _outputs(Pattern.MANAGED_PLATFORM)
    api = Recorder(answers={("sagemaker", "UpdateEndpointWeightsAndCapacities"): {}})
    release_watch.drain_candidate(managed, client=api)
    assert api.calls == [
        (
            "sagemaker",
            "UpdateEndpointWeightsAndCapacities",
            {
                "EndpointName": managed["endpoint_name"],
                "DesiredWeightsAndCapacities": release_watch.stable_weights(),
            },
        )
    ]


def test_the_cli_transport_reports_denials_and_garbage_as_api_errors() -> None:
    import subprocess

    def runner(code: int, out: str, err: str) -> Any:
        def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
            runner.argv = argv  # type: ignore[attr-defined]
            return subprocess.CompletedProcess(argv, code, out, err)

        return run

    ok = release_watch.CliApi(region="eu-west-1", run=runner(0, '{"MetricAlarms": []}', ""))
    assert ok.call("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a"]}) == {"MetricAlarms": []}
    assert runner.argv[:3] == ["aws", "cloudwatch", "describe-alarms"]  # type: ignore[attr-defined]
    assert json.loads(runner.argv[4]) == {"AlarmNames": ["a"]}  # type: ignore[attr-defined]
    denied = release_watch.CliApi(
        run=runner(
            254,
            "",
            "An error occurred (AccessDenied) when calling the DescribeAlarms operation: no",
        )
    )
    with pytest.raises(release_watch.ApiError, match="AccessDenied"):
        denied.call("cloudwatch", "DescribeAlarms", {})
    garbage = release_watch.CliApi(run=runner(0, "<html>", ""))
    with pytest.raises(release_watch.ApiError, match="not JSON"):
        garbage.call("cloudwatch", "DescribeAlarms", {})
    observation = release_watch.observe(_outputs(Pattern.API_FIRST), SETTINGS, 10, client=denied)
    assert observation["trigger"]["verified"] is False
    assert release_watch.CLI_TOOLS == ("aws",)


# -- the pipeline's drain leaves the marker the function leaves (E8, issue 10 review) ---------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pipeline_drain_writes_the_functions_marker_and_the_guard_sees_it(
    aws: MotoAws, handler: Any, pattern: Pattern
) -> None:
    # A stack of its own (fresh api id / endpoint name) on the shared moto server.
    outputs = {**_outputs(pattern), "api_id": "drained0", "endpoint_name": "drained-ep"}
    if pattern is Pattern.MANAGED_PLATFORM:
        outputs.pop("api_id")
    watch, boto = handler.release_watch, handler.BotoApi(**aws.boto_args())
    api = Recorder(
        boto,
        answers={
            ("apigateway", "GetStages"): {
                "item": [{"stageName": "prod", "canarySettings": {"percentTraffic": 10.0}}]
            },
            ("apigateway", "UpdateStage"): {},
            ("sagemaker", "UpdateEndpointWeightsAndCapacities"): {},
        },
    )
    assert watch.rolled_back(outputs, "2.0.0", client=boto) is False
    line = watch.drain_candidate(outputs, client=api, candidate_version="2.0.0")
    # traffic first, then the marker
    assert api.operations()[-1] == ("ssm", "PutParameter")
    assert api.operations()[-2][1] in {"UpdateStage", "UpdateEndpointWeightsAndCapacities"}
    assert "2.0.0" in line
    assert watch.rolled_back(outputs, "2.0.0", client=boto) is True
    # another candidate is not the rolled-back one: the marker is ignored for it
    assert watch.rolled_back(outputs, "2.1.0", client=boto) is False
    # the same parameter and body the function writes (its PutParameter from the same config)
    function_api = Recorder(answers={(s, o): {} for s, o in release.API_CALLS})
    config = _config(handler, pattern, ["a"], "ticket", "page")
    config = type(config)(
        **{**config.__dict__, "marker_parameter": watch.marker_parameter(outputs)}
    )
    handler._rollback(function_api, config, {})
    [function_put] = [c[2] for c in function_api.calls if c[1] == "PutParameter"]
    [drain_put] = [c[2] for c in api.calls if c[1] == "PutParameter"]
    assert drain_put == {**function_put, "Value": "2.0.0"}


def test_a_drain_without_a_version_moves_traffic_and_says_no_marker() -> None:
    api = Recorder(answers={("sagemaker", "UpdateEndpointWeightsAndCapacities"): {}})
    line = release_watch.drain_candidate(_outputs(Pattern.MANAGED_PLATFORM), client=api)
    assert api.operations() == [("sagemaker", "UpdateEndpointWeightsAndCapacities")]
    assert "NOT written" in line


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_pulumi_resource_holds_the_marker_so_a_later_up_keeps_it(pattern: Pattern) -> None:
    # The marker survives any `pulumi up` (same or older stack file) because no resource of
    # the stack is that SSM parameter, nor any parameter at all under its prefix.
    marker = str(release_watch.marker_parameter(_outputs(pattern)))
    for env in (Environment.PROD, Environment.DEV):
        run = run_component(make_spec(Cloud.AWS, pattern, env))
        for resource in run.resources:
            values = json.dumps(resource.inputs, default=str)
            assert release_watch.MARKER_PREFIX not in values or resource.type in {
                "aws:lambda/function:Function",
                "aws:iam/role:Role",
                "aws:iam/rolePolicy:RolePolicy",
                "aws:iam/policy:Policy",
            }, resource.type
        assert not [r for r in run.resources if r.type.startswith("aws:ssm/parameter")]
    assert marker.startswith(release_watch.MARKER_PREFIX)
