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

Backends per store, as lookup data for the CLI: ``--channel s3://<bucket>`` (S3 with Object
Lock), ``--channel gs://<bucket>`` (Cloud Storage with object retention) and
``--channel azblob://<account>/<container>`` (Blob Storage with version-level immutability).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET  # nosec B405 - parses Azure Storage's own error answers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
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


def verified_terms(
    model_dir: Path, bundle: Mapping[str, Any], public_pem: bytes
) -> tuple[str, int, tuple[str, ...]]:
    """(version, sequence, file names) of a release that verifies against ``model_dir`` with
    ``public_pem``: a channel uploads nothing a device would refuse, and only files the
    verifier found inside the model directory."""
    release = rm.verify(model_dir, bundle, public_pem)
    return release.terms.version, release.terms.sequence, tuple(f.name for f in release.files)


def _payload(bundle: Mapping[str, Any]) -> object:
    envelope = bundle.get("dsseEnvelope")
    return envelope.get("payload") if isinstance(envelope, Mapping) else None


def already_published(
    current: Pointer,
    sequence: int,
    bundle: Mapping[str, Any],
    read: Callable[[str], bytes | None],
) -> bool:
    """True when the channel's current release is this very release (a re-run of the same
    pipeline job: nothing to do); :class:`RefusedError` when ``sequence`` is not newer."""
    if sequence > current.sequence:
        return False
    if sequence == current.sequence:
        published = read(current.bundle_key)
        try:
            same = published is not None and _payload(json.loads(published)) == _payload(bundle)
        except ValueError:
            same = False
        if same and _payload(bundle) is not None:
            return True
    raise rm.RefusedError(
        f"rollback: the channel is at sequence {current.sequence}; sequence {sequence} is not newer"
    )


class _Channel:
    """What every channel offers besides publishing: the current release's own bundle."""

    def _read(self, key: str) -> bytes | None:
        raise NotImplementedError

    def published_bundle(self, pointer: Pointer) -> dict[str, Any] | None:
        """The bundle published with ``pointer``'s release (None if missing or unreadable)."""
        body = self._read(pointer.bundle_key)
        try:
            bundle = json.loads(body) if body is not None else None
        except ValueError:
            return None
        return bundle if isinstance(bundle, dict) else None


class S3Channel(_Channel):
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

    def _read(self, key: str) -> bytes | None:
        answer = self._call(f"get {key}", "get_object", Bucket=self._bucket, Key=key)
        return None if answer is None else bytes(answer["Body"].read())

    def latest(self) -> Pointer | None:
        """The channel's current release, or None before the first."""
        body = self._read(POINTER)
        return None if body is None else Pointer.from_json(json.loads(body))

    def publish(self, model_dir: Path, bundle: Mapping[str, Any], public_pem: bytes) -> Pointer:
        """Verify the release with this environment's key, upload the model's files and its
        bundle, then move the pointer to them."""
        version, sequence, names = verified_terms(model_dir, bundle, public_pem)
        current = self.latest()
        if current is not None and already_published(current, sequence, bundle, self._read):
            return current
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


# ---------------------------------------------------------------------------- Cloud Storage
# (method, url, bearer token, body or None, content type) -> (HTTP status, body)
RawSend = Callable[[str, str, str, "bytes | None", str], tuple[int, bytes]]
GCS_API = "https://storage.googleapis.com"


def https_raw(
    method: str, url: str, token: str, body: bytes | None, content_type: str
) -> tuple[int, bytes]:
    """One HTTPS request with a raw body; HTTP errors are answers, not exceptions."""
    if not url.startswith("https://"):
        raise ChannelError(f"refusing non-HTTPS URL {url!r}")
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310  # nosec B310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ChannelError(f"cannot reach Cloud Storage: {exc}") from exc


def _gcloud_token() -> str:
    from components.release_signers import KeyServiceError, _cli_token

    try:
        return _cli_token(["gcloud", "auth", "print-access-token"])
    except KeyServiceError as exc:
        raise ChannelError(str(exc)) from exc


