

# -- the worker (azure event-driven): Service Bus message in, blob + Cosmos DB status out --------
@pytest.fixture(scope="module")
def dev_resources() -> list[Any]:
    """What the dev stack's program registers, under mocks."""
    from offline.program import run_stack

    return list(run_stack(ROOT, "dev").resources)


@pytest.fixture(scope="module")
def worker_env(dev_resources: list[Any]) -> dict[str, str]:
    """The worker job container's environment as the dev stack sets it."""
    for resource in dev_resources:
        if resource.type.endswith(":Job"):
            for container in resource.inputs["template"]["containers"]:
                if container["name"] == "worker":
                    return {e["name"]: str(e.get("value", "")) for e in container["env"]}
    raise AssertionError("the dev stack defines no worker job")


@dataclass
class FakeMessage:
    """What the Service Bus SDK hands the worker: the fields it reads."""

    body: Any
    message_id: str = "m-1"
    delivery_count: int = 1
    enqueued_time_utc: Any = None


def message(document: Any, **fields: Any) -> FakeMessage:
    from datetime import datetime, timezone

    fields.setdefault("enqueued_time_utc", datetime(2026, 1, 1, tzinfo=timezone.utc))
    return FakeMessage(iter([json.dumps(document).encode()]), **fields)


class FakeAzure:
    """Stand-ins for the container, Cosmos DB and Event Grid clients, and the receiver."""

    def __init__(self, blobs: Mapping[str, bytes] | None = None) -> None:
        self.blobs = dict(blobs or {})
        self.uploaded: dict[str, bytes] = {}
        self.statuses: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, Any]] = []
        self.settled: list[tuple[str, dict[str, Any]]] = []
        self.operations: list[dict[str, Any]] = []

    def clients(self) -> dict[str, Any]:
        fake = self

        class Blobs:
            def __init__(self, store: dict[str, bytes]) -> None:
                self.store = store

            def download_blob(self, name: str) -> Any:
                data = self.store[name]
                return type("Download", (), {"readall": lambda _self: data})()

            def upload_blob(self, *, name: str, data: bytes, overwrite: bool) -> None:
                assert overwrite, "a redelivered job must be able to rewrite its result"
                fake.uploaded[name] = data

        class Status:
            def upsert_item(self, document: dict[str, Any]) -> None:
                fake.statuses.append(document)

        return {
            "input": Blobs(self.blobs),
            "results": Blobs(self.uploaded),
            "status": Status(),
            "publish": lambda kind, subject, data: self.events.append((kind, subject, data)),
        }

    def complete_message(self, msg: Any) -> None:
        self.settled.append(("complete", {}))

    def abandon_message(self, msg: Any) -> None:
        self.settled.append(("abandon", {}))

    def dead_letter_message(self, msg: Any, reason: str, error_description: str) -> None:
        self.settled.append(("dead_letter", {"reason": reason}))

    def operation(self, **fields: Any) -> None:
        self.operations.append(fields)

    def request(self, **fields: Any) -> None:
        raise AssertionError("a job is not an HTTP request")

    def flush(self) -> None:
        pass


def make_worker(fake: FakeAzure, env: Mapping[str, str]) -> Any:
    from model import worker

    config = worker.WorkerConfig.from_env(env)
    return worker.AzureWorker(config, image_settings(), predictor.load(), fake.clients(), fake)


def test_the_stack_sets_every_variable_the_worker_reads(worker_env: dict[str, str]) -> None:
    from model import worker

    assert worker.is_worker(worker_env)
    worker.WorkerConfig.from_env(worker_env)  # raises naming any variable missing


