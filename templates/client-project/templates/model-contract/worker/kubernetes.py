"""The event-driven worker on the client's cluster: RabbitMQ (AMQPS) -> one job -> the client's
S3-compatible object store (result and status objects) -> a notice on the exchange.

    python -m model                                   # in the image (the stack sets QUEUE_URL)
    python -m model.worker --once message.json        # one message body from a file, no broker

On start the worker declares what it uses (idempotent AMQP declarations, the arguments of
components/kubernetes/event_driven.py): the dead-letter queue DEAD_LETTER_QUEUE and the job
queue QUEUE_NAME, both quorum queues, the job queue with ``x-delivery-limit`` MAX_DELIVERIES
and dead-lettered (default exchange) to DEAD_LETTER_QUEUE, and the durable topic exchange
NOTIFICATION_EXCHANGE. Its broker user needs the configure right on those three names.

One message at a time (prefetch 1; KEDA adds a worker per ready message):

- the attempt is the quorum queue's ``x-delivery-count`` header plus one. A failed attempt is
  ``basic.reject`` with requeue, which counts as a failed delivery on every RabbitMQ version
  (from 4.3 ``basic.nack`` does not, so it is kept for returns that are not the job's fault:
  the worker stopping); the last one (attempt >= MAX_DELIVERIES) records ``failed``, publishes
  the notice and rejects without requeue, so the broker dead-letters it. The queue's delivery
  limit is the backstop for a worker that dies mid-job;
- the job id is the producer's ``job_id``, else the AMQP ``message_id``, else a hash of the
  body (a redelivery has the same body); an upload notification (S3 event records, as MinIO
  and Ceph RGW send to AMQP) gets a hash of its bucket, key and ETag. Results and status are
  objects named by the job id (``<job id>.json``, ``STATUS_PREFIX<job id>.json`` in
  RESULTS_BUCKET), so a job runs to the same objects however often it is delivered, and a job
  whose status already says ``succeeded`` is acknowledged without running again;
- a success writes the result, then the status, publishes ``job.completed`` and acks.

The job itself runs on a thread while the connection's thread keeps the broker's heartbeats
going (a job may take MAX_PROCESSING_SECONDS, more than a heartbeat timeout). The model server
answers the pod's probes on MODEL_PORT meanwhile, and model/telemetry.py serves the job
metrics the alarms read on METRICS_PORT. pika and boto3 (model/requirements.txt) are imported
only where the real broker and store are opened, so the project's tests run the rest with
stand-ins.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from model import jobs, predictor, telemetry
from model.jsonlog import log
from model.server import ModelService, make_server
from model.settings import Settings

# The stack starts the image as the worker by giving it a queue (components/kubernetes/
# event_driven.py); the serving pods of api-first get neither variable.
ROLE_VARIABLES = ("QUEUE_URL", "QUEUE_NAME")
# The object store's credentials, from the store's Secret under the names every S3 SDK reads.
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# The client's CA bundle, set (to the mounted file) only when the stack has one: OpenSSL's file
# for the broker's TLS, the AWS SDK's for the object store's.
AMQP_CA_VARIABLE = "SSL_CERT_FILE"
STORE_CA_VARIABLE = "AWS_CA_BUNDLE"
# The quorum queue's count of failed deliveries (absent on the first one).
DELIVERY_COUNT_HEADER = "x-delivery-count"
# Notices on NOTIFICATION_EXCHANGE (a topic exchange): routing key job.completed / job.failed.
NOTICE_ROUTING_PREFIX = "job."
EXCHANGE_TYPE = "topic"
# How often the consumer looks up from an empty queue (to see SIGTERM), and waits after a
# broker or store error before it connects again.
IDLE_SECONDS = 1.0
RECONNECT_SECONDS = 5.0
# The region the S3 signature names when the store does not care (MinIO's and RGW's default).
DEFAULT_REGION = "us-east-1"
PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker

T = TypeVar("T")


def is_worker(env: Mapping[str, str]) -> bool:
    """True when the stack started this container as the queue worker."""
    return all(env.get(name) for name in ROLE_VARIABLES)


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's wiring, from the variables the stack sets on the worker Deployment."""

    queue_url: str = field(repr=False)  # holds the broker password
    queue_name: str
    dead_letter_queue: str
    notification_exchange: str
    max_deliveries: int
    max_processing_seconds: int
    object_store_endpoint: str
    input_bucket: str
    results_bucket: str
    status_prefix: str
    status_ttl_days: int
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    amqp_ca_file: str | None = None
    store_ca_bundle: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerConfig:
        """Read every variable; a missing one is an error naming all that are missing."""
        required = (*WORKER_VARIABLES, *CREDENTIAL_VARIABLES)
        missing = sorted(name for name in required if not env.get(name))
        if missing:
            raise KeyError(f"the worker needs {', '.join(missing)}")
        values: dict[str, Any] = {
            field_name: kind(env[name]) for name, (field_name, kind) in WORKER_VARIABLES.items()
        }
        return cls(
            **values,
            access_key_id=env[CREDENTIAL_VARIABLES[0]],
            secret_access_key=env[CREDENTIAL_VARIABLES[1]],
            amqp_ca_file=env.get(AMQP_CA_VARIABLE) or None,
            store_ca_bundle=env.get(STORE_CA_VARIABLE) or None,
        )

    def status_key(self, job_id: str) -> str:
        """The status object of a job in the results bucket."""
        return f"{self.status_prefix}{job_id}.json"


