"""Azure monitoring rules (26 retention, B1 secure webhooks, C2 public ingestion): one change per
failing case."""

from __future__ import annotations

from typing import Any

import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.monitor as monitor
import pytest

from policies.rules.azure import monitoring
from tests.policies.test_azure_common import (
    RG,
    TARGET,
    WAIVED,
    Case,
    Program,
    findings_for,
    judge_case,
    log_workspace,
    params,
)

HOOK_APP = {
    "use_aad_auth": True,
    "object_id": "d3bb868c-fe44-452c-aa26-769a6538c808",
    "identifier_uri": "api://44444444-4444-4444-4444-444444444444/aideploy-acme-rollback",
    "tenant_id": "44444444-4444-4444-4444-444444444444",
}


def action_group(**hook: Any) -> Program:
    args: dict[str, Any] = {
        "name": "rollback",
        "service_uri": "https://rollback.example.azurecontainerapps.io/api/rollback",
        "use_common_alert_schema": True,
        **HOOK_APP,
    }
    return lambda: monitor.ActionGroup(
        TARGET,
        resource_group_name=RG,
        location="global",
        enabled=True,
        group_short_name="rollback",
        webhook_receivers=[monitor.WebhookReceiverArgs(**{**args, **hook})],
    )


def email_group() -> Program:
    return lambda: monitor.ActionGroup(
        TARGET,
        resource_group_name=RG,
        location="global",
        enabled=True,
        group_short_name="page",
        email_receivers=[
            monitor.MicrosoftCommonEmailReceiverArgs(name="ops", email_address="ops@acme.example")
        ],
    )


def insights(**over: Any) -> Program:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "kind": "web",
        "application_type": "web",
        "public_network_access_for_ingestion": "Disabled",
    }
    return lambda: applicationinsights.Component(TARGET, **{**args, **over})


CASES: dict[str, Case] = {
    "azure-log-analytics-require-retention:retention-ok": (log_workspace(), False),
    "azure-log-analytics-require-retention:retention-unset": (
        log_workspace(retention_in_days=None),
        False,
    ),
    "azure-log-analytics-require-retention:retention-short": (
        log_workspace(retention_in_days=7),
        True,
    ),
    # B1: secure webhooks
    "azure-action-group-webhook-require-aad-auth:hook-aad": (action_group(), False),
    "azure-action-group-webhook-require-aad-auth:hook-plain": (
        action_group(use_aad_auth=None, object_id=None, identifier_uri=None, tenant_id=None),
        True,
    ),
    "azure-action-group-webhook-require-aad-auth:hook-aad-off": (
        action_group(use_aad_auth=False),
        True,
    ),
    "azure-action-group-webhook-require-aad-auth:email-only": (email_group(), False),
    # C2: public ingestion (advisory)
    "azure-monitor-disable-public-ingestion:logs-private": (
        log_workspace(public_network_access_for_ingestion="Disabled"),
        False,
    ),
    "azure-monitor-disable-public-ingestion:logs-default": (log_workspace(), True),
    "azure-monitor-disable-public-ingestion:insights-private": (insights(), False),
    "azure-monitor-disable-public-ingestion:insights-public": (
        insights(public_network_access_for_ingestion="Enabled"),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)


def test_retention_minimum_comes_from_pack_config() -> None:
    """azure-log-analytics-require-retention: prod's 365-day minimum flags a 90-day workspace."""
    policy = monitoring.log_analytics_require_retention
    assert findings_for(policy, log_workspace(), {"minimumRetentionDays": 365}) == {TARGET}
    assert findings_for(policy, log_workspace(), {"minimumRetentionDays": 90}) == set()


def test_third_party_paging_webhook_is_waived_with_a_reason() -> None:
    policy = monitoring.action_group_webhook_require_aad_auth
    plain = action_group(use_aad_auth=None, object_id=None, identifier_uri=None, tenant_id=None)
    assert findings_for(policy, plain, WAIVED) == set()
