"""The embedded pattern's release journey on AWS, against moto's server (S3 with Object Lock,
KMS with an ECC_NIST_P256 key), with the real CLI and the real download function:

CI signs the model with the environment's KMS key (``ci.release sign --key awskms:...``),
publishes it to the Object Lock channel, a device asks the download function for the current
release, fetches the presigned URLs, and verifies the files offline with the public key it
pinned (``ci.release public-key``). Then what must fail does: a file swapped in the channel, an
older release published over a newer one, a device that already saw a newer sequence.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import release_cli
from components import release_manifest as rm
from tests.journey.aws_release_env import CREDENTIALS, REGION, MotoAws, moto_server

FN_DIR = Path(__file__).resolve().parents[2] / "components" / "aws" / "release_fn"


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoAws]:
    with moto_server() as server:
        yield server


@pytest.fixture
def cloud(aws: MotoAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """A channel bucket with Object Lock and a signing key; the CLI's boto3 points at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    s3, kms = aws.client("s3"), aws.client("kms")
    bucket = f"releases-{tmp_path.name.lower().replace('_', '-')}"[:63]
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
        },
    )
    key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    return {"s3": s3, "bucket": bucket, "key": f"awskms:{key}"}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "weights.bin").write_bytes(bytes(range(256)) * 32)
    (root / "labels.json").write_text('["cat", "dog"]\n')
    return root


def cli(*argv: object) -> int:
    return release_cli.main([str(a) for a in argv])


def download_function(monkeypatch: pytest.MonkeyPatch, bucket: str) -> Any:
    monkeypatch.setenv("CHANNEL_BUCKET", bucket)
    monkeypatch.setenv("URL_SECONDS", "120")
    sys.path.insert(0, str(FN_DIR))
    try:
        sys.modules.pop("handler", None)
        import handler  # the file the Lambda archive ships

        return handler
    finally:
        sys.path.remove(str(FN_DIR))


def device_fetch(answer: dict[str, Any], into: Path) -> tuple[Path, dict[str, Any]]:
    """What the app does: download the bundle and every file from the presigned URLs."""
    assert answer["statusCode"] == 200, answer
    release = json.loads(answer["body"])
    model = into / f"download-{release['sequence']}"
    model.mkdir()
    for name, url in release["files"].items():
        with urllib.request.urlopen(url, timeout=10) as got:
            (model / name).write_bytes(got.read())
    with urllib.request.urlopen(release["bundle"], timeout=10) as got:
        bundle = json.loads(got.read())
    return model, bundle


def sign_and_publish(model: Path, cloud: dict[str, Any], tmp_path: Path, sequence: int) -> int:
    bundle = tmp_path / f"bundle-{sequence}.json"
    public = tmp_path / "ci-key.pem"
    if not public.exists():
        assert cli("public-key", "--key", cloud["key"], "--out", public) == 0
    assert cli(
        "sign", model, "--version", f"1.{sequence}.0", "--sequence", sequence,
        "--key", cloud["key"], "--out", bundle, "--force",
    ) == 0  # fmt: skip
    return cli(
        "publish", model, "--bundle", bundle, "--public-key", public,
        "--channel", f"s3://{cloud['bucket']}",
    )  # fmt: skip


def test_a_device_downloads_and_verifies_the_current_release_offline(
    cloud: dict[str, Any], model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = tmp_path / "device-key.pem"
    assert cli("public-key", "--key", cloud["key"], "--out", public) == 0
    fn = download_function(monkeypatch, cloud["bucket"])
    assert fn.handler({}, None, s3=cloud["s3"])["statusCode"] == 404  # nothing published yet

    assert sign_and_publish(model, cloud, tmp_path, 1) == 0
    got, bundle = device_fetch(fn.handler({}, None, s3=cloud["s3"]), tmp_path)
    release = rm.verify(got, bundle, public.read_bytes(), min_sequence=0)
    assert (release.terms.version, release.terms.sequence) == ("1.1.0", 1)
    # Every object went in with its SHA-256 (Object Lock buckets refuse uploads without one).
    head = cloud["s3"].head_object(
        Bucket=cloud["bucket"], Key="releases/1.1.0-1/model/weights.bin", ChecksumMode="ENABLED"
    )
    assert head.get("ChecksumSHA256")


def test_a_file_swapped_in_the_channel_is_refused_by_the_device(
    cloud: dict[str, Any], model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = tmp_path / "device-key.pem"
    assert cli("public-key", "--key", cloud["key"], "--out", public) == 0
    assert sign_and_publish(model, cloud, tmp_path, 1) == 0
    # Someone with write access to the bucket overwrites a file (a new version of the object).
    cloud["s3"].put_object(
        Bucket=cloud["bucket"], Key="releases/1.1.0-1/model/weights.bin", Body=b"poisoned",
        ChecksumAlgorithm="SHA256",
    )  # fmt: skip
    fn = download_function(monkeypatch, cloud["bucket"])
    got, bundle = device_fetch(fn.handler({}, None, s3=cloud["s3"]), tmp_path)
    with pytest.raises(rm.RefusedError, match=r"^digest: weights\.bin differs"):
        rm.verify(got, bundle, public.read_bytes())


def test_the_channel_never_points_backwards_and_a_device_never_goes_back(
    cloud: dict[str, Any],
    model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    public = tmp_path / "device-key.pem"
    assert cli("public-key", "--key", cloud["key"], "--out", public) == 0
    assert sign_and_publish(model, cloud, tmp_path, 2) == 0
    capsys.readouterr()
    assert sign_and_publish(model, cloud, tmp_path, 1) == 1
    assert capsys.readouterr().err.strip() == (
        "refused: rollback: the channel is at sequence 2; sequence 1 is not newer"
    )
    fn = download_function(monkeypatch, cloud["bucket"])
    got, bundle = device_fetch(fn.handler({}, None, s3=cloud["s3"]), tmp_path)
    # A device that already accepted sequence 3 (from elsewhere) does not take 2.
    with pytest.raises(rm.RefusedError, match=r"^rollback: release sequence 2 is older than 3"):
        rm.verify(got, bundle, public.read_bytes(), min_sequence=3)


def test_an_unreadable_channel_answers_502_without_internals(
    cloud: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = download_function(monkeypatch, "no-such-bucket-here")
    answer = fn.handler({}, None, s3=cloud["s3"])
    assert answer["statusCode"] == 502
    assert json.loads(answer["body"]) == {
        "error": "the release channel cannot be read; retry later"
    }
