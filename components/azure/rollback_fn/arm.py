"""The rollback service's Azure client (standard library only): every call it makes, and the
right each call needs, in one table (:data:`CALLS`).

Tokens come from the identity endpoint Container Apps provides, for the service's user-assigned
identity, one per audience (ARM, the Log Analytics query API, Azure Monitor ingestion). The
HTTP transport is injectable so tests drive the client against recorded responses. A journey
test holds :data:`CALLS` to the role assignments the component creates: the identity holds
exactly the rights these calls need, on exactly the scopes they touch.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ARM = "https://management.azure.com"
LOGS = "https://api.loganalytics.azure.com"
# Token audiences (the identity endpoint's ``resource``) per host.
AUDIENCES: dict[str, str] = {
    ARM: f"{ARM}/",
    LOGS: "https://api.loganalytics.io",
    "ingestion": "https://monitor.azure.com/",
}

# ARM API versions per resource kind (the versions the components deploy with).
API_VERSIONS: dict[str, str] = {
    "container-app": "2024-03-01",
    "ml-online-endpoint": "2024-04-01",
    # The scoped Get-By-Id of Microsoft.AlertsManagement/alerts (review E2).
    "alert": "2023-07-12-preview",
}

# HTTP method that writes each kind back: Container Apps merge a PATCH; ML online endpoints
# only accept traffic changes through a full PUT.
WRITE_METHODS: dict[str, str] = {"container-app": "PATCH", "ml-online-endpoint": "PUT"}


@dataclass(frozen=True)
class Call:
    """One kind of request the service makes: method, URL shape, and the right it needs on
    the scope named by ``scope`` (the component's grant of that right is on that resource)."""

    method: str
    url: str  # a regular expression the request URL matches
    action: str  # the RBAC action or data action it needs
    scope: str  # which configured resource the grant sits on (a key of the service's config)


_ID = r"/subscriptions/[^/?]+/resourceGroups/[^/?]+/providers"
CALLS: dict[str, Call] = {
    "read-alert": Call(
        "GET",
        rf"{ARM}{_ID}/Microsoft\.OperationalInsights/workspaces/[^/?]+"
        r"/providers/Microsoft\.AlertsManagement/alerts/[0-9a-f-]{36}\?api-version="
        + re.escape(API_VERSIONS["alert"]),
        "Microsoft.AlertsManagement/alerts/read",
        "workspace",
    ),
    "query-logs": Call(
        "POST",
        rf"{LOGS}/v1/workspaces/[0-9a-f-]{{36}}/query",
        "Microsoft.OperationalInsights/workspaces/query/read",
        "workspace",
    ),
    "read-container-app": Call(
        "GET",
        rf"{ARM}{_ID}/Microsoft\.App/containerApps/[^/?]+\?api-version=[0-9a-z-]+",
        "Microsoft.App/containerApps/read",
        "target",
    ),
    "write-container-app": Call(
        "PATCH",
        rf"{ARM}{_ID}/Microsoft\.App/containerApps/[^/?]+\?api-version=[0-9a-z-]+",
        "Microsoft.App/containerApps/write",
        "target",
    ),
    "read-ml-online-endpoint": Call(
        "GET",
        rf"{ARM}{_ID}/Microsoft\.MachineLearningServices/workspaces/[^/?]+"
        r"/onlineEndpoints/[^/?]+\?api-version=[0-9a-z-]+",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read",
        "target",
    ),
    "write-ml-online-endpoint": Call(
        "PUT",
        rf"{ARM}{_ID}/Microsoft\.MachineLearningServices/workspaces/[^/?]+"
        r"/onlineEndpoints/[^/?]+\?api-version=[0-9a-z-]+",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
        "target",
    ),
    "report": Call(
        "POST",
        r"https://[a-z0-9.-]+\.applicationinsights\.azure\.com/v2\.1/track",
        "Microsoft.Insights/Telemetry/Write",
        "insights",
    ),
}

# (method, url, headers, body or None) -> (status, parsed JSON body)
Transport = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, Any]]


