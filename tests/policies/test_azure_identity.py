"""CI federation trust (policies/rules/azure/identity.py): federated identity credentials for
GitHub Actions and GitLab CI as small real programs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.managedidentity as managedidentity
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import identity
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
GITHUB = "https://token.actions.githubusercontent.com"
GITLAB = "https://gitlab.com"
AUDIENCE = "api://AzureADTokenExchange"
RULE = identity.federated_credential_restrict_subject


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def credential(
    subject: str, issuer: str = GITHUB, audiences: list[str] | None = None
) -> Callable[[], object]:
    return lambda: managedidentity.FederatedIdentityCredential(
        TARGET,
        resource_group_name=RG,
        resource_name_="id-deployer",
        issuer=issuer,
        subject=subject,
        audiences=audiences or [AUDIENCE],
    )


@pytest.mark.parametrize(
    ("case", "program", "violates"),
    [
        ("github-environment", credential("repo:acme/support-bot:environment:prod"), False),
        ("github-branch", credential("repo:acme/support-bot:ref:refs/heads/main"), False),
        ("github-tag", credential("repo:acme/support-bot:ref:refs/tags/v1.2.0"), False),
        (
            "github-enterprise-issuer",
            credential(
                "repo:acme/support-bot:environment:prod",
                issuer=f"{GITHUB}/acme-enterprise",
            ),
            False,
        ),
        (
            "github-custom-template-with-repo",
            credential("repository_owner_id:42:repo:acme/support-bot:environment:prod"),
            False,
        ),
        (
            "github-custom-template-repository-id",
            credential("repository_owner_id:42:repository_id:4711:environment:prod"),
            False,
        ),
        (
            "github-custom-template-owner-only",
            credential("repository_owner_id:42:environment:prod"),
            True,
        ),
        ("github-environment-only", credential("environment:prod"), True),
        ("github-ref-only", credential("ref:refs/heads/main"), True),
        ("github-pull-request", credential("repo:acme/support-bot:pull_request"), True),
        ("github-wildcard", credential("repo:acme/*:environment:prod"), True),
        ("github-repo-without-scope", credential("repo:acme/support-bot"), True),
        (
            "gitlab-branch",
            credential("project_path:acme/ml/support-bot:ref_type:branch:ref:main", issuer=GITLAB),
            False,
        ),
        ("gitlab-group-only", credential("project_path:acme", issuer=GITLAB), True),
        (
            "gitlab-no-ref",
            credential("project_path:acme/support-bot", issuer=GITLAB),
            True,
        ),
        (
            "other-issuer-not-judged",
            credential("system:serviceaccount:ml:trainer", issuer="https://oidc.aks.example/"),
            False,
        ),
        (
            "wrong-audience",
            credential("repo:acme/support-bot:environment:prod", audiences=["api://other"]),
            True,
        ),
        (
            "extra-audience",
            credential(
                "repo:acme/support-bot:environment:prod", audiences=[AUDIENCE, "api://other"]
            ),
            True,
        ),
    ],
)
def test_federated_credential_restrict_subject(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """azure-federated-credential-restrict-subject: one repo and one ref / environment."""
    assert findings_for(RULE, program) == ({TARGET} if violates else set()), case


def test_message_says_what_is_missing() -> None:
    """The finding names the subject and what it fails to pin."""
    [finding] = evaluate([RULE], [proxied(r) for r in run_program(credential("environment:prod"))])
    assert '"environment:prod"' in finding.message
    assert "does not name one repository" in finding.message
