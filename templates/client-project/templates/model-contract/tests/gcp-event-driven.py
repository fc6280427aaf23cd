

# -- the worker (gcp event-driven): Pub/Sub push in, GCS result + Firestore status out -----------
@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """The worker container's environment as the dev stack's program sets it (under mocks)."""
    from offline.program import run_stack

    for resource in run_stack(ROOT, "dev").resources:
        if resource.type == "gcp:cloudrunv2/service:Service":
            for container in resource.inputs["template"]["containers"]:
                if container.get("name") == "worker":
                    env = {e["name"]: str(e.get("value", "")) for e in container["envs"]}
                    # Cloud Run sets PORT to the container port.
                    env["PORT"] = str(int(container["ports"]["containerPort"]))
                    return env
    raise AssertionError("the dev stack defines no worker service")


def envelope(
    data: Any = None,
    attributes: Mapping[str, str] | None = None,
    attempt: int = 1,
    message_id: str = "111",
) -> dict[str, Any]:
    """A Pub/Sub push request body."""
    import base64

    raw = b"" if data is None else json.dumps(data).encode()
    return {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "attributes": dict(attributes or {}),
            "messageId": message_id,
            "publishTime": "2026-01-02T02:00:00.123456789Z",
        },
        "subscription": "projects/p/subscriptions/jobs",
        "deliveryAttempt": attempt,
    }


UPLOAD = {
    "eventType": "OBJECT_FINALIZE",
    "payloadFormat": "JSON_API_V1",
    "bucketId": "input-bucket",
    "objectId": "tickets/a.txt",
    "objectGeneration": "1700000000000000",
    "trigger": "upload",
}


@contextmanager
def push_worker(tmp_path: Path, env: Mapping[str, str]) -> Iterator[tuple[Running, Any]]:
    """The server with the worker's push routes, on files under ``tmp_path``."""
    from model import worker

    store = worker.LocalStore(tmp_path)
    deliveries = int(env["MAX_DELIVERIES"])
    settings = image_settings(PORT=env["PORT"])

    def routes(service: ModelService) -> Mapping[str, Route]:
        return worker.push_routes(service, store, deliveries, env=env)

    with running(settings, routes=routes) as live:
        yield live, store


def test_the_worker_listens_where_the_subscription_pushes(worker_env: dict[str, str]) -> None:
    from model import worker

    worker.WorkerConfig.from_env(worker_env)  # raises naming any variable missing
    assert image_settings(PORT=worker_env["PORT"]).port == MODEL.port
    assert worker_env["DEAD_LETTER_PATH"].startswith("/")


def test_an_upload_push_is_processed_and_acked(tmp_path: Path, worker_env: dict[str, str]) -> None:
    (tmp_path / "input" / "tickets").mkdir(parents=True)
    (tmp_path / "input" / "tickets" / "a.txt").write_text("Reset my password\nRefund please\n")
    with push_worker(tmp_path, worker_env) as (live, _store):
        status, body = live.post(MODEL.predict_path, envelope(attributes=UPLOAD))
    assert status == 200, body
    job_id = body["job_id"]
    assert job_id.startswith("upload-")
    result = json.loads((tmp_path / "results" / f"{job_id}.json").read_text())
    assert [p["prediction"] for p in result["predictions"]] == ["account", "billing"]
    status_doc = json.loads((tmp_path / "status" / f"{job_id}.json").read_text())
    assert status_doc["status"] == "succeeded"


def test_a_failing_job_is_nacked_and_its_dead_letter_reports_the_same_job(
    tmp_path: Path, worker_env: dict[str, str]
) -> None:
    # The object does not exist: every delivery fails (500 = nack, Pub/Sub retries).
    with push_worker(tmp_path, worker_env) as (live, _store):
        status, body = live.post(MODEL.predict_path, envelope(attributes=UPLOAD, attempt=2))
        assert status == 500
        first_id = body["job_id"]
        # Pub/Sub re-publishes the message to the dead-letter topic with a new id.
        dead = envelope(
            attributes={**UPLOAD, "CloudPubSubDeadLetterSourceDeliveryCount": "5"},
            message_id="999",
        )
        status, body = live.post(worker_env["DEAD_LETTER_PATH"], dead)
    assert status == 200
    assert body["job_id"] == first_id
    assert json.loads((tmp_path / "status" / f"{first_id}.json").read_text())["status"] == "failed"
    (notice,) = [
        json.loads(line) for line in (tmp_path / "notifications.jsonl").read_text().splitlines()
    ]
    assert notice["attributes"] == {"outcome": "failed"}
    assert notice["data"]["job_id"] == first_id


def test_schedule_and_producer_messages(tmp_path: Path, worker_env: dict[str, str]) -> None:
    with push_worker(tmp_path, worker_env) as (live, _store):
        batch = envelope({"kind": "batch", "trigger": "schedule"}, {"trigger": "schedule"})
        assert live.post(MODEL.predict_path, batch) == (
            200,
            {"job_id": "batch-20260102", "status": "succeeded"},
        )
        inline = envelope({"job_id": "order-42", "input": "The export to CSV is empty"})
        assert live.post(MODEL.predict_path, inline)[1]["job_id"] == "order-42"
        assert live.post(MODEL.predict_path, envelope(data=None))[0] == 400
        # Not an envelope: an ordinary prediction (a smoke test from inside the project).
        assert live.post(MODEL.predict_path, {"input": "Refund please"})[0] == 200
    result = json.loads((tmp_path / "results" / "order-42.json").read_text())
    assert result["predictions"][0]["prediction"] == "technical"


def test_the_google_store_calls_the_documented_rest_apis(worker_env: dict[str, str]) -> None:
    from model import worker

    calls: list[tuple[str, str, Any]] = []

    def send(method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
        calls.append((method, url, json.loads(body) if body else None))
        return b"input line\n"

    config = worker.WorkerConfig.from_env(worker_env)
    store = worker.GoogleStore(config, "acme-project", send)
    assert store.read_input("tickets/a b.txt") == b"input line\n"
    store.write_result("job-1.json", b"{}")
    store.put_status("job-1", "failed", 5)
    store.publish({"outcome": "failed", "job_id": "job-1"}, {"outcome": "failed"})
    (get, upload, patch, publish) = calls
    assert get[:2] == (
        "GET",
        f"https://storage.googleapis.com/storage/v1/b/{config.input_bucket}/o/tickets%2Fa%20b.txt"
        "?alt=media",
    )
    assert upload[1].startswith(
        f"https://storage.googleapis.com/upload/storage/v1/b/{config.results_bucket}/o?"
    )
    assert "name=job-1.json" in upload[1]
    assert patch[0] == "PATCH"
    assert patch[1] == (
        "https://firestore.googleapis.com/v1/projects/acme-project/databases/"
        f"{config.status_database}/documents/{config.status_collection}/job-1"
    )
    fields = patch[2]["fields"]
    assert fields["status"] == {"stringValue": "failed"}
    assert "timestampValue" in fields[worker_env["STATUS_TTL_FIELD"]]
    assert publish[1] == f"https://pubsub.googleapis.com/v1/{config.notification_topic}:publish"
    assert publish[2]["messages"][0]["attributes"] == {"outcome": "failed"}
