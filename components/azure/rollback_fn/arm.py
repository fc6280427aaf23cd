"""A minimal Azure Resource Manager client for the rollback service (standard library only).

It gets a token for the service's user-assigned managed identity from the identity endpoint
Container Apps (like App Service) provides, reads the alert that triggered it, and reads /
writes exactly one resource. The HTTP transport is injectable so
tests drive it without a network.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ARM = "https://management.azure.com"

# ARM API versions per target kind (the versions the components deploy with).
API_VERSIONS: dict[str, str] = {
    "container-app": "2024-03-01",
    "ml-online-endpoint": "2024-04-01",
    "alert": "2019-05-05-preview",  # Microsoft.AlertsManagement/alerts (read only)
}

# HTTP method that writes each kind back: Container Apps merge a PATCH; ML online endpoints
# only accept traffic changes through a full PUT.
WRITE_METHODS: dict[str, str] = {"container-app": "PATCH", "ml-online-endpoint": "PUT"}

# (method, url, headers, body or None) -> (status, parsed JSON body)
Transport = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, Any]]


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> tuple[int, Any]:
    """The real transport: one HTTPS request, JSON in and out."""
    if not url.startswith(("https://", "http://localhost", "http://127.0.0.1")):
        raise ValueError(f"refusing non-HTTPS URL {url!r}")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 # nosec B310 - checked above
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}


@dataclass(frozen=True)
class ArmClient:
    """Token + GET/write of one ARM resource as the function's managed identity."""

    identity_endpoint: str
    identity_header: str
    client_id: str
    transport: Transport = urllib_transport

    def token(self) -> str:
        """An ARM access token for the user-assigned identity ``client_id``."""
        query = urllib.parse.urlencode(
            {"resource": f"{ARM}/", "api-version": "2019-08-01", "client_id": self.client_id}
        )
        status, body = self.transport(
            "GET",
            f"{self.identity_endpoint}?{query}",
            {"X-IDENTITY-HEADER": self.identity_header},
            None,
        )
        if status != 200 or "access_token" not in body:
            raise RuntimeError(f"managed identity token request failed with HTTP {status}")
        return str(body["access_token"])

    def _call(self, method: str, resource_id: str, kind: str, payload: Any = None) -> Any:
        url = f"{ARM}{resource_id}?api-version={API_VERSIONS[kind]}"
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}
        data = json.dumps(payload).encode() if payload is not None else None
        status, body = self.transport(method, url, headers, data)
        if status >= 300:
            raise RuntimeError(f"ARM {method} {resource_id} failed with HTTP {status}")
        return body

    def get(self, resource_id: str, kind: str) -> dict[str, Any]:
        """The resource as ARM returns it."""
        body = self._call("GET", resource_id, kind)
        return dict(body) if isinstance(body, Mapping) else {}

    def write(self, resource_id: str, kind: str, payload: Mapping[str, Any]) -> None:
        """Write ``payload`` back with the kind's method (PATCH or PUT)."""
        self._call(WRITE_METHODS[kind], resource_id, kind, dict(payload))
