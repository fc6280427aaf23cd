"""The LLM guardrail rule (aideploy-llm-require-guardrail) on stacks captured from the real
components: every LLM stack passes; the same stack with its guardrail removed, its provider
dropped or fail_open set fails, in staging and prod alike; and the rule's copy of the contract
(variable names, providers) equals components/llm.py's."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from typing import Any

import pytest

from components import llm as contract
from components.alarms import Signal, alarm_name, guardrail_alarms
from components.llm import LlmMode
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource
from policies.rules import llm as rule
from tests.components.test_kubernetes_blocks import k8s_spec, manifest, of_kind
from tests.conftest import make_spec, run_component
from tests.policies.harness import evaluate

RULE = rule.GUARDRAIL_ATTACHED.name
ENVS = list(Environment)


def _llm(mode: LlmMode, **guardrail: Any) -> dict[str, Any]:
    return {"llm": {"mode": mode.value, "guardrail": guardrail}}


@cache
def _k8s(env: Environment, fail_open: bool = False) -> tuple[DeploymentSpec, Capture]:
    overrides = _llm(LlmMode.SELF_HOSTED, fail_open=fail_open)
    spec = k8s_spec(Pattern.API_FIRST, env, overrides)
    return spec, run_component(spec)


def _findings(resources: list[CapturedResource]) -> list[str]:
    return [f.message for f in evaluate([rule.GUARDRAIL_ATTACHED], resources)]


def _model_containers(resources: list[CapturedResource]) -> list[dict[str, Any]]:
    return [
        c
        for d in of_kind(resources, "Deployment")
        for c in manifest(d)["spec"]["template"]["spec"]["containers"]
        if c["name"] == "model"
    ]


def _without_env(r: CapturedResource, names: set[str]) -> CapturedResource:
    inputs = json.loads(json.dumps(r.inputs))
    for c in inputs["spec"]["template"]["spec"]["containers"]:
        c["env"] = [e for e in c.get("env", []) if e["name"] not in names]
    return replace(r, inputs=inputs)


def test_the_rule_repeats_the_contract_of_components_llm() -> None:
    assert rule.CONFIG_VARIABLE == contract.HOOK_CONFIG_VARIABLE
    assert rule.HOOK_PROVIDER_VARIABLE == contract.HOOK_PROVIDER_VARIABLE
    assert rule.LLM_PROVIDER_VARIABLE == contract.LLM_PROVIDER_VARIABLE
    providers = {p.value for p in contract.HookProvider} | {p.value for p in contract.LlmProvider}
    assert set(rule.ATTACHMENTS) == providers
    known = {
        contract.HOOK_GUARDRAIL_ID_VARIABLE,
        contract.HOOK_GUARDRAIL_VERSION_VARIABLE,
        contract.HOOK_CONTENT_SAFETY_ENDPOINT_VARIABLE,
        contract.HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE,
        contract.LLM_ENDPOINT_VARIABLE,
        contract.LLM_DEPLOYMENT_VARIABLE,
    }
    assert {v for a in rule.ATTACHMENTS.values() for v in a.variables} <= known


@pytest.mark.parametrize("env", ENVS)
def test_a_kubernetes_llm_stack_passes_and_checks_prompts_on_premises(env: Environment) -> None:
    spec, cap = _k8s(env)
    assert _findings(cap.resources) == []
    containers = _model_containers(cap.resources)
    assert containers
    for c in containers:
        values = {e["name"]: e.get("value") for e in c["env"]}
        assert values[contract.HOOK_PROVIDER_VARIABLE] == contract.HookProvider.LOCAL.value
        assert json.loads(values[contract.HOOK_CONFIG_VARIABLE]) == json.loads(
            spec.llm.guardrail.hook_config()
        )


@pytest.mark.parametrize("env", ENVS)
def test_a_stack_without_its_guardrail_provider_fails(env: Environment) -> None:
    _, cap = _k8s(env)
    stripped = [
        _without_env(r, {contract.HOOK_PROVIDER_VARIABLE}) if r.type.endswith("Deployment") else r
        for r in cap.resources
    ]
    found = _findings(stripped)
    assert found and all("names no guardrail provider" in m for m in found)


def test_fail_open_is_reported_in_dev_and_refused_by_the_spec_elsewhere() -> None:
    _, cap = _k8s(Environment.DEV, fail_open=True)
    found = _findings(cap.resources)
    assert found and all("fail_open" in m for m in found)
    with pytest.raises(ValueError, match="fail_open"):
        k8s_spec(Pattern.API_FIRST, Environment.PROD, _llm(LlmMode.SELF_HOSTED, fail_open=True))


def test_prompt_attack_off_fails() -> None:
    spec = k8s_spec(Pattern.API_FIRST, Environment.STAGING, _llm(LlmMode.SELF_HOSTED))
    off = spec.model_copy(
        update={
            "llm": spec.llm.model_copy(
                update={
                    "guardrail": spec.llm.guardrail.model_copy(
                        update={"prompt_attack": contract.Strength.OFF}
                    )
                }
            )
        }
    )
    found = _findings(run_component(off).resources)
    assert found and all("prompt-attack detection is off" in m for m in found)


def test_the_level_is_advisory_in_dev_and_mandatory_in_staging_and_prod() -> None:
    from policies import pack

    levels = {env: pack.render_config(env)[RULE]["enforcementLevel"] for env in pack.ENVIRONMENTS}
    assert levels == {"dev": "advisory", "staging": "mandatory", "prod": "mandatory"}


def test_a_stack_without_an_llm_has_no_guardrail_env_and_no_guardrail_alarms() -> None:
    spec = k8s_spec(Pattern.API_FIRST, Environment.PROD, {})
    assert guardrail_alarms(spec) == []
    cap = run_component(spec)
    for c in _model_containers(cap.resources):
        assert not {e["name"] for e in c["env"]} & set(rule.MARKERS)
    assert _findings(cap.resources) == []


@pytest.mark.parametrize("env", ENVS)
def test_the_kubernetes_guardrail_alerts_count_the_servers_counter(env: Environment) -> None:
    spec, cap = _k8s(env)
    (prometheus_rule,) = of_kind(cap.resources, "PrometheusRule")
    rules = {r["alert"]: r for g in manifest(prometheus_rule)["spec"]["groups"] for r in g["rules"]}
    for alarm in guardrail_alarms(spec):
        direction = "prompt" if alarm.signal is Signal.GUARDRAIL_BLOCKED_PROMPTS else "response"
        expr = rules[alarm_name(spec, alarm.key)]["expr"]
        assert contract.BLOCKED_COUNTER in expr
        assert f'direction="{direction}"' in expr
        assert f"[{alarm.period_seconds}s]" in expr
        assert expr.endswith(f"> {alarm.threshold:g}")
        assert rules[alarm_name(spec, alarm.key)]["labels"]["severity"] == "ticket"
    # The dashboard shows both series, with the alerts' own expressions.
    (board,) = [c for c in of_kind(cap.resources, "ConfigMap") if "dashboard" in c.name]
    panels = {
        p["title"]: p["targets"][0]["expr"]
        for p in json.loads(next(iter(manifest(board)["data"].values())))["panels"]
    }
    for alarm in guardrail_alarms(spec):
        assert rules[alarm_name(spec, alarm.key)]["expr"].startswith(
            panels[alarm_name(spec, alarm.key)]
        )


# -- every cloud: the stack passes, and without its guardrail it fails ---------------------------
CLOUD_LLMS: list[tuple[Cloud, dict[str, Any]]] = [
    (Cloud.AWS, {"llm": {"mode": "hosted", "model": "amazon.nova-lite-v1:0"}}),
    (Cloud.AWS, {"llm": {"mode": "self-hosted"}}),
    (
        Cloud.AZURE,
        {"llm": {"mode": "hosted", "model": "gpt-4o-mini", "model_version": "2024-07-18"}},
    ),
    (Cloud.AZURE, {"llm": {"mode": "self-hosted"}}),
    (Cloud.GCP, {"region": "us-central1", "llm": {"mode": "hosted", "model": "gemini-2.5-flash"}}),
    (Cloud.GCP, {"llm": {"mode": "self-hosted"}}),
]
GUARDRAIL_TYPES = {t for a in rule.ATTACHMENTS.values() for t in a.guardrail_types}


@cache
def _cloud_run(cloud: Cloud, overrides: str, env: Environment) -> Capture:
    return run_component(make_spec(cloud, Pattern.API_FIRST, env, json.loads(overrides)))


@pytest.mark.parametrize("env", [Environment.STAGING, Environment.PROD])
@pytest.mark.parametrize(
    ("cloud", "overrides"),
    CLOUD_LLMS,
    ids=[f"{c.value}-{o['llm']['mode']}" for c, o in CLOUD_LLMS],
)
def test_every_clouds_llm_stack_passes_and_fails_without_its_guardrail(
    cloud: Cloud, overrides: dict[str, Any], env: Environment
) -> None:
    cap = _cloud_run(cloud, json.dumps(overrides, sort_keys=True), env)
    assert _findings(cap.resources) == []
    kept = [r for r in cap.resources if r.type not in GUARDRAIL_TYPES]
    assert len(kept) < len(cap.resources), "the stack holds no guardrail the rule knows"
    found = _findings(kept)
    assert found and all("in the stack" in m for m in found)
    from policies import pack

    assert pack.render_config(env.value)[RULE]["enforcementLevel"] == "mandatory"
