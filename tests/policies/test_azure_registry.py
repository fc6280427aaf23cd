"""Azure container registry rules (22, D-3) on small real programs, one change per failing case."""

from __future__ import annotations

import pulumi_azure_native.containerregistry as acr
import pytest

from tests.policies.test_azure_common import Case, Program, judge_case, params, registry_

CMK = acr.EncryptionPropertyArgs(
    status="enabled",
    key_vault_properties=acr.KeyVaultPropertiesArgs(
        key_identifier="https://kv.vault.azure.net/keys/cmk", identity="client-id"
    ),
)

CASES: dict[str, Case] = {
    "azure-acr-disable-admin-and-anonymous-pull:acr-ok": (registry_(), False),
    "azure-acr-disable-admin-and-anonymous-pull:acr-defaults": (
        registry_(admin_user_enabled=None, anonymous_pull_enabled=None),
        False,
    ),
    "azure-acr-disable-admin-and-anonymous-pull:acr-admin": (
        registry_(admin_user_enabled=True),
        True,
    ),
    "azure-acr-disable-admin-and-anonymous-pull:acr-anonymous": (
        registry_(anonymous_pull_enabled=True),
        True,
    ),
    # D-3: registry CMK (advisory)
    "azure-acr-require-cmk:acr-cmk-ok": (registry_(encryption=CMK), False),
    "azure-acr-require-cmk:acr-cmk-unset": (registry_(), True),
    "azure-acr-require-cmk:acr-cmk-disabled": (
        registry_(encryption=acr.EncryptionPropertyArgs(status="disabled")),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)
