"""SQS / SNS rules on small real programs: compliant queue and topic, one change per case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import messaging
from tests.policies.test_aws_common import Program, doc, judge, waiver

KEY = "alias/aideploy"


def deny_http(action: str) -> Any:
    return lambda arn: doc(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": action,
            "Resource": arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def allow_publish(arn: str) -> str:
    return doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": arn,
        }
    )


SQS_DENY_HTTP = deny_http("sqs:*")
SNS_DENY_HTTP = deny_http("sns:Publish")


def queue(*, separate: Any = SQS_DENY_HTTP, inline: Any = None, **args: Any) -> Program:
    settings = {"kms_master_key_id": KEY, **args}

    def program() -> None:
        q = aws.sqs.Queue("jobs", **settings, policy=inline)
        if separate:
            aws.sqs.QueuePolicy("jobs-policy", queue_url=q.url, policy=q.arn.apply(separate))

    return program


def topic(*, separate: Any = SNS_DENY_HTTP, inline: Any = None, **args: Any) -> Program:
    settings = {"kms_master_key_id": KEY, **args}

    def program() -> None:
        t = aws.sns.Topic("alerts", **settings, policy=inline)
        if separate:
            aws.sns.TopicPolicy("alerts-policy", arn=t.arn, policy=t.arn.apply(separate))

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (queue(), set()),
        (queue(kms_master_key_id=None), {"jobs"}),
        (queue(kms_master_key_id=None, sqs_managed_sse_enabled=True), {"jobs"}),
    ],
    ids=["kms", "none", "sse-sqs"],
)
def test_aws_sqs_queue_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(messaging.QUEUE_REQUIRE_KMS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (topic(), set()),
        (topic(kms_master_key_id=None), {"alerts"}),
    ],
    ids=["kms", "none"],
)
def test_aws_sns_topic_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(messaging.TOPIC_REQUIRE_KMS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (queue(), set()),
        (queue(separate=deny_http("SQS:*")), set()),
        (queue(separate=None), {"jobs"}),
        (queue(separate=deny_http("sqs:SendMessage")), {"jobs"}),
        (queue(separate=None, inline=deny_http("sqs:*")("arn:aws:sqs:::jobs")), set()),
    ],
    ids=["separate", "case-insensitive", "none", "one-action", "inline"],
)
def test_aws_sqs_queue_require_tls_only_policy(program: Program, flagged: set[str]) -> None:
    assert judge(messaging.QUEUE_REQUIRE_TLS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (topic(), set()),
        (topic(separate=deny_http("sns:*")), set()),
        (topic(separate=allow_publish), {"alerts"}),
        (topic(separate=None), {"alerts"}),
        (topic(separate=None, inline=deny_http("SNS:Publish")("arn:aws:sns:::alerts")), set()),
    ],
    ids=["separate", "all-actions", "allow-only", "none", "inline"],
)
def test_aws_sns_topic_require_tls_only_policy(program: Program, flagged: set[str]) -> None:
    assert judge(messaging.TOPIC_REQUIRE_TLS, program) == flagged


def test_tls_policy_waiver() -> None:
    program = queue(separate=None)
    assert judge(messaging.QUEUE_REQUIRE_TLS, program, waiver("jobs")) == set()
