"""The cloud-neutral LLM setting: how the model is reached and the guardrail in front of it.

One :class:`GuardrailSettings` says what a guardrail does (harm categories with strengths,
prompt-attack detection, PII to block or redact, denied topics, the messages callers see, the
largest prompt), identically in dev, staging and prod (``fail_open`` alone may differ, and only
in dev). Each cloud maps it to its own service in a lookup table beside its component:

- AWS: a Bedrock guardrail (components/aws/guardrail.py);
- Azure: a content-filter (RAI) policy on the Azure OpenAI deployment, or Azure AI Content
  Safety for a self-hosted model (components/azure/guardrail.py);
- GCP: a Model Armor template (components/gcp/guardrail.py);
- the kubernetes target: the model server's local check (data stays on premises).

``LlmMode.HOSTED`` reaches the cloud's own model service (Bedrock, Azure OpenAI, Vertex AI)
from the serving container behind the pattern's gateway; ``SELF_HOSTED`` serves the model in
the container, and the container's hook sends every prompt and every response through the
cloud's standalone check. The contract between a component and the hook (environment
variables, the log event and metric the alarms read) is defined here, once.

This module imports nothing from components.spec (the spec imports it).
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator


class LlmMode(str, Enum):
    """How the served model is reached."""

    NONE = "none"  # not an LLM (a classic model): no guardrail
    HOSTED = "hosted"  # the cloud's model service, with its guardrail attached
    SELF_HOSTED = "self-hosted"  # the model container; the hook calls the cloud's check


class HarmCategory(str, Enum):
    """Neutral harm categories; each cloud's table maps them to its filters."""

    HATE = "hate"
    SEXUAL = "sexual"
    VIOLENCE = "violence"
    SELF_HARM = "self-harm"
    HARASSMENT = "harassment"
    MISCONDUCT = "misconduct"


class Strength(str, Enum):
    """How hard a filter blocks: HIGH blocks even low-confidence or low-severity matches."""

    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PiiEntity(str, Enum):
    """Personal data the guardrail looks for, in prompts and in responses."""

    EMAIL = "email"
    PHONE = "phone"
    CARD_NUMBER = "card-number"
    IBAN = "iban"
    US_SSN = "us-ssn"
    IP_ADDRESS = "ip-address"


class PiiAction(str, Enum):
    """What happens to personal data found: the call is refused, or the value is masked."""

    BLOCK = "block"
    REDACT = "redact"


class Direction(str, Enum):
    """Which side of a call a guardrail stopped."""

    PROMPT = "prompt"
    RESPONSE = "response"


# Printable text without control characters or markup delimiters that a config file, an XML
# policy (API Management) or a JSON body could misread: messages and topics are data, never code.
SAFE_TEXT_RE = re.compile(r"^[A-Za-z0-9 .,;:!?'()/_%+-]+$")
TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _!?.-]{0,99}$")
# Bedrock's limits, the tightest of the three services: 500 characters per blocked message,
# 200 per topic definition, 100 per example phrase, 5 examples, 30 topics.
MESSAGE_MAX = 500
TOPIC_DEFINITION_MAX = 200
TOPIC_EXAMPLE_MAX = 100
TOPIC_EXAMPLES_MAX = 5
TOPICS_MAX = 30

DEFAULT_HARM: dict[HarmCategory, Strength] = dict.fromkeys(HarmCategory, Strength.MEDIUM)
DEFAULT_PII: tuple[PiiEntity, ...] = (
    PiiEntity.EMAIL,
    PiiEntity.PHONE,
    PiiEntity.CARD_NUMBER,
    PiiEntity.IBAN,
    PiiEntity.US_SSN,
)

