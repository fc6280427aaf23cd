"""Promotion: a release moves from one stack to the next as the next stack's candidate.

``plan_promotion`` writes the source's newest release (its candidate, else its stable version)
into the target as ``rollout.candidate_*``: it takes a canary share under the target's rollback
alarms while the target's stable version keeps serving. ``plan_graduation`` (``--graduate``)
then makes the candidate the stable version, once it has passed the target's watch.
``plan_release`` records a new release (by digest) in the first stack, dev.

``plan_promotion`` computes the new text of the target stack file and proves it safe before
anything is written:

* only the paths listed as ``promotable`` in stacks/parity.yaml change; every other key, the
  comments and the layout of the file stay as they were (ruamel.yaml round trip), and a second,
  independent parse checks that nothing else moved;
* parity between the two stacks must hold afterwards, by config and by the resources the program
  declares (run under mocks on a scratch copy of the project); otherwise the promotion is refused,
  because the stacks differ in more than what a promotion carries.

``apply_promotion`` writes the file atomically (temp file beside it + ``os.replace``) and only if
it still holds what was planned, so an error at any point leaves it untouched.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from offline.program import ProjectError, load_project, stack_file, stack_names
from stacks.parity_check import (
    check_parity,
    parity_rules,
    render,
    scratch_copy,
    stack_sections,
)
from stacks.profiles import flatten

_MISSING: Any = object()
# Releases move through the environments in this order, one promotion at a time.
PROMOTION_ORDER = ("dev", "staging", "prod")


class PromotionError(Exception):
    """The promotion is not safe: parity would still fail after it (a check result, exit 1)."""


@dataclass(frozen=True)
class PromotionPlan:
    """What promoting ``source`` into ``target`` would write."""

    path: Path
    source: str
    target: str
    before: str
    after: str
    changes: tuple[tuple[str, Any, Any], ...]  # (dotted path, old, new); _MISSING shown as None

    @property
    def changed(self) -> bool:
        """False when the target already holds the source's promotable settings."""
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff of the target stack file."""
        name = f"stacks/{self.path.name}"
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{name}",
                tofile=f"b/{name}",
            )
        )


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _round_trip() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap a long line the file already has
    return rt


def _section_key(config: CommentedMap, project: str, section: str) -> str:
    """The key a section has in this file: ``project:section`` unless the file uses it bare."""
    if section in config and f"{project}:{section}" not in config:
        return section
    return f"{project}:{section}"


def _set(config: CommentedMap, project: str, path: str, value: Any) -> None:
    first, *rest = path.split(".")
    key = _section_key(config, project, first)
    if not rest:
        config[key] = value
        return
    node = config.setdefault(key, CommentedMap())
    for part in rest[:-1]:
        if not isinstance(node.get(part), Mapping):
            node[part] = CommentedMap()
        node = node[part]
    node[rest[-1]] = value


def _remove(config: CommentedMap, project: str, path: str) -> None:
    first, *rest = path.split(".")
    key = _section_key(config, project, first)
    if not rest:
        config.pop(key, None)
        return
    chain = [config[key]]
    for part in rest[:-1]:
        chain.append(chain[-1][part])
    chain[-1].pop(rest[-1], None)
    # drop mappings the removal emptied, so no `rollout: {}` is left behind
    levels = list(zip([config, *chain[:-1]], chain, [key, *rest[:-1]], strict=True))
    for parent, node, part in reversed(levels):
        if node:
            break
        parent.pop(part, None)


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value


# What a promotion writes: the source's newest release becomes the target's candidate, so it
# takes a canary share under the target's rollback alarms before anyone calls it stable; the
# target's stable version keeps serving. ``--graduate`` later makes the candidate stable.
CANDIDATE_KEYS = ("rollout.candidate_version", "rollout.candidate_image")
RETRY_KEY = "rollout.retry_version"
STABLE_KEYS = ("model.version", "model.image")


def _newest(sections: Mapping[str, Any]) -> tuple[Any, Any]:
    """(version, image) of the newest release a stack holds: its candidate, else its stable."""
    version, image = (_get(sections, k) for k in CANDIDATE_KEYS)
    if version is _MISSING:
        version, image = (_get(sections, k) for k in STABLE_KEYS)
    return version, image


def _serves_candidates(sections: Mapping[str, Any]) -> bool:
    """Whether the stack's pattern splits traffic with a candidate (unknown pattern: yes)."""
    from components.spec import CANDIDATE_PATTERNS

    pattern = _get(sections, "pattern")
    return pattern is _MISSING or pattern in {p.value for p in CANDIDATE_PATTERNS}


