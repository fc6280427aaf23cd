"""The embedded pattern's GCP release side: the channel and the signing key, under mocks and
judged by the whole pack at each environment's levels (stack rules judge the component)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.gcp import release_channel, security
from components.spec import Cloud, Environment, Pattern
from offline.capture import GCP_PROJECT, CapturedResource, capture
from policies import pack
from policies.rules import all_policies
from tests.conftest import make_spec, of_type
from tests.policies.harness import evaluate

STACK_RULES = {
    "aideploy-stack-require-routed-serving-alarms",
    "aideploy-stack-require-rollback-wired-to-alarms",
}
POLICIES = [p for p in all_policies() if p.name not in STACK_RULES]


def run(
    environment: Environment, settings: release_channel.ChannelSettings | None = None
) -> list[CapturedResource]:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, environment)

    class Release(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("aideploy:test:Release", spec.project)
            o = pulumi.ResourceOptions(parent=self)
            project = security.current_project(self)
            key = security.create_key(spec.project, spec, project, ["storage"], o)
            release_channel.create_release_channel(
                spec.project, spec, key, settings or release_channel.ChannelSettings(), o
            )
            signer = release_channel.deployer_member(spec, project)
            release_channel.create_signing_key(spec.project, spec, key, signer, o)

    return capture(
        Release, project=spec.project, stack=environment.value, region=spec.region
    ).resources


@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_release_side_passes_the_pack(environment: Environment) -> None:
    levels = json.loads(pack.config_path(environment.value).read_text())
    config: dict[str, Any] = {name: {"waivers": []} for name in levels}
    # Data-access audit logs are the bootstrap's, per project (as for every GCP pattern).
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, environment)
    config.update(security.bootstrap_audit_waivers(spec.project, Pattern.EMBEDDED))
    findings = evaluate(POLICIES, run(environment), config)
    mandatory = [
        (f.policy, f.resource_name, f.message) for f in findings
        if levels.get(f.policy, {}).get("enforcementLevel") == "mandatory"
    ]  # fmt: skip
    assert mandatory == []


def test_channel_retains_objects_one_by_one_and_keeps_current_releases() -> None:
    settings = release_channel.ChannelSettings(release_channel.RetentionMode.LOCKED, 365)
    (bucket,) = of_type(run(Environment.PROD, settings), "gcp:storage/bucket:Bucket")
    inputs = bucket.inputs
    # Object retention, not a bucket retention policy: the pointer must stay replaceable.
    assert inputs["enableObjectRetention"] is True
    assert "retentionPolicy" not in inputs
    assert inputs["labels"]["retention_mode"] == "locked"
    assert inputs["labels"]["retention_days"] == "365"
    (rule,) = inputs["lifecycleRules"]
    assert rule["condition"]["withState"] == "ARCHIVED"  # noncurrent versions only
    assert inputs["versioning"] == {"enabled": True}


def test_only_the_environments_deployer_signs() -> None:
    resources = run(Environment.STAGING)
    (key,) = [r for r in of_type(resources, "gcp:kms/cryptoKey:CryptoKey") if "signing" in r.name]
    assert key.inputs["purpose"] == "ASYMMETRIC_SIGN"
    assert key.inputs["versionTemplate"]["algorithm"] == "EC_SIGN_P256_SHA256"
    grants = [
        r for r in of_type(resources, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if key.urn in r.property_dependencies.get("cryptoKeyId", ())
    ]  # fmt: skip
    assert sorted(g.inputs["role"] for g in grants) == sorted(release_channel.SIGNER_ROLES)
    assert {g.inputs["member"] for g in grants} == {
        f"serviceAccount:acme-support-deploy-staging@{GCP_PROJECT}.iam.gserviceaccount.com"
    }
