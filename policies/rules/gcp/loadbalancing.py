"""Cloud Load Balancing: request logging, no plain-HTTP front end except a redirect to HTTPS,
Cloud Armor on internet-facing backends.

A ``TargetHttpProxy`` serves plain HTTP unless its URL map only redirects to HTTPS
(``defaultUrlRedirect.httpsRedirect``); the proxy is found from the forwarding rule's
``target`` and the URL map from the proxy's ``urlMap`` through the stack's dependency graph, so
the HTTP rule is a stack rule. Proxies that only internal forwarding rules use are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import (
    OPERATIONAL,
    SECURITY,
    as_list,
    canonical_type,
    prop_at,
    resource_rule,
    stack_rule,
)
from policies.rules.references import checkov, cis, mcsb
from policies.rules.settings import show

BACKEND_SERVICE = "gcp:compute/backendService:BackendService"
REGION_BACKEND_SERVICE = "gcp:compute/regionBackendService:RegionBackendService"
HTTP_PROXIES: tuple[str, ...] = (
    "gcp:compute/targetHttpProxy:TargetHttpProxy",
    "gcp:compute/regionTargetHttpProxy:RegionTargetHttpProxy",
)
URL_MAPS: tuple[str, ...] = (
    "gcp:compute/uRLMap:URLMap",
    "gcp:compute/regionUrlMap:RegionUrlMap",
)
FORWARDING_RULES: tuple[str, ...] = (
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
    "gcp:compute/forwardingRule:ForwardingRule",
)
INTERNAL_SCHEMES: frozenset[str] = frozenset(
    {"INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}
)
# A global backend service without a scheme is EXTERNAL (the classic external load balancer).
EXTERNAL_SCHEMES: frozenset[str] = frozenset({"EXTERNAL", "EXTERNAL_MANAGED"})


# -- request logging -------------------------------------------------------------------------
def _backend_logging(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    enabled = prop_at(props, "logConfig.enable")
    if enabled is not True:
        yield (
            "load balancer does not log requests: `logConfig.enable` is "
            f"{show(enabled)}; set it to true."
        )
        return
    rate = prop_at(props, "logConfig.sampleRate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate <= 0:
        yield f"load balancer logs no request: `logConfig.sampleRate` is {rate:g}; set it > 0."


lb_backend_require_logging = resource_rule(
    "gcp-lb-backend-service-require-logging",
    "Load balancer backend services log requests (logConfig.enable, sample rate above 0).",
    types=(BACKEND_SERVICE, REGION_BACKEND_SERVICE),
    check=_backend_logging,
    severity=Severity.MEDIUM,
    tags=["logging-audit"],
    remediation=(
        "Set `log_config=...BackendServiceLogConfigArgs(enable=True, sample_rate=1.0)` (a lower "
        "rate for very busy services)."
    ),
    # Operational: advisory in dev, mandatory in staging and prod.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[cis("gcp", "2.16")],
    since=2,
)


# -- Cloud Armor -----------------------------------------------------------------------------
def _scheme(props: Mapping[str, Any], default: str) -> str:
    value = props.get("loadBalancingScheme")
    return value.upper() if isinstance(value, str) and value else default


def _cloud_armor(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    regional = canonical_type(args.resource_type) == REGION_BACKEND_SERVICE
    # Regional backend services default to INTERNAL; only their EXTERNAL_MANAGED kind (the
    # regional external Application Load Balancer) faces the internet and takes Cloud Armor.
    scheme = _scheme(props, "INTERNAL" if regional else "EXTERNAL")
    wanted = {"EXTERNAL_MANAGED"} if regional else EXTERNAL_SCHEMES
    if scheme not in wanted:
        return
    if not props.get("securityPolicy"):
        yield (
            "internet-facing backend has no web application firewall: `securityPolicy` is "
            "unset; attach a Cloud Armor security policy."
        )


lb_backend_require_cloud_armor = resource_rule(
    "gcp-lb-backend-service-require-cloud-armor",
    "Internet-facing load balancer backend services have a Cloud Armor security policy.",
    types=(BACKEND_SERVICE, REGION_BACKEND_SERVICE),
    check=_cloud_armor,
    severity=Severity.MEDIUM,
    tags=["network-exposure"],
    remediation=(
        "Create a `gcp.compute.SecurityPolicy` (preconfigured WAF rules, rate limits) and set "
        "`security_policy=policy.id` on the backend service."
    ),
    # Advisory in dev (a WAF costs per policy and per request); required in staging and prod.
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("NS-6")],
    since=2,
)


# -- plain HTTP front ends -------------------------------------------------------------------
def _props(resource: PolicyResource) -> Mapping[str, Any]:
    return resource.props if isinstance(resource.props, Mapping) else {}


def _linked(resource: PolicyResource, key: str, types: tuple[str, ...]) -> list[PolicyResource]:
    """Stack resources of ``types`` that ``resource``'s input ``key`` refers to."""
    found = [
        r
        for r in (resource.property_dependencies or {}).get(key, [])
        if canonical_type(r.resource_type) in types
    ]
    return found


