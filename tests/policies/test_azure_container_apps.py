"""Container Apps environments ship logs; apps and jobs keep secrets in Key Vault."""

from __future__ import annotations

from typing import Any

import pulumi_azure_native as az
import pytest

from policies.rules.azure import container_apps
from tests.policies.test_azure_common import findings_for as judge

LOGS = container_apps.container_app_environment_require_logs
SECRETS = container_apps.container_app_secrets_from_key_vault
VAULT_SECRET = {
    "name": "db-password",
    "key_vault_url": "https://kv-acme.vault.azure.net/secrets/db-password",
    "identity": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
    "userAssignedIdentities/id-app",
}


def environment(destination: str | None) -> Any:
    logs = az.app.AppLogsConfigurationArgs(destination=destination) if destination else None
    return lambda: az.app.ManagedEnvironment(
        "env", resource_group_name="rg", app_logs_configuration=logs
    )


def app_with(secret: dict[str, Any]) -> Any:
    return lambda: az.app.ContainerApp(
        "serving",
        resource_group_name="rg",
        configuration=az.app.ConfigurationArgs(secrets=[az.app.SecretArgs(**secret)]),
    )


def job_with(secret: dict[str, Any]) -> Any:
    return lambda: az.app.Job(
        "worker",
        resource_group_name="rg",
        configuration=az.app.JobConfigurationArgs(
            replica_timeout=600,
            trigger_type="Manual",
            secrets=[az.app.SecretArgs(**secret)],
        ),
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (environment("azure-monitor"), set()),
        (environment("log-analytics"), set()),
        (environment(None), {"env"}),
        (environment("none"), {"env"}),
    ],
    ids=["azure-monitor", "log-analytics", "unset", "none"],
)
def test_azure_container_app_environment_require_logs(program: Any, flagged: set[str]) -> None:
    assert LOGS.name == "azure-container-app-environment-require-logs"
    assert judge(LOGS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (app_with(VAULT_SECRET), set()),
        (app_with({"name": "db-password", "value": "hunter2"}), {"serving"}),
        (job_with(VAULT_SECRET), set()),
        (job_with({"name": "api-key", "value": "k"}), {"worker"}),
    ],
    ids=["app-vault", "app-inline", "job-vault", "job-inline"],
)
def test_azure_container_app_secrets_from_key_vault(program: Any, flagged: set[str]) -> None:
    assert SECRETS.name == "azure-container-app-secrets-from-key-vault"
    assert judge(SECRETS, program) == flagged


def test_inline_secret_waiver() -> None:
    config = {"waivers": [{"resource": "serving", "reason": "code bundle, not a credential"}]}
    assert judge(SECRETS, app_with({"name": "code", "value": "print(1)"}), config) == set()
