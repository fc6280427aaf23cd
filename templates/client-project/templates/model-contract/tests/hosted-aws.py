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
