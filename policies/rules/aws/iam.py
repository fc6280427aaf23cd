"""IAM rules (POLICY-RULES 12, 13).

12: no Allow of ``*`` or ``<service>:*`` (or NotAction) on Resource ``*`` in any policy document a
program writes; no attachment of AWS-managed administrator / ``*FullAccess`` policies.
13: a role's trust policy never lets ``*`` assume it without a Condition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.aws._common import (
    StackFindings,
    allows,
    each,
    get,
    has_condition,
    items,
    known,
    mapping,
    of_types,
    present,
    public_allows,
    statements,
)
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp, guardrail, owasp_llm

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
    references=[checkov("CKV_AWS_62"), checkov("CKV_AWS_63"), fsbp("IAM.1")],
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
    references=[checkov("CKV_AWS_274")],
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
    tags=["iam", "least-privilege", "public-access"],
    remediation=(
        "Name the trusted service or account principal, or add a Condition "
        "(aws:PrincipalOrgID, sts:ExternalId, token.actions.githubusercontent.com:sub, ...)."
    ),
    references=[checkov("CKV_AWS_60")],
)


# ---------------------------------------------------------------------------- review B2, B3, B4,
# B8, B11 (rule-set revision 2): what a role may be assumed by, and what its grants leave open.
def _role_documents(props: Any, resource_type: str) -> Iterator[tuple[Any, str]]:
    """The identity-policy documents a resource carries, with how to name each in a message."""
    if resource_type == ROLE:
        for inline in items(get(props, "inlinePolicies")):
            name = get(inline, "name") or "(unnamed)"
            yield get(inline, "policy"), f"Inline policy {name}"
    else:
        yield get(props, "policy"), "Policy"


def _sid(statement: Mapping[str, Any]) -> str:
    return str(statement.get("Sid") or "(no Sid)")


def _condition_keys(statement: Mapping[str, Any]) -> dict[str, set[str]]:
    """Condition key (lower case) -> the operators that test it (as written)."""
    keys: dict[str, set[str]] = {}
    for operator, entries in mapping(statement.get("Condition")).items():
        for key in mapping(entries):
            keys.setdefault(str(key).lower(), set()).add(str(operator))
    return keys


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return [a for a in items(statement.get("Action")) if isinstance(a, str)]


# -- B2: an account (root) principal in a trust policy is every principal of that account whose
# own policies allow sts:AssumeRole on the role: the trust must say which of them.
_ACCOUNT_PRINCIPAL = re.compile(r"(\d{12}|arn:aws[a-z-]*:iam::\d{12}:root)")
# Condition keys that name who, inside the trusted account, may assume the role.
NAMED_PRINCIPAL_KEYS = frozenset({"aws:principalarn", "sts:externalid", "aws:userid"})
NAMED_PRINCIPAL_PREFIXES = ("aws:principaltag/",)


def _account_principals(principal: Any) -> list[str]:
    if not isinstance(principal, Mapping):
        return []
    return [
        p
        for p in items(principal.get("AWS"))
        if isinstance(p, str) and _ACCOUNT_PRINCIPAL.fullmatch(p)
    ]


def _names_principals(statement: Mapping[str, Any]) -> bool:
    return any(
        key in NAMED_PRINCIPAL_KEYS or key.startswith(NAMED_PRINCIPAL_PREFIXES)
        for key in _condition_keys(statement)
    )


def _check_named_principal(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in statements(get(props, "assumeRolePolicy")):
        if not allows(statement):
            continue
        accounts = _account_principals(statement.get("Principal"))
        if accounts and not _names_principals(statement):
            yield (
                f"Trust policy statement {_sid(statement)} lets the whole account "
                f"({', '.join(accounts)}) assume the role: any principal there allowed "
                "sts:AssumeRole on '*' can; name who with aws:PrincipalArn, aws:PrincipalTag/* "
                "or sts:ExternalId."
            )


TRUST_REQUIRE_NAMED_PRINCIPAL = resource_rule(
    "aws-iam-role-trust-require-named-principal",
    "A role trusting an account (its root, or a bare account id) must name who in that account "
    "may assume it: a Condition on aws:PrincipalArn, aws:PrincipalTag/<key> or sts:ExternalId.",
    types=[ROLE],
    check=_check_named_principal,
    severity=Severity.MEDIUM,
    tags=["iam", "least-privilege", "authentication"],
    remediation=(
        "Trust the role ARNs that may assume it, or keep the account principal and add e.g. "
        '{"StringEquals": {"aws:PrincipalTag/<access-key>": "true"}} or '
        '{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::<account>:role/<prefix>-*"}}.'
    ),
    references=[checkov("CKV_AWS_61"), guardrail("13")],
    since=2,
)


# -- B3: mutating actions on Resource "*" without a Condition. Reads are fine there; so are the
# few writes AWS offers no resource-level permission for at all.
READ_VERBS = (
    "Describe",
    "Get",
    "List",
    "BatchGet",
    "BatchDescribe",
    "Head",
    "Lookup",
    "Query",
    "Scan",
    "Search",
    "Select",
    "View",
)
# Writes with no resource-level permissions and no condition key to scope them (IAM Service
# Authorization Reference): "*" is the only resource they accept.
NO_RESOURCE_LEVEL_ACTIONS = frozenset(
    a.lower()
    for a in (
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:DeleteResourcePolicy",
        "sts:GetCallerIdentity",
    )
)


def is_read_action(action: str) -> bool:
    """``service:Describe*``, ``s3:GetObject``, ``ec2:DescribeVpcs``: reads by their verb."""
    _, _, verb = action.partition(":")
    return any(verb.startswith(v) for v in READ_VERBS)


def _mutating_on_wildcard(document: Any, where: str) -> Iterator[str]:
    for statement in statements(document):
        if not allows(statement) or "*" not in items(statement.get("Resource")):
            continue
        if has_condition(statement):
            continue
        writes = [
            a
            for a in _actions(statement)
            if not _WILDCARD_ACTION.fullmatch(a.lower())  # the admin rule's finding
            and not is_read_action(a)
            and a.lower() not in NO_RESOURCE_LEVEL_ACTIONS
        ]
        if writes:
            yield (
                f"{where} statement {_sid(statement)} allows {', '.join(sorted(writes))} on "
                "Resource '*' without a Condition: on every such resource in the account."
            )


# Managed policies are judged only where an identity of the stack gets them (an attachment or
# a role's managed_policy_arns): a policy used as a permissions boundary is a ceiling, not a
# grant, and lists what the roles under it may do at all.
ATTACHMENT_LINKS = {
    **{t: "policyArn" for t in SINGLE_ATTACHMENTS},
    **{t: "policyArns" for t in EXCLUSIVE_ATTACHMENTS},
    ROLE: "managedPolicyArns",
}
MANAGED_POLICY = "aws:iam/policy:Policy"


def _attached(policy: PolicyResource, args: StackValidationArgs) -> bool:
    arn = known(policy.props, "arn")
    for attachment in of_types(args, *ATTACHMENT_LINKS):
        key = ATTACHMENT_LINKS[attachment.resource_type]
        if any(d.urn == policy.urn for d in attachment.property_dependencies.get(key) or []):
            return True
        if present(arn) and arn in items(known(attachment.props, key)):
            return True
    return False


DocumentCheck = Callable[[Any, str], Iterator[str]]


def identity_document_check(check: DocumentCheck) -> Callable[[StackValidationArgs], StackFindings]:
    """A stack check running ``check(document, where)`` over every identity-policy document:
    inline role/user/group policies, roles' inline policies, and the managed policies an
    identity of the stack gets (:func:`_attached`)."""

    def run(args: StackValidationArgs) -> StackFindings:
        def judge(resource: PolicyResource) -> StackFindings:
            if resource.resource_type == MANAGED_POLICY and not _attached(resource, args):
                return
            for document, where in _role_documents(resource.props, resource.resource_type):
                for message in check(document, where):
                    yield message, resource.urn

        yield from each(of_types(args, *DOCUMENT_TYPES, ROLE), judge)

    return run


RESTRICT_MUTATING_ON_WILDCARD = stack_rule(
    "aws-iam-policy-restrict-mutating-actions-on-wildcard-resource",
    "Identity policies must not Allow write actions on Resource '*' without a Condition; reads "
    "(Describe/Get/List...) and the writes AWS has no resource-level permission for (X-Ray "
    "segments, log deliveries) are exempt. Unattached managed policies (permissions "
    "boundaries) are ceilings, not grants, and are not judged.",
    check=identity_document_check(_mutating_on_wildcard),
    severity=Severity.MEDIUM,
    tags=["iam", "least-privilege"],
    category=SECURITY,
    remediation=(
        "Name the ARNs (e.g. arn:aws:ec2:<region>:<account>:network-interface/*), or keep '*' "
        "and scope it with a Condition (ec2:Vpc, ec2:Subnet, aws:ResourceTag/<key>, "
        "cloudwatch:namespace)."
    ),
    references=[checkov("CKV_AWS_290"), checkov("CKV_AWS_289"), checkov("CKV_AWS_355")],
    since=2,
    types=[*DOCUMENT_TYPES, ROLE],
)


# -- B4: data-key use of a KMS key through any service. With kms:ViaService (or an encryption
# context) the grant only works for the data it was meant for.
KMS_DATA_ACTIONS = frozenset(
    a.lower()
    for a in (
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKey*",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:ReEncrypt*",
        "kms:ReEncryptFrom",
    )
)


def _scopes_key_use(statement: Mapping[str, Any]) -> bool:
    return any(
        key == "kms:viaservice"
        or key.startswith("kms:encryptioncontext:")
        or key == "kms:encryptioncontextkeys"
        for key in _condition_keys(statement)
    )


def _kms_via_service(document: Any, where: str) -> Iterator[str]:
    for statement in statements(document):
        if not allows(statement) or _scopes_key_use(statement):
            continue
        data = sorted(a for a in _actions(statement) if a.lower() in KMS_DATA_ACTIONS)
        if data:
            yield (
                f"{where} statement {_sid(statement)} allows {', '.join(data)} without "
                "kms:ViaService or an encryption-context condition: the key decrypts any "
                "ciphertext under it the principal can fetch, through any service."
            )


KMS_REQUIRE_VIA_SERVICE = stack_rule(
    "aws-iam-kms-require-via-service",
    "Identity policies granting kms:Decrypt / GenerateDataKey* should scope them with "
    "kms:ViaService or a kms:EncryptionContext condition (kms:* key administration is out of "
    "scope; unattached managed policies, i.e. permissions boundaries, are ceilings).",
    types=[*DOCUMENT_TYPES, ROLE],
    check=identity_document_check(_kms_via_service),
    category=OPERATIONAL,
    severity=Severity.LOW,
    tags=["iam", "least-privilege", "key-management"],
    # Advisory (review B4): a single-purpose key may legitimately be used directly.
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        'Add {"StringEquals": {"kms:ViaService": ["s3.<region>.amazonaws.com", '
        '"sqs.<region>.amazonaws.com", ...]}} naming the services that use the key for the '
        'principal, or {"StringEquals": {"kms:EncryptionContext:aws:s3:arn": <bucket ARN>}}.'
    ),
    references=[fsbp("KMS.2"), guardrail("12")],
    since=2,
)


# -- B8: a service principal trusted without the confused-deputy keys. Strict where the service
# documents that it sends aws:SourceAccount / aws:SourceArn when it assumes a role; for the
# services that may omit them (review A22), an IfExists test still refuses other accounts.
STRICT_SOURCE_SERVICES = frozenset(
    {"scheduler.amazonaws.com", "ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"}
)
LENIENT_SOURCE_SERVICES = frozenset({"sagemaker.amazonaws.com", "apigateway.amazonaws.com"})
SOURCE_KEYS = frozenset({"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid"})
STRICT_OPERATORS = frozenset({"StringEquals", "ArnEquals", "ArnLike"})


def _services(principal: Any) -> list[str]:
    if not isinstance(principal, Mapping):
        return []
    return [s for s in items(principal.get("Service")) if isinstance(s, str)]


def _check_service_trust(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in statements(get(props, "assumeRolePolicy")):
        if not allows(statement):
            continue
        keys = _condition_keys(statement)
        tested = {k: ops for k, ops in keys.items() if k in SOURCE_KEYS}
        strict = any(ops & STRICT_OPERATORS for ops in tested.values())
        for service in _services(statement.get("Principal")):
            if service in STRICT_SOURCE_SERVICES and not strict:
                yield (
                    f"Trust policy statement {_sid(statement)} trusts {service} without "
                    "StringEquals aws:SourceAccount or ArnLike aws:SourceArn (IfExists "
                    "passes when the key is absent): another account's resource could make "
                    "the service act with this role."
                )
            elif service in LENIENT_SOURCE_SERVICES and not tested:
                yield (
                    f"Trust policy statement {_sid(statement)} trusts {service} without any "
                    "aws:SourceAccount / aws:SourceArn condition."
                )


SERVICE_TRUST_REQUIRE_SOURCE = resource_rule(
    "aws-iam-service-trust-require-source-condition",
    "Roles trusted by a service principal must carry the confused-deputy condition: strict "
    "aws:SourceAccount / aws:SourceArn for services that always send them (EventBridge "
    "Scheduler, ECS tasks, VPC Flow Logs), at least an IfExists test for SageMaker and API "
    "Gateway.",
    types=[ROLE],
    check=_check_service_trust,
    severity=Severity.LOW,
    tags=["iam", "least-privilege"],
    remediation=(
        'Add {"StringEquals": {"aws:SourceAccount": "<account>"}, "ArnLike": '
        '{"aws:SourceArn": "arn:aws:scheduler:<region>:<account>:schedule-group/<group>"}} '
        "to the trust statement."
    ),
    references=[checkov("CKV_AWS_61"), guardrail("13")],
    since=2,
)


# -- B11: sns:Subscribe without a protocol condition lets the principal send the topic's
# messages anywhere: an e-mail address, an HTTP endpoint, another account's queue.
SUBSCRIBE_SCOPE_KEYS = frozenset({"sns:protocol", "sns:endpoint"})


def _subscribe(document: Any, where: str) -> Iterator[str]:
    for statement in statements(document):
        if not allows(statement):
            continue
        if not any(a.lower() == "sns:subscribe" for a in _actions(statement)):
            continue
        if not SUBSCRIBE_SCOPE_KEYS.intersection(_condition_keys(statement)):
            yield (
                f"{where} statement {_sid(statement)} allows sns:Subscribe without an "
                "sns:Protocol / sns:Endpoint condition: the topic's messages can be sent "
                "to any e-mail address, URL or other account's queue."
            )


SNS_SUBSCRIBE_REQUIRE_PROTOCOL = stack_rule(
    "aws-sns-subscribe-require-protocol-condition",
    "Identity policies granting sns:Subscribe should limit the protocol (and endpoint) with "
    "sns:Protocol / sns:Endpoint conditions (permissions boundaries are not judged).",
    types=[*DOCUMENT_TYPES, ROLE],
    check=identity_document_check(_subscribe),
    category=OPERATIONAL,
    severity=Severity.LOW,
    tags=["iam", "sns", "least-privilege"],
    # Advisory (review B11): some topics are meant for e-mail or HTTPS subscribers.
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        'Add {"StringEquals": {"sns:Protocol": ["sqs", "lambda"]}, "StringLike": '
        '{"sns:Endpoint": ["arn:aws:sqs:<region>:<account>:*"]}} to the statement.'
    ),
    references=[guardrail("12")],
    since=2,
)

# -- issue 14: a hosted model is reached only through the stack's guardrail. Bedrock's IAM
# condition key bedrock:GuardrailIdentifier (``<guardrail ARN>:<version>``) is set on
# InvokeModel, InvokeModelWithResponseStream, Converse and ConverseStream requests that attach a
# guardrail (Converse authorises as InvokeModel, ConverseStream as ...WithResponseStream).
BEDROCK_INVOKE_ACTIONS = (
    "bedrock:invokemodel",
    "bedrock:invokemodelwithresponsestream",
    # Not IAM actions, but what policies are often written with; matched like the real ones.
    "bedrock:converse",
    "bedrock:conversestream",
)
GUARDRAIL_KEY = "bedrock:guardrailidentifier"
# Operators that require the key to be present and equal (IfExists and negations would pass a
# request without a guardrail).
GUARDRAIL_OPERATORS = frozenset({"StringEquals", "StringLike", "ArnEquals", "ArnLike"})


def _grants_invoke(action: str) -> bool:
    pattern = re.escape(action.lower()).replace(r"\*", ".*").replace(r"\?", ".")
    return any(re.fullmatch(pattern, a) for a in BEDROCK_INVOKE_ACTIONS)


def _invoke_without_guardrail(document: Any, where: str) -> Iterator[str]:
    for statement in statements(document):
        if not allows(statement):
            continue
        invokes = sorted(a for a in _actions(statement) if _grants_invoke(a))
        if not invokes:
            continue
        if _condition_keys(statement).get(GUARDRAIL_KEY, set()) & GUARDRAIL_OPERATORS:
            continue
        yield (
            f"{where} statement {_sid(statement)} allows {', '.join(invokes)} without a "
            "bedrock:GuardrailIdentifier condition: the model can be called with no guardrail "
            "(no content filters, prompt-attack check or PII handling)."
        )


BEDROCK_INVOKE_REQUIRE_GUARDRAIL = stack_rule(
    "aws-iam-bedrock-invoke-require-guardrail",
    "Identity policies allowing Bedrock model invocation (bedrock:InvokeModel*, Converse*) must "
    "require the stack's guardrail with a StringEquals bedrock:GuardrailIdentifier condition "
    "(permissions boundaries, i.e. unattached managed policies, are ceilings and not judged).",
    types=[*DOCUMENT_TYPES, ROLE],
    check=identity_document_check(_invoke_without_guardrail),
    # Advisory in dev, mandatory in staging and prod (policies/pack.py: an operational rule's
    # default is advisory; staging and prod raise every rule).
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    tags=["iam", "bedrock", "llm", "least-privilege"],
    remediation=(
        'Add {"StringEquals": {"bedrock:GuardrailIdentifier": "<guardrail ARN>:<version>"}} '
        "to the Allow, and a Deny of the same actions on '*' with StringNotEquals on the same "
        "key, so no other grant can reach the model without the guardrail."
    ),
    references=[owasp_llm("LLM01"), owasp_llm("LLM05")],
    since=4,
)

POLICIES = [
    DISALLOW_WILDCARD_ADMIN,
    DISALLOW_ADMIN_MANAGED,
    TRUST_DISALLOW_PUBLIC,
    TRUST_REQUIRE_NAMED_PRINCIPAL,
    RESTRICT_MUTATING_ON_WILDCARD,
    KMS_REQUIRE_VIA_SERVICE,
    SERVICE_TRUST_REQUIRE_SOURCE,
    SNS_SUBSCRIBE_REQUIRE_PROTOCOL,
    BEDROCK_INVOKE_REQUIRE_GUARDRAIL,
]
