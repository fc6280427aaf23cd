"""WAFv2 web ACL for a regional API: AWS managed rule groups, a per-IP rate limit, a size cap.

Request size: API Gateway REST has no per-API body limit (10 MB is fixed), and WAF can inspect
at most the first 64 KB of a regional request body, so a body-size statement cannot enforce
limits above that. The ACL therefore blocks on the Content-Length header, with a regular
expression that matches exactly the integers above ``spec.body_cap`` (built and tested in
:func:`greater_than_regex`): ``api.max_request_bytes``, or an LLM's ``max_prompt_bytes``.

LLM stacks (no body passes unchecked): the API Gateway association forwards the first
:data:`LLM_BODY_INSPECTION` of a body to the ACL (the most WAF takes; 16 KB by default), so the
managed rule groups see as much of a prompt as WAF can. A prompt above that and up to the cap
is not refused: the guardrail reads it whole (the model server's hook checks every byte, in
chunks, with ApplyGuardrail or the hosted model's guardrail, and answers 413 above
``max_prompt_bytes``), so long RAG prompts work. Anything above the cap is refused here. No
rule of ours inspects the body, so none can let an oversize body through (the pack's
``aws-wafv2-body-inspection-disallow-oversize-continue`` rule holds that).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.naming import resource_name
from components.spec import DeploymentSpec

# (priority, AWS managed rule group, rules inside it switched to count-only)
# CommonRuleSet's SizeRestrictions_BODY blocks any body over 8 KB: model payloads are larger,
# and our own Content-Length rule enforces the spec's limit instead.
MANAGED_RULE_GROUPS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (10, "AWSManagedRulesAmazonIpReputationList", ()),
    (20, "AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
    (30, "AWSManagedRulesKnownBadInputsRuleSet", ()),
)
# The largest body API Gateway REST forwards to WAF (KB_16 default; KB_32/48/64 cost extra).
LLM_BODY_INSPECTION = "KB_64"
# Headers that must never reach the WAF log.
REDACTED_HEADERS = ("authorization", "x-api-key")


def greater_than_regex(limit: int) -> str:
    """A regex matching exactly the decimal integers (leading zeros allowed) above ``limit``."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    digits = str(limit)
    width = len(digits)
    alternatives = [f"[1-9][0-9]{{{width},}}"]  # more digits than the limit has
    for i, ch in enumerate(digits):
        d = int(ch)
        if d == 9:
            continue
        low = d + 1
        cls = str(low) if low == 9 else f"[{low}-9]"
        rest = width - i - 1
        alternatives.append(digits[:i] + cls + (f"[0-9]{{{rest}}}" if rest else ""))
    return "^0*(" + "|".join(alternatives) + ")$"


def _visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed_rule(priority: int, group: str, count_only: Sequence[str]) -> aws.wafv2.WebAclRuleArgs:
    overrides = [
        aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
            name=rule,
            action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
            ),
        )
        for rule in count_only
    ]
    return aws.wafv2.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
            # The SDK leaves this empty marker class's __init__ unannotated.
            none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]
        ),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS", name=group, rule_action_overrides=overrides or None
            )
        ),
        visibility_config=_visibility(group),
    )


def web_acl_rules(spec: DeploymentSpec) -> list[aws.wafv2.WebAclRuleArgs]:
    """The ACL's rules: rate limit, size cap, then the managed groups."""
    block = aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs())
    return [
        aws.wafv2.WebAclRuleArgs(
            name="rate-limit-per-ip",
            priority=0,
            action=block,
            statement=aws.wafv2.WebAclRuleStatementArgs(
                rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    limit=spec.api.waf_rate_limit_per_5min,
                    aggregate_key_type="IP",
                    evaluation_window_sec=300,
                )
            ),
            visibility_config=_visibility("rate-limit-per-ip"),
        ),
        aws.wafv2.WebAclRuleArgs(
            name="request-too-large",
            priority=1,
            action=block,
            statement=aws.wafv2.WebAclRuleStatementArgs(
                regex_match_statement=aws.wafv2.WebAclRuleStatementRegexMatchStatementArgs(
                    regex_string=greater_than_regex(spec.body_cap),
                    field_to_match=aws.wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchArgs(
                        single_header=aws.wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchSingleHeaderArgs(
                            name="content-length"
                        )
                    ),
                    text_transformations=[
                        aws.wafv2.WebAclRuleStatementRegexMatchStatementTextTransformationArgs(
                            priority=0, type="NONE"
                        )
                    ],
                )
            ),
            visibility_config=_visibility("request-too-large"),
        ),
        *(_managed_rule(p, g, c) for p, g, c in MANAGED_RULE_GROUPS),
    ]


def association_config(spec: DeploymentSpec) -> aws.wafv2.WebAclAssociationConfigArgs | None:
    """LLM stacks: API Gateway forwards :data:`LLM_BODY_INSPECTION` of each body to the ACL
    (None otherwise: the 16 KB default, no extra charge)."""
    if not spec.llm.enabled:
        return None
    return aws.wafv2.WebAclAssociationConfigArgs(
        request_bodies=[
            aws.wafv2.WebAclAssociationConfigRequestBodyArgs(
                api_gateway=aws.wafv2.WebAclAssociationConfigRequestBodyApiGatewayArgs(
                    default_size_inspection_limit=LLM_BODY_INSPECTION
                )
            )
        ]
    )


def create_web_acl(
    name: str, spec: DeploymentSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> aws.wafv2.WebAcl:
    """A REGIONAL web ACL (allow by default, rules block), logged to an encrypted log group."""
    acl = aws.wafv2.WebAcl(
        f"{name}-waf",
        name=resource_name("aws", "default", spec.project, spec.environment.value, "waf"),
        description=f"{spec.project} {spec.environment.value} API protection",
        scope="REGIONAL",
        default_action=aws.wafv2.WebAclDefaultActionArgs(
            allow=aws.wafv2.WebAclDefaultActionAllowArgs()
        ),
        rules=web_acl_rules(spec),
        association_config=association_config(spec),
        visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True,
            metric_name=resource_name("aws", "default", spec.project, spec.environment.value),
            sampled_requests_enabled=True,
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )
    # WAF only delivers to log groups whose name starts with "aws-waf-logs-".
    logs = security.create_log_group(
        f"{name}-waf-logs",
        spec,
        key,
        opts,
        log_group_name=f"aws-waf-logs-{spec.project}-{spec.environment.value}",
    )
    aws.wafv2.WebAclLoggingConfiguration(
        f"{name}-waf-logging",
        resource_arn=acl.arn,
        log_destination_configs=[logs.arn],
        redacted_fields=[
            aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                    name=header
                )
            )
            for header in REDACTED_HEADERS
        ],
        opts=opts,
    )
    return acl
