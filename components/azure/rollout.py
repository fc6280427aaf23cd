"""Canary traffic and alarm-driven rollback on Azure.

Neither Container Apps nor Azure Machine Learning rolls a release back on an alert, so the
rollback path is built once here and shared: a rollback alert notifies an action group whose
webhook posts to the rollback service (code in ``rollback_fn/``), which verifies the alert with
Azure Monitor and resets the target's traffic to 100% stable. The service runs as its own
user-assigned identity holding a custom role with exactly "read" and "write" on the one target.

It is hosted on Container Apps, not Azure Functions: a function app needs a storage account
for its host and its package, a Consumption function cannot reach a storage account that denies
public networks (policy rule 18), and pulumi-azure-native can only upload a package blob with the
account's shared key, which rule 18 also forbids. A Container App needs no storage at all: the
service's few standard-library files travel through ARM as Container Apps secrets, mounted as a
volume into a stock Python image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components.azure import container_apps, hosting, monitoring, roles, security
from components.naming import resource_name
from components.rollout import ROLLBACK_MARKER, settings_for, traffic_split
from components.spec import DeploymentSpec, Pattern

ROLLBACK_FN_DIR = Path(__file__).resolve().parent / "rollback_fn"
# The one rollback rule (components/rollout.py), shipped beside the service's own files under
# the name its decision module imports (the same function the pipeline's watch calls).
ROLLOUT_MODULE = Path(__file__).resolve().parents[1] / "rollout.py"
# The files deployed: name in the package -> source (explicit: no caches, no tests, no strays).
ROLLBACK_FN_SOURCES: dict[str, Path] = {
    **{
        rel: ROLLBACK_FN_DIR / rel
        for rel in (
            "__init__.py",
            "arm.py",
            "decision.py",
            "handler.py",
            "server.py",
            "webhook_auth.py",
        )
    },
    "rollout_decision.py": ROLLOUT_MODULE,
}
ROLLBACK_FN_FILES: tuple[str, ...] = tuple(ROLLBACK_FN_SOURCES)
# The window the service re-reads samples over: the rollback alerts' own window (their periods
# behind the ingestion allowance), so it judges the same minutes the alert did.
SAMPLE_TIMESPAN = "PT10M"
# A stock Python image from Microsoft's registry (Azure Linux); the code is mounted into it.
ROLLBACK_IMAGE = "mcr.microsoft.com/azurelinux/base/python:3.12"
ROLLBACK_PORT = 8080
ROLLBACK_PATH = "/api/rollback"

# -- the authenticated trigger (review B1) ----------------------------------------------------
# The action group's webhook carries an Entra token for the stack's webhook application, which
# Azure Monitor's action-group application obtains (it holds the app role WEBHOOK_APP_ROLE on
# it). The application is an Entra ID object, not an ARM resource: bootstrap creates one per
# environment (components/azure/bootstrap.py ``webhook_apps``; or an admin by hand, where
# bootstrap may not: docs/patterns/azure.md) with the identifier URI below, and its object id
# reaches the stack as this config key or, when the key is unset, the CI variable of the same
# meaning (bootstrap's ``ci_variables`` output), read from the environment.
WEBHOOK_APP_OBJECT_ID_CONFIG = "rollbackWebhookAppObjectId"
# Optional: the application's client id, also accepted as the token audience (v2 tokens).
WEBHOOK_APP_CLIENT_ID_CONFIG = "rollbackWebhookAppClientId"
# The CI variables (and environment variables) bootstrap's ``ci_variables`` output names them by.
WEBHOOK_APP_OBJECT_ID_ENV = "ROLLBACK_WEBHOOK_APP_OBJECT_ID"
WEBHOOK_APP_CLIENT_ID_ENV = "ROLLBACK_WEBHOOK_APP_CLIENT_ID"
# The patterns whose stacks declare the rollback webhook (:func:`rollback_path`).
WEBHOOK_PATTERNS: frozenset[Pattern] = frozenset({Pattern.API_FIRST, Pattern.MANAGED_PLATFORM})
# Where a client reads how the application is made (the generated bootstrap/README.md).
WEBHOOK_APP_DOC = 'bootstrap/README.md, section "The rollback webhook\'s Entra application"'


def webhook_identifier_uri(tenant_id: str, project: str, environment: str) -> str:
    """The webhook application's identifier URI (``api://<tenant>/<name>`` is a format Entra
    accepts for any tenant); also the token audience the service requires. One application per
    environment: identifier URIs are unique in a tenant, and a project's bootstrap stacks (one
    per subscription, all in one tenant) each create their own environments' applications."""
    return f"api://{tenant_id}/aideploy-{project}-{environment}-rollback"


