"""End to end: generate a project per cloud and run its own tests the way a client would.

The fresh-environment test builds a virtual environment from the generated requirements.txt
alone (aideploy is not installed there) and runs the project's pytest in it: proof that the
project is self-contained.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from components.registry import project_clouds, scaffolded
from components.spec import Cloud, Pattern
from templates.generator import generate
from tests.conftest import sample_answers

REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west1"}
PATTERNS = [Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM, Pattern.EMBEDDED]
# In a fresh venv from the project's own requirements: every cloud's api-first, the embedded
# pattern (its release tool and sample app add cryptography, and boto3 on AWS) and, on
# premises, event-driven (pulumi-kubernetes as api-first has it, plus the worker's clients for
# the client's RabbitMQ and object store): each install is about a minute of the suite.
FRESH = [
    *((c, Pattern.API_FIRST) for c in project_clouds() if c is not Cloud.KUBERNETES),
    *((c, Pattern.EMBEDDED) for c in project_clouds() if scaffolded(c, Pattern.EMBEDDED)),
    (Cloud.KUBERNETES, Pattern.EVENT_DRIVEN),
]


def _generate(tmp_path: Path, cloud: Cloud, pattern: Pattern) -> Path:
    answers = sample_answers(cloud, pattern, name=f"acme {pattern.value}")
    target = tmp_path / f"{cloud.value}-{pattern.value}"
    generate(answers, target)
    return target


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH or venv leaking our packages into the client's interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )


def _available(cloud: Cloud, pattern: Pattern) -> bool:
    from components.registry import scaffolded

    return scaffolded(cloud, pattern)


@pytest.mark.slow
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("cloud", project_clouds())
def test_generated_project_tests_pass(tmp_path: Path, cloud: Cloud, pattern: Pattern) -> None:
    if not _available(cloud, pattern):
        pytest.skip(f"{pattern.value} on {cloud.value} is not built yet")
    project = _generate(tmp_path, cloud, pattern)
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("cloud", "pattern"), FRESH, ids=lambda v: v.value)
def test_generated_project_passes_in_a_fresh_venv_from_its_requirements(
    tmp_path: Path, cloud: Cloud, pattern: Pattern
) -> None:
    if not _available(cloud, pattern):
        pytest.skip(f"{pattern.value} on {cloud.value} is not built yet")
    project = _generate(tmp_path, cloud, pattern)
    env_dir = tmp_path / "client-venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = _run(
        [str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"], project, 1800
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # The client's environment has no aideploy: nothing of ours can be imported from it.
    probe = _run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('cli'))"], tmp_path
    )
    assert probe.stdout.strip() == "None"
    result = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
