"""GcpEventDriven under Pulumi's mocks: the resources it registers and their settings."""

from __future__ import annotations

import base64
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
from components.gcp.event_driven import (
    DEAD_LETTER_PATH,
    GRANTS,
    IDENTITIES,
    STATUS_TTL_FIELD,
    policy_waivers,
)
from components.gcp.prerequisites import AUDITED_SERVICES, runtime_account_id
from components.gcp.security import AUDIT_RULE, KEY_ROTATION_PERIOD
from components.registry import policy_waivers as registry_waivers
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import GCP_PROJECT, Capture, CapturedResource
from policies.rules import all_policies
from tests.conftest import ROOT, make_spec, of_type, run_component
from tests.policies.harness import evaluate

ENVS = list(Environment)
TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
BUCKET = "gcp:storage/bucket:Bucket"
RUN = "gcp:cloudrunv2/service:Service"
FIRESTORE = "gcp:firestore/database:Database"
IAM_TYPES = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:pubsub/topicIAMMember:TopicIAMMember",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:projects/iAMMember:IAMMember",
)
FORBIDDEN_PROJECT_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
}


@cache
def _run(env: Environment, p99_ms: int = 0) -> tuple[DeploymentSpec, Capture]:
    overrides: dict[str, Any] = {}
    if p99_ms:
        overrides["alerts"] = {"latency_p50_ms": 1, "latency_p95_ms": 1, "latency_p99_ms": p99_ms}
    spec = make_spec(Cloud.GCP, Pattern.EVENT_DRIVEN, env, overrides)
    return spec, run_component(spec)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def named(resources: list[CapturedResource], token: str, suffix: str) -> CapturedResource:
    (found,) = [r for r in of_type(resources, token) if r.name.endswith(suffix)]
    return found


def outputs(cap: Capture) -> dict[str, Any]:
    (component,) = [r for r in cap.resources if r.type == "aideploy:gcp:EventDriven"]
    return cap.outputs[component.urn]


def account_email(spec: DeploymentSpec, role: str) -> str:
    """The email of the bootstrap-made identity ``role`` of this stack, as the lookup finds it."""
    account_id = runtime_account_id(spec.project, spec.environment, role)
    return f"{account_id}@{GCP_PROJECT}.iam.gserviceaccount.com"


