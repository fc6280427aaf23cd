"""Azure AI Search rules (policies/rules/azure/search.py) on small real programs, one change
per case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.search as search
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import search as search_rules
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
BY_NAME: dict[str, Policy] = {
    p.name: p for p in vars(search_rules).values() if isinstance(p, Policy)
}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def service(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": search.SkuArgs(name="standard"),
        "public_network_access": "Disabled",
        "disable_local_auth": True,
        "encryption_with_cmk": search.EncryptionWithCmkArgs(
            enforcement=search.SearchEncryptionWithCmk.ENABLED
        ),
        "identity": search.IdentityArgs(type="SystemAssigned"),
    }
    return lambda: search.Service(TARGET, **{**args, **over})


def allow_list(*ranges: str) -> search.NetworkRuleSetArgs:
    return search.NetworkRuleSetArgs(ip_rules=[search.IpRuleArgs(value=r) for r in ranges])


Case = tuple[Callable[[], object], bool]
PUBLIC = "azure-search-disable-public-network"
LOCAL_AUTH = "azure-search-disable-local-auth"
CMK = "azure-search-require-cmk"
IDENTITY = "azure-search-require-managed-identity"

CASES: dict[str, Case] = {
    f"{PUBLIC}:ok": (service(), False),
    f"{PUBLIC}:allow-list": (
        service(public_network_access="Enabled", network_rule_set=allow_list("203.0.113.0/24")),
        False,
    ),
    f"{PUBLIC}:enabled-no-rules": (service(public_network_access="Enabled"), True),
    f"{PUBLIC}:default": (service(public_network_access=None), True),
    f"{PUBLIC}:allow-list-everyone": (
        service(public_network_access="Enabled", network_rule_set=allow_list("0.0.0.0/0")),
        True,
    ),
    f"{LOCAL_AUTH}:ok": (service(), False),
    f"{LOCAL_AUTH}:keys": (
        service(
            disable_local_auth=None,
            auth_options=search.DataPlaneAuthOptionsArgs(api_key_only={}),
        ),
        True,
    ),
    f"{CMK}:ok": (service(), False),
    f"{CMK}:unspecified": (service(encryption_with_cmk=None), True),
    f"{IDENTITY}:ok": (service(), False),
    f"{IDENTITY}:none": (service(identity=search.IdentityArgs(type="None")), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def test_waiver_skips_only_the_named_service() -> None:
    """azure-search-disable-local-auth waived for one service still flags the other."""
    policy = search_rules.search_disable_local_auth

    def program() -> None:
        for name in ("legacy", "fresh"):
            search.Service(name, resource_group_name=RG, sku=search.SkuArgs(name="basic"))

    waiver = {"waivers": [{"resource": "legacy", "reason": "indexer client needs keys until Q2"}]}
    assert findings_for(policy, program, waiver) == {"fresh"}
