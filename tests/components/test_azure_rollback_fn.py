"""The Azure rollback service's HTTP server and transport. Its decisions, against recorded Azure
answers and the shared vectors, are in test_azure_rollback_service.py (the service now verifies
the alert at its scope and calls components.rollout.decide; the payload-value logic this file
used to hold is gone, review E7)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import HTTPServer
from typing import Any

import pytest

from components.azure.rollback_fn import arm
from components.azure.rollback_fn.decision import reset_body
from components.azure.rollback_fn.server import RollbackRequestHandler
from tests.components.test_azure_rollback_service import env
from tests.components.test_azure_webhook_auth import AUDIENCE, TENANT, keyset, token
from tests.journey.azure_doubles import notification


def test_unknown_target_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rollback target kind"):
        reset_body("vm", {}, "a", "b", "1.1.0")


def test_real_transport_refuses_plain_http() -> None:
    with pytest.raises(ValueError, match="non-HTTPS"):
        arm.urllib_transport("GET", "http://example.com/x", {}, None)


def test_a_call_outside_its_declared_shape_is_refused() -> None:
    client = arm.ArmClient("http://127.0.0.1:9/msi", "h", "c", lambda *a: (200, {}))
    with pytest.raises(ValueError, match="is not a read-alert call"):
        client.call(
            "read-alert",
            "https://management.azure.com/subscriptions/x/providers/"
            "Microsoft.AlertsManagement/alerts/y?api-version=2019-05-05-preview",
            arm.AUDIENCES[arm.ARM],
        )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The identity endpoint is unreachable: nothing can be verified, read or reported.
    for key, value in {
        **env(),
        "IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi",
        "IDENTITY_HEADER": "h",
        "ROLLBACK_IDENTITY_CLIENT_ID": "c",
        # Azure Monitor's secure webhook (review B1): tokens signed with the test key.
        "ROLLBACK_WEBHOOK_TENANT_ID": TENANT,
        "ROLLBACK_WEBHOOK_AUDIENCES": AUDIENCE,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(RollbackRequestHandler, "keys", keyset())
    httpd = HTTPServer(("127.0.0.1", 0), RollbackRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def valid_token() -> str:
    """A token from Azure Monitor for this stack's webhook app, valid now."""
    now = time.time()
    return token(nbf=now - 60, exp=now + 3600)


def call(url: str, body: bytes | None = None, authorization: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(
        url, data=body, method="POST" if body is not None else "GET", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_server_routes_health_alerts_and_rejects_the_rest(server: str) -> None:
    assert call(f"{server}/healthz") == (200, {"ok": True})
    assert call(f"{server}/other")[0] == 404
    # Without Azure Monitor's token for this app: 401, before the body is read (review B1).
    assert call(f"{server}/api/rollback", json.dumps(notification("x")).encode())[0] == 401
    assert call(f"{server}/api/rollback", b"{}", "Bearer forged.token.here")[0] == 401
    assert call(f"{server}/api/rollback", b"not json", valid_token())[0] == 400
    # Nothing can be verified and the page cannot be sent: 500, so the action group retries.
    status, body = call(
        f"{server}/api/rollback", json.dumps(notification("x")).encode(), valid_token()
    )
    assert status == 500 and "token request failed" in body["error"]
