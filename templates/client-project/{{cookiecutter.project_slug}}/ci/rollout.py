"""Rollout helpers for the pipeline: one decision rule, read from the stack file and outputs.

    python -m ci.rollout plan --stack prod [--github-output FILE]
    python -m ci.rollout endpoint --outputs prod-outputs.json       # endpoint_url, or ""
    python -m ci.rollout health-url --outputs prod-outputs.json     # health_url, or ""
    python -m ci.rollout decide < observation.json                  # the decide contract
    python -m ci.rollout guard --stack prod [--outputs live.json]   # before every `pulumi up`
    python -m ci.rollout watch --stack prod --minutes 60 [--outputs prod-outputs.json]
    python -m ci.rollout rollback --stack prod [--outputs prod-outputs.json]
    python -m ci.rollout cli-tools --stack prod                     # CLIs the watch calls

Exit codes: 0 fine; 1 the watch decided to roll back / the guard refused an `up`; 2 input that
does not fit; 3 a person must act now (the pipeline fails visibly and pages).

Without ``--outputs``, guard, watch and rollback read the stack's outputs themselves
(``pulumi stack output --stack S --json --show-secrets``: log in to the stack's backend first);
the pipeline passes the file it saved. A missing ``pulumi`` or ``git`` executable is one line
and exit 3, never a traceback.

Every decision is ``components.rollout.decide`` (the function the clouds' own rollback paths
call, vendored in components/rollout.py), fed by ``components/<cloud>/release_watch.py``:
the rollback alarms are matched there by the exact names in the ``rollback_alarms`` output.
The pipeline probes ``health_url`` (GET, no credentials, through the gateway), never
``endpoint_url`` plus a path, and counts only 5xx answers and timeouts as failures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci import api_client, rollback_plan
from ci.stack import (
    ROOT,
    https_output,
    load_outputs,
    stack_config,
    stack_release,
    stack_spec,
    watch_settings,
)
from ci.watchers import ReleaseWatch, release_watch
from components import rollout as rules

# Exit codes of the commands (the workflows branch on them).
OK, ROLL_BACK, BAD_INPUT, PAGE = 0, 1, 2, 3
REFUSED = ROLL_BACK
# The stack tag the pipeline sets after each verified deploy; the rollback returns there.
LAST_DEPLOYED_TAG = "aideploy:last-deployed-commit"
# Minutes of data each observation covers (the rollback alarms' own window is 2 x 60 s; a
# longer window gives the volume guard enough requests on a quiet API).
WINDOW_MINUTES = 5.0
# Probes of health_url needed before their failure ratio means anything.
MIN_PROBES = 5

Runner = Callable[[Sequence[str], Path | None], "subprocess.CompletedProcess[str]"]


def run(args: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output (never raising on its exit code)."""
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False)


# -- plan, outputs ------------------------------------------------------------------------------


class OutputsError(RuntimeError):
    """The stack's outputs could not be read."""


def fetch_outputs(stack: str, runner: Runner = run) -> dict[str, Any]:
    """`pulumi stack output --stack S --json --show-secrets`, read now (OutputsError on failure).

    A stack that was never deployed has no outputs: ``{}``, as `pulumi` prints it."""
    result = runner(
        ["pulumi", "stack", "output", "--stack", stack, "--json", "--show-secrets"], ROOT
    )
    if result.returncode != 0:
        why = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise OutputsError(
            f"`pulumi stack output --stack {stack}` failed ({why[-1] if why else 'no message'}); "
            "log in to the stack's backend first (`pulumi login <backend>`)"
        )
    data = json.loads(result.stdout or "{}")
    if not isinstance(data, dict):
        raise OutputsError(f"`pulumi stack output --stack {stack}` did not print a JSON object")
    return data


def outputs_of(stack: str, outputs_file: Path | None, runner: Runner = run) -> dict[str, Any]:
    """The outputs the pipeline saved in ``outputs_file``, else read from the stack now."""
    return load_outputs(outputs_file) if outputs_file else fetch_outputs(stack, runner)


def plan(stack: str) -> dict[str, str]:
    """The rollout settings the deploy jobs use, as `key=value` lines for the CI."""
    spec = stack_spec(stack)
    r = spec.rollout
    return {
        "strategy": r.strategy.value,
        "bake_minutes": str(r.bake_minutes),
        "canary_percent": str(r.canary_percent),
        "has_candidate": str(spec.has_candidate).lower(),
        "candidate_version": r.candidate_version or "",
        "rollback_error_rate": str(r.rollback_error_rate),
        "recovery_minutes": str(r.recovery_minutes),
    }


# -- the decision -------------------------------------------------------------------------------


