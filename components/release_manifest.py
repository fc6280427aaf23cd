"""A signed model release, verifiable offline: the OpenSSF model-signing v1.0 format.

The embedded pattern ships a model into the client's app or device. What travels with it is one
bundle, in the format ``model_signing`` (sigstore/model-transparency) writes and verifies for a
key-signed model, so any tool of that ecosystem can check it too:

* a Sigstore bundle v0.3 (JSON) whose ``verificationMaterial.publicKey.hint`` names the signing
  key (SHA-256 of its PEM public key) and whose ``dsseEnvelope`` carries
* an in-toto Statement v1: one subject (the model's name and **root digest**, the SHA-256 over
  every file's SHA-256 in name order), predicate type ``https://model_signing/signature/v1.0``,
  the per-file digests (``predicate.resources``) and how they were taken
  (``predicate.serialization``), plus aideploy's release terms under their own predicate key
  (:data:`TERMS_KEY`: version, monotonic sequence, expiry, minimum app version, the first
  signer's key id), which v1.0 verifiers ignore;
* signed with ECDSA P-256 / SHA-256 over the DSSE pre-authentication encoding.

Promotion (staging to prod) signs the **same payload bytes** again with the next environment's
key: the new signature goes first (``model_signing`` reads the first) and the hint names its
key; earlier signatures stay, each with its key id. A device pins only its environment's public
key, and :func:`verify` accepts the bundle only through that key's signature.

:func:`verify` is what an app runs offline (``cryptography`` only): the signature by the pinned
key, then every file's digest, no file missing or added, the release sequence not older than
the last one the device accepted (no rollback), and the release not expired. Each refusal is a
:class:`RefusedError` with one line saying why.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
TERMS_KEY = "https://aideploy.dev/release/v1"
# What model_signing leaves out of a model directory by default; the bundle records the list.
DEFAULT_IGNORED = (".git", ".github", ".gitattributes", ".gitignore")
_CHUNK = 1 << 20


class RefusedError(Exception):
    """A release that must not be used; ``str()`` is one line saying why."""


class SigningError(RuntimeError):
    """The key produced a signature its own public key does not verify (a key service answer
    without one, a different key behind an alias); ``str()`` is one line."""


def _signed(signer: Signer, data: bytes) -> tuple[bytes, str]:
    """(signature, key hint) of ``data``, checked against the signer's own public key."""
    pem = signer.public_pem()
    signature = signer.sign(data)
    try:
        load_public_key(pem).verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise SigningError("the key's signature does not verify with its own public key") from exc
    return signature, key_hint(pem)


class Signer(Protocol):
    """A P-256 signing key wherever it lives (a PEM file, a cloud key service)."""

    def public_pem(self) -> bytes:
        """The public key, PEM SubjectPublicKeyInfo."""
        ...

    def sign(self, data: bytes) -> bytes:
        """A DER ECDSA signature of SHA-256(``data``)."""
        ...


@dataclass(frozen=True)
class FileEntry:
    """One file of the model and its SHA-256."""

    name: str  # path relative to the model directory, with forward slashes
    digest: str  # hex


@dataclass(frozen=True)
class Terms:
    """aideploy's release terms, signed with the files."""

    version: str
    sequence: int
    not_after: datetime
    min_app_version: str
    key_id: str  # the hint of the key that first signed this payload

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sequence": self.sequence,
            "not_after": self.not_after.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "min_app_version": self.min_app_version,
            "key_id": self.key_id,
        }


@dataclass(frozen=True)
class Release:
    """A verified release: what the app may now load."""

    name: str
    root_digest: str
    files: tuple[FileEntry, ...]
    terms: Terms


class PemFileSigner:
    """A local EC P-256 private key in a PEM file (tests, air-gapped signing)."""

    def __init__(self, path: Path, password: bytes | None = None) -> None:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=password)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"cannot read an EC private key from {path}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{path} is not an EC P-256 private key")
        self._key = key

    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM; ValueError otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the public key is not EC P-256")
    return key


def key_hint(public_pem: bytes) -> str:
    """The key's id in a bundle: SHA-256 of its PEM SubjectPublicKeyInfo (model_signing's)."""
    key = load_public_key(public_pem)
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(canonical).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _ignored(relative: Path, ignore: Sequence[str]) -> bool:
    text = relative.as_posix()
    return any(text == i or text.startswith(f"{i}/") for i in ignore)


