"""The rollback service accepts only Azure Monitor's Entra token for the stack's webhook app (B1).

Tokens are signed here with a test RSA key published through an injected JWKS fetch, so every
claim the service checks is exercised: signature, key id, algorithm, issuer, audience, caller
application and validity window; and the HTTP server answers 401 before reading the body.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from components.azure import rollout
from components.azure.rollback_fn import server, webhook_auth
from components.azure.rollback_fn.webhook_auth import (
    ACTION_GROUP_APP_ID,
    KeySet,
    TokenPolicy,
    UnauthorizedError,
    verify,
)

TENANT = "44444444-4444-4444-4444-444444444444"
AUDIENCE = rollout.webhook_identifier_uri(TENANT, "acme-support", "prod")
NOW = 1_800_000_000.0
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "n": b64(n), "e": b64(numbers.e.to_bytes(3, "big"))}


def token(key: rsa.RSAPrivateKey = KEY, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    body = {
        "iss": f"https://sts.windows.net/{TENANT}/",
        "aud": AUDIENCE,
        "appid": ACTION_GROUP_APP_ID,
        "nbf": NOW - 60,
        "exp": NOW + 3600,
        "roles": [webhook_auth.WEBHOOK_APP_ROLE],
        **claims,
    }
    head = b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps({k: v for k, v in body.items() if v is not None}).encode())
    signature = key.sign(f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"Bearer {head}.{payload}.{b64(signature)}"


class Jwks:
    """An injected key fetch that counts its calls."""

    def __init__(self, *keys: dict[str, str]) -> None:
        self.keys = list(keys)
        self.calls = 0

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.calls += 1
        assert url == webhook_auth.jwks_url(TENANT)
        return {"keys": self.keys}


POLICY = TokenPolicy(TENANT, frozenset({AUDIENCE}))


def keyset(fetch: Jwks | None = None) -> KeySet:
    return KeySet(webhook_auth.jwks_url(TENANT), fetch or Jwks(jwk(KEY, "k1")), clock=lambda: NOW)


def check(header: str | None, keys: KeySet | None = None) -> dict[str, Any]:
    return verify(header, POLICY, keys or keyset(), now=lambda: NOW)


def test_azure_monitors_token_for_this_app_is_accepted() -> None:
    assert check(token())["appid"] == ACTION_GROUP_APP_ID
    v2 = token(
        iss=f"https://login.microsoftonline.com/{TENANT}/v2.0", appid=None, azp=ACTION_GROUP_APP_ID
    )
    assert check(v2)["azp"] == ACTION_GROUP_APP_ID


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no bearer token"),
        ("Basic dXNlcjpwYXNz", "no bearer token"),
        ("Bearer not-a-jwt", "not a JWS"),
        (token(key=OTHER_KEY), "bad token signature"),
        (token(kid="unknown"), "unknown key"),
        (token(alg="HS256"), "not RS256"),
        (token(iss="https://sts.windows.net/55555555-5555-5555-5555-555555555555/"), "issuer"),
        (token(aud="api://someone-else"), "audience"),
        (token(appid="11111111-1111-1111-1111-111111111111"), "not Azure Monitor"),
        (token(exp=NOW - 3600), "expired"),
        (token(nbf=NOW + 3600), "not valid yet"),
    ],
    ids=[
        "missing",
        "basic",
        "garbage",
        "forged-signature",
        "unknown-kid",
        "hs256",
        "other-tenant",
        "other-audience",
        "other-caller",
        "expired",
        "not-yet-valid",
    ],
)
def test_anything_else_is_refused(header: str | None, reason: str) -> None:
    with pytest.raises(UnauthorizedError, match=reason):
        check(header)


def test_a_tampered_payload_fails_the_signature() -> None:
    head, payload, sig = token().removeprefix("Bearer ").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["aud"] = AUDIENCE
    claims["appid"] = ACTION_GROUP_APP_ID
    claims["exp"] = NOW + 99999
    forged = b64(json.dumps(claims).encode())
    with pytest.raises(UnauthorizedError, match="signature"):
        check(f"Bearer {head}.{forged}.{sig}")


def test_keys_are_fetched_once_and_again_only_for_a_new_kid_after_the_refresh_interval() -> None:
    fetch = Jwks(jwk(KEY, "k1"))
    keys = keyset(fetch)
    check(token(), keys)
    check(token(), keys)
    assert fetch.calls == 1
    with pytest.raises(UnauthorizedError):
        check(token(kid="k2"), keys)  # within the refresh interval: no refetch
    assert fetch.calls == 1
    fetch.keys.append(jwk(OTHER_KEY, "k2"))
    later = KeySet(keys.url, fetch, clock=lambda: NOW + webhook_auth.KEY_REFRESH_SECONDS + 1)
    assert check(token(key=OTHER_KEY, kid="k2"), later)["aud"] == AUDIENCE


def test_without_configuration_every_call_is_refused() -> None:
    with pytest.raises(UnauthorizedError):
        TokenPolicy.from_env({})
    policy = TokenPolicy.from_env(
        {"ROLLBACK_WEBHOOK_TENANT_ID": TENANT, "ROLLBACK_WEBHOOK_AUDIENCES": f"{AUDIENCE}, app-id"}
    )
    assert policy.audiences == {AUDIENCE, "app-id"}


class FakeRequest(server.RollbackRequestHandler):
    """The handler without a socket: headers and body given, the reply captured."""

    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.path = "/api/rollback"
        self.headers = headers  # type: ignore[assignment]
        self.rfile = io.BytesIO(body)
        self.replies: list[tuple[int, str]] = []

    def _reply(self, status: int, body: str) -> None:
        self.replies.append((status, body))


def test_the_server_answers_401_before_reading_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLBACK_WEBHOOK_TENANT_ID", TENANT)
    monkeypatch.setenv("ROLLBACK_WEBHOOK_AUDIENCES", AUDIENCE)
    monkeypatch.setattr(server.RollbackRequestHandler, "keys", keyset())
    monkeypatch.setattr("time.time", lambda: NOW)
    handled: list[Any] = []

    def fake_handle(*args: Any) -> dict[str, Any]:
        handled.append(args)
        return {"action": "hold"}

    monkeypatch.setattr(server, "handle", fake_handle)
    body = b'{"data": {}}'
    forged = FakeRequest(
        {"Content-Length": str(len(body)), "Authorization": token(key=OTHER_KEY)}, body
    )
    forged.do_POST()
    assert forged.replies == [(401, '{"error": "unauthorized"}')]
    assert forged.rfile.tell() == 0 and handled == []


def test_the_component_sets_the_secure_webhook_and_the_services_settings() -> None:
    from components.spec import Cloud, Environment, Pattern
    from tests.conftest import make_spec, run_component

    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)
    resources = run_component(spec).resources
    [group] = [r for r in resources if r.name.endswith("-rollback-action")]
    [receiver] = group.inputs["webhookReceivers"]
    assert receiver["useAadAuth"] is True
    assert receiver["identifierUri"].startswith("api://") and receiver["tenantId"]
    [service] = [r for r in resources if r.name == f"{spec.project}-rollback"]
    env = {e["name"]: e.get("value") for e in service.inputs["template"]["containers"][0]["env"]}
    assert env["ROLLBACK_WEBHOOK_AUDIENCES"] == receiver["identifierUri"]
    assert env["ROLLBACK_WEBHOOK_TENANT_ID"] == receiver["tenantId"]
    assert "webhook_auth.py" in rollout.ROLLBACK_FN_FILES
