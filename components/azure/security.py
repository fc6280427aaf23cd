"""Azure security building blocks shared by every pattern: keys, identities, grants, log sinks.

Secure defaults live here so a pattern cannot forget them: Key Vault with RBAC, purge protection
and no public network; customer-managed keys with a rotation policy; one user-assigned identity
per role, granted a built-in or custom role scoped to exactly one resource (never Owner,
Contributor or User Access Administrator, never a resource group or subscription scope); a Log
Analytics workspace with the profile's retention and diagnostic settings that send every
data-plane resource's logs and metrics to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pulumi
import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage
import pulumiverse_time

from components.azure import roles
from components.naming import resource_name
from components.spec import DeploymentSpec

# Built-in role definition ids (the same GUIDs in every tenant). Only narrow data-plane roles;
# the broad ones (Owner 8e3af657-..., Contributor b24988ac-..., User Access Administrator
# 18d7d88d-...) are deliberately absent so no code path can grant them.
BUILTIN_ROLES: dict[str, str] = {
    "key-vault-crypto-user": "e147488a-f6f5-4113-8e2d-b22465e65bf6",  # Crypto Service Encryption
    "monitoring-metrics-publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "storage-blob-data-owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "monitoring-reader": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
    "storage-blob-data-reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "acr-pull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "acr-push": "8311e382-0749-4cb8-b61a-304f252e45ec",
    # Data-plane key management (create, rotate, delete keys, and every cryptographic operation)
    # on one vault: what the admin running bootstrap holds on the bootstrap vault (review A5).
    # The stacks' deployers use bootstrap's narrower key-creator role instead (roles.py).
    "key-vault-crypto-officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    # Encrypt/decrypt with one key: what Pulumi's azurekeyvault secrets provider does.
    "key-vault-crypto-data-user": "12338af0-0e69-4776-bea7-57ae8d297424",
    "key-vault-secrets-officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "app-insights-component-contributor": "ae349356-3a1b-4a5e-921d-050484c6347e",
    "storage-blob-data-contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    # Storage Blob Delegator: exactly blobServices/generateUserDelegationKey/action (no data
    # action), what a service needs to sign user-delegation SAS URLs; what those URLs may read
    # is still bounded by the service's own data role (the embedded device API).
    "storage-blob-delegator": "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
    # Call an Azure OpenAI account's inference APIs (no keys, no deployments, no account
    # changes): the serving identity of a hosted LLM (components/azure/guardrail.py).
    "cognitive-services-openai-user": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    # Call a Cognitive Services account's data plane (Content Safety's analyze and Prompt
    # Shields): a self-hosted LLM's hook. It also
    # lists keys, which are useless on these accounts: local (key) auth is off.
    "cognitive-services-user": "a97b65f3-24c7-4388-baec-2e87135dc908",
}

# Azure RBAC is eventually consistent: a new role assignment (or custom role definition) takes
# up to several minutes to reach every service, and a resource that uses it sooner fails at
# create time ("access denied", RoleDefinitionDoesNotExist). Consumers wait this long after the
# grant (pulumiverse_time.Sleep, on create only: a later `pulumi up` does not wait again).
RBAC_PROPAGATION = "120s"

# Key rotation: a new key version every 90 days, each version valid for a year, so a missed
# rotation is noticed (expiry notification) long before anything stops decrypting.
KEY_ROTATE_AFTER = "P90D"
KEY_EXPIRES_AFTER = "P1Y"
KEY_NOTIFY_BEFORE_EXPIRY = "P30D"

# Key Vault keeps deleted vaults and keys this many days (7-90). Prod-grade everywhere: parity.
SOFT_DELETE_DAYS = 90


@dataclass(frozen=True)
class KeyBundle:
    """A vault and the customer-managed key patterns encrypt with.

    ``key_uri`` and ``vault_uri`` are Outputs of the vault and the key, so whoever reads them
    depends on both. ``ready`` is what a consumer must wait for before it can use the key: the
    key, the encryption identity's grant on it and the RBAC propagation wait (review A1); pass
    it as ``depends_on`` (:func:`after_key`).
    """

    vault: keyvault.Vault
    key: keyvault.Key
    vault_name: str
    key_name: str
    vault_uri: pulumi.Output[str]
    key_uri: pulumi.Output[str]
    ready: tuple[pulumi.Resource, ...] = ()


def key_uri_of(vault: keyvault.Vault, key: keyvault.Key, key_name: str) -> pulumi.Output[str]:
    """The versionless key URI (``<vault uri>keys/<name>``), built from the vault's own
    ``properties.vault_uri`` and carrying the key as a dependency: consumers given it follow
    every rotation automatically, and Pulumi orders them after the key."""
    return pulumi.Output.all(vault.properties.vault_uri, key.id).apply(
        lambda a: f"{str(a[0]).rstrip('/')}/keys/{key_name}"
    )


def after_key(keys: KeyBundle, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """``opts`` plus a dependency on everything the key's consumers must wait for."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(keys.ready)))


