"""The embedded pattern's AWS release side: the channel and the signing key, under mocks and
judged by the whole pack at each environment's levels."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.aws import release_channel, security
from components.spec import Cloud, Environment, Pattern
from policies import pack
from policies.rules import all_policies
from policies.runner.capture import ACCOUNT_ID, CapturedResource, capture
from tests.conftest import make_spec, of_type
from tests.policies.harness import evaluate

POLICIES = all_policies()


def _program(environment: Environment, settings: release_channel.ChannelSettings) -> Any:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, environment)

    class Release(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("aideploy:test:Release", spec.project)
            o = pulumi.ResourceOptions(parent=self)
            users = (security.LOGS_KEY_USER, security.S3_LOGGING_KEY_USER)
            key = security.create_kms_key(
                spec.project, spec, o, description="stack key", users=users
            )
            logs = security.create_access_log_bucket(f"{spec.project}-access-logs", spec, key, o)
            release_channel.create_release_channel(
                spec.project, spec, key, logs.bucket, settings, o
            )
            signer = release_channel.deployer_role_arn(security.account_id(), spec)
            release_channel.create_signing_key(spec.project, spec, signer, o)

    return spec, Release


def run(
    environment: Environment, settings: release_channel.ChannelSettings | None = None
) -> list[CapturedResource]:
    spec, component = _program(environment, settings or release_channel.ChannelSettings())
    return capture(
        component, project=spec.project, stack=environment.value, region=spec.region
    ).resources


@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_release_side_passes_the_pack(environment: Environment) -> None:
    levels = json.loads(pack.config_path(environment.value).read_text())
    config = {name: {"waivers": []} for name in levels}
    findings = evaluate(POLICIES, run(environment), config)
    mandatory = [
        (f.policy, f.resource_name) for f in findings
        if levels.get(f.policy, {}).get("enforcementLevel") == "mandatory"
    ]  # fmt: skip
    assert mandatory == []


@pytest.mark.parametrize(
    "settings",
    [
        release_channel.ChannelSettings(),
        release_channel.ChannelSettings(release_channel.LockMode.COMPLIANCE, 365),
    ],
    ids=["governance-default", "compliance-on-request"],
)
def test_channel_locks_every_version_in_the_chosen_mode(
    settings: release_channel.ChannelSettings,
) -> None:
    resources = run(Environment.PROD, settings)
    (bucket,) = [
        r for r in of_type(resources, "aws:s3/bucket:Bucket") if r.name.endswith("-releases")
    ]
    assert bucket.inputs["objectLockEnabled"] is True
    (lock,) = of_type(
        resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    )
    retention = lock.inputs["rule"]["defaultRetention"]
    assert retention == {"mode": settings.mode.value, "days": settings.retention_days}
    # Versioning is in place before the lock (S3 refuses a lock on an unversioned bucket).
    (versioning,) = [
        r for r in of_type(resources, "aws:s3/bucketVersioning:BucketVersioning")
        if r.name == f"{bucket.name}-versioning"
    ]  # fmt: skip
    assert versioning.urn in lock.dependencies


def test_releases_never_expire_only_old_versions_do() -> None:
    resources = run(Environment.PROD)
    lifecycle_type = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    (lifecycle,) = [
        r for r in of_type(resources, lifecycle_type) if r.name.endswith("-releases-lifecycle")
    ]
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    expiring = rules["retention"]["filter"]["prefix"]
    assert expiring and not release_channel.RELEASES_PREFIX.startswith(expiring)
    assert "expiration" not in rules["old-versions"]
    assert rules["old-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] > 0


def test_only_the_environments_deployer_signs() -> None:
    resources = run(Environment.STAGING)
    (key,) = [r for r in of_type(resources, "aws:kms/key:Key") if r.name.endswith("-signing-key")]
    assert key.inputs["keyUsage"] == "SIGN_VERIFY"
    assert key.inputs["customerMasterKeySpec"] == "ECC_NIST_P256"
    policy = json.loads(key.inputs["policy"])
    signers = [s for s in policy["Statement"] if "kms:Sign" in s["Action"]]
    assert [s["Principal"] for s in signers] == [
        {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/acme-support-deploy-staging"}
    ]
    admin = next(s for s in policy["Statement"] if s["Sid"] == "AccountAdministers")
    assert not {"kms:Sign", "kms:Encrypt", "kms:Decrypt"} & set(admin["Action"])
    (alias,) = [
        r
        for r in of_type(resources, "aws:kms/alias:Alias")
        if r.name.endswith("-signing-key-alias")
    ]
    assert alias.inputs["name"] == release_channel.signing_alias(
        make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.STAGING)
    )
