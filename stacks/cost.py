"""What one stack costs a month at list price, per resource, before anything is deployed.

``aideploy cost DIR --stack S`` runs the stack's program once under Pulumi's mocks (the offline
runner), then prices every captured resource by its type token from the dated price table in
``stacks/prices/<cloud>.yaml``. Quantities come from the resource's own inputs (instance type
and count, SKU name and capacity, task size, minimum instances) and, where an input is absent,
from the stack's spec (``capacity.*``).

Every resource gets one line of one kind:

* **fixed**: what it costs a month at rest; these lines make ``monthly_total``;
* **usage-priced**: billed only by use (requests, GB ingested, egress, operations): its
  ``monthly`` is 0 and its ``basis`` gives the unit prices. Use-based charges are never added
  to the total, because an estimate before deploy cannot know the traffic. A fixed line may
  carry usage charges as well (a NAT gateway's per-GB price): they are in its basis, not in
  its ``monthly``, and the report lists it under ``usage_priced`` too;
* **free**: no list price of its own (roles, routes, parts billed on a parent);
* **not priced**: the type is not in the table, or the inputs lack a quantity the price
  needs. Such a resource is listed, never dropped, so a gap is visible.

The price table is data with a small vocabulary, read by one interpreter (``_price``):

=========  ==========================================================  ====================
rule       monthly price                                               keys
=========  ==========================================================  ====================
free       none                                                        note
usage      none (listed with its unit prices)                          usage
fixed      ``monthly`` x quantity                                      monthly, quantity
hourly     ``hourly`` x hours_per_month x quantity                     hourly, quantity
compute    count x (vCPU x ``vcpu_hour`` + GB x ``gb_hour``) x hours   vcpu_hour, gb_hour,
                                                                       count, vcpu, memory_gb
sku        the sub-entry chosen by an input's value (``cases``,        key, cases, default,
           else ``default``), per element of ``each`` when given       each
=========  ==========================================================  ====================

Any entry may add ``plus`` (more entries, summed), ``usage`` (unit prices of use-based charges,
listed and never totalled), ``note`` and ``source`` (the pricing page). A quantity is a
mapping with one of ``path`` (the sum of the numbers at an input path), ``count`` (how many
values are there) or ``value`` (a constant), and optionally ``divide``, ``spec`` (a dotted path
into the spec used when the input is absent) with ``spec_divide``, ``default`` and ``unit``.
Input paths are dotted names with ``[*]`` or ``[n]`` for list items and ``*`` for the values of
a mapping; a leading ``@name`` follows the resource that input ``name`` refers to (an ECS
service's task definition, a SageMaker endpoint's configuration). Numbers may carry Kubernetes
style suffixes (``500m``, ``1Gi``, ``1024Mi``). Differences between clouds are entries of the
tables, never branches in this module.

Library use (the generator prints the three stacks' totals at ``aideploy new``)::

    report = estimate(project_dir, "dev")           # runs the stack under mocks, once
    report = estimate_run(run, spec)                 # prices a run already captured
    report.monthly_total, report.summary(), report.to_json(), render_text(report)
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import pickletools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from components.spec import CONFIG_SECTIONS, DeploymentSpec, spec_from_config
from offline.capture import CapturedResource, ProgramError
from offline.program import StackRun, load_project, run_stack, stack_config

if TYPE_CHECKING:
    from rich.console import RenderableType

PRICES_DIR = Path(__file__).resolve().parent / "prices"
FREE_BASIS = "no list price (free or usage-only)"
NOT_IN_TABLE = "not in the price table"
USAGE_PREFIX = "usage-priced, not in the total: "
# The ``cloud`` of the table of provider-neutral helpers (pulumi-time, pulumi-random).
ANY_CLOUD = "any"


class CostError(ValueError):
    """A price table or a stack that cannot be estimated; the message is one line."""


class Kind(str, Enum):
    """What a line contributes to the monthly total."""

    FIXED = "fixed"
    USAGE = "usage"
    FREE = "free"
    UNPRICED = "unpriced"


# ---------------------------------------------------------------------------------------------
# The price table: loading and validation
# ---------------------------------------------------------------------------------------------

RULES: frozenset[str] = frozenset({"free", "usage", "fixed", "hourly", "compute", "sku"})
_COMMON_KEYS = frozenset({"rule", "plus", "usage", "note", "source"})
_RULE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # rule: (required keys, optional keys) besides the common ones
    "free": (frozenset(), frozenset()),
    "usage": (frozenset({"usage"}), frozenset()),
    "fixed": (frozenset({"monthly"}), frozenset({"quantity"})),
    "hourly": (frozenset({"hourly"}), frozenset({"quantity"})),
    "compute": (frozenset({"vcpu_hour", "gb_hour", "count", "vcpu", "memory_gb"}), frozenset()),
    "sku": (frozenset({"key", "cases"}), frozenset({"default", "each"})),
}
_QUANTITY_SOURCES = ("path", "count", "value")
_QUANTITY_KEYS = frozenset({*_QUANTITY_SOURCES, "divide", "spec", "spec_divide", "default", "unit"})
_PATH_SEGMENT = re.compile(r"^(?P<name>[^\[\]]*)(?:\[(?P<index>\*|\d+)\])?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class PriceTable:
    """One cloud's dated list prices: ``entries`` maps a type token to its pricing rule."""

    cloud: str
    as_of: str
    currency: str
    region: str
    hours_per_month: float
    entries: Mapping[str, Mapping[str, Any]]
    path: Path
    # False when the prices hold wherever the stack runs (the on-premises table: nothing on it
    # is billed by a region), so no "prices may differ" note.
    regional: bool = True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _check_path(path: Any, where: str) -> None:
    if not isinstance(path, str) or not path:
        raise CostError(f"{where}: an input path must be a non-empty string")
    segments = path.split(".")
    if segments[0].startswith("@"):
        segments = segments[1:]
    for segment in segments:
        if not _PATH_SEGMENT.match(segment):
            raise CostError(f"{where}: bad path segment {segment!r} in {path!r}")


