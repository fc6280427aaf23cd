"""The AWS rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.aws import (
    apigateway,
    dynamodb,
    ecr,
    ecs,
    elb,
    iam,
    kms,
    lambda_,
    logs,
    messaging,
    s3,
    sagemaker,
)

POLICIES: list[Policy] = [
    *s3.POLICIES,
    *kms.POLICIES,
    *messaging.POLICIES,
    *dynamodb.POLICIES,
    *sagemaker.POLICIES,
    *apigateway.POLICIES,
    *lambda_.POLICIES,
    *ecr.POLICIES,
    *iam.POLICIES,
    *logs.POLICIES,
    *elb.POLICIES,
    *ecs.POLICIES,
]
