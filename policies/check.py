"""``python -m policies.check --stack prod``: the offline policy check, inside a project.

The same runner ``aideploy check`` uses, with no dependency on aideploy: it runs the project's
program for the stack under Pulumi's mocks and has this folder's policy pack judge every resource
over the analyzer protocol, exactly as ``pulumi preview --policy-pack policies`` would.

Exit codes: 0 no mandatory violation, 1 a mandatory violation, 2 bad input or a program that
failed (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@contextmanager
def spinner(enabled: bool, delay_s: float = 1.0) -> Iterator[Callable[[str], None]]:
    """A rich spinner on stderr for work that takes longer than ``delay_s``, on a terminal only
    (and only when rich is installed); otherwise a no-op progress callback."""
    if enabled:
        try:
            from rich.console import Console
        except ImportError:
            enabled = False
    if not enabled:
        yield lambda _msg: None
        return
    status = Console(stderr=True).status("checking ...", spinner="dots")
    timer = threading.Timer(delay_s, status.start)  # quick checks never flash a spinner
    timer.daemon = True
    timer.start()
    try:
        yield lambda msg: status.update(f"{msg} ...")
    finally:
        timer.cancel()
        status.stop()


# What a project vendors as code (aideploy new copies it; `aideploy update` brings new
# versions): a difference from the pristine render is an edit a reviewer should see. The pack's
# per-environment config is the client's to change and is left out.
VENDORED_CODE = ("components/", "offline/", "policies/", "stacks/")
CLIENT_OWNED = ("policies/config/",)
# Under stacks/ only the tools are vendored; the stack files and profiles are the client's.
TOOLS_ONLY = ("stacks/",)
RECORD_FILE = ".aideploy.json"


def vendored_drift(project_dir: Path) -> tuple[str, list[str]]:
    """The template version and the vendored code files that differ from the pristine render
    recorded in ``.aideploy.json`` (edited or deleted); empty without a record of hashes."""
    import hashlib
    import json

    try:
        record = json.loads((project_dir / RECORD_FILE).read_text(encoding="utf-8"))
        files = record["files"]
        version = str(record.get("template_version", "?"))
    except (OSError, ValueError, KeyError, TypeError):
        return "", []
    if not isinstance(files, dict):
        return "", []
    changed = []
    for rel, expected in sorted(files.items()):
        if not rel.startswith(VENDORED_CODE) or rel.startswith(CLIENT_OWNED):
            continue
        if rel.startswith(TOOLS_ONLY) and not rel.endswith(".py"):
            continue
        path = project_dir / rel
        # CRLF read as LF, as aideploy records it: converted line ends are not an edit.
        data = path.read_bytes().replace(b"\r\n", b"\n") if path.is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != expected:
            changed.append(rel)
    return version, changed


def drift_lines(version: str, changed: list[str]) -> list[str]:
    """The warning a check prints about vendored code that differs from its render."""
    if not changed:
        return []
    more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
    shown = ", ".join(changed[:10]) + more
    return [
        f"warning: {len(changed)} vendored file(s) differ from the aideploy {version} render: "
        f"{shown}. Keep such edits deliberate and reviewed; `aideploy diff` shows what an "
        "update would bring."
    ]


def run(
    project_dir: Path,
    *,
    stack: str | None,
    all_stacks: bool,
    fmt: str,
    config_file: Path | None,
    pack_dir: Path | None = None,
    out: Callable[[str], object] | None = None,
    interactive: bool = False,
) -> int:
    """Check the project's stacks and write the report; returns the exit code.

    Raises the runner's errors (ProjectError, ProgramError, ...) for the caller to report.
    """
    from offline.program import ProjectError
    from policies.runner.engine import check_project, resolve_stacks
    from policies.runner.report import Format, exit_code, render

    try:
        report_format = Format(fmt)
    except ValueError:
        choices = ", ".join(f.value for f in Format)
        raise ProjectError(f"unknown format {fmt!r}: choose {choices}") from None
    stacks = resolve_stacks(project_dir, stack, all_stacks)
    with spinner(interactive) as progress:
        reports = check_project(
            project_dir, stacks, config_file=config_file, pack_dir=pack_dir, progress=progress
        )
    width = None
    if interactive and report_format is Format.TEXT:
        import shutil

        width = shutil.get_terminal_size().columns
    text = render(reports, report_format, project_dir=project_dir, terminal_width=width)
    warnings = drift_lines(*vendored_drift(project_dir))
    if warnings and report_format is Format.MARKDOWN:
        # The pull request's comment: the reviewer sees the drift beside the findings.
        text += "\n" + "".join(f"> {line}\n" for line in warnings)
    (out or sys.stdout.write)(text)
    for line in warnings:  # stderr: JSON and SARIF on stdout keep their shape
        print(line, file=sys.stderr)
    return exit_code(reports)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the check, map errors to one line and exit code 2."""
    from offline.capture import ProgramError
    from offline.program import ProjectError

    parser = argparse.ArgumentParser(
        prog="python -m policies.check",
        description="Check a stack offline against the project's policy pack.",
    )
    parser.add_argument("--stack", help="the stack to check, e.g. prod")
    parser.add_argument("--all", action="store_true", dest="all_stacks", help="every stack")
    parser.add_argument(
        "--format", default="text", choices=["text", "json", "sarif", "markdown"], dest="fmt"
    )
    parser.add_argument("--config", type=Path, help="a policy config file instead of the env's")
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder")
    args = parser.parse_args(argv)
    try:
        return run(
            args.project,
            stack=args.stack,
            all_stacks=args.all_stacks,
            fmt=args.fmt,
            config_file=args.config,
            pack_dir=PACK_DIR,
            interactive=sys.stderr.isatty(),
        )
    except ProgramError as exc:
        print(f"error: the Pulumi program failed: {exc}", file=sys.stderr)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
