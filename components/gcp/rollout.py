"""Canary releases and automatic rollback on GCP, shared by every serving pattern.

Neither Vertex AI nor a load balancer's weighted split rolls itself back, so both patterns use
the same machinery: the rollback alert policies notify a Pub/Sub channel, whose topic triggers a
small Cloud Function (gen2, code in ``rollback_fn/``) that re-checks the candidate's metrics and
resets the traffic split to the stable version. The function's identity may list open alerts
and time series (the bootstrap's reader role) and change only the one traffic target it guards
(a caller-provided, resource-scoped grant). The function and its build are the blocks of
components/gcp/functions.py (the embedded device API's functions are built the same way).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
from pulumi import Output

from components.alarms import Tier
from components.gcp import functions, monitoring, prerequisites, security
from components.gcp.release_watch import Target
from components.gcp.security import Project, StackKey
from components.naming import resource_name
from components.rollout import release, settings_for, traffic_split
from components.spec import DeploymentSpec

ROLLBACK_FN_DIR = Path(__file__).resolve().parent / "rollback_fn"
# Shipped beside the function's own files: the one decision (components/rollout.py) and the
# queries and drain the pipeline's watch uses (release_watch.py), imported there by these names.
SHIPPED_MODULES: dict[str, Path] = {
    "rollout_decision.py": Path(__file__).resolve().parents[1] / "rollout.py",
    "release_watch.py": Path(__file__).resolve().parent / "release_watch.py",
}
# Fresh data the function decides on: the last five minutes of both versions.
WINDOW_SECONDS = 300
ROLLBACK_ENTRY_POINT = "on_alert"
# Services whose agents use the stack key for the rollback path (topic, bucket, image, function).
ROLLBACK_KEY_USERS: tuple[str, ...] = (
    "pubsub",
    "storage",
    "artifactregistry",
    "cloudfunctions",
    "run",
)


@dataclass(frozen=True)
class Release:
    """One version of the model: what it is called and which image serves it."""

    version: str
    image: str
    percent: int


def releases(spec: DeploymentSpec) -> tuple[Release, Release]:
    """(stable, candidate). With no candidate the candidate slot runs the stable model at 0%,
    so every environment always has the canary path and it is exercised on every deploy."""
    stable_pct, candidate_pct = traffic_split(spec)
    stable = Release(spec.model.version, spec.model.serving_image, stable_pct)
    candidate = Release(
        spec.rollout.candidate_version or spec.model.version,
        spec.rollout.candidate_image or spec.model.serving_image,
        candidate_pct,
    )
    return stable, candidate


def version_label(version: str) -> str:
    """A version as a GCP label/name fragment (lowercase letters, digits, dashes)."""
    return resource_name("gcp", "default", "v", version.replace(".", "-").replace("_", "-"))


def function_archive() -> pulumi.AssetArchive:
    """The function's source: the rollback_fn files plus the shipped modules at its root."""
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        path.relative_to(ROLLBACK_FN_DIR).as_posix(): pulumi.FileAsset(str(path))
        for path in sorted(ROLLBACK_FN_DIR.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.relative_to(ROLLBACK_FN_DIR).as_posix() != "__init__.py"
    }
    for name, path in SHIPPED_MODULES.items():
        assets[name] = pulumi.FileAsset(str(path))
    return pulumi.AssetArchive(assets)


def archive_digest() -> str:
    """A short digest of every file the function's archive ships."""
    digest = hashlib.sha256()
    for path in sorted(ROLLBACK_FN_DIR.rglob("*.py")) + sorted(SHIPPED_MODULES.values()):
        if "__pycache__" not in path.parts:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def rollback_role(spec: DeploymentSpec, project: Project) -> Output[str]:
    """The rollback function's custom role (only the permissions of ``ROLLBACK_ROLES``), as IAM
    grants take it. The project's bootstrap creates it: a deployer that could edit a role it may
    grant could widen that role and grant it to itself."""
    return project.project_id.apply(
        lambda p: prerequisites.rollback_role_name(p, spec.project, spec.environment)
    )


def rollback_reader_role(spec: DeploymentSpec, project: Project) -> Output[str]:
    """The function's Cloud Monitoring reader role (``prerequisites.ROLLBACK_READER``: the
    Alerts API and PromQL reads its code makes, nothing else), created by the bootstrap."""
    return project.project_id.apply(
        lambda p: prerequisites.rollback_reader_role_name(p, spec.project, spec.environment)
    )


def rollback_repository_id(spec: DeploymentSpec) -> str:
    """The function's image repository: one per stack. Stacks created before suffixes existed
    keep their (environment-less) name; new ones carry the environment, since the three
    environments may share one project."""
    if spec.suffix is None:
        return resource_name("gcp", "default", spec.project, "rollback-fn")
    return resource_name("gcp", "default", spec.project, spec.environment.value, "rollback-fn")


@dataclass(frozen=True)
class RollbackTrigger:
    """Where the rollback alert policies notify: a Pub/Sub channel and its topic."""

    topic: gcp.pubsub.Topic
    channel: gcp.monitoring.NotificationChannel


@dataclass(frozen=True)
class Rollback:
    """The rollback path: alerts -> channel -> topic -> function -> traffic target."""

    topic: gcp.pubsub.Topic
    channel: gcp.monitoring.NotificationChannel
    function: gcp.cloudfunctionsv2.Function
    account: security.Identity
    reports: Mapping[Tier, gcp.monitoring.AlertPolicy]


# Grants the rollback identity needs on the guarded target: (member) -> resources.
TargetGrant = Callable[[pulumi.Output[str]], Sequence[pulumi.Resource]]


