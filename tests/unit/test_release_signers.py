"""Azure Key Vault and Cloud KMS signers against recorded answers, including refusals.

The answers have the shapes the services document (Key Vault 7.4 ``GET key`` / ``sign``;
Cloud KMS v1 ``publicKey`` / ``asymmetricSign``); their signatures are made by a local P-256 key
over exactly what the signer sent, so a bundle signed through them verifies with that key. No
emulator of either service exists to run here.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from components import release_cli
from components import release_manifest as rm
from components.release_signers import (
    AzureKeyVaultSigner,
    GcpKmsSigner,
    KeyServiceError,
)

VAULT_KEY = "https://acme-prod-kv.vault.azure.net/keys/release-signing"
VERSIONED = f"{VAULT_KEY}/0f3c9a1b2c3d4e5f"
GCP_KEY = (
    "projects/acme-prod/locations/europe-west1/keyRings/aideploy/cryptoKeys/release/"
    "cryptoKeyVersions/1"
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Service:
    """Recorded answers, keyed by (method, URL); every request is kept."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.requests: list[tuple[str, str, Any]] = []
        self.overrides: dict[tuple[str, str], tuple[int, Any]] = {}

    def send(self, method: str, url: str, token: str, body: Any) -> tuple[int, Any]:
        assert token == "token"
        self.requests.append((method, url, body))
        if (method, url) in self.overrides:
            return self.overrides[(method, url)]
        return self.answer(method, url, body)

    def answer(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def sign_digest(self, digest: bytes) -> bytes:
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


class KeyVault(Service):
    def answer(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        numbers = self.key.public_key().public_numbers()
        if method == "GET" and url == f"{VAULT_KEY}?api-version=7.4":
            jwk = {
                "kid": VERSIONED,
                "kty": "EC-HSM",
                "crv": "P-256",
                "key_ops": ["sign", "verify"],
                "x": _b64url(numbers.x.to_bytes(32, "big")),
                "y": _b64url(numbers.y.to_bytes(32, "big")),
            }
            return 200, {"key": jwk, "attributes": {"enabled": True}}
        if method == "POST" and url == f"{VERSIONED}/sign?api-version=7.4":
            assert body["alg"] == "ES256"
            digest = base64.urlsafe_b64decode(body["value"] + "=" * (-len(body["value"]) % 4))
            r, s = decode_dss_signature(self.sign_digest(digest))
            return 200, {
                "kid": VERSIONED,
                "value": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
            }
        return 404, {"error": {"code": "KeyNotFound", "message": f"no {url}"}}


class CloudKms(Service):
    def answer(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        base = f"https://cloudkms.googleapis.com/v1/{GCP_KEY}"
        if method == "GET" and url == f"{base}/publicKey":
            pem = self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return 200, {"pem": pem.decode(), "algorithm": "EC_SIGN_P256_SHA256", "name": GCP_KEY}
        if method == "POST" and url == f"{base}:asymmetricSign":
            digest = base64.b64decode(body["digest"]["sha256"])
            signature = self.sign_digest(digest)
            return 200, {"signature": base64.b64encode(signature).decode(), "name": GCP_KEY}
        return 404, {"error": {"code": 404, "message": f"no {url}", "status": "NOT_FOUND"}}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "m"
    root.mkdir()
    (root / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    return root


def _signers() -> list[tuple[str, Any]]:
    return [
        ("azure", lambda svc: AzureKeyVaultSigner(VAULT_KEY, send=svc.send, token=lambda: "token")),
        ("gcp", lambda svc: GcpKmsSigner(GCP_KEY, send=svc.send, token=lambda: "token")),
    ]


SERVICES = {"azure": KeyVault, "gcp": CloudKms}


@pytest.mark.parametrize(("cloud", "make"), _signers(), ids=["azure", "gcp"])
def test_cloud_key_signs_a_release_that_verifies_with_its_public_key(
    cloud: str, make: Any, model: Path
) -> None:
    service = SERVICES[cloud](ec.generate_private_key(ec.SECP256R1()))
    signer = make(service)
    bundle = rm.sign(model, signer, name="m", version="1", sequence=4, expires_in=timedelta(days=9))
    public = service.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert rm.verify(model, bundle, public).terms.sequence == 4
    assert signer.public_pem() == public
    # Only the digest left the machine, never the payload.
    sent = [body for _, _, body in service.requests if body is not None]
    assert sent and all(len(json.dumps(b)) < 200 for b in sent)


def test_azure_signs_with_the_version_whose_public_key_it_read(model: Path) -> None:
    service = KeyVault(ec.generate_private_key(ec.SECP256R1()))
    signer = AzureKeyVaultSigner(VAULT_KEY, send=service.send, token=lambda: "token")
    rm.sign(model, signer, name="m", version="1", sequence=1, expires_in=timedelta(days=1))
    posts = [url for method, url, _ in service.requests if method == "POST"]
    assert posts == [f"{VERSIONED}/sign?api-version=7.4"]


@pytest.mark.parametrize(("cloud", "make"), _signers(), ids=["azure", "gcp"])
def test_a_refused_sign_is_one_line(cloud: str, make: Any, model: Path) -> None:
    service = SERVICES[cloud](ec.generate_private_key(ec.SECP256R1()))
    signer = make(service)
    signer.public_pem()
    url = (
        f"{VERSIONED}/sign?api-version=7.4"
        if cloud == "azure"
        else f"https://cloudkms.googleapis.com/v1/{GCP_KEY}:asymmetricSign"
    )
    message = "Caller is not authorized to perform action on resource."
    service.overrides[("POST", url)] = (403, {"error": {"code": "Forbidden", "message": message}})
    with pytest.raises(KeyServiceError) as refused:
        rm.sign(model, signer, name="m", version="1", sequence=1, expires_in=timedelta(days=1))
    assert str(refused.value).endswith(f"HTTP 403 {message}")
    assert "\n" not in str(refused.value)


def test_keys_of_the_wrong_kind_are_refused() -> None:
    service = KeyVault(ec.generate_private_key(ec.SECP256R1()))
    rsa_answer = {"key": {"kid": VERSIONED, "kty": "RSA-HSM", "n": "AQAB", "e": "AQAB"}}
    service.overrides[("GET", f"{VAULT_KEY}?api-version=7.4")] = (200, rsa_answer)
    with pytest.raises(ValueError, match="not an EC P-256 key"):
        AzureKeyVaultSigner(VAULT_KEY, send=service.send, token=lambda: "token").public_pem()
    kms = CloudKms(ec.generate_private_key(ec.SECP256R1()))
    url = f"https://cloudkms.googleapis.com/v1/{GCP_KEY}/publicKey"
    kms.overrides[("GET", url)] = (200, {"pem": "x", "algorithm": "RSA_SIGN_PSS_2048_SHA256"})
    with pytest.raises(ValueError, match="RSA_SIGN_PSS_2048_SHA256, not EC_SIGN_P256_SHA256"):
        GcpKmsSigner(GCP_KEY, send=kms.send, token=lambda: "token").public_pem()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "azurekv:https://example.com/keys/k",
            "expected https://<vault>.vault.azure.net/keys/<name>",
        ),
        ("gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k", "cryptoKeyVersions/<v>"),
    ],
)
def test_key_names_are_checked_before_any_call(
    key: str, message: str, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "sign",
        str(model),
        "--version",
        "1",
        "--sequence",
        "1",
        "--key",
        key,
        "--out",
        str(tmp_path / "b.json"),
    ]
    assert release_cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "b.json").exists()


