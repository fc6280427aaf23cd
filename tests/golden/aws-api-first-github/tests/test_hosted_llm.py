"""The hosted LLM client (model/llm.py), on recorded answers of this project's model service.

Offline: every answer below is a shape the service's documentation shows (blocked prompts,
withheld answers, throttling, errors); no call leaves the machine. Both sides of each seam come
from real code: the variables and the provider from components/llm.py and the stack files,
the request and the verdicts from model/llm.py. docs/model-contract.md ("Hosted LLM") says what
the server does with each outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import llm as contract
from model import llm, predictor
from model.guardrail import Blocked, Unavailable

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
STACK = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
CLOUD = STACK[f"{PROJECT}:cloud"]
LLM = contract.LlmSettings.model_validate(STACK[f"{PROJECT}:llm"])

# What one recorded answer must give: ("answer", text, score), ("blocked", direction,
# reasons) or ("unavailable",).
Outcome = tuple[str, str, float] | tuple[str, str, tuple[str, ...]] | tuple[str]

# -- Bedrock Converse with guardrailConfig: recorded answers ------------------------------------
# Shapes from the Bedrock API reference (Converse, ConverseTrace, GuardrailTraceAssessment,
# GuardrailAssessment and its policy types) and the user guide's "Include a guardrail with the
# Converse API": stopReason "guardrail_intervened", the trace's inputAssessment (the prompt)
# and outputAssessments (the answer) per guardrail id, actions BLOCKED / ANONYMIZED / NONE.
PROVIDER = "bedrock"
GUARDRAIL = "gr7x2k9q4m1z"
# What the stack adds to hook_environment() at deploy time (the guardrail's id and pinned
# version, the region).
DEPLOY_ENV = {"LLM_REGION": "eu-west-1", "GUARDRAIL_ID": GUARDRAIL, "GUARDRAIL_VERSION": "3"}
# Without these the model would be called without its guardrail: the server must not start.
REQUIRED = ("GUARDRAIL_ID", "GUARDRAIL_VERSION")
PROMPT = "How do I reset my password? My email is jane.doe@example.com"
ANSWER = "Open Settings, then Security, and choose Reset password."
# Text that may come back from the service but must never reach a log line or an error.
LEAKS = (PROMPT, ANSWER, "jane.doe@example.com", "Here is how to build the device")


def _converse(text: str, stop: str, guardrail: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 17, "outputTokens": 12, "totalTokens": 29},
        "metrics": {"latencyMs": 640},
    }
    if guardrail is not None:
        answer["trace"] = {"guardrail": guardrail}
    return answer


ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "allowed": (200, _converse(ANSWER, "end_turn", {"inputAssessment": {GUARDRAIL: {}}})),
    "cut at the token limit": (200, _converse(ANSWER, "max_tokens")),
    "prompt attack blocked": (
        200,
        _converse(
            "Sorry, this request was blocked by the content policy.",
            "guardrail_intervened",
            {
                "inputAssessment": {
                    GUARDRAIL: {
                        "contentPolicy": {
                            "filters": [
                                {
                                    "type": "PROMPT_ATTACK",
                                    "confidence": "HIGH",
                                    "filterStrength": "HIGH",
                                    "action": "BLOCKED",
                                    "detected": True,
                                }
                            ]
                        }
                    }
                },
                "actionReason": "Guardrail blocked.",
            },
        ),
    ),
    "personal data blocked in the prompt": (
        200,
        _converse(
            "Sorry, this request was blocked by the content policy.",
            "guardrail_intervened",
            {
                "inputAssessment": {
                    GUARDRAIL: {
                        "sensitiveInformationPolicy": {
                            "piiEntities": [
                                {
                                    "match": "jane.doe@example.com",
                                    "type": "EMAIL",
                                    "action": "BLOCKED",
                                    "detected": True,
                                }
                            ]
                        }
                    }
                }
            },
        ),
    ),
    "answer withheld": (
        200,
        _converse(
            "Sorry, the answer was withheld by the content policy.",
            "guardrail_intervened",
            {
                "modelOutput": ["Here is how to build the device"],
                "inputAssessment": {GUARDRAIL: {}},
                "outputAssessments": {
                    GUARDRAIL: [
                        {
                            "contentPolicy": {
                                "filters": [
                                    {
                                        "type": "VIOLENCE",
                                        "confidence": "HIGH",
                                        "filterStrength": "MEDIUM",
                                        "action": "BLOCKED",
                                        "detected": True,
                                    }
                                ]
                            }
                        }
                    ]
                },
            },
        ),
    ),
    "personal data masked in the answer": (
        200,
        _converse(
            "Write to {EMAIL} for help.",
            "guardrail_intervened",
            {
                "inputAssessment": {GUARDRAIL: {}},
                "outputAssessments": {
                    GUARDRAIL: [
                        {
                            "sensitiveInformationPolicy": {
                                "piiEntities": [
                                    {
                                        "match": "jane.doe@example.com",
                                        "type": "EMAIL",
                                        "action": "ANONYMIZED",
                                        "detected": True,
                                    }
                                ]
                            }
                        }
                    ]
                },
            },
        ),
    ),
    "throttled": (429, {"message": "Too many requests, please wait before trying again."}),
    "service error": (500, {"message": "The server encountered an internal error."}),
    "wrong guardrail": (400, {"message": "The guardrail identifier or version is invalid."}),
    "not an answer": (200, {"unexpected": True}),
}

OUTCOMES: dict[str, Outcome] = {
    "allowed": ("answer", ANSWER, 1.0),
    "cut at the token limit": ("answer", ANSWER, 0.0),
    "prompt attack blocked": ("blocked", "prompt", ("prompt_attack",)),
    "personal data blocked in the prompt": ("blocked", "prompt", ("pii:email",)),
    "answer withheld": ("blocked", "response", ("harm:violence",)),
    "personal data masked in the answer": ("answer", "Write to {EMAIL} for help.", 1.0),
    "throttled": ("unavailable",),
    "service error": ("unavailable",),
    "wrong guardrail": ("unavailable",),
    "not an answer": ("unavailable",),
}


def check_request(call: llm.Call, env: Mapping[str, str]) -> None:
    """Converse on the model, with the stack's guardrail attached and its trace on."""
    # The model id's ":" is percent-encoded in the path (and encoded again when signed).
    model = env["LLM_MODEL"].replace(":", "%3A")
    assert call.url == (
        f"https://bedrock-runtime.{env['LLM_REGION']}.amazonaws.com/model/{model}/converse"
    )
    assert call.body["guardrailConfig"] == {
        "guardrailIdentifier": env["GUARDRAIL_ID"],
        "guardrailVersion": env["GUARDRAIL_VERSION"],
        "trace": "enabled",
    }
    assert call.body["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}]


def stack_env() -> dict[str, str]:
    """The serving container's LLM environment: hook_environment() of the stack's llm
    section, plus what the stack adds at deploy time."""
    return {**contract.hook_environment(CLOUD, LLM), **DEPLOY_ENV}


# -- the seam between the stack and the client -------------------------------------------------
def test_the_client_reads_the_variables_the_stack_sets() -> None:
    assert llm.LLM_PROVIDER_VARIABLE == contract.LLM_PROVIDER_VARIABLE
    assert predictor.LLM_PROVIDER_VARIABLE == contract.LLM_PROVIDER_VARIABLE
    assert llm.LLM_MODEL_VARIABLE == contract.LLM_MODEL_VARIABLE
    assert llm.LLM_REGION_VARIABLE == contract.LLM_REGION_VARIABLE
    assert llm.LLM_ENDPOINT_VARIABLE == contract.LLM_ENDPOINT_VARIABLE
    assert llm.LLM_DEPLOYMENT_VARIABLE == contract.LLM_DEPLOYMENT_VARIABLE
    assert llm.GUARDRAIL_ID_VARIABLE == contract.HOOK_GUARDRAIL_ID_VARIABLE
    assert llm.GUARDRAIL_VERSION_VARIABLE == contract.HOOK_GUARDRAIL_VERSION_VARIABLE
    assert llm.MODEL_ARMOR_TEMPLATE_VARIABLE == contract.HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE
    assert set(llm.PROVIDERS) == {p.value for p in contract.LlmProvider}


def test_the_stack_names_this_projects_provider_and_model() -> None:
    env = stack_env()
    assert env[contract.LLM_PROVIDER_VARIABLE] == PROVIDER == contract.LLM_PROVIDERS[CLOUD].value
    assert env[contract.LLM_MODEL_VARIABLE] == LLM.model
    model = predictor.load(env=env)
    assert isinstance(model, llm.HostedModel)
    assert model.provider.name == PROVIDER


def test_the_request_carries_the_guardrail() -> None:
    env = stack_env()
    call = llm.build_provider(env).request(PROMPT)
    check_request(call, env)


@pytest.mark.parametrize("missing", REQUIRED)
def test_without_its_guardrail_the_model_is_never_loaded(missing: str) -> None:
    env = {k: v for k, v in stack_env().items() if k != missing}
    with pytest.raises(llm.LlmConfigError, match=missing):
        predictor.load(env=env)


def test_without_llm_provider_the_sample_classifier_is_served() -> None:
    model = predictor.load(env={})
    assert not isinstance(model, llm.HostedModel)
    assert model.predict("I was charged twice this month").label == "billing"


# -- the recorded answers ----------------------------------------------------------------------
def test_every_recorded_answer_has_an_outcome() -> None:
    assert set(ANSWERS) == set(OUTCOMES)
    kinds = {outcome[0] for outcome in OUTCOMES.values()}
    assert kinds == {"answer", "blocked", "unavailable"}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_recorded_answer(case: str) -> None:
    provider = llm.build_provider(stack_env())
    status, answer = ANSWERS[case]
    expected = OUTCOMES[case]
    if expected[0] == "answer":
        completion = provider.parse(status, answer)
        assert (completion.text, 1.0 if completion.complete else 0.0) == expected[1:]
        return
    kind = Blocked if expected[0] == "blocked" else Unavailable
    with pytest.raises(kind) as caught:
        provider.parse(status, answer)
    error: Any = caught.value
    if expected[0] == "blocked":
        assert (error.direction, tuple(error.reasons)) == expected[1:]
    # Neither the prompt, nor the answer, nor personal data the service echoes back may reach
    # the server's log line, which is built from the exception.
    shown = f"{error} {getattr(error, 'reasons', '')}"
    assert not [leak for leak in LEAKS if leak in shown]


def test_a_blank_input_is_the_callers_error_not_the_services() -> None:
    model = llm.HostedModel(llm.build_provider(stack_env()))
    for text in ("", "   ", None, 42):
        with pytest.raises(predictor.InputError):
            model.predict(text)


def test_an_endpoint_must_be_https() -> None:
    env = {**stack_env(), llm.BEDROCK_ENDPOINT_URL_VARIABLE: "http://bedrock.example.com"}
    env[llm.VERTEX_ENDPOINT_URL_VARIABLE] = "http://vertex.example.com"
    if PROVIDER == "azure-openai":
        env[llm.LLM_ENDPOINT_VARIABLE] = "http://acme.openai.azure.com"
    with pytest.raises(llm.LlmConfigError, match="https"):
        llm.build_provider(env)
