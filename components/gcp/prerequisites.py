"""What a GCP stack needs from its project's bootstrap, as data both sides read.

A stack cannot create what must exist before its first `pulumi up` or what it shares with the
other stacks of its project: the APIs, the lazily created Google service agents, the audit
configs (authoritative per project and service), its runtime service accounts (so its deployer
may act as exactly those) and the grants on them (a signer's Token Creator on itself, so its
deployer never edits a service account's policy), and the custom role of its rollback function
(so its deployer never edits a role it may grant). ``components/gcp/bootstrap.py`` creates them
from these tables; the stacks look them up by the same names; the journey and seam tests hold
both sides to them.

The deployer's permissions come from the same place: a table from each resource type (and each
data source) the stacks use to the service API it needs and the predefined, service-scoped role
that may create it.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.llm import LlmMode
from components.naming import resource_name
from components.spec import Environment, Pattern


@dataclass(frozen=True)
class Requirement:
    """What one resource type or data source needs in the project: APIs, and deployer roles."""

    apis: tuple[str, ...]
    roles: tuple[str, ...]


KMS = Requirement(("cloudkms.googleapis.com",), ("roles/cloudkms.admin",))
STORAGE = Requirement(("storage.googleapis.com",), ("roles/storage.admin",))
PUBSUB = Requirement(("pubsub.googleapis.com",), ("roles/pubsub.admin",))
RUN = Requirement(("run.googleapis.com",), ("roles/run.admin",))
REGISTRY = Requirement(("artifactregistry.googleapis.com",), ("roles/artifactregistry.admin",))
LOAD_BALANCER = Requirement(("compute.googleapis.com",), ("roles/compute.loadBalancerAdmin",))
EDGE_SECURITY = Requirement(("compute.googleapis.com",), ("roles/compute.securityAdmin",))
ENDPOINTS = Requirement(
    (
        "servicemanagement.googleapis.com",
        "servicecontrol.googleapis.com",
        "endpoints.googleapis.com",
    ),
    ("roles/servicemanagement.admin",),
)
LOGS = Requirement(("logging.googleapis.com",), ("roles/logging.configWriter",))
VERTEX = Requirement(("aiplatform.googleapis.com",), ("roles/aiplatform.admin",))
# An API Gateway API is a managed service of the project, which the stack then enables in it
# (``gcp:projects/service:Service``): enabling a managed service needs
# servicemanagement.services.bind on it besides serviceusage.services.enable on the project.
# The API Gateway admin role holds apigateway.* only; Service Consumer holds only that bind (on
# the services this project produces: the stack's own API).
APIGATEWAY = Requirement(
    (
        "apigateway.googleapis.com",
        "servicemanagement.googleapis.com",
        "servicecontrol.googleapis.com",
    ),
    ("roles/apigateway.admin", "roles/servicemanagement.serviceConsumer"),
)
FIRESTORE = Requirement(("firestore.googleapis.com",), ("roles/datastore.owner",))
# Project-level grants go through the conditioned Project IAM Admin (see PROJECT_GRANTS).
PROJECT_IAM = Requirement(
    ("cloudresourcemanager.googleapis.com",), ("roles/resourcemanager.projectIamAdmin",)
)

# Every resource type a GCP stack creates -> its requirement. The seam test captures every
# pattern's stacks and fails on a type missing here.
TYPE_REQUIREMENTS: dict[str, Requirement] = {
    "gcp:kms/keyRing:KeyRing": KMS,
    "gcp:kms/cryptoKey:CryptoKey": KMS,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": KMS,
    "gcp:storage/bucket:Bucket": STORAGE,
    "gcp:storage/bucketIAMMember:BucketIAMMember": STORAGE,
    "gcp:storage/bucketObject:BucketObject": STORAGE,
    # A bucket notification publishes to a topic: Cloud Storage and Pub/Sub both.
    "gcp:storage/notification:Notification": Requirement(
        ("storage.googleapis.com", "pubsub.googleapis.com"), ("roles/storage.admin",)
    ),
    "gcp:pubsub/topic:Topic": PUBSUB,
    "gcp:pubsub/topicIAMMember:TopicIAMMember": PUBSUB,
    "gcp:pubsub/subscription:Subscription": PUBSUB,
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": PUBSUB,
    "gcp:cloudrunv2/service:Service": RUN,
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": RUN,
    # Gen2 functions are built by Cloud Build into Artifact Registry, run on Cloud Run and are
    # triggered through Eventarc: all five APIs must be on.
    "gcp:cloudfunctionsv2/function:Function": Requirement(
        (
            "cloudfunctions.googleapis.com",
            "cloudbuild.googleapis.com",
            "artifactregistry.googleapis.com",
            "run.googleapis.com",
            "eventarc.googleapis.com",
        ),
        ("roles/cloudfunctions.admin",),
    ),
    "gcp:artifactregistry/repository:Repository": REGISTRY,
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": REGISTRY,
    "gcp:compute/backendService:BackendService": LOAD_BALANCER,
    "gcp:compute/globalAddress:GlobalAddress": LOAD_BALANCER,
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": LOAD_BALANCER,
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": LOAD_BALANCER,
    "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup": LOAD_BALANCER,
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": LOAD_BALANCER,
    "gcp:compute/uRLMap:URLMap": LOAD_BALANCER,
    "gcp:compute/sSLPolicy:SSLPolicy": EDGE_SECURITY,
    "gcp:compute/securityPolicy:SecurityPolicy": EDGE_SECURITY,
    "gcp:endpoints/service:Service": ENDPOINTS,
    "gcp:endpoints/serviceIamMember:ServiceIamMember": ENDPOINTS,
    # The stack enables its own Cloud Endpoints service in its project (A2): only the stack
    # knows the service, and ESPv2 refuses calls until it is enabled.
    "gcp:projects/service:Service": Requirement(
        ("serviceusage.googleapis.com",), ("roles/serviceusage.serviceUsageAdmin",)
    ),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": LOGS,
    "gcp:logging/projectSink:ProjectSink": LOGS,
    # The stack's exclusion on the _Default sink (review C6).
    "gcp:logging/projectExclusion:ProjectExclusion": LOGS,
    "gcp:monitoring/alertPolicy:AlertPolicy": Requirement(
        ("monitoring.googleapis.com",), ("roles/monitoring.alertPolicyEditor",)
    ),
    "gcp:monitoring/notificationChannel:NotificationChannel": Requirement(
        ("monitoring.googleapis.com",), ("roles/monitoring.notificationChannelEditor",)
    ),
    # The health route's uptime check (api-first, contract 4).
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": Requirement(
        ("monitoring.googleapis.com",), ("roles/monitoring.uptimeCheckConfigEditor",)
    ),
    "gcp:monitoring/dashboard:Dashboard": Requirement(
        ("monitoring.googleapis.com",), ("roles/monitoring.dashboardEditor",)
    ),
    "gcp:projects/iAMMember:IAMMember": PROJECT_IAM,
    # The embedded pattern's device API: API Gateway (its managed service reports to Service
    # Control) and the telemetry's log-based metrics. The download function's grant on its own
    # account (Token Creator on itself, to sign URLs with signBlob) is the bootstrap's
    # (SELF_SIGNERS): no stack type grants on a service account, so no deployer needs
    # iam.serviceAccounts.setIamPolicy, which no project-level role gives narrowly.
    "gcp:apigateway/api:Api": APIGATEWAY,
    "gcp:apigateway/apiConfig:ApiConfig": APIGATEWAY,
    "gcp:apigateway/gateway:Gateway": APIGATEWAY,
    "gcp:logging/metric:Metric": LOGS,
    "gcp:firestore/database:Database": FIRESTORE,
    "gcp:firestore/field:Field": FIRESTORE,
    "gcp:cloudscheduler/job:Job": Requirement(
        ("cloudscheduler.googleapis.com",), ("roles/cloudscheduler.admin",)
    ),
    "gcp:vertex/aiEndpoint:AiEndpoint": VERTEX,
    "gcp:vertex/aiEndpointIamMember:AiEndpointIamMember": VERTEX,
    # The dynamic providers call the Vertex AI API with the deployer's own credentials; the
    # monitoring job keeps its request logs in BigQuery.
    "pulumi-python:dynamic/gcp:VertexModel": VERTEX,
    "pulumi-python:dynamic/gcp:VertexDeployment": VERTEX,
    "pulumi-python:dynamic/gcp:VertexModelMonitoring": Requirement(
        ("aiplatform.googleapis.com", "bigquery.googleapis.com"), ("roles/aiplatform.admin",)
    ),
    # An LLM stack's guardrail (components/gcp/guardrail.py); the floor setting is the
    # bootstrap's (one per project).
    "gcp:modelarmor/template:Template": Requirement(
        ("modelarmor.googleapis.com",), ("roles/modelarmor.admin",)
    ),
    "gcp:modelarmor/floorsetting:Floorsetting": Requirement(
        ("modelarmor.googleapis.com",), ("roles/modelarmor.floorSettingsAdmin",)
    ),
}

# Data sources (invokes) the stacks call -> their requirement (read-only roles).
INVOKE_REQUIREMENTS: dict[str, Requirement] = {
    "gcp:organizations/getProject:getProject": Requirement(
        ("cloudresourcemanager.googleapis.com",), ("roles/browser",)
    ),
    "gcp:serviceaccount/getAccount:getAccount": Requirement(
        ("iam.googleapis.com",), ("roles/iam.serviceAccountViewer",)
    ),
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": STORAGE,
    "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount": Requirement(
        ("bigquery.googleapis.com",), ("roles/bigquery.metadataViewer",)
    ),
    "gcp:logging/getProjectSettings:getProjectSettings": LOGS,
}

# The resource types of each pattern's stacks (every environment, with and without a
# candidate): what its deployer is granted for. The seam test holds this to the captures.
_COMMON_TYPES: frozenset[str] = frozenset(
    {
        "gcp:kms/keyRing:KeyRing",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
        "gcp:storage/bucket:Bucket",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:pubsub/topic:Topic",
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
        "gcp:cloudrunv2/service:Service",
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        "gcp:logging/projectBucketConfig:ProjectBucketConfig",
        "gcp:logging/projectSink:ProjectSink",
        "gcp:logging/projectExclusion:ProjectExclusion",
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "gcp:monitoring/notificationChannel:NotificationChannel",
        "gcp:monitoring/dashboard:Dashboard",
        "gcp:projects/iAMMember:IAMMember",
    }
)
_ROLLBACK_TYPES: frozenset[str] = frozenset(
    {
        "gcp:storage/bucketObject:BucketObject",
        "gcp:artifactregistry/repository:Repository",
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        "gcp:cloudfunctionsv2/function:Function",
    }
)
PATTERN_RESOURCE_TYPES: dict[Pattern, frozenset[str]] = {
    Pattern.API_FIRST: _COMMON_TYPES
    | _ROLLBACK_TYPES
    | {
        "gcp:compute/backendService:BackendService",
        "gcp:compute/globalAddress:GlobalAddress",
        "gcp:compute/globalForwardingRule:GlobalForwardingRule",
        "gcp:compute/managedSslCertificate:ManagedSslCertificate",
        "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup",
        "gcp:compute/targetHttpsProxy:TargetHttpsProxy",
        "gcp:compute/uRLMap:URLMap",
        "gcp:compute/sSLPolicy:SSLPolicy",
        "gcp:compute/securityPolicy:SecurityPolicy",
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "gcp:endpoints/service:Service",
        "gcp:endpoints/serviceIamMember:ServiceIamMember",
        "gcp:projects/service:Service",
    },
    Pattern.EVENT_DRIVEN: _COMMON_TYPES
    | {
        "gcp:storage/notification:Notification",
        "gcp:pubsub/subscription:Subscription",
        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
        "gcp:firestore/database:Database",
        "gcp:firestore/field:Field",
        "gcp:cloudscheduler/job:Job",
    },
    Pattern.MANAGED_PLATFORM: (_COMMON_TYPES - {"gcp:cloudrunv2/service:Service"})
    | _ROLLBACK_TYPES
    | {
        "gcp:vertex/aiEndpoint:AiEndpoint",
        "gcp:vertex/aiEndpointIamMember:AiEndpointIamMember",
        "pulumi-python:dynamic/gcp:VertexModel",
        "pulumi-python:dynamic/gcp:VertexDeployment",
        "pulumi-python:dynamic/gcp:VertexModelMonitoring",
    },
    Pattern.EMBEDDED: (
        _COMMON_TYPES
        - {
            "gcp:cloudrunv2/service:Service",
            "gcp:pubsub/topic:Topic",
            "gcp:pubsub/topicIAMMember:TopicIAMMember",
            "gcp:monitoring/dashboard:Dashboard",
        }
    )
    | _ROLLBACK_TYPES
    | {
        "gcp:apigateway/api:Api",
        "gcp:apigateway/apiConfig:ApiConfig",
        "gcp:apigateway/gateway:Gateway",
        "gcp:logging/metric:Metric",
        "gcp:projects/service:Service",
    },
}
_COMMON_INVOKES: frozenset[str] = frozenset(
    {
        "gcp:organizations/getProject:getProject",
        "gcp:serviceaccount/getAccount:getAccount",
        "gcp:storage/getProjectServiceAccount:getProjectServiceAccount",
        "gcp:logging/getProjectSettings:getProjectSettings",
    }
)
PATTERN_INVOKES: dict[Pattern, frozenset[str]] = {
    Pattern.API_FIRST: _COMMON_INVOKES,
    Pattern.EVENT_DRIVEN: _COMMON_INVOKES,
    Pattern.MANAGED_PLATFORM: _COMMON_INVOKES
    | {"gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount"},
    Pattern.EMBEDDED: _COMMON_INVOKES,
}

# APIs a pattern uses at run time without a resource type of its own: ESPv2 reports to Service
# Control; Cloud Run pulls images from Artifact Registry.
RUNTIME_APIS: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: ("servicecontrol.googleapis.com", "artifactregistry.googleapis.com"),
    Pattern.EVENT_DRIVEN: ("artifactregistry.googleapis.com",),
    Pattern.MANAGED_PLATFORM: ("artifactregistry.googleapis.com",),
    # The download function signs URLs with IAM Credentials signBlob; the gateway reports to
    # Service Control; Cloud Run pulls the functions' images from Artifact Registry.
    Pattern.EMBEDDED: (
        "iamcredentials.googleapis.com",
        "servicecontrol.googleapis.com",
        "artifactregistry.googleapis.com",
    ),
}


def pattern_apis(pattern: Pattern) -> frozenset[str]:
    """Every API the pattern's stacks use (resources, data sources, run time)."""
    requirements = [TYPE_REQUIREMENTS[t] for t in PATTERN_RESOURCE_TYPES[pattern]]
    requirements += [INVOKE_REQUIREMENTS[t] for t in PATTERN_INVOKES[pattern]]
    return frozenset(api for r in requirements for api in r.apis) | set(RUNTIME_APIS[pattern])


