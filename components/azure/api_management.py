"""Azure building blocks for API Management, used by the api-first pattern (the model's gateway
behind Front Door) and the embedded pattern (the device API, components/azure/delivery.py).

* :func:`create_gateway`: the hardened gateway service: a classic tier (fixed public addresses,
  the documented protocol switches), every legacy protocol and weak cipher off, HTTP/2 on, both
  developer portals off, and its logs and metrics sent to the stack's workspace.
* :func:`ingress_allow_list`: the Container Apps ingress rules that admit the gateway's public
  addresses alone, so a backend cannot be called around the gateway.
* :func:`create_backend`: a backend whose TLS certificate chain and name are validated.
* :func:`create_api`: an HTTPS-only API.
* :func:`create_api_policy`: an API's raw-XML policy, written with :func:`policy_document`
  and the fragments below (JWT validation, per-consumer limits, body size).

Blocks are plain functions: the caller passes its own ``opts`` (``parent=`` the pattern
component) and the logical names the resources always had, so their URNs do not change
(tests/components/test_urn_snapshots.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pulumi
import pulumi_azure_native.apimanagement as apim
import pulumi_azure_native.app as app
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components.azure import security
from components.spec import DeploymentSpec, GatewayTier

# API Management SKU per neutral gateway tier (capacity.gateway_tier, a declared difference in
# the profiles; every tier below supports the same policies, so behaviour is identical).
# Classic tiers: the ones with the documented protocol/cipher switches and stable addresses.
APIM_SKU: dict[GatewayTier, str] = {
    GatewayTier.DEVELOPER: "Developer",
    GatewayTier.STANDARD: "Standard",
    GatewayTier.PREMIUM: "Premium",
}

_APIM_SECURITY = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security"
# HTTP/2 between clients and the gateway. The key is the one the SDK documents (no
# ".Security" segment; review A14): a misspelt key is rejected or silently ignored.
APIM_HTTP2_PROPERTY = "Microsoft.WindowsAzure.ApiManagement.Gateway.Protocols.Server.Http2"
# Every legacy protocol and weak cipher off, client side and backend side (policy rule 24).
APIM_TLS_PROPERTIES: dict[str, str] = {
    f"{_APIM_SECURITY}.Protocols.Tls10": "False",
    f"{_APIM_SECURITY}.Protocols.Tls11": "False",
    f"{_APIM_SECURITY}.Protocols.Ssl30": "False",
    f"{_APIM_SECURITY}.Backend.Protocols.Tls10": "False",
    f"{_APIM_SECURITY}.Backend.Protocols.Tls11": "False",
    f"{_APIM_SECURITY}.Backend.Protocols.Ssl30": "False",
    f"{_APIM_SECURITY}.Ciphers.TripleDes168": "False",
    # Suites without forward secrecy (TLS_RSA_*) and CBC with SHA-1 (*_CBC_SHA), every one the
    # service lets us disable (review C3); the ECDHE GCM suites stay, as do TLS 1.3's.
    **{
        f"{_APIM_SECURITY}.Ciphers.{suite}": "False"
        for suite in (
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
    },
    APIM_HTTP2_PROPERTY: "True",
}


def gateway_capacity(spec: DeploymentSpec) -> int:
    """The gateway's scale units: the profile's, except on the Developer tier, which has
    exactly one unit."""
    if spec.capacity.gateway_tier is GatewayTier.DEVELOPER:
        return 1
    return spec.capacity.gateway_units


@dataclass(frozen=True)
class Gateway:
    """A hardened API Management service and the diagnostic setting that logs it."""

    service: apim.ApiManagementService
    name: str  # the physical service name: <name>.azure-api.net
    diagnostics: monitor.DiagnosticSetting

    @property
    def host(self) -> str:
        """The gateway's public host name."""
        return f"{self.name}.azure-api.net"