def webhook_app_ids(
    config: pulumi.Config | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """The webhook application's (object id, client id): the stack config keys, else the CI
    variables bootstrap's ``ci_variables`` names them by (the pipeline's environment)."""
    config = config or pulumi.Config()
    env = os.environ if environ is None else environ
    object_id = config.get(WEBHOOK_APP_OBJECT_ID_CONFIG) or env.get(WEBHOOK_APP_OBJECT_ID_ENV)
    client_id = config.get(WEBHOOK_APP_CLIENT_ID_CONFIG) or env.get(WEBHOOK_APP_CLIENT_ID_ENV)
    return (object_id or "").strip() or None, (client_id or "").strip() or None


def missing_webhook_app_message() -> str:
    """What a stack says when it wires the rollback webhook without the application's id."""
    return (
        f"`{WEBHOOK_APP_OBJECT_ID_CONFIG}` is not set: the rollback webhook authenticates as its "
        "Entra application, which bootstrap creates (see "
        f"{WEBHOOK_APP_DOC}). Set `pulumi config set {WEBHOOK_APP_OBJECT_ID_CONFIG} "
        f"<object id>` (or, in CI, the variable {WEBHOOK_APP_OBJECT_ID_ENV} from bootstrap's "
        "ci_variables) before `pulumi up`"
    )


def require_webhook_app() -> tuple[str | None, str | None]:
    """:func:`webhook_app_ids`, checked: without the object id a preview warns and a real
    `pulumi up` raises (a component may call this first, before it declares anything)."""
    object_id, client_id = webhook_app_ids()
    if not object_id:
        if not pulumi.runtime.is_dry_run():
            raise pulumi.RunError(missing_webhook_app_message())
        pulumi.log.warn(missing_webhook_app_message())
    return object_id, client_id


def stop_up_without_webhook_app() -> None:
    """Called first by the components that wire the rollback webhook, before they declare
    anything: a real `pulumi up` without the webhook application stops here, so no resource
    (API Management takes most of an hour) is created by an up that cannot finish. A preview
    warns later, once, in :func:`webhook_auth`."""
    if not pulumi.runtime.is_dry_run() and not webhook_app_ids()[0]:
        raise pulumi.RunError(missing_webhook_app_message())


@dataclass(frozen=True)
class WebhookAuth:
    """The secure-webhook settings of the rollback receiver and what the service checks."""

    tenant_id: pulumi.Output[str]
    identifier_uri: pulumi.Output[str]
    object_id: str | None
    audiences: pulumi.Output[str]


def webhook_auth(spec: DeploymentSpec) -> WebhookAuth:
    """The webhook application this stack's rollback receiver authenticates with.

    Without its object id a preview (and the offline checks, which run as previews) warns; a
    real `pulumi up` stops with :func:`missing_webhook_app_message`, so no receiver is ever
    declared without the application that authenticates it.
    """
    object_id, client_id = require_webhook_app()
    tenant = security.tenant_id()
    uri = tenant.apply(lambda t: webhook_identifier_uri(t, spec.project, spec.environment.value))
    audiences = uri.apply(lambda u: ",".join(a for a in (u, client_id) if a))
    return WebhookAuth(tenant, uri, object_id, audiences)


def revision_suffix(version: str) -> str:
    """A name-safe form of a model version (``1.1.0`` -> ``v1-1-0``)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")
    return ("v" + cleaned)[:24].rstrip("-")


# Bumped whenever the model app's template changes shape in code (a new environment variable,
# probe or volume): any template change makes a new revision and a revision suffix can be used
# only once, so the suffix must change with it (review A9 (c)).
TEMPLATE_REVISION = "2"


def revision_name(spec: DeploymentSpec, app_name: str, version: str, image: str) -> str:
    """The Container Apps revision that serves ``version`` from ``image`` with this spec.

    Any template change makes a new revision, and a suffix can be used only once, so the
    suffix names the version *and* hashes everything in the template that the spec or the
    code decides (image, size, scaling, port, probes, :data:`TEMPLATE_REVISION`).
    """
    cap, model = spec.capacity, spec.model
    template = (
        f"{image}|{cap.cpu}|{cap.memory_mb}|{cap.min_instances}|{cap.max_instances}|"
        f"{cap.target_cpu_percent}|{model.port}|{model.health_path}|{TEMPLATE_REVISION}"
    )
    digest = hashlib.sha256(template.encode()).hexdigest()[:6]
    return f"{app_name}--{revision_suffix(version)[:16].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class Release:
    """Which version each traffic track serves and with what weight (sums to 100)."""

    stable_version: str
    stable_image: str
    candidate_version: str
    candidate_image: str
    stable_percent: int
    candidate_percent: int


def release(spec: DeploymentSpec) -> Release:
    """The release the spec describes: with no candidate, the candidate track is the stable
    model at 0%, so the canary path always exists and is always exercised."""
    stable, candidate = traffic_split(spec)
    return Release(
        stable_version=spec.model.version,
        stable_image=spec.model.serving_image,
        candidate_version=spec.rollout.candidate_version or spec.model.version,
        candidate_image=spec.rollout.candidate_image or spec.model.serving_image,
        stable_percent=stable,
        candidate_percent=candidate,
    )


# -- the live app: which revision really serves as stable (review A9) -------------------------
CONTAINER_APPS_API = "2024-03-01"
ARM_URL = "https://management.azure.com"
STABLE_LABEL = "stable"


@dataclass(frozen=True)
class LiveApp:
    """What the deployed Container App looks like before this `pulumi up`.

    ``exists`` is None when it could not be read (offline, under mocks): the plan then falls
    back to recomputing the stable revision's name from the spec.
    """

    exists: bool | None
    stable_revision: str | None = None


UNKNOWN_APP = LiveApp(exists=None)
ABSENT_APP = LiveApp(exists=False)

# (url, bearer token) -> (HTTP status, parsed JSON body)
ArmGet = Callable[[str, str], tuple[int, Any]]


def urllib_get(url: str, token: str) -> tuple[int, Any]:
    """One authenticated ARM GET; HTTP errors are returned, not raised."""
    if not url.startswith(ARM_URL + "/"):
        raise ValueError(f"refusing a non-ARM URL {url!r}")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 # nosec B310
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else {}
        except ValueError:
            return exc.code, {}


def stable_revision_of(body: Mapping[str, Any]) -> str | None:
    """The revision a live app's traffic labels ``stable`` (or the latest ready revision when
    no label names one), from ARM's GET body."""
    props = body.get("properties") or {}
    ingress = (props.get("configuration") or {}).get("ingress") or {}
    for weight in ingress.get("traffic") or []:
        if weight.get("label") == STABLE_LABEL:
            if weight.get("revisionName"):
                return str(weight["revisionName"])
            if weight.get("latestRevision"):
                return props.get("latestRevisionName") or None
    ready = props.get("latestReadyRevisionName")
    return str(ready) if ready else None


