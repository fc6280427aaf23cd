"""AzureEventDriven under Pulumi's mocks: the resources it registers and their settings."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from components.alarms import (
    MAX_DELIVERIES,
    Tier,
    event_alarms,
    max_processing_seconds,
    visibility_timeout_seconds,
)
from components.azure import event_driven as ed
from components.azure import roles, security
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import SUBSCRIPTION_ID, Capture, CapturedResource
from policies.rules import all_policies
from policies.rules.azure.authorization import PRIVILEGED_ROLES
from stacks.profiles import load_profile
from tests.conftest import ROOT, make_spec, of_type, run_component
from tests.policies.harness import evaluate

ENVS = list(Environment)
NS = "azure-native"
QUEUE = f"{NS}:servicebus:Queue"
NAMESPACE = f"{NS}:servicebus:Namespace"
JOB = f"{NS}:app:Job"
ACCOUNT = f"{NS}:storage:StorageAccount"
CONTAINER = f"{NS}:storage:BlobContainer"
COSMOS = f"{NS}:cosmosdb:DatabaseAccount"
TOPIC = f"{NS}:eventgrid:Topic"
SYSTEM_TOPIC = f"{NS}:eventgrid:SystemTopic"
IDENTITY = f"{NS}:managedidentity:UserAssignedIdentity"
ROLE_ASSIGNMENT = f"{NS}:authorization:RoleAssignment"
ACTION_GROUP = f"{NS}:monitor:ActionGroup"


@cache
def _run(env: Environment, p99_ms: int = 0) -> tuple[DeploymentSpec, Capture]:
    overrides: dict[str, Any] = {}
    if p99_ms:
        overrides["alerts"] = {"latency_p50_ms": 1, "latency_p95_ms": 1, "latency_p99_ms": p99_ms}
    spec = make_spec(Cloud.AZURE, Pattern.EVENT_DRIVEN, env, overrides)
    return spec, run_component(spec)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def named(resources: list[CapturedResource], name: str) -> CapturedResource:
    (found,) = [r for r in resources if r.name == name]
    return found


def deps(r: CapturedResource, prop: str) -> set[str]:
    return set(r.property_dependencies.get(prop, ()))


def mock_id(r: CapturedResource) -> str:
    """The id Pulumi's mocks (offline.capture) give a resource: used to follow outputs."""
    return hashlib.sha256(f"{r.type}/{r.name}".encode()).hexdigest()[:12]


def component(cap: Capture) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.type == "aideploy:azure:EventDriven"]
    return found


def outputs(cap: Capture) -> dict[str, Any]:
    return cap.outputs[component(cap).urn]


def identity_urn(cap: Capture, role: str) -> str:
    return named(cap.resources, f"acme-support-id-{role}").urn


def env_vars(job: CapturedResource) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in job.inputs["template"]["containers"][0]["env"]}


EXPECTED_TYPES = (
    f"{NS}:resources:ResourceGroup",
    f"{NS}:keyvault:Vault",
    f"{NS}:keyvault:Key",
    IDENTITY,
    ROLE_ASSIGNMENT,
    f"{NS}:operationalinsights:Workspace",
    f"{NS}:applicationinsights:Component",
    f"{NS}:network:VirtualNetwork",
    f"{NS}:network:Subnet",
    f"{NS}:network:PrivateEndpoint",
    f"{NS}:network:PrivateDnsZoneGroup",
    f"{NS}:privatedns:PrivateZone",
    f"{NS}:privatedns:VirtualNetworkLink",
    ACCOUNT,
    CONTAINER,
    f"{NS}:storage:ManagementPolicy",
    NAMESPACE,
    f"{NS}:servicebus:NamespaceNetworkRuleSet",
    QUEUE,
    COSMOS,
    f"{NS}:cosmosdb:SqlResourceSqlDatabase",
    f"{NS}:cosmosdb:SqlResourceSqlContainer",
    f"{NS}:cosmosdb:SqlResourceSqlRoleAssignment",
    TOPIC,
    SYSTEM_TOPIC,
    f"{NS}:eventgrid:SystemTopicEventSubscription",
    f"{NS}:app:ManagedEnvironment",
    JOB,
    f"{NS}:monitor:DiagnosticSetting",
    ACTION_GROUP,
    f"{NS}:monitor:MetricAlert",
    f"{NS}:monitor:ScheduledQueryRule",
    f"{NS}:applicationinsights:Workbook",
)


