"""GCP building blocks for the embedded pattern: the device API and the build pipeline's reader.

The device API is an **API Gateway** (``gcp.apigateway.Api/ApiConfig/Gateway``) in front of two
Cloud Functions (gen2), one per route, each with its own identity, both built and run by the
function blocks (components/gcp/functions.py, as the rollback function is):

* ``GET /releases/latest`` (components/gcp/release_fn/main.py) answers with V4 signed URLs of
  the current release, signed through IAM Credentials ``signBlob`` as the function's own service
  account: Cloud Run has no key file, and the account holds Service Account Token Creator on
  itself only. The project's bootstrap creates the account and makes that grant
  (components/gcp/prerequisites.py ``SELF_SIGNERS``), so the stack's deployer never needs to
  set a service account's IAM policy. It reads ``releases/`` of the channel and nothing else
  (objectViewer under an IAM condition on the object name). Devices verify what they download
  offline with their environment's pinned key, so a leaked URL or a compromised channel can at
  worst deliver something a device refuses.
* ``POST /telemetry`` (components/gcp/telemetry_fn/main.py) takes opt-in device reports
  (components/embedded_telemetry.py) and writes one structured log line per report; log-based
  metrics (:func:`create_telemetry_metrics`) extract the neutral metrics and the neutral
  telemetry alarms watch them (:func:`create_telemetry_alarms`).

Why API Gateway and not the function checking the JWT itself: the gateway validates the spec's
issuer and audience (``x-google-issuer`` / ``x-google-audiences``, keys by OpenID Connect
discovery as on the api-first gateway) before anything of ours runs, and calls the functions
with an ID token of its own identity, which alone holds ``roles/run.invoker`` on each function's
service: the functions never allow unauthenticated invocation and hold no JWT code. The price:
API Gateway reaches a backend on its public URL, so the functions' ingress is ``ALLOW_ALL``
(the invoker check, not the network, keeps callers out; the component waives the ingress rule
for these two functions with that reason). In pulumi_gcp 10.x the ``apigateway`` resources carry
the "beta" docstring of the Terraform google-beta provider; the Pulumi GCP provider is built
from google-beta, so they work with the default provider.

The client's own build pipeline, which bakes a release into an app, does not go through this
API: it reads the channel directly with its own service account (:func:`grant_channel_reader`),
per environment, ``releases/`` only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components import embedded_telemetry as telemetry
from components.alarms import Tier, alarm_name
from components.gcp import functions, monitoring, prerequisites, security, storage
from components.gcp.security import Identity, Project, StackKey
from components.naming import resource_name
from components.spec import DeploymentSpec

HERE = Path(__file__).resolve().parent
HANDLER_DIR = HERE / "release_fn"
TELEMETRY_DIR = HERE / "telemetry_fn"
TELEMETRY_MODULE = Path(telemetry.__file__)
DOWNLOAD_PATH = "/releases/latest"
TELEMETRY_PATH = "/telemetry"
URL_SECONDS = 300  # how long a signed download URL works (the handler caps it at an hour)
DOWNLOAD_ENTRY_POINT = "latest"
TELEMETRY_ENTRY_POINT = "report"
MAX_INSTANCES = 10
RELEASES_PREFIX = "releases/"
POINTER = "releases/LATEST.json"
# Every object of the channel is under projects/_/buckets/<bucket>/objects/<name> for IAM.
OBJECT_READ_ROLE = "roles/storage.objectViewer"
# On its own account only; granted by the bootstrap (prerequisites.SELF_SIGNERS).
SELF_SIGNING_ROLE = prerequisites.SELF_SIGNING_ROLE

# The stack's runtime identities for this pattern (created by the project's bootstrap,
# components/gcp/prerequisites.py PATTERN_IDENTITIES).
DOWNLOAD_ROLE = "device-dl"
TELEMETRY_ROLE = "device-telemetry"
BUILD_ROLE = "device-build"
GATEWAY_ROLE = "device-gateway"
READER_ROLE = "release-reader"

# API Gateway's locations (a gateway is regional; the API and its configs are global).
API_GATEWAY_REGIONS: frozenset[str] = frozenset(
    {
        "asia-east1",
        "asia-northeast1",
        "australia-southeast1",
        "europe-west1",
        "europe-west2",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-west2",
        "us-west3",
        "us-west4",
    }
)
# A Cloud Function gen2 runs as the Cloud Run service of the same name, whose names stop at 49.
FUNCTION_NAME_LIMIT = 49


@dataclass(frozen=True)
class DeviceApi:
    """The API devices use, and what serves it."""

    api: gcp.apigateway.Api
    config: gcp.apigateway.ApiConfig
    gateway: gcp.apigateway.Gateway
    download: gcp.cloudfunctionsv2.Function
    telemetry: gcp.cloudfunctionsv2.Function
    accounts: Mapping[str, Identity]  # by role: device-dl, device-telemetry, device-gateway
    url: pulumi.Output[str]  # GET <url>/releases/latest, POST <url>/telemetry
    gateway_id: str
    log_filter: pulumi.Output[str]  # the device API's logs (functions, gateway)


def releases_condition(bucket: str) -> str:
    """IAM condition: objects under ``releases/`` of ``bucket`` only."""
    return f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{RELEASES_PREFIX}")'


def pointer_condition(bucket: str) -> str:
    """IAM condition: the channel's pointer only."""
    return f'resource.name == "projects/_/buckets/{bucket}/objects/{POINTER}"'


