"""Shared helpers of the AWS rule tests, and unit tests of policies/rules/aws/_common.py.

``judge`` runs a small real program under mocks and evaluates rules on what it registered,
with the inputs wrapped in pulumi_policy's own read-only proxies: the rules see ``Mapping`` /
``Sequence`` proxies there, exactly as in the pack, not plain dicts and lists.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.rules import aws
from policies.rules.aws import _common
from policies.rules.base import OPERATIONAL, SECURITY
from tests.policies.harness import evaluate, names_violating, run_program

Program = Callable[[], Any]


def judge(
    policy: Policy,
    program: Program,
    config: Mapping[str, Any] | None = None,
) -> set[str]:
    """Names of the resources ``policy`` flags in ``program`` (with pack-style proxied props)."""
    resources = [
        dataclasses.replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))
        for r in run_program(program)
    ]
    findings = evaluate([policy], resources, {policy.name: config} if config else None)
    return names_violating(findings, policy.name)


def waiver(resource: str) -> dict[str, Any]:
    """Pack config waiving ``policy`` for one named resource."""
    return {"waivers": [{"resource": resource, "reason": "accepted risk: ticket SEC-123"}]}


def doc(*statements: Mapping[str, Any]) -> str:
    """An IAM-style policy document as the wire carries it (a JSON string)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# ---------------------------------------------------------------------------- the pack's list
def test_aws_policies_are_unique_and_fully_described() -> None:
    names = [p.name for p in aws.POLICIES]
    assert len(names) == len(set(names))
    for p in aws.POLICIES:
        assert p.name.startswith("aws-"), p.name
        assert p.description and p.remediation_steps and p.severity is not None
        assert p.tags and p.tags[0] in {SECURITY, OPERATIONAL}, p.name
        assert len(p.tags) >= 2, p.name


# ---------------------------------------------------------------------------- helpers
def test_get_reads_camel_and_snake_case_through_proxies() -> None:
    props = unknown_checking_proxy({"outer": {"innerKey": 1, "other_key": 2}})
    assert _common.get(props, "outer", "innerKey") == 1
    assert _common.get(props, "outer", "otherKey") == 2
    assert _common.get(props, "missing", "x") is None


def test_items_treats_proxied_lists_as_lists_and_strings_as_one_value() -> None:
    assert _common.items(unknown_checking_proxy({"a": [1, 2]})["a"]) == [1, 2]
    assert _common.items("s3:*") == ["s3:*"]
    assert _common.items(None) == []


def test_known_reads_unknown_values_as_none() -> None:
    props = unknown_checking_proxy({"bucket": UNKNOWN_STRING_VALUE})
    assert _common.known(props, "bucket") is None


@pytest.mark.parametrize(
    ("principal", "public"),
    [
        ("*", True),
        ({"AWS": "*"}, True),
        ({"AWS": ["arn:aws:iam::123456789012:root", "*"]}, True),
        ({"AWS": "arn:aws:iam::123456789012:root"}, False),
        ({"Service": "lambda.amazonaws.com"}, False),
        ("arn:aws:iam::123456789012:root*", False),
    ],
)
def test_principal_is_public_by_exact_value(principal: Any, public: bool) -> None:
    assert _common.principal_is_public(principal) is public


@pytest.mark.parametrize(
    ("condition", "denies"),
    [
        ({"Bool": {"aws:SecureTransport": "false"}}, True),
        ({"Bool": {"aws:SecureTransport": False}}, True),
        ({"BoolIfExists": {"aws:SecureTransport": ["false"]}}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, False),
        ({"StringEquals": {"aws:SecureTransport": "false"}}, False),
    ],
)
def test_denies_insecure_transport(condition: dict[str, Any], denies: bool) -> None:
    document = doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Condition": condition})
    assert _common.denies_insecure_transport(document, frozenset({"s3:*"})) is denies


def test_aws_pack_lists_every_rule_its_modules_define() -> None:
    # No rule defined and left out of the pack; which rules exist is reviewed in docs/rules.md
    # (generated from the pack, checked for drift).
    from tests.policies.test_pack_meta import _rule_modules

    defined = {name for name, module in _rule_modules().items() if module.startswith("aws/")}
    assert defined == {p.name for p in aws.POLICIES}


def test_every_aws_rule_names_a_benchmark_and_a_category() -> None:
    from policies.rules.base import RULE_REFERENCES
    from policies.rules.references import CATEGORIES

    for p in aws.POLICIES:
        assert RULE_REFERENCES[p.name], p.name
        assert set(p.tags or []) & set(CATEGORIES), p.name


def test_advisory_rules_are_operational_and_security_rules_mandatory() -> None:
    for p in aws.POLICIES:
        if (p.tags or [""])[0] == SECURITY:
            assert p.enforcement_level == EnforcementLevel.MANDATORY, p.name
        elif p.enforcement_level == EnforcementLevel.MANDATORY:
            # Operational yet mandatory by default: retention (POLICY-RULES 14, "M").
            assert p.name == "aws-cloudwatch-log-group-require-retention", p.name
