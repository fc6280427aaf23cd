"""The event-driven pattern on Azure.

    upload --> storage "input" container (CMK) --Event Grid system topic (BlobCreated, delivered
                                                 as the "events" identity)--+
    producer --Entra ID, Azure Service Bus Data Sender on the queue---------+--> Service Bus
    Container Apps scheduled job (daily batch, "scheduler" identity) -------+    Premium queue
                                                                                 (CMK; lock =
       min(6x processing, 300 s); 5 deliveries; dead-letter on expiry) ---+      "jobs")
                                                                          |
          KEDA azure-servicebus scaler (managed identity) starts one Container Apps job
          execution per message, 0..capacity.max_instances at once
                                                                          v
          worker job ("worker" identity) --> storage "results" container (CMK, lifecycle)
                                         --> Cosmos DB status container (CMK, TTL)
                                         --> Event Grid topic "completed" / "failed" events
    after 5 failed deliveries (or expiry) --> the queue's dead-letter sub-queue (alarm > 0)

Everything private: the workers run in a VNet-integrated Container Apps environment and reach
storage, Service Bus and Cosmos DB through private endpoints (private DNS zones linked to the
VNet); each service's firewall denies the public internet, with the trusted-services bypass that
lets Event Grid deliver (and dead-letter) as its managed identity. Producers and readers outside
the VNet are let in by the client: a private endpoint from their network or an IP rule.

Why Container Apps *jobs* rather than an always-on app: one execution per message means a
scale-in never kills a job mid-flight (Container Apps apps scale in regardless of in-flight
work), every execution's exit code and logs are recorded, and an empty queue costs nothing. Why
Service Bus rather than Storage queues: a native dead-letter sub-queue, max delivery count,
duplicate detection, lock renewal and CMK. See docs/patterns/azure.md ("Event-driven").
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.cosmosdb as cosmosdb
import pulumi_azure_native.eventgrid as eventgrid
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.network as network
import pulumi_azure_native.servicebus as servicebus
import pulumi_azure_native.storage as storage

from components.alarms import (
    MAX_DELIVERIES,
    AlarmRule,
    Signal,
    event_alarms,
    max_processing_seconds,
    visibility_timeout_seconds,
)
from components.azure import hosting, monitoring, private_link, security, waivers
from components.base import PatternComponent
from components.naming import resource_name
from components.spec import DeploymentSpec, Pattern

# -- The queue ------------------------------------------------------------------------------
QUEUE_NAME = "jobs"
# Service Bus caps a message lock at 5 minutes. When 6x the processing time exceeds it, the
# worker renews the lock while it works (the SDKs' AutoLockRenewer) up to the derived timeout.
MAX_LOCK_SECONDS = 300
# A producer that retries a send with the same MessageId does not enqueue the job twice.
DUPLICATE_DETECTION_WINDOW = "PT10M"
# Premium is the Service Bus tier with customer-managed keys and private endpoints; one
# messaging unit in every environment (parity of controls; scale units up for throughput).
SERVICE_BUS_SKU = (servicebus.SkuName.PREMIUM, servicebus.SkuTier.PREMIUM)
SERVICE_BUS_MESSAGING_UNITS = 1

# -- Storage and status ---------------------------------------------------------------------
INPUT_CONTAINER = "input"
RESULTS_CONTAINER = "results"
# Events Event Grid could not deliver to the queue land here (with the delivery error).
UNDELIVERED_CONTAINER = "undelivered-events"
STATUS_DATABASE = "jobs"
STATUS_CONTAINER = "status"
STATUS_PARTITION_KEY = "/jobId"
STATUS_MAX_THROUGHPUT = 1000  # RU/s autoscale ceiling; the floor is 10% of it

# -- Workers --------------------------------------------------------------------------------
# A Container Apps job has no warm replicas: every environment scales to zero and starts one
# execution per message (cold start included in max_processing_seconds' floor), so the profile's
# min_instances has no equivalent here; max_instances is the concurrency ceiling.
MIN_EXECUTIONS = 0
JOBS_PER_EXECUTION = 1
# How often KEDA looks at the queue (seconds): the latency a job waits for a worker, at worst.
POLLING_INTERVAL_SECONDS = 30
# Retries belong to Service Bus (they are counted there and end in the dead-letter queue); a job
# that retried itself would process a message whose lock may already have expired.
REPLICA_RETRY_LIMIT = 0
WORKLOAD_PROFILE = "Consumption"

# -- The scheduled batch ---------------------------------------------------------------------
BATCH_SCHEDULE = "0 2 * * *"  # daily, 02:00 UTC, same in every environment (parity)
# A public, versioned Microsoft image: the schedule needs no image of the client's. It signs in
# as the scheduler identity and posts one message to the queue's REST endpoint; the MessageId is
# the date, so a retried run is dropped by duplicate detection instead of enqueued twice.
SCHEDULER_IMAGE = "mcr.microsoft.com/azure-cli:2.67.0"
SCHEDULER_SCRIPT = "\n".join(
    [
        "set -eu",
        'az login --identity --username "$AZURE_CLIENT_ID" --allow-no-subscriptions --output none',
        'id="batch-$(date -u +%Y%m%d)"',
        'az rest --method post --url "$QUEUE_URL/messages"'
        " --resource https://servicebus.azure.net"
        ' --headers "Content-Type=application/json"'
        ' "BrokerProperties={\\"MessageId\\":\\"$id\\"}"'
        ' --body \'{"kind": "batch", "trigger": "schedule"}\' --output none',
    ]
)
SCHEDULER_TIMEOUT_SECONDS = 300
SCHEDULER_RETRY_LIMIT = 2

# -- Event Grid ------------------------------------------------------------------------------
# Event Grid's own delivery to the queue (not job processing): retry for a day, then dead-letter
# the event to the undelivered-events container.
EVENT_DELIVERY_ATTEMPTS = 30
EVENT_TTL_MINUTES = 1440
BLOB_CREATED = "Microsoft.Storage.BlobCreated"

# -- Network ---------------------------------------------------------------------------------
# The VNet takes the stack's `network.cidr` (each environment its own range, so environments
# can be peered); the subnets are carved from its start. A stack generated before suffixes
# existed (suffix None) keeps the range it was deployed with, which was fixed in code.
LEGACY_VNET_CIDR = "10.42.0.0/16"
WORKER_SUBNET_PREFIX = 23  # Container Apps (workload profiles) infrastructure: /23 at least
ENDPOINT_SUBNET_PREFIX = 24  # private endpoints


@dataclass(frozen=True)
class NetworkPlan:
    """The VNet range and its two subnets."""

    vnet: str
    workers: str
    endpoints: str


def network_plan(spec: DeploymentSpec) -> NetworkPlan:
    """Workers' /23 at the start of the range, the private endpoints' /24 right after it."""
    cidr = LEGACY_VNET_CIDR if spec.suffix is None else spec.network.cidr
    vnet = ipaddress.IPv4Network(cidr, strict=False)
    workers = next(vnet.subnets(new_prefix=WORKER_SUBNET_PREFIX))
    after = ipaddress.IPv4Network(
        (int(workers.network_address) + workers.num_addresses, ENDPOINT_SUBNET_PREFIX)
    )
    return NetworkPlan(str(vnet), str(workers), str(after))


@dataclass(frozen=True)
class PrivateLink:
    """One private endpoint's sub-resource and the private DNS zone its name resolves in."""

    group_id: str
    zone: str


