"""Load balancer rules (POLICY-RULES 15): HTTPS/TLS listeners with a TLS 1.2+ policy, plain HTTP
only to redirect to HTTPS (M); access logs (A).

TCP / UDP pass-through listeners of network load balancers carry no TLS of their own and are
out of scope; a listener without a protocol is an application load balancer's HTTP default.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_false, is_true, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp

LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
CLASSIC = "aws:elb/loadBalancer:LoadBalancer"

TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
PLAIN_PROTOCOLS = frozenset({"HTTP"})
CLASSIC_PLAIN_PROTOCOLS = frozenset({"HTTP", "TCP"})
# Exact names of the ELB security policies that refuse TLS 1.0 and 1.1.
TLS12_POLICIES = frozenset(
    {
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
        "ELBSecurityPolicy-TLS-1-2-2017-01",
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        "ELBSecurityPolicy-FS-1-2-2019-08",
        "ELBSecurityPolicy-FS-1-2-Res-2019-08",
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    }
)


def _redirects_to_https(actions: Any) -> bool:
    actions = items(actions)
    return bool(actions) and all(
        get(a, "type") == "redirect" and get(a, "redirect", "protocol") == "HTTPS" for a in actions
    )


def _check_listener(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CLASSIC:
        for listener in items(get(props, "listeners")):
            protocol = str(get(listener, "lbProtocol") or "").upper()
            if protocol in CLASSIC_PLAIN_PROTOCOLS:
                yield f"Classic load balancer listens with {protocol}; use HTTPS or SSL."
        return
    protocol = str(get(props, "protocol") or "HTTP").upper()
    if protocol in TLS_PROTOCOLS:
        policy = get(props, "sslPolicy")
        if policy not in TLS12_POLICIES:
            shown = policy or "unset (ELBSecurityPolicy-2016-08, allows TLS 1.0)"
            yield f"{protocol} listener TLS policy is {shown}; use a TLS 1.2+ policy."
    elif protocol in PLAIN_PROTOCOLS and not _redirects_to_https(get(props, "defaultActions")):
        yield "HTTP listener serves traffic in clear text; it may only redirect to HTTPS."


LISTENER_REQUIRE_HTTPS = resource_rule(
    "aws-lb-listener-require-https",
    "Load balancer listeners must use HTTPS/TLS with a TLS 1.2+ security policy; an HTTP "
    "listener may only redirect to HTTPS.",
    types=[*LISTENERS, CLASSIC],
    check=_check_listener,
    severity=Severity.HIGH,
    tags=["encryption", "network", "elb", "tls"],
    remediation=(
        "Use protocol='HTTPS', a certificate_arn and ssl_policy="
        "'ELBSecurityPolicy-TLS13-1-2-2021-06'; make port 80 a redirect action to HTTPS 443."
    ),
    references=[checkov("CKV_AWS_2"), checkov("CKV_AWS_103")],
)


def _check_access_logs(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    logs = get(props, "accessLogs")
    if args.resource_type == CLASSIC:
        # Classic load balancers log whenever the block names a bucket, unless disabled.
        logging = present(get(logs, "bucket")) and not is_false(get(logs, "enabled"))
    else:
        if get(props, "loadBalancerType") == "gateway":
            return  # gateway load balancers have no access logs
        logging = is_true(get(logs, "enabled")) and present(get(logs, "bucket"))
    if not logging:
        yield "Load balancer writes no access logs (access_logs enabled with a bucket)."


REQUIRE_ACCESS_LOGS = resource_rule(
    "aws-lb-require-access-logs",
    "Load balancers should write access logs to S3.",
    types=[*LOAD_BALANCERS, CLASSIC],
    check=_check_access_logs,
    severity=Severity.LOW,
    tags=["logging", "elb", "logging-audit"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set access_logs={'bucket': <log bucket>, 'prefix': '<lb>', 'enabled': True}.",
    references=[checkov("CKV_AWS_91"), fsbp("ELB.5")],
)

TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
# Target types that carry no protocol of their own (Lambda targets, ALB-type targets of an NLB).
NO_PROTOCOL_TARGETS = frozenset({"lambda", "alb"})


def _check_target_group(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "targetType") in NO_PROTOCOL_TARGETS:
        return
    protocol = str(get(props, "protocol") or "").upper()
    if protocol in PLAIN_PROTOCOLS:
        yield (
            "Target group forwards to its targets over plain HTTP (protocol=HTTP): the hop "
            "from the load balancer to the targets is not encrypted."
        )


TARGET_GROUP_REQUIRE_HTTPS = resource_rule(
    "aws-lb-target-group-require-https",
    "Load balancer target groups should forward to their targets over HTTPS (end-to-end TLS, "
    "review C4).",
    types=TARGET_GROUPS,
    check=_check_target_group,
    severity=Severity.LOW,
    tags=["tls", "elb"],
    # Advisory (review C4): TLS in the container (or a sidecar) is a design decision; a
    # stack that terminates TLS at the load balancer declares the waiver with its reason.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set protocol='HTTPS' on the target group and serve TLS in the container (or a TLS "
        "sidecar); the ALB does not verify target certificates, so a self-signed one works."
    ),
    references=[checkov("CKV_AWS_378")],
    since=2,
)

POLICIES = [LISTENER_REQUIRE_HTTPS, REQUIRE_ACCESS_LOGS, TARGET_GROUP_REQUIRE_HTTPS]
