"""Workload Identity Federation for CI: who may exchange a token for Google credentials.

GitHub Actions, GitLab.com, HCP Terraform and Buildkite sign every customer's tokens with the
same issuer, so a provider that trusts such an issuer without an ``attributeCondition`` naming
the repository, project or organization lets *any* of their customers federate into the pool
(Google: "always define an attribute condition" for multi-tenant providers). A grant to a
whole pool (``principalSet://…/workloadIdentityPools/<pool>/*``) hands the role to every
identity the pool accepts, whichever repository or branch it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import prop_at, resource_rule
from policies.rules.gcp.iam import grants
from policies.rules.gcp.iam_types import IAM_BINDING_TYPES, IAM_MEMBER_TYPES, IAM_POLICY_TYPES
from policies.rules.references import checkov, guardrail
from policies.rules.settings import show

PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"

# Multi-tenant OIDC issuers and the token claims that name one customer's repository, project
# or organization there (``sub`` embeds the repository / project path on each of them).
MULTI_TENANT_ISSUERS: dict[str, frozenset[str]] = {
    "https://token.actions.githubusercontent.com": frozenset(
        {
            "sub",
            "repository",
            "repository_id",
            "repository_owner",
            "repository_owner_id",
            "job_workflow_ref",
            "enterprise",
            "enterprise_id",
        }
    ),
    "https://gitlab.com": frozenset(
        {"sub", "project_path", "project_id", "namespace_path", "namespace_id", "ci_config_ref_uri"}
    ),
    "https://app.terraform.io": frozenset(
        {"sub", "terraform_organization_id", "terraform_organization_name"}
    ),
    "https://agent.buildkite.com": frozenset({"sub", "organization_slug", "organization_id"}),
}
_REFERENCE = re.compile(r"\b(assertion|attribute|google)\.([A-Za-z_][A-Za-z0-9_]*)")
_TRIVIAL: frozenset[str] = frozenset({"true", "!false", "1 == 1"})


def _issuer(props: Mapping[str, Any]) -> str:
    value = prop_at(props, "oidc.issuerUri")
    return value.strip().rstrip("/").lower() if isinstance(value, str) else ""


def restricting_claims(condition: str, mapping: Mapping[str, Any]) -> set[str]:
    """The token claims a CEL condition reads, directly or through the attribute mapping."""
    claims: set[str] = set()
    for kind, name in _REFERENCE.findall(condition):
        if kind == "assertion":
            claims.add(name)
            continue
        source = mapping.get(f"{kind}.{name}")
        if isinstance(source, str):
            match = re.fullmatch(r"\s*assertion\.([A-Za-z_][A-Za-z0-9_]*)\s*", source)
            if match:
                claims.add(match.group(1))
    return claims


def _provider(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if props.get("disabled") is True:
        return
    condition = props.get("attributeCondition")
    issuer = _issuer(props)
    tenant_claims = MULTI_TENANT_ISSUERS.get(issuer)
    text = condition.strip() if isinstance(condition, str) else ""
    if not text or text.lower() in _TRIVIAL:
        whom = (
            f"any repository or organization on {issuer}"
            if tenant_claims
            else "any identity the provider issues"
        )
        yield (
            f"federation is not restricted: `attributeCondition` is {show(condition)}, so "
            f"{whom} can exchange its tokens for access to this pool."
        )
        return
    if tenant_claims is None:
        return
    mapping = props.get("attributeMapping")
    read = restricting_claims(text, mapping if isinstance(mapping, Mapping) else {})
    if not read & tenant_claims:
        yield (
            f"federation is not restricted to your repositories: `attributeCondition` reads "
            f"no claim that names a repository, project or organization on {issuer} "
            f"({', '.join(sorted(tenant_claims))}); compare one of them with your own."
        )


wif_provider_require_attribute_condition = resource_rule(
    "gcp-wif-provider-require-attribute-condition",
    "Workload Identity pool providers have an attribute condition; for multi-tenant CI issuers "
    "(GitHub, GitLab.com, HCP Terraform, Buildkite) it names the repository, project or "
    "organization.",
    types=[PROVIDER],
    check=_provider,
    severity=Severity.CRITICAL,
    tags=["authentication", "least-privilege"],
    remediation=(
        "Map `attribute.repository` to `assertion.repository` (GitLab: `assertion.project_path`) "
        "and set `attribute_condition='attribute.repository == \"org/repo\"'` (or "
        '`assertion.repository_owner == "org"`); bind service accounts to principals of that '
        "attribute only."
    ),
    references=[checkov("CKV_GCP_118"), checkov("CKV_GCP_125")],
    since=2,
)


# A whole workload identity pool or workforce pool: every identity it accepts.
_POOL_WILDCARD = re.compile(
    r"principalSet://iam\.googleapis\.com/("
    r"projects/[^/]+/locations/[^/]+/workloadIdentityPools/[^/]+"
    r"|locations/[^/]+/workforcePools/[^/]+"
    r")/\*"
)


def _pool_wide(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for role, member in grants(
        props, args.resource_type, IAM_MEMBER_TYPES, IAM_BINDING_TYPES, IAM_POLICY_TYPES
    ):
        if _POOL_WILDCARD.fullmatch(member.strip()):
            yield (
                f"grants {role} to every identity of a federation pool ({member}); grant it to "
                "the principal set of one repository attribute or one subject instead."
            )


wif_disallow_pool_wide_grants = resource_rule(
    "gcp-wif-disallow-pool-wide-grants",
    "No IAM grant (service account impersonation included) goes to a whole workload or "
    "workforce identity pool (`principalSet://…/*`).",
    types=(*IAM_MEMBER_TYPES, *IAM_BINDING_TYPES, *IAM_POLICY_TYPES),
    check=_pool_wide,
    severity=Severity.HIGH,
    tags=["least-privilege", "authentication"],
    remediation=(
        "Bind roles/iam.workloadIdentityUser to "
        "`principalSet://iam.googleapis.com/projects/<n>/locations/global/"
        "workloadIdentityPools/<pool>/attribute.repository/<org>/<repo>` or to "
        "`principal://…/subject/<subject>`, never to `…/<pool>/*`."
    ),
    # Guardrail 13 (no wildcard principal in a trust relationship without a condition), on GCP.
    references=[guardrail("13")],
    since=2,
)
