"""The model contract (docs/model-contract.md), held against the sample server over real HTTP.

Both sides of each seam come from real files: the port and paths from stacks/Pulumi.*.yaml
(through the vendored spec and its defaults), the server as model/Dockerfile configures it.
Standard library, PyYAML and pytest only; no Docker, no cloud.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import ModelSpec
from model import predictor
from model.server import ModelService, Route, make_server
from model.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
DOCKERFILE = (ROOT / "model" / "Dockerfile").read_text()
STACKS = ("dev", "staging", "prod")


def stack_config(stack: str) -> dict[str, Any]:
    """The config of ``stacks/Pulumi.<stack>.yaml``."""
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    config: dict[str, Any] = yaml.safe_load(path.read_text())["config"]
    return config


def stack_model(stack: str = "dev") -> ModelSpec:
    """The stack's ``model`` section as the components read it (defaults included)."""
    return ModelSpec.model_validate(stack_config(stack)[f"{PROJECT}:model"])


def dockerfile_env() -> dict[str, str]:
    """The image's environment: model/Dockerfile's ``ENV`` lines, ``${ARG}`` resolved."""
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in DOCKERFILE.splitlines():
        match = re.match(r"^(ARG|ENV)\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$", line)
        if not match:
            continue
        kind, key, value = match.groups()
        value = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), value)
        (args if kind == "ARG" else env)[key] = value
    return env


MODEL = stack_model()
IMAGE_ENV = dockerfile_env()


def image_settings(**platform_env: str) -> Settings:
    """The settings the container resolves: the image's environment plus the platform's."""
    return Settings.from_env({**IMAGE_ENV, **platform_env})


