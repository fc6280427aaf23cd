"""Reading the release channel and signing download URLs, with the service's managed identity.

Standard library only. The service signs in as its user-assigned identity (the Container Apps
identity endpoint), reads the channel's pointer ``releases/LATEST.json`` with Storage Blob Data
Reader on the releases container, and signs **user-delegation SAS** URLs with a user
delegation key (Storage Blob Delegator on the account: the one action
``blobServices/generateUserDelegationKey/action``). Such a URL reads one blob, over HTTPS, for
a few minutes, and never more than the identity itself may read; the account's shared keys
are off, so no account-key SAS exists to leak.

Blob REST: Get Blob and Get User Delegation Key (x-ms-version :data:`STORAGE_VERSION`); the
SAS string-to-sign is the documented one for service versions 2020-12-06 and later.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET  # nosec B405 - parses Azure Storage's own answer
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

STORAGE_VERSION = "2022-11-02"  # x-ms-version of every call, and the SAS's signed version
STORAGE_RESOURCE = "https://storage.azure.com/"
BLOB_HOST = "blob.core.windows.net"
POINTER = "releases/LATEST.json"
MAX_URL_SECONDS = 3600
# A delegation key is asked for this long and replaced when it would expire before a URL.
KEY_SECONDS = 6 * 3600
# Start times are back-dated this much: a device whose clock runs slow still accepts the URL.
CLOCK_SKEW_SECONDS = 300
IDENTITY_API_VERSION = "2019-08-01"

# (method, url, headers, body) -> (HTTP status, body bytes)
Send = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]


class ChannelError(RuntimeError):
    """The channel (or the identity endpoint) refused or could not be reached."""


def urllib_send(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> tuple[int, bytes]:
    """One HTTP call; HTTP errors are answers, not exceptions. HTTPS only, except the
    platform's local identity endpoint (http://localhost or 127.0.0.1 inside the replica)."""
    parsed = urllib.parse.urlsplit(url)
    local = parsed.hostname in {"localhost", "127.0.0.1"}
    if parsed.scheme != "https" and not (parsed.scheme == "http" and local):
        raise ChannelError(f"refusing {parsed.scheme} URL to {parsed.hostname}")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # nosec B310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ChannelError(f"cannot reach {parsed.hostname}: {exc}") from exc


