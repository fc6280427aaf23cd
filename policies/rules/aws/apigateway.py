"""API Gateway rules (POLICY-RULES 9): access logging, TLS 1.2 domains, encrypted cache, WAF.

WAF is attached by a separate wafv2 WebAclAssociation whose ``resourceArn`` is the stage's ARN:
a stack rule follows that dependency. WAF cannot front HTTP APIs (apigatewayv2), so only REST
stages need one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from policies.rules.aws._common import StackFindings, each, get, is_true, linked, of_types, present
from policies.rules.base import SECURITY, resource_rule, stack_rule

REST_STAGE = "aws:apigateway/stage:Stage"
HTTP_STAGE = "aws:apigatewayv2/stage:Stage"
REST_DOMAIN = "aws:apigateway/domainName:DomainName"
HTTP_DOMAIN = "aws:apigatewayv2/domainName:DomainName"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
WAF_ASSOCIATIONS = (
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:wafregional/webAclAssociation:WebAclAssociation",
)

# Exact names of the API Gateway security policies that refuse TLS 1.0 / 1.1.
TLS12_POLICIES = frozenset({"TLS_1_2"})


def _check_access_logging(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "accessLogSettings", "destinationArn")):
        yield "API Gateway stage writes no access logs (access_log_settings.destination_arn)."


STAGE_REQUIRE_ACCESS_LOGGING = resource_rule(
    "aws-apigateway-stage-require-access-logging",
    "API Gateway stages (REST and HTTP) must write access logs to a log destination.",
    types=[REST_STAGE, HTTP_STAGE],
    check=_check_access_logging,
    severity=Severity.MEDIUM,
    tags=["logging", "apigateway"],
    remediation=(
        "Set access_log_settings={'destination_arn': <log group ARN>, 'format': <JSON format>} "
        "on the stage."
    ),
)


def _check_domain_tls(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    policy = get(props, "securityPolicy")
    if policy is None:
        policy = get(props, "domainNameConfiguration", "securityPolicy")
    if policy not in TLS12_POLICIES:
        yield (
            f"API Gateway custom domain security policy is {policy or 'unset'}; "
            f"use one of {sorted(TLS12_POLICIES)}."
        )


DOMAIN_REQUIRE_TLS12 = resource_rule(
    "aws-apigateway-domain-require-tls12",
    "API Gateway custom domains must require TLS 1.2 or later.",
    types=[REST_DOMAIN, HTTP_DOMAIN],
    check=_check_domain_tls,
    severity=Severity.HIGH,
    tags=["encryption", "network", "apigateway"],
    remediation=(
        "Set security_policy='TLS_1_2' (REST) or domain_name_configuration.security_policy="
        "'TLS_1_2' (HTTP APIs)."
    ),
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
    tags=["network", "apigateway", "waf"],
    category=SECURITY,
    remediation=(
        "Create an aws.wafv2.WebAcl (scope REGIONAL, AWS managed rule groups) and "
        "aws.wafv2.WebAclAssociation(resource_arn=<stage>.arn, web_acl_arn=<acl>.arn)."
    ),
)

POLICIES = [
    STAGE_REQUIRE_ACCESS_LOGGING,
    DOMAIN_REQUIRE_TLS12,
    CACHE_REQUIRE_ENCRYPTION,
    STAGE_REQUIRE_WAF,
]
