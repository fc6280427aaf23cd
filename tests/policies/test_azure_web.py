"""Azure App Service / Container Apps / API Management rules (24, C2, C3, C5, D-3): one change
per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_azure_native.apimanagement as apim
import pulumi_azure_native.app as app
import pulumi_azure_native.cdn as cdn
import pytest

from policies.rules.azure import web as web_rules
from tests.policies.harness import evaluate, names_violating, run_program
from tests.policies.test_azure_common import (
    _BACKEND_SSL30,
    _TLS10,
    RG,
    TARGET,
    WAIVED,
    Case,
    Program,
    api_management,
    container_app,
    findings_for,
    judge_case,
    params,
    proxied,
    web_app,
)

ALL_CIPHERS_OFF = {k: "False" for k in web_rules.WEAK_CIPHER_KEYS}
ONE_CIPHER_ON = {**ALL_CIPHERS_OFF, web_rules.WEAK_CIPHER_KEYS[1]: "True"}


def allow(range_: str) -> app.IpSecurityRestrictionRuleArgs:
    return app.IpSecurityRestrictionRuleArgs(name="apim", ip_address_range=range_, action="Allow")


def environment(**over: Any) -> Program:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "disk_encryption_configuration": app.DiskEncryptionConfigurationArgs(
            key_vault_configuration=app.DiskEncryptionConfigurationKeyVaultConfigurationArgs(
                key_url="https://kv.vault.azure.net/keys/cmk/0123456789abcdef"
            )
        ),
    }
    return lambda: app.ManagedEnvironment(TARGET, **{**args, **over})


def api(**over: Any) -> Program:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "service_name": "gw",
        "path": "model",
        "protocols": [apim.Protocol.HTTPS],
        "subscription_required": True,
        "subscription_key_parameter_names": apim.SubscriptionKeyParameterNamesContractArgs(
            header="Ocp-Apim-Subscription-Key", query="k3f9d0a7c1b2e4f6a8d0c2e4f6a8b0c2d"
        ),
    }
    return lambda: apim.Api(TARGET, **{**args, **over})


def fronted_gateway(front_door_sku: str, public: str | None) -> Program:
    def program() -> None:
        cdn.Profile(
            "edge", resource_group_name=RG, location="global", sku=cdn.SkuArgs(name=front_door_sku)
        )
        apim.ApiManagementService(
            TARGET,
            resource_group_name=RG,
            publisher_email="ops@acme.example",
            publisher_name="acme",
            sku=apim.ApiManagementServiceSkuPropertiesArgs(name="Standard", capacity=1),
            public_network_access=public,
        )

    return program


CASES: dict[str, Case] = {
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
    # C2: external ingress restricted
    "azure-container-app-restrict-external-ingress:ca-open": (container_app(), True),
    "azure-container-app-restrict-external-ingress:ca-allow-list": (
        container_app(ip_security_restrictions=[allow("20.1.2.3/32")]),
        False,
    ),
    "azure-container-app-restrict-external-ingress:ca-internal": (
        container_app(external=False),
        False,
    ),
    "azure-container-app-restrict-external-ingress:ca-deny-list": (
        container_app(
            ip_security_restrictions=[
                app.IpSecurityRestrictionRuleArgs(
                    name="bad", ip_address_range="6.6.6.6/32", action="Deny"
                )
            ]
        ),
        True,
    ),
    "azure-container-app-restrict-external-ingress:ca-allow-all": (
        container_app(ip_security_restrictions=[allow("0.0.0.0/0")]),
        True,
    ),
    # D-3: environment disks CMK (advisory)
    "azure-container-app-environment-require-cmk:env-cmk-ok": (environment(), False),
    "azure-container-app-environment-require-cmk:env-cmk-unset": (
        environment(disk_encryption_configuration=None),
        True,
    ),
    # C3: weak ciphers
    "azure-apim-disable-weak-ciphers:ciphers-off": (api_management(ALL_CIPHERS_OFF), False),
    "azure-apim-disable-weak-ciphers:ciphers-defaults": (api_management(), True),
    "azure-apim-disable-weak-ciphers:one-cipher-on": (api_management(ONE_CIPHER_ON), True),
    # C5: subscription key in the query string
    "azure-apim-disallow-query-subscription-key:query-unguessable": (api(), False),
    "azure-apim-disallow-query-subscription-key:query-default": (
        api(
            subscription_key_parameter_names=apim.SubscriptionKeyParameterNamesContractArgs(
                header="Ocp-Apim-Subscription-Key", query="subscription-key"
            )
        ),
        True,
    ),
    "azure-apim-disallow-query-subscription-key:query-unset": (
        api(subscription_key_parameter_names=None),
        True,
    ),
    "azure-apim-disallow-query-subscription-key:no-key-required": (
        api(subscription_required=False, subscription_key_parameter_names=None),
        False,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)


@pytest.mark.parametrize(
    ("sku", "public", "flagged"),
    [
        ("Premium_AzureFrontDoor", None, {TARGET}),
        ("Premium_AzureFrontDoor", "Enabled", {TARGET}),
        ("Premium_AzureFrontDoor", "Disabled", set()),
        ("Standard_AzureFrontDoor", None, set()),
    ],
    ids=["premium-public-default", "premium-public", "premium-private", "standard"],
)
def test_apim_behind_front_door_premium_needs_a_private_origin(
    sku: str, public: str | None, flagged: set[str]
) -> None:
    """azure-apim-require-private-origin: a gateway fronted by Front Door Premium is private."""
    policy = web_rules.apim_require_private_origin
    resources = [proxied(r) for r in run_program(fronted_gateway(sku, public))]
    assert names_violating(evaluate([policy], resources), policy.name) == flagged


def test_new_web_rules_honour_waivers() -> None:
    assert (
        findings_for(web_rules.container_app_restrict_external_ingress, container_app(), WAIVED)
        == set()
    )
    assert findings_for(web_rules.apim_disable_weak_ciphers, api_management(), WAIVED) == set()
    policy = web_rules.apim_require_private_origin
    resources = [proxied(r) for r in run_program(fronted_gateway("Premium_AzureFrontDoor", None))]
    assert (
        names_violating(evaluate([policy], resources, {policy.name: WAIVED}), policy.name) == set()
    )