def _check_quantity(quantity: Any, where: str) -> None:
    if not isinstance(quantity, Mapping):
        raise CostError(f"{where}: a quantity must be a mapping")
    unknown = set(quantity) - _QUANTITY_KEYS
    if unknown:
        raise CostError(f"{where}: unknown quantity keys {sorted(unknown)}")
    sources = [k for k in _QUANTITY_SOURCES if k in quantity]
    if len(sources) != 1:
        raise CostError(f"{where}: a quantity needs exactly one of path, count or value")
    for key in ("path", "count"):
        if key in quantity:
            _check_path(quantity[key], where)
    for key in ("value", "divide", "spec_divide", "default"):
        if key in quantity and not _is_number(quantity[key]):
            raise CostError(f"{where}: quantity {key} must be a non-negative number")
    for key in ("divide", "spec_divide"):
        if key in quantity and quantity[key] == 0:
            raise CostError(f"{where}: quantity {key} must not be 0")
    for key in ("spec", "unit"):
        if key in quantity and not isinstance(quantity[key], str):
            raise CostError(f"{where}: quantity {key} must be a string")
    if "spec" in quantity:
        # A misspelt spec path would silently fall back to the default: refuse it here.
        model: Any = DeploymentSpec
        for name in quantity["spec"].split("."):
            fields = getattr(model, "model_fields", None)
            if not fields or name not in fields:
                raise CostError(f"{where}: the spec has no {quantity['spec']!r}")
            model = fields[name].annotation


def _check_entry(entry: Any, where: str, top: bool) -> dict[str, Any]:
    """Validate one entry (recursively) and return it with its ``cases`` keys as strings."""
    if not isinstance(entry, Mapping):
        raise CostError(f"{where}: an entry must be a mapping")
    rule = entry.get("rule")
    if rule not in RULES:
        raise CostError(f"{where}: rule must be one of {', '.join(sorted(RULES))}, not {rule!r}")
    required, optional = _RULE_KEYS[rule]
    missing = required - set(entry)
    unknown = set(entry) - required - optional - _COMMON_KEYS
    if missing:
        raise CostError(f"{where}: rule {rule} needs {', '.join(sorted(missing))}")
    if unknown:
        raise CostError(f"{where}: unknown keys {', '.join(sorted(unknown))} for rule {rule}")
    checked: dict[str, Any] = dict(entry)
    for key in ("monthly", "hourly", "vcpu_hour", "gb_hour"):
        if key in entry and not _is_number(entry[key]):
            raise CostError(f"{where}: {key} must be a non-negative number")
    for key in ("quantity", "count", "vcpu", "memory_gb"):
        if key in entry:
            _check_quantity(entry[key], f"{where}.{key}")
    usage = entry.get("usage", [])
    if not isinstance(usage, list) or not all(isinstance(u, str) and u for u in usage):
        raise CostError(f"{where}: usage must be a list of unit-price texts")
    if rule == "usage" and not usage:
        raise CostError(f"{where}: a usage-priced entry needs its unit prices")
    for key in ("note", "source"):
        if key in entry and not isinstance(entry[key], str):
            raise CostError(f"{where}: {key} must be a string")
    if top and rule != "free" and not str(entry.get("source", "")).startswith("https://"):
        raise CostError(f"{where}: a priced entry needs its pricing page as source (https://...)")
    if "plus" in entry:
        if not isinstance(entry["plus"], list):
            raise CostError(f"{where}: plus must be a list of entries")
        checked["plus"] = [
            _check_entry(sub, f"{where}.plus[{i}]", top=False)
            for i, sub in enumerate(entry["plus"])
        ]
    if rule == "sku":
        _check_path(entry["key"], where)
        if "each" in entry:
            _check_path(entry["each"], where)
        if not isinstance(entry["cases"], Mapping) or not entry["cases"]:
            raise CostError(f"{where}: cases must be a non-empty mapping")
        checked["cases"] = {
            _case_label(value): _check_entry(sub, f"{where}.cases.{value}", top=False)
            for value, sub in entry["cases"].items()
        }
        if "default" in entry:
            checked["default"] = _check_entry(entry["default"], f"{where}.default", top=False)
    return checked


