"""The event-driven worker on Azure: one Container Apps job execution handles one message.

    python -m model                                   # in the image (the job sets QUEUE_NAME)
    python -m model.worker --once message.json        # one message body from a file, no Azure

KEDA starts an execution per queued message; the execution receives one message (peek-lock) as
the worker identity, renews its lock while it works, writes the result blob and the status
document, publishes a CloudEvent and settles the message (docs/model-contract.md, "Worker").
The Azure SDKs it needs are in model/requirements.txt, which the image installs; the rest of
this module and model/jobs.py are standard library, so the project's tests run them with
stand-in clients.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from model import jobs, predictor, telemetry
from model.jsonlog import log
from model.settings import Settings

# The worker job is the only container of this stack that gets a queue to drain.
ROLE_VARIABLES = ("SERVICEBUS_NAMESPACE", "QUEUE_NAME")
# How long an execution waits for its message: KEDA saw it, but another execution may win it.
RECEIVE_WAIT_SECONDS = 30
BLOB_CREATED = "Microsoft.Storage.BlobCreated"
# CloudEvent type of the notices on the notification topic: aideploy.job.completed / .failed.
EVENT_TYPE_PREFIX = "aideploy.job."


def is_worker(env: Mapping[str, str]) -> bool:
    """True when the stack started this container as the queue worker (a Container Apps job)."""
    return all(env.get(name) for name in ROLE_VARIABLES)


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's wiring, from the variables the stack sets on the job."""

    client_id: str
    namespace: str
    queue_name: str
    max_deliveries: int
    max_processing_seconds: int
    lock_renew_until_seconds: int
    input_container_url: str
    results_container_url: str
    cosmos_endpoint: str
    status_database: str
    status_container: str
    notification_topic_endpoint: str
    job_operation: str
    queue_wait_property: str
    service_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerConfig:
        """Read every variable; a missing one is an error naming all that are missing."""
        missing = sorted(name for name in WORKER_VARIABLES if not env.get(name))
        if missing:
            raise KeyError(f"the worker needs {', '.join(missing)}")
        values = {field: kind(env[name]) for name, (field, kind) in WORKER_VARIABLES.items()}
        return cls(**values)


# Variable -> (WorkerConfig field, type): one table, so a renamed variable fails in one place.
WORKER_VARIABLES: Mapping[str, tuple[str, type]] = {
    "AZURE_CLIENT_ID": ("client_id", str),
    "SERVICEBUS_NAMESPACE": ("namespace", str),
    "QUEUE_NAME": ("queue_name", str),
    "MAX_DELIVERIES": ("max_deliveries", int),
    "MAX_PROCESSING_SECONDS": ("max_processing_seconds", int),
    "LOCK_RENEW_UNTIL_SECONDS": ("lock_renew_until_seconds", int),
    "INPUT_CONTAINER_URL": ("input_container_url", str),
    "RESULTS_CONTAINER_URL": ("results_container_url", str),
    "COSMOS_ENDPOINT": ("cosmos_endpoint", str),
    "STATUS_DATABASE": ("status_database", str),
    "STATUS_CONTAINER": ("status_container", str),
    "NOTIFICATION_TOPIC_ENDPOINT": ("notification_topic_endpoint", str),
    "JOB_OPERATION": ("job_operation", str),
    "QUEUE_WAIT_PROPERTY": ("queue_wait_property", str),
    "OTEL_SERVICE_NAME": ("service_name", str),
}


def message_body(message: Any) -> bytes:
    """The bytes of a received message (the SDK yields a data body in sections)."""
    body = message.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return b"".join(bytes(part) for part in body)


def blob_name(url: str, container_url: str) -> str:
    """The blob name of ``url`` inside ``container_url`` (the input container only)."""
    prefix = container_url.rstrip("/") + "/"
    if not url.startswith(prefix):
        raise jobs.JobError(f"{url} is not in the input container")
    return urllib.parse.unquote(url[len(prefix) :])


