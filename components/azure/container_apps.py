"""Azure building blocks for Container Apps, used by the api-first pattern (the model), the
embedded pattern (the device service, components/azure/delivery.py) and every pattern's
rollback service (components/azure/rollout.py).

* :func:`https_ingress`: ingress that never serves plain HTTP, optionally admitting named
  addresses alone (:func:`components.azure.api_management.ingress_allow_list`).
* :class:`CodePackage`: a few standard-library Python files shipped through ARM as Container
  Apps secrets and mounted read-only into a stock image: no registry, no storage account, and
  the code's digest names the revision, so a code change is a new revision.
* :func:`create_container_app`: one container, run as user-assigned identities only (no
  system identity, no registry password), HTTP probes on its health path, the caller's ingress
  and scale rules.

The environment the apps run in is hosting.container_environment. Blocks are plain functions:
the caller passes its own ``opts`` (``parent=`` the pattern component) and the logical names
the resources always had, so their URNs do not change (tests/components/test_urn_snapshots.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.resources as resources

from components.spec import DeploymentSpec

CODE_VOLUME = "code"
CODE_MOUNT_PATH = "/app"
# Settings a stock Python image needs to run mounted code: the import path, and no bytecode
# written beside the (read-only) sources.
CODE_SETTINGS: dict[str, str] = {"PYTHONPATH": CODE_MOUNT_PATH, "PYTHONDONTWRITEBYTECODE": "1"}
BOTH_PROBES = (app.Type.LIVENESS, app.Type.READINESS)


@dataclass(frozen=True)
class CodePackage:
    """A Python package's files (name in the package -> source file), mounted at
    ``/app/<package>/`` from Container Apps secrets."""

    package: str  # the import name, e.g. "rollback_fn"
    sources: Mapping[str, Path]

    @staticmethod
    def secret_name(rel: str) -> str:
        """The secret holding file ``rel`` (secret names: lowercase letters, digits, dashes)."""
        return "code-" + re.sub(r"[^a-z0-9]+", "-", rel.lower()).strip("-")

    def secrets(self) -> dict[str, str]:
        """Secret name -> file content, for every file."""
        return {self.secret_name(rel): src.read_text() for rel, src in self.sources.items()}

    def volume_items(self) -> list[app.SecretVolumeItemArgs]:
        """Mount every file's secret at ``<package>/<file>`` under the volume's mount path."""
        return [
            app.SecretVolumeItemArgs(secret_ref=self.secret_name(rel), path=f"{self.package}/{rel}")
            for rel in self.sources
        ]

    def digest(self) -> str:
        """A short hash of the code: it names the revision, so a code change is a new one."""
        digest = hashlib.sha256()
        for name, content in sorted(self.secrets().items()):
            digest.update(name.encode() + b"\0" + content.encode() + b"\0")
        return digest.hexdigest()[:10]

    @property
    def revision_suffix(self) -> str:
        """The revision suffix of an app running this code."""
        return f"code-{self.digest()}"


def https_ingress(
    port: int,
    allow: pulumi.Input[Sequence[pulumi.Input[app.IpSecurityRestrictionRuleArgs]]] | None = None,
    traffic: Sequence[app.TrafficWeightArgs] | None = None,
) -> app.IngressArgs:
    """External ingress to ``port``, HTTPS only (plain HTTP is refused, not redirected).
    ``allow``: the only addresses admitted (none given: any caller; say why); ``traffic``:
    the revisions' weights, for an app with several active revisions."""
    return app.IngressArgs(
        external=True,
        allow_insecure=False,
        target_port=port,
        transport=app.IngressTransportMethod.HTTP,
        ip_security_restrictions=allow,
        traffic=traffic,
    )