def _load_table(path: Path) -> PriceTable:
    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CostError(f"{where}: malformed YAML ({exc.__class__.__name__})") from exc
    if not isinstance(data, Mapping):
        raise CostError(f"{where}: expected a mapping")
    for key in ("cloud", "as_of", "currency", "region", "hours_per_month", "types"):
        if key not in data:
            raise CostError(f"{where}: missing {key}")
    as_of = str(data["as_of"])  # YAML reads 2026-11-01 as a date
    if not _DATE.match(as_of):
        raise CostError(f"{where}: as_of must be a date (YYYY-MM-DD)")
    if not _is_number(data["hours_per_month"]) or not data["hours_per_month"]:
        raise CostError(f"{where}: hours_per_month must be a positive number")
    if not isinstance(data["types"], Mapping) or not data["types"]:
        raise CostError(f"{where}: types must be a non-empty mapping")
    regional = data.get("regional", True)
    if not isinstance(regional, bool):  # YAML's "no" or "false" in quotes would read as true
        raise CostError(f"{where}: regional must be true or false")
    entries = {
        str(token): _check_entry(entry, f"{where}: {token}", top=True)
        for token, entry in data["types"].items()
    }
    return PriceTable(
        cloud=str(data["cloud"]),
        as_of=as_of,
        currency=str(data["currency"]),
        region=str(data["region"]),
        hours_per_month=float(data["hours_per_month"]),
        entries=entries,
        path=path,
        regional=regional,
    )


@cache
def load_price_tables(directory: Path = PRICES_DIR) -> tuple[PriceTable, ...]:
    """Every ``*.yaml`` price table in ``directory``, validated; one currency throughout."""
    tables = tuple(_load_table(p) for p in sorted(directory.glob("*.yaml")))
    if not tables:
        raise CostError(f"{directory}: no price tables")
    currencies = {t.currency for t in tables}
    if len(currencies) != 1:
        raise CostError(f"price tables mix currencies: {', '.join(sorted(currencies))}")
    seen: dict[str, str] = {}
    for table in tables:
        for token in table.entries:
            if token in seen:
                raise CostError(f"{token} is priced in both {seen[token]} and {table.path.name}")
            seen[token] = table.path.name
    return tables


# ---------------------------------------------------------------------------------------------
# Reading inputs
# ---------------------------------------------------------------------------------------------

_AZURE_VERSIONED = re.compile(r"^azure-native:(?P<module>[^/:]+)/v[0-9]{8}[a-z0-9]*:(?P<name>\w+)$")


def unversioned(token: str) -> str:
    """A type token without an azure-native API version.

    ``azure-native:storage/v20230101:StorageAccount`` -> ``azure-native:storage:StorageAccount``;
    other tokens are returned unchanged (``aws:ec2/vpc:Vpc`` has a module path, not a version).
    """
    match = _AZURE_VERSIONED.match(token)
    return f"azure-native:{match['module']}:{match['name']}" if match else token


_GENERIC_DYNAMIC = "pulumi-python:dynamic:Resource"


