"""AWS building block: the hardened REST API stage every aideploy API serves through.

:func:`create_stage` gives a REST API's deployment a stage with what the policy pack and an
operator expect of any public API: access logs in JSON to an encrypted log group, execution
logs at ERROR level in a group created first (API Gateway would otherwise create it itself,
unencrypted and kept forever), X-Ray tracing, metrics, no cache, a stage-wide throttle and any
per-route throttles, and the stack's WAF web ACL in front. The routes, integrations and
authorizers are the pattern's (api-first: the model behind a VPC link; embedded: the download
function); the stage is shared.

A plain function: the caller's ``opts`` keep the pattern component as parent, so the URNs of
existing stacks do not change (tests/components/test_urn_snapshots.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import functions, security
from components.aws.waf import create_web_acl
from components.naming import resource_name
from components.spec import DeploymentSpec

# TLS 1.3 and 1.2 only, for the API's own endpoint (SecurityPolicy_* names the enhanced set).
API_TLS_POLICY = "SecurityPolicy_TLS13_1_2_2021_06"

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "principal": "$context.authorizer.principalId",
        "apiKeyId": "$context.identity.apiKeyId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "canary": "$context.isCanaryRequest",
        "wafStatus": "$context.waf.status",
        "error": "$context.error.message",
    },
    sort_keys=True,
)


@dataclass(frozen=True)
class RouteLimit:
    """A throttle for one route, below the stage's (logical name ``<name>-<suffix>``)."""

    suffix: str
    method_path: str  # API Gateway's ``resource/METHOD``, e.g. ``health/GET``
    rate_rps: float
    burst: int


@dataclass(frozen=True)
class Stage:
    """The stage and what makes it observable and guarded."""

    stage: aws.apigateway.Stage
    access_logs: aws.cloudwatch.LogGroup
    web_acl: aws.wafv2.WebAcl


def _settings(rate_rps: float, burst: int) -> aws.apigateway.MethodSettingsSettingsArgs:
    return aws.apigateway.MethodSettingsSettingsArgs(
        metrics_enabled=True,
        logging_level="ERROR",
        data_trace_enabled=False,
        throttling_rate_limit=rate_rps,
        throttling_burst_limit=burst,
        caching_enabled=False,
        cache_data_encrypted=True,
    )


def create_stage(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    rest_api: aws.apigateway.RestApi,
    deployment: aws.apigateway.Deployment,
    opts: pulumi.ResourceOptions,
    *,
    variables: Mapping[str, str] | None = None,
    canary: aws.apigateway.StageCanarySettingsArgs | None = None,
    route_limits: Sequence[RouteLimit] = (),
) -> Stage:
    """The environment's stage (named after the environment) of ``rest_api``."""
    stage_name = spec.environment.value
    access_logs = security.create_log_group(
        f"{name}-access-logs",
        spec,
        key,
        opts,
        log_group_name=f"/aws/apigateway/{spec.project}-{spec.environment.value}/access",
    )
    execution_logs = security.create_log_group(
        f"{name}-execution-logs",
        spec,
        key,
        opts,
        log_group_name=rest_api.id.apply(lambda i: f"API-Gateway-Execution-Logs_{i}/{stage_name}"),
    )
    stage = aws.apigateway.Stage(
        f"{name}-stage",
        rest_api=rest_api.id,
        deployment=deployment.id,
        stage_name=stage_name,
        variables=dict(variables) if variables is not None else None,
        canary_settings=canary,
        access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
            destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
        ),
        xray_tracing_enabled=True,
        cache_cluster_enabled=False,
        tags=spec.standard_tags(),
        # Access and execution logging need the account's API Gateway CloudWatch role, an
        # account-wide setting the bootstrap makes once (its stack_prerequisites name the
        # role); the stage cannot depend on it by Output across projects.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[execution_logs])
        ),
    )
    aws.apigateway.MethodSettings(
        f"{name}-method-settings",
        rest_api=rest_api.id,
        stage_name=stage.stage_name,
        method_path="*/*",
        # Stage-wide ceiling for every caller (JWT-only callers have no usage plan).
        settings=_settings(float(spec.api.rate_limit_rps), spec.api.burst),
        opts=opts,
    )
    for limit in route_limits:
        aws.apigateway.MethodSettings(
            f"{name}-{limit.suffix}",
            rest_api=rest_api.id,
            stage_name=stage.stage_name,
            method_path=limit.method_path,
            settings=_settings(limit.rate_rps, limit.burst),
            opts=opts,
        )
    web_acl = create_web_acl(name, spec, key, opts)
    aws.wafv2.WebAclAssociation(
        f"{name}-waf-association",
        resource_arn=stage.arn,
        web_acl_arn=web_acl.arn,
        opts=opts,
    )
    return Stage(stage, access_logs, web_acl)


