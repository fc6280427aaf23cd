"""The kubernetes model files a generated project ships, held against the real components.

The fragments (templates/client-project/templates/model-contract/*/kubernetes*) are rendered
into the project's model/ package the way the template includes them, with the same Jinja
search path cookiecutter gives the project template. Then, against the components run under
Pulumi's mocks:

(a) the rendered package imports, and the generated project's own contract tests pass on it;
(b) every metric name and label the captured PrometheusRules select from the model or the
    worker is exposed on the metrics port (scraped over HTTP), on the port, path and Service
    the ServiceMonitor scrapes, and the queue KEDA's ScaledObject watches is the one the
    worker consumes;
(c) every variable the worker reads is one the captured worker Deployment sets, and every
    variable that Deployment sets for the worker is one it reads.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml
from jinja2 import Environment as Jinja
from jinja2 import FileSystemLoader, StrictUndefined

from components.alarms import MAX_DELIVERIES
from components.kubernetes import workload
from components.spec import Cloud, Environment, ModelSpec, Pattern
from offline.capture import Capture
from templates.generator import TEMPLATE_DIR, stack_file_text
from tests.components.test_kubernetes_blocks import CANDIDATE, k8s_spec, manifest, of_kind
from tests.conftest import ROOT, generated_package, run_component, sample_plan

PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
FRAGMENTS = TEMPLATE_DIR / "templates"
CONTRACT = FRAGMENTS / "model-contract"
# Files of the project the model contract tests need besides model/.
PROJECT_FILES = (
    "__main__.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_model_contract.py",
)
# Labels Prometheus Operator puts on every series it scrapes through a ServiceMonitor.
TARGET_LABELS = frozenset({"namespace", "service", "pod", "container", "endpoint", "job"})
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
# Series that come from elsewhere: the Gateway's Envoy proxies, the broker's own exporter.
FOREIGN_PREFIXES = ("envoy_", "rabbitmq_")
# What every pod of workload.py gets whatever runs in it (the contract's scratch paths), and
# the CA variable of requests, which the worker does not use.
POD_VARIABLES = {"TMPDIR", "HOME", "MODEL_CACHE_DIR", "REQUESTS_CA_BUNDLE"}
# Read by model/settings.py, shared by every cloud's image.
SETTINGS_VARIABLES = {"MODEL_VERSION", "MODEL_PORT"}
CA_CLUSTER = {"cluster": {"ca_bundle_key": "acme-support/internal-ca"}}


# -- rendering: the project's model/ and contract tests, as cookiecutter would ------------------
def cookiecutter_context(pattern: Pattern) -> dict[str, Any]:
    """The keys of the cookiecutter context the rendered files use."""
    plan = sample_plan(Cloud.KUBERNETES, pattern)
    model = ModelSpec.model_validate(plan.sections[Environment.DEV]["model"])
    return {
        "cookiecutter": {
            "project_slug": plan.answers.project_slug,
            "cloud": "kubernetes",
            "pattern": pattern.value,
            "llm": "none",
            "model_name": model.name,
            "model_version": model.version,
            "model_contract": {
                "port": model.port,
                "health_path": model.health_path,
                "predict_path": model.predict_path,
            },
            "bootstrap": {"image_repository": plan.image.split("@", 1)[0]},
        }
    }


def render_project(target: Path, pattern: Pattern) -> Path:
    """model/, the contract tests, the program and the stack files of a kubernetes project of
    ``pattern``; components/ and policies/ are this repository's (symlinked)."""
    jinja = Jinja(
        loader=FileSystemLoader([str(PROJECT_TEMPLATE), str(FRAGMENTS)]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = cookiecutter_context(pattern)
    sources = [p for p in (PROJECT_TEMPLATE / "model").rglob("*") if p.is_file()]
    sources += [PROJECT_TEMPLATE / name for name in PROJECT_FILES]
    for source in sources:
        if "__pycache__" in source.parts:
            continue
        relative = source.relative_to(PROJECT_TEMPLATE).as_posix()
        name = jinja.from_string(relative).render(**context)
        if name.endswith("/"):  # a file of another pattern: its name renders empty
            continue
        text = jinja.get_template(relative).render(**context)
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
    plan = sample_plan(Cloud.KUBERNETES, pattern)
    (target / "stacks").mkdir()
    for env in Environment:
        (target / "stacks" / f"Pulumi.{env.value}.yaml").write_text(stack_file_text(plan, env))
    pulumi_yaml = {
        "name": plan.answers.project_slug,
        "runtime": {"name": "python"},
        "stackConfigDir": "stacks",
    }
    (target / "Pulumi.yaml").write_text(yaml.safe_dump(pulumi_yaml))
    for package in ("components", "policies"):
        (target / package).symlink_to(ROOT / package, target_is_directory=True)
    return target


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[Pattern, Path]:
    """A rendered kubernetes project per pattern."""
    return {
        pattern: render_project(tmp_path_factory.mktemp(pattern.value), pattern)
        for pattern in (Pattern.API_FIRST, Pattern.EVENT_DRIVEN)
    }


@pytest.fixture(scope="module")
def model(projects: dict[Pattern, Path]) -> Iterator[SimpleNamespace]:
    """The event-driven project's model package, imported (it has the worker too)."""
    names = ("settings", "predictor", "server", "telemetry", "jobs", "worker")
    with generated_package(projects[Pattern.EVENT_DRIVEN], names) as package:
        yield package


# -- the components under mocks ------------------------------------------------------------------
def run(pattern: Pattern, overrides: dict[str, Any] | None = None) -> Capture:
    return run_component(k8s_spec(pattern, Environment.DEV, overrides))


@pytest.fixture(scope="module")
def api_capture() -> Capture:
    """api-first with a candidate: the rollback rules name both Services."""
    return run(Pattern.API_FIRST, dict(CANDIDATE))


@pytest.fixture(scope="module")
def event_capture() -> Capture:
    """event-driven with KEDA and the client's CA (every variable the worker may get)."""
    return run(Pattern.EVENT_DRIVEN, CA_CLUSTER)


def rule_selectors(cap: Capture) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, matchers) of every series the PrometheusRule selects that this project's
    container exposes (not Envoy's, not the broker's)."""
    (rule,) = of_kind(cap.resources, "PrometheusRule")
    expressions = [a["expr"] for g in rule.inputs["spec"]["groups"] for a in g["rules"]]
    found = [
        (name, MATCHER.findall(body))
        for expr in expressions
        for name, body in SELECTOR.findall(expr)
        if not name.startswith(FOREIGN_PREFIXES)
    ]
    assert found, "the rules read nothing the model exposes"
    return found


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics: (name, labels, value) per sample, each line held to the text format."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", workload.METRICS_PATH)
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    samples: list[tuple[str, dict[str, str], float]] = []
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        name, labels, value = match.groups()
        samples.append((name, dict(PAIR.findall(labels or "")), float(value)))
    for name, kind in types.items():
        if kind == "histogram":  # cumulative buckets ending at +Inf == _count
            buckets = [(s[1], s[2]) for s in samples if s[0] == f"{name}_bucket"]
            counts = [s[2] for s in samples if s[0] == f"{name}_count"]
            if buckets:
                assert buckets[-1][0]["le"] == "+Inf" and buckets[-1][1] == sum(counts)
    return samples


def assert_exposed(
    selectors: list[tuple[str, list[tuple[str, str, str]]]],
    samples: list[tuple[str, dict[str, str], float]],
) -> None:
    """Each selected metric is exposed, and each matcher on a label of ours matches a series."""
    for metric, matchers in selectors:
        exposed = [labels for name, labels, _ in samples if name == metric]
        assert exposed, f"the rules read {metric}, which is not exposed"
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            values = {labels[label] for labels in exposed if label in labels}
            assert values, f"{metric}: no series has the label {label!r} the rules match on"
            assert op in ("=", "=~"), f"{metric}: unexpected matcher {label}{op}"
            hit = value in values if op == "=" else any(re.fullmatch(value, v) for v in values)
            assert hit, f"{metric}{{{label}{op}{value!r}}} matches none of {sorted(values)}"
    # The target's own labels come from Prometheus; the container must not claim them.
    assert not [labels for _, labels, _ in samples if set(labels) & TARGET_LABELS]


def container_named(cap: Capture, name: str) -> list[dict[str, Any]]:
    return [
        c
        for d in of_kind(cap.resources, "Deployment")
        for c in manifest(d)["spec"]["template"]["spec"]["containers"]
        if c["name"] == name
    ]


def assert_scraped_where_the_rules_look(
    cap: Capture, selectors: list[tuple[str, list[tuple[str, str, str]]]], telemetry: ModuleType
) -> None:
    """The ``service`` values the rules match are Services the ServiceMonitor selects, whose
    ``metrics`` port reaches the METRICS_PORT of the pods they select, at METRICS_PATH."""
    (monitor,) = [manifest(m) for m in of_kind(cap.resources, "ServiceMonitor")]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == telemetry.METRICS_PATH
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    services = {
        s["metadata"]["name"]: s
        for s in map(manifest, of_kind(cap.resources, "Service"))
        if wanted <= s["metadata"]["labels"].items()
    }
    names = {v for _, matchers in selectors for label, op, v in matchers if label == "service"}
    names = {n for v in names for n in v.split("|")}  # service=~"stable|candidate"
    assert names
    deployments = [manifest(d) for d in of_kind(cap.resources, "Deployment")]
    for name in names:
        assert name in services, f"the rules read service={name!r}; no scraped Service has it"
        service = services[name]
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        pods = [
            d["spec"]["template"]
            for d in deployments
            if service["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, f"the Service {name} selects no pods"
        for pod in pods:
            (container,) = pod["spec"]["containers"]
            env = {e["name"]: e.get("value") for e in container["env"]}
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert telemetry.metrics_port(env) == ports[port["targetPort"]] == port["port"]


# -- (a) the fragments render and import; the project's own contract tests pass ----------------
def test_the_fragments_are_plain_python_and_the_package_imports(model: SimpleNamespace) -> None:
    for path in CONTRACT.rglob("kubernetes*.py"):
        assert not re.search(r"\{[{%#]", path.read_text()), f"{path}: Jinja would read it"
    assert model.worker.is_worker({"QUEUE_URL": "amqps://h", "QUEUE_NAME": "q"})
    assert not model.worker.is_worker({"MODEL_PORT": "8080"})
    assert isinstance(model.telemetry.NO_TELEMETRY, model.telemetry.Recorder)


def test_the_requirements_are_exact_pins(projects: dict[Pattern, Path]) -> None:
    text = (projects[Pattern.EVENT_DRIVEN] / "model" / "requirements.txt").read_text()
    pins = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert {p.split("==")[0] for p in pins} == {"pika", "boto3"}
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", p) for p in pins)
    api = (projects[Pattern.API_FIRST] / "model" / "requirements.txt").read_text()
    assert [line for line in api.splitlines() if line and not line.startswith("#")] == []


@pytest.mark.slow
@pytest.mark.parametrize("pattern", [Pattern.API_FIRST, Pattern.EVENT_DRIVEN])
def test_the_projects_own_contract_tests_pass(
    projects: dict[Pattern, Path], pattern: Pattern
) -> None:
    project = projects[pattern]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = subprocess.run(
        [*command, "tests/test_model_contract.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # The kubernetes fragment's tests ran, not just the shared ones.
    assert re.search(r"(\d+) passed", result.stdout)
    # The pipeline's first stage: `ruff check .` with the project's rules (and its format).
    shutil.copy2(PROJECT_TEMPLATE / "ruff.toml", project / "ruff.toml")
    for ruff in (["check"], ["format", "--check"]):
        linted = subprocess.run(
            [sys.executable, "-m", "ruff", *ruff, "model", "tests/test_model_contract.py"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert linted.returncode == 0, linted.stdout[-3000:] + linted.stderr[-1000:]


# -- (b) metrics: what the rules select is what the container exposes -----------------------
def test_the_model_server_exposes_what_the_rollback_rules_read(
    model: SimpleNamespace, api_capture: Capture
) -> None:
    selectors = rule_selectors(api_capture)
    settings = model.settings.Settings.from_env({"MODEL_HOST": "127.0.0.1", "MODEL_PORT": "0"})
    recorder = model.telemetry.start(settings, {"METRICS_PORT": "0"})
    service = model.server.ModelService(settings)
    server = model.server.make_server(service, recorder=recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        service.load()
        port = server.server_address[1]
        assert post(port, settings.predict_path, {"input": "Reset my password"}) == 200
        assert post(port, settings.predict_path, {"text": "no input"}) == 400
        # The rollback drill's candidate: predictions answer 500.
        service.settings = replace(settings, fail_predictions=True)
        assert post(port, settings.predict_path, {"input": "Reset my password"}) == 500
        samples = scrape(recorder.port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        recorder.close()
    assert_exposed(selectors, samples)
    codes = {s[1]["code"] for s in samples if s[0] == "http_requests_total"}
    assert codes == {"200", "400", "500"}
    assert_scraped_where_the_rules_look(api_capture, selectors, model.telemetry)


def post(port: int, path: str, document: Any) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps(document).encode()
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_worker_exposes_what_its_alarms_read(
    model: SimpleNamespace, event_capture: Capture
) -> None:
    selectors = rule_selectors(event_capture)
    env = worker_env(event_capture)
    settings = model.settings.Settings.from_env({"MODEL_HOST": "127.0.0.1"})
    recorder = model.telemetry.start(settings, {"METRICS_PORT": "0"}, jobs=True)
    try:
        before = scrape(recorder.port)
        worker, _ = make_worker(model, env, recorder)
        worker.handle(FakeChannel(), *delivery({"input": "Reset my password"}))
        worker.handle(FakeChannel(), *delivery({"input": ""}, message_id="m-2"))
        samples = scrape(recorder.port)
    finally:
        recorder.close()
    # Both outcomes exist from the start, at 0: rate() sees the first failure.
    jobs_at_start = {s[1]["outcome"]: s[2] for s in before if s[0] == "aideploy_jobs_total"}
    assert jobs_at_start == {"succeeded": 0.0, "failed": 0.0}
    assert_exposed(selectors, samples)
    jobs = {s[1]["outcome"]: s[2] for s in samples if s[0] == "aideploy_jobs_total"}
    assert jobs == {"succeeded": 1.0, "failed": 1.0}
    assert_scraped_where_the_rules_look(event_capture, selectors, model.telemetry)


def test_the_worker_consumes_the_queue_keda_watches_and_the_rules_name(
    model: SimpleNamespace, event_capture: Capture
) -> None:
    env = worker_env(event_capture)
    worker, _ = make_worker(model, env)
    channel = FakeChannel()
    worker.declare(channel)
    (scaled,) = [manifest(s) for s in of_kind(event_capture.resources, "ScaledObject")]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["queueName"] == env["QUEUE_NAME"]
    (auth,) = [manifest(a) for a in of_kind(event_capture.resources, "TriggerAuthentication")]
    host = next(r for r in auth["spec"]["secretTargetRef"] if r["parameter"] == "host")
    (container,) = container_named(event_capture, "worker")
    url = next(e for e in container["env"] if e["name"] == "QUEUE_URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": host["name"], "key": host["key"]}
    declared = {c["queue"]: c["arguments"] for c in channel.named("queue_declare")}
    assert declared[env["QUEUE_NAME"]]["x-delivery-limit"] == MAX_DELIVERIES
    assert declared[env["QUEUE_NAME"]]["x-dead-letter-routing-key"] == env["DEAD_LETTER_QUEUE"]
    (rule,) = of_kind(event_capture.resources, "PrometheusRule")
    exprs = {a["labels"]["signal"]: a["expr"] for a in rule.inputs["spec"]["groups"][0]["rules"]}
    assert f'queue="{env["QUEUE_NAME"]}"' in exprs["queue-depth"]
    assert f'queue="{env["DEAD_LETTER_QUEUE"]}"' in exprs["dead-letters"]


# -- (c) the worker's variables are the Deployment's ---------------------------------------------
class ReadEnv(dict[str, str]):
    """An environment that records every variable read from it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def worker_env(cap: Capture, secrets: bool = True) -> dict[str, str]:
    """The worker container's variables; those from Secrets get stand-ins."""
    (container,) = container_named(cap, "worker")
    stand_ins = {"QUEUE_URL": "amqps://worker:secret@rabbitmq.acme.example:5671/%2F"}
    return {
        e["name"]: str(e["value"]) if "value" in e else stand_ins.get(e["name"], "from-secret")
        for e in container["env"]
        if "value" in e or secrets
    }


@pytest.mark.parametrize("cluster", [CA_CLUSTER, {}], ids=["ca-bundle", "no-ca"])
def test_the_worker_reads_exactly_what_the_deployment_sets(
    model: SimpleNamespace, cluster: dict[str, Any]
) -> None:
    cap = run(Pattern.EVENT_DRIVEN, cluster)
    env = ReadEnv(worker_env(cap))
    config = model.worker.WorkerConfig.from_env(env)
    assert model.worker.is_worker(env)
    model.telemetry.metrics_port(env)
    worker_reads = set(env.read)
    # Without a CA bundle the stack sets none of its variables (workload.CA_ENV); the worker
    # may look for them, and finds none.
    optional = set() if cluster else set(workload.CA_ENV)
    never_set = worker_reads - set(env) - optional
    assert not never_set, f"read but never set: {sorted(never_set)}"
    # Vice versa: each variable the stack gives the worker is read by it (or is the pod's or
    # the shared settings').
    unread = set(env) - worker_reads - POD_VARIABLES - SETTINGS_VARIABLES
    assert not unread, f"set by the stack, read by nobody: {sorted(unread)}"
    required = set(model.worker.WORKER_VARIABLES) | set(model.worker.CREDENTIAL_VARIABLES)
    assert required <= set(env)
    # The CA bundle, when mounted, is what both TLS clients verify with.
    ca = workload.CA_FILE if cluster else None
    assert (config.amqp_ca_file, config.store_ca_bundle) == (ca, ca)
    (container,) = container_named(cap, "worker")
    secret_env = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert secret_env == {"QUEUE_URL", *model.worker.CREDENTIAL_VARIABLES}
    assert "queue_url" not in repr(config) and "secret" not in repr(config)


def test_the_worker_fails_naming_every_missing_variable(model: SimpleNamespace) -> None:
    with pytest.raises(KeyError) as missing:
        model.worker.WorkerConfig.from_env({"QUEUE_NAME": "q"})
    for name in ("QUEUE_URL", "OBJECT_STORE_ENDPOINT", "AWS_SECRET_ACCESS_KEY"):
        assert name in str(missing.value)


# -- the real clients' wiring: pika's parameters, boto3 against an S3-compatible server -------
def test_amqps_is_verified_with_the_clusters_ca(
    model: SimpleNamespace, event_capture: Capture
) -> None:
    pytest.importorskip("pika")
    env = worker_env(event_capture)
    config = model.worker.WorkerConfig.from_env(env)
    config = replace(config, amqp_ca_file=None)  # the mounted file does not exist here
    parameters = model.worker.connection_parameters(config)
    assert (parameters.host, parameters.port) == ("rabbitmq.acme.example", 5671)
    context = parameters.ssl_options.context
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
    assert parameters.ssl_options.server_hostname == "rabbitmq.acme.example"
    assert context.minimum_version.name == "TLSv1_2"


def test_the_worker_calls_pikas_channel_as_pika_defines_it(
    model: SimpleNamespace, event_capture: Capture
) -> None:
    pika = pytest.importorskip("pika")
    import inspect

    worker, _ = make_worker(model, worker_env(event_capture))
    stop = threading.Event()
    channel = FakeChannel([delivery({"input": "The app crashes"})], idle=stop)

    class Connection:
        def channel(self) -> FakeChannel:
            return channel

        def process_data_events(self, time_limit: float = 0) -> None:
            pass

        def close(self) -> None:
            pass

    worker.consume(Connection(), stop)
    last = MAX_DELIVERIES - 1
    for args in (
        delivery({"input": ""}, message_id="m-2"),
        delivery({"input": ""}, message_id="m-3", failed=last),
    ):
        worker.handle(channel, *args)
    real = pika.adapters.blocking_connection.BlockingChannel
    called = {name for name, _ in channel.calls}
    assert {"queue_declare", "consume", "basic_ack", "basic_reject", "basic_publish"} <= called
    for name, kwargs in channel.calls:
        parameters = inspect.signature(getattr(real, name)).parameters
        assert set(kwargs) <= set(parameters), (
            f"{name}: pika takes no {set(kwargs) - set(parameters)}"
        )
    for kwargs in channel.named("basic_publish"):
        pika.BasicProperties(**vars(kwargs["properties"]))  # the fields pika's properties take
    assert channel.named("cancel") == [{}]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free local port: an S3-compatible endpoint like the client's."""
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_boto3_reads_and_writes_the_store_at_its_endpoint(
    model: SimpleNamespace, event_capture: Capture, s3_server: str
) -> None:
    boto3 = pytest.importorskip("boto3")
    env = worker_env(event_capture)
    config = replace(
        model.worker.WorkerConfig.from_env(env),
        object_store_endpoint=s3_server,
        store_ca_bundle=None,
        access_key_id="testing",
        secret_access_key="testing",
    )
    client = boto3.client("s3", **model.worker.s3_options(config))
    for bucket in (config.input_bucket, config.results_bucket):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=config.input_bucket, Key="in/a b.txt", Body=b"The app crashes\n")
    store = model.worker.ObjectStore(config, client)
    worker = model.worker.KubernetesWorker(
        config,
        model.settings.Settings.from_env({}),
        model.predictor.load(),
        store,
        properties=SimpleNamespace,
    )
    event = {
        "Records": [
            {
                "eventName": "s3:ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": config.input_bucket},
                    "object": {"key": "in/a+b.txt", "eTag": "e1"},
                },
            }
        ]
    }
    channel = FakeChannel()
    outcome = worker.handle(channel, *delivery(event))
    assert outcome.succeeded, outcome.error
    result = client.get_object(Bucket=config.results_bucket, Key=f"{outcome.job_id}.json")
    assert json.loads(result["Body"].read())["predictions"][0]["prediction"] == "technical"
    assert store.status(outcome.job_id) == "succeeded"
    status = json.loads(
        client.get_object(Bucket=config.results_bucket, Key=config.status_key(outcome.job_id))[
            "Body"
        ].read()
    )
    assert status["expires_at"] > status["updated_at"]
    assert store.status("never-seen") is None
    assert channel.named("basic_ack") == [{"delivery_tag": 1}]
    # Again: a duplicate, acknowledged without running.
    again = FakeChannel()
    assert worker.handle(again, *delivery(event, tag=2)) is None
    assert again.named("basic_ack") == [{"delivery_tag": 2}]


