"""Pack configuration, read and reconciled the way the Pulumi engine does it.

The engine builds each rule's effective config in three layers, then validates it against the
rule's config schema before calling ``Configure``:

1. the pack's defaults: the rule's own enforcement level and its schema's ``default`` values;
2. the pack's ``initial_config`` (programmatic config);
3. the user's file (``--policy-pack-config``), where ``"all"`` sets every rule's level first and a
   rule's own entry then wins.

A value is either a level string (``"advisory"``) or an object with an optional
``enforcementLevel`` and the rule's properties. Unknown rule names and values the schema refuses
are errors, so a mistyped waiver never silently waives nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.program import ProjectError

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
ALL = "all"


class ConfigError(ProjectError):
    """A pack config file that cannot be used: one clear line naming the file and the value."""


@dataclass(frozen=True)
class RuleConfig:
    """One rule's effective config: its level and its properties (waivers, ...)."""

    level: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Waiver:
    """A rule waived for one named resource, with the written reason."""

    policy: str
    resource: str
    reason: str
    used: bool = False


def _normalise(source: str, name: str, value: Any) -> tuple[str | None, dict[str, Any]]:
    """(level or None, properties) of one entry of a config document."""
    if isinstance(value, str):
        if value not in LEVELS:
            raise ConfigError(f"{source}: {name}: unknown enforcement level {value!r}")
        return value, {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {name}: expected a level or an object")
    level = value.get("enforcementLevel")
    if level is not None and level not in LEVELS:
        raise ConfigError(f"{source}: {name}: unknown enforcement level {level!r}")
    props = {k: v for k, v in value.items() if k != "enforcementLevel"}
    return level, props


def load_config_file(path: Path) -> dict[str, Any]:
    """A pack config file as a dict; a missing or malformed file is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: policy config file not found") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: malformed JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of rule name -> config")
    return data


def _apply(
    result: dict[str, tuple[str, dict[str, Any]]],
    document: Mapping[str, Any],
    source: str,
) -> None:
    if ALL in document:
        level, props = _normalise(source, ALL, document[ALL])
        for name, (old_level, old_props) in result.items():
            result[name] = (level or old_level, {**old_props, **props})
    for name, value in document.items():
        if name == ALL:
            continue
        if name not in result:
            raise ConfigError(f"{source}: the pack has no rule named {name!r}")
        level, props = _normalise(source, name, value)
        old_level, old_props = result[name]
        result[name] = (level or old_level, {**old_props, **props})


def reconcile(
    rules: Mapping[str, tuple[str, Mapping[str, Any]]],
    initial: Mapping[str, Any] | None,
    user: Mapping[str, Any] | None,
    *,
    source: str = "policy config",
) -> dict[str, RuleConfig]:
    """Effective config per rule. ``rules``: name -> (default level, config schema)."""
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, (level, schema) in rules.items():
        defaults = {
            key: spec["default"]
            for key, spec in (schema.get("properties") or {}).items()
            if isinstance(spec, Mapping) and "default" in spec
        }
        result[name] = (level, defaults)
    if initial:
        _apply(result, initial, "the pack's initial config")
    if user:
        _apply(result, user, source)
    effective = {}
    for name, (level, props) in result.items():
        errors = validate(props, rules[name][1])
        if errors:
            raise ConfigError(f"{source}: {name}: {errors[0]}")
        effective[name] = RuleConfig(level, props)
    return effective


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "array": (list,),
    "object": (dict,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def validate(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """The JSON-schema subset rule schemas use (type, properties, required, items, minLength,
    enum, additionalProperties); one message per error, naming where it is."""
    where = path or "config"
    errors: list[str] = []
    wanted = schema.get("type")
    if isinstance(wanted, str) and wanted in _TYPES:
        ok = isinstance(value, _TYPES[wanted]) and not (
            wanted in ("integer", "number") and isinstance(value, bool)
        )
        # Struct numbers are doubles: 30 comes back as 30.0 and is still an integer.
        if wanted == "integer" and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            return [f"{where}: expected {wanted}, got {json.dumps(value)[:40]}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and len(value) < int(schema.get("minLength", 0)):
        errors.append(f"{where}: must be at least {schema['minLength']} characters")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{i}]" if path else f"[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                errors.append(f"{where}: {key!r} is required")
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                errors += validate(item, props[key], sub)
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected property {key!r}")
    return errors


def waivers(effective: Mapping[str, RuleConfig], resource_names: set[str]) -> list[Waiver]:
    """Every waiver in the effective config, marking those that name a resource of the stack."""
    found = []
    for policy, rule in effective.items():
        for item in rule.properties.get("waivers") or []:
            resource = str(item.get("resource", ""))
            found.append(
                Waiver(policy, resource, str(item.get("reason", "")), resource in resource_names)
            )
    return found
