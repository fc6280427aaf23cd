"""The managed-platform pattern on GCP: Vertex AI online prediction with a self-undoing rollout.

    Vertex AI endpoint (CMEK; the monitoring job logs requests to BigQuery under the same key)
      stable slot:    model (custom container, CMEK) deployed with min/max replicas, CPU target
      candidate slot: the candidate model at the profile's canary share (absent when none)
    Cloud Monitoring alert policies per serving alarm, routed by tier
    rollback alarms -> Pub/Sub channel -> Cloud Function -> endpoints.patch (split to stable)

pulumi-gcp cannot upload a model, deploy it, or split traffic between deployed models, so the
dynamic resources in vertex_deployment.py do that through the Vertex AI API. Vertex AI has no
alarm-driven rollback, so rollout.create_rollback builds one (shared with api-first).
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_gcp as gcp

from components.alarms import Tier, alarm_name, rollback_alarms, serving_alarms
from components.base import PatternComponent
from components.gcp import monitoring, prerequisites, rollout, security
from components.gcp.monitoring import Scope
from components.gcp.release_watch import Target
from components.gcp.rollout import Release
from components.gcp.vertex_deployment import (
    VertexApi,
    VertexDeployment,
    VertexModel,
    VertexModelMonitoring,
)
from components.naming import resource_name
from components.spec import DeploymentSpec, Pattern

KEY_USERS = ("aiplatform", "bigquery", "logging", *rollout.ROLLBACK_KEY_USERS)

# Smallest general-purpose machine with at least the profile's vCPU and memory: (vCPU, GiB).
MACHINE_TYPES: tuple[tuple[str, float, float], ...] = (
    ("n1-standard-2", 2, 7.5),
    ("n1-standard-4", 4, 15),
    ("n1-standard-8", 8, 30),
    ("n1-standard-16", 16, 60),
)
# Resource metrics of the deployed models, on the dashboard next to the serving signals.
RESOURCE_METRICS: dict[str, str] = {
    "predictions": "aiplatform.googleapis.com/prediction/online/prediction_count",
    "errors": "aiplatform.googleapis.com/prediction/online/error_count",
    "cpu utilization": "aiplatform.googleapis.com/prediction/online/cpu/utilization",
    "memory bytes": "aiplatform.googleapis.com/prediction/online/memory/bytes_used",
    "gpu duty cycle": "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle",
    "replicas": "aiplatform.googleapis.com/prediction/online/replicas",
}
# Model Monitoring: Vertex's default drift threshold, checked hourly (its shortest interval) on
# every request, the same in every environment so staging sees what prod will.
DRIFT_THRESHOLD = 0.3
MONITOR_INTERVAL_HOURS = 1
MONITOR_SAMPLE_RATE = 1.0
# Permissions the rollback needs on the one endpoint it guards (read and patch the split): the
# bootstrap's custom role holds exactly these.
ROLLBACK_PERMISSIONS = prerequisites.ROLLBACK_ROLES[Pattern.MANAGED_PLATFORM].permissions


def machine_type(cpu: float, memory_mb: int) -> str:
    """The machine type for the profile's serving size (the largest when nothing fits)."""
    for name, vcpu, gib in MACHINE_TYPES:
        if cpu <= vcpu and memory_mb / 1024 <= gib:
            return name
    return MACHINE_TYPES[-1][0]


def _number(text: str) -> str:
    # Vertex ids here are numeric, at most 10 digits, no leading zero.
    return str(1_000_000_000 + int(hashlib.sha256(text.encode()).hexdigest(), 16) % 8_999_999_999)


def endpoint_number(spec: DeploymentSpec) -> str:
    """The endpoint's id: stable per stack."""
    return _number(f"{spec.project}/{spec.environment.value}")


def deployed_model_id(spec: DeploymentSpec, role: str, release: Release) -> str:
    """The deployed model's id, chosen by us (Vertex allows it) from everything it deploys.

    Knowing it before deployment lets alarms, the dashboard and the rollback function name the
    candidate at preview time; any change to what is deployed gives a new id, so the provider
    can deploy the new one beside the old before moving traffic.
    """
    cap = spec.capacity
    parts = (
        spec.project,
        spec.environment.value,
        role,
        release.version,
        release.image,
        spec.model.port,
        spec.model.predict_path,
        spec.model.health_path,
        machine_type(cap.cpu, cap.memory_mb),
        cap.min_instances,
        cap.max_instances,
        cap.target_cpu_percent,
    )
    return _number("/".join(str(p) for p in parts))


