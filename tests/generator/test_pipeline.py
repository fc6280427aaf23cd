"""The generated delivery pipeline: schema-valid, zizmor-clean, every stage and gate, per cloud.

Projects are generated once per (cloud, ci) into a temporary folder; the checks run the real
tools on the rendered files (check-jsonschema's vendored schemas, zizmor offline) and parse the
YAML to assert on jobs, needs and environments.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.registry import project_clouds, scaffolded
from components.spec import PATTERN_OUTPUTS, Cloud, Pattern
from templates.generator import generate
from templates.pipeline_context import CLOUD_PIPELINE
from tests.conftest import sample_answers, sample_plan
from tests.generator.pipeline_partials import pipeline_snippet

BIN = Path(sys.executable).parent
PATTERN = Pattern.API_FIRST
CLOUDS = [c for c in Cloud if scaffolded(c, PATTERN)]
REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west1"}
STAGES = (
    "code-checks",
    "policy-check",
    "preview",
    "model-validation",
    "deploy-dev",
    "integration",
    "preview-prod",
    "production",
)
# The login action each cloud's jobs must use, and the OIDC inputs it must get.
LOGIN: dict[Cloud, tuple[str, set[str]]] = {
    Cloud.AWS: ("aws-actions/configure-aws-credentials", {"role-to-assume"}),
    Cloud.AZURE: ("azure/login", {"client-id", "tenant-id", "subscription-id"}),
    Cloud.GCP: ("google-github-actions/auth", {"workload_identity_provider"}),
}
# On premises the login is the project's own step (ci/kube_credentials.py), not an action.
KUBE_LOGIN = "python ci/kube_credentials.py kubeconfig"


def is_login(step: dict[str, Any], cloud: Cloud) -> bool:
    """Whether ``step`` is the cloud's OIDC login step."""
    if cloud is Cloud.KUBERNETES:
        return KUBE_LOGIN in str(step.get("run", ""))
    return str(step.get("uses", "")).startswith(LOGIN[cloud][0])


PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _generate(root: Path, cloud: Cloud, ci: str) -> Path:
    answers = sample_answers(
        cloud,
        PATTERN,
        name=f"acme {cloud.value} {ci}",
        alert_emails=("oncall@acme.example", "ml-team@acme.example"),
        ci=ci,
    )
    return generate(answers, root / f"{cloud.value}-{ci}", rng=random.Random(0)).path


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[Cloud, str], Path]:
    root = tmp_path_factory.mktemp("pipeline")
    return {(c, ci): _generate(root, c, ci) for c in CLOUDS for ci in ("github", "gitlab")}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def text_of(path: Path, job: str) -> str:
    """The lines of one top-level job of a GitLab file, comments included."""
    lines = path.read_text().splitlines()
    start = lines.index(job)
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()),
        len(lines),
    )
    return "\n".join(lines[start:end])


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def test_every_cloud_has_an_available_pattern_to_generate() -> None:
    assert list(project_clouds()) == CLOUDS


# ------------------------------------------------------------------------- files per CI choice


