"""Azure building blocks for the embedded pattern: the device API and the build pipeline's reader.

The device API (logical names ``<name>-dl-*``)::

    device --JWT--> API Management (validate-jwt: the spec's issuer and audience; per-device
                    rate limit and quota; 4 KB telemetry bodies) --> Container App (ingress
                    admits API Management's addresses alone) --> the release channel

* ``GET /releases/latest`` answers like the AWS download function: 200 with the release and
  **user-delegation SAS** URLs of its bundle and files (5 minutes, at most an hour), 404
  before the first release, 502 when the channel cannot be read (device_fn/server.py). The
  service's identity holds Storage Blob Data Reader on the channel's container and Storage
  Blob Delegator (the user-delegation-key action alone) on its account; a SAS never grants
  more than that reader role. Devices verify what they download offline with their
  environment's pinned public key, so a leaked URL or a compromised channel can at worst
  deliver something a device refuses.
* ``POST /telemetry`` takes opt-in device reports (components/embedded_telemetry.py). Each
  becomes one JSON log line (Container Apps' console log, in Log Analytics through the
  environment's diagnostic setting); the telemetry alarms are log search alerts over those
  lines (:func:`telemetry_query`). Why logs, not custom metrics: Azure Monitor custom metrics
  need an SDK or an ingestion identity and round to pre-aggregated dimensions, while a log
  search alert gives every neutral statistic (sum, maximum) over any window the neutral rules
  ask for, with no right beyond writing to stdout: the same idea as the AWS embedded metric
  format.

The gateway is API Management on the spec's gateway tier (the api-first pattern's tiers and
TLS/cipher settings: classic tiers have the documented protocol switches the pack checks and
fixed public addresses, which the Container App's ingress allow-list names; the Consumption
tier has neither fixed addresses nor those switches, so the backend could not refuse callers
that bypass the gateway). No Front Door: devices call the gateway directly (the API serves
small JSON answers; downloads go straight to storage).

The client's own build pipeline, which bakes a release into an app, does not use this API:
it reads the channel with its own identity per environment (:func:`create_channel_reader`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_azure_native.apimanagement as apim
import pulumi_azure_native.app as app
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components import embedded_telemetry as telemetry
from components.alarms import Tier, alarm_name
from components.azure import (
    api_first,
    api_management,
    container_apps,
    hosting,
    monitoring,
    security,
)
from components.azure.release_channel import CONTAINER, ReleaseChannel
from components.naming import resource_name
from components.spec import AuthMode, DeploymentSpec

DEVICE_FN_DIR = Path(__file__).resolve().parent / "device_fn"
TELEMETRY_MODULE = Path(telemetry.__file__)
# The files deployed: name in the package -> source (explicit: no caches, no tests).
DEVICE_FN_SOURCES: dict[str, Path] = {
    **{rel: DEVICE_FN_DIR / rel for rel in ("__init__.py", "channel.py", "server.py")},
    "embedded_telemetry.py": TELEMETRY_MODULE,
}
DEVICE_IMAGE = "mcr.microsoft.com/azurelinux/base/python:3.12"  # stock; code mounted
DEVICE_PORT = 8080
URL_SECONDS = 300  # how long a download URL works (the service caps it at an hour)
API_ID = "devices"
BACKEND_ID = "devices"
DOWNLOAD_ROUTE = ("GET", "/releases/latest", "latest-release")
TELEMETRY_ROUTE = ("POST", "/telemetry", "telemetry")
# Settings the interpreter reads, not the service's code.
INTERPRETER_SETTINGS = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
# The resource-specific table Container Apps console logs land in (diagnostic setting,
# "Dedicated"), and the event the service writes per report (device_fn/server.py).
CONSOLE_LOG_TABLE = "ContainerAppConsoleLogs"
REPORT_EVENT = "device-report"


# The service's code, shipped as Container Apps secrets (components/azure/container_apps.py).
DEVICE_CODE = container_apps.CodePackage("device_fn", DEVICE_FN_SOURCES)


def code_secrets() -> dict[str, str]:
    """The service's files as Container Apps secrets (names: lowercase, digits, dashes)."""
    return DEVICE_CODE.secrets()


def code_digest() -> str:
    """A short hash of the code: it names the revision, so a code change is a new revision."""
    return DEVICE_CODE.digest()


def device_app_name(spec: DeploymentSpec) -> str:
    """The device service's Container App name."""
    return resource_name("azure", "container-app", spec.project, spec.environment.value, "devices")


