"""What an Azure subscription needs before a stack's first `pulumi up` (components/bootstrap.py).

Once per subscription that holds some of the project's environments, in one resource group:

- the **state backend**: storage account ``spec.state_name`` (StorageV2, TLS 1.2, HTTPS only, no
  public blobs, shared-key access off so Pulumi signs in with Entra ID, versioning and soft
  delete, encrypted with a customer-managed key) and its ``pulumi-state`` container;
- the **secrets vault** ``spec.vault_name`` (RBAC, purge protection, soft delete) with one RSA key
  per environment, ``spec.secrets_key_name(env)`` (encrypt/decrypt only): the deployer and the
  previewer of env X hold Key Vault Crypto User on X's key alone, so a pull request's preview
  never decrypts prod;
- the **custom roles** the stacks assign (components/azure/roles.py: the rollback service's, the
  deployer's key-creator role), assignable in the subscription, by deterministic ids;
- the **CI identities**: a user-assigned managed identity per role (``spec.identity_name``) with a
  federated credential per OIDC subject; deployers hold a custom role with exactly the
  resource-provider actions the pattern's resource types need (:data:`TYPE_OPERATIONS`) at
  subscription scope (the stack creates its own resource group; no role definitions), plus Role
  Based Access Control Administrator under the allow-list :func:`assignment_condition` (exactly
  the roles the stacks assign, to service principals other than the CI identities), and state
  access conditioned on their own stacks' blobs (:func:`state_condition`); previewers hold
  Reader, read of their stacks' state and their environments' keys;
- the **pull identity** every stack of the subscription pulls model images as, and, in the
  subscription holding prod, the **model registry** ``spec.registry_name`` (Premium, CMK, admin
  user and anonymous pull off), the publish identity (AcrPush there only) and AcrPull for every
  subscription's pull identity; Microsoft Defender for Containers scans pushed images;
- an audit Log Analytics workspace receiving the state account's, vault's and registry's logs;
- for the patterns with an Azure rollback webhook (:data:`rollout.WEBHOOK_PATTERNS`), the
  **rollback webhook's Entra application** of each environment (:func:`webhook_apps`, review
  B1): identifier URI ``rollout.webhook_identifier_uri``, app role ``ActionGroupsSecureWebhook``
  granted to Azure Monitor's action-group application; its ids reach the stacks through
  ``ci_variables``. Opt out with the bootstrap config flag :data:`WEBHOOK_APP_CONFIG` where the
  person running bootstrap holds no Entra role (then the manual path of docs/patterns/azure.md).

Resource providers have no Pulumi resource (pulumi-azure-native's ``providerhub`` module is for
publishing providers, not registering a subscription): :data:`RESOURCE_PROVIDERS` lists the
``az provider register`` commands the README runs first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_azure_native as azure_native
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.containerregistry as containerregistry
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.security as defender
import pulumi_azure_native.storage as storage
import pulumi_azuread as azuread

from components.azure import event_driven, hosting, roles, rollout, security
from components.azure.rollback_fn.webhook_auth import ACTION_GROUP_APP_ID, WEBHOOK_APP_ROLE
from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    PREVIEW_STATE_KINDS,
    READ_ONLY_ROLES,
    STATE_CONTAINER,
    STATE_READ_ONLY_PATHS,
    BootstrapSpec,
    CiSystem,
    IdentityRole,
    state_object_prefixes,
)
from components.naming import resource_name
from components.spec import Environment, Pattern

COMPONENT_TYPE = "aideploy:azure:Bootstrap"
# Entra ID's audience for workload identity federation (fixed by Microsoft).
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
# Built-in roles bootstrap assigns (GUIDs are the same in every tenant).
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"  # Role Based Access Control Admin.
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
ASSIGNMENT_CONDITION_VERSION = "2.0"
# What the built-in Role Based Access Control Administrator role allows (its definition).
RBAC_ADMINISTRATOR_ACTIONS: tuple[str, ...] = (
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/delete",
    "*/read",
    "Microsoft.Support/*",
)


def _crud(arm_type: str, *extra: str) -> tuple[str, ...]:
    """read, write and delete on one ARM resource type, plus ``extra`` actions."""
    return (f"{arm_type}/read", f"{arm_type}/write", f"{arm_type}/delete", *extra)


_APIM = "Microsoft.ApiManagement/service"
_CDN = "Microsoft.Cdn/profiles"
_ML = "Microsoft.MachineLearningServices/workspaces"
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"
_COGNITIVE = "Microsoft.CognitiveServices/accounts"
# Pulumi resource type (unversioned azure-native token) -> the ARM actions creating, updating
# and deleting it take. The deployer's custom role is the union over the pattern's types; role
# assignments come from the constrained RBAC Administrator role instead (a custom role granting
# roleAssignments/write at subscription scope would be an unconstrained admin). There is no
# RoleDefinition entry: a deployer that can define a role and assign it can give anything any
# power, so the custom roles the stacks assign are bootstrap's (components/azure/roles.py).
TYPE_OPERATIONS: dict[str, tuple[str, ...]] = {
    "azure-native:resources:ResourceGroup": _crud(
        "Microsoft.Resources/subscriptions/resourceGroups"
    ),
    "azure-native:keyvault:Vault": _crud(
        "Microsoft.KeyVault/vaults", "Microsoft.KeyVault/locations/deletedVaults/read"
    ),
    "azure-native:keyvault:Key": (
        "Microsoft.KeyVault/vaults/keys/read",
        "Microsoft.KeyVault/vaults/keys/write",
    ),
    "azure-native:managedidentity:UserAssignedIdentity": _crud(
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
    ),
    "azure-native:authorization:RoleAssignment": (
        "Microsoft.Authorization/roleAssignments/read",
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
    ),
    "azure-native:operationalinsights:Workspace": _crud(
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.OperationalInsights/workspaces/query/read",
    ),
    "azure-native:applicationinsights:Component": _crud("Microsoft.Insights/components"),
    "azure-native:applicationinsights:Workbook": _crud("Microsoft.Insights/workbooks"),
    # The api-first uptime (standard) test of health_url.
    "azure-native:applicationinsights:WebTest": _crud("Microsoft.Insights/webtests"),
    "azure-native:monitor:DiagnosticSetting": _crud("Microsoft.Insights/diagnosticSettings"),
    "azure-native:monitor:ScheduledQueryRule": _crud("Microsoft.Insights/scheduledQueryRules"),
    "azure-native:monitor:MetricAlert": _crud("Microsoft.Insights/metricAlerts"),
    "azure-native:monitor:ActionGroup": _crud("Microsoft.Insights/actionGroups"),
    # Alert processing rules are ARM's "actionRules" (Microsoft.AlertsManagement).
    "azure-native:alertsmanagement:AlertProcessingRuleByName": _crud(
        "Microsoft.AlertsManagement/actionRules"
    ),
    "azure-native:monitor:AutoscaleSetting": _crud("Microsoft.Insights/autoscalesettings"),
    "azure-native:storage:StorageAccount": _crud("Microsoft.Storage/storageAccounts"),
    "azure-native:storage:BlobServiceProperties": (
        "Microsoft.Storage/storageAccounts/blobServices/read",
        "Microsoft.Storage/storageAccounts/blobServices/write",
    ),
    "azure-native:storage:BlobContainer": _crud(
        "Microsoft.Storage/storageAccounts/blobServices/containers"
    ),
    "azure-native:storage:ManagementPolicy": _crud(
        "Microsoft.Storage/storageAccounts/managementPolicies"
    ),
    "azure-native:app:ManagedEnvironment": _crud(
        "Microsoft.App/managedEnvironments", "Microsoft.App/managedEnvironments/join/action"
    ),
    "azure-native:app:ContainerApp": _crud("Microsoft.App/containerApps"),
    "azure-native:app:Job": _crud("Microsoft.App/jobs"),
    "azure-native:apimanagement:ApiManagementService": _crud(_APIM),
    "azure-native:apimanagement:Api": _crud(f"{_APIM}/apis"),
    "azure-native:apimanagement:ApiDiagnostic": _crud(f"{_APIM}/apis/diagnostics"),
    "azure-native:apimanagement:ApiOperation": _crud(f"{_APIM}/apis/operations"),
    "azure-native:apimanagement:ApiPolicy": _crud(f"{_APIM}/apis/policies"),
    "azure-native:apimanagement:ApiSchema": _crud(f"{_APIM}/apis/schemas"),
    "azure-native:apimanagement:Backend": _crud(f"{_APIM}/backends"),
    "azure-native:apimanagement:Logger": _crud(f"{_APIM}/loggers"),
    "azure-native:apimanagement:NamedValue": _crud(f"{_APIM}/namedValues"),
    "azure-native:apimanagement:Product": _crud(f"{_APIM}/products"),
    "azure-native:apimanagement:ProductApi": _crud(f"{_APIM}/products/apis"),
    "azure-native:cdn:Profile": _crud(_CDN),
    "azure-native:cdn:AFDEndpoint": _crud(f"{_CDN}/afdEndpoints"),
    "azure-native:cdn:AFDOriginGroup": _crud(f"{_CDN}/originGroups"),
    "azure-native:cdn:AFDOrigin": _crud(f"{_CDN}/originGroups/origins"),
    "azure-native:cdn:Route": _crud(f"{_CDN}/afdEndpoints/routes"),
    "azure-native:cdn:SecurityPolicy": _crud(f"{_CDN}/securityPolicies"),
    "azure-native:cdn:AFDCustomDomain": _crud(f"{_CDN}/customDomains"),
    "azure-native:frontdoor:Policy": _crud(
        "Microsoft.Network/frontDoorWebApplicationFirewallPolicies",
        "Microsoft.Network/frontDoorWebApplicationFirewallPolicies/join/action",
    ),
    "azure-native:cosmosdb:DatabaseAccount": _crud(_COSMOS),
    "azure-native:cosmosdb:SqlResourceSqlDatabase": _crud(f"{_COSMOS}/sqlDatabases"),
    "azure-native:cosmosdb:SqlResourceSqlContainer": _crud(f"{_COSMOS}/sqlDatabases/containers"),
    "azure-native:cosmosdb:SqlResourceSqlRoleAssignment": _crud(f"{_COSMOS}/sqlRoleAssignments"),
    "azure-native:eventgrid:Topic": _crud("Microsoft.EventGrid/topics"),
    "azure-native:eventgrid:SystemTopic": _crud("Microsoft.EventGrid/systemTopics"),
    "azure-native:eventgrid:SystemTopicEventSubscription": _crud(
        "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    ),
    "azure-native:servicebus:Namespace": _crud("Microsoft.ServiceBus/namespaces"),
    "azure-native:servicebus:NamespaceNetworkRuleSet": _crud(
        "Microsoft.ServiceBus/namespaces/networkRuleSets"
    ),
    "azure-native:servicebus:Queue": _crud("Microsoft.ServiceBus/namespaces/queues"),
    "azure-native:network:VirtualNetwork": _crud(
        "Microsoft.Network/virtualNetworks", "Microsoft.Network/virtualNetworks/join/action"
    ),
    "azure-native:network:Subnet": _crud(
        "Microsoft.Network/virtualNetworks/subnets",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
    ),
    # A private endpoint is approved at creation when its creator may approve connections on
    # the target service; else it waits for a manual approval.
    "azure-native:network:PrivateEndpoint": _crud(
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Storage/storageAccounts/privateEndpointConnectionsApproval/action",
        "Microsoft.ServiceBus/namespaces/privateEndpointConnectionsApproval/action",
        f"{_COSMOS}/privateEndpointConnectionsApproval/action",
        f"{_ML}/privateEndpointConnectionsApproval/action",
    ),
    "azure-native:network:PrivateDnsZoneGroup": _crud(
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "Microsoft.Network/privateDnsZones/join/action",
    ),
    "azure-native:privatedns:PrivateZone": _crud("Microsoft.Network/privateDnsZones"),
    "azure-native:privatedns:VirtualNetworkLink": _crud(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
    ),
    "azure-native:containerregistry:Registry": _crud("Microsoft.ContainerRegistry/registries"),
    "azure-native:machinelearningservices:Workspace": _crud(_ML),
    "azure-native:machinelearningservices:EnvironmentVersion": _crud(
        f"{_ML}/environments/versions"
    ),
    "azure-native:machinelearningservices:OnlineEndpoint": _crud(f"{_ML}/onlineEndpoints"),
    "azure-native:machinelearningservices:OnlineDeployment": _crud(
        f"{_ML}/onlineEndpoints/deployments"
    ),
    # The endpoint traffic split (components/azure/endpoint_traffic.py): GET + PUT of the endpoint.
    "pulumi-python:dynamic/azure:EndpointTraffic": (
        f"{_ML}/onlineEndpoints/read",
        f"{_ML}/onlineEndpoints/write",
    ),
    # An LLM behind api-first (components/azure/guardrail.py): the Azure OpenAI (hosted) or
    # Content Safety (self-hosted) account, the hosted model's content-filter (RAI) policy and
    # its deployment (operation names: Azure permissions for AI + machine learning,
    # Microsoft.CognitiveServices). Deleting an account soft-deletes it for 48 hours; no purge
    # (locations/resourceGroups/deletedAccounts/delete): the stack never calls it, and a
    # re-created stack takes a new name through its suffix (security.physical_name).
    "azure-native:cognitiveservices:Account": _crud(_COGNITIVE),
    "azure-native:cognitiveservices:RaiPolicy": _crud(f"{_COGNITIVE}/raiPolicies"),
    "azure-native:cognitiveservices:Deployment": _crud(f"{_COGNITIVE}/deployments"),
    # A timer on the machine running Pulumi: no cloud call.
    "time:index/sleep:Sleep": (),
    # The embedded pattern's release channel: its default time-based retention (created
    # unlocked; locking is an administrator's out-of-band action the deployer cannot take:
    # no immutabilityPolicies/lock/action here, so no pipeline can make it irreversible).
    "azure-native:storage:BlobContainerImmutabilityPolicy": _crud(
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
    ),
}
# Types only the embedded pattern creates: kept out of the prefix selections below, so adding
# them leaves every other pattern's deployer role exactly as it was.
_EMBEDDED_ONLY_TYPES: frozenset[str] = frozenset(
    {"azure-native:storage:BlobContainerImmutabilityPolicy"}
)

_COMMON_TYPES = (
    "azure-native:resources:ResourceGroup",
    "azure-native:keyvault:Vault",
    "azure-native:keyvault:Key",
    "azure-native:managedidentity:UserAssignedIdentity",
    "azure-native:authorization:RoleAssignment",
    "azure-native:operationalinsights:Workspace",
    "azure-native:applicationinsights:Component",
    "azure-native:applicationinsights:Workbook",
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:monitor:ScheduledQueryRule",
    "azure-native:monitor:MetricAlert",
    "azure-native:monitor:ActionGroup",
    "azure-native:alertsmanagement:AlertProcessingRuleByName",
    "azure-native:app:ManagedEnvironment",
    "azure-native:app:ContainerApp",
    "time:index/sleep:Sleep",
)
_PRIVATE_NETWORK_TYPES = (
    "azure-native:network:VirtualNetwork",
    "azure-native:network:Subnet",
    "azure-native:network:PrivateEndpoint",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
)
# The resource types each pattern's stacks create (a test holds every captured type to it).
PATTERN_TYPES: dict[Pattern, frozenset[str]] = {
    Pattern.API_FIRST: frozenset(
        (
            *_COMMON_TYPES,
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:apimanagement:")),
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:cdn:")),
            "azure-native:frontdoor:Policy",
            "azure-native:applicationinsights:WebTest",
            # Created only when the stack serves an LLM (spec.llm); the deployer role is per
            # pattern, so every api-first deployer holds them.
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:cognitiveservices:")),
        )
    ),
    Pattern.EVENT_DRIVEN: frozenset(
        (
            *_COMMON_TYPES,
            *_PRIVATE_NETWORK_TYPES,
            *(
                t
                for t in TYPE_OPERATIONS
                if t.startswith("azure-native:storage:") and t not in _EMBEDDED_ONLY_TYPES
            ),
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:cosmosdb:")),
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:eventgrid:")),
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:servicebus:")),
            "azure-native:app:Job",
        )
    ),
    Pattern.MANAGED_PLATFORM: frozenset(
        (
            *_COMMON_TYPES,
            *_PRIVATE_NETWORK_TYPES,
            "azure-native:storage:StorageAccount",
            "azure-native:storage:BlobServiceProperties",
            "azure-native:containerregistry:Registry",
            "azure-native:monitor:AutoscaleSetting",
            *(t for t in TYPE_OPERATIONS if t.startswith("azure-native:machinelearningservices:")),
            "pulumi-python:dynamic/azure:EndpointTraffic",
        )
    ),
    # Release channel (storage with version-level immutability), signing vault and key, the
    # device API (API Management in front of a Container App) and its alarms.
    Pattern.EMBEDDED: frozenset(
        (
            *_COMMON_TYPES,
            "azure-native:storage:StorageAccount",
            "azure-native:storage:BlobServiceProperties",
            "azure-native:storage:BlobContainer",
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            "azure-native:apimanagement:ApiManagementService",
            "azure-native:apimanagement:Api",
            "azure-native:apimanagement:ApiOperation",
            "azure-native:apimanagement:ApiPolicy",
            "azure-native:apimanagement:Backend",
        )
    ),
}


def deployer_actions(pattern: Pattern) -> tuple[str, ...]:
    """The deployer custom role's actions: the pattern's types' operations, without the role
    assignment writes (those come from the constrained RBAC Administrator assignment)."""
    actions = {a for t in PATTERN_TYPES[pattern] for a in TYPE_OPERATIONS[t]}
    return tuple(
        sorted(a for a in actions if not a.startswith("Microsoft.Authorization/roleAssignments/"))
    )


def provider_namespace(action: str) -> str:
    """``Microsoft.Storage/storageAccounts/read`` -> ``Microsoft.Storage``."""
    return action.split("/", 1)[0]


# Registered in every subscription from the start: no `az provider register` needed.
ALWAYS_REGISTERED: frozenset[str] = frozenset({"Microsoft.Authorization", "Microsoft.Resources"})
# What bootstrap itself uses beyond the stacks' types (Defender for Containers scans images).
BOOTSTRAP_NAMESPACES: frozenset[str] = frozenset(
    {
        "Microsoft.Storage",
        "Microsoft.KeyVault",
        "Microsoft.ManagedIdentity",
        "Microsoft.ContainerRegistry",
        "Microsoft.OperationalInsights",
        "Microsoft.Insights",
        "Microsoft.Security",
    }
)


def resource_providers(pattern: Pattern) -> tuple[str, ...]:
    """Namespaces a subscription must register for ``pattern`` (and for bootstrap itself).

    Log search and metric alerts also need Microsoft.AlertsManagement (alert state).
    """
    used = {provider_namespace(a) for t in PATTERN_TYPES[pattern] for a in TYPE_OPERATIONS[t]}
    used |= BOOTSTRAP_NAMESPACES | {"Microsoft.AlertsManagement"}
    return tuple(sorted(used - ALWAYS_REGISTERED))


# -- waivers (pack config), with their reasons -------------------------------------------------
POLICY_WAIVERS: dict[str, tuple[str, str]] = {
    "azure-storage-restrict-network-access": (
        "state",
        "The Pulumi state account is read and written by CI runners (GitHub- or GitLab-hosted, "
        "no fixed addresses) and by the people who run Pulumi: its firewall cannot name them. "
        "Access is Entra ID only (shared keys off), per identity, TLS 1.2, and every read and "
        "write is logged to the audit workspace. Self-hosted runners in a VNet: add a private "
        "endpoint and set the default action to Deny.",
    ),
    "azure-keyvault-restrict-network-access": (
        "vault",
        "Pulumi's azurekeyvault secrets provider encrypts and decrypts from wherever Pulumi "
        "runs (CI runners without fixed addresses, a person's laptop). Every call needs an "
        "Entra ID identity holding Crypto User on that one key; the vault is RBAC-only, purge "
        "protected and its audit log goes to the audit workspace.",
    ),
}


# Custom roles that write to resources running code (rule azure-custom-role-flag-resource-write,
# review B1), each held behind an authenticated trigger: resource suffix -> reason.
RESOURCE_WRITE_ROLE = "azure-custom-role-flag-resource-write"
RESOURCE_WRITE_WAIVERS: dict[str, str] = {
    "deployer-role": (
        "The deployer's role carries exactly the resource-provider actions its pattern's "
        "resource types need, container app / job / online endpoint writes among them: deploying "
        "is writing them. It is held only by the CI deployer identity, reached through a "
        "federated credential bound to the environment's protected branch and CI environment."
    ),
    "role-" + roles.ROLLBACK_CONTAINER_APP: (
        "The rollback service resets the model app's traffic with a PATCH, which needs "
        "containerApps/write; the role is assigned on that one app only, to the rollback "
        "identity, which acts only on a call carrying Azure Monitor's Entra token (secure "
        "webhook, verified by the service) and on an alert it reads back itself (review B1)."
    ),
    "role-" + roles.ROLLBACK_ML_ENDPOINT: (
        "An online endpoint's traffic changes only through a PUT of the endpoint "
        "(onlineEndpoints/write); the role is assigned on that one endpoint only, to the rollback "
        "identity, which acts only on a call carrying Azure Monitor's Entra token (secure "
        "webhook, verified by the service) and on an alert it reads back itself (review B1)."
    ),
}
# Which of them exist in a pattern's bootstrap.
_PATTERN_ROLE_KEYS: dict[Pattern, tuple[str, ...]] = {
    pattern: (
        "deployer-role",
        *(f"role-{k}" for k in keys if f"role-{k}" in RESOURCE_WRITE_WAIVERS),
    )
    for pattern, keys in roles.PATTERN_CUSTOM_ROLES.items()
}


def policy_waivers(
    name: str, pattern: Pattern | None = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config waiving :data:`POLICY_WAIVERS` (and the custom roles of
    :data:`RESOURCE_WRITE_WAIVERS` that ``pattern``'s bootstrap has; every pattern's when no
    pattern is given) for the bootstrap component ``name``."""
    entries = {
        rule: {"waivers": [{"resource": f"{name}-{role}", "reason": reason}]}
        for rule, (role, reason) in POLICY_WAIVERS.items()
    }
    keys = _PATTERN_ROLE_KEYS[pattern] if pattern is not None else tuple(RESOURCE_WRITE_WAIVERS)
    entries[RESOURCE_WRITE_ROLE] = {
        "waivers": [
            {"resource": f"{name}-{key}", "reason": RESOURCE_WRITE_WAIVERS[key]} for key in keys
        ]
    }
    return entries


