"""App Service / Function app rules (policies/rules/azure/functions.py) on small real
programs, one change per case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.web as web
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import functions
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
BY_NAME: dict[str, Policy] = {p.name: p for p in vars(functions).values() if isinstance(p, Policy)}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def site(
    identity: str | None = "SystemAssigned",
    public_network_access: str | None = "Disabled",
    **cfg: Any,
) -> web.WebApp:
    site_args: dict[str, Any] = {
        "min_tls_version": "1.2",
        "ftps_state": "Disabled",
        "remote_debugging_enabled": False,
    }
    return web.WebApp(
        TARGET,
        resource_group_name=RG,
        kind="functionapp,linux",
        https_only=True,
        public_network_access=public_network_access,
        identity=web.ManagedServiceIdentityArgs(type=web.ManagedServiceIdentityType(identity))
        if identity
        else None,
        site_config=web.SiteConfigArgs(**{**site_args, **cfg}),
    )


def app(**over: Any) -> Callable[[], object]:
    return lambda: site(**over)


def slot(**cfg: Any) -> Callable[[], object]:
    return lambda: web.WebAppSlot(
        TARGET,
        resource_group_name=RG,
        name="acme-fn",
        slot="staging",
        site_config=web.SiteConfigArgs(**{"ftps_state": "FtpsOnly", **cfg}),
    )


Case = tuple[Callable[[], object], bool]
FTP = "azure-web-app-disable-ftp"
DEBUG = "azure-web-app-disable-remote-debugging"
IDENTITY = "azure-web-app-require-managed-identity"
NETWORK = "azure-web-app-restrict-public-network"

CASES: dict[str, Case] = {
    f"{FTP}:ok": (app(), False),
    f"{FTP}:ftps-only": (app(ftps_state="FtpsOnly"), False),
    f"{FTP}:all-allowed": (app(ftps_state="AllAllowed"), True),
    f"{FTP}:unset": (app(ftps_state=None), True),
    f"{FTP}:slot-ok": (slot(), False),
    f"{FTP}:slot-all-allowed": (slot(ftps_state="AllAllowed"), True),
    f"{DEBUG}:ok": (app(), False),
    f"{DEBUG}:default": (app(remote_debugging_enabled=None), False),
    f"{DEBUG}:on": (app(remote_debugging_enabled=True, remote_debugging_version="VS2022"), True),
    f"{IDENTITY}:ok": (app(), False),
    f"{IDENTITY}:none": (app(identity=None), True),
    f"{NETWORK}:ok": (app(), False),
    f"{NETWORK}:access-restrictions": (
        app(public_network_access=None, ip_security_restrictions_default_action="Deny"),
        False,
    ),
    f"{NETWORK}:open": (app(public_network_access="Enabled"), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


# --- stack rules: basic publishing credentials, platform authentication ------------------------
BASIC = "azure-web-app-disable-basic-publishing-auth"
AUTH = "azure-web-app-require-authentication"


def publishing(
    ftp: bool | None = False, scm: bool | None = False, by_name: bool = False
) -> Callable[[], None]:
    def program() -> None:
        target = web.WebApp(TARGET, resource_group_name=RG, name="acme-fn", kind="functionapp")
        site_name = "acme-fn" if by_name else target.name
        if ftp is not None:
            web.WebAppFtpAllowed("ftp", resource_group_name=RG, name=site_name, allow=ftp)
        if scm is not None:
            web.WebAppScmAllowed("scm", resource_group_name=RG, name=site_name, allow=scm)

    return program


@pytest.mark.parametrize(
    ("case", "program", "flagged"),
    [
        ("both-off", publishing(), set()),
        ("both-off-by-literal-name", publishing(by_name=True), set()),
        ("ftp-on", publishing(ftp=True), {TARGET}),
        ("scm-policy-missing", publishing(scm=None), {TARGET}),
        ("no-policies", publishing(ftp=None, scm=None), {TARGET}),
    ],
)
def test_basic_publishing_auth(case: str, program: Callable[[], None], flagged: set[str]) -> None:
    """azure-web-app-disable-basic-publishing-auth: FTP and SCM basic auth both off."""
    assert findings_for(BY_NAME[BASIC], program) == flagged, case


def easy_auth(require: bool = True, enabled: bool = True) -> Callable[[], None]:
    def program() -> None:
        target = web.WebApp(TARGET, resource_group_name=RG, kind="functionapp")
        web.WebAppAuthSettingsV2(
            "auth",
            resource_group_name=RG,
            name=target.name,
            platform=web.AuthPlatformArgs(enabled=enabled),
            global_validation=web.GlobalValidationArgs(
                require_authentication=require,
                unauthenticated_client_action=web.UnauthenticatedClientActionV2(
                    "Return401" if require else "AllowAnonymous"
                ),
            ),
        )

    return program


def client_certificates(mode: str) -> Callable[[], None]:
    def program() -> None:
        web.WebApp(
            TARGET,
            resource_group_name=RG,
            kind="functionapp",
            client_cert_enabled=True,
            client_cert_mode=web.ClientCertMode(mode),
        )

    return program


def no_auth() -> None:
    web.WebApp(TARGET, resource_group_name=RG, kind="functionapp")


@pytest.mark.parametrize(
    ("case", "program", "flagged"),
    [
        ("easy-auth-required", easy_auth(), set()),
        ("client-certificates-required", client_certificates("Required"), set()),
        ("easy-auth-allows-anonymous", easy_auth(require=False), {TARGET}),
        ("easy-auth-off", easy_auth(enabled=False), {TARGET}),
        ("client-certificates-optional", client_certificates("Optional"), {TARGET}),
        ("nothing", no_auth, {TARGET}),
    ],
)
def test_require_authentication(case: str, program: Callable[[], None], flagged: set[str]) -> None:
    """azure-web-app-require-authentication: Easy Auth requiring a login, or client certs."""
    assert findings_for(BY_NAME[AUTH], program) == flagged, case


def test_message_names_the_policy_resource() -> None:
    """azure-web-app-disable-basic-publishing-auth says which publishing channel is open."""
    [finding] = evaluate([BY_NAME[BASIC]], [proxied(r) for r in run_program(publishing(ftp=True))])
    assert "FTP" in finding.message and "WebAppFtpAllowed `allow` is not false" in finding.message
