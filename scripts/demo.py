"""`make demo`: scaffold sample client projects with the real CLI and exercise each one.

For every sample: `aideploy new` (as a user would type it, with every answer a real deploy
needs), the generated project's own offline tests, `aideploy check --all` on its stacks and on
its bootstrap program (what runs once per account before the first deploy), `aideploy
cost` of its dev and prod stacks, and the release rule: `python -m ci.rollout decide` on a
verified rollback alarm whose candidate fails. Prints a table and exits non-zero if any step
failed. Nothing is deployed: there is no cloud here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

SAMPLES: list[tuple[str, str, str, list[str]]] = [
    # name, cloud, pattern, the answers a client gives (placeholder ids of the right shape)
    (
        "acme-support", "aws", "api-first",
        ["--region", "eu-west-1", "--account", "dev=111111111111",
         "--account", "staging=111111111111", "--account", "prod=222222222222",
         "--jwt-issuer", "https://login.acme.example", "--jwt-audience", "api://acme-support",
         # an LLM on Amazon Bedrock behind a Bedrock guardrail (docs/llm.md)
         "--llm", "hosted"],
    ),
    (
        "globex-assist", "azure", "api-first",
        ["--region", "westeurope", "--account", "00000000-0000-0000-0000-000000000001",
         "--tenant", "44444444-4444-4444-4444-444444444444",
         "--jwt-issuer", "https://login.globex.example", "--jwt-audience", "api://assist",
         # the client's own LLM image; its server checks prompts and answers with Content Safety
         "--llm", "self-hosted"],
    ),
    (
        "initech-search", "gcp", "api-first",
        ["--region", "europe-west1", "--account", "dev=initech-search-dev",
         "--account", "staging=initech-search-stg", "--account", "prod=initech-search-prd",
         "--jwt-issuer", "https://accounts.google.com", "--jwt-audience", "initech-search",
         "--domain", "search.initech.example", "--domain", "dev=sslip.io"],
    ),
    (
        "acme-documents", "aws", "event-driven",
        ["--region", "eu-west-1", "--account", "123456789012"],
    ),
    (
        "globex-scoring", "azure", "managed-platform",
        ["--region", "westeurope", "--account", "00000000-0000-0000-0000-000000000002",
         "--tenant", "44444444-4444-4444-4444-444444444444"],
    ),
    (
        # embedded: no image; the generated tests sign the sample model, refuse tampering and
        # run the sample app offline against a local stand-in of the device API
        "initech-field", "aws", "embedded",
        ["--region", "eu-west-1", "--account", "333333333333",
         "--jwt-issuer", "https://login.initech.example", "--jwt-audience", "field-app"],
    ),
    (
        # on premises: the client's cluster (one context, a namespace per environment), its
        # object store for the state and its model image by digest; CLUSTER_FILE is written
        # from the example cluster settings below
        "umbrella-triage", "kubernetes", "api-first",
        ["--region", "dc-paris", "--account", "umbrella-onprem",
         "--cluster", "CLUSTER_FILE", "--state-endpoint", "s3.umbrella.example",
         "--model-image", "registry.umbrella.example/triage/model@sha256:" + "4" * 64,
         "--domain", "triage.umbrella.example",
         "--jwt-issuer", "https://login.umbrella.example", "--jwt-audience", "triage",
         # on premises the guardrail check runs in the model server: prompts stay on site
         "--llm", "self-hosted"],
    ),
]  # fmt: skip


@dataclass
class Step:
    """One command of the demo and how it went."""

    sample: str
    what: str
    ok: bool
    seconds: float
    detail: str


def _run(cmd: list[str], cwd: Path) -> tuple[bool, float, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    tail = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode == 0, elapsed, (tail[-1] if tail else "")


def _cost(project: Path, stack: str) -> tuple[bool, float, str]:
    """`aideploy cost --format json`: the total and the number of usage-priced lines."""
    cmd = [str(BIN / "aideploy"), "cost", str(project), "--stack", stack, "--format", "json"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        return False, elapsed, (proc.stderr.strip().splitlines() or [""])[-1]
    report = json.loads(proc.stdout)
    usage = len(report.get("usage_priced", []))
    return (
        True,
        elapsed,
        (f"{report['currency']} {report['monthly_total']:,.2f}/month + {usage} usage-priced items"),
    )


# A verified, firing rollback alarm and a candidate failing 30% of 200 requests: the rule the
# rollback functions and the pipeline's watch share answers "rollback".
SAMPLE_OBSERVATION = {
    "trigger": {"verified": True, "firing": True, "rule": "canary-error-rate"},
    "candidate": {"requests": 200, "errors_5xx": 60, "p99_ms": 420.0},
    "stable": {"requests": 1800, "errors_5xx": 4, "p99_ms": 180.0},
    "settings": {"error_rate": 0.05, "latency_multiplier": 2.0, "min_requests": 20},
}


def _decide(project: Path) -> tuple[bool, float, str]:
    """`python -m ci.rollout decide` in the project on SAMPLE_OBSERVATION."""
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "python"), "-m", "ci.rollout", "decide"],
        cwd=project, input=json.dumps(SAMPLE_OBSERVATION), capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        return False, elapsed, (proc.stderr.strip().splitlines() or [""])[-1]
    decision = json.loads(proc.stdout)
    ok = decision.get("action") == "rollback"
    return ok, elapsed, f"{decision.get('action')}: {decision.get('reason', '')}"


def _cluster_file(out: Path, name: str) -> Path:
    """The ``--cluster`` file a platform team writes: the example api-first cluster settings."""
    sys.path.insert(0, str(ROOT))
    from components.spec import Pattern
    from templates.answers import EXAMPLE_CLUSTER

    path = out / f"{name}-cluster.yaml"
    path.write_text(json.dumps(EXAMPLE_CLUSTER[Pattern.API_FIRST], indent=2) + "\n")
    return path


def _aideploy_has(command: str) -> bool:
    proc = subprocess.run(
        [str(BIN / "aideploy"), command, "--help"], capture_output=True, text=True
    )
    return proc.returncode == 0


def main() -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "demo")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    console = Console()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    has_check = _aideploy_has("check")
    steps: list[Step] = []
    with console.status("Running the demo ...") as status:
        for name, cloud, pattern, answers in SAMPLES:
            project = out / name
            status.update(f"{name}: aideploy new --cloud {cloud} --pattern {pattern}")
            if "CLUSTER_FILE" in answers:
                answers = [
                    str(_cluster_file(out, name)) if a == "CLUSTER_FILE" else a for a in answers
                ]
            image = [] if "--model-image" in answers else ["--sample-model"]
            new_cmd = [
                str(BIN / "aideploy"), "new", name, "--cloud", cloud, "--pattern", pattern,
                *answers, "--owner", f"ops@{name.split('-')[0]}.example",
                "--repo", f"{name.split('-')[0]}/{name}", *image,
                "--no-input", "--output", str(project),
            ]  # fmt: skip
            ok, secs, detail = _run(new_cmd, out)
            steps.append(Step(name, "aideploy new", ok, secs, detail))
            if not ok:
                continue
            status.update(f"{name}: the project's own offline tests")
            ok, secs, detail = _run([str(BIN / "python"), "-m", "pytest", "-q"], project)
            steps.append(Step(name, "pytest (generated tests)", ok, secs, detail))
            status.update(f"{name}: python -m ci.rollout decide")
            ok, secs, detail = _decide(project)
            steps.append(Step(name, "ci.rollout decide (failing canary)", ok, secs, detail))
            if has_check:
                status.update(f"{name}: aideploy check --all")
                ok, secs, detail = _run(
                    [str(BIN / "aideploy"), "check", str(project), "--all"], out
                )
                steps.append(Step(name, "aideploy check --all", ok, secs, detail))
                status.update(f"{name}: the bootstrap program, checked offline")
                ok, secs, detail = _run(
                    [str(BIN / "aideploy"), "check", str(project / "bootstrap"), "--all"], out
                )
                steps.append(Step(name, "aideploy check bootstrap --all", ok, secs, detail))
            for stack in ("dev", "prod"):
                status.update(f"{name}: aideploy cost --stack {stack}")
                ok, secs, detail = _cost(project, stack)
                steps.append(Step(name, f"aideploy cost --stack {stack}", ok, secs, detail))
    table = Table(title=f"aideploy demo ({out})")
    for column in ("project", "step", "result", "seconds", "last line"):
        table.add_column(column)
    for s in steps:
        table.add_row(
            s.sample, s.what, "ok" if s.ok else "FAILED", f"{s.seconds:.1f}", s.detail[:70]
        )
    console.print(table)
    console.print(
        "Nothing was deployed. To deploy a project: cd into it, `pulumi stack select dev`, "
        "`pulumi up --policy-pack policies` (needs the Pulumi CLI and cloud credentials)."
    )
    return 0 if all(s.ok for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
