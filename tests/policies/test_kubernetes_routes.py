"""k8s-route-authenticated on real programs: the edge as components/kubernetes/gateway.py builds
it (a Gateway, the predict route under a SecurityPolicy with JWT, the health route labelled
public) passes; changing any one element of it leaves a route without credentials and fails.
A SecurityPolicy on the Gateway covers every route attached to it, unless a more specific
policy (on the route, or on the route's listener) replaces it without authenticating."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from offline.capture import CapturedResource
from policies.rules.kubernetes import routes
from tests.policies.harness import run_program
from tests.policies.test_kubernetes_common import (
    NAMESPACE,
    REMOVE,
    changed,
    findings,
    judge,
    waiver,
)

RULE = routes.route_authenticated
GROUP = "gateway.networking.k8s.io"
PUBLIC = {"app": "scorer", "aideploy.io/public": "true"}
JWT = {
    "providers": [
        {
            "name": "issuer",
            "issuer": "https://sso.acme.internal/realms/models",
            "audiences": ["scorer"],
            "remoteJWKS": {"uri": "https://sso.acme.internal/realms/models/certs"},
        }
    ]
}
API_KEYS = {
    "credentialRefs": [{"group": "", "kind": "Secret", "name": "scorer-api-keys"}],
    "extractFrom": [{"headers": ["x-api-key"]}],
}
# Each authenticating field, as a minimal valid value.
AUTHENTICATING: dict[str, Any] = {
    "jwt": JWT,
    "apiKeyAuth": API_KEYS,
    "basicAuth": {"users": {"name": "scorer-htpasswd"}},
    "oidc": {
        "provider": {"issuer": "https://sso.acme.internal/realms/models"},
        "clientID": "scorer",
        "clientSecret": {"name": "scorer-oidc"},
    },
    "extAuth": {"http": {"backendRefs": [{"name": "authz", "port": 9000}]}},
}


def _meta(
    name: pulumi.Input[str] | None, labels: dict[str, str] | None = None
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name, namespace=NAMESPACE, labels=labels or {"app": "scorer"}
    )


def custom(
    logical: str, api_version: str, kind: str, meta: Any, spec: dict[str, Any]
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        logical, api_version=api_version, kind=kind, metadata=meta, spec=spec
    )


def http_route(
    logical: str,
    name: pulumi.Input[str] | None,
    path: str,
    labels: dict[str, str] | None = None,
    version: str = "v1",
) -> k8s.apiextensions.CustomResource:
    return custom(
        logical,
        f"{GROUP}/{version}",
        "HTTPRoute",
        _meta(name, labels),
        {
            "parentRefs": [
                {"group": GROUP, "kind": "Gateway", "name": "edge", "sectionName": "https"}
            ],
            "hostnames": ["scorer.acme.internal"],
            "rules": [
                {
                    "matches": [{"path": {"type": "Exact", "value": path}}],
                    "backendRefs": [{"group": "", "kind": "Service", "name": "scorer", "port": 80}],
                }
            ],
        },
    )


def security_policy(
    logical: str, kind: str, name: Any, **auth: Any
) -> k8s.apiextensions.CustomResource:
    return custom(
        logical,
        "gateway.envoyproxy.io/v1alpha1",
        "SecurityPolicy",
        _meta(logical),
        {"targetRefs": [{"group": GROUP, "kind": kind, "name": name}], **auth},
    )


def edge(target: str = "HTTPRoute", version: str = "v1") -> Callable[[], None]:
    """The edge of components/kubernetes/gateway.py, its SecurityPolicy on the predict route
    (``target`` "HTTPRoute") or on the Gateway ("Gateway")."""

    def program() -> None:
        custom(
            "edge",
            f"{GROUP}/v1",
            "Gateway",
            _meta("edge"),
            {
                "gatewayClassName": "envoy",
                "listeners": [
                    {
                        "name": "https",
                        "protocol": "HTTPS",
                        "port": 443,
                        "tls": {"certificateRefs": [{"kind": "Secret", "name": "edge-tls"}]},
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    }
                ],
            },
        )
        http_route("scorer-api", "scorer-api", "/predict", version=version)
        http_route("scorer-health", "scorer-health", "/healthz", PUBLIC, version=version)
        name = "scorer-api" if target == "HTTPRoute" else "edge"
        security_policy("scorer-auth", target, name, jwt=JWT)

    return program


@functools.cache
def compliant(target: str = "HTTPRoute") -> list[CapturedResource]:
    return run_program(edge(target))


def with_change(resource: str, target: str = "HTTPRoute", **change: Any) -> list[CapturedResource]:
    """The compliant stack with one change to ``resource``."""
    return [changed(r, **change) if r.name == resource else r for r in compliant(target)]


def unauthenticated(route: str, fault: str, shown: str | None = None) -> tuple[str, str]:
    """The finding on ``route`` (shown by its ``metadata.name``, or ``shown``)."""
    shown = shown or f'"{route}"'
    return (
        route,
        f"HTTPRoute {shown} is served without credentials: {fault}. Anyone who reaches the "
        "gateway calls the model behind it.",
    )


ANY_AUTH = "`jwt`, `apiKeyAuth`, `basicAuth`, `oidc` or `extAuth`"
NOT_COVERED = f"no SecurityPolicy with {ANY_AUTH} targets it or the Gateway it attaches to"


# ---------------------------------------------------------------------------- passing
@pytest.mark.parametrize("target", ["HTTPRoute", "Gateway"])
def test_the_edge_passes_with_the_policy_on_the_route_or_the_gateway(target: str) -> None:
    assert judge(RULE, compliant(target)) == set()


@pytest.mark.parametrize("field", sorted(AUTHENTICATING))
def test_every_authenticating_field_covers_the_route(field: str) -> None:
    resources = with_change("scorer-auth", spec__jwt=REMOVE)
    resources = [
        changed(r, **{f"spec__{field}": AUTHENTICATING[field]}) if r.name == "scorer-auth" else r
        for r in resources
    ]
    assert judge(RULE, resources) == set()


def test_the_single_target_ref_form_covers_the_route() -> None:
    ref = {"group": GROUP, "kind": "HTTPRoute", "name": "scorer-api"}
    resources = with_change("scorer-auth", spec__targetRefs=REMOVE)
    resources = [
        changed(r, spec__targetRef=ref) if r.name == "scorer-auth" else r for r in resources
    ]
    assert judge(RULE, resources) == set()


def test_a_gateway_policy_covers_the_health_route_too() -> None:
    """Without its public label the health route is still authenticated by the Gateway's."""
    assert judge(RULE, with_change("scorer-health", "Gateway", metadata__labels={})) == set()