def decide_observation(data: Any) -> rules.Decision:
    """``components.rollout.decide`` on parsed JSON (ObservationError when it does not fit)."""
    return rules.decide(rules.parse_observation(data))


def unverifiable(rule: str, settings: dict[str, Any]) -> rules.Decision:
    """The decision for something the watch could not verify: the rule says hold and page."""
    zero = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    return decide_observation(
        {
            "trigger": {"verified": False, "firing": True, "rule": rule},
            "candidate": zero,
            "stable": zero,
            "settings": settings,
        }
    )


def observe_once(
    watch: ReleaseWatch, outputs: dict[str, Any], settings: dict[str, Any], minutes: float
) -> rules.Decision:
    """One observation through the cloud's release watch, decided by the one rule."""
    try:
        data = watch.observe(outputs, settings, minutes)
    except Exception as error:  # any failure to read the monitor is an unverifiable state
        return unverifiable(f"observe failed: {type(error).__name__}: {error}", settings)
    try:
        return decide_observation(data)
    except rules.ObservationError as error:
        return unverifiable(f"malformed observation: {error}", settings)


def probe(url: str, timeout: float = 10.0) -> bool | None:
    """GET health_url: True on 2xx, False on a 5xx or a timeout, None otherwise (a 4xx or an
    unreachable host says something is misrouted, not that the release fails: reported apart)."""
    try:
        reply = api_client.call(url, timeout=timeout)
    except TimeoutError:
        return False
    except (urllib.error.URLError, OSError):
        return None
    if 200 <= reply.status < 300:
        return True
    return False if reply.status >= 500 else None


@dataclass
class Probes:
    """health_url probes so far; only 5xx answers and timeouts are failures."""

    sent: int = 0
    failed: int = 0
    other: int = 0

    def add(self, result: bool | None) -> None:
        """Count one probe."""
        self.sent += 1
        self.failed += result is False
        self.other += result is None

    def breach(self, error_rate: float) -> str | None:
        """Why the probes say the endpoint fails, or None."""
        if self.sent >= MIN_PROBES and self.failed / self.sent > error_rate:
            return f"health_url probes: {self.failed}/{self.sent} answered 5xx or timed out"
        return None


