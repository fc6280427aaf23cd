"""GCP security building blocks shared by every pattern: keys, identities, log sinks, audit logs.

Every pattern on GCP uses these, so the controls mean the same thing everywhere:

- one Cloud KMS key ring + key per stack, rotated every 90 days at most (policy rule 30), whose
  encrypter/decrypter role goes only to the Google service agents of the services the pattern
  actually uses (a table below, not a project-wide grant);
- one dedicated service account per role, granted roles on single resources wherever the service
  supports resource-level IAM, never owner/editor/service-account-user/token-creator on the project
  and never a key (policy rule 29);
- a CMEK log bucket with the profile's retention and a sink routing the stack's logs into it, and
  data-access audit logs for the services the stack uses (policy rule 32).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.naming import resource_name
from components.spec import DeploymentSpec

# 90 days, the longest rotation policy rule 30 allows; the API wants seconds with an "s".
KEY_ROTATION_PERIOD = f"{90 * 24 * 3600}s"
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

# Google-managed service agents by the service that needs them: each encrypts or decrypts with
# our key on our behalf (or publishes alerts), and gets exactly that, nothing else.
SERVICE_AGENTS: dict[str, str] = {
    "run": "service-{number}@serverless-robot-prod.iam.gserviceaccount.com",
    "aiplatform": "service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com",
    "pubsub": "service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com",
    "logging": "service-{number}@gcp-sa-logging.iam.gserviceaccount.com",
    "storage": "service-{number}@gs-project-accounts.iam.gserviceaccount.com",
    "artifactregistry": "service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "cloudfunctions": "service-{number}@gcf-admin-robot.iam.gserviceaccount.com",
    "bigquery": "bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
    "firestore": "service-{number}@gcp-sa-firestore.iam.gserviceaccount.com",
    "monitoring-notification": (
        "service-{number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
    ),
}

# Services whose data-access audit logs every stack turns on (policy rule 32).
AUDITED_SERVICES: tuple[str, ...] = (
    "aiplatform.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
)
AUDIT_LOG_TYPES: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


@dataclass(frozen=True)
class Project:
    """The project a stack deploys into: id from the `gcp:project` config, number for agents."""

    project_id: pulumi.Output[str]
    number: pulumi.Output[str]

    def agent(self, service: str) -> pulumi.Output[str]:
        """The service agent's IAM member (``serviceAccount:...``) for ``service``."""
        template = SERVICE_AGENTS[service]
        return self.number.apply(lambda n: "serviceAccount:" + template.format(number=n))


def current_project(parent: pulumi.Resource) -> Project:
    """Look up the configured project once (id and number)."""
    result = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(parent=parent))
    return Project(
        project_id=result.project_id.apply(lambda p: p or ""),
        number=result.number.apply(lambda n: n or ""),
    )


def labels(spec: DeploymentSpec, **extra: str) -> dict[str, str]:
    """GCP labels: the spec's standard tags plus ``extra`` (already lowercase and short)."""
    return {**spec.standard_tags(), **extra}


@dataclass(frozen=True)
class StackKey:
    """The stack's customer-managed key and the grants made on it."""

    ring: gcp.kms.KeyRing
    key: gcp.kms.CryptoKey
    grants: tuple[gcp.kms.CryptoKeyIAMMember, ...]

    @property
    def id(self) -> pulumi.Output[str]:
        """The key's full resource name (``projects/.../cryptoKeys/...``)."""
        return self.key.id


def create_key(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    services: Iterable[str],
    opts: pulumi.ResourceOptions,
) -> StackKey:
    """A regional key ring and a rotated key usable only by the given services' agents.

    Key rings cannot be deleted in GCP, so the name includes the stack; the key is protected by
    Pulumi when the profile asks for deletion protection (destroying it would shred the data).
    """
    ring = gcp.kms.KeyRing(
        f"{name}-keyring",
        gcp.kms.KeyRingArgs(
            name=resource_name("gcp", "kms-key-ring", spec.project, spec.environment.value),
            location=spec.region,
        ),
        opts=opts,
    )
    key = gcp.kms.CryptoKey(
        f"{name}-key",
        gcp.kms.CryptoKeyArgs(
            name=resource_name("gcp", "default", spec.project, "cmek"),
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION_PERIOD,
            labels=labels(spec),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=spec.retention.deletion_protection)
        ),
    )
    grants = tuple(
        gcp.kms.CryptoKeyIAMMember(
            f"{name}-key-{service}",
            gcp.kms.CryptoKeyIAMMemberArgs(
                crypto_key_id=key.id, role=ENCRYPTER_DECRYPTER, member=project.agent(service)
            ),
            opts=opts,
        )
        for service in dict.fromkeys(services)  # de-duplicated, order kept
    )
    return StackKey(ring, key, grants)


