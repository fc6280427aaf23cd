"""API Gateway methods and routes that anyone can call.

A REST API method with ``authorization = "NONE"`` and no API key, or an HTTP API route (or a
WebSocket ``$connect`` route) with ``authorization_type = "NONE"``, lets any caller on the
internet reach the integration behind it. CORS preflight (``OPTIONS``) is exempt, and so is a
health probe: ``GET`` / ``HEAD`` on a resource whose last path segment is a health path (config
``publicHealthPaths``, default health, healthz, livez, readyz, ready, ping). The REST check is a
stack rule because a method names its resource by id: the path segment is read from the
``aws.apigateway.Resource`` the method's ``resource_id`` comes from.

WebSocket APIs authorize on ``$connect`` only; their other routes cannot carry an authorizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from policies.rules.aws._common import StackFindings, each, get, is_true, of_types
from policies.rules.base import SECURITY, stack_rule
from policies.rules.references import checkov

METHOD = "aws:apigateway/method:Method"
RESOURCE = "aws:apigateway/resource:Resource"
ROUTE = "aws:apigatewayv2/route:Route"
API_V2 = "aws:apigatewayv2/api:Api"

HEALTH_PATHS_KEY = "publicHealthPaths"
DEFAULT_HEALTH_PATHS = ("health", "healthz", "livez", "readyz", "ready", "ping")
PROBE_METHODS = frozenset({"GET", "HEAD"})
PREFLIGHT = "OPTIONS"
NONE = "NONE"


def _health_paths(args: StackValidationArgs) -> frozenset[str]:
    value = (args.get_config() or {}).get(HEALTH_PATHS_KEY)
    paths: Iterable[Any] = value if isinstance(value, (list, tuple)) else DEFAULT_HEALTH_PATHS
    return frozenset(str(p).strip("/").lower() for p in paths if str(p).strip("/"))


def _dependency(r: PolicyResource, key: str, resource_type: str) -> PolicyResource | None:
    for dep in r.property_dependencies.get(key) or []:
        if dep.resource_type == resource_type:
            return dep
    return None


def _method_findings(method: PolicyResource, health: frozenset[str]) -> StackFindings:
    props = method.props
    verb = str(get(props, "httpMethod") or "").upper()
    if str(get(props, "authorization") or "").upper() != NONE or is_true(
        get(props, "apiKeyRequired")
    ):
        return
    if verb == PREFLIGHT:
        return
    resource = _dependency(method, "resourceId", RESOURCE)
    segment = str(get(resource.props, "pathPart") or "").lower() if resource else ""
    if verb in PROBE_METHODS and segment in health:
        return
    where = f" on /{segment}" if segment else ""
    yield (
        f"API Gateway method '{method.name}' ({verb}{where}) allows unauthenticated calls "
        "(authorization NONE, api_key_required not true): anyone can reach its integration.",
        method.urn,
    )


def _route_findings(route: PolicyResource, health: frozenset[str]) -> StackFindings:
    props = route.props
    key = str(get(props, "routeKey") or "")
    if str(get(props, "authorizationType") or NONE).upper() != NONE:
        return
    api = _dependency(route, "apiId", API_V2)
    websocket = api is not None and get(api.props, "protocolType") == "WEBSOCKET"
    if key.startswith("$"):
        # $connect is where a WebSocket API authorizes; $disconnect / $default cannot, and an
        # HTTP API's $default catch-all route can.
        if key != "$connect" and (websocket or key != "$default"):
            return
    elif websocket:
        return  # a WebSocket action route: authorized at $connect
    verb, _, path = key.partition(" ")
    if verb.upper() == PREFLIGHT:
        return
    segment = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if verb.upper() in PROBE_METHODS and segment in health:
        return
    yield (
        f"API Gateway v2 route '{route.name}' ({key}) allows unauthenticated calls "
        "(authorization_type NONE): anyone can reach its integration.",
        route.urn,
    )


def _check(args: StackValidationArgs) -> StackFindings:
    health = _health_paths(args)
    yield from each(of_types(args, METHOD), lambda m: _method_findings(m, health))
    yield from each(of_types(args, ROUTE), lambda r: _route_findings(r, health))


REQUIRE_AUTH = stack_rule(
    "aws-apigateway-method-require-auth",
    "API Gateway REST methods must require an authorizer, IAM or an API key, and HTTP API "
    "routes (and WebSocket $connect) an authorization type other than NONE; CORS preflight "
    f"and GET/HEAD health probes (config '{HEALTH_PATHS_KEY}') are exempt.",
    check=_check,
    severity=Severity.HIGH,
    tags=["apigateway", "authentication"],
    category=SECURITY,
    config_properties={
        HEALTH_PATHS_KEY: {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_HEALTH_PATHS),
        }
    },
    remediation=(
        "Set authorization='CUSTOM' / 'COGNITO_USER_POOLS' / 'AWS_IAM' with an authorizer_id "
        "(REST), or authorization_type='JWT' / 'AWS_IAM' / 'CUSTOM' (HTTP API); "
        "api_key_required=True alone identifies callers but is not authentication."
    ),
    references=[checkov("CKV_AWS_59"), checkov("CKV_AWS_309")],
    since=2,
)

POLICIES = [REQUIRE_AUTH]