@pytest.mark.parametrize("env", ENVS)
def test_every_part_of_the_pattern_is_registered(env: Environment) -> None:
    _, cap = _run(env)
    missing = [t for t in EXPECTED_TYPES if not of_type(cap.resources, t)]
    assert missing == []


# -- The queue: bounded retries, dead letters, derived lock ----------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_queue_dead_letters_after_bounded_deliveries_with_a_derived_lock(env: Environment) -> None:
    spec, cap = _run(env)
    queue = one(cap.resources, QUEUE).inputs
    assert queue["maxDeliveryCount"] == MAX_DELIVERIES == 5
    assert queue["deadLetteringOnMessageExpiration"] is True
    lock = min(visibility_timeout_seconds(spec), ed.MAX_LOCK_SECONDS)
    assert queue["lockDuration"] == f"PT{lock}S"
    assert queue["defaultMessageTimeToLive"] == f"P{spec.retention.data_days}D"
    assert queue["requiresDuplicateDetection"] is True
    assert outputs(cap)["queue_name"] == queue["queueName"] == ed.QUEUE_NAME
    # Service Bus's own dead-letter sub-queue of exactly this queue.
    assert outputs(cap)["dead_letter_queue_name"] == f"{queue['queueName']}/$DeadLetterQueue"
    assert deps(one(cap.resources, QUEUE), "namespaceName") == {one(cap.resources, NAMESPACE).urn}


def test_lock_duration_follows_processing_time_and_is_capped_at_five_minutes() -> None:
    slow, cap = _run(Environment.DEV, p99_ms=600_000)
    assert visibility_timeout_seconds(slow) > ed.MAX_LOCK_SECONDS
    assert one(cap.resources, QUEUE).inputs["lockDuration"] == "PT300S"
    # The worker renews the lock up to the derived timeout and gives up at the processing time.
    variables = env_vars(named(cap.resources, "acme-support-worker"))
    assert variables["LOCK_RENEW_UNTIL_SECONDS"] == str(visibility_timeout_seconds(slow))
    assert variables["MAX_PROCESSING_SECONDS"] == str(max_processing_seconds(slow))
    assert ed.lock_seconds(slow) == 300
    assert ed.iso_seconds(ed.lock_seconds(slow)) == "PT300S"


@pytest.mark.parametrize("env", ENVS)
def test_namespace_is_premium_cmk_entra_only_tls12_and_firewalled(env: Environment) -> None:
    _, cap = _run(env)
    ns = one(cap.resources, NAMESPACE)
    assert ns.inputs["sku"]["name"] == "Premium"
    assert ns.inputs["disableLocalAuth"] is True
    assert ns.inputs["minimumTlsVersion"] == "1.2"
    encryption = ns.inputs["encryption"]
    assert encryption["keySource"] == "Microsoft.KeyVault"
    (key,) = encryption["keyVaultProperties"]
    assert key["keyName"] == "cmk"
    assert outputs(cap)["kms_key_id"].startswith(key["keyVaultUri"])
    assert identity_urn(cap, "encryption") in deps(ns, "encryption")
    rules = one(cap.resources, f"{NS}:servicebus:NamespaceNetworkRuleSet").inputs
    assert rules["defaultAction"] == "Deny"
    assert rules["trustedServiceAccessEnabled"] is True
    assert rules["ipRules"] == [] and rules["virtualNetworkRules"] == []


