"""Rollout helpers for the pipeline, reading everything from the stack config.

    python -m ci.rollout plan --stack prod [--github-output FILE]
    python -m ci.rollout endpoint --outputs prod-outputs.json
    python -m ci.rollout watch --stack prod --outputs prod-outputs.json --minutes 60
    python -m ci.rollout rollback --stack prod

``watch`` holds the pipeline for the watch period (``rollout.bake_minutes``) and fails as soon as
one of the candidate's rollback alarms fires, or when the endpoint's probe error rate exceeds
``rollout.rollback_error_rate``. The cloud's own rollback path (see docs/runbooks/rollback.md)
acts on the same alarms; the pipeline then also rolls the stack back so state and code agree.
Standard library and PyYAML only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The alarms that roll a candidate back (components/alarms.py: rollback_alarms).
ROLLBACK_ALARM_KEYS = ("canary-error-rate", "canary-latency-p99")
# How each cloud lists alarms that are firing now, as a JSON list of names (None: the cloud has
# no query for it; the probe and the cloud's own rollback function cover the watch period).
FIRING_ALARMS_COMMAND: dict[str, list[str] | None] = {
    "aws": [
        "aws", "cloudwatch", "describe-alarms", "--state-value", "ALARM",
        "--query", "MetricAlarms[].AlarmName", "--output", "json",
    ],
    "azure": [
        "az", "rest", "--method", "get", "--url",
        "https://management.azure.com/subscriptions/{subscriptionId}/providers/"
        "Microsoft.AlertsManagement/alerts?api-version=2019-05-05-preview&monitorCondition=Fired",
        "--query", "value[].name", "--output", "json",
    ],
    "gcp": None,
}  # fmt: skip
# Outputs that carry the public HTTP endpoint of a pattern, in order of preference.
HTTP_OUTPUTS = ("endpoint_url",)


def stack_config(stack: str) -> dict[str, Any]:
    """The stack's project-namespaced config, without the namespace."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{project}:")}


def plan(stack: str) -> dict[str, str]:
    """The rollout settings the production job uses."""
    config = stack_config(stack)
    rollout = config.get("rollout") or {}
    return {
        "strategy": str(rollout.get("strategy", "canary")),
        "bake_minutes": str(rollout.get("bake_minutes", 30)),
        "canary_percent": str(rollout.get("canary_percent", 10)),
        "has_candidate": str(bool(rollout.get("candidate_version"))).lower(),
        "rollback_error_rate": str(rollout.get("rollback_error_rate", 0.05)),
    }


def endpoint(outputs_file: Path) -> str:
    """The stack's public HTTPS endpoint from `pulumi stack output --json`, or ""."""
    outputs = json.loads(outputs_file.read_text())
    for name in HTTP_OUTPUTS:
        value = outputs.get(name)
        if isinstance(value, str) and value.startswith("https://"):
            return value.rstrip("/")
    return ""


def firing_rollback_alarms(cloud: str, project: str) -> list[str]:
    """Names of this project's rollback alarms that fire now (empty if the cloud has no query)."""
    command = FIRING_ALARMS_COMMAND.get(cloud)
    if command is None:
        return []
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    names = json.loads(result.stdout or "[]") or []
    return [n for n in names if project in n and any(key in n for key in ROLLBACK_ALARM_KEYS)]


def probe(url: str, timeout: float = 10.0) -> bool:
    """True when the endpoint's health path answers 2xx."""
    if not url.startswith("https://"):
        return False  # the endpoint is TLS-only; anything else is a misconfiguration
    try:
        # the scheme is checked above, so no file:// or custom scheme can be opened
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return 200 <= response.status < 300
    except (urllib.error.URLError, TimeoutError):
        return False


def watch(stack: str, outputs_file: Path, minutes: float, interval: float = 30.0) -> int:
    """Hold for the watch period; 1 as soon as a rollback alarm fires or probes fail too often."""
    config = stack_config(stack)
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
    max_error_rate = float((config.get("rollout") or {}).get("rollback_error_rate", 0.05))
    health = (config.get("model") or {}).get("health_path", "/health")
    url = endpoint(outputs_file)
    deadline = time.monotonic() + minutes * 60
    probes = failures = 0
    while True:
        firing = firing_rollback_alarms(str(config.get("cloud")), project)
        if firing:
            print(f"rollback alarm(s) firing: {', '.join(firing)}")
            return 1
        if url:
            probes += 1
            failures += 0 if probe(url + health) else 1
            if probes >= 5 and failures / probes > max_error_rate:
                print(f"probe error rate {failures}/{probes} exceeds {max_error_rate:.1%}")
                return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    print(f"watch period of {minutes:g} min passed: no rollback alarm, {failures}/{probes} failed")
    return 0


def rollback(stack: str) -> str:
    """Rewrite the stack file in the workspace to the last good release; say what was done.

    With a candidate, the candidate goes (the stable version keeps serving); without one, the
    previous commit's stack file comes back. The repository is not changed: fix main by a PR.
    """
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    rollout_keys = [k for k in data["config"] if k.endswith(":rollout")]
    rollout = data["config"][rollout_keys[0]] if rollout_keys else {}
    if rollout.get("candidate_version"):
        rollout.pop("candidate_version", None)
        rollout.pop("candidate_image", None)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return "removed the candidate; the stable version takes all traffic"
    previous = subprocess.run(
        ["git", "show", f"HEAD~1:stacks/{path.name}"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    path.write_text(previous)
    return "restored the previous commit's stack file"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m ci.rollout")
    sub = parser.add_subparsers(dest="command", required=True)
    p_plan = sub.add_parser("plan")
    p_plan.add_argument("--stack", required=True)
    p_plan.add_argument("--github-output", type=Path)
    p_end = sub.add_parser("endpoint")
    p_end.add_argument("--outputs", type=Path, required=True)
    p_watch = sub.add_parser("watch")
    p_watch.add_argument("--stack", required=True)
    p_watch.add_argument("--outputs", type=Path, required=True)
    p_watch.add_argument("--minutes", type=float, required=True)
    p_watch.add_argument("--interval", type=float, default=30.0)
    p_back = sub.add_parser("rollback")
    p_back.add_argument("--stack", required=True)
    args = parser.parse_args(argv)

    if args.command == "plan":
        lines = "".join(f"{k}={v}\n" for k, v in plan(args.stack).items())
        print(lines, end="")
        if args.github_output:
            with args.github_output.open("a") as handle:
                handle.write(lines)
        return 0
    if args.command == "endpoint":
        print(endpoint(args.outputs))
        return 0
    if args.command == "watch":
        return watch(args.stack, args.outputs, args.minutes, args.interval)
    print(rollback(args.stack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
