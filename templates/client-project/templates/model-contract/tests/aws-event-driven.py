

# -- the worker (aws event-driven): SQS message in, S3 result + DynamoDB status out ---------------
@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """The worker container's environment as the dev stack's program sets it (under mocks)."""
    from offline.program import run_stack

    for resource in run_stack(ROOT, "dev").resources:
        if resource.type == "aws:ecs/taskDefinition:TaskDefinition":
            definitions = resource.inputs["containerDefinitions"]
            if isinstance(definitions, str):
                definitions = json.loads(definitions)
            for container in definitions:
                if container["name"] == "worker":
                    return {e["name"]: str(e["value"]) for e in container["environment"]}
    raise AssertionError("the dev stack defines no worker container")


class FakeAws:
    """Stand-in boto3 clients: record calls, answer like the AWS APIs do."""

    def __init__(self, objects: Mapping[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def clients(self) -> dict[str, Any]:
        return {"sqs": self, "s3": self, "dynamodb": self, "sns": self}

    def _record(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        return {}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        import io

        self._record("get_object", **kwargs)
        return {"Body": io.BytesIO(self.objects[kwargs["Key"]])}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("put_object", **kwargs)

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("put_item", **kwargs)

    def delete_message(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("delete_message", **kwargs)

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("publish", **kwargs)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]


def sqs_message(body: Any, receive_count: int = 1, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"receipt-{message_id}",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
        },
    }


S3_EVENT = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "detail": {"bucket": {"name": "input-bucket"}, "object": {"key": "tickets/batch-1.txt"}},
}


def make_worker(fake: FakeAws, env: Mapping[str, str]) -> Any:
    from model import worker

    config = worker.WorkerConfig.from_env(env)
    protection = worker.TaskProtection(None, 1)
    return worker.AwsWorker(config, image_settings(), predictor.load(), fake.clients(), protection)


def test_the_stack_sets_every_variable_the_worker_reads(worker_env: dict[str, str]) -> None:
    from model import worker

    assert worker.is_worker(worker_env)
    config = worker.WorkerConfig.from_env(worker_env)  # raises naming any variable missing
    assert config.max_deliveries >= 1
    assert config.metric_namespace == "aideploy/EventDriven"


@pytest.mark.parametrize(
    ("body", "kind", "job_id"),
    [
        (S3_EVENT, "upload", "m-1"),
        ({"kind": "batch", "trigger": "schedule"}, "batch", "m-1"),
        ({"job_id": "order-42", "input": "Refund please"}, "inline", "order-42"),
    ],
)
def test_each_kind_of_message_becomes_a_job(body: Any, kind: str, job_id: str) -> None:
    from model import worker

    job = worker.parse_message(sqs_message(body, receive_count=2))
    assert (job.kind, job.job_id, job.attempt) == (kind, job_id, 2)


def test_an_upload_is_scored_stored_and_its_message_deleted(
    worker_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeAws({"tickets/batch-1.txt": b"Reset my password\n\nI was charged twice\n"})
    outcome = make_worker(fake, worker_env).handle(sqs_message(S3_EVENT))
    assert outcome.succeeded
    (put,) = fake.named("put_object")
    assert (put["Bucket"], put["Key"]) == (worker_env["RESULTS_BUCKET"], "m-1.json")
    result = json.loads(put["Body"])
    assert [p["prediction"] for p in result["predictions"]] == ["account", "billing"]
    statuses = [item["Item"]["status"]["S"] for item in fake.named("put_item")]
    assert statuses == ["processing", "succeeded"]
    item = fake.named("put_item")[-1]["Item"]
    assert set(item) == {
        worker_env["STATUS_KEY"],
        "status",
        "attempts",
        "updated_at",
        worker_env["STATUS_TTL_ATTRIBUTE"],
    }
    assert fake.named("delete_message") == [
        {"QueueUrl": worker_env["QUEUE_URL"], "ReceiptHandle": "receipt-m-1"}
    ]
    assert fake.named("publish") == []
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    (record,) = metrics
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == worker_env["METRIC_NAMESPACE"]
    assert directive["Dimensions"] == [["Deployment"]]
    assert record["Deployment"] == worker_env["METRIC_DEPLOYMENT"]
    assert record["JobsSucceeded"] == 1 and record["ProcessingTime"] >= 0


def test_a_failed_attempt_leaves_the_message_and_the_last_one_announces_the_failure(
    worker_env: dict[str, str],
) -> None:
    bad = {"job_id": "j-7", "input": ""}  # empty input: the model refuses it
    fake = FakeAws()
    outcome = make_worker(fake, worker_env).handle(sqs_message(bad, receive_count=1))
    assert not outcome.succeeded
    assert fake.named("delete_message") == [] and fake.named("publish") == []
    assert fake.named("put_item")[-1]["Item"]["status"]["S"] == "processing"

    last = int(worker_env["MAX_DELIVERIES"])
    fake = FakeAws()
    make_worker(fake, worker_env).handle(sqs_message(bad, receive_count=last))
    assert fake.named("delete_message") == []  # SQS moves it to the dead-letter queue
    assert fake.named("put_item")[-1]["Item"]["status"]["S"] == "failed"
    (notice,) = fake.named("publish")
    assert notice["TopicArn"] == worker_env["NOTIFICATION_TOPIC_ARN"]
    assert json.loads(notice["Message"])["outcome"] == "failed"
    assert json.loads(notice["Message"])["job_id"] == "j-7"


def test_task_protection_lasts_the_visibility_timeout(worker_env: dict[str, str]) -> None:
    import math

    from model import worker

    minutes = math.ceil(int(worker_env["VISIBILITY_TIMEOUT_SECONDS"]) / 60)
    protection = worker.TaskProtection("http://agent", minutes)
    assert protection.body(True) == {"ProtectionEnabled": True, "ExpiresInMinutes": minutes}
    assert protection.body(False) == {"ProtectionEnabled": False}
