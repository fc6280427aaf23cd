"""The event-driven worker on GCP: Pub/Sub pushes each job to this server on Cloud Run.

    python -m model                                   # in the image: server + push routes
    MODEL_JOB_STORE=local python -m model             # locally: files under $TMPDIR/model-jobs
    python -m model.worker --once envelope.json       # one push envelope from a file, no GCP

- ``POST <predict path>`` with a Pub/Sub push envelope (``{"message": {...}, "subscription"}``)
  runs the job: result object ``<job id>.json`` in RESULTS_BUCKET, status document
  ``<STATUS_COLLECTION>/<job id>`` in STATUS_DATABASE, then 200 (ack). A failure answers 500
  (nack): Pub/Sub redelivers with backoff and, after MAX_DELIVERIES, dead-letters the message.
  A body that is not an envelope is an ordinary prediction request.
- ``POST <DEAD_LETTER_PATH>`` receives a dead-lettered message: status ``failed`` and a
  ``{"outcome": "failed", ...}`` message (attribute ``outcome=failed``) on NOTIFICATION_TOPIC.

Cloud Storage, Firestore and Pub/Sub are called through their REST APIs with the token of the
service's identity from the metadata server: standard library only, nothing to install.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from model import jobs, predictor
from model.jsonlog import log
from model.server import ModelService, Response, Route
from model.settings import Settings

DEFAULT_DEAD_LETTER_PATH = "/dead-letter"
# Cloud Run ends a request at the stack's max processing time; the stack does not pass that
# number to the container, so results are kept up to Pub/Sub's own cap (the ack deadline is 6x).
DEFAULT_MAX_PROCESSING_SECONDS = 100
METADATA = "http://metadata.google.internal/computeMetadata/v1"
# Pub/Sub adds these to a dead-lettered message; the original publish time names batch jobs.
DEAD_LETTER_PUBLISH_TIME = "CloudPubSubDeadLetterSourceTopicPublishTime"


class Store(Protocol):
    """Where a job's input, result, status and failure notice live."""

    def read_input(self, name: str) -> bytes:
        """An input object's bytes."""
        ...

    def write_result(self, name: str, data: bytes) -> None:
        """Write (or overwrite) a result object."""
        ...

    def put_status(self, job_id: str, status: str, attempt: int) -> None:
        """Write the job's status document."""
        ...

    def publish(self, data: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        """Publish one notification."""
        ...


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's wiring, from the variables the stack sets on the Cloud Run service."""

    input_bucket: str
    results_bucket: str
    status_database: str
    status_collection: str
    status_ttl_field: str
    status_ttl_days: int
    notification_topic: str
    max_deliveries: int

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
    "INPUT_BUCKET": ("input_bucket", str),
    "RESULTS_BUCKET": ("results_bucket", str),
    "STATUS_DATABASE": ("status_database", str),
    "STATUS_COLLECTION": ("status_collection", str),
    "STATUS_TTL_FIELD": ("status_ttl_field", str),
    "STATUS_TTL_DAYS": ("status_ttl_days", int),
    "NOTIFICATION_TOPIC": ("notification_topic", str),
    "MAX_DELIVERIES": ("max_deliveries", int),
}


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time as Pub/Sub writes it (``Z``, 0-9 fraction digits), or None."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # keep microseconds: Python parses at most 6 fraction digits
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def is_envelope(body: Any) -> bool:
    """True for a Pub/Sub push request body."""
    return (
        isinstance(body, dict) and isinstance(body.get("message"), dict) and "subscription" in body
    )