def test_a_listener_policy_covers_the_routes_on_that_listener() -> None:
    resources = with_change("scorer-auth", "Gateway", spec__targetRefs__0__sectionName="https")
    assert judge(RULE, resources) == set()


def test_an_auto_named_route_is_paired_with_the_policy_built_from_it() -> None:
    """Offline the provider never names the route, so the policy's reference comes out absent;
    its spec still depends on that route (the same Output)."""

    def program() -> None:
        route = http_route("scorer-api", None, "/predict")
        # A CustomResource's outputs are dynamic attributes.
        name = cast(Any, route).metadata.apply(lambda m: (m or {}).get("name"))
        security_policy("scorer-auth", "HTTPRoute", name, jwt=JWT)

    assert judge(RULE, program) == set()


def test_names_unknown_on_both_sides_are_taken_to_match() -> None:
    def program() -> None:
        later = k8s.core.v1.ConfigMap("source", data={"k": "v"}).metadata.apply(lambda _: "x")
        http_route("scorer-api", later, "/predict")
        security_policy("scorer-auth", "HTTPRoute", later, jwt=JWT)

    by_name = {r.name: r.inputs for r in run_program(program)}
    assert isinstance(by_name["scorer-api"]["metadata"]["name"], pulumi.output.Unknown)
    assert judge(RULE, program) == set()


def test_an_authentication_unknown_at_preview_is_left_to_the_update_run() -> None:
    assert judge(RULE, with_change("scorer-auth", spec__jwt=UNKNOWN_STRING_VALUE)) == set()


# ---------------------------------------------------------------------------- failing
def test_a_stack_without_a_security_policy_fails() -> None:
    resources = [r for r in compliant() if r.name != "scorer-auth"]
    assert findings(RULE, resources) == [unauthenticated("scorer-api", NOT_COVERED)]


def test_a_policy_that_authenticates_nothing_fails() -> None:
    resources = with_change("scorer-auth", spec__jwt=REMOVE)
    assert findings(RULE, resources) == [
        unauthenticated(
            "scorer-api",
            f'SecurityPolicy "scorer-auth" targets it without {ANY_AUTH}, and a route\'s own '
            "policy replaces its Gateway's",
        )
    ]


