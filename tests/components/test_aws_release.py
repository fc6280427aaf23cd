"""AWS alert routing per tier (issue 10, item 5): one SNS subscription per destination of each
tier, webhook URLs read from the stack's secrets. Slack and Teams destinations go through a
forwarder function: tests/components/test_aws_notify.py."""

from __future__ import annotations

from typing import Any

import pytest

from components.registry import component_for
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, ProgramError, capture
from tests.conftest import make_spec, of_type

# Pulumi's wire marker of a secret value (pulumi.runtime.rpc._special_sig_key and
# _special_secret_sig).
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
EVENTS_URL = "https://events.example.com/integration/abc123/enqueue"


def _routes(page: list[dict[str, Any]]) -> DeploymentSpec:
    return make_spec(
        Cloud.AWS,
        Pattern.MANAGED_PLATFORM,
        Environment.PROD,
        {"alerts": {"routes": {"page": page}}},
    )


def _run(spec: DeploymentSpec, config: dict[str, str]) -> Capture:
    def program() -> None:
        component_for(spec.cloud, spec.pattern)(spec.project, spec)

    return capture(
        program,
        project=spec.project,
        stack=spec.environment.value,
        region=spec.region,
        config=config,
        secret_keys=list(config),
    )


def test_each_tier_is_subscribed_to_its_own_destinations_and_webhooks_come_from_secrets() -> None:
    spec = _routes(
        [
            {"kind": "events", "secret": "pager_events_url"},
            {"kind": "email", "address": "oncall@acme.example"},
        ]
    )
    run = _run(spec, {f"{spec.project}:pager_events_url": EVENTS_URL})
    topics = {t.name.rsplit("-", 1)[1]: t for t in of_type(run.resources, "aws:sns/topic:Topic")}
    subscriptions = of_type(run.resources, "aws:sns/topicSubscription:TopicSubscription")
    by_tier: dict[str, set[tuple[str, str]]] = {}
    secret_endpoints = []
    for s in subscriptions:
        tier = next(t for t, topic in topics.items() if s.name.startswith(f"{topic.name}-"))
        endpoint = s.inputs["endpoint"]
        if isinstance(endpoint, dict):  # a secret travels wrapped: {<sig>: <secret>, value}
            assert endpoint[SIG_KEY] == SECRET_SIG
            secret_endpoints.append(s.inputs["protocol"])
            endpoint = endpoint["value"]
        by_tier.setdefault(tier, set()).add((s.inputs["protocol"], endpoint))
    assert by_tier["page"] == {("https", EVENTS_URL), ("email", "oncall@acme.example")}
    emails = {("email", e) for e in spec.alerts.emails}
    assert by_tier["ticket"] == by_tier["info"] == emails
    [https] = [s for s in subscriptions if s.inputs["protocol"] == "https"]
    assert https.inputs["endpointAutoConfirms"] is True
    # the URL reached the subscription as a secret (so state and previews mask it)
    assert secret_endpoints == ["https"]
    assert EVENTS_URL not in repr(spec.model_dump())


def test_a_missing_secret_fails_the_preview() -> None:
    spec = _routes([{"kind": "events", "secret": "pager_events_url"}])
    with pytest.raises(ProgramError, match="pager_events_url"):
        _run(spec, {})
