"""The managed-platform pattern on Azure: Azure Machine Learning managed online endpoints.

An ML workspace with its own Key Vault (holding the customer-managed key), storage account,
container registry and Application Insights, private in every environment (managed network,
public network access off); one managed online endpoint with Entra ID (or AML token) auth and
two deployments, blue (stable) and green (candidate), split by rollout.online_endpoint_traffic
(live canary, or mirrored shadow traffic); Azure Monitor autoscale on each deployment; log search
alerts per components.alarms rule on the endpoint's traffic log, metric alerts on CPU, memory
and GPU; and, because Azure ML has no alarm-driven rollback, the rollback function (rollout.py)
that puts all traffic back on blue when a rollback alarm fires.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.containerregistry as containerregistry
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.network as network

from components.alarms import Tier, rollback_alarms, serving_alarms
from components.azure import monitoring, private_link, roles, rollout, security, waivers
from components.azure.endpoint_traffic import EndpointTraffic
from components.base import PatternComponent
from components.spec import AuthMode, DeploymentSpec, Pattern

# Endpoint auth per API auth mode. Both are Entra-backed, expiring tokens: static keys ("Key")
# are never used, so a leaked credential expires on its own (policy rule 21).
ENDPOINT_AUTH: dict[AuthMode, str] = {
    AuthMode.JWT: ml.EndpointAuthMode.AAD_TOKEN,
    AuthMode.API_KEY: ml.EndpointAuthMode.AML_TOKEN,
    AuthMode.JWT_AND_API_KEY: ml.EndpointAuthMode.AAD_TOKEN,
}


@dataclass(frozen=True)
class InstanceType:
    """A VM size managed online endpoints offer."""

    sku: str
    vcpus: float
    memory_mb: int


# Smallest first; the profile's cpu / memory pick the first size that fits both.
INSTANCE_TYPES: tuple[InstanceType, ...] = (
    InstanceType("Standard_DS1_v2", 1, 3584),
    InstanceType("Standard_DS2_v2", 2, 7168),
    InstanceType("Standard_DS3_v2", 4, 14336),
    InstanceType("Standard_DS4_v2", 8, 28672),
    InstanceType("Standard_DS5_v2", 16, 57344),
)


def instance_type(spec: DeploymentSpec) -> str:
    """The smallest managed instance type with at least the profile's vCPU and memory."""
    cap = spec.capacity
    for it in INSTANCE_TYPES:
        if it.vcpus >= cap.cpu and it.memory_mb >= cap.memory_mb:
            return it.sku
    return INSTANCE_TYPES[-1].sku


# Utilisation the platform measures per deployment; alert at these levels (tier: ticket).
DEPLOYMENT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
UTILISATION_ALERTS: tuple[tuple[str, str, float], ...] = (
    ("cpu", "CpuUtilizationPercentage", 90.0),
    ("memory", "MemoryUtilizationPercentage", 90.0),
    ("gpu", "GpuUtilizationPercentage", 95.0),
)

# Azure ML deployments cannot scale to zero: at least one instance always runs.
MIN_ML_INSTANCES = 1

# What the workspace's user-assigned identity needs on its own single resources (review A7;
# Microsoft's "workspace with a user-assigned identity" role list): read/write model assets in
# storage, push environment images to its registry, store connection secrets in the vault, and
# manage its Application Insights component. Never Contributor on the group. Storage Blob Data
# Contributor, not Owner (review B10): the workspace reads and writes blobs; Owner would add ACL
# management, which nothing here uses.
WORKSPACE_GRANTS: tuple[tuple[str, str], ...] = (
    ("st", "storage-blob-data-contributor"),
    ("acr", "acr-push"),
    ("key", "key-vault-crypto-user"),
    ("kv", "key-vault-secrets-officer"),
    ("insights", "app-insights-component-contributor"),
)

