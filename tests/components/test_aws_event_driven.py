"""AwsEventDriven under Pulumi mocks: the resources it registers and their settings."""

from __future__ import annotations

import json
from functools import cache
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.alarms import (
    MAX_DELIVERIES,
    Signal,
    alarm_name,
    event_alarms,
    max_processing_seconds,
    visibility_timeout_seconds,
)
from components.aws.event_driven import (
    BATCH_SCHEDULE,
    DEAD_LETTER_RETENTION_DAYS,
    JOBS_RETENTION_DAYS,
    POLICY_WAIVERS,
    SCALE_IN_MINUTES,
    STATUS_KEY,
    STATUS_TTL_ATTRIBUTE,
    deployment_dimension,
    policy_waivers,
    scale_out_steps,
    trail_name,
    worker_bounds,
)
from components.aws.fargate import fargate_cpu
from components.aws.monitoring import WORKER_NAMESPACE
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import candidate_image, make_spec, of_type, run_component

CANDIDATE_IMAGE = candidate_image(Cloud.AWS, Pattern.EVENT_DRIVEN)

ENVS = list(Environment)
PROJECT = "acme-support"
ACCOUNT = "123456789012"

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
BUCKET = "aws:s3/bucket:Bucket"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@cache
def _spec(env: Environment) -> DeploymentSpec:
    return make_spec(Cloud.AWS, Pattern.EVENT_DRIVEN, env)


@cache
def _run(env: Environment) -> Capture:
    return run_component(_spec(env))