# -- what a deployer may assign ---------------------------------------------------------------
# The built-in roles each pattern's stacks assign (GUIDs from security.BUILTIN_ROLES; the
# event-driven pattern's own GRANTS table is read from the component). The seam tests hold this,
# with the custom roles, to the role ids of every captured stack's role assignments.
ASSIGNED_BUILTIN_ROLES: dict[Pattern, tuple[str, ...]] = {
    # An LLM's serving identity on its own account (components/azure/guardrail.SERVING_ROLE):
    # call the hosted deployment (OpenAI User) or Content Safety (Cognitive Services User).
    Pattern.API_FIRST: (
        "key-vault-crypto-user",
        "monitoring-metrics-publisher",
        "cognitive-services-openai-user",
        "cognitive-services-user",
    ),
    Pattern.EVENT_DRIVEN: ("key-vault-crypto-user",),
    Pattern.MANAGED_PLATFORM: (
        "key-vault-crypto-user",
        "monitoring-metrics-publisher",
        "storage-blob-data-reader",
        "storage-blob-data-contributor",
        "acr-pull",
        "acr-push",
        "app-insights-component-contributor",
        "key-vault-secrets-officer",
    ),
    # The encryption identity on the CMK; the device API's identity and the client's build
    # pipeline reader on the releases container; the device API's identity signing
    # user-delegation SAS on the channel account.
    Pattern.EMBEDDED: (
        "key-vault-crypto-user",
        "storage-blob-data-reader",
        "storage-blob-delegator",
    ),
}
# Role ids a deployer may assign although no captured stack does, with the reason (none today).
ALLOW_LIST_EXTRAS: dict[str, str] = {}