def function_name(spec: DeploymentSpec, role: str) -> str:
    """A device function's name (its Cloud Run service's too: at most 49 characters)."""
    return resource_name("gcp", "cloud-run", spec.project, spec.environment.value, role)


def build_repository_id(spec: DeploymentSpec) -> str:
    """The device functions' image repository (per environment: they may share a project)."""
    return resource_name("gcp", "default", spec.project, spec.environment.value, "device-fn")


def api_id(spec: DeploymentSpec) -> str:
    """The API Gateway API's id. Its managed service's name follows from it and may stay
    reserved after a delete, so it carries the stack's suffix (as the Endpoints service does)."""
    parts = [spec.project, spec.environment.value]
    if spec.suffix is not None:
        parts.append(spec.suffix)
    return resource_name("gcp", "default", *parts, "devices")


def gateway_id(spec: DeploymentSpec) -> str:
    """The gateway's id (unique per project)."""
    return resource_name("gcp", "default", spec.project, spec.environment.value, "devices")


def function_url(spec: DeploymentSpec, project_id: str, name: str) -> str:
    """A gen2 function's documented URL, which its service accepts as an ID token audience."""
    return f"https://{spec.region}-{project_id}.cloudfunctions.net/{name}"


def openapi_document(spec: DeploymentSpec, download_url: str, telemetry_url: str) -> str:
    """The gateway's OpenAPI 2.0 document: the two routes, each to its function, both behind
    the spec's JWT (a top-level requirement and one on each operation, so nothing is open).

    No ``x-google-jwks_uri``: the gateway (ESPv2) then finds the issuer's keys by OpenID Connect
    discovery, as the api-first gateway does (a guessed path breaks for common issuers). JSON
    text, which is YAML, under a ``.yaml`` name."""
    issuer, audience = spec.api.jwt()
    security_requirement: list[dict[str, list[str]]] = [{"jwt": []}]

    def backend(address: str) -> dict[str, Any]:
        # CONSTANT_ADDRESS: the function gets its own URL whatever the route; the gateway signs
        # an ID token for that address as its own identity.
        return {"address": address, "path_translation": "CONSTANT_ADDRESS", "deadline": 15.0}

    document = {
        "swagger": "2.0",
        "info": {
            "title": f"{spec.project}-{spec.environment.value}-devices",
            "description": "Model releases and opt-in telemetry for apps and devices",
            "version": "1.0.0",
        },
        "schemes": ["https"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "jwt": {
                "authorizationUrl": "",
                "flow": "implicit",
                "type": "oauth2",
                "x-google-issuer": issuer,
                "x-google-audiences": audience,
            }
        },
        "security": security_requirement,
        "paths": {
            DOWNLOAD_PATH: {
                "get": {
                    "operationId": "latestRelease",
                    "summary": "The current release with short-lived signed download URLs",
                    "security": security_requirement,
                    "x-google-backend": backend(download_url),
                    "responses": {
                        "200": {"description": "the release"},
                        "404": {"description": "no release yet"},
                        "502": {"description": "the channel cannot be read"},
                    },
                }
            },
            TELEMETRY_PATH: {
                "post": {
                    "operationId": "report",
                    "summary": "One opt-in device report",
                    "consumes": ["application/json"],
                    "parameters": [
                        {
                            "in": "body",
                            "name": "report",
                            "required": True,
                            "schema": {"type": "object"},
                        }
                    ],
                    "security": security_requirement,
                    "x-google-backend": backend(telemetry_url),
                    "responses": {
                        "202": {"description": "accepted"},
                        "400": {"description": "not a valid report"},
                        "413": {"description": "too large"},
                    },
                }
            },
        },
    }
    return json.dumps(document, indent=2, sort_keys=True)


