"""``aideploy update`` and ``aideploy diff``: bring a generated project to this template version.

The project records how it was made in ``.aideploy.json``: the validated answers, the name
suffixes, the template version and the hash of every file of the pristine render. An update
renders the project again, with the installed aideploy, from the same answers and suffixes
(so no stack's names change), and merges three ways: base = the old pristine render, ours =
the project as the client keeps it, theirs = the new render.

- **With git** (the project is the root of a git work tree): the pristine renders live on the
  branch ``aideploy/template``; the new render is committed there on top of the old one and
  merged into the current branch with an ordinary ``git merge``, so git picks the base and
  conflicts appear as ordinary markers. A project without that branch gets it on its first
  update: its base is rebuilt from the project's history (each file's recorded hash found
  among the blobs git holds) and tied to the current branch with ``git merge -s ours``.
- **Without git:** a file still matching its pristine hash is replaced; an edited one keeps the
  client's version and gets the new one beside it (``<file>.aideploy-new``) for review. Every
  write is staged first and moved into place at the end; a failure puts every file back.

A project generated before hashes were recorded has no known base: every file that differs
from the new render counts as edited. An update never changes a recorded answer or suffix;
answers a newer template needs are asked for (or given as ``aideploy new``'s flags).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - git with fixed arguments, never a shell
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from components.spec import Environment, describe_validation_error
from templates.answers import Answers
from templates.generator import (
    RECORD_FILE,
    TEMPLATE_VERSION,
    GenerationError,
    Suffixes,
    check_generatable,
    estimate_costs,
    file_hash,
    plan_project,
    render_project,
    tree_hashes,
)

TEMPLATE_BRANCH = "aideploy/template"
# The file-by-file update's backup folder inside the project, while it moves files.
BACKUP_PREFIX = ".aideploy-update-backup-"
NEW_SUFFIX = ".aideploy-new"
# The author of aideploy's own renders: the template branch's commits and the first commit of
# `aideploy new --git` (the pristine render). Merges into the client's branch are the client's.
_BOT = {
    "GIT_AUTHOR_NAME": "aideploy",
    "GIT_AUTHOR_EMAIL": "aideploy@localhost",
    "GIT_COMMITTER_NAME": "aideploy",
    "GIT_COMMITTER_EMAIL": "aideploy@localhost",
}
# How far back the first update looks for the pristine render in the project's history.
_HISTORY_LIMIT = 500


class UpdateError(GenerationError):
    """A project that cannot be updated as it stands: one clear line for the user."""


class Action(str, Enum):
    """What an update does with one file."""

    ADD = "add"  # new in the template
    REPLACE = "replace"  # unedited here, changed in the template
    DELETE = "delete"  # unedited here, gone from the template
    MERGE = "merge"  # edited here and changed in the template (or no base is known)
    KEEP = "keep"  # edited here, unchanged in the template: left as it is
    # One side deleted it, the other changed it: the file is left as it is here (deleted, or
    # with the client's edits); git reports it as a modify/delete conflict to decide.
    KEEP_DELETED = "keep-deleted"  # deleted here, changed in the template
    DROPPED = "dropped"  # edited here, gone from the template


# The actions that change something or need a decision; unchanged files are not listed.
CHANGES = (
    Action.ADD,
    Action.REPLACE,
    Action.DELETE,
    Action.MERGE,
    Action.KEEP_DELETED,
    Action.DROPPED,
)


@dataclass(frozen=True)
class Entry:
    """One file of the update: its path (POSIX, relative to the project) and action."""

    path: str
    action: Action
    edited: bool  # the client changed it since the pristine render


@dataclass(frozen=True)
class ProjectRecord:
    """``.aideploy.json`` as read: the raw answers (validated later), suffixes, base hashes."""

    template_version: str
    answers: dict[str, Any]
    suffixes: Suffixes
    costs: bool
    files: dict[str, str] | None  # None: generated before hashes were recorded
    text: str


@dataclass
class UpdatePlan:
    """An update worked out and rendered, not applied yet (``diff`` and ``--dry-run`` stop here)."""

    project: Path
    record: ProjectRecord
    answers: Answers
    rendered: Path  # the new pristine render (a temporary folder)
    entries: list[Entry]
    git: bool
    added_answers: dict[str, Any] = field(default_factory=dict)

    @property
    def from_version(self) -> str:
        """The template version the project was last rendered with."""
        return self.record.template_version

    @property
    def changes(self) -> list[Entry]:
        """The entries that change something, in path order."""
        return [e for e in self.entries if e.action in CHANGES]

    def new_record(self) -> str:
        """The ``.aideploy.json`` the new render wrote."""
        return (self.rendered / RECORD_FILE).read_text(encoding="utf-8")

    def to_json(self) -> dict[str, Any]:
        """The plan for scripts (``--format json``)."""
        return {
            "project": str(self.project),
            "from_version": self.from_version,
            "to_version": TEMPLATE_VERSION,
            "mode": "git" if self.git else "files",
            "base_known": self.record.files is not None,
            "added_answers": self.added_answers,
            "files": [
                {"path": e.path, "action": e.action.value, "edited": e.edited}
                for e in self.entries
                if e.action is not Action.KEEP or e.edited
            ],
        }


@dataclass(frozen=True)
class UpdateResult:
    """What an applied update did."""

    plan: UpdatePlan
    conflicts: tuple[str, ...]  # files with conflict markers (git) or a .aideploy-new beside
    commit: str | None = None  # the merge commit (git, no conflicts)


# --- reading the record ---------------------------------------------------------------------


def read_record(project: Path) -> ProjectRecord:
    """The project's ``.aideploy.json``; a missing or damaged one is a one-line error."""
    if not project.is_dir():
        raise UpdateError(f"{project}: no such folder")
    path = project / RECORD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UpdateError(
            f"{project}: no {RECORD_FILE}; is this a project made by `aideploy new`?"
        ) from None
    try:
        data = json.loads(text)
        answers = data["answers"]
        stacks = {Environment(k): str(v) for k, v in data["suffixes"]["stacks"].items()}
        bootstrap = {str(k): str(v) for k, v in data["suffixes"]["bootstrap"].items()}
        files = data.get("files")
        if not isinstance(answers, dict) or (files is not None and not isinstance(files, dict)):
            raise TypeError
        if not {"name", "cloud", "pattern"} <= set(answers):
            raise KeyError("answers")
        return ProjectRecord(
            template_version=str(data["template_version"]),
            answers=answers,
            suffixes=Suffixes(stacks, bootstrap),
            # A project made before the flag was recorded was made by `aideploy new`, which
            # estimates costs unless told not to: its README has the table iff it says so.
            costs=bool(data.get("costs", _readme_has_costs(project))),
            files={str(k): str(v) for k, v in files.items()} if files is not None else None,
            text=text,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UpdateError(
            f"{path}: not a record aideploy can read (answers, suffixes and template_version "
            "are required); restore it from version control"
        ) from None


def _readme_has_costs(project: Path) -> bool:
    readme = project / "README.md"
    return readme.is_file() and "list prices for" in readme.read_text(encoding="utf-8")


def version_key(version: str) -> tuple[int, ...]:
    """``"0.10.1"`` as ``(0, 10, 1)``: template versions compare numerically."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise UpdateError(f"{RECORD_FILE}: template_version {version!r} is not N.N.N") from None


def _same_answer(name: str, given: Any, recorded: Any) -> bool:
    """Whether a flag's value is the recorded answer (``"true"`` is ``True``), compared after
    the answer field's own validation."""
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(Answers.model_fields[name].annotation or Any)
    try:
        return bool(adapter.validate_python(given) == adapter.validate_python(recorded))
    except ValueError:
        return False


def validated_answers(
    record: ProjectRecord, given: Mapping[str, Any] | None = None
) -> tuple[Answers, dict[str, Any]]:
    """The recorded answers, plus ``given`` ones for fields the record does not have.

    A recorded answer is never changed by an update (names and accounts hang on them): giving
    one again is refused. Returns the answers and the ones added.
    """
    given = dict(given or {})
    clash = sorted(
        k for k in given if k in record.answers and not _same_answer(k, given[k], record.answers[k])
    )
    if clash:
        raise UpdateError(
            f"{clash[0]} is already answered ({record.answers[clash[0]]!r}); an update keeps "
            "every recorded answer (change it with a new project, not an update)"
        )
    added = {k: v for k, v in given.items() if k not in record.answers}
    try:
        return Answers.model_validate({**record.answers, **added}), added
    except ValueError as exc:
        raise UpdateError(f"answers: {describe_validation_error(exc)}") from exc


def missing_answers(record: ProjectRecord) -> list[str]:
    """Answer fields the installed template requires that the record does not hold."""
    return [
        name
        for name, info in Answers.model_fields.items()
        if info.is_required() and name not in record.answers
    ]


# --- planning -------------------------------------------------------------------------------


def classify(
    base: Mapping[str, str] | None, current: Mapping[str, str], new: Mapping[str, str]
) -> list[Entry]:
    """What to do with each file, from three hash maps (base None: no base is known)."""
    known = base or {}
    entries = []
    for path in sorted(set(known) | set(new)):
        b, c, n = known.get(path), current.get(path), new.get(path)
        edited = c != b if base is not None else (c is not None and c != n)
        if c == n:
            continue
        if n is None:  # the template dropped it
            if c is None:
                continue
            entries.append(Entry(path, Action.DELETE if c == b else Action.DROPPED, c != b))
        elif c is None:
            if b is None:
                entries.append(Entry(path, Action.ADD, False))
            elif n != b:  # deleted here, changed in the template
                entries.append(Entry(path, Action.KEEP_DELETED, True))
            # deleted here, unchanged in the template: the deletion simply stands
        elif base is not None and c == b:
            entries.append(Entry(path, Action.REPLACE, False))
        elif base is not None and n == b:
            entries.append(Entry(path, Action.KEEP, True))
        else:
            entries.append(Entry(path, Action.MERGE, edited))
    return entries


def is_git_root(project: Path) -> bool:
    """Whether ``project`` is the top of a git work tree (update then merges with git)."""
    if shutil.which("git") is None or not (project / ".git").exists():
        return False
    top = _git(project, "rev-parse", "--show-toplevel", check=False)
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == project.resolve()


def plan_update(
    project: Path,
    *,
    given: Mapping[str, Any] | None = None,
    use_git: bool | None = None,
) -> UpdatePlan:
    """Read the record, render the new version beside the project and classify every file.

    The caller owns the plan's ``rendered`` folder: :func:`discard` removes it.
    """
    project = project.resolve()
    if not project.is_dir():
        raise UpdateError(f"{project}: no such folder")
    record = read_record(project)
    if version_key(record.template_version) > version_key(TEMPLATE_VERSION):
        raise UpdateError(
            f"the project is at template {record.template_version}, newer than this aideploy's "
            f"{TEMPLATE_VERSION}: upgrade aideploy (an update never goes back)"
        )
    leftovers = sorted(p for p in tree_hashes(project) if p.endswith(NEW_SUFFIX))
    if leftovers:
        more = f" (and {len(leftovers) - 1} more)" if len(leftovers) > 1 else ""
        raise UpdateError(
            f"{leftovers[0]}{more} is left from an earlier update: merge each into its file "
            "and delete it first"
        )
    answers, added = validated_answers(record, given)
    if answers.project_slug != project_name(record):
        raise UpdateError(f"{RECORD_FILE}: its answers name another project")
    check_generatable(answers)
    try:
        project_plan = plan_project(answers, suffixes=record.suffixes)
    except ValueError as exc:
        raise UpdateError(f"invalid answers: {describe_validation_error(exc)}") from exc
    reports = estimate_costs(project_plan) if record.costs else {}
    staging = Path(tempfile.mkdtemp(prefix=f".{project.name}.update-", dir=project.parent))
    try:
        rendered = render_project(project_plan, staging, reports)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    current = tree_hashes(project)
    new = tree_hashes(rendered)
    entries = classify(record.files, current, new)
    git = is_git_root(project) if use_git is None else use_git
    plan = UpdatePlan(project, record, answers, rendered, entries, git, added)
    if git:
        try:  # what the merge would refuse, refused before anything is shown or written
            _require_mergeable(project, new)
        except BaseException:
            discard(plan)
            raise
    return plan


def project_name(record: ProjectRecord) -> str:
    """The project slug the record's answers make."""
    from templates.answers import project_slug

    return project_slug(str(record.answers.get("name", "")))


def discard(plan: UpdatePlan) -> None:
    """Remove the plan's temporary render."""
    shutil.rmtree(plan.rendered.parent, ignore_errors=True)


@contextmanager
def planned(
    project: Path, *, given: Mapping[str, Any] | None = None, use_git: bool | None = None
) -> Iterator[UpdatePlan]:
    """:func:`plan_update` whose render is removed on the way out."""
    plan = plan_update(project, given=given, use_git=use_git)
    try:
        yield plan
    finally:
        discard(plan)


# --- previews -------------------------------------------------------------------------------


def unified_diff(plan: UpdatePlan, entry: Entry) -> str:
    """The template's change to one file as a unified diff.

    With git and a known base, base -> new (the template's own change); otherwise the project's
    file -> new, in which the client's own edits show as removals.
    """
    import difflib

    new_path = plan.rendered / entry.path
    old_text = _base_text(plan, entry.path) if plan.git and entry.edited else None
    label = f"template {plan.from_version}"
    if old_text is None:
        old_path = plan.project / entry.path
        old_text = _text(old_path) if old_path.is_file() else ""
        # Without the old render the diff starts from this project's file: lines the client
        # added show as removed, although the merge keeps them.
        label = (
            "this project; your own lines show as '-' but are kept"
            if entry.edited
            else ("this project")
        )
    new_text = _text(new_path) if new_path.is_file() else ""
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"a/{entry.path} ({label})",
            tofile=f"b/{entry.path} (template {TEMPLATE_VERSION})",
        )
    )


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"(binary file, {len(data)} bytes)\n"