# Variable -> (WorkerConfig field, type): one table, so a renamed variable fails in one place.
WORKER_VARIABLES: Mapping[str, tuple[str, type]] = {
    "QUEUE_URL": ("queue_url", str),
    "QUEUE_NAME": ("queue_name", str),
    "DEAD_LETTER_QUEUE": ("dead_letter_queue", str),
    "NOTIFICATION_EXCHANGE": ("notification_exchange", str),
    "MAX_DELIVERIES": ("max_deliveries", int),
    "MAX_PROCESSING_SECONDS": ("max_processing_seconds", int),
    "OBJECT_STORE_ENDPOINT": ("object_store_endpoint", str),
    "INPUT_BUCKET": ("input_bucket", str),
    "RESULTS_BUCKET": ("results_bucket", str),
    "STATUS_PREFIX": ("status_prefix", str),
    "STATUS_TTL_DAYS": ("status_ttl_days", int),
}


def queue_arguments(config: WorkerConfig) -> dict[str, dict[str, Any]]:
    """Queue name -> its declaration arguments: the dead-letter queue first (it must exist
    before the job queue routes to it), then the job queue."""
    return {
        config.dead_letter_queue: {"x-queue-type": "quorum"},
        config.queue_name: {
            "x-queue-type": "quorum",
            "x-delivery-limit": config.max_deliveries,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": config.dead_letter_queue,
        },
    }


def delivery_attempt(properties: Any) -> int:
    """The attempt a delivery is: the quorum queue's failed deliveries so far, plus one."""
    headers = getattr(properties, "headers", None) or {}
    try:
        return int(headers.get(DELIVERY_COUNT_HEADER) or 0) + 1
    except (TypeError, ValueError):
        return 1


def content_id(body: bytes) -> str:
    """A job id for a message with neither ``job_id`` nor ``message_id``: its body's hash."""
    return "m-" + hashlib.sha256(body).hexdigest()[:24]


def _upload(record: Mapping[str, Any], input_bucket: str) -> tuple[str, str]:
    """(job id, object key) of one S3 event record naming an object created in the input."""
    event = str(record.get("eventName", ""))
    if "ObjectCreated" not in event:
        raise jobs.JobError(f"unexpected storage event {event!r}")
    s3 = record.get("s3") or {}
    bucket = str((s3.get("bucket") or {}).get("name") or "")
    obj = s3.get("object") or {}
    # Keys in S3 event records are URL-encoded (a space is "+").
    key = urllib.parse.unquote_plus(str(obj.get("key") or ""))
    if not bucket or not key:
        raise jobs.JobError("the storage event names no bucket and key")
    if bucket != input_bucket:
        raise jobs.JobError(f"{bucket} is not the input bucket")
    version = obj.get("eTag") or obj.get("versionId") or obj.get("sequencer") or ""
    identity = f"{bucket}/{key}#{version}"
    return "upload-" + hashlib.sha256(identity.encode()).hexdigest()[:24], key


