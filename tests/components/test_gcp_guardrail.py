"""The GCP LLM guardrail under Pulumi's mocks: the Model Armor template mapped from the neutral
setting, its grants, the model container's environment (the hook's seam), the blocked-call
metric and its alarms, the APIs the bootstrap enables, and api-first without an LLM untouched."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pulumi_gcp as gcp
import pytest

from components.alarms import Tier, alarm_name, guardrail_alarms
from components.gcp import guardrail, monitoring, prerequisites
from components.gcp.api_first import LLM_BODY_INSPECTION_SIZE
from components.gcp.bootstrap import GcpBootstrap, bootstrap_inputs, project_apis
from components.llm import (
    BLOCKED_EVENT,
    HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE,
    LLM_REGION_VARIABLE,
    LLM_REGIONS,
    Direction,
    LlmMode,
    LlmSettings,
    hook_environment,
)
from components.spec import Cloud, DeploymentSpec, Environment, Pattern, spec_from_config
from offline.capture import GCP_PROJECT, Capture, CapturedResource, capture
from tests.conftest import make_spec, of_type, run_component, sample_plan

TEMPLATE = "gcp:modelarmor/template:Template"
METRIC = "gcp:logging/metric:Metric"
RUN = "gcp:cloudrunv2/service:Service"
IAM = "gcp:projects/iAMMember:IAMMember"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
HOSTED_REGION = "us-central1"  # Model Armor's Vertex AI integration runs there
MODES = ["self-hosted", "hosted"]
ENVS = list(Environment)


def llm_overrides(mode: str, **guardrail_settings: Any) -> dict[str, Any]:
    llm: dict[str, Any] = {"mode": mode}
    if guardrail_settings:
        llm["guardrail"] = guardrail_settings
    overrides: dict[str, Any] = {"llm": llm}
    if mode == "hosted":
        llm["model"] = "gemini-2.5-flash"
        overrides["region"] = HOSTED_REGION
    return overrides


@cache
def _run(env: Environment, mode: str) -> tuple[DeploymentSpec, Capture]:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, env, llm_overrides(mode))
    return spec, run_component(spec)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def model_env(service: CapturedResource) -> dict[str, str]:
    (model,) = [c for c in service.inputs["template"]["containers"] if c["name"] == "model"]
    return {e["name"]: e["value"] for e in model["envs"]}


# -- the neutral setting -> Model Armor, on captured inputs -------------------------------------
def test_strengths_and_categories_map_to_model_armor_filters() -> None:
    spec = make_spec(
        Cloud.GCP,
        Pattern.API_FIRST,
        Environment.PROD,
        llm_overrides(
            "self-hosted",
            harm={
                "hate": "high",
                "sexual": "low",
                "violence": "off",
                "self-harm": "medium",
                "misconduct": "low",
                "harassment": "off",
            },
            prompt_attack="medium",
            pii=[],
        ),
    )
    config = one(run_component(spec).resources, TEMPLATE).inputs["filterConfig"]
    filters = {f["filterType"]: f["confidenceLevel"] for f in config["raiSettings"]["raiFilters"]}
    # A HIGH strength blocks low-confidence matches; DANGEROUS takes the strongest of violence,
    # self-harm and misconduct; an OFF category has no filter.
    assert filters == {
        "HATE_SPEECH": "LOW_AND_ABOVE",
        "SEXUALLY_EXPLICIT": "HIGH",
        "DANGEROUS": "MEDIUM_AND_ABOVE",
    }
    assert config["piAndJailbreakFilterSettings"] == {
        "filterEnforcement": "ENABLED",
        "confidenceLevel": "MEDIUM_AND_ABOVE",
    }
    assert config["sdpSettings"]["basicConfig"]["filterEnforcement"] == "DISABLED"
    assert config["maliciousUriFilterSettings"]["filterEnforcement"] == "ENABLED"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env", ENVS)
def test_template_blocks_in_the_stacks_region_with_the_specs_messages(
    env: Environment, mode: str
) -> None:
    spec, cap = _run(env, mode)
    template = one(cap.resources, TEMPLATE)
    assert template.inputs["location"] == spec.region
    assert spec.region in (LLM_REGIONS["gcp"][spec.llm.mode] or ())
    config = template.inputs["filterConfig"]
    assert config["piAndJailbreakFilterSettings"]["filterEnforcement"] == "ENABLED"
    assert {f["filterType"] for f in config["raiSettings"]["raiFilters"]} == {
        "HATE_SPEECH",
        "SEXUALLY_EXPLICIT",
        "HARASSMENT",
        "DANGEROUS",
    }
    assert config["sdpSettings"]["basicConfig"]["filterEnforcement"] == "ENABLED"
    meta = template.inputs["templateMetadata"]
    assert meta["enforcementType"] == "INSPECT_AND_BLOCK"
    assert meta["customPromptSafetyErrorMessage"] == spec.llm.guardrail.blocked_input_message
    assert meta["customLlmResponseSafetyErrorMessage"] == spec.llm.guardrail.blocked_output_message
    # Template changes are audited; sanitize operations (which may carry the text) are not
    # logged: the model server's blocked-call line is the record.
    assert meta["logTemplateOperations"] is True
    assert meta["logSanitizeOperations"] is False
    assert template.inputs["labels"]["guardrail"] == spec.llm.guardrail.fingerprint()


@pytest.mark.parametrize("project", ["a", "acme-support", "x" * 30])
@pytest.mark.parametrize("env", ENVS)
def test_template_id_keeps_model_armors_id_rules(project: str, env: Environment) -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, env, llm_overrides("self-hosted"))
    spec = spec.model_copy(update={"project": project})
    found = guardrail.template_id(spec)
    # Letters, digits and hyphens, at most 63, not starting with a hyphen (Model Armor docs).
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", found), found


def test_a_changed_guardrail_changes_the_templates_fingerprint_label() -> None:
    base = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.PROD, llm_overrides("self-hosted"))
    tighter = make_spec(
        Cloud.GCP,
        Pattern.API_FIRST,
        Environment.PROD,
        llm_overrides("self-hosted", prompt_attack="medium"),
    )
    labels = [
        one(run_component(s).resources, TEMPLATE).inputs["labels"]["guardrail"]
        for s in (base, tighter)
    ]
    assert labels[0] != labels[1]


# -- grants and the model container's environment ----------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_self_hosted_serving_account_may_sanitize_and_nothing_more(env: Environment) -> None:
    _, cap = _run(env, "self-hosted")
    grants = [g for g in of_type(cap.resources, IAM) if "-guardrail-" in g.name]
    serving = of_type(cap.resources, RUN)[0].inputs["template"]["serviceAccount"]
    assert {(g.inputs["role"], g.inputs["member"]) for g in grants} == {
        ("roles/modelarmor.user", f"serviceAccount:{serving}")
    }
    assert all(g.inputs["project"] == GCP_PROJECT for g in grants)


@pytest.mark.parametrize("env", ENVS)
def test_hosted_serving_account_calls_vertex_and_vertex_calls_model_armor(
    env: Environment,
) -> None:
    _, cap = _run(env, "hosted")
    grants = {(g.inputs["role"], g.inputs["member"]) for g in of_type(cap.resources, IAM)}
    serving = of_type(cap.resources, RUN)[0].inputs["template"]["serviceAccount"]
    agent = "serviceAccount:" + prerequisites.AGENT_EMAILS["aiplatform"].format(number="123456789")
    assert ("roles/aiplatform.user", f"serviceAccount:{serving}") in grants
    assert ("roles/modelarmor.user", agent) in grants
    assert ("roles/modelarmor.user", f"serviceAccount:{serving}") not in grants
    # Every role the guardrail grants is one the bootstrap lets an LLM stack's deployer grant.
    mode = LlmMode.HOSTED
    guardrail_roles = {r for r, _ in grants if r.startswith(("roles/modelarmor", "roles/aiplat"))}
    assert guardrail_roles == set(prerequisites.LLM_PROJECT_GRANTS[mode])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env", ENVS)
def test_model_container_gets_the_hooks_variables_and_esp_none(env: Environment, mode: str) -> None:
    spec, cap = _run(env, mode)
    template = one(cap.resources, TEMPLATE)
    expected_name = (
        f"projects/{GCP_PROJECT}/locations/{spec.region}/templates/{template.inputs['templateId']}"
    )
    for service in of_type(cap.resources, RUN):
        envs = model_env(service)
        # The seam with the model server: every variable components.llm defines, by its name.
        for key, value in hook_environment("gcp", spec.llm).items():
            assert envs[key] == value
        assert envs[HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE] == expected_name
        assert envs[LLM_REGION_VARIABLE] == spec.region
        (esp,) = [c for c in service.inputs["template"]["containers"] if c["name"] == "esp"]
        assert {e["name"] for e in esp["envs"]} == {"ESPv2_ARGS"}
        # The service starts only once the guardrail may be used.
        grant_urns = {g.urn for g in of_type(cap.resources, IAM) if "-guardrail-" in g.name}
        assert grant_urns <= set(service.dependencies)


# -- gateway: Cloud Armor caps the body at the guardrail's size and inspects the most it can ---
@pytest.mark.parametrize("env", ENVS)
def test_cloud_armor_caps_at_the_prompt_size_and_inspects_64kb(env: Environment) -> None:
    spec, cap = _run(env, "self-hosted")
    armor = one(cap.resources, ARMOR)
    assert armor.inputs["advancedOptionsConfig"]["requestBodyInspectionSize"] == "64KB"
    assert LLM_BODY_INSPECTION_SIZE == "64KB"
    (size,) = [r for r in armor.inputs["rules"] if "content-length" in json.dumps(r)]
    assert size["action"] == "deny(403)"
    assert size["match"]["expr"]["expression"].endswith(f"> {spec.llm.guardrail.max_prompt_bytes}")
    assert spec.body_cap == spec.llm.guardrail.max_prompt_bytes
    assert size["priority"] == min(r["priority"] for r in armor.inputs["rules"])


# -- the blocked-call metric and its alarms ------------------------------------------------------
def _value(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def matches(log_filter: str, entry: dict[str, Any]) -> bool:
    """Evaluate the filters blocked_log_filter writes: ANDs of ``field="v"`` and
    ``field=("a" OR "b")`` (a tiny subset of the Logging query language, enough to hold the
    metric to a real log line)."""
    for clause in log_filter.split(" AND "):
        field, _, wanted = clause.partition("=")
        values = re.findall(r'"([^"]*)"', wanted)
        if str(_value(entry, field.strip())) not in values:
            return False
    return True


def blocked_line(service: str, direction: Direction, event: str = BLOCKED_EVENT) -> dict[str, Any]:
    """A log entry as Cloud Run stores the model server's JSON line."""
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "jsonPayload": {"event": event, "direction": direction.value, "reasons": ["HATE_SPEECH"]},
    }