def _base_text(plan: UpdatePlan, path: str) -> str | None:
    """The old pristine text of ``path`` where git holds it (template branch or history)."""
    expected = (plan.record.files or {}).get(path)
    if expected is None:
        return None
    options = _file_versions(plan.project, path).get(path, [])
    contents = _cat_blobs(plan.project, [blob for _, blob in options])
    for _, blob in options:
        data = contents.get(blob)
        if data is not None and file_hash(data) == expected:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _file_versions(project: Path, *paths: str) -> dict[str, list[tuple[str, str]]]:
    """Every version git holds of each path (all paths if none are named): ``{path: [(mode,
    blob), ...]}``, newest first, over the last ``_HISTORY_LIMIT`` commits of every branch."""
    out = _git(
        project,
        "log",
        "--all",
        # Limited to the paths asked about, the whole history is cheap; unlimited, bounded.
        *(() if paths else (f"--max-count={_HISTORY_LIMIT}",)),
        "--root",  # a root commit's files count as added
        "--format=",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        *(("--", *paths) if paths else ()),
        check=False,
    ).stdout
    versions: dict[str, list[tuple[str, str]]] = {}
    for line in out.splitlines():
        # ":100644 100644 <old blob> <new blob> M\tpath"; a deletion's new blob is all zeros
        meta, _, path = line.partition("\t")
        fields = meta.split()
        if line.startswith(":") and len(fields) >= 4 and set(fields[3]) != {"0"}:
            versions.setdefault(path, []).append((fields[1], fields[3]))
    return versions


