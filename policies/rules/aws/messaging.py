"""SQS and SNS rules (POLICY-RULES 6): KMS encryption and an SSL-only resource policy.

The SSL-only policy may be inline (``policy``) or a separate QueuePolicy / TopicPolicy that
points at the queue (``queueUrl``) or topic (``arn``): a stack rule follows that dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from policies.rules.aws._common import StackFindings, get, present, tls_policy_findings
from policies.rules.base import SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, fsbp, guardrail

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"

# A Deny on any of these covers what a client does over the wire (lower case: IAM actions are
# case-insensitive). AWS's own SNS example denies sns:Publish.
SQS_ALL_ACTIONS = frozenset({"sqs:*", "*"})
SNS_ALL_ACTIONS = frozenset({"sns:*", "sns:publish", "*"})


def _check_queue_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsMasterKeyId")):
        yield (
            "SQS queue is not encrypted with a KMS key (kms_master_key_id unset; SSE-SQS "
            "managed keys cannot be scoped by key policy)."
        )


QUEUE_REQUIRE_KMS = resource_rule(
    "aws-sqs-queue-require-kms",
    "SQS queues must be encrypted with a KMS key.",
    types=[QUEUE],
    check=_check_queue_kms,
    severity=Severity.HIGH,
    tags=["encryption", "sqs", "key-management"],
    remediation="Set kms_master_key_id=<key ARN or alias> on the queue.",
    references=[checkov("CKV_AWS_27"), fsbp("SQS.1")],
)


def _check_topic_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsMasterKeyId")):
        yield "SNS topic is not encrypted with a KMS key (kms_master_key_id unset)."


TOPIC_REQUIRE_KMS = resource_rule(
    "aws-sns-topic-require-kms",
    "SNS topics must be encrypted with a KMS key.",
    types=[TOPIC],
    check=_check_topic_kms,
    severity=Severity.HIGH,
    tags=["encryption", "sns", "key-management"],
    remediation="Set kms_master_key_id=<key ARN or alias> on the topic.",
    references=[checkov("CKV_AWS_26"), fsbp("SNS.1")],
)


def _check_queue_tls(args: StackValidationArgs) -> StackFindings:
    return tls_policy_findings(
        args,
        resource_type=QUEUE,
        policy_type=QUEUE_POLICY,
        link="queueUrl",
        all_actions=SQS_ALL_ACTIONS,
        kind="SQS queue",
    )


QUEUE_REQUIRE_TLS = stack_rule(
    "aws-sqs-queue-require-tls-only-policy",
    "SQS queues must have a policy (inline or a QueuePolicy) denying sqs:* when "
    "aws:SecureTransport is false.",
    check=_check_queue_tls,
    severity=Severity.MEDIUM,
    tags=["encryption", "network", "sqs", "tls"],
    category=SECURITY,
    remediation=(
        "Add aws.sqs.QueuePolicy(queue_url=<queue>.url, policy=...) with "
        '{"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": <queue arn>, '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}.'
    ),
    references=[guardrail("6")],
)


def _check_topic_tls(args: StackValidationArgs) -> StackFindings:
    return tls_policy_findings(
        args,
        resource_type=TOPIC,
        policy_type=TOPIC_POLICY,
        link="arn",
        all_actions=SNS_ALL_ACTIONS,
        kind="SNS topic",
    )


TOPIC_REQUIRE_TLS = stack_rule(
    "aws-sns-topic-require-tls-only-policy",
    "SNS topics must have a policy (inline or a TopicPolicy) denying publish when "
    "aws:SecureTransport is false.",
    check=_check_topic_tls,
    severity=Severity.MEDIUM,
    tags=["encryption", "network", "sns", "tls"],
    category=SECURITY,
    remediation=(
        "Add aws.sns.TopicPolicy(arn=<topic>.arn, policy=...) with "
        '{"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": <topic arn>, '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}.'
    ),
    references=[guardrail("6")],
)

POLICIES = [QUEUE_REQUIRE_KMS, QUEUE_REQUIRE_TLS, TOPIC_REQUIRE_KMS, TOPIC_REQUIRE_TLS]
