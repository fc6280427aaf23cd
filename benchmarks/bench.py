"""Time what users wait for: scaffolding (`aideploy new`), the preview of an update (`aideploy
diff`) and running stacks under mocks.

Reports wall time, resources per second and peak memory. The offline policy check has its own
benchmark (benchmarks/check_bench.py), which this script runs too when present.
Run: `make bench` or `.venv/bin/python benchmarks/bench.py [--repeat N] [--format json]`.
Benchmarks measure; tests never assert timings.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.registry import scaffolded  # noqa: E402
from components.spec import Cloud, Environment, Pattern  # noqa: E402
from offline.capture import capture  # noqa: E402
from offline.program import run_stack  # noqa: E402
from templates.answers import cli_flags, cluster_file_text, example_answers  # noqa: E402
from templates.generator import generate  # noqa: E402

REGION = {Cloud.AWS: "eu-west-1", Cloud.AZURE: "westeurope", Cloud.GCP: "europe-west1"}


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def bench_new(workdir: Path, repeat: int) -> list[dict[str, Any]]:
    """`aideploy new` per cloud and pattern: library call and the real CLI process."""
    rows = []
    for cloud in Cloud:
        for pattern in Pattern:  # every built cell, embedded included
            if not scaffolded(cloud, pattern):
                continue
            answers = example_answers(cloud, pattern, name="bench")
            target = workdir / f"new-{cloud.value}-{pattern.value}"
            lib_s, result = _timed(lambda a=answers, t=target: generate(a, t, force=True), repeat)
            cluster = None
            if answers.cluster is not None:  # kubernetes: the cluster settings come in a file
                cluster = workdir / f"cluster-{pattern.value}.yaml"
                cluster.write_text(cluster_file_text(answers))
            flags = cli_flags(answers, str(cluster) if cluster else None)
            cli = [
                str(Path(sys.executable).parent / "aideploy"), "new", *flags,
                "--no-input", "--force", "-o", str(workdir / f"cli-{cloud.value}-{pattern.value}"),
            ]  # fmt: skip
            cli_s, _ = _timed(lambda c=cli: subprocess.run(c, check=True, capture_output=True), 1)
            # What a person waits for by default: the three stacks' cost estimates included.
            quick_s, _ = _timed(
                lambda c=cli: subprocess.run([*c, "--no-cost"], check=True, capture_output=True),
                1,
            )
            rows.append(
                {
                    "cloud": cloud.value,
                    "pattern": pattern.value,
                    "new_library_s": round(lib_s, 3),
                    "new_cli_process_s": round(cli_s, 3),
                    "new_cli_no_cost_s": round(quick_s, 3),
                    "files": result.files,
                }
            )
    return rows


def bench_update(workdir: Path) -> list[dict[str, Any]]:
    """`aideploy diff` on each project `bench_new` scaffolded with the CLI: the wait before an
    update (a full render of the project and a hash of every file; nothing to merge)."""
    rows = []
    for project in sorted(workdir.glob("cli-*")):
        cmd = [str(Path(sys.executable).parent / "aideploy"), "diff", str(project)]
        seconds, proc = _timed(
            lambda c=cmd: subprocess.run(
                [*c, "--format", "json"], check=True, capture_output=True, text=True
            ),
            1,
        )
        rows.append(
            {
                "project": project.name.removeprefix("cli-"),
                "diff_cli_process_s": round(seconds, 3),
                "files_to_change": len(json.loads(proc.stdout)["files"]),
            }
        )
    return rows


def bench_stacks(workdir: Path, repeat: int) -> list[dict[str, Any]]:
    """Each generated stack's program under mocks: seconds and resources per second."""
    from offline.program import stack_names

    rows = []
    for project in sorted(workdir.glob("new-*")):
        # the stacks, then the bootstrap program (run once per account before them)
        runs = [(project, env.value) for env in Environment]
        runs += [(project / "bootstrap", s) for s in stack_names(project / "bootstrap")]
        for folder, stack in runs:
            seconds, run = _timed(lambda p=folder, s=stack: run_stack(p, s), repeat)
            n = len(run.resources)
            rows.append(
                {
                    "project": project.name.removeprefix("new-"),
                    "stack": stack if folder == project else f"bootstrap/{stack}",
                    "resources": n,
                    "seconds": round(seconds, 3),
                    "resources_per_s": round(n / seconds, 1),
                }
            )
    return rows


def bench_components(repeat: int) -> list[dict[str, Any]]:
    """Components no project scaffolds (none since the kubernetes target's template exists)
    under mocks, per stack: a component built ahead of its template is still timed."""
    from components.registry import REGISTRY, component_for, is_available
    from templates.answers import example_answers
    from templates.generator import plan_project

    rows = []
    for cloud, pattern in sorted(REGISTRY, key=lambda k: (k[0].value, k[1].value)):
        if scaffolded(cloud, pattern) or not is_available(cloud, pattern):
            continue
        plan = plan_project(example_answers(cloud, pattern))
        for env in Environment:
            spec = plan.specs[env]

            def program(s: Any = spec) -> None:
                component_for(s.cloud, s.pattern)(s.project, s)

            seconds, cap = _timed(
                lambda p=program, s=spec: capture(p, project=s.project, stack=s.environment.value),
                repeat,
            )
            n = len(cap.resources)
            rows.append(
                {
                    "project": f"{cloud.value}-{pattern.value}",
                    "stack": env.value,
                    "resources": n,
                    "seconds": round(seconds, 3),
                    "resources_per_s": round(n / seconds, 1),
                }
            )
    return rows


def bench_synthetic(count: int) -> dict[str, Any]:
    """A program of ``count`` resources under mocks: the capture cost per resource."""
    import pulumi_aws as aws

    def program() -> None:
        key = aws.kms.Key("key", enable_key_rotation=True)
        for i in range(count - 1):
            aws.sqs.Queue(f"q{i}", kms_master_key_id=key.arn)

    seconds, cap = _timed(lambda: capture(program, project="synthetic", stack="dev"), 1)
    n = len(cap.resources)
    return {"resources": n, "seconds": round(seconds, 3), "resources_per_s": round(n / seconds, 1)}


def main() -> int:
    """Run the benchmarks and print a report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic", type=int, default=1000)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aideploy-bench-") as tmp:
        work = Path(tmp)
        report = {
            "new": bench_new(work, args.repeat),
            "update_preview": bench_update(work),
            "stacks_under_mocks": bench_stacks(work, args.repeat),
            "components_under_mocks": bench_components(args.repeat),
            "synthetic_capture": bench_synthetic(args.synthetic),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for section in ("new", "update_preview", "stacks_under_mocks", "components_under_mocks"):
            rows = report[section]
            if not rows:
                continue
            table = Table(title=section)
            for column in rows[0]:
                table.add_column(column)
            for row in rows:
                table.add_row(*(str(v) for v in row.values()))
            console.print(table)
        console.print(f"synthetic capture: {report['synthetic_capture']}")
        console.print(f"peak RSS: {report['peak_rss_mb']} MB")
    check_bench = ROOT / "benchmarks" / "check_bench.py"
    if check_bench.is_file():
        return subprocess.call([sys.executable, str(check_bench)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
