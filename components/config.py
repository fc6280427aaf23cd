"""Read a DeploymentSpec from a stack's Pulumi config (used by every generated __main__.py)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.spec import CONFIG_SECTIONS, DeploymentSpec, spec_from_config

# Sections stored as plain strings in the stack file; the rest are structured objects.
SCALAR_SECTIONS = frozenset({"cloud", "pattern", "environment", "region", "owner", "suffix"})


def spec_from_stack_config(config: pulumi.Config, project: str) -> DeploymentSpec:
    """The validated spec for the current stack; a clear error names every bad key."""
    values: dict[str, Any] = {}
    for key in CONFIG_SECTIONS:
        value = config.get(key) if key in SCALAR_SECTIONS else config.get_object(key)
        if value is not None:
            values[key] = value
    return spec_from_config(project, values)
