"""The cloud key services that sign model releases (the embedded pattern's per-environment key).

One adapter per key service, each a :class:`components.release_manifest.Signer`; the release
CLI picks one by the ``--key`` scheme (``components.release_cli.SIGNERS``). Kept out of the
cloud packages so a project vendors it only with the embedded pattern.

**AWS KMS** (key usage SIGN_VERIFY, spec ECC_NIST_P256; ``--key awskms:<key id, ARN or alias>``),
through boto3. **Azure Key Vault** and **Cloud KMS** through their REST APIs, with the token the
Azure CLI or gcloud prints (CI logs in with OIDC first), as the release watches do.

KMS signs a message of up to 4,096 bytes as given (``MessageType=RAW``) and anything longer
as its SHA-256 (``MessageType=DIGEST``); both give a DER ECDSA signature over SHA-256 of the
same bytes, which :func:`components.release_manifest.verify` checks with the public key. The
pipeline identity needs ``kms:Sign`` and ``kms:GetPublicKey`` on this key only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess  # nosec B404 - the cloud CLIs print the key service's token
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from components.release_manifest import load_public_key


class KeyServiceError(RuntimeError):
    """The key service refused or could not be reached; ``str()`` is one line."""


RAW_LIMIT = 4096  # KMS Sign: the largest message signed as given


class AwsKmsSigner:
    """A KMS asymmetric key, through a boto3 KMS client (made from the default chain if not
    given)."""

    def __init__(self, key_id: str, client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.exceptions import BotoCoreError

            try:
                client = boto3.client("kms")
            except BotoCoreError as exc:  # no region, no credentials configuration
                raise KeyServiceError(f"KMS client for {key_id}: {exc}") from exc
        self._client = client
        self._key_id = key_id
        self._pem: bytes | None = None

    def _call(self, operation: str, **params: Any) -> Any:
        """One KMS call; the SDK's errors become one line (the key, the operation, why)."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = {"GetPublicKey": "get_public_key", "Sign": "sign"}[operation]
        try:
            return getattr(self._client, method)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise KeyServiceError(
                f"KMS {operation} on {self._key_id}: {error.get('Code')} {error.get('Message')}"
            ) from exc
        except BotoCoreError as exc:
            raise KeyServiceError(f"KMS {operation} on {self._key_id}: {exc}") from exc

    def public_pem(self) -> bytes:
        if self._pem is None:
            answer = self._call("GetPublicKey", KeyId=self._key_id)
            if answer.get("KeySpec") not in (None, "ECC_NIST_P256"):
                raise ValueError(
                    f"KMS key {self._key_id} is {answer['KeySpec']}, not ECC_NIST_P256"
                )
            key = serialization.load_der_public_key(answer["PublicKey"])
            pem = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            try:  # the answer's KeySpec may be absent (older APIs, emulators): the key decides
                load_public_key(pem)
            except ValueError as exc:
                raise ValueError(f"KMS key {self._key_id}: {exc}") from exc
            self._pem = pem
        return self._pem

    def sign(self, data: bytes) -> bytes:
        if len(data) <= RAW_LIMIT:
            message, kind = data, "RAW"
        else:
            message, kind = hashlib.sha256(data).digest(), "DIGEST"
        answer = self._call(
            "Sign",
            KeyId=self._key_id,
            Message=message,
            MessageType=kind,
            SigningAlgorithm="ECDSA_SHA_256",
        )
        return bytes(answer["Signature"])


# ---------------------------------------------------------------------------- REST key services
# (method, url, bearer token, JSON body or None) -> (HTTP status, JSON answer)
Send = Callable[[str, str, str, Any], tuple[int, Any]]