def _archive(folder: Path, shipped: Mapping[str, Path]) -> tuple[pulumi.AssetArchive, str]:
    """A function's source (its folder, minus the package marker, plus ``shipped`` modules at
    its root) and a short digest of what it ships."""
    files = {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.name != "__init__.py"
    }
    files.update(shipped)
    digest = hashlib.sha256()
    for arc, path in sorted(files.items()):
        digest.update(arc.encode())
        digest.update(path.read_bytes())
    archive = pulumi.AssetArchive({arc: pulumi.FileAsset(str(p)) for arc, p in files.items()})
    return archive, digest.hexdigest()[:12]


def grant_channel_read(
    logical: str,
    channel: gcp.storage.Bucket,
    member: pulumi.Input[str],
    condition: Any,
    title: str,
    opts: pulumi.ResourceOptions,
) -> gcp.storage.BucketIAMMember:
    """objectViewer on ``channel`` for ``member``, limited by the IAM ``condition`` (a function
    of the bucket's name). Listing is checked on the bucket, which the condition excludes: the
    reader finds releases through the pointer."""
    return storage.grant_on_bucket(
        logical,
        channel,
        OBJECT_READ_ROLE,
        member,
        opts,
        condition=storage.Condition(title, channel.name.apply(condition)),
    )


def _create_build(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    key: StackKey,
    opts: pulumi.ResourceOptions,
) -> functions.FunctionBuild:
    """The functions' source bucket, image repository and build identity (the block the
    rollback function is built with too, components/gcp/functions.py)."""
    return functions.create_function_build(
        name,
        "device",
        spec,
        project,
        key,
        security.service_account(BUILD_ROLE, spec, project, project.parent),
        opts,
        repository_logical=f"{name}-device-fn-images",
        repository_id=build_repository_id(spec),
        label_role="device-api",
    )


def _runtime(account: Identity, environment: Mapping[str, pulumi.Input[str]]) -> functions.Runtime:
    """How a device function runs: API Gateway calls its backends on their public URL; the
    invoker check (the gateway's identity only) keeps everyone else out."""
    return functions.Runtime(
        account=account,
        ingress="ALLOW_ALL",
        max_instances=MAX_INSTANCES,
        timeout_seconds=15,
        environment=environment,
    )


def _device_function(
    base: str,
    role: str,
    spec: DeploymentSpec,
    key: StackKey,
    build: functions.FunctionBuild,
    opts: pulumi.ResourceOptions,
    *,
    description: str,
    folder: Path,
    shipped: Mapping[str, Path],
    entry_point: str,
    runtime: functions.Runtime,
    invoker: pulumi.Input[str],
    after: list[pulumi.Resource],
) -> functions.Function:
    """A device-facing function (logical names ``<base>-fn``, ``<base>-source``,
    ``<base>-invoker``) built from ``folder``, invocable by ``invoker`` only."""
    archive, digest = _archive(folder, shipped)
    return functions.create_function(
        base,
        spec,
        key,
        build,
        opts,
        function_name=function_name(spec, role),
        description=description,
        source=functions.Source(archive, f"{role}-{digest}.zip"),
        entry_point=entry_point,
        runtime=runtime,
        invoker=invoker,
        label_role=role,
        after=after,
    )


