"""GCP building blocks for the Cloud Functions (gen2) aideploy deploys from a source folder.

A gen2 function is built by Cloud Build from an object in a bucket into an image in Artifact
Registry, then runs as a Cloud Run service of its name. Two blocks:

* :func:`create_function_build`: what a stack's functions are built with: the source bucket
  (the private CMEK bucket, ``<name>-fn-source``), a CMEK Docker repository, and the build
  identity's three grants, each on the one resource it needs: read the source bucket, push to
  the repository, write build logs (the one project-level role, which has no resource-level
  equivalent). The build identity is the bootstrap's, given by the caller.
* :func:`create_function`: one function (``<base>-fn``) from a source archive
  (``<base>-source``, named by its content so a change re-runs the build), encrypted with the
  stack's key, running as its own identity, scaling from zero to a caller's ceiling, all
  traffic on the latest revision, created only after the key's and the build's grants and
  whatever else the caller names; and ``<base>-invoker``: ``roles/run.invoker`` on the
  function's service for exactly one member (the function never allows unauthenticated calls).

Used by the automatic rollback (rollout.py, api-first and managed-platform) and the embedded
device API (delivery.py). Plain functions: the caller's ``opts`` keep the pattern as parent, so
the URNs of existing stacks do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp import security, storage
from components.gcp.security import Identity, Project, StackKey
from components.spec import DeploymentSpec

RUNTIME = "python312"
MEMORY = "256M"
SOURCE_READ_ROLE = "roles/storage.objectViewer"
IMAGE_PUSH_ROLE = "roles/artifactregistry.writer"
BUILD_LOG_ROLE = "roles/logging.logWriter"
INVOKER_ROLE = "roles/run.invoker"


@dataclass(frozen=True)
class FunctionBuild:
    """What a stack's functions are built with."""

    bucket: gcp.storage.Bucket
    repository: gcp.artifactregistry.Repository
    builder: Identity
    grants: tuple[pulumi.Resource, ...]  # the builder's: source read, image push, build logs


def create_function_build(
    name: str,
    prefix: str,
    spec: DeploymentSpec,
    project: Project,
    key: StackKey,
    builder: Identity,
    opts: pulumi.ResourceOptions,
    *,
    repository_logical: str,
    repository_id: str,
    label_role: str,
) -> FunctionBuild:
    """The source bucket ``<name>-fn-source``, the image repository ``repository_logical``
    (``repository_id`` in the region), and ``builder``'s grants ``<name>-<prefix>-build-source``,
    ``<name>-<prefix>-build-push`` and ``<name>-<prefix>-iam-build-logging-logwriter``."""
    builder_member = security.member(builder)
    bucket = storage.private_bucket(name, "fn-source", spec, key, opts)
    repository = gcp.artifactregistry.Repository(
        repository_logical,
        gcp.artifactregistry.RepositoryArgs(
            location=spec.region,
            repository_id=repository_id,
            format="DOCKER",
            kms_key_name=key.id,
            # Each build pushes the same tag again: immutable tags would fail the second build.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=False),
            labels=security.labels(spec, role=label_role),
        ),
        opts=key.after(opts),
    )
    grants: list[pulumi.Resource] = [
        storage.grant_on_bucket(
            f"{name}-{prefix}-build-source", bucket, SOURCE_READ_ROLE, builder_member, opts
        ),
        gcp.artifactregistry.RepositoryIamMember(
            f"{name}-{prefix}-build-push",
            gcp.artifactregistry.RepositoryIamMemberArgs(
                repository=repository.name,
                location=spec.region,
                role=IMAGE_PUSH_ROLE,
                member=builder_member,
            ),
            opts=opts,
        ),
        *security.project_roles(
            f"{name}-{prefix}",
            project,
            {"build": (BUILD_LOG_ROLE,)},
            opts,
            {"build": builder_member},
        ),
    ]
    return FunctionBuild(bucket, repository, builder, tuple(grants))


@dataclass(frozen=True)
class Source:
    """A function's code: the archive and the object name it is uploaded under (named by its
    content, so a changed function is a new object and the build re-runs)."""

    archive: pulumi.Archive
    object_name: str


@dataclass(frozen=True)
class Runtime:
    """How a function runs: what differs between aideploy's functions."""

    account: Identity  # its own identity, never the default compute account
    ingress: str  # ALLOW_INTERNAL_ONLY, or ALLOW_ALL when a gateway calls its public URL
    max_instances: int
    timeout_seconds: int
    environment: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class Function:
    """A function and what came with it."""

    function: gcp.cloudfunctionsv2.Function
    source: gcp.storage.BucketObject
    invoker: gcp.cloudrunv2.ServiceIamMember


def create_function(
    base: str,
    spec: DeploymentSpec,
    key: StackKey,
    build: FunctionBuild,
    opts: pulumi.ResourceOptions,
    *,
    function_name: str,
    description: str,
    source: Source,
    entry_point: str,
    runtime: Runtime,
    invoker: pulumi.Input[str],
    label_role: str,
    event_trigger: gcp.cloudfunctionsv2.FunctionEventTriggerArgs | None = None,
    after: Sequence[pulumi.Resource] = (),
) -> Function:
    """The function ``function_name`` (logical names ``<base>-source``, ``<base>-fn``,
    ``<base>-invoker``), invocable by ``invoker`` alone."""
    uploaded = gcp.storage.BucketObject(
        f"{base}-source",
        gcp.storage.BucketObjectArgs(
            bucket=build.bucket.name, name=source.object_name, source=source.archive
        ),
        opts=opts,
    )
    function = gcp.cloudfunctionsv2.Function(
        f"{base}-fn",
        gcp.cloudfunctionsv2.FunctionArgs(
            name=function_name,
            location=spec.region,
            description=description,
            kms_key_name=key.id,
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=RUNTIME,
                entry_point=entry_point,
                docker_repository=build.repository.id,
                service_account=build.builder.name,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=build.bucket.name, object=uploaded.name
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=runtime.account.email,
                ingress_settings=runtime.ingress,
                all_traffic_on_latest_revision=True,
                min_instance_count=0,
                max_instance_count=runtime.max_instances,
                available_memory=MEMORY,
                timeout_seconds=runtime.timeout_seconds,
                environment_variables=dict(runtime.environment),
            ),
            event_trigger=event_trigger,
            labels=security.labels(spec, role=label_role),
        ),
        # The key's grants (the function's image and service are encrypted with it), the
        # build's (Cloud Build runs as the builder at creation), and the caller's.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[*key.grants, *build.grants, *after])
        ),
    )
    invocation = gcp.cloudrunv2.ServiceIamMember(
        f"{base}-invoker",
        gcp.cloudrunv2.ServiceIamMemberArgs(
            name=function.name, location=spec.region, role=INVOKER_ROLE, member=invoker
        ),
        opts=opts,
    )
    return Function(function, uploaded, invocation)