def parse_delivery(properties: Any, body: bytes, input_bucket: str) -> jobs.Job:
    """An AMQP delivery (its properties and body) -> the job it carries.

    The body is an S3 event (``{"Records": [one ObjectCreated record]}``: an upload to the input
    bucket), the schedule's ``{"kind": "batch", "trigger": "schedule"}`` or a producer's
    ``{"job_id"?, "input"}``.
    """
    attempt = delivery_attempt(properties)
    timestamp = getattr(properties, "timestamp", None)
    enqueued_at = float(timestamp) if timestamp else None
    job_id = str(getattr(properties, "message_id", None) or content_id(body))
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise jobs.JobError("the message body is not JSON") from exc
    if isinstance(document, dict) and "Records" in document:
        records = document["Records"]
        if not isinstance(records, list) or len(records) != 1:
            raise jobs.JobError("a storage event must carry exactly one record")
        upload_id, key = _upload(records[0], input_bucket)
        return jobs.Job(upload_id, jobs.UPLOAD, attempt, source=key, enqueued_at=enqueued_at)
    return jobs.inline_or_batch(document, job_id=job_id, attempt=attempt, enqueued_at=enqueued_at)


def status_document(config: WorkerConfig, job_id: str, status: str, attempt: int) -> dict[str, Any]:
    """A job's status object; ``expires_at``: when the store's lifecycle may drop it."""
    now = jobs.now_utc()
    return {
        "job_id": job_id,
        "status": status,
        "attempts": attempt,
        "updated_at": jobs.iso(now),
        "expires_at": jobs.iso(jobs.expiry(now, config.status_ttl_days)),
    }


def notice(config: WorkerConfig, outcome: jobs.Outcome) -> tuple[str, dict[str, Any]]:
    """(routing key, body) announcing a job's end: completed with its result, or failed."""
    if outcome.succeeded:
        result = f"s3://{config.results_bucket}/{jobs.result_name(outcome.job_id)}"
        data = {"outcome": "completed", "job_id": outcome.job_id, "result": result}
        return NOTICE_ROUTING_PREFIX + "completed", data
    return NOTICE_ROUTING_PREFIX + jobs.FAILED, jobs.failure_notice(outcome)


def _missing(exc: Exception) -> bool:
    """True for the S3 error of an object that does not exist."""
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code")) in ("NoSuchKey", "404", "NotFound")


class ObjectStore:
    """The client's S3-compatible store through an S3 client (boto3's, or a stand-in)."""

    def __init__(self, config: WorkerConfig, s3: Any) -> None:
        self.config, self.s3 = config, s3

    def read_input(self, key: str) -> bytes:
        """An input object's bytes (the input bucket only)."""
        response = self.s3.get_object(Bucket=self.config.input_bucket, Key=key)
        return bytes(response["Body"].read())

    def status(self, job_id: str) -> str | None:
        """The status a job's status object records, None when there is none."""
        try:
            response = self.s3.get_object(
                Bucket=self.config.results_bucket, Key=self.config.status_key(job_id)
            )
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        try:
            return str(json.loads(response["Body"].read())["status"])
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: processed again, which rewrites it

    def put_status(self, job_id: str, status: str, attempt: int) -> None:
        """Write (or replace) the job's status object."""
        document = status_document(self.config, job_id, status, attempt)
        self._put(self.config.status_key(job_id), json.dumps(document).encode())

    def write_result(self, outcome: jobs.Outcome) -> None:
        """Write (or replace) the job's result object."""
        self._put(jobs.result_name(outcome.job_id), jobs.result_bytes(outcome))

    def _put(self, key: str, data: bytes) -> None:
        self.s3.put_object(
            Bucket=self.config.results_bucket, Key=key, Body=data, ContentType="application/json"
        )


def amqp_properties(**fields: Any) -> Any:
    """pika's BasicProperties (the stand-in channels of the tests take any object)."""
    import pika  # only in the image: model/requirements.txt

    return pika.BasicProperties(**fields)