@pytest.mark.parametrize("env", ENVS)
def test_the_metric_counts_the_model_servers_blocked_lines_by_direction(env: Environment) -> None:
    _, cap = _run(env, "self-hosted")
    metric = one(cap.resources, METRIC)
    services = [s.inputs["name"] for s in of_type(cap.resources, RUN)]
    for service in services:
        for direction in Direction:
            assert matches(metric.inputs["filter"], blocked_line(service, direction))
        other = blocked_line(service, Direction.PROMPT, event="guardrail_unavailable")
        assert not matches(metric.inputs["filter"], other)
    assert not matches(metric.inputs["filter"], blocked_line("someone-else", Direction.PROMPT))
    # The direction label is read from the line's own field.
    extractor = metric.inputs["labelExtractors"]["direction"]
    field = re.fullmatch(r"EXTRACT\((.+)\)", extractor)
    assert field is not None
    assert _value(blocked_line(services[0], Direction.RESPONSE), field.group(1)) == "response"


@pytest.mark.parametrize("env", ENVS)
def test_guardrail_alarms_are_ticket_policies_on_the_metric_named_like_the_others(
    env: Environment,
) -> None:
    spec, cap = _run(env, "self-hosted")
    metric = one(cap.resources, METRIC)
    policies = {p.inputs["displayName"]: p for p in of_type(cap.resources, ALERT)}
    rules = guardrail_alarms(spec)
    assert len(rules) == 2
    for rule in rules:
        policy = policies[alarm_name(spec, rule.key)]
        assert policy.inputs["severity"] == monitoring.SEVERITIES[Tier.TICKET]
        condition = policy.inputs["conditions"][0]["conditionThreshold"]
        direction = monitoring.GUARDRAIL_SIGNALS[rule.signal].value
        assert f"logging.googleapis.com/user/{metric.inputs['name']}" in condition["filter"]
        assert f'metric.label.direction = "{direction}"' in condition["filter"]
        assert condition["thresholdValue"] == spec.llm.guardrail.alert_blocked_per_5min
        assert condition["aggregations"][0]["alignmentPeriod"] == f"{rule.period_seconds}s"
        assert condition["aggregations"][0]["perSeriesAligner"] == "ALIGN_SUM"
    dashboard = json.loads(
        one(cap.resources, "gcp:monitoring/dashboard:Dashboard").inputs["dashboardJson"]
    )
    titles = {t["widget"]["title"] for t in dashboard["mosaicLayout"]["tiles"]}
    assert {r.signal.value for r in rules} <= titles