@dataclass(frozen=True)
class Container:
    """What differs between aideploy's Container Apps containers; the hardening is the block's."""

    name: str
    image: str
    cpu: float
    memory: str  # e.g. "0.5Gi"
    port: int
    health_path: str  # probed over HTTP on ``port``
    env: Mapping[str, pulumi.Input[str]]
    command: Sequence[str] | None = None
    probes: tuple[app.Type, ...] = BOTH_PROBES
    probe_period_seconds: int | None = 10  # None: the platform's default
    code: CodePackage | None = None  # mounted at /app, named into the revision


def container_args(container: Container) -> app.ContainerArgs:
    """The container's ``template.containers`` entry."""
    return app.ContainerArgs(
        name=container.name,
        image=container.image,
        command=list(container.command) if container.command is not None else None,
        resources=app.ContainerResourcesArgs(cpu=container.cpu, memory=container.memory),
        env=[app.EnvironmentVarArgs(name=k, value=v) for k, v in container.env.items()],
        volume_mounts=(
            [app.VolumeMountArgs(volume_name=CODE_VOLUME, mount_path=CODE_MOUNT_PATH)]
            if container.code is not None
            else None
        ),
        probes=[
            app.ContainerAppProbeArgs(
                type=probe,
                http_get=app.ContainerAppProbeHttpGetArgs(
                    path=container.health_path, port=container.port
                ),
                period_seconds=container.probe_period_seconds,
            )
            for probe in container.probes
        ],
    )


def create_container_app(
    logical_name: str,
    spec: DeploymentSpec,
    app_name: str,
    rg: resources.ResourceGroup,
    environment: app.ManagedEnvironment,
    identities: Sequence[pulumi.Input[str]],
    container: Container,
    ingress: app.IngressArgs,
    scale: app.ScaleArgs,
    opts: pulumi.ResourceOptions,
    *,
    revision_suffix: str | None = None,
    multiple_revisions: bool = False,
    registries: Sequence[app.RegistryCredentialsArgs] | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> app.ContainerApp:
    """The Container App ``app_name`` running ``container`` as the user-assigned
    ``identities``. ``revision_suffix`` defaults to the code package's; ``multiple_revisions``
    keeps stable and candidate active side by side (weighted by ``ingress.traffic``)."""
    code = container.code
    return app.ContainerApp(
        logical_name,
        container_app_name=app_name,
        resource_group_name=rg.name,
        location=spec.region,
        managed_environment_id=environment.id,
        identity=app.ManagedServiceIdentityArgs(
            type=app.ManagedServiceIdentityType.USER_ASSIGNED,
            user_assigned_identities=list(identities),
        ),
        configuration=app.ConfigurationArgs(
            active_revisions_mode=(
                app.ActiveRevisionsMode.MULTIPLE
                if multiple_revisions
                else app.ActiveRevisionsMode.SINGLE
            ),
            registries=list(registries) if registries is not None else None,
            ingress=ingress,
            secrets=(
                [app.SecretArgs(name=k, value=v) for k, v in code.secrets().items()]
                if code is not None
                else None
            ),
        ),
        template=app.TemplateArgs(
            revision_suffix=(
                revision_suffix
                if revision_suffix is not None
                else (code.revision_suffix if code is not None else None)
            ),
            containers=[container_args(container)],
            volumes=(
                [
                    app.VolumeArgs(
                        name=CODE_VOLUME,
                        storage_type=app.StorageType.SECRET,
                        secrets=code.volume_items(),
                    )
                ]
                if code is not None
                else None
            ),
            scale=scale,
        ),
        tags={**spec.standard_tags(), **(extra_tags or {})},
        opts=opts,
    )


def http_scale(min_replicas: int, max_replicas: int, concurrent_requests: int) -> app.ScaleArgs:
    """Scale on concurrent HTTP requests per replica, between the bounds."""
    return app.ScaleArgs(
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        rules=[
            app.ScaleRuleArgs(
                name="http",
                http=app.HttpScaleRuleArgs(
                    metadata={"concurrentRequests": str(concurrent_requests)}
                ),
            )
        ],
    )
