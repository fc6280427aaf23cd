"""`aideploy update` and `aideploy diff`: a project takes a newer template and keeps its edits.

The newer template is made for real: a copy of the template folder and of the vendored code,
each changed the way a release changes them (a runbook, the pipeline, a component, a new file),
installed over the generator's paths with its version raised. The client's edits are made to
the files a client edits (a component, a stack file, the pipeline, a runbook). The older
render is the fixture of template 0.1.0 (tests/fixtures/template-0.1.0, made before hashes were
recorded): it is brought to the current template, and its stacks keep every stateful URN.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from components.spec import Cloud, Pattern
from templates import generator, update
from templates.update import Action, classify
from tests.conftest import sample_answers

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "template-0.1.0"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Client Engineer",
    "GIT_AUTHOR_EMAIL": "eng@client.example",
    "GIT_COMMITTER_NAME": "Client Engineer",
    "GIT_COMMITTER_EMAIL": "eng@client.example",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
NEW_VERSION = "9.9.9"

# The client's edits (appended, so they sit apart from the template's changes at the top).
CLIENT_EDITS = {
    "components/naming.py": "\n# client: our naming review, 2026-11\n",
    "stacks/Pulumi.dev.yaml": "# client: dev is shared with the data team\n",
    ".github/workflows/pipeline.yml": "# client: runner labels reviewed by platform\n",
    "docs/runbooks/rollback.md": "\n## Client escalation\nCall the duty manager first.\n",
}


def git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200", **GIT_ENV})
    return result.exit_code, result.stdout, result.stderr


def edit(project: Path, edits: dict[str, str]) -> None:
    for rel, text in edits.items():
        path = project / rel
        path.write_text(path.read_text() + text)


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    # The update's own merge commit is the client's: give git an identity, never the user's.
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def _prepend(path: Path, line: str) -> None:
    path.write_text(line + path.read_text())


@pytest.fixture
def newer_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A release of the template: copies of the template and vendored code, changed, with a
    higher version, installed where the generator reads them."""
    root = tmp_path / "release"
    shutil.copytree(generator.TEMPLATE_DIR, root / "client-project")
    for name in ("components", "policies", "offline", "docs", "tests/vectors"):
        shutil.copytree(
            generator.REPO_ROOT / name,
            root / "repo" / name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    project_files = root / "client-project" / "{{cookiecutter.project_slug}}"
    # A runbook and the pipeline change at their top; the client edits their ends.
    _prepend(
        project_files / "docs" / "runbooks" / "rollback.md",
        "<!-- template 9.9.9: read the deploy runbook first -->\n",
    )
    _prepend(project_files / ".github" / "workflows" / "pipeline.yml", "# pipeline rev 9.9.9\n")
    # A component the client never touched, and one the client edits (a separate region).
    _prepend(root / "repo" / "components" / "alarms.py", "# alarms rev 9.9.9\n")
    _prepend(root / "repo" / "components" / "naming.py", "# naming rev 9.9.9\n")
    # New files, one in a new folder.
    (project_files / "docs" / "releases").mkdir()
    (project_files / "docs" / "releases" / "notes.md").write_text("# Release notes\n")
    (project_files / "docs" / "upgrade-notes.md").write_text(
        "# Notes for {{ cookiecutter.project_slug }}\n"
    )
    monkeypatch.setattr(generator, "TEMPLATE_DIR", root / "client-project")
    monkeypatch.setattr(generator, "REPO_ROOT", root / "repo")
    monkeypatch.setattr(generator, "TEMPLATE_VERSION", NEW_VERSION)
    monkeypatch.setattr(update, "TEMPLATE_VERSION", NEW_VERSION)
    yield root


def _generate(tmp_path: Path, name: str = "acme-support") -> Path:
    answers = sample_answers(Cloud.AWS, Pattern.API_FIRST, name=name)
    return generator.generate(answers, tmp_path / name, rng=random.Random(7)).path


def _generate_before_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str = "0.2.0"
) -> Path:
    """A project generated with the current template, while the release is installed."""
    with monkeypatch.context() as old:
        old.setattr(generator, "TEMPLATE_DIR", generator.TEMPLATES_DIR / "client-project")
        old.setattr(generator, "REPO_ROOT", generator.TEMPLATES_DIR.parent)
        old.setattr(generator, "TEMPLATE_VERSION", version)
        return _generate(tmp_path)