class GcpManagedPlatform(PatternComponent):
    """A model on a Vertex AI endpoint with canary traffic, monitoring and automatic rollback."""

    def __init__(
        self,
        name: str,
        spec: DeploymentSpec,
        opts: pulumi.ResourceOptions | None = None,
        vertex_api: VertexApi | None = None,
    ) -> None:
        super().__init__(name, spec, opts)
        child = self.child_opts()
        self.vertex_api = vertex_api
        self.project = security.current_project(self)
        self.key = security.create_key(name, spec, self.project, KEY_USERS, child)
        self.serving_account = security.service_account("vertex", spec, self.project, self)
        self._create_endpoint(name, spec, child)
        stable, candidate = rollout.releases(spec)
        self.models = {"stable": self._create_model(name, "stable", stable, spec, child)}
        if spec.has_candidate:
            self.models["candidate"] = self._create_model(name, "candidate", candidate, spec, child)
        self._create_deployment(name, spec, stable, candidate, child)
        self._create_monitoring(name, spec, child)
        self._create_logging(name, spec, child)

        self.endpoint_name = self.endpoint.name
        self.model_name = self.models["stable"].model_name
        # With no candidate the candidate slot is the stable model at 0% (not deployed twice:
        # a Vertex deployment always holds at least one replica, so "zero capacity" is absence).
        self.candidate_model_name = self.models.get("candidate", self.models["stable"]).model_name
        self.kms_key_id = self.key.id
        self.alert_topic = self.routing.page_channel
        self.rollback_trigger = self.rollback.topic.id
        self.rollback_alarms = [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
        self._finish()

    def _create_endpoint(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        self.endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint",
            gcp.vertex.AiEndpointArgs(
                name=endpoint_number(spec),
                display_name=resource_name("gcp", "default", spec.project, spec.environment.value),
                description=f"{spec.model.name} for {spec.project} {spec.environment.value}",
                location=spec.region,
                region=spec.region,
                encryption_spec=gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=self.key.id),
                # No request-response logging of our own: the model monitoring job turns on the
                # endpoint's logging into its own BigQuery tables (under the stack key, kept
                # for the data retention), and a second configuration would conflict (A16).
                labels=security.labels(spec),
            ),
            opts=pulumi.ResourceOptions.merge(
                self.key.after(opts),
                pulumi.ResourceOptions(protect=spec.retention.deletion_protection),
            ),
        )
        self.endpoint_path = pulumi.Output.concat(
            "projects/",
            self.project.project_id,
            f"/locations/{spec.region}/endpoints/",
            self.endpoint.name,
        )

    def _create_model(
        self,
        name: str,
        role: str,
        release: Release,
        spec: DeploymentSpec,
        opts: pulumi.ResourceOptions,
    ) -> VertexModel:
        return VertexModel(
            f"{name}-model-{role}",
            {
                "project": self.project.project_id,
                "region": spec.region,
                "display_name": resource_name(
                    "gcp", "default", spec.project, rollout.version_label(release.version)
                ),
                "image": release.image,
                "port": spec.model.port,
                "predict_route": spec.model.predict_path,
                "health_route": spec.model.health_path,
                "kms_key_name": self.key.id,
                "labels": security.labels(
                    spec, role=role, release=rollout.version_label(release.version)
                ),
            },
            opts=self.key.after(opts),
            api=self.vertex_api,
        )

    def _create_deployment(
        self,
        name: str,
        spec: DeploymentSpec,
        stable: Release,
        candidate: Release,
        opts: pulumi.ResourceOptions,
    ) -> None:
        cap = spec.capacity

        def slot(role: str, release: Release, min_replicas: int) -> dict[str, pulumi.Input[object]]:
            return {
                "deployed_id": deployed_model_id(spec, role, release),
                "model": self.models[role].model_name,
                "display_name": spec.model.name,
                "machine_type": machine_type(cap.cpu, cap.memory_mb),
                # Vertex keeps at least one replica of every deployed model.
                "min_replicas": max(1, min_replicas),
                "max_replicas": max(1, cap.max_instances),
                "target_cpu_percent": cap.target_cpu_percent,
                "service_account": self.serving_account.email,
            }

        slots = {"stable": slot("stable", stable, cap.min_instances)}
        if "candidate" in self.models:
            slots["candidate"] = slot("candidate", candidate, 1)
        self.deployment = VertexDeployment(
            f"{name}-deployment",
            {
                "project": self.project.project_id,
                "region": spec.region,
                "endpoint": self.endpoint_path,
                "slots": slots,
                "traffic": {"stable": stable.percent, "candidate": candidate.percent},
            },
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[self.endpoint])
            ),
            api=self.vertex_api,
        )
        # Without a candidate nothing carries the candidate id, so its alarms stay quiet.
        self.stable_id = deployed_model_id(spec, "stable", stable)
        self.candidate_id = deployed_model_id(spec, "candidate", candidate)

    def _create_monitoring(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        rules = serving_alarms(spec)
        metrics = monitoring.vertex_metrics(self.endpoint.name, self.stable_id, self.candidate_id)
        self.routing = monitoring.create_routing(name, spec, rules, opts)
        # Drift is a next-working-day matter: the TICKET tier and the alert emails.
        self.model_monitoring = VertexModelMonitoring(
            f"{name}-model-monitoring",
            {
                "project": self.project.project_id,
                "region": spec.region,
                "endpoint": self.endpoint_path,
                "display_name": resource_name(
                    "gcp", "default", spec.project, spec.environment.value, "drift"
                ),
                "deployed_ids": [self.stable_id]
                + ([self.candidate_id] if spec.has_candidate else []),
                "drift_threshold": DRIFT_THRESHOLD,
                "interval_hours": MONITOR_INTERVAL_HOURS,
                "sample_rate": MONITOR_SAMPLE_RATE,
                "emails": list(spec.alerts.emails),
                "notification_channels": self.routing.ids(Tier.TICKET),
                "kms_key_name": self.key.id,
                "log_ttl_days": spec.retention.data_days,
                "labels": security.labels(spec, role="drift"),
            },
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[self.deployment])
            ),
            api=self.vertex_api,
        )
        trigger = rollout.create_trigger(name, spec, self.project, self.key, opts)
        target = pulumi.Output.all(self.project.project_id, self.endpoint.name).apply(
            lambda v: Target(
                "vertex-endpoint", v[0], v[1], self.stable_id, self.candidate_id, spec.region
            )
        )
        self.alarms = monitoring.create_alert_policies(
            name,
            spec,
            rules,
            metrics,
            self.routing,
            opts,
            rollback_channels=[trigger.channel.name],
            target=target,
        )
        self.rollback = rollout.create_rollback(
            name,
            spec,
            self.project,
            self.key,
            trigger,
            target,
            {alarm_name(spec, r.key): self.alarms[r.signal] for r in rollback_alarms(spec)},
            self.routing,
            grant_target=lambda member: self._grant_endpoint(name, spec, member, opts),
            opts=opts,
        )
        scope = metrics.scopes[Scope.ALL]
        self.dashboard = monitoring.create_dashboard(
            name,
            spec,
            metrics,
            [r.signal for r in rules],
            {
                title: pulumi.Output.concat('metric.type = "', metric, '" AND ', scope)
                for title, metric in RESOURCE_METRICS.items()
            },
            opts,
        )

    def _create_logging(
        self, name: str, spec: DeploymentSpec, opts: pulumi.ResourceOptions
    ) -> None:
        """The endpoint's and the rollback function's logs, and the audit logs, kept per profile."""
        log_filter = pulumi.Output.all(self.endpoint.name, self.rollback.function.name).apply(
            lambda v: (
                f'(resource.type="aiplatform.googleapis.com/Endpoint" AND '
                f'resource.labels.endpoint_id="{v[0]}") OR '
                f'(resource.type="cloud_run_revision" AND '
                f'resource.labels.service_name="{v[1]}") OR ' + security.audit_log_filter()
            )
        )
        self.logs = security.create_log_store(name, spec, self.project, self.key, log_filter, opts)

    def _grant_endpoint(
        self,
        name: str,
        spec: DeploymentSpec,
        member: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """The bootstrap's custom role with the two permissions, granted on this endpoint only."""
        grant = gcp.vertex.AiEndpointIamMember(
            f"{name}-rollback-endpoint",
            gcp.vertex.AiEndpointIamMemberArgs(
                endpoint=self.endpoint.name,
                location=spec.region,
                project=self.project.project_id,
                role=rollout.rollback_role(spec, self.project),
                member=member,
            ),
            opts=opts,
        )
        return [grant]


PRIVATE_ENDPOINT_RULE = "gcp-vertex-serving-require-private-endpoint"
PRIVATE_ENDPOINT_REASON = (
    "the canary needs a traffic split, which a VPC-peered private endpoint does not support "
    "(one model per endpoint), and Private Service Connect needs a forwarding rule in the "
    "clients' VPC, which the pattern does not own; every prediction is IAM-authenticated "
    "(aiplatform.endpoints.predict, granted on this endpoint only); isolate the project with "
    "VPC Service Controls (docs/patterns/gcp.md, CKV2_GCP_33)"
)


def policy_waivers(name: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack config for this component: its audit logs are its project's bootstrap's (A21); its
    endpoint is public, IAM-authenticated, because the canary needs a traffic split (review
    appendix, CKV2_GCP_33)."""
    waivers = security.bootstrap_audit_waivers(name, Pattern.MANAGED_PLATFORM)
    waivers[PRIVATE_ENDPOINT_RULE] = {
        "waivers": [{"resource": f"{name}-endpoint", "reason": PRIVATE_ENDPOINT_REASON}]
    }
    return waivers
