"""The pipeline's view of an Azure release (standard library only; vendored into generated
projects and run in CI): observe the rollback alerts and the versions' samples, tell whether an
automatic rollback removed a candidate, and drain a candidate now.

Transport: Azure REST with a token the Azure CLI prints (``az account get-access-token``),
fetched for every call, so a watch that outlives one token (bake + rollback, review #6) keeps
working on the CLI's refreshed login. The :class:`Client` is injectable; tests use recorded
responses. Every call is a read except :func:`drain_candidate`, which writes the same traffic
body the rollback service writes (rollback_fn/decision.py).

Inputs are the stack's outputs (``pulumi stack output --json --show-secrets``): api-first
stacks name the log workspace (``log_group``) and the model app (``serving_service``);
managed-platform stacks name the endpoint (``endpoint_name``) and, through the rollback action
group (``rollback_trigger``), the resource group. The rollback alerts (``rollback_alarms``,
exact names) carry the sample query they judge with in their custom properties.
"""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404 - runs the Azure CLI with fixed arguments, no shell
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

CLI_TOOLS: tuple[str, ...] = ("az",)

ARM = "https://management.azure.com"
LOGS = "https://api.loganalytics.azure.com"
AUDIENCE = {ARM: ARM + "/", LOGS: "https://api.loganalytics.io"}
ALERTS_API = "2023-07-12-preview"
RULES_API = "2023-03-15-preview"
WORKSPACE_API = "2023-09-01"
CONTAINER_APPS_API = "2024-03-01"
ML_API = "2024-04-01"
ROLLED_BACK_TAG = "aideploy-rolled-back"
# The marker that outlives `pulumi up`: the rollback service reports each rollback as an
# Application Insights custom event (components/azure/monitoring.ROLLBACK_EVENT) carrying the
# target and the candidate version; it lands in the stack's log workspace (AppEvents), which no
# Pulumi program rewrites. The tag above is rewritten by the next update of the app/endpoint
# (its tags are the component's input), so it is only the first place looked at.
ROLLBACK_EVENT = "aideploy-rollback"
MARKER_LOOKBACK = "P365D"
SAMPLES_PROPERTY = "aideploy-samples"
STABLE_LABEL = "stable"
STABLE_DEPLOYMENT, CANDIDATE_DEPLOYMENT = "blue", "green"

# (method, url, token, JSON body or None) -> (status, parsed JSON body)
Send = Callable[[str, str, str, Any], tuple[int, Any]]


class WatchError(RuntimeError):
    """A read or write failed (refused, unreachable, unreadable)."""


