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


# --- bodies beyond WAF's inspection limit ------------------------------------------------------
def _body_statement(body: str, oversize: str | None) -> W.WebAclRuleStatementArgs:
    """A blocking XSS match on the body (``body``: "body" or "json_body")."""
    if body == "body":
        field = W.WebAclRuleStatementXssMatchStatementFieldToMatchArgs(
            body=W.WebAclRuleStatementXssMatchStatementFieldToMatchBodyArgs(
                oversize_handling=oversize
            )
        )
    else:
        field = W.WebAclRuleStatementXssMatchStatementFieldToMatchArgs(
            json_body=W.WebAclRuleStatementXssMatchStatementFieldToMatchJsonBodyArgs(
                match_scope="VALUE",
                match_pattern=W.WebAclRuleStatementXssMatchStatementFieldToMatchJsonBodyMatchPatternArgs(
                    all=W.WebAclRuleStatementXssMatchStatementFieldToMatchJsonBodyMatchPatternAllArgs()  # type: ignore[no-untyped-call]
                ),
                oversize_handling=oversize or "CONTINUE",
            )
        )
    return W.WebAclRuleStatementArgs(
        xss_match_statement=W.WebAclRuleStatementXssMatchStatementArgs(
            field_to_match=field,
            text_transformations=[
                W.WebAclRuleStatementXssMatchStatementTextTransformationArgs(
                    priority=0, type="NONE"
                )
            ],
        )
    )


def body_acl(body: str = "body", oversize: str | None = "MATCH") -> Program:
    def program() -> None:
        W.WebAcl(
            "llm-waf",
            scope="REGIONAL",
            default_action=W.WebAclDefaultActionArgs(allow=W.WebAclDefaultActionAllowArgs()),
            rules=[
                W.WebAclRuleArgs(
                    name="xss-body",
                    priority=5,
                    action=W.WebAclRuleActionArgs(block=W.WebAclRuleActionBlockArgs()),
                    statement=_body_statement(body, oversize),
                    visibility_config=W.WebAclRuleVisibilityConfigArgs(
                        cloudwatch_metrics_enabled=True,
                        metric_name="xss-body",
                        sampled_requests_enabled=True,
                    ),
                )
            ],
            visibility_config=W.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name="llm", sampled_requests_enabled=True
            ),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (body_acl(), set()),
        (body_acl(oversize="NO_MATCH"), set()),
        (body_acl("json_body", "MATCH"), set()),
        (acl(), set()),  # no statement of its own inspects the body
        (body_acl(oversize="CONTINUE"), {"llm-waf"}),
        (body_acl(oversize=None), {"llm-waf"}),  # unset is CONTINUE (AWS's default)
        (body_acl("json_body", "CONTINUE"), {"llm-waf"}),
    ],
    ids=["match", "no-match", "json-match", "managed-only", "continue", "unset", "json-continue"],
)
def test_aws_wafv2_body_inspection_disallow_oversize_continue(
    program: Program, flagged: set[str]
) -> None:
    assert judge(waf.BODY_INSPECTION_DISALLOW_OVERSIZE_CONTINUE, program) == flagged


def test_oversize_rule_looks_inside_nested_statements() -> None:
    def program() -> None:
        W.WebAcl(
            "nested-waf",
            scope="REGIONAL",
            default_action=W.WebAclDefaultActionArgs(allow=W.WebAclDefaultActionAllowArgs()),
            rules=[
                {  # type: ignore[list-item]  # a raw dict, as a program may write it
                    "name": "not-body",
                    "priority": 1,
                    "action": {"block": {}},
                    "statement": {
                        "not_statement": {
                            "statements": [
                                {
                                    "size_constraint_statement": {
                                        "comparison_operator": "GT",
                                        "size": 1024,
                                        "field_to_match": {"body": {}},
                                        "text_transformations": [{"priority": 0, "type": "NONE"}],
                                    }
                                }
                            ]
                        }
                    },
                    "visibility_config": {
                        "cloudwatch_metrics_enabled": True,
                        "metric_name": "not-body",
                        "sampled_requests_enabled": True,
                    },
                }
            ],
            visibility_config=W.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name="n", sampled_requests_enabled=True
            ),
        )

    rule = waf.BODY_INSPECTION_DISALLOW_OVERSIZE_CONTINUE
    assert judge(rule, program) == {"nested-waf"}
    assert judge(rule, program, waiver("nested-waf")) == set()


def test_waf_rules_are_listed_in_the_pack() -> None:
    from policies.rules import aws as aws_pack
    from policies.rules.base import RULE_SINCE

    names = [p.name for p in waf.POLICIES]
    assert names == [
        "aws-wafv2-web-acl-require-known-bad-inputs",
        "aws-wafv2-body-inspection-disallow-oversize-continue",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert RULE_SINCE[names[1]] == 4