def price_token(resource: CapturedResource) -> str:
    """The token a resource is priced by: its type without an azure-native API version.

    A dynamic resource registered without a module and name has the generic type
    ``pulumi-python:dynamic:Resource``, shared by every such resource; it is told apart by its
    provider's class: ``pulumi-python:dynamic:Resource#components.azure.endpoint_traffic.
    EndpointTrafficProvider``.
    """
    token = unversioned(resource.type)
    if token == _GENERIC_DYNAMIC:
        provider = dynamic_provider_class(resource.inputs.get("__provider"))
        if provider is not None:
            return f"{token}#{provider}"
    return token


def dynamic_provider_class(serialized: Any) -> str | None:
    """The module-qualified class of a dynamic resource's provider, read from its pickle
    (base64, possibly wrapped as a secret) by listing opcodes: nothing in it is executed."""
    if isinstance(serialized, Mapping):
        serialized = serialized.get("value")
    if not isinstance(serialized, str):
        return None
    try:
        strings: list[str] = []
        for opcode, arg, _ in pickletools.genops(base64.b64decode(serialized, validate=True)):
            if opcode.name == "GLOBAL" and isinstance(arg, str):  # "module name"
                return arg.replace(" ", ".")
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
            if isinstance(arg, str) and "UNICODE" in opcode.name:
                strings.append(arg)
    except (ValueError, binascii.Error):  # not base64, or not a pickle
        return None
    return None


_SUFFIXES: dict[str | None, float] = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(m|k|K|M|G|T|Ki|Mi|Gi|Ti)?\s*$")


def parse_number(value: Any) -> float | None:
    """A number from an input: ``2``, ``"512"``, ``"500m"`` (0.5), ``"1Gi"`` (bytes), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = _NUMBER.match(value)
        if match:
            return float(match[1]) * _SUFFIXES[match[2]]
    return None


class _UnpriceableError(Exception):
    """The inputs lack what a price needs; the resource is listed as not priced."""


@dataclass(frozen=True)
class _Context:
    """What pricing one resource may read besides its inputs."""

    resource: CapturedResource
    by_urn: Mapping[str, CapturedResource]
    spec: DeploymentSpec | None
    hours: float


def _resolve(root: Any, path: str, ctx: _Context) -> list[Any]:
    """The values at ``path`` below ``root`` (see the module docstring for the path syntax)."""
    segments = path.split(".")
    values: list[Any] = [root]
    if segments[0].startswith("@"):
        urns = ctx.resource.property_dependencies.get(segments[0][1:], ())
        values = [ctx.by_urn[urn].inputs for urn in urns if urn in ctx.by_urn]
        segments = segments[1:]
    for segment in segments:
        match = _PATH_SEGMENT.match(segment)
        if match is None:  # validated at load; a path built elsewhere finds nothing
            return []
        name, index = match["name"], match["index"]
        found: list[Any] = []
        for value in values:
            if name == "*":
                if isinstance(value, Mapping):
                    found.extend(value.values())
                continue
            if name:
                if not isinstance(value, Mapping) or name not in value:
                    continue
                value = value[name]
            if index is None:
                found.append(value)
            elif isinstance(value, Sequence) and not isinstance(value, str):
                if index == "*":
                    found.extend(value)
                elif int(index) < len(value):
                    found.append(value[int(index)])
        values = found
    return [v for v in values if v is not None]


def _spec_number(spec: DeploymentSpec | None, path: str) -> float | None:
    value: Any = spec
    for name in path.split("."):
        value = getattr(value, name, None)
    return parse_number(value)


def _quantity(quantity: Mapping[str, Any] | None, root: Any, ctx: _Context) -> float:
    """A quantity from the inputs, else the spec, else its default; raises _UnpriceableError."""
    if quantity is None:
        return 1.0
    if "value" in quantity:
        return float(quantity["value"])
    if "path" in quantity:
        numbers = [parse_number(v) for v in _resolve(root, quantity["path"], ctx)]
        # Values unknown before deployment (outputs of other resources) do not count.
        if numbers and all(n is not None for n in numbers):
            return sum(n for n in numbers if n is not None) / float(quantity.get("divide", 1))
    elif values := _resolve(root, quantity["count"], ctx):
        return float(len(values))
    if "spec" in quantity:
        number = _spec_number(ctx.spec, quantity["spec"])
        if number is not None:
            return number / float(quantity.get("spec_divide", 1))
    if "default" in quantity:
        return float(quantity["default"])
    where = quantity.get("path") or quantity.get("count")
    raise _UnpriceableError(f"{where} not found in the inputs")


# ---------------------------------------------------------------------------------------------
# Pricing one resource
# ---------------------------------------------------------------------------------------------


def _num(value: float, digits: int = 4) -> str:
    """A quantity as people write it: 0.5, 2, 0.2384 (``digits`` significant, no exponent)."""
    return format(Decimal(repr(float(f"{value:.{digits}g}"))).normalize(), "f")


def _price_text(value: float) -> str:
    """A unit price: cents shown as money (0.10, 48.04), finer prices in full (0.0252)."""
    if value != int(value) and round(value, 2) == value:
        return f"{value:.2f}"
    return _num(value, digits=6)


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _case_label(value: Any) -> str:
    """How an input value selects a ``cases`` entry: booleans lowercase, 2.0 as ``2``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _units(count: float, unit: str) -> str:
    """``2 instances``, ``1 unit``, ``3 AZ``: plural for lowercase words only."""
    if unit and count != 1 and re.fullmatch(r"[a-z]+( [a-z]+)*", unit):
        unit += "s"
    return f"{_num(count)} {unit}".rstrip()


