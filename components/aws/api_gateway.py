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

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.aws.waf import create_web_acl
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
