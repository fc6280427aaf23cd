"""Load a Pulumi Python project's stack config and run its program under mocks.

Reads Pulumi.yaml (honouring ``stackConfigDir`` and ``main``) and the stack's file the way the
Pulumi CLI does. ``secure:`` values cannot be decrypted without the stack's secrets provider, so
they are replaced by a placeholder and reported.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from offline.capture import CapturedResource, ProgramError, capture
from offline.lazy_sdk import lazy_provider_packages

SECRET_PLACEHOLDER = "offline-placeholder-secret"  # noqa: S105 - not a secret

# Where each provider keeps its region in config, to give mocks a consistent region.
_REGION_KEYS = ("aws:region", "azure-native:location", "gcp:region")


class ProjectError(Exception):
    """The project or stack cannot be loaded (missing file, malformed YAML, unknown stack)."""


@dataclass(frozen=True)
class StackRun:
    """What one offline run of a stack produced."""

    project: str
    stack: str
    resources: list[CapturedResource]
    outputs: Mapping[str, Any]
    config: Mapping[str, str]
    placeholder_secrets: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProjectError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ProjectError(f"{path}: malformed YAML{where}") from exc


def load_project(project_dir: Path) -> dict[str, Any]:
    """Pulumi.yaml as a dict; errors name the file."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        path = project_dir / name
        if path.is_file():
            data = _load_yaml(path)
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                raise ProjectError(f"{path}: not a Pulumi project file (no 'name')")
            return data
    raise ProjectError(f"{project_dir}: no Pulumi.yaml here; is this a Pulumi project?")


def stack_names(project_dir: Path) -> list[str]:
    """The stacks that have a stack file, in a stable order (dev, staging, prod first)."""
    project = load_project(project_dir)
    config_dir = project_dir / str(project.get("stackConfigDir", "."))
    names = [p.name[len("Pulumi.") : -len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml")]
    order = {"dev": 0, "staging": 1, "prod": 2}
    return sorted(names, key=lambda n: (order.get(n, 3), n))


def stack_file(project_dir: Path, stack: str) -> Path:
    """Path of a stack's config file."""
    project = load_project(project_dir)
    return project_dir / str(project.get("stackConfigDir", ".")) / f"Pulumi.{stack}.yaml"


def stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The stack's config as the engine passes it to a program: every value a string.

    Returns the config and the keys whose ``secure:`` values were replaced by a placeholder.
    """
    project = load_project(project_dir)
    path = stack_file(project_dir, stack)
    if not path.is_file():
        known = ", ".join(stack_names(project_dir)) or "none"
        raise ProjectError(f"no stack file for stack {stack!r} at {path} (stacks: {known})")
    data = _load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping with a 'config' key")
    raw = data.get("config") or {}
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: 'config' must be a mapping")
    name = project["name"]
    config: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in raw.items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = SECRET_PLACEHOLDER
            secrets.append(full)
        elif isinstance(value, str):
            config[full] = value
        else:
            # Structured values reach a program JSON-encoded, exactly as the engine sends them.
            config[full] = json.dumps(value)
    return config, tuple(secrets)


@contextmanager
def _project_on_path(project_dir: Path) -> Iterator[None]:
    """Import the project's own modules (components/, policies/) from its folder, then restore."""
    before_path = list(sys.path)
    # A package the project vendors (components/, stacks/) may already be imported from
    # elsewhere, e.g. aideploy's own copy by the CLI: set those aside so the program imports the
    # project's copy (the code that will really be deployed), and put them back afterwards.
    shadowed = _shadowed_modules(project_dir)
    for name in shadowed:
        del sys.modules[name]
    before_modules = set(sys.modules)
    before_cwd = os.getcwd()
    sys.path.insert(0, str(project_dir))
    os.chdir(project_dir)
    try:
        yield
    finally:
        os.chdir(before_cwd)
        sys.path[:] = before_path
        # Forget modules imported from the project so another project's copies load next time;
        # never installed packages, even when the project's virtualenv lives inside it (the
        # README's `.venv`): a cloud SDK cannot register its package twice in one process.
        root = str(project_dir)
        for mod_name in set(sys.modules) - before_modules:
            mod_file = str(getattr(sys.modules.get(mod_name), "__file__", None) or "")
            installed = "site-packages" in Path(mod_file).parts or mod_file.startswith(
                (sys.prefix, sys.base_prefix)
            )
            if mod_file.startswith(root) and not installed:
                del sys.modules[mod_name]
        sys.modules.update(shadowed)


# The runner's own package: never set aside (the check is running from it).
_RUNNER_PACKAGES = frozenset({"policies"})


def _shadowed_modules(project_dir: Path) -> dict[str, Any]:
    """Imported modules whose top-level package the project has its own copy of."""
    own = (
        {
            p.name if p.is_dir() else p.stem
            for p in project_dir.iterdir()
            if (p.is_dir() and (p / "__init__.py").is_file()) or (p.suffix == ".py" and p.is_file())
        }
        - _RUNNER_PACKAGES
        - {"__main__"}
    )
    root = str(project_dir)
    return {
        name: module
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in own
        and not str(getattr(module, "__file__", None) or "").startswith(root)
    }


def run_stack(
    project_dir: Path,
    stack: str,
    *,
    on_resource: Callable[[CapturedResource], None] | None = None,
) -> StackRun:
    """Run the project's program for ``stack`` under mocks and capture its resources.

    ``on_resource`` is called with each resource as soon as it registers.
    """
    project_dir = project_dir.resolve()
    project = load_project(project_dir)
    config, secrets = stack_config(project_dir, stack)
    main = project_dir / str(project.get("main", "."))
    entry = main / "__main__.py" if main.is_dir() else main
    if not entry.is_file():
        raise ProjectError(f"{entry}: program entry point not found")
    region = next((config[k] for k in _REGION_KEYS if k in config), "eu-west-1")

    def program() -> None:
        runpy.run_path(str(entry), run_name="__main__")

    # Provider SDKs load only the resource modules the program uses (see lazy_sdk).
    with _project_on_path(project_dir), lazy_provider_packages():
        try:
            captured = capture(
                program,
                project=project["name"],
                stack=stack,
                config=config,
                secret_keys=list(secrets),
                region=region,
                on_resource=on_resource,
            )
        except ProgramError:
            raise
        except Exception as exc:  # the program's own error, reported as such
            # One line for a terminal or a CI log: pydantic and friends span several.
            message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise ProgramError(f"{type(exc).__name__}: {message}") from exc
    notes = tuple(f"secret {k} replaced by a placeholder (cannot decrypt offline)" for k in secrets)
    return StackRun(
        project["name"],
        stack,
        captured.resources,
        captured.stack_outputs(),
        config,
        secrets,
        notes,
    )
