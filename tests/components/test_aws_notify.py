"""Slack and Teams destinations on AWS (issue 10, item 5), held from captured resources: a
forwarder per chat destination on exactly its tier's topic, the webhook URL a secret all the way
into a CMK-encrypted SecureString and never in the function's environment, a role that reads
exactly that parameter, and the pack passing on a stack that routes page to Slack and ticket to
Teams."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.aws import notify
from components.aws.api_first import policy_waivers
from components.aws.notify_fn import handler
from components.registry import component_for
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import ACCOUNT_ID, Capture, CapturedResource, capture
from policies.rules import aws as aws_rules
from tests.conftest import make_spec, of_type
from tests.journey.aws_iam import as_list, statements
from tests.policies.harness import evaluate

# Pulumi's wire marker of a secret value (pulumi.runtime.rpc._special_sig_key and
# _special_secret_sig).
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
SLACK_URL = "https://hooks.slack.example/services/T000/B000/XXXXSECRET"
TEAMS_URL = (
    "https://acme.webhook.office.example/workflows/abc/triggers/manual/paths/invoke?sig=S3CRET"
)
REGION = "eu-west-1"
CHAT_ROUTES: dict[str, Any] = {
    "alerts": {
        "routes": {
            "page": [
                {"kind": "slack", "secret": "page_slack_url"},
                {"kind": "email", "address": "oncall@acme.example"},
            ],
            "ticket": [{"kind": "teams", "secret": "ticket_teams_url"}],
        }
    }
}
PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
FUNCTION = "aws:lambda/function:Function"
PARAMETER = "aws:ssm/parameter:Parameter"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


def chat_config(spec: DeploymentSpec) -> dict[str, str]:
    """The stack config a chat-routed stack needs (both webhook URLs as secrets)."""
    return {
        f"{spec.project}:page_slack_url": SLACK_URL,
        f"{spec.project}:ticket_teams_url": TEAMS_URL,
    }


def run_with_config(spec: DeploymentSpec, config: dict[str, str]) -> Capture:
    """The component under mocks with ``config`` set as secret config."""

    def program() -> None:
        component_for(spec.cloud, spec.pattern)(spec.project, spec)

    return capture(
        program,
        project=spec.project,
        stack=spec.environment.value,
        region=spec.region,
        config=config,
        secret_keys=list(config),
    )


def chat_spec(pattern: Pattern, env: Environment = Environment.PROD) -> DeploymentSpec:
    return make_spec(Cloud.AWS, pattern, env, CHAT_ROUTES)


@cache
def _run(pattern: Pattern, env: Environment = Environment.PROD) -> Capture:
    spec = chat_spec(pattern, env)
    return run_with_config(spec, chat_config(spec))


def _arn(r: CapturedResource) -> str:
    # The mocks' ARN is arn:aws:<service>:<region>:<account>:<logical name>.
    return f"arn:aws:{r.type.split(':')[1].split('/')[0].lower()}:{REGION}:{ACCOUNT_ID}:{r.name}"


def _by_arn(run: Capture) -> dict[str, CapturedResource]:
    return {_arn(r): r for r in run.resources if r.custom}


def _unwrap_secret(value: Any) -> str:
    assert isinstance(value, dict), f"not a secret on the wire: {value!r}"
    assert value[SIG_KEY] == SECRET_SIG
    return str(value["value"])


def _forwarders(run: Capture) -> dict[str, CapturedResource]:
    """Format -> the forwarder function."""
    return {
        f.inputs["environment"]["variables"]["FORMAT"]: f
        for f in of_type(run.resources, FUNCTION)
        if f.inputs["handler"] == notify.HANDLER
        and "FORMAT" in f.inputs["environment"]["variables"]
    }


def _role_policy(run: Capture, role_arn: str) -> list[dict[str, Any]]:
    role = _by_arn(run)[role_arn]
    [policy] = [
        p
        for p in of_type(run.resources, "aws:iam/rolePolicy:RolePolicy")
        if p.name == f"{role.name}-policy"
    ]
    assert role.inputs["permissionsBoundary"].endswith(f"-{run_env(run)}-boundary")
    return statements(policy.inputs["policy"])


def run_env(run: Capture) -> str:
    [topic, *_] = of_type(run.resources, "aws:sns/topic:Topic")
    return str(topic.inputs["tags"]["environment"])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_chat_destination_has_a_forwarder_on_exactly_its_tiers_topic(pattern: Pattern) -> None:
    run = _run(pattern)
    arns = _by_arn(run)
    forwarders = _forwarders(run)
    assert set(forwarders) == {"slack", "teams"}
    expected_tier = {"slack": "page", "teams": "ticket"}
    for fmt, function in forwarders.items():
        [sub] = [
            s
            for s in of_type(run.resources, SUBSCRIPTION)
            if s.inputs["protocol"] == "lambda" and s.inputs["endpoint"] == _arn(function)
        ]
        topic = arns[sub.inputs["topic"]]
        assert topic.inputs["tags"]["alert-tier"] == expected_tier[fmt]
        # SNS may invoke it, for exactly that topic
        [permission] = [
            p
            for p in of_type(run.resources, "aws:lambda/permission:Permission")
            if p.inputs["function"] == function.inputs["name"]
        ]
        assert permission.inputs["principal"] == "sns.amazonaws.com"
        assert permission.inputs["sourceArn"] == _arn(topic)
        assert fmt in handler.FORMATS
        # the function runs the handler this repository tests
        archive = function.inputs["code"]
        assert set(archive.assets) == {"handler.py"}
        assert archive.assets["handler.py"].path == handler.__file__
        assert function.inputs["handler"] == "handler.handler" and callable(handler.handler)
    # the other destinations keep their SNS subscriptions; no chat URL reaches SNS
    protocols = {s.inputs["protocol"] for s in of_type(run.resources, SUBSCRIPTION)}
    assert protocols == {"email", "lambda"}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_url_is_a_secret_into_a_cmk_securestring_and_never_in_the_environment(
    pattern: Pattern,
) -> None:
    run = _run(pattern)
    arns = _by_arn(run)
    parameters = {p.inputs["name"]: p for p in of_type(run.resources, PARAMETER)}
    for fmt, function in _forwarders(run).items():
        env = function.inputs["environment"]["variables"]
        assert set(env) == {"PARAMETER_NAME", "FORMAT"}
        rendered = json.dumps(function.inputs, default=str)
        assert SLACK_URL not in rendered and TEAMS_URL not in rendered
        parameter = parameters[env["PARAMETER_NAME"]]
        assert parameter.inputs["type"] == "SecureString"
        url = _unwrap_secret(parameter.inputs["value"])
        assert url == {"slack": SLACK_URL, "teams": TEAMS_URL}[fmt]
        key = arns[parameter.inputs["keyId"]]
        assert key.type == "aws:kms/key:Key"
        assert function.inputs["kmsKeyArn"] == parameter.inputs["keyId"]
    # the URLs appear nowhere else in the stack, not even as a subscription endpoint
    others = [
        r.name
        for r in run.resources
        if r.type != PARAMETER and (SLACK_URL in str(r.inputs) or TEAMS_URL in str(r.inputs))
    ]
    assert others == []


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_role_reads_exactly_its_parameter_with_exactly_the_stack_key(pattern: Pattern) -> None:
    run = _run(pattern)
    arns = _by_arn(run)
    for function in _forwarders(run).values():
        docs = _role_policy(run, function.inputs["role"])
        held = sorted({a for s in docs for a in as_list(s["Action"])})
        assert held == sorted(notify.ROLE_ACTIONS)
        assert all(s["Effect"] == "Allow" for s in docs)
        name = function.inputs["environment"]["variables"]["PARAMETER_NAME"]
        parameter_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}"
        [get] = [s for s in docs if "ssm:GetParameter" in as_list(s["Action"])]
        assert as_list(get["Action"]) == ["ssm:GetParameter"]
        assert as_list(get["Resource"]) == [parameter_arn]
        key_arn = function.inputs["kmsKeyArn"]
        dlq_arn = function.inputs["deadLetterConfig"]["targetArn"]
        assert arns[dlq_arn].type == "aws:sqs/queue:Queue"
        assert arns[dlq_arn].inputs["kmsMasterKeyId"] == key_arn
        kms = [s for s in docs if any(a.startswith("kms:") for a in as_list(s["Action"]))]
        contexts = {}
        for s in kms:
            assert as_list(s["Resource"]) == [key_arn]
            [(op, cond)] = s["Condition"].items()
            assert op == "StringEquals"
            contexts.update(cond)
        # Parameter Store's and SQS's documented encryption contexts, bound to exactly these
        assert contexts == {
            "kms:EncryptionContext:PARAMETER_ARN": parameter_arn,
            "kms:EncryptionContext:aws:sqs:arn": dlq_arn,
        }
        [send] = [s for s in docs if "sqs:SendMessage" in as_list(s["Action"])]
        assert as_list(send["Resource"]) == [dlq_arn]
        [write] = [s for s in docs if "logs:PutLogEvents" in as_list(s["Action"])]
        [group] = [
            g
            for g in of_type(run.resources, "aws:cloudwatch/logGroup:LogGroup")
            if g.inputs.get("name") == f"/aws/lambda/{function.inputs['name']}"
        ]
        assert as_list(write["Resource"]) == [f"{_arn(group)}:*"]
        assert group.inputs["kmsKeyId"] == key_arn


def test_no_chat_route_creates_no_forwarder_and_no_parameter() -> None:
    spec = make_spec(Cloud.AWS, Pattern.MANAGED_PLATFORM, Environment.DEV)
    run = run_with_config(spec, {})
    assert _forwarders(run) == {}
    assert of_type(run.resources, PARAMETER) == []


def test_a_missing_chat_secret_fails_the_preview() -> None:
    from offline.capture import ProgramError

    spec = chat_spec(Pattern.MANAGED_PLATFORM)
    config = chat_config(spec)
    del config[f"{spec.project}:ticket_teams_url"]
    with pytest.raises(ProgramError, match="ticket_teams_url"):
        run_with_config(spec, config)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_pack_passes_on_a_stack_routing_page_to_slack_and_ticket_to_teams(
    pattern: Pattern,
) -> None:
    spec = chat_spec(pattern)
    resources = _run(pattern).resources
    waivers = policy_waivers(spec.project) if pattern is Pattern.API_FIRST else None
    assert evaluate(aws_rules.POLICIES, resources, waivers) == []