# --- applying -------------------------------------------------------------------------------


def apply_update(plan: UpdatePlan) -> UpdateResult:
    """Apply a plan: a git merge, or the file-by-file update. Removes the render afterwards.

    Nothing to change and the same record: nothing is written and no commit is made.
    """
    try:
        if not plan.changes and plan.new_record() == plan.record.text:
            return UpdateResult(plan, ())
        return _apply_git(plan) if plan.git else _apply_files(plan)
    finally:
        discard(plan)


def _apply_files(plan: UpdatePlan) -> UpdateResult:
    """Without git: replace unedited files, put the new version beside edited ones.

    Everything is staged in a temporary folder beside the project first; the moves into
    place come last, and if one fails every file moved so far is put back.
    """
    project, rendered = plan.project, plan.rendered
    writes: dict[str, Path] = {}  # project path -> staged file
    deletes: list[str] = []
    conflicts: list[str] = []
    for entry in plan.entries:
        if entry.action in (Action.ADD, Action.REPLACE):
            writes[entry.path] = rendered / entry.path
        elif entry.action is Action.DELETE:
            deletes.append(entry.path)
        elif entry.action is Action.MERGE:
            writes[entry.path + NEW_SUFFIX] = rendered / entry.path
            conflicts.append(entry.path)
    writes[RECORD_FILE] = rendered / RECORD_FILE  # last: the record says what happened
    # Inside the project, so every move is a rename on one filesystem (a bind-mounted project
    # is a filesystem of its own); tree_hashes never reads it.
    backup = Path(tempfile.mkdtemp(prefix=BACKUP_PREFIX, dir=project))
    for rel in writes:
        target = project / rel
        if (
            target.is_symlink()
            or target.is_dir()
            or any(
                (project / parent).is_file() or (project / parent).is_symlink()
                for parent in Path(rel).parents
                if str(parent) != "."
            )
        ):
            shutil.rmtree(backup, ignore_errors=True)
            raise UpdateError(
                f"{rel}: the new render puts a file where this project has a folder, a link or "
                "a file on its path; move it aside first (nothing was changed)"
            )
    done: list[tuple[Path, Path | None]] = []  # (target, its backup or None if it was new)
    created: list[Path] = []
    try:
        for rel in [*sorted(p for p in writes if p != RECORD_FILE), RECORD_FILE, *deletes]:
            target = project / rel
            saved: Path | None = None
            if target.exists():
                saved = backup / rel
                saved.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, saved)
            done.append((target, saved))
            if rel in writes:
                # Folders made for new files, outermost first, so a rollback can remove them.
                missing = [d for d in reversed(Path(rel).parents) if not (project / d).exists()]
                created.extend(project / d for d in missing)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(writes[rel], target)
    except BaseException:
        try:
            for target, saved in reversed(done):
                if target.exists() and (saved is None or target.is_file()):
                    target.unlink()
                if saved is not None:
                    os.replace(saved, target)
            for folder in reversed(created):  # innermost first; only the ones we made
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        except OSError:
            # The originals not yet put back stay in the backup folder; say where.
            raise UpdateError(
                f"the update failed and could not put every file back: the originals are in "
                f"{backup}"
            ) from None
        shutil.rmtree(backup, ignore_errors=True)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    return UpdateResult(plan, tuple(conflicts))