class KubernetesWorker:
    """Consumes the job queue one message at a time (docs/model-contract.md, "Worker").

    ``channel`` is pika's BlockingChannel (or a stand-in with its methods); ``store`` an
    :class:`ObjectStore`; ``recorder`` model/telemetry.py's, which counts every attempt.
    """

    def __init__(
        self,
        config: WorkerConfig,
        settings: Settings,
        model: predictor.Predictor,
        store: ObjectStore,
        recorder: telemetry.Recorder = telemetry.NO_TELEMETRY,
        properties: Callable[..., Any] = amqp_properties,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.settings, self.model = config, settings, model
        self.store, self.recorder = store, recorder
        self.properties, self.clock = properties, clock

    # -- the broker's side: declarations, settling, notices ---------------------------------
    def declare(self, channel: Any) -> None:
        """Declare the queues and the exchange (idempotent), confirm publishes, prefetch 1."""
        for queue, arguments in queue_arguments(self.config).items():
            channel.queue_declare(queue=queue, durable=True, arguments=arguments)
        channel.exchange_declare(
            exchange=self.config.notification_exchange, exchange_type=EXCHANGE_TYPE, durable=True
        )
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=1)

    def publish(self, channel: Any, outcome: jobs.Outcome) -> None:
        """Publish the job's notice (persistent; confirmed by the broker before we go on)."""
        routing_key, data = notice(self.config, outcome)
        channel.basic_publish(
            exchange=self.config.notification_exchange,
            routing_key=routing_key,
            body=json.dumps(data).encode(),
            properties=self.properties(
                content_type="application/json",
                delivery_mode=PERSISTENT,
                message_id=f"{outcome.job_id}.{routing_key}",
                type=f"aideploy.{routing_key}",
            ),
        )

    # -- one delivery ----------------------------------------------------------------------
    def process(self, job: jobs.Job) -> jobs.Outcome | None:
        """The store's side of one attempt: None when the job already succeeded (a duplicate),
        else the outcome, its result and status written."""
        if self.store.status(job.job_id) == jobs.SUCCEEDED:
            return None
        self.store.put_status(job.job_id, jobs.PROCESSING, job.attempt)
        outcome = jobs.run_job(
            job,
            self.model,
            self.store.read_input,
            model_name=self.settings.model_name,
            model_version=self.settings.model_version,
            max_deliveries=self.config.max_deliveries,
            max_processing_seconds=self.config.max_processing_seconds,
        )
        if outcome.succeeded:
            self.store.write_result(outcome)
        self.store.put_status(outcome.job_id, outcome.status, outcome.attempt)
        return outcome

    def handle(
        self,
        channel: Any,
        method: Any,
        properties: Any,
        body: bytes,
        pump: Callable[[], None] | None = None,
    ) -> jobs.Outcome | None:
        """Process one delivery and settle it: ack on success (or a duplicate); reject with
        requeue on a failed attempt; on the last, publish the failure and reject without
        requeue (dead-lettered). ``pump`` keeps the connection alive while the job runs."""
        tag = method.delivery_tag
        try:
            job = parse_delivery(properties, body, self.config.input_bucket)
        except jobs.JobError as exc:
            job_id = str(getattr(properties, "message_id", None) or content_id(body))
            job = jobs.Job(job_id, "invalid", delivery_attempt(properties))
            log("invalid_message", severity="WARNING", job_id=job_id, error=str(exc))
        wait_ms = job.queue_wait_ms(self.clock())
        started = time.monotonic()
        try:
            outcome = run_pumped(lambda: self.process(job), pump)
        except Exception as exc:  # the store failed: a failed attempt, a later one may succeed
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            self.recorder.operation(name="job", success=False, duration_ms=duration_ms)
            log("job_error", severity="ERROR", job_id=job.job_id, error=repr(exc))
            channel.basic_reject(delivery_tag=tag, requeue=True)
            return None
        if outcome is None:
            log("duplicate", job_id=job.job_id, attempt=job.attempt)
            channel.basic_ack(delivery_tag=tag)
            return None
        if outcome.succeeded or outcome.last_attempt:
            self.publish(channel, outcome)
        if outcome.succeeded:
            channel.basic_ack(delivery_tag=tag)
        else:
            channel.basic_reject(delivery_tag=tag, requeue=not outcome.last_attempt)
        self.recorder.operation(
            name="job", success=outcome.succeeded, duration_ms=outcome.duration_ms
        )
        log(
            "job",
            job_id=outcome.job_id,
            status=outcome.status,
            attempt=outcome.attempt,
            duration_ms=outcome.duration_ms,
            queue_wait_ms=wait_ms,
            dead_lettered=outcome.last_attempt and not outcome.succeeded,
            error=outcome.error,
        )
        return outcome

    # -- the loop ----------------------------------------------------------------------------
    def consume(self, connection: Any, stop: threading.Event) -> None:
        """Declare, then handle deliveries until ``stop`` is set (the job in hand finishes)."""

        def pump() -> None:
            connection.process_data_events(time_limit=IDLE_SECONDS)

        try:
            channel = connection.channel()
            self.declare(channel)
            for method, properties, body in channel.consume(
                self.config.queue_name, inactivity_timeout=IDLE_SECONDS
            ):
                if method is not None:
                    if stop.is_set():  # delivered as we stop: back, not counted as a failure
                        channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
                        break
                    self.handle(channel, method, properties, body or b"", pump)
                if stop.is_set():
                    break
            channel.cancel()
        finally:
            try:
                connection.close()
            except Exception as exc:  # already closed by the broker or the network
                log("close_failed", severity="WARNING", error=repr(exc))

    def run(self, stop: threading.Event, connect: Callable[[], Any]) -> int:
        """Connect, consume, and connect again after an error, until ``stop`` is set."""
        log("worker_started", queue=self.config.queue_name, version=self.settings.model_version)
        while not stop.is_set():
            try:
                self.consume(connect(), stop)
            except Exception as exc:  # the broker went away or the store failed: try again
                log("worker_error", severity="ERROR", error=repr(exc))
                stop.wait(RECONNECT_SECONDS)
        log("worker_stopped")
        return 0


