"""The release path of the generated pipelines, held against the scripts it calls.

Every `pulumi up` is preceded by the guard and followed by the last-deployed-commit record; the
prod job renews its cloud session before the watch and before a rollback; the drill builds a
failing candidate, asserts the automatic rollback and restores staging whatever happened; every
variable and secret the workflows read is named in docs/ci.md.
"""

from __future__ import annotations

import importlib
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.registry import scaffolded
from components.spec import Cloud, Pattern
from templates.generator import generate
from templates.pipeline_context import CLOUD_CLI, GITLAB_PYTHON_IMAGE
from tests.conftest import sample_answers
from tests.generator.pipeline_partials import pipeline_snippet

CLOUDS = [c for c in Cloud if scaffolded(c, Pattern.API_FIRST)]
LOGIN = {
    Cloud.AWS: "aws-actions/configure-aws-credentials",
    Cloud.AZURE: "azure/login",
    Cloud.GCP: "google-github-actions/auth",
}


def is_login(step: dict[str, Any], cloud: Cloud) -> bool:
    """Whether ``step`` is the cloud's OIDC login (kubernetes: the project's own step)."""
    if cloud is Cloud.KUBERNETES:
        return "python ci/kube_credentials.py kubeconfig" in str(step.get("run", ""))
    return str(step.get("uses", "")).startswith(LOGIN[cloud])


