"""Azure resource rules (17-24, 26 retention) on small real programs captured under mocks.

Each case starts from a compliant resource and changes one property (pulumi/compliance-policies
style). Inputs are wrapped in the analyzer's read-only proxies, as the pack sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.apimanagement as apim
import pulumi_azure_native.app as app
import pulumi_azure_native.cognitiveservices as cognitive
import pulumi_azure_native.containerregistry as acr
import pulumi_azure_native.cosmosdb as cosmosdb
import pulumi_azure_native.eventgrid as eventgrid
import pulumi_azure_native.eventhub as eventhub
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.servicebus as servicebus
import pulumi_azure_native.storage as storage
import pulumi_azure_native.web as web
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import azure as azure_policies
from policies.rules.azure import (
    data_services,
    monitoring,
)
from policies.rules.azure import (
    storage as storage_rules,
)
from policies.runner.capture import CapturedResource
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    """Names of the resources ``policy`` flags in ``program``."""
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def proxied(r: CapturedResource) -> CapturedResource:
    """The inputs as the analyzer hands them to a rule (read-only, unknown-checking)."""
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


# --- compliant fixtures; each takes the overrides of one case -------------------------------


def account(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "kind": "StorageV2",
        "sku": storage.SkuArgs(name="Standard_ZRS"),
        "minimum_tls_version": "TLS1_2",
        "enable_https_traffic_only": True,
        "allow_blob_public_access": False,
        "allow_shared_key_access": False,
        "public_network_access": "Disabled",
        "network_rule_set": storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.DENY),
        "encryption": storage.EncryptionArgs(
            key_source="Microsoft.Keyvault",
            key_vault_properties=storage.KeyVaultPropertiesArgs(
                key_name="data", key_vault_uri="https://kv.vault.azure.net"
            ),
        ),
    }
    return lambda: storage.StorageAccount(TARGET, **{**args, **over})


def container(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {"resource_group_name": RG, "account_name": "sa"}
    return lambda: storage.BlobContainer(TARGET, **{**args, **over})


def vault(**over: Any) -> Callable[[], object]:
    props: dict[str, Any] = {
        "sku": keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
        "tenant_id": "44444444-4444-4444-4444-444444444444",
        "enable_purge_protection": True,
        "enable_rbac_authorization": True,
        "public_network_access": "Disabled",
        "network_acls": keyvault.NetworkRuleSetArgs(default_action="Deny"),
    }
    return lambda: keyvault.Vault(
        TARGET,
        resource_group_name=RG,
        properties=keyvault.VaultPropertiesArgs(**{**props, **over}),
    )


def ai_account(
    identity: cognitive.ResourceIdentityType
    | None = cognitive.ResourceIdentityType.SYSTEM_ASSIGNED,
    **over: Any,
) -> Callable[[], object]:
    props: dict[str, Any] = {
        "disable_local_auth": True,
        "public_network_access": "Disabled",
        "custom_sub_domain_name": "acme-support",
    }
    return lambda: cognitive.Account(
        TARGET,
        resource_group_name=RG,
        kind="OpenAI",
        sku=cognitive.SkuArgs(name="S0"),
        identity=cognitive.IdentityArgs(type=identity) if identity else None,
        properties=cognitive.AccountPropertiesArgs(**{**props, **over}),
    )


def workspace(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {"resource_group_name": RG, "public_network_access": "Disabled"}
    return lambda: ml.Workspace(TARGET, **{**args, **over})


def endpoint(auth_mode: str) -> Callable[[], object]:
    return lambda: ml.OnlineEndpoint(
        TARGET,
        resource_group_name=RG,
        workspace_name="ws",
        properties=ml.OnlineEndpointPropertiesArgs(auth_mode=auth_mode),
    )


def registry_(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": acr.SkuArgs(name="Premium"),
        "admin_user_enabled": False,
        "anonymous_pull_enabled": False,
    }
    return lambda: acr.Registry(TARGET, **{**args, **over})


def cosmos(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "database_account_offer_type": cosmosdb.DatabaseAccountOfferType.STANDARD,
        "locations": [cosmosdb.LocationArgs(location_name="westeurope")],
        "disable_local_auth": True,
        "minimal_tls_version": "Tls12",
    }
    return lambda: cosmosdb.DatabaseAccount(TARGET, **{**args, **over})


def service_bus(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": servicebus.SBSkuArgs(name=servicebus.SkuName.PREMIUM),
        "disable_local_auth": True,
        "minimum_tls_version": "1.2",
    }
    return lambda: servicebus.Namespace(TARGET, **{**args, **over})


def event_hubs(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "disable_local_auth": True,
        "minimum_tls_version": "1.2",
    }
    return lambda: eventhub.Namespace(TARGET, **{**args, **over})


def event_grid(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "disable_local_auth": True,
        "minimum_tls_version_allowed": "1.2",
    }
    return lambda: eventgrid.Topic(TARGET, **{**args, **over})


def web_app(https_only: bool = True, **site: Any) -> Callable[[], object]:
    site_args: dict[str, Any] = {"min_tls_version": "1.2", "scm_min_tls_version": "1.2"}
    return lambda: web.WebApp(
        TARGET,
        resource_group_name=RG,
        kind="functionapp",
        https_only=https_only,
        site_config=web.SiteConfigArgs(**{**site_args, **site}),
    )


def container_app(**ingress: Any) -> Callable[[], object]:
    ingress_args: dict[str, Any] = {"external": True, "target_port": 8080}
    return lambda: app.ContainerApp(
        TARGET,
        resource_group_name=RG,
        configuration=app.ConfigurationArgs(ingress=app.IngressArgs(**{**ingress_args, **ingress})),
    )


_TLS10 = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10"
_BACKEND_SSL30 = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30"


def api_management(custom: dict[str, str] | None = None) -> Callable[[], object]:
    return lambda: apim.ApiManagementService(
        TARGET,
        resource_group_name=RG,
        publisher_email="ops@acme.example",
        publisher_name="acme",
        sku=apim.ApiManagementServiceSkuPropertiesArgs(name="StandardV2", capacity=1),
        custom_properties=custom,
    )


def log_workspace(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {"resource_group_name": RG, "retention_in_days": 90}
    return lambda: operationalinsights.Workspace(TARGET, **{**args, **over})


Case = tuple[Callable[[], object], bool]

CASES: dict[str, Case] = {
    # 17: TLS 1.2 / HTTPS only; no public blob access
    "azure-storage-require-tls12:tls12-ok": (account(), False),
    "azure-storage-require-tls12:tls12-tls10": (
        account(minimum_tls_version="TLS1_0"),
        True,
    ),
    "azure-storage-require-tls12:tls12-tls-unset": (
        account(minimum_tls_version=None),
        True,
    ),
    "azure-storage-require-tls12:tls12-http": (
        account(enable_https_traffic_only=False),
        True,
    ),
    "azure-storage-disallow-public-blob-access:public-ok": (account(), False),
    "azure-storage-disallow-public-blob-access:public-account": (
        account(allow_blob_public_access=True),
        True,
    ),
    "azure-storage-disallow-public-blob-access:public-account-unset": (
        account(allow_blob_public_access=None),
        True,
    ),
    "azure-storage-disallow-public-blob-access:public-container-ok": (container(), False),
    "azure-storage-disallow-public-blob-access:public-container-none": (
        container(public_access=storage.PublicAccess.NONE),
        False,
    ),
    "azure-storage-disallow-public-blob-access:public-container-blob": (
        container(public_access=storage.PublicAccess.BLOB),
        True,
    ),
    # 18: shared key, network, CMK
    "azure-storage-disable-shared-key:shared-key-ok": (account(), False),
    "azure-storage-disable-shared-key:shared-key-on": (
        account(allow_shared_key_access=True),
        True,
    ),
    "azure-storage-restrict-network-access:network-ok": (account(), False),
    "azure-storage-restrict-network-access:network-deny-only": (
        account(public_network_access=None),
        False,
    ),
    "azure-storage-restrict-network-access:network-open": (
        account(
            public_network_access="Enabled",
            network_rule_set=storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.ALLOW),
        ),
        True,
    ),
    "azure-storage-require-cmk:cmk-ok": (account(), False),
    "azure-storage-require-cmk:cmk-microsoft-keys": (
        account(encryption=storage.EncryptionArgs(key_source="Microsoft.Storage")),
        True,
    ),
    # 19: key vault
    "azure-keyvault-require-purge-protection:purge-ok": (vault(), False),
    "azure-keyvault-require-purge-protection:purge-unset": (
        vault(enable_purge_protection=None),
        True,
    ),
    "azure-keyvault-require-purge-protection:purge-soft-delete-off": (
        vault(enable_soft_delete=False),
        True,
    ),
    "azure-keyvault-restrict-network-access:kv-network-ok": (vault(), False),
    "azure-keyvault-restrict-network-access:kv-network-acl-only": (
        vault(public_network_access="Enabled"),
        False,
    ),
    "azure-keyvault-restrict-network-access:kv-network-open": (
        vault(public_network_access="Enabled", network_acls=None),
        True,
    ),
    "azure-keyvault-require-rbac-authorization:kv-rbac-ok": (vault(), False),
    "azure-keyvault-require-rbac-authorization:kv-rbac-access-policies": (
        vault(enable_rbac_authorization=False),
        True,
    ),
    # 20: AI services / OpenAI
    "azure-ai-services-disable-local-auth:ai-local-auth-ok": (ai_account(), False),
    "azure-ai-services-disable-local-auth:ai-local-auth-keys": (
        ai_account(disable_local_auth=False),
        True,
    ),
    "azure-ai-services-disable-public-network:ai-public-ok": (ai_account(), False),
    "azure-ai-services-disable-public-network:ai-public-enabled": (
        ai_account(public_network_access="Enabled"),
        True,
    ),
    "azure-ai-services-require-managed-identity:ai-identity-ok": (ai_account(), False),
    "azure-ai-services-require-managed-identity:ai-identity-none": (
        ai_account(identity=None),
        True,
    ),
    # 21: machine learning
    "azure-ml-workspace-disable-public-network:ml-public-ok": (workspace(), False),
    "azure-ml-workspace-disable-public-network:ml-public-enabled": (
        workspace(public_network_access="Enabled"),
        True,
    ),
    "azure-ml-endpoint-require-token-auth:ml-auth-aad": (endpoint("AADToken"), False),
    "azure-ml-endpoint-require-token-auth:ml-auth-key": (endpoint("Key"), True),
    # 22: container registry
    "azure-acr-disable-admin-and-anonymous-pull:acr-ok": (registry_(), False),
    "azure-acr-disable-admin-and-anonymous-pull:acr-defaults": (
        registry_(admin_user_enabled=None, anonymous_pull_enabled=None),
        False,
    ),
    "azure-acr-disable-admin-and-anonymous-pull:acr-admin": (
        registry_(admin_user_enabled=True),
        True,
    ),
    "azure-acr-disable-admin-and-anonymous-pull:acr-anonymous": (
        registry_(anonymous_pull_enabled=True),
        True,
    ),
    # 23: Cosmos DB, Service Bus, Event Grid, Event Hubs
    "azure-data-services-disable-local-auth:local-auth-cosmos-ok": (cosmos(), False),
    "azure-data-services-disable-local-auth:local-auth-cosmos-keys": (
        cosmos(disable_local_auth=False),
        True,
    ),
    "azure-data-services-disable-local-auth:local-auth-sb-unset": (
        service_bus(disable_local_auth=None),
        True,
    ),
    "azure-data-services-disable-local-auth:local-auth-eh-ok": (event_hubs(), False),
    "azure-data-services-disable-local-auth:local-auth-eg-keys": (
        event_grid(disable_local_auth=False),
        True,
    ),
    "azure-data-services-require-tls12:tls-sb-ok": (service_bus(), False),
    "azure-data-services-require-tls12:tls-sb-10": (
        service_bus(minimum_tls_version="1.0"),
        True,
    ),
    "azure-data-services-require-tls12:tls-cosmos-11": (
        cosmos(minimal_tls_version="Tls11"),
        True,
    ),
    "azure-data-services-require-tls12:tls-eg-ok": (event_grid(), False),
    "azure-data-services-require-tls12:tls-eh-11": (
        event_hubs(minimum_tls_version="1.1"),
        True,
    ),
    # 24: app service, container apps, API management
    "azure-app-service-require-https-tls12:app-ok": (web_app(), False),
    "azure-app-service-require-https-tls12:app-http": (web_app(https_only=False), True),
    "azure-app-service-require-https-tls12:app-tls10": (web_app(min_tls_version="1.0"), True),
    "azure-container-app-disallow-insecure-ingress:ca-ok": (container_app(), False),
    "azure-container-app-disallow-insecure-ingress:ca-insecure": (
        container_app(allow_insecure=True),
        True,
    ),
    "azure-apim-disable-legacy-tls:apim-ok": (api_management({_TLS10: "False"}), False),
    "azure-apim-disable-legacy-tls:apim-defaults": (api_management(), False),
    "azure-apim-disable-legacy-tls:apim-tls10": (api_management({_TLS10: "True"}), True),
    "azure-apim-disable-legacy-tls:apim-backend-ssl30": (
        api_management({_BACKEND_SSL30: "true"}),
        True,
    ),
    # 26: log retention (default minimum 30 days)
    "azure-log-analytics-require-retention:retention-ok": (log_workspace(), False),
    "azure-log-analytics-require-retention:retention-unset": (
        log_workspace(retention_in_days=None),
        False,
    ),
    "azure-log-analytics-require-retention:retention-short": (
        log_workspace(retention_in_days=7),
        True,
    ),
}


BY_NAME: dict[str, Policy] = {p.name: p for p in azure_policies.POLICIES}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each single-property change
    is flagged on exactly that resource."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def test_retention_minimum_comes_from_pack_config() -> None:
    """azure-log-analytics-require-retention: prod's 365-day minimum flags a 90-day workspace."""
    policy = monitoring.log_analytics_require_retention
    assert findings_for(policy, log_workspace(), {"minimumRetentionDays": 365}) == {TARGET}
    assert findings_for(policy, log_workspace(), {"minimumRetentionDays": 90}) == set()


