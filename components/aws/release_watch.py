"""The pipeline's release watch on AWS: one observation of a stack's release, in the JSON shape
``components.rollout.parse_observation`` accepts, and the two actions around it.

Standard library only: it runs in CI (vendored into generated projects) and, for its pure parts,
inside the post-window rollback function (components/aws/rollback_fn). It talks to AWS through
an injectable :class:`Api` (``call(service, operation, params)``); the default
:class:`CliApi` shells out to the AWS CLI with the pipeline's own credentials, so what it reads
is verified by the monitor itself. Tests pass a double (moto's server through boto3, or
recorded answers).

Samples come from the same signals the rollback alarms use: the watch reads the alarms'
own metric queries back (DescribeAlarms) and asks GetMetricData for their candidate/stable
metrics over the window, never a second definition that could drift (ids per
components/aws/monitoring.Metric).
"""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404 - runs the AWS CLI with a fixed argv, never a shell
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

__all__ = [
    "CLI_TOOLS",
    "Api",
    "ApiError",
    "CliApi",
    "drain_candidate",
    "marker_parameter",
    "observe",
    "rolled_back",
    "sample_queries",
    "samples_from",
    "write_marker",
]

CLI_TOOLS: tuple[str, ...] = ("aws",)

API_FIRST, MANAGED_PLATFORM, EVENT_DRIVEN = "api-first", "managed-platform", "event-driven"
# SageMaker's production variants (components/aws/managed_platform.VARIANT_NAMES; a test holds
# them equal).
STABLE_VARIANT, CANDIDATE_VARIANT = "stable", "candidate"
# The marker an automatic rollback writes: an SSM parameter whose value is the rolled-back
# candidate version (rolled_back() reads it; review E8).
MARKER_PREFIX = "/aideploy/rolled-back-candidate"
# The latency metrics' units, to milliseconds (the observation's unit).
LATENCY_TO_MS: Mapping[tuple[str, str], float] = {
    ("AWS/ApplicationELB", "TargetResponseTime"): 1000.0,  # seconds
    ("AWS/SageMaker", "ModelLatency"): 0.001,  # microseconds
}
# The stage patch that moves all traffic to the stable deployment (the stage's canary share).
CANARY_PERCENT_PATH = "/canarySettings/percentTraffic"
_ZERO = {"requests": 0, "errors_5xx": 0, "p99_ms": None}
_ID_RE = re.compile(r"^(candidate|stable)_(requests|errors)_([a-z0-9]+)(?:_[a-z0-9]+)?$")


class ApiError(Exception):
    """An AWS call failed: denied (403), throttled, timed out or answered something unreadable."""


class Api(Protocol):
    """One AWS API call: ``call("cloudwatch", "DescribeAlarms", {...})`` -> the parsed answer."""

    def call(
        self, service: str, operation: str, params: Mapping[str, Any]
    ) -> dict[str, Any]: ...  # pragma: no cover - a protocol


