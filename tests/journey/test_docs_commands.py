"""The generated docs name only things that exist: a newcomer who follows them succeeds.

For every cloud x pattern, generate a project and read its README, bootstrap/README.md and
docs/*.md like a client would: every `python -m MODULE` is a module of the project, every path
a command or the prose names is a file or folder of the project, every `--stack` and `pulumi
stack init` names a stack that has a stack file (or a bootstrap stack, after `cd bootstrap`),
every policy config a command passes exists, and every stack is created with a secrets provider
(review #8: the README once created stacks with the passphrase provider that CI cannot use).
"""

from __future__ import annotations

import json
import random
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.registry import REGISTRY, scaffolded
from components.spec import Cloud, Pattern
from templates.generator import generate
from tests.conftest import sample_answers

STDLIB = frozenset(sys.stdlib_module_names)
CELLS = [(c, p) for (c, p) in sorted(REGISTRY) if scaffolded(c, p)]
DOCS = ("README.md", "bootstrap/README.md", "docs/*.md", "docs/runbooks/*.md", "model/README.md")
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# A relative path in prose: folders and a file, no spaces, no placeholders.
PATH_LIKE = re.compile(r"^(?:\./)?[\w.-]+(?:/[\w.{},-]+)+/?$")
# Paths a doc may name that a project creates later, or that belong to the CI host.
FILE_SUFFIX = re.compile(r"\.(md|py|ya?ml|json|txt|toml|cfg)$")
# ... and `releases/...`: objects of an embedded project's release channel, not project files.
CREATED_LATER = (
    ".state", "bootstrap-", ".venv", "policy-results", "outputs.json", ".pulumi/", "releases/",
)  # fmt: skip
EXTERNAL_ROOTS = ("s3:", "gs:", "azblob:", "https:", "http:", "arn:", ".github/actions")


@dataclass(frozen=True)
class Command:
    """One shell command of a doc, with the folder it runs in (relative to the project)."""

    doc: str
    folder: str
    argv: tuple[str, ...]


def _expand(path: str) -> list[str]:
    """``stacks/Pulumi.{dev,staging,prod}.yaml`` -> the three paths."""
    match = re.search(r"\{([^{}]+)\}", path)
    if not match:
        return [path]
    return [
        p
        for option in match.group(1).split(",")
        for p in _expand(path[: match.start()] + option + path[match.end() :])
    ]


def _docs(project: Path) -> Iterator[Path]:
    for pattern in DOCS:
        yield from sorted(project.glob(pattern))


def _commands(project: Path, doc: Path) -> Iterator[Command]:
    text = doc.read_text()
    rel = str(doc.relative_to(project))
    for block in FENCE.findall(text):
        folder = "."
        joined = re.sub(r"\\\n\s*", " ", block)  # continuation lines
        for line in joined.splitlines():
            line = line.split(" # ")[0].strip()
            if not line or line.startswith(("#", "{", '"', "|")):
                continue
            try:
                argv = tuple(shlex.split(line))
            except ValueError:
                continue
            if argv[:1] == ("cd",) and len(argv) == 2:
                folder = argv[1]
                continue
            yield Command(rel, folder, argv)


def _stack_names(folder: Path) -> set[str]:
    return {
        p.name[len("Pulumi.") : -len(".yaml")] for p in (folder / "stacks").glob("Pulumi.*.yaml")
    }


