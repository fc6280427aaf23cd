"""Canary traffic and alarm-driven rollback on Azure.

Neither Container Apps nor Azure Machine Learning rolls a release back on an alert, so the
rollback path is built once here and shared: a rollback alert notifies an action group whose
Azure Function receiver calls the rollback function (code in ``rollback_fn/``), which resets
the target's traffic to 100% stable. The function runs as its own user-assigned identity holding
a custom role with exactly "read" and "write" on the one target resource.

The function's code is packaged by Pulumi itself (an ``AssetArchive`` of the folder's files)
into a blob in a CMK-encrypted storage account; the function app runs from that package URL
(``WEBSITE_RUN_FROM_PACKAGE``) and fetches it with its managed identity, so no SAS token or
storage key exists anywhere.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage
import pulumi_azure_native.web as web

from components.alarms import traffic_split
from components.azure import security
from components.naming import resource_name
from components.spec import DeploymentSpec

ROLLBACK_FN_DIR = Path(__file__).resolve().parent / "rollback_fn"
# The files deployed, relative to ROLLBACK_FN_DIR (explicit: no caches, no tests, no stray files).
ROLLBACK_FN_FILES: tuple[str, ...] = (
    "host.json",
    "__init__.py",
    "arm.py",
    "decision.py",
    "rollback/__init__.py",
    "rollback/function.json",
)
ROLLBACK_FUNCTION_NAME = "rollback"


def revision_suffix(version: str) -> str:
    """A name-safe form of a model version (``1.1.0`` -> ``v1-1-0``)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")
    return ("v" + cleaned)[:24].rstrip("-")


def revision_name(spec: DeploymentSpec, app_name: str, version: str, image: str) -> str:
    """The Container Apps revision that serves ``version`` from ``image`` with this spec.

    Any template change makes a new revision, and a suffix can be used only once, so the
    suffix names the version *and* hashes everything in the template that the spec decides
    (image, size, scaling, port, probes): a profile change with the same model is a new
    revision, and the stable revision's name can be recomputed on the next release.
    """
    cap, model = spec.capacity, spec.model
    template = (
        f"{image}|{cap.cpu}|{cap.memory_mb}|{cap.min_instances}|{cap.max_instances}|"
        f"{cap.target_cpu_percent}|{model.port}|{model.health_path}"
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
        stable_image=spec.model.image,
        candidate_version=spec.rollout.candidate_version or spec.model.version,
        candidate_image=spec.rollout.candidate_image or spec.model.image,
        stable_percent=stable,
        candidate_percent=candidate,
    )


def container_app_traffic(spec: DeploymentSpec, app_name: str) -> list[app.TrafficWeightArgs]:
    """Revision weights of a Container App in ``Multiple`` revisions mode.

    The app's template is the newest revision: the candidate's image when there is one. The
    stable revision (created by the previous release) keeps its weight by name. Without a
    candidate, the template is the stable revision and holds all traffic (Microsoft's
    documented blue/green layout lists a revision once, so no 0% entry repeats it).
    """
    r = release(spec)
    stable_revision = revision_name(spec, app_name, r.stable_version, r.stable_image)
    if not spec.has_candidate:
        return [app.TrafficWeightArgs(revision_name=stable_revision, weight=100, label="stable")]
    return [
        app.TrafficWeightArgs(
            revision_name=stable_revision, weight=r.stable_percent, label="stable"
        ),
        app.TrafficWeightArgs(latest_revision=True, weight=r.candidate_percent, label="candidate"),
    ]


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


def package_archive() -> pulumi.AssetArchive:
    """The rollback function's zip: exactly ROLLBACK_FN_FILES at the archive's root."""
    return pulumi.AssetArchive(
        {rel: pulumi.FileAsset(str(ROLLBACK_FN_DIR / rel)) for rel in ROLLBACK_FN_FILES}
    )