def watch(
    stack: str,
    outputs_file: Path | None,
    minutes: float,
    interval: float = 30.0,
    *,
    watcher: ReleaseWatch | None = None,
    prober: Callable[[str], bool | None] = probe,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Hold for the watch period, deciding every ``interval`` seconds.

    rollback -> 1 (the pipeline rolls back); hold with a page -> 3 (a person must act);
    hold or ignore -> go on until ``minutes`` have passed -> 0.
    """
    spec = stack_spec(stack)
    settings = watch_settings(spec)
    try:
        outputs = outputs_of(stack, outputs_file)
    except (OutputsError, ValueError) as error:
        print(f"a person must act now (nothing was rolled back): {error}")
        return PAGE
    if spec.has_candidate and not outputs.get("rollback_alarms"):
        # Outputs captured before `up` (or a failed read) name no alarm: a watch over nothing
        # would pass a candidate nobody looked at. Unverifiable: hold and page.
        decision = unverifiable(
            f"stack {stack} has a candidate but its outputs list no rollback_alarms "
            "(read the outputs after `pulumi up`)",
            settings,
        )
        print(f"a person must act now (nothing was rolled back): {decision.reason}")
        return PAGE
    watch_module = watcher or release_watch(spec.cloud.value)
    health_url = https_output(outputs, "health_url")
    probes = Probes()
    deadline = clock() + minutes * 60
    checks = 0
    while True:
        checks += 1
        decision = observe_once(watch_module, outputs, settings, WINDOW_MINUTES)
        if health_url:
            probes.add(prober(health_url))
            why = probes.breach(settings["error_rate"])
            if why and decision.action is not rules.Action.ROLLBACK:
                # Probes see both versions behind the gateway: they cannot say the candidate
                # fails, so they are an unverifiable trigger (the rule: hold and page).
                decision = unverifiable(why, settings)
        if decision.action is rules.Action.ROLLBACK:
            print(f"roll back: {decision.reason}")
            return ROLL_BACK
        if decision.page:
            print(f"a person must act now (nothing was rolled back): {decision.reason}")
            return PAGE
        if clock() >= deadline:
            break
        sleep(interval)
    misrouted = f", {probes.other} answered neither 2xx nor 5xx" if probes.other else ""
    print(
        f"watch period of {minutes:g} min passed after {checks} checks: no rollback "
        f"({decision.action.value}: {decision.reason}); health_url "
        f"{probes.failed}/{probes.sent} failed{misrouted}"
    )
    return OK


# -- the guard before `pulumi up` (E8) ----------------------------------------------------------


def guard(stack: str, outputs_file: Path | None, *, watcher: ReleaseWatch | None = None) -> int:
    """Refuse (1) to re-apply a candidate an automatic rollback removed, unless the stack file
    names it in ``rollout.retry_version``; one line either way."""
    spec = stack_spec(stack)
    current = stack_release(stack)
    file = f"stacks/Pulumi.{stack}.yaml"
    if current.candidate_version is None:
        print(f"guard: {file} has no candidate; nothing to check")
        return OK
    try:
        outputs = outputs_of(stack, outputs_file)
    except (OutputsError, ValueError) as error:
        print(f"guard: refusing `pulumi up` of {stack}: {error}")
        return REFUSED
    if not outputs:
        print(f"guard: stack {stack} has no outputs yet (never deployed); nothing rolled back")
        return OK
    version = current.candidate_version
    try:
        removed = (watcher or release_watch(spec.cloud.value)).rolled_back(outputs, version)
    except Exception as error:  # unknown state: never re-apply blindly
        print(
            f"guard: refusing `pulumi up` of {stack}: could not read whether candidate "
            f"{version} was rolled back ({type(error).__name__}: {error})"
        )
        return REFUSED
    if not removed:
        print(f"guard: candidate {version} was not rolled back on {stack}; up may proceed")
        return OK
    if spec.rollout.retry_version == version:
        print(f"guard: candidate {version} was rolled back; rollout.retry_version retries it")
        return OK
    print(
        f"guard: refusing `pulumi up` of {stack}: candidate {version} was rolled back "
        f"automatically; remove rollout.candidate_* from {file}, or set "
        f"rollout.retry_version: {version} to retry it (docs/runbooks/rollback.md)"
    )
    return REFUSED


# -- rollback ------------------------------------------------------------------------------------


def _pulumi_args(stack: str, tree: Path, *command: str) -> list[str]:
    """A pulumi command on ``stack`` run in ``tree``, with the stack's policy pack and levels."""
    return [
        "pulumi", *command, "--stack", stack, "--cwd", str(tree),
        "--policy-pack", str(tree / "policies"),
        "--policy-pack-config", str(tree / "policies" / "config" / f"{stack}.json"),
    ]  # fmt: skip


def last_deployed_commit(stack: str, runner: Runner = run) -> str | None:
    """The commit the stack tag records (None when it was never recorded or cannot be read)."""
    result = runner(["pulumi", "stack", "tag", "get", LAST_DEPLOYED_TAG, "--stack", stack], ROOT)
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and sha else None


def return_to_commit(
    stack: str, cloud: str, sha: str, tree: Path, runner: Runner = run
) -> tuple[int, str]:
    """Check out ``sha``'s whole tree at ``tree``, preview, and `up` only when the preview
    deletes or replaces no stateful resource. (exit code, one line)."""
    added = runner(["git", "worktree", "add", "--force", "--detach", str(tree), sha], ROOT)
    if added.returncode != 0:
        return PAGE, f"could not check out {sha}: {added.stderr.strip() or added.stdout.strip()}"
    try:
        preview = runner(_pulumi_args(stack, tree, "preview", "--json"), tree)
        if preview.returncode != 0:
            return PAGE, f"`pulumi preview` of {sha} failed: {preview.stderr.strip()[-300:]}"
        try:
            destructive = rollback_plan.stateful_destructions(json.loads(preview.stdout), cloud)
        except (ValueError, rollback_plan.PreviewError) as error:
            return PAGE, f"could not read the preview of {sha}: {error}"
        if destructive:
            return PAGE, (
                f"returning {stack} to {sha} would delete or replace stateful resources "
                f"({rollback_plan.summary(destructive)}); stopped before `pulumi up`"
            )
        up = runner(_pulumi_args(stack, tree, "up", "--yes"), tree)
        if up.returncode != 0:
            return PAGE, f"`pulumi up` of {sha} failed: {up.stderr.strip()[-300:]}"
        return OK, f"returned {stack} to {sha} (whole tree: code, policies, requirements)"
    finally:
        runner(["git", "worktree", "remove", "--force", str(tree)], ROOT)


def rollback(
    stack: str,
    outputs_file: Path | None,
    *,
    watcher: ReleaseWatch | None = None,
    runner: Runner = run,
) -> int:
    """Traffic to stable now, then the stack back to its last successfully deployed commit.

    0 done; 3 a person must act (no recorded commit, a destructive preview, a failed step).
    Traffic stays on the stable version in every case once the first step succeeded.
    """
    spec = stack_spec(stack)
    cloud = spec.cloud.value
    try:
        outputs = outputs_of(stack, outputs_file, runner)
    except (OutputsError, ValueError) as error:
        print(f"could not read the outputs of {stack}: {error}")
        outputs = {}
    drained = True
    if outputs:
        try:
            # The stack file's candidate is what `guard` compares against: the marker names it.
            version = spec.rollout.candidate_version
            drain = (watcher or release_watch(cloud)).drain_candidate
            print(drain(outputs, candidate_version=version) if version else drain(outputs))
        except Exception as error:  # still return the stack: its stable split drains too
            drained = False
            print(f"could not move traffic to stable: {type(error).__name__}: {error}")
    elif spec.has_candidate:
        # Without outputs there is nothing to drain through: the candidate may still serve.
        drained = False
        print(
            f"could not move traffic to stable: stack {stack} has no outputs to drain through "
            "(`pulumi stack output` failed or the stack was never deployed); returning the "
            "stack anyway, then a person must check the split (docs/runbooks/rollback.md, 4.1)"
        )
    sha = last_deployed_commit(stack, runner)
    if sha is None:
        print(
            f"a person must act now: stack {stack} has no {LAST_DEPLOYED_TAG} tag, so there is "
            "no known-good commit to return to (docs/runbooks/rollback.md)"
        )
        return PAGE
    with tempfile.TemporaryDirectory(prefix="rollback-") as scratch:
        code, line = return_to_commit(stack, cloud, sha, Path(scratch) / "tree", runner)
    print(line if code == OK else f"a person must act now: {line}")
    return code if drained else PAGE


# -- command line ---------------------------------------------------------------------------------


OUTPUTS_HELP = (
    "`pulumi stack output --json --show-secrets` saved to a file (default: read from the "
    "stack now; log in to its backend first)"
)
# The subcommands and what each does (the help text, and docs/ci.md's list).
COMMANDS: dict[str, str] = {
    "plan": "the stack file's rollout settings as key=value lines",
    "endpoint": "the endpoint_url output (https), or an empty line",
    "health-url": "the health_url output (https), or an empty line",
    "decide": "one JSON observation on stdin, one JSON decision on stdout",
    "guard": "before `pulumi up`: refuse a candidate an automatic rollback removed",
    "watch": "decide every --interval seconds for --minutes; 1 roll back, 3 page",
    "rollback": "traffic to stable now, then the stack's last deployed commit",
    "cli-tools": "the cloud CLIs the release watch calls",
}


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ci.rollout`` (tests hold the docs' commands to it)."""
    root = argparse.ArgumentParser(prog="python -m ci.rollout")
    sub = root.add_subparsers(dest="command", required=True)
    p = {name: sub.add_parser(name, help=text, description=text) for name, text in COMMANDS.items()}
    p["plan"].add_argument("--stack", required=True)
    p["plan"].add_argument("--github-output", type=Path, help="append the lines to this file")
    for name in ("endpoint", "health-url"):
        p[name].add_argument("--outputs", type=Path, required=True, help=OUTPUTS_HELP)
    for name in ("guard", "rollback", "watch"):
        p[name].add_argument("--stack", required=True)
        p[name].add_argument("--outputs", type=Path, help=OUTPUTS_HELP)
    p["watch"].add_argument("--minutes", type=float, required=True, help="rollout.bake_minutes")
    p["watch"].add_argument("--interval", type=float, default=30.0, help="seconds between checks")
    p["cli-tools"].add_argument("--stack", required=True)
    return root


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: a missing `pulumi`/`git` is one line and exit 3."""
    try:
        return _main(argv)
    except FileNotFoundError as error:
        tool = Path(str(error.filename or "a required executable")).name
        print(f"a person must act now: `{tool}` is not installed or not on PATH ({error.strerror})")
        return PAGE


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    if args.command == "decide":
        return rules.main()
    if args.command == "plan":
        lines = "".join(f"{k}={v}\n" for k, v in plan(args.stack).items())
        print(lines, end="")
        if args.github_output:
            with args.github_output.open("a") as handle:
                handle.write(lines)
        return OK
    if args.command in ("endpoint", "health-url"):
        name = "endpoint_url" if args.command == "endpoint" else "health_url"
        print(https_output(load_outputs(args.outputs), name))
        return OK
    if args.command == "cli-tools":
        cloud = str(stack_config(args.stack)["cloud"])
        print(" ".join(release_watch(cloud).CLI_TOOLS))
        return OK
    if args.command == "guard":
        return guard(args.stack, args.outputs)
    if args.command == "watch":
        return watch(args.stack, args.outputs, args.minutes, args.interval)
    return rollback(args.stack, args.outputs)


if __name__ == "__main__":
    sys.exit(main())