# -- Workers: scale on queue depth, 0..max, bounded processing -------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_workers_scale_on_queue_depth_from_zero_to_the_profiles_maximum(env: Environment) -> None:
    spec, cap = _run(env)
    worker = named(cap.resources, "acme-support-worker")
    config = worker.inputs["configuration"]
    assert config["triggerType"] == "Event"
    scale = config["eventTriggerConfig"]["scale"]
    assert scale["minExecutions"] == 0
    assert scale["maxExecutions"] == load_profile(env)["capacity"]["max_instances"]
    assert (scale["minExecutions"], scale["maxExecutions"]) == ed.worker_bounds(spec)
    (rule,) = scale["rules"]
    assert rule["type"] == "azure-servicebus"
    assert rule["metadata"]["queueName"] == ed.QUEUE_NAME
    assert rule["metadata"]["namespace"] == security.physical_name(
        spec, "servicebus-namespace", "bus"
    )
    # KEDA authenticates as the scaler identity, which the job carries; no connection string.
    assert "auth" not in rule
    assert deps(worker, "configuration") == {identity_urn(cap, "scaler")}
    assert deps(worker, "identity") == {identity_urn(cap, "worker"), identity_urn(cap, "scaler")}
    assert config["eventTriggerConfig"]["parallelism"] == 1
    assert config["replicaTimeout"] == max_processing_seconds(spec)
    assert config["replicaRetryLimit"] == 0  # retries are Service Bus deliveries, counted
    container = worker.inputs["template"]["containers"][0]
    assert container["image"] == spec.model.image
    assert container["resources"]["cpu"] == spec.capacity.cpu
    variables = env_vars(worker)
    assert variables["MAX_DELIVERIES"] == str(MAX_DELIVERIES)
    assert variables["QUEUE_NAME"] == ed.QUEUE_NAME
    assert outputs(cap)["worker_service"] == worker.inputs["jobName"]


@pytest.mark.parametrize("env", ENVS)
def test_workers_run_privately_in_a_vnet_with_encrypted_disks(env: Environment) -> None:
    _, cap = _run(env)
    environment = one(cap.resources, f"{NS}:app:ManagedEnvironment")
    assert environment.inputs["vnetConfiguration"]["internal"] is True
    assert environment.inputs["publicNetworkAccess"] == "Disabled"
    subnet = named(cap.resources, "acme-support-subnet-workers")
    assert deps(environment, "vnetConfiguration") == {subnet.urn}
    assert subnet.inputs["delegations"][0]["serviceName"] == "Microsoft.App/environments"
    # No Container Apps disk CMK (a preview API; Container Apps is no Key Vault trusted
    # service): platform-managed disk keys, documented (review A6).
    assert "diskEncryptionConfiguration" not in environment.inputs
    assert deps(named(cap.resources, "acme-support-worker"), "environmentId") == {environment.urn}


@pytest.mark.parametrize("env", ENVS)
def test_private_endpoints_give_the_workers_a_path_to_each_data_service(env: Environment) -> None:
    _, cap = _run(env)
    targets = {
        "blob": one(cap.resources, ACCOUNT),
        "servicebus": one(cap.resources, NAMESPACE),
        "cosmos": one(cap.resources, COSMOS),
        # The workers publish notifications through it (review C2).
        "topic": named(cap.resources, "acme-support-notifications"),
    }
    endpoint_subnet = named(cap.resources, "acme-support-subnet-endpoints").urn
    vnet = one(cap.resources, f"{NS}:network:VirtualNetwork").urn
    for key, link in ed.PRIVATE_LINKS.items():
        endpoint = named(cap.resources, f"acme-support-pe-{key}")
        (connection,) = endpoint.inputs["privateLinkServiceConnections"]
        assert connection["groupIds"] == [link.group_id]
        assert deps(endpoint, "privateLinkServiceConnections") == {targets[key].urn}
        assert deps(endpoint, "subnet") == {endpoint_subnet}
        zone = named(cap.resources, f"acme-support-dns-{key}")
        assert zone.inputs["privateZoneName"] == link.zone
        assert deps(named(cap.resources, f"acme-support-dns-{key}-link"), "virtualNetwork") == {
            vnet
        }
        group = named(cap.resources, f"acme-support-pe-{key}-dns")
        assert deps(group, "privateDnsZoneConfigs") == {zone.urn}
        assert deps(group, "privateEndpointName") == {endpoint.urn}