# --- the merge decision, from hashes ----------------------------------------------------------


def test_classify_decides_each_case_from_the_three_hashes() -> None:
    base = {"same": "1", "tmpl": "1", "mine": "1", "both": "1", "gone": "1", "gone-ed": "1"}
    base |= {"deleted": "1", "deleted-same": "1"}
    current = {"same": "1", "tmpl": "1", "mine": "2", "both": "2", "gone": "1", "gone-ed": "2"}
    new = {"same": "1", "tmpl": "3", "mine": "1", "both": "3", "deleted": "3", "added": "4"}
    new |= {"deleted-same": "1"}  # deleted here, unchanged in the template: nothing to say
    got = {e.path: (e.action, e.edited) for e in classify(base, current, new)}
    assert got == {
        "tmpl": (Action.REPLACE, False),
        "mine": (Action.KEEP, True),
        "both": (Action.MERGE, True),
        "gone": (Action.DELETE, False),
        "gone-ed": (Action.DROPPED, True),
        "deleted": (Action.KEEP_DELETED, True),
        "added": (Action.ADD, False),
    }


def test_without_recorded_hashes_every_differing_file_counts_as_edited() -> None:
    got = {e.path: e.action for e in classify(None, {"a": "1", "b": "2"}, {"a": "1", "b": "3"})}
    assert got == {"b": Action.MERGE}


# --- with the hashes recorded at generation ---------------------------------------------------


def test_a_fresh_project_records_the_hash_of_every_file_it_was_rendered_with(
    tmp_path: Path,
) -> None:
    project = _generate(tmp_path)
    record = json.loads((project / ".aideploy.json").read_text())
    assert record["files"] == generator.tree_hashes(project)
    assert "components/naming.py" in record["files"] and ".aideploy.json" not in record["files"]
    code, out, _ = cli("update", str(project), "--dry-run", "--format", "json")
    assert code == 0
    assert json.loads(out)["files"] == []  # nothing to do: the render is deterministic


@pytest.mark.parametrize("first", ["new --git", "client's own git init"])
def test_git_update_merges_the_release_and_keeps_every_client_edit(
    tmp_path: Path, newer_template: Path, first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    if first == "new --git":
        update.initialise_git(project)
    else:
        git(project, "init", "-q", "-b", "main")
        commit_all(project, "Generated by aideploy")
    edit(project, CLIENT_EDITS)
    commit_all(project, "Our edits")

    code, out, err = cli("diff", str(project), "--format", "json")
    assert code == 0, err
    preview = {f["path"]: f["action"] for f in json.loads(out)["files"]}
    # No file but the record names the version: a release touches only what it changes.
    assert preview == {
        ".github/workflows/pipeline.yml": "merge",
        "docs/runbooks/rollback.md": "merge",
        "components/naming.py": "merge",
        "stacks/Pulumi.dev.yaml": "keep",
        "components/alarms.py": "replace",
        "docs/upgrade-notes.md": "add",
        "docs/releases/notes.md": "add",
    }

    code, out, err = cli("update", str(project), "--format", "json")
    assert code == 0, err + out
    result = json.loads(out)
    assert result["conflicts"] == [] and result["commit"]
    assert {f["path"]: f["action"] for f in result["files"]} == preview  # diff showed it first
    for rel, text in CLIENT_EDITS.items():  # every edit survives
        assert text in (project / rel).read_text(), rel
    assert (project / "docs/runbooks/rollback.md").read_text().startswith("<!-- template 9.9.9")
    assert (project / ".github/workflows/pipeline.yml").read_text().startswith("# pipeline rev")
    assert (project / "components/naming.py").read_text().startswith("# naming rev 9.9.9")
    assert (project / "components/alarms.py").read_text().startswith("# alarms rev 9.9.9")
    assert (project / "docs/upgrade-notes.md").read_text() == "# Notes for acme-support\n"
    record = json.loads((project / ".aideploy.json").read_text())
    assert record["template_version"] == NEW_VERSION
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "log", "-1", "--format=%s").startswith(
        f"Update to aideploy template {NEW_VERSION}"
    )
    # The next update has nothing to merge: the branch holds 9.9.9's pristine render.
    code, out, _ = cli("update", str(project), "--dry-run", "--format", "json")
    assert code == 0 and json.loads(out)["files"] == [
        {"path": p, "action": "keep", "edited": True} for p in sorted(CLIENT_EDITS)
    ]


