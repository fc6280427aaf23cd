"""CI federation rules (federation.py): a GitHub provider restricted to one repository and
service accounts federated to that repository only; one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from policies.rules.gcp import federation
from tests.policies.test_gcp_common import RUNNER, TARGET, Program, judge, waiver

GITHUB = "https://token.actions.githubusercontent.com"
POOL = "iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-acme"
MAPPING = {
    "google.subject": "assertion.sub",
    "attribute.repository": "assertion.repository",
    "attribute.ref": "assertion.ref",
}
REPO_CONDITION = 'attribute.repository == "acme/model"'


def provider(
    condition: str | None = REPO_CONDITION,
    issuer: str = GITHUB,
    mapping: dict[str, str] | None = None,
    **over: Any,
) -> Program:
    return lambda: gcp.iam.WorkloadIdentityPoolProvider(
        TARGET,
        workload_identity_pool_id="ci-acme",
        workload_identity_pool_provider_id="github",
        attribute_mapping=MAPPING if mapping is None else mapping,
        attribute_condition=condition,
        oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=issuer),
        **over,
    )


def federated(member: str) -> Program:
    return lambda: gcp.serviceaccount.IAMMember(
        TARGET,
        service_account_id=f"projects/acme/serviceAccounts/{RUNNER}",
        role="roles/iam.workloadIdentityUser",
        member=member,
    )


PROVIDER = federation.wif_provider_require_attribute_condition
POOL_WIDE = federation.wif_disallow_pool_wide_grants

CASES: dict[str, tuple[Policy, Program, bool]] = {
    "gcp-wif-provider-require-attribute-condition:repository-ok": (PROVIDER, provider(), False),
    "gcp-wif-provider-require-attribute-condition:owner-claim-ok": (
        PROVIDER,
        provider('assertion.repository_owner == "acme"'),
        False,
    ),
    "gcp-wif-provider-require-attribute-condition:no-condition": (
        PROVIDER,
        provider(None),
        True,
    ),
    "gcp-wif-provider-require-attribute-condition:trivial-condition": (
        PROVIDER,
        provider("true"),
        True,
    ),
    "gcp-wif-provider-require-attribute-condition:branch-only": (
        PROVIDER,
        provider('attribute.ref == "refs/heads/main"'),
        True,
    ),
    "gcp-wif-provider-require-attribute-condition:attribute-not-mapped-from-repo": (
        PROVIDER,
        provider(REPO_CONDITION, mapping={**MAPPING, "attribute.repository": "assertion.actor"}),
        True,
    ),
    "gcp-wif-provider-require-attribute-condition:gitlab-ok": (
        PROVIDER,
        provider(
            REPO_CONDITION,
            issuer="https://gitlab.com",
            mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.project_path",
            },
        ),
        False,
    ),
    "gcp-wif-provider-require-attribute-condition:single-tenant-issuer-without-condition": (
        PROVIDER,
        provider(None, issuer="https://gitlab.acme.example"),
        True,
    ),
    "gcp-wif-provider-require-attribute-condition:single-tenant-issuer-own-claim-ok": (
        PROVIDER,
        provider('assertion.groups == "deployers"', issuer="https://gitlab.acme.example"),
        False,
    ),
    "gcp-wif-provider-require-attribute-condition:disabled-ok": (
        PROVIDER,
        provider(None, disabled=True),
        False,
    ),
    "gcp-wif-disallow-pool-wide-grants:repository-set-ok": (
        POOL_WIDE,
        federated(f"principalSet://{POOL}/attribute.repository/acme/model"),
        False,
    ),
    "gcp-wif-disallow-pool-wide-grants:subject-ok": (
        POOL_WIDE,
        federated(f"principal://{POOL}/subject/repo:acme/model:environment:prod"),
        False,
    ),
    "gcp-wif-disallow-pool-wide-grants:whole-pool": (
        POOL_WIDE,
        federated(f"principalSet://{POOL}/*"),
        True,
    ),
    "gcp-wif-disallow-pool-wide-grants:whole-workforce-pool-on-project": (
        POOL_WIDE,
        lambda: gcp.projects.IAMMember(
            TARGET,
            project="acme",
            role="roles/aiplatform.user",
            member="principalSet://iam.googleapis.com/locations/global/workforcePools/staff/*",
        ),
        True,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_federation_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_pool_wide_waiver() -> None:
    """gcp-wif-disallow-pool-wide-grants: a waived grant is skipped."""
    program = federated(f"principalSet://{POOL}/*")
    assert judge(POOL_WIDE, program, waiver(TARGET)) == set()


def test_claims_are_read_through_the_mapping() -> None:
    claims = federation.restricting_claims(
        'attribute.repository == "acme/model" && assertion.ref == "refs/heads/main"', MAPPING
    )
    assert claims == {"repository", "ref"}