@dataclass(frozen=True)
class _Priced:
    """One entry's result: the monthly price and how it was reached."""

    monthly: float
    basis: str
    usage: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    free: bool = False

    def plus(self, other: _Priced) -> _Priced:
        return _Priced(
            self.monthly + other.monthly,
            " + ".join(b for b in (self.basis, other.basis) if b),
            _unique(self.usage + other.usage),
            _unique(self.notes + other.notes),
            self.free and other.free,
        )


def _unique(texts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(texts))


def _times(quantity_spec: Mapping[str, Any] | None, quantity: float) -> str:
    return f" x {_units(quantity, quantity_spec.get('unit', ''))}" if quantity_spec else ""


def _price_case(entry: Mapping[str, Any], root: Any, ctx: _Context) -> _Priced:
    """A ``sku`` entry: the case its key's value selects, else ``default``."""
    values = _resolve(root, entry["key"], ctx)
    label = _case_label(values[0]) if values else None
    case = entry["cases"].get(label) if label is not None else None
    if case is None:
        case = entry.get("default")
    key_name = ".".join(entry["key"].lstrip("@").split(".")[-2:])
    if case is None:
        raise _UnpriceableError(f"no price for {key_name}={label or '(unset)'}")
    priced = _price(case, root, ctx)
    if label is not None and priced.basis:
        priced = _Priced(
            priced.monthly, f"{key_name}={label}: {priced.basis}", priced.usage, priced.notes
        )
    return priced


def _price(entry: Mapping[str, Any], root: Any, ctx: _Context) -> _Priced:
    """The one interpreter of the pricing-rule vocabulary (see the module docstring)."""
    rule = entry["rule"]
    if rule == "free":
        priced = _Priced(0.0, "", free=True)
    elif rule == "usage":
        priced = _Priced(0.0, "")
    elif rule == "fixed":
        qspec = entry.get("quantity")
        quantity = _quantity(qspec, root, ctx)
        priced = _Priced(
            entry["monthly"] * quantity,
            f"USD {_price_text(entry['monthly'])}/month{_times(qspec, quantity)}",
        )
    elif rule == "hourly":
        qspec = entry.get("quantity")
        quantity = _quantity(qspec, root, ctx)
        priced = _Priced(
            entry["hourly"] * ctx.hours * quantity,
            f"USD {_price_text(entry['hourly'])}/h x {_num(ctx.hours)} h{_times(qspec, quantity)}",
        )
    elif rule == "compute":
        count = _quantity(entry["count"], root, ctx)
        vcpu = _quantity(entry["vcpu"], root, ctx)
        memory = _quantity(entry["memory_gb"], root, ctx)
        per_hour = vcpu * entry["vcpu_hour"] + memory * entry["gb_hour"]
        priced = _Priced(
            count * per_hour * ctx.hours,
            f"{_units(count, entry['count'].get('unit', ''))} x ({_num(vcpu)} vCPU x USD "
            f"{_price_text(entry['vcpu_hour'])} + {_num(memory)} GB x USD "
            f"{_price_text(entry['gb_hour'])})/h"
            f" x {_num(ctx.hours)} h",
        )
    else:  # sku
        if "each" in entry:
            elements = _resolve(root, entry["each"], ctx)
            if not elements:
                raise _UnpriceableError(f"nothing found at {entry['each']}")
            priced = _price_case(entry, elements[0], ctx)
            for element in elements[1:]:
                priced = priced.plus(_price_case(entry, element, ctx))
        else:
            priced = _price_case(entry, root, ctx)
    for sub in entry.get("plus", ()):
        priced = priced.plus(_price(sub, root, ctx))
    return _Priced(
        priced.monthly,
        priced.basis,
        _unique(priced.usage + tuple(entry.get("usage", ()))),
        _unique(priced.notes + ((entry["note"],) if "note" in entry else ())),
        priced.free,
    )