class GcsChannel(_Channel):
    """A release channel in a Cloud Storage bucket with object retention (the GCP embedded
    pattern's channel): every release object is uploaded with its retention (the mode and days
    the bucket's labels carry) and its MD5, which Cloud Storage checks; the pointer is
    uploaded without retention, so it can move."""

    def __init__(
        self, bucket: str, send: RawSend = https_raw, token: Callable[[], str] = _gcloud_token
    ) -> None:
        self._bucket = bucket
        self._send = send
        self._token = token

    def _call(self, what: str, method: str, url: str, body: bytes | None = None,
              content_type: str = "") -> tuple[int, bytes]:  # fmt: skip
        status, answer = self._send(method, url, self._token(), body, content_type)
        if status >= 300 and status != 404:
            try:
                message = json.loads(answer)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = ""
            raise ChannelError(f"Cloud Storage {what} in {self._bucket}: HTTP {status} {message}")
        return status, answer

    def _retention(self) -> tuple[str, int]:
        url = f"{GCS_API}/storage/v1/b/{self._bucket}?fields=labels"
        status, answer = self._call("read the bucket", "GET", url)
        if status == 404:
            raise ChannelError(f"Cloud Storage bucket {self._bucket} does not exist")
        found = json.loads(answer).get("labels") or {}
        mode = {"unlocked": "Unlocked", "locked": "Locked"}.get(found.get("retention_mode", ""))
        days = found.get("retention_days", "")
        if mode is None or not days.isdigit():
            raise ChannelError(
                f"bucket {self._bucket} is not a release channel (no retention labels)"
            )
        return mode, int(days)

    def _read(self, key: str) -> bytes | None:
        name = urllib.parse.quote(key, safe="")
        url = f"{GCS_API}/storage/v1/b/{self._bucket}/o/{name}?alt=media"
        status, answer = self._call(f"get {key}", "GET", url)
        return None if status == 404 else answer

    def latest(self) -> Pointer | None:
        """The channel's current release, or None before the first."""
        body = self._read(POINTER)
        return None if body is None else Pointer.from_json(json.loads(body))

    def _put(
        self, key: str, body: bytes, content_type: str, retention: dict[str, str] | None
    ) -> None:
        metadata: dict[str, Any] = {
            "name": key,
            "contentType": content_type,
            "md5Hash": base64.b64encode(hashlib.md5(body).digest()).decode(),  # noqa: S324 # nosec B324 - GCS's integrity check, not security
        }
        if retention is not None:
            metadata["retention"] = retention
        boundary = "aideploy-" + hashlib.sha256(body).hexdigest()[:32]
        payload = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
                json.dumps(metadata).encode(),
                f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
                body,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        url = f"{GCS_API}/upload/storage/v1/b/{self._bucket}/o?uploadType=multipart"
        self._call(f"put {key}", "POST", url, payload, f"multipart/related; boundary={boundary}")

    def publish(self, model_dir: Path, bundle: Mapping[str, Any], public_pem: bytes) -> Pointer:
        """Verify the release with this environment's key, upload the model's files and its
        bundle under retention, then move the pointer."""
        version, sequence, names = verified_terms(model_dir, bundle, public_pem)
        mode, days = self._retention()
        current = self.latest()
        if current is not None and already_published(current, sequence, bundle, self._read):
            return current
        until = (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        retention = {"mode": mode, "retainUntilTime": until}
        pointer = Pointer(version, sequence, f"releases/{version}-{sequence}/", names)
        for name in names:
            path = model_dir / name
            if not path.is_file():
                raise rm.RefusedError(f"digest: {name} is missing from {model_dir}")
            self._put(pointer.file_key(name), path.read_bytes(), "application/octet-stream",
                      retention)  # fmt: skip
        self._put(pointer.bundle_key, json.dumps(bundle).encode(), "application/json", retention)
        self._put(POINTER, json.dumps(pointer.as_json()).encode(), "application/json", None)
        return pointer


# ---------------------------------------------------------------------------- Blob Storage
# (method, url, headers, body or None) -> (HTTP status, body); the device service's
# components/azure/device_fn/channel.py sends the same way, so one double serves both.
BlobSend = Callable[[str, str, Mapping[str, str], "bytes | None"], tuple[int, bytes]]
BLOB_HOST = "blob.core.windows.net"
# A GA service version; version-level immutability needs 2020-06-12 or later.
BLOB_API_VERSION = "2023-11-03"
STORAGE_RESOURCE = "https://storage.azure.com/"
PUT_BLOB_LIMIT = 5000 * 1024 * 1024  # one Put Blob takes at most 5000 MiB (2019-12-12 and later)
ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
CONTAINER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]")
# What to do about the refusals a publisher meets, by the service's error code.
_BLOB_HINTS = {
    "InvalidAuthenticationInfo": "sign in again with az login; the token is for "
    + STORAGE_RESOURCE,
    "AuthorizationPermissionMismatch": (
        "this identity lacks the release publisher role (blob read, write, add) on the container"
    ),
    "AuthorizationFailure": "this identity may not reach the account (network rules or RBAC)",
    "KeyBasedAuthenticationNotPermitted": "the account takes Entra tokens only",
    "Md5Mismatch": "the upload was altered in transit",
}


