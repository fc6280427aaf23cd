"""`make golden`: the golden outputs of the project template (tests/golden/).

A representative set of projects (every cloud, every pattern and both CI systems appear at
least once) is rendered with fixed answers and a fixed seed, costs off. For each project
``<name>``, tests/golden/<name>.files.txt lists every file the template writes and
tests/golden/<name>/ holds the ones that are not the template file as it stands: a file rendered
to exactly its template source is marked ``=`` in the list instead of being copied a fifth time.
The project record (.aideploy.json) is kept without the hashes of vendored files.
The vendored code (components, the policy pack, the parity check, the shared vectors and docs)
is copied from this repository, held by its own tests, and left out. tests/generator/
test_golden.py renders the same projects and compares: a change to a template shows up in
review as a change to these files.

    .venv/bin/python scripts/golden.py           # regenerate tests/golden/
    .venv/bin/python scripts/golden.py --check   # compare, exit 1 with a diff on any change
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from components.llm import LlmMode
from components.spec import Cloud, Pattern
from templates.answers import Answers, example_answers
from templates.generator import TEMPLATE_DIR, generate
from templates.pipeline_context import PARITY_FILES

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
TEMPLATE_PROJECT = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
REGENERATE = ".venv/bin/python scripts/golden.py"
SEED = 15
RECORD = ".aideploy.json"

# name -> cloud, pattern and the answers that differ from templates.answers.example_answers.
# Each cloud, each pattern and each CI system appears at least once, and both LLM modes.
PROJECTS: dict[str, tuple[Cloud, Pattern, dict[str, Any]]] = {
    # a description a YAML or Markdown writer must quote and escape
    "aws-api-first-github": (
        Cloud.AWS,
        Pattern.API_FIRST,
        {"ci": "github", "llm": LlmMode.HOSTED, "description": 'Tickets: "triage" #1 [fast]'},
    ),
    "azure-event-driven-gitlab": (Cloud.AZURE, Pattern.EVENT_DRIVEN, {"ci": "gitlab"}),
    "gcp-managed-platform-github": (Cloud.GCP, Pattern.MANAGED_PLATFORM, {"ci": "github"}),
    "kubernetes-api-first-gitlab": (
        Cloud.KUBERNETES,
        Pattern.API_FIRST,
        {"ci": "gitlab", "llm": LlmMode.SELF_HOSTED},
    ),
    "aws-embedded-github": (Cloud.AWS, Pattern.EMBEDDED, {"ci": "github"}),
}

# What generate() copies from this repository rather than renders (templates/generator.py
# _vendor, templates/pipeline_context.py vendor_parity_check): a file copied there that is not
# listed here shows up as an "extra" golden file, and belongs here.
VENDORED_DIRS = ("components", "policies", "offline", "tests/vectors", "docs/patterns")
VENDORED_FILES = frozenset(
    {
        "docs/rules.md",
        "docs/template-changelog.md",
        *(f"stacks/{name}" for name in PARITY_FILES),
    }
)
_JINJA_TAG = re.compile(r"\{%.*?%\}")


def golden_answers(name: str) -> Answers:
    """The fixed answers of the representative project ``name``."""
    cloud, pattern, overrides = PROJECTS[name]
    return example_answers(cloud, pattern, **overrides)


def render(answers: Answers, target: Path) -> None:
    """``aideploy new`` for ``answers`` into ``target`` with the fixed seed, without costs."""
    # A fixed seed for reproducible name suffixes, not for anything secret.
    generate(answers, target, rng=random.Random(SEED), costs=False)  # noqa: S311


def is_vendored(rel: str) -> bool:
    """Whether the project file at ``rel`` (POSIX, relative) is copied code, not rendered."""
    path = PurePosixPath(rel)
    return rel in VENDORED_FILES or any(path.is_relative_to(d) for d in VENDORED_DIRS)


def rendered_files(root: Path) -> dict[str, bytes]:
    """Every non-vendored file under ``root``: relative POSIX path -> content."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not is_vendored(rel):
            files[rel] = path.read_bytes()
    return files


def template_sources() -> dict[str, bytes]:
    """Each project template file's source by the path it renders to (a conditional name,
    ``{% if ... %}guardrail.md{% endif %}``, by its name when it is written)."""
    sources = {}
    for path in TEMPLATE_PROJECT.rglob("*"):
        rel = path.relative_to(TEMPLATE_PROJECT).as_posix()
        if path.is_file():
            sources[_JINJA_TAG.sub("", rel)] = path.read_bytes()
    return sources


