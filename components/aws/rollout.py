"""Canary and blue/green on AWS: what the candidate runs, its share, and what rolls it back.

Shared decisions (CLOUD-COMPONENTS.md): the canary path always exists; without a candidate it
runs the stable model at 0% of traffic and minimal capacity; with one it runs the candidate at
``rollout.canary_percent``. The rollback alarms (components.alarms.rollback_alarms) drive AWS's
native rollback: ECS deployment alarms for API-first, SageMaker deployment guardrails' auto
rollback for the managed platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.monitoring import AlarmDef
from components.rollout import traffic_split
from components.spec import DeploymentSpec, RolloutStrategy


@dataclass(frozen=True)
class Variant:
    """One of the two serving paths."""

    role: str  # "stable" or "canary"
    image: str
    version: str
    weight: int  # percent of traffic
    min_capacity: int
    max_capacity: int


def variants(spec: DeploymentSpec, *, min_floor: int = 0) -> tuple[Variant, Variant]:
    """(stable, canary). ``min_floor`` is the smallest capacity the platform accepts (1 for a
    SageMaker instance variant, 0 for an ECS service)."""
    stable_pct, canary_pct = traffic_split(spec)
    cap = spec.capacity
    stable = Variant(
        "stable",
        spec.model.serving_image,
        spec.model.version,
        stable_pct,
        max(cap.min_instances, min_floor),
        max(cap.max_instances, min_floor, 1),
    )
    if spec.has_candidate:
        # The candidate gets real capacity but is never allowed to outgrow the stable fleet.
        canary = Variant(
            "canary",
            spec.rollout.candidate_image or spec.model.serving_image,
            spec.rollout.candidate_version or spec.model.version,
            canary_pct,
            max(1, min_floor),
            max(1, min_floor, cap.max_instances),
        )
    else:
        canary = Variant(
            "canary", spec.model.serving_image, spec.model.version, 0, min_floor, max(1, min_floor)
        )
    return stable, canary


def rollback_alarm_names(
    defs: list[AlarmDef], alarms: Mapping[str, aws.cloudwatch.MetricAlarm]
) -> list[pulumi.Output[str]]:
    """Names of the alarms that roll a candidate back, in rule order."""
    return [alarms[d.key].name for d in defs if d.triggers_rollback]


# SageMaker deployment guardrails: how an endpoint update shifts traffic to the new fleet.
SAGEMAKER_TRAFFIC_ROUTING: Mapping[RolloutStrategy, str] = {
    RolloutStrategy.CANARY: "CANARY",
    RolloutStrategy.BLUE_GREEN: "ALL_AT_ONCE",
}


def sagemaker_deployment_config(
    spec: DeploymentSpec, rollback_alarms: list[pulumi.Output[str]]
) -> aws.sagemaker.EndpointDeploymentConfigArgs:
    """Blue/green update with canary (or all-at-once) shifting, baking ``bake_minutes``, rolled
    back automatically when any rollback alarm fires during the update."""
    # SageMaker caps each bake/wait at one hour and the whole update at four.
    bake_seconds = min(max(spec.rollout.bake_minutes * 60, 60), 3600)
    routing = SAGEMAKER_TRAFFIC_ROUTING[spec.rollout.strategy]
    canary_size = None
    if routing == "CANARY":
        canary_size = aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs(  # noqa: E501
            type="CAPACITY_PERCENT", value=max(spec.rollout.canary_percent, 1)
        )
    return aws.sagemaker.EndpointDeploymentConfigArgs(
        blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
            traffic_routing_configuration=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
                type=routing,
                wait_interval_in_seconds=bake_seconds,
                canary_size=canary_size,
            ),
            termination_wait_in_seconds=bake_seconds,
            maximum_execution_timeout_in_seconds=min(max(3 * bake_seconds, 600), 14400),
        ),
        auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
            alarms=[
                aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(
                    alarm_name=n
                )
                for n in rollback_alarms
            ]
        ),
    )