@pytest.mark.parametrize("cloud", CLOUDS)
def test_only_the_chosen_ci_files_are_generated(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    github, gitlab = projects[(cloud, "github")], projects[(cloud, "gitlab")]
    assert sorted(p.name for p in (github / ".github" / "workflows").iterdir()) == [
        "pipeline.yml",
        "release-model.yml",
        "rollback-drill.yml",
    ]
    assert not (github / ".gitlab-ci.yml").exists()
    assert (gitlab / ".gitlab-ci.yml").is_file()
    assert not (gitlab / ".github").exists()


# ------------------------------------------------------------------------- github: tools


@pytest.mark.parametrize("cloud", CLOUDS)
def test_github_workflows_pass_the_vendored_schema(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    github = projects[(cloud, "github")] / ".github"
    workflows = sorted((github / "workflows").glob("*.yml"))
    result = _run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows
    )
    assert result.returncode == 0, result.stdout + result.stderr
    action = github / "actions" / "setup" / "action.yml"
    result = _run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-actions", action)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("cloud", CLOUDS)
def test_zizmor_finds_nothing_medium_or_higher(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    github = projects[(cloud, "github")] / ".github"
    result = _run(
        BIN / "zizmor", "--offline", "--no-progress", "--persona", "auditor", "--format", "json",
        github,
    )  # fmt: skip
    assert result.returncode in (0, 10, 11, 12, 13, 14), result.stderr  # 1x: findings exist
    findings = json.loads(result.stdout)
    audited = {f["ident"] for f in findings}
    serious = [
        (f["ident"], f["desc"], f["locations"][0]["concrete"]["location"]["start_point"])
        for f in findings
        if f["determinations"]["severity"] in ("Medium", "High")
    ]
    assert serious == [], serious
    # zizmor really audited these files (it reports the low-severity local-action hints)
    assert audited <= {"self-repository"}, audited


def test_the_checks_catch_a_bad_workflow(tmp_path: Path) -> None:
    """Both tools can fail here: an unpinned action that interpolates a PR title into a script."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = workflows / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = _run(BIN / "zizmor", "--offline", "--no-progress", "--format", "json", tmp_path)
    severities = {f["ident"]: f["determinations"]["severity"] for f in json.loads(result.stdout)}
    assert severities.get("template-injection") == "High"
    assert "unpinned-uses" in severities and "artipacked" in severities
    (workflows / "bad.yml").write_text("on: pull_request\njobs:\n  x:\n    steps: 3\n")
    schema = _run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", bad)
    assert schema.returncode == 1


# ------------------------------------------------------------------------- github: structure


@pytest.mark.parametrize("cloud", CLOUDS)
def test_pipeline_has_the_five_stages_in_order_and_the_gate(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    jobs = _yaml(projects[(cloud, "github")] / ".github" / "workflows" / "pipeline.yml")["jobs"]
    assert tuple(jobs) == STAGES
    needs = {name: set(job.get("needs", [])) for name, job in jobs.items()}
    assert needs["model-validation"] == {"code-checks"}
    assert needs["deploy-dev"] == {"code-checks", "policy-check", "model-validation"}
    assert needs["integration"] == {"deploy-dev"}
    assert needs["preview-prod"] == {"integration"}
    assert needs["production"] == {"preview-prod"}
    assert jobs["deploy-dev"]["environment"]["name"] == "dev"
    assert jobs["integration"]["environment"]["name"] == "staging"
    # prod is previewed by the read-only prod identity before anyone approves
    assert jobs["preview-prod"]["environment"] == "production-preview"
    assert "pulumi preview --stack prod" in _script(jobs["preview-prod"])
    # the approval gate: production waits for the environment's required reviewers
    assert jobs["production"]["environment"]["name"] == "production"
    assert "Required reviewers" in (projects[(cloud, "github")] / "docs" / "ci.md").read_text()
    # deployments never run for pull requests, only for main
    for job in ("deploy-dev", "integration"):
        assert "github.event_name != 'pull_request'" in jobs[job]["if"]
        assert "refs/heads/main" in jobs[job]["if"]


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _script(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in _steps(job))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_stage_runs_what_it_promises(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    project = projects[(cloud, "github")]
    jobs = _yaml(project / ".github" / "workflows" / "pipeline.yml")["jobs"]
    checks = _script(jobs["code-checks"])
    for command in ("ruff check .", "pytest -q", "bandit ", "pip-audit "):
        assert command in checks
    policy = jobs["policy-check"]
    assert "python -m policies.check --all --format sarif" in _script(policy)
    assert "python -m policies.check --all --format markdown" in _script(policy)
    assert "$GITHUB_STEP_SUMMARY" in _script(policy) and "gh pr comment" in _script(policy)
    assert any("codeql-action/upload-sarif@" in s.get("uses", "") for s in _steps(policy))
    assert "python -m stacks.parity_check" in _script(policy)
    preview = jobs["preview"]
    # pull requests preview dev and staging only: they never hold prod's secrets
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging"]
    assert preview["environment"] == "preview-${{ matrix.stack }}"
    assert '--policy-pack-config "policies/config/$STACK.json"' in _script(preview)
    assert "python -m eval.run --stack prod" in _script(jobs["model-validation"])
    integration = _script(jobs["integration"])
    assert "pulumi up --yes --stack staging" in integration
    assert "policies/config/staging.json" in integration
    assert "pytest -q tests/smoke" in integration
    assert re.search(r"locust .*--headless", integration)
    assert "--users 20" in integration and "--run-time 2m" in integration
    production = _script(jobs["production"])
    for command in ("ci.rollout plan", "--stack prod", "ci.rollout watch", "ci.rollout rollback"):
        assert command in production
    rollback = next(
        s for s in _steps(jobs["production"]) if s.get("name", "").startswith("Automatic rollback")
    )
    assert rollback["if"].startswith("failure()")
    # the policy-pack-config files the pipeline names exist in the project
    for stack in ("dev", "staging", "prod"):
        assert (project / "policies" / "config" / f"{stack}.json").is_file()


@pytest.mark.parametrize("cloud", CLOUDS)
def test_workflows_follow_the_hardening_rules(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    github = projects[(cloud, "github")] / ".github"
    action_name, inputs = LOGIN.get(cloud, ("", set()))
    oidc_jobs = {
        "preview",
        "deploy-dev",
        "integration",
        "preview-prod",
        "production",
        "drill",
        "build-candidate",  # the drill's failing image, pushed by the publish identity
        "release",
    }
    if cloud is Cloud.KUBERNETES:
        # the image release pushes with the client's registry robot account: no OIDC token
        oidc_jobs -= {"build-candidate", "release"}
    for path in (github / "workflows").glob("*.yml"):
        workflow = _yaml(path)
        assert workflow["permissions"] == {}
        assert "concurrency" in workflow
        for name, job in workflow["jobs"].items():
            perms = job["permissions"]
            # only the release job writes: its own branch and pull request, never main
            writes = {"contents": "write", "pull-requests": "write"}
            assert perms.get("contents") == ("write" if name == "release" else "read")
            if name == "release":
                assert {k: perms[k] for k in writes} == writes
            assert (perms.get("id-token") == "write") == (name in oidc_jobs), (path.name, name)
            for step in _steps(job):
                assert "${{" not in str(step.get("run", "")), (path.name, name, step)
                uses = step.get("uses", "")
                if uses.startswith("actions/checkout"):
                    assert step["with"]["persist-credentials"] is False
                if action_name and uses.split("@")[0] == action_name:
                    assert inputs <= set(step["with"]), step
            if name in oidc_jobs:
                assert any(is_login(s, cloud) for s in _steps(job)), (path.name, name)
    # every remote action is pinned to a full commit SHA with its version as a comment
    text = "\n".join(p.read_text() for p in github.rglob("*.yml"))
    uses_lines = [m.strip() for m in re.findall(r"uses: (.+)", text)]
    remote = [u for u in uses_lines if not u.startswith("./")]
    assert remote and all(PINNED.match(u) for u in remote), remote
    assert not re.search(
        r"(aws-access-key-id|aws-secret-access-key|client-secret|credentials_json)", text
    )


@pytest.mark.parametrize("cloud", CLOUDS)
def test_rollback_drill_is_scheduled_against_staging(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    workflow = _yaml(projects[(cloud, "github")] / ".github" / "workflows" / "rollback-drill.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"]  # api-first: the drill has an endpoint to drive
    job = workflow["jobs"]["drill"]
    assert job["environment"] == "staging" and job["needs"] == ["build-candidate"]
    assert workflow["jobs"]["build-candidate"]["environment"] == "release"
    script = _script(job)
    assert "--stack staging" in script and "tests/smoke" in script and "HEAD~1" not in script


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_model_release_pushes_by_digest_and_proposes_it_in_a_pull_request(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    project = projects[(cloud, "github")]
    workflow = _yaml(project / ".github" / "workflows" / "release-model.yml")
    triggers = workflow[True]
    assert triggers["push"] == {"branches": ["main"], "paths": ["model/**"]}
    (job,) = workflow["jobs"].values()
    assert job["environment"] == "release"  # the publish identity is trusted from here only
    script = _script(job)
    order = [
        "pytest -q tests/test_model_contract.py",
        "docker build --platform linux/amd64",
        "--read-only --tmpfs /tmp",
        "docker push",
        "python -m stacks.promote --image",
        "gh pr create --base main",
    ]
    positions = [script.index(command) for command in order]
    assert positions == sorted(positions)
    # the release branch is pushed, never main
    assert 'git push origin "$branch"' in script and "git push origin main" not in script
    # the commands it runs exist in the project
    assert (project / "ci" / "model_image.py").is_file()
    assert (project / "stacks" / "promote.py").is_file()
    assert (project / "model" / "Dockerfile").is_file()


def test_the_release_names_the_image_the_stacks_pull(
    projects: dict[tuple[Cloud, str], Path],
) -> None:
    for (cloud, _ci), project in projects.items():
        python = sys.executable
        result = _run(python, "-m", "ci.model_image", "repository", cwd=project)
        assert result.returncode == 0, result.stderr
        for stack in ("dev", "staging", "prod"):
            config = _yaml(project / "stacks" / f"Pulumi.{stack}.yaml")["config"]
            image = next(v for k, v in config.items() if k.endswith(":model"))["image"]
            # by tag, or by digest (kubernetes takes digests only)
            repository = result.stdout.strip()
            assert image.startswith((repository + ":", repository + "@")), (cloud, stack)
        version = _run(python, "-m", "ci.model_image", "version", "--commit", "a" * 40, cwd=project)
        assert version.stdout.strip() == "1.0.0-aaaaaaaaaaaa"
        # the release probes the port and path the stacks' platforms probe, and the sample
        # image serves (the Dockerfile is built from the same stack file)
        model = next(v for k, v in config.items() if k.endswith(":model"))
        url = _run(python, "-m", "ci.model_image", "health-url", cwd=project).stdout.strip()
        assert (
            url
            == f"http://127.0.0.1:{model.get('port', 8080)}{model.get('health_path', '/health')}"
        )
        dockerfile = (project / "model" / "Dockerfile").read_text()
        assert f"EXPOSE {model.get('port', 8080)}" in dockerfile


# ------------------------------------------------------------------------- gitlab


@pytest.mark.parametrize("cloud", CLOUDS)
def test_gitlab_pipeline_passes_the_schema_and_has_every_stage_and_gate(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    path = projects[(cloud, "gitlab")] / ".gitlab-ci.yml"
    result = _run(BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", path)
    assert result.returncode == 0, result.stdout + result.stderr
    ci = _yaml(path)
    assert ci["stages"] == [
        "code-checks",
        "model-validation",
        "integration",
        "approval",
        "production",
    ]
    stage_of = {
        name: job["stage"] for name, job in ci.items() if isinstance(job, dict) and "stage" in job
    }
    assert set(stage_of.values()) == set(ci["stages"])
    gate = ci["approve-production"]
    assert gate["stage"] == "approval" and gate["allow_failure"] is False
    assert any(rule.get("when") == "manual" for rule in gate["rules"])
    assert gate["environment"]["name"] == "production"
    prod = ci["deploy-production"]
    assert prod["needs"] == ["approve-production"] and prod["environment"]["name"] == "production"
    assert ci["deploy-staging"]["environment"]["name"] == "staging"
    assert ci["rollback-drill"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "CLOUD_OIDC_TOKEN" in ci[".cloud"]["id_tokens"]
    # merge requests preview dev and staging; prod is previewed after merge, before the gate
    assert ci["preview"]["parallel"]["matrix"] == [{"STACK": ["dev", "staging"]}]
    assert ci["preview"]["environment"]["name"] == "preview-$STACK"
    assert ci["preview-prod"]["environment"]["name"] == "production-preview"
    assert ci["approve-production"]["needs"] == ["preview-prod"]
    # the previews run where the cloud's preview identity can trust the job: merge requests,
    # except on Azure, whose managed-identity credentials cannot trust any branch (default branch)
    preview_rules = ci["preview"]["rules"]
    assert preview_rules == yaml.safe_load(pipeline_snippet(cloud, "gitlab-preview-rules.yml"))
    on_merge_requests = any("merge_request_event" in r.get("if", "") for r in preview_rules)
    assert on_merge_requests is (cloud is not Cloud.AZURE)
    if cloud is Cloud.AZURE:
        assert {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"} in preview_rules
        assert "wildcard" in text_of(path, "preview:")
        # `pulumi login azblob://` and azurekeyvault:// use the Azure SDK's workload identity
        # credential (a token file, client and tenant ids); the provider reads ARM_*.
        login = "\n".join(ci[".cloud"]["before_script"])
        assert '> "$CI_PROJECT_DIR/.oidc-token"' in login
        assert 'AZURE_FEDERATED_TOKEN_FILE="$CI_PROJECT_DIR/.oidc-token"' in login
        for variable in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "ARM_USE_OIDC", "ARM_OIDC_TOKEN"):
            assert variable in login
    assert ci["deploy-staging"]["needs"] == ["deploy-dev"]
    release = ci["release-model"]
    assert release["environment"]["name"] == "release"
    assert {k: v for r in release["rules"] for k, v in r.items() if k == "changes"} == {
        "changes": ["model/**/*"]
    }
    # jobs that outlive GitLab's default 60-minute timeout say so
    assert ci["deploy-dev"]["timeout"] == ci["deploy-staging"]["timeout"] == "90m"
    text = path.read_text()
    for command in (
        "python -m policies.check --all --format sarif",
        "python -m stacks.parity_check",
        "python -m eval.run --stack prod",
        "policies/config/$STACK.json",
        "ci.rollout watch",
        "ci.rollout rollback",
        "locust -f tests/smoke/locustfile.py --headless",
    ):
        assert command in text, command


# ------------------------------------------------------------------------- generated tools


def test_generated_tools_run_in_the_project(projects: dict[tuple[Cloud, str], Path]) -> None:
    """Parity, evaluation and the offline smoke tests run with the project's own files."""
    project = projects[(Cloud.AWS, "github")]
    python = sys.executable
    parity = _run(python, "-m", "stacks.parity_check", "--format", "json", cwd=project)
    assert parity.returncode == 0, parity.stdout + parity.stderr
    assert json.loads(parity.stdout)["resources"]["prod"] >= 10
    evaluation = _run(python, "-m", "eval.run", "--stack", "prod", "--local", cwd=project)
    assert evaluation.returncode == 0, evaluation.stdout + evaluation.stderr
    smoke = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/smoke", cwd=project)
    # offline: every smoke test skips (the device API's too: api-first has none)
    assert smoke.returncode == 0 and "5 skipped" in smoke.stdout, smoke.stdout
    plan = _run(python, "-m", "ci.rollout", "plan", "--stack", "prod", cwd=project)
    assert "strategy=canary" in plan.stdout and "bake_minutes=60" in plan.stdout


def test_evaluation_fails_below_the_baseline(tmp_path: Path) -> None:
    project = _generate(tmp_path, Cloud.AWS, "github")
    stack = project / "stacks" / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text().replace("baseline: 0.8", "baseline: 0.95"))
    result = _run(sys.executable, "-m", "eval.run", "--stack", "prod", "--recorded", cwd=project)
    assert result.returncode == 1 and "score 0.900" in result.stdout and "FAIL" in result.stdout


@pytest.mark.parametrize("cloud", CLOUDS)
def test_rollback_runbook_renders_the_pipeline_context_parts(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    """What the runbook takes from this module's context, not from templates/runbooks.py.

    Alarms, commands, names, tiers and the pipeline rollback are held against the captured
    stacks by tests/generator/test_runbooks.py; this holds the rest: nothing left unrendered,
    the cloud's data-restore steps, its alarm console and the owner told after a rollback.
    """
    text = (projects[(cloud, "github")] / "docs" / "runbooks" / "rollback.md").read_text()
    assert "{{" not in text and "{%" not in text
    pipeline = CLOUD_PIPELINE[cloud]
    data = text.split("## 5. Data rollback", 1)[1].split("\n## ", 1)[0]
    assert pipeline_snippet(cloud, "data-rollback.md") in data
    assert pipeline.alarm_console in text
    assert "ops@acme.example" in text.split("## 6. Who is told", 1)[1]


def _copy(project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(project, tmp_path / project.name))


def test_smoke_tests_check_a_deployed_stacks_outputs(
    projects: dict[tuple[Cloud, str], Path], tmp_path: Path
) -> None:
    """With outputs they run (and can fail); the HTTP checks need an https endpoint."""
    project = projects[(Cloud.GCP, "github")]
    outputs = tmp_path / "outputs.json"
    names = list(PATTERN_OUTPUTS[PATTERN])
    outputs.write_text(json.dumps({n: "x" for n in names}))

    def smoke() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/smoke"],
            capture_output=True, text=True, cwd=project, timeout=300, check=False,
            env={**os.environ, "SMOKE_OUTPUTS": str(outputs)},
        )  # fmt: skip

    result = smoke()
    # the outputs check passes; the HTTP checks and the device API's (none here) skip
    assert result.returncode == 0 and "1 passed, 4 skipped" in result.stdout, result.stdout
    outputs.write_text(json.dumps({n: "x" for n in names if n != "health_url"}))
    result = smoke()
    assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout


def test_release_versions_never_grow_with_each_release(
    projects: dict[tuple[Cloud, str], Path], tmp_path: Path
) -> None:
    # Review: each release wrote "<version>-<commit>" into dev and the next one appended again,
    # until the version broke the spec's 64-character limit on the fifth release.
    project = shutil.copytree(projects[(Cloud.AWS, "github")], tmp_path / "p")
    python = sys.executable
    versions = []
    for commit in ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40, "f" * 40):
        version = _run(python, "-m", "ci.model_image", "version", "--commit", commit, cwd=project)
        assert version.returncode == 0, version.stderr
        versions.append(version.stdout.strip())
        image = _run(python, "-m", "ci.model_image", "repository", cwd=project).stdout.strip()
        digest = f"{image}@sha256:{commit[:2] * 32}"
        promoted = _run(
            python, "-m", "stacks.promote", "--image", digest,
            "--version", versions[-1], "--to", "dev", "--yes", cwd=project,
        )  # fmt: skip
        assert promoted.returncode == 0, promoted.stderr
    assert versions[-1] == "1.0.0-" + "f" * 12
    assert (project / "model" / "VERSION").read_text().strip() == "1.0.0"
    (project / "model" / "VERSION").unlink()  # without the file: the stack's base, not regrown
    again = _run(python, "-m", "ci.model_image", "version", "--commit", "0" * 40, cwd=project)
    assert again.stdout.strip() == "1.0.0-" + "0" * 12