def declared(project: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """The component's declared waivers as the generator writes them into pack config."""
    waivers = registry_waivers(Cloud.GCP, Pattern.EVENT_DRIVEN, project)
    return {rule: {"waivers": entries} for rule, entries in waivers.items()}


def merge_waivers(config: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``extra``'s waivers added per rule."""
    merged = json.loads(json.dumps(config))
    for rule, entry in extra.items():
        merged.setdefault(rule, {}).setdefault("waivers", []).extend(entry["waivers"])
    return merged


def refers(resource: CapturedResource, prop: str, target: CapturedResource) -> bool:
    """Whether ``resource``'s input ``prop`` was computed from ``target``."""
    return target.urn in resource.property_dependencies.get(prop, ())


@pytest.mark.parametrize("env", ENVS)
def test_registers_every_part_of_the_pattern(env: Environment) -> None:
    _, cap = _run(env)
    for token, count in {
        "gcp:kms/cryptoKey:CryptoKey": 1,
        BUCKET: 2,
        "gcp:storage/notification:Notification": 2,
        TOPIC: 3,
        # jobs (push), dead-letter hold, dead-letter notify, the reader's notifications (B12)
        SUBSCRIPTION: 4,
        RUN: 1,
        FIRESTORE: 1,
        "gcp:firestore/field:Field": 1,
        "gcp:cloudscheduler/job:Job": 1,
        "gcp:logging/projectBucketConfig:ProjectBucketConfig": 1,
        "gcp:logging/projectSink:ProjectSink": 1,
        "gcp:monitoring/dashboard:Dashboard": 1,
    }.items():
        assert len(of_type(cap.resources, token)) == count, token


@pytest.mark.parametrize("env", ENVS)
def test_dead_letter_topic_is_wired_and_retries_are_bounded(env: Environment) -> None:
    _, cap = _run(env)
    jobs = named(cap.resources, SUBSCRIPTION, "-jobs-sub")
    dead_topic = named(cap.resources, TOPIC, "-dead-letter")
    jobs_topic = named(cap.resources, TOPIC, "-jobs")
    assert refers(jobs, "topic", jobs_topic)
    policy = jobs.inputs["deadLetterPolicy"]
    assert policy["maxDeliveryAttempts"] == MAX_DELIVERIES == 5
    assert refers(jobs, "deadLetterPolicy", dead_topic)
    assert jobs.inputs["retryPolicy"] == {"minimumBackoff": "10s", "maximumBackoff": "600s"}
    # Subscriptions expire after 31 idle days unless told never to.
    for sub in of_type(cap.resources, SUBSCRIPTION):
        assert sub.inputs["expirationPolicy"] == {"ttl": ""}, sub.name
    hold = named(cap.resources, SUBSCRIPTION, "-dead-letter-hold")
    assert refers(hold, "topic", dead_topic)
    assert "pushConfig" not in hold.inputs  # dead letters wait here to be inspected
    assert outputs(cap)["dead_letter_queue_name"] == hold.inputs["name"]
    assert outputs(cap)["queue_name"] == jobs.inputs["name"]
    # Pub/Sub's agent may forward: read the source subscription, publish to the dead letters.
    agent = "serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com"
    (sub_grant,) = [
        g
        for g in of_type(cap.resources, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember")
        if g.inputs["member"] == agent
    ]
    assert (sub_grant.inputs["member"], sub_grant.inputs["role"]) == (
        agent,
        "roles/pubsub.subscriber",
    )
    assert refers(sub_grant, "subscription", jobs)
    (publisher,) = [
        g
        for g in of_type(cap.resources, "gcp:pubsub/topicIAMMember:TopicIAMMember")
        if refers(g, "topic", dead_topic)
    ]
    assert (publisher.inputs["member"], publisher.inputs["role"]) == (
        agent,
        "roles/pubsub.publisher",
    )


@pytest.mark.parametrize("env", ENVS)
def test_timeouts_derive_from_the_processing_time(env: Environment) -> None:
    spec, cap = _run(env)
    processing = max_processing_seconds(spec)
    jobs = named(cap.resources, SUBSCRIPTION, "-jobs-sub")
    assert jobs.inputs["ackDeadlineSeconds"] == visibility_timeout_seconds(spec) == 6 * processing
    worker = one(cap.resources, RUN)
    assert worker.inputs["template"]["timeout"] == f"{processing}s"
    assert processing < jobs.inputs["ackDeadlineSeconds"] <= 600


def test_a_higher_p99_lengthens_the_timeouts() -> None:
    spec, cap = _run(Environment.PROD, p99_ms=8_000)
    assert max_processing_seconds(spec) == 80
    jobs = named(cap.resources, SUBSCRIPTION, "-jobs-sub")
    assert jobs.inputs["ackDeadlineSeconds"] == 480
    assert one(cap.resources, RUN).inputs["template"]["timeout"] == "80s"


@pytest.mark.parametrize("env", ENVS)
def test_workers_scale_between_the_bounds_one_job_each(env: Environment) -> None:
    spec, cap = _run(env)
    template = one(cap.resources, RUN).inputs["template"]
    scaling = template["scaling"]
    expected_min = 0 if env is Environment.DEV else spec.capacity.min_instances
    assert scaling["minInstanceCount"] == expected_min
    assert scaling["maxInstanceCount"] == spec.capacity.max_instances
    assert template["maxInstanceRequestConcurrency"] == 1
    (container,) = template["containers"]
    assert container["image"] == spec.model.image
    assert container["resources"]["limits"]["memory"] == f"{spec.capacity.memory_mb}Mi"
    # Below 1 vCPU (dev) Cloud Run demands concurrency 1 and request-based billing.
    assert container["resources"]["cpuIdle"] is True
    expected_cpu = {0.5: "500m", 1: "1", 2: "2"}[spec.capacity.cpu]
    assert container["resources"]["limits"]["cpu"] == expected_cpu


@pytest.mark.parametrize("env", ENVS)
def test_retention_follows_the_profile(env: Environment) -> None:
    spec, cap = _run(env)
    days = spec.retention.data_days
    for bucket in of_type(cap.resources, BUCKET):
        (rule,) = bucket.inputs["lifecycleRules"]
        assert rule["action"]["type"] == "Delete"
        assert rule["condition"]["age"] == days
    for sub in of_type(cap.resources, SUBSCRIPTION):
        assert sub.inputs["messageRetentionDuration"] == f"{min(days, 7) * 86400}s"
    for topic in of_type(cap.resources, TOPIC):
        assert topic.inputs["messageRetentionDuration"] == f"{min(days, 31) * 86400}s"
    ttl = one(cap.resources, "gcp:firestore/field:Field")
    assert ttl.inputs["field"] == STATUS_TTL_FIELD
    assert "ttlConfig" in ttl.inputs
    assert refers(ttl, "database", one(cap.resources, FIRESTORE))
    env_vars = {
        e["name"]: e["value"]
        for e in one(cap.resources, RUN).inputs["template"]["containers"][0]["envs"]
    }
    assert env_vars["STATUS_TTL_DAYS"] == str(days)
    assert env_vars["STATUS_TTL_FIELD"] == STATUS_TTL_FIELD
    logs = one(cap.resources, "gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert logs.inputs["retentionDays"] == spec.retention.log_days
    database = one(cap.resources, FIRESTORE)
    protected = spec.retention.deletion_protection
    assert database.inputs["deleteProtectionState"] == (
        "DELETE_PROTECTION_ENABLED" if protected else "DELETE_PROTECTION_DISABLED"
    )
    assert database.inputs["pointInTimeRecoveryEnablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"


@pytest.mark.parametrize("env", ENVS)
def test_everything_that_stores_data_uses_the_stack_key(env: Environment) -> None:
    _, cap = _run(env)
    key = one(cap.resources, "gcp:kms/cryptoKey:CryptoKey")
    assert key.inputs["rotationPeriod"] == KEY_ROTATION_PERIOD
    assert outputs(cap)["kms_key_id"]
    for bucket in of_type(cap.resources, BUCKET):
        assert refers(bucket, "encryption", key), bucket.name
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["publicAccessPrevention"] == "enforced"
    for topic in of_type(cap.resources, TOPIC):
        assert refers(topic, "kmsKeyName", key), topic.name
        policy = topic.inputs["messageStoragePolicy"]
        assert policy == {"allowedPersistenceRegions": ["europe-west1"], "enforceInTransit": True}
    assert refers(one(cap.resources, FIRESTORE), "cmekConfig", key)
    assert refers(one(cap.resources, RUN), "template", key)
    logs = one(cap.resources, "gcp:logging/projectBucketConfig:ProjectBucketConfig")
    assert refers(logs, "cmekSettings", key)
    agents = {
        g.inputs["member"].split("@")[1].split(".")[0]
        for g in of_type(cap.resources, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    }
    assert agents == {
        "serverless-robot-prod",
        "gcp-sa-pubsub",
        "gs-project-accounts",
        "gcp-sa-logging",
        "gcp-sa-firestore",
    }


@pytest.mark.parametrize("env", ENVS)
def test_worker_is_private_and_only_the_pusher_may_invoke_it(env: Environment) -> None:
    spec, cap = _run(env)
    worker = one(cap.resources, RUN)
    assert worker.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert not worker.inputs.get("invokerIamDisabled")
    # The identities are the bootstrap's (so the deployer may act as exactly these): looked up.
    assert of_type(cap.resources, "gcp:serviceaccount/account:Account") == []
    accounts = {role: account_email(spec, role) for role in IDENTITIES}
    assert set(accounts) == {"producer", "worker", "reader", "pusher"}
    assert worker.inputs["template"]["serviceAccount"] == accounts["worker"]
    invoker = one(cap.resources, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.inputs["member"] == f"serviceAccount:{accounts['pusher']}"
    assert refers(invoker, "name", worker)
    pushed = [s for s in of_type(cap.resources, SUBSCRIPTION) if "pushConfig" in s.inputs]
    assert {s.inputs["pushConfig"]["pushEndpoint"].rsplit("/", 1)[1] for s in pushed} == {
        spec.model.predict_path.lstrip("/"),
        DEAD_LETTER_PATH.lstrip("/"),
    }
    for sub in pushed:
        token = sub.inputs["pushConfig"]["oidcToken"]
        assert token["serviceAccountEmail"] == accounts["pusher"]
        assert token["audience"].startswith("https://")


@pytest.mark.parametrize("env", ENVS)
def test_each_role_gets_exactly_its_grants_on_single_resources(env: Environment) -> None:
    _, cap = _run(env)
    grants = [g for token in IAM_TYPES for g in of_type(cap.resources, token)]
    assert len(grants) == len(GRANTS)
    members = [g.inputs["member"] for g in grants]
    assert not {"allUsers", "allAuthenticatedUsers"} & set(members)
    assert not [g for g in grants if "*" in g.inputs["role"]]
    assert of_type(cap.resources, "gcp:serviceaccount/key:Key") == []
    by_role: dict[str, set[str]] = {}
    for g in grants:
        account = g.inputs["member"].split(":", 1)[1].split("@")[0]
        by_role.setdefault(account.rsplit("-", 1)[-1], set()).add(g.inputs["role"])
    assert by_role["producer"] == {"roles/storage.objectCreator", "roles/pubsub.publisher"}
    assert by_role["reader"] == {
        "roles/storage.objectViewer",
        "roles/datastore.viewer",
        "roles/pubsub.subscriber",
    }
    assert by_role["pusher"] == {"roles/run.invoker"}
    assert "roles/storage.objectViewer" in by_role["worker"]
    # The reader subscribes on its own subscription of the notification topic, which the
    # stack creates, not on the topic (review B12: that grant cannot create a subscription).
    notifications = named(cap.resources, TOPIC, "-notifications")
    reader_sub = named(cap.resources, SUBSCRIPTION, "-notifications-sub")
    assert refers(reader_sub, "topic", notifications)
    assert "pushConfig" not in reader_sub.inputs
    (reader_grant,) = [
        g
        for g in of_type(cap.resources, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember")
        if g.inputs["member"].split(":", 1)[1].split("@")[0].endswith("-reader")
    ]
    assert reader_grant.inputs["role"] == "roles/pubsub.subscriber"
    assert refers(reader_grant, "subscription", reader_sub)
    assert not [
        g
        for g in of_type(cap.resources, "gcp:pubsub/topicIAMMember:TopicIAMMember")
        if g.inputs["member"].split(":", 1)[1].split("@")[0].endswith("-reader")
    ]
    # Project-level grants exist only for Firestore and are narrowed to the status database.
    database = one(cap.resources, FIRESTORE).inputs["name"]
    for grant in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember"):
        assert grant.inputs["role"] not in FORBIDDEN_PROJECT_ROLES
        assert grant.inputs["role"].startswith("roles/datastore.")
        assert grant.inputs["condition"]["expression"].endswith(f'/databases/{database}"')


@pytest.mark.parametrize("env", ENVS)
def test_triggers_upload_publish_and_schedule_feed_the_jobs_topic(env: Environment) -> None:
    _, cap = _run(env)
    jobs_topic = named(cap.resources, TOPIC, "-jobs")
    upload = named(cap.resources, "gcp:storage/notification:Notification", "-input-notification")
    assert refers(upload, "bucket", named(cap.resources, BUCKET, "-input"))
    assert refers(upload, "topic", jobs_topic)
    assert upload.inputs["eventTypes"] == ["OBJECT_FINALIZE"]
    storage_agent = "serviceAccount:service-123456789@gs-project-accounts.iam.gserviceaccount.com"
    (agent_grant,) = [
        g
        for g in of_type(cap.resources, "gcp:pubsub/topicIAMMember:TopicIAMMember")
        if refers(g, "topic", jobs_topic) and g.inputs["member"] == storage_agent
    ]
    assert agent_grant.urn in upload.dependencies
    (producer,) = [
        g
        for g in of_type(cap.resources, "gcp:pubsub/topicIAMMember:TopicIAMMember")
        if refers(g, "topic", jobs_topic) and "-producer@" in g.inputs["member"]
    ]
    assert producer.inputs["role"] == "roles/pubsub.publisher"
    job = one(cap.resources, "gcp:cloudscheduler/job:Job")
    assert refers(job, "pubsubTarget", jobs_topic)
    assert json.loads(base64.b64decode(job.inputs["pubsubTarget"]["data"]))["kind"] == "batch"
    assert job.inputs["schedule"] == "0 2 * * *"


@pytest.mark.parametrize("env", ENVS)
def test_completion_and_failure_reach_the_notification_topic(env: Environment) -> None:
    _, cap = _run(env)
    topic = named(cap.resources, TOPIC, "-notifications")
    done = named(cap.resources, "gcp:storage/notification:Notification", "-results-notification")
    assert refers(done, "bucket", named(cap.resources, BUCKET, "-results"))
    assert refers(done, "topic", topic)
    assert done.inputs["customAttributes"] == {"outcome": "completed"}
    failed = named(cap.resources, SUBSCRIPTION, "-dead-letter-notify")
    assert refers(failed, "topic", named(cap.resources, TOPIC, "-dead-letter"))
    assert failed.inputs["pushConfig"]["pushEndpoint"].endswith(DEAD_LETTER_PATH)
    assert "deadLetterPolicy" not in failed.inputs  # no loop back into the dead letters
    publishers = sorted(
        g.inputs["member"]
        for g in of_type(cap.resources, "gcp:pubsub/topicIAMMember:TopicIAMMember")
        if refers(g, "topic", topic) and g.inputs["role"] == "roles/pubsub.publisher"
    )
    # The storage agent (completions) and the worker (failures), nobody else.
    assert len(publishers) == 2
    assert [m for m in publishers if m.endswith("@gs-project-accounts.iam.gserviceaccount.com")]
    assert [m for m in publishers if "-worker@" in m]
    env_vars = {
        e["name"] for e in one(cap.resources, RUN).inputs["template"]["containers"][0]["envs"]
    }
    assert "NOTIFICATION_TOPIC" in env_vars
    assert outputs(cap)["notification_topic"]


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_rule_with_its_threshold_routed_to_its_tier(env: Environment) -> None:
    spec, cap = _run(env)
    rules = event_alarms(spec)
    policies = of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    assert len(policies) == len(rules)
    channels = of_type(cap.resources, "gcp:monitoring/notificationChannel:NotificationChannel")
    tier_of: dict[str, set[str]] = {}
    for channel in channels:
        tier_of.setdefault(channel.inputs["userLabels"]["tier"], set()).add(channel.urn)
    jobs = named(cap.resources, SUBSCRIPTION, "-jobs-sub").inputs["name"]
    worker = one(cap.resources, RUN).inputs["name"]
    for rule in rules:
        (policy,) = [p for p in policies if p.inputs["userLabels"]["signal"] == rule.key]
        condition = policy.inputs["conditions"][0]["conditionThreshold"]
        assert condition["thresholdValue"] == pytest.approx(rule.threshold)
        assert condition["comparison"] == "COMPARISON_GT"
        assert condition["duration"] == f"{rule.period_seconds * rule.evaluation_periods}s"
        assert set(policy.property_dependencies["notificationChannels"]) == tier_of[rule.tier.value]
        watched = jobs if rule.key.startswith(("queue", "dead")) else worker
        assert f'"{watched}"' in condition["filter"], rule.key
    assert Tier.PAGE.value in tier_of
    assert outputs(cap)["alert_topic"].startswith(f"{spec.project}-alerts-page")


def test_queue_alarms_read_the_subscription_gauges() -> None:
    _, cap = _run(Environment.PROD)
    policies = {
        p.inputs["userLabels"]["signal"]: p.inputs["conditions"][0]["conditionThreshold"]
        for p in of_type(cap.resources, "gcp:monitoring/alertPolicy:AlertPolicy")
    }
    assert "num_undelivered_messages" in policies["queue-depth"]["filter"]
    assert "oldest_unacked_message_age" in policies["queue-oldest-age"]["filter"]
    assert "dead_letter_message_count" in policies["dead-letters"]["filter"]
    assert policies["queue-oldest-age"]["aggregations"][0]["crossSeriesReducer"] == "REDUCE_MAX"
    assert policies["dead-letters"]["aggregations"][0]["perSeriesAligner"] == "ALIGN_DELTA"
    errors = policies["worker-error-rate"]
    assert 'response_code_class = "5xx"' in errors["filter"]
    assert "run.googleapis.com/request_count" in errors["denominatorFilter"]
    p99 = policies["latency-p99"]
    assert "run.googleapis.com/request_latencies" in p99["filter"]
    assert p99["aggregations"][0]["crossSeriesReducer"] == "REDUCE_PERCENTILE_99"


@pytest.mark.parametrize("env", ENVS)
def test_audit_logs_are_the_bootstraps_and_routed_to_the_stack(env: Environment) -> None:
    spec, cap = _run(env)
    # Authoritative per project and service, so the project's bootstrap owns them (A21); the
    # stack's pack config says so, service by service.
    assert of_type(cap.resources, "gcp:projects/iAMAuditConfig:IAMAuditConfig") == []
    waived = {w["resource"] for w in policy_waivers(spec.project)[AUDIT_RULE]["waivers"]}
    assert waived == {f"{spec.project}-input", f"{spec.project}-results"}
    assert {
        "storage.googleapis.com",
        "run.googleapis.com",
        "pubsub.googleapis.com",
        "datastore.googleapis.com",
    } <= set(AUDITED_SERVICES[Pattern.EVENT_DRIVEN])
    sink = one(cap.resources, "gcp:logging/projectSink:ProjectSink")
    assert one(cap.resources, RUN).inputs["name"] in sink.inputs["filter"]


@pytest.mark.parametrize("env", ENVS)
def test_the_policy_pack_reports_no_mandatory_violation(env: Environment) -> None:
    spec, cap = _run(env)
    path = ROOT / "policies" / "config" / f"{env.value}.json"
    config: dict[str, Any] = json.loads(Path(path).read_text()) if path.exists() else {}
    policies = all_policies()
    levels = {
        p.name: config.get(p.name, {}).get(
            "enforcementLevel", (p.enforcement_level or EnforcementLevel.ADVISORY).value
        )
        for p in policies
    }
    findings = evaluate(policies, cap.resources, merge_waivers(config, declared(spec.project)))
    mandatory = [f for f in findings if levels[f.policy] == EnforcementLevel.MANDATORY.value]
    assert mandatory == []


@pytest.mark.parametrize("env", ENVS)
def test_outputs_and_parents(env: Environment) -> None:
    spec, cap = _run(env)
    out = outputs(cap)
    assert set(out) == set(spec.outputs)
    assert all(out.values()), out
    assert out["worker_service"] == one(cap.resources, RUN).inputs["name"]
    assert out["status_table"] == one(cap.resources, FIRESTORE).inputs["name"]
    (component,) = [r for r in cap.resources if r.type == "aideploy:gcp:EventDriven"]
    parents = {r.urn: r.parent for r in cap.resources}
    for resource in cap.resources:
        if not resource.custom:
            continue
        urn = resource.urn
        while urn and urn != component.urn:
            urn = parents.get(urn, "")
        assert urn == component.urn, resource.name


def test_labelled_resources_carry_the_standard_labels() -> None:
    spec, cap = _run(Environment.STAGING)
    labelled = [
        r
        for r in cap.resources
        if "labels" in r.inputs
        and r.type != "gcp:monitoring/notificationChannel:NotificationChannel"
    ]
    assert len(labelled) >= 8
    for resource in labelled:
        for key, value in spec.standard_tags().items():
            assert resource.inputs["labels"][key] == value, resource.name
