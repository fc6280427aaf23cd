"""Vertex AI serving, AI search stores and Model Armor rules (vertex.py): compliant resources;
one property changed per failing case."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from components.gcp.guardrail import FilterPlan, template_filter_config
from policies.rules.gcp import vertex
from tests.policies.test_gcp_common import KEY, TARGET, Program, judge, waiver

REGION = "europe-west1"
ALLOWED = ["acme-consumers"]


def endpoint(psc: bool | None = True, network: str | None = None) -> Program:
    config = (
        gcp.vertex.AiEndpointPrivateServiceConnectConfigArgs(
            enable_private_service_connect=psc, project_allowlists=ALLOWED
        )
        if psc is not None
        else None
    )
    return lambda: gcp.vertex.AiEndpoint(
        TARGET,
        name="serving",
        location=REGION,
        display_name="serving",
        private_service_connect_config=config,
        network=network,
    )


def index_endpoint(public: bool | None = False) -> Program:
    return lambda: gcp.vertex.AiIndexEndpoint(
        TARGET,
        display_name="vectors",
        region=REGION,
        public_endpoint_enabled=public,
        private_service_connect_config=gcp.vertex.AiIndexEndpointPrivateServiceConnectConfigArgs(
            enable_private_service_connect=True, project_allowlists=ALLOWED
        ),
    )


def feature_store(*, optimized: bool = True, psc: bool | None = True) -> Program:
    endpoint_args = (
        gcp.vertex.AiFeatureOnlineStoreDedicatedServingEndpointArgs(
            private_service_connect_config=gcp.vertex.AiFeatureOnlineStoreDedicatedServingEndpointPrivateServiceConnectConfigArgs(
                enable_private_service_connect=psc, project_allowlists=ALLOWED
            )
        )
        if psc is not None
        else None
    )
    kind: dict[str, Any] = (
        {"optimized": gcp.vertex.AiFeatureOnlineStoreOptimizedArgs()}  # type: ignore[no-untyped-call]
        if optimized
        else {
            "bigtable": gcp.vertex.AiFeatureOnlineStoreBigtableArgs(
                auto_scaling=gcp.vertex.AiFeatureOnlineStoreBigtableAutoScalingArgs(
                    min_node_count=1, max_node_count=3
                )
            )
        }
    )
    return lambda: gcp.vertex.AiFeatureOnlineStore(
        TARGET,
        name="features",
        region=REGION,
        dedicated_serving_endpoint=endpoint_args if optimized else None,
        **kind,
    )


def data_store(key: str | None = KEY) -> Program:
    return lambda: gcp.discoveryengine.DataStore(
        TARGET,
        data_store_id="docs",
        display_name="docs",
        location="eu",
        industry_vertical="GENERIC",
        content_config="CONTENT_REQUIRED",
        solution_types=["SOLUTION_TYPE_SEARCH"],
        kms_key_name=key,
    )


def collection(key: str | None = KEY) -> Program:
    spec = gcp.vectorsearch.CollectionEncryptionSpecArgs(crypto_key_name=key) if key else None
    return lambda: gcp.vectorsearch.Collection(
        TARGET, collection_id="docs", location=REGION, encryption_spec=spec
    )


def armor(**filters: Any) -> Program:
    """A template screening prompt injection only (or the filters given)."""
    config = filters or {
        "pi_and_jailbreak_filter_settings": (
            gcp.modelarmor.TemplateFilterConfigPiAndJailbreakFilterSettingsArgs(
                filter_enforcement="ENABLED", confidence_level="MEDIUM_AND_ABOVE"
            )
        )
    }
    return lambda: gcp.modelarmor.Template(
        TARGET,
        location=REGION,
        template_id="chat",
        filter_config=gcp.modelarmor.TemplateFilterConfigArgs(**config),
    )


PRIVATE = vertex.vertex_serving_require_private_endpoint
STORES = vertex.ai_stores_require_cmek
ARMOR = vertex.model_armor_require_filters
OFF = "DISABLED"

CASES: dict[str, tuple[Policy, Program, bool]] = {
    "gcp-vertex-serving-require-private-endpoint:endpoint-psc-ok": (PRIVATE, endpoint(), False),
    "gcp-vertex-serving-require-private-endpoint:endpoint-peered-ok": (
        PRIVATE,
        endpoint(psc=None, network="projects/123/global/networks/vpc"),
        False,
    ),
    "gcp-vertex-serving-require-private-endpoint:endpoint-public": (
        PRIVATE,
        endpoint(psc=None),
        True,
    ),
    "gcp-vertex-serving-require-private-endpoint:endpoint-psc-off": (
        PRIVATE,
        endpoint(psc=False),
        True,
    ),
    "gcp-vertex-serving-require-private-endpoint:index-ok": (PRIVATE, index_endpoint(), False),
    "gcp-vertex-serving-require-private-endpoint:index-public": (
        PRIVATE,
        index_endpoint(True),
        True,
    ),
    "gcp-vertex-serving-require-private-endpoint:features-psc-ok": (
        PRIVATE,
        feature_store(),
        False,
    ),
    "gcp-vertex-serving-require-private-endpoint:features-public-endpoint": (
        PRIVATE,
        feature_store(psc=None),
        True,
    ),
    "gcp-vertex-serving-require-private-endpoint:features-bigtable-ok": (
        PRIVATE,
        feature_store(optimized=False, psc=None),
        False,
    ),
    "gcp-ai-search-stores-require-cmek:data-store-ok": (STORES, data_store(), False),
    "gcp-ai-search-stores-require-cmek:data-store-google-key": (STORES, data_store(None), True),
    "gcp-ai-search-stores-require-cmek:collection-ok": (STORES, collection(), False),
    "gcp-ai-search-stores-require-cmek:collection-google-key": (STORES, collection(None), True),
    "gcp-model-armor-require-filters:prompt-injection-ok": (ARMOR, armor(), False),
    "gcp-model-armor-require-filters:rai-only-ok": (
        ARMOR,
        armor(
            rai_settings=gcp.modelarmor.TemplateFilterConfigRaiSettingsArgs(
                rai_filters=[
                    gcp.modelarmor.TemplateFilterConfigRaiSettingsRaiFilterArgs(
                        filter_type="DANGEROUS", confidence_level="HIGH"
                    )
                ]
            )
        ),
        False,
    ),
    "gcp-model-armor-require-filters:all-disabled": (
        ARMOR,
        armor(
            pi_and_jailbreak_filter_settings=(
                gcp.modelarmor.TemplateFilterConfigPiAndJailbreakFilterSettingsArgs(
                    filter_enforcement=OFF
                )
            ),
            malicious_uri_filter_settings=(
                gcp.modelarmor.TemplateFilterConfigMaliciousUriFilterSettingsArgs(
                    filter_enforcement=OFF
                )
            ),
            sdp_settings=gcp.modelarmor.TemplateFilterConfigSdpSettingsArgs(
                basic_config=gcp.modelarmor.TemplateFilterConfigSdpSettingsBasicConfigArgs(
                    filter_enforcement=OFF
                )
            ),
        ),
        True,
    ),
    "gcp-model-armor-require-filters:floor-setting-empty": (
        ARMOR,
        lambda: gcp.modelarmor.Floorsetting(
            TARGET,
            location="global",
            parent="projects/acme",
            filter_config=gcp.modelarmor.FloorsettingFilterConfigArgs(),
        ),
        True,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_vertex_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_public_endpoint_waiver() -> None:
    """gcp-vertex-serving-require-private-endpoint: a public API behind IAM, waived by name."""
    reason = "public prediction API: IAM-authenticated callers outside any VPC (ARCH-7)"
    assert judge(PRIVATE, endpoint(psc=None), waiver(TARGET, reason)) == set()


# -- gcp-model-armor-template-require-prompt-attack-and-harm-filters ---------------------------
# Compliant: the filters components/gcp/guardrail.py builds; one setting changed per case.
TEMPLATE_RULE = vertex.model_armor_template_require_llm_guardrail
PLAN = FilterPlan(
    harm=(("HATE_SPEECH", "MEDIUM_AND_ABOVE"),), prompt_attack="LOW_AND_ABOVE", sdp_basic=True
)


def template(plan: FilterPlan = PLAN, enforcement: str | None = "INSPECT_AND_BLOCK") -> Program:
    return lambda: gcp.modelarmor.Template(
        TARGET,
        location="europe-west1",
        template_id="acme-prod-guardrail",
        filter_config=template_filter_config(plan),
        template_metadata=gcp.modelarmor.TemplateTemplateMetadataArgs(enforcement_type=enforcement),
    )


TEMPLATE_CASES: dict[str, tuple[Program, bool]] = {
    "compliant": (template(), False),
    "enforcement-unset-is-blocking": (template(enforcement=None), False),
    "prompt-attack-off": (template(dataclasses.replace(PLAN, prompt_attack=None)), True),
    "no-harm-filter": (template(dataclasses.replace(PLAN, harm=())), True),
    "inspect-only": (template(enforcement="INSPECT_ONLY"), True),
}


@pytest.mark.parametrize(("program", "violates"), TEMPLATE_CASES.values(), ids=TEMPLATE_CASES)
def test_model_armor_template_rule(program: Program, violates: bool) -> None:
    assert judge(TEMPLATE_RULE, program) == ({TARGET} if violates else set())