def snapshot(name: str, root: Path, sources: dict[str, bytes]) -> dict[str, bytes]:
    """The golden files of project ``name`` rendered at ``root``, by path under tests/golden/:
    the list of its files and every file that is not its template source as it stands."""
    files = rendered_files(root)
    if RECORD in files:
        files[RECORD] = _record_without_vendored(files[RECORD])
    verbatim = {rel for rel, content in files.items() if sources.get(rel) == content}
    listing = "".join(f"{'=' if rel in verbatim else ' '} {rel}\n" for rel in files)
    snap = {f"{name}.files.txt": listing.encode()}
    snap |= {f"{name}/{rel}": content for rel, content in files.items() if rel not in verbatim}
    return snap


def _record_without_vendored(content: bytes) -> bytes:
    """The project record (``.aideploy.json``) with the hashes of vendored files left out: they
    change with the vendored code, which the golden outputs do not hold."""
    record = json.loads(content)
    if isinstance(record.get("files"), dict):
        record["files"] = {k: v for k, v in record["files"].items() if not is_vendored(k)}
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


def golden_snapshot(name: str) -> dict[str, bytes]:
    """What tests/golden/ holds for project ``name`` (see :func:`snapshot`)."""
    snap = {}
    listing = GOLDEN_DIR / f"{name}.files.txt"
    if listing.is_file():
        snap[listing.name] = listing.read_bytes()
    for rel, content in rendered_files(GOLDEN_DIR / name).items():
        snap[f"{name}/{rel}"] = content
    return snap


def _diff(rel: str, expected: bytes, actual: bytes, max_lines: int) -> list[str]:
    lines = list(
        difflib.unified_diff(
            expected.decode(errors="replace").splitlines(),
            actual.decode(errors="replace").splitlines(),
            f"tests/golden/{rel}",
            f"rendered/{rel}",
            lineterm="",
        )
    )
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more diff lines)"]
    return lines


def compare(expected: dict[str, bytes], actual: dict[str, bytes], max_lines: int = 30) -> str:
    """What differs between golden files and a render ("" when nothing does): missing and
    extra files by name, changed files as a short unified diff."""
    report: list[str] = []
    for rel in sorted(expected.keys() - actual.keys()):
        report.append(f"missing: tests/golden/{rel} is not rendered (or is now its template)")
    for rel in sorted(actual.keys() - expected.keys()):
        report.append(f"extra: {rel} is rendered, not in tests/golden/")
    for rel in sorted(expected.keys() & actual.keys()):
        if expected[rel] != actual[rel]:
            report.extend(_diff(rel, expected[rel], actual[rel], max_lines))
    return "\n".join(report)


def main(argv: list[str] | None = None) -> int:
    """Regenerate tests/golden/ (default) or, with ``--check``, compare and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare; change nothing")
    args = parser.parse_args(argv)
    sources = template_sources()
    failed = False
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        snaps = {}
        for name in PROJECTS:
            render(golden_answers(name), Path(tmp) / name)
            snaps[name] = snapshot(name, Path(tmp) / name, sources)
    for name, snap in snaps.items():
        if args.check:
            problems = compare(golden_snapshot(name), snap)
            if problems:
                failed = True
                print(f"{name}: differs from tests/golden/\n{problems}\n")
            continue
        shutil.rmtree(GOLDEN_DIR / name, ignore_errors=True)
        for rel, content in snap.items():
            (GOLDEN_DIR / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN_DIR / rel).write_bytes(content)
    if args.check:
        print(
            f"the golden outputs are out of date; if the change is intended: {REGENERATE}"
            if failed
            else f"{len(PROJECTS)} projects match tests/golden/"
        )
        return 1 if failed else 0
    # A project no longer in PROJECTS leaves nothing behind.
    kept = {*PROJECTS, *(f"{name}.files.txt" for name in PROJECTS)}
    for stale in sorted(p for p in GOLDEN_DIR.iterdir() if p.name not in kept):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    total = sum(p.stat().st_size for p in GOLDEN_DIR.rglob("*") if p.is_file())
    print(f"wrote {len(PROJECTS)} projects to tests/golden/ ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