def physical_name(spec: DeploymentSpec, kind: str, *parts: str) -> str:
    """A stack resource's physical name, with the stack's suffix when it has one.

    Names that are unique worldwide (storage accounts, registries, API Management, Service Bus,
    Cosmos DB, Front Door endpoints) or that Azure keeps after deletion (Key Vault, ML
    workspaces) carry ``spec.suffix``, so destroy-then-up works and two clients never collide
    (review #9). A stack without a suffix (generated before suffixes existed) keeps exactly
    the name it was deployed with.
    """
    suffix = (spec.suffix,) if spec.suffix is not None else ()
    return resource_name("azure", kind, spec.project, spec.environment.value, *parts, *suffix)


def rbac_wait(
    name: str, grants: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions
) -> pulumiverse_time.Sleep:
    """Wait :data:`RBAC_PROPAGATION` after ``grants`` are created (never on later updates)."""
    return pulumiverse_time.Sleep(
        name,
        create_duration=RBAC_PROPAGATION,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(grants))),
    )


# Public client applications a person signs in through (Azure CLI, Azure PowerShell): when the
# provider's client id is one of these, whoever runs `pulumi up` is a user, else a service
# principal (a CI managed identity). ARM rejects an assignment whose principalType is wrong.
INTERACTIVE_CLIENT_IDS: frozenset[str] = frozenset(
    {"04b07795-8ddb-461a-bbee-02f9e1bf7b46", "1950a258-227b-4e31-a9cf-717495945fc2"}
)


def deployer_object_id() -> pulumi.Output[str]:
    """The object id of whoever runs `pulumi up` (the CI deployer identity, or a person)."""
    return authorization.get_client_config_output().object_id


def deployer_principal_type() -> pulumi.Output[str]:
    """``User`` for a person signed in with the Azure CLI or PowerShell, else
    ``ServicePrincipal`` (the CI deployer identity)."""
    return authorization.get_client_config_output().client_id.apply(
        lambda c: "User" if c in INTERACTIVE_CLIENT_IDS else "ServicePrincipal"
    )


@dataclass(frozen=True)
class Identity:
    """A user-assigned managed identity for one role."""

    resource: managedidentity.UserAssignedIdentity

    @property
    def id(self) -> pulumi.Output[str]:
        """The identity's ARM resource id."""
        return self.resource.id

    @property
    def principal_id(self) -> pulumi.Output[str]:
        """The service principal object id role assignments refer to."""
        return self.resource.principal_id

    @property
    def client_id(self) -> pulumi.Output[str]:
        """The client (application) id apps use to ask for a token as this identity."""
        return self.resource.client_id


def resource_group_name(spec: DeploymentSpec) -> str:
    """The stack's resource group name (subscription-scoped and re-creatable: no suffix)."""
    return resource_name("azure", "resource-group", spec.project, spec.environment.value, "rg")


def resource_group(
    spec: DeploymentSpec, name: str, opts: pulumi.ResourceOptions
) -> resources.ResourceGroup:
    """The stack's resource group: every resource of one stack lives and dies together."""
    return resources.ResourceGroup(
        f"{name}-rg",
        resource_group_name=resource_group_name(spec),
        location=spec.region,
        tags=spec.standard_tags(),
        opts=opts,
    )


def subscription_id() -> pulumi.Output[str]:
    """The deploying subscription's id (from the provider's credentials)."""
    return authorization.get_client_config_output().subscription_id