# -- stand-ins ---------------------------------------------------------------------------------
class FakeChannel:
    """pika's BlockingChannel as the worker uses it: records each call with its keywords."""

    def __init__(
        self,
        deliveries: list[tuple[Any, Any, bytes]] | None = None,
        idle: threading.Event | None = None,
    ) -> None:
        self.deliveries = list(deliveries or [])
        self.idle = idle  # set once every delivery is consumed (the test's stop)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))

    def consume(self, queue: str, **kwargs: Any) -> Iterator[tuple[Any, Any, Any]]:
        self._record("consume", queue=queue, **kwargs)
        yield from self.deliveries
        if self.idle is not None:
            self.idle.set()
        while True:
            yield None, None, None

    def cancel(self) -> int:
        self._record("cancel")
        return 0

    def queue_declare(self, **kwargs: Any) -> None:
        self._record("queue_declare", **kwargs)

    def exchange_declare(self, **kwargs: Any) -> None:
        self._record("exchange_declare", **kwargs)

    def confirm_delivery(self) -> None:
        self._record("confirm_delivery")

    def basic_qos(self, **kwargs: Any) -> None:
        self._record("basic_qos", **kwargs)

    def basic_ack(self, **kwargs: Any) -> None:
        self._record("basic_ack", **kwargs)

    def basic_reject(self, **kwargs: Any) -> None:
        self._record("basic_reject", **kwargs)

    def basic_nack(self, **kwargs: Any) -> None:
        self._record("basic_nack", **kwargs)

    def basic_publish(self, **kwargs: Any) -> None:
        self._record("basic_publish", **kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]


