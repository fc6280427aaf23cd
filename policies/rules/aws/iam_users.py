"""IAM users: long-lived credentials and permissions granted to users directly.

Workloads and CI should use roles (instance profiles, task roles, OIDC federation), and people
IAM Identity Center: an access key or a console password created by a program is a long-lived
credential that someone has to store, rotate and revoke.

Mandatory: no active ``aws.iam.AccessKey``; no ``aws.iam.UserLoginProfile`` (console password).
Advisory: no policies attached to or inlined in a user (grant through groups or roles).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp

ACCESS_KEY = "aws:iam/accessKey:AccessKey"
LOGIN_PROFILE = "aws:iam/userLoginProfile:UserLoginProfile"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
USER_POLICY_ATTACHMENTS_EXCLUSIVE = (
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive"
)
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"


def _check_access_key(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "status") == "Inactive":
        return
    user = get(props, "user")
    yield (
        f"Creates a long-lived access key for IAM user {user or '(unknown)'}: it stays valid "
        "until someone rotates or deletes it, and its secret lands in state and CI variables."
    )


DISALLOW_ACCESS_KEYS = resource_rule(
    "aws-iam-user-disallow-access-keys",
    "Programs must not create active IAM user access keys; workloads use roles and CI uses "
    "OIDC federation.",
    types=[ACCESS_KEY],
    check=_check_access_key,
    severity=Severity.HIGH,
    tags=["iam", "authentication"],
    remediation=(
        "Give the workload a role (instance profile, ECS task role, IRSA) or federate CI with "
        "aws.iam.OpenIdConnectProvider and a role trust on the repository; if a third party "
        "truly needs a key, waive this rule for it with the rotation owner in the reason."
    ),
    references=[checkov("CKV_AWS_273"), fsbp("IAM.3")],
    since=2,
)


def _check_login_profile(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    user = get(props, "user")
    yield (
        f"Gives IAM user {user or '(unknown)'} a console password: a long-lived credential "
        "outside single sign-on, protected only if someone enrols MFA."
    )


DISALLOW_CONSOLE_PASSWORD = resource_rule(
    "aws-iam-user-disallow-console-password",
    "Programs must not give IAM users console passwords; people sign in through IAM Identity "
    "Center (SSO).",
    types=[LOGIN_PROFILE],
    check=_check_login_profile,
    severity=Severity.MEDIUM,
    tags=["iam", "authentication"],
    remediation=(
        "Remove aws.iam.UserLoginProfile and assign the person a permission set in IAM "
        "Identity Center."
    ),
    references=[checkov("CKV2_AWS_22"), checkov("CKV_AWS_273")],
    since=2,
)


def _check_user_policies(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == POLICY_ATTACHMENT:
        users = [u for u in items(get(props, "users")) if present(u)]
        if users:
            yield (
                f"Attaches a policy directly to IAM users {', '.join(map(str, users))}; grant "
                "permissions through a group or a role."
            )
        return
    if args.resource_type == USER_POLICY_ATTACHMENTS_EXCLUSIVE and not items(
        get(props, "policyArns")
    ):
        return  # an empty exclusive list removes every attachment: the control we want
    user = get(props, "user") or get(props, "userName")
    yield (
        f"Grants a policy directly to IAM user {user or '(unknown)'}; grant permissions "
        "through a group or a role."
    )


DISALLOW_USER_POLICIES = resource_rule(
    "aws-iam-user-disallow-direct-policies",
    "IAM policies should be attached to groups or roles, not to users directly.",
    types=[
        USER_POLICY,
        USER_POLICY_ATTACHMENT,
        USER_POLICY_ATTACHMENTS_EXCLUSIVE,
        POLICY_ATTACHMENT,
    ],
    check=_check_user_policies,
    severity=Severity.LOW,
    tags=["iam", "least-privilege"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Attach the policy to an aws.iam.Group and add the user with "
        "aws.iam.UserGroupMembership (or let the user assume a role)."
    ),
    references=[checkov("CKV_AWS_40"), fsbp("IAM.2")],
    since=2,
)

POLICIES = [DISALLOW_ACCESS_KEYS, DISALLOW_CONSOLE_PASSWORD, DISALLOW_USER_POLICIES]
