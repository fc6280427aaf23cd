"""GCP building block: the LLM guardrail of an api-first stack, a Model Armor template.

Only for a stack that serves an LLM (``spec.llm.enabled``). The neutral
:class:`components.llm.GuardrailSettings` becomes one ``gcp.modelarmor.Template`` in the stack's
region through the lookup tables below; the serving container then reaches it one of two ways:

- self-hosted: the model server's hook sends every prompt and every answer to the template's
  ``sanitizeUserPrompt`` / ``sanitizeModelResponse`` (chunked at the service's per-call limit,
  so a long prompt is read whole); the serving account holds ``roles/modelarmor.user``;
- hosted: the model server calls Vertex AI ``generateContent`` with
  ``modelArmorConfig {promptTemplateName, responseTemplateName}`` naming this template; the
  serving account holds ``roles/aiplatform.user`` and Vertex AI's service agent, which calls
  Model Armor on the request's behalf, holds ``roles/modelarmor.user`` (Model Armor's Vertex
  AI integration docs). That integration runs in us-central1, us-east4, us-west1 and
  europe-west4 only (components.llm.LLM_REGIONS["gcp"]).

Model Armor templates have no resource-level IAM: ``roles/modelarmor.user`` is granted on the
project, the narrowest scope IAM offers. They take no customer-managed key either (no key
field in the API), so no encryption rule asks for one. Denied topics have no Model Armor
filter: the spec refuses them on GCP (components.llm.DENIED_TOPIC_CLOUDS).

PII: Model Armor's *basic* Sensitive Data Protection inspects a fixed set of six infoTypes
(CREDIT_CARD_NUMBER, US_SOCIAL_SECURITY_NUMBER, FINANCIAL_ACCOUNT_NUMBER,
US_INDIVIDUAL_TAXPAYER_IDENTIFICATION_NUMBER, GCP_CREDENTIALS, GCP_API_KEY) and only inspects,
never de-identifies. Of the neutral entities it covers card numbers and US SSNs
(:data:`BASIC_SDP_ENTITIES`); e-mail, phone, IBAN and IP address would need *advanced* SDP
(a DLP inspect template and, to redact, a de-identify template, the DLP API and DLP roles for
Model Armor's service agent). We use basic SDP and leave the other entities, and redaction, to
the model server's hook, which reads every entity and the action from ``GUARDRAIL_CONFIG``.
With Vertex AI (hosted) an SDP match blocks the call: ``redact`` of a card number becomes
``block`` there, the stricter of the two.

Also :func:`floor_setting_args`: the project's Model Armor floor setting, which the project's
bootstrap owns (one per project, shared by every stack there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.security import Identity, Project, labels, member
from components.llm import (
    HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE,
    LLM_REGION_VARIABLE,
    GuardrailSettings,
    HarmCategory,
    LlmMode,
    LlmSettings,
    PiiEntity,
    Strength,
    hook_environment,
)
from components.naming import resource_name
from components.spec import DeploymentSpec

# Model Armor's template ids: letters, digits and hyphens, at most 63, not starting with a
# hyphen (Model Armor "Create and manage templates").
TEMPLATE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")

# Neutral harm category -> Model Armor responsible-AI filter. Model Armor has four; DANGEROUS
# (harmful goods, services and activities) covers violence, self-harm and misconduct.
HARM_FILTERS: dict[HarmCategory, str] = {
    HarmCategory.HATE: "HATE_SPEECH",
    HarmCategory.SEXUAL: "SEXUALLY_EXPLICIT",
    HarmCategory.HARASSMENT: "HARASSMENT",
    HarmCategory.VIOLENCE: "DANGEROUS",
    HarmCategory.SELF_HARM: "DANGEROUS",
    HarmCategory.MISCONDUCT: "DANGEROUS",
}
# Strength -> the lowest confidence that trips the filter: a HIGH strength blocks even
# low-confidence matches. OFF: no filter at all.
CONFIDENCE_LEVELS: dict[Strength, str | None] = {
    Strength.OFF: None,
    Strength.LOW: "HIGH",
    Strength.MEDIUM: "MEDIUM_AND_ABOVE",
    Strength.HIGH: "LOW_AND_ABOVE",
}
STRENGTH_ORDER: tuple[Strength, ...] = (Strength.OFF, Strength.LOW, Strength.MEDIUM, Strength.HIGH)
ENABLED = "ENABLED"
DISABLED = "DISABLED"
# The neutral PII entities basic SDP detects (see the module doc for the other four).
BASIC_SDP_ENTITIES: frozenset[PiiEntity] = frozenset({PiiEntity.CARD_NUMBER, PiiEntity.US_SSN})
# Blocks what trips a filter (INSPECT_ONLY would only report it: no guardrail).
ENFORCEMENT = "INSPECT_AND_BLOCK"
# Roles per mode, by who holds them: the serving account, and (hosted) Vertex AI's agent.
SERVING_ROLES: dict[LlmMode, tuple[str, ...]] = {
    LlmMode.SELF_HOSTED: ("roles/modelarmor.user",),
    LlmMode.HOSTED: ("roles/aiplatform.user",),
}
AGENT_ROLES: dict[LlmMode, dict[str, tuple[str, ...]]] = {
    LlmMode.SELF_HOSTED: {},
    LlmMode.HOSTED: {"aiplatform": ("roles/modelarmor.user",)},
}
# Where Model Armor's Vertex AI integration (the floor setting's AI_PLATFORM service, and a
# template named in generateContent) runs (Model Armor "Integration with Vertex AI").
VERTEX_INTEGRATION_REGIONS: frozenset[str] = frozenset(
    {"us-central1", "us-east4", "us-west1", "europe-west4"}
)
FLOOR_SETTING_LOCATION = "global"
AI_PLATFORM_SERVICE = "AI_PLATFORM"


def template_id(spec: DeploymentSpec) -> str:
    """The template's id: the stack's, with its suffix (a stack destroyed and created again
    never collides with a template being deleted)."""
    parts = [spec.project, spec.environment.value]
    if spec.suffix is not None:
        parts.append(spec.suffix)
    found = resource_name("gcp", "default", *parts, "guardrail")
    if not TEMPLATE_ID_RE.fullmatch(found):  # resource_name keeps to a stricter alphabet
        raise ValueError(f"Model Armor template id {found!r} breaks Model Armor's id rules")
    return found


def harm_filters(guardrail: GuardrailSettings) -> list[tuple[str, str]]:
    """(filter type, confidence level) per Model Armor filter, the strongest strength of the
    neutral categories that map to it; filters whose categories are all off are left out."""
    strongest: dict[str, Strength] = {}
    for category, filter_type in HARM_FILTERS.items():
        current = strongest.get(filter_type, Strength.OFF)
        strongest[filter_type] = max(
            current, guardrail.strength(category), key=STRENGTH_ORDER.index
        )
    out = []
    for filter_type in dict.fromkeys(HARM_FILTERS.values()):
        level = CONFIDENCE_LEVELS[strongest[filter_type]]
        if level is not None:
            out.append((filter_type, level))
    return out


@dataclass(frozen=True)
class FilterPlan:
    """The Model Armor filters a GuardrailSettings asks for, cloud values only (tested
    directly, and turned into the template's and the floor setting's args)."""

    harm: tuple[tuple[str, str], ...]
    prompt_attack: str | None  # confidence level, None when off
    sdp_basic: bool
    malicious_uri: bool = True


def filter_plan(guardrail: GuardrailSettings) -> FilterPlan:
    """What the template turns on for ``guardrail``."""
    return FilterPlan(
        harm=tuple(harm_filters(guardrail)),
        prompt_attack=CONFIDENCE_LEVELS[guardrail.prompt_attack],
        sdp_basic=bool(guardrail.pii),
    )


def template_filter_config(plan: FilterPlan) -> gcp.modelarmor.TemplateFilterConfigArgs:
    """The template's ``filter_config`` for ``plan``."""
    return gcp.modelarmor.TemplateFilterConfigArgs(
        rai_settings=gcp.modelarmor.TemplateFilterConfigRaiSettingsArgs(
            rai_filters=[
                gcp.modelarmor.TemplateFilterConfigRaiSettingsRaiFilterArgs(
                    filter_type=filter_type, confidence_level=level
                )
                for filter_type, level in plan.harm
            ]
        ),
        pi_and_jailbreak_filter_settings=gcp.modelarmor.TemplateFilterConfigPiAndJailbreakFilterSettingsArgs(
            filter_enforcement=ENABLED if plan.prompt_attack else DISABLED,
            confidence_level=plan.prompt_attack,
        ),
        malicious_uri_filter_settings=gcp.modelarmor.TemplateFilterConfigMaliciousUriFilterSettingsArgs(
            filter_enforcement=ENABLED if plan.malicious_uri else DISABLED
        ),
        sdp_settings=gcp.modelarmor.TemplateFilterConfigSdpSettingsArgs(
            basic_config=gcp.modelarmor.TemplateFilterConfigSdpSettingsBasicConfigArgs(
                filter_enforcement=ENABLED if plan.sdp_basic else DISABLED
            )
        ),
    )


