"""Load balancer rules beyond listeners on small real programs: one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import lb_extra
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver


def balancer(*, waf: bool = False, **change: Any) -> Program:
    args: dict[str, Any] = {
        "load_balancer_type": "application",
        "internal": True,
        "subnets": ["subnet-a", "subnet-b"],
        "drop_invalid_header_fields": True,
        "enable_deletion_protection": True,
        "tags": {"environment": "prod"},
        **change,
    }

    def program() -> None:
        lb = aws.lb.LoadBalancer("alb", **{k: v for k, v in args.items() if v is not None})
        if waf:
            aws.wafv2.WebAclAssociation(
                "alb-waf", resource_arn=lb.arn, web_acl_arn="arn:aws:wafv2:eu-west-1:1:acl"
            )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (balancer(), set()),
        (balancer(desync_mitigation_mode="strictest"), set()),
        (balancer(load_balancer_type="network", drop_invalid_header_fields=None), set()),
        (balancer(drop_invalid_header_fields=None), {"alb"}),
        (balancer(drop_invalid_header_fields=False), {"alb"}),
        (balancer(desync_mitigation_mode="monitor"), {"alb"}),
    ],
    ids=["dropped", "strictest", "network-lb", "unset", "off", "desync-monitor"],
)
def test_aws_lb_require_drop_invalid_headers(program: Program, flagged: set[str]) -> None:
    assert judge(lb_extra.REQUIRE_DROP_INVALID_HEADERS, program) == flagged


def test_alb_alias_type_is_judged() -> None:
    def program() -> None:
        aws.alb.LoadBalancer("legacy-alb", internal=True, subnets=["subnet-a"])

    assert judge(lb_extra.REQUIRE_DROP_INVALID_HEADERS, program) == {"legacy-alb"}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (balancer(), set()),
        (balancer(enable_deletion_protection=False, tags={"environment": "dev"}), set()),
        (balancer(enable_deletion_protection=False), {"alb"}),
        (balancer(enable_deletion_protection=None, tags=None), {"alb"}),
    ],
    ids=["on", "dev-tagged", "off", "unset"],
)
def test_aws_lb_require_deletion_protection(program: Program, flagged: set[str]) -> None:
    assert judge(lb_extra.REQUIRE_DELETION_PROTECTION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (balancer(), set()),
        (balancer(internal=False, waf=True), set()),
        (balancer(internal=False, load_balancer_type="network"), set()),
        (balancer(internal=False), {"alb"}),
        (balancer(internal=None), {"alb"}),
    ],
    ids=["internal", "public-with-waf", "public-nlb", "public", "default-scheme"],
)
def test_aws_lb_internet_facing_require_waf(program: Program, flagged: set[str]) -> None:
    assert judge(lb_extra.INTERNET_FACING_REQUIRE_WAF, program) == flagged


def test_waf_waiver() -> None:
    rule = lb_extra.INTERNET_FACING_REQUIRE_WAF
    assert judge(rule, balancer(internal=False), waiver("alb")) == set()


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in lb_extra.POLICIES]
    assert names == [
        "aws-lb-require-drop-invalid-headers",
        "aws-lb-require-deletion-protection",
        "aws-lb-internet-facing-require-waf",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
