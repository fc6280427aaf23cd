"""API Gateway Lambda (TOKEN) authorizer: validates an OIDC bearer JWT (RS256) from any issuer.

Why a Lambda: a REST API's only built-in JWT check is a Cognito user-pool authorizer, which
cannot trust an arbitrary issuer; the spec names the client's issuer and audience. The function
is standard library only (deployed as this one file, no packaging step), so RSA PKCS#1 v1.5
verification is done here with ``pow`` -- 20 lines that tests exercise with real keys.

Decision logic (``verify``) is pure; ``handler`` adds the JWKS fetch (cached per container) and
the API Gateway response shape. Any failure answers "Unauthorized" (401), never a reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# DER prefix of a DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
CLOCK_SKEW_SECONDS = 60
JWKS_TTL_SECONDS = 3600


class InvalidTokenError(Exception):
    """The token must be refused."""


def b64url_decode(text: str) -> bytes:
    """Base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


def rsa_pkcs1_sha256_verify(n: int, e: int, message: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256: recompute the encoded message and compare exactly."""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k or k < len(_SHA256_DIGEST_INFO) + 32 + 11:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def verify(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: float,
) -> dict[str, Any]:
    """The token's claims when it is a valid RS256 JWT from ``issuer`` for ``audience``.

    Raises InvalidTokenError otherwise (bad shape, unknown key, bad signature, wrong issuer or
    audience, expired or not yet valid).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("not a JWS compact token")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, TypeError) as exc:
        raise InvalidTokenError("undecodable token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidTokenError("header and claims must be objects")
    # Only RS256: never let the token choose "none" or an HMAC algorithm keyed by a public key.
    if header.get("alg") != "RS256":
        raise InvalidTokenError("algorithm not allowed")
    key = next(
        (
            k
            for k in jwks.get("keys", [])
            if isinstance(k, dict) and k.get("kid") == header.get("kid") and k.get("kty") == "RSA"
        ),
        None,
    )
    if key is None:
        raise InvalidTokenError("unknown signing key")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not rsa_pkcs1_sha256_verify(_b64url_int(key["n"]), _b64url_int(key["e"]), signed, signature):
        raise InvalidTokenError("bad signature")
    if claims.get("iss") != issuer:
        raise InvalidTokenError("wrong issuer")
    aud = claims.get("aud")
    audiences: Sequence[Any] = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise InvalidTokenError("wrong audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or now > exp + CLOCK_SKEW_SECONDS:
        raise InvalidTokenError("expired")
    nbf = claims.get("nbf", claims.get("iat", 0))
    if isinstance(nbf, (int, float)) and now + CLOCK_SKEW_SECONDS < nbf:
        raise InvalidTokenError("not yet valid")
    return claims


def policy(principal: str, effect: str, resource: str) -> dict[str, Any]:
    """The response API Gateway expects from a TOKEN authorizer."""
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }


def _fetch_json(url: str) -> Any:
    if not url.startswith("https://"):
        raise InvalidTokenError("issuer metadata must be served over https")
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 # nosec B310 - https checked
        return json.loads(response.read())


_CACHE: dict[str, Any] = {}


def jwks_for(issuer: str, fetch: Callable[[str], Any] | None = None, now: float = 0.0) -> Any:
    """The issuer's JWKS via OIDC discovery, cached for JWKS_TTL_SECONDS per container."""
    fetch = fetch or _fetch_json
    cached = _CACHE.get(issuer)
    if cached and now - cached[0] < JWKS_TTL_SECONDS:
        return cached[1]
    config = fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
    jwks = fetch(str(config["jwks_uri"]))
    _CACHE[issuer] = (now, jwks)
    return jwks


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """Lambda entry point: Allow the method for a valid bearer token, else 401."""
    del context
    issuer = os.environ["JWT_ISSUER"]
    audience = os.environ["JWT_AUDIENCE"]
    raw = str(event.get("authorizationToken", ""))
    scheme, _, token = raw.partition(" ")
    now = time.time()
    try:
        if scheme.lower() != "bearer" or not token:
            raise InvalidTokenError("missing bearer token")
        claims = verify(token, jwks_for(issuer, now=now), issuer=issuer, audience=audience, now=now)
    except (InvalidTokenError, KeyError, OSError, ValueError) as exc:
        # API Gateway maps exactly this message to 401; the reason stays in our logs only.
        print(json.dumps({"decision": "deny", "reason": str(exc)}))
        raise Exception("Unauthorized") from exc  # the API Gateway contract
    return policy(str(claims.get("sub", "unknown")), "Allow", str(event["methodArn"]))