@dataclass(frozen=True)
class CostItem:
    """One resource's line: JSON shows exactly type, name, monthly and basis."""

    resource_type: str
    resource_name: str
    monthly: float
    basis: str
    kind: Kind
    usage: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The contract's item: ``{"resource_type", "resource_name", "monthly", "basis"}``."""
        return {
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "monthly": self.monthly,
            "basis": self.basis,
        }


def price_resource(
    resource: CapturedResource,
    entries: Mapping[str, Mapping[str, Any]],
    *,
    by_urn: Mapping[str, CapturedResource] | None = None,
    spec: DeploymentSpec | None = None,
    hours_per_month: float = 730.0,
) -> CostItem:
    """Price one captured resource with ``entries`` (type token -> rule).

    ``by_urn`` holds the run's other resources, for inputs that refer to one (``@name``).
    """
    entry = entries.get(price_token(resource))
    line = (resource.type, resource.name)
    if entry is None:
        return CostItem(*line, 0.0, NOT_IN_TABLE, Kind.UNPRICED)
    ctx = _Context(resource, by_urn or {}, spec, hours_per_month)
    try:
        priced = _price(entry, resource.inputs, ctx)
    except _UnpriceableError as exc:
        return CostItem(*line, 0.0, f"not priced: {exc}", Kind.UNPRICED)
    notes = f" ({'; '.join(priced.notes)})" if priced.notes else ""
    if priced.monthly > 0:
        basis = priced.basis + notes
        if priced.usage:
            basis += "; plus usage, not in the total: " + "; ".join(priced.usage)
        return CostItem(*line, round(priced.monthly, 2), basis, Kind.FIXED, priced.usage)
    if priced.usage:
        at_rest = f"; at rest: {priced.basis}" if priced.basis else ""
        basis = USAGE_PREFIX + "; ".join(priced.usage) + at_rest + notes
        return CostItem(*line, 0.0, basis, Kind.USAGE, priced.usage)
    if priced.free:
        basis = FREE_BASIS + (f": {'; '.join(priced.notes)}" if priced.notes else "")
        return CostItem(*line, 0.0, basis, Kind.FREE)
    return CostItem(*line, 0.0, priced.basis + notes, Kind.FIXED)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

_KIND_ORDER = {Kind.FIXED: 0, Kind.USAGE: 1, Kind.FREE: 2, Kind.UNPRICED: 3}


@dataclass(frozen=True)
class CostReport:
    """A stack's estimate: one line per billable resource, biggest fixed costs first."""

    stack: str
    cloud: str | None
    currency: str
    price_table_date: str
    price_region: str
    region: str | None
    hours_per_month: float
    items: tuple[CostItem, ...]
    notes: tuple[str, ...] = ()

    @property
    def monthly_total(self) -> float:
        """The sum of the fixed lines (each already rounded to cents); usage never counts."""
        return round(sum(i.monthly for i in self.items if i.kind is Kind.FIXED), 2)

    def of_kind(self, kind: Kind) -> tuple[CostItem, ...]:
        """The lines of one kind, in report order."""
        return tuple(i for i in self.items if i.kind is kind)

    @property
    def usage_priced(self) -> tuple[CostItem, ...]:
        """Every line with use-based charges left out of the total (usage lines and fixed
        lines that also bill by use)."""
        return tuple(i for i in self.items if i.usage)

    def summary(self) -> str:
        """One line for a README or ``aideploy new``: ``dev: USD 612.34 a month + usage``."""
        extra = " + usage" if self.usage_priced else ""
        return f"{self.stack}: {self.currency} {_money(self.monthly_total)} a month{extra}"

    def to_json(self) -> dict[str, Any]:
        """The ``aideploy cost --format json`` object (the contract's keys, plus context)."""
        return {
            "stack": self.stack,
            "currency": self.currency,
            "monthly_total": self.monthly_total,
            "items": [i.to_json() for i in self.items],
            "cloud": self.cloud,
            "region": self.region,
            "price_table_date": self.price_table_date,
            "price_region": self.price_region,
            "hours_per_month": self.hours_per_month,
            "usage_priced": [
                {
                    "resource_type": i.resource_type,
                    "resource_name": i.resource_name,
                    "unit_prices": list(i.usage),
                }
                for i in self.usage_priced
            ],
            "not_priced": [
                {"resource_type": i.resource_type, "resource_name": i.resource_name}
                for i in self.of_kind(Kind.UNPRICED)
            ],
            "notes": list(self.notes),
        }


