"""The project template's output, held two ways.

- Golden outputs: the representative projects of scripts/golden.py, rendered with their fixed
  answers and seed, must give exactly the files of tests/golden/ (a template change shows up in
  review as a change there; regenerate with `make golden` when it is intended).
- Every cloud x pattern x CI combination the template can scaffold renders (cookiecutter's
  StrictUndefined: a value the context lacks fails the render) and leaves no template syntax
  behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jinja2 import StrictUndefined

from components.bootstrap import CiSystem
from components.registry import is_available, project_clouds
from components.spec import Cloud, Pattern
from scripts.golden import (
    PROJECTS,
    REGENERATE,
    compare,
    golden_answers,
    golden_snapshot,
    render,
    rendered_files,
    snapshot,
    template_sources,
)
from templates.answers import example_answers
from templates.generator import TEMPLATE_DIR, plan_project, template_context
from templates.jinja_filters import EXTENSIONS


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_the_representative_projects_render_their_golden_files(tmp_path: Path, name: str) -> None:
    render(golden_answers(name), tmp_path / name)
    problems = compare(golden_snapshot(name), snapshot(name, tmp_path / name, template_sources()))
    assert not problems, (
        f"{name} no longer renders tests/golden/{name}:\n{problems}\n"
        f"If the change is intended, regenerate (and review the diff): {REGENERATE}"
    )


def test_the_representative_projects_cover_every_cloud_pattern_and_ci() -> None:
    answers = [golden_answers(name) for name in PROJECTS]
    assert {a.cloud for a in answers} == set(project_clouds())
    assert {a.pattern for a in answers} == set(Pattern)
    assert {a.ci for a in answers} == set(CiSystem)


def test_the_template_renders_with_strict_undefined() -> None:
    """What makes a render below fail on a value the context lacks, instead of writing ""."""
    from cookiecutter.environment import StrictEnvironment

    assert StrictEnvironment(context={"cookiecutter": {}}).undefined is StrictUndefined


def test_cookiecutter_json_names_only_keys_the_context_gives() -> None:
    """cookiecutter.json documents the context: no key the generator no longer gives, and the
    same Jinja extensions (the to_yaml filter) as the context cookiecutter renders with."""
    declared = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    context = template_context(plan_project(golden_answers(next(iter(PROJECTS)))))["cookiecutter"]
    assert set(declared) - {"_comment"} <= set(context)
    assert declared["_extensions"] == context["_extensions"] == list(EXTENSIONS)


COMBINATIONS = [
    (cloud, pattern, ci)
    for cloud in project_clouds()
    for pattern in Pattern
    if is_available(cloud, pattern)
    for ci in CiSystem
]
# Template syntax a rendered file may hold on purpose: GitHub Actions expressions (${{ ... }})
# and docker's Go templates (--format '{{index .RepoDigests 0}}').
_INTENDED = re.compile(r"\$\{\{.*?\}\}|\{\{(?:index |\.)[^}]*\}\}")
_LEFTOVER = re.compile(r"\{\{|\{%|cookiecutter\.")


@pytest.mark.parametrize(
    ("cloud", "pattern", "ci"),
    COMBINATIONS,
    ids=[f"{c.value}-{p.value}-{ci.value}" for c, p, ci in COMBINATIONS],
)
def test_every_combination_renders_without_template_leftovers(
    tmp_path: Path, cloud: Cloud, pattern: Pattern, ci: CiSystem
) -> None:
    render(example_answers(cloud, pattern, ci=ci), tmp_path / "p")
    leftovers = []
    for rel, content in rendered_files(tmp_path / "p").items():
        for number, line in enumerate(content.decode(errors="replace").splitlines(), 1):
            if _LEFTOVER.search(_INTENDED.sub("", line)):
                leftovers.append(f"{rel}:{number}: {line.strip()}")
    assert not leftovers, "template syntax left in the rendered files:\n" + "\n".join(leftovers)
