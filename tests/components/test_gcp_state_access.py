"""Who may touch which objects of a GCP project's state bucket, read back from the bootstrap.

Each identity's state access is a bucket IAM grant whose condition is a CEL expression over the
object's resource name. The tests parse those expressions (a small parser of the CEL subset IAM
conditions use here, so a malformed expression fails here rather than at `setIamPolicy`),
recover the object-name prefixes each grant allows, and hold them to Pulumi's DIY layout in
components/bootstrap.py: a deployer gets every kind of its own stack's objects, a previewer
reads its stacks' checkpoints and history and writes nothing, and no identity reaches another
stack's objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from components.bootstrap import (
    DEPLOYERS,
    IDENTITY_STACKS,
    PREVIEW_STATE_KINDS,
    READ_ONLY_ROLES,
    STATE_READ_ONLY_PATHS,
    BootstrapSpec,
    IdentityRole,
)
from components.bootstrap import state_object_prefixes as layout
from components.spec import Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.components.test_gcp_bootstrap import CASES, _bootstrap, bootstrap_specs, member_of
from tests.conftest import of_type

# IAM Conditions: an expression holds at most 12 logical operators (&&, ||, !).
MAX_LOGICAL_OPERATORS = 12
# The predefined roles that write objects: none of them may reach a previewer on the state.
WRITING_ROLES = frozenset(
    {
        "roles/storage.objectUser",
        "roles/storage.objectCreator",
        "roles/storage.objectAdmin",
        "roles/storage.admin",
        "roles/storage.legacyBucketWriter",
        "roles/storage.legacyBucketOwner",
        "roles/storage.legacyObjectOwner",
    }
)


# --- a parser of the CEL subset the conditions use ----------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"[^"\\]*"|'[^'\\]*')|(?P<op>&&|\|\||==|!=|!)"""
    r"""|(?P<punct>[().,\[\]])|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"""
)


@dataclass(frozen=True)
class Comparison:
    """``<attribute> == "..."``, ``!= "..."`` or ``<attribute>.startsWith("...")``."""

    attribute: str
    operator: str  # "==", "!=", "startsWith"
    value: str


@dataclass
class Parsed:
    """What an expression says: its comparisons on attributes and its logical operators."""

    comparisons: list[Comparison]
    logical_operators: int


class CelError(ValueError):
    """The expression is not valid in the CEL subset IAM conditions use here."""


class _Parser:
    """Recursive descent over: or := and ('||' and)*; and := unary ('&&' unary)*;
    unary := '!' unary | term; term := '(' or ')' | operand (('=='|'!=') operand)?;
    operand := literal | path ('(' args ')' ('.' ident '(' args ')')*)?."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise CelError(f"unexpected text at {position}: {text[position : position + 20]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0
        self.parsed = Parsed([], 0)

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token_kind, token = self.peek()
        if (value is not None and token != value) or (kind is not None and token_kind != kind):
            raise CelError(f"expected {value or kind}, found {token!r}")
        self.at += 1
        return token

    def parse(self) -> Parsed:
        self.disjunction()
        if self.peek()[0] != "end":
            raise CelError(f"trailing {self.peek()[1]!r}")
        return self.parsed

    def disjunction(self) -> None:
        self.conjunction()
        while self.peek()[1] == "||":
            self.take("||")
            self.parsed.logical_operators += 1
            self.conjunction()

    def conjunction(self) -> None:
        self.unary()
        while self.peek()[1] == "&&":
            self.take("&&")
            self.parsed.logical_operators += 1
            self.unary()

    def unary(self) -> None:
        if self.peek()[1] == "!":
            self.take("!")
            self.parsed.logical_operators += 1
            self.unary()
            return
        self.term()

    def term(self) -> None:
        if self.peek()[1] == "(":
            self.take("(")
            self.disjunction()
            self.take(")")
            return
        left = self.operand()
        if self.peek()[1] in ("==", "!="):
            operator = self.take()
            right = self.operand()
            if not (isinstance(left, str) and left.startswith("@") and isinstance(right, tuple)):
                raise CelError("compare an attribute with a string literal")
            self.parsed.comparisons.append(Comparison(left[1:], operator, right[1]))

    def operand(self) -> Any:
        kind, token = self.peek()
        if kind == "string":
            self.take()
            return ("literal", token[1:-1])
        if token == "[":
            self.take("[")
            while self.peek()[1] != "]":
                self.operand()
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return ("list", "")
        path = [self.take(kind="ident")]
        while self.peek()[1] == ".":
            self.take(".")
            path.append(self.take(kind="ident"))
            if self.peek()[1] == "(":
                args = self.arguments()
                receiver, method = ".".join(path[:-1]), path[-1]
                if method == "startsWith":
                    if len(args) != 1 or args[0][0] != "literal":
                        raise CelError("startsWith takes one string")
                    self.parsed.comparisons.append(Comparison(receiver, method, args[0][1]))
                elif method not in ("getAttribute", "hasOnly"):
                    raise CelError(f"unknown function {method}")
                path = [f"{receiver}.{method}()"]
        return "@" + ".".join(path)

    def arguments(self) -> list[Any]:
        self.take("(")
        args = []
        while self.peek()[1] != ")":
            args.append(self.operand())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return args


def parse(expression: str) -> Parsed:
    """Parse ``expression`` (raises :class:`CelError` when it is not valid)."""
    return _Parser(expression).parse()


def test_the_parser_refuses_what_iam_refuses() -> None:
    ok = 'resource.name == "projects/_/buckets/b" || resource.name.startsWith("projects/_/b/x/")'
    assert parse(ok).logical_operators == 1
    for bad in (
        'resource.name == "projects/_/buckets/b" ||',  # dangling operator
        'resource.name.startsWith("a"',  # unclosed call
        'resource.name = "a"',  # not an operator
        'resource.name.beginsWith("a")',  # no such function
        'resource.name == "a" || resource.name.startsWith(prefix)',  # not a literal
    ):
        with pytest.raises(CelError):
            parse(bad)


# --- the grants ----------------------------------------------------------------------------------
def state_grants(cap: Capture, member: str) -> list[CapturedResource]:
    """The state bucket grants of one member (every bucket grant is on the state bucket)."""
    return [
        g
        for g in of_type(cap.resources, "gcp:storage/bucketIAMMember:BucketIAMMember")
        if g.inputs["member"] == member
    ]


def object_prefixes(spec: BootstrapSpec, grant: CapturedResource) -> tuple[set[str], set[str]]:
    """``(exact object names, object-name prefixes)`` a grant's condition allows, checked to be
    valid CEL naming only this bucket, in the resource-name form Cloud Storage uses."""
    parsed = parse(grant.inputs["condition"]["expression"])
    assert parsed.logical_operators <= MAX_LOGICAL_OPERATORS
    bucket = f"projects/_/buckets/{spec.state_name}"
    exact: set[str] = set()
    prefixes: set[str] = set()
    for c in parsed.comparisons:
        assert c.attribute == "resource.name"
        if c.operator == "==" and c.value == bucket:
            continue  # storage.objects.list is checked on the bucket
        assert c.value.startswith(f"{bucket}/objects/"), c.value
        name = c.value.removeprefix(f"{bucket}/objects/")
        {"==": exact, "startsWith": prefixes}[c.operator].add(name)
    return exact, prefixes


def expected(spec: BootstrapSpec, identity: IdentityRole) -> set[str]:
    """The prefixes of the neutral layout this identity's stacks in this project give it."""
    envs = [e for e in IDENTITY_STACKS[identity] if e in spec.environments]
    kinds = PREVIEW_STATE_KINDS if identity in READ_ONLY_ROLES else None
    return {
        prefix
        for e in envs
        for kind, prefix in layout(spec.project, e.value).items()
        if kinds is None or kind in kinds
    }


