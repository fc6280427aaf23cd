"""AWS building blocks for containers on Fargate, used by the api-first and event-driven patterns.

* :func:`fargate_cpu`: the smallest Fargate CPU size holding the profile's vCPU.
* :func:`create_task_definition`: the hardened task definition every aideploy container runs
  with: one essential container, read-only root file system with a scratch ``/tmp`` volume, not
  privileged, an init process (signals reach the model server; zombies are reaped), awslogs to
  the stack's encrypted log group, Linux on x86-64, ``awsvpc`` networking.

Scaling is its own block (components/aws/scaling.py): SageMaker variants scale the same way.

Blocks are plain functions: the caller passes its own ``opts`` (``parent=`` the pattern
component), so the resources keep the logical names and parents they had inside the pattern
classes, and their URNs do not change (tests/components/test_urn_snapshots.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.naming import resource_name
from components.spec import DeploymentSpec

# Fargate's CPU sizes, in units of 1/1024 vCPU.
FARGATE_CPU_UNITS = (256, 512, 1024, 2048, 4096, 8192, 16384)
SCRATCH_VOLUME = "tmp"


def fargate_cpu(vcpu: float) -> str:
    """The smallest Fargate CPU size (units of 1/1024 vCPU) holding ``vcpu``."""
    for units in FARGATE_CPU_UNITS:
        if units >= vcpu * 1024:
            return str(units)
    return str(FARGATE_CPU_UNITS[-1])


@dataclass(frozen=True)
class Container:
    """What differs between aideploy's containers; the hardening is the block's."""

    name: str  # the container's name (the load balancer and the logs' stream prefix use it)
    image: str
    stop_timeout: int  # seconds between SIGTERM and SIGKILL (Fargate's maximum is 120)
    port: int | None = None  # the port it serves, when it serves
    log_prefix: str = ""  # the awslogs stream prefix (default: the container's name)


def hardened_container(
    container: Container,
    environment: Sequence[Mapping[str, str]],
    log_group: str,
    region: str,
) -> dict[str, Any]:
    """The container definition (ECS's JSON form) with aideploy's hardening."""
    definition: dict[str, Any] = {
        "name": container.name,
        "image": container.image,
        "essential": True,
        "environment": [dict(e) for e in environment],
        "readonlyRootFilesystem": True,
        "privileged": False,
        "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": "/tmp"}],  # noqa: S108 # nosec B108
        "linuxParameters": {"initProcessEnabled": True},
        "stopTimeout": container.stop_timeout,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": container.log_prefix or container.name,
            },
        },
    }
    if container.port is not None:
        definition["portMappings"] = [{"containerPort": container.port, "protocol": "tcp"}]
    return definition


def create_task_definition(
    logical_name: str,
    spec: DeploymentSpec,
    role: str,
    container: Container,
    environment: pulumi.Input[Sequence[Mapping[str, pulumi.Input[str]]]],
    log_group: aws.cloudwatch.LogGroup,
    execution_role: pulumi.Input[str],
    task_role: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ecs.TaskDefinition:
    """The hardened Fargate task definition of one container (family ``<project>-<env>-<role>``),
    sized by the spec's capacity; ``environment`` may hold outputs (queue URLs, bucket names, a
    guardrail's id and version)."""
    definitions = pulumi.Output.all(pulumi.Output.from_input(environment), log_group.name).apply(
        lambda v: json.dumps(
            [hardened_container(container, v[0], v[1], spec.region)], sort_keys=True
        )
    )
    return aws.ecs.TaskDefinition(
        logical_name,
        family=resource_name("aws", "default", spec.project, spec.environment.value, role),
        cpu=fargate_cpu(spec.capacity.cpu),
        memory=str(spec.capacity.memory_mb),
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
            operating_system_family="LINUX", cpu_architecture="X86_64"
        ),
        execution_role_arn=execution_role,
        task_role_arn=task_role,
        # The root filesystem is read-only; the container gets a scratch /tmp.
        volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=SCRATCH_VOLUME)],
        container_definitions=definitions,
        tags=dict(tags),
        opts=opts,
    )


@dataclass(frozen=True)
class LoadBalanced:
    """The target group a serving service registers its container's port in."""

    target_group_arn: pulumi.Input[str]
    container_name: str
    container_port: int
    grace_seconds: int = 60  # health checks wait this long after a task starts


def create_service(
    logical_name: str,
    cluster: aws.ecs.Cluster,
    task: aws.ecs.TaskDefinition,
    desired_count: int,
    subnets: pulumi.Input[Sequence[pulumi.Input[str]]],
    security_group: aws.ec2.SecurityGroup,
    rollback_alarms: pulumi.Input[Sequence[pulumi.Input[str]]],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    load_balanced: LoadBalanced | None = None,
) -> aws.ecs.Service:
    """A Fargate service in private subnets, without a public IP, that rolls a deployment back
    on its circuit breaker and on ``rollback_alarms``; scaling owns its running count after
    creation (``desiredCount`` is ignored)."""
    balanced: dict[str, Any] = {}
    if load_balanced is not None:
        balanced = {
            "load_balancers": [
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=load_balanced.target_group_arn,
                    container_name=load_balanced.container_name,
                    container_port=load_balanced.container_port,
                )
            ],
            "health_check_grace_period_seconds": load_balanced.grace_seconds,
        }
    return aws.ecs.Service(
        logical_name,
        cluster=cluster.arn,
        task_definition=task.arn,
        desired_count=desired_count,
        launch_type="FARGATE",
        platform_version="LATEST",
        network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
            subnets=subnets,
            security_groups=[security_group.id],
            assign_public_ip=False,
        ),
        deployment_minimum_healthy_percent=100,
        deployment_maximum_percent=200,
        deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
            enable=True, rollback=True
        ),
        alarms=aws.ecs.ServiceAlarmsArgs(alarm_names=rollback_alarms, enable=True, rollback=True),
        propagate_tags="SERVICE",
        enable_ecs_managed_tags=True,
        tags=dict(tags),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=["desiredCount"])
        ),
        **balanced,
    )