def iso(seconds: float) -> str:
    """UTC time as Azure Storage writes it (whole seconds, ``Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class IdentityToken:
    """Storage access tokens for one user-assigned identity, from the Container Apps identity
    endpoint (``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER``, set by the platform), cached until
    five minutes before they expire."""

    def __init__(
        self,
        client_id: str,
        endpoint: str,
        header: str,
        send: Send = urllib_send,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_id, self._endpoint, self._header = client_id, endpoint, header
        self._send, self._clock = send, clock
        self._token, self._expires = "", 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._clock() < self._expires - 300:
                return self._token
            query = urllib.parse.urlencode(
                {
                    "resource": STORAGE_RESOURCE,
                    "api-version": IDENTITY_API_VERSION,
                    "client_id": self._client_id,
                }
            )
            status, body = self._send(
                "GET", f"{self._endpoint}?{query}", {"X-IDENTITY-HEADER": self._header}, None
            )
            if status != 200:
                raise ChannelError(f"identity endpoint answered HTTP {status}")
            answer = json.loads(body)
            self._token = str(answer["access_token"])
            self._expires = float(answer.get("expires_on") or self._clock() + 600)
            return self._token


@dataclass(frozen=True)
class DelegationKey:
    """A user delegation key (Get User Delegation Key's answer)."""

    oid: str
    tid: str
    start: str
    expiry: str
    service: str
    version: str
    value: str

    @property
    def expires_at(self) -> float:
        """The key's expiry as epoch seconds."""
        return float(calendar.timegm(time.strptime(self.expiry, "%Y-%m-%dT%H:%M:%SZ")))


def parse_delegation_key(body: bytes) -> DelegationKey:
    """The key from the service's XML answer."""
    root = ET.fromstring(body)  # noqa: S314  # nosec B314 - Azure Storage's own answer

    def text(tag: str) -> str:
        found = root.findtext(tag)
        if not found:
            raise ChannelError(f"user delegation key answer has no {tag}")
        return found

    return DelegationKey(
        oid=text("SignedOid"),
        tid=text("SignedTid"),
        start=text("SignedStart"),
        expiry=text("SignedExpiry"),
        service=text("SignedService"),
        version=text("SignedVersion"),
        value=text("Value"),
    )


def string_to_sign(
    account: str, container: str, blob: str, key: DelegationKey, start: str, expiry: str
) -> str:
    """The user-delegation SAS string-to-sign (service version 2020-12-06 and later) for a
    read-only, HTTPS-only SAS on one blob."""
    fields = [
        "r",  # signedPermissions: read
        start,
        expiry,
        f"/blob/{account}/{container}/{blob}",
        key.oid,
        key.tid,
        key.start,
        key.expiry,
        key.service,
        key.version,
        "",  # signedAuthorizedUserObjectId
        "",  # signedUnauthorizedUserObjectId
        "",  # signedCorrelationId
        "",  # signedIP
        "https",  # signedProtocol
        STORAGE_VERSION,
        "b",  # signedResource: blob
        "",  # signedSnapshotTime
        "",  # signedEncryptionScope
        "",  # rscc
        "",  # rscd
        "",  # rsce
        "",  # rscl
        "",  # rsct
    ]
    return "\n".join(fields)


def sas_url(
    account: str, container: str, blob: str, key: DelegationKey, start: str, expiry: str
) -> str:
    """A read-only, HTTPS-only user-delegation SAS URL of one blob."""
    signed = string_to_sign(account, container, blob, key, start, expiry)
    digest = hmac.new(base64.b64decode(key.value), signed.encode(), hashlib.sha256).digest()
    params = {
        "sp": "r",
        "st": start,
        "se": expiry,
        "skoid": key.oid,
        "sktid": key.tid,
        "skt": key.start,
        "ske": key.expiry,
        "sks": key.service,
        "skv": key.version,
        "spr": "https",
        "sv": STORAGE_VERSION,
        "sr": "b",
        "sig": base64.b64encode(digest).decode(),
    }
    path = urllib.parse.quote(f"{container}/{blob}")
    return f"https://{account}.{BLOB_HOST}/{path}?{urllib.parse.urlencode(params)}"


class Channel:
    """One environment's release channel: the pointer, and signed URLs of its blobs."""

    def __init__(
        self,
        account: str,
        container: str,
        token: Callable[[], str],
        send: Send = urllib_send,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account, self.container = account, container
        self._token, self._send, self._clock = token, send, clock
        self._key: DelegationKey | None = None
        self._lock = threading.Lock()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}", "x-ms-version": STORAGE_VERSION}

    def read_pointer(self) -> dict[str, Any] | None:
        """The current release's pointer, or None before the first release."""
        url = f"https://{self.account}.{BLOB_HOST}/{self.container}/{POINTER}"
        status, body = self._send("GET", url, self._headers(), None)
        if status == 404:
            return None
        if status != 200:
            raise ChannelError(f"reading {POINTER} answered HTTP {status}")
        pointer = json.loads(body)
        if not isinstance(pointer, dict):
            raise ChannelError(f"{POINTER} is not a JSON object")
        return pointer

    def delegation_key(self, needed_until: float) -> DelegationKey:
        """A user delegation key valid until at least ``needed_until`` (cached)."""
        with self._lock:
            if self._key is not None and self._key.expires_at >= needed_until:
                return self._key
            now = self._clock()
            body = (
                "<?xml version='1.0' encoding='utf-8'?><KeyInfo>"
                f"<Start>{iso(now - CLOCK_SKEW_SECONDS)}</Start>"
                f"<Expiry>{iso(max(now + KEY_SECONDS, needed_until))}</Expiry></KeyInfo>"
            ).encode()
            url = f"https://{self.account}.{BLOB_HOST}/?restype=service&comp=userdelegationkey"
            status, answer = self._send("POST", url, self._headers(), body)
            if status != 200:
                raise ChannelError(f"Get User Delegation Key answered HTTP {status}")
            self._key = parse_delegation_key(answer)
            return self._key

    def url(self, blob: str, seconds: int) -> str:
        """A signed read URL of ``blob`` valid for ``seconds`` (at most an hour)."""
        seconds = max(1, min(seconds, MAX_URL_SECONDS))
        now = self._clock()
        key = self.delegation_key(now + seconds)
        return sas_url(
            self.account,
            self.container,
            blob,
            key,
            iso(now - CLOCK_SKEW_SECONDS),
            iso(now + seconds),
        )
