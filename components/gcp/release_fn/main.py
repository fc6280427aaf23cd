"""The embedded pattern's download endpoint on GCP (Cloud Function gen2 behind API Gateway).

A device that passed the gateway's JWT check asks for the current release and gets short-lived
V4 signed GET URLs for its bundle and each file, straight from the release channel. The
function reads ``releases/`` of the channel and nothing else (a conditioned objectViewer grant).
There is no private key on Cloud Run: each URL is signed by the IAM Credentials ``signBlob``
API as the function's own service account (``SIGNER``), which holds Service Account Token
Creator on itself only. The device then verifies the bundle offline with its environment's
pinned key before it loads anything: a URL grants nothing beyond reading one object for a few
minutes.

Answers, as the AWS endpoint does: 200 with the release, 404 before the first release, 502 when
the channel cannot be read or a URL cannot be signed (no internals in the body; the log line
has them). Environment: ``CHANNEL_BUCKET``, ``SIGNER``, ``URL_SECONDS`` (default 300, at most
3600). Standard library only: the function's own token comes from the metadata server.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

POINTER = "releases/LATEST.json"
MAX_URL_SECONDS = 3600
STORAGE_HOST = "storage.googleapis.com"
METADATA_CREDENTIAL_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts"

# What the handler needs from the cloud, so tests can stand in for it.
ReadObject = Callable[[str, str], "bytes | None"]  # (bucket, key) -> body, None when missing
SignBlob = Callable[[bytes], bytes]  # bytes -> RSA-SHA256 signature by the signer account


class ChannelUnreadableError(RuntimeError):
    """The channel or the signer answered with something other than the object."""


def metadata_token() -> str:
    """A fresh access token of the function's service account."""
    request = urllib.request.Request(METADATA_CREDENTIAL_URL, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310  # nosec B310
        return str(json.load(answer)["access_token"])


def _call(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # nosec B310
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def gcs_reader(token: Callable[[], str] = metadata_token) -> ReadObject:
    """Reads an object with the JSON API as the function's identity."""

    def read(bucket: str, key: str) -> bytes | None:
        url = (
            f"https://{STORAGE_HOST}/storage/v1/b/{bucket}/o/"
            f"{urllib.parse.quote(key, safe='')}?alt=media"
        )
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token()}"})
        status, body = _call(request)
        if status == 404:
            return None
        if status != 200:
            raise ChannelUnreadableError(f"Cloud Storage GET {key}: HTTP {status}")
        return body

    return read


def iam_signer(email: str, token: Callable[[], str] = metadata_token) -> SignBlob:
    """Signs with the Google-managed key of ``email`` (IAM Credentials signBlob)."""

    def sign(payload: bytes) -> bytes:
        body = json.dumps({"payload": base64.b64encode(payload).decode()}).encode()
        request = urllib.request.Request(  # noqa: S310 - a fixed https:// URL
            f"{IAM_CREDENTIALS}/{urllib.parse.quote(email, safe='@')}:signBlob",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
        )
        status, answer = _call(request)
        if status != 200:
            raise ChannelUnreadableError(f"IAM signBlob as {email}: HTTP {status}")
        return base64.b64decode(json.loads(answer)["signedBlob"])

    return sign


def signed_url(
    bucket: str,
    key: str,
    seconds: int,
    signer_email: str,
    sign: SignBlob,
    now: datetime.datetime,
) -> str:
    """A V4 signed GET URL (GOOG4-RSA-SHA256, Cloud Storage's documented canonical form)."""
    timestamp = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now.strftime('%Y%m%d')}/auto/storage/goog4_request"
    path = f"/{bucket}/{urllib.parse.quote(key, safe='/~')}"
    params = {
        "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
        "X-Goog-Credential": f"{signer_email}/{scope}",
        "X-Goog-Date": timestamp,
        "X-Goog-Expires": str(seconds),
        "X-Goog-SignedHeaders": "host",
    }
    query = "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
        for k, v in sorted(params.items())
    )
    canonical = "\n".join(
        [
            "GET",
            path,
            query,
            f"host:{STORAGE_HOST}\n",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            timestamp,
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    signature = sign(to_sign.encode()).hex()
    return f"https://{STORAGE_HOST}{path}?{query}&X-Goog-Signature={signature}"


def latest_release(
    read: ReadObject,
    bucket: str,
    seconds: int,
    signer_email: str,
    sign: SignBlob,
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The current release with signed URLs, or None before the first."""
    raw = read(bucket, POINTER)
    if raw is None:
        return None
    pointer = json.loads(raw)
    prefix = str(pointer["prefix"])

    def url(key: str) -> str:
        return signed_url(bucket, key, seconds, signer_email, sign, now)

    return {
        "version": pointer["version"],
        "sequence": pointer["sequence"],
        "expires_in": seconds,
        "bundle": url(f"{prefix}bundle.json"),
        "files": {name: url(f"{prefix}model/{name}") for name in pointer["files"]},
    }


def _answer(status: int, body: dict[str, Any]) -> tuple[str, int, dict[str, str]]:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    return json.dumps(body, sort_keys=True), status, headers


def _caller(request: Any) -> str:
    """The device's subject from the JWT claims API Gateway forwards (base64url JSON)."""
    info = (getattr(request, "headers", None) or {}).get("X-Apigateway-Api-Userinfo", "")
    try:
        claims = json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4)))
        return str(claims.get("sub", ""))[:128]
    except (ValueError, AttributeError):
        return ""


def _log(severity: str, **fields: Any) -> None:
    # One JSON line on stdout: Cloud Run stores it as a structured entry (jsonPayload).
    print(json.dumps({"severity": severity, **fields}, sort_keys=True), flush=True)


def latest(
    request: Any,
    read: ReadObject | None = None,
    sign: SignBlob | None = None,
    now: datetime.datetime | None = None,
) -> tuple[str, int, dict[str, str]]:
    """Cloud Functions entry point: GET the current release."""
    bucket = os.environ["CHANNEL_BUCKET"]
    signer_email = os.environ["SIGNER"]
    seconds = max(1, min(int(os.environ.get("URL_SECONDS", "300")), MAX_URL_SECONDS))
    read = read or gcs_reader()
    sign = sign or iam_signer(signer_email)
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        release = latest_release(read, bucket, seconds, signer_email, sign, moment)
    except Exception as exc:  # any failure reading or signing: the device retries later
        _log("ERROR", event="channel-unreadable", error=str(exc)[:300])
        return _answer(502, {"error": "the release channel cannot be read; retry later"})
    if release is None:
        return _answer(404, {"error": "no release has been published yet"})
    _log("INFO", event="release-served", sequence=release["sequence"],
         version=release["version"], caller=_caller(request))  # fmt: skip
    return _answer(200, release)
