"""AWS building blocks (components/aws/fargate.py, scaling.py) as the patterns use them.

Every task definition of every AWS stack comes from the one hardened block, so the hardening is
held once here on the captured stacks; the block's own choices (CPU sizes, ports, stop timeout)
are held on the block.
"""

from __future__ import annotations

import json

import pytest

from components.aws import fargate, functions
from components.spec import Cloud, Environment, Pattern
from tests.conftest import make_spec, of_type, run_component

AWS_PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN)


@pytest.mark.parametrize("pattern", AWS_PATTERNS, ids=lambda p: p.value)
def test_every_task_definition_is_hardened(pattern: Pattern) -> None:
    spec = make_spec(Cloud.AWS, pattern, Environment.PROD)
    tasks = of_type(run_component(spec).resources, "aws:ecs/taskDefinition:TaskDefinition")
    assert tasks
    for task in tasks:
        inputs = task.inputs
        assert inputs["requiresCompatibilities"] == ["FARGATE"]
        assert inputs["networkMode"] == "awsvpc"
        assert inputs["cpu"] == fargate.fargate_cpu(spec.capacity.cpu)
        assert inputs["volumes"] == [{"name": fargate.SCRATCH_VOLUME}]
        (container,) = json.loads(inputs["containerDefinitions"])
        assert container["readonlyRootFilesystem"] is True
        assert container["privileged"] is False
        assert container["linuxParameters"] == {"initProcessEnabled": True}
        assert container["mountPoints"] == [
            {"sourceVolume": fargate.SCRATCH_VOLUME, "containerPath": "/tmp"}
        ]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert container["logConfiguration"]["options"]["awslogs-region"] == spec.region
        assert container["stopTimeout"] <= 120  # Fargate's maximum


@pytest.mark.parametrize(
    ("vcpu", "units"), [(0.25, "256"), (0.3, "512"), (1, "1024"), (3, "4096"), (64, "16384")]
)
def test_fargate_cpu_rounds_up_to_a_size_fargate_accepts(vcpu: float, units: str) -> None:
    assert fargate.fargate_cpu(vcpu) == units
    assert int(units) in fargate.FARGATE_CPU_UNITS


def test_a_serving_container_maps_its_port_and_a_worker_maps_none() -> None:
    serving = fargate.hardened_container(
        fargate.Container("model", "img", stop_timeout=30, port=8080, log_prefix="canary"),
        [{"name": "A", "value": "1"}],
        "group",
        "eu-west-1",
    )
    worker = fargate.hardened_container(
        fargate.Container("worker", "img", stop_timeout=120), [], "group", "eu-west-1"
    )
    assert serving["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert serving["logConfiguration"]["options"]["awslogs-stream-prefix"] == "canary"
    assert "portMappings" not in worker
    assert worker["logConfiguration"]["options"]["awslogs-stream-prefix"] == "worker"


@pytest.mark.parametrize(
    ("pattern", "metric"),
    [
        (Pattern.API_FIRST, "ECSServiceAverageCPUUtilization"),
        (Pattern.MANAGED_PLATFORM, "SageMakerVariantInvocationsPerInstance"),
    ],
    ids=lambda v: getattr(v, "value", v),
)
def test_each_scaling_target_has_its_tracking_policy(pattern: Pattern, metric: str) -> None:
    resources = run_component(make_spec(Cloud.AWS, pattern, Environment.PROD)).resources
    targets = of_type(resources, "aws:appautoscaling/target:Target")
    policies = of_type(resources, "aws:appautoscaling/policy:Policy")
    assert targets and len(policies) == len(targets)
    for target in targets:
        (policy,) = [
            p for p in policies if target.urn in p.property_dependencies.get("resourceId", ())
        ]
        config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        assert config["predefinedMetricSpecification"]["predefinedMetricType"] == metric
        assert target.inputs["minCapacity"] <= target.inputs["maxCapacity"]


@pytest.mark.parametrize(
    "pattern", (Pattern.API_FIRST, Pattern.MANAGED_PLATFORM), ids=lambda p: p.value
)
def test_every_function_is_the_hardened_block(pattern: Pattern) -> None:
    """Rollback, authorizer (and notifier) functions: one shape, with its own log group, DLQ
    and role next to it under the same logical name."""
    resources = run_component(make_spec(Cloud.AWS, pattern, Environment.PROD)).resources
    by_name = {r.name: r for r in resources}
    found = of_type(resources, "aws:lambda/function:Function")
    assert found
    for fn in found:
        inputs = fn.inputs
        assert inputs["runtime"] == functions.RUNTIME
        assert inputs["architectures"] == [functions.ARCHITECTURE]
        assert inputs["tracingConfig"] == {"mode": "Active"}
        assert inputs["kmsKeyArn"]
        logs, dlq, role = (by_name[f"{fn.name}-{part}"] for part in ("logs", "dlq", "role"))
        assert logs.inputs["name"] == f"/aws/lambda/{inputs['name']}"
        assert inputs["loggingConfig"] == {"logFormat": "JSON", "logGroup": logs.inputs["name"]}
        assert dlq.urn in fn.property_dependencies["deadLetterConfig"]
        assert role.urn in fn.property_dependencies["role"]
