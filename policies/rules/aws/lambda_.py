"""Lambda rules (POLICY-RULES 10, 11).

Mandatory: function URLs authenticate; a permission for principal ``*`` names its source.
Advisory: X-Ray tracing, a failure destination for async invocations, environment variables
encrypted with a customer key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.aws._common import (
    StackFindings,
    each,
    get,
    known,
    linked,
    mapping,
    of_types,
    present,
)
from policies.rules.base import OPERATIONAL, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp

FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"

AUTHENTICATED_URL_TYPES = frozenset({"AWS_IAM"})
SOURCE_KEYS = ("sourceArn", "sourceAccount", "principalOrgId")


def _check_url_auth(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    auth = get(props, "authorizationType")
    if auth not in AUTHENTICATED_URL_TYPES:
        yield f"Lambda function URL authorization is {auth}: anyone can invoke the function."


URL_REQUIRE_AUTH = resource_rule(
    "aws-lambda-function-url-require-auth",
    "Lambda function URLs must require IAM authentication (authorization_type AWS_IAM).",
    types=[FUNCTION_URL],
    check=_check_url_auth,
    severity=Severity.CRITICAL,
    tags=["iam", "network", "lambda", "authentication", "public-access"],
    remediation=(
        "Set authorization_type='AWS_IAM', or front the function with API Gateway and an "
        "authorizer instead of a public URL."
    ),
    references=[checkov("CKV_AWS_258")],
)


def _check_permission_source(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "principal") != "*":
        return
    if not any(present(get(props, key)) for key in SOURCE_KEYS):
        yield (
            "Lambda permission grants principal '*' without source_arn, source_account or "
            "principal_org_id: any account can invoke the function."
        )


PERMISSION_REQUIRE_SOURCE = resource_rule(
    "aws-lambda-permission-require-source",
    "A Lambda permission for principal '*' must be scoped by source ARN, account or organization.",
    types=[PERMISSION],
    check=_check_permission_source,
    severity=Severity.HIGH,
    tags=["iam", "lambda", "public-access", "least-privilege"],
    remediation=(
        "Name the calling service as principal (e.g. 'apigateway.amazonaws.com') and set "
        "source_arn=<caller ARN>; otherwise set source_account or principal_org_id."
    ),
    references=[checkov("CKV_AWS_364"), fsbp("Lambda.1")],
)


def _check_tracing(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "tracingConfig", "mode") != "Active":
        yield "Lambda function has no active X-Ray tracing (tracing_config.mode != 'Active')."


FUNCTION_REQUIRE_TRACING = resource_rule(
    "aws-lambda-function-require-tracing",
    "Lambda functions should have active X-Ray tracing.",
    types=[FUNCTION],
    check=_check_tracing,
    severity=Severity.LOW,
    tags=["observability", "lambda", "monitoring"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set tracing_config={'mode': 'Active'} and allow xray:PutTraceSegments.",
    references=[checkov("CKV_AWS_50")],
)


def _failure_destination(config: PolicyResource) -> bool:
    return present(get(config.props, "destinationConfig", "onFailure", "destination"))


def _dlq_findings(function: PolicyResource, configs: list[PolicyResource]) -> StackFindings:
    if present(get(function.props, "deadLetterConfig", "targetArn")):
        return
    names = [known(function.props, "name")]
    if any(
        _failure_destination(c)
        for c in linked(function, configs, "functionName", target_values=names)
    ):
        return
    yield (
        f"Lambda function '{function.name}' has neither a dead-letter queue nor an on-failure "
        "destination: failed asynchronous events are lost.",
        function.urn,
    )


def _check_dlq(args: StackValidationArgs) -> StackFindings:
    configs = of_types(args, EVENT_INVOKE_CONFIG)
    yield from each(of_types(args, FUNCTION), lambda f: _dlq_findings(f, configs))


FUNCTION_REQUIRE_DLQ = stack_rule(
    "aws-lambda-function-require-dlq",
    "Lambda functions should keep failed asynchronous events: a dead-letter queue or a "
    "FunctionEventInvokeConfig on-failure destination.",
    check=_check_dlq,
    severity=Severity.LOW,
    tags=["resilience", "lambda"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set dead_letter_config={'target_arn': <SQS/SNS ARN>} or add "
        "aws.lambda_.FunctionEventInvokeConfig(function_name=<fn>.name, destination_config="
        "{'on_failure': {'destination': <ARN>}}). Waive it for synchronously invoked functions."
    ),
    references=[checkov("CKV_AWS_116")],
)


def _check_env_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if mapping(get(props, "environment", "variables")) and not present(get(props, "kmsKeyArn")):
        yield "Lambda environment variables are encrypted with the AWS-managed key (kms_key_arn)."


FUNCTION_REQUIRE_ENV_KMS = resource_rule(
    "aws-lambda-function-require-env-kms",
    "Lambda functions with environment variables should encrypt them with a customer KMS key.",
    types=[FUNCTION],
    check=_check_env_kms,
    severity=Severity.LOW,
    tags=["encryption", "lambda", "key-management"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set kms_key_arn=<key ARN> on the function; keep secrets in Secrets Manager.",
    references=[checkov("CKV_AWS_173")],
)

POLICIES = [
    URL_REQUIRE_AUTH,
    PERMISSION_REQUIRE_SOURCE,
    FUNCTION_REQUIRE_TRACING,
    FUNCTION_REQUIRE_DLQ,
    FUNCTION_REQUIRE_ENV_KMS,
]