def create_device_api(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    key: StackKey,
    channel: gcp.storage.Bucket,
    opts: pulumi.ResourceOptions,
) -> DeviceApi:
    """The device API of the environment's release channel: the two functions, their grants,
    the gateway in front of them (logical names ``<name>-dl-*`` and ``<name>-telemetry-*``)."""
    if spec.region not in API_GATEWAY_REGIONS:
        raise ValueError(
            f"region {spec.region}: API Gateway runs in {', '.join(sorted(API_GATEWAY_REGIONS))}"
        )
    parent = project.parent
    accounts = {
        role: security.service_account(role, spec, project, parent)
        for role in (DOWNLOAD_ROLE, TELEMETRY_ROLE, GATEWAY_ROLE)
    }
    members = {role: security.member(account) for role, account in accounts.items()}
    build = _create_build(name, spec, project, key, opts)

    # The download function reads releases/ and signs URLs as itself (the bootstrap's grant on
    # its account), nothing more.
    reads_releases = grant_channel_read(
        f"{name}-dl-reads-releases",
        channel,
        members[DOWNLOAD_ROLE],
        releases_condition,
        "releases-only",
        opts,
    )
    download = _device_function(
        f"{name}-dl", DOWNLOAD_ROLE, spec, key, build, opts,
        description="Answers devices with short-lived signed URLs of the current release",
        folder=HANDLER_DIR,
        shipped={},
        entry_point=DOWNLOAD_ENTRY_POINT,
        runtime=_runtime(
            accounts[DOWNLOAD_ROLE],
            {
                "CHANNEL_BUCKET": channel.name,
                "SIGNER": accounts[DOWNLOAD_ROLE].email,
                "URL_SECONDS": str(URL_SECONDS),
            },
        ),
        invoker=members[GATEWAY_ROLE],
        after=[reads_releases],
    )  # fmt: skip
    reads_pointer = grant_channel_read(
        f"{name}-telemetry-reads-pointer",
        channel,
        members[TELEMETRY_ROLE],
        pointer_condition,
        "pointer-only",
        opts,
    )
    telemetry_fn = _device_function(
        f"{name}-telemetry", TELEMETRY_ROLE, spec, key, build, opts,
        description="Turns device reports into log-based metrics",
        folder=TELEMETRY_DIR,
        shipped={"embedded_telemetry.py": TELEMETRY_MODULE},
        entry_point=TELEMETRY_ENTRY_POINT,
        runtime=_runtime(
            accounts[TELEMETRY_ROLE],
            {"CHANNEL_BUCKET": channel.name, "ENVIRONMENT": spec.environment.value},
        ),
        invoker=members[GATEWAY_ROLE],
        after=[reads_pointer],
    )  # fmt: skip
    # Only the gateway's identity may invoke each function's service (the blocks' invoker
    # grants): the gateway waits for them.
    invokers = [download.invoker, telemetry_fn.invoker]

    api = gcp.apigateway.Api(
        f"{name}-dl-api",
        gcp.apigateway.ApiArgs(
            api_id=api_id(spec),
            display_name=f"{spec.project} {spec.environment.value} devices",
            labels=security.labels(spec, role="device-api"),
        ),
        opts=opts,
    )
    document = pulumi.Output.all(
        project.project_id, download.function.name, telemetry_fn.function.name
    ).apply(
        lambda v: openapi_document(
            spec, function_url(spec, v[0], v[1]), function_url(spec, v[0], v[2])
        )
    )
    config = gcp.apigateway.ApiConfig(
        f"{name}-dl-config",
        gcp.apigateway.ApiConfigArgs(
            api=api.api_id,
            # A config is immutable: a changed document is a new config (a new id), the
            # gateway moves to it, then the old one goes.
            api_config_id_prefix="devices-",
            display_name=f"{spec.project} {spec.environment.value} devices",
            openapi_documents=[
                gcp.apigateway.ApiConfigOpenapiDocumentArgs(
                    document=gcp.apigateway.ApiConfigOpenapiDocumentDocumentArgs(
                        path="openapi.yaml",
                        contents=document.apply(lambda d: base64.b64encode(d.encode()).decode()),
                    )
                )
            ],
            gateway_config=gcp.apigateway.ApiConfigGatewayConfigArgs(
                backend_config=gcp.apigateway.ApiConfigGatewayConfigBackendConfigArgs(
                    google_service_account=accounts[GATEWAY_ROLE].email
                )
            ),
            labels=security.labels(spec, role="device-api"),
        ),
        opts=opts,
    )
    # The API's managed service answers only in a project that enabled it.
    enabled = security.enable_managed_service(
        f"{name}-dl-api-enabled", project, api.managed_service, opts
    )
    gid = gateway_id(spec)
    gateway = gcp.apigateway.Gateway(
        f"{name}-dl-gateway",
        gcp.apigateway.GatewayArgs(
            api_config=config.id,
            gateway_id=gid,
            region=spec.region,
            display_name=f"{spec.project} {spec.environment.value} devices",
            labels=security.labels(spec, role="device-api"),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[enabled, *invokers])
        ),
    )
    url = gateway.default_hostname.apply(lambda host: f"https://{host}")
    # Known at the first preview (names we set, not the API's generated managed service): the
    # pack can then check that the stack's exclusion covers what its sink routes.
    log_filter = pulumi.Output.all(download.function.name, telemetry_fn.function.name).apply(
        lambda v: device_log_filter([v[0], v[1]], gid, api_id(spec))
    )
    return DeviceApi(
        api,
        config,
        gateway,
        download.function,
        telemetry_fn.function,
        accounts,
        url,
        gid,
        log_filter,
    )


