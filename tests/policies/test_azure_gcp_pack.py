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

EXPECTED: dict[str, list[str]] = {
    "azure": [
        "azure-storage-require-tls12",
        "azure-storage-disallow-public-blob-access",
        "azure-storage-disable-shared-key",
        "azure-storage-restrict-network-access",
        "azure-storage-require-cmk",
        "azure-keyvault-require-purge-protection",
        "azure-keyvault-restrict-network-access",
        "azure-keyvault-require-rbac-authorization",
        "azure-ai-services-disable-local-auth",
        "azure-ai-services-disable-public-network",
        "azure-ai-services-require-managed-identity",
        "azure-ml-workspace-disable-public-network",
        "azure-ml-endpoint-require-token-auth",
        "azure-acr-disable-admin-and-anonymous-pull",
        "azure-data-services-disable-local-auth",
        "azure-data-services-require-tls12",
        "azure-app-service-require-https-tls12",
        "azure-container-app-disallow-insecure-ingress",
        "azure-apim-disable-legacy-tls",
        "azure-role-assignment-disallow-privileged-broad-scope",
        "azure-data-plane-require-diagnostic-settings",
        "azure-log-analytics-require-retention",
    ],
    "gcp": [
        "gcp-storage-bucket-require-uniform-access",
        "gcp-storage-bucket-enforce-public-access-prevention",
        "gcp-storage-bucket-require-cmek",
        "gcp-iam-disallow-public-members",
        "gcp-iam-disallow-privileged-project-roles",
        "gcp-iam-disallow-service-account-keys",
        "gcp-kms-require-key-rotation",
        "gcp-data-services-require-cmek",
        "gcp-serverless-restrict-ingress",
        "gcp-serverless-require-dedicated-identity",
        "gcp-audit-logs-require-ai-and-storage",
        "gcp-logging-require-retention",
        "gcp-ssl-policy-require-tls12",
    ],
}
POLICIES: dict[str, list[Policy]] = {"azure": azure.POLICIES, "gcp": gcp.POLICIES}
OTHER_SDKS: dict[str, tuple[str, ...]] = {
    "azure": ("pulumi_aws", "pulumi_gcp"),
    "gcp": ("pulumi_aws", "pulumi_azure_native"),
}


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_rule_list_is_exact_and_unique(cloud: str) -> None:
    """Each package lists exactly the expected rules, once, named after their cloud."""
    names = [p.name for p in POLICIES[cloud]]
    assert names == EXPECTED[cloud]
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
        expected = EnforcementLevel.MANDATORY if tags[0] == SECURITY else EnforcementLevel.ADVISORY
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
