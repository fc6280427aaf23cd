"""Pack config reconciled as the engine does: defaults, initial config, then the user's file."""

from __future__ import annotations

from typing import Any

import pytest

from policies.runner.pack_config import ConfigError, reconcile, validate, waivers

SCHEMA: dict[str, Any] = {
    "properties": {
        "waivers": {
            "type": "array",
            "default": [],
            "items": {
                "type": "object",
                "properties": {
                    "resource": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "minLength": 10},
                },
                "required": ["resource", "reason"],
                "additionalProperties": False,
            },
        },
        "minimumDays": {"type": "integer", "default": 30},
    }
}
RULES = {"a": ("mandatory", SCHEMA), "b": ("advisory", SCHEMA)}


def levels(user: dict[str, Any] | None, initial: dict[str, Any] | None = None) -> dict[str, str]:
    return {name: rule.level for name, rule in reconcile(RULES, initial, user).items()}


def test_defaults_are_the_rules_levels_and_schema_defaults() -> None:
    effective = reconcile(RULES, None, None)
    assert {n: r.level for n, r in effective.items()} == {"a": "mandatory", "b": "advisory"}
    assert effective["a"].properties == {"waivers": [], "minimumDays": 30}


def test_all_applies_first_and_a_rules_entry_wins() -> None:
    assert levels({"all": "disabled"}) == {"a": "disabled", "b": "disabled"}
    assert levels({"b": "mandatory", "all": "advisory"}) == {"a": "advisory", "b": "mandatory"}


def test_user_file_overrides_initial_config() -> None:
    initial = {"a": {"enforcementLevel": "advisory"}, "b": {"minimumDays": 90}}
    assert levels(None, initial) == {"a": "advisory", "b": "advisory"}
    assert levels({"a": "mandatory"}, initial)["a"] == "mandatory"
    assert reconcile(RULES, initial, {"b": {"minimumDays": 7}})["b"].properties["minimumDays"] == 7


def test_struct_doubles_still_count_as_integers() -> None:
    assert validate(30.0, {"type": "integer"}) == []
    assert validate(30.5, {"type": "integer"}) != []
    assert validate(True, {"type": "integer"}) != []


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"a": {"waivers": [{"resource": "x", "reason": "short"}]}}, "at least 10 characters"),
        (
            {"a": {"waivers": [{"resource": "x", "reason": "a reason long enough", "by": 1}]}},
            "unexpected property 'by'",
        ),
        ({"a": {"minimumDays": "thirty"}}, "expected integer"),
        ({"a": 3}, "expected a level or an object"),
    ],
)
def test_schema_violations_name_the_rule_and_the_value(user: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        reconcile(RULES, None, user, source="prod.json")


def test_waivers_are_listed_and_marked_when_they_name_a_resource_of_the_stack() -> None:
    reason = "Public dataset bucket, approved by security (SEC-42)."
    user = {
        "a": {
            "waivers": [
                {"resource": "data", "reason": reason},
                {"resource": "gone", "reason": reason},
            ]
        }
    }
    listed = waivers(reconcile(RULES, None, user), {"data"})
    assert [(w.policy, w.resource, w.used) for w in listed] == [
        ("a", "data", True),
        ("a", "gone", False),
    ]