def device_log_filter(functions: list[str], gateway: str, api: str | None) -> str:
    """The stack's logs: its functions, its gateway and its API's managed service (named
    ``<api id>-<generated>.apigateway.<project>.cloud.goog`` by API Gateway), and the audited
    services."""
    services = " OR ".join(f'"{f}"' for f in functions)
    api_logs = (
        f' OR (resource.type="api" AND resource.labels.service=~"^{api}-[a-z0-9]+\\.apigateway\\.")'
        if api
        else ""
    )
    return (
        f'(resource.type="cloud_run_revision" AND resource.labels.service_name=({services})) OR '
        f'(resource.type="apigateway.googleapis.com/Gateway" AND '
        f'resource.labels.gateway_id="{gateway}"){api_logs} OR ' + security.audit_log_filter()
    )


# -- telemetry: log-based metrics and the neutral alarms ----------------------------------------
REPORT_EVENT = "device-report"  # telemetry_fn/main.py EVENT


def metric_name(spec: DeploymentSpec, rule: telemetry.TelemetryAlarm) -> str:
    """A telemetry metric's log-based metric name: letters, digits and underscores only, so its
    PromQL name (``logging_googleapis_com:user_<name>``) is the same string."""
    raw = f"{spec.project}_{spec.environment.value}_{rule.key}"
    return "".join(c if c.isalnum() else "_" for c in raw.lower())[:100]


def promql_metric(spec: DeploymentSpec, rule: telemetry.TelemetryAlarm) -> str:
    """The metric's name in Cloud Monitoring's PromQL."""
    return f"logging_googleapis_com:user_{metric_name(spec, rule)}"


def _report_filter(function: str) -> str:
    return (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{function}" AND '
        f'jsonPayload.event="{REPORT_EVENT}"'
    )


def _above_filter(rule: telemetry.TelemetryAlarm, function: str) -> str:
    return f"{_report_filter(function)} AND jsonPayload.metrics.{rule.metric} > {rule.threshold:g}"


