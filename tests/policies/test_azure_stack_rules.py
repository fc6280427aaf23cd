"""Azure stack rules: role assignments at broad scope (25) and diagnostic settings (26).

Both relate resources through the property dependencies a real program records (a role
assignment's ``scope`` built from ``rg.id``, a diagnostic setting's ``resourceUri`` built from the
account's id), so every case is a small real program captured under mocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.cdn as cdn
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure.authorization import (
    role_assignment_disallow_privileged_broad_scope,
    scope_kind,
)
from policies.rules.azure.monitoring import data_plane_require_diagnostic_settings
from tests.policies.harness import evaluate, names_violating, run_program

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
ROLE_PREFIX = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMIN = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


def flagged(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    """Names of the resources ``policy`` flags in ``program`` (inputs proxied as in the pack)."""
    captured = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs))) for r in run_program(program)
    ]
    return names_violating(evaluate([policy], captured, {policy.name: config or {}}), policy.name)


# --- rule 25 ------------------------------------------------------------------------------


def assignment(role: str, scope: str) -> Callable[[], None]:
    """A resource group, an account in it, and one assignment at ``scope``.

    ``scope`` names what to scope to: "rg", "account", "account-child", or a literal ARM path.
    """

    def program() -> None:
        rg = resources.ResourceGroup("rg")
        account = storage.StorageAccount(
            "data",
            resource_group_name=rg.name,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
        )
        scopes: dict[str, pulumi.Input[str]] = {
            "rg": rg.id,
            "account": account.id,
            "account-child": pulumi.Output.concat(account.id, "/blobServices/default"),
            "rg-child": pulumi.Output.concat(
                rg.id, "/providers/Microsoft.Storage/storageAccounts/data"
            ),
        }
        authorization.RoleAssignment(
            "target",
            principal_id="11111111-1111-1111-1111-111111111111",
            principal_type="ServicePrincipal",
            role_definition_id=f"{ROLE_PREFIX}{role}",
            scope=scopes.get(scope, scope),
        )

    return program


ROLE_CASES: dict[str, tuple[str, str, bool]] = {
    "data-role-on-account": (BLOB_DATA_READER, "account", False),
    "contributor-on-account": (CONTRIBUTOR, "account", False),
    "owner-on-account-child": (OWNER, "account-child", False),
    "owner-on-resource-in-rg-path": (OWNER, "rg-child", False),
    "data-role-on-subscription": (BLOB_DATA_READER, SUBSCRIPTION, False),
    "owner-on-rg": (OWNER, "rg", True),
    "owner-upper-case-id-on-rg": (OWNER.upper(), "rg", True),
    "contributor-on-subscription": (CONTRIBUTOR, SUBSCRIPTION, True),
    "uaa-on-rg-path": (USER_ACCESS_ADMIN, f"{SUBSCRIPTION}/resourceGroups/acme", True),
    "owner-on-management-group": (
        OWNER,
        "/providers/Microsoft.Management/managementGroups/acme",
        True,
    ),
}


@pytest.mark.parametrize(
    ("role", "scope", "violates"),
    list(ROLE_CASES.values()),
    ids=[f"azure-role-assignment-disallow-privileged-broad-scope:{k}" for k in ROLE_CASES],
)
def test_privileged_role_at_broad_scope(role: str, scope: str, violates: bool) -> None:
    """azure-role-assignment-disallow-privileged-broad-scope: one role or scope change per case."""
    found = flagged(role_assignment_disallow_privileged_broad_scope, assignment(role, scope))
    assert found == ({"target"} if violates else set())


def test_privileged_role_waiver() -> None:
    """azure-role-assignment-disallow-privileged-broad-scope honours a waiver with a reason."""
    waiver = {"waivers": [{"resource": "target", "reason": "break-glass group, reviewed Q3"}]}
    policy = role_assignment_disallow_privileged_broad_scope
    assert flagged(policy, assignment(OWNER, "rg"), waiver) == set()


@pytest.mark.parametrize(
    ("scope", "kind"),
    [
        ("/", "tenant root"),
        (SUBSCRIPTION, "subscription"),
        (f"{SUBSCRIPTION}/", "subscription"),
        (f"{SUBSCRIPTION}/resourceGroups/acme", "resource group"),
        (f"{SUBSCRIPTION}/RESOURCEGROUPS/acme", "resource group"),
        ("/providers/Microsoft.Management/managementGroups/acme", "management group"),
        (f"{SUBSCRIPTION}/resourceGroups/acme/providers/Microsoft.Storage/storageAccounts/d", None),
        (f"{SUBSCRIPTION}/resourceGroupsX/acme", None),
    ],
)
def test_scope_kind_of_literal_paths(scope: str, kind: str | None) -> None:
    """Literal ARM scopes are classified by whole path segments, never by substring."""
    assert scope_kind(scope) == kind


# --- rule 26 ------------------------------------------------------------------------------


def diagnostics(
    *, diagnose: tuple[str, ...] = ("data", "vault"), env_logs: str = "log-analytics"
) -> Callable[[], None]:
    """A data account, a vault, an app environment; diagnostic settings for ``diagnose``."""

    def program() -> None:
        workspace = operationalinsights.Workspace(
            "logs", resource_group_name="rg", retention_in_days=30
        )
        account = storage.StorageAccount(
            "data",
            resource_group_name="rg",
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
        )
        vault = keyvault.Vault(
            "vault",
            resource_group_name="rg",
            properties=keyvault.VaultPropertiesArgs(
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                tenant_id="44444444-4444-4444-4444-444444444444",
            ),
        )
        app.ManagedEnvironment(
            "env",
            resource_group_name="rg",
            app_logs_configuration=app.AppLogsConfigurationArgs(destination=env_logs),
        )
        uris: dict[str, pulumi.Input[str]] = {
            "data": pulumi.Output.concat(account.id, "/blobServices/default"),
            "vault": vault.id,
        }
        for target in diagnose:
            monitor.DiagnosticSetting(
                f"{target}-diagnostics",
                resource_uri=uris[target],
                workspace_id=workspace.id,
                logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
            )

    return program


DIAGNOSTIC_CASES: dict[str, tuple[Callable[[], None], set[str]]] = {
    "all-diagnosed": (diagnostics(), set()),
    "account-missing": (diagnostics(diagnose=("vault",)), {"data"}),
    "none": (diagnostics(diagnose=()), {"data", "vault"}),
    "env-logs-via-azure-monitor-without-setting": (
        diagnostics(env_logs="azure-monitor"),
        {"env"},
    ),
}


@pytest.mark.parametrize(
    ("program", "expected"),
    list(DIAGNOSTIC_CASES.values()),
    ids=[f"azure-data-plane-require-diagnostic-settings:{k}" for k in DIAGNOSTIC_CASES],
)
def test_diagnostic_settings_cover_data_plane(
    program: Callable[[], None], expected: set[str]
) -> None:
    """azure-data-plane-require-diagnostic-settings flags exactly the undiagnosed resources."""
    assert flagged(data_plane_require_diagnostic_settings, program) == expected


def test_destination_account_is_not_counted_as_diagnosed() -> None:
    """azure-data-plane-require-diagnostic-settings: a log *destination* is not a monitored one."""

    def program() -> None:
        archive = storage.StorageAccount(
            "archive",
            resource_group_name="rg",
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
        )
        vault = keyvault.Vault(
            "vault",
            resource_group_name="rg",
            properties=keyvault.VaultPropertiesArgs(
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                tenant_id="44444444-4444-4444-4444-444444444444",
            ),
        )
        monitor.DiagnosticSetting(
            "vault-diagnostics", resource_uri=vault.id, storage_account_id=archive.id
        )

    assert flagged(data_plane_require_diagnostic_settings, program) == {"archive"}


def test_diagnostic_settings_waiver() -> None:
    """azure-data-plane-require-diagnostic-settings honours a waiver for a named resource."""
    waiver = {"waivers": [{"resource": "data", "reason": "scratch data, deleted nightly"}]}
    policy = data_plane_require_diagnostic_settings
    assert flagged(policy, diagnostics(diagnose=()), waiver) == {"vault"}


@pytest.mark.parametrize("diagnosed", [True, False])
def test_front_door_profile_needs_diagnostics(diagnosed: bool) -> None:
    """azure-data-plane-require-diagnostic-settings covers the edge (Front Door access/WAF logs)."""

    def program() -> None:
        profile = cdn.Profile(
            "edge",
            resource_group_name="rg",
            location="global",
            sku=cdn.SkuArgs(name=cdn.SkuName.PREMIUM_AZURE_FRONT_DOOR),
        )
        if diagnosed:
            monitor.DiagnosticSetting(
                "edge-diagnostics",
                resource_uri=profile.id,
                workspace_id="/subscriptions/s/resourceGroups/rg/providers/x/workspaces/logs",
            )

    expected = set() if diagnosed else {"edge"}
    assert flagged(data_plane_require_diagnostic_settings, program) == expected


def custom_role_assignment(actions: list[str], scope: str) -> Callable[[], None]:
    """A custom role with ``actions`` assigned at the resource group or at one account."""

    def program() -> None:
        rg = resources.ResourceGroup("rg")
        account = storage.StorageAccount(
            "data",
            resource_group_name=rg.name,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
        )
        role = authorization.RoleDefinition(
            "custom",
            role_name="acme operator",
            scope=rg.id,
            assignable_scopes=[rg.id],
            permissions=[authorization.PermissionArgs(actions=actions)],
        )
        authorization.RoleAssignment(
            "target",
            principal_id="11111111-1111-1111-1111-111111111111",
            principal_type="ServicePrincipal",
            role_definition_id=role.id,
            scope=rg.id if scope == "rg" else account.id,
        )

    return program


CUSTOM_ROLE_CASES: dict[str, tuple[list[str], str, bool]] = {
    "narrow-actions-on-rg": (["Microsoft.App/containerApps/read"], "rg", False),
    "star-on-account": (["*"], "account", False),
    "star-on-rg": (["*"], "rg", True),
    "role-assignment-write-on-rg": (
        ["Microsoft.Storage/*/read", "microsoft.authorization/roleassignments/write"],
        "rg",
        True,
    ),
    "lookalike-action-on-rg": (["Microsoft.Authorization/roleAssignments/read"], "rg", False),
}


@pytest.mark.parametrize(
    ("actions", "scope", "violates"),
    list(CUSTOM_ROLE_CASES.values()),
    ids=[f"azure-role-assignment-disallow-privileged-broad-scope:{k}" for k in CUSTOM_ROLE_CASES],
)
def test_custom_role_with_owner_powers_at_broad_scope(
    actions: list[str], scope: str, violates: bool
) -> None:
    """azure-role-assignment-disallow-privileged-broad-scope also sees Owner-like custom roles."""
    found = flagged(
        role_assignment_disallow_privileged_broad_scope, custom_role_assignment(actions, scope)
    )
    assert found == ({"target"} if violates else set())


def with_unknown(program: Callable[[], Any], resource: str, key: str) -> list[CapturedResource]:
    """The program's resources, with ``key`` of ``resource`` unknown as in a preview."""
    out = []
    for r in run_program(program):
        inputs = dict(r.inputs)
        if r.name == resource:
            inputs[key] = UNKNOWN_STRING_VALUE
        out.append(replace(r, inputs=unknown_checking_proxy(inputs)))
    return out


def test_preview_unknown_scope_falls_back_to_its_dependency() -> None:
    """azure-role-assignment-disallow-privileged-broad-scope: scope=rg.id unknown in preview."""
    policy = role_assignment_disallow_privileged_broad_scope
    owner_on_rg = with_unknown(assignment(OWNER, "rg"), "target", "scope")
    assert names_violating(evaluate([policy], owner_on_rg), policy.name) == {"target"}
    owner_on_account = with_unknown(assignment(OWNER, "account"), "target", "scope")
    assert names_violating(evaluate([policy], owner_on_account), policy.name) == set()


def test_preview_unknown_log_destination_does_not_abort_the_stack_check() -> None:
    """azure-data-plane-require-diagnostic-settings still reports the others when one is unknown."""
    policy = data_plane_require_diagnostic_settings
    captured = with_unknown(
        diagnostics(diagnose=("vault",), env_logs="azure-monitor"), "env", "appLogsConfiguration"
    )
    assert names_violating(evaluate([policy], captured), policy.name) == {"data"}