def service_account(
    name: str, role: str, spec: DeploymentSpec, description: str, opts: pulumi.ResourceOptions
) -> gcp.serviceaccount.Account:
    """A dedicated identity for one role of one stack (no keys are ever created for it)."""
    return gcp.serviceaccount.Account(
        f"{name}-sa-{role}",
        gcp.serviceaccount.AccountArgs(
            account_id=resource_name(
                "gcp", "service-account", spec.project[:14], spec.environment.value[:4], role
            ),
            display_name=f"{spec.project} {spec.environment.value} {role}",
            description=description,
        ),
        opts=opts,
    )


def member(account: gcp.serviceaccount.Account) -> pulumi.Output[str]:
    """``serviceAccount:<email>`` for an account."""
    return account.email.apply(lambda e: f"serviceAccount:{e}")


def project_roles(
    name: str,
    project: Project,
    grants: Mapping[str, Sequence[str]],
    opts: pulumi.ResourceOptions,
    members: Mapping[str, pulumi.Input[str]],
) -> list[gcp.projects.IAMMember]:
    """Project-level grants of narrow roles (``{account role: [roles]}``).

    Only for roles that have no resource-level equivalent (metric writes and reads); anything
    broad is forbidden by policy rule 29 and never listed by a caller.
    """
    out = []
    for who, roles in grants.items():
        for role in roles:
            short = role.rsplit("/", 1)[-1].replace(".", "-").lower()
            out.append(
                gcp.projects.IAMMember(
                    f"{name}-iam-{who}-{short}",
                    gcp.projects.IAMMemberArgs(
                        project=project.project_id, role=role, member=members[who]
                    ),
                    opts=opts,
                )
            )
    return out


def audit_log_filter() -> str:
    """The Cloud Logging filter selecting the audit logs of the audited services."""
    services = " OR ".join(f'"{s}"' for s in AUDITED_SERVICES)
    return f'(logName:"cloudaudit.googleapis.com" AND protoPayload.serviceName=({services}))'


@dataclass(frozen=True)
class LogStore:
    """Where the stack's logs go: a CMEK log bucket with the profile's retention, and its sink."""

    bucket: gcp.logging.ProjectBucketConfig
    sink: gcp.logging.ProjectSink
    audit: tuple[gcp.projects.IAMAuditConfig, ...]


def create_log_store(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    key: StackKey,
    log_filter: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> LogStore:
    """A log bucket (retention = profile, CMEK), a sink for ``log_filter`` and audit configs.

    The bucket must be in the key's region for CMEK, which is why both use ``spec.region``.
    """
    bucket = gcp.logging.ProjectBucketConfig(
        f"{name}-logs",
        gcp.logging.ProjectBucketConfigArgs(
            project=project.project_id,
            location=spec.region,
            bucket_id=resource_name("gcp", "default", spec.project, spec.environment.value, "logs"),
            retention_days=spec.retention.log_days,
            cmek_settings=gcp.logging.ProjectBucketConfigCmekSettingsArgs(kms_key_name=key.id),
            description=f"Logs of {spec.project} {spec.environment.value}",
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=list(key.grants))
        ),
    )
    sink = gcp.logging.ProjectSink(
        f"{name}-log-sink",
        gcp.logging.ProjectSinkArgs(
            name=resource_name("gcp", "default", spec.project, spec.environment.value, "sink"),
            destination=pulumi.Output.concat("logging.googleapis.com/", bucket.id),
            filter=log_filter,
            unique_writer_identity=True,
        ),
        opts=opts,
    )
    return LogStore(bucket, sink, audit_configs(name, project, AUDITED_SERVICES, opts))


def audit_configs(
    name: str, project: Project, services: Iterable[str], opts: pulumi.ResourceOptions
) -> tuple[gcp.projects.IAMAuditConfig, ...]:
    """Admin and data-access audit logs for ``services`` (``pubsub.googleapis.com``, ...).

    An audit config is authoritative per (project, service): list each service once per stack.
    """
    return tuple(
        gcp.projects.IAMAuditConfig(
            f"{name}-audit-{service.split('.')[0]}",
            gcp.projects.IAMAuditConfigArgs(
                project=project.project_id,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=log_type)
                    for log_type in AUDIT_LOG_TYPES
                ],
            ),
            opts=opts,
        )
        for service in services
    )


def private_bucket(
    name: str,
    role: str,
    spec: DeploymentSpec,
    key: StackKey,
    opts: pulumi.ResourceOptions,
) -> gcp.storage.Bucket:
    """A private, CMEK-encrypted bucket with uniform access and data retention from the profile."""
    return gcp.storage.Bucket(
        f"{name}-{role}",
        gcp.storage.BucketArgs(
            location=spec.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key.id),
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        age=spec.retention.data_days
                    ),
                )
            ],
            force_destroy=not spec.retention.deletion_protection,
            labels=labels(spec, role=role),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=list(key.grants))
        ),
    )
