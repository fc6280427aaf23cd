"""AWS building block for the embedded pattern: the authenticated download API.

``GET /releases/latest`` behind the JWT authorizer (devices hold a token from the client's
identity provider; the spec's issuer and audience) answers with short-lived presigned URLs of
the current release in the channel (components/aws/release_fn/handler.py). The function reads
``releases/*`` of its channel and nothing else; the stage is the shared hardened one (access
and execution logs, tracing, throttles, WAF). Devices verify what they download offline with
their environment's pinned public key, so a leaked URL or a compromised channel can at worst
deliver something a device refuses.

The client's own build pipeline, which bakes a release into an app, does not go through this
API: it reads the channel directly with its own least-privilege role
(:func:`create_channel_reader`), per environment.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import api_gateway, functions, security
from components.naming import resource_name
from components.spec import DeploymentSpec

HANDLER_DIR = Path(__file__).resolve().parent / "release_fn"
ROUTE = ("releases", "latest")
URL_SECONDS = 300  # how long a presigned download URL works
CHANNEL_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")


@dataclass(frozen=True)
class DownloadApi:
    """The API devices ask for releases, and what serves it."""

    rest_api: aws.apigateway.RestApi
    stage: api_gateway.Stage
    function: aws.lambda_.Function
    url: pulumi.Output[str]  # the full URL of GET /releases/latest


def _releases(bucket: aws.s3.Bucket) -> pulumi.Output[str]:
    return bucket.arn.apply(lambda arn: f"{arn}/releases/*")


def create_download_api(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    channel: aws.s3.Bucket,
    opts: pulumi.ResourceOptions,
) -> DownloadApi:
    """The download API of the environment's release channel (logical names ``<name>-dl-*``)."""
    base = f"{name}-dl"
    function_name = resource_name("aws", "default", spec.project, spec.environment.value, "dl")

    def statements(logs: aws.cloudwatch.LogGroup, dlq: aws.sqs.Queue) -> list[dict[str, Any]]:
        return [
            functions.log_write_statement(logs),
            security.statement(functions.XRAY_WRITE_ACTIONS, ["*"]),
            security.statement(["sqs:SendMessage"], [dlq.arn]),
            # Read releases only; S3 decrypts them with the stack's key on its behalf.
            security.statement(CHANNEL_READ_ACTIONS, [_releases(channel)]),
            security.key_use_statement(
                ["kms:Decrypt", "kms:GenerateDataKey"], key.arn, spec.region, "lambda", "sqs", "s3"
            ),
        ]

    made = functions.create_function(
        base,
        spec,
        key,
        opts,
        function_name=function_name,
        description="Answers devices with short-lived download URLs of the current release",
        role_description="Release downloads: reads its channel's releases, nothing else",
        handler="handler.handler",
        code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(HANDLER_DIR / "handler.py"))}),
        statements=statements,
        timeout=10,
        memory_size=256,
        environment={"CHANNEL_BUCKET": channel.bucket, "URL_SECONDS": str(URL_SECONDS)},
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
    parent: pulumi.Input[str] = rest_api.root_resource_id
    for part in ROUTE:
        parent = aws.apigateway.Resource(
            f"{base}-path-{part}",
            rest_api=rest_api.id,
            parent_id=parent,
            path_part=part,
            opts=opts,
        ).id
    authorizer = api_gateway.create_jwt_authorizer(base, spec, key, rest_api, opts)
    method = aws.apigateway.Method(
        f"{base}-get",
        rest_api=rest_api.id,
        resource_id=parent,
        http_method="GET",
        authorization="CUSTOM",
        authorizer_id=authorizer.id,
        opts=opts,
    )
    integration = aws.apigateway.Integration(
        f"{base}-integration",
        rest_api=rest_api.id,
        resource_id=parent,
        http_method=method.http_method,
        type="AWS_PROXY",
        integration_http_method="POST",
        uri=made.function.invoke_arn,
        timeout_milliseconds=10000,
        opts=opts,
    )
    aws.lambda_.Permission(
        f"{base}-invoke",
        action="lambda:InvokeFunction",
        function=made.function.name,
        principal="apigateway.amazonaws.com",
        source_arn=pulumi.Output.concat(rest_api.execution_arn, "/*/GET/", "/".join(ROUTE)),
        source_account=security.account_id(),
        opts=opts,
    )
    shape = json.dumps({"route": ROUTE, "auth": "jwt"}, sort_keys=True)
    deployment = aws.apigateway.Deployment(
        f"{base}-deployment",
        rest_api=rest_api.id,
        triggers={"shape": hashlib.sha256(shape.encode()).hexdigest()},
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[method, integration])
        ),
    )
    stage = api_gateway.create_stage(base, spec, key, rest_api, deployment, opts)
    url = pulumi.Output.concat(stage.stage.invoke_url, "/", "/".join(ROUTE))
    return DownloadApi(rest_api, stage, made.function, url)


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