def read_live_app(url: str, token: str | None, get: ArmGet = urllib_get) -> LiveApp:
    """The live app at ``url``: absent on 404, its stable revision on 200, unknown without a
    token; any other answer is an error (a preview must not guess)."""
    if not token:
        return UNKNOWN_APP
    status, body = get(url, token)
    if status == 404:
        return ABSENT_APP
    if status != 200 or not isinstance(body, Mapping):
        error = (body or {}).get("error", {}) if isinstance(body, Mapping) else {}
        raise RuntimeError(
            f"reading the live Container App failed with HTTP {status}: "
            f"{error.get('code', '')} {error.get('message', '')}".strip()
        )
    return LiveApp(exists=True, stable_revision=stable_revision_of(body))


def live_app(
    spec: DeploymentSpec, rg_name: str, app_name: str, get: ArmGet = urllib_get
) -> LiveApp:
    """Read the deployed model app with the provider's own credentials (ARM), at program time,
    so preview and up both see which revision serves as stable right now."""
    config = authorization.get_client_config()
    token = authorization.get_client_token().token
    url = (
        f"{ARM_URL}/subscriptions/{config.subscription_id}/resourceGroups/{rg_name}"
        f"/providers/Microsoft.App/containerApps/{app_name}?api-version={CONTAINER_APPS_API}"
    )
    return read_live_app(url, token, get)