def tenant_id() -> pulumi.Output[str]:
    """The deploying tenant's id."""
    return authorization.get_client_config_output().tenant_id


def hardened_vault(
    logical_name: str,
    spec: DeploymentSpec,
    vault_name: str,
    rg: resources.ResourceGroup,
    opts: pulumi.ResourceOptions,
    *,
    hsm: bool = False,
    public: bool = False,
) -> keyvault.Vault:
    """A Key Vault with RBAC authorization only (no access policies), soft delete for
    :data:`SOFT_DELETE_DAYS` and purge protection, never used by VM deployment, disk encryption
    or templates, and guarded against deletion as the profile says.

    ``hsm``: the Premium tier (HSM-protected keys). ``public``: reachable from any network
    (default: public network access off and the firewall denying by default; trusted Azure
    services still reach it through the bypass); the caller must say why.
    """
    return keyvault.Vault(
        logical_name,
        vault_name=vault_name,
        resource_group_name=rg.name,
        location=spec.region,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=tenant_id(),
            sku=keyvault.SkuArgs(
                family="A", name=keyvault.SkuName.PREMIUM if hsm else keyvault.SkuName.STANDARD
            ),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=SOFT_DELETE_DAYS,
            enable_purge_protection=True,
            public_network_access="Enabled" if public else "Disabled",
            network_acls=keyvault.NetworkRuleSetArgs(
                default_action=(
                    keyvault.NetworkRuleAction.ALLOW if public else keyvault.NetworkRuleAction.DENY
                ),
                bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES,
            ),
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
        ),
        tags=spec.standard_tags(),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=spec.retention.deletion_protection)
        ),
    )


@dataclass(frozen=True)
class KeyCreator:
    """The deployer's key-creator grant on one vault, and the wait for it to propagate: a key
    in the vault depends on both."""

    grant: authorization.RoleAssignment
    ready: pulumiverse_time.Sleep

    @property
    def depends_on(self) -> list[pulumi.Resource]:
        """What a key created in the vault must wait for."""
        return [self.grant, self.ready]


def deployer_key_creator(
    logical_name: str,
    spec: DeploymentSpec,
    vault: keyvault.Vault,
    key_description: str,
    opts: pulumi.ResourceOptions,
) -> KeyCreator:
    """Let the deployer create ``vault``'s keys (``<logical_name>-deployer-grant`` and
    ``-deployer-wait``).

    Creating a key in an RBAC vault is a data-plane action, authorised against the caller's
    Key Vault roles: subscription-level rights do not carry it (review A5). The deployer
    assigns itself bootstrap's key-creator role on this vault alone (create a key and set its
    rotation policy, no cryptographic operation: never Crypto Officer, which its role-assignment
    allow-list therefore need not hold); the key waits for it to propagate.
    """
    creator = authorization.RoleAssignment(
        f"{logical_name}-deployer-grant",
        principal_id=deployer_object_id(),
        principal_type=deployer_principal_type(),
        role_definition_id=custom_role_id(spec, roles.KEY_CREATOR),
        scope=vault.id,
        description=f"aideploy: the deployer creates this vault's {key_description} "
        "(key-creator role)",
        opts=opts,
    )
    return KeyCreator(creator, rbac_wait(f"{logical_name}-deployer-wait", [creator], opts))


