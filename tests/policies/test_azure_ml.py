"""Azure Machine Learning rules (21, D-3) on small real programs, one change per failing case."""

from __future__ import annotations

import pulumi_azure_native.machinelearningservices as ml
import pytest

from policies.rules.azure import ml as ml_rules
from tests.policies.test_azure_common import (
    TARGET,
    WAIVED,
    Case,
    Program,
    endpoint,
    findings_for,
    judge_case,
    params,
    workspace,
)

KEY = "https://kv.vault.azure.net/keys/cmk"
VAULT_ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"


def cmk(status: str = "Enabled", key: str = KEY) -> ml.EncryptionPropertyArgs:
    return ml.EncryptionPropertyArgs(
        status=status,
        key_vault_properties=ml.KeyVaultPropertiesArgs(
            key_identifier=key, key_vault_arm_id=VAULT_ID
        ),
    )


CASES: dict[str, Case] = {
    "azure-ml-workspace-disable-public-network:ml-public-ok": (workspace(), False),
    "azure-ml-workspace-disable-public-network:ml-public-enabled": (
        workspace(public_network_access="Enabled"),
        True,
    ),
    "azure-ml-endpoint-require-token-auth:ml-auth-aad": (endpoint("AADToken"), False),
    "azure-ml-endpoint-require-token-auth:ml-auth-key": (endpoint("Key"), True),
    # D-3: workspace CMK (advisory)
    "azure-ml-workspace-require-cmk:cmk-ok": (workspace(encryption=cmk()), False),
    "azure-ml-workspace-require-cmk:cmk-unset": (workspace(), True),
    "azure-ml-workspace-require-cmk:cmk-disabled": (workspace(encryption=cmk("Disabled")), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)


def test_workspace_cmk_waiver() -> None:
    policy = ml_rules.ml_workspace_require_cmk
    assert findings_for(policy, workspace(), WAIVED) == set()
    assert findings_for(policy, workspace()) == {TARGET}