def test_waiver_with_reason_skips_only_the_named_resource() -> None:
    """azure-storage-require-tls12 waived for one account still flags the other."""
    policy = storage_rules.storage_require_tls12

    def program() -> None:
        for name in ("legacy", "fresh"):
            storage.StorageAccount(
                name,
                resource_group_name=RG,
                kind="StorageV2",
                sku=storage.SkuArgs(name="Standard_LRS"),
                minimum_tls_version="TLS1_0",
            )

    waiver = {"waivers": [{"resource": "legacy", "reason": "old SDK client until 2027-01"}]}
    assert findings_for(policy, program, waiver) == {"fresh"}


def test_versioned_token_is_checked_like_the_default_one() -> None:
    """azure-storage-disallow-public-blob-access matches azure-native:storage/v2023...:... too."""
    policy = storage_rules.storage_disallow_public_blob_access
    resources = [
        replace(proxied(r), type="azure-native:storage/v20230101:StorageAccount")
        for r in run_program(account(allow_blob_public_access=True))
    ]
    assert names_violating(evaluate([policy], resources), policy.name) == {TARGET}


def test_message_names_the_property_and_the_fix() -> None:
    """azure-data-services-require-tls12 says which wire property is wrong and what to set."""
    policy = data_services.data_services_require_tls12
    resources = [proxied(r) for r in run_program(service_bus(minimum_tls_version="1.0"))]
    [finding] = evaluate([policy], resources)
    assert '`minimumTlsVersion` is "1.0"' in finding.message
    assert '"1.2"' in finding.message