# Inference reaches the private workspace through a private endpoint ("amlworkspace") whose
# names resolve in these private DNS zones (review A10); scoring calls to
# <endpoint>.<region>.inference.ml.azure.com go through the same endpoint.
WORKSPACE_PRIVATE_LINK = "amlworkspace"
WORKSPACE_DNS_ZONES: tuple[str, ...] = (
    "privatelink.api.azureml.ms",
    "privatelink.notebooks.azure.net",
)
ENDPOINT_SUBNET_PREFIX = 24


class AzureManagedPlatform(PatternComponent):
    """Azure ML managed online endpoint with blue/green, autoscale, alerts and rollback."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        rollout.stop_up_without_webhook_app()  # before anything is declared (review B1)
        super().__init__(name, spec, opts)
        o = self.child_opts()
        base = security.foundation(spec, name, o)
        self.base = base
        self.kms_key_id = base.keys.key_uri
        self._create_workspace(name, spec, o)
        self._create_inbound(name, spec, o)
        self._create_endpoint(name, spec, o)
        self._create_monitoring(name, spec, o)
        self._finish()

    # -- workspace and its dependencies -----------------------------------------------------
    def _create_workspace(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        base = self.base
        rg = base.rg
        self.workspace_id = security.identity(spec, name, "workspace", rg, o)
        # Data lives here (model assets, collected inputs/outputs): guard it like the profile says.
        guarded = pulumi.ResourceOptions.merge(
            o, pulumi.ResourceOptions(protect=spec.retention.deletion_protection)
        )
        self.storage = security.cmk_storage_account(
            spec, name, "ml", rg, base.keys, base.encryption, guarded
        )
        security.blob_recovery(spec, f"{name}-st-ml", self.storage, rg, o)
        security.storage_logs(f"{name}-st", self.storage, base.workspace, o)
        # Premium: the tier with private endpoints, which the workspace's managed network uses.
        # No customer-managed key here (review A6): ACR reads its key as a user-assigned
        # identity, which Key Vault's trusted-services bypass does not admit, so a registry
        # cannot use the stack's firewalled vault; a system-assigned identity could, but ACR
        # encryption is set only at creation, before that identity could be granted. The
        # release of record is the bootstrap registry's image, which is CMK-encrypted.
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=security.physical_name(spec, "container-registry", "acr"),
            resource_group_name=rg.name,
            location=spec.region,
            sku=containerregistry.SkuArgs(name=containerregistry.SkuName.PREMIUM),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=containerregistry.PublicNetworkAccess.DISABLED,
            network_rule_bypass_options=containerregistry.NetworkRuleBypassOptions.AZURE_SERVICES,
            tags=spec.standard_tags(),
            opts=o,
        )
        security.diagnostics(f"{name}-acr-diagnostics", self.registry.id, base.workspace, o)
        # The workspace identity manages its dependent resources; it gets narrow data roles on
        # each single resource (never Contributor on the group).
        scopes = {
            "st": self.storage.id,
            "acr": self.registry.id,
            "key": base.keys.key.id,
            "kv": base.keys.vault.id,
            "insights": base.insights.id,
        }
        workspace_grants = [
            security.grant(f"{name}-workspace-{key}-grant", self.workspace_id, role, scopes[key], o)
            for key, role in WORKSPACE_GRANTS
        ]
        granted = security.rbac_wait(f"{name}-workspace-grants-wait", workspace_grants, o)
        self.ml_workspace = ml.Workspace(
            f"{name}-mlw",
            # Azure keeps a deleted workspace's name (soft delete): suffixed like the vault.
            workspace_name=security.physical_name(spec, "ml-workspace"),
            resource_group_name=rg.name,
            location=spec.region,
            kind="Default",
            sku=ml.SkuArgs(name="Basic", tier=ml.SkuTier.BASIC),
            identity=ml.ManagedServiceIdentityArgs(
                type=ml.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.workspace_id.id],
            ),
            primary_user_assigned_identity=self.workspace_id.id,
            key_vault=base.keys.vault.id,
            storage_account=self.storage.id,
            container_registry=self.registry.id,
            application_insights=base.insights.id,
            # Private in every environment: parity, and policy rule 21 is mandatory everywhere.
            public_network_access=ml.PublicNetworkAccessType.DISABLED,
            managed_network=ml.ManagedNetworkSettingsArgs(
                isolation_mode=ml.IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
            ),
            system_datastores_auth_mode="identity",
            hbi_workspace=True,
            encryption=ml.EncryptionPropertyArgs(
                status=ml.EncryptionStatus.ENABLED,
                key_vault_properties=ml.KeyVaultPropertiesArgs(
                    key_identifier=base.keys.key_uri,
                    key_vault_arm_id=base.keys.vault.id,
                    identity_client_id=base.encryption.client_id,
                ),
                identity=ml.IdentityForCmkArgs(user_assigned_identity=base.encryption.id),
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                security.after_key(base.keys, guarded),
                pulumi.ResourceOptions(depends_on=[*workspace_grants, granted]),
            ),
        )
        security.diagnostics(f"{name}-mlw-diagnostics", self.ml_workspace.id, base.workspace, o)

    # -- inbound: a private endpoint for the workspace and its inference endpoints ----------
    def _create_inbound(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        """The only way in (review A10): a private endpoint in the client's network
        (``network.existing_id`` and its first subnet) or, without one, in a small VNet of
        this stack on ``network.cidr`` that the client peers with; private DNS zones linked to
        that network resolve the workspace and the scoring host to the endpoint."""
        rg = self.base.rg
        if spec.network.existing_id is not None:
            vnet_id: pulumi.Input[str] = spec.network.existing_id
            subnet_id: pulumi.Input[str] = spec.network.existing_subnet_ids[0]
        else:
            vnet = network.VirtualNetwork(
                f"{name}-vnet",
                resource_group_name=rg.name,
                location=spec.region,
                address_space=network.AddressSpaceArgs(address_prefixes=[spec.network.cidr]),
                tags=spec.standard_tags(),
                opts=o,
            )
            subnet = network.Subnet(
                f"{name}-subnet-endpoints",
                subnet_name="private-endpoints",
                resource_group_name=rg.name,
                virtual_network_name=vnet.name,
                address_prefix=str(
                    next(
                        ipaddress.IPv4Network(spec.network.cidr, strict=False).subnets(
                            new_prefix=ENDPOINT_SUBNET_PREFIX
                        )
                    )
                ),
                default_outbound_access=False,
                opts=o,
            )
            vnet_id, subnet_id = vnet.id, subnet.id
        zones = [
            (
                f"zone{i}",
                private_link.create_private_zone(
                    f"{name}-dns-mlw-{i}", spec, zone_name, rg, vnet_id, o
                ),
            )
            for i, zone_name in enumerate(WORKSPACE_DNS_ZONES)
        ]
        self.inbound = private_link.create_private_endpoint(
            f"{name}-pe-mlw",
            spec,
            rg,
            subnet_id,
            "workspace",
            self.ml_workspace.id,
            WORKSPACE_PRIVATE_LINK,
            zones,
            o,
        ).endpoint

    # -- endpoint, deployments, autoscale --------------------------------------------------
    def _create_endpoint(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        base = self.base
        rg = base.rg
        self.endpoint_id = security.identity(spec, name, "endpoint", rg, o)
        security.grant(
            f"{name}-endpoint-acr-grant", self.endpoint_id, "acr-pull", self.registry.id, o
        )
        security.grant(
            f"{name}-endpoint-telemetry-grant",
            self.endpoint_id,
            "monitoring-metrics-publisher",
            base.insights.id,
            o,
        )
        security.grant(
            f"{name}-endpoint-st-grant",
            self.endpoint_id,
            "storage-blob-data-reader",
            self.storage.id,
            o,
        )
        # Endpoint names are unique per region (<name>.<region>.inference.ml.azure.com).
        self.endpoint_name = security.physical_name(spec, "ml-endpoint")
        traffic = rollout.online_endpoint_traffic(spec)
        self.endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=self.endpoint_name,
            resource_group_name=rg.name,
            workspace_name=self.ml_workspace.name,
            location=spec.region,
            identity=ml.ManagedServiceIdentityArgs(
                type=ml.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.endpoint_id.id],
            ),
            properties=ml.OnlineEndpointPropertiesArgs(
                auth_mode=ENDPOINT_AUTH[spec.api.auth],
                public_network_access=ml.PublicNetworkAccessType.DISABLED,
                description=f"{spec.model.name} ({spec.environment.value})",
            ),
            tags=spec.standard_tags(),
            # Created with no traffic: a split naming deployments that do not exist yet is
            # rejected (review A4). EndpointTraffic (below) owns the split after creation.
            opts=pulumi.ResourceOptions.merge(
                o,
                pulumi.ResourceOptions(
                    ignore_changes=["properties.traffic", "properties.mirrorTraffic"]
                ),
            ),
        )
        security.diagnostics(f"{name}-endpoint-diagnostics", self.endpoint.id, base.workspace, o)
        release = rollout.release(spec)
        self.blue = self._deployment(
            name, spec, rollout.STABLE_DEPLOYMENT, release.stable_version, release.stable_image, o
        )
        self.green = self._deployment(
            name,
            spec,
            rollout.CANDIDATE_DEPLOYMENT,
            release.candidate_version,
            release.candidate_image,
            o,
        )
        # The split, applied after both deployments exist; re-applied when the endpoint itself
        # is updated (its PUT restates the endpoint), which endpoint_revision tracks.
        endpoint_revision = hashlib.sha256(
            json.dumps(
                [ENDPOINT_AUTH[spec.api.auth], spec.model.name, spec.standard_tags()],
                sort_keys=True,
            ).encode()
        ).hexdigest()[:12]
        self.traffic = EndpointTraffic(
            f"{name}-endpoint-traffic",
            endpoint_id=self.endpoint.id,
            traffic=traffic.live,
            mirror_traffic=traffic.mirror,
            deployments=[
                self.blue.id.apply(lambda _: rollout.STABLE_DEPLOYMENT),
                self.green.id.apply(lambda _: rollout.CANDIDATE_DEPLOYMENT),
            ],
            endpoint_revision=endpoint_revision,
            opts=pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=[self.endpoint, self.blue, self.green])
            ),
        )
        self.model_name = pulumi.Output.from_input(f"{spec.model.name}:{release.stable_version}")
        self.candidate_model_name = pulumi.Output.from_input(
            f"{spec.model.name}:{release.candidate_version}"
        )

    def _deployment(
        self,
        name: str,
        spec: DeploymentSpec,
        slot: str,
        version: str,
        image: str,
        o: pulumi.ResourceOptions,
    ) -> ml.OnlineDeployment:
        """One deployment (blue or green) of a model image, with its environment and autoscale."""
        rg = self.base.rg
        # One environment per slot: blue and green may run the same version (no candidate), and
        # an environment version is immutable, so its version also names the exact image.
        image_digest = hashlib.sha256(image.encode()).hexdigest()[:8]
        environment = ml.EnvironmentVersion(
            f"{name}-env-{slot}",
            resource_group_name=rg.name,
            workspace_name=self.ml_workspace.name,
            name=f"{spec.model.name}-{slot}",
            version=f"{rollout.revision_suffix(version)}-{image_digest}",
            properties=ml.EnvironmentVersionPropertiesArgs(
                image=image,
                os_type=ml.OperatingSystemType.LINUX,
                description=f"{spec.model.name} {version}",
                inference_config=ml.InferenceContainerPropertiesArgs(
                    liveness_route=ml.RouteArgs(path=spec.model.health_path, port=spec.model.port),
                    readiness_route=ml.RouteArgs(path=spec.model.health_path, port=spec.model.port),
                    scoring_route=ml.RouteArgs(path=spec.model.predict_path, port=spec.model.port),
                ),
            ),
            opts=o,
        )
        probe = ml.ProbeSettingsArgs(
            initial_delay="PT30S", period="PT10S", timeout="PT2S", failure_threshold=30
        )
        minimum = max(MIN_ML_INSTANCES, spec.capacity.min_instances)
        deployment = ml.OnlineDeployment(
            f"{name}-deploy-{slot}",
            deployment_name=slot,
            endpoint_name=self.endpoint.name,
            resource_group_name=rg.name,
            workspace_name=self.ml_workspace.name,
            location=spec.region,
            sku=ml.SkuArgs(name="Default", capacity=minimum),
            properties=ml.ManagedOnlineDeploymentArgs(
                endpoint_compute_type=ml.EndpointComputeType.MANAGED,
                instance_type=instance_type(spec),
                environment_id=environment.id,
                description=f"{slot}: {spec.model.name} {version}",
                # AML's own App Insights logging sends key-based telemetry, which the
                # component refuses (local auth off; review A25). The platform signals the
                # alarms read (the endpoint traffic log, deployment metrics) need no key; the
                # model sends its own telemetry signed in as the endpoint identity.
                app_insights_enabled=False,
                environment_variables={
                    "APPLICATIONINSIGHTS_CONNECTION_STRING": self.base.insights.connection_string,
                    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": pulumi.Output.concat(
                        "Authorization=AAD;ClientId=", self.endpoint_id.client_id
                    ),
                    "AZURE_CLIENT_ID": self.endpoint_id.client_id,
                    "OTEL_SERVICE_NAME": self.endpoint_name,
                    "OTEL_RESOURCE_ATTRIBUTES": f"service.version={version}",
                    "MODEL_VERSION": version,
                },
                egress_public_network_access=ml.EgressPublicNetworkAccessType.DISABLED,
                # Autoscale (below) owns the instance count between min and max.
                scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
                liveness_probe=probe,
                readiness_probe=probe,
                request_settings=ml.OnlineRequestSettingsArgs(
                    request_timeout="PT60S", max_concurrent_requests_per_instance=1
                ),
                # Model data collection (inputs/outputs, request logging) feeds drift and
                # confidence analysis into the workspace's blob store, encrypted with the CMK.
                data_collector=ml.DataCollectorArgs(
                    collections={
                        "model_inputs": ml.CollectionArgs(
                            data_collection_mode=ml.DataCollectionMode.ENABLED, sampling_rate=1.0
                        ),
                        "model_outputs": ml.CollectionArgs(
                            data_collection_mode=ml.DataCollectionMode.ENABLED, sampling_rate=1.0
                        ),
                    },
                    request_logging=ml.RequestLoggingArgs(capture_headers=["x-request-id"]),
                ),
            ),
            tags=spec.standard_tags(),
            opts=o,
        )
        cpu_rule = self._cpu_rule
        monitor.AutoscaleSetting(
            f"{name}-autoscale-{slot}",
            resource_group_name=rg.name,
            location=spec.region,
            enabled=True,
            target_resource_uri=deployment.id,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="cpu",
                    capacity=monitor.ScaleCapacityArgs(
                        minimum=str(minimum),
                        maximum=str(max(minimum, spec.capacity.max_instances)),
                        default=str(minimum),
                    ),
                    rules=[
                        cpu_rule(deployment, spec.capacity.target_cpu_percent, True),
                        cpu_rule(deployment, spec.capacity.target_cpu_percent // 2, False),
                    ],
                )
            ],
            tags=spec.standard_tags(),
            opts=o,
        )
        return deployment

    @staticmethod
    def _cpu_rule(
        deployment: ml.OnlineDeployment, threshold: int, scale_out: bool
    ) -> monitor.ScaleRuleArgs:
        """Scale out above the target CPU, in below half of it (hysteresis avoids flapping)."""
        return monitor.ScaleRuleArgs(
            metric_trigger=monitor.MetricTriggerArgs(
                metric_name="CpuUtilizationPercentage",
                metric_namespace=DEPLOYMENT_NAMESPACE,
                metric_resource_uri=deployment.id,
                operator=(
                    monitor.ComparisonOperationType.GREATER_THAN
                    if scale_out
                    else monitor.ComparisonOperationType.LESS_THAN
                ),
                statistic=monitor.MetricStatisticType.AVERAGE,
                time_aggregation=monitor.TimeAggregationType.AVERAGE,
                time_grain="PT1M",
                time_window="PT5M",
                threshold=float(threshold),
            ),
            scale_action=monitor.ScaleActionArgs(
                direction=(
                    monitor.ScaleDirection.INCREASE
                    if scale_out
                    else monitor.ScaleDirection.DECREASE
                ),
                type=monitor.ScaleType.CHANGE_COUNT,
                value="1",
                cooldown="PT5M" if scale_out else "PT10M",
            ),
        )

    # -- alarms, rollback, dashboard ---------------------------------------------------------
    def _create_monitoring(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        base = self.base
        rules = serving_alarms(spec)
        log = request_log(self.endpoint_name)
        self.rollback = rollout.rollback_path(
            spec,
            name,
            base.rg,
            base.workspace,
            base.insights,
            [monitoring.alarm_rule_name(spec, r) for r in rollback_alarms(spec)],
            rollout.RollbackTarget(
                kind="ml-online-endpoint",
                resource_id=self.endpoint.id,
                stable=rollout.STABLE_DEPLOYMENT,
                candidate=rollout.CANDIDATE_DEPLOYMENT,
                role=roles.ROLLBACK_ML_ENDPOINT,
                linked=(
                    ("endpoint-identity", self.endpoint_id.id, roles.ROLLBACK_ASSIGN_IDENTITY),
                ),
            ),
            log,
            o,
        )
        self.monitoring = monitoring.serving_monitoring(
            spec,
            name,
            rules,
            base.rg,
            base.workspace,
            log,
            self.rollback.action_group,
            o,
        )
        channels = self.monitoring.channels
        monitoring.rollback_reports(
            spec, name, base.rg, base.workspace, self.rollback.app_name, channels, o
        )
        self.rollback_alarms = pulumi.Output.from_input(list(self.monitoring.rollback_alarm_names))
        tier = Tier.TICKET if Tier.TICKET in channels else next(iter(channels))
        for slot, deployment in (("blue", self.blue), ("green", self.green)):
            for key, metric, threshold in UTILISATION_ALERTS:
                monitoring.metric_alert(
                    spec,
                    name,
                    monitoring.MetricWatch(
                        key=f"{slot}-{key}",
                        namespace=DEPLOYMENT_NAMESPACE,
                        metric=metric,
                        aggregation="Average",
                        threshold=threshold,
                        tier=tier,
                    ),
                    deployment.id,
                    base.rg,
                    channels,
                    o,
                )
        self.alert_topic = self.monitoring.alert_topic
        self.rollback_trigger = self.rollback.action_group.id


# The endpoint traffic log's ResponseCode is what the client got, so the platform's own
# failures (502/503 from an unready deployment, 504 on a scoring timeout) are already in it;
# Azure ML answers a request that outlived request_timeout with 408, a timeout too.
FAILED_REQUEST = "{status} >= 500 or {status} == 408"


def request_log(endpoint_name: str) -> monitoring.RequestLog:
    """The endpoint's traffic log (diagnostic category AmlOnlineEndpointTrafficLog): every
    request with its deployment, status and total duration, for both tracks."""
    endpoint = f'EndpointName == "{endpoint_name}"'

    def view(where: str) -> monitoring.LogView:
        return monitoring.LogView(
            table="AmlOnlineEndpointTrafficLog",
            latency_ms="TotalDurationMs",
            status="toint(ResponseCode)",
            where=where,
            failed=FAILED_REQUEST,
        )

    return monitoring.RequestLog(
        serving=view(endpoint),
        candidate=view(f'{endpoint} and DeploymentName == "{rollout.CANDIDATE_DEPLOYMENT}"'),
        stable=view(f'{endpoint} and DeploymentName == "{rollout.STABLE_DEPLOYMENT}"'),
    )


def policy_waivers(
    name: str, spec: DeploymentSpec | None = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config for this component: the exceptions components/azure/waivers.py declares,
    each with its reason (and, with a spec, the paging groups that post to third-party URLs)."""
    return waivers.policy_waivers(name, Pattern.MANAGED_PLATFORM, spec)
