"""``python -m ci.release``: sign, verify, promote and publish this project's model releases.

The commands are aideploy's release tool (``components/release_cli.py``, vendored):

    ship MODEL_DIR --version V --key KEY --channel CHANNEL --out BUNDLE
                              (the channel's next release, or nothing when unchanged)
    sign MODEL_DIR --version V --sequence N --key KEY --out BUNDLE [--expires-days D]
    verify MODEL_DIR --bundle BUNDLE --public-key PEM [--min-sequence N]
    promote MODEL_DIR --bundle IN --public-key PREVIOUS_PEM --key KEY --out OUT
    public-key --key KEY --out PEM
    publish MODEL_DIR --bundle BUNDLE --public-key PEM --channel CHANNEL

and two the pipeline uses to read this project's own files, so no value is typed twice:

    output OUTPUTS_JSON NAME    one stack output (``signing_key`` is a KEY, ``release_channel`` a
                                CHANNEL; from ``pulumi stack output --json``)
    version --stack STACK       the stack file's ``model.version``

Exit codes: 0 done, 1 refused (one line saying why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components.release_cli import main as release_main

OWN_COMMANDS = ("output", "version")


def _own(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.release")
    sub = parser.add_subparsers(dest="command", required=True)
    output = sub.add_parser("output", help="print one stack output")
    output.add_argument("outputs", type=Path, metavar="OUTPUTS_JSON")
    output.add_argument("name", metavar="NAME")
    version = sub.add_parser("version", help="print the stack file's model.version")
    version.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    if args.command == "version":
        from ci.stack import stack_spec

        try:
            print(stack_spec(args.stack).model.version)
        except (OSError, ValueError) as exc:
            print(f"error: stack {args.stack}: {exc}".splitlines()[0], file=sys.stderr)
            return 2
        return 0
    try:
        outputs = json.loads(args.outputs.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.outputs}: {exc}", file=sys.stderr)
        return 2
    value = outputs.get(args.name) if isinstance(outputs, dict) else None
    if not isinstance(value, str) or not value:
        print(f"error: {args.outputs} has no output {args.name!r}", file=sys.stderr)
        return 2
    print(value)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command (see the module's docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    if args[0] in OWN_COMMANDS:
        return _own(args)
    return release_main(args)


if __name__ == "__main__":
    sys.exit(main())