def create_trigger(
    name: str, spec: DeploymentSpec, project: Project, key: StackKey, opts: pulumi.ResourceOptions
) -> RollbackTrigger:
    """The topic the rollback policies publish to, and their notification channel.

    Only Cloud Monitoring's notification agent is granted publish on the topic (B5). Principals
    with project-wide publish (Editor, a project-level Pub/Sub Publisher) still can: IAM cannot
    take an inherited grant away from one topic; an org deny policy or a VPC-SC perimeter can
    (docs/patterns/gcp.md). The function therefore trusts no message: it acts only on one of its
    stack's policies that the Alerts API shows open (E6).
    """
    topic = gcp.pubsub.Topic(
        f"{name}-rollback-topic",
        gcp.pubsub.TopicArgs(
            kms_key_name=key.id,
            message_retention_duration=f"{min(spec.retention.log_days, 31) * 86400}s",
            labels=security.labels(spec, role="rollback"),
        ),
        opts=key.after(opts),
    )
    publisher = gcp.pubsub.TopicIAMMember(
        f"{name}-rollback-topic-publisher",
        gcp.pubsub.TopicIAMMemberArgs(
            topic=topic.id,
            role="roles/pubsub.publisher",
            member=project.agent("monitoring-notification"),
        ),
        opts=opts,
    )
    channel = gcp.monitoring.NotificationChannel(
        f"{name}-rollback-channel",
        gcp.monitoring.NotificationChannelArgs(
            type="pubsub",
            display_name=f"{spec.project} {spec.environment.value} automatic rollback",
            labels={"topic": topic.id},
            user_labels=security.labels(spec, role="rollback"),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[publisher])),
    )
    return RollbackTrigger(topic, channel)


def create_rollback(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    key: StackKey,
    trigger: RollbackTrigger,
    target: pulumi.Output[Target],
    policies: Mapping[str, gcp.monitoring.AlertPolicy],
    routing: monitoring.AlertRouting,
    grant_target: TargetGrant,
    opts: pulumi.ResourceOptions,
) -> Rollback:
    """Build the automatic rollback for one traffic target.

    ``policies`` are the stack's rollback alert policies by exact display name: the function
    accepts only incidents of these (their ids go into its config). ``grant_target`` gives the
    function's identity exactly the permission to change that one target. Its reports reach
    ``routing``'s page and ticket tiers through log-match alert policies.
    """
    topic, channel = trigger.topic, trigger.channel
    parent = project.parent
    runtime = security.service_account("rollback", spec, project, parent)
    runtime_member = security.member(runtime)
    build = functions.create_function_build(
        name,
        "rollback",
        spec,
        project,
        key,
        security.service_account("rollback-build", spec, project, parent),
        opts,
        repository_logical=f"{name}-rollback-images",
        repository_id=rollback_repository_id(spec),
        label_role="rollback",
    )
    # The function's Cloud Monitoring reads (alerts, PromQL), exactly: the bootstrap's reader
    # role. It replaced roles/monitoring.viewer under a new logical name (a grant's role is
    # part of its identity, so the binding is replaced either way).
    reads = gcp.projects.IAMMember(
        f"{name}-rollback-iam-runtime-reads",
        gcp.projects.IAMMemberArgs(
            project=project.project_id,
            role=rollback_reader_role(spec, project),
            member=runtime_member,
        ),
        opts=opts,
    )
    target_grants = list(grant_target(runtime_member))

    config = pulumi.Output.all(
        target=target.apply(asdict),
        policies=pulumi.Output.all(
            **{display: policy.name for display, policy in policies.items()}
        ),
    ).apply(lambda v: _function_config(spec, v))

    # The Pub/Sub trigger invokes the function's service as the runtime identity: the invoker
    # grant is its, on that one service only.
    function = functions.create_function(
        f"{name}-rollback",
        spec,
        key,
        build,
        opts,
        function_name=resource_name(
            "gcp", "default", spec.project, spec.environment.value, "rollback"
        ),
        description="Resets the traffic split to the stable model when a rollback alarm fires",
        source=functions.Source(function_archive(), f"rollback-fn-{archive_digest()}.zip"),
        entry_point=ROLLBACK_ENTRY_POINT,
        runtime=functions.Runtime(
            account=runtime,
            ingress="ALLOW_INTERNAL_ONLY",
            # One instance: two concurrent rollbacks of the same split gain nothing.
            max_instances=1,
            timeout_seconds=120,
            environment={"ROLLBACK_CONFIG": config},
        ),
        invoker=runtime_member,
        label_role="rollback",
        event_trigger=gcp.cloudfunctionsv2.FunctionEventTriggerArgs(
            trigger_region=spec.region,
            event_type="google.cloud.pubsub.topic.v1.messagePublished",
            pubsub_topic=topic.id,
            retry_policy="RETRY_POLICY_RETRY",
            service_account_email=runtime.email,
        ),
        after=[reads, *target_grants],
    ).function
    reports = monitoring.create_report_policies(name, spec, routing, function.name, opts)
    return Rollback(topic, channel, function, runtime, reports)


def _function_config(spec: DeploymentSpec, values: Mapping[str, object]) -> str:
    """The function's ROLLBACK_CONFIG: which policies it trusts, what it guards, the rule."""
    r = release(spec)
    return json.dumps(
        {
            "auto_close_seconds": monitoring.AUTO_CLOSE_SECONDS,
            "policies": values["policies"],
            "target": values["target"],
            "window_seconds": WINDOW_SECONDS,
            "settings": asdict(settings_for(spec)),
            "release": {
                "stable_version": r.stable_version,
                "candidate_version": r.candidate_version,
            },
        },
        sort_keys=True,
    )
