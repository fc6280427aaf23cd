"""Cloud-neutral event-driven alarm rules and the timeouts derived from a spec."""

from __future__ import annotations

import pytest

from components.alarms import (
    MAX_DELIVERIES,
    MAX_PROCESSING_SECONDS,
    MIN_PROCESSING_SECONDS,
    VISIBILITY_TIMEOUT_FACTOR,
    Comparison,
    Signal,
    Tier,
    event_alarms,
    max_processing_seconds,
    visibility_timeout_seconds,
)
from components.spec import Cloud, Environment, Pattern
from tests.conftest import make_spec


@pytest.mark.parametrize("env", list(Environment))
def test_event_alarms_cover_queue_dead_letters_errors_and_latency(env: Environment) -> None:
    rules = event_alarms(make_spec(Cloud.AWS, Pattern.EVENT_DRIVEN, env))
    assert [r.signal for r in rules] == [
        Signal.QUEUE_DEPTH,
        Signal.QUEUE_OLDEST_AGE,
        Signal.DEAD_LETTERS,
        Signal.WORKER_ERROR_RATE,
        Signal.LATENCY_P50,
        Signal.LATENCY_P95,
        Signal.LATENCY_P99,
    ]
    assert all(r.comparison is Comparison.ABOVE for r in rules)
    assert not [r for r in rules if r.triggers_rollback]


@pytest.mark.parametrize("env", list(Environment))
def test_thresholds_come_from_the_spec(env: Environment) -> None:
    spec = make_spec(Cloud.AZURE, Pattern.EVENT_DRIVEN, env)
    rules = {r.signal: r for r in event_alarms(spec)}
    assert rules[Signal.DEAD_LETTERS].threshold == 0
    assert rules[Signal.DEAD_LETTERS].evaluation_periods == 1
    assert rules[Signal.WORKER_ERROR_RATE].threshold == spec.alerts.error_rate_5xx
    assert rules[Signal.LATENCY_P50].threshold == spec.alerts.latency_p50_ms
    assert rules[Signal.LATENCY_P95].threshold == spec.alerts.latency_p95_ms
    assert rules[Signal.LATENCY_P99].threshold == spec.alerts.latency_p99_ms
    processing = max_processing_seconds(spec)
    assert rules[Signal.QUEUE_DEPTH].threshold == spec.capacity.max_instances * 900 // processing
    assert rules[Signal.QUEUE_OLDEST_AGE].threshold == (
        MAX_DELIVERIES * VISIBILITY_TIMEOUT_FACTOR * processing
    )


def test_depth_threshold_grows_with_the_concurrency_ceiling() -> None:
    small = make_spec(Cloud.GCP, Pattern.EVENT_DRIVEN, Environment.PROD)
    big = make_spec(
        Cloud.GCP, Pattern.EVENT_DRIVEN, Environment.PROD, {"capacity": {"max_instances": 40}}
    )
    depth = {
        s.capacity.max_instances: next(
            r.threshold for r in event_alarms(s) if r.signal is Signal.QUEUE_DEPTH
        )
        for s in (small, big)
    }
    assert depth[40] == 4 * depth[10]


def test_only_prod_pages() -> None:
    tiers = {
        env: {r.tier for r in event_alarms(make_spec(Cloud.GCP, Pattern.EVENT_DRIVEN, env))}
        for env in Environment
    }
    assert Tier.PAGE in tiers[Environment.PROD]
    assert Tier.PAGE not in tiers[Environment.DEV] | tiers[Environment.STAGING]


@pytest.mark.parametrize(
    ("p99_ms", "seconds"),
    [
        (1500, MIN_PROCESSING_SECONDS),  # the default p99: the floor for a cold start
        (7_000, 70),  # 10x the p99, rounded up to whole seconds
        (7_001, 71),
        (60_000, MAX_PROCESSING_SECONDS),  # capped so 6x fits Pub/Sub's 600 s ack deadline
    ],
)
def test_processing_time_derives_from_p99_within_bounds(p99_ms: int, seconds: int) -> None:
    spec = make_spec(
        Cloud.GCP,
        Pattern.EVENT_DRIVEN,
        Environment.PROD,
        {"alerts": {"latency_p50_ms": 1, "latency_p95_ms": 1, "latency_p99_ms": p99_ms}},
    )
    assert max_processing_seconds(spec) == seconds
    assert visibility_timeout_seconds(spec) == 6 * seconds
    assert visibility_timeout_seconds(spec) <= 600
