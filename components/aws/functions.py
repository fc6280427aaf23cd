"""AWS building block: the hardened Lambda function every aideploy function runs as.

:func:`create_function` makes a function and what it needs to be observable and safe, under
one logical name ``<base>``: its log group ``/aws/lambda/<function name>`` (``<base>-logs``,
encrypted with the stack's key, kept for the log retention), a dead-letter queue
(``<base>-dlq``, encrypted, 14 days: an asynchronous invoke never loses an event silently), its
own role (``<base>-role``, only the statements the caller gives, which see the log group and the
queue), and the function itself: Python 3.12 on arm64, environment encrypted with the stack's
key, active X-Ray tracing, JSON logs to that group.

Used by the post-window rollback, the chat notifiers, the JWT authorizer and the embedded
pattern's download function. A plain function: the caller's ``opts`` keep the pattern as
parent, so URNs of existing stacks do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.spec import DeploymentSpec

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"  # Graviton: cheaper per millisecond, and the code is pure Python
DLQ_RETENTION_DAYS = 14
XRAY_WRITE_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")

# The role's statements, given the function's log group and dead-letter queue.
Statements = Callable[[aws.cloudwatch.LogGroup, aws.sqs.Queue], Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class Function:
    """A function and what came with it."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    logs: aws.cloudwatch.LogGroup
    dlq: aws.sqs.Queue


def log_write_statement(logs: aws.cloudwatch.LogGroup) -> dict[str, Any]:
    """Write to its own log group's streams only."""
    return security.statement(security.LOG_WRITE_ACTIONS, [logs.arn.apply(lambda a: f"{a}:*")])


def create_function(
    base: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    opts: pulumi.ResourceOptions,
    *,
    function_name: str,
    description: str,
    role_description: str,
    handler: str,
    code: pulumi.Archive,
    statements: Statements,
    timeout: int,
    memory_size: int,
    environment: Mapping[str, pulumi.Input[str]] | None = None,
    tags: Mapping[str, str] | None = None,
    function_opts: pulumi.ResourceOptions | None = None,
) -> Function:
    """The hardened function ``function_name`` (logical names ``<base>``, ``<base>-logs``,
    ``<base>-dlq``, ``<base>-role``)."""
    logs = security.create_log_group(
        f"{base}-logs", spec, key, opts, log_group_name=f"/aws/lambda/{function_name}"
    )
    dlq = security.create_encrypted_queue(
        f"{base}-dlq", spec, key, opts, retention_days=DLQ_RETENTION_DAYS
    )
    role = security.create_role(
        f"{base}-role",
        spec,
        "lambda.amazonaws.com",
        list(statements(logs, dlq)),
        opts,
        description=role_description,
    )
    function = aws.lambda_.Function(
        base,
        name=function_name,
        description=description,
        runtime=RUNTIME,
        architectures=[ARCHITECTURE],
        handler=handler,
        code=code,
        role=role.arn,
        timeout=timeout,
        memory_size=memory_size,
        environment=(
            aws.lambda_.FunctionEnvironmentArgs(variables=dict(environment))
            if environment is not None
            else None
        ),
        kms_key_arn=key.arn,
        dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(
            log_format="JSON", log_group=logs.name
        ),
        tags=dict(tags) if tags is not None else spec.standard_tags(),
        opts=function_opts or opts,
    )
    return Function(function, role, logs, dlq)