@dataclass
class Running:
    """A sample server listening on 127.0.0.1 and a free port."""

    service: ModelService
    port: int

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One request; returns (status, JSON body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        return response.status, json.loads(payload) if payload else {}

    def post(self, path: str, document: Any) -> tuple[int, dict[str, Any]]:
        """POST a JSON document."""
        body = json.dumps(document).encode()
        return self.call("POST", path, body, {"Content-Type": "application/json"})


@contextmanager
def running(
    settings: Settings,
    *,
    loader: Callable[[], predictor.Predictor] | None = None,
    routes: Callable[[ModelService], Mapping[str, Route]] | None = None,
    load: bool = True,
) -> Iterator[Running]:
    """Serve ``settings`` on a free local port in a thread (the real server, real sockets)."""
    service = ModelService(replace(settings, host="127.0.0.1", port=0), loader)
    server = make_server(service, extra_routes=routes(service) if routes else None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        if load:
            service.load()
        yield Running(service, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Running]:
    """The sample as the image configures it, loaded."""
    with running(image_settings()) as live:
        yield live


# -- the seam between the stacks and the image ------------------------------------------------
def test_the_image_answers_on_the_stacks_port_and_paths() -> None:
    settings = image_settings()
    assert (settings.port, settings.health_path, settings.predict_path) == (
        MODEL.port,
        MODEL.health_path,
        MODEL.predict_path,
    ), "model/Dockerfile's MODEL_PORT / MODEL_*_PATH differ from stacks/Pulumi.dev.yaml"
    assert f"EXPOSE {MODEL.port}" in DOCKERFILE


@pytest.mark.parametrize("stack", STACKS[1:])
def test_every_stack_names_the_same_port_and_paths(stack: str) -> None:
    # One image serves every environment, so the contract cannot differ between them.
    other = stack_model(stack)
    assert (other.port, other.health_path, other.predict_path) == (
        MODEL.port,
        MODEL.health_path,
        MODEL.predict_path,
    )


def test_the_image_runs_as_a_numeric_non_root_user_and_writes_no_bytecode() -> None:
    users = re.findall(r"^USER\s+(\S+)\s*$", DOCKERFILE, re.MULTILINE)
    assert users, "model/Dockerfile sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER {users[-1]}: not a numeric non-root uid"
    assert not gid or gid.isdigit()
    assert IMAGE_ENV.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert IMAGE_ENV.get("TMPDIR") == "/tmp"  # the one writable path
    assert re.search(r"^HEALTHCHECK .*model\.healthcheck", DOCKERFILE, re.MULTILINE | re.DOTALL)
    # SageMaker starts images with the argument `serve`: it must reach python -m model.
    assert 'ENTRYPOINT ["python", "-m", "model"]' in DOCKERFILE


# -- readiness ----------------------------------------------------------------------------------
def test_health_is_503_while_the_model_loads_and_200_once_it_is_ready() -> None:
    gate = threading.Event()

    def slow_loader() -> predictor.Predictor:
        assert gate.wait(10), "the test never opened the gate"
        return predictor.load()

    with running(image_settings(), loader=slow_loader, load=False) as live:
        live.service.start_loading()
        status, body = live.call("GET", MODEL.health_path)
        assert (status, body["status"]) == (503, "loading")
        status, _ = live.post(MODEL.predict_path, {"input": "Reset my password"})
        assert status == 503
        gate.set()
        assert live.service.wait_ready(10)
        status, body = live.call("GET", MODEL.health_path)
        assert (status, body["status"]) == (200, "ready")
        assert body["version"] == IMAGE_ENV["MODEL_VERSION"]


def test_a_model_that_fails_to_load_never_reports_ready() -> None:
    def broken() -> predictor.Predictor:
        raise OSError("weights not found")

    with running(image_settings(), loader=broken) as live:
        status, body = live.call("GET", MODEL.health_path)
        assert (status, body["status"]) == (503, "failed")


def test_health_needs_no_credentials_and_no_body(server: Running) -> None:
    status, body = server.call("GET", MODEL.health_path)
    assert status == 200
    assert body["model"] == IMAGE_ENV["MODEL_NAME"]


# -- predictions --------------------------------------------------------------------------------
def test_predict_returns_the_documented_shape(server: Running) -> None:
    status, body = server.post(MODEL.predict_path, {"input": "I was charged twice this month"})
    assert status == 200
    assert set(body) == {"prediction", "score", "model", "version"}
    assert body["prediction"] == "billing"
    assert 0.0 <= body["score"] <= 1.0
    assert (body["model"], body["version"]) == (IMAGE_ENV["MODEL_NAME"], IMAGE_ENV["MODEL_VERSION"])
    # Deterministic: the same input, the same answer.
    assert server.post(MODEL.predict_path, {"input": "I was charged twice this month"}) == (
        status,
        body,
    )


def test_predict_takes_a_batch_of_instances(server: Running) -> None:
    status, body = server.post(
        MODEL.predict_path, {"instances": ["Reset my password", {"input": "The app crashes"}]}
    )
    assert status == 200
    assert [p["prediction"] for p in body["predictions"]] == ["account", "technical"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"\xff\xfe", b"[]", b'{"text": "x"}', b'{"input": ""}', b'{"instances": []}'],
)
def test_malformed_requests_are_400(server: Running, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    status, body = server.call("POST", MODEL.predict_path, raw, headers)
    assert status == 400
    assert body["error"]


def test_unknown_routes_and_methods_are_4xx(server: Running) -> None:
    assert server.call("GET", "/no-such-path")[0] == 404
    assert server.call("POST", "/no-such-path", b"{}")[0] == 404
    assert server.call("GET", MODEL.predict_path)[0] == 405
    assert server.call("POST", MODEL.health_path, b"{}")[0] == 405


def test_a_body_over_the_limit_is_refused_before_it_is_read(server: Running) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", MODEL.predict_path)
        connection.putheader("Content-Length", str(10**9))
        connection.endheaders()
        assert connection.getresponse().status == 413
    finally:
        connection.close()


# -- the process: one command, JSON logs, SIGTERM -----------------------------------------------
@pytest.mark.parametrize(
    "command",
    [["-m", "model.server"], ["-m", "model", "serve"]],
    ids=["python -m model.server", "entrypoint with serve"],
)
def test_the_server_runs_with_one_command_and_stops_cleanly_on_sigterm(
    tmp_path: Path, command: list[str]
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        **IMAGE_ENV,
        "MODEL_PORT": "0",
        "MODEL_HOST": "127.0.0.1",
        "TMPDIR": str(tmp_path),
        "HOME": str(tmp_path),
    }
    before = sorted(p.name for p in (ROOT / "model").rglob("*"))
    process = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        record: dict[str, Any] = {}
        while record.get("message") != "listening":  # a log line per step until it listens
            line = process.stdout.readline()
            assert line, f"the server exited: {process.stderr.read() if process.stderr else ''}"
            record = json.loads(line)
        port = int(record["port"])
        live = Running(ModelService(image_settings()), port)
        deadline = time.monotonic() + 10
        while live.call("GET", MODEL.health_path)[0] != 200:
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.05)
        assert live.post(MODEL.predict_path, {"input": "Reset my password"})[0] == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [r["message"] for r in records][-2:] == ["stopping", "stopped"]
    assert all({"time", "severity", "message"} <= set(r) for r in records)
    # The image's environment keeps Python from writing bytecode next to the code.
    assert sorted(p.name for p in (ROOT / "model").rglob("*")) == before


# -- Prometheus (kubernetes api-first): the rollback rules read the model's own metrics --------
# Labels Prometheus Operator puts on every series it scrapes through a ServiceMonitor.
TARGET_LABELS = frozenset({"namespace", "service", "pod", "container", "endpoint", "job"})
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')


@pytest.fixture(scope="module")
def dev_resources() -> list[Any]:
    """What the dev stack's program registers, under mocks."""
    from offline.program import run_stack

    return list(run_stack(ROOT, "dev").resources)


def of_kind(resources: list[Any], kind: str) -> list[Any]:
    return [
        r for r in resources if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind
    ]


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics on ``port``: (name, labels, value) per sample, the format checked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line)
            continue
        match = SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        name, labels, value = match.groups()
        samples.append((name, dict(PAIR.findall(labels or "")), float(value)))
    return samples


