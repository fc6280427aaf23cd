"""The Bedrock guardrail of an api-first LLM stack under Pulumi mocks (components/aws/guardrail.py).

Every assertion reads captured resources: the neutral setting's mapping to Bedrock's inputs, the
version that changes exactly when the setting does, the task role's grants, the container's
environment (the hook's variable names from components/llm.py), the metric filters that count
the model server's blocked-call log line, the alarms and dashboard, the WAF's body handling, and
that a stack without an LLM is unchanged.

The capture mocks give a guardrail the ``guardrailArn``/``guardrailId``/``version`` Bedrock
computes, and a version its number (offline/capture.py).
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components import llm
from components.alarms import GUARDRAIL_PERIOD_SECONDS, Signal, Tier, alarm_name
from components.aws import guardrail as gr
from components.aws import monitoring
from components.aws.waf import LLM_BODY_INSPECTION
from components.llm import BLOCKED_EVENT, Direction, LlmMode
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import ACCOUNT_ID, Capture, CapturedResource
from policies.rules.aws import bedrock as bedrock_rules
from policies.rules.aws import iam as iam_rules
from policies.rules.aws import waf as waf_rules
from tests.conftest import ROOT, make_spec, of_type, run_component
from tests.policies.harness import evaluate

REGION = "eu-west-1"
HOSTED_MODEL = "eu.amazon.nova-lite-v1:0"
MODES: dict[str, dict[str, Any]] = {
    "self-hosted": {"mode": "self-hosted"},
    "hosted": {"mode": "hosted", "model": HOSTED_MODEL},
}
# A setting far from the defaults, so a mapping that ignored it would show.
TUNED: dict[str, Any] = {
    "harm": {"hate": "high", "violence": "low", "self-harm": "high", "harassment": "off"},
    "prompt_attack": "medium",
    "pii": ["email", "iban", "ip-address"],
    "pii_action": "block",
    "denied_topics": [
        {
            "name": "Investment advice",
            "definition": "Recommendations on where to invest money or which assets to buy.",
            "examples": ["Which stocks should I buy?", "Is gold a good investment now?"],
        }
    ],
    "blocked_input_message": "That question is outside what this assistant answers.",
    "blocked_output_message": "The answer was withheld.",
}
GUARDRAIL = "aws:bedrock/guardrail:Guardrail"
VERSION = "aws:bedrock/guardrailVersion:GuardrailVersion"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


_RUNS: dict[str, Capture] = {}


def spec_for(
    env: Environment, mode: str, guardrail: dict[str, Any] | None = None
) -> DeploymentSpec:
    llm_section: dict[str, Any] = dict(MODES[mode])
    if guardrail is not None:
        llm_section["guardrail"] = guardrail
    return make_spec(Cloud.AWS, Pattern.API_FIRST, env, {"llm": llm_section})


def run(spec: DeploymentSpec) -> Capture:
    key = spec.model_dump_json()
    if key not in _RUNS:
        _RUNS[key] = run_component(spec)
    return _RUNS[key]


def one(resources: list[CapturedResource], token: str, name: str | None = None) -> CapturedResource:
    found = [r for r in of_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def guardrail_id(resources: list[CapturedResource]) -> str:
    """What the container names the guardrail by: its ARN, as the version resource saw it."""
    version = one(resources, VERSION)
    return str(version.inputs["guardrailArn"])


CASES = [(env, mode) for env in Environment for mode in MODES]
IDS = [f"{env.value}-{mode}" for env, mode in CASES]


# --- the neutral setting -> Bedrock, on captured inputs -----------------------------------------
@pytest.mark.parametrize(("env", "mode"), CASES, ids=IDS)
def test_the_neutral_setting_maps_to_bedrocks_filters(env: Environment, mode: str) -> None:
    spec = spec_for(env, mode, TUNED)
    resources = run(spec).resources
    g = one(resources, GUARDRAIL)
    filters = {f["type"]: f for f in g.inputs["contentPolicyConfig"]["filtersConfigs"]}
    # hate high; self-harm (high) and violence (low) share VIOLENCE: the stronger holds;
    # harassment off, sexual and misconduct left out (off): no INSULTS, SEXUAL or MISCONDUCT.
    assert {t: (f["inputStrength"], f["outputStrength"]) for t, f in filters.items()} == {
        "HATE": ("HIGH", "HIGH"),
        "VIOLENCE": ("HIGH", "HIGH"),
        "PROMPT_ATTACK": ("MEDIUM", "NONE"),  # prompt attacks: the input side only
    }
    assert g.inputs["contentPolicyConfig"]["tierConfigs"] == [{"tierName": "CLASSIC"}]
    entities = g.inputs["sensitiveInformationPolicyConfig"]["piiEntitiesConfigs"]
    assert {e["type"] for e in entities} == {
        "EMAIL",
        "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
        "IP_ADDRESS",
    }
    assert all(e["action"] == e["inputAction"] == e["outputAction"] == "BLOCK" for e in entities)
    [topic] = g.inputs["topicPolicyConfig"]["topicsConfigs"]
    assert topic == {
        "name": "Investment advice",
        "definition": TUNED["denied_topics"][0]["definition"],
        "examples": TUNED["denied_topics"][0]["examples"],
        "type": "DENY",
    }
    assert g.inputs["blockedInputMessaging"] == TUNED["blocked_input_message"]
    assert g.inputs["blockedOutputsMessaging"] == TUNED["blocked_output_message"]
    # Encrypted with the stack's own key (the one api-first already creates).
    key = one(resources, "aws:kms/key:Key")
    assert g.inputs["kmsKeyArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{key.name}"
    assert list(g.property_dependencies["kmsKeyArn"]) == [key.urn]
    assert g.inputs["tags"]["environment"] == env.value


def test_redact_is_anonymize_and_every_default_category_has_a_filter() -> None:
    g = one(run(spec_for(Environment.PROD, "self-hosted")).resources, GUARDRAIL)
    types = {f["type"] for f in g.inputs["contentPolicyConfig"]["filtersConfigs"]}
    # Every Bedrock content filter type is used by the defaults (all categories medium).
    assert types == {"HATE", "SEXUAL", "VIOLENCE", "INSULTS", "MISCONDUCT", "PROMPT_ATTACK"}
    entities = g.inputs["sensitiveInformationPolicyConfig"]["piiEntitiesConfigs"]
    assert {e["action"] for e in entities} == {"ANONYMIZE"}
    assert "topicPolicyConfig" not in g.inputs  # no denied topics: no topic policy


def test_every_neutral_value_has_a_bedrock_value() -> None:
    assert set(gr.HARM_FILTERS) == set(llm.HarmCategory)
    assert set(gr.STRENGTHS) == set(llm.Strength)
    assert set(gr.PII_TYPES) == set(llm.PiiEntity)
    assert set(gr.PII_ACTIONS) == set(llm.PiiAction)
    bedrock_types = {"HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT"}
    assert {t for types in gr.HARM_FILTERS.values() for t in types} == bedrock_types


# --- Bedrock's limits -----------------------------------------------------------------------
def test_the_neutral_limits_are_within_bedrocks() -> None:
    assert llm.MESSAGE_MAX <= gr.MESSAGE_MAX
    assert llm.TOPIC_DEFINITION_MAX <= gr.TOPIC_DEFINITION_MAX
    assert llm.TOPIC_EXAMPLE_MAX <= gr.TOPIC_EXAMPLE_MAX
    assert llm.TOPIC_EXAMPLES_MAX <= gr.TOPIC_EXAMPLES_MAX
    assert llm.TOPICS_MAX <= gr.TOPICS_MAX


@given(st.from_regex(llm.TOPIC_NAME_RE, fullmatch=True))
def test_every_neutral_topic_name_is_a_bedrock_topic_name(name: str) -> None:
    assert gr.TOPIC_NAME_RE.fullmatch(name)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=120))
def test_the_guardrail_name_fits_bedrock_for_any_project(project: str) -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.STAGING)
    name = gr.guardrail_name(spec.model_copy(update={"project": project}))
    assert gr.NAME_RE.fullmatch(name), name
    assert len(name) <= gr.NAME_MAX


def test_the_largest_setting_the_spec_accepts_is_a_valid_bedrock_guardrail() -> None:
    longest = "A" + "b" * (llm.MESSAGE_MAX - 1)
    topics = [
        {
            "name": f"T{i} " + "x" * 90,
            "definition": "d" * llm.TOPIC_DEFINITION_MAX,
            "examples": ["e" * llm.TOPIC_EXAMPLE_MAX] * llm.TOPIC_EXAMPLES_MAX,
        }
        for i in range(llm.TOPICS_MAX)
    ]
    spec = spec_for(
        Environment.DEV,
        "self-hosted",
        {
            "blocked_input_message": longest,
            "blocked_output_message": longest,
            "denied_topics": topics,
        },
    )
    args = gr.guardrail_args(spec, "arn:aws:kms:eu-west-1:123456789012:key/k")
    assert len(args["blocked_input_messaging"]) <= gr.MESSAGE_MAX
    assert len(args["description"]) <= gr.DESCRIPTION_MAX
    assert len(gr.version_description(spec.llm.guardrail)) <= gr.DESCRIPTION_MAX
    configured = args["topic_policy_config"]["topics_configs"]
    assert len(configured) <= gr.TOPICS_MAX
    for t in configured:
        assert gr.TOPIC_NAME_RE.fullmatch(t["name"])
        assert len(t["definition"]) <= gr.TOPIC_DEFINITION_MAX
        assert len(t["examples"]) <= gr.TOPIC_EXAMPLES_MAX
        assert all(1 <= len(e) <= gr.TOPIC_EXAMPLE_MAX for e in t["examples"])
    assert args["topic_policy_config"]["tier_configs"] == [{"tier_name": gr.TIER}]


# --- versions: a changed setting makes a new one, old ones stay ---------------------------------
def _version(guardrail: dict[str, Any] | None) -> CapturedResource:
    return one(run(spec_for(Environment.STAGING, "hosted", guardrail)).resources, VERSION)


def test_the_version_changes_exactly_when_what_the_guardrail_enforces_does() -> None:
    base = _version(TUNED)
    assert base.inputs["skipDestroy"] is True
    assert base.inputs["description"].endswith(
        spec_for(Environment.STAGING, "hosted", TUNED).llm.guardrail.fingerprint()
    )
    # Same enforcement, other alert threshold: the same description, so no new version.
    quieter = _version({**TUNED, "alert_blocked_per_5min": 400})
    assert quieter.inputs["description"] == base.inputs["description"]
    # A stricter filter: a new description (the provider replaces the version: a new number).
    stricter = _version({**TUNED, "prompt_attack": "high"})
    assert stricter.inputs["description"] != base.inputs["description"]
    # The guardrail itself keeps its logical name (updated in place, its DRAFT changes).
    names = {
        one(run(spec_for(Environment.STAGING, "hosted", g)).resources, GUARDRAIL).urn
        for g in (TUNED, {**TUNED, "prompt_attack": "high"})
    }
    assert len(names) == 1


def test_the_version_snapshots_the_stacks_guardrail() -> None:
    resources = run(spec_for(Environment.PROD, "self-hosted")).resources
    g, v = one(resources, GUARDRAIL), one(resources, VERSION)
    assert list(v.property_dependencies["guardrailArn"]) == [g.urn]
    assert v.inputs["guardrailArn"].startswith(f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:guardrail/")


def test_dev_may_fail_open_without_a_new_version() -> None:
    strict = _version(None)
    spec = spec_for(Environment.DEV, "hosted", {"fail_open": True})
    open_ = one(run(spec).resources, VERSION)
    assert open_.inputs["description"] == strict.inputs["description"]


# --- IAM: the guardrail, and the model only with it ----------------------------------------------
def task_policy(resources: list[CapturedResource]) -> list[dict[str, Any]]:
    policy = one(resources, "aws:iam/rolePolicy:RolePolicy", "acme-support-task-role-policy")
    return list(json.loads(policy.inputs["policy"])["Statement"])


@pytest.mark.parametrize(("env", "mode"), CASES, ids=IDS)
def test_the_task_role_reaches_the_model_only_through_the_pinned_guardrail(
    env: Environment, mode: str
) -> None:
    spec = spec_for(env, mode)
    resources = run(spec).resources
    version = one(resources, VERSION)
    pinned = f"{version.inputs['guardrailArn']}:1"  # <guardrail ARN>:<version number>
    statements = {s.get("Sid", ""): s for s in task_policy(resources)}
    assert statements["Guardrail"]["Action"] == ["bedrock:ApplyGuardrail"]
    assert statements["Guardrail"]["Resource"] == [version.inputs["guardrailArn"]]
    deny = statements["DenyInvokeWithoutGuardrail"]
    assert deny["Effect"] == "Deny" and deny["Resource"] == ["*"]
    assert set(deny["Action"]) == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    assert deny["Condition"] == {"StringNotEquals": {"bedrock:GuardrailIdentifier": pinned}}
    allowed = [s for s in statements.values() if s["Effect"] == "Allow"]
    invoking = [s for s in allowed if any(a.startswith("bedrock:Invoke") for a in s["Action"])]
    if spec.llm.mode is LlmMode.HOSTED:
        [allow] = invoking
        assert allow["Condition"] == {"StringEquals": {"bedrock:GuardrailIdentifier": pinned}}
        assert allow["Resource"] == [
            f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/{HOSTED_MODEL}",
            "arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0",
        ]
    else:
        assert invoking == []
    # The guardrail's key, decrypted for the caller through Bedrock only.
    key = one(resources, "aws:kms/key:Key")
    [decrypt] = [s for s in allowed if s["Action"] == ["kms:Decrypt"]]
    assert decrypt["Resource"] == [f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{key.name}"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"bedrock.{REGION}.amazonaws.com"]}
    }


@pytest.mark.parametrize(
    ("model", "arns"),
    [
        ("amazon.nova-lite-v1:0", [f"arn:aws:bedrock:{REGION}::foundation-model/amazon.nova-lite-v1:0"]),  # noqa: E501
        (
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            [
                f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
            ],
        ),
    ],
)  # fmt: skip
def test_a_model_id_or_an_inference_profile_names_what_the_role_invokes(
    model: str, arns: list[str]
) -> None:
    settings = llm.LlmSettings(mode=LlmMode.HOSTED, model=model)
    assert gr.model_arns(settings, REGION, ACCOUNT_ID) == arns


@pytest.mark.parametrize(("env", "mode"), CASES, ids=IDS)
def test_the_stack_passes_the_new_rules(env: Environment, mode: str) -> None:
    resources = run(spec_for(env, mode)).resources
    rules = [
        iam_rules.BEDROCK_INVOKE_REQUIRE_GUARDRAIL,
        bedrock_rules.REQUIRE_CMK,
        bedrock_rules.GUARDRAIL_REQUIRE_STACK_KEY,
        waf_rules.BODY_INSPECTION_DISALLOW_OVERSIZE_CONTINUE,
    ]
    assert evaluate(rules, resources) == []


# --- the container's environment: the hook's names, the guardrail's identifiers -------------------
@pytest.mark.parametrize(("env", "mode"), CASES, ids=IDS)
def test_the_serving_containers_get_the_hooks_environment(env: Environment, mode: str) -> None:
    spec = spec_for(env, mode)
    resources = run(spec).resources
    expected = {
        **llm.hook_environment("aws", spec.llm),
        llm.HOOK_GUARDRAIL_ID_VARIABLE: guardrail_id(resources),
        llm.HOOK_GUARDRAIL_VERSION_VARIABLE: "1",
        llm.LLM_REGION_VARIABLE: spec.region,
    }
    tasks = of_type(resources, "aws:ecs/taskDefinition:TaskDefinition")
    assert len(tasks) == 2  # stable and canary
    for task in tasks:
        [container] = json.loads(task.inputs["containerDefinitions"])
        env_vars = {e["name"]: e["value"] for e in container["environment"]}
        assert {k: env_vars.get(k) for k in expected} == expected
        config = json.loads(env_vars[llm.HOOK_CONFIG_VARIABLE])
        assert config["fail_open"] is spec.llm.guardrail.fail_open
        if spec.llm.mode is LlmMode.HOSTED:
            assert env_vars[llm.LLM_MODEL_VARIABLE] == HOSTED_MODEL
            assert env_vars[llm.LLM_PROVIDER_VARIABLE] == "bedrock"
        else:
            assert env_vars[llm.HOOK_PROVIDER_VARIABLE] == "bedrock"


# --- the blocked-call metric: CloudWatch's JSON filter over the model server's line --------------
_TERM = re.compile(r'\(\s*\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*"([^"]*)"\s*\)')


def filter_matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs JSON filter semantics for what the filters use: ``{ (A) && (B) }`` with
    ``$.field = "text"`` terms (exact string equality; a missing field or a line that is not a
    JSON object never matches)."""
    body = pattern.strip()
    assert body.startswith("{") and body.endswith("}"), pattern
    terms = [t.strip() for t in body[1:-1].split("&&")]
    try:
        event = json.loads(line)
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    for term in terms:
        match = _TERM.fullmatch(term)
        assert match, f"unsupported filter term {term!r}"
        path, op, value = match.groups()
        node: Any = event
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return False
        equal = isinstance(node, str) and node == value
        if equal != (op == "="):
            return False
    return True


