"""Publishing to a Cloud Storage channel, against a recorded-behaviour double of the JSON API:
multipart uploads (metadata with retention and MD5, then the bytes), the pointer read back,
a bucket's labels, a 404 and a 403. Cloud Storage itself rejects an MD5 that does not match
and an object replaced under retention; the double does both, so the test sees what the real
service would refuse.

Publishing to a Blob Storage channel likewise, against a double of the Blob REST API with
version-level immutability (:class:`FakeBlob`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components import release_channels
from components import release_manifest as rm
from components.release_channels import POINTER, AzureBlobChannel, ChannelError, GcsChannel

BUCKET = "acme-prod-releases"


class FakeGcs:
    """Objects by name; an object under retention cannot be replaced until it expires."""

    def __init__(self, labels: dict[str, str] | None) -> None:
        self.labels = labels
        self.objects: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.refuse: int | None = None

    def send(
        self, method: str, url: str, token: str, body: bytes | None, content_type: str
    ) -> tuple[int, bytes]:
        assert token == "token" and url.startswith("https://storage.googleapis.com/")
        if self.refuse:
            return self.refuse, json.dumps({"error": {"message": "Permission denied"}}).encode()
        path = urllib.parse.urlparse(url).path
        if method == "GET" and path == f"/storage/v1/b/{BUCKET}":
            if self.labels is None:
                return 404, b'{"error": {"message": "Not Found"}}'
            return 200, json.dumps({"labels": self.labels}).encode()
        if method == "GET" and path.startswith(f"/storage/v1/b/{BUCKET}/o/"):
            name = urllib.parse.unquote(path.rsplit("/o/", 1)[1])
            if name not in self.objects:
                return 404, b'{"error": {"message": "No such object"}}'
            return 200, self.objects[name][0]
        if method == "POST" and path == f"/upload/storage/v1/b/{BUCKET}/o":
            assert body is not None
            boundary = re.search(r"boundary=(\S+)", content_type).group(1)  # type: ignore[union-attr]
            parts = body.split(f"--{boundary}".encode())
            meta = json.loads(parts[1].split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n"))
            data = parts[2].split(b"\r\n\r\n", 1)[1][: -len(b"\r\n")]
            if base64.b64encode(hashlib.md5(data).digest()).decode() != meta["md5Hash"]:
                return 400, b'{"error": {"message": "Provided MD5 hash does not match"}}'
            old = self.objects.get(meta["name"])
            if old and "retention" in old[1]:
                until = datetime.strptime(
                    old[1]["retention"]["retainUntilTime"], "%Y-%m-%dT%H:%M:%SZ"
                )
                if until.replace(tzinfo=timezone.utc) > datetime.now(timezone.utc):
                    return 403, b'{"error": {"message": "Object is under active retention"}}'
            self.objects[meta["name"]] = (data, meta)
            return 200, json.dumps({"name": meta["name"]}).encode()
        return 404, b'{"error": {"message": "unexpected"}}'


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Any, bytes]:
    return signed_model(tmp_path)


def signed_model(tmp_path: Path) -> tuple[Path, Any, bytes]:
    """A model directory, a signer and the signer's public key (PEM)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x01" * 4096)
    (model / "labels.json").write_text("[]")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "k.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return model, rm.PemFileSigner(pem), public


def _release(signed: tuple[Path, Any, bytes], sequence: int) -> tuple[dict[str, Any], bytes]:
    """A bundle and the public key publish verifies it with."""
    return _bundle(signed, sequence), signed[2]


def _bundle(signed: tuple[Path, Any, bytes], sequence: int) -> dict[str, Any]:
    model, signer, _ = signed
    return rm.sign(
        model,
        signer,
        name="m",
        version=f"1.{sequence}",
        sequence=sequence,
        expires_in=timedelta(days=9),
    )