def hash_files(model_dir: Path, ignore: Sequence[str] = DEFAULT_IGNORED) -> tuple[FileEntry, ...]:
    """Every regular file under ``model_dir`` (except ``ignore``) with its SHA-256, by name.

    Symbolic links are refused: what a link points at can change after signing."""
    entries = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if _ignored(relative, ignore):
            continue
        if path.is_symlink():
            raise RefusedError(
                f"format: {relative.as_posix()} is a symbolic link; links are not signed"
            )
        if not path.is_file():
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        entries.append(FileEntry(relative.as_posix(), digest.hexdigest()))
    return tuple(sorted(entries, key=lambda e: e.name))


def root_digest(files: Iterable[FileEntry]) -> str:
    """SHA-256 over the files' raw digests in their listed order (model_signing's root)."""
    digest = hashlib.sha256()
    for entry in files:
        digest.update(bytes.fromhex(entry.digest))
    return digest.hexdigest()


def statement(
    name: str, files: Sequence[FileEntry], terms: Terms, ignore: Sequence[str]
) -> dict[str, Any]:
    """The in-toto statement the bundle signs."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": root_digest(files)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": list(ignore),
            },
            "resources": [
                {"name": f.name, "algorithm": "sha256", "digest": f.digest} for f in files
            ],
            TERMS_KEY: terms.as_json(),
        },
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign(
    model_dir: Path,
    signer: Signer,
    *,
    name: str,
    version: str,
    sequence: int,
    expires_in: timedelta,
    min_app_version: str = "0",
    ignore: Sequence[str] = DEFAULT_IGNORED,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The bundle for ``model_dir``, signed by ``signer``."""
    if sequence < 0:
        raise ValueError("the release sequence is a non-negative integer")
    if expires_in <= timedelta(0):
        raise ValueError("a release must expire in the future")
    files = hash_files(model_dir, ignore)
    if not files:
        raise ValueError(f"{model_dir} holds no file to sign")
    hint = key_hint(signer.public_pem())
    issued = _aware(now or datetime.now(timezone.utc)).replace(microsecond=0)
    try:
        not_after = issued + expires_in
    except OverflowError as exc:
        raise ValueError("the release would expire after the year 9999") from exc
    terms = Terms(version, sequence, not_after, min_app_version, hint)
    payload = json.dumps(statement(name, files, terms, ignore), sort_keys=True).encode()
    signature, hint = _signed(signer, pae(PAYLOAD_TYPE, payload))
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": _b64(payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(signature), "keyid": hint}],
        },
    }


def _envelope(bundle: Mapping[str, Any]) -> tuple[bytes, str, list[Mapping[str, Any]]]:
    try:
        if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
            raise RefusedError(f"format: not a {BUNDLE_MEDIA_TYPE} bundle")
        envelope = bundle["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = [s for s in envelope["signatures"] if isinstance(s, Mapping)]
        return payload, str(envelope["payloadType"]), signatures
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, RefusedError):
            raise
        raise RefusedError(f"format: the bundle is malformed ({exc.__class__.__name__})") from exc


def add_signature(
    model_dir: Path,
    bundle: Mapping[str, Any],
    signer: Signer,
    previous_key: bytes,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Promotion: the release must first verify against ``model_dir`` with the previous
    environment's key (``previous_key``); then ``signer`` signs the same payload bytes. Its
    signature goes first and the hint names its key; of the earlier signatures only the
    previous key's, which was just checked, is kept."""
    verify(model_dir, bundle, previous_key, now=now)
    payload, payload_type, signatures = _envelope(bundle)
    previous_hint = key_hint(previous_key)
    signature, hint = _signed(signer, pae(payload_type, payload))
    kept = [
        {"sig": str(s.get("sig", "")), "keyid": previous_hint}
        for s in signatures
        if s.get("keyid") == previous_hint and previous_hint != hint
    ][:1]
    new = {"sig": _b64(signature), "keyid": hint}
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": _b64(payload),
            "payloadType": payload_type,
            "signatures": [new, *kept],
        },
    }


_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(?:[-+.]?([0-9A-Za-z.-]*))?\s*$")


def _version_key(version: str) -> tuple[tuple[int, ...], int]:
    """A comparable app version: numeric parts padded to three (``3.2`` equals ``3.2.0``), and
    a pre-release (``1.0-rc1``) before its release. Anything else compares as the lowest."""
    match = _VERSION.match(version)
    if match is None:
        return ((), 0)
    numbers = [int(part) for part in match.group(1).split(".")]
    numbers += [0] * (3 - len(numbers))
    pre = 0 if match.group(2) else 1
    return (tuple(numbers), pre)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must carry a time zone (use datetime.now(timezone.utc))")
    return moment


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _hex_digest(value: Any) -> str:
    digest = str(value).lower()
    if not _HEX64.match(digest):
        raise RefusedError("format: a file digest is not a SHA-256 in hex")
    return digest