def pattern_roles(pattern: Pattern) -> frozenset[str]:
    """Every predefined role the pattern's deployer holds at project level."""
    requirements = [TYPE_REQUIREMENTS[t] for t in PATTERN_RESOURCE_TYPES[pattern]]
    requirements += [INVOKE_REQUIREMENTS[t] for t in PATTERN_INVOKES[pattern]]
    return frozenset(role for r in requirements for role in r.roles)


# -- Google service agents ---------------------------------------------------------------------
# Each agent a stack grants a key (or a topic) to, by how it comes to exist:
# - created lazily: bootstrap makes it with gcp.projects.ServiceIdentity (the API's
#   generateServiceIdentity), so the stacks' grants find it;
# - created when its API is enabled (bootstrap enables the API);
# - read with a data source by the stack itself, which also makes it exist (LOOKUP_AGENTS).
AGENT_EMAILS: dict[str, str] = {
    "run": "service-{number}@serverless-robot-prod.iam.gserviceaccount.com",
    "cloudfunctions": "service-{number}@gcf-admin-robot.iam.gserviceaccount.com",
    "aiplatform": "service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com",
    "pubsub": "service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com",
    "artifactregistry": "service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "firestore": "service-{number}@gcp-sa-firestore.iam.gserviceaccount.com",
    "monitoring-notification": (
        "service-{number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
    ),
}
# Agent -> the service whose identity bootstrap generates (created lazily otherwise).
GENERATED_AGENTS: dict[str, str] = {
    "aiplatform": "aiplatform.googleapis.com",
    "pubsub": "pubsub.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    "firestore": "firestore.googleapis.com",
    # Cloud Monitoring's notification agent (publishes to Pub/Sub channels) is the identity
    # of monitoring.googleapis.com; otherwise it appears only with the first Pub/Sub channel.
    "monitoring-notification": "monitoring.googleapis.com",
}
# Agent -> the API whose enablement creates it.
API_AGENTS: dict[str, str] = {
    "run": "run.googleapis.com",
    "cloudfunctions": "cloudfunctions.googleapis.com",
}
# Agents a stack reads with a data source (the lookup creates them): never spelled out.
LOOKUP_AGENTS: frozenset[str] = frozenset({"storage", "bigquery", "logging"})

