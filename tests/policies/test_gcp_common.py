"""Shared helpers of the GCP rule tests, and checks of the GCP rule list itself.

``judge`` runs a small real program under mocks and evaluates one rule on what it registered,
with the inputs wrapped in pulumi_policy's own read-only proxies (``Mapping`` / ``Sequence``
proxies, exactly as in the pack). Each rules module has its own test module
(tests/policies/test_gcp_<module>.py): a compliant fixture passes, and each single-property
change is flagged on exactly that resource.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import gcp
from policies.rules.base import OPERATIONAL, RULE_REFERENCES, SECURITY
from policies.rules.references import CATEGORIES
from tests.policies.harness import evaluate, names_violating, run_program

Program = Callable[[], Any]
TARGET = "target"
KEY = "projects/acme/locations/europe-west1/keyRings/ring/cryptoKeys/data"
RUNNER = "runner@acme.iam.gserviceaccount.com"
DEFAULT_COMPUTE = "123456789-compute@developer.gserviceaccount.com"


def judge(policy: Policy, program: Program, config: Mapping[str, Any] | None = None) -> set[str]:
    """Names of the resources ``policy`` flags in ``program`` (with pack-style proxied props)."""
    resources = [
        dataclasses.replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))
        for r in run_program(program)
    ]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def waiver(resource: str, reason: str = "accepted risk: ticket SEC-123") -> dict[str, Any]:
    """Pack config waiving a rule for one named resource."""
    return {"waivers": [{"resource": resource, "reason": reason}]}


def test_gcp_policies_are_unique_and_fully_described() -> None:
    names = [p.name for p in gcp.POLICIES]
    assert len(names) == len(set(names))
    for p in gcp.POLICIES:
        assert p.name.startswith("gcp-"), p.name
        assert p.description and p.remediation_steps and p.severity is not None
        assert p.tags and p.tags[0] in {SECURITY, OPERATIONAL}, p.name


def test_every_gcp_rule_has_a_category_and_a_reference() -> None:
    for p in gcp.POLICIES:
        assert set(p.tags or []) & set(CATEGORIES), p.name
        assert RULE_REFERENCES[p.name], p.name
        assert p.framework is not None and p.url, p.name
