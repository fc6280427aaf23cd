"""GCP building blocks (components/gcp/storage.py, functions.py, cloud_run.py) under mocks.

Each block runs alone with explicit inputs, and the hardening it guarantees is held here once;
then every GCP stack is checked to build its buckets, functions and services with the blocks'
hardening (the patterns compose the blocks: nothing of theirs bypasses them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp
import pytest

from components.gcp import cloud_run, functions, security, storage
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import CapturedResource, capture
from tests.conftest import make_spec, of_type, run_component

GCP_PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM, Pattern.EMBEDDED)
BUCKET = "gcp:storage/bucket:Bucket"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SERVICE = "gcp:cloudrunv2/service:Service"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"


def _spec(environment: Environment = Environment.PROD) -> DeploymentSpec:
    return make_spec(Cloud.GCP, Pattern.API_FIRST, environment)


# (name, spec, project, key, opts, parent): what a pattern hands its blocks.
Build = Callable[
    [str, DeploymentSpec, security.Project, security.StackKey, pulumi.ResourceOptions, Any],
    object,
]


def _run(spec: DeploymentSpec, build: Build) -> list[CapturedResource]:
    """Run ``build(name, spec, project, key, opts, parent)`` inside a component, as a pattern
    does, with the stack key made for the storage, Cloud Run and functions agents."""

    class Blocks(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("aideploy:test:Blocks", spec.project)
            opts = pulumi.ResourceOptions(parent=self)
            project = security.current_project(self)
            users = ["storage", "run", "cloudfunctions", "artifactregistry"]
            key = security.create_key(spec.project, spec, project, users, opts)
            build(spec.project, spec, project, key, opts, self)

    return capture(
        Blocks, project=spec.project, stack=spec.environment.value, region=spec.region
    ).resources


def _key_grant_urns(resources: list[CapturedResource]) -> set[str]:
    """The stack key's grants to service agents (``<name>-key-<service>``), not the embedded
    signing key's grants to the deployer."""
    return {
        r.urn
        for r in of_type(resources, KEY_GRANT)
        if "-key-" in r.name and "-signing-key-" not in r.name
    }


def _named(resources: list[CapturedResource], name: str) -> CapturedResource:
    (found,) = [r for r in resources if r.name == name]
    return found


# -- storage ------------------------------------------------------------------------------------
@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_a_private_bucket_is_encrypted_private_versioned_and_expires_data(
    environment: Environment,
) -> None:
    spec = _spec(environment)
    resources = _run(spec, lambda n, s, p, k, o, _: storage.private_bucket(n, "input", s, k, o))
    bucket = _named(resources, f"{spec.project}-input")
    inputs = bucket.inputs
    assert inputs["location"] == spec.region  # the key's region, which CMEK requires
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["encryption"]["defaultKmsKeyName"]
    assert inputs["versioning"] == {"enabled": True}
    assert inputs["forceDestroy"] is (not spec.retention.deletion_protection)
    assert inputs["labels"]["role"] == "input"
    (rule,) = inputs["lifecycleRules"]
    assert rule["action"]["type"] == "Delete"
    assert rule["condition"]["age"] == spec.retention.data_days
    assert "enableObjectRetention" not in inputs
    # Created only once the storage agent may use the key.
    assert _key_grant_urns(resources) <= set(bucket.dependencies)


def test_an_encrypted_bucket_takes_the_callers_retention() -> None:
    spec = _spec()
    keep = gcp.storage.BucketLifecycleRuleArgs(
        action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
        condition=gcp.storage.BucketLifecycleRuleConditionArgs(with_state="ARCHIVED"),
    )
    resources = _run(
        spec,
        lambda n, s, p, k, o, _: storage.create_encrypted_bucket(
            f"{n}-kept",
            s,
            k,
            o,
            lifecycle_rules=[keep],
            bucket_labels={"role": "kept"},
            enable_object_retention=True,
        ),
    )
    inputs = _named(resources, f"{spec.project}-kept").inputs
    assert inputs["enableObjectRetention"] is True
    assert inputs["lifecycleRules"][0]["condition"]["withState"] == "ARCHIVED"
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["labels"] == {"role": "kept"}


def test_a_bucket_grant_is_one_role_on_one_bucket_with_its_condition() -> None:
    spec = _spec()

    def build(n: str, s: DeploymentSpec, p: Any, k: Any, o: Any, _: Any) -> None:
        bucket = storage.private_bucket(n, "data", s, k, o)
        storage.grant_on_bucket(f"{n}-plain", bucket, "roles/storage.objectViewer", "user:a", o)
        storage.grant_on_bucket(
            f"{n}-narrow",
            bucket,
            "roles/storage.objectViewer",
            "user:b",
            o,
            condition=storage.Condition("prefix-only", 'resource.name.startsWith("x")'),
        )

    resources = _run(spec, build)
    plain = _named(resources, f"{spec.project}-plain").inputs
    narrow = _named(resources, f"{spec.project}-narrow").inputs
    assert plain["role"] == narrow["role"] == "roles/storage.objectViewer"
    assert plain["member"] == "user:a"
    assert "condition" not in plain
    assert narrow["condition"] == {
        "title": "prefix-only",
        "expression": 'resource.name.startsWith("x")',
    }


