"""The embedded pattern's release jobs, held against the tool they call and the stack they read.

Derived from a generated project's real pipeline: every ``python -m ci.release`` command parses
with the release tool's own parser; every stack output a job reads is one the project's program
exports; dev signs once, staging and prod each add their signature over the same bundle, each
verified with the previous environment's key; what one job uploads is what the next downloads.
"""

from __future__ import annotations

import random
import re
import shlex
from typing import Any

import pytest
import yaml

from components import release_cli
from components.registry import is_available
from components.spec import PATTERN_OUTPUTS, Cloud, Pattern
from templates.answers import example_answers
from templates.generator import generate

CLOUDS = [c for c in Cloud if is_available(c, Pattern.EMBEDDED)]
JOBS = {"dev": "deploy-dev", "staging": "integration", "prod": "production"}


@pytest.fixture(scope="module", params=CLOUDS, ids=lambda c: c.value)
def workflow(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    target = tmp_path_factory.mktemp("embedded") / "p"
    generate(example_answers(request.param, Pattern.EMBEDDED), target, rng=random.Random(3))
    assert not (target / ".github" / "workflows" / "release-model.yml").exists()
    assert (target / "ci" / "release.py").exists() and (target / "app" / "__main__.py").exists()
    return yaml.safe_load((target / ".github" / "workflows" / "pipeline.yml").read_text())


def _steps(workflow: Any, env: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][JOBS[env]]["steps"])


def _release_commands(workflow: Any, env: str) -> list[list[str]]:
    """Each ``python -m ci.release`` command of the job's scripts, as words; a command
    substitution ``"$(...)"`` counts as a command of its own and as a value ``$X`` where used."""
    commands: list[list[str]] = []
    for step in _steps(workflow, env):
        script = step.get("run", "").replace("\\\n", " ")
        inner = re.findall(r'"\$\(([^()]*)\)"', script)
        script = re.sub(r'"\$\(([^()]*)\)"', "$X", script)
        for line in [*script.splitlines(), *inner]:
            for found in re.findall(r"python -m ci\.release ([^\n]*)", line):
                commands.append(shlex.split(found))
    return commands


def test_every_release_command_parses_with_the_release_tool(workflow: Any) -> None:
    parser = release_cli._parser()
    own = {"output", "version"}
    seen = set()
    for env in JOBS:
        for words in _release_commands(workflow, env):
            seen.add(words[0])
            if words[0] in own:
                continue
            # a shell variable stands for a value (a number fits every flag)
            parser.parse_args([w if not w.startswith("$") else "7" for w in words])
    assert {"sign", "promote", "publish", "public-key", "output", "version"} <= seen


def test_the_jobs_read_only_outputs_the_stack_exports(workflow: Any) -> None:
    exported = set(PATTERN_OUTPUTS[Pattern.EMBEDDED])
    for env in JOBS:
        read = {w[2] for w in _release_commands(workflow, env) if w[0] == "output"}
        assert read == {"signing_key", "release_channel"} and read <= exported


def test_dev_signs_once_and_each_next_environment_countersigns_the_same_bundle(
    workflow: Any,
) -> None:
    by_env = {env: _release_commands(workflow, env) for env in JOBS}
    assert [w[0] for w in by_env["dev"] if w[0] in ("sign", "promote")] == ["sign"]
    previous = "dev"
    for env in ("staging", "prod"):
        (promote,) = [w for w in by_env[env] if w[0] == "promote"]
        assert not any(w[0] == "sign" for w in by_env[env])
        flags = dict(zip(promote[2::2], promote[3::2], strict=False))
        assert flags["--bundle"] == f"release/{previous}-bundle.json"
        assert flags["--public-key"] == f"release/{previous}.pem"
        assert flags["--out"] == f"release/{env}-bundle.json"
        previous = env
    for env in JOBS:
        (publish,) = [w for w in by_env[env] if w[0] == "publish"]
        flags = dict(zip(publish[2::2], publish[3::2], strict=False))
        # each environment publishes what carries its own signature, checked with its own key
        assert flags["--bundle"] == f"release/{env}-bundle.json"
        assert flags["--public-key"] == f"release/{env}.pem"


def test_what_one_job_uploads_is_what_the_next_downloads(workflow: Any) -> None:
    def artifacts(env: str, action: str) -> list[str]:
        return [
            s["with"]["name"] for s in _steps(workflow, env) if action in str(s.get("uses", ""))
        ]

    assert artifacts("dev", "upload-artifact") == ["release-dev"]
    assert artifacts("staging", "download-artifact") == ["release-dev"]
    assert artifacts("staging", "upload-artifact") == ["release-staging"]
    assert artifacts("prod", "download-artifact") == ["release-staging"]
    for env in JOBS:  # the release runs after the stack is up, never before
        names = [s.get("name", "") for s in _steps(workflow, env)]
        deploy = next(i for i, n in enumerate(names) if n.startswith("Deploy"))
        release = next(i for i, n in enumerate(names) if n.startswith("Release to"))
        assert deploy < release


def test_the_prod_job_has_no_traffic_watch_or_rollback(workflow: Any) -> None:
    names = " ".join(s.get("name", "") for s in _steps(workflow, "prod"))
    assert "Watch period" not in names and "Automatic rollback" not in names