def redirects_to_https(url_map: Mapping[str, Any]) -> bool:
    """A URL map that answers every request with a redirect to HTTPS."""
    if prop_at(url_map, "defaultUrlRedirect.httpsRedirect") is not True:
        return False
    for matcher in as_list(url_map.get("pathMatchers")):
        if not isinstance(matcher, Mapping):
            return False
        if prop_at(matcher, "defaultUrlRedirect.httpsRedirect") is not True:
            return False
        if as_list(matcher.get("pathRules")) or as_list(matcher.get("routeRules")):
            return False
    return True


def _serves_internal_only(proxy: PolicyResource, rules: list[PolicyResource]) -> bool:
    fronting = [
        r for r in rules if any(p.urn == proxy.urn for p in _linked(r, "target", HTTP_PROXIES))
    ]
    return bool(fronting) and all(
        _scheme(_props(r), "EXTERNAL") in INTERNAL_SCHEMES for r in fronting
    )


def _plain_http(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    rules = [r for r in args.resources if canonical_type(r.resource_type) in FORWARDING_RULES]
    for resource in args.resources:
        token = canonical_type(resource.resource_type)
        try:
            if token in HTTP_PROXIES:
                if _serves_internal_only(resource, rules):
                    continue
                maps = _linked(resource, "urlMap", URL_MAPS)
                if not maps:
                    yield (
                        f"'{resource.name}' serves plain HTTP and its URL map is not in the "
                        "stack, so nothing shows it only redirects to HTTPS: give it a URL map "
                        "with `default_url_redirect=...(https_redirect=True)`.",
                        resource.urn,
                    )
                elif not all(redirects_to_https(_props(m)) for m in maps):
                    yield (
                        f"'{resource.name}' serves plain HTTP: its URL map "
                        f"'{maps[0].name}' routes requests instead of redirecting them; set "
                        "`default_url_redirect=...(https_redirect=True)` and no path matchers.",
                        resource.urn,
                    )
            elif token in FORWARDING_RULES:
                props = _props(resource)
                target = props.get("target")
                external = _scheme(props, "EXTERNAL") not in INTERNAL_SCHEMES
                in_stack = _linked(resource, "target", HTTP_PROXIES)
                segments = str(target or "").split("/")
                if external and not in_stack and "targetHttpProxies" in segments:
                    yield (
                        f"'{resource.name}' sends internet traffic to the plain-HTTP proxy "
                        f"{target}, which the stack cannot show redirects to HTTPS.",
                        resource.urn,
                    )
        except UnknownValueError:
            continue


lb_http_require_https_redirect = stack_rule(
    "gcp-lb-http-require-https-redirect",
    "Plain-HTTP load balancer front ends (target HTTP proxies) only redirect to HTTPS.",
    check=_plain_http,
    severity=Severity.HIGH,
    tags=["tls", "network-exposure"],
    remediation=(
        "Serve the API on a `TargetHttpsProxy` with an SSL policy; if port 80 must answer, "
        "point its `TargetHttpProxy` at a separate `URLMap` with only "
        "`default_url_redirect=...(https_redirect=True, strip_query=False)`."
    ),
    category=SECURITY,
    references=[checkov("CKV2_GCP_38")],
    since=2,
)