def assignable_roles(pattern: Pattern, subscription: str, project: str) -> tuple[str, ...]:
    """The role definition GUIDs a deployer may assign to the stack's own service principals:
    the built-in roles of :data:`ASSIGNED_BUILTIN_ROLES`, the event-driven GRANTS' roles and the
    pattern's bootstrap-created custom roles other than the self-assigned ones."""
    builtin = {security.BUILTIN_ROLES[k] for k in ASSIGNED_BUILTIN_ROLES[pattern]}
    if pattern is Pattern.EVENT_DRIVEN:
        builtin |= {event_driven.ROLES[role] for _, _, role in event_driven.GRANTS}
    custom = {
        roles.custom_role_guid(subscription, project, key)
        for key in roles.PATTERN_CUSTOM_ROLES[pattern]
        if key not in roles.SELF_ASSIGNED_ROLES
    }
    return tuple(sorted(g.lower() for g in builtin | custom | set(ALLOW_LIST_EXTRAS)))


def self_assignable_roles(pattern: Pattern, subscription: str, project: str) -> tuple[str, ...]:
    """The custom roles a deployer assigns to itself only (its key-creator role, A5)."""
    return tuple(
        sorted(
            roles.custom_role_guid(subscription, project, key)
            for key in roles.PATTERN_CUSTOM_ROLES[pattern]
            if key in roles.SELF_ASSIGNED_ROLES
        )
    )


