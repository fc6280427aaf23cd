"""Cloud Load Balancing: request logging, no plain-HTTP front end except a redirect to HTTPS,
Cloud Armor on internet-facing backends.

A ``TargetHttpProxy`` serves plain HTTP unless its URL map only redirects to HTTPS
(``defaultUrlRedirect.httpsRedirect``); the proxy is found from the forwarding rule's
``target`` and the URL map from the proxy's ``urlMap`` through the stack's dependency graph, so
the HTTP rule is a stack rule. Proxies that only internal forwarding rules use are left alone.
"""

from __future__ import annotations

import json
import re
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
from policies.rules.references import checkov, cis, mcsb, owasp_llm
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


# -- Cloud Armor in front of an LLM ----------------------------------------------------------
SECURITY_POLICY = "gcp:compute/securityPolicy:SecurityPolicy"
MODEL_ARMOR_TEMPLATE = "gcp:modelarmor/template:Template"
CLOUD_RUN_SERVICE = "gcp:cloudrunv2/service:Service"
# The most of a body Cloud Armor's WAF rules read (8KB by default; 16, 32, 48, 64 KB).
MAX_BODY_INSPECTION = "64KB"
# The model server's guardrail configuration (components.llm.HOOK_CONFIG_VARIABLE): its
# max_prompt_bytes is the largest body the guardrail reads whole.
GUARDRAIL_CONFIG_VARIABLE = "GUARDRAIL_CONFIG"
_SIZE_CAP = re.compile(r"int\(request\.headers\['content-length'\]\)\s*>\s*(\d+)")


def size_caps(policy: Mapping[str, Any]) -> list[int]:
    """The body sizes a policy's deny rules refuse above (``content-length > N``)."""
    caps = []
    for rule in as_list(policy.get("rules")):
        if not isinstance(rule, Mapping) or not str(rule.get("action", "")).startswith("deny"):
            continue
        found = _SIZE_CAP.search(str(prop_at(rule, "match.expr.expression") or ""))
        if found:
            caps.append(int(found.group(1)))
    return caps


def _guardrail_reads(resources: list[PolicyResource]) -> list[int]:
    """max_prompt_bytes of every guardrail configuration the stack's Cloud Run services carry."""
    limits = []
    for resource in resources:
        if canonical_type(resource.resource_type) != CLOUD_RUN_SERVICE:
            continue
        for container in as_list(prop_at(_props(resource), "template.containers")):
            envs = container.get("envs") if isinstance(container, Mapping) else None
            for env in as_list(envs):
                if isinstance(env, Mapping) and env.get("name") == GUARDRAIL_CONFIG_VARIABLE:
                    try:
                        limit = json.loads(str(env.get("value"))).get("max_prompt_bytes")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(limit, (int, float)):
                        limits.append(int(limit))
    return limits


def _llm_body_check(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    llm = any(canonical_type(r.resource_type) == MODEL_ARMOR_TEMPLATE for r in resources)
    reads = _guardrail_reads(resources)
    if not llm and not reads:
        return
    for resource in resources:
        if canonical_type(resource.resource_type) != SECURITY_POLICY:
            continue
        try:
            props = _props(resource)
            if str(props.get("type") or "CLOUD_ARMOR") != "CLOUD_ARMOR":
                continue
            size = prop_at(props, "advancedOptionsConfig.requestBodyInspectionSize")
            if str(size or "8KB").upper() != MAX_BODY_INSPECTION:
                yield (
                    f"'{resource.name}' guards an LLM but its WAF rules read only "
                    f"{show(size or '8KB')} of a body: set "
                    f"`advanced_options_config.request_body_inspection_size` to "
                    f'"{MAX_BODY_INSPECTION}".',
                    resource.urn,
                )
            caps = size_caps(props)
            if not caps:
                yield (
                    f"'{resource.name}' guards an LLM but refuses no body by size: a body of "
                    "any length passes, most of it unread by the WAF; add a deny rule on "
                    "`int(request.headers['content-length']) > <llm.guardrail.max_prompt_bytes>`.",
                    resource.urn,
                )
            elif reads and min(caps) > min(reads):
                yield (
                    f"'{resource.name}' lets bodies of up to {min(caps)} bytes through, but the "
                    f"guardrail reads only {min(reads)} bytes whole: the rest would pass "
                    "unchecked; cap the body at the guardrail's max_prompt_bytes (spec.body_cap).",
                    resource.urn,
                )
        except UnknownValueError:
            continue


cloud_armor_llm_require_checked_bodies = stack_rule(
    "gcp-cloud-armor-llm-disallow-uninspected-bodies",
    "Cloud Armor in front of an LLM reads as much of a body as it can (64 KB) and refuses "
    "bodies larger than the guardrail reads whole.",
    check=_llm_body_check,
    severity=Severity.HIGH,
    tags=["network-exposure", "content-safety"],
    remediation=(
        "Build the policy with components/gcp/api_first.py: "
        '`advanced_options_config=...(request_body_inspection_size="64KB")` and a first rule '
        "`deny(403)` on `int(request.headers['content-length']) > spec.body_cap` (the "
        "guardrail's max_prompt_bytes), so every body Cloud Armor cannot read whole is read "
        "whole by the guardrail or refused."
    ),
    category=SECURITY,
    references=[owasp_llm("LLM01")],
    since=4,
    types=(SECURITY_POLICY, MODEL_ARMOR_TEMPLATE, CLOUD_RUN_SERVICE),
)
