"""The embedded pattern's release jobs, held against the tool they call and the stack they read.

Derived from a generated project's real pipeline: every ``python -m ci.release`` command parses
with the release tool's own parser; every stack output a job reads is one the project's program
exports; dev signs once, staging and prod each add their signature over the same bundle, each
verified with the previous environment's key; what one job uploads is what the next downloads.
"""

from __future__ import annotations

import json
import random
import re
import shlex
from typing import Any

import pytest
import yaml

from components import release_cli
from components.registry import scaffolded
from components.spec import PATTERN_OUTPUTS, Cloud, Pattern
from templates.answers import example_answers
from templates.generator import generate
from tests.generator.test_pipeline import BIN, _run

CLOUDS = [c for c in Cloud if scaffolded(c, Pattern.EMBEDDED)]
JOBS = {
    "github": {"dev": "deploy-dev", "staging": "integration", "prod": "production"},
    "gitlab": {"dev": "deploy-dev", "staging": "deploy-staging", "prod": "deploy-production"},
}
CASES = [(c, ci) for c in CLOUDS for ci in JOBS]
ENVS = ("dev", "staging", "prod")


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0].value}-{c[1]}")
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    cloud, ci = request.param
    target = tmp_path_factory.mktemp("embedded") / "p"
    generate(example_answers(cloud, Pattern.EMBEDDED, ci=ci), target, rng=random.Random(3))
    return ci, target


def test_the_pipeline_passes_the_schemas_and_zizmor(project: Any) -> None:
    """The same tools as tests/generator/test_pipeline.py, on the embedded pipeline."""
    ci, target = project
    if ci == "gitlab":
        files = [target / ".gitlab-ci.yml"]
        result = _run(BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", *files)
        assert result.returncode == 0, result.stdout + result.stderr
        return
    workflows = sorted((target / ".github" / "workflows").glob("*.yml"))
    result = _run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run(
        BIN / "zizmor", "--offline", "--no-progress", "--persona", "auditor", "--format", "json",
        target / ".github",
    )  # fmt: skip
    assert result.returncode in (0, 10, 11, 12, 13, 14), result.stderr
    serious = [
        (f["ident"], f["desc"])
        for f in json.loads(result.stdout)
        if f["determinations"]["severity"] in ("Medium", "High")
    ]
    assert serious == []


@pytest.fixture(scope="module")
def workflow(project: Any) -> Any:
    ci, target = project
    assert (target / "ci" / "release.py").exists() and (target / "app" / "__main__.py").exists()
    assert not (target / "ci" / "model_image.py").exists()
    if ci == "github":
        assert not (target / ".github" / "workflows" / "release-model.yml").exists()
        return ci, yaml.safe_load((target / ".github" / "workflows" / "pipeline.yml").read_text())
    text = (target / ".gitlab-ci.yml").read_text()
    assert "release-model:" not in text and "rollback-drill" not in text.split("stages:")[1]
    return ci, yaml.safe_load(text)


def _steps(workflow: Any, env: str) -> list[dict[str, Any]]:
    """The job's steps (a GitLab script line is a step of its own)."""
    ci, document = workflow
    if ci == "gitlab":
        job = document[JOBS[ci][env]]
        return [{"name": line, "run": line} for line in job["script"] if isinstance(line, str)]
    return list(document["jobs"][JOBS[ci][env]]["steps"])


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
    for env in ENVS:
        for words in _release_commands(workflow, env):
            seen.add(words[0])
            if words[0] in own:
                continue
            # a shell variable stands for a value (a number fits every flag)
            parser.parse_args([w if not w.startswith("$") else "7" for w in words])
    assert {"ship", "promote", "publish", "public-key", "output", "version"} <= seen


def test_the_jobs_read_only_outputs_the_stack_exports(workflow: Any) -> None:
    exported = set(PATTERN_OUTPUTS[Pattern.EMBEDDED])
    for env in ENVS:
        read = {w[2] for w in _release_commands(workflow, env) if w[0] == "output"}
        assert read == {"signing_key", "release_channel"} and read <= exported


def test_dev_signs_once_and_each_next_environment_countersigns_the_same_bundle(
    workflow: Any,
) -> None:
    by_env = {env: _release_commands(workflow, env) for env in ENVS}
    # dev signs once (ship: the channel's next sequence, or nothing when the model is unchanged)
    assert [w[0] for w in by_env["dev"] if w[0] in ("ship", "sign", "promote")] == ["ship"]
    (ship,) = [w for w in by_env["dev"] if w[0] == "ship"]
    assert dict(zip(ship[2::2], ship[3::2], strict=False))["--out"] == "release/dev-bundle.json"
    previous = "dev"
    for env in ("staging", "prod"):
        (promote,) = [w for w in by_env[env] if w[0] == "promote"]
        assert not any(w[0] == "sign" for w in by_env[env])
        flags = dict(zip(promote[2::2], promote[3::2], strict=False))
        assert flags["--bundle"] == f"release/{previous}-bundle.json"
        assert flags["--public-key"] == f"release/{previous}.pem"
        assert flags["--out"] == f"release/{env}-bundle.json"
        previous = env
    for env in ("staging", "prod"):
        (publish,) = [w for w in by_env[env] if w[0] == "publish"]
        flags = dict(zip(publish[2::2], publish[3::2], strict=False))
        # each environment publishes what carries its own signature, checked with its own key
        assert flags["--bundle"] == f"release/{env}-bundle.json"
        assert flags["--public-key"] == f"release/{env}.pem"


def test_what_one_job_uploads_is_what_the_next_downloads(workflow: Any) -> None:
    ci, document = workflow
    if ci == "gitlab":
        jobs = JOBS[ci]
        for env in ("dev", "staging"):
            assert "release/" in document[jobs[env]]["artifacts"]["paths"]
        assert document[jobs["staging"]]["needs"] == [jobs["dev"]]
        assert {"job": jobs["staging"], "artifacts": True} in document[jobs["prod"]]["needs"]
    else:

        def artifacts(env: str, action: str) -> list[str]:
            return [
                s["with"]["name"] for s in _steps(workflow, env) if action in str(s.get("uses", ""))
            ]

        assert artifacts("dev", "upload-artifact") == ["release-dev"]
        assert artifacts("staging", "download-artifact") == ["release-dev"]
        assert artifacts("staging", "upload-artifact") == ["release-staging"]
        assert artifacts("prod", "download-artifact") == ["release-staging"]
    for env in ENVS:  # the release runs after the stack is up, never before
        runs = [str(s.get("run", "")) for s in _steps(workflow, env)]
        deploy = next(i for i, r in enumerate(runs) if "pulumi up --yes" in r)
        release = next(i for i, r in enumerate(runs) if re.search(r"ci\.release (ship|publish)", r))
        assert deploy < release


def test_no_deploy_job_runs_the_serving_rollout_tool(workflow: Any) -> None:
    """No candidate, no traffic: the guard, plan, watch and rollback of ci.rollout do not apply
    to a pattern that ships files (and need an image); `endpoint` answers "" here."""
    for env in ENVS:
        runs = " ".join(str(s.get("run", "")) for s in _steps(workflow, env))
        assert not re.search(r"ci\.rollout (guard|plan|watch|rollback)", runs), env