def https_request(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> tuple[int, bytes]:
    """One HTTPS request with the given headers; HTTP errors are answers, not exceptions."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https":
        raise ChannelError(f"refusing non-HTTPS URL {url!r}")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310  # nosec B310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ChannelError(f"cannot reach {parsed.hostname}: {exc}") from exc


def _azure_storage_token() -> str:
    """A Storage token from the Azure CLI's login (as release_signers gets Key Vault's)."""
    from components.release_signers import KeyServiceError, _cli_token

    argv = ["az", "account", "get-access-token", "--resource", STORAGE_RESOURCE]
    try:
        return _cli_token([*argv, "--query", "accessToken", "--output", "tsv"])
    except KeyServiceError as exc:
        raise ChannelError(str(exc)) from exc


def blob_error(body: bytes) -> tuple[str, str]:
    """(error code, message) of an Azure Storage error answer, the message on one line
    (without the request id and time the service appends) plus any authentication detail."""
    try:
        root = ET.fromstring(body)  # noqa: S314  # nosec B314 - Azure Storage's own answer
    except ET.ParseError:
        return "", ""
    code = (root.findtext("Code") or "").strip()
    message = (root.findtext("Message") or "").strip().splitlines()[:1]
    detail = (root.findtext("AuthenticationErrorDetail") or "").strip().splitlines()[:1]
    return code, " ".join([*message, *detail])[:300]


class AzureBlobChannel(_Channel):
    """A release channel in a Blob Storage container with version-level immutability (the
    Azure embedded pattern's ``azblob://<account>/<container>``), through the Blob REST API
    with an Entra token (the account takes no shared key).

    Calls exactly two operations: **Get Blob** (the pointer and the published bundle: RBAC
    ``blobs/read``) and **Put Blob** of a block blob (``blobs/add/action`` or ``blobs/write``
    to create one, ``blobs/write`` to overwrite the pointer), each upload with its
    ``Content-MD5``, which the service checks (400 ``Md5Mismatch``). Never deletes.

    The container's default time-based policy makes every blob version immutable for the
    retention period. An overwrite (Put Blob on a name whose current version is protected) is
    allowed and creates a new current version; the previous version keeps its policy. Delete
    Blob, Set Blob Metadata and Put Page on a protected version are refused (409
    ``BlobImmutableDueToPolicy``). So moving the pointer is an overwrite whose every earlier
    value stays retained, and a release's objects are written once under their new prefix."""

    def __init__(
        self,
        account: str,
        container: str,
        send: BlobSend = https_request,
        token: Callable[[], str] = _azure_storage_token,
    ) -> None:
        if not ACCOUNT_NAME.fullmatch(account):
            raise ValueError(
                f"storage account {account!r}: expected 3 to 24 lowercase letters and digits"
            )
        if not CONTAINER_NAME.fullmatch(container) or "--" in container:
            raise ValueError(
                f"container {container!r}: expected 3 to 63 lowercase letters, digits and "
                "single hyphens, starting and ending with a letter or digit"
            )
        self.account = account
        self.container = container
        self._send = send
        self._token = token

    @property
    def where(self) -> str:
        return f"{self.account}/{self.container}"

    def _url(self, key: str) -> str:
        name = urllib.parse.quote(key, safe="/")
        return f"https://{self.account}.{BLOB_HOST}/{self.container}/{name}"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token()}",
            "x-ms-version": BLOB_API_VERSION,
            "x-ms-date": formatdate(usegmt=True),
        }

    def _refused(self, what: str, status: int, answer: bytes) -> ChannelError:
        code, message = blob_error(answer)
        if code == "ContainerNotFound":
            return ChannelError(
                f"Blob Storage {what} in {self.where}: container {self.container} does not "
                f"exist in account {self.account} (HTTP {status} ContainerNotFound)"
            )
        hint = _BLOB_HINTS.get(code)
        text = f"Blob Storage {what} in {self.where}: HTTP {status} {code}".rstrip()
        text += f": {message}" if message else ""
        text += f" ({hint})" if hint else ""
        return ChannelError(" ".join(text.split()))

    def _read(self, key: str) -> bytes | None:
        status, answer = self._send("GET", self._url(key), self._headers(), None)
        if status == 200:
            return answer
        if status == 404 and blob_error(answer)[0] == "BlobNotFound":
            return None
        raise self._refused(f"get {key}", status, answer)

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        headers = self._headers() | {
            "x-ms-blob-type": "BlockBlob",
            "Content-Type": content_type,
            "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),  # noqa: S324 # nosec B324 - Blob Storage's integrity check, not security
        }
        status, answer = self._send("PUT", self._url(key), headers, body)
        if status != 201:
            raise self._refused(f"put {key}", status, answer)

    def latest(self) -> Pointer | None:
        """The channel's current release, or None before the first."""
        body = self._read(POINTER)
        return None if body is None else Pointer.from_json(json.loads(body))

    def publish(self, model_dir: Path, bundle: Mapping[str, Any], public_pem: bytes) -> Pointer:
        """Verify the release with this environment's key, upload the model's files and its
        bundle under a new prefix, then move the pointer (a new version of it)."""
        release = rm.verify(model_dir, bundle, public_pem)
        version, sequence = release.terms.version, release.terms.sequence
        for entry in release.files:
            size = (model_dir / entry.name).stat().st_size
            if size > PUT_BLOB_LIMIT:
                raise ChannelError(
                    f"Blob Storage in {self.where}: {entry.name} is {size} bytes, more than "
                    f"one Put Blob takes ({PUT_BLOB_LIMIT})"
                )
        current = self.latest()
        if current is not None and already_published(current, sequence, bundle, self._read):
            return current
        names = tuple(f.name for f in release.files)
        pointer = Pointer(version, sequence, f"releases/{version}-{sequence}/", names)
        for entry in release.files:
            body = (model_dir / entry.name).read_bytes()
            # What is uploaded is what was verified, even if the file changed since.
            if hashlib.sha256(body).hexdigest() != entry.digest:
                raise rm.RefusedError(f"digest: {entry.name} changed after it was verified")
            self._put(pointer.file_key(entry.name), body, "application/octet-stream")
        self._put(pointer.bundle_key, json.dumps(bundle).encode(), "application/json")
        # Last: until the pointer moves, devices keep seeing the previous release whole.
        self._put(POINTER, json.dumps(pointer.as_json()).encode(), "application/json")
        return pointer