def create_telemetry_metrics(
    name: str,
    spec: DeploymentSpec,
    function: gcp.cloudfunctionsv2.Function,
    opts: pulumi.ResourceOptions,
) -> dict[str, gcp.logging.Metric]:
    """One log-based metric per neutral alarm, from the telemetry function's report lines.

    A "Sum" rule adds the metric's values: a distribution of ``jsonPayload.metrics.<Metric>``,
    whose sum PromQL reads (``_sum``). A "Maximum" rule asks whether any report went above the
    threshold: a counter of the reports that did (exact, where a histogram's maximum is not)."""
    metrics = {}
    for rule in telemetry.ALARMS:
        field = f"jsonPayload.metrics.{rule.metric}"
        if rule.statistic == "Sum":
            args = gcp.logging.MetricArgs(
                name=metric_name(spec, rule),
                description=f"{rule.metric} of device reports ({spec.environment.value})",
                filter=function.name.apply(_report_filter),
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="DISTRIBUTION", unit="1"
                ),
                value_extractor=f"EXTRACT({field})",
                bucket_options=gcp.logging.MetricBucketOptionsArgs(
                    exponential_buckets=gcp.logging.MetricBucketOptionsExponentialBucketsArgs(
                        num_finite_buckets=32, growth_factor=2, scale=1
                    )
                ),
            )
        else:
            args = gcp.logging.MetricArgs(
                name=metric_name(spec, rule),
                description=(
                    f"device reports with {rule.metric} above {rule.threshold:g} "
                    f"({spec.environment.value})"
                ),
                filter=function.name.apply(functools.partial(_above_filter, rule)),
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="INT64", unit="1"
                ),
            )
        metrics[rule.key] = gcp.logging.Metric(f"{name}-metric-{rule.key}", args, opts=opts)
    return metrics


def telemetry_query(spec: DeploymentSpec, rule: telemetry.TelemetryAlarm) -> str:
    """The PromQL that is true while ``rule`` breaches over one period."""
    window = f"{rule.period_seconds}s"
    if rule.statistic == "Sum":
        return (
            f'sum(increase({{__name__="{promql_metric(spec, rule)}_sum"}}[{window}])) '
            f"> {rule.threshold:g}"
        )
    return f'sum(increase({{__name__="{promql_metric(spec, rule)}"}}[{window}])) > 0'


def create_telemetry_alarms(
    name: str,
    spec: DeploymentSpec,
    metrics: Mapping[str, gcp.logging.Metric],
    routing: monitoring.AlertRouting,
    opts: pulumi.ResourceOptions,
) -> dict[str, gcp.monitoring.AlertPolicy]:
    """The neutral telemetry alarms (components/embedded_telemetry.py ALARMS), each a PromQL
    alert policy routed to its tier's channels. A rule over N periods must hold for N - 1 more
    periods after the first breaching window; no reports is no evidence of failure (devices
    report only when they opt in), so an absent series never fires."""
    policies = {}
    for rule in telemetry.ALARMS:
        tier = Tier(rule.tier)
        policies[rule.key] = gcp.monitoring.AlertPolicy(
            f"{name}-alarm-{rule.key}",
            gcp.monitoring.AlertPolicyArgs(
                display_name=alarm_name(spec, rule.key),
                combiner="OR",
                severity=monitoring.SEVERITIES[tier],
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=f"{rule.key}: {rule.metric} {rule.statistic} "
                        f"above {rule.threshold:g}",
                        condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                            query=telemetry_query(spec, rule),
                            duration=f"{rule.period_seconds * (rule.evaluation_periods - 1)}s",
                            evaluation_interval="60s",
                            # The metric has no points until the first report: validation
                            # would refuse the policy on a new stack.
                            disable_metric_validation=True,
                        ),
                    )
                ],
                notification_channels=routing.ids(tier),
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(
                    auto_close=f"{max(monitoring.AUTO_CLOSE_SECONDS, rule.period_seconds)}s"
                ),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    mime_type="text/markdown",
                    content=f"{rule.description}. See docs/runbooks in the project.",
                ),
                user_labels={
                    "signal": rule.key,
                    "tier": tier.value,
                    "environment": spec.environment.value,
                },
            ),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[metrics[rule.key]])
            ),
        )
    return policies


def create_channel_reader(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    channel: gcp.storage.Bucket,
    opts: pulumi.ResourceOptions,
) -> Identity:
    """The client's build pipeline's identity for this environment (created by the bootstrap,
    role ``release-reader``): reads objects under ``releases/`` of the channel, nothing else.
    The client lets its pipeline act as it (Workload Identity Federation or impersonation);
    keys are never made."""
    reader = security.service_account(READER_ROLE, spec, project, project.parent)
    grant_channel_read(
        f"{name}-release-reader",
        channel,
        security.member(reader),
        releases_condition,
        "releases-only",
        opts,
    )
    return reader