def safe_name(value: Any) -> str:
    """A signed file name that stays inside the model directory: relative, forward slashes, no
    empty, ``.`` or ``..`` segment; :class:`RefusedError` otherwise."""
    name = str(value)
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise RefusedError(f"format: {name[:80]!r} is not a file name inside the model")
    return name


_safe_name = safe_name


def _parse_terms(predicate: Mapping[str, Any]) -> Terms:
    raw = predicate.get(TERMS_KEY)
    if not isinstance(raw, Mapping):
        raise RefusedError("format: the release carries no aideploy release terms")
    try:
        not_after = datetime.strptime(str(raw["not_after"]), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc
        )
        sequence = raw["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
            raise ValueError("sequence")
        return Terms(
            str(raw["version"]),
            sequence,
            not_after,
            str(raw["min_app_version"]),
            str(raw["key_id"]),
        )
    except (KeyError, ValueError) as exc:
        raise RefusedError(f"format: the release terms are malformed ({exc})") from exc


def verify(
    model_dir: Path,
    bundle: Mapping[str, Any],
    public_pem: bytes,
    *,
    min_sequence: int | None = None,
    app_version: str | None = None,
    now: datetime | None = None,
    check_expiry: bool = True,
) -> Release:
    """The release in ``model_dir``, if ``bundle`` proves it; :class:`RefusedError` otherwise.

    ``check_expiry=False`` is for a release the app accepted before: expiry bounds how long a
    release may be *installed* (a stale or replayed bundle), not how long an installed model
    may run, so a device offline past the expiry keeps working."""
    public_key = load_public_key(public_pem)
    hint = key_hint(public_pem)
    payload, payload_type, signatures = _envelope(bundle)
    if payload_type != PAYLOAD_TYPE:
        raise RefusedError(f"format: payload type {payload_type!r} is not {PAYLOAD_TYPE}")
    # Only the pinned key's signature counts; keyids only pick which one to check.
    candidates = [s for s in signatures if s.get("keyid") in (hint, "", None)]
    if not candidates:
        raise RefusedError(f"signature: the release is not signed by this key ({hint[:16]}...)")
    for candidate in candidates:
        try:
            sig = base64.b64decode(str(candidate.get("sig", "")), validate=True)
            public_key.verify(sig, pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
            break
        except (InvalidSignature, ValueError):
            continue
    else:
        raise RefusedError("signature: the signature does not verify with this key")

    try:
        document = json.loads(payload)
        subject = document["subject"]
        if document.get("predicateType") != PREDICATE_TYPE or len(subject) != 1:
            raise RefusedError("format: not a model_signing v1.0 statement with one subject")
        predicate = document["predicate"]
        name = str(subject[0]["name"])
        expected_root = str(subject[0]["digest"]["sha256"])
        ignore = [str(i) for i in predicate["serialization"].get("ignore_paths", [])]
        signed = tuple(
            FileEntry(_safe_name(r["name"]), _hex_digest(r["digest"]))
            for r in predicate["resources"]
        )
    except RefusedError:
        raise
    except Exception as exc:  # anything a malformed (even correctly signed) statement raises
        raise RefusedError(
            f"format: the signed statement is malformed ({exc.__class__.__name__})"
        ) from exc
    if root_digest(signed) != expected_root:
        raise RefusedError("digest: the signed file list does not match its root digest")
    terms = _parse_terms(predicate)

    present = {f.name: f.digest for f in hash_files(model_dir, ignore)}
    wanted = {f.name: f.digest for f in signed}
    for file_name, digest in wanted.items():
        if file_name not in present:
            raise RefusedError(f"digest: {file_name} is missing")
        if present[file_name] != digest:
            raise RefusedError(f"digest: {file_name} differs from the signed release")
    extra = sorted(set(present) - set(wanted))
    if extra:
        raise RefusedError(f"digest: {extra[0]} is not part of the signed release")

    if min_sequence is not None and terms.sequence < min_sequence:
        raise RefusedError(
            f"rollback: release sequence {terms.sequence} is older than {min_sequence}, "
            "the last one accepted"
        )
    moment = _aware(now or datetime.now(timezone.utc))
    if check_expiry and moment >= terms.not_after:
        raise RefusedError(f"expired: the release expired at {terms.as_json()['not_after']}")
    if app_version is not None and _version_key(app_version) < _version_key(terms.min_app_version):
        raise RefusedError(
            f"app: the release needs app version {terms.min_app_version} or later "
            f"(this is {app_version})"
        )
    return Release(name, expected_root, signed, terms)


def write_bundle(bundle: Mapping[str, Any], out: Path, *, force: bool = False) -> None:
    """Write ``bundle`` to ``out`` whole or not at all; an existing file only with ``force``."""
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (use --force to replace it)")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