@dataclass(frozen=True)
class AppPlan:
    """What one `pulumi up` does to the model app: its template and its traffic."""

    template_version: str
    template_image: str
    stable_revision: str
    candidate_revision: str
    traffic: tuple[app.TrafficWeightArgs, ...]
    note: str | None = None


def container_app_plan(spec: DeploymentSpec, app_name: str, live: LiveApp) -> AppPlan:
    """The model app's template and revision weights (``Multiple`` revisions mode).

    The template is the newest revision: the candidate's image when there is one. The stable
    revision is the one the live app labels ``stable`` (read, not recomputed: a profile change
    since it was deployed would rename it). On the first deploy of a stack whose config already
    names a candidate, no stable revision exists to split against: the stable version is
    deployed alone, and the candidate starts on the next `pulumi up`. Without a candidate the
    template is the stable revision and holds all traffic (Microsoft's blue/green layout lists
    a revision once). Offline (live state unknown) the stable name is recomputed from the spec.
    """
    r = release(spec)
    stable_rev = revision_name(spec, app_name, r.stable_version, r.stable_image)
    only_stable = AppPlan(
        r.stable_version,
        r.stable_image,
        stable_rev,
        stable_rev,
        (app.TrafficWeightArgs(revision_name=stable_rev, weight=100, label=STABLE_LABEL),),
    )
    if not spec.has_candidate:
        return only_stable
    if live.exists is False:
        note = (
            f"{app_name} does not exist yet: deploying the stable version {r.stable_version} "
            f"alone; the candidate {r.candidate_version} starts on the next `pulumi up`"
        )
        return AppPlan(**{**only_stable.__dict__, "note": note})
    live_stable = live.stable_revision if live.exists else None
    candidate_rev = revision_name(spec, app_name, r.candidate_version, r.candidate_image)
    return AppPlan(
        r.candidate_version,
        r.candidate_image,
        live_stable or stable_rev,
        candidate_rev,
        (
            app.TrafficWeightArgs(
                revision_name=live_stable or stable_rev,
                weight=r.stable_percent,
                label=STABLE_LABEL,
            ),
            app.TrafficWeightArgs(
                latest_revision=True, weight=r.candidate_percent, label="candidate"
            ),
        ),
    )


def container_app_traffic(spec: DeploymentSpec, app_name: str) -> list[app.TrafficWeightArgs]:
    """Revision weights when the live app is unknown (recomputed stable name)."""
    return list(container_app_plan(spec, app_name, UNKNOWN_APP).traffic)


# Deployment names on a managed online endpoint: blue serves the stable model, green the
# candidate (or, with no candidate, the stable model again at 0% and minimum capacity).
STABLE_DEPLOYMENT = "blue"
CANDIDATE_DEPLOYMENT = "green"
# Share of live requests copied to the candidate in shadow mode (candidate set, canary 0%).
# Mirrored responses are discarded: the candidate is measured without any user seeing it.
SHADOW_MIRROR_PERCENT = 10


@dataclass(frozen=True)
class EndpointTraffic:
    """Live and mirrored traffic of a managed online endpoint, by deployment name."""

    live: dict[str, int]
    mirror: dict[str, int]

    @property
    def shadow(self) -> bool:
        """True when the candidate is only being shadow-tested."""
        return bool(self.mirror)


def online_endpoint_traffic(spec: DeploymentSpec) -> EndpointTraffic:
    """Blue/green weights from traffic_split(spec), plus mirrored traffic for shadow testing.

    A candidate with a 0% canary share is shadow-tested: it receives a copy of
    SHADOW_MIRROR_PERCENT of requests and no live traffic. A candidate with a canary share
    takes it live and nothing is mirrored, so its metrics never mix copies and real answers.
    """
    r = release(spec)
    live = {STABLE_DEPLOYMENT: r.stable_percent, CANDIDATE_DEPLOYMENT: r.candidate_percent}
    shadow = spec.has_candidate and r.candidate_percent == 0
    mirror = {CANDIDATE_DEPLOYMENT: SHADOW_MIRROR_PERCENT} if shadow else {}
    return EndpointTraffic(live=live, mirror=mirror)


# The service's code, shipped as Container Apps secrets (components/azure/container_apps.py).
ROLLBACK_CODE = container_apps.CodePackage("rollback_fn", ROLLBACK_FN_SOURCES)