# -- functions ----------------------------------------------------------------------------------
def _function_stack(spec: DeploymentSpec) -> list[CapturedResource]:
    def build(n: str, s: DeploymentSpec, p: Any, k: Any, o: Any, parent: Any) -> None:
        builder = security.service_account("rollback-build", s, p, parent)
        runner = security.service_account("rollback", s, p, parent)
        made = functions.create_function_build(
            n,
            "job",
            s,
            p,
            k,
            builder,
            o,
            repository_logical=f"{n}-job-images",
            repository_id="job-images",
            label_role="job",
        )
        extra = gcp.pubsub.Topic(f"{n}-extra", opts=o)
        functions.create_function(
            f"{n}-job",
            s,
            k,
            made,
            o,
            function_name="job-fn",
            description="a job",
            source=functions.Source(pulumi.AssetArchive({}), "job-abc.zip"),
            entry_point="main",
            runtime=functions.Runtime(
                account=runner,
                ingress="ALLOW_INTERNAL_ONLY",
                max_instances=3,
                timeout_seconds=30,
                environment={"A": "1"},
            ),
            invoker="serviceAccount:caller@x.iam.gserviceaccount.com",
            label_role="job",
            after=[extra],
        )

    return _run(spec, build)


def test_a_function_build_grants_its_builder_on_single_resources_only() -> None:
    spec = _spec()
    resources = _function_stack(spec)
    name = spec.project
    repository = _named(resources, f"{name}-job-images")
    assert repository.inputs["kmsKeyName"]
    assert repository.inputs["format"] == "DOCKER"
    assert _key_grant_urns(resources) <= set(repository.dependencies)
    source = _named(resources, f"{name}-job-build-source").inputs
    push = _named(resources, f"{name}-job-build-push").inputs
    logs = _named(resources, f"{name}-job-iam-build-logging-logwriter").inputs
    assert source["role"] == functions.SOURCE_READ_ROLE
    assert push["role"] == functions.IMAGE_PUSH_ROLE
    assert logs["role"] == functions.BUILD_LOG_ROLE  # the only project-level grant
    assert source["member"] == push["member"] == logs["member"]
    # The source bucket is the private CMEK bucket.
    bucket = _named(resources, f"{name}-fn-source").inputs
    assert bucket["publicAccessPrevention"] == "enforced"


def test_a_function_is_encrypted_runs_as_itself_and_only_its_invoker_calls_it() -> None:
    spec = _spec()
    resources = _function_stack(spec)
    name = spec.project
    (fn,) = of_type(resources, FUNCTION)
    assert fn.name == f"{name}-job-fn"
    inputs = fn.inputs
    assert inputs["kmsKeyName"]
    assert inputs["location"] == spec.region
    assert inputs["buildConfig"]["runtime"] == functions.RUNTIME
    assert inputs["buildConfig"]["entryPoint"] == "main"
    assert inputs["buildConfig"]["serviceAccount"]  # the builder, never Cloud Build's default
    service = inputs["serviceConfig"]
    assert service["serviceAccountEmail"]
    assert service["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
    assert service["allTrafficOnLatestRevision"] is True
    assert service["minInstanceCount"] == 0
    assert service["maxInstanceCount"] == 3
    assert service["timeoutSeconds"] == 30
    assert service["environmentVariables"] == {"A": "1"}
    assert "eventTrigger" not in inputs
    assert inputs["labels"]["role"] == "job"
    source = _named(resources, f"{name}-job-source")
    assert source.inputs["name"] == "job-abc.zip"
    # After the key's grants, the build's grants and what the caller named.
    build_grants = {_named(resources, f"{name}-job-build-{g}").urn for g in ("source", "push")} | {
        _named(resources, f"{name}-job-iam-build-logging-logwriter").urn
    }
    extra = _named(resources, f"{name}-extra").urn
    assert _key_grant_urns(resources) | build_grants | {extra} <= set(fn.dependencies)
    (invoker,) = of_type(resources, RUN_INVOKER)
    assert invoker.name == f"{name}-job-invoker"
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.inputs["member"] == "serviceAccount:caller@x.iam.gserviceaccount.com"
    assert invoker.inputs["location"] == spec.region


# -- Cloud Run ----------------------------------------------------------------------------------
def _service(spec: DeploymentSpec, access: cloud_run.Access) -> list[CapturedResource]:
    def build(n: str, s: DeploymentSpec, p: Any, k: Any, o: Any, parent: Any) -> None:
        cloud_run.create_service(
            f"{n}-svc",
            s,
            k,
            o,
            name="svc",
            account=security.service_account("worker", s, p, parent),
            access=access,
            service_labels={"role": "svc"},
            revision_labels={"role": "svc-rev"},
            concurrency=1,
            scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                min_instance_count=0, max_instance_count=2
            ),
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    name="main",
                    image="img",
                    startup_probe=cloud_run.startup_probe("/health", 8080),
                )
            ],
        )

    return _run(spec, build)


