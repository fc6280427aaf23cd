"""The live/mirrored traffic split of an Azure ML managed online endpoint, set after its
deployments exist (review A4).

Azure ML rejects an endpoint whose ``traffic`` names deployments that do not exist yet, and a
deployment needs its endpoint first: one ``OnlineEndpoint`` resource cannot express the cycle.
So the endpoint is created with no traffic (its ``traffic`` and ``mirrorTraffic`` are ignored by
Pulumi afterwards), the deployments are created against it, and this small dynamic resource
applies the split last, over Azure Resource Manager: GET the endpoint, set
``properties.traffic`` / ``properties.mirrorTraffic``, PUT it back (Azure ML changes traffic only
through a full PUT, which is also what ``az ml online-endpoint update --traffic`` does), and wait
for the long-running operation to finish, so a rejected split fails `pulumi up`.

The ARM access token comes, in order, from ``AZURE_ARM_TOKEN`` or the Azure CLI
(``az account get-access-token``): the same login CI's ``azure/login`` step and a person's
``az login`` provide. The transport is injectable, so the provider is unit-tested against
recorded ARM responses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - runs the Azure CLI with fixed arguments, no shell
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic

ARM = "https://management.azure.com"
ML_API_VERSION = "2024-04-01"
# Long-running operation polling: every POLL_SECONDS, for at most POLL_LIMIT_SECONDS.
POLL_SECONDS = 10.0
POLL_LIMIT_SECONDS = 1800.0
TERMINAL_OK = "Succeeded"
TERMINAL_FAILED = frozenset({"Failed", "Canceled", "Cancelled"})
TOKEN_QUERY = ("--query", "accessToken", "--output", "tsv")
# The tag an automatic rollback leaves on the endpoint (rollback_fn/decision.py ROLLED_BACK_TAG).
ROLLED_BACK_TAG = "aideploy-rolled-back"


class ArmError(RuntimeError):
    """ARM refused or failed a call; the message carries ARM's error code and text."""