def _kebab(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", operation).lower()


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class CliApi:
    """:class:`Api` through the AWS CLI (``aws <service> <operation> --cli-input-json``)."""

    def __init__(
        self, *, region: str | None = None, timeout: float = 60, run: Runner | None = None
    ) -> None:
        self.region, self.timeout = region, timeout
        self.run: Runner = run or subprocess.run

    def argv(self, service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
        """The command line for one call."""
        argv = ["aws", service, _kebab(operation), "--cli-input-json", json.dumps(params)]
        argv += ["--output", "json"]
        return argv + (["--region", self.region] if self.region else [])

    def call(self, service: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run the CLI; a non-zero exit, a timeout or non-JSON output is an :class:`ApiError`."""
        try:
            done = self.run(
                self.argv(service, operation, params),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ApiError(f"{service} {operation}: {error}") from None
        if done.returncode != 0:
            lines = [line for line in (done.stderr or "").strip().splitlines() if line.strip()]
            raise ApiError(f"{service} {operation}: {lines[-1] if lines else done.returncode}")
        try:
            answer = json.loads(done.stdout or "{}")
        except ValueError:
            raise ApiError(f"{service} {operation}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ApiError(f"{service} {operation}: the answer is not an object")
        return answer


def pattern_of(outputs: Mapping[str, Any]) -> str:
    """Which pattern a stack's outputs belong to (the outputs each one registers)."""
    if "api_id" in outputs:
        return API_FIRST
    if "endpoint_name" in outputs:
        return MANAGED_PLATFORM
    return EVENT_DRIVEN


def marker_parameter(outputs: Mapping[str, Any]) -> str | None:
    """The SSM parameter the automatic rollback writes for this stack (None: no candidate)."""
    pattern = pattern_of(outputs)
    if pattern == API_FIRST:
        return f"{MARKER_PREFIX}/apigateway/{outputs['api_id']}"
    if pattern == MANAGED_PLATFORM:
        return f"{MARKER_PREFIX}/sagemaker/{outputs['endpoint_name']}"
    return None


# -- alarms ------------------------------------------------------------------------------------


def read_alarms(api: Api, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The named metric alarms (DescribeAlarms by exact name), by name."""
    answer = api.call(
        "cloudwatch",
        "DescribeAlarms",
        {"AlarmNames": list(names), "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100},
    )
    found = answer.get("MetricAlarms")
    if not isinstance(found, list) or not all(isinstance(a, dict) for a in found):
        raise ApiError("cloudwatch DescribeAlarms: no MetricAlarms list in the answer")
    return {str(a.get("AlarmName")): a for a in found}


def trigger_from(
    alarms: Mapping[str, Mapping[str, Any]], names: Sequence[str]
) -> dict[str, Any] | None:
    """The watch's trigger: the first firing alarm of ``names``; an unverifiable one when an
    alarm is missing; None when none fires."""
    missing = [n for n in names if n not in alarms]
    if missing:
        return {"verified": False, "firing": True, "rule": f"alarm not found: {', '.join(missing)}"}
    for name in names:
        if alarms[name].get("StateValue") == "ALARM":
            return {"verified": True, "firing": True, "rule": name}
    return None


# -- samples -----------------------------------------------------------------------------------


def _metric_queries(alarms: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for alarm in alarms:
        for query in alarm.get("Metrics") or []:
            qid = str(query.get("Id", ""))
            stat = query.get("MetricStat")
            if stat and (qid.startswith("candidate_") or qid.startswith("stable_")):
                out.setdefault(qid, {"Id": qid, "MetricStat": dict(stat)})
    return out


def sample_queries(alarms: Iterable[Mapping[str, Any]], seconds: int) -> list[dict[str, Any]]:
    """GetMetricData queries for the candidate/stable samples, from the alarms' own queries.

    One period covers the whole window, so each query answers one number (a sum, or the p99
    over the window). The stable version's 5xx count uses the candidate's error metrics with
    the stable version's dimensions (same source, same definitions).
    """
    period = max(60, -(-seconds // 60) * 60)
    queries = _metric_queries(alarms)
    for qid, query in list(queries.items()):
        match = _ID_RE.match(qid)
        if not match or match.group(1) != "candidate" or match.group(2) != "errors":
            continue
        stable = queries.get(f"stable_requests_{match.group(3)}")
        if stable is None:
            continue
        twin_id = "stable_" + qid.removeprefix("candidate_")
        metric = dict(query["MetricStat"]["Metric"])
        metric["Dimensions"] = stable["MetricStat"]["Metric"].get("Dimensions", [])
        queries.setdefault(
            twin_id, {"Id": twin_id, "MetricStat": {**query["MetricStat"], "Metric": metric}}
        )
    return [
        {**q, "MetricStat": {**q["MetricStat"], "Period": period}, "ReturnData": True}
        for q in sorted(queries.values(), key=lambda q: str(q["Id"]))
    ]


def _latency_scale(query: Mapping[str, Any] | None) -> float:
    if query is None:
        return 1.0
    metric = query["MetricStat"]["Metric"]
    return LATENCY_TO_MS.get((metric.get("Namespace"), metric.get("MetricName")), 1.0)


def samples_from(
    queries: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``{"candidate": sample, "stable": sample}`` from GetMetricData results.

    Per version and source (``lb``, ``sm``, ...): requests are the summed request counts, 5xx
    the summed error kinds (capped at the requests: a connection error the target never
    answered can be counted without a request); the version's sample is its busiest source.
    p99 is converted to milliseconds; no value means not measured.
    """
    values: dict[str, list[float]] = {}
    for result in results:
        raw = result.get("Values") or []
        values.setdefault(str(result.get("Id")), []).extend(float(v) for v in raw)
    by_id = {str(q["Id"]): q for q in queries}
    out: dict[str, dict[str, Any]] = {}
    for version in ("candidate", "stable"):
        sources: dict[str, list[int]] = {}
        for qid, vals in values.items():
            match = _ID_RE.match(qid)
            if match and match.group(1) == version:
                pair = sources.setdefault(match.group(3), [0, 0])
                pair[0 if match.group(2) == "requests" else 1] += round(sum(vals))
        requests, errors = max(sources.values(), default=[0, 0], key=lambda p: p[0])
        p99_values = values.get(f"{version}_p99") or []
        p99 = max(p99_values) * _latency_scale(by_id.get(f"{version}_p99")) if p99_values else None
        out[version] = {
            "requests": requests,
            "errors_5xx": min(errors, requests),
            "p99_ms": None if p99 is None else round(p99, 3),
        }
    return out


def metric_window(minutes: float, now: datetime | None = None) -> tuple[str, str, int]:
    """(start, end, seconds) of the last ``minutes``, ending at the last whole minute (UTC)."""
    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    seconds = max(60, int(minutes * 60))
    start = end - timedelta(seconds=seconds)
    return start.isoformat(), end.isoformat(), seconds


def read_samples(
    api: Api, alarms: Iterable[Mapping[str, Any]], minutes: float
) -> dict[str, dict[str, Any]]:
    """Candidate and stable samples over the last ``minutes`` (GetMetricData, all pages)."""
    start, end, seconds = metric_window(minutes)
    queries = sample_queries(alarms, seconds)
    if not queries:
        return {"candidate": dict(_ZERO), "stable": dict(_ZERO)}
    results: list[Mapping[str, Any]] = []
    params: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        answer = api.call("cloudwatch", "GetMetricData", params)
        page = answer.get("MetricDataResults")
        if not isinstance(page, list):
            raise ApiError("cloudwatch GetMetricData: no MetricDataResults in the answer")
        results.extend(page)
        token = answer.get("NextToken")
        if not token:
            return samples_from(queries, results)
        params = {**params, "NextToken": token}


# -- the contract ------------------------------------------------------------------------------


def observe(
    outputs: Mapping[str, Any],
    settings: Mapping[str, Any],
    minutes: float,
    *,
    client: Api | None = None,
) -> dict[str, Any]:
    """One observation of the stack's release (see the module docstring and the brief).

    A firing rollback alarm is a verified trigger; an alarm state that cannot be read (403,
    timeout, malformed answer, a missing alarm) or metrics that cannot be read is an
    unverifiable one; nothing firing leaves ``trigger`` out. Event-driven stacks have no
    candidate: zero samples and no trigger.
    """
    api = client or CliApi()
    observation: dict[str, Any] = {
        "candidate": dict(_ZERO),
        "stable": dict(_ZERO),
        "settings": {k: settings[k] for k in ("error_rate", "latency_multiplier", "min_requests")},
    }
    names = [str(n) for n in outputs.get("rollback_alarms") or []]
    if pattern_of(outputs) == EVENT_DRIVEN or not names:
        return observation
    try:
        alarms = read_alarms(api, names)
    except ApiError as error:
        observation["trigger"] = {"verified": False, "firing": True, "rule": str(error)}
        return observation
    trigger = trigger_from(alarms, names)
    try:
        observation.update(read_samples(api, alarms.values(), minutes))
    except ApiError as error:
        trigger = trigger or {"verified": False, "firing": True, "rule": str(error)}
    if trigger is not None:
        observation["trigger"] = trigger
    return observation


def rolled_back(
    outputs: Mapping[str, Any], candidate_version: str, *, client: Api | None = None
) -> bool:
    """True when an automatic rollback removed ``candidate_version`` from traffic (its marker
    parameter names that version). A read that fails for another reason than "no marker"
    raises :class:`ApiError`: the pipeline must not guess."""
    name = marker_parameter(outputs)
    if name is None:
        return False
    api = client or CliApi()
    try:
        answer = api.call("ssm", "GetParameter", {"Name": name})
    except ApiError as error:
        if "ParameterNotFound" in str(error):
            return False
        raise
    return bool(answer.get("Parameter", {}).get("Value") == candidate_version)


def stage_patch() -> list[dict[str, str]]:
    """The UpdateStage patch that gives the stage's canary 0% of traffic."""
    return [{"op": "replace", "path": CANARY_PERCENT_PATH, "value": "0"}]


def stable_weights() -> list[dict[str, Any]]:
    """UpdateEndpointWeightsAndCapacities' weights: all traffic on the stable variant."""
    return [
        {"VariantName": STABLE_VARIANT, "DesiredWeight": 1.0},
        {"VariantName": CANDIDATE_VARIANT, "DesiredWeight": 0.0},
    ]


def write_marker(api: Api, name: str, candidate_version: str) -> None:
    """Write the rolled-back marker ``name`` (:func:`marker_parameter`) for ``candidate_version``:
    the one writer of both the rollback function and :func:`drain_candidate`. An SSM parameter
    no Pulumi program manages, so no later `pulumi up` (of any stack file) rewrites it."""
    api.call(
        "ssm",
        "PutParameter",
        {
            "Name": name,
            "Value": candidate_version,
            "Type": "String",
            "Overwrite": True,
            "Description": "Candidate version removed from traffic by an automatic rollback",
        },
    )


def _drain_split(api: Api, outputs: Mapping[str, Any]) -> str | None:
    """All traffic to stable; the line saying what, or None when there was nothing to drain."""
    pattern = pattern_of(outputs)
    if pattern == API_FIRST:
        api_id = str(outputs["api_id"])
        stages = api.call("apigateway", "GetStages", {"restApiId": api_id}).get("item") or []
        canaries = [s for s in stages if isinstance(s, dict) and s.get("canarySettings")]
        if not canaries:
            return None
        for stage in canaries:
            api.call(
                "apigateway",
                "UpdateStage",
                {
                    "restApiId": api_id,
                    "stageName": stage["stageName"],
                    "patchOperations": stage_patch(),
                },
            )
        done = ", ".join(str(s["stageName"]) for s in canaries)
        return f"api {api_id} stage {done}: canary traffic set to 0%, all traffic on stable"
    endpoint = str(outputs["endpoint_name"])
    api.call(
        "sagemaker",
        "UpdateEndpointWeightsAndCapacities",
        {"EndpointName": endpoint, "DesiredWeightsAndCapacities": stable_weights()},
    )
    return f"endpoint {endpoint}: variant {CANDIDATE_VARIANT} weight 0, all traffic on stable"


def drain_candidate(
    outputs: Mapping[str, Any],
    *,
    client: Api | None = None,
    candidate_version: str | None = None,
) -> str:
    """Move all traffic to the stable version now, through the API the automatic rollback uses
    (the stage's canary share, or the endpoint's variant weights), then write the rolled-back
    marker the automatic rollback writes, so the pipeline's guard (E8) refuses to re-apply
    ``candidate_version`` (the stack file's ``rollout.candidate_version``). One line saying what.

    Traffic first: a marker that cannot be written never keeps traffic on the candidate. Without
    ``candidate_version`` no marker is written and the line says so.
    """
    api = client or CliApi()
    if pattern_of(outputs) == EVENT_DRIVEN:
        return "event-driven stacks have no candidate: nothing to drain"
    line = _drain_split(api, outputs)
    if line is None:
        return f"api {outputs['api_id']}: no stage has a canary; nothing to drain"
    if not candidate_version:
        return f"{line}; rolled-back marker NOT written (no candidate version given)"
    name = str(marker_parameter(outputs))
    write_marker(api, name, candidate_version)
    return f"{line}; marker {name} = {candidate_version}"