def _guids(values: Iterable[str]) -> str:
    return "{" + ", ".join(sorted({v.lower() for v in values})) + "}"


def assignment_condition(
    assignable: Iterable[str],
    self_assignable: Iterable[str],
    self_principal: str,
    protected: Iterable[str],
) -> str:
    """The ABAC condition on a deployer's Role Based Access Control Administrator assignment.

    An ALLOW-list (Microsoft's "constrain roles" and "constrain roles and principal types"
    examples, delegate-role-assignments-examples): creating (``@Request``) or deleting
    (``@Resource``) a role assignment is allowed only when

    - the role is one of ``assignable`` (exactly the role ids the stacks assign), the principal is
      a service principal (no user, no group) and it is none of ``protected`` (the bootstrap's
      own identities: the deployers, previewers, publish and pull identities), so a deployer
      can widen neither its own rights nor another CI identity's; or
    - the role is one of ``self_assignable`` (the key-creator role) and the principal is the
      deployer itself (``self_principal``).

    Every other role (Owner, Contributor, User Access Administrator, any custom role) is refused.
    What no condition expresses: the assignment's scope (Azure exposes only the role definition,
    principal id and principal type), so an allowed role can be assigned anywhere in the
    subscription; no allowed role can decrypt a Pulumi secrets key (:data:`KEY_ROLE_OPERATIONS`,
    :data:`SECRETS_KEY_OPS`), and docs/patterns/azure.md says what else that leaves.
    """

    def clause(action: str, source: str) -> str:
        attribute = f"@{source}[{ASSIGNMENT}:"
        return (
            f"((!(ActionMatches{{'{ASSIGNMENT}/{action}'}})) OR "
            f"({attribute}RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {_guids(assignable)} AND "
            f"{attribute}PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal' AND "
            f"{attribute}PrincipalId] ForAnyOfAllValues:GuidNotEquals {_guids(protected)}) OR "
            f"({attribute}RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
            f"{_guids(self_assignable)} AND "
            f"{attribute}PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal' AND "
            f"{attribute}PrincipalId] ForAnyOfAnyValues:GuidEquals {_guids([self_principal])}))"
        )

    return f"{clause('write', 'Request')} AND {clause('delete', 'Resource')}"


