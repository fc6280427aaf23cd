"""The event-driven pattern on GCP.

    upload --> input bucket (CMEK) --GCS notification--+
    producer --pubsub.publisher, IAM only-------------+--> jobs topic (CMEK, regional)
    Cloud Scheduler (batch) --------------------------+         |
                                                      jobs subscription: ack deadline 6x the
                                                      processing time, backoff, 5 deliveries
                                                                |  push + OIDC (pusher identity)
                                                                v
                          Cloud Run worker (internal ingress, IAM invoker, 0..max instances,
                          one job per instance) --> results bucket (CMEK, lifecycle)
                                                --> Firestore status (CMEK, TTL)
            results bucket --GCS notification "completed"--> notification topic (CMEK)
    after 5 failed deliveries --> dead-letter topic --> hold subscription (inspect, replay)
                                                    --> push to the worker's dead-letter path,
                                                        which publishes "failed" notifications

Why direct Pub/Sub rather than Eventarc: an Eventarc trigger creates and owns its own transport
subscription, so its dead-letter policy, retry backoff, ack deadline and retention are not ours
to set; Cloud Storage notifications and a push subscription give the same trigger with every
one of those controls in the stack. Why a push subscription to a Cloud Run service rather than
a pulling worker pool: Cloud Run scales a service on its in-flight requests, and Pub/Sub push
raises the requests in flight as the backlog grows, so the workers follow the queue depth (to
zero when it is empty) with no autoscaler of our own; worker pools scale manually only.
See docs/patterns/gcp.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping

import pulumi
import pulumi_gcp as gcp

from components.alarms import (
    MAX_DELIVERIES,
    event_alarms,
    max_processing_seconds,
    visibility_timeout_seconds,
    worker_bounds,
)
from components.base import PatternComponent
from components.gcp import cloud_run, monitoring, prerequisites, security, storage
from components.naming import resource_name
from components.spec import DeploymentSpec, Pattern

# Service agents that use the stack key: worker revisions, topics, buckets, log bucket, Firestore.
KEY_USERS: tuple[str, ...] = ("run", "pubsub", "storage", "logging", "firestore")

# One job per instance: a model saturates its instance, and max_instances is then exactly the
# concurrency ceiling (jobs processed at once).
JOBS_PER_INSTANCE = 1

# Pub/Sub limits: a subscription keeps messages at most 7 days, a topic at most 31.
SUBSCRIPTION_MAX_RETENTION_DAYS = 7
TOPIC_MAX_RETENTION_DAYS = 31
# Redelivery backoff after a failed (non-2xx) push: from 10 s up to Pub/Sub's 600 s maximum.
RETRY_MIN_BACKOFF = "10s"
RETRY_MAX_BACKOFF = "600s"

# The scheduled batch: one message a day at 02:00 UTC, same in every environment (parity).
BATCH_SCHEDULE = "0 2 * * *"
BATCH_TIME_ZONE = "Etc/UTC"

# The worker's contract (docs/patterns/gcp.md): jobs arrive as Pub/Sub push envelopes on the
# model's predict path; dead letters on this path, so the worker marks the job failed and tells
# the client. Status documents live in this collection and expire at this field.
DEAD_LETTER_PATH = "/dead-letter"
STATUS_COLLECTION = "jobs"
STATUS_TTL_FIELD = "expireAt"

# The identities of the pattern, one service account per role (created by the bootstrap).
IDENTITIES: dict[str, str] = prerequisites.PATTERN_IDENTITIES[Pattern.EVENT_DRIVEN]

# Every grant of the pattern: (member, target, role). Each is made on one resource, never the
# project, except Firestore, whose IAM is project-level and is narrowed by a condition to the
# status database. Members are identities above or Google service agents ("agent:<service>").
GRANTS: tuple[tuple[str, str, str], ...] = (
    ("producer", "input-bucket", "roles/storage.objectCreator"),
    ("producer", "jobs-topic", "roles/pubsub.publisher"),
    ("worker", "input-bucket", "roles/storage.objectViewer"),
    # objectUser, not objectCreator: a retried job overwrites its own partial result.
    ("worker", "results-bucket", "roles/storage.objectUser"),
    ("worker", "status-database", "roles/datastore.user"),
    ("worker", "notification-topic", "roles/pubsub.publisher"),
    ("reader", "results-bucket", "roles/storage.objectViewer"),
    ("reader", "status-database", "roles/datastore.viewer"),
    # On the reader's own subscription, which the stack creates (review B12): subscriber on the
    # topic would only let it attach subscriptions it cannot create (that needs
    # pubsub.subscriptions.create on the project).
    ("reader", "notification-subscription", "roles/pubsub.subscriber"),
    ("pusher", "worker-service", "roles/run.invoker"),
    # Cloud Storage publishes its object notifications as its service agent.
    ("agent:storage", "jobs-topic", "roles/pubsub.publisher"),
    ("agent:storage", "notification-topic", "roles/pubsub.publisher"),
    # Pub/Sub forwards undeliverable messages as its service agent: it must read the source
    # subscription and publish to the dead-letter topic.
    ("agent:pubsub", "jobs-subscription", "roles/pubsub.subscriber"),
    ("agent:pubsub", "dead-letter-topic", "roles/pubsub.publisher"),
)

Binder = Callable[[str, str, pulumi.Input[str]], pulumi.Resource]


def retention_seconds(days: int, cap_days: int) -> str:
    """A Pub/Sub duration of ``days`` (the profile's data retention), capped at the service's."""
    return f"{min(days, cap_days) * 86400}s"


class GcpEventDriven(PatternComponent):
    """Jobs from uploads, authenticated publishes and a schedule, processed by Cloud Run workers."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        child = self.child_opts()
        self.project = security.current_project(self)
        self.key = security.create_key(name, spec, self.project, KEY_USERS, child)
        self.after_key = self.key.after(child)
        self.accounts = {
            role: security.service_account(role, spec, self.project, self) for role in IDENTITIES
        }
        self._create_storage(name, spec, child)
        self._create_topics(name, spec)
        self._create_worker(name, spec)
        self._create_subscriptions(name, spec, child)
        self.grants = self._create_grants(name, spec, child)
        self._create_triggers(name, spec, child)
        self._create_logging(name, spec, child)
        self._create_monitoring(name, spec, child)

        self.input_bucket = self.input.name
        self.queue_name = self.jobs_subscription.name
        self.dead_letter_queue_name = self.dead_letter_hold.name
        self.worker_service = self.worker.name
        self.results_bucket = self.results.name
        self.status_table = self.status.name
        self.notification_topic = self.notifications.id
        self.kms_key_id = self.key.id
        self.alert_topic = self.routing.page_channel
        self._finish()

    # -- Data: input and results objects, job status ------------------------------------------
    def _create_storage(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        self.input = storage.private_bucket(name, "input", spec, self.key, opts)
        self.results = storage.private_bucket(name, "results", spec, self.key, opts)
        protected = spec.retention.deletion_protection
        self.status = gcp.firestore.Database(
            f"{name}-status",
            gcp.firestore.DatabaseArgs(
                name=resource_name(
                    "gcp", "default", spec.project, spec.environment.value, "status"
                ),
                location_id=spec.region,
                type="FIRESTORE_NATIVE",
                cmek_config=gcp.firestore.DatabaseCmekConfigArgs(kms_key_name=self.key.id),
                point_in_time_recovery_enablement="POINT_IN_TIME_RECOVERY_ENABLED",
                delete_protection_state=(
                    "DELETE_PROTECTION_ENABLED" if protected else "DELETE_PROTECTION_DISABLED"
                ),
                deletion_policy="ABANDON" if protected else "DELETE",
            ),
            opts=self.after_key,
        )
        # Status documents expire data_days after the worker sets their TTL field; the TTL field
        # is exempt from indexing, as Firestore advises for timestamps written in sequence.
        self.status_ttl = gcp.firestore.Field(
            f"{name}-status-ttl",
            gcp.firestore.FieldArgs(
                database=self.status.name,
                collection=STATUS_COLLECTION,
                field=STATUS_TTL_FIELD,
                ttl_config=gcp.firestore.FieldTtlConfigArgs(),
                index_config=gcp.firestore.FieldIndexConfigArgs(indexes=[]),
            ),
            opts=opts,
        )

    # -- Messaging: jobs, dead letters, notifications -----------------------------------------
    def _topic(self, name: str, role: str, spec: DeploymentSpec) -> gcp.pubsub.Topic:
        return gcp.pubsub.Topic(
            f"{name}-{role}",
            gcp.pubsub.TopicArgs(
                name=resource_name("gcp", "default", spec.project, spec.environment.value, role),
                kms_key_name=self.key.id,
                message_retention_duration=retention_seconds(
                    spec.retention.data_days, TOPIC_MAX_RETENTION_DAYS
                ),
                # Messages stay in the stack's region, also while being published.
                message_storage_policy=gcp.pubsub.TopicMessageStoragePolicyArgs(
                    allowed_persistence_regions=[spec.region], enforce_in_transit=True
                ),
                labels=security.labels(spec, role=role),
            ),
            opts=self.after_key,
        )

    def _create_topics(self, name: str, spec: DeploymentSpec) -> None:
        self.jobs_topic = self._topic(name, "jobs", spec)
        self.dead_letter_topic = self._topic(name, "dead-letter", spec)
        self.notifications = self._topic(name, "notifications", spec)
        self.topics = {
            "jobs-topic": self.jobs_topic,
            "dead-letter-topic": self.dead_letter_topic,
            "notification-topic": self.notifications,
        }

    # -- Workers ------------------------------------------------------------------------------
    def _create_worker(self, name: str, spec: DeploymentSpec) -> None:
        low, high = worker_bounds(spec)
        model = spec.model
        env: dict[str, pulumi.Input[str]] = {
            "MODEL_VERSION": model.version,
            "INPUT_BUCKET": self.input.name,
            "RESULTS_BUCKET": self.results.name,
            "STATUS_DATABASE": self.status.name,
            "STATUS_COLLECTION": STATUS_COLLECTION,
            "STATUS_TTL_FIELD": STATUS_TTL_FIELD,
            "STATUS_TTL_DAYS": str(spec.retention.data_days),
            "NOTIFICATION_TOPIC": self.notifications.id,
            "MAX_DELIVERIES": str(MAX_DELIVERIES),
            "DEAD_LETTER_PATH": DEAD_LETTER_PATH,
        }
        self.worker = cloud_run.create_service(
            f"{name}-worker",
            spec,
            self.key,
            self.child_opts(),
            name=resource_name("gcp", "cloud-run", spec.project, spec.environment.value, "worker"),
            account=self.accounts["worker"],
            # Reachable only from inside the project (Pub/Sub push is internal traffic), and
            # then only by the pusher identity (the invoker check stays on).
            access=cloud_run.Access(ingress=cloud_run.INTERNAL_ONLY),
            service_labels=security.labels(spec, role="worker"),
            revision_labels=security.labels(spec, role="worker"),
            # The worker gives up before Pub/Sub's ack deadline, so a timed-out job is
            # redelivered (and counted) rather than processed twice at once.
            timeout=f"{max_processing_seconds(spec)}s",
            concurrency=JOBS_PER_INSTANCE,
            scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                min_instance_count=low, max_instance_count=high
            ),
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    name="worker",
                    image=model.serving_image,
                    ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                        container_port=model.port
                    ),
                    envs=[
                        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v)
                        for k, v in env.items()
                    ],
                    # CPU only while a job runs (request-based billing, which Cloud Run
                    # requires below 1 vCPU too), boosted while the model loads.
                    resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                        limits={
                            "cpu": cloud_run.cpu_limit(spec.capacity.cpu),
                            "memory": f"{spec.capacity.memory_mb}Mi",
                        },
                        cpu_idle=True,
                        startup_cpu_boost=True,
                    ),
                    startup_probe=cloud_run.startup_probe(model.health_path, model.port),
                )
            ],
        )

    def _push(self, path: str) -> gcp.pubsub.SubscriptionPushConfigArgs:
        """Push to the worker at ``path`` with an OIDC token of the pusher identity."""
        return gcp.pubsub.SubscriptionPushConfigArgs(
            push_endpoint=pulumi.Output.concat(self.worker.uri, path),
            oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                service_account_email=self.accounts["pusher"].email,
                audience=self.worker.uri,
            ),
        )

    def _create_subscriptions(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        retention = retention_seconds(spec.retention.data_days, SUBSCRIPTION_MAX_RETENTION_DAYS)
        never_expire = gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")
        backoff = gcp.pubsub.SubscriptionRetryPolicyArgs(
            minimum_backoff=RETRY_MIN_BACKOFF, maximum_backoff=RETRY_MAX_BACKOFF
        )
        self.jobs_subscription = gcp.pubsub.Subscription(
            f"{name}-jobs-sub",
            gcp.pubsub.SubscriptionArgs(
                name=resource_name("gcp", "default", spec.project, spec.environment.value, "jobs"),
                topic=self.jobs_topic.id,
                ack_deadline_seconds=visibility_timeout_seconds(spec),
                message_retention_duration=retention,
                expiration_policy=never_expire,
                retry_policy=backoff,
                dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                    dead_letter_topic=self.dead_letter_topic.id,
                    max_delivery_attempts=MAX_DELIVERIES,
                ),
                push_config=self._push(spec.model.predict_path),
                labels=security.labels(spec, role="jobs"),
            ),
            opts=opts,
        )
        # A topic keeps nothing for late subscribers: this pull subscription is where dead
        # letters wait (the alarm fires) until someone inspects or replays them.
        self.dead_letter_hold = gcp.pubsub.Subscription(
            f"{name}-dead-letter-hold",
            gcp.pubsub.SubscriptionArgs(
                name=resource_name(
                    "gcp", "default", spec.project, spec.environment.value, "dead-letter"
                ),
                topic=self.dead_letter_topic.id,
                ack_deadline_seconds=600,
                message_retention_duration=retention,
                retain_acked_messages=True,
                expiration_policy=never_expire,
                labels=security.labels(spec, role="dead-letter"),
            ),
            opts=opts,
        )
        # The failure path: the worker marks the job failed and publishes the notification.
        self.dead_letter_notify = gcp.pubsub.Subscription(
            f"{name}-dead-letter-notify",
            gcp.pubsub.SubscriptionArgs(
                name=resource_name(
                    "gcp", "default", spec.project, spec.environment.value, "dead-letter-notify"
                ),
                topic=self.dead_letter_topic.id,
                ack_deadline_seconds=60,
                message_retention_duration=retention,
                expiration_policy=never_expire,
                retry_policy=backoff,
                push_config=self._push(DEAD_LETTER_PATH),
                labels=security.labels(spec, role="dead-letter-notify"),
            ),
            opts=opts,
        )

        # The reader's subscription on the notification topic (pull, never expires): created here
        # so the reader needs only pubsub.subscriber on it, never subscription rights on the
        # project (review B12). Its name is "<project>-<environment>-notifications".
        self.notification_subscription = gcp.pubsub.Subscription(
            f"{name}-notifications-sub",
            gcp.pubsub.SubscriptionArgs(
                name=resource_name(
                    "gcp", "default", spec.project, spec.environment.value, "notifications"
                ),
                topic=self.notifications.id,
                ack_deadline_seconds=60,
                message_retention_duration=retention,
                expiration_policy=never_expire,
                retry_policy=backoff,
                labels=security.labels(spec, role="notifications"),
            ),
            opts=opts,
        )

    # -- Least privilege ----------------------------------------------------------------------
    def _create_grants(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> dict[tuple[str, str, str], pulumi.Resource]:
        members: dict[str, pulumi.Input[str]] = {
            role: security.member(account) for role, account in self.accounts.items()
        }
        members.update({f"agent:{svc}": self.project.agent(svc) for svc in ("storage", "pubsub")})
        binders = self._binders(name, spec, opts)
        return {
            (who, target, role): binders[target](who, role, members[who])
            for who, target, role in GRANTS
        }

    def _binders(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> Mapping[str, Binder]:
        """How to grant a role on each target: the resource-level IAM member of its service."""

        def short(who: str, role: str) -> str:
            return f"{who.replace('agent:', 'agent-')}-{role.rsplit('.', 1)[-1].lower()}"

        def bucket(target: str, bucket: gcp.storage.Bucket) -> Binder:
            return lambda who, role, member: storage.grant_on_bucket(
                f"{name}-iam-{target}-{short(who, role)}", bucket, role, member, opts
            )

        def topic(target: str, topic: gcp.pubsub.Topic) -> Binder:
            return lambda who, role, member: gcp.pubsub.TopicIAMMember(
                f"{name}-iam-{target}-{short(who, role)}",
                gcp.pubsub.TopicIAMMemberArgs(topic=topic.id, role=role, member=member),
                opts=opts,
            )

        def subscription(target: str, sub: gcp.pubsub.Subscription) -> Binder:
            return lambda who, role, member: gcp.pubsub.SubscriptionIAMMember(
                f"{name}-iam-{target}-{short(who, role)}",
                gcp.pubsub.SubscriptionIAMMemberArgs(
                    subscription=sub.name, role=role, member=member
                ),
                opts=opts,
            )

        def service(target: str, svc: gcp.cloudrunv2.Service) -> Binder:
            return lambda who, role, member: gcp.cloudrunv2.ServiceIamMember(
                f"{name}-iam-{target}-{short(who, role)}",
                gcp.cloudrunv2.ServiceIamMemberArgs(
                    name=svc.name, location=spec.region, role=role, member=member
                ),
                opts=opts,
            )

        database = pulumi.Output.all(self.project.project_id, self.status.name).apply(
            lambda v: f'resource.name == "projects/{v[0]}/databases/{v[1]}"'
        )

        def firestore(target: str) -> Binder:
            return lambda who, role, member: gcp.projects.IAMMember(
                f"{name}-iam-{target}-{short(who, role)}",
                gcp.projects.IAMMemberArgs(
                    project=self.project.project_id,
                    role=role,
                    member=member,
                    condition=gcp.projects.IAMMemberConditionArgs(
                        title="only-the-status-database",
                        description="Firestore IAM is project-wide: limit it to this database",
                        expression=database,
                    ),
                ),
                opts=opts,
            )

        return {
            "input-bucket": bucket("input-bucket", self.input),
            "results-bucket": bucket("results-bucket", self.results),
            **{target: topic(target, t) for target, t in self.topics.items()},
            "jobs-subscription": subscription("jobs-subscription", self.jobs_subscription),
            "notification-subscription": subscription(
                "notification-subscription", self.notification_subscription
            ),
            "worker-service": service("worker-service", self.worker),
            "status-database": firestore("status-database"),
        }

    # -- Triggers: upload, schedule (the authenticated publish is the producer's grant) -------
    def _create_triggers(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        def notify(
            role: str, bucket: gcp.storage.Bucket, target: str, attrs: dict[str, str]
        ) -> gcp.storage.Notification:
            # The agent must be allowed to publish before GCS accepts the notification config.
            publisher = self.grants[("agent:storage", target, "roles/pubsub.publisher")]
            return gcp.storage.Notification(
                f"{name}-{role}-notification",
                gcp.storage.NotificationArgs(
                    bucket=bucket.name,
                    topic=self.topics[target].id,
                    payload_format="JSON_API_V1",
                    event_types=["OBJECT_FINALIZE"],
                    custom_attributes=attrs,
                ),
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(depends_on=[publisher])
                ),
            )

        self.upload_trigger = notify("input", self.input, "jobs-topic", {"trigger": "upload"})
        # Completion is announced by the results bucket itself, so no worker can forget it;
        # failure is announced by the worker's dead-letter path.
        self.completion_notice = notify(
            "results", self.results, "notification-topic", {"outcome": "completed"}
        )
        self.schedule = gcp.cloudscheduler.Job(
            f"{name}-schedule",
            gcp.cloudscheduler.JobArgs(
                name=resource_name("gcp", "default", spec.project, spec.environment.value, "batch"),
                region=spec.region,
                description="Scheduled batch: one job message a day",
                schedule=BATCH_SCHEDULE,
                time_zone=BATCH_TIME_ZONE,
                pubsub_target=gcp.cloudscheduler.JobPubsubTargetArgs(
                    topic_name=self.jobs_topic.id,
                    data=base64.b64encode(
                        json.dumps({"kind": "batch", "trigger": "schedule"}).encode()
                    ).decode(),
                    attributes={"trigger": "schedule"},
                ),
            ),
            opts=opts,
        )

    # -- Logs and audit -----------------------------------------------------------------------
    def _create_logging(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        log_filter = pulumi.Output.all(
            self.worker.name, self.jobs_subscription.name, self.jobs_topic.name
        ).apply(lambda v: log_filter_for(v[0], v[1], v[2]))
        self.logs = security.create_log_store(name, spec, self.project, self.key, log_filter, opts)

    # -- Alarms and dashboard -----------------------------------------------------------------
    def _create_monitoring(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        rules = event_alarms(spec)
        metrics = monitoring.cloud_run_metrics(self.worker.name, self.jobs_subscription.name)
        self.routing = monitoring.create_routing(name, spec, rules, opts)
        self.alarms = monitoring.create_alert_policies(
            name, spec, rules, metrics, self.routing, opts
        )
        self.dashboard = monitoring.create_dashboard(
            name,
            spec,
            metrics,
            [r.signal for r in rules],
            {
                "dead letters waiting": pulumi.Output.concat(
                    'metric.type = "pubsub.googleapis.com/subscription/num_undelivered_messages"'
                    ' AND resource.type = "pubsub_subscription" AND '
                    'resource.label.subscription_id = "',
                    self.dead_letter_hold.name,
                    '"',
                ),
                "worker instances": pulumi.Output.concat(
                    'metric.type = "run.googleapis.com/container/instance_count" AND '
                    'resource.type = "cloud_run_revision" AND resource.label.service_name = "',
                    self.worker.name,
                    '"',
                ),
            },
            opts,
        )


def log_filter_for(worker: str, subscription: str, topic: str) -> str:
    """The stack's logs: its worker, its queue and the audited services."""
    return (
        f'(resource.type="cloud_run_revision" AND resource.labels.service_name="{worker}") OR '
        f'(resource.type="pubsub_subscription" AND resource.labels.subscription_id='
        f'"{subscription}") OR '
        f'(resource.type="pubsub_topic" AND resource.labels.topic_id="{topic}") OR '
        '(logName:"cloudaudit.googleapis.com" AND protoPayload.serviceName=('
        '"run.googleapis.com" OR "storage.googleapis.com" OR "pubsub.googleapis.com" OR '
        '"datastore.googleapis.com"))'
    )


def policy_waivers(name: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config for this component: its audit logs are its project's bootstrap's (A21)."""
    return security.bootstrap_audit_waivers(name, Pattern.EVENT_DRIVEN)