def _jsonlog() -> Any:
    """The generated model server's log writer (templates/.../model/jsonlog.py), as shipped."""
    path = ROOT / "templates/client-project/{{cookiecutter.project_slug}}/model/jsonlog.py"
    spec = importlib.util.spec_from_file_location("aideploy_template_jsonlog", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def blocked_line(direction: Direction) -> str:
    """One blocked-call line as the model server writes it (components.llm's contract)."""
    out = io.StringIO()
    _jsonlog().emit(
        {
            "time": "2026-12-01T10:00:00Z",
            "severity": "WARNING",
            "event": BLOCKED_EVENT,
            "direction": direction.value,
            "reasons": ["PROMPT_ATTACK"],
        },
        stream=out,
    )
    return out.getvalue().rstrip("\n")


def test_each_filter_counts_its_directions_blocked_line_and_nothing_else() -> None:
    spec = spec_for(Environment.PROD, "self-hosted")
    resources = run(spec).resources
    logs = one(resources, "aws:cloudwatch/logGroup:LogGroup", "acme-support-serving-logs")
    filters = of_type(resources, FILTER)
    assert len(filters) == 2
    by_direction = {}
    for f in filters:
        assert list(f.property_dependencies["logGroupName"]) == [logs.urn]
        assert (
            f.inputs["logGroupName"] == f"/aws/ecs/{spec.project}-{spec.environment.value}/serving"
        )
        assert f.inputs["metricTransformation"]["value"] == "1"
        matched = [d for d in Direction if filter_matches(f.inputs["pattern"], blocked_line(d))]
        assert len(matched) == 1, f.inputs["pattern"]
        by_direction[matched[0]] = f
    assert set(by_direction) == set(Direction)
    unrelated = [
        json.dumps({"event": llm.UNAVAILABLE_EVENT, "direction": "prompt"}),
        json.dumps({"message": "request served", "status": 200}),
        "guardrail_blocked prompt (not JSON)",
    ]
    for f in filters:
        assert not any(filter_matches(f.inputs["pattern"], line) for line in unrelated)


@pytest.mark.parametrize("env", list(Environment))
def test_alarms_on_blocked_calls_are_ticket_tier_named_and_read_the_filters_metric(
    env: Environment,
) -> None:
    spec = spec_for(env, "hosted")
    resources = run(spec).resources
    filters = {
        (f.inputs["metricTransformation"]["namespace"], f.inputs["metricTransformation"]["name"])
        for f in of_type(resources, FILTER)
    }
    topics = {t.name: t for t in of_type(resources, "aws:sns/topic:Topic")}
    ticket = topics[f"acme-support-alerts-{Tier.TICKET.value}"]
    dashboard = one(resources, "aws:cloudwatch/dashboard:Dashboard")
    graphed = set(
        json.loads(dashboard.inputs["dashboardBody"])["widgets"][0]["properties"]["alarms"]
    )
    for signal in (Signal.GUARDRAIL_BLOCKED_PROMPTS, Signal.GUARDRAIL_BLOCKED_RESPONSES):
        alarm = one(resources, ALARM, f"acme-support-alarm-{signal.value}")
        assert alarm.inputs["name"] == alarm_name(spec, signal.value)
        assert alarm.inputs["threshold"] == spec.llm.guardrail.alert_blocked_per_5min
        assert alarm.inputs["evaluationPeriods"] == 1
        assert alarm.inputs["alarmActions"] == [f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{ticket.name}"]
        [query] = alarm.inputs["metricQueries"]
        metric = query["metric"]
        assert metric["period"] == GUARDRAIL_PERIOD_SECONDS and metric["stat"] == "Sum"
        assert (metric["namespace"], metric["metricName"]) in filters
        assert set(alarm.dependencies) >= {f.urn for f in of_type(resources, FILTER)}
        assert f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:{alarm.name}" in graphed
    # Each stack its own namespace: a filter cannot set a constant dimension.
    assert {ns for ns, _ in filters} == {monitoring.guardrail_namespace(spec)}


# --- the gateway: the cap is the prompt size, WAF sees as much as it can -------------------------
@pytest.mark.parametrize("mode", list(MODES))
def test_the_waf_caps_bodies_at_the_prompt_size_and_inspects_64_kb(mode: str) -> None:
    spec = spec_for(Environment.PROD, mode, {"max_prompt_bytes": 500_000})
    acl = one(run(spec).resources, "aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["associationConfig"] == {
        "requestBodies": [{"apiGateway": {"defaultSizeInspectionLimit": LLM_BODY_INSPECTION}}]
    }
    [cap] = [r for r in acl.inputs["rules"] if r["name"] == "request-too-large"]
    regex = re.compile(cap["statement"]["regexMatchStatement"]["regexString"])
    assert spec.body_cap == 500_000 < spec.api.max_request_bytes
    assert regex.fullmatch("500001") and not regex.fullmatch("500000")
    # A long RAG prompt above what WAF inspects (64 KB) still gets through to the guardrail.
    assert not regex.fullmatch(str(200_000))


# --- a stack without an LLM is unchanged ---------------------------------------------------------
def test_a_stack_without_an_llm_has_no_guardrail_grant_or_variable() -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD)
    assert not spec.llm.enabled
    resources = run(spec).resources
    assert of_type(resources, GUARDRAIL, VERSION, FILTER) == []
    role = one(resources, "aws:iam/role:Role", "acme-support-task-role")
    assert role.inputs["description"] == "Model container identity; grants nothing"
    assert of_type(resources, "aws:iam/rolePolicy:RolePolicy") and not any(
        r.name == "acme-support-task-role-policy"
        for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy")
    )
    acl = one(resources, "aws:wafv2/webAcl:WebAcl")
    assert "associationConfig" not in acl.inputs
    names = {a.name for a in of_type(resources, ALARM)}
    assert not any("guardrail" in n for n in names)
    for task in of_type(resources, "aws:ecs/taskDefinition:TaskDefinition"):
        [container] = json.loads(task.inputs["containerDefinitions"])
        assert {e["name"] for e in container["environment"]} == {
            "MODEL_NAME",
            "MODEL_VERSION",
            "VARIANT",
        }


def test_create_guardrail_refuses_a_stack_without_an_llm() -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.DEV)
    with pytest.raises(ValueError, match="serves no LLM"):
        gr.create_guardrail("x", spec, None, None)  # type: ignore[arg-type]


def test_the_hosted_default_model_is_the_regions_inference_profile_the_role_can_name() -> None:
    """Nova Lite is served directly in us-east-1 only: the proposal is the profile of the
    stack's geography, and the role names the profile and its model in every Region."""
    proposal = llm.default_hosted_model("aws", REGION)
    assert proposal is not None
    model, version = proposal
    assert version is None and model == f"eu.{llm.DEFAULT_HOSTED_MODELS['aws'][0]}"
    settings = llm.LlmSettings(mode=LlmMode.HOSTED, model=model)
    assert llm.llm_problem("aws", "api-first", REGION, settings) is None
    assert gr.model_arns(settings, REGION, ACCOUNT_ID) == [
        f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/{model}",
        f"arn:aws:bedrock:*::foundation-model/{model.removeprefix('eu.')}",
    ]
    # No geography to propose (sa-east-1): the user names a model.
    assert llm.default_hosted_model("aws", "sa-east-1") is None
