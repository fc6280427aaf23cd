"""Pub/Sub subscriptions: authenticated push, subscriptions that do not vanish, dead letters.

Topic CMEK is rule 30's (kms.py); topic and subscription IAM is rule 28's (iam.py). Here:

- a push subscription presents an OIDC token, so its endpoint (a Cloud Run service with the
  invoker check on) can tell Pub/Sub's deliveries from anyone else's requests;
- a subscription without an expiration policy is deleted after 31 days without activity, and
  with it every message published since: a production subscription never expires (``ttl: ""``);
- a push subscription names a dead-letter topic, so a message its endpoint keeps rejecting is
  set aside after a few attempts instead of being redelivered until its retention ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import OPERATIONAL, canonical_type, prop_at, resource_rule, stack_rule
from policies.rules.references import guardrail
from policies.rules.settings import show

SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"


def _is_push(props: Mapping[str, Any]) -> bool:
    endpoint = prop_at(props, "pushConfig.pushEndpoint")
    return endpoint is not None and endpoint != ""


def _push_authentication(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not _is_push(props):
        return
    account = prop_at(props, "pushConfig.oidcToken.serviceAccountEmail")
    if not isinstance(account, str) or not account:
        yield (
            "pushes without authentication: `pushConfig.oidcToken.serviceAccountEmail` is "
            f"{show(account)}, so the endpoint cannot tell Pub/Sub's deliveries from anyone "
            "else's requests."
        )


pubsub_push_subscription_require_authentication = resource_rule(
    "gcp-pubsub-push-subscription-require-authentication",
    "Push subscriptions authenticate to their endpoint with an OIDC token of a dedicated "
    "service account.",
    types=[SUBSCRIPTION],
    check=_push_authentication,
    severity=Severity.HIGH,
    tags=["authentication"],
    remediation=(
        "Set `push_config=...SubscriptionPushConfigArgs(push_endpoint=..., oidc_token="
        "...SubscriptionPushConfigOidcTokenArgs(service_account_email=pusher.email, "
        "audience=...))`, grant that account roles/run.invoker on the one service, and keep "
        "the service's invoker check on."
    ),
    # Pub/Sub push is how Cloud Run / Functions receive events (rule 31); no benchmark covers it.
    references=[guardrail("31")],
    since=2,
)


def _expiry(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    policy = prop_at(props, "expirationPolicy")
    ttl = policy.get("ttl") if isinstance(policy, Mapping) else None
    if ttl != "":
        shown = "unset (31 days)" if ttl is None else show(ttl)
        yield (
            "is deleted after a period without activity, and its undelivered messages with it: "
            f'`expirationPolicy.ttl` is {shown}; set `expiration_policy=...(ttl="")`.'
        )


pubsub_subscription_require_no_expiry = resource_rule(
    "gcp-pubsub-subscription-require-no-expiry",
    "Subscriptions never expire: Pub/Sub deletes an idle subscription after 31 days unless its "
    "expiration policy has an empty ttl.",
    types=[SUBSCRIPTION],
    check=_expiry,
    severity=Severity.MEDIUM,
    tags=["resilience"],
    remediation=(
        'Set `expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")` on every '
        "subscription a production consumer depends on; waive a deliberately temporary one."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[guardrail("11")],
    since=2,
)


def _values(resource: PolicyResource, key: str, path: str) -> set[str]:
    """What a subscription's ``path`` points at: dependency URNs of ``key`` and the literal."""
    found = {d.urn for d in resource.property_dependencies.get(key, [])}
    try:
        literal = prop_at(resource.props, path)
    except UnknownValueError:
        literal = None
    if isinstance(literal, str) and literal:
        found.add(literal)
    return found


def _missing_dead_letter(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    subscriptions = [r for r in args.resources if canonical_type(r.resource_type) == SUBSCRIPTION]
    # Topics that are some subscription's dead-letter topic: their own push consumers handle
    # dead letters (mark the job failed, tell someone) and have nowhere further to send them.
    dead_letter_topics: set[str] = set()
    for r in subscriptions:
        dead_letter_topics |= _values(r, "deadLetterPolicy", "deadLetterPolicy.deadLetterTopic")
    for r in subscriptions:
        try:
            push = _is_push(r.props)
            target = prop_at(r.props, "deadLetterPolicy.deadLetterTopic")
        except UnknownValueError:
            continue
        if not push or (target is not None and target != ""):
            continue
        if _values(r, "topic", "topic") & dead_letter_topics:
            continue
        yield (
            f"push subscription {r.name!r} has no dead-letter topic: a message its endpoint "
            "keeps rejecting is redelivered until its retention ends; set "
            "`deadLetterPolicy.deadLetterTopic` and `maxDeliveryAttempts`.",
            r.urn,
        )


pubsub_push_subscription_require_dead_letter = stack_rule(
    "gcp-pubsub-push-subscription-require-dead-letter",
    "Push subscriptions set failing messages aside on a dead-letter topic (the consumers of a "
    "dead-letter topic itself excepted).",
    check=_missing_dead_letter,
    severity=Severity.MEDIUM,
    tags=["resilience"],
    remediation=(
        "Set `dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(dead_letter_topic="
        "dlq.id, max_delivery_attempts=5)`, grant the Pub/Sub service agent subscriber on the "
        "subscription and publisher on the dead-letter topic, and keep a subscription on that "
        "topic (with an alert on its backlog)."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[guardrail("11")],
    since=2,
)
