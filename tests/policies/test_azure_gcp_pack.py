"""Meta-tests for the Azure and GCP rule lists: exact contents, metadata, levels, tests, imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import azure, gcp
from policies.rules.base import OPERATIONAL, SECURITY
from policies.rules.settings import AnyOf, Present, Setting, same_value

ROOT = Path(__file__).resolve().parents[2]

# Security rules the review (2026-12 security-deployability, sections B/C/D) makes advisory: each
# turns a legitimate design into a written waiver rather than forbidding it.
ADVISORY_SECURITY: frozenset[str] = frozenset(
    {
        "azure-custom-role-flag-resource-write",
        "azure-role-assignment-flag-data-owner",
        "azure-apim-require-private-origin",
        "azure-monitor-disable-public-ingestion",
        "azure-ml-workspace-require-cmk",
        "azure-acr-require-cmk",
        "azure-servicebus-require-cmk",
        "azure-cosmosdb-require-cmk",
        "azure-container-app-environment-require-cmk",
        # GCP: unsigned GPU drivers fail secure boot; a canary split needs a public Vertex
        # endpoint (IAM-authenticated); Cloud Armor is a priced add-on on internal-facing LBs.
        "gcp-compute-instance-require-shielded-vm",
        "gcp-workbench-instance-require-shielded-vm",
        "gcp-vertex-serving-require-private-endpoint",
        "gcp-lb-backend-service-require-cloud-armor",
    }
)

POLICIES: dict[str, list[Policy]] = {"azure": azure.POLICIES, "gcp": gcp.POLICIES}
OTHER_SDKS: dict[str, tuple[str, ...]] = {
    "azure": ("pulumi_aws", "pulumi_gcp"),
    "gcp": ("pulumi_aws", "pulumi_azure_native"),
}


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_rule_list_is_complete_and_unique(cloud: str) -> None:
    """Each package lists every rule its modules define, once, named after their cloud (which
    rules exist is reviewed in docs/rules.md, generated from the pack and checked for drift)."""
    from tests.policies.test_pack_meta import _rule_modules

    names = [p.name for p in POLICIES[cloud]]
    defined = {n for n, module in _rule_modules().items() if module.startswith(f"{cloud}/")}
    assert set(names) == defined
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(rf"{cloud}(-[a-z0-9]+)+", n) for n in names)


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_every_rule_carries_metadata_and_its_category_level(cloud: str) -> None:
    """Description, severity, tags, remediation; operational rules advisory, security mandatory."""
    for policy in POLICIES[cloud]:
        assert policy.description and policy.remediation_steps, policy.name
        assert policy.severity is not None, policy.name
        tags = policy.tags or []
        assert tags[0] in (SECURITY, OPERATIONAL) and len(tags) >= 2, policy.name
        security = tags[0] == SECURITY and policy.name not in ADVISORY_SECURITY
        expected = EnforcementLevel.MANDATORY if security else EnforcementLevel.ADVISORY
        assert policy.enforcement_level == expected, policy.name
        schema = policy.config_schema
        assert schema is not None and "waivers" in (schema.properties or {}), policy.name


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_every_rule_is_named_in_its_tests(cloud: str) -> None:
    """Every rule has cases in tests/policies/test_<cloud>_*.py that name it."""
    text = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (ROOT / "tests" / "policies").glob(f"test_{cloud}_*.py")
        if p.name != Path(__file__).name
    )
    assert [p.name for p in POLICIES[cloud] if p.name not in text] == []


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_rules_import_no_other_cloud_sdk(cloud: str) -> None:
    """policies/rules/<cloud> never imports another cloud's SDK (nor, for speed, its own)."""
    for path in (ROOT / "policies" / "rules" / cloud).glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                root = name.split(".")[0]
                assert root not in (*OTHER_SDKS[cloud], f"pulumi_{cloud}"), (path.name, name)


@pytest.mark.parametrize(
    ("value", "wanted", "equal"),
    [
        (True, True, True),
        (1.0, True, False),  # numbers arrive as floats: never a boolean
        ("true", True, False),
        ("Disabled", "Disabled", True),
        ("disabled", "Disabled", True),  # ARM enums are case-insensitive
        ("NotDisabled", "Disabled", False),  # whole values, never substrings
        (365.0, 365, True),
    ],
)
def test_settings_match_whole_values(value: object, wanted: object, equal: bool) -> None:
    """The shared table check compares exact values (type-aware for booleans)."""
    assert same_value(value, wanted) is equal


def test_settings_read_through_analyzer_proxies() -> None:
    """Setting / Present / AnyOf read nested values from the analyzer's read-only proxies."""
    props = unknown_checking_proxy(
        {"properties": {"networkAcls": {"defaultAction": "Deny"}}, "keys": [], "name": ""}
    )
    assert Setting("properties.networkAcls.defaultAction", ("Deny",)).satisfied(props)
    assert not Setting("properties.publicNetworkAccess", ("Disabled",)).satisfied(props)
    assert Setting("properties.publicNetworkAccess", ("Disabled",), unset_ok=True).satisfied(props)
    assert not Present("keys").satisfied(props) and not Present("name").satisfied(props)
    assert Present("properties.networkAcls").satisfied(props)
    either = AnyOf(
        (
            Setting("properties.publicNetworkAccess", ("Disabled",)),
            Setting("properties.networkAcls.defaultAction", ("Deny",)),
        )
    )
    assert either.satisfied(props)