def _git(
    project: Path,
    *args: str,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    binary: bool = False,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[Any]:
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        ["git", "-C", str(project), *args],
        capture_output=True,
        text=not binary,
        env=full_env,
        input=stdin,
        check=False,
    )
    if check and result.returncode != 0:
        err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise UpdateError(f"git {args[0]} failed: {last}")
    return result


def _require_mergeable(project: Path, new: Mapping[str, str]) -> None:
    """Refuse what would stop or spoil the merge: a merge in progress, uncommitted changes,
    a detached HEAD, no commit yet, or untracked files where the new render puts files."""
    if _merge_in_progress(project):
        raise UpdateError("a merge is in progress: finish or abort it before updating")
    status = _git(project, "status", "--porcelain", "--untracked-files=no").stdout
    if status.strip():
        raise UpdateError(
            "the work tree has uncommitted changes: commit or stash them first (the update is "
            "a merge)"
        )
    if _git(project, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0:
        raise UpdateError("the repository has no commit yet: commit the project first")
    if _git(project, "symbolic-ref", "-q", "HEAD", check=False).returncode != 0:
        raise UpdateError("HEAD is detached: check out the branch to update first")
    untracked = _git(project, "ls-files", "--others", "--exclude-standard", "-z").stdout
    in_the_way = sorted(set(untracked.split("\0")) & set(new))
    if in_the_way:
        more = f" and {len(in_the_way) - 1} more" if len(in_the_way) > 1 else ""
        raise UpdateError(
            f"untracked {in_the_way[0]}{more} would be overwritten by the update: commit, "
            "move or delete it first"
        )


def _merge_in_progress(project: Path) -> bool:
    # --git-path: a worktree's .git is a file, its MERGE_HEAD lives elsewhere
    path = str(_git(project, "rev-parse", "--git-path", "MERGE_HEAD").stdout).strip()
    return (project / path).exists()


def _current_template_base(project: Path) -> str | None:
    """The commit of the template branch that holds the render this project was last updated
    to: the local branch, else a remote's (a teammate updated and pushed), else None.

    A branch whose record differs from HEAD's is stale (an update made elsewhere, or with
    --no-git): merging from it would take a wrong base, so it is not used.
    """
    head_record = _git(project, "rev-parse", "-q", "--verify", f"HEAD:{RECORD_FILE}", check=False)
    if head_record.returncode != 0:
        return None
    refs = _git(
        project,
        "for-each-ref",
        "--format=%(refname)",
        f"refs/heads/{TEMPLATE_BRANCH}",
        f"refs/remotes/*/{TEMPLATE_BRANCH}",
    ).stdout.split()
    for ref in refs:
        record = _git(project, "rev-parse", "-q", "--verify", f"{ref}:{RECORD_FILE}", check=False)
        if record.returncode == 0 and record.stdout.strip() == head_record.stdout.strip():
            return str(_git(project, "rev-parse", ref).stdout.strip())
    return None


def _tree_from_files(project: Path, files: Mapping[str, tuple[str, str]]) -> str:
    """A tree object of ``{path: (mode, blob)}``, written through a throwaway index."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        lines = "".join(f"{mode} {blob}\t{path}\n" for path, (mode, blob) in files.items())
        if lines:
            _git(project, "update-index", "--add", "--index-info", env=env, stdin=lines)
        return str(_git(project, "write-tree", env=env).stdout.strip())


def _tree_of_folder(project: Path, folder: Path) -> str:
    """A tree object holding exactly the files of ``folder`` (the new render)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        # -f: the render's own .gitignore must not hide a file the template ships
        _git(project, f"--work-tree={folder}", "add", "-A", "-f", ".", env=env)
        return str(_git(project, "write-tree", env=env).stdout.strip())


def _reconstructed_base(plan: UpdatePlan) -> dict[str, tuple[str, str]]:
    """The old pristine render, file by file, from the blobs git holds.

    Each file's recorded hash is looked for among the versions of that path in the history;
    a file never committed as rendered (edited before the first commit) has no base and is
    merged as added on both sides. The record itself is taken from HEAD.
    """
    project = plan.project
    wanted = dict(plan.record.files or {})
    found: dict[str, tuple[str, str]] = {}
    head = _git(project, "ls-tree", "-r", "HEAD", "--", RECORD_FILE).stdout.split()
    if len(head) >= 3:
        found[RECORD_FILE] = (head[0], head[2])
    if not wanted:
        return found
    # A file the new render holds unchanged since the recorded one needs no history: its
    # base is the new render's own content (this also covers squashed or long histories).
    same = sorted(p for p, h in wanted.items() if file_hash_of(plan.rendered / p) == h)
    if same:
        blobs_out = _git(
            project,
            "hash-object",
            "-w",
            "--stdin-paths",
            stdin="".join(f"{plan.rendered / p}\n" for p in same),
        ).stdout.split()
        found.update({p: ("100644", blob) for p, blob in zip(same, blobs_out, strict=True)})
    rest = sorted(set(wanted) - set(found))
    candidates = _file_versions(project, *rest) if rest else {}
    blobs = sorted({blob for options in candidates.values() for _, blob in options})
    contents = _cat_blobs(project, blobs)
    for path, options in candidates.items():
        for mode, blob in options:
            if blob in contents and file_hash(contents[blob]) == wanted[path]:
                found[path] = (mode, blob)
                break
    return found


def file_hash_of(path: Path) -> str | None:
    """The recorded-style hash of a file, or None if there is no such file."""
    return file_hash(path.read_bytes()) if path.is_file() else None


def _cat_blobs(project: Path, blobs: list[str]) -> dict[str, bytes]:
    """Blob contents by id, in one ``git cat-file --batch``."""
    if not blobs:
        return {}
    proc = subprocess.run(
        ["git", "-C", str(project), "cat-file", "--batch"],
        input="".join(f"{b}\n" for b in blobs).encode(),
        capture_output=True,
        check=False,
    )
    data, pos, out = proc.stdout, 0, {}
    for blob in blobs:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) < 3:  # "<id> missing": no body follows
            continue
        size = int(header[2])
        if header[1] == b"blob":
            out[blob] = data[pos : pos + size]
        pos += size + 1
    return out


