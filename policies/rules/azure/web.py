"""Azure App Service / Functions, Container Apps and API Management (rule 24)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import resource_rule
from policies.rules.settings import Setting, same_value, settings_check

WEB_APP = "azure-native:web:WebApp"  # App Service and Function apps (kind "functionapp")
WEB_APP_SLOT = "azure-native:web:WebAppSlot"
CONTAINER_APP = "azure-native:app:ContainerApp"
API_MANAGEMENT = "azure-native:apimanagement:ApiManagementService"

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
    tags=["encryption", "network"],
    remediation=(
        'Set `https_only=True` and `site_config=web.SiteConfigArgs(min_tls_version="1.2", '
        'scm_min_tls_version="1.2", ...)`.'
    ),
)

# Insecure (HTTP) ingress is off unless asked for.
_INGRESS = {CONTAINER_APP: (Setting("configuration.ingress.allowInsecure", (False,), True),)}

container_app_disallow_insecure_ingress = resource_rule(
    "azure-container-app-disallow-insecure-ingress",
    "Container Apps ingress refuses plain HTTP.",
    types=_INGRESS,
    check=settings_check(_INGRESS, "ingress must not accept plain HTTP"),
    severity=Severity.HIGH,
    tags=["encryption", "network"],
    remediation="Leave `configuration.ingress.allow_insecure` unset or set it to False.",
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
    tags=["encryption"],
    remediation=(
        "Remove the `...Security.[Backend.]Protocols.{Ssl30,Tls10,Tls11}` keys from "
        '`custom_properties` or set each to "False".'
    ),
)