def key_vault(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    opts: pulumi.ResourceOptions,
    role: str = "kv",
) -> KeyBundle:
    """A Key Vault (RBAC, purge protection, soft delete, no public network) and a rotating key.

    Public network access is off and the firewall denies by default; trusted Azure services
    (storage, Container Apps, Machine Learning) still reach the key through the bypass, which is
    how server-side encryption with a customer-managed key works without private endpoints.
    """
    vault_name = physical_name(spec, "key-vault", role)
    vault = hardened_vault(f"{name}-{role}", spec, vault_name, rg, opts)
    creator = deployer_key_creator(f"{name}-{role}", spec, vault, "key", opts)
    key_name = "cmk"
    key = keyvault.Key(
        f"{name}-{role}-cmk",
        key_name=key_name,
        vault_name=vault.name,
        resource_group_name=rg.name,
        properties=keyvault.KeyPropertiesArgs(
            kty=keyvault.JsonWebKeyType.RSA,
            key_size=3072,
            key_ops=["wrapKey", "unwrapKey", "encrypt", "decrypt"],
            attributes=keyvault.KeyAttributesArgs(enabled=True),
            rotation_policy=keyvault.RotationPolicyArgs(
                attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time=KEY_EXPIRES_AFTER),
                lifetime_actions=[
                    keyvault.LifetimeActionArgs(
                        trigger=keyvault.TriggerArgs(time_after_create=KEY_ROTATE_AFTER),
                        action=keyvault.ActionArgs(
                            type=keyvault.KeyRotationPolicyActionType.ROTATE
                        ),
                    ),
                    keyvault.LifetimeActionArgs(
                        trigger=keyvault.TriggerArgs(time_before_expiry=KEY_NOTIFY_BEFORE_EXPIRY),
                        action=keyvault.ActionArgs(
                            type=keyvault.KeyRotationPolicyActionType.NOTIFY
                        ),
                    ),
                ],
            ),
        ),
        tags=spec.standard_tags(),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[vault, *creator.depends_on])
        ),
    )
    return KeyBundle(
        vault=vault,
        key=key,
        vault_name=vault_name,
        key_name=key_name,
        vault_uri=vault.properties.vault_uri,
        key_uri=key_uri_of(vault, key, key_name),
        ready=(key,),
    )


def identity(
    spec: DeploymentSpec,
    name: str,
    role: str,
    rg: resources.ResourceGroup,
    opts: pulumi.ResourceOptions,
) -> Identity:
    """A user-assigned managed identity for one role (``serving``, ``gateway``, ``rollback``)."""
    return Identity(
        managedidentity.UserAssignedIdentity(
            f"{name}-id-{role}",
            resource_name_=resource_name(
                "azure", "default", spec.project, spec.environment.value, role
            ),
            resource_group_name=rg.name,
            location=spec.region,
            tags=spec.standard_tags(),
            opts=opts,
        )
    )


def role_definition_path(subscription: str, role_guid: str) -> str:
    """``/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>``."""
    provider = "providers/Microsoft.Authorization/roleDefinitions"
    return f"/subscriptions/{subscription}/{provider}/{role_guid}"


def role_definition_id(role_guid: pulumi.Input[str]) -> pulumi.Output[str]:
    """The subscription-qualified id of a role definition."""
    return pulumi.Output.all(subscription_id(), role_guid).apply(
        lambda a: role_definition_path(a[0], a[1])
    )


def custom_role_id(spec: DeploymentSpec, key: str) -> pulumi.Output[str]:
    """The id of bootstrap's custom role ``key`` in the deploying subscription (roles.py): the
    stack computes the GUID the bootstrap created the role with; it never defines one."""
    return subscription_id().apply(
        lambda sub: role_definition_path(sub, roles.custom_role_guid(sub, spec.project, key))
    )


def grant(
    name: str,
    who: Identity,
    role: str,
    scope: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    """Grant ``who`` one narrow built-in role (a key of BUILTIN_ROLES) on exactly ``scope``.

    ``scope`` must be a single resource's id: callers pass ``resource.id``, never a group or
    subscription, which is what keeps every grant least-privilege (policy rule 25).
    """
    return grant_principal(
        name, who.principal_id, role, scope, opts, authorization.PrincipalType.SERVICE_PRINCIPAL
    )


def grant_principal(
    name: str,
    principal_id: pulumi.Input[str],
    role: str,
    scope: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    principal_type: pulumi.Input[str],
) -> authorization.RoleAssignment:
    """:func:`grant` for any principal, e.g. the deploying user or pipeline identity."""
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=role_definition_id(BUILTIN_ROLES[role]),
        scope=scope,
        description=f"aideploy: {role} for one resource",
        opts=opts,
    )


