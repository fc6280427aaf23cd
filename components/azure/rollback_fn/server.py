"""The rollback service's HTTP server (standard library only): ``python -m rollback_fn.server``.

``POST /api/rollback`` takes an action group's common-alert-schema notification and answers
with the handler's JSON summary; ``GET /healthz`` answers 200. One request at a time: a
rollback is idempotent and rare, and serialising calls keeps two alerts from racing.

A POST is served only with a valid Entra token from Azure Monitor's action groups for this
stack's webhook application (:mod:`.webhook_auth`, review B1); anything else gets 401 before the
body is read.
"""

from __future__ import annotations

import json
import logging
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from .arm import ArmClient, AzureError
from .handler import handle, summary_json
from .webhook_auth import KeySet, TokenPolicy, UnauthorizedError, jwks_url, verify

log = logging.getLogger("aideploy.rollback")

MAX_BODY = 256 * 1024  # common-alert-schema payloads are a few kilobytes


class RollbackRequestHandler(BaseHTTPRequestHandler):
    """Routes the two paths; anything else is 404."""

    # The tenant's signing keys, shared by every request (set by :func:`authorizer`).
    keys: KeySet | None = None

    def authorized(self) -> bool:
        """Whether the request carries an acceptable token (reason logged when not)."""
        try:
            policy = TokenPolicy.from_env(os.environ)
            keys = type(self).keys or KeySet(jwks_url(policy.tenant_id))
            type(self).keys = keys
            verify(self.headers.get("Authorization"), policy, keys)
        except UnauthorizedError as exc:
            log.warning("refused an unauthenticated call: %s", exc)
            return False
        except (OSError, ValueError) as exc:  # the key fetch failed: refuse, the group retries
            log.warning("could not check the caller's token: %s", exc)
            return False
        return True

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """Liveness."""
        self._reply(200, '{"ok": true}') if self.path == "/healthz" else self._reply(404, "{}")

    def do_POST(self) -> None:
        """One alert notification."""
        if self.path != "/api/rollback":
            self._reply(404, "{}")
            return
        if not self.authorized():
            self._reply(401, '{"error": "unauthorized"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._reply(413 if length > MAX_BODY else 400, '{"error": "body size"}')
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self._reply(400, '{"error": "not JSON"}')
            return
        env = dict(os.environ)
        client = ArmClient(
            identity_endpoint=env["IDENTITY_ENDPOINT"],
            identity_header=env["IDENTITY_HEADER"],
            client_id=env["ROLLBACK_IDENTITY_CLIENT_ID"],
        )
        try:
            result = handle(payload if isinstance(payload, dict) else {}, env, client)
        except AzureError as exc:  # a write or report failed: 500 makes the action group retry
            self._reply(500, json.dumps({"error": str(exc)}))
            return
        self._reply(200, summary_json(result))


def main() -> None:
    """Serve on $PORT (8080) until stopped."""
    port = int(os.environ.get("PORT", "8080"))
    # Inside its container: Container Apps ingress reaches the app on the pod's interface.
    HTTPServer(("0.0.0.0", port), RollbackRequestHandler).serve_forever()  # noqa: S104 # nosec B104


if __name__ == "__main__":
    main()
