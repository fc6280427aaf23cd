"""Publishing to a Cloud Storage channel, against a recorded-behaviour double of the JSON API:
multipart uploads (metadata with retention and MD5, then the bytes), the pointer read back,
a bucket's labels, a 404 and a 403. Cloud Storage itself rejects an MD5 that does not match
and an object replaced under retention; the double does both, so the test sees what the real
service would refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components import release_manifest as rm
from components.release_channels import POINTER, ChannelError, GcsChannel

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
