"""App Service and Function apps a client adds: no FTP, no remote debugging, no basic
(publishing-credential) authentication, a managed identity, restricted inbound networks and
caller authentication.

HTTPS-only and TLS 1.2 are web.py's rule (azure-app-service-require-https-tls12).
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    Severity,
    StackValidationArgs,
)

from policies.rules.azure.state import UNKNOWN, links_to, names_unknown, of_type, read
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import AnyOf, Setting, settings_check

WEB_APP = "azure-native:web:WebApp"  # App Service and Function apps (kind "functionapp,...")
WEB_APP_SLOT = "azure-native:web:WebAppSlot"
FTP_ALLOWED = "azure-native:web:WebAppFtpAllowed"  # basicPublishingCredentialsPolicies/ftp
SCM_ALLOWED = "azure-native:web:WebAppScmAllowed"  # basicPublishingCredentialsPolicies/scm
AUTH_V2 = "azure-native:web:WebAppAuthSettingsV2"
AUTH_V1 = "azure-native:web:WebAppAuthSettings"
# Child resources of a site name it by its `name` input.
_SITE_NAME = ("name",)

_FTP = {
    token: (Setting("siteConfig.ftpsState", ("Disabled", "FtpsOnly")),)
    for token in (WEB_APP, WEB_APP_SLOT)
}

web_app_disable_ftp = resource_rule(
    "azure-web-app-disable-ftp",
    "App Service and Function apps accept no plain FTP deployments (FTPS only, or FTP off).",
    types=_FTP,
    check=settings_check(_FTP, "app accepts deployments over plain-text FTP"),
    severity=Severity.HIGH,
    tags=["tls", "encryption"],
    remediation='Set `site_config=web.SiteConfigArgs(ftps_state="Disabled", ...)`.',
    references=[checkov("CKV_AZURE_78"), mcsb("DP-3")],
    since=2,
)

# Remote debugging is off unless turned on.
_DEBUG = {
    token: (Setting("siteConfig.remoteDebuggingEnabled", (False,), unset_ok=True),)
    for token in (WEB_APP, WEB_APP_SLOT)
}

web_app_disable_remote_debugging = resource_rule(
    "azure-web-app-disable-remote-debugging",
    "App Service and Function apps have remote debugging off.",
    types=_DEBUG,
    check=settings_check(_DEBUG, "app opens a remote debugging port to the internet"),
    severity=Severity.HIGH,
    tags=["network-exposure"],
    remediation="Remove `remote_debugging_enabled=True` from `site_config`.",
    references=[checkov("CKV_AZURE_72"), checkov("CKV_AZURE_155"), mcsb("PV-2")],
    since=2,
)

_IDENTITY = {
    token: (
        Setting(
            "identity.type",
            ("SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned"),
        ),
    )
    for token in (WEB_APP, WEB_APP_SLOT)
}

web_app_require_managed_identity = resource_rule(
    "azure-web-app-require-managed-identity",
    "App Service and Function apps have a managed identity (no connection strings or keys "
    "to the resources they reach).",
    types=_IDENTITY,
    check=settings_check(_IDENTITY, "app has no managed identity and authenticates with secrets"),
    severity=Severity.LOW,
    tags=["authentication"],
    remediation='Set `identity=web.ManagedServiceIdentityArgs(type="SystemAssigned")`.',
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_71"), mcsb("IM-3")],
    since=2,
)

_NETWORK = {
    token: (
        AnyOf(
            (
                Setting("publicNetworkAccess", ("Disabled",)),
                Setting("siteConfig.ipSecurityRestrictionsDefaultAction", ("Deny",)),
            )
        ),
    )
    for token in (WEB_APP, WEB_APP_SLOT)
}

web_app_restrict_public_network = resource_rule(
    "azure-web-app-restrict-public-network",
    "App Service and Function apps are not open to every network (public access off, or "
    "access restrictions that deny by default).",
    types=_NETWORK,
    check=settings_check(_NETWORK, "app is reachable from the whole internet"),
    severity=Severity.MEDIUM,
    tags=["network-exposure", "public-access"],
    remediation=(
        'Set `public_network_access="Disabled"` with a private endpoint, or `site_config='
        'web.SiteConfigArgs(ip_security_restrictions_default_action="Deny", '
        "ip_security_restrictions=[...])` allowing the front door / gateway only."
    ),
    # A public web app behind its own auth is a legitimate design: advisory in dev.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_222"), checkov("CKV_AZURE_221"), mcsb("NS-2")],
    since=2,
)


def _site_children(
    args: StackValidationArgs, token: str, site: PolicyResource
) -> list[PolicyResource]:
    return [c for c in of_type(args.resources, token) if links_to(c, "name", site, _SITE_NAME)]


def _basic_auth_open(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    policies = of_type(args.resources, FTP_ALLOWED, SCM_ALLOWED)
    if any(names_unknown(p, "name") for p in policies):
        return
    for site in of_type(args.resources, WEB_APP):
        for token, what in ((FTP_ALLOWED, "FTP"), (SCM_ALLOWED, "SCM (Kudu / zip deploy)")):
            mine = _site_children(args, token, site)
            allowed = [read(p.props, "allow") for p in mine]
            if mine and all(a is False or a is UNKNOWN for a in allowed):
                continue
            kind = token.rsplit(":", 1)[-1]
            yield (
                f"app '{site.name}' accepts basic (username/password) authentication for "
                f"{what} publishing: "
                + (
                    "no " + kind + " resource sets `allow` = false."
                    if not mine
                    else f"{kind} `allow` is not false."
                )
                + " Deploy with Entra ID (publish profile secrets never expire).",
                site.urn,
            )


web_app_disable_basic_publishing_auth = stack_rule(
    "azure-web-app-disable-basic-publishing-auth",
    "App Service and Function apps turn off basic-auth publishing credentials for FTP and SCM "
    "(WebAppFtpAllowed and WebAppScmAllowed with allow false).",
    check=_basic_auth_open,
    severity=Severity.MEDIUM,
    tags=["authentication"],
    remediation=(
        "Add `web.WebAppFtpAllowed(name=<app>.name, resource_group_name=..., allow=False)` and "
        "`web.WebAppScmAllowed(name=<app>.name, resource_group_name=..., allow=False)`; deploy "
        "from CI with an Entra ID (OIDC) identity."
    ),
    category=SECURITY,
    references=[mcsb("IM-1")],
    since=2,
)


def _has_client_certificates(site: PolicyResource) -> bool:
    enabled = read(site.props, "clientCertEnabled")
    mode = read(site.props, "clientCertMode")
    if enabled is UNKNOWN:
        return True
    # Mode Required is the default once client certificates are on.
    return enabled is True and (mode is None or mode is UNKNOWN or mode == "Required")


def _auth_v2_enforced(setting: PolicyResource) -> bool:
    platform = read(setting.props, "platform.enabled")
    required = read(setting.props, "globalValidation.requireAuthentication")
    action = read(setting.props, "globalValidation.unauthenticatedClientAction")
    if UNKNOWN in (platform, required, action):
        return True
    return platform is True and (
        required is True
        or (isinstance(action, str) and action in {"Return401", "Return403", "RedirectToLoginPage"})
    )


def _unauthenticated_apps(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    settings = of_type(args.resources, AUTH_V2, AUTH_V1)
    if any(names_unknown(s, "name") for s in settings):
        return
    for site in of_type(args.resources, WEB_APP):
        if _has_client_certificates(site):
            continue
        v2 = _site_children(args, AUTH_V2, site)
        v1 = _site_children(args, AUTH_V1, site)
        if any(_auth_v2_enforced(s) for s in v2):
            continue
        if any(read(s.props, "enabled") in (True, UNKNOWN) for s in v1):
            continue
        kind = read(site.props, "kind")
        what = "function app" if isinstance(kind, str) and "functionapp" in kind else "app"
        yield (
            f"{what} '{site.name}' allows unauthenticated calls at the platform: no "
            "WebAppAuthSettingsV2 with `platform.enabled` and `globalValidation."
            "requireAuthentication` true, and `clientCertEnabled` is not true (function keys "
            "are shared secrets, and anonymous HTTP triggers need none).",
            site.urn,
        )


web_app_require_authentication = stack_rule(
    "azure-web-app-require-authentication",
    "App Service and Function apps authenticate callers at the platform: App Service "
    "authentication (Easy Auth, WebAppAuthSettingsV2) requiring a login, or required client "
    "certificates.",
    check=_unauthenticated_apps,
    severity=Severity.MEDIUM,
    tags=["authentication"],
    remediation=(
        "Add `web.WebAppAuthSettingsV2(name=<app>.name, platform=web.AuthPlatformArgs("
        "enabled=True), global_validation=web.GlobalValidationArgs(require_authentication=True, "
        'unauthenticated_client_action="Return401"), identity_providers=...)`, or set '
        '`client_cert_enabled=True, client_cert_mode="Required"` on the app.'
    ),
    # Apps behind a gateway that authenticates (APIM validate-jwt) are a legitimate design.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[
        checkov("CKV_AZURE_56"),
        checkov("CKV_AZURE_13"),
        checkov("CKV_AZURE_17"),
        mcsb("IM-1"),
    ],
    since=2,
)
