"""The release CLI's ``--channel`` schemes: each names its store's channel, and a malformed one
is bad usage (exit 2, one line) found before anything is read from or written to a store."""

from __future__ import annotations

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
