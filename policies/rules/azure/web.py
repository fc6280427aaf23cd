"""Azure App Service / Functions, Container Apps and API Management (rule 24)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import (
    SECURITY,
    canonical_type,
    prop_at,
    resource_rule,
    stack_rule,
)
from policies.rules.references import checkov, mcsb
from policies.rules.settings import Present, Setting, same_value, settings_check, show

WEB_APP = "azure-native:web:WebApp"  # App Service and Function apps (kind "functionapp")
WEB_APP_SLOT = "azure-native:web:WebAppSlot"
CONTAINER_APP = "azure-native:app:ContainerApp"
API_MANAGEMENT = "azure-native:apimanagement:ApiManagementService"
API = "azure-native:apimanagement:Api"
MANAGED_ENVIRONMENT = "azure-native:app:ManagedEnvironment"
FRONT_DOOR_PROFILE = "azure-native:cdn:Profile"

_APP_TLS: tuple[Setting, ...] = (
    Setting("httpsOnly", (True,)),
    # The platform default minimum is 1.2; only an explicit older version fails.
    Setting("siteConfig.minTlsVersion", ("1.2", "1.3"), unset_ok=True),
    Setting("siteConfig.scmMinTlsVersion", ("1.2", "1.3"), unset_ok=True),
)
_APPS = {WEB_APP: _APP_TLS, WEB_APP_SLOT: _APP_TLS}

app_service_require_https_tls12 = resource_rule(
    "azure-app-service-require-https-tls12",
    "App Service and Function apps redirect to HTTPS and refuse TLS older than 1.2.",
    types=_APPS,
    check=settings_check(_APPS, "app must serve HTTPS only, with TLS 1.2 or newer"),
    severity=Severity.HIGH,
    tags=["encryption", "network", "tls"],
    remediation=(
        'Set `https_only=True` and `site_config=web.SiteConfigArgs(min_tls_version="1.2", '
        'scm_min_tls_version="1.2", ...)`.'
    ),
    references=[mcsb("DP-3"), checkov("CKV_AZURE_14"), checkov("CKV_AZURE_15")],
)

# Insecure (HTTP) ingress is off unless asked for.
_INGRESS = {CONTAINER_APP: (Setting("configuration.ingress.allowInsecure", (False,), True),)}

container_app_disallow_insecure_ingress = resource_rule(
    "azure-container-app-disallow-insecure-ingress",
    "Container Apps ingress refuses plain HTTP.",
    types=_INGRESS,
    check=settings_check(_INGRESS, "ingress must not accept plain HTTP"),
    severity=Severity.HIGH,
    tags=["encryption", "network", "tls"],
    remediation="Leave `configuration.ingress.allow_insecure` unset or set it to False.",
    references=[mcsb("DP-3")],
)

# -- Container Apps reachable from the internet (review C2) -----------------------------------
# ipSecurityRestrictions: all Allow rules = allow-list (everything else denied); all Deny rules =
# deny-list (everything else allowed). Only an allow-list without an open range restricts.
_OPEN_RANGES = frozenset({"0.0.0.0/0", "0.0.0.0", "*", "any", "internet", "::/0"})  # noqa: S104  # nosec B104 - address ranges


def _external_ingress(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    try:
        ingress = prop_at(props, "configuration.ingress")
        if not isinstance(ingress, Mapping) or ingress.get("external") is not True:
            return
        rules = ingress.get("ipSecurityRestrictions")
    except UnknownValueError:  # computed in preview: the update's check judges it
        return
    if rules is not None:
        if isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
            return  # not known until apply (e.g. built from the gateway's addresses)
        listed = list(rules)
        if not all(isinstance(r, Mapping) for r in listed):
            return
        allows = [r for r in listed if str(r.get("action", "")).lower() == "allow"]
        opened = [r for r in allows if str(r.get("ipAddressRange", "")).lower() in _OPEN_RANGES]
        if listed and len(allows) == len(listed) and not opened:
            return
    shown = show(rules) if rules is None else "not an allow-list of caller ranges"
    yield (
        "app is reachable from the internet: `configuration.ingress.external` is true and "
        f"`configuration.ingress.ipSecurityRestrictions` is {shown}; allow only the callers' "
        "ranges, or make the ingress internal."
    )


container_app_restrict_external_ingress = resource_rule(
    "azure-container-app-restrict-external-ingress",
    "Container Apps with external ingress admit only an allow-list of caller addresses (or are "
    "internal).",
    types=[CONTAINER_APP],
    check=_external_ingress,
    severity=Severity.MEDIUM,
    tags=["network", "network-exposure"],
    remediation=(
        "Set `ingress.ip_security_restrictions=[app.IpSecurityRestrictionRuleArgs(name=..., "
        'ip_address_range="<caller range>", action="Allow")]` (an allow-list), or '
        "`external=False` in a VNet-integrated environment; a caller that has no fixed range "
        "(a platform service tag) needs a waiver naming the authentication that replaces it."
    ),
    references=[mcsb("NS-2")],
    since=2,
)

_ENVIRONMENT_CMK = {
    MANAGED_ENVIRONMENT: (
        Present(
            "diskEncryptionConfiguration.keyVaultConfiguration.keyUrl",
            "the Key Vault key's versioned URL",
        ),
    ),
}

container_app_environment_require_cmk = resource_rule(
    "azure-container-app-environment-require-cmk",
    "Container Apps environments encrypt their disks with a customer-managed key.",
    types=_ENVIRONMENT_CMK,
    check=settings_check(
        _ENVIRONMENT_CMK, "environment disks are not encrypted with a customer-managed key"
    ),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Set `disk_encryption_configuration=app.DiskEncryptionConfigurationArgs("
        "key_vault_configuration=app.DiskEncryptionConfigurationKeyVaultConfigurationArgs("
        "key_url=<versioned key URL>, auth=...))` (preview API) with a network path to the vault."
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5")],
    since=2,
)

# API Management turns protocols on through customProperties keys ("True" / "False" strings);
# services created after April 2018 default every one of these to off.
_APIM_PREFIX = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security."
LEGACY_PROTOCOL_KEYS: tuple[str, ...] = tuple(
    f"{_APIM_PREFIX}{side}Protocols.{protocol}"
    for side in ("", "Backend.")
    for protocol in ("Ssl30", "Tls10", "Tls11")
)


def _apim_legacy_protocols(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    custom = props.get("customProperties")
    if not isinstance(custom, Mapping):
        return
    for key in LEGACY_PROTOCOL_KEYS:
        value = custom.get(key)
        if value is not None and not same_value(str(value), "False"):
            yield f"a legacy protocol is on: `customProperties[{key}]` is {value!r}."


apim_disable_legacy_tls = resource_rule(
    "azure-apim-disable-legacy-tls",
    "API Management gateways disable SSL 3.0, TLS 1.0 and TLS 1.1 (client and backend side).",
    types=[API_MANAGEMENT],
    check=_apim_legacy_protocols,
    severity=Severity.HIGH,
    tags=["encryption", "tls"],
    remediation=(
        "Remove the `...Security.[Backend.]Protocols.{Ssl30,Tls10,Tls11}` keys from "
        '`custom_properties` or set each to "False".'
    ),
    references=[mcsb("NS-8"), checkov("CKV_AZURE_173")],
)

# -- weak cipher suites (review C3) -----------------------------------------------------------
# The suites API Management lets a service disable that lack forward secrecy (TLS_RSA_*) or use
# CBC with SHA-1 (*_CBC_SHA), plus 3DES; each is on unless its key is "False".
WEAK_CIPHERS: tuple[str, ...] = (
    "TripleDes168",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
)
WEAK_CIPHER_KEYS: tuple[str, ...] = tuple(f"{_APIM_PREFIX}Ciphers.{c}" for c in WEAK_CIPHERS)


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and same_value(value, "False"))


def _apim_weak_ciphers(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    custom = props.get("customProperties")
    custom = custom if isinstance(custom, Mapping) else {}
    enabled = [k.rsplit(".", 1)[-1] for k in WEAK_CIPHER_KEYS if not _is_false(custom.get(k))]
    if enabled:
        yield (
            "gateway accepts weak TLS cipher suites (no forward secrecy or CBC-SHA): "
            f"{', '.join(enabled)} are on; set `customProperties[{_APIM_PREFIX}Ciphers.<suite>]` "
            'to "False" for each.'
        )


apim_disable_weak_ciphers = resource_rule(
    "azure-apim-disable-weak-ciphers",
    "API Management gateways disable 3DES, the TLS_RSA_* suites (no forward secrecy) and the "
    "*_CBC_SHA suites.",
    types=[API_MANAGEMENT],
    check=_apim_weak_ciphers,
    severity=Severity.MEDIUM,
    tags=["encryption", "tls"],
    remediation=(
        'Add `Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.<suite>: "False"` '
        "to `custom_properties` for TripleDes168 and every TLS_RSA_WITH_* and *_CBC_SHA suite the "
        "service lists as disableable (the ECDHE GCM suites stay)."
    ),
    references=[mcsb("NS-8"), checkov("CKV_AZURE_173")],
    since=2,
)

# -- subscription keys in URLs (review C5) ----------------------------------------------------
DEFAULT_QUERY_KEY = "subscription-key"


def _query_key(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if props.get("subscriptionRequired") is False:
        return
    name = prop_at(props, "subscriptionKeyParameterNames.query")
    if name is None or (isinstance(name, str) and same_value(name, DEFAULT_QUERY_KEY)):
        yield (
            "API accepts the subscription key in the query string under the default name: "
            f"`subscriptionKeyParameterNames.query` is {show(name)} (keys end up in access "
            "logs, proxies and browser history); set an unguessable name and reject it in the "
            "inbound policy, so the key travels in the header only."
        )


apim_disallow_query_subscription_key = resource_rule(
    "azure-apim-disallow-query-subscription-key",
    "APIs that require a subscription key take it from a header, not the query string.",
    types=[API],
    check=_query_key,
    severity=Severity.MEDIUM,
    tags=["authentication"],
    remediation=(
        "Set `subscription_key_parameter_names=apim.SubscriptionKeyParameterNamesContractArgs("
        'header="Ocp-Apim-Subscription-Key", query=<an unguessable name>)` and add an inbound '
        "policy returning 400 when the query string carries `subscription-key` or that name."
    ),
    references=[mcsb("IM-8")],
    since=2,
)

# -- API Management behind Front Door Premium (review C2) -------------------------------------
PREMIUM_FRONT_DOOR = "Premium_AzureFrontDoor"


def _read(resource: Any, path: str) -> Any:
    try:
        return prop_at(resource.props, path)
    except UnknownValueError:
        return None


def _public_origin(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    premium = [
        r
        for r in args.resources
        if canonical_type(r.resource_type) == FRONT_DOOR_PROFILE
        and str(_read(r, "sku.name") or "").lower() == PREMIUM_FRONT_DOOR.lower()
    ]
    if not premium:
        return
    for r in args.resources:
        if canonical_type(r.resource_type) != API_MANAGEMENT:
            continue
        access = _read(r, "publicNetworkAccess")
        if not (isinstance(access, str) and same_value(access, "Disabled")):
            yield (
                f"API Management '{r.name}' is reachable from the internet behind Front Door "
                f"Premium '{premium[0].name}': `publicNetworkAccess` is {show(access)}; connect "
                "Front Door through a Private Link origin and disable public network access.",
                r.urn,
            )


apim_require_private_origin = stack_rule(
    "azure-apim-require-private-origin",
    "An API Management service fronted by Front Door Premium is reached through a Private Link "
    "origin, with its own public network access off.",
    check=_public_origin,
    severity=Severity.MEDIUM,
    tags=["network", "network-exposure"],
    remediation=(
        "Add a Private Link origin from the Front Door Premium profile to the gateway "
        '(`shared_private_link_resource` with group id "Gateway"), approve the connection, then '
        'set `public_network_access="Disabled"` on the service (it cannot be disabled at '
        "creation)."
    ),
    # Advisory (review C2): it needs a second deployment step (approve, then disable).
    category=SECURITY,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("NS-2"), checkov("CKV_AZURE_174")],
    since=2,
    types=[API_MANAGEMENT, FRONT_DOOR_PROFILE],
)
