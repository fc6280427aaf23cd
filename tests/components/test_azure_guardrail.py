"""The Azure LLM guardrail (components/azure/guardrail.py) under Pulumi mocks, in every
environment and both LLM modes: the neutral setting's mapping on captured inputs, the bindings
(deployment -> policy, grants -> account, container env -> hook), the gateway's Content Safety
policy, and the blocked-call alarms counting the model server's real log line."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from typing import Any

import pytest

from components import llm
from components.alarms import Signal, alarm_name, guardrail_alarms
from components.azure import guardrail, monitoring, security
from components.llm import HarmCategory, LlmMode, Strength
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import make_spec, of_type, run_component

ENVS = list(Environment)
MODES = (LlmMode.HOSTED, LlmMode.SELF_HOSTED)
HARM = {
    "hate": "high",
    "sexual": "medium",
    "violence": "low",
    "self-harm": "off",
    "harassment": "medium",
    "misconduct": "high",
}


def llm_section(mode: LlmMode) -> dict[str, Any]:
    section: dict[str, Any] = {"mode": mode.value, "guardrail": {"harm": HARM}}
    if mode is LlmMode.HOSTED:
        section.update(model="gpt-4o-mini", model_version="2024-07-18")
    return section


def spec_for(env: Environment, mode: LlmMode) -> DeploymentSpec:
    return make_spec(Cloud.AZURE, Pattern.API_FIRST, env, {"llm": llm_section(mode)})


@cache
def run(env: Environment, mode: LlmMode) -> Capture:
    return run_component(spec_for(env, mode))


def one(cap: Capture, token: str) -> CapturedResource:
    found = of_type(cap.resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def named(cap: Capture, suffix: str) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.name.endswith(suffix)]
    return found


def model_app(cap: Capture) -> CapturedResource:
    (found,) = [
        r for r in of_type(cap.resources, "azure-native:app:ContainerApp")
        if r.name.endswith("-model")
    ]  # fmt: skip
    return found


def env_of(cap: Capture) -> dict[str, Any]:
    app = model_app(cap)
    return {e["name"]: e.get("value") for e in app.inputs["template"]["containers"][0]["env"]}


CASES = [(env, mode) for env in ENVS for mode in MODES]


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_account_is_entra_only_with_a_custom_subdomain(env: Environment, mode: LlmMode) -> None:
    cap = run(env, mode)
    account = one(cap, "azure-native:cognitiveservices:Account")
    props = account.inputs["properties"]
    assert account.inputs["kind"] == guardrail.ACCOUNT_KIND[mode]
    assert props["disableLocalAuth"] is True
    assert props["customSubDomainName"] == account.inputs["accountName"]
    assert props["restrictOutboundNetworkAccess"] is True
    assert account.inputs["identity"]["type"] == "SystemAssigned"


@pytest.mark.parametrize("env", ENVS)
def test_rai_policy_maps_the_neutral_setting(env: Environment) -> None:
    """HIGH blocks low severity and above; two neutral categories on one filter: the stronger
    wins (hate high + harassment medium -> Hate at Low); OFF keeps the service floor."""
    cap = run(env, LlmMode.HOSTED)
    policy = one(cap, "azure-native:cognitiveservices:RaiPolicy")
    props = policy.inputs["properties"]
    assert props["basePolicyName"] == "Microsoft.DefaultV2"
    assert props["mode"] == "Blocking"
    filters = {(f["name"], f["source"]): f for f in props["contentFilters"]}
    expected = {"Hate": "Low", "Sexual": "Medium", "Violence": "Low", "Selfharm": "High"}
    for name, level in expected.items():
        for source in ("Prompt", "Completion"):
            f = filters[(name, source)]
            assert (f["severityThreshold"], f["enabled"], f["blocking"]) == (level, True, True)
    for name in ("Jailbreak", "Indirect Attack"):
        assert filters[(name, "Prompt")]["blocking"] is True
        assert (name, "Completion") not in filters


def test_every_neutral_category_reaches_a_filter() -> None:
    assert set(guardrail.RAI_HARM_FILTERS) == set(HarmCategory)
    assert set(guardrail.RAI_SEVERITY) == set(Strength)


def test_prompt_attack_off_only_annotates() -> None:
    settings = llm.LlmSettings.model_validate(
        {**llm_section(LlmMode.HOSTED), "guardrail": {"prompt_attack": "off"}}
    )
    names = guardrail.RAI_PROMPT_ATTACK_FILTERS
    attacks = [f for f in guardrail.rai_content_filters(settings) if f.name in names]
    assert attacks and all(f.blocking is False for f in attacks)


@pytest.mark.parametrize("env", ENVS)
def test_deployment_runs_under_the_stacks_policy(env: Environment) -> None:
    cap = run(env, LlmMode.HOSTED)
    spec = spec_for(env, LlmMode.HOSTED)
    policy = one(cap, "azure-native:cognitiveservices:RaiPolicy")
    deployment = one(cap, "azure-native:cognitiveservices:Deployment")
    props = deployment.inputs["properties"]
    assert props["raiPolicyName"] == policy.inputs["raiPolicyName"]
    assert policy.urn in deployment.property_dependencies["properties"]
    assert props["model"] == {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}
    assert deployment.inputs["sku"] == {
        "name": guardrail.DEPLOYMENT_SKU,
        "capacity": guardrail.TPM_THOUSANDS_PER_INSTANCE * spec.capacity.max_instances,
    }


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_grants_are_scoped_to_the_account(env: Environment, mode: LlmMode) -> None:
    cap = run(env, mode)
    account = one(cap, "azure-native:cognitiveservices:Account")
    grants = [
        r for r in of_type(cap.resources, "azure-native:authorization:RoleAssignment")
        if account.urn in r.property_dependencies.get("scope", [])
    ]  # fmt: skip
    roles = {g.inputs["roleDefinitionId"].rsplit("/", 1)[-1] for g in grants}
    wanted = {security.BUILTIN_ROLES[guardrail.SERVING_ROLE[mode]]}
    if mode is LlmMode.SELF_HOSTED:
        wanted.add(security.BUILTIN_ROLES["cognitive-services-user"])
    assert roles == wanted
    serving = named(cap, "-id-serving")
    assert any(serving.urn in g.property_dependencies.get("principalId", []) for g in grants)


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_container_env_carries_what_the_hook_reads(env: Environment, mode: LlmMode) -> None:
    """The names come from components.llm (the hook's side of the seam)."""
    cap = run(env, mode)
    spec = spec_for(env, mode)
    env_vars = env_of(cap)
    for key, value in llm.hook_environment("azure", spec.llm).items():
        assert env_vars[key] == value
    assert json.loads(env_vars[llm.HOOK_CONFIG_VARIABLE])["max_prompt_bytes"] == spec.body_cap
    sub = guardrail.subdomain(spec)
    if mode is LlmMode.SELF_HOSTED:
        assert env_vars[llm.HOOK_PROVIDER_VARIABLE] == "content-safety"
        assert env_vars[llm.HOOK_CONTENT_SAFETY_ENDPOINT_VARIABLE] == (
            f"https://{sub}.cognitiveservices.azure.com/"
        )
        assert llm.LLM_ENDPOINT_VARIABLE not in env_vars
    else:
        assert env_vars[llm.LLM_ENDPOINT_VARIABLE] == f"https://{sub}.openai.azure.com/"
        deployment = one(cap, "azure-native:cognitiveservices:Deployment")
        assert env_vars[llm.LLM_DEPLOYMENT_VARIABLE] == deployment.inputs["deploymentName"]
        assert llm.HOOK_CONTENT_SAFETY_ENDPOINT_VARIABLE not in env_vars
    assert "AZURE_CLIENT_ID" in env_vars  # the identity the grants name signs the calls


def _api_policy(cap: Capture) -> ET.Element:
    return ET.fromstring(named(cap, "-api-policy").inputs["value"])


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_gateway_caps_the_body_and_leaves_the_content_check_to_the_hook(
    env: Environment, mode: LlmMode
) -> None:
    """The size cap holds spec.body_cap; no llm-content-safety step: its backend would need
    managed-identity credentials the pinned SDK's Backend cannot carry (key auth is off)."""
    cap = run(env, mode)
    assert list(_api_policy(cap).iter("llm-content-safety")) == []
    text = named(cap, "-api-policy").inputs["value"]
    assert f"&gt; {spec_for(env, mode).body_cap})" in text


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_edge_refuses_bodies_above_the_cap(env: Environment, mode: LlmMode) -> None:
    cap = run(env, mode)
    waf = one(cap, "azure-native:frontdoor:Policy")
    assert waf.inputs["policySettings"]["requestBodyCheck"] == "Enabled"
    (rule,) = [
        r for r in waf.inputs["customRules"]["rules"] if r["name"] == "bodyovercap"
    ]  # fmt: skip
    assert rule["matchConditions"][0]["matchValue"] == [str(spec_for(env, mode).body_cap)]
    assert rule["action"] == "Block"


def blocked_line(direction: llm.Direction) -> str:
    """A line as the model server writes it (components.llm's contract)."""
    return json.dumps(
        {"event": llm.BLOCKED_EVENT, "direction": direction.value, "reasons": ["Hate"]}
    )


def kql_counts(query: str, app: str, rows: list[tuple[str, str]]) -> int:
    """Evaluate the where clauses of a guardrail alarm's KQL on (ContainerAppName, Log) rows:
    a small interpreter for the few operators the query uses, so the test reads the query."""
    where = " and ".join(re.findall(r"\| where (ContainerAppName .*)", query))
    count = re.search(r'countif\(tostring\(parse_json\(Log\)\.direction\) == "(\w+)"\)', query)
    assert where and count, query
    conditions = re.findall(r'(\S+) == "([^"]+)"', where)
    total = 0
    for name, line in rows:
        event = json.loads(line)
        values = {
            "ContainerAppName": name,
            "tostring(parse_json(Log).event)": event.get("event"),
        }
        if all(values[k] == v for k, v in conditions) and event["direction"] == count.group(1):
            total += 1
    return total


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_alarms_count_the_model_servers_blocked_line(env: Environment, mode: LlmMode) -> None:
    cap = run(env, mode)
    spec = spec_for(env, mode)
    app = model_app(cap).inputs["containerAppName"]
    rules = guardrail_alarms(spec)
    assert len(rules) == 2
    for rule in rules:
        alert = named(cap, f"-alarm-{rule.key}")
        assert alert.inputs["ruleName"] == alarm_name(spec, rule.key)
        assert alert.inputs["severity"] == monitoring.TIER_SEVERITY[rule.tier]
        (condition,) = alert.inputs["criteria"]["allOf"]
        assert condition["threshold"] == float(spec.llm.guardrail.alert_blocked_per_5min)
        query = condition["query"]
        assert monitoring.CONSOLE_LOG_TABLE in query
        direction = (
            llm.Direction.PROMPT
            if rule.signal is Signal.GUARDRAIL_BLOCKED_PROMPTS
            else llm.Direction.RESPONSE
        )
        other = next(d for d in llm.Direction if d is not direction)
        rows = [
            (app, blocked_line(direction)),
            (app, blocked_line(direction)),
            (app, blocked_line(other)),
            ("someone-else", blocked_line(direction)),
            (app, json.dumps({"event": llm.UNAVAILABLE_EVENT, "direction": direction.value})),
        ]
        assert kql_counts(query, app, rows) == 2
    workbook = one(cap, "azure-native:applicationinsights:Workbook")
    items = json.loads(workbook.inputs["serializedData"])
    assert {i["name"] for i in items["items"]} >= {r.key for r in rules}


def test_stack_without_llm_has_no_guardrail() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)
    assert not spec.llm.enabled
    cap = run_component(spec)
    assert not [r for r in cap.resources if "cognitiveservices" in r.type]
    assert not [r for r in cap.resources if "guardrail" in r.name]
    waf = one(cap, "azure-native:frontdoor:Policy")
    assert [r["name"] for r in waf.inputs["customRules"]["rules"]] == ["ratelimitperclient"]
    assert llm.HOOK_CONFIG_VARIABLE not in env_of(cap)


@pytest.mark.parametrize(("env", "mode"), CASES)
def test_policy_pack_passes_with_the_declared_waivers(env: Environment, mode: LlmMode) -> None:
    """Zero findings with components/azure/waivers.py's waivers; without its RAI policy a
    hosted stack fails the content-filter rule (the rule holds the binding, not the name)."""
    from components.azure.api_first import policy_waivers
    from policies.rules import all_policies
    from tests.policies.harness import evaluate

    spec = spec_for(env, mode)
    waivers = policy_waivers(spec.project, spec)
    resources = run(env, mode).resources
    findings = evaluate(all_policies(), resources, waivers)
    assert {(f.policy, f.resource_name) for f in findings} == set(), findings
    if mode is LlmMode.HOSTED:
        unbound = [r for r in resources if "cognitiveservices:RaiPolicy" not in r.type]
        names = {f.policy for f in evaluate(all_policies(), unbound, waivers)}
        assert "azure-openai-deployment-require-content-filter" in names