# The key operations each built-in Key Vault key role allows (its data actions, from Microsoft's
# built-in role definitions): what the role, held on a key, can do with it.
KEY_ROLE_OPERATIONS: dict[str, frozenset[str]] = {
    # Key Vault Crypto Service Encryption User: keys/read, keys/wrap, keys/unwrap.
    security.BUILTIN_ROLES["key-vault-crypto-user"]: frozenset({"wrapKey", "unwrapKey"}),
    # Key Vault Crypto User: keys/read, update, backup, encrypt, decrypt, wrap, unwrap, sign,
    # verify.
    security.BUILTIN_ROLES["key-vault-crypto-data-user"]: frozenset(
        {"encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "update"}
    ),
    # Key Vault Crypto Officer: keys/* (and the rotation policies).
    security.BUILTIN_ROLES["key-vault-crypto-officer"]: frozenset(
        {"encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "update", "import"}
    ),
}
# What the Pulumi secrets keys permit: Pulumi's azurekeyvault provider (gocloud.dev's keeper)
# calls Encrypt and Decrypt. Key Vault refuses any other operation on them (KeyOperationForbidden)
# whatever role the caller holds, so the wrap/unwrap role the stacks assign on their own CMKs
# cannot read a secrets key, on whichever key a deployer assigns it.
SECRETS_KEY_OPS: tuple[str, ...] = ("encrypt", "decrypt")


# -- which state each CI identity may touch ----------------------------------------------------
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"


def state_paths(project: str, env: Environment, writer: bool) -> tuple[str, ...]:
    """Blob path prefixes of ``env``'s stack a deployer (``writer``) or a previewer may touch."""
    neutral = state_object_prefixes(project, env.value)
    if writer:
        return tuple(neutral.values())
    return tuple(neutral[k] for k in PREVIEW_STATE_KINDS)


def state_list_prefixes(project: str, env: Environment, writer: bool) -> tuple[str, ...]:
    """What List Blobs may ask for: the stack's own directories (Pulumi lists a directory with
    the prefix ``<dir>/``) and the project's stack directory, whose names (not contents) tell
    `pulumi stack select` which stacks exist."""
    dirs = [p for p in state_paths(project, env, writer) if p.endswith("/")]
    return (*dirs, f".pulumi/stacks/{project}/")


def state_condition(paths: Iterable[str], list_prefixes: Iterable[str], write: bool) -> str:
    """The ABAC condition on a CI identity's state-container grant (Microsoft's "read or list
    blobs in named containers with a path" and "write blobs ... with a path" examples).

    Reading a blob (not listing) is allowed under ``paths`` and for the backend's version file
    (:data:`components.bootstrap.STATE_READ_ONLY_PATHS`, never written by CI); List Blobs only
    with a prefix under ``list_prefixes``; with ``write``, writing, creating and deleting blobs
    only under ``paths``, and never a move (a rename would carry a blob out of its path). The
    role the condition is put on decides the rest (Storage Blob Data Contributor's data actions
    are read, write, delete, add and move; Reader's is read).
    """
    path = f"@Resource[{BLOBS}:path]"
    mine = "(" + " OR ".join(f"{path} StringStartsWith '{p}'" for p in paths) + ")"
    meta = " OR ".join(f"{path} StringEquals '{p}'" for p in STATE_READ_ONLY_PATHS)
    prefix = f"@Request[{BLOBS}:prefix]"
    read = (
        f"((!(ActionMatches{{'{BLOBS}/read'}} AND NOT SubOperationMatches{{'Blob.List'}})) OR "
        f"{mine} OR {meta})"
    )
    listing = (
        f"((!(ActionMatches{{'{BLOBS}/read'}} AND SubOperationMatches{{'Blob.List'}})) OR "
        "(" + " OR ".join(f"{prefix} StringStartsWith '{p}'" for p in list_prefixes) + "))"
    )
    if not write:
        return f"{read} AND {listing}"
    changes = (
        f"((!(ActionMatches{{'{BLOBS}/write'}}) AND !(ActionMatches{{'{BLOBS}/add/action'}}) "
        f"AND !(ActionMatches{{'{BLOBS}/delete'}})) OR {mine})"
    )
    move = f"(!(ActionMatches{{'{BLOBS}/move/action'}}))"
    return f"{read} AND {listing} AND {changes} AND {move}"


def identity_state_condition(spec: BootstrapSpec, role: IdentityRole) -> str:
    """:func:`state_condition` for ``role``: its own environments' stacks in this subscription."""
    writer = role not in READ_ONLY_ROLES
    envs = [e for e in IDENTITY_STACKS[role] if e in spec.environments]
    return state_condition(
        [p for e in envs for p in state_paths(spec.project, e, writer)],
        [p for e in envs for p in state_list_prefixes(spec.project, e, writer)],
        write=writer,
    )


# -- names -------------------------------------------------------------------------------------
def bootstrap_group_name(spec: BootstrapSpec) -> str:
    """The bootstrap resource group (the same name in every subscription of the project)."""
    return hosting.bootstrap_resource_group_name(spec.project)


def federated_subjects(spec: BootstrapSpec, role: IdentityRole) -> tuple[str, ...]:
    """The exact OIDC subjects a federated credential can hold for ``role``.

    A managed identity's federated credential matches ``sub`` exactly (no wildcards; Entra's
    "flexible" credentials with claim expressions exist for app registrations only). GitLab's
    pull-request previewer trusts any branch (``ref:*``), which no credential can express: the
    previewer trusts the default branch instead, and merge-request previews run offline or
    from the default branch (see the bootstrap README).
    """
    subjects = []
    for subject in spec.oidc_subjects(role):
        if subject.endswith(":*") and spec.ci is CiSystem.GITLAB:
            subject = subject[:-1] + "main"
        subjects.append(subject)
    return tuple(subjects)


@dataclass(frozen=True)
class SecretsVault:
    """The vault with one Pulumi secrets key per environment, and the storage CMK."""

    vault: keyvault.Vault
    keys: dict[Environment, keyvault.Key]
    cmk: security.KeyBundle
    encryption: managedidentity.UserAssignedIdentity


@dataclass(frozen=True)
class Registry:
    """The model registry and the identity CI pushes with."""

    registry: containerregistry.Registry
    login_server: pulumi.Output[str]


# -- the rollback webhook's Entra application (review B1) ---------------------------------------
# The bootstrap config flag (bool, default true) that creates it; `false` where the person running
# bootstrap holds no Entra role able to (the manual path of docs/patterns/azure.md then applies).
WEBHOOK_APP_CONFIG = "createRollbackWebhookApp"
# The namespace of the app roles' deterministic ids (any fixed UUID; never change it).
_WEBHOOK_ROLE_NAMESPACE = uuid.UUID("6f1d3c62-5b1e-4f3a-9a55-3c0e1f6a7b21")


def webhook_role_id(project: str, environment: Environment) -> str:
    """The id of the webhook application's ``ActionGroupsSecureWebhook`` app role: fixed per
    project and environment, so a re-run never replaces the role (nor its assignment)."""
    return str(uuid.uuid5(_WEBHOOK_ROLE_NAMESPACE, f"{project}/{environment.value}/rollback"))


@dataclass(frozen=True)
class WebhookApp:
    """One environment's rollback webhook application, its service principal, and the app role
    assignment that lets Azure Monitor's action groups obtain tokens for it."""

    application: azuread.Application
    service_principal: azuread.ServicePrincipal
    assignment: azuread.AppRoleAssignment


def webhook_apps_wanted(spec: BootstrapSpec, config: pulumi.Config | None = None) -> bool:
    """Whether this bootstrap creates the rollback webhook applications: its pattern wires the
    webhook and the bootstrap config flag :data:`WEBHOOK_APP_CONFIG` is not false."""
    if spec.pattern not in rollout.WEBHOOK_PATTERNS:
        return False
    flag = (config or pulumi.Config()).get_bool(WEBHOOK_APP_CONFIG)
    return flag is not False


def webhook_apps(
    spec: BootstrapSpec, name: str, o: pulumi.ResourceOptions
) -> dict[Environment, WebhookApp]:
    """The rollback webhook's Entra application of each environment of this subscription.

    Microsoft's secure-webhook setup: an application whose identifier URI is the token audience
    the rollback service requires (``rollout.webhook_identifier_uri``, the URI the stack's action
    group names), an app role ``ActionGroupsSecureWebhook`` for applications, its service
    principal, and that role assigned to Azure Monitor's action-group application
    (:data:`ACTION_GROUP_APP_ID`, the same in every tenant). One application per environment:
    identifier URIs are unique in a tenant, and the project's other bootstrap stacks (other
    subscriptions of the same tenant) create their own environments'. Entra objects, written
    through Microsoft Graph with the signed-in person's Entra rights (bootstrap/README.md).
    """
    tenant = spec.tenant or ""
    provider = azuread.Provider(f"{name}-entra", tenant_id=tenant, opts=o)
    entra = pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(provider=provider))
    # Azure Monitor's action-group service principal ("AZNS AAD Webhook") in this tenant.
    monitor = azuread.get_service_principal_output(
        client_id=ACTION_GROUP_APP_ID, opts=pulumi.InvokeOutputOptions(provider=provider)
    )
    owner = security.deployer_object_id()
    apps: dict[Environment, WebhookApp] = {}
    for env in spec.environments:
        role_id = webhook_role_id(spec.project, env)
        application = azuread.Application(
            f"{name}-rollback-webhook-{env.value}",
            display_name=f"aideploy {spec.project} {env.value} rollback webhook",
            identifier_uris=[rollout.webhook_identifier_uri(tenant, spec.project, env.value)],
            sign_in_audience="AzureADMyOrg",
            owners=[owner],
            app_roles=[
                azuread.ApplicationAppRoleArgs(
                    allowed_member_types=["Application"],
                    description=(
                        f"Azure Monitor action groups call the rollback service of "
                        f"{spec.project} {env.value}"
                    ),
                    display_name=WEBHOOK_APP_ROLE,
                    id=role_id,
                    value=WEBHOOK_APP_ROLE,
                    enabled=True,
                )
            ],
            opts=entra,
        )
        principal = azuread.ServicePrincipal(
            f"{name}-rollback-webhook-{env.value}-sp",
            client_id=application.client_id,
            owners=[owner],
            opts=entra,
        )
        assignment = azuread.AppRoleAssignment(
            f"{name}-rollback-webhook-{env.value}-action-groups",
            app_role_id=role_id,
            principal_object_id=monitor.object_id,
            resource_object_id=principal.object_id,
            opts=entra,
        )
        apps[env] = WebhookApp(application, principal, assignment)
    return apps


def ci_environment_stacks(spec: BootstrapSpec) -> dict[str, Environment]:
    """The CI environments of this bootstrap's identities that work on exactly one stack, and
    that stack (``dev``, ``preview-dev``, ``production``, ``production-preview``...)."""
    out: dict[str, Environment] = {}
    for role in spec.identities:
        envs = [e for e in IDENTITY_STACKS[role] if e in spec.environments]
        ci_envs = spec.ci_environments(role)
        if len(ci_envs) == len(envs):
            out.update(zip(ci_envs, envs, strict=True))
    return out


class AzureBootstrap(pulumi.ComponentResource):
    """Everything one Azure subscription needs before the project's stacks run there."""

    def __init__(
        self, name: str, spec: BootstrapSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.spec = spec
        o = pulumi.ResourceOptions(parent=self)
        self.rg = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=bootstrap_group_name(spec),
            location=spec.region,
            tags=tags(spec),
            opts=o,
        )
        self.audit = audit_workspace(spec, name, self.rg, o)
        self.secrets = secrets_vault(spec, name, self.rg, self.audit, o)
        self.state = state_backend(
            spec, name, self.rg, self.secrets.cmk, self.secrets.encryption, self.audit, o
        )
        self.identities = ci_identities(spec, name, self.rg, o)
        self.pull = managedidentity.UserAssignedIdentity(
            f"{name}-id-pull",
            resource_name_=hosting.pull_identity_name(spec.project),
            resource_group_name=self.rg.name,
            location=spec.region,
            tags=tags(spec),
            opts=o,
        )
        self.custom_roles = custom_roles(spec, name, o)
        protected = [*self.identities.values(), self.pull, self.secrets.encryption]
        self.grants = grant_identities(
            spec, name, self.identities, protected, self.secrets, self.state, o
        )
        self.registry = (
            model_registry(
                spec,
                name,
                self.rg,
                self.secrets,
                self.audit,
                self.identities[IdentityRole.PUBLISH],
                self.pull,
                o,
            )
            if spec.registry
            else None
        )
        self.webhook_apps = webhook_apps(spec, name, o) if webhook_apps_wanted(spec) else {}
        self._outputs = self._collect()
        self.register_outputs(self._outputs)

    def _collect(self) -> dict[str, Any]:
        spec = self.spec
        container = self.state.container
        backend = container.name.apply(lambda _: spec.backend_url)
        secrets = {
            env.value: self.secrets.keys[env].id.apply(_const(spec.secrets_provider(env)))
            for env in spec.environments
        }
        identities = {role.value: ident.client_id for role, ident in self.identities.items()}
        stacks = ci_environment_stacks(spec)
        # Plain values and each cloud-computed id as its own Output: an id Entra assigns is
        # unknown in a preview, and must not hide the variables that are known.
        variables = {
            ci_environment: {
                "AZURE_CLIENT_ID": ident.client_id,
                "AZURE_TENANT_ID": spec.tenant or "",
                "AZURE_SUBSCRIPTION_ID": spec.account,
                "PULUMI_BACKEND_URL": backend,
                **self._webhook_variables(stacks.get(ci_environment)),
            }
            for role, ident in self.identities.items()
            for ci_environment in spec.ci_environments(role)
        }
        image = (
            self.registry.login_server.apply(lambda _: spec.image_repository)
            if self.registry is not None
            else pulumi.Output.from_input("")
        )
        made = [role.id for role in self.custom_roles.values()]
        prerequisites = {
            env.value: pulumi.Output.all(self.pull.id, backend, *made).apply(
                _prerequisites(spec, env)
            )
            for env in spec.environments
        }
        values: dict[str, object] = {
            "backend_url": backend,
            "secrets_providers": secrets,
            "identities": identities,
            "ci_variables": variables,
            "image_repository": image,
            "stack_prerequisites": prerequisites,
        }
        assert tuple(values) == BOOTSTRAP_OUTPUTS
        # ci_variables stays a plain {environment: {variable: value}} map of Outputs: an Output
        # of the whole map would be unknown in a preview as soon as one Entra id is.
        return {
            k: v if k == "ci_variables" else pulumi.Output.from_input(v) for k, v in values.items()
        }

    def _webhook_variables(self, env: Environment | None) -> dict[str, pulumi.Output[str]]:
        """The rollback webhook application's ids for a CI environment working on ``env``
        (read by the stack, rollout.webhook_app_ids), once Azure Monitor holds its role."""
        made = self.webhook_apps.get(env) if env is not None else None
        if made is None:
            return {}
        granted = made.assignment.id
        return {
            rollout.WEBHOOK_APP_OBJECT_ID_ENV: pulumi.Output.all(
                made.application.object_id, granted
            ).apply(lambda a: str(a[0])),
            rollout.WEBHOOK_APP_CLIENT_ID_ENV: pulumi.Output.all(
                made.application.client_id, granted
            ).apply(lambda a: str(a[0])),
        }

    def outputs(self) -> dict[str, Any]:
        """Exactly :data:`components.bootstrap.BOOTSTRAP_OUTPUTS`."""
        return dict(self._outputs)


def _const(value: str) -> Callable[[object], str]:
    """An ``apply`` callback returning ``value`` (the Output only carries the dependency)."""
    return lambda _: value


def _prerequisites(
    spec: BootstrapSpec, env: Environment
) -> Callable[[list[object]], dict[str, object]]:
    """What environment ``env``'s stacks rely on bootstrap for, from (pull id, backend url)."""

    def build(values: list[object]) -> dict[str, object]:
        return {
            "resource_group": bootstrap_group_name(spec),
            "pull_identity": hosting.pull_identity_id(spec.account, spec.project),
            "backend_url": values[1],
            "secrets_provider": spec.secrets_provider(env),
            "deployer": spec.identity_name(DEPLOYERS[env]),
            # The custom roles the stacks assign, by the id they compute (roles.py).
            "custom_roles": {
                key: security.role_definition_path(
                    spec.account, roles.custom_role_guid(spec.account, spec.project, key)
                )
                for key in roles.PATTERN_CUSTOM_ROLES[spec.pattern]
            },
        }

    return build


def tags(spec: BootstrapSpec) -> dict[str, str]:
    """Tags on every bootstrap resource."""
    return {
        "project": spec.project,
        "managed-by": "aideploy",
        "purpose": "bootstrap",
        "environments": "-".join(e.value for e in spec.environments),
    }


def audit_workspace(
    spec: BootstrapSpec, name: str, rg: resources.ResourceGroup, o: pulumi.ResourceOptions
) -> operationalinsights.Workspace:
    """Who read the state, used a key or pushed an image: a year of logs, Entra ingestion only."""
    return operationalinsights.Workspace(
        f"{name}-audit",
        resource_group_name=rg.name,
        location=spec.region,
        sku=operationalinsights.WorkspaceSkuArgs(
            name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018
        ),
        retention_in_days=AUDIT_RETENTION_DAYS,
        features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True),
        # It receives diagnostic settings only, which Azure Monitor ingests over its own backbone:
        # no sender needs the public ingestion endpoint (rule azure-monitor-disable-public-
        # ingestion). Queries stay public (people read the audit trail, Entra-only).
        public_network_access_for_ingestion=operationalinsights.PublicNetworkAccessType.DISABLED,
        tags=tags(spec),
        opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(protect=True)),
    )


