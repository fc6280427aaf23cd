"""Azure diagnostics and log retention (rule 26)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import (
    OPERATIONAL,
    as_list,
    canonical_type,
    resource_rule,
    stack_rule,
)
from policies.rules.references import mcsb
from policies.rules.settings import Setting, settings_check, show

DIAGNOSTIC_SETTING_TYPES: tuple[str, ...] = (
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:insights:DiagnosticSetting",  # the azure-native 2.x module name
)

# Data-plane resources an AI deployment uses whose logs only leave the service through a
# diagnostic setting (resource type -> what to call it in a message).
DATA_PLANE_TYPES: dict[str, str] = {
    "azure-native:storage:StorageAccount": "storage account",
    "azure-native:keyvault:Vault": "key vault",
    "azure-native:cognitiveservices:Account": "AI services account",
    "azure-native:machinelearningservices:Workspace": "ML workspace",
    "azure-native:machinelearningservices:OnlineEndpoint": "ML online endpoint",
    "azure-native:containerregistry:Registry": "container registry",
    "azure-native:cosmosdb:DatabaseAccount": "Cosmos DB account",
    "azure-native:servicebus:Namespace": "Service Bus namespace",
    "azure-native:eventhub:Namespace": "Event Hubs namespace",
    "azure-native:eventgrid:Topic": "Event Grid topic",
    "azure-native:eventgrid:Domain": "Event Grid domain",
    "azure-native:web:WebApp": "App Service / Function app",
    "azure-native:apimanagement:ApiManagementService": "API Management service",
    "azure-native:app:ManagedEnvironment": "Container Apps environment",
    "azure-native:cdn:Profile": "Front Door / CDN profile",
    "azure-native:network:ApplicationGateway": "application gateway",
    "azure-native:search:Service": "AI Search service",
}

# A Container Apps environment can ship its logs itself, without a diagnostic setting.
_SELF_ROUTED = {
    "azure-native:app:ManagedEnvironment": Setting(
        "appLogsConfiguration.destination", ("log-analytics",)
    ),
}


def _monitored_urns(resources: list[PolicyResource]) -> set[str]:
    """URNs that a diagnostic setting's ``resourceUri`` is built from."""
    urns: set[str] = set()
    for r in resources:
        if canonical_type(r.resource_type) in DIAGNOSTIC_SETTING_TYPES:
            urns.update(dep.urn for dep in r.property_dependencies.get("resourceUri", []))
    return urns


def _routes_itself(resource: PolicyResource) -> bool:
    """Whether the resource ships its logs without a diagnostic setting (unknown counts as yes:
    a preview cannot tell, and the update's check will)."""
    setting = _SELF_ROUTED.get(canonical_type(resource.resource_type))
    if setting is None:
        return False
    try:
        return setting.satisfied(resource.props)
    except UnknownValueError:
        return True


