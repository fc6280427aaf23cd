"""Slack and Teams destinations of an alert tier: a small forwarder Lambda per destination,
subscribed to the tier's SNS topic (issue 10, item 5; contract 4).

SNS cannot post to a chat webhook itself (its HTTPS subscriptions send SNS's own envelope and
need a confirmation click). Each chat destination of ``spec.alerts.destinations(tier)`` gets:

* an SSM SecureString parameter ``/<project>/<env>/alerts/<tier>-<kind>-<i>`` holding the
  webhook URL, read from the stack's secret config (``pulumi.Config().require_secret``) and
  encrypted with the stack's CMK: the URL is never in the function's environment, which names
  only the parameter and the format;
* a function (``notify_fn/handler.py``, standard library) that reads the parameter at run time
  and posts a short message per SNS record;
* a role holding :data:`ROLE_ACTIONS` only: ``ssm:GetParameter`` on that parameter's ARN,
  ``kms:Decrypt`` on the stack key under Parameter Store's encryption context
  (``PARAMETER_ARN`` = that ARN), its log group, X-Ray, and its dead-letter queue (send, with
  the key under SQS's encryption context ``aws:sqs:arn`` = that queue);
* the subscription (protocol ``lambda``) and the permission for exactly that topic to invoke.

Retries: SNS hands the event to Lambda asynchronously and counts it delivered once Lambda
accepts it; SNS's delivery retries therefore never see a webhook failure. The handler raises on
a 4xx/5xx, Lambda's asynchronous invoke retries it twice (its defaults: 2 retries within 6 hours
of the event), then the event goes to the function's dead-letter queue (SQS, the stack key,
14 days). Replay it once the webhook is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import Tier
from components.aws import functions, security
from components.naming import resource_name
from components.spec import DeploymentSpec, Destination, DestinationKind

HANDLER_FILE = Path(__file__).resolve().parent / "notify_fn" / "handler.py"
HANDLER = "handler.handler"
# The destination kinds this module delivers; the value is the handler's FORMATS key.
CHAT_KINDS: frozenset[DestinationKind] = frozenset({DestinationKind.SLACK, DestinationKind.TEAMS})
TIMEOUT_SECONDS = 30

# Everything the forwarder's role holds, and why. A test keeps the captured role equal to it.
ROLE_ACTIONS: tuple[str, ...] = (
    "ssm:GetParameter",  # the handler's one AWS call (WithDecryption)
    "kms:Decrypt",  # the SecureString (and the dead-letter queue's data key)
    "kms:GenerateDataKey",  # Lambda sending a dead letter to the CMK-encrypted queue
    "sqs:SendMessage",  # the dead-letter queue
    *security.LOG_WRITE_ACTIONS,
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)


def is_chat(destination: Destination) -> bool:
    """True when the destination is delivered through a forwarder."""
    return destination.kind in CHAT_KINDS


def parameter_name(spec: DeploymentSpec, tier: Tier, destination: Destination, index: int) -> str:
    """Where the destination's URL lives (inside the deployer's ``/<project>/<env>/*``)."""
    return (
        f"/{spec.project}/{spec.environment.value}/alerts/"
        f"{tier.value}-{destination.kind.value}-{index}"
    )


def parameter_arn(region: str, name: str) -> pulumi.Output[str]:
    """A parameter's ARN: a name starting with "/" appears without it after ``parameter``."""
    return security.account_id().apply(
        lambda a: f"arn:aws:ssm:{region}:{a}:parameter/{name.lstrip('/')}"
    )


@dataclass(frozen=True)
class Forwarder:
    """One chat destination's resources."""

    function: aws.lambda_.Function
    parameter: aws.ssm.Parameter
    subscription: aws.sns.TopicSubscription
    role: aws.iam.Role


def create_forwarder(
    name: str,
    spec: DeploymentSpec,
    *,
    key: aws.kms.Key,
    tier: Tier,
    topic: aws.sns.Topic,
    destination: Destination,
    index: int,
    opts: pulumi.ResourceOptions,
) -> Forwarder:
    """The parameter, function, role and subscription of one Slack/Teams destination."""
    if not is_chat(destination):
        raise ValueError(f"{destination.kind.value} is not a chat destination")
    o = opts
    kind = destination.kind.value
    base = f"{name}-alerts-{tier.value}-{kind}-{index}"
    param_name = parameter_name(spec, tier, destination, index)
    param_arn = parameter_arn(spec.region, param_name)
    parameter = aws.ssm.Parameter(
        f"{base}-url",
        name=param_name,
        type="SecureString",
        key_id=key.arn,
        # A secret Output: the state and every preview keep it encrypted.
        value=pulumi.Config().require_secret(str(destination.secret)),
        tier="Standard",
        description=f"{kind} webhook URL of the {tier.value} alerts",
        tags=spec.standard_tags(),
        opts=o,
    )
    function_name = resource_name(
        "aws",
        "default",
        spec.project,
        spec.environment.value,
        f"notify-{tier.value}-{kind}-{index}",
    )

    def statements(logs: aws.cloudwatch.LogGroup, dlq: aws.sqs.Queue) -> list[dict[str, Any]]:
        return [
            security.statement(["ssm:GetParameter"], [param_arn]),
            # Parameter Store decrypts with the caller's rights, under the parameter's ARN as
            # encryption context: this key decrypts that parameter and nothing else for it.
            security.statement(
                ["kms:Decrypt"],
                [key.arn],
                condition={"StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": param_arn}},
            ),
            security.statement(["sqs:SendMessage"], [dlq.arn]),
            security.statement(
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [key.arn],
                condition={"StringEquals": {"kms:EncryptionContext:aws:sqs:arn": dlq.arn}},
            ),
            functions.log_write_statement(logs),
            # X-Ray's write calls have no resource-level permissions.
            security.statement(functions.XRAY_WRITE_ACTIONS, ["*"]),
        ]

    made = functions.create_function(
        base,
        spec,
        key,
        o,
        function_name=function_name,
        description=f"Posts the {tier.value} alerts to {kind}",
        role_description=f"Forwards the {tier.value} alerts to {kind}: reads its webhook parameter",
        handler=HANDLER,
        code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(HANDLER_FILE))}),
        statements=statements,
        timeout=TIMEOUT_SECONDS,
        memory_size=128,
        # The parameter's name and the format only: never the URL.
        environment={"PARAMETER_NAME": param_name, "FORMAT": kind},
        tags={**spec.standard_tags(), "alert-tier": tier.value},
        function_opts=pulumi.ResourceOptions.merge(
            o, pulumi.ResourceOptions(depends_on=[parameter])
        ),
    )
    function, role = made.function, made.role
    permission = aws.lambda_.Permission(
        f"{base}-invoke",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="sns.amazonaws.com",
        source_arn=topic.arn,
        source_account=security.account_id(),
        opts=o,
    )
    subscription = aws.sns.TopicSubscription(
        base,
        topic=topic.arn,
        protocol="lambda",
        endpoint=function.arn,
        opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=[permission])),
    )
    return Forwarder(function, parameter, subscription, role)


def create_forwarders(
    name: str,
    spec: DeploymentSpec,
    *,
    key: aws.kms.Key,
    tier: Tier,
    topic: aws.sns.Topic,
    destinations: Sequence[Destination],
    opts: pulumi.ResourceOptions,
) -> list[Forwarder]:
    """A forwarder for each chat destination (index = its place in the tier's destinations)."""
    return [
        create_forwarder(
            name, spec, key=key, tier=tier, topic=topic, destination=d, index=i, opts=opts
        )
        for i, d in enumerate(destinations)
        if is_chat(d)
    ]
