"""Release channels: where a signed model release is published, per environment.

A channel holds every release under ``releases/<version>-<sequence>/`` (the model's files under
``model/``, the signed bundle as ``bundle.json``) and a pointer, ``releases/LATEST.json``, that
names the current one. The store keeps every version of every object (S3 Object Lock, Blob
version-level immutability, GCS retention), so publishing never destroys an earlier release and
the pointer's history is the channel's history.

The pointer is a convenience, not a trust anchor: a device reads it to find the newest release,
then verifies the bundle with its pinned key and refuses anything older than what it accepted
(components/release_manifest.py). Publishing refuses a sequence that is not newer than the
pointer's, so the channel never points backwards.

Backends per store, as lookup data for the CLI (``--channel s3://<bucket>``): S3 here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import release_manifest as rm

POINTER = "releases/LATEST.json"


class ChannelError(RuntimeError):
    """The channel's store refused or could not be reached; ``str()`` is one line."""


@dataclass(frozen=True)
class Pointer:
    """What ``releases/LATEST.json`` says."""

    version: str
    sequence: int
    prefix: str  # releases/<version>-<sequence>/
    files: tuple[str, ...]

    @property
    def bundle_key(self) -> str:
        return f"{self.prefix}bundle.json"

    def file_key(self, name: str) -> str:
        return f"{self.prefix}model/{name}"

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sequence": self.sequence,
            "prefix": self.prefix,
            "files": list(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pointer:
        return cls(
            str(data["version"]),
            int(data["sequence"]),
            str(data["prefix"]),
            tuple(str(f) for f in data["files"]),
        )


def bundle_terms(bundle: Mapping[str, Any]) -> tuple[str, int, tuple[str, ...]]:
    """(version, sequence, file names) a bundle's payload states (not verified: the publisher
    reads its own bundle; devices verify)."""
    try:
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        predicate = payload["predicate"]
        terms = predicate[rm.TERMS_KEY]
        names = tuple(str(r["name"]) for r in predicate["resources"])
        return str(terms["version"]), int(terms["sequence"]), names
    except (KeyError, TypeError, ValueError) as exc:
        raise rm.RefusedError(f"format: the bundle states no release terms ({exc})") from exc


class S3Channel:
    """A release channel in an S3 bucket (the AWS embedded pattern's Object Lock bucket).

    Object Lock buckets take a PutObject only with an integrity checksum: every upload sends
    its SHA-256."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._bucket = bucket
        self._s3 = client

    def _call(self, what: str, method: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._s3, method)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if method == "get_object" and error.get("Code") in ("NoSuchKey", "404"):
                return None
            raise ChannelError(
                f"S3 {what} in {self._bucket}: {error.get('Code')} {error.get('Message')}"
            ) from exc
        except BotoCoreError as exc:
            raise ChannelError(f"S3 {what} in {self._bucket}: {exc}") from exc

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self._call(
            f"put {key}",
            "put_object",
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
        )

    def latest(self) -> Pointer | None:
        """The channel's current release, or None before the first."""
        answer = self._call(f"get {POINTER}", "get_object", Bucket=self._bucket, Key=POINTER)
        if answer is None:
            return None
        return Pointer.from_json(json.loads(answer["Body"].read()))

    def publish(self, model_dir: Path, bundle: Mapping[str, Any]) -> Pointer:
        """Upload the model's files and its bundle, then move the pointer to them."""
        version, sequence, names = bundle_terms(bundle)
        current = self.latest()
        if current is not None and sequence <= current.sequence:
            raise rm.RefusedError(
                f"rollback: the channel is at sequence {current.sequence}; "
                f"sequence {sequence} is not newer"
            )
        pointer = Pointer(version, sequence, f"releases/{version}-{sequence}/", names)
        for name in names:
            path = model_dir / name
            if not path.is_file():
                raise rm.RefusedError(f"digest: {name} is missing from {model_dir}")
            self._put(pointer.file_key(name), path.read_bytes(), "application/octet-stream")
        self._put(pointer.bundle_key, json.dumps(bundle).encode(), "application/json")
        # Last: until the pointer moves, devices keep seeing the previous release whole.
        self._put(POINTER, json.dumps(pointer.as_json()).encode(), "application/json")
        return pointer
