"""Recoverable and audited records (policies/rules/azure/state.py): blob soft delete on every
storage account (a Pulumi state account included) and the subscription activity log export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.storage as storage
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import state
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
SOFT_DELETE = state.storage_require_blob_soft_delete
ACTIVITY = state.activity_log_export_audit_categories
WORKSPACE = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/audit"
)


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def state_account(
    blobs: bool | None = True, containers: bool = True, by_name: bool = False
) -> Callable[[], None]:
    """A Pulumi state account; ``blobs=None`` leaves out its BlobServiceProperties."""

    def program() -> None:
        account = storage.StorageAccount(
            TARGET,
            resource_group_name=RG,
            account_name="acmepulumistate",
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_ZRS"),
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
        )
        if blobs is None:
            return
        storage.BlobServiceProperties(
            "state-recovery",
            resource_group_name=RG,
            account_name="acmepulumistate" if by_name else account.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=blobs, days=30),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=containers, days=30
            ),
        )

    return program


@pytest.mark.parametrize(
    ("case", "program", "flagged"),
    [
        ("soft-delete-on", state_account(), set()),
        ("soft-delete-on-by-literal-name", state_account(by_name=True), set()),
        ("no-blob-service-properties", state_account(blobs=None), {TARGET}),
        ("blob-soft-delete-off", state_account(blobs=False), {"state-recovery"}),
        ("container-soft-delete-off", state_account(containers=False), {"state-recovery"}),
    ],
)
def test_storage_require_blob_soft_delete(
    case: str, program: Callable[[], None], flagged: set[str]
) -> None:
    """azure-storage-require-blob-soft-delete: deleted blobs and containers are kept."""
    assert findings_for(SOFT_DELETE, program) == flagged, case


def subscription_setting(*categories: str, group: str | None = None) -> Callable[[], object]:
    logs = [monitor.SubscriptionLogSettingsArgs(category=c, enabled=True) for c in categories]
    if group:
        logs.append(monitor.SubscriptionLogSettingsArgs(category_group=group, enabled=True))
    return lambda: monitor.SubscriptionDiagnosticSetting(
        TARGET, name="activity-to-audit", workspace_id=WORKSPACE, logs=logs
    )


def resource_style_setting(uri: str, *categories: str) -> Callable[[], object]:
    return lambda: monitor.DiagnosticSetting(
        TARGET,
        resource_uri=uri,
        workspace_id=WORKSPACE,
        logs=[monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True) for c in categories],
    )


ALL = ("Administrative", "Security", "Policy", "Alert", "ServiceHealth")


@pytest.mark.parametrize(
    ("case", "program", "violates"),
    [
        ("all-categories", subscription_setting(*ALL), False),
        ("all-logs-group", subscription_setting(group="allLogs"), False),
        ("administrative-only", subscription_setting("Administrative"), True),
        ("no-policy", subscription_setting("Administrative", "Security"), True),
        (
            "subscription-uri-diagnostic-setting",
            resource_style_setting("/subscriptions/0000-1111", "Administrative"),
            True,
        ),
        (
            "resource-diagnostic-setting-not-judged",
            resource_style_setting(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
                "AuditEvent",
            ),
            False,
        ),
    ],
)
def test_activity_log_export_audit_categories(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """azure-activity-log-export-audit-categories: Administrative, Security and Policy."""
    assert findings_for(ACTIVITY, program) == ({TARGET} if violates else set()), case


def test_message_lists_the_missing_categories() -> None:
    [finding] = evaluate(
        [ACTIVITY], [proxied(r) for r in run_program(subscription_setting("Administrative"))]
    )
    assert "Security, Policy" in finding.message
