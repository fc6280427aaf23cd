"""Table-driven resource checks: a property at a wire path must hold one of an allowed set.

Most Azure and GCP rules demand "this setting has one of these values" on a few resource types.
Rules describe that as a lookup table (type token -> requirements) and share one check, so each
rule module holds data, not control flow. Values match by exact membership: a boolean only
equals a boolean (``1.0`` never passes for ``True``), and strings compare whole (ARM enum strings
are case-insensitive, so case is folded; nothing is matched by substring).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies.rules.base import ResourceCheck, canonical_type, prop_at


@dataclass(frozen=True)
class Setting:
    """``path`` (dotted camelCase wire path) must hold one of ``allowed``.

    ``unset_ok`` is for settings whose service default, when the property is absent, is already
    the secure value (e.g. a container's public access defaults to none).
    """

    path: str
    allowed: tuple[Any, ...]
    unset_ok: bool = False

    def satisfied(self, props: Mapping[str, Any]) -> bool:
        """Whether ``props`` meet this setting."""
        value = prop_at(props, self.path)
        if value is None:
            return self.unset_ok
        return any(same_value(value, wanted) for wanted in self.allowed)

    def describe(self) -> str:
        """``path`` = one of the allowed values, for messages."""
        return f"`{self.path}` = {' or '.join(show(v) for v in self.allowed)}"


@dataclass(frozen=True)
class Present:
    """``path`` must be set to a non-empty value (e.g. a KMS key name, whatever its value)."""

    path: str
    what: str = "a value"

    def satisfied(self, props: Mapping[str, Any]) -> bool:
        """Whether ``props`` set a non-empty value at ``path``."""
        value = prop_at(props, self.path)
        if isinstance(value, (Mapping, Sequence)):  # strings too: "" is not a key name
            return len(value) > 0
        return value is not None

    def describe(self) -> str:
        """What to set, for messages."""
        return f"`{self.path}` to {self.what}"


@dataclass(frozen=True)
class AnyOf:
    """Met when any one of ``settings`` is (e.g. public network off, or a deny-by-default ACL)."""

    settings: tuple[Setting | Present, ...]

    def satisfied(self, props: Mapping[str, Any]) -> bool:
        """Whether ``props`` meet at least one alternative."""
        return any(s.satisfied(props) for s in self.settings)

    def describe(self) -> str:
        """The alternatives, for messages."""
        return " or ".join(s.describe() for s in self.settings)


Requirement = Setting | Present | AnyOf
SettingsTable = Mapping[str, tuple[Requirement, ...]]


def same_value(value: Any, wanted: Any) -> bool:
    """Exact equality that does not let ``1.0 == True`` or ``"true" == True`` through."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    if isinstance(wanted, str) and isinstance(value, str):
        return value.casefold() == wanted.casefold()
    return bool(value == wanted)


def show(value: Any) -> str:
    """A value as a user would write it in a program."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _current(props: Mapping[str, Any], requirement: Requirement) -> str:
    paths = requirement.settings if isinstance(requirement, AnyOf) else (requirement,)
    return ", ".join(f"`{s.path}` is {show(prop_at(props, s.path))}" for s in paths)


def settings_check(table: SettingsTable, demand: str) -> ResourceCheck:
    """A check yielding one message per unmet requirement of the resource's type in ``table``."""

    def check(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
        for requirement in table.get(canonical_type(args.resource_type), ()):
            if not requirement.satisfied(props):
                yield (f"{demand}: {_current(props, requirement)}; set {requirement.describe()}.")

    return check
