"""Kubernetes building block: the HTTPS edge, Gateway API implemented by Envoy Gateway.

Why Gateway API and Envoy Gateway: ingress-nginx was retired upstream in March 2026, and
Envoy Gateway gives, as declarative policies on a route, what the clouds' gateways give: JWT
validation and API keys (SecurityPolicy), rate limits and a body-size limit
(BackendTrafficPolicy), TLS settings (ClientTrafficPolicy), and a weighted split between the
stable and candidate Services (the HTTPRoute's backendRefs), which is the canary.

    client --HTTPS (TLS 1.2+)--> Gateway <name>-gateway, listener https on api.domain
        HTTPRoute <name>-api:    POST <predict_path> -> stable/candidate Services by weight
            SecurityPolicy <name>-auth: JWT (issuer, audience, JWKS) and/or x-api-key
            BackendTrafficPolicy <name>-limits: local rate limit, request body limit (413)
        HTTPRoute <name>-health: GET <health_path> -> stable Service, no credentials
            BackendTrafficPolicy <name>-health-limits: its own small rate limit

The health route is a route of its own with no SecurityPolicy, so the pipeline's smoke test
and uptime checks reach ``health_url`` without credentials through the same listener; it says
so with the label ``aideploy.io/public: "true"`` (:data:`PUBLIC_LABEL`).
Everything is a ``CustomResource``: the CRDs are the cluster's (Envoy Gateway's Helm chart).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.meta import metadata

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
LISTENER = "https"
HTTPS_PORT = 443
API_KEY_HEADER = "x-api-key"
# cert-manager's gateway-shim issues a certificate for every HTTPS listener of a Gateway that
# carries this annotation (cert-manager needs its Gateway API support turned on).
ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
# The health route's own limit: generous for uptime checkers and the pipeline, far below what
# would load the model (per Envoy replica: Envoy Gateway's local limit counts per proxy).
HEALTH_REQUESTS_PER_MINUTE = 60
# The label of a route that is public on purpose (the health route): the policy pack's
# k8s-route-authenticated exempts exactly this label from requiring a SecurityPolicy.
PUBLIC_LABEL = "aideploy.io/public"
PUBLIC = "true"


@dataclass(frozen=True)
class Backend:
    """One Service behind the predict route and its share of the traffic (percent)."""

    service: str
    port: int
    weight: int


@dataclass(frozen=True)
class Jwt:
    """The JWT provider: tokens must come from ``issuer`` for ``audience``; keys at ``jwks_uri``."""

    issuer: str
    audience: str
    jwks_uri: str


def jwks_uri(given: str | None) -> str:
    """The JWKS URL (Envoy Gateway takes it, not the issuer's discovery document): the
    cluster's ``jwks_uri``, which the spec requires with JWT auth. No guess under the issuer:
    the path differs by provider (Keycloak's /protocol/openid-connect/certs, Entra ID's
    /discovery/v2.0/keys), and a wrong one answers every request with 401."""
    if given is None:
        raise ValueError("cluster.jwks_uri: required with JWT auth")
    return given


def _route_ref(name: str) -> dict[str, str]:
    return {"group": GATEWAY_GROUP, "kind": "HTTPRoute", "name": name}


def create_gateway(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    gateway_class: str,
    hostname: str,
    tls_secret: str,
    tls_issuer: str | None,
) -> k8s.apiextensions.CustomResource:
    """A Gateway of ``gateway_class`` with one HTTPS listener on ``hostname``, terminating TLS
    with the Secret ``tls_secret`` (issued by cert-manager when ``tls_issuer`` is given, else
    synced by an ExternalSecret), and taking routes from its own namespace only."""
    annotations = {ISSUER_ANNOTATION: tls_issuer} if tls_issuer else None
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=GATEWAY_API,
        kind="Gateway",
        metadata=metadata(name, namespace, labels, annotations),
        spec={
            "gatewayClassName": gateway_class,
            "listeners": [
                {
                    "name": LISTENER,
                    "protocol": "HTTPS",
                    "port": HTTPS_PORT,
                    "hostname": hostname,
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [{"group": "", "kind": "Secret", "name": tls_secret}],
                    },
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            ],
        },
        opts=opts,
    )


def create_route(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    gateway: str,
    hostname: str,
    method: str,
    path: str,
    backends: Sequence[Backend],
) -> k8s.apiextensions.CustomResource:
    """An HTTPRoute on ``gateway``'s HTTPS listener: ``method`` on exactly ``path`` to
    ``backends`` by weight; every other path and method gets Envoy's 404."""
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=GATEWAY_API,
        kind="HTTPRoute",
        metadata=metadata(name, namespace, labels),
        spec={
            "parentRefs": [
                {
                    "group": GATEWAY_GROUP,
                    "kind": "Gateway",
                    "name": gateway,
                    "sectionName": LISTENER,
                }
            ],
            "hostnames": [hostname],
            "rules": [
                {
                    "matches": [{"path": {"type": "Exact", "value": path}, "method": method}],
                    "backendRefs": [
                        {
                            "group": "",
                            "kind": "Service",
                            "name": b.service,
                            "port": b.port,
                            "weight": b.weight,
                        }
                        for b in backends
                    ],
                }
            ],
        },
        opts=opts,
    )


