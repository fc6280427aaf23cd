"""OIDC federation trust rules on small real programs: one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import oidc
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, doc, judge, waiver

GH = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{GH}"


def web_identity(provider: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if condition is not None:
        statement["Condition"] = condition
    return statement


def role(condition: dict[str, Any] | None, provider: str = PROVIDER) -> Program:
    return lambda: aws.iam.Role(
        "deployer", assume_role_policy=doc(web_identity(provider, condition))
    )


def github(sub: Any, operator: str = "StringEquals", aud: Any = "sts.amazonaws.com") -> Program:
    condition: dict[str, Any] = {"StringEquals": {f"{GH}:aud": aud}} if aud else {}
    condition.setdefault(operator, {})[f"{GH}:sub"] = sub
    return role(condition)


def issuer(host: str, sub: str) -> Program:
    return role(
        {"StringEquals": {f"{host}:aud": "sts.amazonaws.com"}, "StringLike": {f"{host}:sub": sub}},
        provider=f"arn:aws:iam::123456789012:oidc-provider/{host}",
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (github("repo:acme/app:environment:prod"), set()),
        (github(["repo:acme/app:ref:refs/heads/main", "repo:acme/app:environment:prod"]), set()),
        (github("repo:acme/app:*", operator="StringLike"), set()),
        (issuer("gitlab.com", "project_path:acme/app:ref_type:branch:ref:*"), set()),
        (issuer("app.terraform.io", "organization:acme:project:ml:workspace:prod:run_phase:*"),
         set()),
        (issuer("api.pulumi.com/oidc", "pulumi:deploy:org:acme:project:app:*"), set()),
        (issuer("oidc.eks.eu-west-1.amazonaws.com/id/ABC", "system:serviceaccount:ml:trainer"),
         set()),
        (lambda: aws.iam.Role("deployer", assume_role_policy=doc(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"})), set()),
        (role(None), {"deployer"}),
        (github("*", operator="StringLike"), {"deployer"}),
        (github("repo:*", operator="StringLike"), {"deployer"}),
        (github("environment:prod"), {"deployer"}),
        (github("repo:acme/app:environment:prod", operator="StringNotEquals"), {"deployer"}),
        (github("repo:acme/app:environment:prod", aud=None), {"deployer"}),
        (github("repo:acme/app:environment:prod", aud="*"), {"deployer"}),
        (issuer("gitlab.com", "ref_type:branch:ref:main"), {"deployer"}),
        (issuer("api.pulumi.com/oidc", "pulumi:deploy:org:*"), {"deployer"}),
        (issuer("oidc.eks.eu-west-1.amazonaws.com/id/ABC", "*"), {"deployer"}),
    ],
    ids=["github-env", "github-list", "github-branch-wildcard", "gitlab", "terraform", "pulumi",
         "eks", "service", "no-condition", "any-sub", "any-repo", "env-only", "negated",
         "no-aud", "any-aud", "gitlab-no-project", "pulumi-any-org", "eks-any"],
)  # fmt: skip
def test_aws_iam_role_trust_require_oidc_subject(program: Program, flagged: set[str]) -> None:
    assert judge(oidc.ROLE_TRUST_REQUIRE_OIDC_CONDITIONS, program) == flagged


def test_oidc_trust_waiver() -> None:
    rule = oidc.ROLE_TRUST_REQUIRE_OIDC_CONDITIONS
    assert judge(rule, role(None), waiver("deployer")) == set()


def provider(url: str, clients: list[str]) -> Program:
    return lambda: aws.iam.OpenIdConnectProvider("ci", url=url, client_id_lists=clients)


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (provider(f"https://{GH}", ["sts.amazonaws.com"]), set()),
        (provider("https://gitlab.com", ["https://gitlab.com"]), set()),
        (provider(f"https://{GH}", ["sts.amazonaws.com", "api://other"]), {"ci"}),
    ],
    ids=["github-sts", "other-issuer", "github-extra-audience"],
)
def test_aws_iam_oidc_provider_github_require_sts_audience(
    program: Program, flagged: set[str]
) -> None:
    assert judge(oidc.GITHUB_PROVIDER_REQUIRE_STS_AUDIENCE, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in oidc.POLICIES]
    assert names == [
        "aws-iam-role-trust-require-oidc-subject",
        "aws-iam-oidc-provider-github-require-sts-audience",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