def code_secrets() -> dict[str, str]:
    """The service's files as Container Apps secrets: secret name -> file content.

    Secret names allow lowercase letters, digits and dashes, so ``decision.py`` is
    ``code-decision-py``; :func:`code_volume_items` maps each back to its path.
    """
    return ROLLBACK_CODE.secrets()


def code_volume_items() -> list[app.SecretVolumeItemArgs]:
    """Mount every code secret at ``rollback_fn/<file>`` under the volume's mount path."""
    return ROLLBACK_CODE.volume_items()


def code_digest() -> str:
    """A short hash of the code: it names the revision, so a code change is a new revision."""
    return ROLLBACK_CODE.digest()


@dataclass(frozen=True)
class RollbackTarget:
    """What the rollback function resets, and the custom role (roles.py) it holds there."""

    kind: str  # a decision.TARGET_KINDS entry
    resource_id: pulumi.Input[str]
    stable: pulumi.Input[str]
    candidate: pulumi.Input[str]
    role: str  # a roles.CUSTOM_ROLES key, created by bootstrap
    # A write that carries a reference to another resource is checked by ARM against that
    # resource too ("linked access"): (key, scope, role) grants exactly that, there only.
    linked: tuple[tuple[str, pulumi.Input[str], str], ...] = ()


# The rollback roles' actions live with the roles bootstrap creates (components/azure/roles.py).
CONTAINER_APP_ACTIONS = roles.CONTAINER_APP_ACTIONS
ASSIGN_IDENTITY_ACTIONS = roles.ASSIGN_IDENTITY_ACTIONS
ONLINE_ENDPOINT_ACTIONS = roles.ONLINE_ENDPOINT_ACTIONS


@dataclass(frozen=True)
class RollbackPath:
    """The created rollback machinery; ``action_group`` is what rollback alarms notify."""

    service: app.ContainerApp
    action_group: monitor.ActionGroup
    identity: security.Identity
    app_name: str
    grants: tuple[authorization.RoleAssignment, ...]


