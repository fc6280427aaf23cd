"""API Gateway rules on small real programs: a compliant REST API stage (logged, WAF-fronted,
encrypted cache, TLS 1.2 domain) and an HTTP API stage, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import apigateway
from tests.policies.test_aws_common import Program, judge, waiver

LOGS = aws.apigateway.StageAccessLogSettingsArgs(
    destination_arn="arn:aws:logs:eu-west-1:123456789012:log-group:api",
    format='{"id":"$context.requestId"}',
)


def rest_api(
    *,
    waf: bool = True,
    stage: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    domain_policy: str | None = "TLS_1_2",
) -> Program:
    stage_args: dict[str, Any] = {"access_log_settings": LOGS, "cache_cluster_enabled": True}
    stage_args.update(stage or {})
    method: dict[str, Any] = {
        "caching_enabled": True,
        "cache_data_encrypted": True,
        "metrics_enabled": True,
    }
    method.update(settings or {})

    def program() -> None:
        api = aws.apigateway.RestApi("api")
        deployment = aws.apigateway.Deployment("api-deployment", rest_api=api.id)
        st = aws.apigateway.Stage(
            "api-stage", rest_api=api.id, deployment=deployment.id, stage_name="v1", **stage_args
        )
        aws.apigateway.MethodSettings(
            "api-methods",
            rest_api=api.id,
            stage_name=st.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(**method),
        )
        if waf:
            acl = aws.wafv2.WebAcl(
                "api-waf",
                scope="REGIONAL",
                default_action=aws.wafv2.WebAclDefaultActionArgs(
                    allow=aws.wafv2.WebAclDefaultActionAllowArgs()
                ),
                visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                    cloudwatch_metrics_enabled=True,
                    metric_name="api",
                    sampled_requests_enabled=True,
                ),
            )
            aws.wafv2.WebAclAssociation("api-waf-link", resource_arn=st.arn, web_acl_arn=acl.arn)
        aws.apigateway.DomainName(
            "api-domain",
            domain_name="api.acme.example",
            regional_certificate_arn="arn:c",
            security_policy=domain_policy,
            endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(
                types="REGIONAL"
            ),
        )

    return program


def http_api(*, logs: bool = True, policy: str = "TLS_1_2") -> Program:
    def program() -> None:
        api = aws.apigatewayv2.Api("http", protocol_type="HTTP")
        aws.apigatewayv2.Stage(
            "http-stage",
            api_id=api.id,
            name="$default",
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn="arn:aws:logs:::log-group:http", format="{}"
            )
            if logs
            else None,
        )
        aws.apigatewayv2.DomainName(
            "http-domain",
            domain_name="h.acme.example",
            domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                certificate_arn="arn:c", endpoint_type="REGIONAL", security_policy=policy
            ),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (rest_api(), set()),
        (rest_api(stage={"access_log_settings": None}), {"api-stage"}),
        (http_api(), set()),
        (http_api(logs=False), {"http-stage"}),
    ],
    ids=["rest", "rest-none", "http", "http-none"],
)
def test_aws_apigateway_stage_require_access_logging(program: Program, flagged: set[str]) -> None:
    assert judge(apigateway.STAGE_REQUIRE_ACCESS_LOGGING, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (rest_api(), set()),
        (rest_api(domain_policy="TLS_1_0"), {"api-domain"}),
        (rest_api(domain_policy=None), {"api-domain"}),
        (http_api(), set()),
        (http_api(policy="TLS_1_0"), {"http-domain"}),
    ],
    ids=["rest", "rest-tls10", "rest-unset", "http", "http-tls10"],
)
def test_aws_apigateway_domain_require_tls12(program: Program, flagged: set[str]) -> None:
    assert judge(apigateway.DOMAIN_REQUIRE_TLS12, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (rest_api(), set()),
        (rest_api(settings={"cache_data_encrypted": False}), {"api-methods"}),
        (rest_api(settings={"cache_data_encrypted": None}), {"api-methods"}),
        (rest_api(settings={"caching_enabled": False, "cache_data_encrypted": None}), set()),
    ],
    ids=["encrypted", "plain", "unset", "no-caching"],
)
def test_aws_apigateway_cache_require_encryption(program: Program, flagged: set[str]) -> None:
    assert judge(apigateway.CACHE_REQUIRE_ENCRYPTION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(rest_api(), set()), (rest_api(waf=False), {"api-stage"}), (http_api(), set())],
    ids=["associated", "missing", "http-api-not-applicable"],
)
def test_aws_apigateway_stage_require_waf(program: Program, flagged: set[str]) -> None:
    assert judge(apigateway.STAGE_REQUIRE_WAF, program) == flagged


def test_waf_waiver() -> None:
    program = rest_api(waf=False)
    assert judge(apigateway.STAGE_REQUIRE_WAF, program, waiver("api-stage")) == set()


# ---------------------------------------------------------------------------- revision 2
@pytest.mark.parametrize(
    ("policy", "ok"),
    [
        ("TLS_1_2", True),
        ("SecurityPolicy_TLS13_1_2_2021_06", True),
        ("SecurityPolicy_TLS13_1_3_2025_09", True),
        ("SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09", True),
        ("SecurityPolicy_TLS12_PFS_2025_EDGE", True),
        ("TLS_1_0", False),
        ("SecurityPolicy_TLS10_2099_01", False),
        (None, False),
    ],
)
def test_enhanced_security_policies_count_as_tls12(policy: str | None, ok: bool) -> None:
    assert apigateway.accepts_only_tls12(policy) is ok


def test_domain_with_an_enhanced_policy_passes_review_d1() -> None:
    program = rest_api(domain_policy="SecurityPolicy_TLS13_1_2_2021_06")
    assert judge(apigateway.DOMAIN_REQUIRE_TLS12, program) == set()


def rest_api_endpoint(**args: Any) -> Program:
    def program() -> None:
        aws.apigateway.RestApi("api", **args)

    return program


ENHANCED = {"security_policy": "SecurityPolicy_TLS13_1_2_2021_06", "endpoint_access_mode": "STRICT"}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (rest_api_endpoint(**ENHANCED), set()),
        (rest_api_endpoint(security_policy="TLS_1_2"), set()),
        (rest_api_endpoint(), {"api"}),
        (rest_api_endpoint(security_policy="TLS_1_0"), {"api"}),
    ],
    ids=["enhanced", "legacy-tls12", "unset", "tls10"],
)
def test_aws_apigateway_rest_api_require_tls12(program: Program, flagged: set[str]) -> None:
    assert judge(apigateway.REST_API_REQUIRE_TLS12, program) == flagged


def integration(uri: str, *, skip: bool | None = None, kind: str = "HTTP_PROXY") -> Program:
    def program() -> None:
        api = aws.apigateway.RestApi("api", **ENHANCED)
        method = aws.apigateway.Method(
            "predict",
            rest_api=api.id,
            resource_id=api.root_resource_id,
            http_method="POST",
            authorization="NONE",
        )
        aws.apigateway.Integration(
            "predict-integration",
            rest_api=api.id,
            resource_id=api.root_resource_id,
            http_method=method.http_method,
            type=kind,
            integration_http_method="POST",
            uri=uri,
            tls_config=(
                aws.apigateway.IntegrationTlsConfigArgs(insecure_skip_verification=skip)
                if skip is not None
                else None
            ),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (integration("https://serving.api.acme.example/predict"), set()),
        (integration("https://serving.api.acme.example/predict", skip=False), set()),
        (
            integration("arn:aws:apigateway:eu-west-1:lambda:path/fn", kind="AWS_PROXY"),
            set(),
        ),
        (integration("http://serving.internal/predict"), {"predict-integration"}),
        (
            integration("https://serving.internal/predict", skip=True),
            {"predict-integration"},
        ),
    ],
    ids=["https-verified", "explicitly-verified", "lambda-proxy", "plain-http", "skip-verify"],
)
def test_aws_apigateway_integration_disallow_insecure_tls(
    program: Program, flagged: set[str]
) -> None:
    assert judge(apigateway.INTEGRATION_DISALLOW_INSECURE_TLS, program) == flagged


def test_integration_tls_waiver() -> None:
    program = integration("https://serving.internal/predict", skip=True)
    rule = apigateway.INTEGRATION_DISALLOW_INSECURE_TLS
    assert judge(rule, program, waiver("predict-integration")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (rest_api(settings={"logging_level": "ERROR"}), set()),
        (rest_api(settings={"logging_level": "INFO"}), set()),
        (rest_api(), {"api-stage"}),
        (rest_api(settings={"logging_level": "OFF"}), {"api-stage"}),
    ],
    ids=["error", "info", "unset", "off"],
)
def test_aws_apigateway_stage_require_execution_logging(
    program: Program, flagged: set[str]
) -> None:
    assert judge(apigateway.STAGE_REQUIRE_EXECUTION_LOGGING, program) == flagged