# -- the project's APIs and the deployer's types --------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_every_type_of_an_llm_stack_has_its_api_and_deployer_role(mode: str) -> None:
    _, cap = _run(Environment.PROD, mode)
    llm = LlmMode(mode)
    known = prerequisites.PATTERN_RESOURCE_TYPES[Pattern.API_FIRST] | (
        prerequisites.llm_resource_types(llm)
    )
    types = {r.type for r in cap.resources if r.custom}
    assert types <= known, types - known
    apis = prerequisites.pattern_apis(Pattern.API_FIRST) | prerequisites.llm_apis(llm)
    assert "modelarmor.googleapis.com" in apis
    assert ("aiplatform.googleapis.com" in prerequisites.llm_apis(llm)) is (llm is LlmMode.HOSTED)
    assert "roles/modelarmor.admin" in prerequisites.llm_roles(llm)


@pytest.mark.parametrize("mode", [*MODES, "none"])
def test_bootstrap_reads_the_llm_mode_from_the_stack_files_and_enables_its_apis(
    mode: str,
) -> None:
    plan = sample_plan(Cloud.GCP, Pattern.API_FIRST)
    overrides = llm_overrides(mode) if mode != "none" else {}
    (spec,) = [s for s in plan.bootstrap.values()]
    sections = {
        env: {**plan.sections[env], **overrides, "llm": overrides.get("llm", {"mode": "none"})}
        for env in Environment
    }
    inputs = bootstrap_inputs(spec, lambda env: sections[env])
    # The stack files' own llm settings, whole (the floor setting is built from them).
    for env in Environment:
        assert inputs == {"llm": spec_from_config(spec.project, sections[env]).llm}
    assert inputs["llm"].mode is LlmMode(mode)
    cap = capture(
        lambda: GcpBootstrap(spec.project, spec, **inputs),
        project=f"{spec.project}-bootstrap",
        stack=spec.stack,
        config={"gcp:project": spec.account, "gcp:region": spec.region},
        region=spec.region,
    )
    enabled = {r.inputs["service"] for r in of_type(cap.resources, "gcp:projects/service:Service")}
    assert enabled == set(project_apis(spec, LlmMode(mode)))
    assert ("modelarmor.googleapis.com" in enabled) is (mode != "none")
    if mode == "hosted":
        assert "aiplatform.googleapis.com" in enabled


