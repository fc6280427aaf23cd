"""Request and job telemetry the stack's alarms read (docs/model-contract.md, "Telemetry").

Where the platform measures requests itself (API Gateway and ALB, SageMaker, Cloud Run, Vertex
AI, Azure Machine Learning's traffic log) this is a no-op; where only the container can say
which version answered (Container Apps behind API Management, Container Apps jobs) it sends
Application Insights telemetry. ``start`` below is this project's cloud and pattern's choice.
"""

from __future__ import annotations

from collections.abc import Mapping

from model.jsonlog import log
from model.settings import Settings


class Recorder:
    """Records requests and jobs; this base records nothing (the platform measures)."""

    def request(self, *, method: str, path: str, status: int, duration_ms: float) -> None:
        """One HTTP request the server answered."""

    def operation(
        self,
        *,
        name: str,
        success: bool,
        duration_ms: float,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """One unit of work that is not an HTTP request (a job)."""

    def blocked(self, direction: str) -> None:
        """One call the guardrail blocked: ``direction`` is "prompt" or "response"."""

    def flush(self) -> None:
        """Send what is buffered (before the process exits)."""


NO_TELEMETRY = Recorder()


# On the client's cluster the alarms are Prometheus rules (components/kubernetes/monitoring.py)
# over what this container exposes on its own port: METRICS_PORT, which the stack sets
# (components/kubernetes/workload.py; 9464) and the ServiceMonitor scrapes at METRICS_PATH.
# The rules select a pod's series by the ``namespace`` and ``service`` labels Prometheus
# Operator adds to every target, so the container never names itself; it must not export a
# label of either name (Prometheus would rename it to exported_*).
#
#   http_requests_total{code, method, path}           the canary's error-rate and starved rules
#   http_request_duration_seconds{method, path}       the canary's p99 and latency-ratio rules
#   aideploy_jobs_total{outcome}                      the worker's error rate (outcome="failed")
#   aideploy_job_duration_seconds                     the worker's p50 / p95 / p99 (x 1000: ms)
#   model_guardrail_blocked_total{direction}          blocked prompts and answers (LLM projects)
#
# Standard library only (the text exposition format 0.0.4): five metric families do not need a
# client library in the image, and the project's tests run without one.
METRICS_PORT_VARIABLE = "METRICS_PORT"
METRICS_PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds. histogram_quantile interpolates inside a bucket, so the alarms' default thresholds
# are bounds of their own: p50 0.3 s, p95 0.8 s, p99 1.5 s, the candidate's p99 at twice that
# (3 s); up to 100 s, the longest a job may run (components/alarms.py, MAX_PROCESSING_SECONDS).
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
    100.0,
)  # fmt: skip
# The worker's outcomes (model/jobs.py SUCCEEDED / FAILED): both exported from the start at 0,
# so the first failure is a change rate() sees, not a series that appears at 1.
JOB_OUTCOMES = ("succeeded", "failed")
HTTP_REQUESTS = "http_requests_total"
HTTP_DURATION = "http_request_duration_seconds"
JOBS = "aideploy_jobs_total"
JOB_DURATION = "aideploy_job_duration_seconds"
# components/llm.py BLOCKED_COUNTER: one per call the guardrail hook blocked, by direction.
GUARDRAIL_BLOCKED = "model_guardrail_blocked_total"
GUARDRAIL_DIRECTIONS = ("prompt", "response")


def metrics_port(env: Mapping[str, str]) -> int | None:
    """The port METRICS_PORT names (0: any free port), or None when it is not set."""
    text = env.get(METRICS_PORT_VARIABLE, "").strip()
    if not text:
        return None
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"{METRICS_PORT_VARIABLE}: {port} is out of range")
    return port