class AzureError(RuntimeError):
    """A call failed: refused (4xx/5xx), unreachable, or answered with something unreadable."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> tuple[int, Any]:
    """The real transport: one HTTPS request, JSON in and out; HTTP errors are answers."""
    if not url.startswith(("https://", "http://localhost", "http://127.0.0.1")):
        raise ValueError(f"refusing non-HTTPS URL {url!r}")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 # nosec B310 - checked above
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else {}
        except ValueError:
            return exc.code, {}


@dataclass(frozen=True)
class ArmClient:
    """The service's calls, each built from :data:`CALLS`, as its managed identity."""

    identity_endpoint: str
    identity_header: str
    client_id: str
    transport: Transport = urllib_transport

    def token(self, audience: str = AUDIENCES[ARM]) -> str:
        """An access token for ``audience`` as the user-assigned identity ``client_id``."""
        query = urllib.parse.urlencode(
            {"resource": audience, "api-version": "2019-08-01", "client_id": self.client_id}
        )
        try:
            status, body = self.transport(
                "GET",
                f"{self.identity_endpoint}?{query}",
                {"X-IDENTITY-HEADER": self.identity_header},
                None,
            )
        except (OSError, ValueError) as exc:
            raise AzureError(f"managed identity token request failed: {exc}") from exc
        if status != 200 or not isinstance(body, Mapping) or "access_token" not in body:
            raise AzureError(f"managed identity token request failed with HTTP {status}", status)
        return str(body["access_token"])

    def call(self, key: str, url: str, audience: str, payload: Any = None) -> Any:
        """One request of kind ``key``; refuses a URL the table does not allow for it."""
        spec = CALLS[key]
        if not re.fullmatch(spec.url, url):
            raise ValueError(f"{url!r} is not a {key} call")
        headers = {"Authorization": f"Bearer {self.token(audience)}"}
        headers["Content-Type"] = "application/json"
        data = json.dumps(payload).encode() if payload is not None else None
        try:
            status, body = self.transport(spec.method, url, headers, data)
        except (OSError, ValueError) as exc:  # timeouts, resets, unreadable bodies
            raise AzureError(f"{key} failed: {exc}") from exc
        if status >= 300:
            error = body.get("error", {}) if isinstance(body, Mapping) else {}
            code = error.get("code", "") if isinstance(error, Mapping) else ""
            raise AzureError(f"{key} failed with HTTP {status} {code}".strip(), status)
        return body

    def read_alert(self, workspace_id: str, alert_guid: str) -> dict[str, Any]:
        """The alert as Azure Monitor holds it, read at the scope it was raised on."""
        url = (
            f"{ARM}{workspace_id}/providers/Microsoft.AlertsManagement/alerts/{alert_guid}"
            f"?api-version={API_VERSIONS['alert']}"
        )
        body = self.call("read-alert", url, AUDIENCES[ARM])
        if not isinstance(body, Mapping):
            raise AzureError("read-alert answered with something that is not an alert")
        return dict(body)

    def query(self, customer_id: str, kql: str, timespan: str) -> list[dict[str, Any]]:
        """Rows of a Log Analytics query as dicts (column name -> value)."""
        url = f"{LOGS}/v1/workspaces/{customer_id}/query"
        body = self.call("query-logs", url, AUDIENCES[LOGS], {"query": kql, "timespan": timespan})
        try:
            table = body["tables"][0]
            names = [c["name"] for c in table["columns"]]
            return [dict(zip(names, row, strict=True)) for row in table["rows"]]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise AzureError(f"query-logs answered with an unreadable table: {exc}") from exc

    def get(self, resource_id: str, kind: str) -> dict[str, Any]:
        """The target as ARM returns it."""
        url = f"{ARM}{resource_id}?api-version={API_VERSIONS[kind]}"
        body = self.call(f"read-{kind}", url, AUDIENCES[ARM])
        return dict(body) if isinstance(body, Mapping) else {}

    def write(self, resource_id: str, kind: str, payload: Mapping[str, Any]) -> None:
        """Write ``payload`` back with the kind's method (PATCH or PUT)."""
        url = f"{ARM}{resource_id}?api-version={API_VERSIONS[kind]}"
        self.call(f"write-{kind}", url, AUDIENCES[ARM], dict(payload))

    def report(self, connection_string: str, event: Mapping[str, Any]) -> None:
        """Send one custom event to Application Insights (Entra-authenticated ingestion)."""
        parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
        endpoint = parts.get("IngestionEndpoint", "").rstrip("/")
        key = parts.get("InstrumentationKey", "")
        if not endpoint or not key:
            raise AzureError("report failed: no Application Insights connection string")
        envelope = {**event, "iKey": key}
        self.call("report", f"{endpoint}/v2.1/track", AUDIENCES["ingestion"], [envelope])