@dataclass(frozen=True)
class ArmResponse:
    """One ARM answer: status, JSON body, and the headers that matter (lower-case names)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


# (method, url, bearer token, JSON body or None) -> ArmResponse
Transport = Callable[[str, str, str, Any], ArmResponse]


def urllib_transport(method: str, url: str, token: str, body: Any) -> ArmResponse:
    """The real transport: one HTTPS call to ARM; HTTP errors are answers, not exceptions."""
    if not url.startswith(ARM + "/"):
        raise ValueError(f"refusing a non-ARM URL {url!r}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - ARM over HTTPS only (checked above)
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 # nosec B310
            raw = response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
            return ArmResponse(response.status, json.loads(raw) if raw else {}, headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        return ArmResponse(exc.code, parsed, {k.lower(): v for k, v in exc.headers.items()})


def cli_token() -> str:
    """An ARM access token for whoever runs `pulumi up`: ``AZURE_ARM_TOKEN``, else the CLI's."""
    token = os.environ.get("AZURE_ARM_TOKEN")
    if token:
        return token
    az = shutil.which("az")
    if az is None:
        raise ArmError("no ARM token: sign in with `az login` (CI: the azure/login step)")
    done = subprocess.run(  # nosec B603 - fixed arguments, no shell
        [az, "account", "get-access-token", "--resource", f"{ARM}/", *TOKEN_QUERY],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise ArmError(f"`az account get-access-token` failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def _error_text(response: ArmResponse) -> str:
    body = response.body if isinstance(response.body, Mapping) else {}
    error = body.get("error") or {}
    code = error.get("code", "") if isinstance(error, Mapping) else ""
    message = error.get("message", "") if isinstance(error, Mapping) else ""
    return f"HTTP {response.status} {code}: {message}".strip()


@dataclass
class ArmClient:
    """GET and PUT of one ARM resource, waiting for Azure's long-running operations."""

    transport: Transport = urllib_transport
    token: Callable[[], str] = cli_token
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = POLL_SECONDS
    poll_limit_seconds: float = POLL_LIMIT_SECONDS

    def _url(self, resource_id: str) -> str:
        return f"{ARM}{resource_id}?api-version={ML_API_VERSION}"

    def get(self, resource_id: str) -> dict[str, Any]:
        """The resource as ARM returns it; any answer but 200 is an :class:`ArmError`."""
        response = self.transport("GET", self._url(resource_id), self.token(), None)
        if response.status != 200 or not isinstance(response.body, Mapping):
            raise ArmError(f"GET {resource_id} failed: {_error_text(response)}")
        return dict(response.body)

    def put(self, resource_id: str, body: Mapping[str, Any]) -> None:
        """PUT ``body`` and wait until Azure reports the operation finished."""
        response = self.transport("PUT", self._url(resource_id), self.token(), dict(body))
        if response.status not in (200, 201, 202):
            raise ArmError(f"PUT {resource_id} failed: {_error_text(response)}")
        operation = response.headers.get("azure-asyncoperation")
        if operation:
            self._wait(resource_id, operation)

    def _wait(self, resource_id: str, operation_url: str) -> None:
        waited = 0.0
        while True:
            response = self.transport("GET", operation_url, self.token(), None)
            if response.status >= 300:
                raise ArmError(f"polling {resource_id} failed: {_error_text(response)}")
            body = response.body if isinstance(response.body, Mapping) else {}
            status = str(body.get("status", ""))
            if status == TERMINAL_OK:
                return
            if status in TERMINAL_FAILED:
                error = body.get("error") or {}
                raise ArmError(
                    f"updating {resource_id} ended {status}: "
                    f"{error.get('code', '')} {error.get('message', '')}".strip()
                )
            if waited >= self.poll_limit_seconds:
                raise ArmError(f"updating {resource_id} did not finish in {waited:.0f} s")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds


def split_body(
    endpoint: Mapping[str, Any], traffic: Mapping[str, int], mirror: Mapping[str, int]
) -> dict[str, Any]:
    """The endpoint's PUT body: what ARM returned, minus read-only fields, with the split.

    ``traffic`` must name every deployment that takes live traffic and sum to 100 (an empty
    map leaves no deployment serving); ``mirror`` copies a share of requests to a deployment.
    """
    if traffic and sum(traffic.values()) != 100:
        raise ValueError(f"traffic must sum to 100, got {dict(traffic)}")
    properties = {
        k: v
        for k, v in dict(endpoint.get("properties") or {}).items()
        if k not in {"provisioningState", "scoringUri", "swaggerUri"}
    }
    properties["traffic"] = dict(traffic)
    properties["mirrorTraffic"] = dict(mirror)
    body: dict[str, Any] = {"location": endpoint.get("location"), "properties": properties}
    for key in ("identity", "kind", "sku"):
        if endpoint.get(key) is not None:
            body[key] = endpoint[key]
    # A split that `pulumi up` applies is the stack file's decision: it clears the marker an
    # automatic rollback left (release_watch.rolled_back), which the pipeline checked first.
    tags = {k: v for k, v in dict(endpoint.get("tags") or {}).items() if k != ROLLED_BACK_TAG}
    if tags or endpoint.get("tags") is not None:
        body["tags"] = tags
    return body


def apply_split(
    client: ArmClient,
    endpoint_id: str,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
) -> None:
    """Read the endpoint, set its traffic and mirrored traffic, write it back and wait."""
    endpoint = client.get(endpoint_id)
    client.put(endpoint_id, split_body(endpoint, traffic, mirror))


def _int_map(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in dict(value or {}).items()}


class EndpointTrafficProvider(pulumi.dynamic.ResourceProvider):
    """Create/update apply the split; delete leaves the endpoint alone (it is deleted with
    its own resource, or keeps its split when only this resource goes)."""

    def __init__(self, client: ArmClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> ArmClient:
        """The ARM client (created on first use, so the provider pickles without a token)."""
        if self._client is None:
            self._client = ArmClient()
        return self._client

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        """Reject a split that cannot be valid before any call is made."""
        failures = []
        traffic = _int_map(news.get("traffic"))
        if traffic and sum(traffic.values()) != 100:
            failures.append(pulumi.dynamic.CheckFailure("traffic", "must sum to 100"))
        unknown = set(traffic) | set(_int_map(news.get("mirror_traffic")))
        unknown -= set(news.get("deployments") or [])
        if unknown:
            failures.append(
                pulumi.dynamic.CheckFailure("traffic", f"names no deployment: {sorted(unknown)}")
            )
        return pulumi.dynamic.CheckResult(news, failures)

    def _apply(self, props: Mapping[str, Any]) -> None:
        apply_split(
            self.client,
            str(props["endpoint_id"]),
            _int_map(props.get("traffic")),
            _int_map(props.get("mirror_traffic")),
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Apply the split once both deployments exist."""
        self._apply(props)
        return pulumi.dynamic.CreateResult(f"{props['endpoint_id']}/traffic", props)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Re-apply whenever the split, the deployments or the endpoint's own update change."""
        keys = ("endpoint_id", "traffic", "mirror_traffic", "deployments", "endpoint_revision")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[])

    def update(
        self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        """Apply the new split."""
        self._apply(news)
        return pulumi.dynamic.UpdateResult(news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: the split belongs to the endpoint."""


class EndpointTraffic(pulumi.dynamic.Resource, module="azure", name="EndpointTraffic"):
    """The traffic split of one online endpoint, applied after its deployments."""

    endpoint_id: pulumi.Output[str]
    traffic: pulumi.Output[dict[str, int]]
    mirror_traffic: pulumi.Output[dict[str, int]]

    def __init__(
        self,
        name: str,
        endpoint_id: pulumi.Input[str],
        traffic: Mapping[str, int],
        mirror_traffic: Mapping[str, int],
        deployments: list[pulumi.Input[str]],
        endpoint_revision: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            EndpointTrafficProvider(),
            name,
            {
                "endpoint_id": endpoint_id,
                "traffic": dict(traffic),
                "mirror_traffic": dict(mirror_traffic),
                "deployments": deployments,
                "endpoint_revision": endpoint_revision,
            },
            opts,
        )