def package_digest() -> str:
    """A short hash of the function's files: a code change is a new blob and a new app setting,
    which restarts the app on the new package (a same-named blob would keep the old code)."""
    digest = hashlib.sha256()
    for rel in ROLLBACK_FN_FILES:
        digest.update(rel.encode())
        digest.update((ROLLBACK_FN_DIR / rel).read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class RollbackTarget:
    """What the rollback function resets, and the actions its custom role allows there."""

    kind: str  # a decision.TARGET_KINDS entry
    resource_id: pulumi.Input[str]
    stable: pulumi.Input[str]
    candidate: pulumi.Input[str]
    actions: tuple[str, ...]
    # A write that carries a reference to another resource is checked by ARM against that
    # resource too ("linked access"): (key, scope, actions) grants exactly that, there only.
    linked: tuple[tuple[str, pulumi.Input[str], tuple[str, ...]], ...] = ()


CONTAINER_APP_ACTIONS = ("Microsoft.App/containerApps/read", "Microsoft.App/containerApps/write")
# An online endpoint's traffic only changes through a full PUT, which restates the endpoint's
# user-assigned identity; ARM then requires "assign" on that identity from the caller.
ASSIGN_IDENTITY_ACTIONS = ("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",)
ONLINE_ENDPOINT_ACTIONS = (
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
)


@dataclass(frozen=True)
class RollbackPath:
    """The created rollback machinery; ``action_group`` is what rollback alarms notify."""

    function_app: web.WebApp
    action_group: monitor.ActionGroup
    identity: security.Identity
    storage_account: storage.StorageAccount


def rollback_path(
    spec: DeploymentSpec,
    name: str,
    rg: resources.ResourceGroup,
    keys: security.KeyBundle,
    encryption: security.Identity,
    workspace: operationalinsights.Workspace,
    app_insights_connection: pulumi.Input[str],
    app_insights_id: pulumi.Input[str],
    target: RollbackTarget,
    opts: pulumi.ResourceOptions,
) -> RollbackPath:
    """Function app + package + least-privilege identity + the action group that calls it."""
    fn_identity = security.identity(spec, name, "rollback", rg, opts)

    # The host's own storage (package, locks, logs): identity-based access only. Linux
    # Consumption has no VNet integration, so the account cannot deny public networks here.
    account = security.cmk_storage_account(
        spec, name, "fn", rg, keys, encryption, opts, network_default_deny=False
    )
    container = storage.BlobContainer(
        f"{name}-fn-packages",
        account_name=account.name,
        resource_group_name=rg.name,
        public_access=storage.PublicAccess.NONE,
        opts=opts,
    )
    blob_name = f"rollback-{package_digest()}.zip"
    storage.Blob(
        f"{name}-fn-package",
        account_name=account.name,
        container_name=container.name,
        resource_group_name=rg.name,
        blob_name=blob_name,
        type=storage.BlobType.BLOCK,
        content_type="application/zip",
        source=package_archive(),
        opts=opts,
    )
    security.grant(
        f"{name}-fn-storage-grant", fn_identity, "storage-blob-data-owner", account.id, opts
    )
    security.grant(
        f"{name}-fn-telemetry-grant",
        fn_identity,
        "monitoring-metrics-publisher",
        app_insights_id,
        opts,
    )
    role = security.custom_role(
        f"{name}-rollback-role",
        spec,
        f"{target.kind} traffic rollback",
        target.actions,
        target.resource_id,
        opts,
    )
    security.grant_custom(f"{name}-rollback-grant", fn_identity, role, target.resource_id, opts)
    for key, scope, actions in target.linked:
        linked = security.custom_role(
            f"{name}-rollback-{key}-role", spec, f"rollback {key}", actions, scope, opts
        )
        security.grant_custom(f"{name}-rollback-{key}-grant", fn_identity, linked, scope, opts)

    plan = web.AppServicePlan(
        f"{name}-fn-plan",
        resource_group_name=rg.name,
        location=spec.region,
        kind="functionapp",
        reserved=True,  # Linux
        sku=web.SkuDescriptionArgs(name="Y1", tier="Dynamic"),
        tags=spec.standard_tags(),
        opts=opts,
    )
    package_url = pulumi.Output.concat(
        "https://", account.name, ".blob.core.windows.net/", container.name, "/", blob_name
    )
    settings: dict[str, pulumi.Input[str]] = {
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage__accountName": account.name,
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": fn_identity.client_id,
        "WEBSITE_RUN_FROM_PACKAGE": package_url,
        "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": fn_identity.id,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": app_insights_connection,
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": pulumi.Output.concat(
            "Authorization=AAD;ClientId=", fn_identity.client_id
        ),
        "ROLLBACK_IDENTITY_CLIENT_ID": fn_identity.client_id,
        "ROLLBACK_TARGET_KIND": target.kind,
        "ROLLBACK_TARGET_ID": target.resource_id,
        "ROLLBACK_STABLE": target.stable,
        "ROLLBACK_CANDIDATE": target.candidate,
    }
    function_app = web.WebApp(
        f"{name}-fn",
        name=resource_name("azure", "default", spec.project, spec.environment.value, "rollback"),
        resource_group_name=rg.name,
        location=spec.region,
        kind="functionapp,linux",
        reserved=True,
        server_farm_id=plan.id,
        https_only=True,
        client_cert_enabled=False,
        identity=web.ManagedServiceIdentityArgs(
            type=web.ManagedServiceIdentityType.USER_ASSIGNED,
            user_assigned_identities=[fn_identity.id],
        ),
        key_vault_reference_identity=fn_identity.id,
        site_config=web.SiteConfigArgs(
            linux_fx_version="Python|3.11",
            min_tls_version=web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
            scm_min_tls_version=web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
            ftps_state=web.FtpsState.DISABLED,
            http20_enabled=True,
            remote_debugging_enabled=False,
            app_settings=[
                web.NameValuePairArgs(name=key, value=value) for key, value in settings.items()
            ],
        ),
        tags=spec.standard_tags(),
        opts=opts,
    )
    # No basic-auth (publishing password) deployment: the package comes from the blob only.
    for kind, resource in (("ftp", web.WebAppFtpAllowed), ("scm", web.WebAppScmAllowed)):
        resource(
            f"{name}-fn-no-{kind}-basic-auth",
            name=function_app.name,
            resource_group_name=rg.name,
            allow=False,
            opts=opts,
        )
    security.diagnostics(f"{name}-fn-diagnostics", function_app.id, workspace, opts)
    security.blob_service_diagnostics(f"{name}-fn-storage-diagnostics", account, workspace, opts)

    action_group = monitor.ActionGroup(
        f"{name}-rollback-action",
        resource_group_name=rg.name,
        location="global",
        enabled=True,
        group_short_name="aid-rollbk",
        azure_function_receivers=[
            monitor.AzureFunctionReceiverArgs(
                name="rollback",
                function_app_resource_id=function_app.id,
                function_name=ROLLBACK_FUNCTION_NAME,
                http_trigger_url=pulumi.Output.concat(
                    "https://",
                    function_app.name,
                    ".azurewebsites.net/api/",
                    ROLLBACK_FUNCTION_NAME,
                ),
                use_common_alert_schema=True,
            )
        ],
        tags=spec.standard_tags(),
        opts=opts,
    )
    return RollbackPath(function_app, action_group, fn_identity, account)