def create_gateway(
    logical_name: str,
    spec: DeploymentSpec,
    service_name: str,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
    identity: security.Identity | None = None,
) -> Gateway:
    """The API Management service ``service_name`` on the spec's gateway tier, hardened (module
    docstring), with its diagnostic setting ``<logical_name>-diagnostics``. ``identity``: the
    user-assigned identity the gateway signs in as (its logger's telemetry), if any."""
    service = apim.ApiManagementService(
        logical_name,
        service_name=service_name,
        resource_group_name=rg.name,
        location=spec.region,
        publisher_email=spec.owner,
        publisher_name=spec.project,
        sku=apim.ApiManagementServiceSkuPropertiesArgs(
            name=APIM_SKU[spec.capacity.gateway_tier], capacity=gateway_capacity(spec)
        ),
        identity=(
            identity.id.apply(
                lambda i: apim.ApiManagementServiceIdentityArgs(
                    type=apim.ApimIdentityType.USER_ASSIGNED,
                    user_assigned_identities={i: apim.UserIdentityPropertiesArgs()},
                )
            )
            if identity is not None
            else None
        ),
        custom_properties=APIM_TLS_PROPERTIES,
        # The legacy developer portal is off; consumers get keys from the owner.
        legacy_portal_status=apim.LegacyPortalStatus.DISABLED,
        developer_portal_status=apim.DeveloperPortalStatus.DISABLED,
        tags=spec.standard_tags(),
        opts=opts,
    )
    diagnostics = security.diagnostics(f"{logical_name}-diagnostics", service.id, workspace, opts)
    return Gateway(service, service_name, diagnostics)


def ingress_allow_list(
    gateway: apim.ApiManagementService,
) -> pulumi.Output[list[app.IpSecurityRestrictionRuleArgs]]:
    """Container Apps ingress rules allowing the gateway's public addresses and nothing else
    (Container Apps denies every address no allow rule names)."""
    return gateway.public_ip_addresses.apply(
        lambda ips: [
            app.IpSecurityRestrictionRuleArgs(
                name=f"apim-{i}",
                ip_address_range=f"{ip}/32",
                action=app.Action.ALLOW,
                description="API Management gateway",
            )
            for i, ip in enumerate(ips or [])
        ]
    )


def create_backend(
    logical_name: str,
    rg: resources.ResourceGroup,
    gateway: apim.ApiManagementService,
    backend_id: str,
    url: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> apim.Backend:
    """The backend ``backend_id`` at ``url``; the gateway validates its certificate's chain and
    name, so nothing between the gateway and the backend can stand in for it."""
    return apim.Backend(
        logical_name,
        resource_group_name=rg.name,
        service_name=gateway.name,
        backend_id=backend_id,
        protocol=apim.BackendProtocol.HTTP,
        url=url,
        tls=apim.BackendTlsPropertiesArgs(
            validate_certificate_chain=True, validate_certificate_name=True
        ),
        opts=opts,
    )


def create_api(
    logical_name: str,
    rg: resources.ResourceGroup,
    gateway: apim.ApiManagementService,
    api_id: str,
    display_name: str,
    path: str,
    service_url: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    subscription_required: bool = False,
    key_names: apim.SubscriptionKeyParameterNamesContractArgs | None = None,
) -> apim.Api:
    """An API on the gateway served over HTTPS only; a subscription key only when asked for,
    and then read where ``key_names`` says."""
    return apim.Api(
        logical_name,
        resource_group_name=rg.name,
        service_name=gateway.name,
        api_id=api_id,
        display_name=display_name,
        path=path,
        protocols=[apim.Protocol.HTTPS],
        subscription_required=subscription_required,
        subscription_key_parameter_names=key_names,
        service_url=service_url,
        opts=opts,
    )


def create_api_policy(
    logical_name: str,
    rg: resources.ResourceGroup,
    gateway: apim.ApiManagementService,
    api: apim.Api,
    xml: str,
    depends_on: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> apim.ApiPolicy:
    """``api``'s policy as raw XML. ``depends_on``: what the XML names (backends, named
    values): APIM refuses a policy that names one that does not exist yet."""
    return apim.ApiPolicy(
        logical_name,
        resource_group_name=rg.name,
        service_name=gateway.name,
        api_id=api.name,
        policy_id="policy",
        format=apim.PolicyContentFormat.RAWXML,
        value=xml,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends_on)),
    )