def template_metadata(guardrail: GuardrailSettings) -> gcp.modelarmor.TemplateTemplateMetadataArgs:
    """Block what trips a filter, answer with the spec's messages (where Model Armor answers
    callers itself), audit template changes, and keep sanitize operations out of Cloud Logging:
    the docs do not say those entries leave out the prompt, and the issue asks that blocked
    calls be logged without it (the model server's ``guardrail_blocked`` line is the record)."""
    return gcp.modelarmor.TemplateTemplateMetadataArgs(
        enforcement_type=ENFORCEMENT,
        custom_prompt_safety_error_message=guardrail.blocked_input_message,
        custom_llm_response_safety_error_message=guardrail.blocked_output_message,
        log_template_operations=True,
        log_sanitize_operations=False,
    )


@dataclass(frozen=True)
class Guardrail:
    """The stack's Model Armor template, its full name, and the grants that let it be used."""

    template: gcp.modelarmor.Template
    name: pulumi.Output[str]  # projects/<project>/locations/<region>/templates/<id>
    grants: tuple[gcp.projects.IAMMember, ...]

    def environment(
        self, spec: DeploymentSpec
    ) -> list[gcp.cloudrunv2.ServiceTemplateContainerEnvArgs]:
        """The model container's guardrail variables: the static ones from
        components.llm.hook_environment, the template's name and the region."""
        values: dict[str, pulumi.Input[str]] = dict(hook_environment("gcp", spec.llm))
        values[HOOK_MODEL_ARMOR_TEMPLATE_VARIABLE] = self.name
        values[LLM_REGION_VARIABLE] = spec.region
        return [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=key, value=value)
            for key, value in values.items()
        ]