def test_releases_are_retained_and_the_pointer_moves(signed: tuple[Path, Any, bytes]) -> None:
    gcs = FakeGcs({"retention_mode": "locked", "retention_days": "30"})
    channel = GcsChannel(BUCKET, send=gcs.send, token=lambda: "token")
    assert channel.latest() is None
    pointer = channel.publish(signed[0], *_release(signed, 1))
    assert channel.latest() == pointer
    weights = gcs.objects["releases/1.1-1/model/weights.bin"][1]
    assert weights["retention"]["mode"] == "Locked"
    until = datetime.strptime(weights["retention"]["retainUntilTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert timedelta(days=29) < until - datetime.now() < timedelta(days=31)
    assert "retention" not in gcs.objects[POINTER][1]  # the pointer can move
    channel.publish(signed[0], *_release(signed, 2))
    assert channel.latest().sequence == 2  # type: ignore[union-attr]
    # A device reads the release back and verifies it.
    got = json.loads(gcs.objects["releases/1.2-2/bundle.json"][0])
    assert rm.verify(signed[0], got, signed[2]).terms.sequence == 2


def test_a_backwards_publish_is_refused(signed: tuple[Path, Any, bytes]) -> None:
    gcs = FakeGcs({"retention_mode": "unlocked", "retention_days": "7"})
    channel = GcsChannel(BUCKET, send=gcs.send, token=lambda: "token")
    channel.publish(signed[0], *_release(signed, 5))
    with pytest.raises(
        rm.RefusedError, match="the channel is at sequence 5; sequence 4 is not newer"
    ):
        channel.publish(signed[0], *_release(signed, 4))


def test_replacing_a_retained_release_is_what_cloud_storage_refuses(
    signed: tuple[Path, Any, bytes],
) -> None:
    """Re-publishing the same version and sequence would replace retained objects; the channel
    refuses it before upload, and the service would too."""
    gcs = FakeGcs({"retention_mode": "unlocked", "retention_days": "7"})
    channel = GcsChannel(BUCKET, send=gcs.send, token=lambda: "token")
    channel.publish(signed[0], *_release(signed, 3))
    del gcs.objects[POINTER]  # as if the pointer were lost: the service still protects releases
    with pytest.raises(ChannelError, match="HTTP 403 Object is under active retention"):
        channel.publish(signed[0], *_release(signed, 3))


@pytest.mark.parametrize(
    ("labels", "refuse", "message"),
    [
        (None, None, "bucket acme-prod-releases does not exist"),
        ({"role": "data"}, None, "is not a release channel (no retention labels)"),
        ({"retention_mode": "unlocked", "retention_days": "7"}, 403, "HTTP 403 Permission denied"),
    ],
    ids=["no-bucket", "not-a-channel", "denied"],
)
def test_channel_problems_are_one_line(
    signed: tuple[Path, Any, bytes], labels: dict[str, str] | None, refuse: int | None, message: str
) -> None:
    gcs = FakeGcs(labels)
    gcs.refuse = refuse
    channel = GcsChannel(BUCKET, send=gcs.send, token=lambda: "token")
    with pytest.raises(ChannelError) as failed:
        channel.publish(signed[0], *_release(signed, 1))
    assert message in str(failed.value) and "\n" not in str(failed.value)
    assert not gcs.objects


def test_the_publisher_reads_the_retention_the_gcp_channel_declares(
    signed: tuple[Path, Any, bytes],
) -> None:
    """The seam between components/gcp/release_channel.py (the bucket's labels) and the
    publisher: the labels of the captured channel drive the uploads' retention."""
    from components.spec import Environment
    from tests.components.test_gcp_embedded_blocks import release_channel, run

    settings = release_channel.ChannelSettings(release_channel.RetentionMode.LOCKED, 90)
    (bucket,) = [
        r for r in run(Environment.PROD, settings) if r.type == "gcp:storage/bucket:Bucket"
    ]
    gcs = FakeGcs(dict(bucket.inputs["labels"]))
    GcsChannel(BUCKET, send=gcs.send, token=lambda: "token").publish(
        signed[0], *_release(signed, 1)
    )
    retention = gcs.objects["releases/1.1-1/model/weights.bin"][1]["retention"]
    assert retention["mode"] == settings.mode.value
    until = datetime.strptime(retention["retainUntilTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert timedelta(days=89) < until - datetime.now() < timedelta(days=91)


def test_re_publishing_the_same_release_is_a_no_op_and_another_at_its_sequence_is_refused(
    signed: tuple[Path, Any, bytes],
) -> None:
    """A re-run pipeline job publishes the release it already published: nothing is uploaded
    (retained objects are never replaced). A different release at the same sequence is still
    a rollback attempt."""
    gcs = FakeGcs({"retention_mode": "unlocked", "retention_days": "7"})
    channel = GcsChannel(BUCKET, send=gcs.send, token=lambda: "token")
    bundle, pem = _release(signed, 6)
    first = channel.publish(signed[0], bundle, pem)
    uploads = dict(gcs.objects)
    assert channel.publish(signed[0], bundle, pem) == first
    assert gcs.objects == uploads
    model, signer, _ = signed
    other = rm.sign(
        model, signer, name="m", version="9.9", sequence=6, expires_in=timedelta(days=9)
    )
    with pytest.raises(rm.RefusedError, match="sequence 6 is not newer"):
        channel.publish(signed[0], other, pem)


# ---------------------------------------------------------------------------- Blob Storage
ACCOUNT, CONTAINER = "acmeprodreleases", "models"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
READ, WRITE, ADD, DELETE = (f"{_BLOBS}/{a}" for a in ("read", "write", "add/action", "delete"))
# The RBAC data actions that authorize each Blob operation (any one of them suffices): Put
# Blob creates a blob with add/action or write, overwrites one with write only.
AUTHORIZED_BY = {
    "Get Blob": frozenset({READ}),
    "Put Blob (new)": frozenset({ADD, WRITE}),
    "Put Blob (overwrite)": frozenset({WRITE}),
    "Delete Blob": frozenset({DELETE}),
}


def _error(status: int, code: str, message: str, detail: str = "") -> tuple[int, bytes]:
    """An answer as Blob Storage writes it (the message ends with the request id and time)."""
    extra = f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail>" if detail else ""
    return status, (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\nRequestId:0f1e2d3c-0000\n"
        f"Time:2026-01-01T00:00:00.0000000Z</Message>{extra}</Error>"
    ).encode()


class FakeBlob:
    """One account's Blob service as the publisher meets it: the container has version-level
    immutability with a default time-based policy (every blob version is immutable for the
    retention period) and versioning on; shared keys are off, so only a bearer token counts.

    What the service does, and so the double: Put Blob on a new name creates its first
    version; Put Blob on a name whose current version is protected is allowed and creates a
    new current version, the previous one staying as it was (immutable, readable by version
    id); Delete Blob on a protected version is refused with 409 BlobImmutableDueToPolicy; a
    Content-MD5 that does not match the body is 400 Md5Mismatch; a missing container is 404
    ContainerNotFound, a missing blob 404 BlobNotFound; an expired or foreign token is 401
    InvalidAuthenticationInfo; a caller without the data action is 403
    AuthorizationPermissionMismatch."""

    def __init__(self, granted: frozenset[str] | set[str] = frozenset({READ, WRITE, ADD})) -> None:
        self.granted = set(granted)
        self.container_exists = True
        self.token = "token"
        self.versions: dict[str, list[tuple[bytes, str]]] = {}  # name -> [(body, type)]
        self.operations: list[tuple[str, str]] = []  # (operation, blob name) authorized

    def current(self, name: str) -> bytes:
        return self.versions[name][-1][0]

    def puts(self) -> list[str]:
        return [name for op, name in self.operations if op.startswith("Put Blob")]

    def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.scheme == "https" and parsed.hostname == f"{ACCOUNT}.blob.core.windows.net"
        assert headers["x-ms-version"] >= "2020-06-12"  # version-level immutability
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _error(
                401,
                "InvalidAuthenticationInfo",
                "Server failed to authenticate the request. Please refer to the information "
                "in the www-authenticate header.",
                "Lifetime validation failed. The token is expired.",
            )
        container, _, name = urllib.parse.unquote(parsed.path).lstrip("/").partition("/")
        if container != CONTAINER or not self.container_exists:
            return _error(404, "ContainerNotFound", "The specified container does not exist.")
        exists = name in self.versions
        operation = {
            "GET": "Get Blob",
            "PUT": "Put Blob (overwrite)" if exists else "Put Blob (new)",
            "DELETE": "Delete Blob",
        }[method]
        if not AUTHORIZED_BY[operation] & self.granted:
            return _error(
                403,
                "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            )
        self.operations.append((operation, name))
        if method == "GET":
            if not exists:
                return _error(404, "BlobNotFound", "The specified blob does not exist.")
            return 200, self.current(name)
        if method == "DELETE":  # every version is under the container's default policy
            return _error(
                409,
                "BlobImmutableDueToPolicy",
                "This operation is not permitted as the blob is immutable due to a policy.",
            )
        assert body is not None and headers["x-ms-blob-type"] == "BlockBlob"
        if base64.b64encode(hashlib.md5(body).digest()).decode() != headers["Content-MD5"]:
            return _error(400, "Md5Mismatch", "The MD5 value specified in the request did not "
                          "match with the MD5 value calculated by the server.")  # fmt: skip
        self.versions.setdefault(name, []).append((body, headers["Content-Type"]))
        return 201, b""


def _azure(blob: FakeBlob) -> AzureBlobChannel:
    return AzureBlobChannel(ACCOUNT, CONTAINER, send=blob.send, token=lambda: "token")


def test_azure_uploads_files_then_the_bundle_then_the_pointer(
    signed: tuple[Path, Any, bytes],
) -> None:
    blob = FakeBlob()
    channel = _azure(blob)
    assert channel.latest() is None
    first = channel.publish(signed[0], *_release(signed, 1))
    assert blob.puts() == [
        "releases/1.1-1/model/labels.json",
        "releases/1.1-1/model/weights.bin",
        "releases/1.1-1/bundle.json",
        POINTER,
    ]
    assert blob.versions["releases/1.1-1/model/weights.bin"] == [
        ((signed[0] / "weights.bin").read_bytes(), "application/octet-stream")
    ]
    assert channel.latest() == first
    second = channel.publish(signed[0], *_release(signed, 2))
    assert blob.puts()[-1] == POINTER and channel.latest() == second
    # Moving the pointer made a new version of it; the first stays (immutable) as history.
    assert [json.loads(v)["sequence"] for v, _ in blob.versions[POINTER]] == [1, 2]
    assert all(len(v) == 1 for name, v in blob.versions.items() if name != POINTER)
    assert not [op for op, _ in blob.operations if op == "Delete Blob"]
    # A device reads the release back and verifies it.
    got = json.loads(blob.current("releases/1.2-2/bundle.json"))
    assert rm.verify(signed[0], got, signed[2]).terms.sequence == 2


def test_the_fake_refuses_deletes_as_version_level_immutability_does() -> None:
    blob = FakeBlob(granted={READ, WRITE, ADD, DELETE})
    url = f"https://{ACCOUNT}.blob.core.windows.net/{CONTAINER}/{POINTER}"
    status, answer = blob.send("DELETE", url, {"Authorization": "Bearer token",
                                               "x-ms-version": "2023-11-03"}, None)  # fmt: skip
    assert (status, release_channels.blob_error(answer)[0]) == (409, "BlobImmutableDueToPolicy")


def test_azure_refuses_a_backwards_publish(signed: tuple[Path, Any, bytes]) -> None:
    blob = FakeBlob()
    channel = _azure(blob)
    channel.publish(signed[0], *_release(signed, 5))
    uploads = blob.puts()
    with pytest.raises(
        rm.RefusedError, match="the channel is at sequence 5; sequence 4 is not newer"
    ):
        channel.publish(signed[0], *_release(signed, 4))
    assert blob.puts() == uploads


def test_azure_re_publishing_the_same_release_is_a_no_op(signed: tuple[Path, Any, bytes]) -> None:
    blob = FakeBlob()
    channel = _azure(blob)
    bundle, pem = _release(signed, 6)
    first = channel.publish(signed[0], bundle, pem)
    uploads = blob.puts()
    assert channel.publish(signed[0], bundle, pem) == first
    assert blob.puts() == uploads  # read the pointer and the bundle, wrote nothing
    other = rm.sign(
        signed[0], signed[1], name="m", version="9.9", sequence=6, expires_in=timedelta(days=9)
    )
    with pytest.raises(rm.RefusedError, match="sequence 6 is not newer"):
        channel.publish(signed[0], other, pem)
    assert blob.puts() == uploads


def test_azure_refuses_a_changed_file_before_any_upload(signed: tuple[Path, Any, bytes]) -> None:
    blob = FakeBlob()
    bundle, pem = _release(signed, 1)
    (signed[0] / "weights.bin").write_bytes(b"\x02" * 4096)
    with pytest.raises(rm.RefusedError, match=r"digest: weights\.bin differs from the signed"):
        _azure(blob).publish(signed[0], bundle, pem)
    assert blob.operations == [] and blob.versions == {}


def test_azure_uploads_only_what_it_verified(signed: tuple[Path, Any, bytes]) -> None:
    """A file changed between verification and its upload is refused, and the pointer does
    not move: the channel never points at bytes other than the signed ones."""
    blob = FakeBlob()
    bundle, pem = _release(signed, 1)

    def send(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Any:
        if method == "PUT":  # the first upload: another file changes meanwhile
            (signed[0] / "weights.bin").write_bytes(b"\x03" * 4096)
        return blob.send(method, url, headers, body)

    channel = AzureBlobChannel(ACCOUNT, CONTAINER, send=send, token=lambda: "token")
    with pytest.raises(rm.RefusedError, match=r"weights\.bin changed after it was verified"):
        channel.publish(signed[0], bundle, pem)
    assert blob.puts() == ["releases/1.1-1/model/labels.json"] and POINTER not in blob.versions


def test_azure_sends_the_md5_the_service_checks(signed: tuple[Path, Any, bytes]) -> None:
    blob = FakeBlob()

    def altered(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Any:
        return blob.send(method, url, headers, body + b"!" if body else body)

    channel = AzureBlobChannel(ACCOUNT, CONTAINER, send=altered, token=lambda: "token")
    with pytest.raises(ChannelError) as failed:
        channel.publish(signed[0], *_release(signed, 1))
    assert str(failed.value).startswith(
        "Blob Storage put releases/1.1-1/model/labels.json in acmeprodreleases/models: "
        "HTTP 400 Md5Mismatch: The MD5 value specified"
    )
    assert "altered in transit" in str(failed.value) and blob.versions == {}


def _expire(blob: FakeBlob) -> None:
    blob.token = "a-newer-token"


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (
            lambda b: setattr(b, "container_exists", False),
            "container models does not exist in account acmeprodreleases "
            "(HTTP 404 ContainerNotFound)",
        ),
        (
            _expire,
            "HTTP 401 InvalidAuthenticationInfo: Server failed to authenticate the request. "
            "Please refer to the information in the www-authenticate header. Lifetime "
            "validation failed. The token is expired. (sign in again with az login",
        ),
        (
            lambda b: setattr(b, "granted", set()),
            "HTTP 403 AuthorizationPermissionMismatch: This request is not authorized to "
            "perform this operation using this permission. (this identity lacks the release "
            "publisher role",
        ),
        (
            lambda b: setattr(b, "granted", {READ}),
            "Blob Storage put releases/1.1-1/model/labels.json in acmeprodreleases/models: "
            "HTTP 403 AuthorizationPermissionMismatch",
        ),
    ],
    ids=["no-container", "expired-token", "no-rights", "read-only"],
)
def test_azure_problems_are_one_line_naming_the_account_and_container(
    signed: tuple[Path, Any, bytes], arrange: Any, message: str
) -> None:
    blob = FakeBlob()
    arrange(blob)
    with pytest.raises(ChannelError) as failed:
        _azure(blob).publish(signed[0], *_release(signed, 1))
    text = str(failed.value)
    assert message in text and "\n" not in text and "RequestId" not in text
    assert "acmeprodreleases/models" in text
    assert blob.versions == {}


def test_a_missing_azure_cli_is_one_line(
    signed: tuple[Path, Any, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)  # release_signers finds no az
    blob = FakeBlob()
    channel = AzureBlobChannel(ACCOUNT, CONTAINER, send=blob.send)
    with pytest.raises(ChannelError, match=r"^az is not installed"):
        channel.publish(signed[0], *_release(signed, 1))
    assert blob.operations == []


def test_azure_asks_the_cli_for_a_storage_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from components import release_signers

    asked: list[list[str]] = []

    def cli_token(argv: list[str]) -> str:
        asked.append(argv)
        return "t"

    monkeypatch.setattr(release_signers, "_cli_token", cli_token)
    assert release_channels._azure_storage_token() == "t"
    assert asked == [[
        "az", "account", "get-access-token", "--resource", "https://storage.azure.com/",
        "--query", "accessToken", "--output", "tsv",
    ]]  # fmt: skip


def test_a_file_too_big_for_one_put_blob_is_refused_before_any_upload(
    signed: tuple[Path, Any, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(release_channels, "PUT_BLOB_LIMIT", 100)
    blob = FakeBlob()
    with pytest.raises(ChannelError, match=r"weights\.bin is 4096 bytes, more than one Put"):
        _azure(blob).publish(signed[0], *_release(signed, 1))
    assert blob.operations == []


@pytest.mark.parametrize(
    ("account", "container"),
    [("ab", "models"), ("Acme", "models"), ("a" * 25, "models"), ("acme-x", "models"),
     ("acme", "mo"), ("acme", "-models"), ("acme", "models-"), ("acme", "mo--dels"),
     ("acme", "Models"), ("acme", "models/x"), ("acme", "m" * 64)],
)  # fmt: skip
def test_azure_names_are_checked(account: str, container: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        AzureBlobChannel(account, container, send=FakeBlob().send, token=lambda: "t")


def test_the_device_service_reads_the_pointer_the_publisher_wrote(
    signed: tuple[Path, Any, bytes],
) -> None:
    """The seam between this publisher and the Azure device service
    (components/azure/device_fn/channel.py): the same pointer, read with the service's own
    Blob client."""
    from components.azure.device_fn.channel import Channel

    blob = FakeBlob()
    pointer = _azure(blob).publish(signed[0], *_release(signed, 3))
    read = Channel(ACCOUNT, CONTAINER, token=lambda: "token", send=blob.send).read_pointer()
    assert read == pointer.as_json()