def device_policy(spec: DeploymentSpec, backend_id: str) -> str:
    """The device API's inbound policy: a valid device JWT (the spec's issuer and audience,
    keys from the issuer's OpenID configuration), a per-device rate limit and daily quota, a
    4 KB ceiling on telemetry bodies, then the service."""
    issuer, audience = spec.api.jwt()
    api = spec.api
    return api_management.policy_document(
        [
            *api_management.validate_jwt_policy(issuer, audience),
            *api_management.consumer_limits_policy(
                api.burst,
                api.rate_limit_rps,
                api.quota_per_day,
                api_first.AUTH_PLANS[AuthMode.JWT].counter_key,
            ),
            *api_management.size_limit_policy(telemetry.MAX_REPORT_BYTES),
        ],
        backend_id,
    )


def request_log() -> monitoring.RequestLog:
    """The device API's requests as devices got them: API Management's gateway log."""
    view = monitoring.LogView(
        table="ApiManagementGatewayLogs",
        latency_ms="TotalTime",
        status="ResponseCode",
        where=f'ApiId == "{API_ID}"',
    )
    return monitoring.RequestLog(serving=view, candidate=view)


@dataclass(frozen=True)
class DeviceApi:
    """The API devices use, and what serves it."""

    gateway: apim.ApiManagementService
    gateway_name: str
    api: apim.Api
    policy: apim.ApiPolicy
    service: app.ContainerApp
    app_name: str
    environment: app.ManagedEnvironment
    identity: security.Identity
    grants: tuple[pulumi.Resource, ...]
    url: pulumi.Output[str]  # GET <url>/releases/latest, POST <url>/telemetry


def create_device_api(
    name: str,
    spec: DeploymentSpec,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    channel: ReleaseChannel,
    opts: pulumi.ResourceOptions,
) -> DeviceApi:
    """The device API of the environment's release channel (logical names ``<name>-dl-*``)."""
    base = f"{name}-dl"
    identity = security.identity(spec, name, "devices", rg, opts)
    grants = (
        security.grant(
            f"{base}-channel-read-grant",
            identity,
            "storage-blob-data-reader",
            channel.container.id,
            opts,
        ),
        # The one action that issues user delegation keys (SAS signing), on the account.
        security.grant(
            f"{base}-delegation-grant", identity, "storage-blob-delegator", channel.account.id, opts
        ),
    )
    ready = security.rbac_wait(f"{base}-grants-wait", list(grants), opts)

    gateway_name = security.physical_name(spec, "apim", "devices")
    gateway = api_management.create_gateway(
        f"{base}-apim", spec, gateway_name, rg, workspace, opts
    ).service

    environment = hosting.container_environment(spec, name, "dl-env", rg, workspace, opts)
    app_name = device_app_name(spec)
    settings: dict[str, pulumi.Input[str]] = {
        **container_apps.CODE_SETTINGS,
        "PORT": str(DEVICE_PORT),
        "AZURE_CLIENT_ID": identity.client_id,
        "CHANNEL_ACCOUNT": channel.account.name.apply(lambda _: channel.account_name),
        "CHANNEL_CONTAINER": channel.container.name.apply(lambda _: CONTAINER),
        "URL_SECONDS": str(URL_SECONDS),
        "ENVIRONMENT": spec.environment.value,
    }
    service = container_apps.create_container_app(
        base,
        spec,
        app_name,
        rg,
        environment,
        [identity.id],
        container_apps.Container(
            name="devices",
            image=DEVICE_IMAGE,
            cpu=0.25,
            memory="0.5Gi",
            port=DEVICE_PORT,
            health_path="/healthz",
            env=settings,
            command=["python3", "-m", "device_fn.server"],
            code=DEVICE_CODE,
        ),
        # Only API Management may call the service: ingress allows its public addresses alone.
        container_apps.https_ingress(DEVICE_PORT, allow=api_management.ingress_allow_list(gateway)),
        container_apps.http_scale(
            0 if spec.capacity.scale_to_zero else 1, spec.capacity.max_instances, 50
        ),
        # The service reads the channel from its first request: after its grants propagate.
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ready])),
    )

    backend_url = pulumi.Output.concat("https://", app_name, ".", environment.default_domain)
    backend = api_management.create_backend(
        f"{base}-apim-backend",
        rg,
        gateway,
        BACKEND_ID,
        backend_url,
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[service])),
    )
    # Devices authenticate with their identity provider's JWT (the policy), not a key a binary
    # would have to carry: no subscription.
    api = api_management.create_api(
        f"{base}-api", rg, gateway, API_ID, f"{spec.project} devices", API_ID, backend_url, opts
    )
    for method, template, operation in (DOWNLOAD_ROUTE, TELEMETRY_ROUTE):
        apim.ApiOperation(
            f"{base}-{operation}",
            resource_group_name=rg.name,
            service_name=gateway.name,
            api_id=api.name,
            operation_id=operation,
            display_name=operation.replace("-", " "),
            method=method,
            url_template=template,
            opts=opts,
        )
    policy = api_management.create_api_policy(
        f"{base}-api-policy", rg, gateway, api, device_policy(spec, BACKEND_ID), [backend], opts
    )
    url = api.id.apply(lambda _: f"https://{gateway_name}.azure-api.net/{API_ID}")
    return DeviceApi(
        gateway,
        gateway_name,
        api,
        policy,
        service,
        app_name,
        environment,
        identity,
        (*grants, ready),
        url,
    )