def run_pumped(work: Callable[[], T], pump: Callable[[], None] | None) -> T:
    """``work()`` on a thread while ``pump()`` runs on this one (the broker connection is not
    thread-safe, so only this thread uses it); without ``pump``, ``work()`` here."""
    if pump is None:
        return work()
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="job", daemon=True)
    thread.start()
    while thread.is_alive():
        pump()
        thread.join(0)
    if errors:
        raise errors[0]
    return result[0]


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """TLS 1.2+ verifying the broker against ``ca_file`` (the client's CA) or the system's."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connection_parameters(config: WorkerConfig) -> Any:
    """pika's parameters for QUEUE_URL; an amqps:// URL verified with :func:`tls_context`."""
    import pika  # only in the image: model/requirements.txt

    parameters = pika.URLParameters(config.queue_url)
    if parameters.ssl_options is not None:
        parameters.ssl_options = pika.SSLOptions(
            tls_context(config.amqp_ca_file), server_hostname=parameters.host
        )
    return parameters


def amqp_connection(config: WorkerConfig) -> Any:
    """A blocking connection to the broker."""
    import pika  # only in the image: model/requirements.txt

    return pika.BlockingConnection(connection_parameters(config))


def s3_options(config: WorkerConfig) -> dict[str, Any]:
    """boto3.client("s3", **options) for the client's store: its endpoint, path-style
    addressing (no bucket host names to resolve), checksums only where an operation needs
    them (not every S3-compatible store takes the SDK's default CRC headers), the CA file."""
    from botocore.config import Config  # only in the image: model/requirements.txt

    return {
        "endpoint_url": config.object_store_endpoint,
        "aws_access_key_id": config.access_key_id,
        "aws_secret_access_key": config.secret_access_key,
        "region_name": DEFAULT_REGION,
        "verify": config.store_ca_bundle or True,
        "config": Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    }


def s3_client(config: WorkerConfig) -> Any:
    """boto3's S3 client for the client's store."""
    import boto3  # only in the image: model/requirements.txt

    return boto3.client("s3", **s3_options(config))


def run_worker(config: WorkerConfig, settings: Settings) -> int:
    """The worker pod: probes and metrics served, the model loaded, then the queue consumed
    until SIGTERM (the job in hand is finished first)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    recorder = telemetry.start(settings, jobs=True)
    service = ModelService(settings)
    probes = make_server(service, recorder=recorder)
    threading.Thread(target=probes.serve_forever, name="probes", daemon=True).start()
    service.start_loading()
    try:
        while not service.wait_ready(IDLE_SECONDS):
            if stop.is_set():
                return 0
            if service.health().body.get("status") == "failed":
                return 1  # logged by the service; the pod restarts
        store = ObjectStore(config, s3_client(config))
        worker = KubernetesWorker(config, settings, service.model, store, recorder)
        return worker.run(stop, lambda: amqp_connection(config))
    finally:
        service.drain()
        probes.shutdown()
        probes.server_close()
        recorder.flush()


def run_once(path: Path, input_dir: Path, settings: Settings) -> jobs.Outcome:
    """Handle one message body from a file, reading uploads (by key) from ``input_dir``: the
    pure half of the worker, runnable with no broker and no store."""
    body = path.read_bytes()
    properties = SimpleNamespace(message_id=f"local-{path.stem}", headers={}, timestamp=None)
    # Whatever bucket the event names stands for the input bucket here.
    records = json.loads(body).get("Records") if body.lstrip().startswith(b"{") else None
    bucket = ""
    if isinstance(records, list) and records and isinstance(records[0], dict):
        bucket = str(((records[0].get("s3") or {}).get("bucket") or {}).get("name") or "")
    job = parse_delivery(properties, body, bucket)
    return jobs.run_job(
        job,
        predictor.load(),
        lambda key: (input_dir / key).read_bytes(),
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
    return run_worker(WorkerConfig.from_env(os.environ), settings)


if __name__ == "__main__":
    sys.exit(main())