def _billable(resource: CapturedResource) -> bool:
    """Cloud resources only: not component resources, the stack or provider instances."""
    return resource.custom and not resource.type.startswith("pulumi:")


def _table_for(
    tables: tuple[PriceTable, ...], spec: DeploymentSpec | None, types: list[str]
) -> PriceTable:
    """The table whose date and region the report states: the spec's cloud, else the cloud
    table pricing most of the resources (never the provider-neutral one, ``cloud: any``)."""
    if spec is not None:
        for table in tables:
            if table.cloud == spec.cloud.value:
                return table
        raise CostError(f"no price table for cloud {spec.cloud.value}")
    clouds = [t for t in tables if t.cloud != ANY_CLOUD] or list(tables)
    return max(clouds, key=lambda t: sum(token in t.entries for token in types))


def estimate_run(
    run: StackRun,
    spec: DeploymentSpec | None = None,
    *,
    tables: tuple[PriceTable, ...] | None = None,
) -> CostReport:
    """Price a stack run already captured (``offline.program.run_stack``).

    ``spec`` gives quantities the inputs lack and names the cloud whose table dates the
    report; without it, only the inputs are read.
    """
    tables = tables if tables is not None else load_price_tables()
    entries: dict[str, Mapping[str, Any]] = {}
    for table in tables:
        entries.update(table.entries)
    resources = [r for r in run.resources if _billable(r)]
    table = _table_for(tables, spec, [price_token(r) for r in resources])
    by_urn = {r.urn: r for r in run.resources}
    items = [
        price_resource(r, entries, by_urn=by_urn, spec=spec, hours_per_month=table.hours_per_month)
        for r in resources
    ]
    items.sort(key=lambda i: (_KIND_ORDER[i.kind], -i.monthly, i.resource_type, i.resource_name))
    region = spec.region if spec is not None else None
    notes = [
        f"{table.cloud} list prices for {table.region} as of {table.as_of}, "
        f"{_num(table.hours_per_month)} hours a month; free tiers, trials and discounts are "
        "not deducted",
        "usage-priced charges (requests, data transfer, log ingestion, operations) are listed "
        "with their unit prices and not included in monthly_total",
    ]
    if region is not None and region != table.region and table.regional:
        notes.append(
            f"the stack runs in {region}; its prices may differ from {table.region}'s "
            "(often by 0-20 %)"
        )
    return CostReport(
        stack=run.stack,
        cloud=table.cloud,
        currency=table.currency,
        price_table_date=table.as_of,
        price_region=table.region,
        region=region,
        hours_per_month=table.hours_per_month,
        items=tuple(items),
        notes=tuple(notes),
    )


def _spec_from_config(project: str, stack: str, config: Mapping[str, str]) -> DeploymentSpec:
    """The spec a stack's program builds from its config (every value a string, as the engine
    passes it); a bad config raises a ValueError whose message names each field."""
    from components.config import SCALAR_SECTIONS

    values: dict[str, Any] = {}
    for key in CONFIG_SECTIONS:
        raw = config.get(f"{project}:{key}")
        if raw is None:
            continue
        try:
            values[key] = raw if key in SCALAR_SECTIONS else json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CostError(f"stack {stack}: config {key} is not a structured value") from exc
    return spec_from_config(project, values)


def spec_from_run(run: StackRun) -> DeploymentSpec:
    """The stack's spec from the config a run was given (as the program itself reads it)."""
    return _spec_from_config(run.project, run.stack, run.config)