def _number(value: float) -> str:
    """A sample value or bucket bound as the exposition format writes it."""
    if value == float("inf"):
        return "+Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    """A label value with the format's escapes: backslash, double quote, line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    """``{name="value",...}``, or nothing without labels."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Counters and histograms, thread-safe, rendered in the text exposition format."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        # name -> (type, help, label names, bucket bounds for a histogram)
        self._families: dict[str, tuple[str, str, tuple[str, ...], tuple[float, ...]]] = {}
        self._counters: dict[str, dict[tuple[str, ...], float]] = {}
        # name -> label values -> [count per bucket (not cumulative)..., sum, count]
        self._histograms: dict[str, dict[tuple[str, ...], list[float]]] = {}

    def counter(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        """Declare a counter (its name ends in _total)."""
        self._families[name] = ("counter", help_text, labels, ())
        self._counters[name] = {}

    def histogram(
        self, name: str, help_text: str, labels: tuple[str, ...], buckets: tuple[float, ...]
    ) -> None:
        """Declare a histogram with these upper bounds (+Inf is added)."""
        self._families[name] = ("histogram", help_text, labels, tuple(sorted(buckets)))
        self._histograms[name] = {}

    def _key(self, name: str, labels: Mapping[str, str]) -> tuple[str, ...]:
        names = self._families[name][2]
        if set(labels) != set(names):
            raise ValueError(f"{name} takes the labels {names}, not {tuple(labels)}")
        return tuple(str(labels[n]) for n in names)

    def inc(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0; 0 creates the series) to a counter."""
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(name, labels)
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """Record one observation in a histogram."""
        key = self._key(name, labels)
        bounds = self._families[name][3]
        with self._lock:
            cells = self._histograms[name].setdefault(key, [0.0] * (len(bounds) + 3))
            index = next((i for i, b in enumerate(bounds) if value <= b), len(bounds))
            cells[index] += 1
            cells[-2] += value
            cells[-1] += 1

    def render(self) -> str:
        """Every family, HELP and TYPE first, one line per sample."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text, names, bounds) in self._families.items():
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                if kind == "counter":
                    for key, value in sorted(self._counters[name].items()):
                        lines.append(
                            f"{name}{_labels(tuple(zip(names, key, strict=True)))} {_number(value)}"
                        )
                    continue
                for key, cells in sorted(self._histograms[name].items()):
                    pairs = tuple(zip(names, key, strict=True))
                    running = 0.0
                    for bound, count in zip((*bounds, float("inf")), cells[:-2], strict=True):
                        running += count
                        le = (*pairs, ("le", _number(bound)))
                        lines.append(f"{name}_bucket{_labels(le)} {_number(running)}")
                    lines.append(f"{name}_sum{_labels(pairs)} {_number(cells[-2])}")
                    lines.append(f"{name}_count{_labels(pairs)} {_number(cells[-1])}")
        return "\n".join(lines) + "\n"


def model_metrics(*, jobs: bool = False) -> Metrics:
    """The families this container exports; ``jobs``: the worker's, created at 0. The
    guardrail's blocked-call counter exists from the start at 0 in both directions (only an
    LLM's hook counts; the rules of an LLM stack read it, rate() sees the first block)."""
    metrics = Metrics()
    metrics.counter(
        HTTP_REQUESTS, "HTTP requests answered, by status code.", ("code", "method", "path")
    )
    metrics.histogram(
        HTTP_DURATION, "HTTP request latency in seconds.", ("method", "path"), LATENCY_BUCKETS
    )
    metrics.counter(JOBS, "Job attempts, by outcome (succeeded or failed).", ("outcome",))
    metrics.histogram(JOB_DURATION, "Job processing time in seconds.", (), LATENCY_BUCKETS)
    if jobs:
        for outcome in JOB_OUTCOMES:
            metrics.inc(JOBS, {"outcome": outcome}, 0)
    metrics.counter(GUARDRAIL_BLOCKED, "Calls the guardrail blocked, by direction.", ("direction",))
    for direction in GUARDRAIL_DIRECTIONS:
        metrics.inc(GUARDRAIL_BLOCKED, {"direction": direction}, 0)
    return metrics


class PrometheusRecorder(Recorder):
    """Records into :class:`Metrics`, which the metrics port serves to Prometheus."""

    def __init__(self, metrics: Metrics, server: object | None = None) -> None:
        self.metrics = metrics
        self.server = server

    @property
    def port(self) -> int:
        """The port the metrics are served on (0 when not serving)."""
        if self.server is None:
            return 0
        return int(self.server.server_address[1])  # type: ignore[attr-defined]

    def request(self, *, method: str, path: str, status: int, duration_ms: float) -> None:
        """One answered request: its status code and its latency."""
        labels = {"method": method, "path": path}
        self.metrics.inc(HTTP_REQUESTS, {**labels, "code": str(status)})
        self.metrics.observe(HTTP_DURATION, labels, max(0.0, duration_ms) / 1000)

    def operation(
        self,
        *,
        name: str,
        success: bool,
        duration_ms: float,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """One job attempt: its outcome and its processing time."""
        self.metrics.inc(JOBS, {"outcome": JOB_OUTCOMES[0] if success else JOB_OUTCOMES[1]})
        self.metrics.observe(JOB_DURATION, {}, max(0.0, duration_ms) / 1000)

    def blocked(self, direction: str) -> None:
        """One call the guardrail blocked: prompt or response."""
        if direction in GUARDRAIL_DIRECTIONS:
            self.metrics.inc(GUARDRAIL_BLOCKED, {"direction": direction})

    def close(self) -> None:
        """Stop serving the metrics (tests; a container just exits)."""
        if self.server is not None:
            self.server.shutdown()  # type: ignore[attr-defined]
            self.server.server_close()  # type: ignore[attr-defined]
            self.server = None


def serve_metrics(metrics: Metrics, host: str, port: int) -> object:
    """Serve ``metrics`` at GET METRICS_PATH on ``host``:``port`` from a daemon thread."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        server_version = "model-metrics"
        sys_version = ""

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != METRICS_PATH:
                self.send_error(404)
                return
            payload = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every 30 s: not logged."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server


def start(
    settings: Settings, env: Mapping[str, str] | None = None, *, jobs: bool = False
) -> Recorder:
    """Serve Prometheus metrics on METRICS_PORT when the stack set it, else record nothing.

    ``jobs``: the worker (model/worker.py), whose job counters exist from the start.
    """
    import os

    port = metrics_port(os.environ if env is None else env)
    if port is None:
        log("telemetry", exporter="none", reason=f"{METRICS_PORT_VARIABLE} is not set")
        return NO_TELEMETRY
    metrics = model_metrics(jobs=jobs)
    recorder = PrometheusRecorder(metrics, serve_metrics(metrics, settings.host, port))
    log("telemetry", exporter="prometheus", port=recorder.port, path=METRICS_PATH)
    return recorder
