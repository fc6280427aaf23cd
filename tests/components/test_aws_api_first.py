"""AwsApiFirst under Pulumi mocks: the resources it registers and their security properties."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.alarms import (
    Signal,
    Tier,
    alarm_name,
    rollback_alarms,
    serving_alarms,
    traffic_split,
)
from components.aws.api_first import (
    ALB_TLS_POLICY,
    AUTH_CHECKS,
    POLICY_WAIVERS,
    VARIANT_HEADER,
    policy_waivers,
    waivers_for,
)
from components.aws.security import TRUST_CONDITION_OPERATORS
from components.aws.waf import MANAGED_RULE_GROUPS, greater_than_regex
from components.spec import AuthMode, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import candidate_image, make_spec, of_type, run_component

CANDIDATE_IMAGE = candidate_image(Cloud.AWS, Pattern.API_FIRST)

ENVS = list(Environment)
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
PROJECT = "acme-support"


@cache
def _run(env: Environment, candidate: bool = False, auth: str | None = None) -> Capture:
    overrides: dict[str, Any] = dict(CANDIDATE) if candidate else {}
    if auth:
        overrides["api"] = {"auth": auth}
    return run_component(_spec(env, candidate, auth))


@cache
def _spec(env: Environment, candidate: bool = False, auth: str | None = None) -> DeploymentSpec:
    overrides: dict[str, Any] = dict(CANDIDATE) if candidate else {}
    if auth:
        overrides["api"] = {"auth": auth}
    return make_spec(Cloud.AWS, Pattern.API_FIRST, env, overrides)


def one(resources: list[CapturedResource], token: str, name: str | None = None) -> CapturedResource:
    found = [r for r in of_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def mock_arn(resource: CapturedResource) -> str:
    """The ARN the capture mocks give a resource (service from its type, name from its name)."""
    service = resource.type.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:eu-west-1:123456789012:{resource.name}"


def policy_statements(text: str) -> list[dict[str, Any]]:
    statements = json.loads(text)["Statement"]
    return statements if isinstance(statements, list) else [statements]


@pytest.mark.parametrize("env", ENVS)
def test_registers_every_part_of_the_pattern(env: Environment) -> None:
    types = {r.type for r in _run(env).resources}
    expected = {
        "aws:apigateway/restApi:RestApi",
        "aws:apigateway/stage:Stage",
        "aws:apigateway/authorizer:Authorizer",
        "aws:apigateway/usagePlan:UsagePlan",
        "aws:apigateway/requestValidator:RequestValidator",
        "aws:wafv2/webAcl:WebAcl",
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/listener:Listener",
        "aws:ecs/service:Service",
        "aws:appautoscaling/policy:Policy",
        "aws:kms/key:Key",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:sns/topic:Topic",
    }
    assert expected <= types, expected - types


@pytest.mark.parametrize("env", ENVS)
def test_outputs_are_the_patterns_and_every_resource_descends_from_the_component(
    env: Environment,
) -> None:
    run = _run(env)
    component = one(run.resources, "aideploy:aws:ApiFirst")
    assert set(run.outputs[component.urn]) == set(_spec(env).outputs)
    assert all(v is not None for v in run.outputs[component.urn].values())
    parents = {r.urn: r.parent for r in run.resources}
    for r in run.resources:
        if not r.custom:
            continue
        urn = r.urn
        while urn and urn != component.urn:
            urn = parents.get(urn, "")
        assert urn == component.urn, f"{r.type} {r.name} is not under the component"


def test_kms_key_rotates_and_its_policy_names_every_principal() -> None:
    key = one(_run(Environment.PROD).resources, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    for s in policy_statements(key.inputs["policy"]):
        principal = s["Principal"]
        assert principal != "*" and "*" not in principal.values()
        if "Service" in principal:
            assert "Condition" in s, s
        assert "kms:*" not in s["Action"]


@pytest.mark.parametrize("env", ENVS)
def test_every_log_group_is_encrypted_and_kept_for_the_profile(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    groups = of_type(run.resources, "aws:cloudwatch/logGroup:LogGroup")
    key = one(run.resources, "aws:kms/key:Key")
    assert len(groups) >= 5
    for g in groups:
        assert g.inputs["retentionInDays"] == spec.retention.log_days
        assert g.inputs["kmsKeyId"] == mock_arn(key)


@pytest.mark.parametrize(
    ("api", "protocol", "scheme"),
    [
        ({}, "HTTP", "http"),  # no domain, no private CA: plain inside the VPC (waived)
        ({"domain": "api.acme.example"}, "HTTPS", "https"),
        ({"private_ca": True}, "HTTPS", "https"),
    ],
)
def test_load_balancer_is_internal_and_the_hop_follows_the_clients_choice(
    api: dict[str, Any], protocol: str, scheme: str
) -> None:
    run = run_component(make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD, {"api": api}))
    alb = one(run.resources, "aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["internal"] is True
    assert alb.inputs["dropInvalidHeaderFields"] is True
    [listener] = of_type(run.resources, "aws:lb/listener:Listener")
    assert listener.inputs["protocol"] == protocol
    if protocol == "HTTPS":
        assert listener.inputs["sslPolicy"] == ALB_TLS_POLICY
        assert listener.inputs["certificateArn"]
    integration = one(
        run.resources, "aws:apigateway/integration:Integration", f"{PROJECT}-integration"
    )
    assert integration.inputs["uri"].startswith(f"{scheme}://")
    assert integration.inputs["connectionType"] == "VPC_LINK"
    assert integration.inputs["integrationTarget"] == mock_arn(alb)
    api_resource = one(run.resources, "aws:apigateway/restApi:RestApi")
    assert api_resource.inputs["securityPolicy"].startswith("SecurityPolicy_TLS13_1_2")
    assert api_resource.inputs["endpointConfiguration"]["types"] == "REGIONAL"


def test_serving_is_private() -> None:
    run = _run(Environment.PROD)
    for subnet in of_type(run.resources, "aws:ec2/subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for service in of_type(run.resources, "aws:ecs/service:Service"):
        network = service.inputs["networkConfiguration"]
        assert network["assignPublicIp"] is False
        assert len(network["subnets"]) == 2
    task_sg = one(run.resources, "aws:ec2/securityGroup:SecurityGroup", f"{PROJECT}-task-sg")
    [ingress] = task_sg.inputs["ingress"]
    assert "cidrBlocks" not in ingress and len(ingress["securityGroups"]) == 1


@pytest.mark.parametrize("auth", [m.value for m in AuthMode])
def test_auth_mode_decides_authorizer_and_api_key(auth: str) -> None:
    run = _run(Environment.STAGING, auth=auth)
    spec = _spec(Environment.STAGING, auth=auth)
    use_jwt, use_key = AUTH_CHECKS[AuthMode(auth)]
    method = one(run.resources, "aws:apigateway/method:Method", f"{PROJECT}-predict")
    assert method.inputs["apiKeyRequired"] is use_key
    assert method.inputs["authorization"] == ("CUSTOM" if use_jwt else "NONE")
    assert method.inputs["requestValidatorId"]
    assert method.inputs["requestModels"] == {"application/json": "PredictRequest"}
    authorizers = of_type(run.resources, "aws:apigateway/authorizer:Authorizer")
    assert len(authorizers) == int(use_jwt)
    assert len(of_type(run.resources, "aws:apigateway/apiKey:ApiKey")) == int(use_key)
    if use_jwt:
        fn = one(run.resources, "aws:lambda/function:Function", f"{PROJECT}-authorizer")
        env_vars = fn.inputs["environment"]["variables"]
        assert env_vars == {
            "JWT_ISSUER": spec.api.jwt_issuer,
            "JWT_AUDIENCE": spec.api.jwt_audience,
        }
        assert fn.inputs["kmsKeyArn"] and fn.inputs["tracingConfig"] == {"mode": "Active"}
        permission = one(
            run.resources, "aws:lambda/permission:Permission", f"{PROJECT}-authorizer-invoke"
        )
        assert permission.inputs["principal"] == "apigateway.amazonaws.com"
        assert "/authorizers/" in permission.inputs["sourceArn"]


@pytest.mark.parametrize("env", ENVS)
def test_usage_plan_and_stage_throttle_come_from_the_spec(env: Environment) -> None:
    run, api = _run(env), _spec(env).api
    plan = one(run.resources, "aws:apigateway/usagePlan:UsagePlan")
    assert plan.inputs["throttleSettings"] == {
        "rateLimit": api.rate_limit_rps,
        "burstLimit": api.burst,
    }
    assert plan.inputs["quotaSettings"] == {"limit": api.quota_per_day, "period": "DAY"}
    settings = one(
        run.resources, "aws:apigateway/methodSettings:MethodSettings", f"{PROJECT}-method-settings"
    ).inputs
    assert settings["settings"]["throttlingRateLimit"] == api.rate_limit_rps
    assert settings["settings"]["cacheDataEncrypted"] is True


@pytest.mark.parametrize("env", ENVS)
def test_stage_logs_traces_and_has_waf(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    stage = one(run.resources, "aws:apigateway/stage:Stage")
    access = one(run.resources, "aws:cloudwatch/logGroup:LogGroup", f"{PROJECT}-access-logs")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == mock_arn(access)
    assert json.loads(stage.inputs["accessLogSettings"]["format"])["requestId"]
    assert stage.inputs["xrayTracingEnabled"] is True
    association = one(run.resources, "aws:wafv2/webAclAssociation:WebAclAssociation")
    acl = one(run.resources, "aws:wafv2/webAcl:WebAcl")
    assert association.inputs["webAclArn"] == mock_arn(acl)
    assert association.inputs["resourceArn"] == mock_arn(stage)
    rules = {r["name"]: r for r in acl.inputs["rules"]}
    rate = rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"]
    assert rate["limit"] == spec.api.waf_rate_limit_per_5min
    assert {g for _, g, _ in MANAGED_RULE_GROUPS} <= set(rules)
    size = rules["request-too-large"]["statement"]["regexMatchStatement"]
    assert size["regexString"] == greater_than_regex(spec.api.max_request_bytes)
    logging = one(run.resources, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    assert logging.inputs["resourceArn"] == mock_arn(acl)


@pytest.mark.parametrize("env", ENVS)
def test_autoscaling_bounds_follow_the_profile(env: Environment) -> None:
    run, cap = _run(env), _spec(env).capacity
    targets = {r.name: r.inputs for r in of_type(run.resources, "aws:appautoscaling/target:Target")}
    stable = targets[f"{PROJECT}-stable-scaling"]
    assert (stable["minCapacity"], stable["maxCapacity"]) == (cap.min_instances, cap.max_instances)
    canary = targets[f"{PROJECT}-canary-scaling"]
    assert canary["minCapacity"] == 0  # no candidate: the canary path runs nothing
    policies = of_type(run.resources, "aws:appautoscaling/policy:Policy")
    for p in policies:
        config = p.inputs["targetTrackingScalingPolicyConfiguration"]
        assert config["targetValue"] == cap.target_cpu_percent


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_rule_with_threshold_routed_to_its_tier(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    rules = serving_alarms(spec)
    alarms = {r.name: r for r in of_type(run.resources, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    topics = {r.name: r for r in of_type(run.resources, "aws:sns/topic:Topic")}
    # every serving rule, plus the uptime check's page-tier alarm (tests/components/test_aws_uptime)
    assert set(alarms) == {f"{PROJECT}-alarm-{r.key}" for r in rules} | {f"{PROJECT}-alarm-uptime"}
    for rule in rules:
        alarm = alarms[f"{PROJECT}-alarm-{rule.key}"]
        scale = 0.001 if rule.signal is Signal.CANARY_LATENCY_P99 else 1
        # Without a candidate the canary path serves 0%: "starved" cannot fire (threshold 0).
        starved_off = rule.signal is Signal.CANARY_STARVED and not spec.has_candidate
        threshold = 0 if starved_off else rule.threshold * scale
        assert alarm.inputs["threshold"] == pytest.approx(threshold)
        assert alarm.inputs["evaluationPeriods"] == rule.evaluation_periods
        topic = topics[f"{PROJECT}-alerts-{rule.tier.value}"]
        assert alarm.inputs["alarmActions"] == [mock_arn(topic)]
    if not spec.alerts.page_on_critical:
        assert all(r.tier is not Tier.PAGE for r in rules)
    component = one(run.resources, "aideploy:aws:ApiFirst")
    page = topics[f"{PROJECT}-alerts-page"]
    assert run.outputs[component.urn]["alert_topic"] == mock_arn(page)


def test_alert_topics_are_encrypted_tls_only_and_subscribed() -> None:
    run, spec = _run(Environment.PROD), _spec(Environment.PROD)
    topics = of_type(run.resources, "aws:sns/topic:Topic")
    assert {t.name.rsplit("-", 1)[1] for t in topics} == {t.value for t in Tier}
    for topic in topics:
        assert topic.inputs["kmsMasterKeyId"]
    for policy in of_type(run.resources, "aws:sns/topicPolicy:TopicPolicy"):
        statements = policy_statements(policy.inputs["policy"])
        deny = [s for s in statements if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements:
            if s["Effect"] == "Allow" and "Service" in s["Principal"]:
                assert "aws:SourceAccount" in s["Condition"]["StringEquals"]
    subscriptions = of_type(run.resources, "aws:sns/topicSubscription:TopicSubscription")
    assert {s.inputs["endpoint"] for s in subscriptions} == set(spec.alerts.emails)
    assert len(subscriptions) == len(topics) * len(spec.alerts.emails)


@pytest.mark.parametrize("env", ENVS)
def test_canary_carries_nothing_without_a_candidate(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    stage = one(run.resources, "aws:apigateway/stage:Stage")
    assert stage.inputs["canarySettings"]["percentTraffic"] == 0
    assert stage.inputs["canarySettings"]["stageVariableOverrides"] == {"variant": "canary"}
    assert stage.inputs["variables"] == {"variant": "stable"}
    canary_task = one(
        run.resources, "aws:ecs/taskDefinition:TaskDefinition", f"{PROJECT}-canary-task"
    )
    [container] = json.loads(canary_task.inputs["containerDefinitions"])
    assert container["image"] == spec.model.image
    canary = one(run.resources, "aws:ecs/service:Service", f"{PROJECT}-canary")
    assert canary.inputs["desiredCount"] == 0


@pytest.mark.parametrize("env", ENVS)
def test_candidate_takes_the_canary_share_and_rolls_back_on_its_alarms(env: Environment) -> None:
    run, spec = _run(env, candidate=True), _spec(env, candidate=True)
    stable_pct, canary_pct = traffic_split(spec)
    assert canary_pct == spec.rollout.canary_percent > 0 and stable_pct + canary_pct == 100
    stage = one(run.resources, "aws:apigateway/stage:Stage")
    assert stage.inputs["canarySettings"]["percentTraffic"] == canary_pct
    canary_task = one(
        run.resources, "aws:ecs/taskDefinition:TaskDefinition", f"{PROJECT}-canary-task"
    )
    [container] = json.loads(canary_task.inputs["containerDefinitions"])
    assert container["image"] == spec.rollout.candidate_image
    assert {"name": "MODEL_VERSION", "value": "1.1.0"} in container["environment"]
    canary = one(run.resources, "aws:ecs/service:Service", f"{PROJECT}-canary")
    assert canary.inputs["desiredCount"] == 1
    expected = [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert canary.inputs["alarms"] == {"alarmNames": expected, "enable": True, "rollback": True}
    assert canary.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    # The gateway routes canary requests by header; the ALB sends that header to the canary.
    integration = one(
        run.resources, "aws:apigateway/integration:Integration", f"{PROJECT}-integration"
    )
    assert integration.inputs["requestParameters"] == {
        f"integration.request.header.{VARIANT_HEADER}": "stageVariables.variant"
    }
    rule = one(run.resources, "aws:lb/listenerRule:ListenerRule")
    assert rule.inputs["conditions"][0]["httpHeader"]["values"] == ["canary"]
    canary_tg = one(run.resources, "aws:lb/targetGroup:TargetGroup", f"{PROJECT}-canary-tg")
    assert rule.inputs["actions"][0]["targetGroupArn"] == mock_arn(canary_tg)


def test_canary_alarms_watch_the_canary_target_group() -> None:
    run = _run(Environment.PROD, candidate=True)
    alarm = one(
        run.resources,
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        f"{PROJECT}-alarm-{Signal.CANARY_ERROR_RATE.value}",
    )
    metrics = [q["metric"] for q in alarm.inputs["metricQueries"] if "metric" in q]
    assert {m["dimensions"]["TargetGroup"] for m in metrics} == {f"{PROJECT}-canary-tg"}


def test_iam_has_no_wildcard_actions_and_trusts_one_service_of_this_account() -> None:
    run = _run(Environment.PROD)
    for policy in of_type(run.resources, "aws:iam/rolePolicy:RolePolicy"):
        for s in policy_statements(policy.inputs["policy"]):
            for action in s["Action"]:
                assert "*" not in action, action
    roles = of_type(run.resources, "aws:iam/role:Role")
    assert roles
    for role in roles:
        [trust] = policy_statements(role.inputs["assumeRolePolicy"])
        assert list(trust["Principal"]) == ["Service"]
        service = trust["Principal"]["Service"]
        operator = TRUST_CONDITION_OPERATORS.get(service, "StringEqualsIfExists")
        assert trust["Condition"] == {operator: {"aws:SourceAccount": "123456789012"}}


def test_task_definitions_are_hardened_and_log() -> None:
    run, spec = _run(Environment.PROD), _spec(Environment.PROD)
    for task in of_type(run.resources, "aws:ecs/taskDefinition:TaskDefinition"):
        [container] = json.loads(task.inputs["containerDefinitions"])
        assert container["privileged"] is False
        assert container["readonlyRootFilesystem"] is True
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert task.inputs["memory"] == str(spec.capacity.memory_mb)
        assert int(task.inputs["cpu"]) >= spec.capacity.cpu * 1024


@given(st.integers(min_value=0, max_value=10**8), st.integers(min_value=0, max_value=10**9))
def test_greater_than_regex_matches_exactly_the_larger_numbers(limit: int, value: int) -> None:
    pattern = re.compile(greater_than_regex(limit))
    assert bool(pattern.match(str(value))) is (value > limit)
    assert bool(pattern.match("00" + str(value))) is (value > limit)


def test_greater_than_regex_rejects_non_numbers() -> None:
    pattern = re.compile(greater_than_regex(1_048_576))
    assert not pattern.match("")
    assert not pattern.match("12a45678")
    assert len(pattern.pattern) < 200  # WAF's regex string limit


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        dict(CANDIDATE),
        {"api": {"domain": "api.acme.example"}},
        {"api": {"private_ca": True}},
    ],
)
def test_the_policy_pack_finds_nothing_beyond_the_declared_waivers(
    overrides: dict[str, Any],
) -> None:
    from policies.rules import all_policies
    from tests.policies.harness import evaluate

    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD, overrides)
    resources = run_component(spec).resources
    unwaived = evaluate(all_policies(), resources)
    # Every waiver this stack's shape needs is still needed (the list does not rot) ...
    assert {(f.policy, f.resource_name) for f in unwaived} == {
        (rule, f"{PROJECT}-{role}")
        for rule in waivers_for(spec)
        for role in POLICY_WAIVERS[rule][0]
    }
    # ... and with them recorded (the project's pack config holds all) nothing is left.
    assert evaluate(all_policies(), resources, policy_waivers(PROJECT)) == []