def estimate(project_dir: Path, stack: str) -> CostReport:
    """Run ``stack`` of the project in ``project_dir`` under mocks (once) and price it.

    Raises ProjectError (no project or stack), ProgramError (the program failed) or a
    ValueError (CostError, or a config that is no valid spec), each with a one-line message.
    """
    tables = load_price_tables()  # a broken table fails before the program runs
    # The spec is read first: a bad stack file is reported field by field, in one line,
    # instead of as the program's own multi-line validation error. A program that is not an
    # aideploy stack (a project's bootstrap, any Pulumi program) has none: its resources'
    # inputs alone give the quantities.
    config, _ = stack_config(project_dir, stack)
    project = str(load_project(project_dir)["name"])
    is_stack = f"{project}:cloud" in config
    spec = _spec_from_config(project, stack, config) if is_stack else None
    try:
        run = run_stack(project_dir, stack)
    except ProgramError as exc:
        # One line for the command line: the program's message may span several.
        raise ProgramError(" ".join(str(exc).split())) from exc
    return estimate_run(run, spec, tables=tables)


# ---------------------------------------------------------------------------------------------
# Text output
# ---------------------------------------------------------------------------------------------


def _grouped(items: tuple[CostItem, ...]) -> list[tuple[CostItem, list[str]]]:
    """Lines of the same type and basis merged (eight alarms at USD 0.10 are one row)."""
    groups: dict[tuple[str, str, float], tuple[CostItem, list[str]]] = {}
    for item in items:
        key = (item.resource_type, item.basis, item.monthly)
        groups.setdefault(key, (item, []))[1].append(item.resource_name)
    return list(groups.values())


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def render_text(report: CostReport) -> RenderableType:
    """The report for people: fixed costs first (largest first), then what is billed by use,
    then what has no price; rich honours NO_COLOR and plain output when not a terminal."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    currency = report.currency
    parts: list[RenderableType] = [
        Text.assemble(
            (
                f"Stack {report.stack}: about {currency} {_money(report.monthly_total)} a month",
                "bold",
            ),
            " at list price, before usage",
        ),
        Text(
            f"{report.cloud} prices for {report.price_region} as of {report.price_table_date}"
            + (f"; stack region {report.region}" if report.region else ""),
            style="dim",
        ),
    ]
    fixed = Table(title="Fixed monthly costs (in the total)", title_justify="left", expand=True)
    fixed.add_column(f"{currency}/month", justify="right", no_wrap=True)
    fixed.add_column("Resource type", ratio=3, overflow="fold")
    fixed.add_column("Resource", ratio=3, overflow="fold")
    fixed.add_column("Basis", ratio=6, overflow="fold")
    for item, names in sorted(
        _grouped(report.of_kind(Kind.FIXED)), key=lambda g: -g[0].monthly * len(g[1])
    ):
        each = "each: " if len(names) > 1 else ""
        label = f"{len(names)} x {_names(names)}" if len(names) > 1 else names[0]
        fixed.add_row(
            _money(item.monthly * len(names)), item.resource_type, label, each + item.basis
        )
    fixed.add_section()
    fixed.add_row(Text(_money(report.monthly_total), style="bold"), Text("Total", style="bold"))
    parts.append(fixed)

    usage_items = report.of_kind(Kind.USAGE)
    if usage_items:
        usage = Table(
            title="Usage-priced: NOT in the total (billed per request, GB or operation)",
            title_justify="left",
            expand=True,
        )
        usage.add_column("Resource type", ratio=3, overflow="fold")
        usage.add_column("Resource", ratio=3, overflow="fold")
        usage.add_column("Unit prices", ratio=6, overflow="fold")
        for item, names in _grouped(usage_items):
            label = f"{len(names)} x {_names(names)}" if len(names) > 1 else names[0]
            usage.add_row(item.resource_type, label, item.basis.removeprefix(USAGE_PREFIX))
        parts.append(usage)
        parts.append(
            Text(
                "Fixed lines above that also bill by use (e.g. per GB processed) give those "
                "unit prices in their basis; they are not in the total either.",
                style="dim",
            )
        )

    free = report.of_kind(Kind.FREE)
    if free:
        kinds = sorted({i.resource_type.rsplit(":", 1)[-1] for i in free})
        parts.append(
            Text(
                f"No list price of their own ({len(free)} resources): {', '.join(kinds)}.",
                style="dim",
            )
        )
    unpriced = report.of_kind(Kind.UNPRICED)
    if unpriced:
        missing = Table(title="Not priced (not in the total)", title_justify="left", expand=True)
        missing.add_column("Resource type", ratio=3, overflow="fold")
        missing.add_column("Resource", ratio=3, overflow="fold")
        missing.add_column("Why", ratio=6, overflow="fold")
        for item in unpriced:
            missing.add_row(item.resource_type, item.resource_name, item.basis)
        parts.append(missing)
    parts.extend(Text(f"Note: {note}.", style="dim") for note in report.notes)
    return Group(*parts)
