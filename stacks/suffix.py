"""``python -m stacks.suffix renew <stack>``: a new name suffix for a stack that was destroyed.

Every stack file holds ``<project>:suffix``, chosen at random when the stack was created. It goes
into the names a cloud keeps after a delete (a GCP key ring can never be deleted, a Key Vault
and an API Management instance stay soft-deleted for up to 90 days, a Cloud Endpoints name for
30) and into names that must be unique worldwide. So after ``pulumi destroy``, the next
``pulumi up`` of the same stack would collide with its own remains: renew the suffix first.

Never renew the suffix of a stack that is up: every one of those resources would be replaced.
The command refuses to write without ``--yes`` and says so.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from offline.program import ProjectError, load_project, stack_file

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
LENGTH = 6


def new_suffix() -> str:
    """A random suffix the spec accepts (6 lowercase letters and digits)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def renew(project_dir: Path, stack: str, suffix: str | None = None) -> tuple[str, str, str]:
    """The stack file's new text with a new suffix: ``(before, after, new suffix)``."""
    project = load_project(project_dir)["name"]
    path = stack_file(project_dir, stack)
    if not path.is_file():
        raise ProjectError(f"no stack file for stack {stack!r} at {path}")
    before = path.read_text(encoding="utf-8")
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    try:
        doc = rt.load(before)
    except RuamelYAMLError as exc:
        raise ProjectError(f"{path}: malformed YAML") from exc
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("config"), CommentedMap):
        raise ProjectError(f"{path}: expected a mapping with a 'config' mapping")
    key = f"{project}:suffix"
    old = doc["config"].get(key)
    value = suffix or new_suffix()
    while value == old:
        value = new_suffix()
    doc["config"][key] = value
    out = io.StringIO()
    rt.dump(doc, out)
    return before, out.getvalue(), value


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 0 written or shown, 2 bad input."""
    parser = argparse.ArgumentParser(prog="python -m stacks.suffix", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_renew = sub.add_parser("renew", help="a new suffix for a destroyed stack")
    p_renew.add_argument("stack")
    p_renew.add_argument("--project", type=Path, default=Path("."))
    p_renew.add_argument("--yes", action="store_true", help="write (the stack is destroyed)")
    args = parser.parse_args(argv)
    try:
        path = stack_file(args.project, args.stack)
        before, after, value = renew(args.project, args.stack)
        if not args.yes:
            print(
                f"would set {args.stack}'s suffix to {value}: only for a stack that was "
                "destroyed (`pulumi destroy`); pass --yes to write",
                file=sys.stderr,
            )
            return 0
        if path.read_text(encoding="utf-8") != before:
            raise ProjectError(f"{path} changed while renewing; nothing written")
        write_atomically(path, after)
    except (ProjectError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.stack}: new suffix {value} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
