"""Naming within each cloud's limits: plain function, plain tests (and a property test)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.naming import NAME_RULES, resource_name


def test_azure_storage_account_is_3_to_24_lowercase_alphanumerics() -> None:
    name = resource_name("azure", "storage-account", "acme-support-platform", "prod", "logs")
    assert re.fullmatch(r"[a-z0-9]{3,24}", name)


def test_long_names_keep_a_stable_unique_suffix() -> None:
    a = resource_name("gcp", "service-account", "very-long-client-project-name", "staging", "api")
    b = resource_name("gcp", "service-account", "very-long-client-project-name", "staging", "wrk")
    assert len(a) <= 30 and len(b) <= 30
    assert a != b
    assert a == resource_name(
        "gcp", "service-account", "very-long-client-project-name", "staging", "api"
    )


def test_short_names_are_padded_to_the_minimum() -> None:
    assert len(resource_name("gcp", "service-account", "ab")) >= 6


def test_names_start_with_a_letter_where_required() -> None:
    assert resource_name("gcp", "cloud-run", "1abc")[0].isalpha()


def test_unknown_kind_uses_the_cloud_default() -> None:
    assert resource_name("aws", "no-such-kind", "Acme", "Dev") == "acme-dev"


@pytest.mark.parametrize("key", sorted(NAME_RULES))
@given(parts=st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=4))
def test_every_rule_holds_for_any_input(key: str, parts: list[str]) -> None:
    cloud, kind = key.split(":", 1)
    rule = NAME_RULES[key]
    name = resource_name(cloud, kind, *parts)
    assert rule.min_len <= len(name) <= rule.max_len
    assert re.fullmatch(f"[{rule.alphabet}]+", name)