def test_the_job_telemetry_matches_what_the_worker_alerts_filter_on(
    dev_resources: list[Any], worker_env: dict[str, str]
) -> None:
    queries = [
        json.dumps(r.inputs.get("criteria"))
        for r in dev_resources
        if r.type.endswith(":ScheduledQueryRule") and "AppRoleName" in json.dumps(r.inputs)
    ]
    assert queries, "no alert reads the worker's telemetry"
    role_names = {m for q in queries for m in re.findall(r'AppRoleName == \\"([^\\"]+)\\"', q)}
    operations = {m for q in queries for m in re.findall(r'(?<!AppRole)Name == \\"([^\\"]+)\\"', q)}
    assert role_names == {worker_env["OTEL_SERVICE_NAME"]}
    assert operations == {worker_env["JOB_OPERATION"]}
    assert any(worker_env["QUEUE_WAIT_PROPERTY"] in q for q in queries)


def test_an_upload_is_scored_stored_announced_and_completed(worker_env: dict[str, str]) -> None:
    url = worker_env["INPUT_CONTAINER_URL"].rstrip("/") + "/tickets/a%20b.txt"
    event = {"specversion": "1.0", "type": "Microsoft.Storage.BlobCreated", "data": {"url": url}}
    fake = FakeAzure({"tickets/a b.txt": b"Please close my account\nRefund please\n"})
    outcome = make_worker(fake, worker_env).handle(message(event), fake)
    assert outcome.succeeded
    result = json.loads(fake.uploaded["m-1.json"])
    assert [p["prediction"] for p in result["predictions"]] == ["account", "billing"]
    assert [s["status"] for s in fake.statuses] == ["processing", "succeeded"]
    assert {"id", "jobId", "status", "attempts", "updatedAt"} <= set(fake.statuses[-1])
    assert fake.statuses[-1]["jobId"] == "m-1"
    ((kind, subject, data),) = fake.events
    assert (kind, subject, data["outcome"]) == ("aideploy.job.completed", "m-1", "completed")
    assert fake.settled == [("complete", {})]
    (job,) = fake.operations
    assert job["name"] == worker_env["JOB_OPERATION"] and job["success"] is True
    assert worker_env["QUEUE_WAIT_PROPERTY"] in job["properties"]


@pytest.mark.parametrize(
    ("document", "kind", "job_id"),
    [
        ({"kind": "batch", "trigger": "schedule"}, "batch", "batch-20260101"),
        ({"job_id": "order-42", "input": "Refund please"}, "inline", "order-42"),
    ],
)
def test_the_schedule_and_producer_messages_become_jobs(
    worker_env: dict[str, str], document: Any, kind: str, job_id: str
) -> None:
    from model import worker

    config = worker.WorkerConfig.from_env(worker_env)
    job = worker.parse_message(message(document, message_id="batch-20260101"), config)
    assert (job.kind, job.job_id) == (kind, job_id)


def test_failures_are_abandoned_then_dead_lettered_on_the_last_delivery(
    worker_env: dict[str, str],
) -> None:
    bad = {"job_id": "j-7", "input": ""}
    fake = FakeAzure()
    make_worker(fake, worker_env).handle(message(bad, delivery_count=1), fake)
    assert fake.settled == [("abandon", {})] and fake.events == []
    assert fake.operations[0]["success"] is False

    fake = FakeAzure()
    last = int(worker_env["MAX_DELIVERIES"])
    make_worker(fake, worker_env).handle(message(bad, delivery_count=last), fake)
    assert fake.settled == [("dead_letter", {"reason": "max-deliveries"})]
    assert fake.statuses[-1]["status"] == "failed"
    ((kind, subject, data),) = fake.events
    assert (kind, subject, data["outcome"]) == ("aideploy.job.failed", "j-7", "failed")


def test_a_blob_outside_the_input_container_is_refused(worker_env: dict[str, str]) -> None:
    from model import jobs, worker

    config = worker.WorkerConfig.from_env(worker_env)
    event = {"type": "Microsoft.Storage.BlobCreated", "data": {"url": "https://evil.example/x"}}
    with pytest.raises(jobs.JobError):
        worker.parse_message(message(event), config)