def _candidate_settings(source: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The release keys the target must hold after promoting ``source`` into it.

    A pattern without a candidate split (event-driven) takes the release as its stable version.

    The target already serves the source's newest release as its stable version: no candidate.
    Otherwise that release is the target's candidate. A retry permission names exactly one
    candidate, so it is dropped whenever the candidate changes (a new release is no retry).
    """
    version, image = _newest(source)
    if not _serves_candidates(target):
        # No split to judge a candidate in: the release replaces the stable version.
        return {
            STABLE_KEYS[0]: version,
            STABLE_KEYS[1]: image,
            CANDIDATE_KEYS[0]: _MISSING,
            CANDIDATE_KEYS[1]: _MISSING,
            RETRY_KEY: _MISSING,
        }
    if (version, image) == tuple(_get(target, k) for k in STABLE_KEYS):
        return {CANDIDATE_KEYS[0]: _MISSING, CANDIDATE_KEYS[1]: _MISSING, RETRY_KEY: _MISSING}
    retry = _get(target, RETRY_KEY)
    return {
        CANDIDATE_KEYS[0]: version,
        CANDIDATE_KEYS[1]: image,
        RETRY_KEY: retry if retry == version else _MISSING,
    }


def plan_promotion(project_dir: Path, source: str, target: str) -> PromotionPlan:
    """The new text of ``target``'s stack file with ``source``'s newest release as its candidate.

    Raises ProjectError on bad input (unknown stack, malformed YAML, same stack twice) and
    PromotionError when parity would still fail after the promotion.
    """
    project_dir = project_dir.resolve()
    project = load_project(project_dir)["name"]
    if source == target:
        raise ProjectError(f"--from and --to name the same stack ({source!r})")
    order = [name for name in PROMOTION_ORDER if name in stack_names(project_dir)]
    if source in order and target in order and order.index(target) != order.index(source) + 1:
        raise ProjectError(
            f"promote one environment at a time ({' -> '.join(order)}): --from {source} "
            f"--to {target} would skip or reverse that order; nothing written"
        )
    rules = parity_rules(project_dir)
    src = stack_sections(project_dir, source)  # raises on a missing stack or malformed YAML
    old = stack_sections(project_dir, target)
    path = stack_file(project_dir, target)
    before = path.read_text(encoding="utf-8")

    rt = _round_trip()
    try:
        doc = rt.load(before)
    except RuamelYAMLError as exc:
        raise ProjectError(f"{path}: malformed YAML") from exc
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("config"), CommentedMap):
        raise ProjectError(f"{path}: expected a mapping with a 'config' mapping")
    config = doc["config"]

    changes: list[tuple[str, Any, Any]] = []
    for key, new_value in _candidate_settings(src, old).items():
        old_value = _get(old, key)
        if new_value == old_value:
            continue
        if new_value is _MISSING:
            _remove(config, project, key)
        else:
            _set(config, project, key, new_value)
        changes.append((key, _plain(old_value), _plain(new_value)))

    out = io.StringIO()
    rt.dump(doc, out)
    after = out.getvalue() if changes else before
    _assert_only_promotable_changed(before, after, path, rules.promotes)
    plan = PromotionPlan(path, source, target, before, after, tuple(changes))
    _refuse_unless_parity_holds(project_dir, plan)
    return plan


# A release is recorded by digest: a tag can be moved (or, with immutable tags, at least names
# nothing a reviewer can check), a digest names exactly the bytes CI built, tested and scanned.
DIGEST_REF_RE = re.compile(r"^[^@\s]+@sha256:[a-f0-9]{64}$")


def plan_release(
    project_dir: Path, target: str, image: str, version: str | None = None
) -> PromotionPlan:
    """The new text of ``target``'s stack file holding a new release: ``model.image`` (a digest
    reference CI recorded when it pushed the image) and, when given, ``model.version``.

    This is how a release enters the first environment (dev); ``plan_promotion`` then carries it
    to staging and prod. The new file must still make a valid spec (the registry rules of the
    cloud and pattern included); nothing else in it changes.
    """
    project_dir = project_dir.resolve()
    project = load_project(project_dir)["name"]
    if not DIGEST_REF_RE.fullmatch(image):
        raise ProjectError(
            f"--image {image!r}: give the pushed image by digest (REPOSITORY@sha256:...), as "
            "`docker inspect --format '{{index .RepoDigests 0}}' IMAGE` prints it"
        )
    rules = parity_rules(project_dir)
    old = stack_sections(project_dir, target)
    path = stack_file(project_dir, target)
    before = path.read_text(encoding="utf-8")
    rt = _round_trip()
    try:
        doc = rt.load(before)
    except RuamelYAMLError as exc:
        raise ProjectError(f"{path}: malformed YAML") from exc
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("config"), CommentedMap):
        raise ProjectError(f"{path}: expected a mapping with a 'config' mapping")
    wanted = {"model.image": image}
    if version is not None:
        wanted["model.version"] = version
    changes: list[tuple[str, Any, Any]] = []
    for key, value in wanted.items():
        current = _get(old, key)
        if current != value:
            _set(doc["config"], project, key, value)
            changes.append((key, _plain(current), value))
    out = io.StringIO()
    rt.dump(doc, out)
    after = out.getvalue() if changes else before
    _assert_only_promotable_changed(before, after, path, rules.promotes)
    _assert_valid_spec(project, after, path)
    return PromotionPlan(path, "release", target, before, after, tuple(changes))


def plan_graduation(project_dir: Path, target: str) -> PromotionPlan:
    """The new text of ``target``'s stack file with its candidate made its stable version.

    Run after the candidate has passed the target's watch (the pipeline prints the command):
    ``model.version``/``model.image`` take the candidate's values and the candidate (and any
    retry permission) goes, so the whole traffic moves to the release at the next deploy.
    """
    project_dir = project_dir.resolve()
    project = load_project(project_dir)["name"]
    rules = parity_rules(project_dir)
    old = stack_sections(project_dir, target)
    path = stack_file(project_dir, target)
    before = path.read_text(encoding="utf-8")
    version, image = (_get(old, k) for k in CANDIDATE_KEYS)
    if version is _MISSING:
        raise ProjectError(f"{target} has no candidate to graduate; nothing written")
    rt = _round_trip()
    try:
        doc = rt.load(before)
    except RuamelYAMLError as exc:
        raise ProjectError(f"{path}: malformed YAML") from exc
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("config"), CommentedMap):
        raise ProjectError(f"{path}: expected a mapping with a 'config' mapping")
    wanted: dict[str, Any] = {
        STABLE_KEYS[0]: version,
        STABLE_KEYS[1]: image,
        CANDIDATE_KEYS[0]: _MISSING,
        CANDIDATE_KEYS[1]: _MISSING,
        RETRY_KEY: _MISSING,
    }
    changes: list[tuple[str, Any, Any]] = []
    for key, value in wanted.items():
        current = _get(old, key)
        if current == value:
            continue
        if value is _MISSING:
            _remove(doc["config"], project, key)
        else:
            _set(doc["config"], project, key, value)
        changes.append((key, _plain(current), _plain(value)))
    out = io.StringIO()
    rt.dump(doc, out)
    after = out.getvalue()
    # The values were the candidate's, which the spec already held to the same rules.
    _assert_only_promotable_changed(before, after, path, rules.promotes)
    return PromotionPlan(path, "candidate", target, before, after, tuple(changes))


def _assert_valid_spec(project: str, text: str, path: Path) -> None:
    """The stack file still makes a valid spec (image registry, version format, ...)."""
    from components.spec import CONFIG_SECTIONS, describe_validation_error, spec_from_config

    config = (yaml.safe_load(text) or {}).get("config") or {}
    sections = {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if key.startswith(f"{project}:") and key.split(":", 1)[1] in CONFIG_SECTIONS
    }
    try:
        spec_from_config(project, sections)
    except ValueError as exc:
        raise ProjectError(f"{path}: {describe_validation_error(exc)}; nothing written") from exc


def _assert_only_promotable_changed(
    before: str, after: str, path: Path, promotes: Callable[[str], bool]
) -> None:
    """An independent parse: every non-promotable key must hold exactly what it held."""
    a = flatten((yaml.safe_load(before) or {}).get("config") or {})
    b = flatten((yaml.safe_load(after) or {}).get("config") or {})
    touched = sorted(
        k
        for k in set(a) | set(b)
        if a.get(k, _MISSING) != b.get(k, _MISSING) and not promotes(k.split(":", 1)[-1])
    )
    if touched:
        raise ProjectError(f"{path}: promotion would change {', '.join(touched)}; nothing written")


def _refuse_unless_parity_holds(project_dir: Path, plan: PromotionPlan) -> None:
    """Run the full parity check on a scratch copy holding the promoted target file."""
    with tempfile.TemporaryDirectory(prefix="aideploy-promote-") as scratch:
        copy = scratch_copy(project_dir, Path(scratch))
        stack_file(copy, plan.target).write_text(plan.after, encoding="utf-8")
        report = check_parity(copy, (plan.source, plan.target))
    if not report.ok:
        raise PromotionError(
            f"refusing to promote {plan.source} -> {plan.target}: the stacks differ beyond the "
            "promotable settings and the declared differences; nothing written\n"
            + render(report, "text")
        )


def apply_promotion(plan: PromotionPlan) -> None:
    """Write the planned file atomically, only if it still holds what the plan was made from."""
    current = plan.path.read_text(encoding="utf-8")
    if current != plan.before:
        raise ProjectError(f"{plan.path} changed since the promotion was planned; nothing written")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{plan.path.name}.", dir=plan.path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(plan.after)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(plan.path, tmp)
        os.replace(tmp, plan.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m stacks.promote``: the same as ``aideploy promote``, inside a project.

        python -m stacks.promote --image REPO@sha256:... [--version V] --to dev --yes
        python -m stacks.promote --from staging --to prod --yes   # lands as prod's candidate
        python -m stacks.promote --graduate --to prod --yes       # the candidate becomes stable

    Prints the diff; writes only with --yes. Exit 0 written (or nothing to do), 1 refused
    (parity would not hold), 2 bad input.
    """
    parser = argparse.ArgumentParser(prog="python -m stacks.promote", description=main.__doc__)
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder")
    parser.add_argument("--from", dest="source", help="the stack to promote from")
    parser.add_argument("--to", dest="target", required=True, help="the stack to write")
    parser.add_argument("--image", help="a new release's image by digest (REPO@sha256:...)")
    parser.add_argument("--version", help="the new release's model version (with --image)")
    parser.add_argument(
        "--graduate", action="store_true", help="make the target's candidate its stable version"
    )
    parser.add_argument("--yes", action="store_true", help="write the file")
    args = parser.parse_args(argv)
    try:
        modes = [args.image is not None, args.source is not None, args.graduate]
        if sum(modes) != 1:
            raise ProjectError("give one of --from STACK, --image REPO@sha256:... or --graduate")
        if args.version is not None and args.image is None:
            raise ProjectError("--version goes with --image")
        if args.image is not None:
            plan = plan_release(args.project, args.target, args.image, args.version)
        elif args.graduate:
            plan = plan_graduation(args.project, args.target)
        else:
            plan = plan_promotion(args.project, args.source, args.target)
        if not plan.changed:
            print(f"{args.target} already holds it; nothing to write")
            return 0
        print(plan.diff(), end="")
        if not args.yes:
            print("not written: pass --yes to write", file=sys.stderr)
            return 0
        apply_promotion(plan)
    except PromotionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ProjectError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {plan.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
