"""WAFv2 rules on small real programs: a web ACL running the known-bad-inputs group."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from policies.rules.aws import waf
from tests.policies.test_aws_common import Program, judge, waiver

W = aws.wafv2


def acl(
    group: str = waf.KNOWN_BAD_INPUTS, *, count_group: bool = False, count_log4j: bool = False
) -> Program:
    def program() -> None:
        overrides = (
            [
                W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                    name="Log4JRCE_HEADER",
                    action_to_use=W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                        count=W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                    ),
                )
            ]
            if count_log4j
            else None
        )
        override = (
            W.WebAclRuleOverrideActionArgs(count=W.WebAclRuleOverrideActionCountArgs())  # type: ignore[no-untyped-call]
            if count_group
            else W.WebAclRuleOverrideActionArgs(none=W.WebAclRuleOverrideActionNoneArgs())  # type: ignore[no-untyped-call]
        )
        W.WebAcl(
            "api-waf",
            scope="REGIONAL",
            default_action=W.WebAclDefaultActionArgs(allow=W.WebAclDefaultActionAllowArgs()),
            rules=[
                W.WebAclRuleArgs(
                    name=group,
                    priority=30,
                    override_action=override,
                    statement=W.WebAclRuleStatementArgs(
                        managed_rule_group_statement=W.WebAclRuleStatementManagedRuleGroupStatementArgs(
                            vendor_name="AWS", name=group, rule_action_overrides=overrides
                        )
                    ),
                    visibility_config=W.WebAclRuleVisibilityConfigArgs(
                        cloudwatch_metrics_enabled=True,
                        metric_name=group,
                        sampled_requests_enabled=True,
                    ),
                )
            ],
            visibility_config=W.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name="api", sampled_requests_enabled=True
            ),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (acl(), set()),
        (acl("AWSManagedRulesCommonRuleSet"), {"api-waf"}),
        (acl(count_group=True), {"api-waf"}),
        (acl(count_log4j=True), {"api-waf"}),
    ],
    ids=["known-bad-inputs", "other-group-only", "group-counts", "log4j-counts"],
)
def test_aws_wafv2_web_acl_require_known_bad_inputs(program: Program, flagged: set[str]) -> None:
    assert judge(waf.WEB_ACL_REQUIRE_KNOWN_BAD_INPUTS, program) == flagged


def test_known_bad_inputs_waiver() -> None:
    rule = waf.WEB_ACL_REQUIRE_KNOWN_BAD_INPUTS
    assert judge(rule, acl("AWSManagedRulesCommonRuleSet"), waiver("api-waf")) == set()