# Neutral statistic -> KQL aggregate over the report lines' metric column.
_STATISTICS = {"Sum": "sum", "Maximum": "max"}


def _iso_seconds(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    if seconds % 3600 == 0:
        return f"PT{seconds // 3600}H"
    return f"PT{seconds // 60}M"


def telemetry_query(rule: telemetry.TelemetryAlarm, app_name: str, environment: str) -> str:
    """The KQL of one telemetry alarm: the rule's statistic of its metric per period over the
    device service's report lines, and only when every period of the window breached (the
    smallest period value is the one compared). No reports, no rows, no alert: devices report
    only when they opt in, so silence is no evidence of failure."""
    stat = _STATISTICS[rule.statistic]
    return "\n".join(
        [
            CONSOLE_LOG_TABLE,
            f'| where ContainerAppName == "{app_name}"',
            "| extend report = parse_json(Log)",
            f'| where tostring(report.event) == "{REPORT_EVENT}"'
            f' and tostring(report.environment) == "{environment}"',
            f"| summarize value = {stat}(todouble(report.{rule.metric}))"
            f" by bin(TimeGenerated, {rule.period_seconds}s)",
            "| summarize value = min(value), periods = count()",
            f"| where periods >= {rule.evaluation_periods}",
        ]
    )


def create_telemetry_alarms(
    name: str,
    spec: DeploymentSpec,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    app_name: str,
    channels: Mapping[Tier, monitor.ActionGroup],
    opts: pulumi.ResourceOptions,
) -> dict[str, monitor.ScheduledQueryRule]:
    """The neutral telemetry alarms (components/embedded_telemetry.py ALARMS) as log search
    alerts on the workspace, each to its tier's action group."""
    made = {}
    for rule in telemetry.ALARMS:
        tier = Tier(rule.tier)
        window = rule.period_seconds * rule.evaluation_periods
        made[rule.key] = monitor.ScheduledQueryRule(
            f"{name}-alarm-{rule.key}",
            rule_name=alarm_name(spec, rule.key),
            display_name=alarm_name(spec, rule.key),
            resource_group_name=rg.name,
            location=spec.region,
            kind="LogAlert",
            description=rule.description,
            enabled=True,
            severity=monitoring.TIER_SEVERITY[tier],
            scopes=[workspace.id],
            # Evaluated once a period (at most hourly): a day-long window re-read every five
            # minutes would only repeat itself.
            evaluation_frequency=_iso_seconds(min(max(rule.period_seconds, 300), 3600)),
            window_size=_iso_seconds(window),
            auto_mitigate=True,
            criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                all_of=[
                    monitor.ConditionArgs(
                        query=telemetry_query(rule, app_name, spec.environment.value),
                        time_aggregation=monitor.TimeAggregation.MAXIMUM,
                        metric_measure_column="value",
                        operator="GreaterThan",
                        threshold=float(rule.threshold),
                        failing_periods=monitor.ConditionFailingPeriodsArgs(
                            number_of_evaluation_periods=1, min_failing_periods_to_alert=1
                        ),
                    )
                ]
            ),
            actions=monitor.ActionsArgs(
                action_groups=[channels[tier].id],
                custom_properties={"aideploy-tier": tier.value, "aideploy-rollback": "false"},
            ),
            tags=spec.standard_tags(),
            opts=opts,
        )
    return made


@dataclass(frozen=True)
class ChannelReader:
    """The client's build pipeline's identity for one environment, and its one grant."""

    identity: security.Identity
    grant: pulumi.Resource


def create_channel_reader(
    name: str,
    spec: DeploymentSpec,
    rg: resources.ResourceGroup,
    channel: ReleaseChannel,
    opts: pulumi.ResourceOptions,
) -> ChannelReader:
    """The client's build pipeline's identity for this environment: Storage Blob Data Reader on
    the channel's container, nothing else. The client's administrator adds a federated
    credential for their pipeline's OIDC subject (or attaches the identity to their build
    agent); the pipeline then signs in with the identity's client id (the ``release_reader``
    output) and reads ``releases/`` with the Entra-authenticated Blob API."""
    identity = security.identity(spec, name, "release-reader", rg, opts)
    grant = security.grant(
        f"{name}-release-reader-grant",
        identity,
        "storage-blob-data-reader",
        channel.container.id,
        opts,
    )
    return ChannelReader(identity, grant)