def grant_custom(
    name: str,
    spec: DeploymentSpec,
    who: Identity,
    key: str,
    scope: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    """Assign bootstrap's custom role ``key`` (roles.py) to ``who`` on exactly ``scope``.

    Used where no built-in role is narrow enough (the rollback function may read and update one
    endpoint's traffic, nothing else). The role exists before the stack's first run (bootstrap
    creates it), so there is no replication race to wait for (review A13).
    """
    return authorization.RoleAssignment(
        name,
        principal_id=who.principal_id,
        principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
        role_definition_id=custom_role_id(spec, key),
        scope=scope,
        description=f"aideploy: {roles.CUSTOM_ROLES[key].title} on one resource",
        opts=opts,
    )


def log_workspace(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    opts: pulumi.ResourceOptions,
    private_ingestion: bool = False,
) -> operationalinsights.Workspace:
    """The stack's Log Analytics workspace, keeping logs ``retention.log_days`` (policy 26).

    Local (shared-key) auth is off: ingestion is by Azure Monitor with Entra identities only.
    ``private_ingestion`` turns public ingestion off, for a stack whose logs all arrive through
    diagnostic settings (Azure Monitor's own backbone) and never from an SDK (the embedded
    pattern); queries stay public (Entra-only).
    """
    return operationalinsights.Workspace(
        f"{name}-logs",
        resource_group_name=rg.name,
        location=spec.region,
        sku=operationalinsights.WorkspaceSkuArgs(
            name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018
        ),
        retention_in_days=max(spec.retention.log_days, 30),
        features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True),
        public_network_access_for_ingestion=(
            operationalinsights.PublicNetworkAccessType.DISABLED if private_ingestion else None
        ),
        tags=spec.standard_tags(),
        # Audit logs are evidence: deleting the workspace is guarded like the profile says.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=spec.retention.deletion_protection)
        ),
    )


def app_insights(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
    private_ingestion: bool = False,
) -> applicationinsights.Component:
    """Workspace-based Application Insights: its data lands in (and is retained by) ``workspace``.

    Local auth is off, so telemetry is accepted only from identities holding Monitoring Metrics
    Publisher on this component (granted per role with :func:`grant`). ``private_ingestion``
    as for :func:`log_workspace` (a stack with no SDK sender).
    """
    return applicationinsights.Component(
        f"{name}-appinsights",
        resource_group_name=rg.name,
        location=spec.region,
        kind="web",
        application_type=applicationinsights.ApplicationType.WEB,
        ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
        workspace_resource_id=workspace.id,
        retention_in_days=max(spec.retention.log_days, 30),
        disable_local_auth=True,
        public_network_access_for_ingestion=(
            applicationinsights.PublicNetworkAccessType.DISABLED if private_ingestion else None
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )


def diagnostics(
    name: str,
    resource_id: pulumi.Input[str],
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
    metrics: bool = True,
) -> monitor.DiagnosticSetting:
    """Send every log category (``allLogs``) and all metrics of a resource to the workspace.

    Resource-specific tables (``Dedicated``) keep each service's columns typed, which is what
    the alert queries in monitoring.py read.
    """
    return monitor.DiagnosticSetting(
        name,
        name="aideploy-to-log-analytics",
        resource_uri=resource_id,
        workspace_id=workspace.id,
        log_analytics_destination_type="Dedicated",
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
        metrics=(
            [monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)]
            if metrics
            else []
        ),
        opts=opts,
    )


def cmk_storage_account(
    spec: DeploymentSpec,
    name: str,
    role: str,
    rg: resources.ResourceGroup,
    keys: KeyBundle,
    owner: Identity,
    opts: pulumi.ResourceOptions,
    extra_tags: Mapping[str, str] | None = None,
    network_default_deny: bool = True,
) -> storage.StorageAccount:
    """A storage account encrypted with the customer-managed key (policies 17 and 18).

    TLS 1.2, HTTPS only, no public blob access, shared-key auth off (Entra only), network
    default Deny with the trusted-services bypass, infrastructure (double) encryption. The
    account reads the key as ``owner``, which must hold key-vault-crypto-user on the vault.
    ``network_default_deny=False`` only for a consumer that cannot join a network (say why).
    """
    account = storage.StorageAccount(
        f"{name}-st-{role}",
        account_name=physical_name(spec, "storage-account", role),
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
            default_action=(
                storage.DefaultAction.DENY if network_default_deny else storage.DefaultAction.ALLOW
            ),
            bypass=storage.Bypass.AZURE_SERVICES,
        ),
        identity=storage.IdentityArgs(
            type=storage.IdentityType.USER_ASSIGNED,
            user_assigned_identities=[owner.id],
        ),
        encryption=storage.EncryptionArgs(
            key_source=storage.KeySource.MICROSOFT_KEYVAULT,
            key_vault_properties=storage.KeyVaultPropertiesArgs(
                key_vault_uri=keys.vault_uri,
                key_name=keys.key.name.apply(lambda _: keys.key_name),
            ),
            encryption_identity=storage.EncryptionIdentityArgs(
                encryption_user_assigned_identity=owner.id
            ),
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                file=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                queue=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                table=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
            ),
        ),
        tags={**spec.standard_tags(), **(extra_tags or {})},
        opts=after_key(keys, opts),
    )
    return account