AUDIT_RETENTION_DAYS = 365
SECRETS_KEY_SIZE = 3072


def secrets_vault(
    spec: BootstrapSpec,
    name: str,
    rg: resources.ResourceGroup,
    audit: operationalinsights.Workspace,
    o: pulumi.ResourceOptions,
) -> SecretsVault:
    """The vault, a Pulumi secrets key per environment, and the storage CMK with its identity.

    The secrets keys do not rotate on a schedule: Pulumi keeps each stack's data key wrapped by
    one key version, and a new version could not unwrap it; rotate with
    `pulumi stack change-secrets-provider` (README). The CMK rotates (storage and the registry
    follow the versionless URI).
    """
    vault = keyvault.Vault(
        f"{name}-vault",
        vault_name=spec.vault_name,
        resource_group_name=rg.name,
        location=spec.region,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=spec.tenant or security.tenant_id(),
            sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=security.SOFT_DELETE_DAYS,
            enable_purge_protection=True,
            public_network_access="Enabled",
            network_acls=keyvault.NetworkRuleSetArgs(
                default_action=keyvault.NetworkRuleAction.ALLOW,
                bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES,
            ),
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
        ),
        tags=tags(spec),
        opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(protect=True)),
    )
    security.diagnostics(f"{name}-vault-diagnostics", vault.id, audit, o)
    # Whoever runs bootstrap creates keys: a data-plane right on this vault (review A5).
    officer = security.grant_principal(
        f"{name}-vault-admin-grant",
        security.deployer_object_id(),
        "key-vault-crypto-officer",
        vault.id,
        o,
        security.deployer_principal_type(),
    )
    officer_ready = security.rbac_wait(f"{name}-vault-admin-wait", [officer], o)
    after_officer = pulumi.ResourceOptions.merge(
        o, pulumi.ResourceOptions(depends_on=[vault, officer, officer_ready])
    )
    keys = {
        env: keyvault.Key(
            f"{name}-key-{env.value}",
            key_name=spec.secrets_key_name(env),
            vault_name=vault.name,
            resource_group_name=rg.name,
            properties=keyvault.KeyPropertiesArgs(
                kty=keyvault.JsonWebKeyType.RSA,
                key_size=SECRETS_KEY_SIZE,
                # Exactly what Pulumi's secrets provider calls (SECRETS_KEY_OPS, issue 9 (c)).
                key_ops=list(SECRETS_KEY_OPS),
                attributes=keyvault.KeyAttributesArgs(enabled=True),
            ),
            tags=tags(spec),
            opts=after_officer,
        )
        for env in spec.environments
    }
    cmk_name = "storage-cmk"
    cmk = keyvault.Key(
        f"{name}-cmk",
        key_name=cmk_name,
        vault_name=vault.name,
        resource_group_name=rg.name,
        properties=keyvault.KeyPropertiesArgs(
            kty=keyvault.JsonWebKeyType.RSA,
            key_size=SECRETS_KEY_SIZE,
            key_ops=["wrapKey", "unwrapKey"],
            attributes=keyvault.KeyAttributesArgs(enabled=True),
            rotation_policy=keyvault.RotationPolicyArgs(
                attributes=keyvault.KeyRotationPolicyAttributesArgs(
                    expiry_time=security.KEY_EXPIRES_AFTER
                ),
                lifetime_actions=[
                    keyvault.LifetimeActionArgs(
                        trigger=keyvault.TriggerArgs(time_after_create=security.KEY_ROTATE_AFTER),
                        action=keyvault.ActionArgs(
                            type=keyvault.KeyRotationPolicyActionType.ROTATE
                        ),
                    )
                ],
            ),
        ),
        tags=tags(spec),
        opts=after_officer,
    )
    encryption = managedidentity.UserAssignedIdentity(
        f"{name}-id-encryption",
        resource_name_=resource_name("azure", "default", spec.project, "bootstrap-encryption"),
        resource_group_name=rg.name,
        location=spec.region,
        tags=tags(spec),
        opts=o,
    )
    cmk_grant = security.grant_principal(
        f"{name}-cmk-grant",
        encryption.principal_id,
        "key-vault-crypto-user",
        cmk.id,
        o,
        authorization.PrincipalType.SERVICE_PRINCIPAL,
    )
    cmk_ready = security.rbac_wait(f"{name}-cmk-wait", [cmk_grant], o)
    bundle = security.KeyBundle(
        vault=vault,
        key=cmk,
        vault_name=spec.vault_name,
        key_name=cmk_name,
        vault_uri=vault.properties.vault_uri,
        key_uri=security.key_uri_of(vault, cmk, cmk_name),
        ready=(cmk, cmk_grant, cmk_ready),
    )
    return SecretsVault(vault, keys, bundle, encryption)