def create_guardrail(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    account: Identity,
    opts: pulumi.ResourceOptions,
) -> Guardrail | None:
    """The Model Armor template and its grants for ``spec.llm``; None without an LLM."""
    llm = spec.llm
    if not llm.enabled:
        return None
    guardrail = llm.guardrail
    template = gcp.modelarmor.Template(
        f"{name}-guardrail",
        gcp.modelarmor.TemplateArgs(
            project=project.project_id,
            location=spec.region,
            template_id=template_id(spec),
            filter_config=template_filter_config(filter_plan(guardrail)),
            template_metadata=template_metadata(guardrail),
            labels=labels(spec, guardrail=guardrail.fingerprint()),
        ),
        opts=opts,
    )
    full_name = pulumi.Output.concat(
        "projects/",
        project.project_id,
        "/locations/",
        spec.region,
        "/templates/",
        template.template_id,
    )
    members: dict[str, pulumi.Input[str]] = {"serving": member(account)}
    grants_by_member: dict[str, tuple[str, ...]] = {"serving": SERVING_ROLES[llm.mode]}
    for agent, roles in AGENT_ROLES[llm.mode].items():
        members[agent] = project.agent(agent)
        grants_by_member[agent] = roles
    grants = tuple(_grants(name, project, grants_by_member, members, opts))
    return Guardrail(template, full_name, grants)