def model_selectors(expressions: list[str]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, matchers) of every series the expressions select that is not Envoy's."""
    return [
        (name, MATCHER.findall(body))
        for expr in expressions
        for name, body in SELECTOR.findall(expr)
        if not name.startswith("envoy_")
    ]


def test_the_model_exposes_every_series_and_label_the_rules_read(
    dev_resources: list[Any],
) -> None:
    from model import telemetry

    (rule,) = of_kind(dev_resources, "PrometheusRule")
    expressions = [a["expr"] for g in rule.inputs["spec"]["groups"] for a in g["rules"]]
    selectors = model_selectors(expressions)
    assert selectors, "no rule reads the model's own metrics"
    settings = image_settings(MODEL_HOST="127.0.0.1", MODEL_PORT="0")
    recorder = telemetry.start(settings, {"METRICS_PORT": "0"})
    service = ModelService(settings)
    server = make_server(service, recorder=recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        service.load()
        live = Running(service, server.server_address[1])
        assert live.post(MODEL.predict_path, {"input": "Reset my password"})[0] == 200
        assert live.post(MODEL.predict_path, {"text": "no input"})[0] == 400
        # The rollback drill's candidate (MODEL_FAIL_PREDICTIONS): predictions answer 500.
        service.settings = replace(settings, fail_predictions=True)
        assert live.post(MODEL.predict_path, {"input": "Reset my password"})[0] == 500
        samples = scrape(recorder.port)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        recorder.close()  # type: ignore[attr-defined]
    for metric, matchers in selectors:
        exposed = [labels for name, labels, _ in samples if name == metric]
        assert exposed, f"the rules read {metric}, which the model does not expose"
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            values = {labels[label] for labels in exposed if label in labels}
            assert values, f"{metric}: no series has the label {label} the rules match on"
            if op == "=":
                assert value in values, f"{metric}: {label}={value!r} never exposed"
            elif op == "=~":
                assert any(re.fullmatch(value, v) for v in values), f"{metric}: {label}=~{value!r}"
    assert all(not (set(labels) & TARGET_LABELS) for _, labels, _ in samples)


def test_the_metrics_port_is_the_one_the_service_monitor_scrapes(
    dev_resources: list[Any],
) -> None:
    from model import telemetry

    (monitor,) = of_kind(dev_resources, "ServiceMonitor")
    (endpoint,) = monitor.inputs["spec"]["endpoints"]
    assert endpoint["path"] == telemetry.METRICS_PATH
    containers = [
        c
        for d in of_kind(dev_resources, "Deployment")
        for c in d.inputs["spec"]["template"]["spec"]["containers"]
        if c["name"] == "model"
    ]
    assert containers, "the dev stack runs no model container"
    for container in containers:
        env = {e["name"]: str(e.get("value", "")) for e in container["env"]}
        ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
        assert telemetry.metrics_port(env) == ports[endpoint["port"]]
        assert image_settings(**env).port == ports["http"] == MODEL.port