def parse_envelope(envelope: Mapping[str, Any]) -> jobs.Job:
    """A push envelope -> the job its message carries.

    The job id must be the same when the message is pushed to the dead-letter path (Pub/Sub
    gives the dead-lettered copy a new message id), so it derives from the message itself: the
    producer's ``job_id``; for an upload (a Cloud Storage OBJECT_FINALIZE notification) a hash
    of bucket, object and generation; for the schedule ``batch-<UTC date of publication>``;
    else the message id.
    """
    message = envelope["message"]
    attributes: Mapping[str, str] = message.get("attributes") or {}
    attempt = int(envelope.get("deliveryAttempt") or 1)
    published = parse_time(attributes.get(DEAD_LETTER_PUBLISH_TIME)) or parse_time(
        message.get("publishTime")
    )
    enqueued_at = published.timestamp() if published else None
    message_id = str(message.get("messageId") or message.get("message_id") or "unknown")
    if attributes.get("eventType") == "OBJECT_FINALIZE":
        bucket, name = attributes.get("bucketId"), attributes.get("objectId")
        if not bucket or not name:
            raise jobs.JobError("the storage notification names no bucket and object")
        identity = f"{bucket}/{name}#{attributes.get('objectGeneration', '')}"
        job_id = "upload-" + hashlib.sha256(identity.encode()).hexdigest()[:24]
        return jobs.Job(job_id, jobs.UPLOAD, attempt, source=name, enqueued_at=enqueued_at)
    try:
        body = json.loads(base64.b64decode(message.get("data") or "", validate=True))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise jobs.JobError("the message data is not base64 JSON") from exc
    default_id = message_id
    if isinstance(body, dict) and body.get("kind") == jobs.BATCH and published is not None:
        default_id = f"batch-{published.strftime('%Y%m%d')}"
    return jobs.inline_or_batch(body, job_id=default_id, attempt=attempt, enqueued_at=enqueued_at)


def firestore_fields(status: str, attempt: int, now: datetime, config: WorkerConfig) -> dict:
    """The status document's fields in Firestore's REST encoding (TTL field included)."""
    expires = jobs.expiry(now, config.status_ttl_days)
    return {
        "status": {"stringValue": status},
        "attempts": {"integerValue": str(attempt)},
        "updatedAt": {"timestampValue": jobs.iso(now)},
        config.status_ttl_field: {"timestampValue": jobs.iso(expires)},
    }


# (method, url, body, headers) -> response body.
Transport = Callable[[str, str, "bytes | None", Mapping[str, str]], bytes]