def blob_recovery(
    spec: DeploymentSpec,
    name: str,
    account: storage.StorageAccount,
    rg: resources.ResourceGroup,
    opts: pulumi.ResourceOptions,
) -> storage.BlobServiceProperties:
    """Deleted blobs and containers stay recoverable for ``retention.data_days`` (Azure's
    soft-delete maximum is 365 days), so a bad cleanup or a compromised identity cannot
    destroy data outright."""
    days = min(spec.retention.data_days, 365)
    return storage.BlobServiceProperties(
        f"{name}-blob-recovery",
        account_name=account.name,
        resource_group_name=rg.name,
        blob_services_name="default",
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=days),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=days
        ),
        opts=opts,
    )


def blob_service_diagnostics(
    name: str,
    account: storage.StorageAccount,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
) -> monitor.DiagnosticSetting:
    """Storage logs live on the blob service sub-resource, not the account: send both."""
    blob_service_id = account.id.apply(lambda i: f"{i}/blobServices/default")
    return diagnostics(name, blob_service_id, workspace, opts)


@dataclass(frozen=True)
class StorageLogs:
    """The two diagnostic settings that together log a storage account."""

    account: monitor.DiagnosticSetting
    blobs: monitor.DiagnosticSetting


def storage_logs(
    logical_prefix: str,
    account: storage.StorageAccount,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
) -> StorageLogs:
    """Log ``account`` to the workspace: its own metrics and logs
    (``<logical_prefix>-diagnostics``) and its blob service's data-plane log, which is where
    reads and writes are recorded (``<logical_prefix>-blob-diagnostics``)."""
    return StorageLogs(
        diagnostics(f"{logical_prefix}-diagnostics", account.id, workspace, opts),
        blob_service_diagnostics(f"{logical_prefix}-blob-diagnostics", account, workspace, opts),
    )


@dataclass(frozen=True)
class Foundation:
    """What every Azure pattern starts from: a group, a key, an encryption identity, logs."""

    rg: resources.ResourceGroup
    keys: KeyBundle
    encryption: Identity
    workspace: operationalinsights.Workspace
    insights: applicationinsights.Component


def foundation(
    spec: DeploymentSpec,
    name: str,
    opts: pulumi.ResourceOptions,
    private_ingestion: bool = False,
) -> Foundation:
    """Resource group, Key Vault + CMK, the identity services unwrap the key as, Log Analytics
    and Application Insights, with the vault's and the workspace's own audit logs kept.
    ``private_ingestion``: see :func:`log_workspace` (off by default: the serving patterns'
    SDKs and API Management send telemetry over the public ingestion endpoint)."""
    rg = resource_group(spec, name, opts)
    keys = key_vault(spec, name, rg, opts)
    encryption = identity(spec, name, "encryption", rg, opts)
    # Scoped to the key itself, not the vault: the identity can wrap/unwrap with this key only.
    key_grant = grant(
        f"{name}-encryption-key-grant", encryption, "key-vault-crypto-user", keys.key.id, opts
    )
    # Every CMK consumer waits for the key, this grant and its propagation (review A1).
    propagated = rbac_wait(f"{name}-encryption-key-wait", [key_grant], opts)
    keys = replace(keys, ready=(keys.key, key_grant, propagated))
    workspace = log_workspace(spec, name, rg, opts, private_ingestion)
    insights = app_insights(spec, name, rg, workspace, opts, private_ingestion)
    diagnostics(f"{name}-kv-diagnostics", keys.vault.id, workspace, opts)
    diagnostics(f"{name}-logs-diagnostics", workspace.id, workspace, opts)
    return Foundation(rg, keys, encryption, workspace, insights)