SafeText = Annotated[str, StringConstraints(pattern=SAFE_TEXT_RE.pattern, max_length=MESSAGE_MAX)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class DeniedTopic(_Model):
    """A subject the model must not discuss: a name, a definition and example phrases."""

    name: Annotated[str, StringConstraints(pattern=TOPIC_NAME_RE.pattern)]
    definition: Annotated[
        str, StringConstraints(pattern=SAFE_TEXT_RE.pattern, max_length=TOPIC_DEFINITION_MAX)
    ]
    examples: tuple[
        Annotated[
            str, StringConstraints(pattern=SAFE_TEXT_RE.pattern, max_length=TOPIC_EXAMPLE_MAX)
        ],
        ...,
    ] = Field(default=(), max_length=TOPIC_EXAMPLES_MAX)


class GuardrailSettings(_Model):
    """What the guardrail checks, the same in every environment (parity).

    ``max_prompt_bytes`` is the largest request body the gateway lets through once the stack
    serves an LLM: the guardrail reads every byte up to it (long RAG prompts work), and the
    gateway refuses anything larger, so no body passes unchecked. ``fail_open`` lets calls
    through while the guardrail service is down: dev may declare it, staging and prod may not.
    """

    harm: dict[HarmCategory, Strength] = Field(default_factory=lambda: dict(DEFAULT_HARM))
    prompt_attack: Strength = Strength.HIGH
    pii: tuple[PiiEntity, ...] = DEFAULT_PII
    pii_action: PiiAction = PiiAction.REDACT
    denied_topics: tuple[DeniedTopic, ...] = Field(default=(), max_length=TOPICS_MAX)
    blocked_input_message: SafeText = "Sorry, this request was blocked by the content policy."
    blocked_output_message: SafeText = "Sorry, the answer was withheld by the content policy."
    max_prompt_bytes: int = Field(262_144, ge=1024, le=10_485_760)
    # Blocked calls per five minutes that raise the warning-tier alert.
    alert_blocked_per_5min: int = Field(25, ge=1, le=100_000)
    fail_open: bool = False

    @model_validator(mode="after")
    def _unique(self) -> GuardrailSettings:
        if len(set(self.pii)) != len(self.pii):
            raise ValueError("llm.guardrail.pii: an entity is listed twice")
        names = [t.name.lower() for t in self.denied_topics]
        if len(set(names)) != len(names):
            raise ValueError("llm.guardrail.denied_topics: a topic name is used twice")
        return self

    def strength(self, category: HarmCategory) -> Strength:
        """The strength of ``category`` (a category left out is off)."""
        return self.harm.get(category, Strength.OFF)

    def fingerprint(self) -> str:
        """12 hex digits that change whenever anything the guardrail enforces changes.

        ``fail_open`` and the alert threshold are left out: they change what the hook or the
        alarm does, not the guardrail, and dev may differ in ``fail_open`` (parity).
        """
        data = self.model_dump(mode="json", exclude={"fail_open", "alert_blocked_per_5min"})
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def hook_config(self) -> str:
        """The JSON the model server's hook reads from :data:`HOOK_CONFIG_VARIABLE`."""
        data = self.model_dump(mode="json", exclude={"alert_blocked_per_5min"})
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
MODEL_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LlmSettings(_Model):
    """How the served LLM is reached and the guardrail in front of it (the spec's ``llm``).

    ``model`` is the hosted model's id on the cloud's service (a Bedrock model id, an Azure
    OpenAI model name, a Vertex AI publisher model); ``model_version`` is the Azure OpenAI
    model version. Both only with ``mode: hosted``.
    """

    mode: LlmMode = LlmMode.NONE
    model: Annotated[str, StringConstraints(pattern=MODEL_ID_RE.pattern)] | None = None
    model_version: Annotated[str, StringConstraints(pattern=MODEL_VERSION_RE.pattern)] | None = None
    guardrail: GuardrailSettings = GuardrailSettings()

    @model_validator(mode="after")
    def _model_when_hosted(self) -> LlmSettings:
        hosted = self.mode is LlmMode.HOSTED
        if hosted and self.model is None:
            raise ValueError("llm.model: a hosted LLM needs the model's id on the cloud's service")
        if not hosted and (self.model is not None or self.model_version is not None):
            raise ValueError(
                f"llm.model: only a hosted LLM names a model (mode is {self.mode.value})"
            )
        return self

    @property
    def enabled(self) -> bool:
        """True when the stack serves an LLM (and so has a guardrail)."""
        return self.mode is not LlmMode.NONE


# -- where each cloud offers the services (checked by the spec; a clear error elsewhere) --------
# Keys are Cloud values. HOSTED needs the model service *and* its guardrail in the region;
# SELF_HOSTED needs only the standalone check (ApplyGuardrail, Content Safety, Model Armor).
# Sources: the Bedrock guardrails region table, Azure OpenAI and Content Safety region
# availability, Model Armor locations (research notes, section 3). None: every region.
LLM_REGIONS: dict[str, dict[LlmMode, frozenset[str] | None]] = {
    "aws": {
        LlmMode.HOSTED: frozenset(
            {
                "us-east-1", "us-east-2", "us-west-2", "ca-central-1", "sa-east-1",
                "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1",
                "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
                "ap-southeast-2",
            }
        ),
        LlmMode.SELF_HOSTED: frozenset(
            {
                "us-east-1", "us-east-2", "us-west-2", "ca-central-1", "sa-east-1",
                "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1",
                "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
                "ap-southeast-2",
            }
        ),
    },
    "azure": {
        LlmMode.HOSTED: frozenset(
            {
                "eastus", "eastus2", "westus", "westus3", "northcentralus", "southcentralus",
                "canadaeast", "swedencentral", "francecentral", "uksouth", "westeurope",
                "switzerlandnorth", "norwayeast", "germanywestcentral", "japaneast",
                "australiaeast", "southindia", "koreacentral", "brazilsouth",
            }
        ),
        LlmMode.SELF_HOSTED: frozenset(
            {
                "eastus", "eastus2", "westus", "westus2", "westus3", "centralus",
                "northcentralus", "southcentralus", "canadacentral", "swedencentral",
                "francecentral", "uksouth", "westeurope", "northeurope", "switzerlandnorth",
                "germanywestcentral", "japaneast", "australiaeast", "centralindia",
                "koreacentral",
            }
        ),
    },
    "gcp": {
        # Model Armor's Vertex AI integration (generateContent with a template or the floor
        # setting): these four locations only (Model Armor docs, "Integration with Vertex AI").
        LlmMode.HOSTED: frozenset({"us-central1", "us-east4", "us-west1", "europe-west4"}),
        # Model Armor's regional locations (Model Armor docs, "Locations"; also
        # australia-southeast2 and northamerica-northeast2, which the spec's region table lacks).
        LlmMode.SELF_HOSTED: frozenset(
            {
                "asia-northeast1", "asia-northeast3", "asia-south1", "asia-southeast1",
                "us-central1", "us-east1", "us-east4", "us-west1", "europe-southwest1",
                "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west9",
            }
        ),
    },
    # On premises the check runs in the model server: no cloud service, any site.
    "kubernetes": {LlmMode.SELF_HOSTED: None},
}  # fmt: skip

# What a mode needs in the region, in words (for the error that names it).
SERVICES: dict[tuple[str, LlmMode], str] = {
    ("aws", LlmMode.HOSTED): "Amazon Bedrock with guardrails",
    ("aws", LlmMode.SELF_HOSTED): "Amazon Bedrock guardrails (ApplyGuardrail)",
    ("azure", LlmMode.HOSTED): "Azure OpenAI",
    ("azure", LlmMode.SELF_HOSTED): "Azure AI Content Safety",
    ("gcp", LlmMode.HOSTED): "Model Armor's Vertex AI integration",
    ("gcp", LlmMode.SELF_HOSTED): "Model Armor",
}


def _nearby(regions: frozenset[str], region: str) -> str:
    """Up to five offered regions, those of the same geography (name prefix) first."""
    geography = region.split("-", 1)[0] if "-" in region else region[:4]
    ranked = sorted(regions, key=lambda r: (not r.startswith(geography), r))
    return ", ".join(ranked[:5]) + (" ..." if len(ranked) > 5 else "")


# Clouds whose guardrail service has a denied-topic filter (Model Armor has none; the local
# check cannot judge topics by meaning; Azure's RAI policy of API 2025-06-01 cannot reference a
# custom topic and Content Safety has no topic check: components/azure/guardrail.py).
DENIED_TOPIC_CLOUDS: frozenset[str] = frozenset({"aws"})
# Patterns an LLM is served behind (a gateway in front of the serving container).
LLM_PATTERNS: frozenset[str] = frozenset({"api-first"})


def llm_problem(cloud: str, pattern: str, region: str, llm: LlmSettings) -> str | None:
    """Why ``llm`` cannot run on ``cloud``/``pattern`` in ``region``, or None when it can."""
    if not llm.enabled:
        return None
    problem = llm_place_problem(cloud, pattern, region, llm.mode)
    if problem:
        return problem
    return _settings_problem(cloud, llm)


def llm_place_problem(cloud: str, pattern: str, region: str, mode: LlmMode) -> str | None:
    """Why an LLM in ``mode`` cannot be served on ``cloud``/``pattern`` in ``region``."""
    if mode is LlmMode.NONE:
        return None
    if pattern not in LLM_PATTERNS:
        return (
            f"mode {mode.value}: an LLM is served behind the api-first pattern's gateway "
            f"(not {pattern}); use --llm none for {pattern}"
        )
    modes = LLM_REGIONS.get(cloud, {})
    if mode not in modes:
        return f"mode {mode.value}: {cloud} has no hosted model service; use self-hosted"
    regions = modes[mode]
    if regions is not None and region not in regions:
        return (
            f"mode {mode.value}: {SERVICES[(cloud, mode)]} is not offered in {region}; "
            f"choose {_nearby(regions, region)}"
        )
    return None


def _settings_problem(cloud: str, llm: LlmSettings) -> str | None:
    if llm.mode is LlmMode.HOSTED:
        shape, example = MODEL_ID_SHAPES[cloud]
        if not shape.match(llm.model or ""):
            return f"llm.model {llm.model!r}: on {cloud} give {example}"
        versioned = cloud in VERSIONED_MODEL_CLOUDS
        if versioned and llm.model_version is None:
            return f"llm.model_version: an Azure OpenAI deployment needs the version of {llm.model}"
        if not versioned and llm.model_version is not None:
            return f"llm.model_version: only Azure OpenAI models take a version (not {cloud})"
    if llm.guardrail.denied_topics and cloud not in DENIED_TOPIC_CLOUDS:
        return (
            f"llm.guardrail.denied_topics: {cloud}'s guardrail has no denied-topic filter; "
            "remove them or describe the subject as a harm category"
        )
    return None


# -- the contract between a component and the model server's hook ------------------------------
# The hook's configuration: GuardrailSettings.hook_config() (the same JSON in every environment
# but for fail_open).
HOOK_CONFIG_VARIABLE = "GUARDRAIL_CONFIG"
# Which check the hook calls: a value of HookProvider.
HOOK_PROVIDER_VARIABLE = "GUARDRAIL_PROVIDER"
# AWS: the guardrail's id and the version the stack pins (ApplyGuardrail, Converse).
HOOK_GUARDRAIL_ID_VARIABLE = "GUARDRAIL_ID"
HOOK_GUARDRAIL_VERSION_VARIABLE = "GUARDRAIL_VERSION"
# Azure: the Content Safety account's endpoint (https://<name>.cognitiveservices.azure.com/).
HOOK_CONTENT_SAFETY_ENDPOINT_VARIABLE = "CONTENT_SAFETY_ENDPOINT"
# GCP: the Model Armor template's full name (projects/<p>/locations/<l>/templates/<id>).
HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE = "MODEL_ARMOR_TEMPLATE"
# Hosted: which service, which model, and (Azure) the endpoint and deployment to call.
LLM_PROVIDER_VARIABLE = "LLM_PROVIDER"
LLM_MODEL_VARIABLE = "LLM_MODEL"
LLM_ENDPOINT_VARIABLE = "LLM_ENDPOINT"
LLM_DEPLOYMENT_VARIABLE = "LLM_DEPLOYMENT"
LLM_REGION_VARIABLE = "LLM_REGION"


class HookProvider(str, Enum):
    """The standalone check the self-hosted hook calls."""

    BEDROCK = "bedrock"  # ApplyGuardrail
    CONTENT_SAFETY = "content-safety"  # Prompt Shields + text:analyze
    MODEL_ARMOR = "model-armor"  # sanitizeUserPrompt / sanitizeModelResponse
    LOCAL = "local"  # the model server's own rules (on premises)


class LlmProvider(str, Enum):
    """The hosted model service the serving container calls."""

    BEDROCK = "bedrock"  # Converse with guardrailConfig
    AZURE_OPENAI = "azure-openai"  # chat completions on a deployment with an RAI policy
    VERTEX = "vertex"  # generateContent with modelArmorConfig


HOOK_PROVIDERS: dict[str, HookProvider] = {
    "aws": HookProvider.BEDROCK,
    "azure": HookProvider.CONTENT_SAFETY,
    "gcp": HookProvider.MODEL_ARMOR,
    "kubernetes": HookProvider.LOCAL,
}
LLM_PROVIDERS: dict[str, LlmProvider] = {
    "aws": LlmProvider.BEDROCK,
    "azure": LlmProvider.AZURE_OPENAI,
    "gcp": LlmProvider.VERTEX,
}
# The hosted model `aideploy new --llm hosted` proposes per cloud (--llm-model overrides). On
# Bedrock, Nova Lite is served directly in us-east-1 only; elsewhere through the system-defined
# cross-Region inference profile of the Region's geography (BEDROCK_GEOGRAPHIES), which the
# stack's IAM names with its models (components/aws/guardrail.py). Azure needs the version.
DEFAULT_HOSTED_MODELS: dict[str, tuple[str, str | None]] = {
    "aws": ("amazon.nova-lite-v1:0", None),
    "azure": ("gpt-4o-mini", "2024-07-18"),
    "gcp": ("gemini-2.5-flash", None),
}
# Region prefix -> the geography of Bedrock's system-defined inference profiles ("eu." ...).
BEDROCK_GEOGRAPHIES: dict[str, str] = {"us-": "us", "eu-": "eu", "ap-": "apac"}


def default_hosted_model(cloud: str, region: str) -> tuple[str, str | None] | None:
    """The model (and version) to propose for a hosted LLM in ``region``, or None when there is
    no safe proposal there (the user names one with --llm-model)."""
    if cloud not in DEFAULT_HOSTED_MODELS:
        return None
    model, version = DEFAULT_HOSTED_MODELS[cloud]
    if cloud == "aws":
        geography = next((g for p, g in BEDROCK_GEOGRAPHIES.items() if region.startswith(p)), None)
        if geography is None:
            return None
        model = f"{geography}.{model}"
    return model, version


# What a model id looks like on each service: Bedrock "<provider>.<model>" (optionally behind a
# profile's geography), an Azure OpenAI model name, a Vertex AI publisher model. A model of
# another cloud is refused here, not at the first call (a 503 in production).
MODEL_ID_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "aws": (
        re.compile(r"^(?:(?:us|eu|apac|jp|au|ca|us-gov|global)\.)?[a-z0-9-]+\.[A-Za-z0-9._:-]+$"),
        "a Bedrock model id or inference profile, e.g. eu.amazon.nova-lite-v1:0",
    ),
    "azure": (
        re.compile(r"^[a-z0-9][a-z0-9.-]*$"),
        "an Azure OpenAI model name, e.g. gpt-4o-mini (with --llm-model-version)",
    ),
    "gcp": (
        re.compile(r"^[a-z0-9][a-z0-9.-]*(?:@[0-9]+)?$"),
        "a Vertex AI Gemini model, e.g. gemini-2.5-flash",
    ),
}
# Clouds whose hosted model takes a version (an Azure OpenAI deployment names it).
VERSIONED_MODEL_CLOUDS: frozenset[str] = frozenset({"azure"})

