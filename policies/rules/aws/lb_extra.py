"""Application / network load balancers beyond their listeners (elb.py judges listeners and
access logs).

Mandatory: application load balancers drop malformed HTTP headers and do not run the desync
mitigation in ``monitor`` mode (HTTP request smuggling).
Advisory (mandatory in staging / prod through the pack's levels): deletion protection on
prod-like load balancers (not tagged as a dev / test / sandbox environment); an internet-facing
application load balancer sits behind a WAF web ACL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.aws._common import StackFindings, each, get, is_true, linked, of_types
from policies.rules.aws.rds import prod_like
from policies.rules.base import OPERATIONAL, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp

LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
WAF_ASSOCIATIONS = (
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:wafregional/webAclAssociation:WebAclAssociation",
)
APPLICATION = "application"


def _application(props: Any) -> bool:
    return (get(props, "loadBalancerType") or APPLICATION) == APPLICATION


def _check_headers(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not _application(props):
        return
    if not is_true(get(props, "dropInvalidHeaderFields")):
        yield (
            "Application load balancer forwards malformed HTTP headers to targets "
            "(drop_invalid_header_fields not true): request smuggling and header injection "
            "reach the application."
        )
    if get(props, "desyncMitigationMode") == "monitor":
        yield (
            "Application load balancer only monitors HTTP desync (desync_mitigation_mode is "
            "monitor): ambiguous requests are forwarded; use defensive or strictest."
        )


REQUIRE_DROP_INVALID_HEADERS = resource_rule(
    "aws-lb-require-drop-invalid-headers",
    "Application load balancers must drop invalid HTTP header fields and mitigate HTTP desync "
    "(defensive or strictest mode).",
    types=LOAD_BALANCERS,
    check=_check_headers,
    severity=Severity.MEDIUM,
    tags=["lb", "network-exposure"],
    remediation=(
        "Set drop_invalid_header_fields=True and leave desync_mitigation_mode at 'defensive' "
        "(or 'strictest')."
    ),
    references=[
        checkov("CKV_AWS_131"),
        checkov("CKV_AWS_328"),
        fsbp("ELB.4"),
        fsbp("ELB.12"),
    ],
    since=2,
)


def _check_deletion_protection(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if prod_like(props) and not is_true(get(props, "enableDeletionProtection")):
        yield (
            "Load balancer can be deleted by any update or destroy "
            "(enable_deletion_protection not true)."
        )


REQUIRE_DELETION_PROTECTION = resource_rule(
    "aws-lb-require-deletion-protection",
    "Load balancers should have deletion protection on, except those tagged as a disposable "
    "environment (environment/env tag dev, test, sandbox, ...).",
    types=LOAD_BALANCERS,
    check=_check_deletion_protection,
    severity=Severity.LOW,
    tags=["lb", "resilience"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set enable_deletion_protection=True (turn it off deliberately before removal).",
    references=[checkov("CKV_AWS_150"), fsbp("ELB.6")],
    since=2,
)


def _check_waf(args: StackValidationArgs) -> StackFindings:
    associations = of_types(args, *WAF_ASSOCIATIONS)

    def check(lb: PolicyResource) -> StackFindings:
        if is_true(get(lb.props, "internal")) or not _application(lb.props):
            return
        if any(linked(lb, associations, "resourceArn")):
            return
        yield (
            f"Internet-facing application load balancer '{lb.name}' is reachable from the "
            "internet without a WAF web ACL (no aws.wafv2.WebAclAssociation for it).",
            lb.urn,
        )

    yield from each(of_types(args, *LOAD_BALANCERS), check)


INTERNET_FACING_REQUIRE_WAF = stack_rule(
    "aws-lb-internet-facing-require-waf",
    "Internet-facing application load balancers should be protected by a WAF web ACL (or be "
    "internal, behind CloudFront / API Gateway with their own WAF).",
    check=_check_waf,
    severity=Severity.MEDIUM,
    tags=["lb", "network-exposure"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add aws.wafv2.WebAcl (scope REGIONAL, AWS managed rule groups) and "
        "aws.wafv2.WebAclAssociation(resource_arn=<lb>.arn, web_acl_arn=<acl>.arn), or set "
        "internal=True and front the load balancer with a WAF-protected entry point."
    ),
    references=[checkov("CKV2_AWS_28")],
    since=2,
)

POLICIES = [REQUIRE_DROP_INVALID_HEADERS, REQUIRE_DELETION_PROTECTION, INTERNET_FACING_REQUIRE_WAF]
