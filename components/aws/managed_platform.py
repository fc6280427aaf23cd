"""Managed platform on AWS: a SageMaker real-time endpoint with guarded, self-undoing rollout.

Two production variants always exist: ``stable`` and ``candidate``. Their weights come from the
neutral traffic split (the candidate carries 0% and the stable model until a candidate is
given). Every change of the endpoint configuration is applied as a SageMaker blue/green update
with canary (or all-at-once) traffic shifting, a bake period, and automatic rollback when any of
the rollback alarms fires. Models run network-isolated in the stack's VPC; the endpoint's
volumes and captured request/response data are encrypted with the stack's key. See
docs/patterns/aws.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.alarms import Signal, Tier, serving_alarms
from components.aws import monitoring, network, release, rollout, scaling, security
from components.base import PatternComponent
from components.naming import resource_name
from components.spec import DeploymentSpec

# SageMaker's variant names are part of the blue/green contract: an update must keep them.
VARIANT_NAMES: Mapping[str, str] = {"stable": "stable", "canary": "candidate"}
# Share of requests whose payloads are captured for drift and confidence analysis.
CAPTURE_SAMPLING_PERCENT = 20
# Invocations per instance per minute the scaling policy aims for at the profile's CPU target.
# A starting point: tune it from a load test of the real model (docs/patterns/aws.md).
INVOCATIONS_AT_FULL_CPU = 1000


@dataclass(frozen=True)
class InstanceShape:
    """A SageMaker instance type and the cores its utilisation metrics sum over."""

    instance_type: str
    vcpus: int
    memory_mb: int
    gpus: int = 0


# Smallest general-purpose type that fits the profile's vCPU and memory (first match wins).
INSTANCE_SHAPES: tuple[InstanceShape, ...] = (
    InstanceShape("ml.m5.large", 2, 8192),
    InstanceShape("ml.m5.xlarge", 4, 16384),
    InstanceShape("ml.m5.2xlarge", 8, 32768),
    InstanceShape("ml.m5.4xlarge", 16, 65536),
)


def instance_shape(spec: DeploymentSpec) -> InstanceShape:
    """The instance shape serving ``spec.capacity`` (the largest when nothing fits)."""
    cap = spec.capacity
    for shape in INSTANCE_SHAPES:
        if shape.vcpus >= cap.cpu and shape.memory_mb >= cap.memory_mb:
            return shape
    return INSTANCE_SHAPES[-1]


def invocations_target(spec: DeploymentSpec) -> int:
    """Target invocations per instance per minute, at the profile's CPU target."""
    return max(1, INVOCATIONS_AT_FULL_CPU * spec.capacity.target_cpu_percent // 100)


# ENI management SageMaker performs in our subnets (review B3). Describes have no
# resource-level permissions and read only: "*". The writes act on network interfaces,
# subnets and security groups, which all carry the ec2:Vpc condition key: they are fenced to
# the stack's VPC.
VPC_READ_ACTIONS = (
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)
VPC_WRITE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
)
# DeleteNetworkInterfacePermission names no resource type (the Service Authorization
# Reference lists none), so ec2:Vpc may be absent from its request: IfExists, which still
# refuses another VPC's interfaces whenever the key is there.
VPC_PERMISSION_CLEANUP_ACTIONS = ("ec2:DeleteNetworkInterfacePermission",)
# The services through which SageMaker uses the key for the endpoint: its own (volumes,
# capture) and S3 (captured data) (review B4).
KEY_SERVICES = ("sagemaker", "s3")
LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)


