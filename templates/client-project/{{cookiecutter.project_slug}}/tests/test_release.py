"""The release journey offline: the sample model signed with this project's tool verifies; a
tampered file, an older sequence, an expired manifest and a wrong key are each refused; a
promoted release is trusted by the next environment's key; the sample app downloads, verifies
and runs it offline from a local stand-in of the device API.

Runs the real commands (``python -m ci.release``, ``python -m app``) in subprocesses, with
local EC P-256 keys (``--key file:PATH``) standing in for the environments' cloud keys.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components import release_manifest as rm
from model import predictor

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model" / "artifacts"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(  # noqa: S603 - our own modules, fixed arguments
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def make_key(folder: Path, name: str) -> tuple[str, Path]:
    """A local EC P-256 key: its ``--key`` form and its public PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.key"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = folder / f"{name}.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return f"file:{private}", public


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, str, Path]:
    """The sample model copied and signed with a dev key: (model, bundle, key, public pem)."""
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    key, public = make_key(tmp_path, "dev")
    bundle = tmp_path / "bundle.json"
    done = run("ci.release", "sign", str(model), "--version", "1.0.0", "--sequence", "7",
               "--key", key, "--out", str(bundle), "--name", "sample")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return model, bundle, key, public


def verify(model: Path, bundle: Path, public: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("ci.release", "verify", str(model), "--bundle", str(bundle),
               "--public-key", str(public), *extra)  # fmt: skip


def test_the_model_validated_is_the_model_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server the pipeline's model validation scores loads model/artifacts/, so changed
    weights are judged before they are released."""
    assert predictor.ARTIFACTS == MODEL / "keywords.json"
    assert predictor.load().predict("I was charged twice").label == "billing"
    changed = tmp_path / "keywords.json"
    changed.write_text(json.dumps({"keywords": {"refunds-team": ["charged"]}}))
    monkeypatch.setattr(predictor, "ARTIFACTS", changed)
    assert predictor.load().predict("I was charged twice").label == "refunds-team"


def test_an_installed_release_keeps_running_after_its_expiry(
    signed: tuple[Path, Path, str, Path],
) -> None:
    """Expiry bounds installing a release; a device offline past it keeps its model."""
    model, bundle, _, public = signed
    later = datetime.now(timezone.utc) + timedelta(days=400)
    body = json.loads(bundle.read_text())
    with pytest.raises(rm.RefusedError, match="expired"):
        rm.verify(model, body, public.read_bytes(), now=later)
    assert rm.verify(model, body, public.read_bytes(), now=later, check_expiry=False)


def test_a_signed_release_verifies_offline(signed: tuple[Path, Path, str, Path]) -> None:
    model, bundle, _, public = signed
    done = verify(model, bundle, public, "--min-sequence", "7")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("valid: sample 1.0.0 (sequence 7")


def test_a_tampered_file_is_refused(signed: tuple[Path, Path, str, Path]) -> None:
    model, bundle, _, public = signed
    weights = model / "keywords.json"
    weights.write_text(weights.read_text().replace("refund", "refunds"))
    done = verify(model, bundle, public)
    assert done.returncode == 1
    assert "keywords.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_an_added_file_is_refused(signed: tuple[Path, Path, str, Path]) -> None:
    model, bundle, _, public = signed
    (model / "extra.bin").write_bytes(b"not signed")
    done = verify(model, bundle, public)
    assert done.returncode == 1 and "extra.bin" in done.stderr


def test_an_older_sequence_is_refused(signed: tuple[Path, Path, str, Path]) -> None:
    model, bundle, _, public = signed
    done = verify(model, bundle, public, "--min-sequence", "8")
    assert done.returncode == 1 and "sequence" in done.stderr


def test_an_expired_manifest_is_refused(signed: tuple[Path, Path, str, Path]) -> None:
    model, bundle, _, public = signed
    later = datetime.now(timezone.utc) + timedelta(days=181)  # signed for 180 days
    with pytest.raises(rm.RefusedError, match="expire"):
        rm.verify(model, json.loads(bundle.read_text()), public.read_bytes(), now=later)


def test_another_environments_key_is_refused(
    signed: tuple[Path, Path, str, Path], tmp_path: Path
) -> None:
    model, bundle, _, _ = signed
    _, prod_public = make_key(tmp_path, "prod")
    done = verify(model, bundle, prod_public)
    assert done.returncode == 1 and "signature" in done.stderr


def test_promotion_signs_the_same_payload_for_the_next_environment(
    signed: tuple[Path, Path, str, Path], tmp_path: Path
) -> None:
    model, bundle, _, dev_public = signed
    staging_key, staging_public = make_key(tmp_path, "staging")
    promoted = tmp_path / "staging-bundle.json"
    done = run("ci.release", "promote", str(model), "--bundle", str(bundle),
               "--public-key", str(dev_public), "--key", staging_key, "--out", str(promoted))  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = json.loads(bundle.read_text())["dsseEnvelope"]["payload"]
    assert json.loads(promoted.read_text())["dsseEnvelope"]["payload"] == before
    assert verify(model, promoted, staging_public).returncode == 0
    # A bundle that does not verify with the previous key is never counter-signed.
    _, other_public = make_key(tmp_path, "other")
    refused = run("ci.release", "promote", str(model), "--bundle", str(bundle),
                  "--public-key", str(other_public), "--key", staging_key,
                  "--out", str(tmp_path / "x.json"))  # fmt: skip
    assert refused.returncode == 1


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    done = run("ci.release", "sign", str(tmp_path / "missing"), "--version", "1", "--sequence",
               "1", "--key", "file:/nonexistent", "--out", str(tmp_path / "b.json"))  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("error:")


class _DeviceApi:
    """A local stand-in for the device API: the release and its files over HTTP."""

    def __init__(self, folder: Path, bundle: Path, sequence: int) -> None:
        self.folder, self.bundle, self.sequence = folder, bundle, sequence
        self.tokens: list[str] = []

    def serve(self) -> Iterator[str]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                if self.path == "/releases/latest":
                    api.tokens.append(self.headers.get("Authorization", ""))
                    files = sorted(p.name for p in api.folder.iterdir())
                    body = json.dumps({
                        "version": "1.0.0", "sequence": api.sequence, "expires_in": 300,
                        "bundle": f"{base}/files/bundle",
                        "files": {n: f"{base}/files/model/{n}" for n in files},
                    }).encode()  # fmt: skip
                elif self.path == "/files/bundle":
                    body = api.bundle.read_bytes()
                elif self.path.startswith("/files/model/"):
                    body = (api.folder / self.path.rsplit("/", 1)[1]).read_bytes()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def test_the_sample_app_downloads_verifies_and_runs_offline(
    signed: tuple[Path, Path, str, Path], tmp_path: Path
) -> None:
    model, bundle, _, public = signed
    state = tmp_path / "state"
    api = _DeviceApi(model, bundle, 7)
    for url in api.serve():
        done = run("app", "--state", str(state), "update", "--api", url,
                   "--public-key", str(public), env={"DEVICE_TOKEN": "t0ken"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "installed 1.0.0 (sequence 7)"
        assert api.tokens == ["Bearer t0ken"]
    # Offline now: the server is gone.
    done = run("app", "--state", str(state), "predict", "I was charged twice",
               "--public-key", str(public))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prediction"] == "billing"
    # A file changed on the device after install: refused before the model runs.
    installed = state / "current" / "keywords.json"
    installed.write_text(installed.read_text().replace("refund", "x"))
    refused = run("app", "--state", str(state), "predict", "refund please",
                  "--public-key", str(public))  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.startswith("refused:")


def test_the_app_never_installs_a_tampered_release(
    signed: tuple[Path, Path, str, Path], tmp_path: Path
) -> None:
    model, bundle, _, public = signed
    (model / "keywords.json").write_text("{}")
    state = tmp_path / "state"
    for url in _DeviceApi(model, bundle, 7).serve():
        done = run("app", "--state", str(state), "update", "--api", url,
                   "--public-key", str(public))  # fmt: skip
    assert done.returncode == 1 and done.stderr.startswith("refused:")
    assert not (state / "current").exists()
    assert json.loads((state / "telemetry.json").read_text())["signature_failures"] == 1
