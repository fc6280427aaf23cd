"""WAFv2 rules (Checkov CKV2_AWS_77): web ACLs block known-bad inputs, Log4Shell among them.

AWS's AWSManagedRulesKnownBadInputsRuleSet carries the Log4j (CVE-2021-44228) signatures
(``Log4JRCE_*``); a web ACL must run it, not override the whole group to count, and not
switch its Log4j rules to count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.aws._common import get, items
from policies.rules.base import resource_rule
from policies.rules.references import checkov

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
LOG4J_RULE_PREFIX = "log4jrce"


def _blocks_known_bad_inputs(rule: Any) -> bool:
    group = get(rule, "statement", "managedRuleGroupStatement")
    if get(group, "vendorName") != "AWS" or get(group, "name") != KNOWN_BAD_INPUTS:
        return False
    if get(rule, "overrideAction", "count") is not None:
        return False  # the whole group only counts
    for override in items(get(group, "ruleActionOverrides")):
        name = str(get(override, "name") or "").lower()
        if name.startswith(LOG4J_RULE_PREFIX) and get(override, "actionToUse", "count") is not None:
            return False
    return True


def _check_known_bad_inputs(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not any(_blocks_known_bad_inputs(rule) for rule in items(get(props, "rules"))):
        yield (
            f"WAF web ACL does not block known bad inputs: no {KNOWN_BAD_INPUTS} rule group "
            "in block mode (it carries the Log4j RCE signatures)."
        )


WEB_ACL_REQUIRE_KNOWN_BAD_INPUTS = resource_rule(
    "aws-wafv2-web-acl-require-known-bad-inputs",
    f"WAFv2 web ACLs must run the AWS managed {KNOWN_BAD_INPUTS} rule group (Log4j RCE and "
    "other known exploit inputs) without overriding it or its Log4j rules to count.",
    types=[WEB_ACL],
    check=_check_known_bad_inputs,
    severity=Severity.MEDIUM,
    tags=["network-exposure", "waf"],
    remediation=(
        "Add a rule with override_action={'none': {}} and statement={'managed_rule_group_"
        f"statement': {{'vendor_name': 'AWS', 'name': '{KNOWN_BAD_INPUTS}'}}}}."
    ),
    references=[checkov("CKV2_AWS_77")],
    since=2,
)

POLICIES = [WEB_ACL_REQUIRE_KNOWN_BAD_INPUTS]
