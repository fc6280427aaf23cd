"""CI federation trust: federated identity credentials on user-assigned managed identities.

A credential lets any workload whose OIDC token carries the given issuer, subject and audience
act as the identity. For GitHub Actions and GitLab CI the subject must pin one repository (or
project) and one branch, tag or deployment environment; a subject made of reusable claims only
(``environment:prod``, ``ref:refs/heads/main``) or a wildcard lets other repositories in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.azure.state import UNKNOWN, read
from policies.rules.base import as_list, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import show

FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 (an audience URI)

# GitHub: https://token.actions.githubusercontent.com (enterprise: .../<enterprise slug>).
_GITHUB_ISSUER = re.compile(r"^https://token\.actions\.githubusercontent\.com(/[\w.-]+)?/?$")
# GitLab.com, or a self-managed instance whose host names GitLab.
_GITLAB_ISSUER = re.compile(r"^https://([\w-]+\.)*gitlab[\w.-]*(:\d+)?/?$", re.IGNORECASE)

# repo:<owner>/<repo>:environment:<name> | repo:<owner>/<repo>:ref:refs/(heads|tags)/<name>
# (custom subject templates may put repository_owner / repository_id claims first).
_GITHUB_REPO = re.compile(r"(^|:)(repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+|repository_id:\d+)(:|$)")
_GITHUB_SCOPE = re.compile(r":(environment:[^:*]+|ref:refs/(heads|tags)/[^:*]+)$")
# project_path:<group>[/<subgroup>...]/<project>:ref_type:(branch|tag):ref:<name>
_GITLAB_SUBJECT = re.compile(r"^project_path:[\w.-]+(/[\w.-]+)+:ref_type:(branch|tag):ref:[^*]+$")


def _subject_problem(issuer: str, subject: str) -> str | None:
    if "*" in subject:
        return "contains a wildcard"
    if _GITHUB_ISSUER.match(issuer):
        if not _GITHUB_REPO.search(subject):
            return (
                "does not name one repository (`repo:<owner>/<repo>:...` or `repository_id:<id>`)"
            )
        if not _GITHUB_SCOPE.search(subject):
            return (
                "does not pin a deployment environment or a branch / tag "
                "(`...:environment:<name>` or `...:ref:refs/heads/<branch>`); "
                "`pull_request` subjects let any pull request in"
            )
        return None
    if _GITLAB_ISSUER.match(issuer):
        if not _GITLAB_SUBJECT.match(subject):
            return (
                "does not name one project and one branch or tag "
                "(`project_path:<group>/<project>:ref_type:branch:ref:<branch>`)"
            )
        return None
    return None


def _federation(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    issuer, subject = read(props, "issuer"), read(props, "subject")
    audiences = read(props, "audiences")
    if audiences is not UNKNOWN:
        values = [a for a in as_list(audiences) if a is not UNKNOWN]
        if values != [TOKEN_EXCHANGE_AUDIENCE]:
            yield (
                f"federated credential trusts audiences {values!r}: `audiences` must be exactly "
                f'["{TOKEN_EXCHANGE_AUDIENCE}"], or tokens minted for other services are '
                "accepted."
            )
    if not isinstance(issuer, str) or subject is UNKNOWN:
        return
    if not isinstance(subject, str) or not subject.strip():
        yield f"federated credential has no subject: `subject` is {show(subject)}."
        return
    problem = _subject_problem(issuer.strip(), subject.strip())
    if problem:
        yield (
            f"federated credential grants the identity to more CI workloads than one: "
            f"`subject` {show(subject)} {problem}."
        )


federated_credential_restrict_subject = resource_rule(
    "azure-federated-credential-restrict-subject",
    "Federated identity credentials for GitHub Actions / GitLab CI pin one repository and one "
    "branch, tag or environment, and accept only the api://AzureADTokenExchange audience.",
    types=[FEDERATED_CREDENTIAL],
    check=_federation,
    severity=Severity.HIGH,
    tags=["authentication", "least-privilege"],
    remediation=(
        'GitHub: `subject="repo:<owner>/<repo>:environment:<env>"` (protect the environment) or '
        '`"repo:<owner>/<repo>:ref:refs/heads/main"`; GitLab: `subject="project_path:<group>/'
        '<project>:ref_type:branch:ref:main"`; `audiences=["api://AzureADTokenExchange"]`.'
    ),
    references=[checkov("CKV_AZURE_249"), mcsb("IM-3")],
    since=2,
)
