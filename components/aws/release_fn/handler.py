"""The embedded pattern's download endpoint (Lambda behind the authenticated API).

A device that passed the API's authorizer asks for the current release and gets short-lived
presigned GET URLs for its bundle and each file, straight from the release channel (the
function's role reads ``releases/*`` of the channel and nothing else). The device then verifies
the bundle offline with its environment's pinned key before it loads anything; these URLs grant
nothing beyond reading those objects for a few minutes.

Answers (API Gateway proxy integration): 200 with the release, 404 before the first release,
502 when the channel cannot be read (no internals in the body; the log line has them).
Environment: ``CHANNEL_BUCKET``, ``URL_SECONDS`` (default 300, at most 3600).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

POINTER = "releases/LATEST.json"
MAX_URL_SECONDS = 3600

log = logging.getLogger()
log.setLevel(logging.INFO)


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, sort_keys=True),
    }


def latest_release(s3: Any, bucket: str, seconds: int) -> dict[str, Any] | None:
    """The current release with presigned URLs, or None before the first."""
    try:
        pointer = json.loads(s3.get_object(Bucket=bucket, Key=POINTER)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None

    def url(key: str) -> str:
        return str(
            s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
            )
        )

    prefix = pointer["prefix"]
    return {
        "version": pointer["version"],
        "sequence": pointer["sequence"],
        "expires_in": seconds,
        "bundle": url(f"{prefix}bundle.json"),
        "files": {name: url(f"{prefix}model/{name}") for name in pointer["files"]},
    }


def handler(event: dict[str, Any], context: Any, s3: Any = None) -> dict[str, Any]:
    """Lambda entry point: GET the current release."""
    bucket = os.environ["CHANNEL_BUCKET"]
    seconds = min(int(os.environ.get("URL_SECONDS", "300")), MAX_URL_SECONDS)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    caller = ((event.get("requestContext") or {}).get("authorizer") or {}).get("principalId", "")
    try:
        release = latest_release(s3, bucket, seconds)
    except Exception as exc:  # any failure reading the channel: the device retries later
        log.error(json.dumps({"event": "channel-unreadable", "error": str(exc)[:300]}))
        return _answer(502, {"error": "the release channel cannot be read; retry later"})
    if release is None:
        return _answer(404, {"error": "no release has been published yet"})
    log.info(json.dumps({"event": "release-served", "sequence": release["sequence"],
                         "version": release["version"], "caller": caller}))  # fmt: skip
    return _answer(200, release)