def parse_message(message: Any, config: WorkerConfig) -> jobs.Job:
    """A received Service Bus message -> the job it carries.

    The body is an Event Grid CloudEvent ``Microsoft.Storage.BlobCreated`` (an upload: its
    ``data.url`` names the blob), the schedule's ``{"kind": "batch", "trigger": "schedule"}``
    or a producer's ``{"job_id"?, "input"}``. The job id is the producer's ``job_id`` or the
    Service Bus message id (the schedule sends ``batch-<UTC date>``).
    """
    attempt = int(message.delivery_count or 1)
    enqueued = message.enqueued_time_utc
    enqueued_at = enqueued.timestamp() if enqueued is not None else None
    job_id = str(message.message_id)
    try:
        body = json.loads(message_body(message))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise jobs.JobError("the message body is not JSON") from exc
    if isinstance(body, dict) and body.get("type") == BLOB_CREATED:
        url = (body.get("data") or {}).get("url")
        if not url:
            raise jobs.JobError("the BlobCreated event has no data.url")
        return jobs.Job(
            job_id,
            jobs.UPLOAD,
            attempt,
            source=blob_name(str(url), config.input_container_url),
            enqueued_at=enqueued_at,
        )
    return jobs.inline_or_batch(body, job_id=job_id, attempt=attempt, enqueued_at=enqueued_at)


def status_document(job_id: str, status: str, attempt: int, now: datetime) -> dict[str, Any]:
    """The Cosmos DB status document (partition key /jobId; the container's TTL expires it)."""
    return {
        "id": job_id,
        "jobId": job_id,
        "status": status,
        "attempts": attempt,
        "updatedAt": jobs.iso(now),
    }


def notice(outcome: jobs.Outcome, config: WorkerConfig) -> tuple[str, dict[str, Any]]:
    """(CloudEvent type, data) announcing a job's end."""
    if outcome.succeeded:
        result = f"{config.results_container_url.rstrip('/')}/{jobs.result_name(outcome.job_id)}"
        return EVENT_TYPE_PREFIX + "completed", {
            "outcome": "completed",
            "job_id": outcome.job_id,
            "result": result,
        }
    return EVENT_TYPE_PREFIX + "failed", jobs.failure_notice(outcome)


