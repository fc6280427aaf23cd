"""Where the model image goes and which version a release gets, from the stack files.

    python -m ci.model_image repository        # e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/model
    python -m ci.model_image version --commit SHA   # e.g. 1.0.0-1a2b3c4d5e6f
    python -m ci.model_image port              # the stack's model.port (what the image serves)
    python -m ci.model_image health-url [--host H]  # http://H:<port><health_path>

The repository is the one every stack file names (bootstrap created it; all stacks pull the same
image, promoted by digest). A release's version is the model version in `model/VERSION` (bump
it to name a release; without the file, the dev stack's `model.version`) plus the commit, so
every build gets its own immutable tag. Standard library and PyYAML only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# An image reference's tag or digest, stripped to leave the repository.
_TAG_OR_DIGEST = re.compile(r"(@sha256:[a-f0-9]{64}|:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$")


def _model(stack: str = "dev") -> dict[str, str]:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    model: dict[str, str] = config[f"{project}:model"]
    return model


def repository() -> str:
    """The image repository the stacks name (without tag or digest)."""
    image = str(_model()["image"])
    return _TAG_OR_DIGEST.sub("", _TAG_OR_DIGEST.sub("", image))


# A release version is "<model version>-<12 hex of the commit>"; the base never grows.
_COMMIT_SUFFIX = re.compile(r"(-[0-9a-f]{12})+$")


def version(commit: str) -> str:
    """The release version of a build: the model version in `model/VERSION` (bumped by hand to
    name a release) and the first 12 hex of the commit, so each build has its own immutable tag.
    Without the file, the dev stack's version without any earlier build's commit suffix."""
    file = ROOT / "model" / "VERSION"
    base = file.read_text().strip() if file.is_file() else str(_model()["version"])
    base = _COMMIT_SUFFIX.sub("", base)
    if not re.fullmatch(r"[0-9a-f]{12,40}", commit):
        raise ValueError(f"--commit {commit!r} is not a git commit id")
    return f"{base}-{commit[:12]}"


def port() -> int:
    """The port every stack's platform sends requests and probes to."""
    return int(_model().get("port", 8080))


def health_url(host: str = "127.0.0.1") -> str:
    """Where the running image answers its readiness probe."""
    return f"http://{host}:{port()}{_model().get('health_path', '/health')}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m ci.model_image")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("repository")
    p_version = sub.add_parser("version")
    p_version.add_argument("--commit", required=True)
    sub.add_parser("port")
    p_health = sub.add_parser("health-url")
    p_health.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        if args.command == "repository":
            print(repository())
        elif args.command == "version":
            print(version(args.commit))
        elif args.command == "port":
            print(port())
        else:
            print(health_url(args.host))
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