# The agents each pattern's stacks grant to (keys, topics, datasets).
PATTERN_AGENTS: dict[Pattern, frozenset[str]] = {
    Pattern.API_FIRST: frozenset(
        {
            "run",
            "logging",
            "pubsub",
            "storage",
            "artifactregistry",
            "cloudfunctions",
            "monitoring-notification",
        }
    ),
    Pattern.EVENT_DRIVEN: frozenset({"run", "pubsub", "storage", "logging", "firestore"}),
    Pattern.MANAGED_PLATFORM: frozenset(
        {
            "aiplatform",
            "bigquery",
            "logging",
            "pubsub",
            "storage",
            "artifactregistry",
            "cloudfunctions",
            "run",
            "monitoring-notification",
        }
    ),
    Pattern.EMBEDDED: frozenset(
        {"storage", "artifactregistry", "cloudfunctions", "run", "logging"}
    ),
}

# The agents that pull the model image, per pattern: another project's registry must grant
# them roles/artifactregistry.reader (in their own project they read through their role).
PULL_AGENTS: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: ("run",),
    Pattern.EVENT_DRIVEN: ("run",),
    Pattern.MANAGED_PLATFORM: ("aiplatform",),
    Pattern.EMBEDDED: (),  # no model image: devices run the model
}

# -- audit configs (A21) -------------------------------------------------------------------------
# Data-access audit logs are one IAMAuditConfig per (project, service), authoritative: two stacks
# of one project would fight over it and destroying one would switch logging off for all. The
# bootstrap of the project owns them, once.
AUDIT_LOG_TYPES: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
BASE_AUDITED_SERVICES: tuple[str, ...] = (
    "aiplatform.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
)
AUDITED_SERVICES: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: BASE_AUDITED_SERVICES,
    Pattern.EVENT_DRIVEN: (
        *BASE_AUDITED_SERVICES,
        "pubsub.googleapis.com",
        "datastore.googleapis.com",
    ),
    Pattern.MANAGED_PLATFORM: BASE_AUDITED_SERVICES,
    Pattern.EMBEDDED: BASE_AUDITED_SERVICES,
}

