# -- Vertex AI generateContent with modelArmorConfig: recorded answers --------------------------
# Shapes from the Vertex AI v1 reference (GenerateContentResponse, PromptFeedback.BlockedReason
# with MODEL_ARMOR, Candidate.FinishReason with MODEL_ARMOR, SAFETY, SPII, ...) and the Model
# Armor "integration with Vertex AI" page (a blocked prompt answers promptFeedback.blockReason
# MODEL_ARMOR with a blockReasonMessage and no candidates).
PROVIDER = "vertex"
TEMPLATE = "projects/acme-support-dev/locations/europe-west4/templates/acme-support-dev"
# What the stack adds to hook_environment() at deploy time (the Model Armor template, whose
# project and location are where the model is called, and the region).
DEPLOY_ENV = {"LLM_REGION": "europe-west4", "MODEL_ARMOR_TEMPLATE": TEMPLATE}
# Without the template the model would be called unscreened: the server must not start.
REQUIRED = ("MODEL_ARMOR_TEMPLATE",)
PROMPT = "How do I reset my password? My email is jane.doe@example.com"
ANSWER = "Open Settings, then Security, and choose Reset password."
LEAKS = (PROMPT, ANSWER, "jane.doe@example.com")

_META = {
    "modelVersion": "gemini-2.5-flash",
    "createTime": "2025-08-11T23:26:50.942851Z",
    "responseId": "OnyaaIPGOdSAm9IP47af2AI",
}


def _generated(text: str | None, finish: str, **candidate: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model"}
    if text is not None:
        content["parts"] = [{"text": text}]
    return {
        "candidates": [{"content": content, "finishReason": finish, **candidate}],
        "usageMetadata": {
            "promptTokenCount": 17,
            "candidatesTokenCount": 12,
            "totalTokenCount": 29,
            "trafficType": "ON_DEMAND",
        },
        **_META,
    }


ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "allowed": (200, _generated(ANSWER, "STOP", avgLogprobs=-0.21)),
    "cut at the token limit": (200, _generated(ANSWER, "MAX_TOKENS")),
    "prompt blocked by model armor": (
        200,
        {
            "promptFeedback": {
                "blockReason": "MODEL_ARMOR",
                "blockReasonMessage": "Blocked by Model Armor: the prompt violated Prompt "
                "Injection and Jailbreak filters.",
            },
            "usageMetadata": {"trafficType": "ON_DEMAND"},
            **_META,
        },
    ),
    "answer withheld by model armor": (200, _generated(None, "MODEL_ARMOR")),
    "answer withheld for safety": (
        200,
        _generated(
            None,
            "SAFETY",
            safetyRatings=[
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH",
                    "blocked": True,
                },
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
            ],
        ),
    ),
    "throttled": (
        429,
        {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}},
    ),
    "service error": (
        503,
        {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}},
    ),
    "template not allowed": (
        403,
        {"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}},
    ),
    "not an answer": (200, {"usageMetadata": {}}),
}

OUTCOMES: dict[str, Outcome] = {
    "allowed": ("answer", ANSWER, 1.0),
    "cut at the token limit": ("answer", ANSWER, 0.0),
    "prompt blocked by model armor": ("blocked", "prompt", ("model_armor",)),
    "answer withheld by model armor": ("blocked", "response", ("model_armor",)),
    "answer withheld for safety": ("blocked", "response", ("safety", "harm:dangerous_content")),
    "throttled": ("unavailable",),
    "service error": ("unavailable",),
    "template not allowed": ("unavailable",),
    "not an answer": ("unavailable",),
}


def check_request(call: llm.Call, env: Mapping[str, str]) -> None:
    """generateContent on the publisher model, the template on the prompt and the response."""
    template = env["MODEL_ARMOR_TEMPLATE"]
    project = template.split("/")[1]
    region = env["LLM_REGION"]
    assert call.url == (
        f"https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}"
        f"/publishers/google/models/{env['LLM_MODEL']}:generateContent"
    )
    assert call.body["modelArmorConfig"] == {
        "promptTemplateName": template,
        "responseTemplateName": template,
    }
    assert call.body["contents"] == [{"role": "user", "parts": [{"text": PROMPT}]}]
