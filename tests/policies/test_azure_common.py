"""Shared fixtures of the Azure rule tests (one test module per rules module, like AWS's).

Each fixture is a small real program: a compliant resource whose one property a case overrides
(pulumi/compliance-policies style). ``findings_for`` captures it under mocks and evaluates one
rule with the inputs wrapped in the analyzer's read-only proxies, as the pack sees them.
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

from offline.capture import CapturedResource
from policies.rules import azure as azure_policies
from policies.rules.azure import authorization as authorization_rules
from policies.rules.azure import cognitive as cognitive_rules
from policies.rules.azure import data_services as data_services_rules
from policies.rules.azure import keyvault as keyvault_rules
from policies.rules.azure import ml as ml_rules
from policies.rules.azure import monitoring as monitoring_rules
from policies.rules.azure import registry as registry_rules
from policies.rules.azure import storage as storage_rules
from policies.rules.azure import web as web_rules
from policies.rules.base import OPERATIONAL, RULE_REFERENCES, SECURITY
from policies.rules.references import CATEGORIES
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
Program = Callable[[], object]
Case = tuple[Program, bool]
BY_NAME: dict[str, Policy] = {p.name: p for p in azure_policies.POLICIES}


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    """Names of the resources ``policy`` flags in ``program``."""
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def proxied(r: CapturedResource) -> CapturedResource:
    """The inputs as the analyzer hands them to a rule (read-only, unknown-checking)."""
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def judge_case(case: str, program: Program, violates: bool) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each single-property change is
    flagged on exactly that resource."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def params(cases: dict[str, Case]) -> list[tuple[str, Program, bool]]:
    """pytest parameters of a CASES table."""
    return [(k, *v) for k, v in cases.items()]


WAIVED = {"waivers": [{"resource": "target", "reason": "accepted risk: ticket SEC-123"}]}


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


# --- the rules of these modules: described, referenced, categorised ------------------------
MODULES = (
    authorization_rules,
    cognitive_rules,
    data_services_rules,
    keyvault_rules,
    ml_rules,
    monitoring_rules,
    registry_rules,
    storage_rules,
    web_rules,
)
MODULE_POLICIES = [
    p for p in azure_policies.POLICIES if any(p in vars(m).values() for m in MODULES)
]


@pytest.mark.parametrize("policy", MODULE_POLICIES, ids=lambda p: p.name)
def test_azure_rule_is_described_with_references_and_a_category(policy: Policy) -> None:
    assert policy.name.startswith("azure-"), policy.name
    assert policy.description and policy.remediation_steps and policy.severity is not None
    assert policy.tags and policy.tags[0] in {SECURITY, OPERATIONAL}, policy.name
    assert any(t in CATEGORIES for t in policy.tags), policy.name
    assert RULE_REFERENCES[policy.name], policy.name