TAG = "pulumi stack tag set aideploy:last-deployed-commit"
# Commands that load components/<cloud>/release_watch.py, which shells out to the cloud's CLI:
# the guard, the watch and the rollback of ci/rollout.py, and the drill (ci/drill.py).
RELEASE_WATCH = re.compile(r"python -m ci\.(?:rollout (?:watch|rollback|guard)\b|drill )")


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[Cloud, str], Path]:
    root = tmp_path_factory.mktemp("release-pipeline")
    out = {}
    for cloud in CLOUDS:
        for ci in ("github", "gitlab"):
            answers = sample_answers(cloud, Pattern.API_FIRST, name=f"acme {cloud.value}", ci=ci)
            out[(cloud, ci)] = generate(answers, root / f"{cloud.value}-{ci}",
                                        rng=random.Random(0)).path  # fmt: skip
    return out


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _lines(steps: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(step index, command line) of every run line, in order."""
    return [
        (i, line.strip())
        for i, step in enumerate(steps)
        for line in str(step.get("run", "")).splitlines()
        if line.strip()
    ]


def _flat(script: list[Any]) -> list[str]:
    return [line for item in script for line in (item if isinstance(item, list) else [item])]


def _bake(project: Path) -> int:
    """The prod stack's watch period (the spec's default when the file does not set it)."""
    config = yaml.safe_load((project / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    rollout = next(v for k, v in config.items() if k.endswith(":rollout"))
    return int(rollout.get("bake_minutes", 30))


def _workflow(project: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".github" / "workflows" / name).read_text())
    return data


@pytest.mark.parametrize("cloud", CLOUDS)
def test_github_guards_every_up_and_records_the_commit_after_it(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    project = projects[(cloud, "github")]
    for wf in ("pipeline.yml", "rollback-drill.yml"):
        for name, job in _workflow(project, wf)["jobs"].items():
            lines = [line for _, line in _lines(_steps(job))]
            for n, line in enumerate(lines):
                if not line.startswith("pulumi up"):
                    continue
                stack = re.search(r"--stack (\S+)", line)
                assert stack, line
                before = "\n".join(lines[:n])
                # the drill's candidate deploy is deliberately unguarded: its version is new
                if name != "drill":
                    assert f"ci.rollout guard --stack {stack.group(1)}" in before, (wf, name)
                    assert f'{TAG} "$GITHUB_SHA" --stack {stack.group(1)}' in "\n".join(
                        lines[n:]
                    ), (wf, name)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_prod_renews_credentials_before_the_watch_and_before_the_rollback(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    job = _workflow(projects[(cloud, "github")], "pipeline.yml")["jobs"]["production"]
    steps = _steps(job)
    names = [s.get("name", "") for s in steps]
    logins = [i for i, s in enumerate(steps) if is_login(s, cloud)]
    up = names.index("Deploy prod (the candidate takes its share per the strategy)")
    watch = next(i for i, n in enumerate(names) if n.startswith("Watch period"))
    back = next(i for i, n in enumerate(names) if n.startswith("Automatic rollback"))
    record = next(i for i, n in enumerate(names) if n.startswith("Record the last deployed"))
    assert logins[0] < up < logins[1] < watch < record < logins[2] < back
    assert steps[logins[2]]["if"] == steps[back]["if"]
    if cloud is Cloud.AWS:
        assert all("role-duration-seconds" in steps[i]["with"] for i in logins)
    assert "--show-secrets" in steps[up]["run"]  # release_watch reads the outputs' contract
    assert "ci.rollout watch" in steps[watch]["run"] and "ci.rollout rollback" in steps[back]["run"]
    # the rollback needs the last deployed commit's whole tree
    assert steps[0]["with"]["fetch-depth"] == 0
    assert job["timeout-minutes"] > _bake(projects[(cloud, "github")]) + 60 + 60


@pytest.mark.parametrize("cloud", CLOUDS)
def test_gitlab_guards_records_renews_and_outlives_its_watch(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    ci = yaml.safe_load((projects[(cloud, "gitlab")] / ".gitlab-ci.yml").read_text())
    for name in ("deploy-dev", "deploy-staging", "deploy-production"):
        script = [line for item in ci[name]["script"] for line in
                  (item if isinstance(item, list) else [item])]  # fmt: skip
        text = "\n".join(script)
        stack = ci[name]["variables"]["STACK"]
        assert text.index(f"ci.rollout guard --stack {stack}") < text.index("pulumi up")
        assert text.index("pulumi up") < text.index(f'{TAG} "$CI_COMMIT_SHA" --stack {stack}')
    prod = "\n".join(
        line for item in ci["deploy-production"]["script"]
        for line in (item if isinstance(item, list) else [item])
    )  # fmt: skip
    login = ci[".cloud"]["before_script"][3]  # the cloud login block, run again
    assert prod.count(login.strip()) == 2
    assert prod.index("pulumi up") < prod.index(login.strip()) < prod.index("ci.rollout watch")
    assert prod.rindex(login.strip()) < prod.index("ci.rollout rollback")
    hours = int(ci["deploy-production"]["timeout"].rstrip("h"))
    assert hours * 60 > _bake(projects[(cloud, "gitlab")]) + 60 + 60  # bake + up + rollback
    assert ci["deploy-production"]["variables"]["GIT_DEPTH"] == "0"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_drill_fails_a_candidate_asserts_the_rollback_and_always_restores(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    wf = _workflow(projects[(cloud, "github")], "rollback-drill.yml")
    build = "\n".join(str(s.get("run", "")) for s in _steps(wf["jobs"]["build-candidate"]))
    assert "--build-arg MODEL_FAIL_PREDICTIONS=1" in build
    steps = _steps(wf["jobs"]["drill"])
    runs = [str(s.get("run", "")) for s in steps]
    order = [
        "pulumi stack tag get aideploy:last-deployed-commit --stack staging",
        "python -m ci.drill candidate --stack staging",
        "pulumi up --yes --stack staging",
        "python -m ci.drill run --stack staging",
        "python -m ci.rollout rollback --stack staging",
        "pytest -q tests/smoke",
    ]
    where = [next(i for i, r in enumerate(runs) if command in r) for command in order]
    assert where == sorted(where)
    for i in where[-2:]:  # restore and verify run whatever failed before them
        assert steps[i]["if"] == "always()"
    assert "git commit" not in "\n".join(runs) and "git push" not in "\n".join(runs)
    ci = yaml.safe_load((projects[(cloud, "gitlab")] / ".gitlab-ci.yml").read_text())
    assert "MODEL_FAIL_PREDICTIONS=1" in "\n".join(ci["rollback-drill-candidate"]["script"])
    drill = "\n".join(_flat(ci["rollback-drill"]["script"]))
    assert (
        drill.index("ci.drill candidate") < drill.index("pulumi up") < drill.index("ci.drill run")
    )
    restore = ci["rollback-drill-restore"]
    assert restore["needs"] == ["rollback-drill"]
    assert restore["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "always"}]
    assert "ci.rollout rollback --stack staging" in "\n".join(_flat(restore["script"]))


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_every_variable_and_secret_the_pipeline_reads_is_named_in_ci_md(
    projects: dict[tuple[Cloud, str], Path], ci: str
) -> None:
    for cloud in CLOUDS:
        project = projects[(cloud, ci)]
        docs = (project / "docs" / "ci.md").read_text()
        if ci == "github":
            text = "\n".join(p.read_text() for p in (project / ".github").rglob("*.yml"))
            names = set(re.findall(r"\$\{\{\s*(?:vars|secrets)\.([A-Z0-9_]+)", text))
        else:
            text = (project / ".gitlab-ci.yml").read_text()
            # variables the project must set (GitLab's own CI_* and the job's are excluded)
            names = set(re.findall(r"\$\{?((?:API_TEST|AWS|AZURE|GCP|PULUMI|RELEASE)_[A-Z_]+)",
                                   text))  # fmt: skip
            names -= {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
                      "AZURE_FEDERATED_TOKEN_FILE"}  # fmt: skip
        assert names
        missing = sorted(n for n in names if f"`{n}`" not in docs)
        assert missing == [], (cloud, ci, missing)


def test_the_sample_model_fails_predictions_but_stays_ready_in_drill_mode(
    projects: dict[tuple[Cloud, str], Path],
) -> None:
    import subprocess
    import sys

    project = projects[(CLOUDS[0], "github")]
    script = (
        "from model.server import ModelService\n"
        "from model.settings import Settings\n"
        "for flag in ('', '1'):\n"
        "    s = ModelService(Settings.from_env({'MODEL_FAIL_PREDICTIONS': flag}))\n"
        "    s.load()\n"
        '    print(s.health().status, s.predict(b\'{"input": "refund"}\').status)\n'
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    statuses = [line for line in result.stdout.splitlines() if not line.startswith("{")]
    assert statuses == ["200 200", "200 500"], result.stdout + result.stderr
    dockerfile = (project / "model" / "Dockerfile").read_text()
    assert re.search(r"^ARG MODEL_FAIL_PREDICTIONS=\s*$", dockerfile, re.M)
    assert "ENV MODEL_FAIL_PREDICTIONS=${MODEL_FAIL_PREDICTIONS}" in dockerfile


# ------------------------------------------------------------------ the cloud CLI on the runner


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def gitlab_shell(ci: dict[str, Any], name: str) -> list[str]:
    """The shell lines a GitLab job runs: before_script (own or the last extended) + script."""
    job = ci[name]
    before = job.get("before_script")
    if before is None:  # GitLab: of several `extends`, the last that sets it wins
        for parent in _as_list(job.get("extends", [])):
            before = ci[parent].get("before_script", before)
    items = _flat(list(before or [])) + _flat(list(job.get("script", [])))
    return [line.strip() for item in items for line in str(item).splitlines() if line.strip()]


def cli_problems(lines: list[str], cloud: Cloud) -> list[str]:
    """Where a release-watch command runs before the CLI is installed and signed in as the job.

    A cloud login (the OIDC exchange) renews the identity: the CLI must sign in again after it
    before the next release-watch command, so the watch never runs on a stale CLI session.
    """
    cli = CLOUD_CLI[cloud]
    install_sh = pipeline_snippet(cloud, "cli-install.sh")
    login_sh = pipeline_snippet(cloud, "cli-login.sh")
    install = [line.strip() for line in install_sh.splitlines() if line.strip()]
    login = [line.strip() for line in login_sh.splitlines() if line.strip()]
    cloud_login = pipeline_snippet(cloud, "gitlab-login.sh").splitlines()[0].strip()
    installed: list[str] = []
    logged_in = signed_in = False
    problems = []
    for n, line in enumerate(lines):
        if line == cloud_login:
            logged_in, signed_in = True, False
        if line in install:
            installed.append(line)
        if line == login[-1] and logged_in and installed == install:
            signed_in = lines[n - len(login) + 1 : n + 1] == login
        if line.startswith(f"{cli.tool} ") and not (signed_in or line in login):
            problems.append(f"{line!r} before the CLI signed in")
        if RELEASE_WATCH.search(line) and not signed_in:
            problems.append(f"{line!r}: {cli.tool} not installed and signed in first")
    return problems


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_cli_table_is_the_cli_release_watch_calls(cloud: Cloud) -> None:
    watch = importlib.import_module(f"components.{cloud.value}.release_watch")
    cli = CLOUD_CLI[cloud]
    assert (cli.tool,) == watch.CLI_TOOLS
    # pinned: the version is in the download or package name, never a moving "latest"
    install = pipeline_snippet(cloud, "cli-install.sh")
    login = pipeline_snippet(cloud, "cli-login.sh")
    assert cli.version in install and "latest" not in install
    if cloud is Cloud.AZURE:  # workload identity: the job's OIDC token, no client secret
        assert "az login --service-principal" in login and "--federated-token" in login


@pytest.mark.parametrize("cloud", CLOUDS)
def test_gitlab_jobs_that_reach_release_watch_install_and_sign_in_its_cli(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    ci = yaml.safe_load((projects[(cloud, "gitlab")] / ".gitlab-ci.yml").read_text())
    jobs = {
        name: gitlab_shell(ci, name)
        for name, job in ci.items()
        if isinstance(job, dict) and "stage" in job
    }
    watching = {name for name, lines in jobs.items() if any(map(RELEASE_WATCH.search, lines))}
    assert {"deploy-production", "rollback-drill", "rollback-drill-restore"} <= watching
    for name in sorted(watching):
        # Python 3.11 as `python` (the project's interpreter) on the Debian the install targets
        image = ci[name].get("image", ci["default"]["image"])
        assert image == GITLAB_PYTHON_IMAGE and image.startswith("python:3.11-"), name
        assert cli_problems(jobs[name], cloud) == [], name
        # the shell GitLab runs parses (anchors, indentation of the inserted blocks)
        syntax = subprocess.run(["bash", "-n"], input="\n".join(jobs[name]), text=True,
                                capture_output=True, check=False, timeout=30)  # fmt: skip
        assert syntax.returncode == 0, (name, syntax.stderr)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_cli_check_catches_a_job_without_install_or_sign_in(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    ci = yaml.safe_load((projects[(cloud, "gitlab")] / ".gitlab-ci.yml").read_text())
    lines = gitlab_shell(ci, "deploy-production")
    install = pipeline_snippet(cloud, "cli-install.sh")
    login = pipeline_snippet(cloud, "cli-login.sh")
    last_login = login.strip().splitlines()[-1].strip()
    for dropped in (install.strip().splitlines()[0].strip(), last_login):
        assert cli_problems([line for line in lines if line != dropped], cloud), dropped
    # a renewal of the cloud login without the CLI's sign-in after it is caught too
    first = lines.index(last_login)
    renewed = [line for n, line in enumerate(lines) if line != last_login or n == first]
    assert len(renewed) < len(lines) and cli_problems(renewed, cloud)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_github_jobs_that_reach_release_watch_run_where_the_cli_is_and_log_in_first(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    project = projects[(cloud, "github")]
    seen = 0
    for wf in ("pipeline.yml", "rollback-drill.yml"):
        for name, job in _workflow(project, wf)["jobs"].items():
            steps = _steps(job)
            watch = [i for i, s in enumerate(steps) if RELEASE_WATCH.search(str(s.get("run", "")))]
            if not watch:
                continue
            seen += 1
            logins = [i for i, s in enumerate(steps) if is_login(s, cloud)]
            assert logins and logins[0] < watch[0], (wf, name)
            if cloud is Cloud.KUBERNETES:
                # self-hosted runners may have no kubectl: the login installs the pinned one,
                # checked against its published sha256
                kubectl = pipeline_snippet(cloud, "kubectl-install.sh").splitlines()[1]
                assert kubectl in steps[logins[0]]["run"], (wf, name)
                assert "sha256sum --check" in steps[logins[0]]["run"], (wf, name)
                continue
            # GitHub-hosted Ubuntu images ship aws, az and gcloud (docs/ci.md says so)
            assert str(job["runs-on"]).startswith("ubuntu-"), (wf, name)
    assert seen >= 4  # deploy-dev, integration, production, drill
    docs = " ".join((project / "docs" / "ci.md").read_text().split())
    assert "GitHub-hosted Ubuntu runners have `aws`, `az` and `gcloud`" in docs
    gitlab_docs = " ".join((projects[(cloud, "gitlab")] / "docs" / "ci.md").read_text().split())
    cli = CLOUD_CLI[cloud]
    assert f"`{cli.tool}` {cli.version}" in gitlab_docs


# ----------------------------------------------------------------------------- issue 10 review

PIPE = re.compile(r"(?<![|])\|(?![|])")  # a pipe, not `||`


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_github_workflow_runs_its_steps_in_bash_with_pipefail(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    """Without `shell:` a step runs `bash -e {0}`: `cmd | tee file` could never fail."""
    workflows = sorted((projects[(cloud, "github")] / ".github" / "workflows").glob("*.yml"))
    assert workflows
    for path in workflows:
        data = yaml.safe_load(path.read_text())
        default = (data.get("defaults") or {}).get("run", {}).get("shell")
        for name, job in data["jobs"].items():
            for step in job.get("steps", []):
                if "run" not in step or not PIPE.search(str(step["run"])):
                    continue
                shell = step.get("shell") or (job.get("defaults") or {}).get("run", {}).get(
                    "shell", default
                )
                assert shell == "bash", (path.name, name, step.get("name"))
        assert default == "bash", path.name


@pytest.mark.parametrize("cloud", CLOUDS)
def test_gitlab_sets_pipefail_before_every_pipe_whose_status_matters(
    projects: dict[tuple[Cloud, str], Path], cloud: Cloud
) -> None:
    ci = yaml.safe_load((projects[(cloud, "gitlab")] / ".gitlab-ci.yml").read_text())
    piped = 0
    for name, job in ci.items():
        if not isinstance(job, dict) or "script" not in job or name.startswith("."):
            continue
        lines = gitlab_shell(ci, name)
        for i, line in enumerate(lines):
            if PIPE.search(line.split("#")[0]) and not line.rstrip().endswith("|| true"):
                piped += 1
                before = [*lines[:i], line.split("|")[0]]  # earlier lines, or this one's start
                assert any("set -o pipefail" in x for x in before), (name, line)
    assert piped


def test_the_drill_has_its_own_concurrency_group_and_waits_for_the_pipeline(
    projects: dict[tuple[Cloud, str], Path],
) -> None:
    project = projects[(CLOUDS[0], "github")]
    drill, pipeline = _workflow(project, "rollback-drill.yml"), _workflow(project, "pipeline.yml")
    groups = {job.get("concurrency", {}).get("group") for job in pipeline["jobs"].values()}
    assert drill["concurrency"]["group"] not in groups | {pipeline["concurrency"]["group"]}
    steps = _steps(drill["jobs"]["drill"])
    lines = _lines(steps)
    wait = next(i for i, line in lines if "gh run list --workflow pipeline.yml" in line)
    first_stack = next(i for i, line in lines if "pulumi" in line)
    assert wait < first_stack
    assert drill["jobs"]["drill"]["permissions"]["actions"] == "read"
    assert "waits" in (project / "docs" / "ci.md").read_text().split("Weekly drill")[1][:2000]


DOC_COMMAND = re.compile(r"python -m (ci\.(?:rollout|drill))((?: [^`\n|>&;]+)?)")


def _doc_commands(project: Path) -> list[tuple[str, str, str]]:
    docs = [project / "README.md", *sorted((project / "docs").rglob("*.md"))]
    found = []
    for path in docs:
        for module, rest in DOC_COMMAND.findall(path.read_text()):
            found.append((path.name, module, rest.split("#")[0].strip()))
    return found


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_every_documented_ci_command_parses_with_the_real_command_line(
    projects: dict[tuple[Cloud, str], Path], ci: str
) -> None:
    """README and runbooks once documented `rollback --stack prod` while --outputs was required."""
    project = projects[(CLOUDS[0], ci)]
    commands = _doc_commands(project)
    assert any(m == "ci.rollout" and r.startswith("rollback") for _, m, r in commands)
    check = (
        "import json, shlex, sys, importlib\n"
        "bad = []\n"
        "for doc, module, rest in json.loads(sys.argv[1]):\n"
        "    words = [w for w in shlex.split(rest.replace('...', 'x')) if w != '\\\\']\n"
        "    words = ['1' if w.startswith('<') or w.startswith('$') else w for w in words]\n"
        "    try:\n"
        "        importlib.import_module(module).parser().parse_args(words)\n"
        "    except SystemExit:\n"
        "        bad.append(f'{doc}: python -m {module} {rest}')\n"
        "print(json.dumps(bad))\n"
    )
    import json
    import sys

    result = subprocess.run(
        [sys.executable, "-c", check, json.dumps(commands)], cwd=project, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], result.stderr
