"""GCP IAM rules (28, 29): public members on any IAM type, privileged project grants, keys."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pulumi_gcp as gcp
import pytest

from policies.rules.gcp import iam
from policies.rules.gcp.iam_types import IAM_BINDING_TYPES, IAM_MEMBER_TYPES, IAM_POLICY_TYPES
from tests.policies.test_gcp_common import RUNNER, TARGET, Program, judge, waiver

OWNER = "roles/owner"


def bucket_member(member: str) -> Program:
    return lambda: gcp.storage.BucketIAMMember(
        TARGET, bucket="data", role="roles/storage.objectViewer", member=member
    )


def topic_binding(*members: str) -> Program:
    return lambda: gcp.pubsub.TopicIAMBinding(
        TARGET, topic="events", role="roles/pubsub.publisher", members=list(members)
    )


def run_invoker(member: str) -> Program:
    return lambda: gcp.cloudrunv2.ServiceIamMember(
        TARGET, name="api", location="europe-west1", role="roles/run.invoker", member=member
    )


def secret_policy(*bindings: tuple[str, str]) -> Program:
    document = {"bindings": [{"role": role, "members": [m]} for role, m in bindings]}
    return lambda: gcp.secretmanager.SecretIamPolicy(
        TARGET, secret_id="api-key", policy_data=json.dumps(document)
    )


def project_member(role: str, member: str = f"serviceAccount:{RUNNER}") -> Program:
    return lambda: gcp.projects.IAMMember(TARGET, project="acme", role=role, member=member)


def project_binding(role: str) -> Program:
    return lambda: gcp.projects.IAMBinding(
        TARGET, project="acme", role=role, members=[f"serviceAccount:{RUNNER}"]
    )


def project_policy(role: str) -> Program:
    document = {"bindings": [{"role": role, "members": ["group:ml@acme.example"]}]}
    return lambda: gcp.projects.IAMPolicy(TARGET, project="acme", policy_data=json.dumps(document))


def sa_member(role: str) -> Program:
    return lambda: gcp.serviceaccount.IAMMember(
        TARGET,
        service_account_id=f"projects/acme/serviceAccounts/{RUNNER}",
        role=role,
        member="serviceAccount:deployer@acme.iam.gserviceaccount.com",
    )


def sa_key() -> Program:
    def program() -> None:
        account = gcp.serviceaccount.Account("runner", account_id="runner")
        gcp.serviceaccount.Key(TARGET, service_account_id=account.name)

    return program


def sa_only() -> Program:
    return lambda: gcp.serviceaccount.Account(TARGET, account_id="runner")


PUBLIC = iam.iam_disallow_public_members
PRIVILEGED = iam.iam_disallow_privileged_project_roles
KEYS = iam.iam_disallow_service_account_keys

CASES: dict[str, tuple[Any, Program, bool]] = {
    # 28: public members on any IAM resource type
    "gcp-iam-disallow-public-members:public-bucket-member-ok": (
        PUBLIC,
        bucket_member(f"serviceAccount:{RUNNER}"),
        False,
    ),
    "gcp-iam-disallow-public-members:public-bucket-member-allusers": (
        PUBLIC,
        bucket_member("allUsers"),
        True,
    ),
    "gcp-iam-disallow-public-members:public-topic-binding-ok": (
        PUBLIC,
        topic_binding("group:ml@acme.example"),
        False,
    ),
    "gcp-iam-disallow-public-members:public-topic-binding-authenticated": (
        PUBLIC,
        topic_binding("group:ml@acme.example", "allAuthenticatedUsers"),
        True,
    ),
    "gcp-iam-disallow-public-members:public-run-invoker-allusers": (
        PUBLIC,
        run_invoker("allUsers"),
        True,
    ),
    "gcp-iam-disallow-public-members:public-secret-policy-ok": (
        PUBLIC,
        secret_policy(("roles/secretmanager.secretAccessor", f"serviceAccount:{RUNNER}")),
        False,
    ),
    "gcp-iam-disallow-public-members:public-secret-policy-allusers": (
        PUBLIC,
        secret_policy(("roles/secretmanager.secretAccessor", "allUsers")),
        True,
    ),
    "gcp-iam-disallow-public-members:public-lookalike-user": (
        PUBLIC,
        bucket_member("user:allusers@acme.example"),
        False,
    ),
    "gcp-iam-disallow-public-members:public-project-member-allusers": (
        PUBLIC,
        project_member("roles/viewer", "allUsers"),
        True,
    ),
    # 29: privileged project grants, service account keys
    "gcp-iam-disallow-privileged-project-roles:project-role-ok": (
        PRIVILEGED,
        project_member("roles/aiplatform.user"),
        False,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-owner": (
        PRIVILEGED,
        project_member(OWNER),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-editor-binding": (
        PRIVILEGED,
        project_binding("roles/editor"),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-sa-user": (
        PRIVILEGED,
        project_member("roles/iam.serviceAccountUser"),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-token-creator-policy": (
        PRIVILEGED,
        project_policy("roles/iam.serviceAccountTokenCreator"),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-sa-user-on-one-account": (
        PRIVILEGED,
        sa_member("roles/iam.serviceAccountUser"),
        False,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-lookalike": (
        PRIVILEGED,
        project_member("roles/ownerish.custom"),
        False,
    ),
    "gcp-iam-disallow-service-account-keys:sa-key-none": (KEYS, sa_only(), False),
    "gcp-iam-disallow-service-account-keys:sa-key-created": (KEYS, sa_key(), True),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_iam_rules(policy: Any, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_public_member_waiver() -> None:
    """gcp-iam-disallow-public-members: a waived public grant is skipped, others still fail."""

    def program() -> None:
        for name in ("website", "private"):
            gcp.storage.BucketIAMMember(
                name, bucket=name, role="roles/storage.objectViewer", member="allUsers"
            )

    assert judge(PUBLIC, program, waiver("website", "public static site assets")) == {"private"}


def test_service_account_key_waiver() -> None:
    """gcp-iam-disallow-service-account-keys: a waiver needs the resource name and a reason."""
    assert judge(KEYS, sa_key(), waiver(TARGET, "vendor tool without WIF, until Q4")) == set()


_CLASS = re.compile(
    r"^class ([A-Za-z0-9]*(?:IamMember|IAMMember|IamBinding|IAMBinding|IamPolicy|IAMPolicy))"
    r"\(pulumi\.CustomResource\)",
    re.MULTILINE,
)
_TOKEN = re.compile(r"__init__\(\s*'(gcp:[^']+)'")


def test_iam_type_list_matches_the_installed_sdk() -> None:
    """gcp-iam-disallow-public-members covers every IAM member/binding/policy type of pulumi-gcp."""
    found: set[str] = set()
    for path in Path(gcp.__file__).parent.rglob("*.py"):
        if "iam" not in path.name.lower():
            continue
        text = path.read_text(encoding="utf-8")
        if _CLASS.search(text) and (token := _TOKEN.search(text)):
            found.add(token.group(1))
    committed = {*IAM_MEMBER_TYPES, *IAM_BINDING_TYPES, *IAM_POLICY_TYPES}
    assert len(committed) == len(IAM_MEMBER_TYPES) + len(IAM_BINDING_TYPES) + len(IAM_POLICY_TYPES)
    assert found == committed
    assert "gcp:cloudrunv2/serviceIamMember:ServiceIamMember" in committed
    assert "gcp:projects/iAMPolicy:IAMPolicy" in committed
