"""GCP IAM (rules 28 and 29): no public members anywhere, no privileged project-level grants,
no user-managed service account keys."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import as_list, canonical_type, parse_document, resource_rule
from policies.rules.gcp.iam_types import IAM_BINDING_TYPES, IAM_MEMBER_TYPES, IAM_POLICY_TYPES
from policies.rules.references import checkov, cis

PUBLIC_MEMBERS: frozenset[str] = frozenset({"allUsers", "allAuthenticatedUsers"})

# Grants at project, folder or organization level: these reach every resource below them.
HIERARCHY_MEMBER_TYPES: tuple[str, ...] = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:folder/iAMMember:IAMMember",
    "gcp:organizations/iAMMember:IAMMember",
)
HIERARCHY_BINDING_TYPES: tuple[str, ...] = (
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:folder/iAMBinding:IAMBinding",
    "gcp:organizations/iAMBinding:IAMBinding",
)
HIERARCHY_POLICY_TYPES: tuple[str, ...] = (
    "gcp:projects/iAMPolicy:IAMPolicy",
    "gcp:folder/iAMPolicy:IAMPolicy",
    "gcp:organizations/iAMPolicy:IAMPolicy",
)

PRIVILEGED_ROLES: frozenset[str] = frozenset(
    {
        "roles/owner",
        "roles/editor",
        "roles/iam.serviceAccountUser",  # act as every service account of the project
        "roles/iam.serviceAccountTokenCreator",  # mint tokens for every service account
    }
)


def grants(
    props: Mapping[str, Any],
    resource_type: str,
    member_types: tuple[str, ...],
    binding_types: tuple[str, ...],
    policy_types: tuple[str, ...],
) -> Iterator[tuple[str, str]]:
    """(role, member) pairs an IAM member, binding or policy resource grants."""
    token = canonical_type(resource_type)
    if token in member_types:
        yield str(props.get("role") or ""), str(props.get("member") or "")
    elif token in binding_types:
        for member in as_list(props.get("members")):
            yield str(props.get("role") or ""), str(member)
    elif token in policy_types:
        for binding in as_list(parse_document(props.get("policyData")).get("bindings")):
            if isinstance(binding, Mapping):
                for member in as_list(binding.get("members")):
                    yield str(binding.get("role") or ""), str(member)


def _public_members(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for role, member in grants(
        props, args.resource_type, IAM_MEMBER_TYPES, IAM_BINDING_TYPES, IAM_POLICY_TYPES
    ):
        if member in PUBLIC_MEMBERS:
            yield f"grants {role} to {member}: anyone on the internet gets it."


iam_disallow_public_members = resource_rule(
    "gcp-iam-disallow-public-members",
    "No IAM member, binding or policy (on any resource) grants a role to allUsers or "
    "allAuthenticatedUsers.",
    types=(*IAM_MEMBER_TYPES, *IAM_BINDING_TYPES, *IAM_POLICY_TYPES),
    check=_public_members,
    severity=Severity.CRITICAL,
    tags=["iam", "public-access"],
    references=[
        checkov("CKV_GCP_28"),
        checkov("CKV_GCP_99"),
        checkov("CKV_GCP_101"),
        checkov("CKV_GCP_102"),
        checkov("CKV_GCP_107"),
        checkov("CKV2_GCP_6"),
        cis("gcp", "5.1"),
        cis("gcp", "1.9"),
    ],
    remediation=(
        "Grant the role to specific principals (serviceAccount:, group:, user:); to expose a "
        "service publicly, put it behind a load balancer with IAP or Cloud Armor instead."
    ),
)


def _privileged_project_roles(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    for role, member in grants(
        props,
        args.resource_type,
        HIERARCHY_MEMBER_TYPES,
        HIERARCHY_BINDING_TYPES,
        HIERARCHY_POLICY_TYPES,
    ):
        if role in PRIVILEGED_ROLES:
            yield f"grants {role} to {member} on the whole project / folder / organization."


iam_disallow_privileged_project_roles = resource_rule(
    "gcp-iam-disallow-privileged-project-roles",
    "No owner, editor, service account user or token creator grant at project, folder or "
    "organization level.",
    types=(*HIERARCHY_MEMBER_TYPES, *HIERARCHY_BINDING_TYPES, *HIERARCHY_POLICY_TYPES),
    check=_privileged_project_roles,
    severity=Severity.CRITICAL,
    tags=["iam", "least-privilege"],
    references=[
        checkov("CKV_GCP_117"),
        checkov("CKV_GCP_49"),
        checkov("CKV_GCP_116"),
        checkov("CKV_GCP_115"),
        checkov("CKV_GCP_41"),
        cis("gcp", "1.5"),
        cis("gcp", "1.6"),
    ],
    remediation=(
        "Grant predefined least-privilege roles (e.g. roles/aiplatform.user); grant "
        "roles/iam.serviceAccountUser on the one service account with "
        "`gcp.serviceaccount.IAMMember`, not on the project."
    ),
)

SERVICE_ACCOUNT_KEY = "gcp:serviceaccount/key:Key"


def _service_account_key(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    yield (
        "creates a user-managed service account key: a long-lived credential that can leak; "
        "use workload identity (federation) or attached service accounts."
    )


iam_disallow_service_account_keys = resource_rule(
    "gcp-iam-disallow-service-account-keys",
    "No user-managed service account keys.",
    types=[SERVICE_ACCOUNT_KEY],
    check=_service_account_key,
    severity=Severity.HIGH,
    tags=["iam", "authentication"],
    references=[checkov("CKV2_GCP_3"), cis("gcp", "1.4")],
    remediation=(
        "Remove the `gcp.serviceaccount.Key`; attach the service account to the workload or use "
        "Workload Identity Federation for CI."
    ),
)
