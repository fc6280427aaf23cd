"""The CI environments a generated project's GitHub workflows run jobs in, matrices expanded."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import yaml

_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")


def job_environments(project: Path) -> list[tuple[str, str]]:
    """``(CI environment, the job's YAML)`` for every job (and matrix entry) with an environment.

    ``environment: preview-${{ matrix.stack }}`` with ``matrix.stack: [dev, staging]`` gives
    ``preview-dev`` and ``preview-staging``, as GitHub runs them.
    """
    out = []
    for workflow in sorted((project / ".github" / "workflows").glob("*.yml")):
        jobs: dict[str, Any] = yaml.safe_load(workflow.read_text()).get("jobs") or {}
        for job in jobs.values():
            env = job.get("environment")
            name = env.get("name") if isinstance(env, dict) else env
            if not name:
                continue
            matrix = (job.get("strategy") or {}).get("matrix") or {}
            keys = sorted(set(_MATRIX_REF.findall(str(name))))
            for values in itertools.product(*(matrix.get(k, []) for k in keys)):
                expanded = str(name)
                for key, value in zip(keys, values, strict=True):
                    expanded = re.sub(rf"\$\{{\{{\s*matrix\.{key}\s*\}}\}}", str(value), expanded)
                out.append((expanded, yaml.safe_dump(job)))
    return out
