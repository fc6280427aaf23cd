"""The AWS rules on the real AWS components, as a freshly generated project holds them."""

from __future__ import annotations

import pytest

from components.aws.api_first import policy_waivers
from components.spec import Cloud, Environment, Pattern
from policies.rules import aws
from tests.conftest import make_spec, run_component
from tests.policies.harness import evaluate


@pytest.mark.parametrize("environment", list(Environment))
def test_aws_api_first_passes_every_aws_rule_with_its_declared_waivers(
    environment: Environment,
) -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, environment)
    resources = run_component(spec).resources
    unwaived = evaluate(aws.POLICIES, resources)
    # The only findings are the ones the component declares and explains: ALB access logs need
    # an SSE-S3 bucket, which aws-s3-bucket-require-kms-encryption forbids; without a domain or
    # a private CA the internal hop from the VPC link is plain HTTP inside the VPC (listener and
    # the gateway's two integrations); TLS ends at the ALB (target groups, review C4).
    assert {(f.policy, f.resource_name) for f in unwaived} == {
        ("aws-lb-require-access-logs", f"{spec.project}-alb"),
        ("aws-lb-listener-require-https", f"{spec.project}-http"),
        ("aws-apigateway-integration-disallow-insecure-tls", f"{spec.project}-integration"),
        (
            "aws-apigateway-integration-disallow-insecure-tls",
            f"{spec.project}-health-integration",
        ),
        ("aws-lb-target-group-require-https", f"{spec.project}-stable-tg"),
        ("aws-lb-target-group-require-https", f"{spec.project}-canary-tg"),
    }
    assert evaluate(aws.POLICIES, resources, policy_waivers(spec.project)) == []