def test_a_key_service_failure_exits_1_with_one_line(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = CloudKms(ec.generate_private_key(ec.SECP256R1()))
    url = f"https://cloudkms.googleapis.com/v1/{GCP_KEY}/publicKey"
    service.overrides[("GET", url)] = (
        404,
        {"error": {"code": 404, "message": "CryptoKeyVersion not found"}},
    )
    monkeypatch.setitem(
        release_cli.SIGNERS,
        "gcpkms",
        lambda spec: GcpKmsSigner(spec, send=service.send, token=lambda: "token"),
    )
    out = tmp_path / "b.json"
    argv = [
        "sign",
        str(model),
        "--version",
        "1",
        "--sequence",
        "1",
        "--key",
        f"gcpkms:{GCP_KEY}",
        "--out",
        str(out),
    ]
    assert release_cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err == "failed: Cloud KMS publicKey: HTTP 404 CryptoKeyVersion not found"
    assert not out.exists()


def test_a_signature_that_does_not_verify_is_a_failure_not_a_bundle(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Cloud KMS answer without a signature (or from another key) never becomes a bundle."""
    service = CloudKms(ec.generate_private_key(ec.SECP256R1()))
    url = f"https://cloudkms.googleapis.com/v1/{GCP_KEY}:asymmetricSign"
    service.overrides[("POST", url)] = (200, {"name": GCP_KEY})
    monkeypatch.setitem(
        release_cli.SIGNERS,
        "gcpkms",
        lambda spec: GcpKmsSigner(spec, send=service.send, token=lambda: "token"),
    )
    out = tmp_path / "b.json"
    argv = [
        "sign",
        str(model),
        "--version",
        "1",
        "--sequence",
        "1",
        "--key",
        f"gcpkms:{GCP_KEY}",
        "--out",
        str(out),
    ]
    assert release_cli.main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        "failed: the key's signature does not verify with its own public key"
    )
    assert not out.exists()


def test_a_failing_token_cli_is_one_line_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """gcloud and az print several lines on failure; the error keeps the one that says why."""
    import subprocess

    from components import release_signers

    monkeypatch.setattr(release_signers.shutil, "which", lambda name: f"/usr/bin/{name}")
    stderr = "WARNING: something\n\nERROR: (gcloud.auth.print-access-token) not logged in\n"
    monkeypatch.setattr(
        release_signers.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 1, stdout="", stderr=stderr),
    )
    with pytest.raises(release_signers.KeyServiceError) as caught:
        release_signers._cli_token(["gcloud", "auth", "print-access-token"])
    assert str(caught.value) == (
        "gcloud auth print-access-token failed: "
        "ERROR: (gcloud.auth.print-access-token) not logged in"
    )