# The stack resources whose data access the pack's audit rule asks about, by the suffix of their
# logical name (``<stack name>-<suffix>``), and the service whose audit logs cover them: each
# stack's pack config records that the bootstrap turns those logs on (see
# security.bootstrap_audit_waivers).
AUDITED_RESOURCES: dict[Pattern, dict[str, str]] = {
    Pattern.API_FIRST: {"fn-source": "storage.googleapis.com"},
    Pattern.EVENT_DRIVEN: {
        "input": "storage.googleapis.com",
        "results": "storage.googleapis.com",
    },
    Pattern.MANAGED_PLATFORM: {
        "fn-source": "storage.googleapis.com",
        "endpoint": "aiplatform.googleapis.com",
    },
    # Who read or replaced a release is the audit trail of what reached devices.
    Pattern.EMBEDDED: {
        "releases": "storage.googleapis.com",
        "fn-source": "storage.googleapis.com",
    },
}

# -- runtime identities and the rollback role ------------------------------------------------
# The service accounts each pattern's stack runs as, by role. Bootstrap creates them per
# environment so it can let that environment's deployer act as exactly these (GCP scopes
# roles/iam.serviceAccountUser to one account only once the account exists).
PATTERN_IDENTITIES: dict[Pattern, dict[str, str]] = {
    Pattern.API_FIRST: {
        "serving": "Runs the model and ESPv2 on Cloud Run",
        "rollback": "Rollback function: reads metrics, resets one split",
        "rollback-build": "Builds the rollback function's image",
    },
    Pattern.EVENT_DRIVEN: {
        "producer": "Submits jobs: uploads input objects and publishes to the jobs topic",
        "worker": "Processes jobs: reads input, writes results and status, reports failures",
        "reader": "Reads results and status, subscribes to notifications",
        "pusher": "Identity Pub/Sub presents (OIDC) when it pushes jobs to the worker",
    },
    Pattern.MANAGED_PLATFORM: {
        "vertex": "Identity of the deployed models",
        "rollback": "Rollback function: reads metrics, resets one split",
        "rollback-build": "Builds the rollback function's image",
    },
    Pattern.EMBEDDED: {
        "device-dl": "Download function: reads releases/, signs download URLs as itself",
        "device-telemetry": "Telemetry function: reads the release pointer, logs reports",
        "device-build": "Builds the device functions' images",
        "device-gateway": "API Gateway's identity towards the device functions (invoker)",
        "release-reader": "The client's build pipeline: reads releases/ of the channel",
    },
}


