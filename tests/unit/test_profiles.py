"""Environment profiles and the rules of parity."""

from __future__ import annotations

import pytest

from components.spec import Environment
from stacks.profiles import (
    deep_merge,
    flatten,
    load_parity_rules,
    load_profile,
    parity_violations,
)


@pytest.mark.parametrize("env", list(Environment))
def test_profiles_set_only_declared_differences(env: Environment) -> None:
    rules = load_parity_rules()
    undeclared = [path for path in flatten(load_profile(env)) if not rules.allows(path)]
    assert undeclared == []


def test_capacity_grows_towards_prod() -> None:
    caps = [load_profile(env)["capacity"] for env in Environment]
    assert [c["max_instances"] for c in caps] == sorted(c["max_instances"] for c in caps)
    assert load_profile(Environment.PROD)["capacity"]["min_instances"] >= 2


def test_deep_merge_keeps_untouched_keys() -> None:
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 9}})
    assert merged == {"a": {"b": 9, "c": 2}, "d": 3}


def test_parity_allows_declared_differences_only() -> None:
    staging = {"model": {"version": "1.0.0"}, "capacity": {"max_instances": 4}}
    prod = {"model": {"version": "1.0.1"}, "capacity": {"max_instances": 10}}
    violations = parity_violations(staging, prod)
    assert violations == [("model.version", "1.0.0", "1.0.1")]


def test_a_missing_key_is_drift() -> None:
    assert parity_violations({"api": {"auth": "jwt"}}, {}) == [("api.auth", "jwt", "<absent>")]


def test_promotable_settings_cover_the_model() -> None:
    rules = load_parity_rules()
    assert rules.promotes("model.version") and rules.promotes("model.image")
    assert not rules.promotes("capacity.max_instances")