@dataclass(frozen=True)
class StateBackend:
    """The state account and its container."""

    account: storage.StorageAccount
    container: storage.BlobContainer


STATE_RECOVERY_DAYS = 90


def state_backend(
    spec: BootstrapSpec,
    name: str,
    rg: resources.ResourceGroup,
    cmk: security.KeyBundle,
    encryption: managedidentity.UserAssignedIdentity,
    audit: operationalinsights.Workspace,
    o: pulumi.ResourceOptions,
) -> StateBackend:
    """Storage account ``spec.state_name`` and its ``pulumi-state`` container.

    Shared-key access is off: Pulumi's azblob backend then signs in with Entra ID (the Azure
    SDK's default credential: the CI's federated login, or `az login`), which it does whenever
    AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN and AZURE_STORAGE_CONNECTION_STRING are unset.
    """
    account = storage.StorageAccount(
        f"{name}-state",
        account_name=spec.state_name,
        resource_group_name=rg.name,
        location=spec.region,
        kind=storage.Kind.STORAGE_V2,
        sku=storage.SkuArgs(name=storage.SkuName.STANDARD_ZRS),
        minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
        enable_https_traffic_only=True,
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        default_to_o_auth_authentication=True,
        public_network_access=storage.PublicNetworkAccess.ENABLED,
        network_rule_set=storage.NetworkRuleSetArgs(
            default_action=storage.DefaultAction.ALLOW, bypass=storage.Bypass.AZURE_SERVICES
        ),
        identity=storage.IdentityArgs(
            type=storage.IdentityType.USER_ASSIGNED,
            user_assigned_identities=[encryption.id],
        ),
        encryption=storage.EncryptionArgs(
            key_source=storage.KeySource.MICROSOFT_KEYVAULT,
            key_vault_properties=storage.KeyVaultPropertiesArgs(
                key_vault_uri=cmk.vault_uri,
                key_name=cmk.key.id.apply(lambda _: cmk.key_name),
            ),
            encryption_identity=storage.EncryptionIdentityArgs(
                encryption_user_assigned_identity=encryption.id
            ),
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
            ),
        ),
        tags=tags(spec),
        opts=pulumi.ResourceOptions.merge(
            security.after_key(cmk, o), pulumi.ResourceOptions(protect=True)
        ),
    )
    storage.BlobServiceProperties(
        f"{name}-state-recovery",
        account_name=account.name,
        resource_group_name=rg.name,
        blob_services_name="default",
        # Every state write is a new version; deleted blobs and containers stay recoverable.
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=STATE_RECOVERY_DAYS
        ),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=STATE_RECOVERY_DAYS
        ),
        opts=o,
    )
    container = storage.BlobContainer(
        f"{name}-state-container",
        container_name=STATE_CONTAINER,
        account_name=account.name,
        resource_group_name=rg.name,
        public_access=storage.PublicAccess.NONE,
        opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(protect=True)),
    )
    security.diagnostics(f"{name}-state-diagnostics", account.id, audit, o)
    security.diagnostics(
        f"{name}-state-blob-diagnostics",
        account.id.apply(lambda i: f"{i}/blobServices/default"),
        audit,
        o,
    )
    return StateBackend(account, container)


def ci_identities(
    spec: BootstrapSpec, name: str, rg: resources.ResourceGroup, o: pulumi.ResourceOptions
) -> dict[IdentityRole, managedidentity.UserAssignedIdentity]:
    """One managed identity per CI role of this subscription, each trusting its exact OIDC
    subjects (credentials on one identity are written one at a time: Entra refuses concurrent
    writes)."""
    identities = {}
    for role in spec.identities:
        ident = managedidentity.UserAssignedIdentity(
            f"{name}-id-{role.value}",
            resource_name_=spec.identity_name(role),
            resource_group_name=rg.name,
            location=spec.region,
            tags=tags(spec),
            opts=o,
        )
        previous: list[pulumi.Resource] = []
        for i, subject in enumerate(federated_subjects(spec, role)):
            credential = managedidentity.FederatedIdentityCredential(
                f"{name}-id-{role.value}-oidc-{i}",
                federated_identity_credential_resource_name=f"{spec.ci.value}-{i}",
                resource_name_=ident.name,
                resource_group_name=rg.name,
                issuer=spec.oidc_issuer,
                audiences=[FEDERATION_AUDIENCE],
                subject=subject,
                opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=previous)),
            )
            previous = [credential]
        identities[role] = ident
    return identities


def custom_roles(
    spec: BootstrapSpec, name: str, o: pulumi.ResourceOptions
) -> dict[str, authorization.RoleDefinition]:
    """The custom roles the pattern's stacks assign (components/azure/roles.py), assignable
    anywhere in the subscription, each with the GUID the stacks compute for it."""
    subscription = f"/subscriptions/{spec.account}"
    made = {}
    for key in roles.PATTERN_CUSTOM_ROLES[spec.pattern]:
        role = roles.CUSTOM_ROLES[key]
        made[key] = authorization.RoleDefinition(
            f"{name}-role-{key}",
            role_definition_id=roles.custom_role_guid(spec.account, spec.project, key),
            role_name=roles.custom_role_name(spec.project, key, spec.stack),
            description=f"aideploy: {role.description}",
            role_type="CustomRole",
            scope=subscription,
            assignable_scopes=[subscription],
            permissions=[
                authorization.PermissionArgs(
                    actions=list(role.actions),
                    data_actions=list(role.data_actions),
                    not_actions=[],
                )
            ],
            opts=o,
        )
    return made


