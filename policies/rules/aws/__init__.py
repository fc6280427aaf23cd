"""The AWS rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.aws import dynamodb, kms, messaging, s3

POLICIES: list[Policy] = [
    *s3.POLICIES,
    *kms.POLICIES,
    *messaging.POLICIES,
    *dynamodb.POLICIES,
]
