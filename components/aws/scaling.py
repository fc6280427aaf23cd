"""AWS building block: Application Auto Scaling with target tracking (ECS services, SageMaker
variants). A plain function: the caller's ``opts`` keep the pattern as parent, so URNs hold."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Scaling:
    """A scalable target and its target-tracking policy."""

    target: aws.appautoscaling.Target
    policy: aws.appautoscaling.Policy


@dataclass(frozen=True)
class Tracking:
    """What a target-tracking policy follows."""

    namespace: str  # "ecs", "sagemaker"
    dimension: str  # "ecs:service:DesiredCount", ...
    metric: str  # a predefined metric type, e.g. "ECSServiceAverageCPUUtilization"
    target_value: float
    scale_in_cooldown: int = 300  # scale in slowly: a burst often comes back
    scale_out_cooldown: int = 60


def create_target_tracking(
    target_name: str,
    policy_name: str,
    resource_id: pulumi.Input[str],
    bounds: tuple[int, int],
    tracking: Tracking,
    opts: pulumi.ResourceOptions,
) -> Scaling:
    """Scale ``resource_id`` between ``bounds`` (min, max) to hold ``tracking``'s metric at
    its target value."""
    low, high = bounds
    target = aws.appautoscaling.Target(
        target_name,
        service_namespace=tracking.namespace,
        scalable_dimension=tracking.dimension,
        resource_id=resource_id,
        min_capacity=low,
        max_capacity=high,
        opts=opts,
    )
    policy = aws.appautoscaling.Policy(
        policy_name,
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
            target_value=tracking.target_value,
            predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type=tracking.metric
            ),
            scale_in_cooldown=tracking.scale_in_cooldown,
            scale_out_cooldown=tracking.scale_out_cooldown,
        ),
        opts=opts,
    )
    return Scaling(target, policy)
