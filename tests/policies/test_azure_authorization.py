"""Azure authorization resource rules (B1 custom roles that write compute, B10 data owners).

The broad-scope stack rule (25) keeps its cases in test_azure_stack_rules.py.
"""

from __future__ import annotations

from typing import Any

import pulumi_azure_native.authorization as authorization
import pytest

from policies.rules.azure import authorization as rules
from tests.policies.test_azure_common import (
    TARGET,
    WAIVED,
    Case,
    Program,
    findings_for,
    judge_case,
    params,
)

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
ROLE_PREFIX = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
BLOB_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BUS_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"


def role(*actions: str, not_actions: tuple[str, ...] = ()) -> Program:
    return lambda: authorization.RoleDefinition(
        TARGET,
        role_name="traffic reset",
        scope=SUBSCRIPTION,
        assignable_scopes=[SUBSCRIPTION],
        permissions=[
            authorization.PermissionArgs(actions=list(actions), not_actions=list(not_actions))
        ],
    )


def assignment(role_guid: str, **over: Any) -> Program:
    args: dict[str, Any] = {
        "principal_id": "11111111-1111-1111-1111-111111111111",
        "principal_type": "ServicePrincipal",
        "role_definition_id": ROLE_PREFIX + role_guid,
        "scope": f"{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
    }
    return lambda: authorization.RoleAssignment(TARGET, **{**args, **over})


CASES: dict[str, Case] = {
    # B1: custom roles that can rewrite what runs (advisory)
    "azure-custom-role-flag-resource-write:read-only": (
        role("Microsoft.App/containerApps/read"),
        False,
    ),
    "azure-custom-role-flag-resource-write:app-write": (
        role("Microsoft.App/containerApps/read", "Microsoft.App/containerApps/write"),
        True,
    ),
    "azure-custom-role-flag-resource-write:endpoint-write-any-case": (
        role("microsoft.machinelearningservices/workspaces/onlineendpoints/WRITE"),
        True,
    ),
    "azure-custom-role-flag-resource-write:provider-wildcard": (role("Microsoft.App/*"), True),
    "azure-custom-role-flag-resource-write:wildcard-minus-write": (
        role("Microsoft.App/*", not_actions=("Microsoft.App/*/write",)),
        False,
    ),
    "azure-custom-role-flag-resource-write:storage-write": (
        role("Microsoft.Storage/storageAccounts/write"),
        False,
    ),
    # B10: data owner roles (advisory)
    "azure-role-assignment-flag-data-owner:blob-contributor": (
        assignment(BLOB_CONTRIBUTOR),
        False,
    ),
    "azure-role-assignment-flag-data-owner:blob-owner": (assignment(BLOB_OWNER), True),
    "azure-role-assignment-flag-data-owner:bus-owner-upper-case": (
        assignment(BUS_OWNER.upper()),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)


def test_waivers_record_the_reason_instead_of_a_finding() -> None:
    write = role("Microsoft.App/containerApps/write")
    assert findings_for(rules.custom_role_flag_resource_write, write, WAIVED) == set()
    assert (
        findings_for(rules.role_assignment_flag_data_owner, assignment(BLOB_OWNER), WAIVED) == set()
    )


def test_message_names_the_actions_and_the_field() -> None:
    from tests.policies.harness import evaluate, run_program
    from tests.policies.test_azure_common import proxied

    policy = rules.custom_role_flag_resource_write
    resources = [proxied(r) for r in run_program(role("Microsoft.App/*"))]
    [finding] = evaluate([policy], resources)
    assert "Microsoft.App/containerApps/write" in finding.message
    assert "`permissions[].actions`" in finding.message
