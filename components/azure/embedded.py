"""Embedded pattern on Azure: the model runs in the client's app or device; the cloud delivers
signed releases and collects opt-in telemetry.

    CI (deployer, release-signer role) --sign--> bundle --publish--> release channel
                                                  (Blob version-level immutability)
    device --JWT--> API Management --> device service --GET /releases/latest--> user-delegation
                          |                                 SAS URLs (5 min) --> download,
                          |                                 verify offline with the pinned key
                          +--POST /telemetry--> report log lines --> alerts (page / ticket)
    client build pipeline --release-reader identity--> channel container (read only)

Composed from blocks: the stack's resource group, CMK, encryption identity and logs
(security.py), the release channel and signing key (release_channel.py), the device API,
telemetry alarms and reader identity (delivery.py), the tier action groups and endpoint
alarms (monitoring.py). Generation, pipelines and runbooks for the pattern come with the
registry entry (issue "The embedded pattern on three clouds").
"""

from __future__ import annotations

import pulumi

from components.alarms import endpoint_alarms
from components.azure import delivery, monitoring, release_channel, security
from components.base import (
    DEVICE_API_NO_ROLLBACK,
    DeclaredWaivers,
    PatternComponent,
    waiver_entries,
)
from components.spec import DeploymentSpec

# rule -> ((resource suffix after the component name, reason), ...). Each reason is true of
# this component; docs/patterns/azure.md should repeat them.
_DEVICE_CODE = (
    "The device service's secrets are its own standard-library Python source (device_fn/*.py "
    "and the neutral telemetry module, mounted as a secret volume so the image stays a stock "
    "Python image), not credentials: nothing in them grants access, and the code's digest is "
    "the revision suffix. The service reads no credential; it signs in as its managed identity."
)
_ENV_CMK = (
    "Container Apps disk encryption with a customer-managed key is a preview API (2025-02-02-"
    "preview) reading the key as a user-assigned identity; Container Apps is not a Key Vault "
    "trusted service and the stack vault has public network access off, so the environment could "
    "not reach the key (review A6). Disks use platform-managed keys; the device service stores "
    "nothing on them (releases live in the CMK-encrypted channel account)."
)
POLICY_WAIVERS: DeclaredWaivers = {
    "aideploy-stack-require-rollback-wired-to-alarms": (
        ("dl-apim", DEVICE_API_NO_ROLLBACK),
        ("dl", DEVICE_API_NO_ROLLBACK),
    ),
    "azure-container-app-secrets-from-key-vault": (("dl", _DEVICE_CODE),),
    "azure-container-app-environment-require-cmk": (("dl-env", _ENV_CMK),),
    "azure-storage-restrict-network-access": (
        (
            "st-releases",
            "Devices download releases straight from the channel account with user-delegation "
            "SAS URLs from any network, and the client's build pipeline reads it from its own "
            "runners: no firewall can name them. Access is Entra only (shared keys off, so no "
            "account-key SAS exists); a SAS is read-only, HTTPS-only, one blob, five minutes, "
            "signed for the device service's identity, which may only read the container; every "
            "blob version is immutable for the retention period and the blob logs go to Log "
            "Analytics.",
        ),
    ),
    "azure-keyvault-restrict-network-access": (
        (
            "sign-kv",
            "CI signs releases from runners without fixed addresses (GitHub- or GitLab-hosted), "
            "so the signing vault's firewall cannot name them. The vault is RBAC-only and purge "
            "protected, holds one HSM key whose only data-plane grant is sign and read for this "
            "environment's deployer, and its audit log goes to Log Analytics.",
        ),
    ),
}


def policy_waivers(name: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config entries waiving :data:`POLICY_WAIVERS` for the component called ``name``."""
    return waiver_entries(name, POLICY_WAIVERS)


class AzureEmbedded(PatternComponent):
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
        # Every log arrives through diagnostic settings: public ingestion stays off.
        base = security.foundation(spec, name, o, private_ingestion=True)
        self.rg, self.keys, self.workspace = base.rg, base.keys, base.workspace
        self.channel = release_channel.create_release_channel(
            name,
            spec,
            base.rg,
            base.keys,
            base.encryption,
            base.workspace,
            channel or release_channel.ChannelSettings(),
            o,
        )
        self.signing = release_channel.create_signing_key(name, spec, base.rg, base.workspace, o)
        self.device_api = delivery.create_device_api(
            name, spec, base.rg, base.workspace, self.channel, o
        )
        # The endpoint alarms every endpoint has (policy S1), from the gateway's log, with the
        # tier action groups and the dashboard; no rollback group (nothing to roll back).
        self.monitoring = monitoring.serving_monitoring(
            spec,
            name,
            endpoint_alarms(spec),
            base.rg,
            base.workspace,
            delivery.request_log(),
            None,
            o,
        )
        self.telemetry_alarms = delivery.create_telemetry_alarms(
            name,
            spec,
            base.rg,
            base.workspace,
            self.device_api.app_name,
            self.monitoring.channels,
            o,
        )
        self.reader = delivery.create_channel_reader(name, spec, base.rg, self.channel, o)
        # The pattern's declared outputs (components/spec.py PATTERN_OUTPUTS). The artifact
        # "bucket" is the channel container's URL: the account and container in one value
        # (https://<account>.blob.core.windows.net/<container>).
        self.artifact_bucket = self.channel.url
        self.model_package_uri = self.channel.url.apply(
            lambda u: f"{u}/{release_channel.RELEASES_PREFIX}"
        )
        self.kms_key_id = self.keys.key_uri
        self.alert_topic = self.monitoring.alert_topic
        # The release's outputs (components/spec.py RELEASE_OUTPUTS): ci.release's --key and
        # --channel (azblob://<account>/<container>, components/release_channels.py).
        self.signing_key = self.signing.identifier.apply(lambda k: f"azurekv:{k}")
        self.release_channel = self.channel.url.apply(
            lambda u: "azblob://" + u.removeprefix("https://").replace(".blob.core.windows.net", "")
        )
        self.device_api_url = self.device_api.url
        self.release_reader = self.reader.identity.client_id
        self._finish()
