"""Azure AI services / OpenAI rules (20) on small real programs, one change per failing case."""

from __future__ import annotations

import pytest

from tests.policies.test_azure_common import Case, Program, ai_account, judge_case, params

CASES: dict[str, Case] = {
    "azure-ai-services-disable-local-auth:ai-local-auth-ok": (ai_account(), False),
    "azure-ai-services-disable-local-auth:ai-local-auth-keys": (
        ai_account(disable_local_auth=False),
        True,
    ),
    "azure-ai-services-disable-public-network:ai-public-ok": (ai_account(), False),
    "azure-ai-services-disable-public-network:ai-public-enabled": (
        ai_account(public_network_access="Enabled"),
        True,
    ),
    "azure-ai-services-require-managed-identity:ai-identity-ok": (ai_account(), False),
    "azure-ai-services-require-managed-identity:ai-identity-none": (
        ai_account(identity=None),
        True,
    ),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)
