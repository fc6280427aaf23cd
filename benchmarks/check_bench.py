"""Time the offline policy check: generated projects (three stacks) and synthetic programs.

    .venv/bin/python benchmarks/check_bench.py                  # everything, current runner
    .venv/bin/python benchmarks/check_bench.py --baseline       # the runner before optimising
    .venv/bin/python benchmarks/check_bench.py --sizes 250 500 1000 --skip-projects

Every measurement runs in a fresh Python process (cold imports, as a user or CI runs it) and
reports wall time, CPU time, peak memory (ru_maxrss of the largest process: the check itself
or the pack it starts) and resources per second. ``--baseline`` measures the same work as the
runner did before optimisation: the cyclic garbage collector left on and stacks checked one
after the other (no overlap of a program with the pack's analysis of the previous stack).

Targets (2 cores): a generated project's three stacks < 2 s and < 400 MB; 1,000 resources
< 5 s; time linear in resources. Nothing here asserts timings.

Comparing two runners in the same run (a noisy, shared machine makes separate runs useless):

    git worktree add -f /tmp/before HEAD            # the runner to compare against, before a change
    .venv/bin/python benchmarks/check_bench.py --compare-worktree /tmp/before --repeat 5

measures every project (and ``--sizes``) with the worktree's runner (A) and this checkout's (B)
interleaved, A B A B ..., each in a fresh process, and prints the median of each side and the
ratio B/A of the medians; ``proc s`` (the whole child process: interpreter start, imports, the
check) is the figure that matters. Both sides check with the same pack: a generated project's
vendored one, and for a synthetic program the worktree's pack copied into the project (so
rules others are adding here do not weigh on one side only). ``--projects aws-api-first ...``
keeps the generated projects whose name contains one of the words; ``--json FILE`` writes
every sample. To see what one part of a change is worth, switch the others off for B through
the environment (A's runner does not read these): ``AIDEPLOY_CHECK_WORKERS=1`` runs the
programs in the check's own process, ``AIDEPLOY_PLAIN_PACK=1`` starts the pack with the CLI's
exact command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SYNTHETIC_MAIN = '''\
"""Synthetic program: {n} AWS resources of the kinds an AI deployment uses."""
import json

import pulumi
import pulumi_aws as aws

N = {n}
TRUST = {{
    "Version": "2012-10-17",
    "Statement": [
        {{"Effect": "Allow", "Action": "sts:AssumeRole",
          "Principal": {{"Service": "lambda.amazonaws.com"}}}}
    ],
}}
key = aws.kms.Key("key", enable_key_rotation=True)
per_kind = max(1, (N - 1) // 5)
for i in range(per_kind):
    aws.s3.Bucket(f"bucket-{{i}}", tags={{"index": str(i)}})
    aws.sqs.Queue(f"queue-{{i}}", kms_master_key_id=key.arn, visibility_timeout_seconds=60)
    aws.sns.Topic(f"topic-{{i}}", kms_master_key_id=key.arn)
    aws.cloudwatch.LogGroup(f"logs-{{i}}", retention_in_days=30, kms_key_id=key.arn)
    aws.iam.Role(
        f"role-{{i}}",
        assume_role_policy=json.dumps(TRUST),
    )
pulumi.export("key", key.arn)
'''


def write_synthetic(root: Path, n: int, pack_from: Path | None = None) -> Path:
    """A one-stack project registering about ``n`` resources; with ``pack_from`` (a checkout),
    the project vendors a copy of that checkout's pack, as a generated project does."""
    project = root / f"synthetic-{n}"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(
        f"name: synthetic-{n}\nruntime: python\nstackConfigDir: stacks\n"
    )
    (project / "stacks" / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (project / "__main__.py").write_text(SYNTHETIC_MAIN.format(n=n))
    if pack_from is not None:
        shutil.copytree(
            pack_from / "policies",
            project / "policies",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        (project / ".aideploy.json").write_text("{}\n")
    return project


def generate_projects(root: Path) -> list[Path]:
    """One generated project per (cloud, pattern) `aideploy new` scaffolds."""
    from components.registry import REGISTRY, scaffolded
    from templates.answers import example_answers
    from templates.generator import generate

    projects = []
    for cloud, pattern in sorted(REGISTRY, key=lambda k: (k[0].value, k[1].value)):
        if not scaffolded(cloud, pattern):
            continue
        answers = example_answers(cloud, pattern, name=f"bench-{cloud.value}-{pattern.value}")
        projects.append(generate(answers, root / answers.project_slug).path)
    return projects


def measure_one(project: Path, stacks: list[str], baseline: bool) -> dict[str, Any]:
    """Run in the child process: check ``stacks`` of ``project``; print the figures."""
    from policies.runner import engine
    from policies.runner.analyzer import PackProcess

    started, cpu_started = time.perf_counter(), time.process_time()
    if baseline:
        with PackProcess(engine.default_pack_dir(project)) as pack:
            reports = [engine.check_stack(pack, project, s) for s in stacks]
    else:
        reports = engine.check_project(project, stacks)
    wall = time.perf_counter() - started
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pack, once it has exited
    resources = sum(r.resources for r in reports)
    return {
        "project": project.name,
        "stacks": len(stacks),
        "resources": resources,
        "mandatory": sum(r.summary["mandatory"] for r in reports),
        "wall_s": round(wall, 3),
        "cpu_s": round(time.process_time() - cpu_started + children.ru_utime, 3),
        "peak_mb": round(max(self_usage.ru_maxrss, children.ru_maxrss) / 1024, 1),
        "resources_per_s": round(resources / wall, 1),
    }


def run_child(
    project: Path, stacks: list[str], baseline: bool, checkout: Path = REPO
) -> dict[str, Any]:
    """Measure in a fresh interpreter (cold imports) and return its figures; ``checkout`` is
    the repository (or worktree) whose benchmark script, and so whose runner, measures."""
    script = checkout / "benchmarks" / "check_bench.py"
    cmd = [sys.executable, str(script), "--one", str(project), "--stacks", *stacks]
    if baseline:
        cmd.append("--baseline")
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{script} failed on {project.name}:\n{out.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_s"] = round(time.perf_counter() - started, 3)  # incl. interpreter start
    return figures


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def compare(args: argparse.Namespace) -> int:
    """A (the worktree's runner) and B (this checkout's), interleaved, median of N."""
    before = args.compare_worktree.resolve()
    if not (before / "benchmarks" / "check_bench.py").is_file():
        raise SystemExit(f"{before}: no benchmarks/check_bench.py; not a checkout of this repo")
    print(
        f"aideploy check benchmark - A: {before} vs B: {REPO} - "
        f"{args.repeat} interleaved runs each - {os.cpu_count()} CPUs"
    )
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="check-bench-") as tmp:
        root = Path(tmp)
        targets: list[tuple[Path, list[str]]] = []
        if not args.skip_projects:
            for project in generate_projects(root):
                if args.projects and not any(word in project.name for word in args.projects):
                    continue
                targets.append((project, ["dev", "staging", "prod"]))
        for n in args.sizes:
            targets.append((write_synthetic(root, n, pack_from=before), ["dev"]))
        for project, stacks in targets:
            for i in range(args.repeat):
                for side, checkout in (("A", before), ("B", REPO)):
                    figures = run_child(project, stacks, False, checkout)
                    figures.update(side=side, run=i)
                    samples.append(figures)
                    print(
                        f"  {project.name:<34} {side} {figures['process_s']:>6.2f} s",
                        file=sys.stderr,
                    )
    if args.json:
        args.json.write_text(json.dumps(samples, indent=1) + "\n")
    header = (
        f"{'project':<34} {'res':>5} {'A proc s':>9} {'B proc s':>9} {'B/A':>5} "
        f"{'A wall s':>9} {'B wall s':>9} {'B/A':>5} {'A MB':>5} {'B MB':>5}  same"
    )
    print(header)
    print("-" * len(header))
    for name in dict.fromkeys(s["project"] for s in samples):
        a = [s for s in samples if s["project"] == name and s["side"] == "A"]
        b = [s for s in samples if s["project"] == name and s["side"] == "B"]
        a_proc, b_proc = _median([s["process_s"] for s in a]), _median([s["process_s"] for s in b])
        a_wall, b_wall = _median([s["wall_s"] for s in a]), _median([s["wall_s"] for s in b])
        # The same resources and the same mandatory findings on both sides, in every run.
        same = len({(s["resources"], s["mandatory"]) for s in a + b}) == 1
        print(
            f"{name:<34} {b[0]['resources']:>5} {a_proc:>9.2f} {b_proc:>9.2f} "
            f"{b_proc / a_proc:>5.2f} {a_wall:>9.2f} {b_wall:>9.2f} {b_wall / a_wall:>5.2f} "
            f"{_median([s['peak_mb'] for s in a]):>5.0f} {_median([s['peak_mb'] for s in b]):>5.0f}"
            f"  {'yes' if same else 'NO'}"
        )
    return 0


def main() -> int:
    """Run the benchmark (or, with --one, one measurement in this process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod"])
    parser.add_argument("--baseline", action="store_true", help="measure the unoptimised runner")
    parser.add_argument("--sizes", nargs="*", type=int, default=[250, 500, 1000])
    parser.add_argument("--skip-projects", action="store_true")
    parser.add_argument(
        "--compare-worktree",
        type=Path,
        metavar="DIR",
        help="a worktree of this repository (e.g. the commit before a change): measure its "
        "runner and this one interleaved",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (--compare-worktree)")
    parser.add_argument(
        "--projects", nargs="*", default=[], help="only generated projects whose name has a word"
    )
    parser.add_argument("--json", type=Path, help="write every sample here (--compare-worktree)")
    args = parser.parse_args()
    if args.one:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the figures alone
            figures = measure_one(args.one, args.stacks, args.baseline)
        print(json.dumps(figures))
        return 0

    if args.compare_worktree:
        return compare(args)

    label = "baseline (GC on, stacks in sequence)" if args.baseline else "current runner"
    print(f"aideploy check benchmark - {label} - {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="check-bench-") as tmp:
        root = Path(tmp)
        rows = []
        if not args.skip_projects:
            for project in generate_projects(root):
                rows.append(run_child(project, ["dev", "staging", "prod"], args.baseline))
        for n in args.sizes:
            rows.append(run_child(write_synthetic(root, n), ["dev"], args.baseline))
    header = (
        f"{'project':<34} {'stacks':>6} {'res':>5} {'wall s':>7} {'cpu s':>6} "
        f"{'proc s':>7} {'MB':>6} {'res/s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['project']:<34} {r['stacks']:>6} {r['resources']:>5} {r['wall_s']:>7.2f} "
            f"{r['cpu_s']:>6.2f} {r['process_s']:>7.2f} {r['peak_mb']:>6.0f} "
            f"{r['resources_per_s']:>7.0f}"
        )
    synthetic = [r for r in rows if r["project"].startswith("synthetic-")]
    if len(synthetic) >= 2:
        first, last = synthetic[0], synthetic[-1]
        ratio = (last["wall_s"] / first["wall_s"]) / (last["resources"] / first["resources"])
        print(f"linearity: time ratio / size ratio = {ratio:.2f} (1.0 is linear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