def grant_identities(
    spec: BootstrapSpec,
    name: str,
    identities: Mapping[IdentityRole, managedidentity.UserAssignedIdentity],
    protected: Sequence[managedidentity.UserAssignedIdentity],
    secrets: SecretsVault,
    state: StateBackend,
    o: pulumi.ResourceOptions,
) -> list[authorization.RoleAssignment]:
    """Deployers: the pattern's custom role and RBAC Administrator under the allow-list
    condition on the subscription, their own stacks' state, their environment's key.
    Previewers: Reader, read of their stacks' state, their environments' keys. Publish: nothing
    here (AcrPush on the registry only). ``protected`` are every identity of this bootstrap, none
    of which a deployer may grant anything to."""
    subscription = f"/subscriptions/{spec.account}"
    role = authorization.RoleDefinition(
        f"{name}-deployer-role",
        role_name=f"aideploy {spec.project} deployer ({spec.stack})",
        description=(
            f"aideploy: exactly the resource-provider actions the {spec.pattern.value} "
            "pattern's resource types need; no role definitions; role assignments come from an "
            "RBAC Administrator assignment allowing only the stacks' roles"
        ),
        role_type="CustomRole",
        scope=subscription,
        assignable_scopes=[subscription],
        permissions=[
            authorization.PermissionArgs(
                actions=list(deployer_actions(spec.pattern)), not_actions=[]
            )
        ],
        opts=o,
    )
    replicated = security.rbac_wait(f"{name}-deployer-role-wait", [role], o)
    after_role = pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=[replicated]))
    container_scope = pulumi.Output.concat(
        state.account.id, "/blobServices/default/containers/", STATE_CONTAINER
    )
    assignable = assignable_roles(spec.pattern, spec.account, spec.project)
    self_assignable = self_assignable_roles(spec.pattern, spec.account, spec.project)
    protected_ids = pulumi.Output.all(*(p.principal_id for p in protected))
    grants: list[authorization.RoleAssignment] = []

    def assign(
        key: str,
        who: managedidentity.UserAssignedIdentity,
        definition: pulumi.Input[str],
        scope: pulumi.Input[str],
        opts: pulumi.ResourceOptions = o,
        condition: pulumi.Input[str] | None = None,
    ) -> None:
        grants.append(
            authorization.RoleAssignment(
                f"{name}-{key}",
                principal_id=who.principal_id,
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=definition,
                scope=scope,
                condition=condition,
                condition_version=ASSIGNMENT_CONDITION_VERSION if condition else None,
                description=f"aideploy bootstrap: {key}",
                opts=opts,
            )
        )

    builtin = security.role_definition_id
    for who_role, who in identities.items():
        envs = IDENTITY_STACKS[who_role]
        r = who_role.value
        if who_role in DEPLOYERS.values():
            assign(f"{r}-deploy", who, role.id, subscription, after_role)
            condition = pulumi.Output.all(who.principal_id, protected_ids).apply(
                lambda a: assignment_condition(assignable, self_assignable, a[0], a[1])
            )
            assign(
                f"{r}-rbac",
                who,
                builtin(RBAC_ADMINISTRATOR),
                subscription,
                condition=condition,
            )
            assign(
                f"{r}-state",
                who,
                builtin(security.BUILTIN_ROLES["storage-blob-data-contributor"]),
                container_scope,
                condition=identity_state_condition(spec, who_role),
            )
        elif who_role in READ_ONLY_ROLES:
            assign(f"{r}-reader", who, builtin(security.BUILTIN_ROLES["reader"]), subscription)
            assign(
                f"{r}-state",
                who,
                builtin(security.BUILTIN_ROLES["storage-blob-data-reader"]),
                container_scope,
                condition=identity_state_condition(spec, who_role),
            )
        # The secrets key of each environment this identity works on, in this subscription.
        for env in envs:
            if env in secrets.keys:
                assign(
                    f"{r}-key-{env.value}",
                    who,
                    builtin(security.BUILTIN_ROLES["key-vault-crypto-data-user"]),
                    secrets.keys[env].id,
                )
    return grants


def model_registry(
    spec: BootstrapSpec,
    name: str,
    rg: resources.ResourceGroup,
    secrets: SecretsVault,
    audit: operationalinsights.Workspace,
    publish: managedidentity.UserAssignedIdentity,
    pull: managedidentity.UserAssignedIdentity,
    o: pulumi.ResourceOptions,
) -> Registry:
    """The model registry (Premium: the tier with customer-managed keys, private endpoints
    for the workspaces' managed networks, and retention policies), publish and pull grants,
    and Defender for Containers' image scanning for the subscription."""
    cmk, encryption = secrets.cmk, secrets.encryption
    registry = containerregistry.Registry(
        f"{name}-registry",
        registry_name=spec.registry_name,
        resource_group_name=rg.name,
        location=spec.region,
        sku=containerregistry.SkuArgs(name=containerregistry.SkuName.PREMIUM),
        admin_user_enabled=False,
        anonymous_pull_enabled=False,
        # CI's hosted runners push and Container Apps pull over the public endpoint, signed in
        # with Entra ID identities (no admin user, no anonymous pull).
        public_network_access=containerregistry.PublicNetworkAccess.ENABLED,
        network_rule_bypass_options=containerregistry.NetworkRuleBypassOptions.AZURE_SERVICES,
        identity=encryption.id.apply(
            lambda i: containerregistry.IdentityPropertiesArgs(
                type=containerregistry.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities={i: containerregistry.UserIdentityPropertiesArgs()},
            )
        ),
        # The vault is reachable (Pulumi's secrets provider needs it), so the registry reads
        # the key as a user-assigned identity (review A6 is about firewalled vaults).
        encryption=containerregistry.EncryptionPropertyArgs(
            status=containerregistry.EncryptionStatus.ENABLED,
            key_vault_properties=containerregistry.KeyVaultPropertiesArgs(
                key_identifier=cmk.key_uri, identity=encryption.client_id
            ),
        ),
        tags=tags(spec),
        opts=pulumi.ResourceOptions.merge(
            security.after_key(cmk, o), pulumi.ResourceOptions(protect=True)
        ),
    )
    security.diagnostics(f"{name}-registry-diagnostics", registry.id, audit, o)
    builtin = security.role_definition_id
    authorization.RoleAssignment(
        f"{name}-publish-push",
        principal_id=publish.principal_id,
        principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
        role_definition_id=builtin(security.BUILTIN_ROLES["acr-push"]),
        scope=registry.id,
        description="aideploy bootstrap: CI pushes model images here, nowhere else",
        opts=o,
    )
    # Every subscription's pull identity pulls (this one's, and the other accounts', read by
    # name from their bootstrap resource group: run those bootstraps first).
    pullers: list[tuple[str, pulumi.Input[str]]] = [("pull", pull.principal_id)]
    for account in spec.pull_accounts:
        provider = azure_native.Provider(
            f"{name}-provider-{account[:8]}",
            subscription_id=account,
            tenant_id=spec.tenant,
            opts=o,
        )
        other = managedidentity.get_user_assigned_identity_output(
            resource_group_name=hosting.bootstrap_resource_group_name(spec.project),
            resource_name=hosting.pull_identity_name(spec.project),
            opts=pulumi.InvokeOutputOptions(provider=provider),
        )
        pullers.append((f"pull-{account[:8]}", other.principal_id))
    for key, principal in pullers:
        authorization.RoleAssignment(
            f"{name}-{key}-acr",
            principal_id=principal,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=builtin(security.BUILTIN_ROLES["acr-pull"]),
            scope=registry.id,
            description="aideploy bootstrap: the stacks of one subscription pull model images",
            opts=o,
        )
    # Image scanning is a subscription-wide plan (it also covers any AKS cluster there).
    defender.Pricing(
        f"{name}-defender-containers",
        pricing_name="Containers",
        pricing_tier=defender.PricingTier.STANDARD,
        scope_id=f"/subscriptions/{spec.account}",
        opts=o,
    )
    return Registry(registry, registry.login_server)