# -- policy text -------------------------------------------------------------------------------
def policy_document(
    inbound: Sequence[str], backend_id: str, removed_headers: Sequence[str] = ("X-Powered-By",)
) -> str:
    """A whole API policy: ``inbound`` lines after the global policy, then to ``backend_id``;
    ``removed_headers`` are stripped from answers (they name the backend's stack). Empty lines
    of ``inbound`` (an optional fragment left out) are dropped."""
    lines = [
        "<policies>",
        "  <inbound>",
        "    <base />",
        *inbound,
        f"    <set-backend-service backend-id={quoteattr(backend_id)} />",
        "  </inbound>",
        "  <backend><base /></backend>",
        "  <outbound>",
        "    <base />",
        *(f'    <set-header name="{h}" exists-action="delete" />' for h in removed_headers),
        "  </outbound>",
        "  <on-error><base /></on-error>",
        "</policies>",
    ]
    return "\n".join(line for line in lines if line)


def validate_jwt_policy(issuer: str, audience: str) -> list[str]:
    """Inbound lines requiring a signed, unexpired bearer JWT from ``issuer`` for ``audience``
    (keys from the issuer's OpenID configuration), else 401."""
    config = issuer.rstrip("/") + "/.well-known/openid-configuration"
    return [
        '    <validate-jwt header-name="Authorization" failed-validation-httpcode="401"'
        ' require-scheme="Bearer" require-expiration-time="true"'
        ' require-signed-tokens="true">',
        f"      <openid-config url={quoteattr(config)} />",
        f"      <audiences><audience>{escape(audience)}</audience></audiences>",
        f"      <issuers><issuer>{escape(issuer)}</issuer></issuers>",
        "    </validate-jwt>",
    ]


def consumer_limits_policy(
    burst: int, rate_limit_rps: float, quota_per_day: int, counter_key: str
) -> list[str]:
    """Inbound lines limiting each consumer (``counter_key``, a policy expression) to a token
    bucket of ``burst`` calls refilled at ``rate_limit_rps``, and ``quota_per_day`` calls."""
    # APIM counts calls per renewal period, so the period is the time the bucket takes to refill.
    renewal = max(1, math.ceil(burst / rate_limit_rps))
    key = quoteattr(counter_key)
    return [
        f'    <rate-limit-by-key calls="{burst}" renewal-period="{renewal}" counter-key={key} />',
        f'    <quota-by-key calls="{quota_per_day}" renewal-period="86400" counter-key={key} />',
    ]


def size_limit_policy(max_request_bytes: int) -> list[str]:
    """Inbound policy lines that hold ``max_request_bytes`` for a body of any size.

    A POST without Content-Length (a chunked upload) is refused with 411, one above the limit
    with 413, before the gateway reads the body; other methods carry no body and pass.
    """
    missing = '@(context.Request.Method == "POST" && !context.Request.Headers.ContainsKey("Content-Length"))'  # noqa: E501
    too_big = (
        '@(context.Request.Method == "POST" && long.Parse(context.Request.Headers'
        f'.GetValueOrDefault("Content-Length", "0")) > {max_request_bytes})'
    )
    return [
        "    <choose>",
        f"      <when condition={quoteattr(missing)}>",
        '        <return-response><set-status code="411" reason="Length Required" />'
        "</return-response>",
        "      </when>",
        f"      <when condition={quoteattr(too_big)}>",
        '        <return-response><set-status code="413" reason="Payload Too Large" />'
        "</return-response>",
        "      </when>",
        "    </choose>",
    ]