# ------------------------------------------------- Azure: the rollback webhook's application ids
def _pulumi_jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Jobs of a GitHub workflow with a step running `pulumi up` or `pulumi preview`."""
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if any(
            re.search(r"pulumi (up|preview)\b", step.get("run") or "")
            for step in job.get("steps", [])
        )
    }


def test_azure_jobs_pass_the_webhook_app_ids_from_bootstrap_to_every_up_and_preview(
    projects: dict[tuple[Cloud, str], Path],
) -> None:
    from components.azure import bootstrap as boot
    from components.azure import rollout
    from templates.pipeline_context import PATTERN_VARIABLES

    # The names the pipeline maps are the ones bootstrap's ci_variables print and the stack
    # reads (components/azure/rollout.py), for exactly the patterns that wire the webhook.
    names = (rollout.WEBHOOK_APP_OBJECT_ID_ENV, rollout.WEBHOOK_APP_CLIENT_ID_ENV)
    assert set(PATTERN_VARIABLES[Cloud.AZURE]) == rollout.WEBHOOK_PATTERNS
    for variables in PATTERN_VARIABLES[Cloud.AZURE].values():
        assert tuple(name for name, _ in variables) == names
    project = projects[(Cloud.AZURE, "github")]
    workflows = project / ".github" / "workflows"
    jobs = {
        f"{path.name}:{name}": job
        for path in (workflows / "pipeline.yml", workflows / "rollback-drill.yml")
        for name, job in _pulumi_jobs(_yaml(path)).items()
    }
    # deploy dev/staging/prod, the previews, the drill's staging up
    assert len(jobs) >= 6, sorted(jobs)
    (spec,) = sample_plan(Cloud.AZURE, PATTERN).bootstrap.values()
    stack_environments = set(boot.ci_environment_stacks(spec))
    for where, job in jobs.items():
        # GitHub exposes `vars` only where a job maps them: each such job maps both, from the
        # CI environment bootstrap's ci_variables set them in.
        for name in names:
            assert job["env"][name] == f"${{{{ vars.{name} }}}}", (where, name)
        env = job.get("environment")
        env_name = env.get("name") if isinstance(env, dict) else env
        assert env_name is not None, where
        if "${{" not in env_name:
            assert env_name in stack_environments, (where, env_name)
    # docs/ci.md's variable table names them for the client to set.
    ci_md = (project / "docs" / "ci.md").read_text()
    for name in names:
        assert f"| `{name}` |" in ci_md
    # GitLab exports an environment's CI/CD variables itself: every job running `pulumi up`
    # names a CI environment bootstrap gives the ids to.
    gitlab = _yaml(projects[(Cloud.AZURE, "gitlab")] / ".gitlab-ci.yml")
    up_jobs = 0
    for name, job in gitlab.items():
        lines = job.get("script", []) if isinstance(job, dict) else []
        if re.search(r"pulumi up\b", "\n".join(str(line) for line in lines)):
            up_jobs += 1
            assert job["environment"]["name"] in stack_environments, name
    assert up_jobs >= 4  # dev, staging, production, the drill's staging
    # Other clouds map nothing of the kind.
    for cloud in CLOUDS:
        if cloud is not Cloud.AZURE:
            text = (
                projects[(cloud, "github")] / ".github" / "workflows" / "pipeline.yml"
            ).read_text()
            assert rollout.WEBHOOK_APP_OBJECT_ID_ENV not in text


def test_an_azure_pattern_without_the_webhook_maps_no_webhook_variables() -> None:
    from components.azure import rollout
    from templates.generator import plan_project
    from templates.pipeline_context import pipeline_context

    for pattern in (Pattern.EVENT_DRIVEN, *sorted(rollout.WEBHOOK_PATTERNS)):
        answers = sample_answers(Cloud.AZURE, pattern)
        context = pipeline_context(answers, plan_project(answers, rng=random.Random(0)).specs)
        wired = pattern in rollout.WEBHOOK_PATTERNS
        mapped = context["ci_pattern_variables"]  # the GitHub jobs' env maps these from vars
        assert (rollout.WEBHOOK_APP_OBJECT_ID_ENV in mapped) is wired, pattern
        listed = [v["name"] for v in context["ci_variables"]]  # docs/ci.md's table
        assert (rollout.WEBHOOK_APP_OBJECT_ID_ENV in listed) is wired
