"""Pure helpers of the Azure package: alarm queries, windows, traffic plans, the function zip."""

from __future__ import annotations

import re

import pytest

from components.alarms import AlarmRule, Comparison, Signal, Tier, serving_alarms
from components.azure import monitoring, rollout
from components.spec import Cloud, Environment, Pattern
from tests.conftest import make_spec

LOG = monitoring.RequestLog(
    serving=monitoring.LogView("Requests", "Ms", "Code", 'Api == "a"'),
    candidate=monitoring.LogView("Telemetry", "Dur", "toint(Rc)", 'Version == "2"'),
)


def rule(signal: Signal, comparison: Comparison = Comparison.ABOVE, periods: int = 3) -> AlarmRule:
    return AlarmRule(signal, 0.5, comparison, Tier.PAGE, 60, periods)


# The window covers the periods, the ingestion allowance (5 min) and one period of alignment.
@pytest.mark.parametrize(("periods", "window"), [(1, 10), (2, 10), (3, 10), (5, 15), (10, 30)])
def test_alert_window_rounds_up_to_an_accepted_size(periods: int, window: int) -> None:
    assert monitoring.window_minutes(rule(Signal.LATENCY_P99, periods=periods)) == window


def test_query_requires_every_period_to_breach_above() -> None:
    query = monitoring.alarm_query(rule(Signal.LATENCY_P99), LOG)
    assert query.splitlines() == [
        "let end = bin(now(), 60s) - 300s;",
        "let start = end - 180s;",
        "Requests",
        "| where TimeGenerated >= start and TimeGenerated < end",
        '| where Api == "a"',
        "| summarize value = percentile(Ms, 99) by TimeGenerated = bin(TimeGenerated, 60s)",
        "| summarize value = min(value), periods = count()",
        "| where periods >= 3",
    ]


def test_query_below_threshold_uses_the_best_period() -> None:
    query = monitoring.alarm_query(rule(Signal.AVAILABILITY, Comparison.BELOW), LOG)
    assert "value = max(value)" in query
    assert "1.0 - todouble(countif(Code >= 500)) / count()" in query


def test_canary_signals_read_the_candidate_view() -> None:
    query = monitoring.alarm_query(rule(Signal.CANARY_ERROR_RATE), LOG)
    assert "\nTelemetry | where" in query
    assert 'Version == "2"' in query
    assert "failed = (toint(Rc) >= 500)" in query


def test_every_serving_signal_has_an_expression() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)
    assert {r.signal for r in serving_alarms(spec)} <= set(monitoring.SIGNAL_EXPRESSIONS) | set(
        monitoring.CANDIDATE_SIGNALS
    )


@pytest.mark.parametrize(
    ("version", "suffix"),
    [("1.0.0", "v1-0-0"), ("2024.10.1-rc1", "v2024-10-1-rc1"), ("A_B", "va-b")],
)
def test_revision_suffix(version: str, suffix: str) -> None:
    assert rollout.revision_suffix(version) == suffix


IMAGE = "acmeregistry.azurecr.io/m:2"


@pytest.mark.parametrize(
    ("rollout_settings", "live", "mirror"),
    [
        ({}, {"blue": 100, "green": 0}, {}),
        (
            {
                "candidate_version": "2",
                "candidate_image": IMAGE,
                "canary_percent": 5,
            },
            {"blue": 95, "green": 5},
            {},
        ),
        (
            {
                "candidate_version": "2",
                "candidate_image": IMAGE,
                "canary_percent": 0,
            },
            {"blue": 100, "green": 0},
            {"green": rollout.SHADOW_MIRROR_PERCENT},
        ),
    ],
)
def test_online_endpoint_traffic_phases(
    rollout_settings: dict[str, object], live: dict[str, int], mirror: dict[str, int]
) -> None:
    spec = make_spec(
        Cloud.AZURE, Pattern.MANAGED_PLATFORM, Environment.PROD, {"rollout": rollout_settings}
    )
    traffic = rollout.online_endpoint_traffic(spec)
    assert (traffic.live, traffic.mirror) == (live, mirror)
    assert sum(traffic.live.values()) == 100
    assert traffic.shadow is bool(mirror)


def test_service_code_lists_every_file_of_the_rollback_folder() -> None:
    on_disk = {
        str(p.relative_to(rollout.ROLLBACK_FN_DIR))
        for p in rollout.ROLLBACK_FN_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    # Every file of the folder, plus the one rollout rule shipped beside them.
    assert on_disk | {"rollout_decision.py"} == set(rollout.ROLLBACK_FN_FILES)
    secrets = rollout.code_secrets()
    assert len(secrets) == len(rollout.ROLLBACK_FN_FILES)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name) for name in secrets)
    items = {item.secret_ref: item.path for item in rollout.code_volume_items()}
    assert set(items) == set(secrets)
    assert items["code-decision-py"] == "rollback_fn/decision.py"
    assert secrets["code-decision-py"] == (rollout.ROLLBACK_FN_DIR / "decision.py").read_text()
    assert len(rollout.code_digest()) == 10


def test_revision_name_changes_with_the_template_not_only_the_version() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.DEV)
    bigger = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.DEV, {"capacity": {"cpu": 1}})
    same = rollout.revision_name(spec, "app", "1.0.0", "r/m:1")
    assert same == rollout.revision_name(spec, "app", "1.0.0", "r/m:1")
    assert same.startswith("app--v1-0-0-")
    assert same != rollout.revision_name(bigger, "app", "1.0.0", "r/m:1")
    assert same != rollout.revision_name(spec, "app", "1.0.0", "r/m:2")