def test_git_update_reports_a_conflict_as_ordinary_markers(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    update.initialise_git(project)
    # The client rewrites the runbook's first line, which the release changes too.
    runbook = project / "docs/runbooks/rollback.md"
    runbook.write_text("# Our rollback procedure\n" + runbook.read_text().split("\n", 1)[1])
    commit_all(project, "Our title")
    code, out, _ = cli("update", str(project), "--format", "json")
    assert code == 1
    assert json.loads(out)["conflicts"] == ["docs/runbooks/rollback.md"]
    text = runbook.read_text()
    assert "<<<<<<< HEAD\n# Our rollback procedure" in text and ">>>>>>> aideploy/template" in text
    assert "MERGE_HEAD" in os.listdir(project / ".git")  # a normal merge the client finishes


def test_git_update_refuses_a_dirty_work_tree(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    update.initialise_git(project)
    edit(project, {"docs/runbooks/rollback.md": "uncommitted\n"})
    before = generator.tree_hashes(project)
    code, _, err = cli("update", str(project))
    assert code == 2 and "uncommitted changes" in err and "Traceback" not in err
    assert generator.tree_hashes(project) == before


def test_file_update_replaces_unedited_files_and_writes_the_new_version_beside_edited_ones(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    edit(project, CLIENT_EDITS)
    mine = {rel: (project / rel).read_text() for rel in CLIENT_EDITS}
    code, out, err = cli("update", str(project), "--format", "json")
    assert code == 1, err  # edited files wait for review
    result = json.loads(out)
    assert result["mode"] == "files"
    assert sorted(result["conflicts"]) == sorted(
        [".github/workflows/pipeline.yml", "components/naming.py", "docs/runbooks/rollback.md"]
    )
    for rel, text in mine.items():  # the client's files are untouched
        assert (project / rel).read_text() == text
    for rel in result["conflicts"]:
        beside = (project / (rel + update.NEW_SUFFIX)).read_text()
        assert CLIENT_EDITS[rel] not in beside and "9.9.9" in beside
    assert (project / "components/alarms.py").read_text().startswith("# alarms rev 9.9.9")
    assert (project / "docs/upgrade-notes.md").is_file()
    assert json.loads((project / ".aideploy.json").read_text())["template_version"] == NEW_VERSION
    # Until each new version is merged and removed, another update refuses.
    code, _, err = cli("update", str(project))
    assert code == 2 and "pipeline.yml.aideploy-new (and 2 more) is left from an earlier" in err


def test_file_update_puts_everything_back_when_a_write_fails(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    before = {rel: (project / rel).read_bytes() for rel in generator.tree_hashes(project)}
    before_folders = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_dir())
    record = (project / ".aideploy.json").read_bytes()
    real_copy = shutil.copy2

    def failing_copy(src: Any, dst: Any) -> Any:
        # After docs/releases/ was made for its new file, a later copy fails.
        if str(dst).endswith("upgrade-notes.md"):
            raise OSError(28, "No space left on device", str(dst))
        return real_copy(src, dst)

    monkeypatch.setattr(update.shutil, "copy2", failing_copy)
    code, _, err = cli("update", str(project), "--no-git")
    assert code == 2 and "No space left on device" in err
    after = {rel: (project / rel).read_bytes() for rel in generator.tree_hashes(project)}
    assert after == before and (project / ".aideploy.json").read_bytes() == record
    folders = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_dir())
    assert folders == before_folders  # no folder made for a new file is left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".acme-support.")]


def test_update_refuses_to_change_a_recorded_answer_and_takes_a_missing_one(
    tmp_path: Path,
) -> None:
    project = _generate(tmp_path)
    code, _, err = cli("update", str(project), "--region", "us-east-1", "--dry-run")
    assert code == 2 and "region is already answered" in err
    code, _, err = cli("update", str(project), "--no-such-flag", "x", "--dry-run")
    assert code == 2 and "no such option: --no-such-flag" in err
    # A record from a template that did not ask for the owner yet: the flag supplies it.
    record_path = project / ".aideploy.json"
    record = json.loads(record_path.read_text())
    owner = record["answers"].pop("owner")
    record_path.write_text(json.dumps(record))
    code, _, err = cli("update", str(project), "--dry-run", "--no-input")
    assert code == 2 and "--owner is required" in err
    code, out, err = cli(
        "update", str(project), "--dry-run", "--no-input", "--owner", owner, "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["added_answers"] == {"owner": owner}


def test_a_damaged_record_is_one_line(tmp_path: Path) -> None:
    project = _generate(tmp_path)
    (project / ".aideploy.json").write_text("{not json")
    code, _, err = cli("diff", str(project))
    assert code == 2 and "not a record aideploy can read" in err and "Traceback" not in err
    code, _, err = cli("diff", str(tmp_path / "nowhere"))
    assert code == 2 and "no such folder" in err


# --- the older render: template 0.1.0, before hashes were recorded ----------------------------


def _old_project(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURES / "legacy-shop.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "legacy-shop"


def _stateful_capture(project: Path) -> dict[str, dict[str, Any]]:
    """Every stack's stateful resources (the project's own rollback table) by URN, with their
    name inputs, captured by the project's own vendored engine in a clean interpreter."""
    script = r"""
import json, sys
sys.path.insert(0, ".")
try:
    from offline.program import run_stack, stack_names
except ImportError:  # a project older than the offline engine
    from policies.runner.program import run_stack, stack_names
from ci.rollback_plan import STATEFUL_TYPES
from pathlib import Path
cloud = json.loads(Path(".aideploy.json").read_text())["answers"]["cloud"]
stateful = STATEFUL_TYPES[cloud]
out = {}
for stack in stack_names(Path(".")):
    for r in run_stack(Path("."), stack).resources:
        if r.type in stateful:
            names = {k: v for k, v in r.inputs.items()
                     if k == "name" or k.endswith("Name") or k in ("bucket", "bucketPrefix")}
            out[r.urn] = json.loads(json.dumps(names, default=str))
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout))


def _project_tests(project: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_an_old_render_comes_to_this_template_with_git_and_keeps_its_stateful_names(
    tmp_path: Path,
) -> None:
    project = _old_project(tmp_path)
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "Generated by aideploy 0.1.0")
    edit(project, CLIENT_EDITS)
    commit_all(project, "Our edits")
    before = _stateful_capture(project)
    assert before, "the fixture has stateful resources"

    code, out, _ = cli("diff", str(project), "--format", "json")
    assert code == 0
    preview = json.loads(out)
    assert preview["base_known"] is False and preview["mode"] == "git"
    merges = sorted(f["path"] for f in preview["files"] if f["action"] == "merge")
    code, out, _ = cli("update", str(project), "--format", "json")
    assert code == 1  # without a base, every file that differs is a conflict to look at
    conflicts = json.loads(out)["conflicts"]
    assert conflicts == merges and set(CLIENT_EDITS) - {"stacks/Pulumi.dev.yaml"} <= set(conflicts)
    # New files arrive; the client's edits sit in the conflicts, never lost.
    added = [f["path"] for f in preview["files"] if f["action"] == "add"]
    assert added and all((project / p).is_file() for p in added)
    for rel, text in CLIENT_EDITS.items():
        assert text.strip() in (project / rel).read_text(), rel
    # The client resolves: the template's side where they changed nothing, theirs plus their
    # edit where they did; the update is then an ordinary commit.
    for rel in conflicts:
        git(project, "checkout", "--theirs", "--", rel)
    edit(project, {rel: text for rel, text in CLIENT_EDITS.items() if rel in conflicts})
    commit_all(project, "Update to the current aideploy template")
    assert json.loads((project / ".aideploy.json").read_text())["template_version"] == (
        generator.TEMPLATE_VERSION
    )
    after = _stateful_capture(project)
    assert after == before  # no stateful URN or physical name moved
    result = _project_tests(project)
    assert result.returncode == 0, result.stdout[-3000:]
    # The comparison bites: a component change that renames a log group (its logical name,
    # hence its URN and the physical name Pulumi derives from it) is caught.
    network = project / "components" / "aws" / "network.py"
    network.write_text(
        network.read_text().replace('f"{name}-flow-logs", spec', 'f"{name}-vpc-logs", spec')
    )
    renamed = _stateful_capture(project)
    moved = set(before) ^ set(renamed)
    assert moved and all("flow-logs" in urn or "vpc-logs" in urn for urn in moved)


@pytest.mark.slow
def test_an_old_render_comes_to_this_template_without_git(tmp_path: Path) -> None:
    project = _old_project(tmp_path)
    edit(project, CLIENT_EDITS)
    before = _stateful_capture(project)
    code, out, err = cli("diff", str(project), "--format", "json")
    assert code == 0, err
    preview = json.loads(out)
    assert preview["mode"] == "files"
    code, out, _ = cli("update", str(project), "--format", "json")
    assert code == 1
    result = json.loads(out)
    assert result["files"] == [
        {k: v for k, v in item.items() if k != "diff"} for item in preview["files"]
    ]
    for rel, text in CLIENT_EDITS.items():
        assert text in (project / rel).read_text(), rel
    for rel in result["conflicts"]:
        assert (project / (rel + update.NEW_SUFFIX)).is_file()
    for item in result["files"]:
        if item["action"] == "add":
            assert (project / item["path"]).is_file()
    record = json.loads((project / ".aideploy.json").read_text())
    assert record["template_version"] == generator.TEMPLATE_VERSION and record["files"]
    # The project still runs as it is (edited files keep their version until merged).
    assert _stateful_capture(project) == before
    result_tests = _project_tests(project)
    assert result_tests.returncode == 0, result_tests.stdout[-3000:]


# --- drift of vendored code, seen in every check ----------------------------------------------


def test_check_warns_when_vendored_code_differs_from_the_pristine_render(tmp_path: Path) -> None:
    project = _generate(tmp_path)
    code, out, err = cli("check", str(project), "--stack", "dev", "--format", "markdown")
    assert code == 0 and "vendored file(s) differ" not in err + out
    edit(
        project,
        {
            "components/naming.py": "# quick fix\n",
            "policies/config/dev.json": "",
            "stacks/Pulumi.dev.yaml": "# ours\n",
        },
    )
    (project / "offline" / "runs.py").unlink()
    code, out, err = cli("check", str(project), "--stack", "dev", "--format", "markdown")
    assert code == 0  # a warning, not a failure
    warning = "2 vendored file(s) differ from the aideploy"
    assert warning in err and "components/naming.py, offline/runs.py" in err
    assert f"> warning: {warning}" in out  # in the pull request's comment too
    assert "policies/config/dev.json" not in err  # the pack config is the client's
    assert "Pulumi.dev.yaml" not in err  # so are the stack files


# --- the record of versions ------------------------------------------------------------------


def test_new_with_git_starts_both_branches_on_the_pristine_render(tmp_path: Path) -> None:
    args = [
        "new", "acme-support", "--cloud", "aws", "--pattern", "api-first",
        "--region", "eu-west-1", "--owner", "ops@acme.example", "--account", "123456789012",
        "--repo", "acme/support", "--sample-model", "--jwt-issuer", "https://login.acme.example",
        "--jwt-audience", "api://acme", "--no-input", "--no-cost", "--git",
        "-o", str(tmp_path / "p"),
    ]  # fmt: skip
    code, _, err = cli(*args)
    assert code == 0, err
    project = tmp_path / "p"
    assert git(project, "rev-parse", "main") == git(project, "rev-parse", update.TEMPLATE_BRANCH)
    assert git(project, "status", "--porcelain") == ""
    tracked = set(git(project, "ls-files").split())
    assert tracked == {*generator.tree_hashes(project), ".aideploy.json"}


def test_the_changelog_describes_the_current_template_version_first(tmp_path: Path) -> None:
    changelog = generator.CHANGELOG.read_text()
    versions = [line[3:].strip() for line in changelog.splitlines() if line.startswith("## ")]
    assert versions[0] == generator.TEMPLATE_VERSION
    assert "Migration from" in changelog.split("## ")[1]  # every new version says how to move
    project = _generate(tmp_path)
    assert (project / "docs" / "template-changelog.md").read_text() == changelog
    readme = (project / "README.md").read_text()
    assert "aideploy update" in readme and "aideploy diff" in readme


def test_update_refuses_what_would_go_wrong_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate(tmp_path)
    update.initialise_git(project)
    record_path = project / ".aideploy.json"
    # A project rendered by a newer aideploy: an update never goes back.
    newer = json.loads(record_path.read_text()) | {"template_version": "99.0.0"}
    record_path.write_text(json.dumps(newer))
    code, _, err = cli("update", str(project), "--dry-run")
    assert code == 2 and "newer than this aideploy" in err
    git(project, "checkout", "-q", "--", ".aideploy.json")
    # A detached HEAD: the merge would land on no branch.
    git(project, "checkout", "-q", "--detach")
    code, _, err = cli("diff", str(project))
    assert code == 2 and "HEAD is detached" in err
    git(project, "checkout", "-q", "main")
    # An untracked file where the render puts one: refused before the branch is touched.
    branch = git(project, "rev-parse", update.TEMPLATE_BRANCH)
    (project / "components" / "alarms.py").unlink()
    commit_all(project, "We removed alarms.py")
    (project / "components" / "alarms.py").write_text("# ours, untracked\n")
    code, _, err = cli("update", str(project))
    assert code == 2 and "untracked components/alarms.py would be overwritten" in err
    assert git(project, "rev-parse", update.TEMPLATE_BRANCH) == branch
    # A dirty work tree: the preview refuses as the update would.
    edit(project, {"docs/runbooks/rollback.md": "uncommitted\n"})
    code, _, err = cli("update", str(project), "--dry-run")
    assert code == 2 and "uncommitted changes" in err


def test_an_update_with_nothing_to_do_says_so_and_writes_nothing(tmp_path: Path) -> None:
    project = _generate(tmp_path)
    edit(project, {"docs/runbooks/rollback.md": "ours\n"})
    before = {p: (project / p).stat().st_mtime_ns for p in (".aideploy.json", "README.md")}
    code, out, _ = cli("update", str(project))
    assert code == 0 and "Already up to date." in out and "Updated" not in out
    assert "1 file(s) edited here that the template did not change are kept" in out
    assert {p: (project / p).stat().st_mtime_ns for p in before} == before


def test_flags_repeating_a_recorded_answer_are_accepted_and_typos_get_a_suggestion(
    tmp_path: Path,
) -> None:
    project = _generate(tmp_path)
    code, _, err = cli("update", str(project), "--sample-model", "--dry-run")
    assert code == 0, err
    code, _, err = cli("update", str(project), "--dryrun")
    assert code == 2 and "did you mean --dry-run?" in err


def test_a_merge_git_refuses_leaves_no_template_branch_behind(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "Generated by aideploy")
    # The client's git knows no identity (and may not guess one): the merge is refused.
    git(project, "config", "user.useConfigOnly", "true")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    head = git(project, "rev-parse", "HEAD")
    no_identity: dict[str, str | None] = {key: None for key in GIT_ENV if "_NAME" in key}
    no_identity |= {key: None for key in GIT_ENV if "_EMAIL" in key}
    result = runner.invoke(app, ["update", str(project)], env={"NO_COLOR": "1", **no_identity})
    code, err = result.exit_code, result.stderr
    assert code == 2 and "git merge failed" in err and "Traceback" not in err
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "branch", "--list", update.TEMPLATE_BRANCH) == ""
    # With an identity, the same update goes through.
    git(project, "config", "user.name", "Client Engineer")
    git(project, "config", "user.email", "eng@client.example")
    code, out, err = cli("update", str(project), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["conflicts"] == []


def test_a_file_where_the_client_has_a_folder_is_refused_and_nothing_moves(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    # The release adds docs/upgrade-notes.md; the client has a folder of that name.
    ours = project / "docs" / "upgrade-notes.md" / "adr-001.md"
    ours.parent.mkdir()
    ours.write_text("our decision record\n")
    before = generator.tree_hashes(project)
    code, _, err = cli("update", str(project), "--no-git")
    assert code == 2 and "puts a file where this project has a folder" in err
    assert ours.read_text() == "our decision record\n"
    assert generator.tree_hashes(project) == before
    assert not list(project.glob(".aideploy-update-*"))


def test_a_stale_template_branch_is_not_used_as_the_base(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    update.initialise_git(project)
    # Release 9.9.9 taken file by file (as a teammate without the branch would): the record
    # moves on, the local aideploy/template branch stays at the old render.
    code, _, err = cli("update", str(project), "--no-git")
    assert code == 0, err
    commit_all(project, "Template 9.9.9, file by file")
    edit(project, {"components/naming.py": CLIENT_EDITS["components/naming.py"]})
    commit_all(project, "Our naming note")
    # Release 9.9.10 changes alarms.py again.
    _prepend(newer_template / "repo" / "components" / "alarms.py", "# alarms rev 9.9.10\n")
    monkeypatch.setattr(generator, "TEMPLATE_VERSION", "9.9.10")
    monkeypatch.setattr(update, "TEMPLATE_VERSION", "9.9.10")
    code, out, err = cli("update", str(project), "--format", "json")
    assert code == 0, err + out  # from the stale branch alarms.py would conflict
    assert json.loads(out)["conflicts"] == []
    alarms = (project / "components/alarms.py").read_text()
    assert alarms.startswith("# alarms rev 9.9.10\n# alarms rev 9.9.9\n")
    assert CLIENT_EDITS["components/naming.py"] in (project / "components/naming.py").read_text()


def test_a_merge_a_hook_refuses_is_undone(
    tmp_path: Path, newer_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate_before_release(tmp_path, monkeypatch)
    update.initialise_git(project)
    hook = project / ".git" / "hooks" / "commit-msg"
    hook.write_text("#!/bin/sh\necho 'commit-msg: ticket id required' >&2\nexit 1\n")
    hook.chmod(0o755)
    head, branch = (
        git(project, "rev-parse", "HEAD"),
        git(project, "rev-parse", update.TEMPLATE_BRANCH),
    )
    code, _, err = cli("update", str(project))
    assert code == 2 and "git merge failed, nothing changed" in err
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "rev-parse", update.TEMPLATE_BRANCH) == branch
    assert git(project, "status", "--porcelain") == ""
    assert not (project / ".git" / "MERGE_HEAD").exists()


def test_answer_flags_before_the_directory_or_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _generate(tmp_path)
    monkeypatch.chdir(project)
    for args in (["--llm", "none"], ["--sample-model"], ["--llm=none"]):
        code, out, err = cli("update", *args, "--dry-run", "--format", "json")
        assert code == 0, (args, err)
        assert json.loads(out)["files"] == []


def test_converted_line_ends_are_not_an_edit(tmp_path: Path) -> None:
    from policies.check import vendored_drift

    project = _generate(tmp_path)
    for rel in ("components/naming.py", "docs/runbooks/rollback.md"):
        path = project / rel
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert vendored_drift(project)[1] == []
    code, out, _ = cli("update", str(project), "--dry-run", "--format", "json")
    assert code == 0 and json.loads(out)["files"] == []


def test_every_answer_flag_of_new_is_taken_by_update(tmp_path: Path) -> None:
    """The seam between the two commands, from the real `new` command: each of its options
    that carries an answer becomes that answer field in `update` (so a newer template's
    question can be answered with the flag the docs name)."""
    import typer.main

    from cli import answers_from_flags
    from templates.answers import Answers

    not_answers = {"no-cost", "output", "force", "git", "no-input", "format", "help"}
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text("ingress_class: nginx\n")
    new = typer.main.get_command(app).commands["new"]  # type: ignore[attr-defined]
    flags = [
        opt[2:]
        for param in new.params
        for opt in param.opts
        if opt.startswith("--") and opt[2:] not in not_answers
    ]
    assert len(flags) >= 20
    for flag in flags:
        value = str(cluster_file) if flag == "cluster" else "dev=x"
        answers = answers_from_flags([f"--{flag}", value])
        assert len(answers) == 1 and next(iter(answers)) in Answers.model_fields, flag
    assert answers_from_flags(["--cluster", str(cluster_file)]) == {
        "cluster": {"ingress_class": "nginx"}
    }
