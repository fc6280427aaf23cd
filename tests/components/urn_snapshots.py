"""URN snapshots of every built pattern stack: the guard for carving components into blocks.

A resource whose URN changes is, to Pulumi, a new resource and a deleted one: a bucket, a key or
a database replaced under a client's live stack. Before the pattern components are recomposed
from shared blocks (issue "embedded pattern", step 1), the URNs of every cloud x pattern x
environment stack are recorded here; a refactor keeps each recorded URN, either unchanged or as
an alias of the resource that now stands in its place.

Regenerate after an intended change (new resources, or a move with aliases), and review the
diff: ``python -m tests.components.urn_snapshots --write``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from components.registry import REGISTRY
from components.spec import Cloud, Environment, Pattern
from offline.capture import CapturedResource

SNAPSHOT_DIR = Path(__file__).resolve().parent / "data" / "urns"
_ROOT_TYPE = "pulumi:pulumi:Stack"


def built() -> list[tuple[Cloud, Pattern]]:
    """The cloud x pattern pairs with a component (planned ones have nothing to keep)."""
    return sorted(
        ((c, p) for (c, p), entry in REGISTRY.items() if not entry.planned),
        key=lambda cp: (cp[0].value, cp[1].value),
    )


def cases() -> list[tuple[Cloud, Pattern, Environment]]:
    """Every stack a generated project holds: built pair x environment."""
    return [(c, p, e) for c, p in built() for e in Environment]


def snapshot_path(cloud: Cloud, pattern: Pattern, environment: Environment) -> Path:
    return SNAPSHOT_DIR / f"{cloud.value}-{pattern.value}-{environment.value}.txt"


def _qualified_type(urn: str) -> str:
    """The ``parent$child`` type chain of a URN (its third ``::`` field)."""
    return urn.split("::")[2]


def alias_urns(resource: CapturedResource) -> Iterator[str]:
    """The URNs a resource answers to besides its own: aliases given as URNs, and alias specs
    (name, type, parent) resolved the way the engine resolves them."""
    request = resource.request
    if request is None:
        return
    yield from request.aliasURNs
    stack, project = resource.urn.split("::")[0].split(":")[2], resource.urn.split("::")[1]
    for alias in request.aliases:
        if alias.urn:
            yield alias.urn
            continue
        spec = alias.spec
        name = spec.name or resource.name
        type_ = spec.type or resource.type
        # The mocks' form, as every recorded URN (see render): a top-level resource (no parent)
        # carries the root stack's type.
        parent = "" if spec.noParent else (spec.parentUrn or resource.parent)
        parent_type = _qualified_type(parent) if parent else _ROOT_TYPE
        type_ = f"{parent_type}${type_}"
        yield f"urn:pulumi:{spec.stack or stack}::{spec.project or project}::{type_}::{name}"


def capture_urns(
    cloud: Cloud, pattern: Pattern, environment: Environment
) -> list[CapturedResource]:
    """The resources the generated stack registers, under mocks."""
    from tests.conftest import make_spec, run_component

    return run_component(make_spec(cloud, pattern, environment)).resources


def render(resources: Iterable[CapturedResource]) -> str:
    """The snapshot file: one URN per line, sorted (stable diffs). URNs are in the mocks' form,
    where top-level resources carry the root stack's type (``pulumi:pulumi:Stack$...``) that
    the engine omits; records and captures share the form, so they compare exactly."""
    return "".join(f"{urn}\n" for urn in sorted({r.urn for r in resources}))


def compare(recorded: set[str], resources: list[CapturedResource]) -> tuple[list[str], list[str]]:
    """(recorded URNs no resource keeps, current URNs the snapshot does not know)."""
    current = {r.urn for r in resources}
    kept = current | {a for r in resources for a in alias_urns(r)}
    lost = sorted(recorded - kept)
    moved_from = {r.urn for r in resources if recorded & set(alias_urns(r))}
    new = sorted(current - recorded - moved_from)
    return lost, new


def main(argv: list[str] | None = None) -> int:
    """``--write`` records every stack's URNs; without it, lists stacks out of step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the current URNs")
    args = parser.parse_args(argv)
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    stale = 0
    for cloud, pattern, environment in cases():
        path = snapshot_path(cloud, pattern, environment)
        text = render(capture_urns(cloud, pattern, environment))
        if args.write:
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale += 1
            print(f"out of step: {path.name}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