PRIVATE_LINKS: dict[str, PrivateLink] = {
    "blob": PrivateLink("blob", "privatelink.blob.core.windows.net"),
    "servicebus": PrivateLink("namespace", "privatelink.servicebus.windows.net"),
    "cosmos": PrivateLink("Sql", "privatelink.documents.azure.com"),
    # The workers publish "completed"/"failed" through it: the topic's public endpoint is off
    # (review C2). Subscribers are unaffected: Event Grid delivers outbound.
    "topic": PrivateLink("topic", "privatelink.eventgrid.azure.net"),
}

# -- Identities and grants --------------------------------------------------------------------
IDENTITIES: dict[str, str] = {
    "producer": "submits jobs: uploads input blobs, sends messages to the queue",
    "worker": "processes jobs: receives from the queue, reads input, writes results and status",
    "reader": "reads results and status, subscribes to notifications",
    "scaler": "KEDA's view of the queue depth",
    "events": "Event Grid delivering upload events to the queue",
    "scheduler": "the scheduled batch job sending its message",
}

# Built-in Azure RBAC roles this pattern grants (GUIDs are the same in every tenant); none is
# Owner, Contributor or User Access Administrator, and each is assigned on one resource.
ROLES: dict[str, str] = {
    "service-bus-data-sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "service-bus-data-receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "service-bus-data-owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "storage-blob-data-contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "storage-blob-data-reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "eventgrid-data-sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
    "eventgrid-subscription-contributor": "428e0ff0-5e57-4d9c-a221-2c70d0e0a443",
    "monitoring-metrics-publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# (who, target, role) for every Azure RBAC grant; targets are single resources (a queue, one
# blob container, one topic), never a namespace, account, group or subscription.
GRANTS: tuple[tuple[str, str, str], ...] = (
    ("producer", "queue", "service-bus-data-sender"),
    ("producer", "input-container", "storage-blob-data-contributor"),
    ("worker", "queue", "service-bus-data-receiver"),
    ("worker", "input-container", "storage-blob-data-reader"),
    # Contributor, not a create-only role: a redelivered job overwrites its own partial result.
    ("worker", "results-container", "storage-blob-data-contributor"),
    ("worker", "notification-topic", "eventgrid-data-sender"),
    ("worker", "insights", "monitoring-metrics-publisher"),
    # KEDA reads the queue's runtime properties (active message count), a management read that
    # Service Bus authorizes only for the Data Owner role; scoped to this queue alone, and held
    # by an identity no container runs as.
    ("scaler", "queue", "service-bus-data-owner"),
    ("reader", "results-container", "storage-blob-data-reader"),
    ("reader", "notification-topic", "eventgrid-subscription-contributor"),
    ("events", "queue", "service-bus-data-sender"),
    ("events", "undelivered-container", "storage-blob-data-contributor"),
    ("scheduler", "queue", "service-bus-data-sender"),
)

# Cosmos DB data-plane roles (Cosmos DB's own RBAC, not Azure RBAC): built-in definitions.
COSMOS_ROLES: dict[str, str] = {
    "data-reader": "00000000-0000-0000-0000-000000000001",
    "data-contributor": "00000000-0000-0000-0000-000000000002",
}
COSMOS_GRANTS: tuple[tuple[str, str], ...] = (
    ("worker", "data-contributor"),
    ("reader", "data-reader"),
)

# -- Monitoring ------------------------------------------------------------------------------
SERVICE_BUS_METRICS = "Microsoft.ServiceBus/namespaces"


@dataclass(frozen=True)
class QueueMetric:
    """A Service Bus platform metric that is itself an alarm's signal."""

    metric: str
    aggregation: str


# Signals Service Bus measures itself: metric alerts on the queue (EntityName dimension).
QUEUE_METRICS: dict[Signal, QueueMetric] = {
    Signal.QUEUE_DEPTH: QueueMetric("ActiveMessages", "Average"),
    Signal.DEAD_LETTERS: QueueMetric("DeadletteredMessages", "Maximum"),
}

# Signals from the worker's telemetry (the contract in docs/patterns/azure.md): each job is one
# Application Insights request named JOB_OPERATION with its duration, Success, and the custom
# property QUEUE_WAIT_PROPERTY (ms between enqueue and the start of processing). Service Bus has
# no "age of the oldest message" metric: the oldest wait a worker saw is the measure; a queue
# nobody drains shows in the depth and dead-letter alarms instead.
JOB_OPERATION = "process-job"
QUEUE_WAIT_PROPERTY = "queue_wait_ms"
WORKER_EXPRESSIONS: dict[Signal, monitoring.SignalExpression] = {
    **monitoring.SIGNAL_EXPRESSIONS,
    Signal.WORKER_ERROR_RATE: monitoring.SignalExpression(
        False, "todouble(countif({status} == false)) / count()"
    ),
    Signal.QUEUE_OLDEST_AGE: monitoring.SignalExpression(
        False, f'max(todouble(Properties["{QUEUE_WAIT_PROPERTY}"])) / 1000.0'
    ),
}


def worker_bounds(spec: DeploymentSpec) -> tuple[int, int]:
    """(min, max) concurrent job executions: zero at rest, the profile's max as the ceiling."""
    return MIN_EXECUTIONS, spec.capacity.max_instances


def lock_seconds(spec: DeploymentSpec) -> int:
    """The queue's lock duration: the derived visibility timeout, capped at Service Bus's 5 min."""
    return min(visibility_timeout_seconds(spec), MAX_LOCK_SECONDS)


def iso_seconds(seconds: int) -> str:
    """An ISO 8601 duration of whole seconds, as ARM expects (``PT300S``)."""
    return f"PT{seconds}S"


def worker_log(job_name: str) -> monitoring.RequestLog:
    """Where the worker's per-job telemetry lands (workspace-based Application Insights)."""
    view = monitoring.LogView(
        table="AppRequests",
        latency_ms="DurationMs",
        status="Success",
        where=f'AppRoleName == "{job_name}" and Name == "{JOB_OPERATION}"',
    )
    # Jobs have no candidate: one version processes the queue at a time.
    return monitoring.RequestLog(serving=view, candidate=view)


class AzureEventDriven(PatternComponent):
    """Blob uploads, authenticated sends and a schedule feed a Service Bus queue that
    Container Apps jobs drain; results in Blob and Cosmos DB, notifications on Event Grid."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        o = self.child_opts()
        base = security.foundation(spec, name, o)
        self.rg, self.keys, self.workspace = base.rg, base.keys, base.workspace
        self.encryption_id, self.insights = base.encryption, base.insights
        self.ids = {role: security.identity(spec, name, role, self.rg, o) for role in IDENTITIES}
        self._create_network(name, spec, o)
        self._create_storage(name, spec, o)
        self._create_queue(name, spec, o)
        self._create_status(name, spec, o)
        self._create_notifications(name, spec, o)
        self.grants = self._create_grants(name, o)
        self._create_private_endpoints(name, spec, o)
        self._create_upload_trigger(name, spec, o)
        self._create_workers(name, spec, o)
        self._create_monitoring(name, spec, o)

        self.input_bucket = self.input_container.name.apply(
            lambda _: f"{self.blob_endpoint}{INPUT_CONTAINER}"
        )
        self.queue_name = self.queue.name.apply(lambda _: QUEUE_NAME)
        # Service Bus addresses a queue's dead letters as this sub-queue path.
        self.dead_letter_queue_name = self.queue.name.apply(
            lambda _: f"{QUEUE_NAME}/$DeadLetterQueue"
        )
        self.worker_service = self.worker.name.apply(lambda _: self.worker_name)
        self.results_bucket = self.results_container.name.apply(
            lambda _: f"{self.blob_endpoint}{RESULTS_CONTAINER}"
        )
        self.status_table = self.status.name.apply(
            lambda _: f"{self.cosmos_name}/{STATUS_DATABASE}/{STATUS_CONTAINER}"
        )
        self.notification_topic = self.notifications.id
        self.kms_key_id = pulumi.Output.from_input(self.keys.key_uri)
        self.alert_topic = monitoring.primary_channel(self.channels).id
        self._finish()

    def _physical(self, kind: str, role: str) -> str:
        spec = self.spec
        return resource_name("azure", kind, spec.project, spec.environment.value, role)

    # -- Network: the workers' subnet and the private endpoints' subnet --------------------------
    def _create_network(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        existing = spec.network.existing_id
        if existing is not None:
            # The client's VNet: its first subnet hosts the workers (delegated to
            # Microsoft.App/environments, /23 or larger), its second the private endpoints.
            self.vnet_id: pulumi.Input[str] = existing
            self.worker_subnet_id: pulumi.Input[str] = spec.network.existing_subnet_ids[0]
            self.endpoint_subnet_id: pulumi.Input[str] = spec.network.existing_subnet_ids[1]
            return
        plan = network_plan(spec)
        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=self.rg.name,
            location=spec.region,
            address_space=network.AddressSpaceArgs(address_prefixes=[plan.vnet]),
            tags=spec.standard_tags(),
            opts=o,
        )
        self.worker_subnet = network.Subnet(
            f"{name}-subnet-workers",
            subnet_name="workers",
            resource_group_name=self.rg.name,
            virtual_network_name=self.vnet.name,
            address_prefix=plan.workers,
            delegations=[
                network.DelegationArgs(
                    name="container-apps", service_name="Microsoft.App/environments"
                )
            ],
            # Default outbound access stays: workers pull their image and reach Entra ID and
            # Application Insights over the internet (TLS, Entra-only); the notification topic
            # through its private endpoint.
            opts=o,
        )
        self.endpoint_subnet = network.Subnet(
            f"{name}-subnet-endpoints",
            subnet_name="private-endpoints",
            resource_group_name=self.rg.name,
            virtual_network_name=self.vnet.name,
            address_prefix=plan.endpoints,
            # Private endpoints only receive: this subnet needs no way out.
            default_outbound_access=False,
            # Subnets of one VNet are created one at a time (ARM rejects concurrent updates).
            opts=pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=[self.worker_subnet])
            ),
        )
        self.vnet_id = self.vnet.id
        self.worker_subnet_id = self.worker_subnet.id
        self.endpoint_subnet_id = self.endpoint_subnet.id

    # -- Storage: input, results, undelivered events -------------------------------------------
    def _create_storage(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        self.account_name = security.physical_name(spec, "storage-account", "jobs")
        self.blob_endpoint = f"https://{self.account_name}.blob.core.windows.net/"
        self.account = security.cmk_storage_account(
            spec, name, "jobs", self.rg, self.keys, self.encryption_id, o
        )
        # Deleted blobs and containers stay recoverable (a bad cleanup is not data loss).
        self.recovery = security.blob_recovery(spec, name, self.account, self.rg, o)
        security.storage_logs(f"{name}-st-jobs", self.account, self.workspace, o)

        def container(role: str, container_name: str) -> storage.BlobContainer:
            return storage.BlobContainer(
                f"{name}-container-{role}",
                container_name=container_name,
                account_name=self.account.name,
                resource_group_name=self.rg.name,
                public_access=storage.PublicAccess.NONE,
                opts=o,
            )

        self.input_container = container("input", INPUT_CONTAINER)
        self.results_container = container("results", RESULTS_CONTAINER)
        self.undelivered_container = container("undelivered", UNDELIVERED_CONTAINER)
        # Every blob of the pattern (inputs, results, undelivered events) is data: it is deleted
        # data_days after it was last written.
        days = float(spec.retention.data_days)
        self.lifecycle = storage.ManagementPolicy(
            f"{name}-st-jobs-lifecycle",
            account_name=self.account.name,
            resource_group_name=self.rg.name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name=f"expire-{prefix}",
                        enabled=True,
                        type=storage.RuleType.LIFECYCLE,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(
                                blob_types=["blockBlob"], prefix_match=[f"{prefix}/"]
                            ),
                            actions=storage.ManagementPolicyActionArgs(
                                base_blob=storage.ManagementPolicyBaseBlobArgs(
                                    delete=storage.DateAfterModificationArgs(
                                        days_after_modification_greater_than=days
                                    )
                                )
                            ),
                        ),
                    )
                    for prefix in (INPUT_CONTAINER, RESULTS_CONTAINER, UNDELIVERED_CONTAINER)
                ]
            ),
            opts=o,
        )

    # -- The queue -----------------------------------------------------------------------------
    def _create_queue(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        self.namespace_name = security.physical_name(spec, "servicebus-namespace", "bus")
        self.namespace = servicebus.Namespace(
            f"{name}-bus",
            namespace_name=self.namespace_name,
            resource_group_name=self.rg.name,
            location=spec.region,
            sku=servicebus.SBSkuArgs(
                name=SERVICE_BUS_SKU[0],
                tier=SERVICE_BUS_SKU[1],
                capacity=SERVICE_BUS_MESSAGING_UNITS,
            ),
            premium_messaging_partitions=1,
            disable_local_auth=True,
            minimum_tls_version="1.2",
            identity=servicebus.IdentityArgs(
                type=servicebus.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.encryption_id.id],
            ),
            encryption=servicebus.EncryptionArgs(
                key_source=servicebus.KeySource.MICROSOFT_KEY_VAULT,
                key_vault_properties=[
                    servicebus.KeyVaultPropertiesArgs(
                        key_name=self.keys.key.name.apply(lambda _: self.keys.key_name),
                        key_vault_uri=self.keys.vault_uri,
                        identity=servicebus.UserAssignedIdentityPropertiesArgs(
                            user_assigned_identity=self.encryption_id.id
                        ),
                    )
                ],
                require_infrastructure_encryption=True,
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                security.after_key(self.keys, o),
                pulumi.ResourceOptions(protect=spec.retention.deletion_protection),
            ),
        )
        # The firewall denies every public network; trusted services (Event Grid delivering as
        # its managed identity) pass, the workers come through the private endpoint.
        self.bus_network = servicebus.NamespaceNetworkRuleSet(
            f"{name}-bus-network",
            namespace_name=self.namespace.name,
            resource_group_name=self.rg.name,
            default_action=servicebus.DefaultAction.DENY,
            public_network_access=servicebus.PublicNetworkAccessFlag.ENABLED,
            trusted_service_access_enabled=True,
            ip_rules=[],
            virtual_network_rules=[],
            opts=o,
        )
        self.queue = servicebus.Queue(
            f"{name}-queue",
            queue_name=QUEUE_NAME,
            namespace_name=self.namespace.name,
            resource_group_name=self.rg.name,
            max_delivery_count=MAX_DELIVERIES,
            lock_duration=iso_seconds(lock_seconds(spec)),
            dead_lettering_on_message_expiration=True,
            # A job nobody processed within the data retention is dead-lettered, not dropped.
            default_message_time_to_live=f"P{spec.retention.data_days}D",
            requires_duplicate_detection=True,
            duplicate_detection_history_time_window=DUPLICATE_DETECTION_WINDOW,
            requires_session=False,
            opts=o,
        )
        self.queue_url = f"https://{self.namespace_name}.servicebus.windows.net/{QUEUE_NAME}"
        security.diagnostics(f"{name}-bus-diagnostics", self.namespace.id, self.workspace, o)

    # -- Job status ----------------------------------------------------------------------------
    def _create_status(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        self.cosmos_name = security.physical_name(spec, "cosmos-account", "status")
        self.cosmos = cosmosdb.DatabaseAccount(
            f"{name}-cosmos",
            account_name=self.cosmos_name,
            resource_group_name=self.rg.name,
            location=spec.region,
            database_account_offer_type=cosmosdb.DatabaseAccountOfferType.STANDARD,
            kind=cosmosdb.DatabaseAccountKind.GLOBAL_DOCUMENT_DB,
            locations=[
                cosmosdb.LocationArgs(
                    location_name=spec.region, failover_priority=0, is_zone_redundant=False
                )
            ],
            consistency_policy=cosmosdb.ConsistencyPolicyArgs(
                default_consistency_level=cosmosdb.DefaultConsistencyLevel.SESSION
            ),
            disable_local_auth=True,
            disable_key_based_metadata_write_access=True,
            minimal_tls_version=cosmosdb.MinimalTlsVersion.TLS12,
            public_network_access=cosmosdb.PublicNetworkAccess.DISABLED,
            identity=cosmosdb.ManagedServiceIdentityArgs(
                type=cosmosdb.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.encryption_id.id],
            ),
            default_identity=pulumi.Output.concat("UserAssignedIdentity=", self.encryption_id.id),
            key_vault_key_uri=self.keys.key_uri,
            backup_policy=cosmosdb.ContinuousModeBackupPolicyArgs(
                type="Continuous",
                continuous_mode_properties=cosmosdb.ContinuousModePropertiesArgs(
                    tier=cosmosdb.ContinuousTier.CONTINUOUS7_DAYS
                ),
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                security.after_key(self.keys, o),
                pulumi.ResourceOptions(protect=spec.retention.deletion_protection),
            ),
        )
        database = cosmosdb.SqlResourceSqlDatabase(
            f"{name}-status-db",
            account_name=self.cosmos.name,
            resource_group_name=self.rg.name,
            database_name=STATUS_DATABASE,
            resource=cosmosdb.SqlDatabaseResourceArgs(id=STATUS_DATABASE),
            opts=o,
        )
        self.status = cosmosdb.SqlResourceSqlContainer(
            f"{name}-status",
            account_name=self.cosmos.name,
            resource_group_name=self.rg.name,
            database_name=database.name,
            container_name=STATUS_CONTAINER,
            resource=cosmosdb.SqlContainerResourceArgs(
                id=STATUS_CONTAINER,
                partition_key=cosmosdb.ContainerPartitionKeyArgs(
                    paths=[STATUS_PARTITION_KEY], kind=cosmosdb.PartitionKind.HASH, version=2
                ),
                # Every status document expires data_days after its last write.
                default_ttl=spec.retention.data_days * 86400,
            ),
            options=cosmosdb.CreateUpdateOptionsArgs(
                autoscale_settings=cosmosdb.AutoscaleSettingsArgs(
                    max_throughput=STATUS_MAX_THROUGHPUT
                )
            ),
            opts=o,
        )
        self.status_scope = pulumi.Output.concat(
            self.cosmos.id, f"/dbs/{STATUS_DATABASE}/colls/{STATUS_CONTAINER}"
        )
        security.diagnostics(f"{name}-cosmos-diagnostics", self.cosmos.id, self.workspace, o)

    # -- Notifications -------------------------------------------------------------------------
    def _create_notifications(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        self.topic_name = self._physical("default", "notifications")
        self.notifications = eventgrid.Topic(
            f"{name}-notifications",
            topic_name=self.topic_name,
            resource_group_name=self.rg.name,
            location=spec.region,
            input_schema=eventgrid.InputSchema.CLOUD_EVENT_SCHEMA_V1_0,
            disable_local_auth=True,
            minimum_tls_version_allowed=eventgrid.TlsVersion.TLS_VERSION_1_2,
            data_residency_boundary=eventgrid.DataResidencyBoundary.WITHIN_REGION,
            # Publishing only through the private endpoint in the workers' VNet (review C2).
            public_network_access=eventgrid.PublicNetworkAccess.DISABLED,
            tags=spec.standard_tags(),
            opts=o,
        )
        self.topic_endpoint = (
            f"https://{self.topic_name}.{spec.region}-1.eventgrid.azure.net/api/events"
        )
        security.diagnostics(
            f"{name}-notifications-diagnostics", self.notifications.id, self.workspace, o
        )

    # -- Least privilege -----------------------------------------------------------------------
    def _create_grants(
        self, name: str, o: pulumi.ResourceOptions
    ) -> dict[tuple[str, str, str], pulumi.Resource]:
        targets: Mapping[str, pulumi.Input[str]] = {
            "queue": self.queue.id,
            "input-container": self.input_container.id,
            "results-container": self.results_container.id,
            "undelivered-container": self.undelivered_container.id,
            "notification-topic": self.notifications.id,
            "insights": self.insights.id,
        }
        grants: dict[tuple[str, str, str], pulumi.Resource] = {
            (who, target, role): authorization.RoleAssignment(
                f"{name}-grant-{who}-{target}",
                principal_id=self.ids[who].principal_id,
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=security.role_definition_id(ROLES[role]),
                scope=targets[target],
                description=f"aideploy: {role} for {who} on one resource",
                opts=o,
            )
            for who, target, role in GRANTS
        }
        for who, role in COSMOS_GRANTS:
            grants[(who, "status", role)] = cosmosdb.SqlResourceSqlRoleAssignment(
                f"{name}-grant-{who}-status",
                account_name=self.cosmos.name,
                resource_group_name=self.rg.name,
                # A Cosmos role assignment's name must be a GUID; stable per stack and role.
                role_assignment_id=str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL,
                        f"aideploy/{self.spec.project}/{self.spec.environment.value}/{who}/{role}",
                    )
                ),
                principal_id=self.ids[who].principal_id,
                role_definition_id=pulumi.Output.concat(
                    self.cosmos.id, "/sqlRoleDefinitions/", COSMOS_ROLES[role]
                ),
                scope=self.status_scope,
                opts=pulumi.ResourceOptions.merge(
                    o, pulumi.ResourceOptions(depends_on=[self.status])
                ),
            )
        return grants

    # -- Private endpoints: the workers reach the data services without a public path --------
    def _create_private_endpoints(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        services: dict[str, pulumi.Input[str]] = {
            "blob": self.account.id,
            "servicebus": self.namespace.id,
            "cosmos": self.cosmos.id,
            "topic": self.notifications.id,
        }
        self.private_endpoints: dict[str, network.PrivateEndpoint] = {}
        for key, link in PRIVATE_LINKS.items():
            zone = private_link.create_private_zone(
                f"{name}-dns-{key}", spec, link.zone, self.rg, self.vnet_id, o
            )
            self.private_endpoints[key] = private_link.create_private_endpoint(
                f"{name}-pe-{key}",
                spec,
                self.rg,
                self.endpoint_subnet_id,
                key,
                services[key],
                link.group_id,
                [(key, zone)],
                o,
            ).endpoint

    # -- Trigger: blob uploads -----------------------------------------------------------------
    def _create_upload_trigger(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        events = self.ids["events"]
        self.system_topic = eventgrid.SystemTopic(
            f"{name}-uploads",
            system_topic_name=self._physical("default", "uploads"),
            resource_group_name=self.rg.name,
            location=spec.region,
            source=self.account.id,
            topic_type="Microsoft.Storage.StorageAccounts",
            identity=events.id.apply(
                lambda i: eventgrid.IdentityInfoArgs(
                    type=eventgrid.IdentityType.USER_ASSIGNED,
                    user_assigned_identities={i: eventgrid.UserIdentityPropertiesArgs()},
                )
            ),
            tags=spec.standard_tags(),
            opts=o,
        )
        as_events = eventgrid.EventSubscriptionIdentityArgs(
            type=eventgrid.EventSubscriptionIdentityType.USER_ASSIGNED,
            user_assigned_identity=events.id,
        )
        # Event Grid checks its right to send when the subscription is created.
        needs = [
            self.grants[("events", "queue", "service-bus-data-sender")],
            self.grants[("events", "undelivered-container", "storage-blob-data-contributor")],
        ]
        self.upload_trigger = eventgrid.SystemTopicEventSubscription(
            f"{name}-uploads-to-queue",
            event_subscription_name="uploads-to-queue",
            system_topic_name=self.system_topic.name,
            resource_group_name=self.rg.name,
            event_delivery_schema=eventgrid.EventDeliverySchema.CLOUD_EVENT_SCHEMA_V1_0,
            filter=eventgrid.EventSubscriptionFilterArgs(
                included_event_types=[BLOB_CREATED],
                subject_begins_with=f"/blobServices/default/containers/{INPUT_CONTAINER}/",
            ),
            delivery_with_resource_identity=eventgrid.DeliveryWithResourceIdentityArgs(
                identity=as_events,
                destination=eventgrid.ServiceBusQueueEventSubscriptionDestinationArgs(
                    endpoint_type="ServiceBusQueue",
                    resource_id=self.queue.id,
                    delivery_attribute_mappings=[
                        eventgrid.StaticDeliveryAttributeMappingArgs(
                            type="Static", name="trigger", value="upload", is_secret=False
                        )
                    ],
                ),
            ),
            dead_letter_with_resource_identity=eventgrid.DeadLetterWithResourceIdentityArgs(
                identity=as_events,
                dead_letter_destination=eventgrid.StorageBlobDeadLetterDestinationArgs(
                    endpoint_type="StorageBlob",
                    resource_id=self.account.id,
                    blob_container_name=UNDELIVERED_CONTAINER,
                ),
            ),
            retry_policy=eventgrid.RetryPolicyArgs(
                max_delivery_attempts=EVENT_DELIVERY_ATTEMPTS,
                event_time_to_live_in_minutes=EVENT_TTL_MINUTES,
            ),
            opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=needs)),
        )
        security.diagnostics(f"{name}-uploads-diagnostics", self.system_topic.id, self.workspace, o)

    # -- Workers and the schedule --------------------------------------------------------------
    def _create_workers(self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions) -> None:
        self.environment = app.ManagedEnvironment(
            f"{name}-env",
            resource_group_name=self.rg.name,
            location=spec.region,
            app_logs_configuration=app.AppLogsConfigurationArgs(destination="azure-monitor"),
            vnet_configuration=app.VnetConfigurationArgs(
                infrastructure_subnet_id=self.worker_subnet_id, internal=True
            ),
            workload_profiles=[
                app.WorkloadProfileArgs(
                    name=WORKLOAD_PROFILE, workload_profile_type=WORKLOAD_PROFILE
                )
            ],
            public_network_access=app.PublicNetworkAccess.DISABLED,
            # No disk CMK on Container Apps (preview, and not a Key Vault trusted service): see
            # components/azure/hosting.py and docs/patterns/azure.md (review A6).
            tags=spec.standard_tags(),
            opts=o,
        )
        security.diagnostics(
            f"{name}-env-diagnostics", self.environment.id, self.workspace, o, metrics=False
        )
        worker, scaler = self.ids["worker"], self.ids["scaler"]
        low, high = worker_bounds(spec)
        self.worker_name = self._physical("container-app", "worker")
        env: dict[str, pulumi.Input[str]] = {
            "AZURE_CLIENT_ID": worker.client_id,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": self.insights.connection_string,
            # Application Insights accepts Entra-authenticated telemetry only (local auth off).
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": pulumi.Output.concat(
                "Authorization=AAD;ClientId=", worker.client_id
            ),
            "OTEL_SERVICE_NAME": self.worker_name,
            "JOB_OPERATION": JOB_OPERATION,
            "QUEUE_WAIT_PROPERTY": QUEUE_WAIT_PROPERTY,
            "MODEL_VERSION": spec.model.version,
            "SERVICEBUS_NAMESPACE": f"{self.namespace_name}.servicebus.windows.net",
            "QUEUE_NAME": QUEUE_NAME,
            "MAX_DELIVERIES": str(MAX_DELIVERIES),
            "MAX_PROCESSING_SECONDS": str(max_processing_seconds(spec)),
            "LOCK_RENEW_UNTIL_SECONDS": str(visibility_timeout_seconds(spec)),
            "INPUT_CONTAINER_URL": f"{self.blob_endpoint}{INPUT_CONTAINER}",
            "RESULTS_CONTAINER_URL": f"{self.blob_endpoint}{RESULTS_CONTAINER}",
            "COSMOS_ENDPOINT": f"https://{self.cosmos_name}.documents.azure.com:443/",
            "STATUS_DATABASE": STATUS_DATABASE,
            "STATUS_CONTAINER": STATUS_CONTAINER,
            "NOTIFICATION_TOPIC_ENDPOINT": self.topic_endpoint,
        }
        # The job needs its grants and its private paths before the first execution starts.
        ready = [*self.grants.values(), *self.private_endpoints.values()]
        # An image in an Azure Container Registry is pulled as bootstrap's pull identity.
        pull = hosting.registry_pull(spec, spec.model.serving_image)
        job_identities: list[pulumi.Input[str]] = [worker.id, scaler.id]
        if pull is not None:
            job_identities.append(pull.identity_id)
        self.worker = app.Job(
            f"{name}-worker",
            job_name=self.worker_name,
            resource_group_name=self.rg.name,
            location=spec.region,
            environment_id=self.environment.id,
            workload_profile_name=WORKLOAD_PROFILE,
            identity=app.ManagedServiceIdentityArgs(
                type=app.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=job_identities,
            ),
            configuration=app.JobConfigurationArgs(
                trigger_type=app.TriggerType.EVENT,
                registries=pull.registries() if pull is not None else None,
                # The worker stops itself at max_processing_seconds; the platform's timeout is
                # the backstop, and the message then returns to the queue when its lock ends.
                replica_timeout=max_processing_seconds(spec),
                replica_retry_limit=REPLICA_RETRY_LIMIT,
                event_trigger_config=app.JobConfigurationEventTriggerConfigArgs(
                    parallelism=JOBS_PER_EXECUTION,
                    replica_completion_count=JOBS_PER_EXECUTION,
                    scale=app.JobScaleArgs(
                        min_executions=low,
                        max_executions=high,
                        polling_interval=POLLING_INTERVAL_SECONDS,
                        rules=[
                            app.JobScaleRuleArgs(
                                name="queue-depth",
                                type="azure-servicebus",
                                identity=scaler.id,
                                metadata={
                                    "namespace": self.namespace_name,
                                    "queueName": QUEUE_NAME,
                                    "messageCount": str(JOBS_PER_EXECUTION),
                                },
                            )
                        ],
                    ),
                ),
            ),
            template=app.JobTemplateArgs(
                containers=[
                    app.ContainerArgs(
                        name="worker",
                        image=spec.model.serving_image,
                        resources=app.ContainerResourcesArgs(
                            cpu=spec.capacity.cpu, memory=f"{spec.capacity.memory_mb / 1024:g}Gi"
                        ),
                        env=[app.EnvironmentVarArgs(name=k, value=v) for k, v in env.items()],
                    )
                ]
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=ready)),
        )
        scheduler = self.ids["scheduler"]
        self.schedule = app.Job(
            f"{name}-schedule",
            job_name=self._physical("container-app", "batch"),
            resource_group_name=self.rg.name,
            location=spec.region,
            environment_id=self.environment.id,
            workload_profile_name=WORKLOAD_PROFILE,
            identity=app.ManagedServiceIdentityArgs(
                type=app.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[scheduler.id],
            ),
            configuration=app.JobConfigurationArgs(
                trigger_type=app.TriggerType.SCHEDULE,
                replica_timeout=SCHEDULER_TIMEOUT_SECONDS,
                replica_retry_limit=SCHEDULER_RETRY_LIMIT,
                schedule_trigger_config=app.JobConfigurationScheduleTriggerConfigArgs(
                    cron_expression=BATCH_SCHEDULE, parallelism=1, replica_completion_count=1
                ),
            ),
            template=app.JobTemplateArgs(
                containers=[
                    app.ContainerArgs(
                        name="enqueue-batch",
                        image=SCHEDULER_IMAGE,
                        command=["/bin/sh", "-c", SCHEDULER_SCRIPT],
                        resources=app.ContainerResourcesArgs(cpu=0.25, memory="0.5Gi"),
                        env=[
                            app.EnvironmentVarArgs(
                                name="AZURE_CLIENT_ID", value=scheduler.client_id
                            ),
                            app.EnvironmentVarArgs(name="QUEUE_URL", value=self.queue_url),
                        ],
                    )
                ]
            ),
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                o,
                pulumi.ResourceOptions(
                    depends_on=[
                        self.grants[("scheduler", "queue", "service-bus-data-sender")],
                        self.private_endpoints["servicebus"],
                    ]
                ),
            ),
        )

    # -- Alarms ----------------------------------------------------------------------------------
    def _create_monitoring(
        self, name: str, spec: DeploymentSpec, o: pulumi.ResourceOptions
    ) -> None:
        rules = event_alarms(spec)
        self.channels = monitoring.alert_channels(spec, name, self.rg, [r.tier for r in rules], o)
        log = worker_log(self.worker_name)
        self.alarms: list[monitor.MetricAlert | monitor.ScheduledQueryRule] = []
        worker_rules: list[AlarmRule] = []
        for rule in rules:
            queue_metric = QUEUE_METRICS.get(rule.signal)
            if queue_metric is not None:
                self.alarms.append(self._queue_alarm(name, spec, rule, queue_metric, o))
                continue
            worker_rules.append(rule)
            self.alarms.append(
                monitoring.alarm(
                    spec,
                    name,
                    rule,
                    self.rg,
                    self.workspace,
                    log,
                    [self.channels[rule.tier].id],
                    o,
                    expressions=WORKER_EXPRESSIONS,
                )
            )
        # The worker's charts, with the alarms' own KQL; the queue's metrics are charted by
        # Service Bus's own insights blade.
        self.dashboard = monitoring.workbook(
            spec,
            name,
            self.rg,
            self.workspace,
            log,
            worker_rules,
            o,
            expressions=WORKER_EXPRESSIONS,
            purpose="jobs",
        )

    def _queue_alarm(
        self,
        name: str,
        spec: DeploymentSpec,
        rule: AlarmRule,
        metric: QueueMetric,
        o: pulumi.ResourceOptions,
    ) -> monitor.MetricAlert:
        return monitoring.metric_alert(
            spec,
            name,
            monitoring.MetricWatch(
                key=rule.key,
                namespace=SERVICE_BUS_METRICS,
                metric=metric.metric,
                aggregation=metric.aggregation,
                threshold=float(rule.threshold),
                tier=rule.tier,
                dimensions={"EntityName": QUEUE_NAME},
            ),
            self.namespace.id,
            self.rg,
            self.channels,
            o,
        )


def policy_waivers(
    name: str, spec: DeploymentSpec | None = None
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config for this component: the exceptions components/azure/waivers.py declares,
    each with its reason (and, with a spec, the paging groups that post to third-party URLs)."""
    return waivers.policy_waivers(name, Pattern.EVENT_DRIVEN, spec)
