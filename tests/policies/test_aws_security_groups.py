"""Security group rules on small real programs: a described group, one change per case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import security_groups
from tests.policies.test_aws_common import Program, judge, waiver


def group(
    *, description: str | None = "Model tasks", rule_description: str | None = "HTTPS out"
) -> Program:
    def program() -> None:
        args: dict[str, Any] = {"description": description} if description is not None else {}
        aws.ec2.SecurityGroup(
            "task-sg",
            vpc_id="vpc-1",
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description=rule_description,
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            **args,
        )

    return program


def separate_rule(description: str | None) -> Program:
    def program() -> None:
        aws.vpc.SecurityGroupIngressRule(
            "task-in",
            security_group_id="sg-1",
            description=description,
            ip_protocol="tcp",
            from_port=8080,
            to_port=8080,
            referenced_security_group_id="sg-2",
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (group(), set()),
        (separate_rule("Model port from the ALB"), set()),
        (group(description=None), {"task-sg"}),
        (group(rule_description=None), {"task-sg"}),
        (separate_rule(None), {"task-in"}),
    ],
    ids=["described", "described-rule", "pulumi-default", "undescribed-egress", "bare-rule"],
)
def test_aws_security_group_require_descriptions(program: Program, flagged: set[str]) -> None:
    assert judge(security_groups.REQUIRE_DESCRIPTIONS, program) == flagged


def test_security_group_description_waiver() -> None:
    rule = security_groups.REQUIRE_DESCRIPTIONS
    assert judge(rule, group(description=None), waiver("task-sg")) == set()