# The runtime identities that sign as themselves (IAM Credentials ``signBlob`` with their own
# account: Cloud Run and Cloud Functions have no key file), per pattern. Token Creator on the
# account itself is the grant, and granting on a service account needs
# iam.serviceAccounts.setIamPolicy on it: the bootstrap, which creates the account and may
# administer service accounts, makes the grant per environment, so the stack's deployer never
# holds any right on a service account's IAM policy. Nothing else holds Token Creator on these
# accounts (nor on the project).
SELF_SIGNING_ROLE = "roles/iam.serviceAccountTokenCreator"
SELF_SIGNERS: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: (),
    Pattern.EVENT_DRIVEN: (),
    Pattern.MANAGED_PLATFORM: (),
    Pattern.EMBEDDED: ("device-dl",),
}


@dataclass(frozen=True)
class RollbackRole:
    """A custom role the bootstrap creates per environment: only these permissions (the
    rollback role is granted on one target; the reader roles at project level)."""

    description: str
    permissions: tuple[str, ...]


ROLLBACK_ROLES: dict[Pattern, RollbackRole] = {
    Pattern.API_FIRST: RollbackRole(
        "Reset the weighted split of one URL map",
        ("compute.urlMaps.get", "compute.urlMaps.update", "compute.backendServices.use"),
    ),
    Pattern.MANAGED_PLATFORM: RollbackRole(
        "Read and patch the traffic split of one Vertex AI endpoint",
        ("aiplatform.endpoints.get", "aiplatform.endpoints.update"),
    ),
}

