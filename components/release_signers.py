"""The cloud key services that sign model releases (the embedded pattern's per-environment key).

One adapter per key service, each a :class:`components.release_manifest.Signer`; the release
CLI picks one by the ``--key`` scheme (``components.release_cli.SIGNERS``). Kept out of the
cloud packages so a project vendors it only with the embedded pattern.

**AWS KMS** (key usage SIGN_VERIFY, spec ECC_NIST_P256; ``--key awskms:<key id, ARN or alias>``).

KMS signs a message of up to 4,096 bytes as given (``MessageType=RAW``) and anything longer
as its SHA-256 (``MessageType=DIGEST``); both give a DER ECDSA signature over SHA-256 of the
same bytes, which :func:`components.release_manifest.verify` checks with the public key. The
pipeline identity needs ``kms:Sign`` and ``kms:GetPublicKey`` on this key only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization

from components.release_manifest import load_public_key

RAW_LIMIT = 4096  # KMS Sign: the largest message signed as given


class AwsKmsSigner:
    """A KMS asymmetric key, through a boto3 KMS client (made from the default chain if not
    given)."""

    def __init__(self, key_id: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("kms")
        self._client = client
        self._key_id = key_id
        self._pem: bytes | None = None

    def public_pem(self) -> bytes:
        if self._pem is None:
            answer = self._client.get_public_key(KeyId=self._key_id)
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
        answer = self._client.sign(
            KeyId=self._key_id,
            Message=message,
            MessageType=kind,
            SigningAlgorithm="ECDSA_SHA_256",
        )
        return bytes(answer["Signature"])
