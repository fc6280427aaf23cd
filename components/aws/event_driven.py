"""The event-driven pattern on AWS.

    upload -> input bucket (SSE-KMS) --EventBridge "Object Created" rule--+
    producer role -- sqs:SendMessage (SigV4, IAM) ------------------------+--> jobs queue (KMS)
    EventBridge Scheduler (daily batch, its own role) --------------------+        |
                                          visibility 6x processing time, 5 receives, then
                                                                     v             v
                ECS Fargate workers (private subnets, 0/min..max, one job each)   dead-letter
                   --> results bucket (SSE-KMS, lifecycle) --"Object Created"-->   queue (KMS,
                   --> DynamoDB status table (CMK, PITR, TTL)       notification   alarm > 0)
                   --> "failed" on the last attempt --------------> topic (KMS, TLS-only)

Why SQS polled by Fargate rather than Lambda: a model container loads its weights once and then
works through jobs for up to MAX_PROCESSING_SECONDS; Lambda would reload it on every cold start,
caps a function at 10 GB of memory, and needs an image built for its runtime API, while ECS runs
the client's image as it is. Why step scaling rather than target tracking: workers must scale
from zero in dev, where a "backlog per running task" metric is undefined; a visible-message alarm
adds workers and an empty-queue alarm removes idle ones (busy workers hold ECS task scale-in
protection, see the worker contract in docs/patterns/aws.md). Why no HTTP submit endpoint: an
API Gateway with IAM auth needs the same SigV4 signing as SQS itself, and would add a stage, a
WAF and per-request cost in front of a queue producers can reach directly under IAM.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import (
    MAX_DELIVERIES,
    Signal,
    Tier,
    event_alarms,
    max_processing_seconds,
    visibility_timeout_seconds,
    worker_bounds,
)
from components.aws import fargate, monitoring, network, security
from components.base import PatternComponent
from components.naming import resource_name
from components.spec import DeploymentSpec

# SQS keeps a message at most 14 days. A dead letter keeps its ORIGINAL enqueue time, so the
# dead-letter queue must keep messages longer than the jobs queue or they expire on arrival.
JOBS_RETENTION_DAYS = 4
DEAD_LETTER_RETENTION_DAYS = 14
# Long polling: a receive waits up to 20 s for a message instead of returning empty at once.
RECEIVE_WAIT_SECONDS = 20

# EventBridge retries delivery to a target for up to a day before giving up (then: the DLQ).
EVENT_RETRY_SECONDS = 86400
EVENT_RETRY_ATTEMPTS = 185

# The scheduled batch: one message a day at 02:00 UTC, the same in every environment (parity).
BATCH_SCHEDULE = "cron(0 2 * * ? *)"
BATCH_TIME_ZONE = "Etc/UTC"
BATCH_MESSAGE = {"kind": "batch", "trigger": "schedule"}

# Scaling: an alarm on visible messages adds workers (re-evaluated each cooldown while the
# backlog lasts); SCALE_IN_MINUTES of an empty queue halve the fleet down to its minimum.
SCALE_OUT_COOLDOWN = 60
SCALE_IN_MINUTES = 5
SCALE_IN_COOLDOWN = 300
SCALE_IN_PERCENT = -50

# DynamoDB status items expire at this attribute (epoch seconds) set by the worker to
# now + retention.data_days; the partition key is the job id.
STATUS_KEY = "job_id"
STATUS_TTL_ATTRIBUTE = "expires_at"

# What each role may do, on which resource (filled in at creation). No wildcard actions.
QUEUE_CONSUME_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
QUEUE_SEND_ACTIONS = ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
STATUS_WRITE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
STATUS_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
# What the workers do with objects through the VPC's S3 gateway endpoint.
S3_ENDPOINT_ACTIONS = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")
# Workers protect themselves from scale-in while a job runs (ECS task scale-in protection).
TASK_PROTECTION_ACTIONS = ("ecs:GetTaskProtection", "ecs:UpdateTaskProtection")
KEY_ENCRYPT_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
KEY_DECRYPT_ACTIONS = ("kms:Decrypt",)
# The services through which the worker uses the key: queue, objects, status items, topic.
WORKER_KEY_SERVICES = ("sqs", "s3", "dynamodb", "sns")
# What the reader may subscribe to the notification topic (review B11).
SUBSCRIBE_PROTOCOLS = ("lambda", "sqs")


# Policy-pack rules this component cannot satisfy as the pack stands: rule -> ((resource role,
# reason), ...). A client's pack config records them as waivers (see policy_waivers), so they
# appear in every report instead of silently passing. None today: the step-scaling alarms that
# take workers up from zero act on a scaling policy, and rule S1 counts such alarms as automation
# rather than as unrouted alerts.
POLICY_WAIVERS: Mapping[str, tuple[tuple[str, str], ...]] = {}


def policy_waivers(name: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config entries waiving :data:`POLICY_WAIVERS` for the component called ``name``."""
    return {
        rule: {
            "waivers": [
                {"resource": f"{name}-{role}", "reason": reason} for role, reason in entries
            ]
        }
        for rule, entries in POLICY_WAIVERS.items()
    }


