"""Vertex AI serving, vector search and AI data stores, and Model Armor templates.

Customer-managed keys on Vertex AI endpoints, index endpoints, indexes and feature online
stores are rule 30's (policies/rules/gcp/kms.py); this module adds what kms.py's table does not
hold: private serving endpoints (prediction, vector search, online feature serving), keys on
Vertex AI Search (Discovery Engine) data stores and Vector Search collections, and Model Armor
templates that screen something.

Gemini and the other Google-hosted models are called through the Vertex AI API: there is no
resource to judge, so their controls are the project's (audit logs, VPC Service Controls, Model
Armor floor settings).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, as_list, canonical_type, prop_at, resource_rule
from policies.rules.references import checkov, guardrail, owasp_llm
from policies.rules.settings import show

AI_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
INDEX_ENDPOINT = "gcp:vertex/aiIndexEndpoint:AiIndexEndpoint"
FEATURE_ONLINE_STORE = "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore"
DATA_STORE = "gcp:discoveryengine/dataStore:DataStore"
VECTOR_COLLECTION = "gcp:vectorsearch/collection:Collection"
MODEL_ARMOR_TEMPLATE = "gcp:modelarmor/template:Template"
MODEL_ARMOR_FLOOR = "gcp:modelarmor/floorsetting:Floorsetting"


def _psc(props: Mapping[str, Any], path: str) -> bool:
    return prop_at(props, f"{path}.enablePrivateServiceConnect") is True


def _private_serving(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    if token == AI_ENDPOINT:
        # Private: peered to a VPC (`network`) or reached through Private Service Connect.
        # A dedicated endpoint is a dedicated *public* DNS name, not a private one.
        if not prop_at(props, "network") and not _psc(props, "privateServiceConnectConfig"):
            yield (
                "prediction endpoint is reachable from the internet: `network` and "
                "`privateServiceConnectConfig.enablePrivateServiceConnect` are unset; serve it "
                "over Private Service Connect or a peered VPC."
            )
    elif token == INDEX_ENDPOINT:
        public = props.get("publicEndpointEnabled")
        if public is True:
            yield (
                "vector search endpoint is reachable from the internet: "
                "`publicEndpointEnabled` is true; use `network` (VPC peering) or "
                "`privateServiceConnectConfig`."
            )
    elif token == FEATURE_ONLINE_STORE:
        # Only Optimized stores (and embedding management) serve from a dedicated endpoint,
        # which is public unless Private Service Connect is on; Bigtable stores serve through
        # the regional Vertex AI API.
        # `optimized` is an empty block: its presence, not its content, picks the store kind.
        dedicated = isinstance(props.get("optimized"), Mapping) or (
            prop_at(props, "embeddingManagement.enabled") is True
        )
        path = "dedicatedServingEndpoint.privateServiceConnectConfig"
        if dedicated and not _psc(props, path):
            yield (
                "feature serving endpoint is reachable from the internet: "
                f"`{path}.enablePrivateServiceConnect` is "
                f"{show(prop_at(props, f'{path}.enablePrivateServiceConnect'))}; set it to true."
            )


vertex_serving_require_private_endpoint = resource_rule(
    "gcp-vertex-serving-require-private-endpoint",
    "Vertex AI prediction endpoints, vector search index endpoints and optimized feature "
    "online stores are served privately (VPC peering or Private Service Connect).",
    types=(AI_ENDPOINT, INDEX_ENDPOINT, FEATURE_ONLINE_STORE),
    check=_private_serving,
    severity=Severity.MEDIUM,
    tags=["network-exposure"],
    remediation=(
        "Endpoint: `private_service_connect_config=...(enable_private_service_connect=True, "
        "project_allowlists=[...])` (or `network=` for VPC peering); index endpoint: "
        "`public_endpoint_enabled=False` with `network` or PSC; optimized feature online "
        "store: `dedicated_serving_endpoint=...(private_service_connect_config=...(...True))`."
    ),
    # Advisory in dev: public Vertex AI endpoints still demand IAM-authenticated calls; staging
    # and prod require the private path (or a written waiver, e.g. a public API behind IAM).
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV2_GCP_33"), checkov("CKV2_GCP_34")],
    since=2,
)


# -- keys on AI data stores that kms.py's table does not list --------------------------------
_AI_STORE_KEYS: dict[str, str] = {
    DATA_STORE: "kmsKeyName",
    VECTOR_COLLECTION: "encryptionSpec.cryptoKeyName",
}


def _ai_store_cmek(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    path = _AI_STORE_KEYS[canonical_type(args.resource_type)]
    value = prop_at(props, path)
    if not (isinstance(value, str) and value):
        yield (
            f"data store is not encrypted with a customer-managed key: `{path}` is unset; set "
            "it to a Cloud KMS CryptoKey id."
        )


ai_stores_require_cmek = resource_rule(
    "gcp-ai-search-stores-require-cmek",
    "Vertex AI Search (Discovery Engine) data stores and Vector Search collections encrypt "
    "with a customer-managed Cloud KMS key.",
    types=_AI_STORE_KEYS,
    check=_ai_store_cmek,
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Data store: `kms_key_name=key.id` (the key in the data store's multi-region, or a "
        "`gcp.discoveryengine.CmekConfig` registered first); collection: "
        "`encryption_spec=...(crypto_key_name=key.id)`; grant the Discovery Engine / Vertex AI "
        "service agent roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    # No Checkov check covers these types; rule 30 (CMEK on Vertex AI data) does.
    references=[guardrail("30")],
    since=2,
)


# -- Model Armor -----------------------------------------------------------------------------
def active_filters(config: Any) -> list[str]:
    """The Model Armor filters a filterConfig turns on."""
    if not isinstance(config, Mapping):
        return []
    active: list[str] = []
    if [f for f in as_list(prop_at(config, "raiSettings.raiFilters")) if f]:
        active.append("responsible AI")
    if prop_at(config, "piAndJailbreakFilterSettings.filterEnforcement") == "ENABLED":
        active.append("prompt injection and jailbreak")
    if prop_at(config, "maliciousUriFilterSettings.filterEnforcement") == "ENABLED":
        active.append("malicious URI")
    sdp_basic = prop_at(config, "sdpSettings.basicConfig.filterEnforcement") == "ENABLED"
    if sdp_basic or prop_at(config, "sdpSettings.advancedConfig"):
        active.append("sensitive data")
    return active


def _model_armor(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not active_filters(props.get("filterConfig")):
        yield (
            "template screens nothing: every filter in `filterConfig` is disabled or unset; "
            "enable at least `piAndJailbreakFilterSettings.filterEnforcement` (and the "
            "responsible AI, malicious URI and sensitive data filters the application needs)."
        )


model_armor_require_filters = resource_rule(
    "gcp-model-armor-require-filters",
    "Model Armor templates and floor settings turn on at least one filter.",
    types=(MODEL_ARMOR_TEMPLATE, MODEL_ARMOR_FLOOR),
    check=_model_armor,
    severity=Severity.MEDIUM,
    tags=["content-safety"],
    remediation=(
        "Set `filter_config=...(pi_and_jailbreak_filter_settings=...(filter_enforcement="
        '"ENABLED", confidence_level="MEDIUM_AND_ABOVE"), malicious_uri_filter_settings=...('
        'filter_enforcement="ENABLED"), rai_settings=...(rai_filters=[...]))`.'
    ),
    # A template with every filter off is a configuration mistake, not a design choice. No cloud
    # benchmark covers LLM prompt screening yet: the rule follows OWASP's LLM risks instead.
    references=[owasp_llm("LLM01"), owasp_llm("LLM05")],
    since=2,
)


# -- Model Armor as an LLM's guardrail -------------------------------------------------------
# Enforcement types that block what trips a filter (INSPECT_ONLY only reports it). Unset is
# Model Armor's default, which blocks.
BLOCKING_ENFORCEMENT: frozenset[str] = frozenset({"INSPECT_AND_BLOCK"})


def _llm_guardrail(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    config = props.get("filterConfig")
    config = config if isinstance(config, Mapping) else {}
    if prop_at(config, "piAndJailbreakFilterSettings.filterEnforcement") != "ENABLED":
        yield (
            "template does not detect prompt injection or jailbreaks: "
            "`piAndJailbreakFilterSettings.filterEnforcement` is "
            f"{show(prop_at(config, 'piAndJailbreakFilterSettings.filterEnforcement'))}; "
            "set it to ENABLED."
        )
    if not [f for f in as_list(prop_at(config, "raiSettings.raiFilters")) if f]:
        yield (
            "template has no harm filter: `raiSettings.raiFilters` is empty; add the "
            "HATE_SPEECH, SEXUALLY_EXPLICIT, HARASSMENT and DANGEROUS filters."
        )
    enforcement = prop_at(props, "templateMetadata.enforcementType")
    if enforcement is not None and enforcement not in BLOCKING_ENFORCEMENT:
        yield (
            f"template only reports what it finds: `templateMetadata.enforcementType` is "
            f"{show(enforcement)}; set it to INSPECT_AND_BLOCK."
        )


model_armor_template_require_llm_guardrail = resource_rule(
    "gcp-model-armor-template-require-prompt-attack-and-harm-filters",
    "Model Armor templates detect prompt injection and jailbreaks, have harm filters, and block "
    "(an LLM's guardrail in staging and prod).",
    types=(MODEL_ARMOR_TEMPLATE,),
    check=_llm_guardrail,
    severity=Severity.HIGH,
    tags=["content-safety"],
    remediation=(
        "Build the template from the stack's `llm.guardrail` (components/gcp/guardrail.py): "
        "`prompt_attack` not off, at least one harm category not off; or set "
        '`pi_and_jailbreak_filter_settings=...(filter_enforcement="ENABLED")`, '
        "`rai_settings=...(rai_filters=[...])` and "
        '`template_metadata=...(enforcement_type="INSPECT_AND_BLOCK")`.'
    ),
    # Operational: advisory in dev (a team tuning filters), mandatory in staging and prod.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[owasp_llm("LLM01")],
    since=4,
)