def test_bootstrap_refuses_environments_that_reach_their_llm_differently() -> None:
    plan = sample_plan(Cloud.GCP, Pattern.API_FIRST)
    (spec,) = list(plan.bootstrap.values())
    sections = {env: dict(plan.sections[env]) for env in Environment}
    sections[Environment.PROD] = {**sections[Environment.PROD], "llm": {"mode": "self-hosted"}}
    with pytest.raises(ValueError, match=r"llm\.mode differs"):
        bootstrap_inputs(spec, lambda env: sections[env])


def test_bootstrap_takes_dev_fail_open_but_refuses_any_other_llm_difference() -> None:
    """Parity lets dev alone fail open; the project's share (APIs, grants, floor setting) never
    reads it. Anything else that differs has no single floor setting: refused."""
    plan = sample_plan(Cloud.GCP, Pattern.API_FIRST)
    (spec,) = list(plan.bootstrap.values())
    llm = llm_overrides("self-hosted")["llm"]
    sections = {env: {**plan.sections[env], "llm": llm} for env in Environment}
    dev = {**llm, "guardrail": {"fail_open": True}}
    sections[Environment.DEV] = {**sections[Environment.DEV], "llm": dev}
    inputs = bootstrap_inputs(spec, lambda env: sections[env])
    prod = spec_from_config(spec.project, sections[Environment.PROD]).llm
    assert inputs == {"llm": prod}
    assert spec_from_config(spec.project, sections[Environment.DEV]).llm.guardrail.fail_open
    weaker = {**llm, "guardrail": {"prompt_attack": "low"}}
    sections[Environment.STAGING] = {**sections[Environment.STAGING], "llm": weaker}
    with pytest.raises(ValueError, match=r"llm settings differ .*: dev, prod / staging"):
        bootstrap_inputs(spec, lambda env: sections[env])