def scale_out_steps(max_workers: int) -> list[tuple[int, int | None, int]]:
    """Step adjustments (lower bound, upper bound or None, workers to add) over the number of
    visible messages: a small backlog adds one worker, a quarter-fleet backlog a quarter of the
    fleet, a backlog the whole fleet could take adds the whole fleet (capped at max anyway)."""
    quarter = max(1, math.ceil(max_workers / 4))
    bounds = sorted({0, quarter, max_workers})
    steps: list[tuple[int, int | None, int]] = []
    for i, lower in enumerate(bounds):
        upper = bounds[i + 1] if i + 1 < len(bounds) else None
        steps.append((lower, upper, max(1, lower)))
    return steps


def deployment_dimension(spec: DeploymentSpec) -> str:
    """The value workers put in their metrics' Deployment dimension."""
    return f"{spec.project}-{spec.environment.value}"


def trail_name(spec: DeploymentSpec) -> str:
    """The audit trail's name (known before creation: the key policy names it)."""
    return resource_name("aws", "default", spec.project, spec.environment.value, "audit")


def _objects(bucket: aws.s3.Bucket) -> pulumi.Output[str]:
    return bucket.arn.apply(lambda arn: f"{arn}/*")


class AwsEventDriven(PatternComponent):
    """Jobs from uploads, IAM-authenticated sends and a schedule, processed by Fargate workers."""

    def __init__(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, spec, opts)
        self._o = self.child_opts()
        self.account = security.account_id()
        self.trail_arn = self.account.apply(
            lambda a: f"arn:aws:cloudtrail:{spec.region}:{a}:trail/{trail_name(spec)}"
        )
        self.key = security.create_kms_key(
            name,
            spec,
            self._o,
            description=f"{spec.project} {spec.environment.value}: jobs, results, status, logs",
            users=(
                security.LOGS_KEY_USER,
                security.ALARMS_KEY_USER,
                security.S3_LOGGING_KEY_USER,
                security.EVENTS_KEY_USER,
                security.FARGATE_KEY_USER,
                security.KeyUser(
                    "cloudtrail.amazonaws.com",
                    # CloudTrail's documented key policy grants GenerateDataKey*.
                    (
                        "kms:DescribeKey",
                        "kms:GenerateDataKey",
                        "kms:GenerateDataKeyWithoutPlaintext",
                    ),
                    condition_key="aws:SourceArn",
                    condition_values=(
                        f"arn:aws:cloudtrail:{{region}}:{{account}}:trail/{trail_name(spec)}",
                    ),
                ),
            ),
        )
        self.network = network.create_network(name, spec, self.key, self._o)
        self._create_storage()
        self._create_gateway_endpoints()
        self._create_rules()
        self._create_queues()
        self._create_notifications()
        self._create_schedule()
        self._create_monitoring()
        self._create_workers()
        self._create_client_roles()
        self._create_audit_trail()

        self.input_bucket = self.input.bucket.id
        self.queue_name = self.jobs.name
        self.dead_letter_queue_name = self.dead_letters.name
        self.worker_service = self.service.name
        self.results_bucket = self.results.bucket.id
        self.status_table = self.status.name
        self.notification_topic = self.notifications.arn
        self.kms_key_id = self.key.key_id
        self.alert_topic = self.topics[Tier.PAGE].arn
        self._finish()

    # --- data: objects in, objects out, job status ----------------------------------------
    def _create_storage(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.access_logs = security.create_access_log_bucket(
            f"{name}-access-logs", spec, self.key, o
        )
        self.input = security.create_private_bucket(
            f"{name}-input", spec, self.key, o, access_log_bucket=self.access_logs.bucket
        )
        self.results = security.create_private_bucket(
            f"{name}-results", spec, self.key, o, access_log_bucket=self.access_logs.bucket
        )
        # S3 sends every object event of these buckets to the account's default event bus; the
        # rules below pick what they need (S3 -> SQS directly cannot use a customer key).
        for role, bucket in (("input", self.input), ("results", self.results)):
            aws.s3.BucketNotification(
                f"{name}-{role}-events", bucket=bucket.bucket.id, eventbridge=True, opts=o
            )
        self.status = aws.dynamodb.Table(
            f"{name}-status",
            billing_mode="PAY_PER_REQUEST",
            hash_key=STATUS_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=STATUS_KEY, type="S")],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=self.key.arn
            ),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=STATUS_TTL_ATTRIBUTE, enabled=True),
            deletion_protection_enabled=spec.retention.deletion_protection,
            tags=spec.standard_tags(),
            opts=o,
        )

    # --- private paths to S3 and DynamoDB --------------------------------------------------
    def _create_gateway_endpoints(self) -> None:
        """Gateway endpoints (free) keep object and status traffic off the NAT gateway. Their
        policies stop the VPC being used to move data with another account's credentials."""
        name, spec, o = self.name, self.spec, self._o
        own_account = {"StringEquals": {"aws:PrincipalAccount": [self.account]}}
        anyone = {"AWS": "*"}
        policies: dict[str, list[dict[str, Any]]] = {
            "s3": [
                security.statement(
                    S3_ENDPOINT_ACTIONS,
                    ["*"],
                    sid="ThisAccountsPrincipals",
                    principal=anyone,
                    condition=own_account,
                ),
                # ECR serves image layers from its own bucket with ECR's credentials.
                security.statement(
                    ["s3:GetObject"],
                    [f"arn:aws:s3:::prod-{spec.region}-starport-layer-bucket/*"],
                    sid="EcrImageLayers",
                    principal=anyone,
                ),
            ],
            "dynamodb": [
                security.statement(
                    STATUS_WRITE_ACTIONS,
                    [self.status.arn],
                    sid="StatusTableOnly",
                    principal=anyone,
                    condition=own_account,
                )
            ],
        }
        self.endpoints = {
            service: aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=self.network.vpc_id,
                service_name=f"com.amazonaws.{spec.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=self.network.private_route_table_ids,
                policy=security.to_json(security.document(statements)),
                tags=spec.standard_tags(),
                opts=o,
            )
            for service, statements in policies.items()
        }

    # --- EventBridge: uploads become jobs, results become completion notices --------------
    def _object_created_rule(self, role: str, bucket: aws.s3.Bucket) -> aws.cloudwatch.EventRule:
        name, spec = self.name, self.spec
        pattern = bucket.id.apply(
            lambda b: json.dumps(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {"bucket": {"name": [b]}},
                },
                sort_keys=True,
            )
        )
        return aws.cloudwatch.EventRule(
            f"{name}-{role}-rule",
            description=f"Object created in the {role} bucket of {spec.project}",
            event_pattern=pattern,
            state="ENABLED",
            tags=spec.standard_tags(),
            opts=self._o,
        )

    def _create_rules(self) -> None:
        self.upload_rule = self._object_created_rule("upload", self.input.bucket)
        self.completion_rule = self._object_created_rule("completion", self.results.bucket)

    # --- the durable queue and its dead letters -------------------------------------------
    @staticmethod
    def _from_rules(
        action: str, sid: str, rules: Sequence[aws.cloudwatch.EventRule]
    ) -> security.BucketGrants:
        """Queue/topic-policy grant: EventBridge may deliver ``action`` for exactly ``rules``."""
        sources = [rule.arn for rule in rules]

        def grant(arn: pulumi.Output[str]) -> list[dict[str, Any]]:
            return [
                security.statement(
                    [action],
                    [arn],
                    sid=sid,
                    principal={"Service": "events.amazonaws.com"},
                    condition={"ArnEquals": {"aws:SourceArn": list(sources)}},
                )
            ]

        return grant

    def _create_queues(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        # Rules deliver what they could not hand to their target here, too: nothing is lost
        # silently, and the dead-letter alarm fires.
        self.dead_letters = security.create_encrypted_queue(
            f"{name}-dead-letters",
            spec,
            self.key,
            o,
            retention_days=DEAD_LETTER_RETENTION_DAYS,
            grants=self._from_rules("sqs:SendMessage", "DeadLettersOfRules", [self.upload_rule]),
        )
        self.jobs = security.create_encrypted_queue(
            f"{name}-jobs",
            spec,
            self.key,
            o,
            retention_days=min(JOBS_RETENTION_DAYS, spec.retention.data_days),
            visibility_timeout_seconds=visibility_timeout_seconds(spec),
            redrive_to=self.dead_letters,
            max_receive_count=MAX_DELIVERIES,
            grants=self._from_rules("sqs:SendMessage", "JobsFromUploads", [self.upload_rule]),
        )
        # Only the jobs queue may use the dead-letter queue as its redrive target.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dead-letters-redrive-allow",
            queue_url=self.dead_letters.url,
            redrive_allow_policy=self.jobs.arn.apply(
                lambda arn: json.dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [arn]}, sort_keys=True
                )
            ),
            opts=o,
        )
        self.upload_target = aws.cloudwatch.EventTarget(
            f"{name}-upload-target",
            rule=self.upload_rule.name,
            arn=self.jobs.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=EVENT_RETRY_SECONDS,
                maximum_retry_attempts=EVENT_RETRY_ATTEMPTS,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=self.dead_letters.arn
            ),
            opts=o,
        )

    # --- notifications for the client's systems ------------------------------------------
    def _create_notifications(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.notifications = aws.sns.Topic(
            f"{name}-notifications",
            display_name=f"{spec.project} {spec.environment.value} job notifications",
            kms_master_key_id=self.key.arn,
            tags=spec.standard_tags(),
            opts=o,
        )
        topic = self.notifications.arn
        statements = [
            security.statement(
                monitoring.SNS_OWNER_ACTIONS,
                [topic],
                sid="AccountOwns",
                principal={"AWS": self.account.apply(lambda a: f"arn:aws:iam::{a}:root")},
            ),
            security.tls_only_statement("sns:Publish", [topic]),
            *self._from_rules("sns:Publish", "CompletionsFromResults", [self.completion_rule])(
                topic
            ),
        ]
        aws.sns.TopicPolicy(
            f"{name}-notifications-policy",
            arn=topic,
            policy=security.to_json(security.document(statements)),
            opts=o,
        )
        # Completion is announced by the results bucket itself, so no worker can forget it;
        # failure is announced by the worker on a job's last attempt (worker contract).
        aws.cloudwatch.EventTarget(
            f"{name}-completion-target",
            rule=self.completion_rule.name,
            arn=topic,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths={
                    "bucket": "$.detail.bucket.name",
                    "key": "$.detail.object.key",
                    "time": "$.time",
                },
                input_template=(
                    '{"outcome": "completed", "bucket": <bucket>, "key": <key>, "time": <time>}'
                ),
            ),
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=EVENT_RETRY_SECONDS,
                maximum_retry_attempts=EVENT_RETRY_ATTEMPTS,
            ),
            opts=o,
        )

    # --- the scheduled batch --------------------------------------------------------------
    def _create_schedule(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        role = security.create_role(
            f"{name}-scheduler-role",
            spec,
            "scheduler.amazonaws.com",
            [
                security.statement(["sqs:SendMessage"], [self.jobs.arn, self.dead_letters.arn]),
                security.key_use_statement(
                    KEY_ENCRYPT_ACTIONS, self.key.arn, spec.region, "sqs", "scheduler"
                ),
            ],
            o,
            description="EventBridge Scheduler: send the batch job (or its dead letter) only",
        )
        # The schedule's input is stored under the stack key too (review C7), as the job
        # it becomes lands in the KMS-encrypted queue; Scheduler decrypts it with the role.
        self.schedule = aws.scheduler.Schedule(
            f"{name}-batch-schedule",
            name=resource_name("aws", "default", spec.project, spec.environment.value, "batch"),
            description="Scheduled batch: one job message a day",
            schedule_expression=BATCH_SCHEDULE,
            schedule_expression_timezone=BATCH_TIME_ZONE,
            kms_key_arn=self.key.arn,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=self.jobs.arn,
                role_arn=role.arn,
                input=json.dumps(BATCH_MESSAGE, sort_keys=True),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=EVENT_RETRY_SECONDS,
                    maximum_retry_attempts=EVENT_RETRY_ATTEMPTS,
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(
                    arn=self.dead_letters.arn
                ),
            ),
            opts=o,
        )

    # --- alarms ---------------------------------------------------------------------------
    def _create_monitoring(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        self.alarm_defs = monitoring.alarm_defs(event_alarms(spec), monitoring.SQS_WORKER_METRICS)
        self.topics = monitoring.create_alert_topics(
            name, spec, self.key, monitoring.tiers_used(self.alarm_defs), o
        )
        dimensions: dict[str, Mapping[str, pulumi.Input[str]]] = {
            "queue": {"QueueName": self.jobs.name},
            "dlq": {"QueueName": self.dead_letters.name},
            "worker": {"Deployment": deployment_dimension(spec)},
        }
        self.alarms = monitoring.create_alarms(
            name, spec, self.alarm_defs, dimensions, self.topics, o
        )
        self.dashboard = monitoring.create_dashboard(
            name, spec, self.alarms, o, title=f"{spec.project} {spec.environment.value} jobs"
        )

    # --- workers --------------------------------------------------------------------------
    def _create_workers(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        tags = spec.standard_tags()
        ecs = security.create_ecs_foundation(
            name, spec, self.key, "worker", [spec.model.serving_image], o
        )
        self.cluster, self.worker_logs, execution_role = ecs.cluster, ecs.logs, ecs.execution_role
        tasks = pulumi.Output.all(self.account, self.cluster.name).apply(
            lambda v: f"arn:aws:ecs:{spec.region}:{v[0]}:task/{v[1]}/*"
        )
        self.worker_role = security.create_role(
            f"{name}-worker-role",
            spec,
            "ecs-tasks.amazonaws.com",
            [
                security.statement(QUEUE_CONSUME_ACTIONS, [self.jobs.arn]),
                security.statement(["s3:GetObject"], [_objects(self.input.bucket)]),
                # GetObject too: a retried job reads back its own partial result.
                security.statement(
                    ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    [_objects(self.results.bucket)],
                ),
                security.statement(STATUS_WRITE_ACTIONS, [self.status.arn]),
                security.statement(["sns:Publish"], [self.notifications.arn]),
                security.key_use_statement(
                    KEY_ENCRYPT_ACTIONS, self.key.arn, spec.region, *WORKER_KEY_SERVICES
                ),
                security.statement(TASK_PROTECTION_ACTIONS, [tasks]),
            ],
            o,
            description="Worker: consume jobs, read input, write results/status, notify",
        )
        self.worker_sg = aws.ec2.SecurityGroup(
            f"{name}-worker-sg",
            description="Workers take no inbound traffic; HTTPS out to AWS APIs and registries",
            vpc_id=self.network.vpc_id,
            egress=[network.https_egress("HTTPS to AWS APIs and the image registry")],
            tags=tags,
            opts=o,
        )
        self.task = self._task_definition(execution_role.arn, self.worker_role.arn)
        low, high = worker_bounds(spec)
        # A release that raises the error rate or p99 of jobs rolls itself back.
        rollback_on = [
            self.alarms[s.value].name for s in (Signal.WORKER_ERROR_RATE, Signal.LATENCY_P99)
        ]
        self.service = fargate.create_service(
            f"{name}-worker",
            self.cluster,
            self.task,
            low,
            self.network.private_subnet_ids,
            self.worker_sg,
            rollback_on,
            tags,
            o,
        )
        self._autoscale(low, high)

    def _task_definition(
        self, execution_role: pulumi.Output[str], task_role: pulumi.Output[str]
    ) -> aws.ecs.TaskDefinition:
        name, spec = self.name, self.spec
        static_env: dict[str, str] = {
            "AIDEPLOY_ROLE": "worker",
            "MODEL_NAME": spec.model.name,
            "MODEL_VERSION": spec.model.version,
            "MAX_DELIVERIES": str(MAX_DELIVERIES),
            "MAX_PROCESSING_SECONDS": str(max_processing_seconds(spec)),
            "VISIBILITY_TIMEOUT_SECONDS": str(visibility_timeout_seconds(spec)),
            "RECEIVE_WAIT_SECONDS": str(RECEIVE_WAIT_SECONDS),
            "STATUS_KEY": STATUS_KEY,
            "STATUS_TTL_ATTRIBUTE": STATUS_TTL_ATTRIBUTE,
            "STATUS_TTL_DAYS": str(spec.retention.data_days),
            "METRIC_NAMESPACE": monitoring.WORKER_NAMESPACE,
            "METRIC_DEPLOYMENT": deployment_dimension(spec),
        }
        wired = pulumi.Output.all(
            queue=self.jobs.url,
            input=self.input.bucket.id,
            results=self.results.bucket.id,
            table=self.status.name,
            topic=self.notifications.arn,
        )

        def environment(v: dict[str, Any]) -> list[dict[str, str]]:
            env = {
                **static_env,
                "QUEUE_URL": v["queue"],
                "INPUT_BUCKET": v["input"],
                "RESULTS_BUCKET": v["results"],
                "STATUS_TABLE": v["table"],
                "NOTIFICATION_TOPIC_ARN": v["topic"],
            }
            return [{"name": k, "value": env[k]} for k in sorted(env)]

        return fargate.create_task_definition(
            f"{name}-worker-task",
            spec,
            "worker",
            # Fargate's maximum stop timeout: a stopping worker finishes or hands back its
            # message.
            fargate.Container("worker", spec.model.serving_image, stop_timeout=120),
            wired.apply(environment),
            self.worker_logs,
            execution_role,
            task_role,
            spec.standard_tags(),
            self._o,
        )

    def _autoscale(self, low: int, high: int) -> None:
        name, spec, o = self.name, self.spec, self._o
        target = aws.appautoscaling.Target(
            f"{name}-worker-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", self.cluster.name, "/", self.service.name),
            min_capacity=low,
            max_capacity=high,
            opts=o,
        )

        def policy(
            role: str, config: aws.appautoscaling.PolicyStepScalingPolicyConfigurationArgs
        ) -> aws.appautoscaling.Policy:
            return aws.appautoscaling.Policy(
                f"{name}-worker-{role}",
                policy_type="StepScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                step_scaling_policy_configuration=config,
                opts=o,
            )

        step = aws.appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs
        out = policy(
            "scale-out",
            aws.appautoscaling.PolicyStepScalingPolicyConfigurationArgs(
                adjustment_type="ChangeInCapacity",
                metric_aggregation_type="Maximum",
                cooldown=SCALE_OUT_COOLDOWN,
                step_adjustments=[
                    step(
                        scaling_adjustment=add,
                        metric_interval_lower_bound=str(lower),
                        metric_interval_upper_bound=None if upper is None else str(upper),
                    )
                    for lower, upper, add in scale_out_steps(high)
                ],
            ),
        )
        scale_in = policy(
            "scale-in",
            aws.appautoscaling.PolicyStepScalingPolicyConfigurationArgs(
                adjustment_type="PercentChangeInCapacity",
                metric_aggregation_type="Maximum",
                cooldown=SCALE_IN_COOLDOWN,
                min_adjustment_magnitude=1,
                step_adjustments=[
                    step(scaling_adjustment=SCALE_IN_PERCENT, metric_interval_upper_bound="0")
                ],
            ),
        )
        visible = aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            stat="Maximum",
            period=60,
            dimensions={"QueueName": self.jobs.name},
        )
        for role, operator, periods, missing, action in (
            ("scale-out", "GreaterThanThreshold", 1, "notBreaching", out),
            # An idle queue may stop reporting: no data means nothing to do, so scale in.
            ("scale-in", "LessThanOrEqualToThreshold", SCALE_IN_MINUTES, "breaching", scale_in),
        ):
            aws.cloudwatch.MetricAlarm(
                f"{name}-worker-{role}-alarm",
                name=resource_name(
                    "aws", "default", spec.project, spec.environment.value, f"worker-{role}"
                ),
                alarm_description=f"Drives the workers' {role} policy (visible jobs vs 0)",
                comparison_operator=operator,
                threshold=0,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                metric_queries=[
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="visible", metric=visible, return_data=True
                    )
                ],
                treat_missing_data=missing,
                alarm_actions=[action.arn],
                tags=spec.standard_tags(),
                opts=o,
            )

    # --- the client's identities: producer and reader --------------------------------------
    def _create_client_roles(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        region = spec.region
        self.producer_role = security.create_account_role(
            f"{name}-producer-role",
            spec,
            [
                security.statement(["s3:PutObject"], [_objects(self.input.bucket)]),
                security.statement(QUEUE_SEND_ACTIONS, [self.jobs.arn]),
                security.key_use_statement(KEY_ENCRYPT_ACTIONS, self.key.arn, region, "s3", "sqs"),
            ],
            o,
            description="Producer: upload input objects and send job messages, nothing else",
            access="producer",
        )
        self.reader_role = security.create_account_role(
            f"{name}-reader-role",
            spec,
            [
                security.statement(["s3:GetObject"], [_objects(self.results.bucket)]),
                security.statement(STATUS_READ_ACTIONS, [self.status.arn]),
                # Only queues and functions of this account may receive the notifications
                # (review B11): not an e-mail address, a URL or another account's queue.
                security.statement(
                    ["sns:Subscribe"],
                    [self.notifications.arn],
                    condition={
                        "StringEquals": {"sns:Protocol": list(SUBSCRIBE_PROTOCOLS)},
                        "StringLike": {
                            "sns:Endpoint": self.account.apply(
                                lambda a: [
                                    f"arn:aws:sqs:{spec.region}:{a}:*",
                                    f"arn:aws:lambda:{spec.region}:{a}:function:*",
                                ]
                            )
                        },
                    },
                ),
                security.key_use_statement(
                    KEY_DECRYPT_ACTIONS, self.key.arn, region, "s3", "dynamodb"
                ),
            ],
            o,
            description="Reader: read results and job status, subscribe to notifications",
            access="reader",
        )

    # --- audit: who read or wrote which object or status item -----------------------------
    def _create_audit_trail(self) -> None:
        name, spec, o = self.name, self.spec, self._o
        account, trail = self.account, self.trail_arn

        def grants(bucket_arn: pulumi.Output[str]) -> list[dict[str, Any]]:
            condition = {"StringEquals": {"aws:SourceArn": trail}}
            service = {"Service": "cloudtrail.amazonaws.com"}
            return [
                security.statement(
                    ["s3:GetBucketAcl"],
                    [bucket_arn],
                    sid="CloudTrailAclCheck",
                    principal=service,
                    condition=condition,
                ),
                security.statement(
                    ["s3:PutObject"],
                    [
                        pulumi.Output.all(bucket_arn, account).apply(
                            lambda v: f"{v[0]}/AWSLogs/{v[1]}/*"
                        )
                    ],
                    sid="CloudTrailWrite",
                    principal=service,
                    condition=condition,
                ),
            ]

        self.trail_bucket = security.create_private_bucket(
            f"{name}-audit",
            spec,
            self.key,
            o,
            access_log_bucket=self.access_logs.bucket,
            grants=grants,
            expire_days=spec.retention.log_days,
        )
        field = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs

        def selector(
            label: str, resource_type: str, arns: list[pulumi.Input[str]], *, prefix: bool
        ) -> aws.cloudtrail.TrailAdvancedEventSelectorArgs:
            match = (
                field(field="resources.ARN", starts_withs=arns)
                if prefix
                else field(field="resources.ARN", equals=arns)
            )
            return aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                name=label,
                field_selectors=[
                    field(field="eventCategory", equals=["Data"]),
                    field(field="resources.type", equals=[resource_type]),
                    match,
                ],
            )

        def prefix(bucket: aws.s3.Bucket) -> pulumi.Output[str]:
            return bucket.arn.apply(lambda arn: f"{arn}/")

        # Data events only: the account's own trail (or CloudTrail's 90-day event history)
        # holds management events; this trail adds object and item access, kept log_days.
        self.trail = aws.cloudtrail.Trail(
            f"{name}-audit-trail",
            name=trail_name(spec),
            s3_bucket_name=self.trail_bucket.bucket.id,
            kms_key_id=self.key.arn,
            enable_log_file_validation=True,
            include_global_service_events=False,
            is_multi_region_trail=False,
            advanced_event_selectors=[
                selector(
                    "job objects",
                    "AWS::S3::Object",
                    [prefix(self.input.bucket), prefix(self.results.bucket)],
                    prefix=True,
                ),
                selector("job status", "AWS::DynamoDB::Table", [self.status.arn], prefix=False),
            ],
            tags=spec.standard_tags(),
            opts=pulumi.ResourceOptions.merge(
                o, pulumi.ResourceOptions(depends_on=self.trail_bucket.children)
            ),
        )