def _cases() -> list[tuple[BootstrapSpec, Capture]]:
    return [
        (spec, cap)
        for pattern, split in CASES
        # State access is the same for every pattern; embedded's bootstrap has grants of its
        # own (a signer's on itself), so its conditions are checked too.
        if pattern in (Pattern.API_FIRST, Pattern.EMBEDDED)
        for spec, cap in zip(
            bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True
        )
    ]


def test_state_grants_are_the_neutral_layout_of_exactly_each_identitys_stacks() -> None:
    for spec, cap in _cases():
        for identity in (r for r in spec.identities if r is not IdentityRole.PUBLISH):
            grants = state_grants(cap, member_of(cap, f"-ci-{identity.value}"))
            role = (
                "roles/storage.objectViewer"
                if identity in READ_ONLY_ROLES
                else "roles/storage.objectUser"
            )
            assert [g.inputs["role"] for g in grants] == [role], (spec.stack, identity)
            exact, prefixes = object_prefixes(spec, grants[0])
            assert exact == set(STATE_READ_ONLY_PATHS)
            assert prefixes == expected(spec, identity), (spec.stack, identity)
            # No other stack's objects: none of its prefixes is another stack's.
            others = [e for e in Environment if e not in IDENTITY_STACKS[identity]]
            foreign = {p for e in others for p in layout(spec.project, e.value).values()}
            assert prefixes.isdisjoint(foreign), (spec.stack, identity)


def test_previewers_write_no_state_object_and_read_no_lock() -> None:
    for spec, cap in _cases():
        for identity in (r for r in spec.identities if r in READ_ONLY_ROLES):
            grants = state_grants(cap, member_of(cap, f"-ci-{identity.value}"))
            assert grants and not {g.inputs["role"] for g in grants} & WRITING_ROLES
            for grant in grants:
                _, prefixes = object_prefixes(spec, grant)
                assert not any(p.startswith(".pulumi/locks/") for p in prefixes)


def test_a_deployers_locks_are_where_pulumi_puts_them() -> None:
    # lock.go: .pulumi/locks/<organization/project/stack>/<id>.json, organization "organization".
    for spec, cap in _cases():
        for env in spec.environments:
            grants = state_grants(cap, member_of(cap, f"-ci-{DEPLOYERS[env].value}"))
            _, prefixes = object_prefixes(spec, grants[0])
            lock = f".pulumi/locks/organization/{spec.project}/{env.value}/5f0c6c2e.json"
            assert any(lock.startswith(p) for p in prefixes), (spec.stack, env)


def test_every_iam_condition_of_the_bootstrap_is_valid_cel_within_iams_limits() -> None:
    for spec, cap in _cases():
        conditioned = [
            r for r in cap.resources if (r.inputs.get("condition") or {}).get("expression")
        ]
        assert conditioned
        for grant in conditioned:
            parsed = parse(grant.inputs["condition"]["expression"])
            assert parsed.logical_operators <= MAX_LOGICAL_OPERATORS, grant.name
            for c in parsed.comparisons:
                if c.attribute == "resource.name" and "/buckets/" in c.value:
                    # Cloud Storage's resource names: projects/_/buckets/<bucket>[/objects/...]
                    assert c.value.startswith(f"projects/_/buckets/{spec.state_name}"), c.value