# The rollback function's reads of Cloud Monitoring, exactly the two REST calls its code makes
# (release_watch.open_alerts: the Alerts API; release_watch.prometheus_value: PromQL over time
# series). Cloud Monitoring has no resource-level grant, so this custom role is granted at
# project level; roles/monitoring.viewer would add every other Monitoring read (dashboards,
# uptime checks, notification channels with their labels, groups, services).
ROLLBACK_READER = RollbackRole(
    "Read the project's open alerts and time series (the rollback function's checks)",
    ("monitoring.alerts.list", "monitoring.timeSeries.list"),
)
# The pipeline's release watch (components/gcp/release_watch.py) runs as the environment's
# deployer: it finds the stack's policies by name, reads their open alerts and both versions'
# time series. The bootstrap grants this role to the deployer (no predefined role holds exactly
# these three; the deployer's editor roles are not relied on for reads they do not name).
WATCH_READER = RollbackRole(
    "Read alert policies, open alerts and time series, and read and write the rollback marker "
    "log (the pipeline's release watch)",
    (
        "monitoring.alertPolicies.list",
        "monitoring.alerts.list",
        "monitoring.timeSeries.list",
        "logging.logEntries.create",
        "logging.logEntries.list",
    ),
)

# Predefined roles a pattern's stacks grant at project level (roles with no resource-level
# grant); with the rollback roles, the only roles its deployer's Project IAM Admin may grant.
PROJECT_GRANTS: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: ("roles/logging.logWriter",),
    Pattern.EVENT_DRIVEN: ("roles/datastore.user", "roles/datastore.viewer"),
    Pattern.MANAGED_PLATFORM: ("roles/logging.logWriter",),
    Pattern.EMBEDDED: ("roles/logging.logWriter",),
}


def runtime_account_id(project: str, environment: Environment, role: str) -> str:
    """The account id of a stack's runtime identity (6-30 characters, GCP's limit)."""
    return resource_name("gcp", "service-account", project[:14], environment.value[:4], role)


