"""The event-driven worker on AWS: SQS long poll -> one job -> S3 result, DynamoDB status.

    python -m model                                   # in the image (AIDEPLOY_ROLE=worker)
    python -m model.worker --once message.json        # one SQS message body, no AWS needed

The loop (docs/model-contract.md, "Worker") needs boto3: model/requirements.txt, which the image
installs; the rest of this module and model/jobs.py are standard library, so the project's own
tests exercise them with stand-in clients. The ECS task role allows exactly the calls below.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from model import jobs, predictor
from model.jsonlog import emit, log
from model.settings import Settings

# The stack starts the image as a worker by setting this variable (components/aws/event_driven.py).
ROLE_VARIABLE = "AIDEPLOY_ROLE"
# SQS system attributes the worker needs: the attempt number and when the message was sent.
MESSAGE_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp")


def is_worker(env: Mapping[str, str]) -> bool:
    """True when the stack started this container as the queue worker."""
    return env.get(ROLE_VARIABLE) == "worker"


@dataclass(frozen=True)
class WorkerConfig:
    """The worker's wiring, from the variables the stack sets on the task definition."""

    queue_url: str
    input_bucket: str
    results_bucket: str
    status_table: str
    notification_topic_arn: str
    max_deliveries: int
    max_processing_seconds: int
    visibility_timeout_seconds: int
    receive_wait_seconds: int
    status_key: str
    status_ttl_attribute: str
    status_ttl_days: int
    metric_namespace: str
    metric_deployment: str

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
    "QUEUE_URL": ("queue_url", str),
    "INPUT_BUCKET": ("input_bucket", str),
    "RESULTS_BUCKET": ("results_bucket", str),
    "STATUS_TABLE": ("status_table", str),
    "NOTIFICATION_TOPIC_ARN": ("notification_topic_arn", str),
    "MAX_DELIVERIES": ("max_deliveries", int),
    "MAX_PROCESSING_SECONDS": ("max_processing_seconds", int),
    "VISIBILITY_TIMEOUT_SECONDS": ("visibility_timeout_seconds", int),
    "RECEIVE_WAIT_SECONDS": ("receive_wait_seconds", int),
    "STATUS_KEY": ("status_key", str),
    "STATUS_TTL_ATTRIBUTE": ("status_ttl_attribute", str),
    "STATUS_TTL_DAYS": ("status_ttl_days", int),
    "METRIC_NAMESPACE": ("metric_namespace", str),
    "METRIC_DEPLOYMENT": ("metric_deployment", str),
}


def parse_message(message: Mapping[str, Any]) -> jobs.Job:
    """An SQS message (as ReceiveMessage returns it) -> the job it carries.

    The body is an EventBridge S3 ``Object Created`` event (an upload), the schedule's
    ``{"kind": "batch", "trigger": "schedule"}`` or a producer's ``{"job_id"?, "input"}``.
    The job id is the producer's ``job_id`` or the SQS message id (stable across redeliveries).
    """
    attributes = message.get("Attributes") or {}
    attempt = int(attributes.get("ApproximateReceiveCount", "1"))
    sent_ms = attributes.get("SentTimestamp")
    enqueued_at = int(sent_ms) / 1000 if sent_ms else None
    job_id = str(message["MessageId"])
    try:
        body = json.loads(message["Body"])
    except json.JSONDecodeError as exc:
        raise jobs.JobError("the message body is not JSON") from exc
    if isinstance(body, dict) and body.get("source") == "aws.s3":
        if body.get("detail-type") != "Object Created":
            raise jobs.JobError(f"unexpected S3 event {body.get('detail-type')!r}")
        detail = body.get("detail") or {}
        key = (detail.get("object") or {}).get("key")
        bucket = (detail.get("bucket") or {}).get("name")
        if not key or not bucket:
            raise jobs.JobError("the S3 event names no bucket and key")
        return jobs.Job(
            job_id,
            jobs.UPLOAD,
            attempt,
            source=key,
            enqueued_at=enqueued_at,
            extra={"bucket": bucket},
        )
    return jobs.inline_or_batch(body, job_id=job_id, attempt=attempt, enqueued_at=enqueued_at)


def status_item(
    config: WorkerConfig, job_id: str, status: str, attempt: int, now: datetime
) -> dict[str, dict[str, str]]:
    """The DynamoDB item (typed attribute values) of a job's status."""
    expires = jobs.expiry(now, config.status_ttl_days)
    return {
        config.status_key: {"S": job_id},
        "status": {"S": status},
        "attempts": {"N": str(attempt)},
        "updated_at": {"S": jobs.iso(now)},
        config.status_ttl_attribute: {"N": str(int(expires.timestamp()))},
    }


