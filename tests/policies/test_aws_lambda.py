"""Lambda rules on small real programs: a compliant function, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from policies.rules.aws import lambda_
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


def function(*, extra: Any = None, **change: Any) -> Program:
    args: dict[str, Any] = {
        "tracing_config": aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
        "dead_letter_config": aws.lambda_.FunctionDeadLetterConfigArgs(target_arn="arn:aws:sqs:q"),
        "kms_key_arn": KEY,
        "environment": aws.lambda_.FunctionEnvironmentArgs(variables={"MODEL": "m"}),
        **change,
    }

    def program() -> None:
        fn = aws.lambda_.Function(
            "handler",
            role="arn:aws:iam::123456789012:role/r",
            runtime="python3.12",
            handler="app.handler",
            code=pulumi.AssetArchive({}),
            **args,
        )
        if extra:
            extra(fn)

    return program


def url(auth: str) -> Any:
    return lambda fn: aws.lambda_.FunctionUrl(
        "handler-url", function_name=fn.name, authorization_type=auth
    )


def permission(**args: Any) -> Any:
    return lambda fn: aws.lambda_.Permission(
        "handler-invoke", action="lambda:InvokeFunction", function=fn.name, **args
    )


def on_failure(fn: aws.lambda_.Function) -> None:
    aws.lambda_.FunctionEventInvokeConfig(
        "handler-async",
        function_name=fn.name,
        destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
            on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                destination="arn:aws:sqs:eu-west-1:123456789012:failed"
            )
        ),
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (function(extra=url("AWS_IAM")), set()),
        (function(extra=url("NONE")), {"handler-url"}),
    ],
    ids=["iam", "none"],
)
def test_aws_lambda_function_url_require_auth(program: Program, flagged: set[str]) -> None:
    assert judge(lambda_.URL_REQUIRE_AUTH, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (
            function(
                extra=permission(
                    principal="apigateway.amazonaws.com", source_arn="arn:aws:execute-api:x"
                )
            ),
            set(),
        ),
        (function(extra=permission(principal="*", source_account="123456789012")), set()),
        (function(extra=permission(principal="*", principal_org_id="o-abc")), set()),
        (function(extra=permission(principal="*")), {"handler-invoke"}),
    ],
    ids=["service-with-arn", "star-with-account", "star-with-org", "star-unscoped"],
)
def test_aws_lambda_permission_require_source(program: Program, flagged: set[str]) -> None:
    assert judge(lambda_.PERMISSION_REQUIRE_SOURCE, program) == flagged


def test_permission_waiver() -> None:
    program = function(extra=permission(principal="*"))
    assert judge(lambda_.PERMISSION_REQUIRE_SOURCE, program, waiver("handler-invoke")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (function(), set()),
        (
            function(tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="PassThrough")),
            {"handler"},
        ),
        (function(tracing_config=None), {"handler"}),
    ],
    ids=["active", "passthrough", "unset"],
)
def test_aws_lambda_function_require_tracing(program: Program, flagged: set[str]) -> None:
    assert judge(lambda_.FUNCTION_REQUIRE_TRACING, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (function(), set()),
        (function(dead_letter_config=None), {"handler"}),
        (function(dead_letter_config=None, extra=on_failure), set()),
    ],
    ids=["dlq", "none", "on-failure-destination"],
)
def test_aws_lambda_function_require_dlq(program: Program, flagged: set[str]) -> None:
    assert judge(lambda_.FUNCTION_REQUIRE_DLQ, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (function(), set()),
        (function(kms_key_arn=None), {"handler"}),
        (function(kms_key_arn=None, environment=None), set()),
    ],
    ids=["cmk", "aws-managed", "no-variables"],
)
def test_aws_lambda_function_require_env_kms(program: Program, flagged: set[str]) -> None:
    assert judge(lambda_.FUNCTION_REQUIRE_ENV_KMS, program) == flagged
