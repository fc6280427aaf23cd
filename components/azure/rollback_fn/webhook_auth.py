"""Who may call the rollback service: Azure Monitor's action groups, with an Entra token (B1).

The action group's webhook receiver has ``useAadAuth`` on: Azure Monitor's action-group
application (:data:`ACTION_GROUP_APP_ID`, Microsoft's documented id for secure webhooks) gets an
Entra access token for this stack's webhook application and sends it as ``Authorization: Bearer``.
The service accepts a request only when that token

* is an RS256 JWT signed by one of the tenant's published signing keys (``kid``);
* was issued by the tenant (v1 ``https://sts.windows.net/<tenant>/`` or v2
  ``https://login.microsoftonline.com/<tenant>/v2.0``);
* is for this stack's webhook application (``aud`` = its identifier URI or client id);
* was obtained by Azure Monitor (``appid`` / ``azp`` = :data:`ACTION_GROUP_APP_ID`);
* is within its validity (``nbf`` / ``exp``, a few minutes of clock skew allowed).

Anything else is refused before the body is read. Standard library only (RSA verification is
``pow`` and a PKCS#1 v1.5 comparison); the key fetch is injectable so tests sign their own tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Azure Monitor's action-group Entra application ("AZNS AAD Webhook"), the same in every tenant.
ACTION_GROUP_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"
# The app role the webhook application grants that application (Microsoft's secure-webhook setup).
WEBHOOK_APP_ROLE = "ActionGroupsSecureWebhook"
LEEWAY_SECONDS = 300
KEY_REFRESH_SECONDS = 300
# ASN.1 DigestInfo prefix of a SHA-256 digest (RFC 8017, section 9.2, note 1).
_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


class UnauthorizedError(Exception):
    """The request carries no token this service accepts (the reason is logged, not returned)."""


@dataclass(frozen=True)
class TokenPolicy:
    """What a caller's token must say."""

    tenant_id: str
    audiences: frozenset[str]
    app_ids: frozenset[str] = frozenset({ACTION_GROUP_APP_ID})
    leeway: int = LEEWAY_SECONDS

    @property
    def issuers(self) -> frozenset[str]:
        """The tenant's v1 and v2 token issuers."""
        t = self.tenant_id
        return frozenset(
            {f"https://sts.windows.net/{t}/", f"https://login.microsoftonline.com/{t}/v2.0"}
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TokenPolicy:
        """From the service's settings; a missing tenant or audience refuses every call."""
        tenant = env.get("ROLLBACK_WEBHOOK_TENANT_ID", "").strip()
        audiences = frozenset(
            a.strip() for a in env.get("ROLLBACK_WEBHOOK_AUDIENCES", "").split(",") if a.strip()
        )
        if not tenant or not audiences:
            raise UnauthorizedError("the service has no webhook tenant or audience configured")
        return cls(tenant, audiences)


def jwks_url(tenant_id: str) -> str:
    """Where the tenant publishes its token signing keys (v1 and v2 tokens share them)."""
    return f"https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys"


def urllib_fetch(url: str) -> Mapping[str, Any]:
    """The real key fetch: one HTTPS GET of a JWKS document."""
    if not url.startswith("https://login.microsoftonline.com/"):
        raise ValueError(f"refusing a key URL outside Entra ID: {url!r}")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 # nosec B310 - checked
        body = json.loads(response.read())
    return body if isinstance(body, Mapping) else {}


@dataclass
class KeySet:
    """The tenant's RSA signing keys by ``kid``, fetched on first use and again (at most every
    :data:`KEY_REFRESH_SECONDS`) when a token names a key not seen yet (Entra rolls keys)."""

    url: str
    fetch: Callable[[str], Mapping[str, Any]] = urllib_fetch
    clock: Callable[[], float] = time.time
    _keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    _fetched: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, kid: str) -> tuple[int, int]:
        """(modulus, exponent) of key ``kid``."""
        with self._lock:
            if kid not in self._keys and self.clock() - self._fetched >= KEY_REFRESH_SECONDS:
                self._keys = parse_jwks(self.fetch(self.url))
                self._fetched = self.clock()
            if kid not in self._keys:
                raise UnauthorizedError(f"token signed with an unknown key {kid!r}")
            return self._keys[kid]


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parse_jwks(document: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """RSA keys of a JWKS document: kid -> (n, e)."""
    keys: dict[str, tuple[int, int]] = {}
    for key in document.get("keys") or []:
        if not isinstance(key, Mapping) or key.get("kty") != "RSA" or not key.get("kid"):
            continue
        try:
            n = int.from_bytes(_b64url(str(key["n"])), "big")
            e = int.from_bytes(_b64url(str(key["e"])), "big")
        except (KeyError, ValueError):
            continue
        keys[str(key["kid"])] = (n, e)
    return keys


def rs256_valid(message: bytes, signature: bytes, n: int, e: int) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256: does ``signature`` sign ``message`` under (n, e)?"""
    size = (n.bit_length() + 7) // 8
    if len(signature) != size or size < 256:  # under 2048-bit keys are not accepted
        return False
    value = int.from_bytes(signature, "big")
    if value >= n:
        return False
    decoded = pow(value, e, n).to_bytes(size, "big")
    digest = _SHA256_PREFIX + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    return hmac.compare_digest(decoded, expected)


def verify(
    authorization: str | None,
    policy: TokenPolicy,
    keys: KeySet,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The token's claims, or :class:`UnauthorizedError` saying why it is refused."""
    if not authorization or not authorization.startswith("Bearer "):
        raise UnauthorizedError("no bearer token")
    token = authorization[len("Bearer ") :].strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise UnauthorizedError("not a JWS compact token")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except ValueError as exc:
        raise UnauthorizedError(f"unreadable token: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise UnauthorizedError("unreadable token")
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise UnauthorizedError(f"token algorithm {header.get('alg')!r} is not RS256 with a key id")
    n, e = keys.get(header["kid"])
    if not rs256_valid(f"{parts[0]}.{parts[1]}".encode(), signature, n, e):
        raise UnauthorizedError("bad token signature")
    moment = now()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, (int, float)) or exp + policy.leeway < moment:
        raise UnauthorizedError("token expired")
    if isinstance(nbf, (int, float)) and nbf - policy.leeway > moment:
        raise UnauthorizedError("token not valid yet")
    if claims.get("iss") not in policy.issuers:
        raise UnauthorizedError(f"token issuer {claims.get('iss')!r} is not the tenant")
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if not any(a in policy.audiences for a in audiences):
        raise UnauthorizedError(f"token audience {claims.get('aud')!r} is not this service")
    caller = claims.get("appid", claims.get("azp"))
    if caller not in policy.app_ids:
        raise UnauthorizedError(f"token obtained by {caller!r}, not Azure Monitor's action groups")
    return claims
