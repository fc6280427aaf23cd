"""Container Apps environments and jobs: logs shipped, secrets kept in Key Vault.

The environment decides where every app's and job's console logs go; with no destination they
are dropped (or kept only in the platform's short-lived stream). Secrets written inline into an
app or job live in the ARM resource; a Key Vault reference keeps one copy, rotated in the vault
and read as the app's managed identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, as_list, canonical_type, prop_at, resource_rule
from policies.rules.references import mcsb

ENVIRONMENT = "azure-native:app:ManagedEnvironment"
CONTAINER_APP = "azure-native:app:ContainerApp"
JOB = "azure-native:app:Job"
LOG_DESTINATIONS = frozenset({"log-analytics", "azure-monitor"})


def _environment_logs(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    destination = prop_at(props, "appLogsConfiguration.destination")
    if str(destination or "").lower() not in LOG_DESTINATIONS:
        yield (
            "environment ships no app logs: appLogsConfiguration.destination is "
            f"{destination!r}; set 'log-analytics' or 'azure-monitor' (with a diagnostic setting)."
        )


container_app_environment_require_logs = resource_rule(
    "azure-container-app-environment-require-logs",
    "Container Apps environments must send their apps' and jobs' logs to Log Analytics or "
    "Azure Monitor.",
    types=[ENVIRONMENT],
    check=_environment_logs,
    severity=Severity.MEDIUM,
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    tags=["logging-audit", "containers"],
    references=[mcsb("LT-3")],
    remediation=(
        "Set app_logs_configuration=app.AppLogsConfigurationArgs(destination='azure-monitor') "
        "and a diagnostic setting on the environment to the stack's Log Analytics workspace "
        "(or destination='log-analytics' with the workspace's customer id and key)."
    ),
    since=2,
)


def _inline_secrets(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    where = "configuration.secrets"
    for secret in as_list(prop_at(props, "configuration.secrets")):
        if not isinstance(secret, Mapping):
            continue
        if secret.get("value") is not None and not secret.get("keyVaultUrl"):
            kind = "job" if canonical_type(args.resource_type) == JOB else "app"
            yield (
                f"{kind} secret {secret.get('name')!r} is written inline ({where}[].value): "
                "the credential lives in the ARM resource, not in Key Vault."
            )


container_app_secrets_from_key_vault = resource_rule(
    "azure-container-app-secrets-from-key-vault",
    "Container Apps and jobs read their secrets from Key Vault (keyVaultUrl and a managed "
    "identity), not from values written into the resource.",
    types=[CONTAINER_APP, JOB],
    check=_inline_secrets,
    severity=Severity.MEDIUM,
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    tags=["key-management", "authentication", "containers"],
    references=[mcsb("IM-8"), mcsb("DP-6")],
    remediation=(
        "Store the secret in the stack's Key Vault and reference it: "
        "app.SecretArgs(name=..., key_vault_url='https://<vault>.vault.azure.net/secrets/<name>', "
        "identity=<user-assigned identity id with Key Vault Secrets User on the secret>)."
    ),
    since=2,
)

POLICIES = [container_app_environment_require_logs, container_app_secrets_from_key_vault]
