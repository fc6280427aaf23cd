"""The release CLI's ``--channel`` schemes: each names its store's channel, and a malformed one
is bad usage (exit 2, one line) found before anything is read from or written to a store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from components import release_cli
from components import release_manifest as rm
from components.release_channels import AzureBlobChannel, GcsChannel
from tests.unit.test_release_channels import signed_model


def test_azblob_names_an_account_and_a_container() -> None:
    channel = release_cli.channel_for("azblob://acmeprodreleases/models")
    assert isinstance(channel, AzureBlobChannel)
    assert (channel.account, channel.container) == ("acmeprodreleases", "models")


def test_gs_still_names_a_bucket() -> None:
    assert isinstance(release_cli.channel_for("gs://acme-prod-releases"), GcsChannel)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("azblob://acme", "expected azblob://<account>/<container>"),
        ("azblob://acme/", "container '': expected 3 to 63 lowercase letters"),
        ("azblob:///models", "storage account '': expected 3 to 24 lowercase letters and digits"),
        ("azblob://Acme/models", "storage account 'Acme': expected 3 to 24 lowercase"),
        ("azblob://acme-prod/models", "storage account 'acme-prod': expected"),
        ("azblob://acme/models/x", "container 'models/x': expected 3 to 63 lowercase letters"),
        ("azblob://acme/Models", "container 'Models': expected"),
        ("azblob://acme/mo--dels", "container 'mo--dels': expected"),
        ("azblob://acme/-models", "container '-models': expected"),
        ("azblob://", "expected s3://<name>, gs://<name>, azblob://<account>/<container>"),
        ("azure://acme/models", "expected s3://<name>, gs://<name>, azblob://<account>/"),
        ("s3://bucket/key", "expected s3://<name>, gs://<name>"),
        ("gs://bucket/releases", "expected s3://<name>, gs://<name>"),
    ],
)
def test_a_malformed_channel_is_bad_usage(url: str, message: str) -> None:
    with pytest.raises(release_cli.UsageError) as failed:
        release_cli.channel_for(url)
    assert message in str(failed.value) and "\n" not in str(failed.value)
    assert str(failed.value).startswith(f"--channel {url!r}: ")


@pytest.mark.parametrize("url", ["azblob://acme", "azblob://Acme/models", "azblob://a/b/c"])
def test_publish_to_a_malformed_channel_exits_2_with_one_line(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, signer, public = signed_model(tmp_path)
    bundle = tmp_path / "bundle.json"
    rm.write_bundle(
        rm.sign(model, signer, name="m", version="1", sequence=1, expires_in=timedelta(days=9)),
        bundle,
    )
    pem = tmp_path / "public.pem"
    pem.write_bytes(public)
    argv = ["publish", str(model), "--bundle", str(bundle), "--public-key", str(pem)]
    assert release_cli.main([*argv, "--channel", url]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    (line,) = out.err.splitlines()
    assert line.startswith(f"error: --channel {url!r}: ")


# -- ship: the pipeline's one step for the first environment --------------------------------------
def _ship(
    tmp_path: Path, model: Path, gcs: object, capsys: pytest.CaptureFixture[str], version: str
) -> tuple[int, str, str]:
    from tests.unit.test_release_channels import BUCKET

    code = release_cli.main(
        ["ship", str(model), "--version", version, "--key", f"file:{tmp_path / 'k.pem'}",
         "--channel", f"gs://{BUCKET}", "--out", str(tmp_path / "out" / "bundle.json")]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.fixture
def fake_gcs(monkeypatch: pytest.MonkeyPatch) -> object:
    from tests.unit.test_release_channels import FakeGcs

    gcs = FakeGcs({"retention_mode": "unlocked", "retention_days": "7"})
    monkeypatch.setitem(
        release_cli.CHANNELS,
        "gs",
        lambda bucket: GcsChannel(bucket, send=gcs.send, token=lambda: "token"),
    )
    return gcs


def test_ship_publishes_the_next_sequence_and_nothing_when_the_model_did_not_change(
    tmp_path: Path, fake_gcs: object, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _, public = signed_model(tmp_path)
    (tmp_path / "out").mkdir()
    code, out, _ = _ship(tmp_path, model, fake_gcs, capsys, "1.0.0")
    assert (code, out) == (0, "published 1.0.0 (sequence 1) -> gs://acme-prod-releases")
    first = (tmp_path / "out" / "bundle.json").read_text()
    assert rm.verify(model, json.loads(first), public).terms.sequence == 1
    objects = dict(fake_gcs.objects)  # type: ignore[attr-defined]
    # a re-run of the same job, or a merge that did not touch the model: nothing new
    code, out, _ = _ship(tmp_path, model, fake_gcs, capsys, "1.0.0")
    assert code == 0 and out.startswith("unchanged: 1.0.0 is already the channel's release")
    assert fake_gcs.objects == objects  # type: ignore[attr-defined]
    assert (tmp_path / "out" / "bundle.json").read_text() == first
    # a changed model (a withdrawal by revert too) is the next sequence, whatever its version
    (model / "labels.json").write_text('["a"]')
    code, out, _ = _ship(tmp_path, model, fake_gcs, capsys, "1.0.0")
    assert (code, out) == (0, "published 1.0.0 (sequence 2) -> gs://acme-prod-releases")


@pytest.mark.parametrize("version", ["", "../x", "1.0 beta", "-1"])
def test_a_version_that_cannot_name_a_release_is_bad_usage(
    tmp_path: Path, fake_gcs: object, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    model, _, _ = signed_model(tmp_path)
    code, _, err = _ship(tmp_path, model, fake_gcs, capsys, version)
    assert code == 2 and err.startswith("error: --version") and len(err.splitlines()) == 1
    assert fake_gcs.objects == {}  # type: ignore[attr-defined]
