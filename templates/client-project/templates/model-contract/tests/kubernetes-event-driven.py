

# -- the worker (kubernetes event-driven): RabbitMQ in, S3-compatible objects out -------------
# Labels Prometheus Operator puts on every series it scrapes through a ServiceMonitor.
TARGET_LABELS = frozenset({"namespace", "service", "pod", "container", "endpoint", "job"})
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
# Stand-ins for the values the stack reads from the client's secret store.
SECRET_VALUES = {
    "QUEUE_URL": "amqps://worker:secret@rabbitmq.acme.example:5671/%2F",
    "AWS_ACCESS_KEY_ID": "access-key",
    "AWS_SECRET_ACCESS_KEY": "secret-key",
}


@pytest.fixture(scope="module")
def dev_resources() -> list[Any]:
    """What the dev stack's program registers, under mocks."""
    from offline.program import run_stack

    return list(run_stack(ROOT, "dev").resources)


def of_kind(resources: list[Any], kind: str) -> list[Any]:
    return [
        r for r in resources if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind
    ]


def worker_container(resources: list[Any]) -> dict[str, Any]:
    for deployment in of_kind(resources, "Deployment"):
        for container in deployment.inputs["spec"]["template"]["spec"]["containers"]:
            if container["name"] == "worker":
                return dict(container)
    raise AssertionError("the dev stack defines no worker Deployment")


@pytest.fixture(scope="module")
def worker_env(dev_resources: list[Any]) -> dict[str, str]:
    """The worker container's environment as the dev stack sets it; a variable read from a
    Secret gets a stand-in value."""
    env = {}
    for entry in worker_container(dev_resources)["env"]:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            env[entry["name"]] = SECRET_VALUES.get(entry["name"], "from-a-secret")
    return env


class NoSuchKeyError(Exception):
    """What boto3 raises for an object that does not exist (the fields the worker reads)."""

    response = {"Error": {"Code": "NoSuchKey"}}  # noqa: RUF012


class FakeS3:
    """A stand-in S3 client: objects in a dict keyed (bucket, key)."""

    def __init__(self, objects: Mapping[tuple[str, str], bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.puts: list[dict[str, Any]] = []

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        import io

        if (Bucket, Key) not in self.objects:
            raise NoSuchKeyError(Key)
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        self.objects[(kwargs["Bucket"], kwargs["Key"])] = kwargs["Body"]
        return {}


@dataclass
class Method:
    delivery_tag: int


@dataclass
class Properties:
    headers: dict[str, Any] | None = None
    message_id: str | None = None
    timestamp: int | None = 1700000000


class FakeChannel:
    """A stand-in for pika's BlockingChannel: records what the worker calls."""

    def __init__(self, deliveries: list[tuple[Any, Any, bytes]] | None = None) -> None:
        self.deliveries = list(deliveries or [])
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))

    def queue_declare(self, queue: str, **kwargs: Any) -> None:
        self._record("queue_declare", queue=queue, **kwargs)

    def exchange_declare(self, exchange: str, **kwargs: Any) -> None:
        self._record("exchange_declare", exchange=exchange, **kwargs)

    def confirm_delivery(self) -> None:
        self._record("confirm_delivery")

    def basic_qos(self, **kwargs: Any) -> None:
        self._record("basic_qos", **kwargs)

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        self._record("basic_ack", delivery_tag=delivery_tag)

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        self._record("basic_reject", delivery_tag=delivery_tag, requeue=requeue)

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        self._record("basic_nack", delivery_tag=delivery_tag, requeue=requeue)

    def basic_publish(self, exchange: str, routing_key: str, body: bytes, **kwargs: Any) -> None:
        self._record(
            "basic_publish", exchange=exchange, routing_key=routing_key, body=body, **kwargs
        )

    def consume(self, queue: str, **kwargs: Any) -> Iterator[tuple[Any, Any, Any]]:
        self._record("consume", queue=queue, **kwargs)
        yield from self.deliveries
        yield None, None, None

    def cancel(self) -> int:
        self._record("cancel")
        return 0

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]