def create_security_policy(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    route: str,
    jwt: Jwt | None,
    api_key_secret: str | None,
) -> k8s.apiextensions.CustomResource:
    """Authentication on the HTTPRoute ``route``: a JWT from ``jwt``'s issuer and audience,
    and/or an API key in ``x-api-key`` among the keys of the Secret ``api_key_secret`` (one key
    per client id). Both given: each filter rejects a request without its credential, so a
    request needs both (the ``jwt+api-key`` mode). The API key is removed before the model."""
    if jwt is None and api_key_secret is None:
        raise ValueError(f"{logical}: a SecurityPolicy needs a JWT provider or API keys")
    spec: dict[str, object] = {"targetRefs": [_route_ref(route)]}
    if jwt is not None:
        spec["jwt"] = {
            "providers": [
                {
                    "name": "issuer",
                    "issuer": jwt.issuer,
                    "audiences": [jwt.audience],
                    "remoteJWKS": {"uri": jwt.jwks_uri},
                }
            ]
        }
    if api_key_secret is not None:
        spec["apiKeyAuth"] = {
            "credentialRefs": [{"group": "", "kind": "Secret", "name": api_key_secret}],
            "extractFrom": [{"headers": [API_KEY_HEADER]}],
            "sanitize": True,
        }
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=ENVOY_API,
        kind="SecurityPolicy",
        metadata=metadata(name, namespace, labels),
        spec=spec,
        opts=opts,
    )


def create_traffic_policy(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    route: str,
    requests: int,
    unit: str,
    max_request_bytes: int | None,
) -> k8s.apiextensions.CustomResource:
    """Limits on the HTTPRoute ``route``: a Local rate limit of ``requests`` per ``unit``
    (429 beyond it) and, with ``max_request_bytes``, a request buffer of that size (413 for a
    larger body, which never reaches the model).

    Envoy Gateway's Local limit is a token bucket whose size is ``requests``: there is no
    separate burst, and each Envoy replica counts on its own.
    """
    spec: dict[str, object] = {
        "targetRefs": [_route_ref(route)],
        # `type` is required by Envoy Gateway up to v1.5 and still accepted (deprecated) after.
        "rateLimit": {
            "type": "Local",
            "local": {"rules": [{"limit": {"requests": requests, "unit": unit}}]},
        },
    }
    if max_request_bytes is not None:
        spec["requestBuffer"] = {"limit": str(max_request_bytes)}
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=ENVOY_API,
        kind="BackendTrafficPolicy",
        metadata=metadata(name, namespace, labels),
        spec=spec,
        opts=opts,
    )


def create_client_policy(
    logical: str,
    opts: pulumi.ResourceOptions,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    gateway: str,
    buffer_bytes: int,
) -> k8s.apiextensions.CustomResource:
    """The listener's client side: TLS 1.2 at least, and a connection buffer that holds the
    largest request the route's request buffer accepts (Envoy's default is 32 KiB)."""
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=ENVOY_API,
        kind="ClientTrafficPolicy",
        metadata=metadata(name, namespace, labels),
        spec={
            "targetRefs": [{"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway}],
            "tls": {"minVersion": "1.2"},
            "connection": {"bufferLimit": str(buffer_bytes)},
        },
        opts=opts,
    )