# The model server logs one JSON line per blocked call, never with the prompt or the answer:
#   {"event": "guardrail_blocked", "direction": "prompt"|"response", "reasons": [...], ...}
# Each cloud turns it into the metric its alarms read (a CloudWatch metric filter, a Log
# Analytics query, a log-based metric); on premises the server also counts it in Prometheus.
BLOCKED_EVENT = "guardrail_blocked"
# A guardrail outage: logged as this event; the call is refused (fail closed) unless fail_open.
UNAVAILABLE_EVENT = "guardrail_unavailable"
# The Prometheus counter of the kubernetes target (label ``direction``).
BLOCKED_COUNTER = "model_guardrail_blocked_total"


def hook_environment(cloud: str, llm: LlmSettings) -> dict[str, str]:
    """The plain environment the serving container gets for ``llm`` (empty without an LLM).

    Components add the identifiers only known at deploy time (the guardrail's id and version,
    the Content Safety or Azure OpenAI endpoint, the Model Armor template's name) from their
    resources' outputs, under the ``HOOK_*`` and ``LLM_*`` variable names above.
    """
    if not llm.enabled:
        return {}
    env = {HOOK_CONFIG_VARIABLE: llm.guardrail.hook_config()}
    if llm.mode is LlmMode.SELF_HOSTED:
        env[HOOK_PROVIDER_VARIABLE] = HOOK_PROVIDERS[cloud].value
    else:
        env[LLM_PROVIDER_VARIABLE] = LLM_PROVIDERS[cloud].value
        env[LLM_MODEL_VARIABLE] = llm.model or ""
    return env
