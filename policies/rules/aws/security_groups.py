"""Security group rules (Checkov CKV_AWS_23): every group and every rule says what it is for.

A description is the only record, in the console and in flow-log investigations, of why a
port is open; Pulumi's default group description ("Managed by Pulumi") says nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
RULE_TYPES = (
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
DEFAULT_DESCRIPTION = "Managed by Pulumi"


def _described(value: Any) -> bool:
    return present(value) and value != DEFAULT_DESCRIPTION


def _port(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _check_descriptions(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type in RULE_TYPES:
        if not _described(get(props, "description")):
            yield "Security group rule has no description saying what it allows and why."
        return
    if not _described(get(props, "description")):
        yield "Security group has no description of its own (description unset)."
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(items(get(props, direction))):
            if not _described(get(rule, "description")):
                ports = f"{_port(get(rule, 'fromPort'))}-{_port(get(rule, 'toPort'))}"
                yield f"Security group {direction} rule {i} (ports {ports}) has no description."


REQUIRE_DESCRIPTIONS = resource_rule(
    "aws-security-group-require-descriptions",
    "Security groups and each of their rules should carry a description of what they allow.",
    types=[SECURITY_GROUP, *RULE_TYPES],
    check=_check_descriptions,
    severity=Severity.LOW,
    tags=["network-exposure", "ec2"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set description= on the SecurityGroup and on every ingress/egress entry (or "
        "SecurityGroupIngressRule / SecurityGroupEgressRule), e.g. 'HTTPS from the VPC link'."
    ),
    references=[checkov("CKV_AWS_23")],
    since=2,
)

POLICIES = [REQUIRE_DESCRIPTIONS]