def rollback_path(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    insights: applicationinsights.Component,
    alert_rules: list[str],
    target: RollbackTarget,
    log: monitoring.RequestLog,
    opts: pulumi.ResourceOptions,
) -> RollbackPath:
    """Rollback service + least-privilege identity + the action group that calls it.

    ``alert_rules`` are the exact names of the rollback alert rules: the service acts only on an
    alert of one of them, read back from Azure Monitor at the workspace it was raised on. Its
    identity holds exactly what its calls need (rollback_fn/arm.py CALLS): read alerts and query
    the alerts' tables on the workspace, read and write the target, send its decision events to
    Application Insights.
    """
    # First: on `pulumi up` without the webhook application's id this stops before any part of
    # the rollback path is declared (review B1: never a receiver without its application).
    auth = webhook_auth(spec)
    svc_identity = security.identity(spec, name, "rollback", rg, opts)
    # Bootstrap's custom roles, assigned on exactly the target (and the linked resource).
    grants = [
        security.grant_custom(
            f"{name}-rollback-grant", spec, svc_identity, target.role, target.resource_id, opts
        )
    ]
    for key, scope, role in target.linked:
        grants.append(
            security.grant_custom(
                f"{name}-rollback-{key}-grant", spec, svc_identity, role, scope, opts
            )
        )
    # Read the alert at the scope it was raised on (review E2) and the alerts' own tables, on
    # the workspace only (review B7: no Monitoring Reader over every log).
    grants.append(
        security.grant_custom(
            f"{name}-rollback-alerts-grant",
            spec,
            svc_identity,
            roles.ROLLBACK_ALERT_READER,
            workspace.id,
            opts,
        )
    )
    grants.append(
        security.grant_custom(
            f"{name}-rollback-logs-grant",
            spec,
            svc_identity,
            roles.ROLLBACK_LOGS[spec.pattern],
            workspace.id,
            opts,
        )
    )
    # Its decision events (the report and the page) go to Application Insights, Entra-signed.
    grants.append(
        security.grant(
            f"{name}-rollback-report-grant",
            svc_identity,
            "monitoring-metrics-publisher",
            insights.id,
            opts,
        )
    )

    # Its own small environment: the tool that moves traffic does not share a blast radius with
    # the workloads it controls, and the managed-platform pattern has no other environment.
    environment = hosting.container_environment(spec, name, "rollback-env", rg, workspace, opts)
    app_name = rollback_app_name(spec)
    decision = settings_for(spec)
    settings: dict[str, pulumi.Input[str]] = {
        **container_apps.CODE_SETTINGS,
        "PORT": str(ROLLBACK_PORT),
        "ROLLBACK_IDENTITY_CLIENT_ID": svc_identity.client_id,
        "ROLLBACK_TARGET_KIND": target.kind,
        "ROLLBACK_TARGET_ID": target.resource_id,
        "ROLLBACK_STABLE": target.stable,
        "ROLLBACK_CANDIDATE": target.candidate,
        "ROLLBACK_ALERT_RULES": ",".join(alert_rules),
        "ROLLBACK_CANDIDATE_VERSION": release(spec).candidate_version,
        "ROLLBACK_WORKSPACE_ID": workspace.id,
        "ROLLBACK_WORKSPACE_CUSTOMER_ID": workspace.customer_id,
        "ROLLBACK_SAMPLE_QUERY": monitoring.sample_query(log),
        "ROLLBACK_SAMPLE_TIMESPAN": SAMPLE_TIMESPAN,
        "ROLLBACK_ERROR_RATE": f"{decision.error_rate:g}",
        "ROLLBACK_LATENCY_MULTIPLIER": f"{decision.latency_multiplier:g}",
        "ROLLBACK_MIN_REQUESTS": str(decision.min_requests),
        "ROLLBACK_SERVICE_NAME": app_name,
        # Who may call (review B1): the tenant and the audiences the caller's token must name.
        "ROLLBACK_WEBHOOK_TENANT_ID": auth.tenant_id,
        "ROLLBACK_WEBHOOK_AUDIENCES": auth.audiences,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": insights.connection_string,
    }
    service = container_apps.create_container_app(
        f"{name}-rollback",
        spec,
        app_name,
        rg,
        environment,
        [svc_identity.id],
        container_apps.Container(
            name="rollback",
            image=ROLLBACK_IMAGE,
            cpu=0.25,
            memory="0.5Gi",
            port=ROLLBACK_PORT,
            health_path="/healthz",
            env=settings,
            command=["python3", "-m", "rollback_fn.server"],
            # Liveness alone, at the platform's default period, as the service always had.
            probes=(app.Type.LIVENESS,),
            probe_period_seconds=None,
            code=ROLLBACK_CODE,
        ),
        # Action groups call from Azure's public addresses (the ActionGroup service tag, which
        # IP rules cannot name): HTTPS only, every call must carry Azure Monitor's Entra token
        # for the webhook application (webhook_auth.py), and the alert it names is read back
        # from Azure Monitor before anything moves.
        container_apps.https_ingress(ROLLBACK_PORT),
        # Scale to zero between alerts; one replica serialises concurrent rollbacks.
        container_apps.http_scale(0, 1, 10),
        opts,
        extra_tags=ROLLBACK_MARKER,
    )
    action_group = monitor.ActionGroup(
        f"{name}-rollback-action",
        resource_group_name=rg.name,
        location="global",
        enabled=True,
        group_short_name="aid-rollbk",
        webhook_receivers=[
            monitor.WebhookReceiverArgs(
                name="rollback",
                # The service's own address: the URL depends on the service, so the policy
                # pack follows the alert to it (S2) and Azure creates it before the webhook.
                service_uri=pulumi.Output.concat(
                    "https://",
                    service.id.apply(lambda _id: app_name),
                    ".",
                    environment.default_domain,
                    ROLLBACK_PATH,
                ),
                use_common_alert_schema=True,
                # Secure webhook (review B1): Azure Monitor sends an Entra token for the
                # stack's webhook application; the service checks it (webhook_auth.py).
                use_aad_auth=True,
                identifier_uri=auth.identifier_uri,
                tenant_id=auth.tenant_id,
                object_id=auth.object_id,
            )
        ],
        tags=spec.standard_tags(),
        opts=opts,
    )
    return RollbackPath(service, action_group, svc_identity, app_name, tuple(grants))


def rollback_app_name(spec: DeploymentSpec) -> str:
    """The rollback service's Container App name (also its role name in its decision events)."""
    return resource_name("azure", "container-app", spec.project, spec.environment.value, "rollback")
