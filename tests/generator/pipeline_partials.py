"""A cloud's pipeline partial (templates/client-project/templates/pipeline/) as the project's
templates include it: through the ``snippet`` macro, with the context of a sample project.

Tests that hold the generated files against a cloud's login, registry login, CLI install or
data-restore steps read those here, where the workflows read them.
"""

from __future__ import annotations

import functools

from jinja2 import Environment as Jinja
from jinja2 import FileSystemLoader, StrictUndefined

from components.spec import Cloud, Pattern
from templates.generator import TEMPLATE_DIR, template_context
from tests.conftest import sample_plan

_CALL = (
    '{% from "pipeline/snippets.j2" import snippet with context %}'
    "{{ snippet(name, deploy=deploy) }}"
)


@functools.cache
def pipeline_snippet(
    cloud: Cloud, name: str, *, deploy: bool = False, pattern: Pattern = Pattern.API_FIRST
) -> str:
    """``pipeline/<cloud>/<name>`` (else ``pipeline/default/<name>``) rendered for a sample
    project of ``cloud`` and ``pattern``, without indentation or its final newline."""
    jinja = Jinja(
        loader=FileSystemLoader(str(TEMPLATE_DIR / "templates")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell, YAML and Markdown, as cookiecutter renders them
    )
    context = template_context(sample_plan(cloud, pattern))
    return jinja.from_string(_CALL).render(**context, name=name, deploy=deploy)
