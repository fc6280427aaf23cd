"""Resource policies open to any principal, and Secrets Manager secrets.

A resource policy (SQS queue, SNS topic, ECR repository, Secrets Manager secret, OpenSearch
domain, EFS file system, Backup vault) must not Allow ``Principal: "*"`` (or ``NotPrincipal``)
unless a Condition pins the caller down to an account, organization, source ARN, VPC endpoint or
IP range: ``aws:SourceAccount``, ``aws:SourceArn``, ``aws:SourceOwner``, ``aws:PrincipalOrgID``,
``aws:PrincipalAccount``, ``aws:PrincipalArn``, ``aws:SourceVpce``, ``aws:SourceVpc``,
``aws:SourceIp`` (not 0.0.0.0/0). A negated operator (``StringNotEquals``) or an ``...IfExists``
one (which passes when the key is absent, as it is on direct calls) does not restrict.
S3 buckets, KMS keys, Lambda permissions and role trust policies have their own rules.

An OpenSearch domain inside a VPC, or with fine-grained access control on, is expected to carry
an open domain policy (access is then decided by the VPC or by the security plugin): its policy
is not judged here (opensearch.py checks the VPC / fine-grained access control).

Secrets Manager: secrets encrypted with a customer-managed key (M); rotated automatically at
least every 90 days (A).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from policies.rules.aws._common import (
    StackFindings,
    allows,
    each,
    get,
    is_false,
    is_true,
    items,
    known,
    linked,
    mapping,
    of_types,
    present,
    principal_is_public,
    statements,
)
from policies.rules.base import OPERATIONAL, SECURITY, stack_rule
from policies.rules.references import checkov, fsbp

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 (a type token)
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"  # noqa: S105
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105
OPENSEARCH_DOMAINS = ("aws:opensearch/domain:Domain", "aws:elasticsearch/domain:Domain")
OPENSEARCH_POLICIES = (
    "aws:opensearch/domainPolicy:DomainPolicy",
    "aws:elasticsearch/domainPolicy:DomainPolicy",
)
EFS_POLICY = "aws:efs/fileSystemPolicy:FileSystemPolicy"
BACKUP_VAULT_POLICY = "aws:backup/vaultPolicy:VaultPolicy"

# Resource type -> (what it is called in messages, the input holding its policy document).
POLICY_HOLDERS: Mapping[str, tuple[str, str]] = {
    QUEUE: ("SQS queue", "policy"),
    QUEUE_POLICY: ("SQS queue policy", "policy"),
    TOPIC: ("SNS topic", "policy"),
    TOPIC_POLICY: ("SNS topic policy", "policy"),
    REPOSITORY_POLICY: ("ECR repository policy", "policy"),
    SECRET: ("Secrets Manager secret", "policy"),
    SECRET_POLICY: ("Secrets Manager secret policy", "policy"),
    EFS_POLICY: ("EFS file system policy", "policy"),
    BACKUP_VAULT_POLICY: ("Backup vault policy", "policy"),
    **{t: ("OpenSearch domain", "accessPolicies") for t in OPENSEARCH_DOMAINS},
    **{t: ("OpenSearch domain policy", "accessPolicies") for t in OPENSEARCH_POLICIES},
}

RESTRICTING_KEYS = frozenset(
    {
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceowner",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:sourcevpce",
        "aws:sourcevpc",
        "aws:sourceip",
        "aws:vpcsourceip",
    }
)
OPEN_VALUES = frozenset({"*", "0.0.0.0/0", "::/0"})


def _restricting_operator(operator: str) -> bool:
    """A positive, always-evaluated condition operator (not ``...Not...``, not ``...IfExists``,
    not ``ForAllValues:`` which passes on an empty set)."""
    op = operator.lower()
    return "not" not in op and not op.endswith("ifexists") and not op.startswith("forallvalues:")


def restricts_caller(condition: Any) -> bool:
    """True when a Condition block pins the caller to an account, organization, source ARN,
    VPC (endpoint) or IP range with a concrete value."""
    for operator, keys in mapping(condition).items():
        if not isinstance(operator, str) or not _restricting_operator(operator):
            continue
        for key, values in mapping(keys).items():
            if not isinstance(key, str) or key.lower() not in RESTRICTING_KEYS:
                continue
            concrete = [v for v in items(values) if isinstance(v, str) and v.strip()]
            if concrete and not any(v in OPEN_VALUES for v in concrete):
                return True
    return False


def open_statements(document: Any) -> list[Mapping[str, Any]]:
    """Allow statements for anyone (``Principal: *`` or ``NotPrincipal``) whose Condition does
    not restrict the caller."""
    found = []
    for statement in statements(document):
        if not allows(statement):
            continue
        public = principal_is_public(statement.get("Principal")) or (
            statement.get("NotPrincipal") is not None
        )
        if public and not restricts_caller(statement.get("Condition")):
            found.append(statement)
    return found


def opensearch_access_controlled(domain: PolicyResource) -> bool:
    """The domain is in a VPC or has fine-grained access control on."""
    props = domain.props
    in_vpc = any(present(s) for s in items(known(props, "vpcOptions", "subnetIds")))
    return in_vpc or is_true(known(props, "advancedSecurityOptions", "enabled"))


def _exempt_opensearch(args: StackValidationArgs) -> set[str]:
    """URNs of OpenSearch domains and domain policies whose domain controls access itself."""
    exempt: set[str] = set()
    policies = of_types(args, *OPENSEARCH_POLICIES)
    for domain in of_types(args, *OPENSEARCH_DOMAINS):
        if not opensearch_access_controlled(domain):
            continue
        exempt.add(domain.urn)
        names = [known(domain.props, "domainName")]
        exempt.update(p.urn for p in linked(domain, policies, "domainName", target_values=names))
    return exempt


def _check_public_policies(args: StackValidationArgs) -> StackFindings:
    exempt = _exempt_opensearch(args)

    def check(r: PolicyResource) -> StackFindings:
        if r.urn in exempt:
            return
        kind, key = POLICY_HOLDERS[r.resource_type]
        for statement in open_statements(get(r.props, key)):
            sid = statement.get("Sid") or "(no Sid)"
            yield (
                f"{kind} '{r.name}' statement {sid} allows any principal with no condition on "
                "the caller's account, organization, source ARN, VPC endpoint or IP: it is "
                "open to every AWS account (or to anyone).",
                r.urn,
            )

    yield from each(of_types(args, *POLICY_HOLDERS), check)


DISALLOW_PUBLIC_PRINCIPAL = stack_rule(
    "aws-resource-policy-disallow-public-principal",
    "SQS, SNS, ECR, Secrets Manager, OpenSearch, EFS and Backup vault resource policies must not "
    "Allow Principal '*' (or NotPrincipal) unless a Condition restricts the caller by "
    "aws:SourceAccount, aws:SourceArn, aws:PrincipalOrgID, aws:SourceVpce, aws:SourceIp, ...",
    check=_check_public_policies,
    severity=Severity.CRITICAL,
    tags=["iam", "public-access", "least-privilege"],
    category=SECURITY,
    remediation=(
        "Name the principals (account or role ARNs, or the calling service) in the Allow "
        "statement, or add a Condition such as StringEquals aws:PrincipalOrgID / "
        "aws:SourceAccount, ArnLike aws:SourceArn or StringEquals aws:SourceVpce."
    ),
    references=[checkov("CKV_AWS_168"), checkov("CKV_AWS_169"), checkov("CKV_AWS_32")],
    since=2,
)


# ---------------------------------------------------------------------------- Secrets Manager
def _check_secret_cmk(args: StackValidationArgs) -> StackFindings:
    def check(secret: PolicyResource) -> StackFindings:
        if not present(get(secret.props, "kmsKeyId")):
            yield (
                f"Secrets Manager secret '{secret.name}' is not encrypted with a "
                "customer-managed key (kms_key_id unset: the AWS-managed aws/secretsmanager "
                "key is used, which cannot be shared across accounts or restricted by key "
                "policy).",
                secret.urn,
            )

    yield from each(of_types(args, SECRET), check)


SECRET_REQUIRE_CMK = stack_rule(
    "aws-secretsmanager-secret-require-cmk",
    "Secrets Manager secrets must be encrypted with a customer-managed KMS key.",
    check=_check_secret_cmk,
    severity=Severity.MEDIUM,
    tags=["secretsmanager", "encryption", "key-management"],
    category=SECURITY,
    remediation="Set kms_key_id=<customer-managed key ARN> on aws.secretsmanager.Secret.",
    references=[checkov("CKV_AWS_149")],
    since=2,
)

MAX_ROTATION_DAYS = 90


def _rotation_findings(secret: PolicyResource, rotations: list[PolicyResource]) -> StackFindings:
    names = [known(secret.props, "arn"), known(secret.props, "name")]
    mine = list(linked(secret, rotations, "secretId", target_values=names))
    active = [r for r in mine if not is_false(get(r.props, "rotationEnabled"))]
    if not active:
        yield (
            f"Secrets Manager secret '{secret.name}' is never rotated automatically (no "
            "aws.secretsmanager.SecretRotation for it): a leaked value stays valid.",
            secret.urn,
        )
        return
    for rotation in active:
        days = get(rotation.props, "rotationRules", "automaticallyAfterDays")
        if isinstance(days, (int, float)) and days > MAX_ROTATION_DAYS:
            yield (
                f"Secrets Manager secret '{secret.name}' is rotated every {days:g} days "
                f"(rotation_rules.automatically_after_days); at most {MAX_ROTATION_DAYS}.",
                secret.urn,
            )


def _check_rotation(args: StackValidationArgs) -> StackFindings:
    rotations = of_types(args, SECRET_ROTATION)
    yield from each(of_types(args, SECRET), lambda s: _rotation_findings(s, rotations))


# Advisory: secrets that hold third-party API keys often cannot be rotated by a Lambda.
SECRET_REQUIRE_ROTATION = stack_rule(
    "aws-secretsmanager-secret-require-rotation",
    f"Secrets Manager secrets should rotate automatically at least every {MAX_ROTATION_DAYS} "
    "days (an aws.secretsmanager.SecretRotation for the secret).",
    check=_check_rotation,
    severity=Severity.MEDIUM,
    tags=["secretsmanager", "authentication"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add aws.secretsmanager.SecretRotation(secret_id=<secret>.id, rotation_lambda_arn=..., "
        "rotation_rules={'automatically_after_days': 30}); RDS master passwords: use "
        "manage_master_user_password=True, which rotates them for you."
    ),
    references=[checkov("CKV2_AWS_57"), checkov("CKV_AWS_304"), fsbp("SecretsManager.1")],
    since=2,
)

POLICIES = [DISALLOW_PUBLIC_PRINCIPAL, SECRET_REQUIRE_CMK, SECRET_REQUIRE_ROTATION]
