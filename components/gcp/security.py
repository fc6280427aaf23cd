"""GCP security building blocks shared by every pattern: keys, identities, log sinks, audit logs.

Every pattern on GCP uses these, so the controls mean the same thing everywhere:

- one Cloud KMS key ring + key per stack, rotated every 90 days at most (policy rule 30), whose
  encrypter/decrypter role goes only to the Google service agents of the services the pattern
  actually uses (a table below, not a project-wide grant);
- one dedicated service account per role, granted roles on single resources wherever the service
  supports resource-level IAM, never owner/editor/service-account-user/token-creator on the project
  and never a key (policy rule 29);
- a CMEK log bucket with the profile's retention and a sink routing the stack's logs into it
  (policy rule 32; the data-access audit configs are the project's, owned by its bootstrap:
  they are authoritative per project and service, review A21).

Google service agents are never assumed to exist (review A3): the ones a data source can read
(Cloud Storage, BigQuery, the Cloud Logging CMEK account) are looked up, which also creates
them; the lazily created ones are created by the project's bootstrap
(``gcp.projects.ServiceIdentity``, components/gcp/prerequisites.py). The runtime service
accounts are the bootstrap's too, looked up by id, so a deployer acts as exactly those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
from pulumi import Output

from components.gcp import prerequisites
from components.gcp.release_watch import MARKER_FIELD
from components.naming import resource_name
from components.spec import DeploymentSpec, Pattern

# 90 days, the longest rotation policy rule 30 allows; the API wants seconds with an "s".
KEY_ROTATION_PERIOD = f"{90 * 24 * 3600}s"
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

# Services whose audit logs each stack routes into its own log bucket (the audit configs that
# turn them on are the bootstrap's).
AUDITED_SERVICES: tuple[str, ...] = prerequisites.BASE_AUDITED_SERVICES


def _storage_agent(project_id: pulumi.Input[str], opts: pulumi.InvokeOutputOptions) -> Output[str]:
    found = gcp.storage.get_project_service_account_output(project=project_id, opts=opts)
    return found.email_address


def _bigquery_agent(project_id: pulumi.Input[str], opts: pulumi.InvokeOutputOptions) -> Output[str]:
    return gcp.bigquery.get_default_service_account_output(project=project_id, opts=opts).email


def _logging_agent(project_id: pulumi.Input[str], opts: pulumi.InvokeOutputOptions) -> Output[str]:
    # The account that encrypts log buckets: `service-N@gcp-sa-logging` on new projects,
    # `cmek-pN@gcp-sa-logging` on older ones; only the project's settings say which.
    settings = gcp.logging.get_project_settings_output(project=project_id, opts=opts)
    return settings.kms_service_account_id


AgentLookup = Callable[[pulumi.Input[str], pulumi.InvokeOutputOptions], Output[str]]
# The agents a stack reads with a data source (the read also creates them).
AGENT_LOOKUPS: dict[str, AgentLookup] = {
    "storage": _storage_agent,
    "bigquery": _bigquery_agent,
    "logging": _logging_agent,
}


@dataclass(frozen=True)
class Project:
    """The project a stack deploys into: id from the `gcp:project` config, number for agents."""

    project_id: Output[str]
    number: Output[str]
    parent: pulumi.Resource
    _found: dict[str, Output[str]] = field(default_factory=dict, compare=False, repr=False)

    def agent(self, service: str) -> Output[str]:
        """The service agent's IAM member (``serviceAccount:...``) for ``service``.

        Read with a data source where one exists (once per stack); otherwise the agent the
        bootstrap generated (or the API's enablement created), by its documented address.
        """
        if service in AGENT_LOOKUPS:
            if service not in self._found:
                opts = pulumi.InvokeOutputOptions(parent=self.parent)
                self._found[service] = AGENT_LOOKUPS[service](self.project_id, opts)
            return self._found[service].apply(lambda email: f"serviceAccount:{email}")
        template = prerequisites.AGENT_EMAILS[service]
        return self.number.apply(lambda n: "serviceAccount:" + template.format(number=n))


def current_project(parent: pulumi.Resource) -> Project:
    """Look up the configured project once (id and number)."""
    result = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(parent=parent))
    return Project(
        project_id=result.project_id.apply(lambda p: p or ""),
        number=result.number.apply(lambda n: n or ""),
        parent=parent,
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

    def after(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """``opts`` plus a dependency on every grant of the key: a resource encrypted with it
        is created only once its service's agent may use the key (else the API refuses it)."""
        return pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=list(self.grants))
        )