# What a bearer token must look like before the authorizer function is even invoked.
BEARER_JWT_RE = r"^Bearer [-0-9A-Za-z_]+\.[-0-9A-Za-z_]+\.[-0-9A-Za-z_]+$"
XRAY_WRITE_ACTIONS = functions.XRAY_WRITE_ACTIONS


def create_jwt_authorizer(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    rest_api: aws.apigateway.RestApi,
    opts: pulumi.ResourceOptions,
) -> aws.apigateway.Authorizer:
    """A TOKEN authorizer on ``rest_api``: the JWT-validating function (the spec's issuer and
    audience) behind it, invokable by this API's authorizers only."""
    o = opts
    function_name = resource_name(
        "aws", "default", spec.project, spec.environment.value, "jwt-authorizer"
    )

    def statements(logs: aws.cloudwatch.LogGroup, dlq: aws.sqs.Queue) -> list[dict[str, Any]]:
        return [
            functions.log_write_statement(logs),
            security.statement(XRAY_WRITE_ACTIONS, ["*"]),
            # Its environment (Lambda) and its dead letters (SQS) only (review B4).
            security.key_use_statement(
                ["kms:Decrypt", "kms:GenerateDataKey"],
                key.arn,
                spec.region,
                "lambda",
                "sqs",
            ),
            security.statement(["sqs:SendMessage"], [dlq.arn]),
        ]

    source = Path(__file__).with_name("jwt_authorizer.py")
    # Invoked synchronously, so nothing ever lands in its dead-letter queue in normal
    # operation; the queue exists so an asynchronous invoke (a test, a misconfiguration)
    # cannot lose events silently.
    function = functions.create_function(
        f"{name}-authorizer",
        spec,
        key,
        o,
        function_name=function_name,
        description="Validates OIDC bearer JWTs (RS256) for the model API",
        role_description="JWT authorizer: its own logs, traces, DLQ and env-var key only",
        handler="index.handler",
        code=pulumi.AssetArchive({"index.py": pulumi.FileAsset(str(source))}),
        statements=statements,
        timeout=5,
        memory_size=256,
        environment=dict(zip(("JWT_ISSUER", "JWT_AUDIENCE"), spec.api.jwt(), strict=True)),
    ).function
    authorizer = aws.apigateway.Authorizer(
        f"{name}-jwt",
        rest_api=rest_api.id,
        name="jwt",
        type="TOKEN",
        authorizer_uri=function.invoke_arn,
        identity_source="method.request.header.Authorization",
        identity_validation_expression=BEARER_JWT_RE,
        authorizer_result_ttl_in_seconds=300,
        opts=o,
    )
    aws.lambda_.Permission(
        f"{name}-authorizer-invoke",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="apigateway.amazonaws.com",
        source_arn=pulumi.Output.concat(rest_api.execution_arn, "/authorizers/", authorizer.id),
        source_account=security.account_id(),
        opts=o,
    )
    return authorizer
