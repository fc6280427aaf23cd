"""The embedded pattern's AWS blocks: the release channel, the signing key, the download API
and the build pipeline's reader role, composed as the embedded component will, under mocks and
judged by the whole pack at each environment's levels (the stack rules S1/S2 judge the
component's alarms, which the component adds; they are held apart here)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.alarms import Tier
from components.aws import delivery, monitoring, release_channel, security
from components.spec import Cloud, Environment, Pattern
from offline.capture import ACCOUNT_ID, CapturedResource, capture
from policies import pack
from policies.rules import all_policies
from tests.conftest import make_spec, of_type
from tests.policies.harness import evaluate

STACK_RULES = {
    "aideploy-stack-require-routed-serving-alarms",
    "aideploy-stack-require-rollback-wired-to-alarms",
}
POLICIES = [p for p in all_policies() if p.name not in STACK_RULES]


def _program(environment: Environment, settings: release_channel.ChannelSettings) -> Any:
    spec = make_spec(Cloud.AWS, Pattern.API_FIRST, environment)

    class Release(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("aideploy:test:Release", spec.project)
            o = pulumi.ResourceOptions(parent=self)
            users = (security.LOGS_KEY_USER, security.S3_LOGGING_KEY_USER, security.ALARMS_KEY_USER)
            key = security.create_kms_key(
                spec.project, spec, o, description="stack key", users=users
            )
            logs = security.create_access_log_bucket(f"{spec.project}-access-logs", spec, key, o)
            channel = release_channel.create_release_channel(
                spec.project, spec, key, logs.bucket, settings, o
            )
            signer = release_channel.deployer_role_arn(security.account_id(), spec)
            release_channel.create_signing_key(spec.project, spec, signer, o)
            topics = monitoring.create_alert_topics(
                spec.project, spec, key, [Tier.PAGE, Tier.TICKET], o
            )
            delivery.create_device_api(spec.project, spec, key, channel.bucket, topics, o)
            delivery.create_channel_reader(spec.project, spec, key, channel.bucket, o)

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
    # people in the account read the public half (to pin it in apps), and nothing more
    reader = next(s for s in policy["Statement"] if s["Sid"] == "AccountReadsPublicKey")
    assert reader["Action"] in ("kms:GetPublicKey", ["kms:GetPublicKey"])
    # every device pins this key: deleting it takes a deliberate unprotect first
    assert key.protect
    (alias,) = [
        r
        for r in of_type(resources, "aws:kms/alias:Alias")
        if r.name.endswith("-signing-key-alias")
    ]
    assert alias.inputs["name"] == release_channel.signing_alias(
        make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.STAGING)
    )


def _policy_of(resources: list[CapturedResource], role_name: str) -> dict[str, Any]:
    (policy,) = [
        r for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy")
        if r.name == f"{role_name}-policy"
    ]  # fmt: skip
    return json.loads(policy.inputs["policy"])


def test_the_download_route_needs_a_token_and_its_function_reads_releases_only() -> None:
    resources = run(Environment.PROD)
    methods = of_type(resources, "aws:apigateway/method:Method")
    assert sorted(m.inputs["httpMethod"] for m in methods) == ["GET", "POST"]
    assert all(m.inputs["authorization"] == "CUSTOM" for m in methods)
    paths = [r.inputs["pathPart"] for r in of_type(resources, "aws:apigateway/resource:Resource")]
    assert sorted(paths) == sorted([*delivery.DOWNLOAD_ROUTE, *delivery.TELEMETRY_ROUTE])
    reads = [
        s for s in _policy_of(resources, "acme-support-dl-role")["Statement"]
        if any(a.startswith("s3:") for a in s["Action"])
    ]  # fmt: skip
    gets = [s for s in reads if s["Action"] == list(delivery.CHANNEL_READ_ACTIONS)]
    assert gets and all(r.endswith("/releases/*") for s in gets for r in s["Resource"])
    # Listing only under releases/ (so S3 answers a missing pointer with 404, not 403).
    (listing,) = [s for s in reads if s["Action"] == ["s3:ListBucket"]]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["releases/*"]}}
    assert len(reads) == 2
    (function,) = [
        r for r in of_type(resources, "aws:lambda/function:Function") if r.name == "acme-support-dl"
    ]
    assert function.inputs["environment"]["variables"]["URL_SECONDS"] == str(delivery.URL_SECONDS)


def test_the_build_pipeline_reader_is_admitted_by_its_principal_tag_and_reads_only() -> None:
    resources = run(Environment.STAGING)
    (role,) = [
        r
        for r in of_type(resources, "aws:iam/role:Role")
        if r.name == "acme-support-channel-reader"
    ]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    tag = security.access_tag_key(
        make_spec(Cloud.AWS, Pattern.API_FIRST, Environment.STAGING), "release-reader"
    )
    assert trust["Condition"] == {"StringEquals": {f"aws:PrincipalTag/{tag}": "true"}}
    actions = {
        a
        for s in _policy_of(resources, "acme-support-channel-reader")["Statement"]
        for a in s["Action"]
    }
    assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"}


def test_telemetry_alarms_watch_the_reported_metrics_on_their_tiers() -> None:
    from components import embedded_telemetry as telemetry

    resources = run(Environment.PROD)
    topics = {r.urn: r.name for r in of_type(resources, "aws:sns/topic:Topic")}
    alarms = {
        r.inputs["metricName"]: r
        for r in of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
        if r.inputs.get("namespace") == telemetry.NAMESPACE
    }
    assert set(alarms) == {a.metric for a in telemetry.ALARMS}
    for rule in telemetry.ALARMS:
        alarm = alarms[rule.metric]
        assert alarm.inputs["dimensions"] == {"Environment": "prod"}
        (topic,) = alarm.property_dependencies["alarmActions"]
        assert topics[topic].endswith(rule.tier)
