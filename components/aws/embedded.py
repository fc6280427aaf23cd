"""Embedded pattern on AWS: the model runs in the client's app or device; the cloud delivers
signed releases and collects opt-in telemetry.

    CI (deploy-<env> role) --kms:Sign--> bundle --publish--> release channel (S3 Object Lock)
                                                                   |
    device --JWT--> device API --GET /releases/latest--> presigned URLs (5 min) --> download,
                          |                                   verify offline with the pinned key
                          +--POST /telemetry--> metrics --> alarms (page / ticket)
    client build pipeline --release-reader role--> channel (reads releases only)

Composed from blocks: the stack key and access-log bucket (security.py), the release channel
and signing key (release_channel.py), the device API and reader role (delivery.py), the alarm
set (monitoring.py).
"""

from __future__ import annotations

import pulumi

from components.alarms import Tier, endpoint_alarms
from components.aws import delivery, monitoring, release_channel, security
from components.base import (
    DEVICE_API_NO_ROLLBACK,
    DeclaredWaivers,
    PatternComponent,
    waiver_entries,
)
from components.spec import DeploymentSpec

# The device API is not a serving endpoint with a traffic split: a bad model is withdrawn by
# publishing the previous one under a newer sequence, and devices refuse what fails to verify.
POLICY_WAIVERS: DeclaredWaivers = {
    "aideploy-stack-require-rollback-wired-to-alarms": (("dl-stage", DEVICE_API_NO_ROLLBACK),),
}


def policy_waivers(name: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config entries waiving :data:`POLICY_WAIVERS` for the component called ``name``."""
    return waiver_entries(name, POLICY_WAIVERS)


class AwsEmbedded(PatternComponent):
    """Signed, versioned model releases for apps and devices, per environment."""

    def __init__(
        self,
        name: str,
        spec: DeploymentSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        channel: release_channel.ChannelSettings | None = None,
    ) -> None:
        super().__init__(name, spec, opts)
        o = self.child_opts()
        self.key = security.create_kms_key(
            name,
            spec,
            o,
            description=f"{spec.project} {spec.environment.value}: releases, logs, alerts",
            users=(security.LOGS_KEY_USER, security.ALARMS_KEY_USER, security.S3_LOGGING_KEY_USER),
        )
        access_logs = security.create_access_log_bucket(f"{name}-access-logs", spec, self.key, o)
        self.channel = release_channel.create_release_channel(
            name,
            spec,
            self.key,
            access_logs.bucket,
            channel or release_channel.ChannelSettings(),
            o,
        )
        self.signing_kms_key = release_channel.create_signing_key(
            name, spec, release_channel.deployer_role_arn(security.account_id(), spec), o
        )
        defs = monitoring.alarm_defs(endpoint_alarms(spec), monitoring.API_GATEWAY_METRICS)
        tiers = sorted({*monitoring.tiers_used(defs), Tier.PAGE, Tier.TICKET}, key=list(Tier).index)
        self.topics = monitoring.create_alert_topics(name, spec, self.key, tiers, o)
        self.device_api = delivery.create_device_api(
            name, spec, self.key, self.channel.bucket, self.topics, o
        )
        self.alarms = {
            **monitoring.create_alarms(
                name,
                spec,
                defs,
                {
                    "api": {
                        "ApiName": self.device_api.rest_api.name,
                        "Stage": self.device_api.stage.stage.stage_name,
                    }
                },
                self.topics,
                o,
            ),
            **self.device_api.alarms,
        }
        self.reader = delivery.create_channel_reader(name, spec, self.key, self.channel.bucket, o)
        # The pattern's declared outputs (components/spec.py PATTERN_OUTPUTS), the release's
        # included: what ci.release and the apps read.
        self.artifact_bucket = self.channel.bucket.bucket
        self.model_package_uri = self.channel.bucket.bucket.apply(
            lambda b: f"s3://{b}/{release_channel.RELEASES_PREFIX}"
        )
        self.kms_key_id = self.key.arn
        self.alert_topic = self.topics[Tier.PAGE].arn
        self.signing_key = f"awskms:{release_channel.signing_alias(spec)}"
        self.release_channel = self.channel.bucket.bucket.apply(lambda b: f"s3://{b}")
        self.device_api_url = self.device_api.url
        self.release_reader = self.reader.arn
        self._finish()