def emf_record(config: WorkerConfig, outcome: jobs.Outcome, now_ms: int) -> dict[str, Any]:
    """A CloudWatch embedded-metric-format record: JobsSucceeded or JobsFailed and
    ProcessingTime in METRIC_NAMESPACE, dimension Deployment (what the alarms read)."""
    counter = "JobsSucceeded" if outcome.succeeded else "JobsFailed"
    return {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": config.metric_namespace,
                    "Dimensions": [["Deployment"]],
                    "Metrics": [
                        {"Name": counter, "Unit": "Count"},
                        {"Name": "ProcessingTime", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "Deployment": config.metric_deployment,
        counter: 1,
        "ProcessingTime": outcome.duration_ms,
        "job_id": outcome.job_id,
        "status": outcome.status,
        "attempt": outcome.attempt,
    }


class TaskProtection:
    """ECS task scale-in protection through the agent's endpoint (ECS_AGENT_URI).

    Scale-in must not stop a worker in the middle of a job; the protection expires on its own
    after the visibility timeout, so a worker that dies cannot pin its task forever.
    """

    def __init__(self, agent_uri: str | None, minutes: int) -> None:
        self.agent_uri = agent_uri
        self.minutes = minutes

    def body(self, enabled: bool) -> dict[str, Any]:
        """The request body the agent takes."""
        if enabled:
            return {"ProtectionEnabled": True, "ExpiresInMinutes": self.minutes}
        return {"ProtectionEnabled": False}

    def set(self, enabled: bool) -> None:
        """Turn protection on or off; outside ECS (no agent) there is nothing to do."""
        if not self.agent_uri:
            return
        request = urllib.request.Request(  # noqa: S310 - the ECS agent's own http:// endpoint
            f"{self.agent_uri}/task-protection/v1/state",
            data=json.dumps(self.body(enabled)).encode(),
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        try:
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310  # nosec B310
                pass
        except OSError as exc:  # a job without protection may be stopped early: retried later
            log("task_protection_failed", severity="WARNING", enabled=enabled, error=str(exc))


class AwsWorker:
    """Receives one message at a time and handles it (docs/model-contract.md, "Worker")."""

    def __init__(
        self,
        config: WorkerConfig,
        settings: Settings,
        model: predictor.Predictor,
        clients: Mapping[str, Any],
        protection: TaskProtection,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.settings, self.model = config, settings, model
        self.sqs, self.s3 = clients["sqs"], clients["s3"]
        self.dynamodb, self.sns = clients["dynamodb"], clients["sns"]
        self.protection = protection
        self.clock = clock

    def receive(self) -> list[dict[str, Any]]:
        """Long-poll the queue for at most one message."""
        response = self.sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=self.config.receive_wait_seconds,
            MessageSystemAttributeNames=list(MESSAGE_ATTRIBUTES),
        )
        return list(response.get("Messages", []))

    def read_input(self, key: str) -> bytes:
        """An input object's bytes (the input bucket only: the task role reads nothing else)."""
        response = self.s3.get_object(Bucket=self.config.input_bucket, Key=key)
        return bytes(response["Body"].read())

    def put_status(self, job_id: str, status: str, attempt: int) -> None:
        """Write the job's status item (kept STATUS_TTL_DAYS)."""
        now = jobs.now_utc()
        self.dynamodb.put_item(
            TableName=self.config.status_table,
            Item=status_item(self.config, job_id, status, attempt, now),
        )

    def handle(self, message: Mapping[str, Any]) -> jobs.Outcome:
        """Process one message: result and status on success (then delete the message); on
        failure leave it for SQS to redeliver, and on the last attempt record and announce it."""
        try:
            job = parse_message(message)
        except jobs.JobError as exc:
            attempts = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            job = jobs.Job(str(message["MessageId"]), "invalid", attempts)
            log("invalid_message", severity="WARNING", job_id=job.job_id, error=str(exc))
        self.protection.set(True)
        try:
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
                self.s3.put_object(
                    Bucket=self.config.results_bucket,
                    Key=jobs.result_name(outcome.job_id),
                    Body=jobs.result_bytes(outcome),
                    ContentType="application/json",
                )
            self.put_status(outcome.job_id, outcome.status, outcome.attempt)
            if outcome.succeeded:
                self.sqs.delete_message(
                    QueueUrl=self.config.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            elif outcome.last_attempt:
                self.sns.publish(
                    TopicArn=self.config.notification_topic_arn,
                    Message=json.dumps(jobs.failure_notice(outcome)),
                )
        finally:
            self.protection.set(False)
        emit(emf_record(self.config, outcome, int(self.clock() * 1000)))
        log(
            "job",
            job_id=outcome.job_id,
            status=outcome.status,
            attempt=outcome.attempt,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
        )
        return outcome

    def run(self, stop: threading.Event) -> int:
        """Receive and handle until ``stop`` is set (SIGTERM); a job in hand is finished."""
        log("worker_started", queue=self.config.queue_url, version=self.settings.model_version)
        while not stop.is_set():
            try:
                for message in self.receive():
                    self.handle(message)
            except Exception as exc:  # an AWS call failed: the message returns after its timeout
                log("worker_error", severity="ERROR", error=repr(exc))
                stop.wait(1.0)
        log("worker_stopped")
        return 0


def aws_clients() -> dict[str, Any]:
    """boto3 clients for the task role (region and credentials from the ECS environment)."""
    import boto3  # only in the image: model/requirements.txt

    return {name: boto3.client(name) for name in ("sqs", "s3", "dynamodb", "sns")}


def run_once(path: Path, input_dir: Path, settings: Settings) -> jobs.Outcome:
    """Handle one SQS message body from a file, reading uploads from ``input_dir``: the pure
    half of the worker, runnable with no AWS account."""
    message = {
        "MessageId": f"local-{path.stem}",
        "Body": path.read_text(),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    job = parse_message(message)
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
    parser.add_argument("--once", type=Path, help="one SQS message body (JSON file) to process")
    parser.add_argument("--input-dir", type=Path, default=Path.cwd(), help="where uploads are")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.once:
        outcome = run_once(args.once, args.input_dir, settings)
        report = {"status": outcome.status, "result": outcome.result, "error": outcome.error}
        print(json.dumps(report))
        return 0 if outcome.succeeded else 1
    import os

    config = WorkerConfig.from_env(os.environ)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        # ECS sends SIGTERM and waits stopTimeout (120 s): finish the job in hand, take no other.
        log("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    model = predictor.load(settings.load_seconds)
    minutes = math.ceil(config.visibility_timeout_seconds / 60)
    protection = TaskProtection(os.environ.get("ECS_AGENT_URI"), minutes)
    return AwsWorker(config, settings, model, aws_clients(), protection).run(stop)


if __name__ == "__main__":
    sys.exit(main())