class AwsManagedPlatform(PatternComponent):
    """The managed-platform pattern on AWS; outputs per components.spec.PATTERN_OUTPUTS."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        o = self.child_opts()
        self._o = o
        self.endpoint_physical_name = resource_name(
            "aws", "sagemaker", spec.project, spec.environment.value
        )
        self.shape = instance_shape(spec)
        self.stable, self.canary = rollout.variants(spec, min_floor=1)
        self.key = security.create_kms_key(
            name,
            spec,
            o,
            description=f"{spec.project} {spec.environment.value}: endpoint, capture, logs",
            users=(security.LOGS_KEY_USER, security.ALARMS_KEY_USER, security.S3_LOGGING_KEY_USER),
        )
        self.network = network.create_network(name, spec, self.key, o)
        self._create_capture_storage()
        self._create_models()
        self._create_monitoring()
        self._create_endpoint()

        self.endpoint_name = self.endpoint.name
        self.model_name = self.models["stable"].name
        self.candidate_model_name = self.models["canary"].name
        self.kms_key_id = self.key.key_id
        self.alert_topic = self.topics[Tier.PAGE].arn
        # On AWS the rollback is SageMaker's own: these alarms, named in the endpoint's
        # deployment config, trigger it.
        self.rollback_trigger = pulumi.Output.all(
            *rollout.rollback_alarm_names(self.alarm_defs, self.alarms)
        )
        self.rollback_alarms = self.rollback_trigger
        # After the update window too (review E5): the same alarms wake the rollback function.
        self.rollback_function = release.create_rollback_function(
            name,
            spec,
            key=self.key,
            alarms=[self.alarms[d.key] for d in self.alarm_defs if d.triggers_rollback],
            topics=self.topics,
            target=release.managed_platform_target(spec, self.endpoint.name),
            opts=o,
        )
        self._finish()

    # --- storage --------------------------------------------------------------------------
    def _create_capture_storage(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.access_logs = security.create_access_log_bucket(
            f"{name}-access-logs", spec, self.key, o
        )
        self.capture = security.create_private_bucket(
            f"{name}-capture",
            spec,
            self.key,
            o,
            access_log_bucket=self.access_logs.bucket,
        )

    # --- models ---------------------------------------------------------------------------
    def _create_models(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.model_sg = aws.ec2.SecurityGroup(
            f"{name}-model-sg",
            description="SageMaker model ENIs: HTTPS out only (image pull, S3), nothing in",
            vpc_id=self.network.vpc_id,
            egress=[network.https_egress("HTTPS to the image registry and S3")],
            tags=spec.standard_tags(),
            opts=o,
        )
        account = security.account_id()
        endpoint_logs = account.apply(
            lambda a: (
                f"arn:aws:logs:{spec.region}:{a}:log-group:"
                f"/aws/sagemaker/Endpoints/{self.endpoint_physical_name}:*"
            )
        )
        capture_objects = self.capture.bucket.arn.apply(lambda arn: f"{arn}/*")
        vpc_arn = pulumi.Output.all(account, self.network.vpc_id).apply(
            lambda v: f"arn:aws:ec2:{spec.region}:{v[0]}:vpc/{v[1]}"
        )
        self.role = security.create_role(
            f"{name}-sagemaker-role",
            spec,
            "sagemaker.amazonaws.com",
            [
                security.statement(LOG_ACTIONS, [endpoint_logs]),
                security.statement(VPC_READ_ACTIONS, ["*"]),
                security.statement(
                    VPC_WRITE_ACTIONS, ["*"], condition={"ArnEquals": {"ec2:Vpc": vpc_arn}}
                ),
                security.statement(
                    VPC_PERMISSION_CLEANUP_ACTIONS,
                    ["*"],
                    condition={"ArnEqualsIfExists": {"ec2:Vpc": vpc_arn}},
                ),
                security.statement(["s3:PutObject"], [capture_objects]),
                security.key_use_statement(
                    ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    self.key.arn,
                    spec.region,
                    *KEY_SERVICES,
                ),
                security.statement(
                    ["cloudwatch:PutMetricData"],
                    ["*"],
                    condition={
                        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}
                    },
                ),
                *security.image_pull_statements([self.stable.image, self.canary.image]),
            ],
            o,
            description="SageMaker endpoint: its logs, capture bucket, key, VPC ENIs",
        )
        self.endpoint_logs = security.create_log_group(
            f"{name}-endpoint-logs",
            spec,
            self.key,
            o,
            log_group_name=f"/aws/sagemaker/Endpoints/{self.endpoint_physical_name}",
        )
        self.models: dict[str, aws.sagemaker.Model] = {}
        for variant in (self.stable, self.canary):
            # SageMaker pulls the image from ECR itself (the spec accepts only ECR images for
            # this pattern, review A22), with the execution role's pull rights on the
            # repository; the bootstrap's repository policy admits this account when the
            # registry lives in another one.
            access = "Platform"
            self.models[variant.role] = aws.sagemaker.Model(
                f"{name}-{variant.role}-model",
                execution_role_arn=self.role.arn,
                enable_network_isolation=True,
                vpc_config=aws.sagemaker.ModelVpcConfigArgs(
                    subnets=self.network.private_subnet_ids,
                    security_group_ids=[self.model_sg.id],
                ),
                primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                    image=variant.image,
                    image_config=aws.sagemaker.ModelPrimaryContainerImageConfigArgs(
                        repository_access_mode=access
                    ),
                    environment={
                        "MODEL_NAME": spec.model.name,
                        "MODEL_VERSION": variant.version,
                        "VARIANT": VARIANT_NAMES[variant.role],
                    },
                ),
                tags={
                    **spec.standard_tags(),
                    "variant": variant.role,
                    "served-version": variant.version.lower().replace(".", "_"),
                },
                opts=o,
            )

    # --- monitoring -----------------------------------------------------------------------
    def _create_monitoring(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        rules = serving_alarms(spec)
        periods = next(r.evaluation_periods for r in rules if r.signal is Signal.LATENCY_P95)
        self.alarm_defs = [
            *monitoring.alarm_defs(
                rules, monitoring.SAGEMAKER_METRICS, has_candidate=spec.has_candidate
            ),
            *monitoring.sagemaker_capacity_alarms(
                vcpus=self.shape.vcpus,
                gpus=self.shape.gpus,
                invocations_target=invocations_target(spec),
                evaluation_periods=periods,
            ),
        ]
        self.topics = monitoring.create_alert_topics(
            name, spec, self.key, monitoring.tiers_used(self.alarm_defs), o
        )
        dimensions: dict[str, Mapping[str, pulumi.Input[str]]] = {
            target: {"EndpointName": self.endpoint_physical_name, "VariantName": variant}
            for target, variant in (
                ("stable", VARIANT_NAMES["stable"]),
                ("candidate", VARIANT_NAMES["canary"]),
            )
        }
        self.alarms = monitoring.create_alarms(
            name, spec, self.alarm_defs, dimensions, self.topics, o
        )
        self.dashboard = monitoring.create_dashboard(
            name,
            spec,
            self.alarms,
            o,
            title=f"{spec.project} {spec.environment.value} SageMaker endpoint",
        )

    # --- endpoint -------------------------------------------------------------------------
    def _create_endpoint(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        # A bucket's id is its name.
        capture_uri = self.capture.bucket.id.apply(lambda b: f"s3://{b}/capture")
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-endpoint-config",
            kms_key_arn=self.key.arn,
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name=VARIANT_NAMES[variant.role],
                    model_name=self.models[variant.role].name,
                    instance_type=self.shape.instance_type,
                    initial_instance_count=variant.min_capacity,
                    initial_variant_weight=float(variant.weight),
                )
                for variant in (self.stable, self.canary)
            ],
            data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                enable_capture=True,
                initial_sampling_percentage=CAPTURE_SAMPLING_PERCENT,
                destination_s3_uri=capture_uri,
                kms_key_id=self.key.arn,
                capture_options=[
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                        capture_mode=mode
                    )
                    for mode in ("Input", "Output")
                ],
                capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                    json_content_types=["application/json"]
                ),
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=self.capture.children)
            ),
        )
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=self.endpoint_physical_name,
            endpoint_config_name=config.name,
            deployment_config=rollout.sagemaker_deployment_config(
                spec, rollout.rollback_alarm_names(self.alarm_defs, self.alarms)
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                o,
                pulumi.ResourceOptions(
                    depends_on=[self.endpoint_logs], protect=spec.retention.deletion_protection
                ),
            ),
        )
        for variant in (self.stable, self.canary):
            self._autoscale(variant)

    def _autoscale(self, variant: rollout.Variant) -> None:
        name, spec = self.name, self.spec
        scaling.create_target_tracking(
            f"{name}-{variant.role}-scaling",
            f"{name}-{variant.role}-invocations",
            pulumi.Output.concat(
                "endpoint/", self.endpoint.name, "/variant/", VARIANT_NAMES[variant.role]
            ),
            (variant.min_capacity, variant.max_capacity),
            scaling.Tracking(
                "sagemaker",
                "sagemaker:variant:DesiredInstanceCount",
                "SageMakerVariantInvocationsPerInstance",
                float(invocations_target(spec)),
            ),
            self._o,
        )
