"""Cloud-neutral alarm rules derived from a spec."""

from __future__ import annotations

import pytest

from components.alarms import (
    Signal,
    Tier,
    alarm_name,
    rollback_alarms,
    serving_alarms,
    traffic_split,
)
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
        Signal.CANARY_LATENCY_RATIO,
        Signal.CANARY_LATENCY_P99,
        Signal.CANARY_STARVED,
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
    # The regression rule is a ratio to the stable version's measured p99 (review E4).
    assert by_signal[Signal.CANARY_LATENCY_RATIO].threshold == 3
    assert all(r.triggers_rollback for r in by_signal.values())
    # Every rollback rule carries the volume guard and reports at the ticket tier.
    assert {r.min_requests for r in by_signal.values()} == {spec.rollout.min_requests}
    assert {r.tier for r in by_signal.values()} == {Tier.TICKET}


def test_the_starved_rule_follows_the_candidates_real_share() -> None:
    def starved(overrides: dict[str, object]) -> float:
        spec = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD, overrides)
        [rule] = [r for r in rollback_alarms(spec) if r.signal is Signal.CANARY_STARVED]
        return rule.threshold

    assert starved({}) == 0  # no candidate: no share, so the rule cannot fire
    with_candidate = {"rollout": {**CANDIDATE["rollout"], "canary_percent": 20}}
    assert starved(with_candidate) == pytest.approx(0.10)


@pytest.mark.parametrize("project", ["a", "acme-support", "x" * 63])
@pytest.mark.parametrize("env", list(Environment))
def test_alarm_names_never_lose_the_environment_or_the_key(project: str, env: Environment) -> None:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, env).model_copy(update={"project": project})
    for rule in rollback_alarms(spec):
        name = alarm_name(spec, rule.key, max_len=40)
        assert name.endswith(f"-{env.value}-{rule.key}") and len(name) <= 40
    names = {alarm_name(spec, r.key) for r in rollback_alarms(spec)}
    other = {e for e in Environment if e is not env}
    assert not any(f"-{o.value}-" in n.removeprefix(spec.project) for n in names for o in other)


def test_traffic_split_sums_to_100() -> None:
    assert traffic_split(make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD)) == (100, 0)
    with_candidate = make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.PROD, CANDIDATE)
    stable, candidate = traffic_split(with_candidate)
    assert (stable, candidate) == (90, 10)
