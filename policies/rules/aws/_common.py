"""Helpers the AWS rules share: tolerant property access, policy documents, resource links.

The pack sees props as read-only proxies (``Mapping`` / ``Sequence``, not ``dict`` / ``list``)
whose keys are camelCase wire names; nested keys given as raw snake_case dicts reach the wire
unconverted, so lookups accept both spellings.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import canonical_type, parse_document

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(key: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", key).lower()


def get(props: Any, *path: str) -> Any:
    """``props[a][b]...`` by camelCase wire name (snake_case accepted); None when absent."""
    node = props
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node[key] if key in node else node.get(_snake(key))
    return node


def known(props: Any, *path: str) -> Any:
    """Like :func:`get`, but a value unknown during preview reads as None instead of aborting
    the whole (stack) rule: used for optional cross-checks only."""
    try:
        return get(props, *path)
    except UnknownValueError:
        return None


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    """The elements of a list-valued prop; a single value becomes a one-element list."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def is_true(value: Any) -> bool:
    """Booleans may arrive as JSON booleans or, inside documents, as strings."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    """The explicit false of a boolean (``None`` is not false: it is unset)."""
    return value is False or (isinstance(value, str) and value.lower() == "false")


def present(value: Any) -> bool:
    """A string prop that is set and non-blank."""
    return isinstance(value, str) and bool(value.strip())


# ---------------------------------------------------------------------------- policy documents
def statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM-style policy document (JSON string or mapping)."""
    doc = parse_document(document)
    return [s for s in items(doc.get("Statement")) if isinstance(s, Mapping)]


def allows(statement: Mapping[str, Any]) -> bool:
    """An Allow statement (``Effect`` defaults to nothing: absent is not Allow)."""
    return statement.get("Effect") == "Allow"


def principal_is_public(principal: Any) -> bool:
    """``"*"`` or ``{"AWS": "*"}`` (or any principal kind whose value holds ``"*"``, alone or
    among others): anyone at all."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in items(value) for value in principal.values())
    return False


def has_condition(statement: Mapping[str, Any]) -> bool:
    """A non-empty Condition block."""
    return bool(mapping(statement.get("Condition")))


def public_allows(document: Any) -> list[Mapping[str, Any]]:
    """Allow statements granting to anyone (``Principal: *``) without any Condition."""
    return [
        s
        for s in statements(document)
        if allows(s) and principal_is_public(s.get("Principal")) and not has_condition(s)
    ]


_SECURE_TRANSPORT_OPERATORS = ("Bool", "BoolIfExists")


def denies_insecure_transport(document: Any, all_actions: frozenset[str]) -> bool:
    """True when one Deny statement for everyone covers the actions (one of ``all_actions``,
    lower case: IAM action names are case-insensitive) under ``aws:SecureTransport = false``."""
    for s in statements(document):
        if s.get("Effect") != "Deny" or not principal_is_public(s.get("Principal")):
            continue
        actions = {a.lower() for a in items(s.get("Action")) if isinstance(a, str)}
        if not all_actions.intersection(actions):
            continue
        condition = mapping(s.get("Condition"))
        for operator in _SECURE_TRANSPORT_OPERATORS:
            values = items(mapping(condition.get(operator)).get("aws:SecureTransport"))
            if any(is_false(v) for v in values):
                return True
    return False


# ---------------------------------------------------------------------------- stack links
# Per stack analysis: canonical type -> [(position, resource)], built once. Stack rules look up
# one type per resource of another (every bucket's controls), so a scan per call would make the
# check quadratic in the stack's size.
_TYPE_INDEX: weakref.WeakKeyDictionary[StackValidationArgs, dict[str, list[tuple[int, Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _type_index(args: StackValidationArgs) -> dict[str, list[tuple[int, Any]]]:
    index = _TYPE_INDEX.get(args)
    if index is None:
        index = {}
        for position, r in enumerate(args.resources):
            index.setdefault(canonical_type(r.resource_type), []).append((position, r))
        _TYPE_INDEX[args] = index
    return index


def of_types(args: StackValidationArgs, *types: str) -> list[PolicyResource]:
    """The stack's resources of the given types (tolerant type matching), in stack order."""
    index = _type_index(args)
    found = [entry for t in {canonical_type(t) for t in types} for entry in index.get(t, [])]
    return [r for _, r in sorted(found, key=lambda entry: entry[0])]


def linked(
    target: PolicyResource,
    candidates: Iterable[PolicyResource],
    key: str,
    *,
    target_values: Iterable[Any] = (),
) -> Iterator[PolicyResource]:
    """Candidates whose ``key`` property depends on ``target`` (its property dependency), or,
    when the program wrote a literal instead of an output, whose ``key`` equals one of
    ``target_values`` (e.g. the bucket's explicit name)."""
    literals = {v for v in target_values if present(v)}
    for candidate in candidates:
        deps = candidate.property_dependencies.get(key) or []
        if any(d.urn == target.urn for d in deps):
            yield candidate
            continue
        value = known(candidate.props, key)
        if any(v in literals for v in items(value) if isinstance(v, str)):
            yield candidate


StackFindings = Iterator[tuple[str, str | None]]


def each(
    resources: Iterable[PolicyResource], check: Callable[[PolicyResource], StackFindings]
) -> StackFindings:
    """Run ``check`` per resource; one whose inputs are still unknown (during ``pulumi preview``
    of new resources) is skipped instead of aborting the stack rule for every other resource:
    the update run sees the known values and checks it then."""
    for resource in resources:
        try:
            yield from list(check(resource))
        except UnknownValueError:
            continue


def tls_policy_findings(
    args: StackValidationArgs,
    *,
    resource_type: str,
    policy_type: str,
    link: str,
    all_actions: frozenset[str],
    kind: str,
) -> StackFindings:
    """Each ``resource_type`` needs an ``aws:SecureTransport=false`` Deny either in its own
    ``policy`` input or in a ``policy_type`` resource whose ``link`` input points at it."""
    policies = of_types(args, policy_type)

    def check(resource: PolicyResource) -> StackFindings:
        documents = [get(resource.props, "policy")]
        documents += [get(p.props, "policy") for p in linked(resource, policies, link)]
        if not any(denies_insecure_transport(d, all_actions) for d in documents):
            yield (
                f"{kind} '{resource.name}' has no policy denying requests with "
                "aws:SecureTransport=false.",
                resource.urn,
            )

    yield from each(of_types(args, resource_type), check)
