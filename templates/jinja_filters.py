"""Jinja filters of the project template: Python hands the templates values, the templates write
the files, and a value becomes YAML only through these filters, never by string pasting.

Cookiecutter loads :class:`YamlExtension` from the ``_extensions`` entry of the context
(templates/client-project/cookiecutter.json lists it, and ``template_context`` passes it on);
partials rendered outside cookiecutter get it the same way (``templates.generator``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from jinja2 import Environment
from jinja2.ext import Extension

# The import paths cookiecutter loads (``_extensions``): the one place they are named in Python.
EXTENSIONS: tuple[str, ...] = (f"{__name__}.YamlExtension",)

_ONE_LINE = float("inf")  # PyYAML's width: never fold a scalar over lines


def _plain(value: Any) -> Any:
    """``value`` with every mapping a dict and every sequence a list: the types PyYAML's safe
    dumper writes (a context may hold tuples, or mappings of another kind)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


def to_yaml(value: Any, width: int = 80) -> str:
    """``value`` as YAML, without a final newline.

    A mapping or list is a block (keys in their order, lines folded at ``width`` as PyYAML
    folds them): the template writes it at the start of a line. Anything else is one scalar on
    one line, quoted wherever YAML would otherwise read it as something else (``yes``,
    ``123``, ``: x``, ``#``...), with line breaks escaped: whatever the text, it stays the one
    value of the key the template puts it after and cannot add keys or documents.
    """
    value = _plain(value)
    if isinstance(value, (dict, list)):
        text: str = yaml.safe_dump(value, sort_keys=False, width=width)
        return text.removesuffix("\n")
    text = yaml.safe_dump(value, width=_ONE_LINE)
    # A plain scalar at the top of a document ends it with "..." on a line of its own.
    text = text.removesuffix("\n...\n").removesuffix("\n")
    if "\n" in text:  # a multi-line string: double quotes keep it on one line, breaks escaped
        text = yaml.safe_dump(value, width=_ONE_LINE, default_style='"')
        text = text.removesuffix("\n")
    return text


class YamlExtension(Extension):
    """Adds the ``to_yaml`` filter to the environment that renders the project template."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["to_yaml"] = to_yaml
