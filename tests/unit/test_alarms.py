"""Cloud-neutral alarm rules derived from a spec."""

from __future__ import annotations

import pytest

from components.alarms import Signal, Tier, rollback_alarms, serving_alarms, traffic_split
from components.spec import Cloud, Environment, Pattern
from tests.conftest import make_spec

CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": "ghcr.io/a/m:1.1.0"}}


@pytest.mark.parametrize("env", list(Environment))
def test_serving_alarms_cover_latency_errors_and_availability(env: Environment) -> None:
    signals = {rule.signal for rule in serving_alarms(make_spec(Cloud.AWS, Pattern.API_FIRST, env))}
    assert {
        Signal.LATENCY_P50,
        Signal.LATENCY_P95,
        Signal.LATENCY_P99,
        Signal.ERROR_RATE_4XX,
        Signal.ERROR_RATE_5XX,
        Signal.AVAILABILITY,
        Signal.CANARY_ERROR_RATE,
        Signal.CANARY_LATENCY_P99,
    } == signals


def test_only_prod_pages_and_reacts_fastest() -> None:
    tiers = {
        env: {r.tier for r in serving_alarms(make_spec(Cloud.GCP, Pattern.API_FIRST, env))}
        for env in Environment
    }
    assert Tier.PAGE in tiers[Environment.PROD]
    assert Tier.PAGE not in tiers[Environment.DEV]
    assert Tier.PAGE not in tiers[Environment.STAGING]
    periods = {
        env: serving_alarms(make_spec(Cloud.GCP, Pattern.API_FIRST, env))[0].evaluation_periods
        for env in Environment
    }
    assert periods[Environment.PROD] < periods[Environment.STAGING] < periods[Environment.DEV]


def test_rollback_thresholds_follow_the_rollout_settings() -> None:
    spec = make_spec(
        Cloud.AWS,
        Pattern.API_FIRST,
        Environment.PROD,
        {"rollout": {"rollback_error_rate": 0.07, "rollback_latency_multiplier": 3}},
    )
    by_signal = {r.signal: r for r in rollback_alarms(spec)}
    assert by_signal[Signal.CANARY_ERROR_RATE].threshold == 0.07
    assert by_signal[Signal.CANARY_LATENCY_P99].threshold == spec.alerts.latency_p99_ms * 3
    assert all(r.triggers_rollback for r in by_signal.values())


def test_traffic_split_sums_to_100() -> None:
    assert traffic_split(make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD)) == (100, 0)
    with_candidate = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD, CANDIDATE)
    stable, candidate = traffic_split(with_candidate)
    assert (stable, candidate) == (90, 10)