def _apply_git(plan: UpdatePlan) -> UpdateResult:
    """Commit the new render on the template branch and merge it into the current branch."""
    project = plan.project
    branch_base = _current_template_base(project)
    if branch_base is not None:
        base = branch_base
    else:
        # First update: rebuild the old pristine render as the branch's first commit and make
        # it an ancestor of the current branch (nothing in the work tree changes).
        tree = _tree_from_files(project, _reconstructed_base(plan))
        base = _git(
            project,
            "commit-tree",
            tree,
            "-m",
            f"aideploy template {plan.from_version} (pristine render, rebuilt from history)",
            env=_BOT,
        ).stdout.strip()
        # Tie it in first and name the branch after: if git refuses the merge (no identity,
        # a hook), no branch is left pointing at a base the current branch does not have.
        _git(
            project,
            "merge",
            "-s",
            "ours",
            "--allow-unrelated-histories",
            "--no-edit",
            "--no-verify",  # a bookkeeping merge: no file changes for a hook to judge
            "-m",
            f"Record the pristine aideploy {plan.from_version} render as {TEMPLATE_BRANCH}",
            base,
        )
        _git(project, "update-ref", f"refs/heads/{TEMPLATE_BRANCH}", base)
    tree = _tree_of_folder(project, plan.rendered)
    if tree == _git(project, "rev-parse", f"{base}^{{tree}}").stdout.strip() and not any(
        e.action in CHANGES for e in plan.entries
    ):
        # The branch already holds this render and the project has everything from it.
        return UpdateResult(plan, (), _git(project, "rev-parse", "HEAD").stdout.strip())
    commit = _git(
        project,
        "commit-tree",
        tree,
        "-p",
        base,
        "-m",
        f"aideploy template {TEMPLATE_VERSION} (pristine render)",
        env=_BOT,
    ).stdout.strip()
    _git(project, "update-ref", f"refs/heads/{TEMPLATE_BRANCH}", commit, base)
    merge = _git(
        project,
        "merge",
        "--no-ff",
        "--no-edit",
        "-m",
        f"Update to aideploy template {TEMPLATE_VERSION} (from {plan.from_version})",
        TEMPLATE_BRANCH,
        check=False,
    )
    conflicts = tuple(
        sorted(_git(project, "diff", "--name-only", "--diff-filter=U").stdout.split("\n"))
    )
    conflicts = tuple(c for c in conflicts if c)
    if merge.returncode != 0 and not conflicts:
        # Git refused (a hook, a signing failure): undo a half-made merge, and the template
        # branch goes back to where it was, so the next attempt starts from the same base.
        if _merge_in_progress(project):
            _git(project, "merge", "--abort", check=False)
        _git(project, "update-ref", f"refs/heads/{TEMPLATE_BRANCH}", base, commit)
        lines = (merge.stderr + merge.stdout).strip().splitlines() or ["no output"]
        reason = next((ln for ln in lines if ln.startswith(("error:", "fatal:"))), lines[-1])
        raise UpdateError(f"git merge failed, nothing changed: {reason}")
    head = None if conflicts else _git(project, "rev-parse", "HEAD").stdout.strip()
    return UpdateResult(plan, conflicts, head)


def initialise_git(project: Path) -> None:
    """Make a fresh project a git repository whose first commit is the pristine render, on
    both ``main`` and the template branch (``aideploy new --git``)."""
    if shutil.which("git") is None:
        raise UpdateError("--git: git is not installed")
    _git(project, "init", "-q", "-b", "main")
    tree = _tree_of_folder(project, project)
    commit = _git(
        project,
        "commit-tree",
        tree,
        "-m",
        f"aideploy template {TEMPLATE_VERSION} (pristine render)",
        env=_BOT,
    ).stdout.strip()
    _git(project, "update-ref", f"refs/heads/{TEMPLATE_BRANCH}", commit)
    _git(project, "update-ref", "refs/heads/main", commit)
    _git(project, "reset", "-q")  # the index matches the commit