@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_a_service_is_internal_encrypted_and_keeps_its_invoker_check(
    environment: Environment,
) -> None:
    spec = _spec(environment)
    resources = _service(spec, cloud_run.Access())
    (service,) = of_type(resources, SERVICE)
    inputs = service.inputs
    assert inputs["ingress"] == cloud_run.INTERNAL_ONLY
    assert "invokerIamDisabled" not in inputs
    assert "defaultUriDisabled" not in inputs
    assert inputs["location"] == spec.region
    assert inputs["deletionProtection"] is spec.retention.deletion_protection
    assert inputs["labels"] == {"role": "svc"}
    template = inputs["template"]
    assert template["encryptionKey"]
    assert template["serviceAccount"]
    assert template["labels"] == {"role": "svc-rev"}
    assert "timeout" not in template
    probe = template["containers"][0]["startupProbe"]
    assert probe["httpGet"] == {"path": "/health", "port": 8080}
    assert probe["periodSeconds"] * probe["failureThreshold"] == 120  # room to load a model
    assert _key_grant_urns(resources) <= set(service.dependencies)


def test_only_a_service_behind_the_load_balancer_may_drop_the_invoker_check() -> None:
    spec = _spec()
    behind = cloud_run.Access(
        ingress=cloud_run.INTERNAL_LOAD_BALANCER, invoker_check=False, default_uri=False
    )
    (service,) = of_type(_service(spec, behind), SERVICE)
    assert service.inputs["ingress"] == cloud_run.INTERNAL_LOAD_BALANCER
    assert service.inputs["invokerIamDisabled"] is True
    assert service.inputs["defaultUriDisabled"] is True


@pytest.mark.parametrize(
    "access",
    [
        cloud_run.Access(ingress="INGRESS_TRAFFIC_ALL"),
        cloud_run.Access(ingress=cloud_run.INTERNAL_ONLY, invoker_check=False),
    ],
    ids=["public-ingress", "no-invoker-check-without-load-balancer"],
)
def test_a_public_or_unchecked_service_is_refused(access: cloud_run.Access) -> None:
    # The block refuses before it touches the key or the account.
    with pytest.raises(ValueError):
        cloud_run.create_service(
            "svc",
            _spec(),
            cast(Any, None),
            pulumi.ResourceOptions(),
            name="svc",
            account=cast(Any, None),
            access=access,
            service_labels={},
            revision_labels={},
            concurrency=1,
            scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(),
            containers=[],
        )


@pytest.mark.parametrize(("cpu", "limit"), [(0.5, "500m"), (1, "1"), (2.0, "2"), (0.25, "250m")])
def test_cpu_limit_is_whole_cpus_or_millicores(cpu: float, limit: str) -> None:
    assert cloud_run.cpu_limit(cpu) == limit


def test_a_managed_service_is_enabled_and_left_enabled_on_destroy() -> None:
    spec = _spec()
    resources = _run(
        spec,
        lambda n, s, p, k, o, _: security.enable_managed_service(
            f"{n}-enabled", p, "x.endpoints.p.cloud.goog", o
        ),
    )
    inputs = _named(resources, f"{spec.project}-enabled").inputs
    assert inputs["service"] == "x.endpoints.p.cloud.goog"
    assert inputs["disableOnDestroy"] is False
    assert inputs["project"]


# -- the patterns compose the blocks ------------------------------------------------------------
@pytest.mark.parametrize("pattern", GCP_PATTERNS, ids=lambda p: p.value)
def test_every_bucket_service_and_function_of_a_stack_has_the_blocks_hardening(
    pattern: Pattern,
) -> None:
    spec = make_spec(Cloud.GCP, pattern, Environment.PROD)
    resources = run_component(spec).resources
    grants = _key_grant_urns(resources)
    for bucket in of_type(resources, BUCKET):
        assert bucket.inputs["publicAccessPrevention"] == "enforced", bucket.name
        assert bucket.inputs["uniformBucketLevelAccess"] is True, bucket.name
        assert bucket.inputs["encryption"]["defaultKmsKeyName"], bucket.name
        assert grants <= set(bucket.dependencies), bucket.name
    for service in of_type(resources, SERVICE):
        assert service.inputs["ingress"] in cloud_run.ALLOWED_INGRESS, service.name
        assert service.inputs["template"]["encryptionKey"], service.name
        assert grants <= set(service.dependencies), service.name
    for fn in of_type(resources, FUNCTION):
        assert fn.inputs["kmsKeyName"], fn.name
        assert fn.inputs["serviceConfig"]["minInstanceCount"] == 0, fn.name
        assert grants <= set(fn.dependencies), fn.name
        invokers = [
            r
            for r in of_type(resources, RUN_INVOKER)
            if r.name == fn.name.removesuffix("-fn") + "-invoker"
        ]
        assert len(invokers) == 1, fn.name
