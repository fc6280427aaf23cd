# -- Azure OpenAI chat completions on a deployment with a content filter: recorded answers ------
# Shapes from the Azure OpenAI REST reference (api-version 2024-10-21) and the content
# filtering concepts page: a filtered prompt is a 400 with error.code "content_filter" and the
# categories in innererror.content_filter_result; a filtered completion is finish_reason
# "content_filter"; a filter that did not run puts an "error" in content_filter_results.
PROVIDER = "azure-openai"
# What the stack adds to hook_environment() at deploy time (the account's endpoint and the
# deployment, which carries the content-filter policy).
DEPLOY_ENV = {
    "LLM_ENDPOINT": "https://acme-support-dev.openai.azure.com/",
    "LLM_DEPLOYMENT": "model",
}
# The deployment is where the guardrail is bound: without it there is nothing to call.
REQUIRED = ("LLM_ENDPOINT", "LLM_DEPLOYMENT")
PROMPT = "How do I reset my password? My email is jane.doe@example.com"
ANSWER = "Open Settings, then Security, and choose Reset password."
LEAKS = (PROMPT, ANSWER, "jane.doe@example.com")

_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}
_PROMPT_FILTERS = {
    "hate": _SAFE,
    "jailbreak": _NOT_DETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_ANSWER_FILTERS = {
    "hate": _SAFE,
    "protected_material_code": _NOT_DETECTED,
    "protected_material_text": _NOT_DETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}


def _completion(content: str | None, finish: str, choice_filters: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        message["content"] = content
    return {
        "id": "chatcmpl-A1b2C3d4E5",
        "object": "chat.completion",
        "created": 1733000000,
        "model": "gpt-4o-mini-2024-07-18",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _PROMPT_FILTERS}],
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": message,
                "content_filter_results": choice_filters,
            }
        ],
        "usage": {"completion_tokens": 12, "prompt_tokens": 17, "total_tokens": 29},
    }


ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "allowed": (200, _completion(ANSWER, "stop", _ANSWER_FILTERS)),
    "cut at the token limit": (200, _completion(ANSWER, "length", _ANSWER_FILTERS)),
    "prompt attack blocked": (
        400,
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure "
                "OpenAI's content management policy. Please modify your prompt and retry.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        **_PROMPT_FILTERS,
                        "jailbreak": {"filtered": True, "detected": True},
                    },
                },
            }
        },
    ),
    "answer withheld": (
        200,
        _completion(
            None,
            "content_filter",
            {**_ANSWER_FILTERS, "violence": {"filtered": True, "severity": "high"}},
        ),
    ),
    "filter did not run": (
        200,
        _completion(
            ANSWER,
            "stop",
            {"error": {"code": "content_filter_error", "message": "The contents are not filtered"}},
        ),
    ),
    "throttled": (
        429,
        {"error": {"code": "429", "message": "Requests have exceeded token rate limit."}},
    ),
    "service error": (
        500,
        {"error": {"code": "InternalServerError", "message": "The server had an error."}},
    ),
    "deployment missing": (
        404,
        {"error": {"code": "DeploymentNotFound", "message": "The deployment does not exist."}},
    ),
    "not an answer": (200, {"choices": []}),
}

OUTCOMES: dict[str, Outcome] = {
    "allowed": ("answer", ANSWER, 1.0),
    "cut at the token limit": ("answer", ANSWER, 0.0),
    "prompt attack blocked": ("blocked", "prompt", ("prompt_attack",)),
    "answer withheld": ("blocked", "response", ("harm:violence",)),
    "filter did not run": ("unavailable",),
    "throttled": ("unavailable",),
    "service error": ("unavailable",),
    "deployment missing": ("unavailable",),
    "not an answer": ("unavailable",),
}


def check_request(call: llm.Call, env: Mapping[str, str]) -> None:
    """Chat completions on the stack's deployment, GA API version, the prompt as one message."""
    endpoint = env["LLM_ENDPOINT"].rstrip("/")
    assert call.url == (
        f"{endpoint}/openai/deployments/{env['LLM_DEPLOYMENT']}/chat/completions"
        f"?api-version={llm.AZURE_OPENAI_API_VERSION}"
    )
    assert not llm.AZURE_OPENAI_API_VERSION.endswith("-preview")
    assert call.body["messages"] == [{"role": "user", "content": PROMPT}]
