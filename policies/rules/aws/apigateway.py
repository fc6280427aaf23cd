"""API Gateway rules (POLICY-RULES 9): access logging, TLS 1.2 domains, encrypted cache, WAF.

WAF is attached by a separate wafv2 WebAclAssociation whose ``resourceArn`` is the stage's ARN:
a stack rule follows that dependency. WAF cannot front HTTP APIs (apigatewayv2), so only REST
stages need one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.aws._common import (
    StackFindings,
    each,
    get,
    is_true,
    known,
    linked,
    of_types,
    present,
)
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp, guardrail

REST_STAGE = "aws:apigateway/stage:Stage"
HTTP_STAGE = "aws:apigatewayv2/stage:Stage"
REST_DOMAIN = "aws:apigateway/domainName:DomainName"
HTTP_DOMAIN = "aws:apigatewayv2/domainName:DomainName"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
WAF_ASSOCIATIONS = (
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:wafregional/webAclAssociation:WebAclAssociation",
)

REST_API = "aws:apigateway/restApi:RestApi"
INTEGRATION = "aws:apigateway/integration:Integration"

# Exact names of the API Gateway security policies that refuse TLS 1.0 / 1.1: the legacy
# TLS_1_2 and the enhanced ``SecurityPolicy_*`` policies whose minimum is TLS 1.2 or 1.3
# (review D-1: the enhanced TLS 1.3 + 1.2 policy the patterns use failed the old list).
TLS12_POLICIES = frozenset(
    {
        "TLS_1_2",
        "SecurityPolicy_TLS13_1_3_2025_09",
        "SecurityPolicy_TLS13_1_3_FIPS_2025_09",
        "SecurityPolicy_TLS13_1_2_2021_06",
        "SecurityPolicy_TLS13_1_2_PQ_2025_09",
        "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
        "SecurityPolicy_TLS13_1_2_FIPS_PQ_2025_09",
        "SecurityPolicy_TLS13_1_2_FIPS_PFS_PQ_2025_09",
        "SecurityPolicy_TLS12_PFS_2025_EDGE",
        "SecurityPolicy_TLS12_2018_EDGE",
    }
)
# Enhanced policies published later keep the naming scheme: the minimum version comes first
# (TLS12_..., TLS13_1_2_..., TLS13_1_3_..., or TLS 1.3 only: TLS13_<year>...).
_ENHANCED_TLS12 = re.compile(r"SecurityPolicy_TLS1(2_|3_1_[23]_|3_\d{4})[A-Z0-9_]*")


def accepts_only_tls12(policy: Any) -> bool:
    """True for a security policy that refuses TLS 1.0 and 1.1."""
    return isinstance(policy, str) and (
        policy in TLS12_POLICIES or bool(_ENHANCED_TLS12.fullmatch(policy))
    )


def _check_access_logging(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "accessLogSettings", "destinationArn")):
        yield "API Gateway stage writes no access logs (access_log_settings.destination_arn)."


STAGE_REQUIRE_ACCESS_LOGGING = resource_rule(
    "aws-apigateway-stage-require-access-logging",
    "API Gateway stages (REST and HTTP) must write access logs to a log destination.",
    types=[REST_STAGE, HTTP_STAGE],
    check=_check_access_logging,
    severity=Severity.MEDIUM,
    tags=["logging", "apigateway", "logging-audit"],
    remediation=(
        "Set access_log_settings={'destination_arn': <log group ARN>, 'format': <JSON format>} "
        "on the stage."
    ),
    references=[checkov("CKV_AWS_76"), checkov("CKV_AWS_95")],
)


def _check_domain_tls(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    policy = get(props, "securityPolicy")
    if policy is None:
        policy = get(props, "domainNameConfiguration", "securityPolicy")
    if not accepts_only_tls12(policy):
        yield (
            f"API Gateway custom domain accepts TLS below 1.2 (security_policy is "
            f"{policy or 'unset'}); use TLS_1_2 or an enhanced SecurityPolicy_TLS13_1_2_* policy."
        )


DOMAIN_REQUIRE_TLS12 = resource_rule(
    "aws-apigateway-domain-require-tls12",
    "API Gateway custom domains must require TLS 1.2 or later.",
    types=[REST_DOMAIN, HTTP_DOMAIN],
    check=_check_domain_tls,
    severity=Severity.HIGH,
    tags=["encryption", "network", "apigateway", "tls"],
    remediation=(
        "Set security_policy='TLS_1_2' or an enhanced policy such as "
        "'SecurityPolicy_TLS13_1_2_2021_06' (REST, with endpoint_access_mode) or "
        "domain_name_configuration.security_policy='TLS_1_2' (HTTP APIs)."
    ),
    references=[checkov("CKV_AWS_206")],
)


def _check_cache_encryption(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    settings = get(props, "settings")
    if is_true(get(settings, "cachingEnabled")) and not is_true(
        get(settings, "cacheDataEncrypted")
    ):
        yield "API Gateway method settings cache responses unencrypted (cache_data_encrypted)."


CACHE_REQUIRE_ENCRYPTION = resource_rule(
    "aws-apigateway-cache-require-encryption",
    "API Gateway response caches must be encrypted wherever caching is enabled.",
    types=[METHOD_SETTINGS],
    check=_check_cache_encryption,
    severity=Severity.MEDIUM,
    tags=["encryption", "apigateway"],
    remediation="Set settings.cache_data_encrypted=True wherever settings.caching_enabled=True.",
    references=[checkov("CKV_AWS_308"), fsbp("APIGateway.5")],
)


def _waf_findings(stage: PolicyResource, associations: list[PolicyResource]) -> StackFindings:
    if not any(True for _ in linked(stage, associations, "resourceArn")):
        yield (f"API Gateway stage '{stage.name}' has no WAF web ACL associated.", stage.urn)


def _check_waf(args: StackValidationArgs) -> StackFindings:
    associations = of_types(args, *WAF_ASSOCIATIONS)
    yield from each(of_types(args, REST_STAGE), lambda s: _waf_findings(s, associations))


STAGE_REQUIRE_WAF = stack_rule(
    "aws-apigateway-stage-require-waf",
    "API Gateway REST stages must have a WAF web ACL associated "
    "(aws.wafv2.WebAclAssociation with resource_arn=<stage>.arn).",
    check=_check_waf,
    severity=Severity.HIGH,
    tags=["network", "apigateway", "waf", "network-exposure"],
    category=SECURITY,
    remediation=(
        "Create an aws.wafv2.WebAcl (scope REGIONAL, AWS managed rule groups) and "
        "aws.wafv2.WebAclAssociation(resource_arn=<stage>.arn, web_acl_arn=<acl>.arn)."
    ),
    references=[checkov("CKV2_AWS_29"), fsbp("APIGateway.4")],
)


# ---------------------------------------------------------------------------- revision 2
def _check_rest_api_tls(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    policy = get(props, "securityPolicy")
    if not accepts_only_tls12(policy):
        yield (
            "REST API default endpoint accepts TLS below 1.2 (security_policy is "
            f"{policy or 'unset: TLS_1_0'}); set an enhanced SecurityPolicy_TLS13_1_2_* policy."
        )


REST_API_REQUIRE_TLS12 = resource_rule(
    "aws-apigateway-rest-api-require-tls12",
    "A REST API's default execute-api endpoint must refuse TLS 1.0/1.1: security_policy set "
    "to TLS_1_2 or an enhanced SecurityPolicy_TLS13_1_2_* / _TLS13_1_3_* policy (review D-1).",
    types=[REST_API],
    check=_check_rest_api_tls,
    severity=Severity.MEDIUM,
    tags=["tls", "apigateway"],
    remediation=(
        "Set security_policy='SecurityPolicy_TLS13_1_2_2021_06' and endpoint_access_mode="
        "'STRICT' on the RestApi (pulumi_aws >= 7.x), or disable the default endpoint and "
        "serve only a TLS 1.2 custom domain."
    ),
    references=[checkov("CKV_AWS_206"), guardrail("9")],
    since=2,
)


HTTP_INTEGRATIONS = frozenset({"HTTP", "HTTP_PROXY"})


def _check_integration_tls(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "tlsConfig", "insecureSkipVerification")):
        yield (
            "API Gateway integration does not verify the backend's certificate "
            "(tls_config.insecure_skip_verification=true): the hop accepts any certificate."
        )
    # Only an HTTP integration's uri is a URL; a Lambda proxy's is its invoke ARN, unknown at a
    # first preview (reading it there is what the engine reports as a failed rule).
    if get(props, "type") not in HTTP_INTEGRATIONS:
        return
    uri = get(props, "uri")
    if isinstance(uri, str) and uri.lower().startswith("http://"):
        yield f"API Gateway integration calls its backend over plain HTTP ({uri})."


INTEGRATION_DISALLOW_INSECURE_TLS = resource_rule(
    "aws-apigateway-integration-disallow-insecure-tls",
    "API Gateway HTTP integrations should call their backend over HTTPS and verify its "
    "certificate (review C4); waive it for a private CA's certificate with renewal in place.",
    types=[INTEGRATION],
    check=_check_integration_tls,
    severity=Severity.LOW,
    tags=["tls", "apigateway"],
    # Advisory (review C4): a VPC-link hop to an internal load balancer may use a private CA
    # API Gateway cannot verify; the component declares that waiver with its reason.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Use an https:// uri whose certificate chains to a public CA (an ACM certificate for a "
        "name under your domain) and drop insecure_skip_verification."
    ),
    references=[guardrail("9")],
    since=2,
)

# Execution logging levels that record something (OFF and unset record nothing).
LOGGING_LEVELS = frozenset({"ERROR", "INFO"})


def _logs_execution(settings: PolicyResource) -> bool:
    return get(settings.props, "methodPath") == "*/*" and (
        get(settings.props, "settings", "loggingLevel") in LOGGING_LEVELS
    )


def _execution_logging_findings(
    stage: PolicyResource, method_settings: list[PolicyResource]
) -> StackFindings:
    names = [known(stage.props, "stageName")]
    linked_settings = linked(stage, method_settings, "stageName", target_values=names)
    if not any(_logs_execution(m) for m in linked_settings):
        yield (
            f"API Gateway stage '{stage.name}' writes no execution logs: no method settings "
            "for '*/*' with logging_level ERROR or INFO.",
            stage.urn,
        )


def _check_execution_logging(args: StackValidationArgs) -> StackFindings:
    settings = of_types(args, METHOD_SETTINGS)
    yield from each(of_types(args, REST_STAGE), lambda s: _execution_logging_findings(s, settings))


STAGE_REQUIRE_EXECUTION_LOGGING = stack_rule(
    "aws-apigateway-stage-require-execution-logging",
    "API Gateway REST stages should log execution errors: method settings for '*/*' with "
    "logging_level ERROR or INFO (Checkov CKV2_AWS_4).",
    check=_check_execution_logging,
    severity=Severity.LOW,
    tags=["logging-audit", "apigateway"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add aws.apigateway.MethodSettings(rest_api=<api>.id, stage_name=<stage>.stage_name, "
        "method_path='*/*', settings={'logging_level': 'ERROR', 'metrics_enabled': True, "
        "'data_trace_enabled': False})."
    ),
    references=[checkov("CKV2_AWS_4"), fsbp("APIGateway.1")],
    since=2,
    types=[REST_STAGE, METHOD_SETTINGS],
)

POLICIES = [
    STAGE_REQUIRE_ACCESS_LOGGING,
    DOMAIN_REQUIRE_TLS12,
    CACHE_REQUIRE_ENCRYPTION,
    STAGE_REQUIRE_WAF,
    REST_API_REQUIRE_TLS12,
    INTEGRATION_DISALLOW_INSECURE_TLS,
    STAGE_REQUIRE_EXECUTION_LOGGING,
]