def cli_token(audience: str) -> str:
    """A fresh token for ``audience`` from the Azure CLI's login (CI: the azure/login step)."""
    az = shutil.which("az")
    if az is None:
        raise WatchError("the Azure CLI (az) is not installed")
    done = subprocess.run(  # nosec B603 - fixed arguments, no shell
        [az, "account", "get-access-token", "--resource", audience,
         "--query", "accessToken", "--output", "tsv"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        raise WatchError(f"az account get-access-token failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def urllib_send(method: str, url: str, token: str, body: Any) -> tuple[int, Any]:
    """One HTTPS request; HTTP errors are answers, not exceptions."""
    if not url.startswith(("https://", "http://127.0.0.1")):
        raise ValueError(f"refusing non-HTTPS URL {url!r}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - HTTPS only (checked above)
        url, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 # nosec B310
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else {}
        except ValueError:
            return exc.code, {}


@dataclass
class Client:
    """REST calls with a token fetched per call."""

    send: Send = urllib_send
    token: Callable[[str], str] = cli_token

    def call(self, method: str, url: str, body: Any = None) -> Any:
        """One call; anything but 2xx (or an unreachable host) is a :class:`WatchError`."""
        host = LOGS if url.startswith(LOGS) else ARM
        try:
            status, answer = self.send(method, url, self.token(AUDIENCE[host]), body)
        except (OSError, ValueError) as exc:
            raise WatchError(f"{method} {url.split('?')[0]} failed: {exc}") from exc
        if not 200 <= status < 300:
            raise WatchError(f"{method} {url.split('?')[0]} failed with HTTP {status}")
        return answer


# -- where things are ---------------------------------------------------------------------------


def _group(outputs: Mapping[str, Any]) -> str:
    """``/subscriptions/<s>/resourceGroups/<rg>`` from the first ARM id among the outputs."""
    for key in ("log_group", "rollback_trigger", "alert_topic"):
        value = str(outputs.get(key) or "")
        parts = value.split("/")
        if len(parts) > 4 and parts[1].lower() == "subscriptions":
            return "/".join(parts[:5])
    raise WatchError("the outputs name no Azure resource group (log_group, rollback_trigger)")


def _rule(client: Client, outputs: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    url = (
        f"{ARM}{_group(outputs)}/providers/Microsoft.Insights/scheduledQueryRules/{name}"
        f"?api-version={RULES_API}"
    )
    body = client.call("GET", url)
    if not isinstance(body, Mapping):
        raise WatchError(f"alert rule {name} is unreadable")
    return body


def _workspace_of(rule: Mapping[str, Any]) -> str:
    scopes = (rule.get("properties") or {}).get("scopes") or []
    if not scopes:
        raise WatchError("the rollback alert rule has no scope")
    return str(scopes[0])


def _firing(client: Client, workspace: str, names: list[str]) -> str | None:
    """The first of ``names`` with a Fired alert on ``workspace``, else None."""
    url = (
        f"{ARM}{workspace}/providers/Microsoft.AlertsManagement/alerts?api-version={ALERTS_API}"
        "&monitorCondition=Fired&timeRange=1d"
    )
    body = client.call("GET", url)
    if not isinstance(body, Mapping) or not isinstance(body.get("value"), list):
        raise WatchError("the alerts list is unreadable")
    wanted = {n.lower(): n for n in names}
    for alert in body["value"]:
        essentials = (alert.get("properties") or {}).get("essentials") or {}
        rule = str(essentials.get("alertRule") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        if rule in wanted and essentials.get("alertState") != "Closed":
            return wanted[rule]
    return None


def _samples(
    client: Client, workspace: str, query: str, minutes: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = client.call("GET", f"{ARM}{workspace}?api-version={WORKSPACE_API}")
    customer = str(((body or {}).get("properties") or {}).get("customerId") or "")
    if not customer:
        raise WatchError("the log workspace has no customerId")
    answer = client.call(
        "POST",
        f"{LOGS}/v1/workspaces/{customer}/query",
        {"query": query, "timespan": f"PT{max(1, round(minutes))}M"},
    )
    empty: dict[str, Any] = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    found: dict[str, dict[str, Any]] = {"candidate": dict(empty), "stable": dict(empty)}
    try:
        table = answer["tables"][0]
        names = [c["name"] for c in table["columns"]]
        for row in table["rows"]:
            item = dict(zip(names, row, strict=True))
            requests = int(item.get("requests") or 0)
            p99 = item.get("p99_ms")
            found[str(item["version"])] = {
                "requests": requests,
                "errors_5xx": min(int(item.get("errors_5xx") or 0), requests),
                "p99_ms": float(p99) if isinstance(p99, (int, float)) and requests else None,
            }
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise WatchError(f"the sample query answered with an unreadable table: {exc}") from exc
    return found["candidate"], found["stable"]


def observe(
    outputs: Mapping[str, Any],
    settings: Mapping[str, Any],
    minutes: float,
    *,
    client: Client | None = None,
) -> dict[str, Any]:
    """One observation in the shape ``components.rollout.parse_observation`` accepts."""
    client = client or Client()
    zero = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
    observation: dict[str, Any] = {
        "candidate": dict(zero),
        "stable": dict(zero),
        "settings": {k: settings[k] for k in ("error_rate", "latency_multiplier", "min_requests")},
    }
    names = [str(n) for n in outputs.get("rollback_alarms") or []]
    if not names:  # event-driven: no candidate, nothing to watch
        return observation
    try:
        rule = _rule(client, outputs, names[0])
        workspace = _workspace_of(rule)
        firing = _firing(client, workspace, names)
    except WatchError as exc:
        observation["trigger"] = {"verified": False, "firing": True, "rule": f"alert state: {exc}"}
        return observation
    if firing is not None:
        observation["trigger"] = {"verified": True, "firing": True, "rule": firing}
    query = ((rule.get("properties") or {}).get("actions") or {}).get("customProperties") or {}
    sample_query = query.get(SAMPLES_PROPERTY)
    if sample_query:
        try:
            cand, stable = _samples(client, workspace, str(sample_query), minutes)
            observation["candidate"], observation["stable"] = cand, stable
        except WatchError:
            pass  # no samples prove nothing: decide() holds without a trigger, rolls back with one
    return observation


# -- the target: the model app or the online endpoint ---------------------------------------------


def _target(client: Client, outputs: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, ARM id) of what the rollback moves traffic on."""
    group = _group(outputs)
    if outputs.get("serving_service"):
        app = f"{group}/providers/Microsoft.App/containerApps/{outputs['serving_service']}"
        return "container-app", app
    endpoint = str(outputs.get("endpoint_name") or "")
    if not endpoint:
        raise WatchError("the outputs name no model app or endpoint")
    listed = client.call(
        "GET",
        f"{ARM}{group}/providers/Microsoft.MachineLearningServices/workspaces?api-version={ML_API}",
    )
    for ws in (listed or {}).get("value") or []:
        candidate = f"{ws['id']}/onlineEndpoints/{endpoint}"
        try:
            client.call("GET", f"{ARM}{candidate}?api-version={ML_API}")
        except WatchError:
            continue
        return "ml-online-endpoint", candidate
    raise WatchError(f"no ML workspace in {group} has the endpoint {endpoint}")


_API = {"container-app": CONTAINER_APPS_API, "ml-online-endpoint": ML_API}


def _kql_string(value: str) -> str:
    """A KQL string literal (the version comes from a stack file: never trusted as KQL)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def marker_query(resource: str, candidate_version: str) -> str:
    """The KQL that counts the rollback service's reports of removing ``candidate_version``
    from ``resource`` (an ARM id; ARM ids compare case-insensitively)."""
    return "\n".join(
        [
            "AppEvents",
            f"| where Name == {_kql_string(ROLLBACK_EVENT)}",
            '| where tostring(Properties.action) == "rollback"',
            f"| where tostring(Properties.target) =~ {_kql_string(resource)}",
            f"| where tostring(Properties.candidate_version) == {_kql_string(candidate_version)}",
            "| summarize value = count()",
        ]
    )


def _reported(
    client: Client, outputs: Mapping[str, Any], resource: str, candidate_version: str
) -> bool:
    names = [str(n) for n in outputs.get("rollback_alarms") or []]
    if not names:
        return False
    workspace = _workspace_of(_rule(client, outputs, names[0]))
    body = client.call("GET", f"{ARM}{workspace}?api-version={WORKSPACE_API}")
    customer = str(((body or {}).get("properties") or {}).get("customerId") or "")
    if not customer:
        raise WatchError("the log workspace has no customerId")
    answer = client.call(
        "POST",
        f"{LOGS}/v1/workspaces/{customer}/query",
        {"query": marker_query(resource, candidate_version), "timespan": MARKER_LOOKBACK},
    )
    try:
        rows = answer["tables"][0]["rows"]
        return bool(rows) and int(rows[0][0]) > 0
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise WatchError(f"the marker query answered with an unreadable table: {exc}") from exc


def rolled_back(
    outputs: Mapping[str, Any], candidate_version: str, *, client: Client | None = None
) -> bool:
    """True when a rollback removed ``candidate_version``: the live target carries the marker
    tag, or the stack's log workspace holds the rollback service's report of it (which a later
    `pulumi up` cannot erase). A read that fails raises :class:`WatchError`."""
    client = client or Client()
    kind, resource = _target(client, outputs)
    body = client.call("GET", f"{ARM}{resource}?api-version={_API[kind]}")
    tags = (body or {}).get("tags") or {}
    if str(tags.get(ROLLED_BACK_TAG, "")) == candidate_version:
        return True
    return _reported(client, outputs, resource, candidate_version)


def _stable_revision(app: Mapping[str, Any]) -> str:
    props = app.get("properties") or {}
    for weight in ((props.get("configuration") or {}).get("ingress") or {}).get("traffic") or []:
        if weight.get("label") == STABLE_LABEL and weight.get("revisionName"):
            return str(weight["revisionName"])
    raise WatchError("the model app labels no revision stable")


def _candidate_version(app: Mapping[str, Any]) -> str:
    for container in ((app.get("properties") or {}).get("template") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == "MODEL_VERSION":
                return str(env.get("value"))
    return "unknown"


def drain_candidate(
    outputs: Mapping[str, Any],
    *,
    client: Client | None = None,
    candidate_version: str | None = None,
) -> str:
    """Move all traffic to the stable version now (the rollback service's own write), tagging
    the target with the rolled-back marker the rollback service writes (E8), so
    :func:`rolled_back` is True for that candidate afterwards.

    The marker's version is ``candidate_version`` (the stack file's) when given; else, on a
    model app, the ``MODEL_VERSION`` of the app's latest template (the candidate); on an online
    endpoint without it no marker is written and the line says so.
    """
    client = client or Client()
    kind, resource = _target(client, outputs)
    url = f"{ARM}{resource}?api-version={_API[kind]}"
    current = client.call("GET", url)
    tags = dict(current.get("tags") or {})
    if kind == "container-app":
        stable = _stable_revision(current)
        ingress = dict(
            ((current.get("properties") or {}).get("configuration") or {}).get("ingress") or {}
        )
        ingress["traffic"] = [{"revisionName": stable, "weight": 100, "label": STABLE_LABEL}]
        version = candidate_version or _candidate_version(current)
        tags[ROLLED_BACK_TAG] = version
        client.call(
            "PATCH", url, {"tags": tags, "properties": {"configuration": {"ingress": ingress}}}
        )
        return f"{resource}: all traffic on the stable revision {stable}; marked {version}"
    props = {
        k: v for k, v in (current.get("properties") or {}).items()
        if k not in {"provisioningState", "scoringUri", "swaggerUri"}
    }  # fmt: skip
    props["traffic"] = {STABLE_DEPLOYMENT: 100, CANDIDATE_DEPLOYMENT: 0}
    props["mirrorTraffic"] = {}
    body = {k: current[k] for k in ("location", "kind", "identity", "sku") if k in current}
    if candidate_version:
        tags[ROLLED_BACK_TAG] = candidate_version
    if tags or "tags" in current:
        body["tags"] = tags
    body["properties"] = props
    client.call("PUT", url, body)
    marked = (
        f"marked {candidate_version}"
        if candidate_version
        else "rolled-back marker NOT written (no candidate version given)"
    )
    return (
        f"{resource}: all traffic on {STABLE_DEPLOYMENT}, "
        f"none live or mirrored on {CANDIDATE_DEPLOYMENT}; {marked}"
    )
