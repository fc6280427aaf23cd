"""WAFv2 rules (Checkov CKV2_AWS_77): web ACLs block known-bad inputs, Log4Shell among them;
no rule passes a body it could not inspect.

AWS's AWSManagedRulesKnownBadInputsRuleSet carries the Log4j (CVE-2021-44228) signatures
(``Log4JRCE_*``); a web ACL must run it, not override the whole group to count, and not
switch its Log4j rules to count.

WAF sees at most the first 8 KB (ALB, AppSync) to 64 KB (API Gateway, CloudFront, ...) of a
body. A statement inspecting the body or JSON body (``field_to_match.body`` / ``json_body``)
says what to do with the rest through ``oversize_handling``: CONTINUE (AWS's default when it is
unset) judges only the part WAF saw, so a long prompt hides its payload past the limit. Such a
statement must say MATCH or NO_MATCH (issue 14: a body larger than the WAF can inspect is either
refused or read whole by the guardrail check).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.aws._common import get, items
from policies.rules.base import resource_rule
from policies.rules.references import checkov, owasp_llm

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
RULE_GROUP = "aws:wafv2/ruleGroup:RuleGroup"
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

# The field_to_match members that carry a body (both have oversize_handling, default CONTINUE).
BODY_FIELDS = ("body", "jsonBody")
SAFE_OVERSIZE = frozenset({"MATCH", "NO_MATCH"})


def _body_fields(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(where, oversize handling) of every body inspection anywhere under ``node``: nested
    and/or/not statements, rate-based and managed-group scope-down statements included."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("fieldToMatch", "field_to_match") and isinstance(value, Mapping):
                for field in BODY_FIELDS:
                    body = get(value, field)
                    if isinstance(body, Mapping):
                        handling = get(body, "oversizeHandling")
                        yield f"{path}.{field}", str(handling or "CONTINUE (unset)")
            yield from _body_fields(value, f"{path}.{key}")
    elif isinstance(node, Sequence) and not isinstance(node, (str, bytes)):
        for i, value in enumerate(node):
            yield from _body_fields(value, f"{path}[{i}]")


def _check_oversize(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for rule in items(get(props, "rules")):
        name = get(rule, "name") or "(unnamed)"
        for where, handling in _body_fields(get(rule, "statement"), "statement"):
            if handling.split(" ")[0] not in SAFE_OVERSIZE:
                yield (
                    f"WAF rule '{name}' inspects the request body ({where}) with "
                    f"oversize_handling {handling}: a body larger than WAF inspects is judged "
                    "on its first part only and passes uninspected beyond it."
                )


BODY_INSPECTION_DISALLOW_OVERSIZE_CONTINUE = resource_rule(
    "aws-wafv2-body-inspection-disallow-oversize-continue",
    "WAFv2 rules inspecting the request body or JSON body must set oversize_handling MATCH or "
    "NO_MATCH, never CONTINUE (AWS's default): a body beyond WAF's inspection limit (8-64 KB) "
    "must be refused or left to a check that reads it whole, not half-inspected.",
    types=[WEB_ACL, RULE_GROUP],
    check=_check_oversize,
    severity=Severity.MEDIUM,
    tags=["network-exposure", "waf"],
    remediation=(
        "Set field_to_match={'body': {'oversize_handling': 'MATCH'}} (or json_body={..., "
        "'oversize_handling': 'MATCH'}) on a blocking rule, so an oversize body is refused; "
        "use NO_MATCH only where another check (e.g. the model's guardrail) reads the body whole."
    ),
    references=[owasp_llm("LLM01")],
    since=4,
)

POLICIES = [WEB_ACL_REQUIRE_KNOWN_BAD_INPUTS, BODY_INSPECTION_DISALLOW_OVERSIZE_CONTINUE]
