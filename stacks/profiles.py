"""Load environment profiles and apply the parity rules declared in stacks/parity.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from components.spec import Environment

STACKS_DIR = Path(__file__).resolve().parent
PROFILE_DIR = STACKS_DIR / "profiles"


@dataclass(frozen=True)
class ParityRules:
    """Which config paths may differ between environments, and which a promotion copies."""

    may_differ: tuple[str, ...]
    promotable: tuple[str, ...]

    def allows(self, path: str) -> bool:
        """True when ``path`` (dotted) is, or lies below, a declared difference."""
        return any(path == p or path.startswith(p + ".") for p in self.may_differ)

    def promotes(self, path: str) -> bool:
        """True when ``path`` is, or lies below, a promotable setting."""
        return any(path == p or path.startswith(p + ".") for p in self.promotable)


@cache
def load_profile(environment: Environment) -> Mapping[str, Any]:
    """The profile of one environment: only declared differences, as plain data."""
    data = yaml.safe_load((PROFILE_DIR / f"{environment.value}.yaml").read_text())
    if not isinstance(data, dict):
        raise ValueError(f"profile {environment.value} must be a mapping")
    return data


@cache
def load_parity_rules() -> ParityRules:
    """The rules in stacks/parity.yaml."""
    data = yaml.safe_load((STACKS_DIR / "parity.yaml").read_text())
    return ParityRules(tuple(data["may_differ"]), tuple(data["promotable"]))


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``overlay`` on top of ``base``, merging nested mappings key by key."""
    merged: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


_MISSING = "<absent>"


def parity_violations(
    left: Mapping[str, Any], right: Mapping[str, Any], rules: ParityRules | None = None
) -> list[tuple[str, Any, Any]]:
    """Config paths where two stacks differ although parity says they must not."""
    rules = rules or load_parity_rules()
    a, b = flatten(left), flatten(right)
    return [
        (path, a.get(path, _MISSING), b.get(path, _MISSING))
        for path in sorted(set(a) | set(b))
        if a.get(path, _MISSING) != b.get(path, _MISSING) and not rules.allows(path)
    ]
