"""Embedded pattern on GCP: the model runs in the client's app or device; the cloud delivers
signed releases and collects opt-in telemetry.

    CI (deploy-<env> account) --cloudkms.signer--> bundle --publish--> release channel
                                                          (Cloud Storage, object retention)
    device --JWT--> API Gateway --GET /releases/latest--> function --> V4 signed URLs (5 min,
                          |                                signBlob as itself) --> download,
                          |                                verify offline with the pinned key
                          +--POST /telemetry--> function --> log line --> log-based metrics
                                                                          --> alerts (tiers)
    client build pipeline --release-reader account--> channel (objects under releases/ only)

Composed from blocks: the stack key and log store (security.py), the release channel and
signing key (release_channel.py), the device API, its telemetry metrics and alarms and the
reader (delivery.py), the alert routing and the endpoint alarms (monitoring.py).
"""

from __future__ import annotations

import pulumi

from components.alarms import endpoint_alarms
from components.base import (
    DEVICE_API_NO_ROLLBACK,
    DeclaredWaivers,
    PatternComponent,
    waiver_entries,
)
from components.gcp import delivery, monitoring, release_channel, security
from components.spec import DeploymentSpec, Pattern

# Services whose agents use the stack key: the channel and source buckets, the functions'
# images, the functions themselves (Cloud Functions and the Cloud Run services they run as),
# the log bucket.
KEY_USERS: tuple[str, ...] = ("storage", "artifactregistry", "cloudfunctions", "run", "logging")
# The Cloud KMS key version the CI signer uses (components/release_signers.py GcpKmsSigner
# signs with a version): the version Cloud KMS creates with the key. A rotation adds a version,
# and this output moves to it in the stack that rotates.
SIGNING_KEY_VERSION = 1

POLICY_WAIVERS: DeclaredWaivers = {
    "aideploy-stack-require-rollback-wired-to-alarms": (("dl-gateway", DEVICE_API_NO_ROLLBACK),),
    # API Gateway calls its backends on their public URL (it is not in the VPC and is not a
    # load balancer), so internal ingress would refuse the gateway itself.
    "gcp-serverless-restrict-ingress": tuple(
        (
            f"{role}-fn",
            "API Gateway reaches its backend on the function's public URL, which internal "
            "ingress refuses; the function keeps its invoker check and only the gateway's "
            "service account holds roles/run.invoker on it, so every other caller gets 403.",
        )
        for role in ("dl", "telemetry")
    ),
}


def policy_waivers(name: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config entries waiving :data:`POLICY_WAIVERS` for the component called ``name``,
    plus the bootstrap's audit logs (as for every GCP pattern)."""
    return {
        **security.bootstrap_audit_waivers(name, Pattern.EMBEDDED),
        **waiver_entries(name, POLICY_WAIVERS),
    }


class GcpEmbedded(PatternComponent):
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
        self.project = security.current_project(self)
        self.key = security.create_key(name, spec, self.project, KEY_USERS, o)
        self.channel = release_channel.create_release_channel(
            name, spec, self.key, channel or release_channel.ChannelSettings(), o
        )
        self.signing_key_resource = release_channel.create_signing_key(
            name, spec, self.key, release_channel.deployer_member(spec, self.project), o
        )
        rules = endpoint_alarms(spec)
        self.routing = monitoring.create_routing(name, spec, rules, o)
        self.device_api = delivery.create_device_api(
            name, spec, self.project, self.key, self.channel, o
        )
        self.logs = security.create_log_store(
            name, spec, self.project, self.key, self.device_api.log_filter, o
        )
        self.telemetry_metrics = delivery.create_telemetry_metrics(
            name, spec, self.device_api.telemetry, o
        )
        endpoint = monitoring.create_alert_policies(
            name,
            spec,
            rules,
            monitoring.api_gateway_metrics(self.device_api.gateway_id),
            self.routing,
            o,
        )
        self.alarms = {
            **{signal.value: policy for signal, policy in endpoint.items()},
            **delivery.create_telemetry_alarms(name, spec, self.telemetry_metrics, self.routing, o),
        }
        self.reader = delivery.create_channel_reader(name, spec, self.project, self.channel, o)

        # The pattern's declared outputs (components/spec.py PATTERN_OUTPUTS).
        self.artifact_bucket = self.channel.name
        self.model_package_uri = self.channel.name.apply(
            lambda b: f"gs://{b}/{delivery.RELEASES_PREFIX}"
        )
        self.kms_key_id = self.key.id
        self.alert_topic = self.routing.page_channel
        # The release's outputs (components/spec.py RELEASE_OUTPUTS): ci.release's --key and
        # --channel with their schemes, the device API and the build pipeline's reader.
        self.signing_key = pulumi.Output.all(
            self.project.project_id, self.key.ring.name, self.signing_key_resource.name
        ).apply(lambda v: "gcpkms:" + signing_key_version(v[0], spec.region, v[1], v[2]))
        self.release_channel = self.channel.name.apply(lambda b: f"gs://{b}")
        self.device_api_url = self.device_api.url
        self.release_reader = self.reader.email
        self._finish()


def signing_key_version(project_id: str, region: str, ring: str, key: str) -> str:
    """The signing key's version as ``--key gcpkms:<this>`` takes it."""
    return (
        f"projects/{project_id}/locations/{region}/keyRings/{ring}/cryptoKeys/{key}"
        f"/cryptoKeyVersions/{SIGNING_KEY_VERSION}"
    )