# One change to the compliant stack (policy on the route) per case.
ROUTE_CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "empty-jwt": ("scorer-auth", {"spec__jwt": {}}),
    "other-route": ("scorer-auth", {"spec__targetRefs__0__name": "scorer-batch"}),
    "other-kind": ("scorer-auth", {"spec__targetRefs__0__kind": "GRPCRoute"}),
    "other-group": ("scorer-auth", {"spec__targetRefs__0__group": "networking.k8s.io"}),
    "other-namespace": ("scorer-auth", {"metadata__namespace": "gateway"}),
    "one-rule-only": ("scorer-auth", {"spec__targetRefs__0__sectionName": "predict"}),
    "no-targets": ("scorer-auth", {"spec__targetRefs": []}),
    "health-not-public": ("scorer-health", {"metadata__labels": {"app": "scorer"}}),
    "health-public-false": (
        "scorer-health",
        {"metadata__labels": {**PUBLIC, "aideploy.io/public": "false"}},
    ),
}


@pytest.mark.parametrize(("resource", "change"), ROUTE_CHANGES.values(), ids=ROUTE_CHANGES.keys())
def test_a_route_left_without_credentials_fails(resource: str, change: dict[str, Any]) -> None:
    flagged = "scorer-health" if resource == "scorer-health" else "scorer-api"
    assert judge(RULE, with_change(resource, **change)) == {flagged}


# One change to the stack whose policy sits on the Gateway per case.
GATEWAY_CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "other-gateway": ("scorer-auth", {"spec__targetRefs__0__name": "internal"}),
    "other-listener": ("scorer-auth", {"spec__targetRefs__0__sectionName": "grpc"}),
    "route-on-other-gateway": ("scorer-api", {"spec__parentRefs__0__name": "internal"}),
    "route-parent-elsewhere": ("scorer-api", {"spec__parentRefs__0__namespace": "gateway"}),
    "route-on-a-service": ("scorer-api", {"spec__parentRefs__0__kind": "Service"}),
    "route-without-parent": ("scorer-api", {"spec__parentRefs": []}),
}


@pytest.mark.parametrize(
    ("resource", "change"), GATEWAY_CHANGES.values(), ids=GATEWAY_CHANGES.keys()
)
def test_a_route_the_gateway_policy_does_not_reach_fails(
    resource: str, change: dict[str, Any]
) -> None:
    assert findings(RULE, with_change(resource, "Gateway", **change)) == [
        unauthenticated("scorer-api", NOT_COVERED)
    ]


def test_a_route_policy_without_authentication_replaces_the_gateways() -> None:
    """Envoy Gateway applies the most specific policy only: a CORS policy on the route
    leaves it without the Gateway's JWT."""

    def program() -> None:
        edge("Gateway")()
        security_policy(
            "scorer-cors", "HTTPRoute", "scorer-api", cors={"allowOrigins": ["https://acme.io"]}
        )

    (found,) = findings(RULE, program)
    assert found[0] == "scorer-api" and '"scorer-cors" targets it without' in found[1]


def test_a_listener_policy_without_authentication_replaces_the_gateways() -> None:
    def program() -> None:
        edge("Gateway")()
        custom(
            "edge-cors",
            "gateway.envoyproxy.io/v1alpha1",
            "SecurityPolicy",
            _meta("edge-cors"),
            {
                "targetRefs": [
                    {"group": GROUP, "kind": "Gateway", "name": "edge", "sectionName": "https"}
                ],
                "cors": {"allowOrigins": ["https://acme.io"]},
            },
        )

    assert judge(RULE, program) == {"scorer-api"}


def test_a_second_route_policy_without_authentication_fails_the_route() -> None:
    """Conflicting policies: Envoy Gateway keeps the oldest, which the stack cannot tell."""

    def program() -> None:
        edge()()
        security_policy("scorer-cors", "HTTPRoute", "scorer-api", cors={"allowOrigins": ["*"]})

    assert judge(RULE, program) == {"scorer-api"}


def test_a_v1beta1_route_is_judged_too() -> None:
    def program() -> None:
        http_route("legacy", "legacy", "/v0/predict", version="v1beta1")

    assert findings(RULE, program) == [unauthenticated("legacy", NOT_COVERED)]


def test_an_auto_named_route_without_a_policy_built_from_it_fails() -> None:
    def program() -> None:
        http_route("scorer-api", None, "/predict")
        security_policy("scorer-auth", "HTTPRoute", "scorer-batch", jwt=JWT)

    assert findings(RULE, program) == [unauthenticated("scorer-api", NOT_COVERED, "'scorer-api'")]


def test_a_waived_route_is_skipped() -> None:
    resources = [r for r in compliant() if r.name != "scorer-auth"]
    assert judge(RULE, resources, waiver("scorer-api")) == set()