def one(resources: list[CapturedResource], token: str, name: str | None = None) -> CapturedResource:
    found = [r for r in of_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def mock_arn(resource: CapturedResource) -> str:
    """The ARN the capture mocks give a resource (service from its type, name from its name)."""
    service = resource.type.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:eu-west-1:{ACCOUNT}:{resource.name}"


def statements(text: str) -> list[dict[str, Any]]:
    found = json.loads(text)["Statement"]
    return found if isinstance(found, list) else [found]


def depends_on(resource: CapturedResource, prop: str, target: CapturedResource) -> bool:
    return target.urn in resource.property_dependencies.get(prop, [])


def role_statements(run: Capture, role: str) -> list[dict[str, Any]]:
    policy = one(run.resources, ROLE_POLICY, f"{PROJECT}-{role}-policy")
    return statements(policy.inputs["policy"])


@pytest.mark.parametrize("env", ENVS)
def test_registers_every_part_of_the_pattern(env: Environment) -> None:
    types = {r.type for r in _run(env).resources}
    expected = {
        "aws:kms/key:Key",
        BUCKET,
        "aws:s3/bucketNotification:BucketNotification",
        RULE,
        TARGET,
        "aws:scheduler/schedule:Schedule",
        QUEUE,
        QUEUE_POLICY,
        "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
        "aws:dynamodb/table:Table",
        TOPIC,
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:ecs/cluster:Cluster",
        "aws:ecs/taskDefinition:TaskDefinition",
        "aws:ecs/service:Service",
        "aws:appautoscaling/target:Target",
        "aws:appautoscaling/policy:Policy",
        ALARM,
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:cloudtrail/trail:Trail",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/flowLog:FlowLog",
    }
    assert expected <= types, expected - types


@pytest.mark.parametrize("env", ENVS)
def test_outputs_are_the_patterns_and_every_resource_descends_from_the_component(
    env: Environment,
) -> None:
    run = _run(env)
    component = one(run.resources, "aideploy:aws:EventDriven")
    outputs = run.outputs[component.urn]
    assert set(outputs) == set(_spec(env).outputs)
    assert all(v is not None for v in outputs.values())
    jobs = one(run.resources, QUEUE, f"{PROJECT}-jobs")
    dlq = one(run.resources, QUEUE, f"{PROJECT}-dead-letters")
    assert (outputs["queue_name"], outputs["dead_letter_queue_name"]) == (jobs.name, dlq.name)
    assert outputs["notification_topic"] == mock_arn(
        one(run.resources, TOPIC, f"{PROJECT}-notifications")
    )
    assert outputs["alert_topic"] == mock_arn(one(run.resources, TOPIC, f"{PROJECT}-alerts-page"))
    parents = {r.urn: r.parent for r in run.resources}
    for r in run.resources:
        if not r.custom:
            continue
        urn = r.urn
        while urn and urn != component.urn:
            urn = parents.get(urn, "")
        assert urn == component.urn, f"{r.type} {r.name} is not under the component"


@pytest.mark.parametrize("env", ENVS)
def test_jobs_redrive_to_the_dead_letter_queue_after_bounded_deliveries(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    jobs = one(run.resources, QUEUE, f"{PROJECT}-jobs")
    dlq = one(run.resources, QUEUE, f"{PROJECT}-dead-letters")
    assert json.loads(jobs.inputs["redrivePolicy"]) == {
        "deadLetterTargetArn": mock_arn(dlq),
        "maxReceiveCount": MAX_DELIVERIES,
    }
    assert MAX_DELIVERIES == 5
    # Derived: 6x the worker's maximum processing time, itself derived from the p99 alarm.
    assert jobs.inputs["visibilityTimeoutSeconds"] == visibility_timeout_seconds(spec)
    assert jobs.inputs["visibilityTimeoutSeconds"] == 6 * max_processing_seconds(spec)
    # A dead letter keeps its original enqueue time: the DLQ must outlive the jobs queue.
    jobs_days = min(JOBS_RETENTION_DAYS, spec.retention.data_days)
    assert jobs.inputs["messageRetentionSeconds"] == jobs_days * 86400
    assert dlq.inputs["messageRetentionSeconds"] == DEAD_LETTER_RETENTION_DAYS * 86400
    assert dlq.inputs["messageRetentionSeconds"] > jobs.inputs["messageRetentionSeconds"]
    assert "redrivePolicy" not in dlq.inputs
    allow = one(run.resources, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [mock_arn(jobs)],
    }
    key = one(run.resources, "aws:kms/key:Key")
    for queue in (jobs, dlq):
        assert queue.inputs["kmsMasterKeyId"] == mock_arn(key)


def test_queue_policies_deny_plain_http_and_let_only_the_upload_rule_send() -> None:
    run = _run(Environment.PROD)
    rule = one(run.resources, RULE, f"{PROJECT}-upload-rule")
    policies = of_type(run.resources, QUEUE_POLICY)
    assert len(policies) == 2
    for policy in policies:
        found = statements(policy.inputs["policy"])
        deny = [s for s in found if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        [grant] = [s for s in found if s["Effect"] == "Allow"]
        assert grant["Principal"] == {"Service": "events.amazonaws.com"}
        assert grant["Action"] == ["sqs:SendMessage"]
        assert grant["Condition"] == {"ArnEquals": {"aws:SourceArn": [mock_arn(rule)]}}


@pytest.mark.parametrize("env", ENVS)
def test_three_triggers_feed_the_jobs_queue(env: Environment) -> None:
    run = _run(env)
    jobs = one(run.resources, QUEUE, f"{PROJECT}-jobs")
    dlq = one(run.resources, QUEUE, f"{PROJECT}-dead-letters")
    input_bucket = one(run.resources, BUCKET, f"{PROJECT}-input")
    # 1. upload: S3 -> EventBridge -> rule on this bucket's Object Created -> jobs queue
    [notification] = [
        n
        for n in of_type(run.resources, "aws:s3/bucketNotification:BucketNotification")
        if depends_on(n, "bucket", input_bucket)
    ]
    assert notification.inputs["eventbridge"] is True
    rule = one(run.resources, RULE, f"{PROJECT}-upload-rule")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail-type"] == ["Object Created"] and pattern["source"] == ["aws.s3"]
    assert depends_on(rule, "eventPattern", input_bucket)
    target = one(run.resources, TARGET, f"{PROJECT}-upload-target")
    assert target.inputs["arn"] == mock_arn(jobs)
    assert target.inputs["deadLetterConfig"] == {"arn": mock_arn(dlq)}
    # 2. authenticated submit: a producer role allowed to send to this queue only
    sends = [s for s in role_statements(run, "producer-role") if "sqs:SendMessage" in s["Action"]]
    assert [s["Resource"] for s in sends] == [[mock_arn(jobs)]]
    # 3. schedule: EventBridge Scheduler with its own role, dead letters to the DLQ
    schedule = one(run.resources, "aws:scheduler/schedule:Schedule")
    assert schedule.inputs["scheduleExpression"] == BATCH_SCHEDULE
    assert schedule.inputs["target"]["arn"] == mock_arn(jobs)
    assert schedule.inputs["target"]["deadLetterConfig"] == {"arn": mock_arn(dlq)}
    scheduler_role = one(run.resources, ROLE, f"{PROJECT}-scheduler-role")
    assert schedule.inputs["target"]["roleArn"] == mock_arn(scheduler_role)
    [send] = [s for s in role_statements(run, "scheduler-role") if "sqs:SendMessage" in s["Action"]]
    assert send["Resource"] == [mock_arn(jobs), mock_arn(dlq)]


@pytest.mark.parametrize("env", ENVS)
def test_workers_scale_on_queue_depth_within_the_bounds(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    low, high = worker_bounds(spec)
    assert high == spec.capacity.max_instances
    assert low == (0 if env is Environment.DEV else spec.capacity.min_instances)
    target = one(run.resources, "aws:appautoscaling/target:Target")
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (low, high)
    service = one(run.resources, "aws:ecs/service:Service")
    assert service.inputs["desiredCount"] == low
    policies = {p.name: p for p in of_type(run.resources, "aws:appautoscaling/policy:Policy")}
    out = policies[f"{PROJECT}-worker-scale-out"].inputs["stepScalingPolicyConfiguration"]
    assert [
        (float(s["metricIntervalLowerBound"]), s["scalingAdjustment"])
        for s in out["stepAdjustments"]
    ] == [(float(lo), add) for lo, _, add in scale_out_steps(high)]
    scale_in = policies[f"{PROJECT}-worker-scale-in"].inputs["stepScalingPolicyConfiguration"]
    assert scale_in["adjustmentType"] == "PercentChangeInCapacity"
    assert scale_in["stepAdjustments"][0]["scalingAdjustment"] < 0
    alarms = {a.name: a for a in of_type(run.resources, ALARM)}
    jobs = one(run.resources, QUEUE, f"{PROJECT}-jobs")
    for role, periods in (("scale-out", 1), ("scale-in", SCALE_IN_MINUTES)):
        alarm = alarms[f"{PROJECT}-worker-{role}-alarm"]
        assert alarm.inputs["alarmActions"] == [mock_arn(policies[f"{PROJECT}-worker-{role}"])]
        assert alarm.inputs["evaluationPeriods"] == periods
        [query] = alarm.inputs["metricQueries"]
        assert query["metric"]["metricName"] == "ApproximateNumberOfMessagesVisible"
        assert query["metric"]["dimensions"] == {"QueueName": jobs.name}


@given(st.integers(min_value=1, max_value=500))
def test_scale_out_steps_cover_every_backlog_contiguously(max_workers: int) -> None:
    steps = scale_out_steps(max_workers)
    assert steps[0][0] == 0 and steps[-1][1] is None
    for (_, upper, _), (lower, _, _) in pairwise(steps):
        assert upper == lower
    adds = [add for _, _, add in steps]
    assert adds == sorted(adds) and adds[0] == 1 and adds[-1] == max_workers
    assert all(lo < up for lo, up, _ in steps if up is not None)


def test_fargate_cpu_rounds_up_to_a_valid_size() -> None:
    assert fargate_cpu(0.25) == "256"
    assert fargate_cpu(0.3) == "512"
    assert fargate_cpu(1) == "1024"
    assert fargate_cpu(16) == "16384"


@pytest.mark.parametrize("env", ENVS)
def test_data_is_encrypted_private_logged_and_kept_for_the_profile(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    key = one(run.resources, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    buckets = {b.name: b for b in of_type(run.resources, BUCKET)}
    assert set(buckets) == {f"{PROJECT}-{r}" for r in ("input", "results", "access-logs", "audit")}
    expected_days = {
        f"{PROJECT}-input": spec.retention.data_days,
        f"{PROJECT}-results": spec.retention.data_days,
        f"{PROJECT}-access-logs": spec.retention.log_days,
        f"{PROJECT}-audit": spec.retention.log_days,
    }
    for name, bucket in buckets.items():
        sse = one(
            run.resources,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-sse",
        )
        default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": mock_arn(key)}
        block = one(
            run.resources,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-public-access",
        )
        assert all(block.inputs[f] is True for f in ("blockPublicAcls", "blockPublicPolicy"))
        lifecycle = one(
            run.resources,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            f"{name}-lifecycle",
        )
        assert lifecycle.inputs["rules"][0]["expiration"]["days"] == expected_days[name]
        assert bucket.inputs["forceDestroy"] is not spec.retention.deletion_protection
    log_bucket = buckets[f"{PROJECT}-access-logs"]
    for logging in of_type(run.resources, "aws:s3/bucketLogging:BucketLogging"):
        assert depends_on(logging, "targetBucket", log_bucket)
    assert len(of_type(run.resources, "aws:s3/bucketLogging:BucketLogging")) == 3
    table = one(run.resources, "aws:dynamodb/table:Table")
    assert table.inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": mock_arn(key)}
    assert table.inputs["pointInTimeRecovery"]["enabled"] is True
    assert table.inputs["ttl"] == {"attributeName": STATUS_TTL_ATTRIBUTE, "enabled": True}
    assert table.inputs["hashKey"] == STATUS_KEY
    assert table.inputs["deletionProtectionEnabled"] is spec.retention.deletion_protection
    for group in of_type(run.resources, "aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["retentionInDays"] == spec.retention.log_days
        assert group.inputs["kmsKeyId"] == mock_arn(key)


def test_notification_topic_is_encrypted_tls_only_and_fed_by_completions() -> None:
    run = _run(Environment.PROD)
    topic = one(run.resources, TOPIC, f"{PROJECT}-notifications")
    key = one(run.resources, "aws:kms/key:Key")
    assert topic.inputs["kmsMasterKeyId"] == mock_arn(key)
    policy = one(
        run.resources, "aws:sns/topicPolicy:TopicPolicy", f"{PROJECT}-notifications-policy"
    )
    found = statements(policy.inputs["policy"])
    deny = [s for s in found if s["Effect"] == "Deny"]
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rule = one(run.resources, RULE, f"{PROJECT}-completion-rule")
    results = one(run.resources, BUCKET, f"{PROJECT}-results")
    assert depends_on(rule, "eventPattern", results)
    [events] = [s for s in found if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert events["Condition"] == {"ArnEquals": {"aws:SourceArn": [mock_arn(rule)]}}
    target = one(run.resources, TARGET, f"{PROJECT}-completion-target")
    assert target.inputs["arn"] == mock_arn(topic)
    template = target.inputs["inputTransformer"]["inputTemplate"]
    assert '"outcome": "completed"' in template
    # Failures are the worker's to announce: it may publish to this topic and nothing else.
    [publish] = [s for s in role_statements(run, "worker-role") if "sns:Publish" in s["Action"]]
    assert publish["Resource"] == [mock_arn(topic)]


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_rule_with_threshold_routed_to_its_tier(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    rules = event_alarms(spec)
    assert {r.signal for r in rules} >= {
        Signal.QUEUE_DEPTH,
        Signal.QUEUE_OLDEST_AGE,
        Signal.DEAD_LETTERS,
        Signal.WORKER_ERROR_RATE,
        Signal.LATENCY_P50,
        Signal.LATENCY_P95,
        Signal.LATENCY_P99,
    }
    alarms = {a.name: a for a in of_type(run.resources, ALARM)}
    topics = {t.name: t for t in of_type(run.resources, TOPIC)}
    assert len(alarms) == len(rules) + 2  # plus the two scaling alarms
    jobs = one(run.resources, QUEUE, f"{PROJECT}-jobs")
    dlq = one(run.resources, QUEUE, f"{PROJECT}-dead-letters")
    watched = {
        Signal.QUEUE_DEPTH: {"QueueName": jobs.name},
        Signal.QUEUE_OLDEST_AGE: {"QueueName": jobs.name},
        Signal.DEAD_LETTERS: {"QueueName": dlq.name},
    }
    for rule in rules:
        alarm = alarms[f"{PROJECT}-alarm-{rule.key}"]
        assert alarm.inputs["threshold"] == pytest.approx(rule.threshold)
        assert alarm.inputs["evaluationPeriods"] == rule.evaluation_periods
        topic = topics[f"{PROJECT}-alerts-{rule.tier.value}"]
        assert alarm.inputs["alarmActions"] == [mock_arn(topic)]
        metrics = [q["metric"] for q in alarm.inputs["metricQueries"] if "metric" in q]
        for metric in metrics:
            if rule.signal in watched:
                assert metric["namespace"] == "AWS/SQS"
                assert metric["dimensions"] == watched[rule.signal]
            else:
                assert metric["namespace"] == WORKER_NAMESPACE
                assert metric["dimensions"] == {"Deployment": deployment_dimension(spec)}
    dead = alarms[f"{PROJECT}-alarm-{Signal.DEAD_LETTERS.value}"]
    assert dead.inputs["threshold"] == 0
    assert dead.inputs["comparisonOperator"] == "GreaterThanThreshold"


def test_a_bad_worker_release_rolls_back_on_its_alarms() -> None:
    run = _run(Environment.PROD)
    service = one(run.resources, "aws:ecs/service:Service")
    spec = make_spec(Cloud.AWS, Pattern.EVENT_DRIVEN, Environment.PROD)
    # exact names (review #10): components.alarms.alarm_name, as on every alarm
    expected = [alarm_name(spec, s.value) for s in (Signal.WORKER_ERROR_RATE, Signal.LATENCY_P99)]
    assert service.inputs["alarms"] == {"alarmNames": expected, "enable": True, "rollback": True}
    assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


@pytest.mark.parametrize("env", ENVS)
def test_workers_are_private_hardened_and_get_their_contract(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    service = one(run.resources, "aws:ecs/service:Service")
    network = service.inputs["networkConfiguration"]
    assert network["assignPublicIp"] is False and len(network["subnets"]) == 2
    sg = one(run.resources, "aws:ec2/securityGroup:SecurityGroup", f"{PROJECT}-worker-sg")
    assert not sg.inputs.get("ingress")
    task = one(run.resources, "aws:ecs/taskDefinition:TaskDefinition")
    [container] = json.loads(task.inputs["containerDefinitions"])
    assert container["privileged"] is False and container["readonlyRootFilesystem"] is True
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["image"] == spec.model.image
    env_vars = {e["name"]: e["value"] for e in container["environment"]}
    jobs = one(run.resources, QUEUE, f"{PROJECT}-jobs")
    assert env_vars["QUEUE_URL"] == f"https://{jobs.name}.mock.amazonaws.com"
    assert env_vars["MAX_DELIVERIES"] == str(MAX_DELIVERIES)
    assert env_vars["RECEIVE_WAIT_SECONDS"] == "20"
    assert env_vars["MAX_PROCESSING_SECONDS"] == str(max_processing_seconds(spec))
    assert env_vars["STATUS_TTL_DAYS"] == str(spec.retention.data_days)
    assert env_vars["METRIC_NAMESPACE"] == WORKER_NAMESPACE
    assert task.inputs["memory"] == str(spec.capacity.memory_mb)
    assert int(task.inputs["cpu"]) >= spec.capacity.cpu * 1024


def test_each_role_gets_explicit_actions_on_named_resources_only() -> None:
    run = _run(Environment.PROD)
    for policy in of_type(run.resources, ROLE_POLICY):
        for s in statements(policy.inputs["policy"]):
            assert all("*" not in action for action in s["Action"]), (policy.name, s)
            # ecr:GetAuthorizationToken has no resource-level permission: "*" is its only form.
            if s["Action"] != ["ecr:GetAuthorizationToken"]:
                assert "*" not in s["Resource"], (policy.name, s)
    jobs = mock_arn(one(run.resources, QUEUE, f"{PROJECT}-jobs"))
    table = mock_arn(one(run.resources, "aws:dynamodb/table:Table"))

    def grants(role: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for s in role_statements(run, role):
            for action in s["Action"]:
                out.setdefault(action, set()).update(s["Resource"])
        return out

    worker, producer, reader = grants("worker-role"), grants("producer-role"), grants("reader-role")
    assert worker["sqs:ReceiveMessage"] == {jobs} and worker["dynamodb:UpdateItem"] == {table}
    assert "sqs:ReceiveMessage" not in producer and "s3:GetObject" not in producer
    assert "sqs:SendMessage" not in reader and "dynamodb:PutItem" not in reader
    assert "s3:PutObject" not in reader and reader["dynamodb:Query"] == {table}
    # Producers and readers are the client's systems: this account's principals may assume.
    for role in ("producer-role", "reader-role"):
        [trust] = statements(
            one(run.resources, ROLE, f"{PROJECT}-{role}").inputs["assumeRolePolicy"]
        )
        assert trust["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def test_object_and_status_access_is_audited_by_a_trail() -> None:
    run, spec = _run(Environment.PROD), _spec(Environment.PROD)
    trail = one(run.resources, "aws:cloudtrail/trail:Trail")
    key = one(run.resources, "aws:kms/key:Key")
    assert trail.inputs["name"] == trail_name(spec)
    assert trail.inputs["kmsKeyId"] == mock_arn(key)
    assert trail.inputs["enableLogFileValidation"] is True
    audit = one(run.resources, BUCKET, f"{PROJECT}-audit")
    assert depends_on(trail, "s3BucketName", audit)
    selectors = {s["name"]: s["fieldSelectors"] for s in trail.inputs["advancedEventSelectors"]}
    by_field = {
        name: {f["field"]: f.get("equals") or f.get("startsWiths") for f in fields}
        for name, fields in selectors.items()
    }
    input_bucket = mock_arn(one(run.resources, BUCKET, f"{PROJECT}-input"))
    assert by_field["job objects"]["resources.type"] == ["AWS::S3::Object"]
    assert f"{input_bucket}/" in by_field["job objects"]["resources.ARN"]
    assert by_field["job status"]["resources.ARN"] == [
        mock_arn(one(run.resources, "aws:dynamodb/table:Table"))
    ]
    trail_arn = f"arn:aws:cloudtrail:{spec.region}:{ACCOUNT}:trail/{trail_name(spec)}"
    policy = one(run.resources, "aws:s3/bucketPolicy:BucketPolicy", f"{PROJECT}-audit-policy")
    writes = [s for s in statements(policy.inputs["policy"]) if s.get("Sid") == "CloudTrailWrite"]
    assert writes[0]["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn}}
    key_users = [s for s in statements(key.inputs["policy"]) if s.get("Sid") == "UseCloudtrail"]
    assert key_users[0]["Condition"] == {"StringEquals": {"aws:SourceArn": [trail_arn]}}


@pytest.mark.parametrize("env", ENVS)
def test_the_policy_pack_finds_nothing_beyond_the_declared_waivers(env: Environment) -> None:
    from policies.rules import all_policies
    from tests.policies.harness import evaluate

    resources = _run(env).resources
    unwaived = evaluate(all_policies(), resources)
    # Every declared waiver is still needed (the list does not rot) ...
    assert {(f.policy, f.resource_name) for f in unwaived} == {
        (rule, f"{PROJECT}-{role}")
        for rule, entries in POLICY_WAIVERS.items()
        for role, _ in entries
    }
    # ... and with them recorded the pack has nothing to say.
    assert evaluate(all_policies(), resources, policy_waivers(PROJECT)) == []


def test_object_and_status_traffic_stays_in_the_vpc_for_this_account_only() -> None:
    run, spec = _run(Environment.PROD), _spec(Environment.PROD)
    endpoints = {e.name: e for e in of_type(run.resources, "aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {f"{PROJECT}-s3-endpoint", f"{PROJECT}-dynamodb-endpoint"}
    private_rt = one(run.resources, "aws:ec2/routeTable:RouteTable", f"{PROJECT}-private-rt")
    for service in ("s3", "dynamodb"):
        endpoint = endpoints[f"{PROJECT}-{service}-endpoint"]
        assert endpoint.inputs["vpcEndpointType"] == "Gateway"
        assert endpoint.inputs["serviceName"] == f"com.amazonaws.{spec.region}.{service}"
        assert depends_on(endpoint, "routeTableIds", private_rt)
        for s in statements(endpoint.inputs["policy"]):
            assert all("*" not in action for action in s["Action"])
            if s["Sid"] != "EcrImageLayers":
                assert s["Condition"] == {"StringEquals": {"aws:PrincipalAccount": [ACCOUNT]}}
    [status] = statements(endpoints[f"{PROJECT}-dynamodb-endpoint"].inputs["policy"])
    assert status["Resource"] == [mock_arn(one(run.resources, "aws:dynamodb/table:Table"))]


def test_a_candidate_model_does_not_change_the_workers() -> None:
    # Workers roll out a new model.image with ECS's alarm-guarded rolling deployment; the
    # serving patterns' canary settings have no meaning for a queue and are ignored.
    candidate = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
    spec = make_spec(Cloud.AWS, Pattern.EVENT_DRIVEN, Environment.STAGING, candidate)
    run = run_component(spec)
    [task] = of_type(run.resources, "aws:ecs/taskDefinition:TaskDefinition")
    [container] = json.loads(task.inputs["containerDefinitions"])
    assert container["image"] == spec.model.image != spec.rollout.candidate_image
    assert len(of_type(run.resources, "aws:ecs/service:Service")) == 1