def https_send(method: str, url: str, token: str, body: Any) -> tuple[int, Any]:
    """One HTTPS JSON request; HTTP errors are answers, not exceptions."""
    if not url.startswith("https://"):
        raise KeyServiceError(f"refusing non-HTTPS URL {url!r}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - HTTPS only (checked above)
        url, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310  # nosec B310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise KeyServiceError(f"cannot reach {url.split('/')[2]}: {exc}") from exc


def _cli_token(argv: list[str]) -> str:
    tool = shutil.which(argv[0])
    if tool is None:
        raise KeyServiceError(f"{argv[0]} is not installed (it provides the key service's token)")
    done = subprocess.run(  # nosec B603 - fixed arguments, no shell
        [tool, *argv[1:]], capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0 or not done.stdout.strip():
        # One line: the CLI's last non-empty line says why (its earlier lines are context).
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1][:200] if lines else f"exit {done.returncode}"
        raise KeyServiceError(f"{' '.join(argv[:3])} failed: {why}")
    return done.stdout.strip()


def _message(answer: Any) -> str:
    """The service's own error text (Azure and Google both answer {"error": {"message"}})."""
    if isinstance(answer, Mapping) and isinstance(answer.get("error"), Mapping):
        return str(answer["error"].get("message", ""))[:200]
    return ""


def _checked(status: int, answer: Any, what: str) -> Mapping[str, Any]:
    if status >= 300 or not isinstance(answer, Mapping):
        raise KeyServiceError(f"{what}: HTTP {status} {_message(answer)}".rstrip())
    return answer


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


AZURE_KEYVAULT_API = "7.4"
_AZ_TOKEN = ["az", "account", "get-access-token", "--resource", "https://vault.azure.net"]


def _azure_vault_token() -> str:
    """A Key Vault token from the Azure CLI's login."""
    return _cli_token([*_AZ_TOKEN, "--query", "accessToken", "--output", "tsv"])


class AzureKeyVaultSigner:
    """A Key Vault EC key on P-256 (``--key azurekv:https://<vault>.vault.azure.net/keys/<name>``,
    optionally ``/<version>``); the pipeline identity needs the key's sign and get permissions
    (Key Vault Crypto User on this key). Signs with the version whose public key it read, so a
    rotation between the two calls cannot mix keys. ES256 answers r||s; DSSE wants DER."""

    def __init__(
        self, key_id: str, send: Send = https_send, token: Callable[[], str] | None = None
    ):
        if not re.match(r"^https://[^/]+\.vault\.azure\.net/keys/[^/]+(/[^/]+)?$", key_id):
            raise ValueError(
                f"azurekv key {key_id!r}: expected https://<vault>.vault.azure.net/keys/<name>"
            )
        self._key_id = key_id
        self._send = send
        self._token = token or _azure_vault_token
        self._versioned = ""
        self._pem: bytes | None = None

    def public_pem(self) -> bytes:
        if self._pem is None:
            url = f"{self._key_id}?api-version={AZURE_KEYVAULT_API}"
            answer = _checked(*self._send("GET", url, self._token(), None), "Key Vault get key")
            jwk = answer.get("key") or {}
            if jwk.get("kty") not in ("EC", "EC-HSM") or jwk.get("crv") != "P-256":
                raise ValueError(f"Key Vault key {self._key_id} is not an EC P-256 key")
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(_b64url_decode(jwk["x"]), "big"),
                int.from_bytes(_b64url_decode(jwk["y"]), "big"),
                ec.SECP256R1(),
            )
            self._pem = numbers.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self._versioned = str(jwk.get("kid") or self._key_id)
        return self._pem

    def sign(self, data: bytes) -> bytes:
        self.public_pem()
        url = f"{self._versioned}/sign?api-version={AZURE_KEYVAULT_API}"
        body = {"alg": "ES256", "value": _b64url(hashlib.sha256(data).digest())}
        answer = _checked(*self._send("POST", url, self._token(), body), "Key Vault sign")
        raw = _b64url_decode(str(answer.get("value", "")))
        if len(raw) != 64:
            raise KeyServiceError(
                f"Key Vault sign: expected a 64-byte ES256 signature, got {len(raw)}"
            )
        return encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )


GCP_KMS_API = "https://cloudkms.googleapis.com/v1"


class GcpKmsSigner:
    """A Cloud KMS key version of purpose ASYMMETRIC_SIGN, algorithm EC_SIGN_P256_SHA256
    (``--key gcpkms:projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>/cryptoKeyVersions/<v>``:
    Cloud KMS signs with a version); the pipeline identity needs
    ``cloudkms.cryptoKeyVersions.useToSign`` and ``viewPublicKey`` on this key."""

    def __init__(self, name: str, send: Send = https_send, token: Callable[[], str] | None = None):
        if not re.match(
            r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+"
            r"/cryptoKeyVersions/[^/]+$",
            name,
        ):
            raise ValueError(
                f"gcpkms key {name!r}: expected projects/<p>/locations/<l>/keyRings/<r>/"
                "cryptoKeys/<k>/cryptoKeyVersions/<v>"
            )
        self._name = name
        self._send = send
        self._token = token or (lambda: _cli_token(["gcloud", "auth", "print-access-token"]))
        self._pem: bytes | None = None

    def public_pem(self) -> bytes:
        if self._pem is None:
            url = f"{GCP_KMS_API}/{self._name}/publicKey"
            answer = _checked(*self._send("GET", url, self._token(), None), "Cloud KMS publicKey")
            if answer.get("algorithm") != "EC_SIGN_P256_SHA256":
                raise ValueError(
                    f"Cloud KMS key {self._name} is {answer.get('algorithm')}, "
                    "not EC_SIGN_P256_SHA256"
                )
            self._pem = str(answer.get("pem", "")).encode()
        return self._pem

    def sign(self, data: bytes) -> bytes:
        url = f"{GCP_KMS_API}/{self._name}:asymmetricSign"
        body = {"digest": {"sha256": base64.b64encode(hashlib.sha256(data).digest()).decode()}}
        answer = _checked(*self._send("POST", url, self._token(), body), "Cloud KMS asymmetricSign")
        if answer.get("name") not in (None, self._name):
            raise KeyServiceError(f"Cloud KMS asymmetricSign answered for {answer.get('name')}")
        return base64.b64decode(str(answer.get("signature", "")))