def _missing_diagnostics(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    monitored = _monitored_urns(args.resources)
    for r in args.resources:
        kind = DATA_PLANE_TYPES.get(canonical_type(r.resource_type))
        if kind is None or r.urn in monitored:
            continue
        if _routes_itself(r):
            continue
        yield (
            f"{kind} '{r.name}' has no diagnostic setting: its logs and metrics are not kept.",
            r.urn,
        )


data_plane_require_diagnostic_settings = stack_rule(
    "azure-data-plane-require-diagnostic-settings",
    "Every Azure data-plane resource has a diagnostic setting (resourceUri built from it).",
    check=_missing_diagnostics,
    severity=Severity.MEDIUM,
    tags=["logging", "logging-audit"],
    remediation=(
        "Add `monitor.DiagnosticSetting(resource_uri=<resource>.id, workspace_id=<workspace>.id, "
        'logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)], '
        "metrics=[...])` for each resource (a storage account's blob logs use "
        '`Output.concat(account.id, "/blobServices/default")`).'
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("LT-3")],
)

DEFAULT_MINIMUM_DAYS = 30
# Workspaces and classic Application Insights keep 30 days when retention is not set.
_SERVICE_DEFAULT_DAYS = 30
_RETENTION_TYPES: tuple[str, ...] = (
    "azure-native:operationalinsights:Workspace",
    "azure-native:applicationinsights:Component",
)


def _short_retention(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config().get("minimumRetentionDays", DEFAULT_MINIMUM_DAYS)
    value = props.get("retentionInDays")
    days = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    effective = _SERVICE_DEFAULT_DAYS if days is None else days
    if effective < minimum:
        shown = "unset (30 days)" if days is None else f"{days:g} days"
        yield f"log retention is {shown}; this environment keeps logs at least {minimum} days."


log_analytics_require_retention = resource_rule(
    "azure-log-analytics-require-retention",
    "Log Analytics workspaces and Application Insights keep logs at least the configured "
    "minimum number of days.",
    types=_RETENTION_TYPES,
    check=_short_retention,
    severity=Severity.MEDIUM,
    tags=["logging", "retention"],
    remediation="Set `retention_in_days` to at least the environment's minimum (pack config).",
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    config_properties={
        "minimumRetentionDays": {"type": "integer", "minimum": 1, "default": DEFAULT_MINIMUM_DAYS}
    },
    references=[mcsb("LT-6")],
)

# -- action group webhooks (review B1) -------------------------------------------------------
ACTION_GROUP = "azure-native:monitor:ActionGroup"


def _unauthenticated_webhooks(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for receiver in as_list(props.get("webhookReceivers")):
        if not isinstance(receiver, Mapping):
            continue
        if receiver.get("useAadAuth") is not True:
            yield (
                f"webhook receiver '{receiver.get('name')}' allows unauthenticated calls: "
                f"`webhookReceivers[].useAadAuth` is {show(receiver.get('useAadAuth'))}; set "
                "true (with `object_id`, `identifier_uri`, `tenant_id`) so the receiver can "
                "check an Entra token from Azure Monitor."
            )


action_group_webhook_require_aad_auth = resource_rule(
    "azure-action-group-webhook-require-aad-auth",
    "Action group webhooks carry an Entra ID token (secure webhook) the receiver can verify, so "
    "nobody else can trigger what they call.",
    types=[ACTION_GROUP],
    check=_unauthenticated_webhooks,
    severity=Severity.HIGH,
    tags=["authentication"],
    remediation=(
        "Register an Entra application with the `ActionGroupsSecureWebhook` app role assigned "
        "to Azure Monitor's action-group application (461e8683-5575-4561-ac7f-899cc907d62a), "
        "set `monitor.WebhookReceiverArgs(use_aad_auth=True, object_id=<app object id>, "
        "identifier_uri=<app id URI>, tenant_id=...)` and validate the token's audience, issuer "
        "and `appid` in the receiver. A third-party notification URL (Slack, Teams, an incident "
        "tool) that cannot check Entra tokens: waive its action group with that reason."
    ),
    references=[mcsb("IM-4")],
    since=2,
)

# -- public ingestion into Log Analytics / Application Insights (review C2) ------------------
_INGESTION = {
    token: (Setting("publicNetworkAccessForIngestion", ("Disabled",)),)
    for token in _RETENTION_TYPES
}

monitor_disable_public_ingestion = resource_rule(
    "azure-monitor-disable-public-ingestion",
    "Log Analytics workspaces and Application Insights accept telemetry only through a private "
    "link scope (public ingestion off).",
    types=_INGESTION,
    check=settings_check(
        _INGESTION, "telemetry is accepted from the internet (reachable from any network)"
    ),
    severity=Severity.LOW,
    tags=["network", "network-exposure"],
    remediation=(
        'Set `public_network_access_for_ingestion="Disabled"` and connect the senders through an '
        "Azure Monitor Private Link Scope (`monitor.PrivateLinkScope` + scoped resources + a "
        "private endpoint in their network); until every sender has that path, waive with the "
        "reason."
    ),
    # Advisory (review C2): it needs a private link scope and a network path for every sender.
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("NS-2")],
    since=2,
)