def create_key(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    services: Iterable[str],
    opts: pulumi.ResourceOptions,
) -> StackKey:
    """A regional key ring and a rotated key usable only by the given services' agents.

    The key is protected by Pulumi when the profile asks for deletion protection (destroying it
    would shred the data).
    """
    ring = gcp.kms.KeyRing(
        f"{name}-keyring",
        gcp.kms.KeyRingArgs(name=key_ring_name(spec), location=spec.region),
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


def key_ring_name(spec: DeploymentSpec) -> str:
    """The stack's key ring. Key rings and keys can never be deleted in GCP, so a stack that is
    destroyed and created again needs a new ring: the name carries the stack's suffix (review
    A15). A stack created before suffixes existed keeps its ring's name."""
    parts = [spec.project, spec.environment.value]
    if spec.suffix is not None:
        parts.append(spec.suffix)
    return resource_name("gcp", "kms-key-ring", *parts)


@dataclass(frozen=True)
class Identity:
    """A runtime service account of the stack (created by the project's bootstrap)."""

    account_id: str
    email: Output[str]
    name: Output[str]  # projects/<project>/serviceAccounts/<email>, as build configs take it


def service_account(
    role: str, spec: DeploymentSpec, project: Project, parent: pulumi.Resource
) -> Identity:
    """The stack's identity for ``role``, looked up: bootstrap created it (no keys, ever), so the
    stack's deployer may act as it and as nothing else; a missing one fails the preview."""
    account_id = prerequisites.runtime_account_id(spec.project, spec.environment, role)
    found = gcp.serviceaccount.get_account_output(
        account_id=account_id,
        project=project.project_id,
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return Identity(account_id, found.email, found.name)


def member(account: Identity) -> Output[str]:
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


def enable_managed_service(
    logical: str,
    project: Project,
    service: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> gcp.projects.Service:
    """Enable a stack's own managed service (an Endpoints service, an API Gateway API) in the
    project: it answers only where it is enabled, and ESPv2 refuses every call with "API ... is
    not enabled for the project" until then (review A2). Destroying the stack leaves the
    enablement alone: other consumers may rely on it, and the service itself goes anyway."""
    return gcp.projects.Service(
        logical,
        gcp.projects.ServiceArgs(
            project=project.project_id, service=service, disable_on_destroy=False
        ),
        opts=opts,
    )


def default_exclusion_filter(log_filter: str) -> str:
    """What the stack keeps out of the _Default bucket: its routed logs, except rollback
    markers (review C6). The pipeline's guard reads markers over the project's logs
    (``release_watch.rolled_back``, ``entries:list`` on ``projects/<p>``), which searches the
    _Default bucket, not the stack's regional one; a marker line is a few hundred bytes of
    non-sensitive release metadata, so it stays in both."""
    return f"({log_filter}) AND NOT jsonPayload.{MARKER_FIELD}:*"


def audit_log_filter() -> str:
    """The Cloud Logging filter selecting the audit logs of the audited services."""
    services = " OR ".join(f'"{s}"' for s in AUDITED_SERVICES)
    return f'(logName:"cloudaudit.googleapis.com" AND protoPayload.serviceName=({services}))'


@dataclass(frozen=True)
class LogStore:
    """Where the stack's logs go: a CMEK log bucket with the profile's retention, its sink, and
    the exclusion keeping the same logs out of the _Default bucket (review C6)."""

    bucket: gcp.logging.ProjectBucketConfig
    sink: gcp.logging.ProjectSink
    default_exclusion: gcp.logging.ProjectExclusion


def create_log_store(
    name: str,
    spec: DeploymentSpec,
    project: Project,
    key: StackKey,
    log_filter: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> LogStore:
    """A log bucket (retention = profile, CMEK), a sink for ``log_filter``, and an exclusion of
    ``log_filter`` on the project's _Default sink.

    The bucket must be in the key's region for CMEK, which is why both use ``spec.region``.
    Without the exclusion the _Default sink still stores every routed entry in the _Default
    bucket, under a Google-managed key and for 30 days (review C6): the CMEK bucket would hold a
    copy, not the logs. The exclusions API adds a named exclusion to the _Default sink, so each
    stack of a project owns only its own (up to ten per project) and none rewrites the sink.
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
        opts=key.after(opts),
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
    # Only after the sink exists, so no entry is ever dropped from both places.
    default_exclusion = gcp.logging.ProjectExclusion(
        f"{name}-log-default-exclusion",
        gcp.logging.ProjectExclusionArgs(
            project=project.project_id,
            name=resource_name(
                "gcp", "default", spec.project, spec.environment.value, "routed-logs"
            ),
            description=(
                f"Logs of {spec.project} {spec.environment.value} are kept in its CMEK log "
                "bucket only"
            ),
            filter=pulumi.Output.from_input(log_filter).apply(default_exclusion_filter),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[sink])),
    )
    return LogStore(bucket, sink, default_exclusion)


AUDIT_RULE = "gcp-audit-logs-require-ai-and-storage"


def bootstrap_audit_waivers(
    name: str, pattern: Pattern
) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Pack-config waivers saying that the stack's data-access audit logs are the bootstrap's.

    An IAMAuditConfig is authoritative per (project, service): the project's bootstrap owns one
    per service for every stack of the project (review A21). The pack's audit rule sees one
    stack at a time, so the stack's config names each of its resources the rule asks about,
    with the reason; the bootstrap itself passes the rule with its own audit configs.
    """
    return {
        AUDIT_RULE: {
            "waivers": [
                {
                    "resource": f"{name}-{suffix}",
                    "reason": (
                        f"{service} data access audit logs are turned on once per project by "
                        "the bootstrap's IAMAuditConfig (authoritative per project and service, "
                        "so no stack may own it): see bootstrap/README.md"
                    ),
                }
                for suffix, service in prerequisites.AUDITED_RESOURCES[pattern].items()
            ]
        }
    }
