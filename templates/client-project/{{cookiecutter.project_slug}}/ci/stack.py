"""The stack file and the stack outputs, as the pipeline's helpers read them.

Everything the pipeline decides comes from the stack file (``stacks/Pulumi.<stack>.yaml``, through
the vendored spec and its defaults) and the stack's outputs (``pulumi stack output --json
--show-secrets``), never from constants repeated here. Standard library, PyYAML and the vendored
components only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.rollout import Release, release, settings_for
from components.spec import DeploymentSpec, spec_from_config

ROOT = Path(__file__).resolve().parents[1]


def project_name(root: Path = ROOT) -> str:
    """The Pulumi project's name (``Pulumi.yaml``), the namespace of the stack config."""
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


def stack_path(stack: str, root: Path = ROOT) -> Path:
    """``stacks/Pulumi.<stack>.yaml``."""
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The stack's project-namespaced config, without the namespace."""
    project = project_name(root)
    config = (yaml.safe_load(stack_path(stack, root).read_text()) or {}).get("config") or {}
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{project}:")}


def stack_spec(stack: str, root: Path = ROOT) -> DeploymentSpec:
    """The validated spec of the stack file (defaults filled in, as the program sees it)."""
    return spec_from_config(project_name(root), stack_config(stack, root))


def stack_release(stack: str, root: Path = ROOT) -> Release:
    """The stable/candidate pair the stack file asks for."""
    return release(stack_spec(stack, root))


def watch_settings(spec: DeploymentSpec) -> dict[str, Any]:
    """The ``settings`` of an observation (release_watch.observe and the decide contract)."""
    s = settings_for(spec)
    return {
        "error_rate": s.error_rate,
        "latency_multiplier": s.latency_multiplier,
        "min_requests": s.min_requests,
    }


def load_outputs(path: Path) -> dict[str, Any]:
    """`pulumi stack output --json --show-secrets` saved to ``path`` (an object)."""
    data = json.loads(path.read_text() or "{}")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: stack outputs must be a JSON object")
    return data


def https_output(outputs: dict[str, Any], name: str) -> str:
    """An output that must be an https:// URL, without a trailing slash, or ""."""
    value = outputs.get(name)
    if isinstance(value, str) and value.startswith("https://"):
        return value.rstrip("/")
    return ""


def predict_url(outputs: dict[str, Any], predict_path: str) -> str:
    """Where predictions go: ``endpoint_url`` is the predict URL itself on AWS and Azure and the
    gateway's base URL on GCP (ESPv2 serves ``model.predict_path`` under it); "" without one."""
    base = https_output(outputs, "endpoint_url")
    if not base or base.endswith(predict_path.rstrip("/")):
        return base
    return base + predict_path
