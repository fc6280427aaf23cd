"""CI federation trust: IAM roles assumed with OIDC web identity tokens, and the OIDC providers.

A role that trusts an OIDC provider (``Principal: {"Federated": "arn:...:oidc-provider/<host>"}``)
must say which tokens it accepts: a ``<host>:sub`` condition and a ``<host>:aud`` condition under
a positive operator (StringEquals / StringLike), with concrete values. For the CI issuers
(GitHub Actions, GitLab, HCP Terraform, Pulumi Cloud) every accepted subject must name its
owner — the repository / project / organization claim with a value that does not start with a
wildcard — because these issuers sign tokens for everyone's pipelines: ``repo:*`` or a subject
that names only an environment or a branch lets any repository on the platform in.

The GitHub OIDC provider itself should list ``sts.amazonaws.com`` as its only client ID (the
audience configure-aws-credentials requests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import allows, get, items, mapping, statements
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, guardrail

ROLE = "aws:iam/role:Role"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"

GITHUB = "token.actions.githubusercontent.com"
# CI issuers (host, or host/path) -> the subject claims that name a token's owner.
CI_OWNER_CLAIMS: Mapping[str, tuple[str, ...]] = {
    GITHUB: ("repo", "repository", "repository_owner", "repository_owner_id", "repository_id"),
    "gitlab.com": ("project_path", "namespace_path", "project_id", "namespace_id"),
    "app.terraform.io": ("organization",),
    "api.pulumi.com/oidc": ("org",),
}
STS_AUDIENCE = "sts.amazonaws.com"
POSITIVE_OPERATORS = frozenset(
    {
        "stringequals",
        "stringlike",
        "stringequalsignorecase",
        "foranyvalue:stringequals",
        "foranyvalue:stringlike",
    }
)
_OIDC_PROVIDER_ARN = re.compile(r"^arn:[^:]+:iam::[^:]*:oidc-provider/(.+)$")


def _provider_path(federated: Any) -> str | None:
    """``token.actions.githubusercontent.com`` from the provider ARN (or a bare CI host)."""
    if not isinstance(federated, str):
        return None
    match = _OIDC_PROVIDER_ARN.match(federated)
    if match:
        return match.group(1).rstrip("/")
    host = federated.removeprefix("https://").rstrip("/")
    return host if _ci_issuer(host) else None


def _ci_issuer(path: str) -> str | None:
    for issuer in CI_OWNER_CLAIMS:
        if path == issuer or path.startswith(issuer + "/"):
            return issuer
    return None


def _values(condition: Any, key: str) -> list[str] | None:
    """The values a positive operator requires of ``key`` (None when no operator tests it)."""
    found: list[str] | None = None
    for operator, tests in mapping(condition).items():
        if not isinstance(operator, str) or operator.lower() not in POSITIVE_OPERATORS:
            continue
        for name, values in mapping(tests).items():
            if isinstance(name, str) and name.lower() == key.lower():
                found = (found or []) + [str(v) for v in items(values)]
    return found


def _wildcard_only(value: str) -> bool:
    return not value.replace("*", "").replace("?", "").replace(":", "").strip()


def _owner_named(value: str, claims: tuple[str, ...]) -> bool:
    pattern = rf"(?:^|:)(?:{'|'.join(map(re.escape, claims))}):([^:]+)"
    return any(not m.group(1).startswith(("*", "?")) for m in re.finditer(pattern, value))


def _statement_findings(statement: Mapping[str, Any]) -> Iterator[str]:
    federated = get(statement.get("Principal"), "Federated")
    sid = statement.get("Sid") or "(no Sid)"
    for path in filter(None, map(_provider_path, items(federated))):
        condition = statement.get("Condition")
        subjects = _values(condition, f"{path}:sub")
        issuer = _ci_issuer(path)
        if not subjects:
            yield (
                f"Trust statement {sid} accepts any {path} token: no StringEquals/StringLike "
                f"condition on {path}:sub names the workload."
            )
        else:
            loose = [v for v in subjects if _wildcard_only(v)]
            if issuer:
                loose += [
                    v
                    for v in subjects
                    if v not in loose and not _owner_named(v, CI_OWNER_CLAIMS[issuer])
                ]
            if loose:
                yield (
                    f"Trust statement {sid} accepts {path}:sub {', '.join(loose)}: it does not "
                    "name the repository / project / organization, so other owners' pipelines "
                    "can assume the role."
                )
        audiences = _values(condition, f"{path}:aud")
        if not audiences or any(_wildcard_only(v) for v in audiences):
            yield (
                f"Trust statement {sid} does not pin the token audience: no StringEquals "
                f"condition on {path}:aud (e.g. {STS_AUDIENCE})."
            )


def _check_trust(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for statement in statements(get(props, "assumeRolePolicy")):
        if allows(statement):
            yield from _statement_findings(statement)


ROLE_TRUST_REQUIRE_OIDC_CONDITIONS = resource_rule(
    "aws-iam-role-trust-require-oidc-subject",
    "IAM roles trusting an OIDC provider must require a concrete <issuer>:sub (naming the "
    "repository / project / organization for CI issuers) and an <issuer>:aud condition.",
    types=[ROLE],
    check=_check_trust,
    severity=Severity.CRITICAL,
    tags=["iam", "authentication", "least-privilege"],
    remediation=(
        "Add Condition StringEquals {'<issuer>:aud': 'sts.amazonaws.com', '<issuer>:sub': "
        "'repo:<org>/<repo>:environment:prod'} (StringLike only for a wildcard after the "
        "repository, e.g. 'repo:<org>/<repo>:ref:refs/heads/*')."
    ),
    references=[checkov("CKV_AWS_358"), checkov("CKV_AWS_393")],
    since=2,
)


def _check_provider(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    url = str(get(props, "url") or "").removeprefix("https://").rstrip("/")
    if url != GITHUB and not url.startswith(GITHUB + "/"):
        return
    clients = [str(c) for c in items(get(props, "clientIdLists"))]
    extra = [c for c in clients if c != STS_AUDIENCE]
    if extra or not clients:
        yield (
            "GitHub OIDC provider accepts tokens for audiences other than sts.amazonaws.com "
            f"(client_id_lists {', '.join(clients) or 'empty'})."
        )


GITHUB_PROVIDER_REQUIRE_STS_AUDIENCE = resource_rule(
    "aws-iam-oidc-provider-github-require-sts-audience",
    "The GitHub Actions OIDC provider should list sts.amazonaws.com as its only client ID.",
    types=[OIDC_PROVIDER],
    check=_check_provider,
    severity=Severity.LOW,
    tags=["iam", "authentication"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set client_id_lists=['sts.amazonaws.com'].",
    references=[guardrail("13")],
    since=2,
)

POLICIES = [ROLE_TRUST_REQUIRE_OIDC_CONDITIONS, GITHUB_PROVIDER_REQUIRE_STS_AUDIENCE]
