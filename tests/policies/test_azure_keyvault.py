"""Azure Key Vault rules (19) on small real programs, one change per failing case."""

from __future__ import annotations

import pytest

from tests.policies.test_azure_common import Case, Program, judge_case, params, vault

CASES: dict[str, Case] = {
    "azure-keyvault-require-purge-protection:purge-ok": (vault(), False),
    "azure-keyvault-require-purge-protection:purge-unset": (
        vault(enable_purge_protection=None),
        True,
    ),
    "azure-keyvault-require-purge-protection:purge-soft-delete-off": (
        vault(enable_soft_delete=False),
        True,
    ),
    "azure-keyvault-restrict-network-access:kv-network-ok": (vault(), False),
    "azure-keyvault-restrict-network-access:kv-network-acl-only": (
        vault(public_network_access="Enabled"),
        False,
    ),
    "azure-keyvault-restrict-network-access:kv-network-open": (
        vault(public_network_access="Enabled", network_acls=None),
        True,
    ),
    "azure-keyvault-require-rbac-authorization:kv-rbac-ok": (vault(), False),
    "azure-keyvault-require-rbac-authorization:kv-rbac-access-policies": (
        vault(enable_rbac_authorization=False),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)
