"""IAM rules (POLICY-RULES 12, 13).

12: no Allow of ``*`` or ``<service>:*`` (or NotAction) on Resource ``*`` in any policy document a
program writes; no attachment of AWS-managed administrator / ``*FullAccess`` policies.
13: a role's trust policy never lets ``*`` assume it without a Condition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.aws._common import allows, get, items, public_allows, statements
from policies.rules.base import resource_rule

ROLE = "aws:iam/role:Role"
DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
SINGLE_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
EXCLUSIVE_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
)

# "*" or "<service>:*": every action of everything, or of one service.
_WILDCARD_ACTION = re.compile(r"\*|[a-z0-9-]+:\*")
ADMIN_MANAGED_POLICIES = frozenset(
    {
        "AdministratorAccess",
        "AdministratorAccess-Amplify",
        "AdministratorAccess-AWSElasticBeanstalk",
        "PowerUserAccess",
    }
)
FULL_ACCESS_SUFFIX = "FullAccess"


def _wildcard_findings(document: Any, where: str) -> Iterator[str]:
    for statement in statements(document):
        if not allows(statement) or "*" not in items(statement.get("Resource")):
            continue
        sid = statement.get("Sid") or "(no Sid)"
        broad = [
            a
            for a in items(statement.get("Action"))
            if isinstance(a, str) and _WILDCARD_ACTION.fullmatch(a.lower())
        ]
        if broad:
            yield f"{where} statement {sid} allows {', '.join(broad)} on Resource '*'."
        elif statement.get("NotAction") is not None:
            yield f"{where} statement {sid} allows NotAction on Resource '*' (nearly everything)."


def _check_wildcards(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == ROLE:
        for inline in items(get(props, "inlinePolicies")):
            name = get(inline, "name") or "(unnamed)"
            yield from _wildcard_findings(get(inline, "policy"), f"Inline policy {name}")
    else:
        yield from _wildcard_findings(get(props, "policy"), "Policy")


DISALLOW_WILDCARD_ADMIN = resource_rule(
    "aws-iam-policy-disallow-wildcard-admin",
    "IAM policies must not Allow '*' or '<service>:*' actions (or NotAction) on Resource '*'.",
    types=[*DOCUMENT_TYPES, ROLE],
    check=_check_wildcards,
    severity=Severity.CRITICAL,
    tags=["iam", "least-privilege"],
    remediation=(
        "List the actions the workload calls (e.g. 'sagemaker:InvokeEndpoint') and the ARNs it "
        "calls them on; use IAM Access Analyzer policy generation to find them."
    ),
)


def _managed_policy_name(arn: Any) -> str | None:
    """The name of an AWS-managed policy ARN (``arn:<partition>:iam::aws:policy/<path>/<name>``);
    None for customer-managed policies and anything else."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[4] != "aws":
        return None
    if not parts[5].startswith("policy/"):
        return None
    return parts[5].rsplit("/", 1)[-1]


def _is_admin(arn: Any) -> bool:
    name = _managed_policy_name(arn)
    return name is not None and (
        name in ADMIN_MANAGED_POLICIES or name.endswith(FULL_ACCESS_SUFFIX)
    )


def _check_managed(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == ROLE:
        arns = items(get(props, "managedPolicyArns"))
    elif args.resource_type in EXCLUSIVE_ATTACHMENTS:
        arns = items(get(props, "policyArns"))
    else:
        arns = [get(props, "policyArn")]
    for arn in arns:
        if _is_admin(arn):
            yield f"Attaches the AWS-managed policy {arn}: far broader than any workload needs."


DISALLOW_ADMIN_MANAGED = resource_rule(
    "aws-iam-disallow-admin-managed-policy",
    "No role, user or group may get AdministratorAccess, PowerUserAccess or an AWS-managed "
    "'*FullAccess' policy.",
    types=[ROLE, *SINGLE_ATTACHMENTS, *EXCLUSIVE_ATTACHMENTS],
    check=_check_managed,
    severity=Severity.CRITICAL,
    tags=["iam", "least-privilege"],
    remediation=(
        "Replace the managed policy with a customer-managed or inline policy granting only the "
        "actions and resources the workload uses (ReadOnly managed policies are acceptable)."
    ),
)


def _check_trust(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in public_allows(get(props, "assumeRolePolicy")):
        sid = statement.get("Sid") or "(no Sid)"
        yield (
            f"Trust policy statement {sid} lets Principal '*' assume the role without a "
            "Condition: anyone in any AWS account could."
        )


TRUST_DISALLOW_PUBLIC = resource_rule(
    "aws-iam-role-trust-disallow-public-principal",
    "IAM role trust policies must not let Principal '*' assume the role without a Condition.",
    types=[ROLE],
    check=_check_trust,
    severity=Severity.CRITICAL,
    tags=["iam"],
    remediation=(
        "Name the trusted service or account principal, or add a Condition "
        "(aws:PrincipalOrgID, sts:ExternalId, token.actions.githubusercontent.com:sub, ...)."
    ),
)

POLICIES = [DISALLOW_WILDCARD_ADMIN, DISALLOW_ADMIN_MANAGED, TRUST_DISALLOW_PUBLIC]