class AzureWorker:
    """Handles one message with the clients the execution opened (or stand-ins in tests).

    ``clients``: ``input`` and ``results`` (blob container clients), ``status`` (the Cosmos DB
    container client) and ``publish(type, subject, data)`` (sends one CloudEvent).
    """

    def __init__(
        self,
        config: WorkerConfig,
        settings: Settings,
        model: predictor.Predictor,
        clients: Mapping[str, Any],
        recorder: telemetry.Recorder = telemetry.NO_TELEMETRY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.settings, self.model = config, settings, model
        self.clients = clients
        self.recorder = recorder
        self.clock = clock

    def read_input(self, name: str) -> bytes:
        """An input blob's bytes (the worker identity reads the input container only)."""
        return bytes(self.clients["input"].download_blob(name).readall())

    def put_status(self, job_id: str, status: str, attempt: int) -> None:
        """Upsert the job's status document."""
        self.clients["status"].upsert_item(status_document(job_id, status, attempt, jobs.now_utc()))

    def handle(self, message: Any, receiver: Any) -> jobs.Outcome:
        """Process one message and settle it: complete on success; abandon on failure, or on
        the last delivery record ``failed``, publish the notice and dead-letter it."""
        try:
            job = parse_message(message, self.config)
        except jobs.JobError as exc:
            job = jobs.Job(str(message.message_id), "invalid", int(message.delivery_count or 1))
            log("invalid_message", severity="WARNING", job_id=job.job_id, error=str(exc))
        wait_ms = job.queue_wait_ms(self.clock())
        self.put_status(job.job_id, jobs.PROCESSING, job.attempt)
        outcome = jobs.run_job(
            job,
            self.model,
            self.read_input,
            model_name=self.settings.model_name,
            model_version=self.settings.model_version,
            max_deliveries=self.config.max_deliveries,
            max_processing_seconds=self.config.max_processing_seconds,
        )
        if outcome.succeeded:
            self.clients["results"].upload_blob(
                name=jobs.result_name(outcome.job_id),
                data=jobs.result_bytes(outcome),
                overwrite=True,
            )
        self.put_status(outcome.job_id, outcome.status, outcome.attempt)
        if outcome.succeeded or outcome.last_attempt:
            event_type, data = notice(outcome, self.config)
            self.clients["publish"](event_type, outcome.job_id, data)
        if outcome.succeeded:
            receiver.complete_message(message)
        elif outcome.last_attempt:
            receiver.dead_letter_message(
                message, reason="max-deliveries", error_description=(outcome.error or "")[:1024]
            )
        else:
            receiver.abandon_message(message)
        properties = {} if wait_ms is None else {self.config.queue_wait_property: str(wait_ms)}
        self.recorder.operation(
            name=self.config.job_operation,
            success=outcome.succeeded,
            duration_ms=outcome.duration_ms,
            properties=properties,
        )
        log(
            "job",
            job_id=outcome.job_id,
            status=outcome.status,
            attempt=outcome.attempt,
            duration_ms=outcome.duration_ms,
            queue_wait_ms=wait_ms,
            error=outcome.error,
        )
        return outcome


def run_execution(config: WorkerConfig, settings: Settings) -> int:
    """One job execution: receive one message, handle it, exit (0 done or nothing to do, 1
    when the job failed: the execution's history then shows it)."""
    from azure.core.messaging import CloudEvent
    from azure.cosmos import CosmosClient
    from azure.eventgrid import EventGridPublisherClient
    from azure.identity import ManagedIdentityCredential
    from azure.servicebus import AutoLockRenewer, ServiceBusClient
    from azure.storage.blob import ContainerClient

    # The job holds two identities (worker, KEDA's scaler): name the worker's explicitly.
    credential = ManagedIdentityCredential(client_id=config.client_id)
    recorder = telemetry.start(settings)
    publisher = EventGridPublisherClient(config.notification_topic_endpoint, credential)

    def publish(event_type: str, subject: str, data: Mapping[str, Any]) -> None:
        source = f"/{config.service_name}"
        publisher.send([CloudEvent(source=source, type=event_type, subject=subject, data=data)])

    clients = {
        "input": ContainerClient.from_container_url(config.input_container_url, credential),
        "results": ContainerClient.from_container_url(config.results_container_url, credential),
        "status": CosmosClient(config.cosmos_endpoint, credential=credential)
        .get_database_client(config.status_database)
        .get_container_client(config.status_container),
        "publish": publish,
    }
    model = predictor.load(settings.load_seconds)
    worker = AzureWorker(config, settings, model, clients, recorder)
    with (
        ServiceBusClient(config.namespace, credential) as bus,
        bus.get_queue_receiver(config.queue_name) as receiver,
    ):
        messages = receiver.receive_messages(
            max_message_count=1, max_wait_time=RECEIVE_WAIT_SECONDS
        )
        if not messages:
            log("no_message", queue=config.queue_name)
            return 0
        # Service Bus caps a lock at 5 minutes; renew it until the derived visibility timeout.
        with AutoLockRenewer(max_lock_renewal_duration=config.lock_renew_until_seconds) as renew:
            renew.register(receiver, messages[0])
            outcome = worker.handle(messages[0], receiver)
    recorder.flush()
    return 0 if outcome.succeeded else 1


def run_once(path: Path, input_dir: Path, settings: Settings) -> jobs.Outcome:
    """Handle one message body from a file, reading uploads (by blob name) from ``input_dir``:
    the pure half of the worker, runnable with no Azure subscription."""
    body = json.loads(path.read_text())
    if isinstance(body, dict) and body.get("type") == BLOB_CREATED:
        url = str((body.get("data") or {}).get("url", ""))
        name = urllib.parse.unquote(urllib.parse.urlparse(url).path.split("/", 2)[-1])
        job = jobs.Job(f"local-{path.stem}", jobs.UPLOAD, 1, source=name)
    else:
        job = jobs.inline_or_batch(body, job_id=f"local-{path.stem}", attempt=1, enqueued_at=None)
    return jobs.run_job(
        job,
        predictor.load(),
        lambda name: (input_dir / name).read_bytes(),
        model_name=settings.model_name,
        model_version=settings.model_version,
        max_deliveries=5,
        max_processing_seconds=60,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m model.worker [--once FILE [--input-dir DIR]]``."""
    parser = argparse.ArgumentParser(prog="python -m model.worker")
    parser.add_argument("--once", type=Path, help="one message body (JSON file) to process")
    parser.add_argument("--input-dir", type=Path, default=Path.cwd(), help="where uploads are")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.once:
        outcome = run_once(args.once, args.input_dir, settings)
        report = {"status": outcome.status, "result": outcome.result, "error": outcome.error}
        print(json.dumps(report))
        return 0 if outcome.succeeded else 1
    import os

    return run_execution(WorkerConfig.from_env(os.environ), settings)


if __name__ == "__main__":
    sys.exit(main())