def _problems(project: Path) -> list[str]:
    problems: list[str] = []
    repo = json.loads((project / ".aideploy.json").read_text())["answers"]["repo"]
    top_level = {p.name for p in project.iterdir()} | {"bootstrap", "model", "docs"}
    for doc in _docs(project):
        for command in _commands(project, doc):
            where = project / command.folder
            argv = command.argv
            stacks = _stack_names(where)
            if argv[:2] == ("python", "-m") and len(argv) > 2 and argv[2] not in STDLIB:
                module = where / Path(*argv[2].split("."))
                if not (module.with_suffix(".py").is_file() or (module / "__main__.py").is_file()):
                    problems.append(f"{command.doc}: no module {argv[2]} in {command.folder}")
            for i, arg in enumerate(argv):
                value = argv[i + 1] if i + 1 < len(argv) else ""
                literal = value and not re.search(r"[<>$*]", value)
                if arg == "--stack" and literal and value not in stacks:
                    problems.append(f"{command.doc}: --stack {value}: no such stack")
                # (`vault write -f` forces a write without data: not a file)
                named_file = arg in ("--policy-pack-config", "--policy-pack") or (
                    arg == "-f" and argv[0] != "vault"
                )
                if named_file and literal and not (where / value).exists():
                    problems.append(f"{command.doc}: {arg} {value} does not exist")
            if argv[:3] == ("pulumi", "stack", "init") and len(argv) > 3:
                if not re.search(r"[<>$]", argv[3]) and argv[3] not in stacks:
                    problems.append(f"{command.doc}: pulumi stack init {argv[3]}: no stack file")
                if "--secrets-provider" not in argv:
                    problems.append(f"{command.doc}: `{' '.join(argv)}` has no --secrets-provider")
            if argv[:1] == ("pytest",):
                for arg in argv[1:]:
                    if "/" in arg and not (where / arg).exists():
                        problems.append(f"{command.doc}: pytest {arg} does not exist")
            if argv[:2] == ("docker", "build") and not (where / argv[-1]).is_dir():
                problems.append(f"{command.doc}: docker build context {argv[-1]} is not a folder")
        # Paths named in prose (inline code): files and folders of the project.
        text = FENCE.sub("", doc.read_text())
        for span in INLINE.findall(text):
            token = span.strip()
            if not PATH_LIKE.fullmatch(token) or token.startswith(EXTERNAL_ROOTS):
                continue
            # the CI repository (OWNER/NAME) and image references (a registry host first)
            if token == repo or "." in token.split("/")[0].lstrip("."):
                continue
            # Only the project's own namespace: a top-level entry of the project, or a file
            # name; `linux/amd64` or a metric namespace is not a path.
            first = token.removeprefix("./").split("/")[0]
            if first not in top_level and not FILE_SUFFIX.search(token):
                continue
            if any(part in token for part in CREATED_LATER) or "<" in token:
                continue
            for path in _expand(token):
                base = doc.parent if path.startswith("./") else project
                if not (base / path).exists() and not (doc.parent / path).exists():
                    problems.append(f"{doc.relative_to(project)}: names {path}, which is missing")
    return problems


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[Cloud, Pattern], Path]:
    root = tmp_path_factory.mktemp("docs")
    out = {}
    for cloud, pattern in CELLS:
        answers = sample_answers(cloud, pattern)
        target = root / f"{cloud.value}-{pattern.value}"
        out[(cloud, pattern)] = generate(answers, target, rng=random.Random(7)).path
    return out


@pytest.mark.parametrize(
    ("cloud", "pattern"), CELLS, ids=[f"{c.value}-{p.value}" for c, p in CELLS]
)
def test_every_command_and_path_the_docs_name_exists(
    projects: dict[tuple[Cloud, Pattern], Path], cloud: Cloud, pattern: Pattern
) -> None:
    project = projects[(cloud, pattern)]
    assert _problems(project) == []


def test_the_check_catches_a_doc_that_names_what_does_not_exist(
    projects: dict[tuple[Cloud, Pattern], Path],
) -> None:
    project = projects[CELLS[0]]
    readme = project / "README.md"
    original = readme.read_text()
    try:
        readme.write_text(
            original
            + "\n```\npython -m ci.nothing\npulumi stack init qa\n"
            + "pulumi preview --stack qa --policy-pack-config policies/config/qa.json\n```\n"
            + "See `docs/runbooks/missing.md`.\n"
        )
        problems = _problems(project)
    finally:
        readme.write_text(original)
    assert any("no module ci.nothing" in p for p in problems)
    assert any("pulumi stack init qa: no stack file" in p for p in problems)
    assert any("has no --secrets-provider" in p for p in problems)
    assert any("--stack qa: no such stack" in p for p in problems)
    assert any("policies/config/qa.json does not exist" in p for p in problems)
    assert any("docs/runbooks/missing.md" in p for p in problems)
