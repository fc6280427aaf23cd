"""The JWT authorizer's decision logic with real RSA keys (generated here, pure Python)."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from typing import Any

import pytest

from components.aws import jwt_authorizer as authz

ISSUER = "https://login.example.com"
AUDIENCE = "api"
NOW = 1_800_000_000.0
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(20):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if _is_probable_prime(candidate, rng):
            return candidate


class Key:
    """A 1024-bit RSA key pair (deterministic seed: tests stay reproducible)."""

    def __init__(self, seed: int, kid: str) -> None:
        rng = random.Random(seed)
        self.e = 65537
        while True:
            p, q = _prime(512, rng), _prime(512, rng)
            phi = (p - 1) * (q - 1)
            if p != q and phi % self.e:
                break
        self.n, self.d, self.kid = p * q, pow(self.e, -1, phi), kid

    def jwk(self) -> dict[str, str]:
        def enc(i: int) -> str:
            raw = i.to_bytes((i.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return {"kty": "RSA", "kid": self.kid, "n": enc(self.n), "e": enc(self.e)}

    def sign(self, message: bytes) -> bytes:
        k = (self.n.bit_length() + 7) // 8
        t = DIGEST_INFO + hashlib.sha256(message).digest()
        em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        return pow(int.from_bytes(em, "big"), self.d, self.n).to_bytes(k, "big")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(key: Key, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    head = b64(json.dumps(header or {"alg": "RS256", "kid": key.kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(key.sign(f'{head}.{body}'.encode()))}"


KEY = Key(7, "k1")
OTHER = Key(11, "k1")  # same kid, different key: a forgery attempt
JWKS = {"keys": [KEY.jwk()]}
GOOD = {"iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "exp": NOW + 600, "iat": NOW - 10}


def check(tok: str) -> dict[str, Any]:
    return authz.verify(tok, JWKS, issuer=ISSUER, audience=AUDIENCE, now=NOW)


def test_valid_token_yields_its_claims() -> None:
    assert check(token(KEY, GOOD))["sub"] == "client-1"
    assert check(token(KEY, {**GOOD, "aud": ["other", AUDIENCE]}))["sub"] == "client-1"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({**GOOD, "iss": "https://evil.example.com"}, "wrong issuer"),
        ({**GOOD, "aud": "other"}, "wrong audience"),
        ({**GOOD, "exp": NOW - 3600}, "expired"),
        ({k: v for k, v in GOOD.items() if k != "exp"}, "expired"),
        ({**GOOD, "nbf": NOW + 3600}, "not yet valid"),
    ],
)
def test_claims_are_enforced(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(authz.InvalidTokenError, match=reason):
        check(token(KEY, claims))


def test_signature_from_another_key_is_refused() -> None:
    with pytest.raises(authz.InvalidTokenError, match="bad signature"):
        check(token(OTHER, GOOD))


def test_tampered_claims_are_refused() -> None:
    head, _, sig = token(KEY, GOOD).split(".")
    forged = b64(json.dumps({**GOOD, "sub": "admin"}).encode())
    with pytest.raises(authz.InvalidTokenError, match="bad signature"):
        check(f"{head}.{forged}.{sig}")


@pytest.mark.parametrize(
    "header",
    [{"alg": "none", "kid": "k1"}, {"alg": "HS256", "kid": "k1"}, {"alg": "RS256", "kid": "x"}],
)
def test_algorithm_and_key_are_not_the_tokens_choice(header: dict[str, Any]) -> None:
    with pytest.raises(authz.InvalidTokenError):
        check(token(KEY, GOOD, header))


@pytest.mark.parametrize("bad", ["", "a.b", "!!.??.**", "e30.e30.", "bm90anNvbg.e30.AA"])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(authz.InvalidTokenError):
        check(bad)


def test_handler_allows_valid_bearer_and_denies_everything_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    monkeypatch.setenv("JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setattr("components.aws.jwt_authorizer.time.time", lambda: NOW)
    fetched: list[str] = []

    def fetch(url: str) -> Any:
        fetched.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return {"jwks_uri": "https://login.example.com/jwks"}
        return JWKS

    monkeypatch.setattr(authz, "_fetch_json", fetch)
    monkeypatch.setattr(authz, "_CACHE", {})
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/POST/predict"
    ok = authz.handler({"authorizationToken": f"Bearer {token(KEY, GOOD)}", "methodArn": arn})
    assert ok["principalId"] == "client-1"
    assert ok["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}
    ]
    for raw in (f"Basic {token(KEY, GOOD)}", "Bearer", f"Bearer {token(OTHER, GOOD)}"):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authz.handler({"authorizationToken": raw, "methodArn": arn})
    # Discovery then keys, once: later calls use the per-container cache.
    assert fetched == [
        "https://login.example.com/.well-known/openid-configuration",
        "https://login.example.com/jwks",
    ]


def test_jwks_is_fetched_once_per_ttl() -> None:
    calls: list[str] = []

    def fetch(url: str) -> Any:
        calls.append(url)
        return {"jwks_uri": "https://login.example.com/jwks"} if "well-known" in url else JWKS

    authz._CACHE.clear()
    assert authz.jwks_for(ISSUER, fetch, now=NOW) == JWKS
    assert authz.jwks_for(ISSUER, fetch, now=NOW + 60) == JWKS
    assert len(calls) == 2
    authz.jwks_for(ISSUER, fetch, now=NOW + authz.JWKS_TTL_SECONDS + 1)
    assert len(calls) == 4


def test_issuer_metadata_must_be_https() -> None:
    with pytest.raises(authz.InvalidTokenError):
        authz._fetch_json("http://login.example.com/.well-known/openid-configuration")
