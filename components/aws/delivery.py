"""AWS building blocks for the embedded pattern: the device API and the build pipeline's role.

The device API has two routes behind the JWT authorizer (devices hold a token from the
client's identity provider; the spec's issuer and audience), on the shared hardened stage
(access and execution logs, tracing, throttles, WAF):

* ``GET /releases/latest`` answers with short-lived presigned URLs of the current release in
  the channel (components/aws/release_fn/handler.py); its function reads ``releases/*`` of the
  channel and nothing else. Devices verify what they download offline with their environment's
  pinned public key, so a leaked URL or a compromised channel can at worst deliver something a
  device refuses.
* ``POST /telemetry`` takes opt-in device reports (components/embedded_telemetry.py) and turns
  them into metrics (components/aws/telemetry_fn/handler.py); the neutral telemetry alarms
  watch them: signature failures page, download failures, stale devices and drift make
  tickets.

The client's own build pipeline, which bakes a release into an app, does not go through this
API: it reads the channel directly with its own least-privilege role
(:func:`create_channel_reader`), per environment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components import embedded_telemetry as telemetry
from components.alarms import Tier, alarm_name
from components.aws import api_gateway, functions, security
from components.naming import resource_name
from components.spec import DeploymentSpec

HANDLER_DIR = Path(__file__).resolve().parent / "release_fn"
TELEMETRY_DIR = Path(__file__).resolve().parent / "telemetry_fn"
TELEMETRY_MODULE = Path(telemetry.__file__)
DOWNLOAD_ROUTE = ("releases", "latest")
TELEMETRY_ROUTE = ("telemetry",)
URL_SECONDS = 300  # how long a presigned download URL works
CHANNEL_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")


@dataclass(frozen=True)
class DeviceApi:
    """The API devices use, and what serves it."""

    rest_api: aws.apigateway.RestApi
    stage: api_gateway.Stage
    download: aws.lambda_.Function
    telemetry: aws.lambda_.Function
    url: pulumi.Output[str]  # GET <url>/releases/latest, POST <url>/telemetry
    alarms: dict[str, aws.cloudwatch.MetricAlarm]


def _releases(bucket: aws.s3.Bucket) -> pulumi.Output[str]:
    return bucket.arn.apply(lambda arn: f"{arn}/releases/*")


def _pointer(bucket: aws.s3.Bucket) -> pulumi.Output[str]:
    return bucket.arn.apply(lambda arn: f"{arn}/releases/LATEST.json")


@dataclass(frozen=True)
class _Route:
    """One route of the device API and the function behind it."""

    path: tuple[str, ...]
    method: str
    function: aws.lambda_.Function


def _function(
    base: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    channel: aws.s3.Bucket,
    opts: pulumi.ResourceOptions,
    *,
    role: str,
    description: str,
    files: dict[str, Path],
    reads: list[pulumi.Input[str]],
    environment: dict[str, pulumi.Input[str]],
) -> aws.lambda_.Function:
    """A device-facing function that reads ``reads`` of the channel and nothing else."""
    function_name = resource_name("aws", "default", spec.project, spec.environment.value, role)

    def statements(logs: aws.cloudwatch.LogGroup, dlq: aws.sqs.Queue) -> list[dict[str, Any]]:
        return [
            functions.log_write_statement(logs),
            security.statement(functions.XRAY_WRITE_ACTIONS, ["*"]),
            security.statement(["sqs:SendMessage"], [dlq.arn]),
            # S3 decrypts what it reads with the stack's key on its behalf.
            security.statement(CHANNEL_READ_ACTIONS, reads),
            # Listing under releases/ only: without it S3 answers a missing pointer (before the
            # first release) with AccessDenied rather than NoSuchKey.
            security.statement(
                ["s3:ListBucket"],
                [channel.arn],
                condition={"StringLike": {"s3:prefix": ["releases/*"]}},
            ),
            security.key_use_statement(
                ["kms:Decrypt", "kms:GenerateDataKey"], key.arn, spec.region, "lambda", "sqs", "s3"
            ),
        ]

    return functions.create_function(
        base,
        spec,
        key,
        opts,
        function_name=function_name,
        description=description,
        role_description=f"{description}: reads its channel, nothing else",
        handler="handler.handler",
        code=pulumi.AssetArchive({arc: pulumi.FileAsset(str(f)) for arc, f in files.items()}),
        statements=statements,
        timeout=10,
        memory_size=256,
        environment=environment,
    ).function


def create_device_api(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    channel: aws.s3.Bucket,
    topics: Mapping[Tier, aws.sns.Topic],
    opts: pulumi.ResourceOptions,
) -> DeviceApi:
    """The device API of the environment's release channel (logical names ``<name>-dl-*``):
    downloads, opt-in telemetry, and the telemetry alarms on ``topics``."""
    base = f"{name}-dl"
    download = _function(
        base, spec, key, channel, opts,
        role="dl",
        description="Answers devices with short-lived download URLs of the current release",
        files={"handler.py": HANDLER_DIR / "handler.py"},
        reads=[_releases(channel)],
        environment={"CHANNEL_BUCKET": channel.bucket, "URL_SECONDS": str(URL_SECONDS)},
    )  # fmt: skip
    telemetry_fn = _function(
        f"{name}-telemetry", spec, key, channel, opts,
        role="telemetry",
        description="Turns device reports into metrics",
        files={
            "handler.py": TELEMETRY_DIR / "handler.py",
            "embedded_telemetry.py": TELEMETRY_MODULE,
        },
        reads=[_pointer(channel)],
        environment={"CHANNEL_BUCKET": channel.bucket, "ENVIRONMENT": spec.environment.value},
    )  # fmt: skip
    routes = (
        _Route(DOWNLOAD_ROUTE, "GET", download),
        _Route(TELEMETRY_ROUTE, "POST", telemetry_fn),
    )
    rest_api = aws.apigateway.RestApi(
        f"{base}-api",
        name=resource_name("aws", "default", spec.project, spec.environment.value, "dl-api"),
        description=f"{spec.project} model releases for devices ({spec.environment.value})",
        endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
        security_policy=api_gateway.API_TLS_POLICY,
        endpoint_access_mode="STRICT",
        tags=spec.standard_tags(),
        opts=opts,
    )
    authorizer = api_gateway.create_jwt_authorizer(base, spec, key, rest_api, opts)
    made: list[pulumi.Resource] = []
    resources: dict[tuple[str, ...], pulumi.Output[str]] = {(): rest_api.root_resource_id}
    for route in routes:
        for depth in range(1, len(route.path) + 1):
            path = route.path[:depth]
            if path not in resources:
                resources[path] = aws.apigateway.Resource(
                    f"{base}-path-{'-'.join(path)}",
                    rest_api=rest_api.id,
                    parent_id=resources[path[:-1]],
                    path_part=path[-1],
                    opts=opts,
                ).id
        suffix = "-".join(route.path)
        method = aws.apigateway.Method(
            f"{base}-{route.method.lower()}-{suffix}",
            rest_api=rest_api.id,
            resource_id=resources[route.path],
            http_method=route.method,
            authorization="CUSTOM",
            authorizer_id=authorizer.id,
            opts=opts,
        )
        integration = aws.apigateway.Integration(
            f"{base}-integration-{suffix}",
            rest_api=rest_api.id,
            resource_id=resources[route.path],
            http_method=method.http_method,
            type="AWS_PROXY",
            integration_http_method="POST",
            uri=route.function.invoke_arn,
            timeout_milliseconds=10000,
            opts=opts,
        )
        aws.lambda_.Permission(
            f"{base}-invoke-{suffix}",
            action="lambda:InvokeFunction",
            function=route.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(
                rest_api.execution_arn, f"/*/{route.method}/", "/".join(route.path)
            ),
            source_account=security.account_id(),
            opts=opts,
        )
        made.extend([method, integration])
    shape = json.dumps([[r.method, *r.path] for r in routes] + [["auth", "jwt"]])
    deployment = aws.apigateway.Deployment(
        f"{base}-deployment",
        rest_api=rest_api.id,
        triggers={"shape": hashlib.sha256(shape.encode()).hexdigest()},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=made)),
    )
    stage = api_gateway.create_stage(base, spec, key, rest_api, deployment, opts)
    alarms = create_telemetry_alarms(name, spec, topics, opts)
    url = stage.stage.invoke_url
    return DeviceApi(rest_api, stage, download, telemetry_fn, url, alarms)


def create_telemetry_alarms(
    name: str,
    spec: DeploymentSpec,
    topics: Mapping[Tier, aws.sns.Topic],
    opts: pulumi.ResourceOptions,
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """The neutral telemetry alarms (components/embedded_telemetry.py ALARMS) on the metrics
    the telemetry function writes, each to its tier's topic."""
    alarms = {}
    for rule in telemetry.ALARMS:
        topic = topics[Tier(rule.tier)]
        alarms[rule.key] = aws.cloudwatch.MetricAlarm(
            f"{name}-alarm-{rule.key}",
            name=alarm_name(spec, rule.key),
            alarm_description=rule.description,
            namespace=telemetry.NAMESPACE,
            metric_name=rule.metric,
            dimensions={"Environment": spec.environment.value},
            statistic=rule.statistic,
            period=rule.period_seconds,
            evaluation_periods=rule.evaluation_periods,
            datapoints_to_alarm=rule.evaluation_periods,
            threshold=rule.threshold,
            comparison_operator="GreaterThanThreshold",
            # No reports is no evidence of failure: devices report only when they opt in.
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags={**spec.standard_tags(), "alert-tier": rule.tier},
            opts=opts,
        )
    return alarms


def create_channel_reader(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    channel: aws.s3.Bucket,
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """The client's build pipeline's role for this environment: read the channel's releases,
    nothing else. Like the event-driven producer and reader, it is assumable by this account's
    principals that carry the tag ``aideploy-<project>-<env>-release-reader = "true"`` (set by
    the client's IAM admin) and whose own policies allow it."""
    return security.create_account_role(
        f"{name}-channel-reader",
        spec,
        [
            security.statement(CHANNEL_READ_ACTIONS, [_releases(channel)]),
            security.statement(["s3:ListBucket"], [channel.arn]),
            security.key_use_statement(["kms:Decrypt"], key.arn, spec.region, "s3"),
        ],
        opts,
        description="The client's build pipeline: reads released models, nothing else",
        access="release-reader",
    )
