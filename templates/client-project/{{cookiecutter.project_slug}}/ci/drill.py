"""The weekly rollback drill on staging: a deliberately failing candidate must be rolled back by
the cloud's own alarm-driven path within ``rollout.recovery_minutes``.

    python -m ci.drill candidate --stack staging --image REPO@sha256:... --version V
    python -m ci.drill run --stack staging --outputs staging-outputs.json --version V

``candidate`` writes ``rollout.candidate_version`` / ``candidate_image`` into the stack file in
the workspace only (the drill never commits; the restore step returns the stack to its last
deployed commit). The image is the sample model built with ``MODEL_FAIL_PREDICTIONS=1``: its
predictions answer 500 while its readiness stays 200, so only the canary's error signals (not
the platform's health checks) can catch it. ``run`` drives authenticated predictions through
``endpoint_url`` at :func:`drill_rate` (concurrently, bounded) and polls
``release_watch.rolled_back`` until the candidate is off traffic: exit 0 within the recovery
time, 1 after it.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ci import api_client
from ci.stack import ROOT, load_outputs, predict_url, project_name, stack_path, stack_spec
from ci.watchers import ReleaseWatch, release_watch
from components.spec import spec_from_config

# Seconds between two reads of the rolled-back state.
POLL_SECONDS = 15.0
# The candidate must see this many times rollout.min_requests per minute at its canary share:
# the volume guard then never holds the drill's failing candidate for lack of requests.
VOLUME_MARGIN = 3
# Bounds of the drill's sender: never more than this many requests per second, nor in flight.
MAX_REQUESTS_PER_SECOND = 200.0
MAX_WORKERS = 32
# Seconds a drill prediction may take before it counts as a timeout (status 0).
REQUEST_TIMEOUT = 10.0


def drill_rate(min_requests: int, canary_percent: float) -> float:
    """Requests per second so the candidate gets VOLUME_MARGIN x ``min_requests`` a minute at
    its ``canary_percent`` share: 3 * min_requests * 100 / canary_percent / 60 (ValueError when
    that exceeds MAX_REQUESTS_PER_SECOND: raise the canary share of staging instead)."""
    if canary_percent <= 0:
        raise ValueError("rollout.canary_percent must be above 0 for the drill's candidate")
    rate = VOLUME_MARGIN * min_requests * 100 / canary_percent / 60
    if rate > MAX_REQUESTS_PER_SECOND:
        raise ValueError(
            f"the drill would need {rate:.0f} requests/s (3 x rollout.min_requests {min_requests} "
            f"a minute at rollout.canary_percent {canary_percent:g}%), above its bound of "
            f"{MAX_REQUESTS_PER_SECOND:g}/s: raise staging's canary_percent or lower min_requests"
        )
    return rate


def workers_for(rate: float) -> int:
    """Threads enough to keep ``rate`` up while each request may wait REQUEST_TIMEOUT (bounded)."""
    return max(1, min(MAX_WORKERS, math.ceil(rate * REQUEST_TIMEOUT)))


def set_candidate(stack: str, image: str, version: str, root: Path = ROOT) -> str:
    """Write the drill's candidate into the stack file (comments and layout kept); the new
    file must still make a valid spec. Returns one line saying what changed."""
    path = stack_path(stack, root)
    rt = YAML()
    rt.preserve_quotes = True
    doc = rt.load(path.read_text())
    key = f"{project_name(root)}:rollout"
    config = doc["config"]
    if key not in config:
        config[key] = {}
    config[key]["candidate_version"] = version
    config[key]["candidate_image"] = image
    config[key].pop("retry_version", None)
    out = io.StringIO()
    rt.dump(doc, out)
    sections = {
        k.split(":", 1)[1]: v for k, v in YAML(typ="safe").load(out.getvalue())["config"].items()
        if k.startswith(f"{project_name(root)}:")
    }  # fmt: skip
    spec_from_config(project_name(root), sections)  # raises when the candidate is not valid
    path.write_text(out.getvalue())
    return f"{path.name}: candidate {version} ({image}) in the workspace only, never committed"


@dataclass
class Traffic:
    """Predictions sent in the background at ``rate`` per second by a bounded pool of threads,
    counted by status (0: timeout or network error). Each request takes the next slot of a fixed
    schedule (start + n / rate), so a slow answer holds one thread, not the rate."""

    url: str
    headers: Mapping[str, str]
    rate: float
    timeout: float = REQUEST_TIMEOUT
    counts: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0
    _start: float = 0.0
    _pool: ThreadPoolExecutor | None = None

    def _slot(self) -> float:
        with self._lock:
            n, self._next = self._next, self._next + 1
        return self._start + n / self.rate

    def _send(self) -> int:
        try:
            return api_client.call(self.url, {"input": "drill"}, self.headers, self.timeout).status
        except OSError:  # timeouts and refused connections: the drill goes on
            return 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self._slot() - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            status = self._send()
            with self._lock:
                self.counts[status] = self.counts.get(status, 0) + 1

    def start(self) -> None:
        """Send until :meth:`stop`, from :func:`workers_for` threads."""
        self._start = time.monotonic()
        workers = workers_for(self.rate)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="drill-traffic")
        for _ in range(workers):
            self._pool.submit(self._loop)

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def sent(self) -> int:
        """Requests answered (or failed) so far."""
        with self._lock:
            return sum(self.counts.values())

    def line(self) -> str:
        """The statuses seen, e.g. ``200 x 540, 500 x 61``."""
        return ", ".join(f"{k} x {v}" for k, v in sorted(self.counts.items())) or "none"


def await_rollback(
    watch: ReleaseWatch,
    outputs: Mapping[str, Any],
    version: str,
    limit_minutes: float,
    *,
    poll: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """Minutes until ``rolled_back`` says the candidate is off traffic, or None past the limit.
    A read that fails is retried until the limit (the drill judges the rollback, not the API)."""
    start = clock()
    while True:
        try:
            if watch.rolled_back(outputs, version):
                return (clock() - start) / 60
        except Exception as error:  # a failed read is not a verdict
            print(f"drill: could not read the rolled-back state: {type(error).__name__}: {error}")
        if clock() - start >= limit_minutes * 60:
            return None
        sleep(poll)


def run(
    stack: str,
    outputs_file: Path,
    version: str,
    *,
    watcher: ReleaseWatch | None = None,
    env: Mapping[str, str] | None = None,
    poll: float = POLL_SECONDS,
) -> int:
    """Drive predictions, wait for the automatic rollback; 0 within the RTO, 1 otherwise."""
    spec = stack_spec(stack)
    outputs = load_outputs(outputs_file)
    endpoint = str(outputs.get("endpoint_url") or "")
    if endpoint.startswith("https://"):
        endpoint = predict_url(outputs, spec.model.predict_path)
    if not endpoint:
        print(f"drill: stack {stack} exports no endpoint_url: the drill drives predict traffic")
        return 2
    limit = spec.rollout.recovery_minutes
    try:
        rate = drill_rate(spec.rollout.min_requests, spec.rollout.canary_percent)
    except ValueError as error:
        print(f"drill: {error}")
        return 2
    headers = api_client.auth_headers(spec.cloud.value, spec.api.auth.value, env)
    traffic = Traffic(api_client.check_url(endpoint), headers, rate)
    print(f"drill: {rate:.1f} predictions/s from {workers_for(rate)} threads")
    traffic.start()
    try:
        took = await_rollback(
            watcher or release_watch(spec.cloud.value), outputs, version, limit, poll=poll
        )
    finally:
        traffic.stop()
    if took is None:
        print(
            f"drill FAILED: candidate {version} was not rolled back within {limit} min "
            f"(rollout.recovery_minutes); predictions: {traffic.line()}"
        )
        return 1
    print(
        f"drill passed: candidate {version} rolled back automatically after {took:.1f} min "
        f"(limit {limit} min); predictions: {traffic.line()}"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ci.drill`` (tests hold the docs' commands to it)."""
    parser = argparse.ArgumentParser(prog="python -m ci.drill")
    sub = parser.add_subparsers(dest="command", required=True)
    p_cand = sub.add_parser("candidate", help="write the drill's candidate into the stack file")
    p_cand.add_argument("--stack", required=True)
    p_cand.add_argument("--image", required=True)
    p_cand.add_argument("--version", required=True)
    p_run = sub.add_parser("run", help="drive predictions; wait for the automatic rollback")
    p_run.add_argument("--stack", required=True)
    p_run.add_argument("--outputs", type=Path, required=True)
    p_run.add_argument("--version", required=True)
    p_run.add_argument("--poll", type=float, default=POLL_SECONDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = parser().parse_args(argv)
    if args.command == "candidate":
        try:
            print(set_candidate(args.stack, args.image, args.version))
        except ValueError as error:
            print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
            return 2
        return 0
    try:
        return run(args.stack, args.outputs, args.version, poll=args.poll)
    except api_client.CredentialsError as error:
        print(f"drill: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
