"""AwsManagedPlatform under Pulumi mocks: SageMaker hosting, guarded rollout, monitoring."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.alarms import Signal, alarm_name, rollback_alarms, serving_alarms, traffic_split
from components.aws.managed_platform import (
    CAPTURE_SAMPLING_PERCENT,
    INSTANCE_SHAPES,
    instance_shape,
    invocations_target,
)
from components.aws.monitoring import sagemaker_capacity_alarms
from components.aws.security import TRUST_CONDITION_OPERATORS, TRUST_SOURCE_ARNS
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import candidate_image, make_spec, of_type, run_component

CANDIDATE_IMAGE = candidate_image(Cloud.AWS, Pattern.MANAGED_PLATFORM)

ENVS = list(Environment)
PROJECT = "acme-support"
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}


def _overrides(candidate: bool, strategy: str | None) -> dict[str, Any]:
    rollout: dict[str, Any] = dict(CANDIDATE["rollout"]) if candidate else {}
    if strategy:
        rollout["strategy"] = strategy
    return {"rollout": rollout} if rollout else {}


@cache
def _spec(env: Environment, candidate: bool = False, strategy: str | None = None) -> DeploymentSpec:
    return make_spec(Cloud.AWS, Pattern.MANAGED_PLATFORM, env, _overrides(candidate, strategy))


@cache
def _run(env: Environment, candidate: bool = False, strategy: str | None = None) -> Capture:
    return run_component(_spec(env, candidate, strategy))


def one(resources: list[CapturedResource], token: str, name: str | None = None) -> CapturedResource:
    found = [r for r in of_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def mock_arn(resource: CapturedResource) -> str:
    """The ARN the capture mocks give a resource (service from its type, name from its name)."""
    service = resource.type.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:eu-west-1:123456789012:{resource.name}"


def statements(text: str) -> list[dict[str, Any]]:
    found = json.loads(text)["Statement"]
    return found if isinstance(found, list) else [found]


@pytest.mark.parametrize("env", ENVS)
def test_registers_hosting_autoscaling_monitoring_and_rollback(env: Environment) -> None:
    types = {r.type for r in _run(env).resources}
    expected = {
        "aws:sagemaker/model:Model",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:appautoscaling/target:Target",
        "aws:appautoscaling/policy:Policy",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:sns/topic:Topic",
        "aws:ec2/vpc:Vpc",
    }
    assert expected <= types, expected - types
    assert len(of_type(_run(env).resources, "aws:sagemaker/model:Model")) == 2


@pytest.mark.parametrize("env", ENVS)
def test_outputs_are_the_patterns_and_every_resource_descends_from_the_component(
    env: Environment,
) -> None:
    run, spec = _run(env), _spec(env)
    component = one(run.resources, "aideploy:aws:ManagedPlatform")
    outputs = run.outputs[component.urn]
    assert set(outputs) == set(spec.outputs)
    assert outputs["endpoint_name"] == f"{PROJECT}-{env.value}"
    assert outputs["rollback_trigger"] == [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    parents = {r.urn: r.parent for r in run.resources}
    for r in run.resources:
        if r.custom:
            urn = r.urn
            while urn and urn != component.urn:
                urn = parents.get(urn, "")
            assert urn == component.urn, f"{r.type} {r.name} is not under the component"


def test_models_are_network_isolated_in_the_vpc() -> None:
    run = _run(Environment.PROD)
    sg = one(run.resources, "aws:ec2/securityGroup:SecurityGroup", f"{PROJECT}-model-sg")
    assert "ingress" not in sg.inputs or not sg.inputs["ingress"]
    for model in of_type(run.resources, "aws:sagemaker/model:Model"):
        assert model.inputs["enableNetworkIsolation"] is True
        vpc = model.inputs["vpcConfig"]
        assert len(vpc["subnets"]) == 2 and len(vpc["securityGroupIds"]) == 1
        # An ECR image (SageMaker serves only those): the platform pulls it, not our VPC.
        assert model.inputs["primaryContainer"]["imageConfig"] == {
            "repositoryAccessMode": "Platform"
        }


@pytest.mark.parametrize("env", ENVS)
def test_endpoint_config_encrypts_and_captures_data(env: Environment) -> None:
    run = _run(env)
    key = one(run.resources, "aws:kms/key:Key")
    config = one(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert config.inputs["kmsKeyArn"] == mock_arn(key)
    capture = config.inputs["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["kmsKeyId"] == mock_arn(key)
    assert capture["initialSamplingPercentage"] == CAPTURE_SAMPLING_PERCENT
    bucket = one(run.resources, "aws:s3/bucket:Bucket", f"{PROJECT}-capture")
    assert capture["destinationS3Uri"].startswith("s3://")
    assert capture["destinationS3Uri"].endswith("/capture")
    assert bucket.urn in config.property_dependencies["dataCaptureConfig"]
    assert {o["captureMode"] for o in capture["captureOptions"]} == {"Input", "Output"}


def test_capture_bucket_is_private_encrypted_tls_only_versioned_and_logged() -> None:
    run = _run(Environment.PROD)
    key = one(run.resources, "aws:kms/key:Key")
    bucket = f"{PROJECT}-capture"
    pab = one(
        run.resources,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        f"{bucket}-public-access",
    )
    assert all(
        pab.inputs[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    sse = one(
        run.resources,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        f"{bucket}-sse",
    )
    default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": mock_arn(key)}
    policy = one(run.resources, "aws:s3/bucketPolicy:BucketPolicy", f"{bucket}-policy")
    [deny] = [s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    versioning = one(
        run.resources, "aws:s3/bucketVersioning:BucketVersioning", f"{bucket}-versioning"
    )
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    logging = one(run.resources, "aws:s3/bucketLogging:BucketLogging")
    target = one(run.resources, "aws:s3/bucket:Bucket", f"{PROJECT}-access-logs")
    assert logging.property_dependencies["targetBucket"] == (target.urn,)


@pytest.mark.parametrize("env", ENVS)
def test_without_candidate_the_candidate_variant_takes_no_traffic(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    config = one(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    weights = {
        v["variantName"]: v["initialVariantWeight"] for v in config.inputs["productionVariants"]
    }
    assert weights == {"stable": 100, "candidate": 0}
    candidate = one(run.resources, "aws:sagemaker/model:Model", f"{PROJECT}-canary-model")
    assert candidate.inputs["primaryContainer"]["image"] == spec.model.image


@pytest.mark.parametrize("env", ENVS)
def test_candidate_takes_the_canary_share(env: Environment) -> None:
    run, spec = _run(env, candidate=True), _spec(env, candidate=True)
    stable_pct, canary_pct = traffic_split(spec)
    config = one(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    variants = {v["variantName"]: v for v in config.inputs["productionVariants"]}
    assert variants["stable"]["initialVariantWeight"] == stable_pct
    assert (
        variants["candidate"]["initialVariantWeight"] == canary_pct == spec.rollout.canary_percent
    )
    assert sum(v["initialVariantWeight"] for v in variants.values()) == 100
    assert variants["candidate"]["modelName"] == f"{PROJECT}-canary-model"
    candidate = one(run.resources, "aws:sagemaker/model:Model", f"{PROJECT}-canary-model")
    container = candidate.inputs["primaryContainer"]
    assert container["image"] == spec.rollout.candidate_image
    assert container["environment"]["MODEL_VERSION"] == spec.rollout.candidate_version


@pytest.mark.parametrize("env", ENVS)
def test_updates_are_canary_blue_green_with_alarm_rollback(env: Environment) -> None:
    run, spec = _run(env, candidate=True), _spec(env, candidate=True)
    endpoint = one(run.resources, "aws:sagemaker/endpoint:Endpoint")
    deployment = endpoint.inputs["deploymentConfig"]
    policy = deployment["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY"
    assert routing["canarySize"] == {
        "type": "CAPACITY_PERCENT",
        "value": spec.rollout.canary_percent,
    }
    assert routing["waitIntervalInSeconds"] == min(spec.rollout.bake_minutes * 60, 3600)
    alarms = [a["alarmName"] for a in deployment["autoRollbackConfiguration"]["alarms"]]
    assert alarms == [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert endpoint.protect is spec.retention.deletion_protection


def test_blue_green_strategy_shifts_all_at_once_after_baking() -> None:
    run = _run(Environment.STAGING, strategy="blue-green")
    endpoint = one(run.resources, "aws:sagemaker/endpoint:Endpoint")
    routing = endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"][
        "trafficRoutingConfiguration"
    ]
    assert routing["type"] == "ALL_AT_ONCE" and "canarySize" not in routing


@pytest.mark.parametrize("env", ENVS)
def test_autoscaling_tracks_invocations_within_the_profile(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    targets = {r.name: r.inputs for r in of_type(run.resources, "aws:appautoscaling/target:Target")}
    stable = targets[f"{PROJECT}-stable-scaling"]
    assert (stable["minCapacity"], stable["maxCapacity"]) == (
        max(spec.capacity.min_instances, 1),
        spec.capacity.max_instances,
    )
    assert stable["resourceId"] == f"endpoint/{PROJECT}-{env.value}/variant/stable"
    assert stable["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    for policy in of_type(run.resources, "aws:appautoscaling/policy:Policy"):
        config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        metric = config["predefinedMetricSpecification"]["predefinedMetricType"]
        assert metric == "SageMakerVariantInvocationsPerInstance"
        assert config["targetValue"] == invocations_target(spec)


@pytest.mark.parametrize("env", ENVS)
def test_alarms_cover_every_rule_and_capacity_routed_to_tiers(env: Environment) -> None:
    run, spec = _run(env), _spec(env)
    alarms = {r.name: r for r in of_type(run.resources, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    topics = {r.name: r for r in of_type(run.resources, "aws:sns/topic:Topic")}
    shape = instance_shape(spec)
    capacity = sagemaker_capacity_alarms(
        vcpus=shape.vcpus, gpus=shape.gpus, invocations_target=1, evaluation_periods=1
    )
    rules = serving_alarms(spec)
    assert len(alarms) == len(rules) + len(capacity)
    for rule in rules:
        alarm = alarms[f"{PROJECT}-alarm-{rule.key}"]
        latency = rule.signal in {Signal.LATENCY_P50, Signal.LATENCY_P95, Signal.LATENCY_P99,
                                  Signal.CANARY_LATENCY_P99}  # fmt: skip
        # ModelLatency is in microseconds; the neutral threshold is in milliseconds.
        # Without a candidate the candidate variant serves 0%: "starved" cannot fire.
        starved_off = rule.signal is Signal.CANARY_STARVED and not spec.has_candidate
        expected = 0 if starved_off else rule.threshold * (1000 if latency else 1)
        assert alarm.inputs["threshold"] == pytest.approx(expected)
        assert alarm.inputs["alarmActions"] == [
            mock_arn(topics[f"{PROJECT}-alerts-{rule.tier.value}"])
        ]
        for query in alarm.inputs["metricQueries"]:
            # Rollback rules compare the candidate variant with the stable one (query ids).
            variant = "candidate" if query["id"].startswith("candidate_") else "stable"
            if "metric" in query:
                assert query["metric"]["dimensions"] == {
                    "EndpointName": f"{PROJECT}-{env.value}",
                    "VariantName": variant,
                }
    cpu = alarms[f"{PROJECT}-alarm-cpu-utilisation"]
    assert cpu.inputs["threshold"] == 90 * shape.vcpus
    assert cpu.inputs["metricQueries"][0]["metric"]["namespace"] == "/aws/sagemaker/Endpoints"


def test_gpu_alarms_only_on_accelerated_instances() -> None:
    keys = {
        d.key
        for d in sagemaker_capacity_alarms(
            vcpus=4, gpus=0, invocations_target=10, evaluation_periods=3
        )
    }
    assert "gpu-utilisation" not in keys and {"cpu-utilisation", "memory-utilisation"} <= keys
    gpu = {
        d.key: d
        for d in sagemaker_capacity_alarms(
            vcpus=8, gpus=2, invocations_target=10, evaluation_periods=3
        )
    }
    assert gpu["gpu-utilisation"].threshold == 180
    assert gpu["invocations-per-instance"].threshold == 15


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [(0.5, 1024, "ml.m5.large"), (2, 4096, "ml.m5.large"), (3, 4096, "ml.m5.xlarge"),
     (2, 16384, "ml.m5.xlarge"), (16, 65536, "ml.m5.4xlarge")],
)  # fmt: skip
def test_instance_shape_is_the_smallest_that_fits(cpu: float, memory: int, expected: str) -> None:
    spec = make_spec(
        Cloud.AWS, Pattern.MANAGED_PLATFORM, Environment.DEV,
        {"capacity": {"cpu": cpu, "memory_mb": memory}},
    )  # fmt: skip
    assert instance_shape(spec).instance_type == expected
    assert INSTANCE_SHAPES[0].instance_type == "ml.m5.large"


def test_iam_has_no_wildcard_actions_and_trusts_one_service_of_this_account() -> None:
    run = _run(Environment.PROD)
    for policy in of_type(run.resources, "aws:iam/rolePolicy:RolePolicy"):
        for s in statements(policy.inputs["policy"]):
            assert all("*" not in a for a in s["Action"]), s["Action"]
    for role in of_type(run.resources, "aws:iam/role:Role"):
        [trust] = statements(role.inputs["assumeRolePolicy"])
        service = trust["Principal"]["Service"]
        operator = TRUST_CONDITION_OPERATORS.get(service, "StringEqualsIfExists")
        assert trust["Condition"][operator] == {"aws:SourceAccount": "123456789012"}
        # SageMaker's own calling resource must be of this account too when it names one.
        source = TRUST_SOURCE_ARNS.get(service)
        expected = (
            {"aws:SourceArn": source.format(region="eu-west-1", account="123456789012")}
            if source
            else None
        )
        assert trust["Condition"].get("ArnLikeIfExists") == expected


@pytest.mark.parametrize("candidate", [False, True])
def test_the_policy_pack_finds_nothing(candidate: bool) -> None:
    from policies.rules import all_policies
    from tests.policies.harness import evaluate

    assert evaluate(all_policies(), _run(Environment.PROD, candidate=candidate).resources) == []


@pytest.mark.parametrize(
    ("bake", "canary", "wait", "size"),
    [(0, 10, 60, 10), (10, 5, 600, 5), (90, 0, 3600, 1)],
)
def test_deployment_config_respects_sagemaker_limits(
    bake: int, canary: int, wait: int, size: int
) -> None:
    spec = make_spec(
        Cloud.AWS,
        Pattern.MANAGED_PLATFORM,
        Environment.PROD,
        {"rollout": {"bake_minutes": bake, "canary_percent": canary, **CANDIDATE["rollout"]}},
    )
    endpoint = one(run_component(spec).resources, "aws:sagemaker/endpoint:Endpoint")
    policy = endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["waitIntervalInSeconds"] == wait  # SageMaker accepts 0-3600
    assert policy["terminationWaitInSeconds"] == wait
    assert 600 <= policy["maximumExecutionTimeoutInSeconds"] <= 14400
    assert routing["canarySize"]["value"] == size  # a canary of 0% capacity is not a canary


def test_variants_floor_and_split() -> None:
    from components.aws.rollout import variants

    spec = _spec(Environment.DEV)
    stable, canary = variants(spec)
    assert (canary.weight, canary.min_capacity, canary.image) == (0, 0, spec.model.image)
    _, canary = variants(spec, min_floor=1)
    assert canary.min_capacity == 1
    stable, canary = variants(_spec(Environment.PROD, candidate=True))
    assert stable.weight + canary.weight == 100
    assert canary.version == "1.1.0" and canary.max_capacity == stable.max_capacity