# -- the floor setting (the bootstrap's, built here) ---------------------------------------------
def test_floor_setting_screens_vertex_only_where_the_integration_runs() -> None:
    hosted = LlmSettings(mode=LlmMode.HOSTED, model="gemini-2.5-flash")
    args = guardrail.floor_setting_args("acme-ai-prod", HOSTED_REGION, hosted)
    assert args is not None
    assert args.parent == "projects/acme-ai-prod"
    assert args.location == "global"
    assert args.enable_floor_setting_enforcement is True
    assert args.integrated_services == ["AI_PLATFORM"]
    vertex = args.ai_platform_floor_setting
    assert isinstance(vertex, gcp.modelarmor.FloorsettingAiPlatformFloorSettingArgs)
    assert vertex.inspect_and_block is True
    elsewhere = guardrail.floor_setting_args("acme-ai-prod", "europe-west1", hosted)
    assert elsewhere is not None and elsewhere.integrated_services is None
    assert guardrail.floor_setting_args("acme-ai-prod", HOSTED_REGION, LlmSettings()) is None
    # Every region the spec accepts for hosted has the integration.
    assert LLM_REGIONS["gcp"][LlmMode.HOSTED] == guardrail.VERTEX_INTEGRATION_REGIONS


# -- without an LLM, api-first is unchanged ---------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_api_first_without_an_llm_has_no_guardrail(env: Environment) -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, env)
    cap = run_component(spec)
    assert not of_type(cap.resources, TEMPLATE, METRIC)
    armor = one(cap.resources, ARMOR)
    assert "requestBodyInspectionSize" not in armor.inputs["advancedOptionsConfig"]
    assert f"> {spec.api.max_request_bytes}" in json.dumps(armor.inputs["rules"])
    for service in of_type(cap.resources, RUN):
        assert set(model_env(service)) == {"MODEL_VERSION", "MODEL_PORT"}
