"""Pub/Sub subscriptions: authenticated push, no expiry, dead letters for push delivery."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest

from policies.rules.gcp import pubsub
from tests.policies.test_gcp_common import TARGET, Program, judge, waiver

PUSHER = "pusher@acme.iam.gserviceaccount.com"
WORKER = "https://worker-abc-ew.a.run.app"
AUTH = pubsub.pubsub_push_subscription_require_authentication
EXPIRY = pubsub.pubsub_subscription_require_no_expiry
DEAD_LETTER = pubsub.pubsub_push_subscription_require_dead_letter
UNSET = object()


def push(oidc: bool = True, account: str = PUSHER) -> gcp.pubsub.SubscriptionPushConfigArgs:
    token = (
        gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
            service_account_email=account, audience=WORKER
        )
        if oidc
        else None
    )
    return gcp.pubsub.SubscriptionPushConfigArgs(push_endpoint=f"{WORKER}/jobs", oidc_token=token)


def subscription(*, push_config: Any = UNSET, ttl: Any = "", dead_letter: bool = True) -> Program:
    """A topic, its dead-letter topic, and one push subscription (the target)."""

    def program() -> None:
        jobs = gcp.pubsub.Topic("jobs")
        dlq = gcp.pubsub.Topic("dead-letter")
        gcp.pubsub.Subscription(
            TARGET,
            topic=jobs.id,
            push_config=push() if push_config is UNSET else push_config,
            expiration_policy=(
                None if ttl is None else gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=ttl)
            ),
            dead_letter_policy=(
                gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                    dead_letter_topic=dlq.id, max_delivery_attempts=5
                )
                if dead_letter
                else None
            ),
        )

    return program


CASES: dict[str, tuple[Any, Program, bool]] = {
    "gcp-pubsub-push-subscription-require-authentication:oidc-ok": (
        AUTH,
        subscription(),
        False,
    ),
    "gcp-pubsub-push-subscription-require-authentication:no-token": (
        AUTH,
        subscription(push_config=push(oidc=False)),
        True,
    ),
    "gcp-pubsub-push-subscription-require-authentication:pull-ok": (
        AUTH,
        subscription(push_config=None),
        False,
    ),
    "gcp-pubsub-subscription-require-no-expiry:never-expires-ok": (
        EXPIRY,
        subscription(),
        False,
    ),
    "gcp-pubsub-subscription-require-no-expiry:default-31-days": (
        EXPIRY,
        subscription(ttl=None),
        True,
    ),
    "gcp-pubsub-subscription-require-no-expiry:one-day": (
        EXPIRY,
        subscription(ttl="86400s"),
        True,
    ),
    "gcp-pubsub-push-subscription-require-dead-letter:dead-letter-ok": (
        DEAD_LETTER,
        subscription(),
        False,
    ),
    "gcp-pubsub-push-subscription-require-dead-letter:push-without-dead-letter": (
        DEAD_LETTER,
        subscription(dead_letter=False),
        True,
    ),
    "gcp-pubsub-push-subscription-require-dead-letter:pull-without-dead-letter-ok": (
        DEAD_LETTER,
        subscription(push_config=None, dead_letter=False),
        False,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_subscription_rules(policy: Any, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def dead_letter_consumer(*, on_dead_letter_topic: bool) -> Program:
    """The event-driven shape: jobs push with a dead-letter topic, and a push consumer of the
    dead-letter topic itself (which has nowhere further to send its failures)."""

    def program() -> None:
        jobs = gcp.pubsub.Topic("jobs")
        dlq = gcp.pubsub.Topic("dead-letter")
        other = gcp.pubsub.Topic("other")
        gcp.pubsub.Subscription(
            "jobs-sub",
            topic=jobs.id,
            push_config=push(),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=dlq.id, max_delivery_attempts=5
            ),
        )
        gcp.pubsub.Subscription(
            TARGET, topic=(dlq if on_dead_letter_topic else other).id, push_config=push()
        )

    return program


def test_consumer_of_a_dead_letter_topic_needs_none() -> None:
    """gcp-pubsub-push-subscription-require-dead-letter: the dead-letter topic's own push
    consumer is exempt; the same subscription on an ordinary topic is not."""
    assert judge(DEAD_LETTER, dead_letter_consumer(on_dead_letter_topic=True)) == set()
    assert judge(DEAD_LETTER, dead_letter_consumer(on_dead_letter_topic=False)) == {TARGET}


def test_dead_letter_waiver() -> None:
    """A waived push subscription (its endpoint never rejects) is skipped."""
    assert judge(DEAD_LETTER, subscription(dead_letter=False), waiver(TARGET)) == set()


def test_expiry_waiver() -> None:
    """A deliberately temporary subscription is waived by name."""
    assert judge(EXPIRY, subscription(ttl="86400s"), waiver(TARGET)) == set()
