"""CloudFront distributions: the internet edge in front of a model API, a UI or a bucket.

Mandatory: viewers are redirected to (or required to use) HTTPS and custom origins are reached
over HTTPS; viewers negotiate TLS 1.2+ (a custom certificate with a TLSv1.2_* security policy:
the default ``*.cloudfront.net`` certificate accepts TLS 1.0) and origins are not offered SSLv3
/ TLS 1.0 / 1.1. Advisory: standard access logs (legacy ``logging_config`` or a CloudWatch log
delivery source of type ACCESS_LOGS), and a WAF web ACL.
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
    items,
    linked,
    of_types,
    present,
)
from policies.rules.base import OPERATIONAL, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
LOG_DELIVERY_SOURCE = "aws:cloudwatch/logDeliverySource:LogDeliverySource"

ALLOW_ALL = "allow-all"
HTTP_ONLY = "http-only"
TLS12_VIEWER_POLICY = re.compile(r"TLSv1\.[23]_\d{4}")
WEAK_ORIGIN_PROTOCOLS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})


def _behaviors(props: Any) -> list[tuple[str, Any]]:
    found = [("default", get(props, "defaultCacheBehavior"))]
    for behavior in items(get(props, "orderedCacheBehaviors")):
        found.append((str(get(behavior, "pathPattern") or "(ordered)"), behavior))
    return found


def _check_https(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for label, behavior in _behaviors(props):
        if get(behavior, "viewerProtocolPolicy") == ALLOW_ALL:
            yield (
                f"CloudFront cache behavior {label} serves viewers over plain HTTP "
                "(viewer_protocol_policy allow-all)."
            )
    for origin in items(get(props, "origins")):
        custom = get(origin, "customOriginConfig")
        if custom is not None and get(custom, "originProtocolPolicy") == HTTP_ONLY:
            yield (
                f"CloudFront origin {get(origin, 'originId')} is reached over plain HTTP "
                "(custom_origin_config.origin_protocol_policy http-only)."
            )


REQUIRE_HTTPS = resource_rule(
    "aws-cloudfront-require-https",
    "CloudFront distributions must serve viewers over HTTPS (redirect-to-https or https-only) "
    "and reach custom origins over HTTPS.",
    types=[DISTRIBUTION],
    check=_check_https,
    severity=Severity.HIGH,
    tags=["cloudfront", "tls", "encryption"],
    remediation=(
        "Set viewer_protocol_policy='redirect-to-https' on every cache behavior and "
        "origin_protocol_policy='https-only' on custom origins."
    ),
    references=[
        checkov("CKV_AWS_34"),
        checkov("CKV2_AWS_72"),
        fsbp("CloudFront.3"),
        fsbp("CloudFront.9"),
    ],
    since=2,
)


def _check_tls12(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    certificate = get(props, "viewerCertificate")
    if is_true(get(certificate, "cloudfrontDefaultCertificate")):
        yield (
            "CloudFront distribution uses the default *.cloudfront.net certificate, which "
            "accepts TLS below 1.2 (TLSv1); use a custom certificate with TLSv1.2_2021."
        )
    else:
        version = get(certificate, "minimumProtocolVersion")
        if not (isinstance(version, str) and TLS12_VIEWER_POLICY.fullmatch(version)):
            yield (
                "CloudFront distribution accepts TLS below 1.2 (viewer_certificate."
                f"minimum_protocol_version is {version or 'unset'})."
            )
    for origin in items(get(props, "origins")):
        protocols = items(get(origin, "customOriginConfig", "originSslProtocols"))
        weak = sorted(p for p in protocols if p in WEAK_ORIGIN_PROTOCOLS)
        if weak:
            yield (
                f"CloudFront origin {get(origin, 'originId')} accepts TLS below 1.2 "
                f"(origin_ssl_protocols include {', '.join(weak)})."
            )


REQUIRE_TLS12 = resource_rule(
    "aws-cloudfront-require-tls12",
    "CloudFront distributions must accept TLS 1.2+ from viewers (a custom certificate with a "
    "TLSv1.2_* policy) and offer only TLS 1.2 to custom origins.",
    types=[DISTRIBUTION],
    check=_check_tls12,
    severity=Severity.HIGH,
    tags=["cloudfront", "tls"],
    remediation=(
        "Set viewer_certificate={'acm_certificate_arn': <us-east-1 cert>, 'ssl_support_method': "
        "'sni-only', 'minimum_protocol_version': 'TLSv1.2_2021'} and "
        "origin_ssl_protocols=['TLSv1.2']."
    ),
    references=[checkov("CKV_AWS_174"), checkov("CKV2_AWS_54"), fsbp("CloudFront.10")],
    since=2,
)


def _check_logging(args: StackValidationArgs) -> StackFindings:
    sources = [
        s for s in of_types(args, LOG_DELIVERY_SOURCE) if get(s.props, "logType") == "ACCESS_LOGS"
    ]

    def check(distribution: PolicyResource) -> StackFindings:
        if present(get(distribution.props, "loggingConfig", "bucket")):
            return
        if any(linked(distribution, sources, "resourceArn")):
            return
        yield (
            f"CloudFront distribution '{distribution.name}' keeps no access logs "
            "(logging_config unset and no ACCESS_LOGS log delivery source for it).",
            distribution.urn,
        )

    yield from each(of_types(args, DISTRIBUTION), check)


REQUIRE_LOGGING = stack_rule(
    "aws-cloudfront-require-logging",
    "CloudFront distributions should keep standard access logs (logging_config, or an "
    "aws.cloudwatch.LogDeliverySource of type ACCESS_LOGS for the distribution).",
    check=_check_logging,
    severity=Severity.LOW,
    tags=["cloudfront", "logging-audit"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add aws.cloudwatch.LogDeliverySource(log_type='ACCESS_LOGS', resource_arn=<dist>.arn) "
        "with a LogDeliveryDestination and LogDelivery (or logging_config={'bucket': ...})."
    ),
    references=[checkov("CKV_AWS_86"), fsbp("CloudFront.5")],
    since=2,
)


def _check_waf(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "webAclId")):
        yield "CloudFront distribution has no WAF web ACL (web_acl_id unset)."


REQUIRE_WAF = resource_rule(
    "aws-cloudfront-require-waf",
    "CloudFront distributions should be protected by a WAF web ACL.",
    types=[DISTRIBUTION],
    check=_check_waf,
    severity=Severity.MEDIUM,
    tags=["cloudfront", "network-exposure"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Create an aws.wafv2.WebAcl with scope CLOUDFRONT (in us-east-1) and set "
        "web_acl_id=<acl>.arn."
    ),
    references=[checkov("CKV_AWS_68"), fsbp("CloudFront.6")],
    since=2,
)

POLICIES = [REQUIRE_HTTPS, REQUIRE_TLS12, REQUIRE_LOGGING, REQUIRE_WAF]