def metadata_get(path: str) -> bytes:
    """A value from the metadata server (the service's identity, the project id)."""
    request = urllib.request.Request(  # noqa: S310 - the fixed metadata server URL
        f"{METADATA}/{path}", headers={"Metadata-Flavor": "Google"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  # nosec B310
        return bytes(response.read())


class _Token:
    """The service account's access token, refreshed a minute before it expires."""

    def __init__(self) -> None:
        self._value, self._until = "", 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if time.monotonic() >= self._until:
                token = json.loads(metadata_get("instance/service-accounts/default/token"))
                self._value = str(token["access_token"])
                self._until = time.monotonic() + float(token.get("expires_in", 300)) - 60
            return self._value


def urllib_transport(token: Callable[[], str]) -> Transport:
    """HTTPS calls to Google APIs with a bearer token."""

    def send(method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
        if not url.startswith("https://"):
            raise ValueError(f"refusing a non-HTTPS URL: {url}")
        request = urllib.request.Request(  # noqa: S310 - https checked above
            url,
            data=body,
            method=method,
            headers={**headers, "Authorization": f"Bearer {token()}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
            return bytes(response.read())

    return send


class GoogleStore:
    """Cloud Storage, Firestore and Pub/Sub through their REST APIs."""

    STORAGE = "https://storage.googleapis.com"
    FIRESTORE = "https://firestore.googleapis.com/v1"
    PUBSUB = "https://pubsub.googleapis.com/v1"

    def __init__(self, config: WorkerConfig, project: str, send: Transport) -> None:
        self.config, self.project, self.send = config, project, send

    def read_input(self, name: str) -> bytes:
        """GET an input object's media."""
        bucket, obj = (urllib.parse.quote(v, safe="") for v in (self.config.input_bucket, name))
        return self.send("GET", f"{self.STORAGE}/storage/v1/b/{bucket}/o/{obj}?alt=media", None, {})

    def write_result(self, name: str, data: bytes) -> None:
        """Upload (or overwrite) a result object."""
        bucket = urllib.parse.quote(self.config.results_bucket, safe="")
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        self.send(
            "POST",
            f"{self.STORAGE}/upload/storage/v1/b/{bucket}/o?{query}",
            data,
            {"Content-Type": "application/json"},
        )

    def put_status(self, job_id: str, status: str, attempt: int) -> None:
        """Write the whole status document (PATCH without a mask creates or replaces it)."""
        config = self.config
        url = (
            f"{self.FIRESTORE}/projects/{self.project}/databases/{config.status_database}"
            f"/documents/{config.status_collection}/{urllib.parse.quote(job_id, safe='')}"
        )
        fields = firestore_fields(status, attempt, jobs.now_utc(), config)
        body = json.dumps({"fields": fields}).encode()
        self.send("PATCH", url, body, {"Content-Type": "application/json"})

    def publish(self, data: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        """Publish one message to the notification topic (its full id: projects/p/topics/t)."""
        message = {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "attributes": dict(attributes),
        }
        body = json.dumps({"messages": [message]}).encode()
        url = f"{self.PUBSUB}/{self.config.notification_topic}:publish"
        self.send("POST", url, body, {"Content-Type": "application/json"})


class LocalStore:
    """Files under one folder, for local runs and tests: input/, results/, status/, notices."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("input", "results", "status"):
            (root / folder).mkdir(parents=True, exist_ok=True)

    def read_input(self, name: str) -> bytes:
        """A file under input/ (no path outside it)."""
        path = (self.root / "input" / name).resolve()
        if not path.is_relative_to((self.root / "input").resolve()):
            raise jobs.JobError(f"{name} is outside the input folder")
        return path.read_bytes()

    def write_result(self, name: str, data: bytes) -> None:
        """results/<name>."""
        (self.root / "results" / Path(name).name).write_bytes(data)

    def put_status(self, job_id: str, status: str, attempt: int) -> None:
        """status/<job id>.json."""
        document = {"status": status, "attempts": attempt, "updatedAt": jobs.iso(jobs.now_utc())}
        (self.root / "status" / f"{Path(job_id).name}.json").write_text(json.dumps(document))

    def publish(self, data: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        """Append to notifications.jsonl."""
        with (self.root / "notifications.jsonl").open("a") as handle:
            handle.write(json.dumps({"data": dict(data), "attributes": dict(attributes)}) + "\n")


def store_from_env(env: Mapping[str, str]) -> tuple[Store, int]:
    """(store, max deliveries): local files when MODEL_JOB_STORE=local, else Google's APIs."""
    if env.get("MODEL_JOB_STORE") == "local":
        root = Path(env.get("MODEL_JOB_DIR") or Path(tempfile.gettempdir()) / "model-jobs")
        return LocalStore(root), int(env.get("MAX_DELIVERIES") or 5)
    config = WorkerConfig.from_env(env)
    project = metadata_get("project/project-id").decode()
    return GoogleStore(config, project, urllib_transport(_Token())), config.max_deliveries


def push_routes(
    service: ModelService,
    store: Store | None = None,
    max_deliveries: int | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Route]:
    """The worker's POST routes on the model server (the predict path and the dead-letter path).

    The store is opened on the first push, so the server answers its health check even before
    the metadata server is reachable.
    """
    env = os.environ if env is None else env
    settings = service.settings
    opened: dict[str, Any] = {}
    if store is not None:
        opened.update(store=store, max_deliveries=max_deliveries or 5)
    lock = threading.Lock()

    def current() -> tuple[Store, int]:
        with lock:
            if not opened:
                store_, deliveries = store_from_env(env)
                opened.update(store=store_, max_deliveries=deliveries)
            return opened["store"], int(opened["max_deliveries"])

    def envelope_of(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    def on_push(body: bytes, headers: Mapping[str, str]) -> Response:
        envelope = envelope_of(body)
        if not is_envelope(envelope):
            return service.predict(body, headers)
        if not service.ready:
            return Response(503, {"error": "the model is not ready"})  # nack: Pub/Sub retries
        try:
            job = parse_envelope(envelope)
        except jobs.JobError as exc:
            log("invalid_message", severity="WARNING", error=str(exc))
            return Response(400, {"error": str(exc)})  # nack: dead-lettered after the last try
        target, deliveries = current()
        target.put_status(job.job_id, jobs.PROCESSING, job.attempt)
        outcome = jobs.run_job(
            job,
            service.model,
            target.read_input,
            model_name=settings.model_name,
            model_version=settings.model_version,
            max_deliveries=deliveries,
            max_processing_seconds=float(
                env.get("MAX_PROCESSING_SECONDS") or DEFAULT_MAX_PROCESSING_SECONDS
            ),
        )
        if outcome.succeeded:
            target.write_result(jobs.result_name(outcome.job_id), jobs.result_bytes(outcome))
        target.put_status(outcome.job_id, outcome.status, outcome.attempt)
        log(
            "job",
            job_id=outcome.job_id,
            status=outcome.status,
            attempt=outcome.attempt,
            duration_ms=outcome.duration_ms,
            queue_wait_ms=job.queue_wait_ms(time.time()),
            error=outcome.error,
        )
        if outcome.succeeded:
            return Response(200, {"job_id": outcome.job_id, "status": outcome.status})
        return Response(500, {"job_id": outcome.job_id, "error": outcome.error})

    def on_dead_letter(body: bytes, _headers: Mapping[str, str]) -> Response:
        envelope = envelope_of(body)
        if not is_envelope(envelope):
            return Response(400, {"error": "expected a Pub/Sub push envelope"})
        try:
            job = parse_envelope(envelope)
        except jobs.JobError as exc:  # still a failure to report: name it by the message id
            message = envelope["message"]
            job = jobs.Job(str(message.get("messageId") or "unknown"), "invalid", 0)
            log("invalid_message", severity="WARNING", error=str(exc))
        target, deliveries = current()
        target.put_status(job.job_id, jobs.FAILED, deliveries)
        notice = {
            "outcome": jobs.FAILED,
            "job_id": job.job_id,
            "error": f"no success in {deliveries} deliveries",
        }
        target.publish(notice, {"outcome": jobs.FAILED})
        log("job", job_id=job.job_id, status=jobs.FAILED, dead_lettered=True)
        return Response(200, {"job_id": job.job_id, "status": jobs.FAILED})

    dead_letter_path = env.get("DEAD_LETTER_PATH") or DEFAULT_DEAD_LETTER_PATH
    return {settings.predict_path: on_push, dead_letter_path: on_dead_letter}


def main(argv: list[str] | None = None) -> int:
    """``python -m model.worker --once FILE [--input-dir DIR]``: one push envelope, no GCP."""
    parser = argparse.ArgumentParser(prog="python -m model.worker")
    parser.add_argument("--once", type=Path, required=True, help="a push envelope (JSON file)")
    parser.add_argument("--input-dir", type=Path, default=Path.cwd(), help="where uploads are")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    job = parse_envelope(json.loads(args.once.read_text()))
    outcome = jobs.run_job(
        job,
        predictor.load(),
        lambda name: (args.input_dir / name).read_bytes(),
        model_name=settings.model_name,
        model_version=settings.model_version,
        max_deliveries=5,
        max_processing_seconds=DEFAULT_MAX_PROCESSING_SECONDS,
    )
    report = {"status": outcome.status, "result": outcome.result, "error": outcome.error}
    print(json.dumps(report))
    return 0 if outcome.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