def delivery(body: Any, *, tag: int = 1, failed: int = 0, message_id: str | None = "m-1") -> tuple:
    headers = {"x-delivery-count": failed} if failed else None
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Method(tag), Properties(headers, message_id), raw


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    """An S3 event as MinIO and Ceph RGW publish it to AMQP (one record)."""
    return {
        "Records": [
            {
                "eventName": "s3:ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": "abc123"}},
            }
        ]
    }


def make_worker(env: Mapping[str, str], s3: FakeS3, recorder: Any = None) -> Any:
    from types import SimpleNamespace

    from model import telemetry, worker

    config = worker.WorkerConfig.from_env(env)
    return worker.KubernetesWorker(
        config,
        image_settings(),
        predictor.load(),
        worker.ObjectStore(config, s3),
        recorder or telemetry.NO_TELEMETRY,
        properties=SimpleNamespace,
    )


def test_the_stack_sets_every_variable_the_worker_reads(worker_env: dict[str, str]) -> None:
    from model import telemetry, worker

    assert worker.is_worker(worker_env)
    config = worker.WorkerConfig.from_env(worker_env)  # raises naming any variable missing
    assert config.max_deliveries >= 1 and config.max_processing_seconds >= 1
    assert config.object_store_endpoint.startswith("https://")
    assert telemetry.metrics_port(worker_env) is not None


def test_the_worker_declares_the_queues_the_stack_names(worker_env: dict[str, str]) -> None:
    channel = FakeChannel()
    make_worker(worker_env, FakeS3()).declare(channel)
    declared = {c["queue"]: c for c in channel.named("queue_declare")}
    assert list(declared) == [worker_env["DEAD_LETTER_QUEUE"], worker_env["QUEUE_NAME"]]
    jobs_queue = declared[worker_env["QUEUE_NAME"]]
    assert jobs_queue["durable"] is True
    assert jobs_queue["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": int(worker_env["MAX_DELIVERIES"]),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": worker_env["DEAD_LETTER_QUEUE"],
    }
    (exchange,) = channel.named("exchange_declare")
    assert exchange["exchange"] == worker_env["NOTIFICATION_EXCHANGE"]
    assert channel.named("basic_qos") == [{"prefetch_count": 1}]


def test_an_upload_is_scored_stored_announced_and_acked(worker_env: dict[str, str]) -> None:
    inputs, results = worker_env["INPUT_BUCKET"], worker_env["RESULTS_BUCKET"]
    s3 = FakeS3({(inputs, "tickets/batch 1.txt"): b"Reset my password\n\nI was charged twice\n"})
    channel = FakeChannel()
    worker = make_worker(worker_env, s3)
    outcome = worker.handle(channel, *delivery(s3_event(inputs, "tickets/batch+1.txt")))
    assert outcome.succeeded and outcome.job_id.startswith("upload-")
    result = json.loads(s3.objects[(results, f"{outcome.job_id}.json")])
    assert [p["prediction"] for p in result["predictions"]] == ["account", "billing"]
    status_key = f"{worker_env['STATUS_PREFIX']}{outcome.job_id}.json"
    statuses = [json.loads(p["Body"])["status"] for p in s3.puts if p["Key"] == status_key]
    assert statuses == ["processing", "succeeded"]
    assert channel.named("basic_ack") == [{"delivery_tag": 1}]
    (published,) = channel.named("basic_publish")
    assert (published["exchange"], published["routing_key"]) == (
        worker_env["NOTIFICATION_EXCHANGE"],
        "job.completed",
    )
    assert json.loads(published["body"])["job_id"] == outcome.job_id
    # Delivered again (the ack was lost): acknowledged, nothing run or written again.
    again = FakeChannel()
    assert worker.handle(again, *delivery(s3_event(inputs, "tickets/batch+1.txt"), tag=2)) is None
    assert again.named("basic_ack") == [{"delivery_tag": 2}]
    assert again.named("basic_publish") == [] and len(s3.puts) == 3


