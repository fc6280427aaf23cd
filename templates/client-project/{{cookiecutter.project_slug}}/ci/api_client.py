"""Authenticated calls to the stack's API, for the smoke tests, the load test, the evaluation
against staging and the drill: the credentials a real client presents, from CI secrets.

The secrets (docs/ci.md, "Test credentials"), per CI environment:

- ``API_TEST_KEY``: an API key of the gateway (when ``api.auth`` includes ``api-key``);
- ``API_TEST_TOKEN_URL``, ``API_TEST_CLIENT_ID``, ``API_TEST_CLIENT_SECRET`` and optionally
  ``API_TEST_SCOPE`` / ``API_TEST_AUDIENCE``: a client-credentials grant at the identity
  provider that issues ``api.jwt_issuer`` tokens for ``api.jwt_audience`` (when ``api.auth``
  includes ``jwt``).

Standard library only. Every URL must be https (a loopback http URL is allowed for a model run
on this machine), so no other scheme can be opened.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The header each cloud's gateway reads the API key from (AWS API Gateway: x-api-key; Azure API
# Management: its subscription key header; GCP ESPv2: the api_key security definition's header).
API_KEY_HEADER: Mapping[str, str] = {
    "aws": "x-api-key",
    "azure": "Ocp-Apim-Subscription-Key",
    "gcp": "x-api-key",
}
KEY_VARIABLE = "API_TEST_KEY"
TOKEN_VARIABLES = ("API_TEST_TOKEN_URL", "API_TEST_CLIENT_ID", "API_TEST_CLIENT_SECRET")
OPTIONAL_TOKEN_VARIABLES = ("API_TEST_SCOPE", "API_TEST_AUDIENCE")
# Which credentials each api.auth mode needs.
AUTH_NEEDS: Mapping[str, tuple[bool, bool]] = {  # (api key, jwt)
    "api-key": (True, False),
    "jwt": (False, True),
    "jwt+api-key": (True, True),
}
_LOOPBACK = ("http://127.0.0.1", "http://localhost", "http://[::1]")


class CredentialsError(RuntimeError):
    """A credential the API needs is not set, or the identity provider refused it."""


@dataclass(frozen=True)
class Reply:
    """One HTTP answer (errors included: the caller judges the status)."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


def check_url(url: str) -> str:
    """``url`` when it is https (or loopback http); ValueError otherwise."""
    if url.startswith("https://") or url.startswith(_LOOPBACK):
        return url
    raise ValueError(f"refusing {url!r}: only https:// (or a loopback http://) URLs")


def missing(auth: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The variables ``auth`` needs that are not set (empty: all there)."""
    env = os.environ if env is None else env
    key, jwt = AUTH_NEEDS[auth]
    names = ([KEY_VARIABLE] if key else []) + (list(TOKEN_VARIABLES) if jwt else [])
    return [name for name in names if not env.get(name)]


def client_credentials_token(env: Mapping[str, str] | None = None, timeout: float = 15) -> str:
    """An access token from the client-credentials grant the variables describe."""
    env = os.environ if env is None else env
    form = {
        "grant_type": "client_credentials",
        "client_id": env.get("API_TEST_CLIENT_ID", ""),
        "client_secret": env.get("API_TEST_CLIENT_SECRET", ""),
    }
    for name, field in zip(OPTIONAL_TOKEN_VARIABLES, ("scope", "audience"), strict=True):
        if env.get(name):
            form[field] = env[name]
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked
        check_url(env.get("API_TEST_TOKEN_URL", "")),
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            token = json.loads(response.read()).get("access_token")
    except (urllib.error.URLError, ValueError) as error:
        raise CredentialsError(f"the token endpoint refused the test client: {error}") from None
    if not isinstance(token, str) or not token:
        raise CredentialsError("the token endpoint answered without an access_token")
    return token


def auth_headers(cloud: str, auth: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers a client of this API presents (CredentialsError naming what is missing)."""
    env = os.environ if env is None else env
    absent = missing(auth, env)
    if absent:
        raise CredentialsError(f"api.auth is {auth}: set {', '.join(absent)} (docs/ci.md)")
    key, jwt = AUTH_NEEDS[auth]
    headers: dict[str, str] = {}
    if key:
        headers[API_KEY_HEADER[cloud]] = env[KEY_VARIABLE]
    if jwt:
        headers["Authorization"] = f"Bearer {client_credentials_token(env)}"
    return headers


def call(
    url: str,
    payload: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    """GET (no payload) or POST JSON; any HTTP status is a Reply, a timeout raises TimeoutError."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked
        check_url(url),
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return Reply(response.status, _json(response.read()), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Reply(error.code, _json(error.read()), dict(error.headers or {}))
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise error.reason from None
        raise


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}