def _grants(
    name: str,
    project: Project,
    grants: Mapping[str, tuple[str, ...]],
    members: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> list[gcp.projects.IAMMember]:
    # Model Armor templates and Vertex AI publisher models have no resource-level IAM: the
    # project is the narrowest scope (and these roles are in the deployer's grantable list).
    out = []
    for who, roles in grants.items():
        for role in roles:
            short = role.rsplit("/", 1)[-1].replace(".", "-").lower()
            out.append(
                gcp.projects.IAMMember(
                    f"{name}-guardrail-{who}-{short}",
                    gcp.projects.IAMMemberArgs(
                        project=project.project_id, role=role, member=members[who]
                    ),
                    opts=opts,
                )
            )
    return out


# -- the project's floor setting (the bootstrap's) ---------------------------------------------
def floor_setting_args(
    project_id: str, region: str, llm: LlmSettings
) -> gcp.modelarmor.FloorsettingArgs | None:
    """The project's Model Armor floor setting for ``llm``: the same filters as the stacks'
    templates as the minimum any template of the project must meet, enforced, and, where the
    region has Model Armor's Vertex AI integration and the model is hosted, every Gemini
    ``generateContent`` call of the project screened (inspect and block, results logged).

    One per project (``projects/<id>/locations/global/floorSetting``), so the project's
    bootstrap owns it; the stacks' templates are identical in every environment (parity), so
    the floor is the same whichever environment's settings it is built from. None without an
    LLM.
    """
    if not llm.enabled:
        return None
    plan = filter_plan(llm.guardrail)
    vertex = llm.mode is LlmMode.HOSTED and region in VERTEX_INTEGRATION_REGIONS
    return gcp.modelarmor.FloorsettingArgs(
        parent=f"projects/{project_id}",
        location=FLOOR_SETTING_LOCATION,
        enable_floor_setting_enforcement=True,
        filter_config=gcp.modelarmor.FloorsettingFilterConfigArgs(
            rai_settings=gcp.modelarmor.FloorsettingFilterConfigRaiSettingsArgs(
                rai_filters=[
                    gcp.modelarmor.FloorsettingFilterConfigRaiSettingsRaiFilterArgs(
                        filter_type=filter_type, confidence_level=level
                    )
                    for filter_type, level in plan.harm
                ]
            ),
            pi_and_jailbreak_filter_settings=gcp.modelarmor.FloorsettingFilterConfigPiAndJailbreakFilterSettingsArgs(
                filter_enforcement=ENABLED if plan.prompt_attack else DISABLED,
                confidence_level=plan.prompt_attack,
            ),
            malicious_uri_filter_settings=gcp.modelarmor.FloorsettingFilterConfigMaliciousUriFilterSettingsArgs(
                filter_enforcement=ENABLED if plan.malicious_uri else DISABLED
            ),
            sdp_settings=gcp.modelarmor.FloorsettingFilterConfigSdpSettingsArgs(
                basic_config=gcp.modelarmor.FloorsettingFilterConfigSdpSettingsBasicConfigArgs(
                    filter_enforcement=ENABLED if plan.sdp_basic else DISABLED
                )
            ),
        ),
        integrated_services=[AI_PLATFORM_SERVICE] if vertex else None,
        ai_platform_floor_setting=(
            gcp.modelarmor.FloorsettingAiPlatformFloorSettingArgs(
                inspect_and_block=True, enable_cloud_logging=False
            )
            if vertex
            else None
        ),
    )


def create_floor_setting(
    name: str, project_id: str, region: str, llm: LlmSettings, opts: pulumi.ResourceOptions
) -> gcp.modelarmor.Floorsetting | None:
    """The project's floor setting (see :func:`floor_setting_args`), for the bootstrap."""
    args = floor_setting_args(project_id, region, llm)
    if args is None:
        return None
    return gcp.modelarmor.Floorsetting(f"{name}-model-armor-floor", args, opts=opts)