def rollback_role_id(project: str, environment: Environment) -> str:
    """The rollback custom role's id: letters, digits, dots and underscores only (3-64)."""
    raw = f"aideploy_{project}_{environment.value}_rollback".replace("-", "_")
    return raw[:64]


def rollback_role_name(project_id: str, project: str, environment: Environment) -> str:
    """The rollback custom role's full name, as IAM grants take it."""
    return f"projects/{project_id}/roles/{rollback_role_id(project, environment)}"


def _purpose_role_id(project: str, environment: Environment, purpose: str) -> str:
    """A custom role id ``aideploy_<project>_<env>_<purpose>`` within 64 characters, cutting
    the project, never the environment or the purpose (two roles must never share an id)."""
    tail = f"_{environment.value}_{purpose}"
    head = f"aideploy_{project}".replace("-", "_")[: 64 - len(tail)]
    return f"{head}{tail}"


def rollback_reader_role_id(project: str, environment: Environment) -> str:
    """The id of the rollback function's Monitoring reader role (:data:`ROLLBACK_READER`)."""
    return _purpose_role_id(project, environment, "rollback_reads")


def rollback_reader_role_name(project_id: str, project: str, environment: Environment) -> str:
    """The rollback reader role's full name, as IAM grants take it."""
    return f"projects/{project_id}/roles/{rollback_reader_role_id(project, environment)}"


def watch_role_id(project: str, environment: Environment) -> str:
    """The id of the release watch's reader role (:data:`WATCH_READER`), held by the deployer."""
    return _purpose_role_id(project, environment, "release_watch")


def granted_project_roles(
    pattern: Pattern, project_id: str, project: str, environment: Environment
) -> tuple[str, ...]:
    """Every role an environment's stack grants at project level (the deployer's IAM limit)."""
    roles = list(PROJECT_GRANTS[pattern])
    if pattern in ROLLBACK_ROLES:
        roles.append(rollback_role_name(project_id, project, environment))
        roles.append(rollback_reader_role_name(project_id, project, environment))
    return tuple(roles)


# -- LLM stacks (components/llm.py, components/gcp/guardrail.py) -------------------------------
# What an api-first stack serving an LLM adds, by how the model is reached: its guardrail
# template and the log-based metric of blocked calls; the APIs it calls at run time (the model
# server calls Model Armor, or Vertex AI which calls Model Armor); the project-level roles its
# stack grants (Model Armor templates and Vertex AI publisher models have no resource-level
# IAM); the service agents those grants name (Vertex AI's, which screens hosted calls).
LLM_RESOURCE_TYPES: frozenset[str] = frozenset(
    {"gcp:modelarmor/template:Template", "gcp:logging/metric:Metric"}
)
LLM_APIS: dict[LlmMode, tuple[str, ...]] = {
    LlmMode.NONE: (),
    LlmMode.SELF_HOSTED: ("modelarmor.googleapis.com",),
    LlmMode.HOSTED: ("modelarmor.googleapis.com", "aiplatform.googleapis.com"),
}
LLM_PROJECT_GRANTS: dict[LlmMode, tuple[str, ...]] = {
    LlmMode.NONE: (),
    LlmMode.SELF_HOSTED: ("roles/modelarmor.user",),
    LlmMode.HOSTED: ("roles/aiplatform.user", "roles/modelarmor.user"),
}
LLM_AGENTS: dict[LlmMode, frozenset[str]] = {
    LlmMode.NONE: frozenset(),
    LlmMode.SELF_HOSTED: frozenset(),
    LlmMode.HOSTED: frozenset({"aiplatform"}),
}


def llm_resource_types(mode: LlmMode) -> frozenset[str]:
    """The resource types an LLM stack adds to its pattern's (none without an LLM)."""
    return LLM_RESOURCE_TYPES if mode is not LlmMode.NONE else frozenset()


def llm_apis(mode: LlmMode) -> frozenset[str]:
    """Every API an LLM stack needs beyond its pattern's (resources and run time)."""
    types = llm_resource_types(mode)
    return frozenset(a for t in types for a in TYPE_REQUIREMENTS[t].apis) | set(LLM_APIS[mode])


def llm_roles(mode: LlmMode) -> frozenset[str]:
    """The predefined roles an LLM stack's deployer needs beyond its pattern's."""
    return frozenset(r for t in llm_resource_types(mode) for r in TYPE_REQUIREMENTS[t].roles)