# -- Triggers: upload, authenticated send, schedule ------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_uploads_to_the_input_container_are_delivered_to_the_queue(env: Environment) -> None:
    _, cap = _run(env)
    topic = one(cap.resources, SYSTEM_TOPIC)
    assert topic.inputs["topicType"] == "Microsoft.Storage.StorageAccounts"
    assert deps(topic, "source") == {one(cap.resources, ACCOUNT).urn}
    sub = one(cap.resources, f"{NS}:eventgrid:SystemTopicEventSubscription")
    assert sub.inputs["filter"]["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    assert sub.inputs["filter"]["subjectBeginsWith"] == (
        f"/blobServices/default/containers/{ed.INPUT_CONTAINER}/"
    )
    delivery = sub.inputs["deliveryWithResourceIdentity"]
    assert delivery["destination"]["endpointType"] == "ServiceBusQueue"
    assert delivery["identity"]["type"] == "UserAssigned"
    assert deps(sub, "deliveryWithResourceIdentity") == {
        one(cap.resources, QUEUE).urn,
        identity_urn(cap, "events"),
    }
    dead = sub.inputs["deadLetterWithResourceIdentity"]["deadLetterDestination"]
    assert dead["blobContainerName"] == ed.UNDELIVERED_CONTAINER
    # Created only once the events identity may send to the queue and write dead letters.
    sender = named(cap.resources, "acme-support-grant-events-queue").urn
    writer = named(cap.resources, "acme-support-grant-events-undelivered-container").urn
    assert {sender, writer} <= set(sub.dependencies)


@pytest.mark.parametrize("env", ENVS)
def test_schedule_enqueues_a_deduplicated_batch_message_as_its_own_identity(
    env: Environment,
) -> None:
    spec, cap = _run(env)
    job = named(cap.resources, "acme-support-schedule")
    config = job.inputs["configuration"]
    assert config["triggerType"] == "Schedule"
    assert config["scheduleTriggerConfig"]["cronExpression"] == ed.BATCH_SCHEDULE
    assert deps(job, "identity") == {identity_urn(cap, "scheduler")}
    variables = env_vars(job)
    namespace = security.physical_name(spec, "servicebus-namespace", "bus")
    assert variables["QUEUE_URL"] == f"https://{namespace}.servicebus.windows.net/jobs"
    script = job.inputs["template"]["containers"][0]["command"][-1]
    assert '--url "$QUEUE_URL/messages"' in script
    assert "--resource https://servicebus.azure.net" in script
    assert "MessageId" in script
    assert "az login --identity" in script
    sender = named(cap.resources, "acme-support-grant-scheduler-queue").urn
    assert sender in job.dependencies


@pytest.mark.parametrize("env", ENVS)
def test_producers_submit_with_entra_id_holding_only_sender_and_upload_rights(
    env: Environment,
) -> None:
    _, cap = _run(env)
    producer = identity_urn(cap, "producer")
    grants = [
        g for g in of_type(cap.resources, ROLE_ASSIGNMENT) if deps(g, "principalId") == {producer}
    ]
    by_scope = {
        next(iter(deps(g, "scope"))): g.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for g in grants
    }
    assert by_scope == {
        one(cap.resources, QUEUE).urn: ed.ROLES["service-bus-data-sender"],
        named(cap.resources, "acme-support-container-input").urn: ed.ROLES[
            "storage-blob-data-contributor"
        ],
    }


# -- Least privilege ---------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_every_grant_is_a_narrow_role_on_exactly_one_resource(env: Environment) -> None:
    _, cap = _run(env)
    urns = {r.urn: r for r in cap.resources}
    targets = {
        "queue": one(cap.resources, QUEUE).urn,
        "input-container": named(cap.resources, "acme-support-container-input").urn,
        "results-container": named(cap.resources, "acme-support-container-results").urn,
        "undelivered-container": named(cap.resources, "acme-support-container-undelivered").urn,
        "notification-topic": one(cap.resources, TOPIC).urn,
        "insights": one(cap.resources, f"{NS}:applicationinsights:Component").urn,
    }
    expected = {
        (identity_urn(cap, who), targets[target], ed.ROLES[role]) for who, target, role in ed.GRANTS
    }
    # The foundation's own grant: the encryption identity on the key.
    expected.add(
        (
            identity_urn(cap, "encryption"),
            one(cap.resources, f"{NS}:keyvault:Key").urn,
            security.BUILTIN_ROLES["key-vault-crypto-user"],
        )
    )
    found = set()
    # ...and the deployer's own data-plane grant on the vault, to create the key (A5): the
    # bootstrap's key-creator role, never Crypto Officer.
    vault = one(cap.resources, f"{NS}:keyvault:Vault").urn
    creator = roles.custom_role_guid(SUBSCRIPTION_ID, "acme-support", roles.KEY_CREATOR)
    expected.add(("deployer", vault, creator))
    for grant in of_type(cap.resources, ROLE_ASSIGNMENT):
        role = grant.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        assert role not in PRIVILEGED_ROLES
        (scope,) = deps(grant, "scope")
        assert urns[scope].type not in {f"{NS}:resources:ResourceGroup", NAMESPACE, ACCOUNT}
        principals = deps(grant, "principalId")
        (principal,) = principals or {"deployer"}
        found.add((principal, scope, role))
    assert found == expected
    # Written out, not derived from the component's table: a widened grant fails here.
    assert {(w, t, r) for w, t, r in ed.GRANTS} == {
        ("producer", "queue", "service-bus-data-sender"),
        ("producer", "input-container", "storage-blob-data-contributor"),
        ("worker", "queue", "service-bus-data-receiver"),
        ("worker", "input-container", "storage-blob-data-reader"),
        ("worker", "results-container", "storage-blob-data-contributor"),
        ("worker", "notification-topic", "eventgrid-data-sender"),
        ("worker", "insights", "monitoring-metrics-publisher"),
        ("scaler", "queue", "service-bus-data-owner"),
        ("reader", "results-container", "storage-blob-data-reader"),
        ("reader", "notification-topic", "eventgrid-subscription-contributor"),
        ("events", "queue", "service-bus-data-sender"),
        ("events", "undelivered-container", "storage-blob-data-contributor"),
        ("scheduler", "queue", "service-bus-data-sender"),
    }