def delivery(
    body: Any, *, tag: int = 1, failed: int = 0, message_id: str | None = "m-1"
) -> tuple[Any, Any, bytes]:
    """(method, properties, body) as pika's consume yields them."""
    headers = {"x-delivery-count": failed} if failed else None
    properties = SimpleNamespace(headers=headers, message_id=message_id, timestamp=1700000000)
    return SimpleNamespace(delivery_tag=tag), properties, json.dumps(body).encode()


class MemoryS3:
    """A stand-in S3 client over a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        import io

        if (Bucket, Key) not in self.objects:
            error = Exception(Key)
            error.response = {"Error": {"Code": "NoSuchKey"}}  # type: ignore[attr-defined]
            raise error
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.objects[(Bucket, Key)] = Body
        return {}


def make_worker(
    model: SimpleNamespace, env: Mapping[str, str], recorder: Any = None
) -> tuple[Any, MemoryS3]:
    s3 = MemoryS3()
    config = model.worker.WorkerConfig.from_env(env)
    worker = model.worker.KubernetesWorker(
        config,
        model.settings.Settings.from_env({}),
        model.predictor.load(),
        model.worker.ObjectStore(config, s3),
        recorder or model.telemetry.NO_TELEMETRY,
        properties=SimpleNamespace,
    )
    return worker, s3


def test_every_outcome_settles_the_message_once(
    model: SimpleNamespace, event_capture: Capture
) -> None:
    env = worker_env(event_capture)
    worker, s3 = make_worker(model, env)
    cases = [
        (delivery({"input": "I was charged twice"}), "basic_ack", None, "job.completed"),
        (delivery({"input": ""}), "basic_reject", True, None),
        (delivery({"input": ""}, failed=MAX_DELIVERIES - 1), "basic_reject", False, "job.failed"),
        (delivery("not an object"), "basic_reject", True, None),
    ]
    for args, settle, requeue, routing in cases:
        channel = FakeChannel()
        s3.objects.clear()
        worker.handle(channel, *args)
        settled = [c for c in channel.calls if c[0] in ("basic_ack", "basic_reject", "basic_nack")]
        assert [c[0] for c in settled] == [settle]
        if requeue is not None:
            assert settled[0][1]["requeue"] is requeue
        published = [c["routing_key"] for c in channel.named("basic_publish")]
        assert published == ([routing] if routing else [])