def test_a_failed_attempt_is_requeued_and_the_last_one_dead_lettered(
    worker_env: dict[str, str],
) -> None:
    bad = {"job_id": "j-7", "input": ""}  # empty input: the model refuses it
    channel = FakeChannel()
    outcome = make_worker(worker_env, FakeS3()).handle(channel, *delivery(bad))
    assert not outcome.succeeded and outcome.attempt == 1
    assert channel.named("basic_reject") == [{"delivery_tag": 1, "requeue": True}]
    assert channel.named("basic_publish") == [] and channel.named("basic_ack") == []

    last = int(worker_env["MAX_DELIVERIES"])
    channel, s3 = FakeChannel(), FakeS3()
    make_worker(worker_env, s3).handle(channel, *delivery(bad, failed=last - 1))
    assert channel.named("basic_reject") == [{"delivery_tag": 1, "requeue": False}]
    status_key = f"{worker_env['STATUS_PREFIX']}j-7.json"
    status = json.loads(s3.objects[(worker_env["RESULTS_BUCKET"], status_key)])
    assert (status["status"], status["attempts"]) == ("failed", last)
    (published,) = channel.named("basic_publish")
    assert published["routing_key"] == "job.failed"
    failure = json.loads(published["body"])
    assert (failure["outcome"], failure["job_id"]) == ("failed", "j-7") and failure["error"]


def test_the_loop_consumes_the_queue_keda_scales_on(
    dev_resources: list[Any], worker_env: dict[str, str]
) -> None:
    import threading as threads

    channel = FakeChannel([delivery({"input": "The app crashes"}, message_id="m-9")])

    class Connection:
        closed = False

        def channel(self) -> FakeChannel:
            return channel

        def process_data_events(self, time_limit: float = 0) -> None:
            time.sleep(min(time_limit, 0.01))

        def close(self) -> None:
            Connection.closed = True

    stop = threads.Event()
    worker = make_worker(worker_env, FakeS3())
    original = worker.handle

    def handle_then_stop(*args: Any) -> Any:
        try:
            return original(*args)
        finally:
            stop.set()

    worker.handle = handle_then_stop
    assert worker.run(stop, Connection) == 0
    (consumed,) = channel.named("consume")
    assert consumed["queue"] == worker_env["QUEUE_NAME"]
    assert channel.named("basic_ack") == [{"delivery_tag": 1}] and Connection.closed
    for scaled in of_kind(dev_resources, "ScaledObject"):
        (trigger,) = scaled.inputs["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == worker_env["QUEUE_NAME"]


def test_the_worker_exposes_every_series_and_label_its_alarms_read(
    dev_resources: list[Any], worker_env: dict[str, str]
) -> None:
    from model import telemetry

    (rule,) = of_kind(dev_resources, "PrometheusRule")
    expressions = [a["expr"] for g in rule.inputs["spec"]["groups"] for a in g["rules"]]
    selectors = [
        (name, MATCHER.findall(body))
        for expr in expressions
        for name, body in SELECTOR.findall(expr)
        if not name.startswith("rabbitmq_")  # the broker's own exporter
    ]
    assert selectors, "no rule reads the worker's metrics"
    recorder = telemetry.start(
        image_settings(MODEL_HOST="127.0.0.1"), {"METRICS_PORT": "0"}, jobs=True
    )
    try:
        worker = make_worker(worker_env, FakeS3(), recorder)
        worker.handle(FakeChannel(), *delivery({"input": "Reset my password"}))
        worker.handle(FakeChannel(), *delivery({"input": ""}, message_id="m-2"))
        connection = http.client.HTTPConnection("127.0.0.1", recorder.port, timeout=10)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
    finally:
        recorder.close()
    samples = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, f"not an exposition line: {line!r}"
            samples.append((match.group(1), dict(PAIR.findall(match.group(2) or ""))))
    for metric, matchers in selectors:
        exposed = [labels for name, labels in samples if name == metric]
        assert exposed, f"the alarms read {metric}, which the worker does not expose"
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            values = {labels.get(label) for labels in exposed}
            assert op == "=" and value in values, f"{metric}: {label}{op}{value!r}"
    jobs_total = {labels["outcome"] for name, labels in samples if name == "aideploy_jobs_total"}
    assert jobs_total == {"succeeded", "failed"}
