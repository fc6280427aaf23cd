"""Load balancer rules (loadbalancing.py): a logged, Cloud Armor-protected backend and a port-80
front end that only redirects to HTTPS; one change per failing case."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from components.llm import HOOK_CONFIG_VARIABLE
from components.spec import Cloud, Environment, Pattern
from offline.capture import CapturedResource
from policies.rules.gcp import loadbalancing, vertex
from tests.conftest import make_spec, of_type, run_component
from tests.policies.harness import evaluate, names_violating
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


# -- gcp-cloud-armor-llm-disallow-uninspected-bodies ------------------------------------------
# Compliant: the real api-first component's LLM stacks; one property changed per failing case.
BODY_RULE = loadbalancing.cloud_armor_llm_require_checked_bodies
TEMPLATE_RULE = vertex.model_armor_template_require_llm_guardrail
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
TEMPLATE = "gcp:modelarmor/template:Template"
RUN = "gcp:cloudrunv2/service:Service"


@cache
def _llm_stack(env: Environment, mode: str) -> list[CapturedResource]:
    llm: dict[str, Any] = {"mode": mode}
    overrides: dict[str, Any] = {"llm": llm}
    if mode == "hosted":
        llm["model"] = "gemini-2.5-flash"
        overrides["region"] = "us-central1"
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, env, overrides)
    return run_component(spec).resources


def _flagged(policy: Policy, resources: list[CapturedResource]) -> set[str]:
    return names_violating(evaluate([policy], resources), policy.name)


@pytest.mark.parametrize("mode", ["self-hosted", "hosted"])
@pytest.mark.parametrize("env", list(Environment))
def test_the_components_llm_stack_passes_both_rules(env: Environment, mode: str) -> None:
    resources = _llm_stack(env, mode)
    assert _flagged(TEMPLATE_RULE, resources) == set()
    assert _flagged(BODY_RULE, resources) == set()


def _with(resources: list[CapturedResource], token: str, change: Any) -> list[CapturedResource]:
    out = []
    for r in resources:
        if r.type == token:
            r = dataclasses.replace(r, inputs=change(json.loads(json.dumps(r.inputs))))
        out.append(r)
    return out


def _small_inspection(inputs: dict[str, Any]) -> dict[str, Any]:
    inputs["advancedOptionsConfig"].pop("requestBodyInspectionSize", None)
    return inputs


def _no_size_rule(inputs: dict[str, Any]) -> dict[str, Any]:
    inputs["rules"] = [
        r
        for r in inputs["rules"]
        if "content-length" not in r["match"].get("expr", {}).get("expression", "")
    ]
    return inputs


def _cap_above_guardrail(inputs: dict[str, Any]) -> dict[str, Any]:
    for container in inputs["template"]["containers"]:
        for env in container.get("envs", []):
            if env["name"] == HOOK_CONFIG_VARIABLE:
                config = json.loads(env["value"])
                config["max_prompt_bytes"] = 2048  # the guardrail reads less than Armor passes
                env["value"] = json.dumps(config)
    return inputs


BODY_CASES = {
    "inspection-size-default": (ARMOR, _small_inspection),
    "no-size-rule": (ARMOR, _no_size_rule),
    "cap-above-what-the-guardrail-reads": (RUN, _cap_above_guardrail),
}


@pytest.mark.parametrize(("token", "change"), BODY_CASES.values(), ids=BODY_CASES)
def test_cloud_armor_of_an_llm_stack_fails_when_a_body_could_pass_unchecked(
    token: str, change: Any
) -> None:
    resources = _with(_llm_stack(Environment.PROD, "self-hosted"), token, change)
    (armor,) = of_type(resources, ARMOR)
    assert _flagged(BODY_RULE, resources) == {armor.name}


def test_a_stack_without_an_llm_is_not_judged_by_the_body_rule() -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.PROD)
    resources = run_component(spec).resources
    assert not of_type(resources, TEMPLATE)
    assert _flagged(BODY_RULE, _with(resources, ARMOR, _small_inspection)) == set()


def test_the_rule_reads_the_size_cap_the_component_writes() -> None:
    """Seam: the size rule's expression (api_first.armor_rules) is what size_caps parses."""
    resources = _llm_stack(Environment.PROD, "self-hosted")
    (armor,) = of_type(resources, ARMOR)
    spec = make_spec(
        Cloud.GCP, Pattern.API_FIRST, Environment.PROD, {"llm": {"mode": "self-hosted"}}
    )
    assert loadbalancing.size_caps(armor.inputs) == [spec.body_cap]
