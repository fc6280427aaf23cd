"""Load balancer rules (loadbalancing.py): a logged, Cloud Armor-protected backend and a port-80
front end that only redirects to HTTPS; one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from policies.rules.gcp import loadbalancing
from tests.policies.test_gcp_common import TARGET, Program, judge, waiver

ARMOR = "projects/acme/global/securityPolicies/edge"
EXTERNAL_PROXY = "projects/acme/global/targetHttpProxies/legacy"


def backend(*, regional: bool = False, log: dict[str, Any] | None = None, **over: Any) -> Program:
    log_args = {"enable": True, "sample_rate": 1.0, **(log or {})}
    if regional:
        args: dict[str, Any] = {
            "region": "europe-west1",
            "protocol": "HTTPS",
            "load_balancing_scheme": "EXTERNAL_MANAGED",
            "security_policy": ARMOR,
            "log_config": gcp.compute.RegionBackendServiceLogConfigArgs(**log_args),
            **over,
        }
        return lambda: gcp.compute.RegionBackendService(TARGET, **args)
    args = {
        "protocol": "HTTPS",
        "load_balancing_scheme": "EXTERNAL_MANAGED",
        "security_policy": ARMOR,
        "log_config": gcp.compute.BackendServiceLogConfigArgs(**log_args),
        **over,
    }
    return lambda: gcp.compute.BackendService(TARGET, **args)


def http_front_end(
    *,
    redirect: bool = True,
    scheme: str = "EXTERNAL_MANAGED",
    url_map: str | None = None,
) -> Program:
    """A backend behind HTTPS, plus port 80 whose URL map redirects to HTTPS."""

    def program() -> None:
        service = gcp.compute.BackendService(
            "api", protocol="HTTPS", load_balancing_scheme=scheme, security_policy=ARMOR
        )
        if redirect:
            mapping = gcp.compute.URLMap(
                "http-redirect",
                default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                    https_redirect=True, strip_query=False
                ),
            )
        else:
            mapping = gcp.compute.URLMap("http-routes", default_service=service.id)
        proxy = gcp.compute.TargetHttpProxy(TARGET, url_map=url_map or mapping.id)
        gcp.compute.GlobalForwardingRule(
            "http", target=proxy.id, port_range="80", load_balancing_scheme=scheme
        )

    return program


def rule_to_outside_proxy(scheme: str = "EXTERNAL_MANAGED") -> Program:
    return lambda: gcp.compute.GlobalForwardingRule(
        TARGET, target=EXTERNAL_PROXY, port_range="80", load_balancing_scheme=scheme
    )


LOGGING = loadbalancing.lb_backend_require_logging
WAF = loadbalancing.lb_backend_require_cloud_armor
HTTP = loadbalancing.lb_http_require_https_redirect

CASES: dict[str, tuple[Policy, Program, bool]] = {
    "gcp-lb-backend-service-require-logging:logged-ok": (LOGGING, backend(), False),
    "gcp-lb-backend-service-require-logging:log-config-unset": (
        LOGGING,
        backend(log_config=None),
        True,
    ),
    "gcp-lb-backend-service-require-logging:sample-rate-zero": (
        LOGGING,
        backend(log={"sample_rate": 0.0}),
        True,
    ),
    "gcp-lb-backend-service-require-logging:regional-ok": (LOGGING, backend(regional=True), False),
    "gcp-lb-backend-service-require-logging:regional-off": (
        LOGGING,
        backend(regional=True, log={"enable": False}),
        True,
    ),
    "gcp-lb-backend-service-require-cloud-armor:armor-ok": (WAF, backend(), False),
    "gcp-lb-backend-service-require-cloud-armor:no-armor": (
        WAF,
        backend(security_policy=None),
        True,
    ),
    "gcp-lb-backend-service-require-cloud-armor:classic-external-default": (
        WAF,
        backend(security_policy=None, load_balancing_scheme=None),
        True,
    ),
    "gcp-lb-backend-service-require-cloud-armor:internal-ok": (
        WAF,
        backend(security_policy=None, load_balancing_scheme="INTERNAL_MANAGED"),
        False,
    ),
    "gcp-lb-backend-service-require-cloud-armor:regional-external-no-armor": (
        WAF,
        backend(regional=True, security_policy=None),
        True,
    ),
    "gcp-lb-backend-service-require-cloud-armor:regional-internal-ok": (
        WAF,
        backend(regional=True, security_policy=None, load_balancing_scheme="INTERNAL_MANAGED"),
        False,
    ),
    "gcp-lb-http-require-https-redirect:redirect-ok": (HTTP, http_front_end(), False),
    "gcp-lb-http-require-https-redirect:routes-plain-http": (
        HTTP,
        http_front_end(redirect=False),
        True,
    ),
    "gcp-lb-http-require-https-redirect:url-map-outside-stack": (
        HTTP,
        http_front_end(url_map="projects/acme/global/urlMaps/shared"),
        True,
    ),
    "gcp-lb-http-require-https-redirect:internal-only-ok": (
        HTTP,
        http_front_end(redirect=False, scheme="INTERNAL_MANAGED"),
        False,
    ),
    "gcp-lb-http-require-https-redirect:rule-to-outside-proxy": (
        HTTP,
        rule_to_outside_proxy(),
        True,
    ),
    "gcp-lb-http-require-https-redirect:internal-rule-to-outside-proxy-ok": (
        HTTP,
        rule_to_outside_proxy("INTERNAL_MANAGED"),
        False,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_load_balancer_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_plain_http_waiver() -> None:
    """gcp-lb-http-require-https-redirect: a waived proxy is skipped."""
    assert judge(HTTP, http_front_end(redirect=False), waiver(TARGET)) == set()


def test_a_url_map_with_routes_beside_the_redirect_is_not_a_redirect() -> None:
    url_map = {
        "defaultUrlRedirect": {"httpsRedirect": True},
        "pathMatchers": [
            {"defaultUrlRedirect": {"httpsRedirect": True}, "pathRules": [{"service": "api"}]}
        ],
    }
    assert loadbalancing.redirects_to_https(url_map) is False
    assert loadbalancing.redirects_to_https({"defaultUrlRedirect": {"httpsRedirect": True}})
