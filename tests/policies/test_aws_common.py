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


def test_aws_pack_lists_exactly_the_expected_rules() -> None:
    assert {p.name for p in aws.POLICIES} == {
        "aws-s3-bucket-require-kms-encryption",
        "aws-s3-bucket-require-public-access-block",
        "aws-s3-bucket-disallow-public-acl",
        "aws-s3-bucket-policy-disallow-public-principal",
        "aws-s3-bucket-require-tls-only-policy",
        "aws-s3-bucket-require-versioning",
        "aws-s3-bucket-require-access-logging",
        "aws-kms-key-require-rotation",
        "aws-kms-key-policy-disallow-public-principal",
        "aws-sqs-queue-require-kms",
        "aws-sqs-queue-require-tls-only-policy",
        "aws-sns-topic-require-kms",
        "aws-sns-topic-require-tls-only-policy",
        "aws-dynamodb-table-require-cmk",
        "aws-dynamodb-table-require-point-in-time-recovery",
        "aws-sagemaker-endpoint-config-require-kms",
        "aws-sagemaker-model-require-network-isolation",
        "aws-sagemaker-model-require-vpc",
        "aws-sagemaker-notebook-disallow-internet-and-root",
        "aws-apigateway-stage-require-access-logging",
        "aws-apigateway-domain-require-tls12",
        "aws-apigateway-cache-require-encryption",
        "aws-apigateway-stage-require-waf",
        "aws-lambda-function-url-require-auth",
        "aws-lambda-permission-require-source",
        "aws-lambda-function-require-tracing",
        "aws-lambda-function-require-dlq",
        "aws-lambda-function-require-env-kms",
        "aws-ecr-repository-require-immutable-tags",
        "aws-ecr-repository-require-scan-on-push",
        "aws-ecr-repository-require-kms",
        "aws-iam-policy-disallow-wildcard-admin",
        "aws-iam-disallow-admin-managed-policy",
        "aws-iam-role-trust-disallow-public-principal",
        "aws-cloudwatch-log-group-require-retention",
        "aws-cloudwatch-log-group-require-kms",
        "aws-lb-listener-require-https",
        "aws-lb-require-access-logs",
        "aws-ecs-task-definition-disallow-privileged",
        "aws-ecs-task-definition-require-logging",
        "aws-ecs-task-definition-disallow-plain-secrets",
    }


def test_advisory_rules_are_operational_and_security_rules_mandatory() -> None:
    for p in aws.POLICIES:
        if (p.tags or [""])[0] == SECURITY:
            assert p.enforcement_level == EnforcementLevel.MANDATORY, p.name
        elif p.enforcement_level == EnforcementLevel.MANDATORY:
            # Operational yet mandatory by default: retention (POLICY-RULES 14, "M").
            assert p.name == "aws-cloudwatch-log-group-require-retention", p.name