@pytest.mark.parametrize("env", ENVS)
def test_status_grants_are_cosmos_data_roles_on_the_status_container(env: Environment) -> None:
    _, cap = _run(env)
    cosmos = one(cap.resources, COSMOS).urn
    grants = of_type(cap.resources, f"{NS}:cosmosdb:SqlResourceSqlRoleAssignment")
    roles = {
        next(iter(deps(g, "principalId"))): g.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for g in grants
    }
    assert roles == {
        identity_urn(cap, "worker"): ed.COSMOS_ROLES["data-contributor"],
        identity_urn(cap, "reader"): ed.COSMOS_ROLES["data-reader"],
    }
    for g in grants:
        assert g.inputs["scope"].endswith(f"/dbs/{ed.STATUS_DATABASE}/colls/{ed.STATUS_CONTAINER}")
        assert deps(g, "scope") == {cosmos}


# -- Data: encryption, privacy, retention -----------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_blob_storage_is_cmk_private_and_expires_after_the_data_retention(
    env: Environment,
) -> None:
    spec, cap = _run(env)
    account = one(cap.resources, ACCOUNT).inputs
    assert account["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["networkRuleSet"]["defaultAction"] == "Deny"
    containers = {c.inputs["containerName"]: c for c in of_type(cap.resources, CONTAINER)}
    assert set(containers) == {ed.INPUT_CONTAINER, ed.RESULTS_CONTAINER, ed.UNDELIVERED_CONTAINER}
    assert all(c.inputs["publicAccess"] == "None" for c in containers.values())
    rules = one(cap.resources, f"{NS}:storage:ManagementPolicy").inputs["policy"]["rules"]
    expiry = {
        r["definition"]["filters"]["prefixMatch"][0]: r["definition"]["actions"]["baseBlob"][
            "delete"
        ]["daysAfterModificationGreaterThan"]
        for r in rules
        if r["enabled"]
    }
    assert expiry == {f"{c}/": spec.retention.data_days for c in containers}
    recovery = one(cap.resources, f"{NS}:storage:BlobServiceProperties").inputs
    assert recovery["deleteRetentionPolicy"] == {
        "enabled": True,
        "days": min(spec.retention.data_days, 365),
    }
    assert outputs(cap)["input_bucket"].endswith(f".blob.core.windows.net/{ed.INPUT_CONTAINER}")
    assert outputs(cap)["results_bucket"].endswith(f".blob.core.windows.net/{ed.RESULTS_CONTAINER}")


@pytest.mark.parametrize("env", ENVS)
def test_status_store_is_cmk_entra_only_private_and_expires_documents(env: Environment) -> None:
    spec, cap = _run(env)
    cosmos = one(cap.resources, COSMOS)
    assert cosmos.inputs["disableLocalAuth"] is True
    assert cosmos.inputs["minimalTlsVersion"] == "Tls12"
    assert cosmos.inputs["publicNetworkAccess"] == "Disabled"
    assert cosmos.inputs["keyVaultKeyUri"] == outputs(cap)["kms_key_id"]
    assert identity_urn(cap, "encryption") in deps(cosmos, "defaultIdentity")
    container = one(cap.resources, f"{NS}:cosmosdb:SqlResourceSqlContainer").inputs
    assert container["resource"]["defaultTtl"] == spec.retention.data_days * 86400
    assert container["resource"]["partitionKey"]["paths"] == [ed.STATUS_PARTITION_KEY]
    assert outputs(cap)["status_table"].endswith(f"/{ed.STATUS_DATABASE}/{ed.STATUS_CONTAINER}")


@pytest.mark.parametrize("env", ENVS)
def test_notification_topic_is_entra_only_tls12_and_only_the_worker_publishes(
    env: Environment,
) -> None:
    _, cap = _run(env)
    topic = one(cap.resources, TOPIC)
    assert topic.inputs["disableLocalAuth"] is True
    assert topic.inputs["minimumTlsVersionAllowed"] == "1.2"
    assert topic.inputs["inputSchema"] == "CloudEventSchemaV1_0"
    assert outputs(cap)["notification_topic"] == mock_id(topic)
    publishers = {w for w, t, r in ed.GRANTS if t == "notification-topic" and "sender" in r}
    assert publishers == {"worker"}
    endpoint = env_vars(named(cap.resources, "acme-support-worker"))["NOTIFICATION_TOPIC_ENDPOINT"]
    assert endpoint.startswith(f"https://{topic.inputs['topicName']}.")


@pytest.mark.parametrize("env", ENVS)
def test_logs_kept_for_the_profile_and_every_data_plane_resource_sends_them(
    env: Environment,
) -> None:
    _, cap = _run(env)
    days = load_profile(env)["retention"]["log_days"]
    workspace = one(cap.resources, f"{NS}:operationalinsights:Workspace")
    assert workspace.inputs["retentionInDays"] == days
    settings = of_type(cap.resources, f"{NS}:monitor:DiagnosticSetting")
    assert all(deps(s, "workspaceId") == {workspace.urn} for s in settings)
    monitored = set().union(*(deps(s, "resourceUri") for s in settings))
    for token in (
        ACCOUNT,
        NAMESPACE,
        COSMOS,
        TOPIC,
        SYSTEM_TOPIC,
        f"{NS}:app:ManagedEnvironment",
        f"{NS}:keyvault:Vault",
        f"{NS}:operationalinsights:Workspace",
    ):
        assert one(cap.resources, token).urn in monitored, token
    blob_logs = named(cap.resources, "acme-support-st-jobs-blob-diagnostics")
    assert deps(blob_logs, "resourceUri") == {one(cap.resources, ACCOUNT).urn}


# -- Alarms and their routing ---------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_event_rule_routed_to_its_tier(env: Environment) -> None:
    spec, cap = _run(env)
    rules = event_alarms(spec)
    channels = {g.name.rsplit("-", 1)[-1]: g for g in of_type(cap.resources, ACTION_GROUP)}
    assert set(channels) == {r.tier.value for r in rules}
    metric_alerts = {a.name: a for a in of_type(cap.resources, f"{NS}:monitor:MetricAlert")}
    log_alerts = {a.name: a for a in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")}
    assert len(metric_alerts) + len(log_alerts) == len(rules)
    namespace = one(cap.resources, NAMESPACE).urn
    worker = named(cap.resources, "acme-support-worker").inputs["jobName"]
    for rule in rules:
        routed_to = channels[rule.tier.value].urn
        queue_metric = ed.QUEUE_METRICS.get(rule.signal)
        if queue_metric is not None:
            alert = metric_alerts[f"acme-support-metric-{rule.key}"]
            (criterion,) = alert.inputs["criteria"]["allOf"]
            assert criterion["metricName"] == queue_metric.metric
            assert criterion["threshold"] == pytest.approx(rule.threshold)
            assert criterion["dimensions"] == [
                {"name": "EntityName", "operator": "Include", "values": [ed.QUEUE_NAME]}
            ]
            assert deps(alert, "scopes") == {namespace}
        else:
            alert = log_alerts[f"acme-support-alarm-{rule.key}"]
            (condition,) = alert.inputs["criteria"]["allOf"]
            assert condition["threshold"] == pytest.approx(rule.threshold)
            assert f'AppRoleName == "{worker}"' in condition["query"]
            assert f"where periods >= {rule.evaluation_periods}" in condition["query"]
        assert deps(alert, "actions") == {routed_to}


@pytest.mark.parametrize("env", ENVS)
def test_dead_letters_alarm_at_one_and_oldest_age_reads_the_worker_wait(env: Environment) -> None:
    _, cap = _run(env)
    dead = named(cap.resources, "acme-support-metric-dead-letters")
    (criterion,) = dead.inputs["criteria"]["allOf"]
    assert (criterion["metricName"], criterion["threshold"]) == ("DeadletteredMessages", 0)
    assert criterion["operator"] == "GreaterThan"
    oldest = named(cap.resources, "acme-support-alarm-queue-oldest-age")
    (condition,) = oldest.inputs["criteria"]["allOf"]
    assert f'Properties["{ed.QUEUE_WAIT_PROPERTY}"]' in condition["query"]
    errors = named(cap.resources, "acme-support-alarm-worker-error-rate")
    assert "Success == false" in errors.inputs["criteria"]["allOf"][0]["query"]
    p99 = named(cap.resources, "acme-support-alarm-latency-p99")
    assert "percentile(DurationMs, 99)" in p99.inputs["criteria"]["allOf"][0]["query"]


@pytest.mark.parametrize("env", ENVS)
def test_dashboard_charts_every_worker_signal_with_the_alarm_query(env: Environment) -> None:
    spec, cap = _run(env)
    board = one(cap.resources, f"{NS}:applicationinsights:Workbook").inputs
    assert board["displayName"] == f"{spec.project} {env.value} jobs"
    items = {i["name"]: i["content"]["query"] for i in json.loads(board["serializedData"])["items"]}
    worker_signals = {r.key for r in event_alarms(spec) if r.signal not in ed.QUEUE_METRICS}
    assert set(items) == worker_signals
    assert "Success == false" in items["worker-error-rate"]


@pytest.mark.parametrize("env", ENVS)
def test_channels_email_every_address_and_alert_topic_is_the_most_urgent(
    env: Environment,
) -> None:
    spec, cap = _run(env)
    groups = {g.name: g for g in of_type(cap.resources, ACTION_GROUP)}
    for group in groups.values():
        emails = [e["emailAddress"] for e in group.inputs["emailReceivers"]]
        assert emails == list(spec.alerts.emails)
    most_urgent = Tier.PAGE if spec.alerts.page_on_critical else Tier.TICKET
    assert outputs(cap)["alert_topic"] == mock_id(
        groups[f"acme-support-alerts-{most_urgent.value}"]
    )


# -- The whole ----------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_the_policy_pack_reports_nothing(env: Environment) -> None:
    spec, cap = _run(env)
    path = ROOT / "policies" / "config" / f"{env.value}.json"
    config: dict[str, Any] = json.loads(Path(path).read_text()) if path.exists() else {}
    # The waivers the component declares (components/azure/waivers.py), as a generated project's
    # pack config holds them.
    for rule, entry in ed.policy_waivers(spec.project, spec).items():
        config[rule] = {**config.get(rule, {}), **entry}
    policies = all_policies()
    levels = {
        p.name: config.get(p.name, {}).get(
            "enforcementLevel", (p.enforcement_level or EnforcementLevel.ADVISORY).value
        )
        for p in policies
    }
    findings = evaluate(policies, cap.resources, config)
    mandatory = [f for f in findings if levels[f.policy] == EnforcementLevel.MANDATORY.value]
    assert mandatory == []
    assert findings == []  # not even advisory findings


@pytest.mark.parametrize("env", ENVS)
def test_outputs_and_parents(env: Environment) -> None:
    spec, cap = _run(env)
    out = outputs(cap)
    assert set(out) == set(spec.outputs)
    assert all(out.values()), out
    comp = component(cap)
    urns = {r.urn: r for r in cap.resources}
    for r in cap.resources:
        if not r.custom:
            continue
        parent = r.parent
        while parent and parent != comp.urn:
            parent = urns[parent].parent if parent in urns else ""
        assert parent == comp.urn, r.name
