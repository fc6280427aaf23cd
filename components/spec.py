"""The cloud-neutral model of a deployment.

Everything a component needs to know is a validated :class:`DeploymentSpec`. It is built from the
answers of ``aideploy new`` merged with an environment profile, written into each stack file, and
read back at ``pulumi up`` (or under mocks). This module imports no cloud SDK and no pulumi, so it
is cheap to import, unit-testable and vendored unchanged into every generated client project.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)


class Cloud(str, Enum):
    """The clouds aideploy deploys to."""

    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"


class Pattern(str, Enum):
    """The four architecture patterns for AI systems."""

    API_FIRST = "api-first"
    EMBEDDED = "embedded"
    EVENT_DRIVEN = "event-driven"
    MANAGED_PLATFORM = "managed-platform"


class Environment(str, Enum):
    """The three environments every project has, kept at parity."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class AuthMode(str, Enum):
    """How API consumers authenticate at the gateway."""

    JWT = "jwt"
    API_KEY = "api-key"
    JWT_AND_API_KEY = "jwt+api-key"


class RolloutStrategy(str, Enum):
    """How a new model version reaches traffic."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"


# The outputs every component of a pattern exposes, identical on every cloud. A component sets
# one attribute per name and registers exactly these outputs; a test holds each one to it.
PATTERN_OUTPUTS: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: (
        "endpoint_url",
        "api_id",
        "serving_service",
        "canary_service",
        "kms_key_id",
        "log_group",
        "alert_topic",
        "dashboard_name",
    ),
    Pattern.EVENT_DRIVEN: (
        "input_bucket",
        "queue_name",
        "dead_letter_queue_name",
        "worker_service",
        "results_bucket",
        "status_table",
        "notification_topic",
        "kms_key_id",
        "alert_topic",
    ),
    Pattern.MANAGED_PLATFORM: (
        "endpoint_name",
        "model_name",
        "candidate_model_name",
        "kms_key_id",
        "alert_topic",
        "rollback_trigger",
    ),
    Pattern.EMBEDDED: (
        "artifact_bucket",
        "model_package_uri",
        "kms_key_id",
        "alert_topic",
    ),
}

# Regions each cloud offers for the services our patterns use. Kept explicit so a typo fails at
# `aideploy new` instead of at the first `pulumi up`.
REGIONS: dict[Cloud, frozenset[str]] = {
    Cloud.AWS: frozenset(
        {
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "sa-east-1",
            "me-central-1",
            "af-south-1",
        }
    ),
    Cloud.AZURE: frozenset(
        {
            "eastus",
            "eastus2",
            "westus",
            "westus2",
            "westus3",
            "centralus",
            "northcentralus",
            "southcentralus",
            "canadacentral",
            "brazilsouth",
            "northeurope",
            "westeurope",
            "uksouth",
            "ukwest",
            "francecentral",
            "germanywestcentral",
            "swedencentral",
            "switzerlandnorth",
            "norwayeast",
            "italynorth",
            "polandcentral",
            "australiaeast",
            "japaneast",
            "koreacentral",
            "southeastasia",
            "eastasia",
            "centralindia",
            "uaenorth",
            "southafricanorth",
        }
    ),
    Cloud.GCP: frozenset(
        {
            "us-central1",
            "us-east1",
            "us-east4",
            "us-west1",
            "us-west2",
            "us-west4",
            "northamerica-northeast1",
            "southamerica-east1",
            "europe-west1",
            "europe-west2",
            "europe-west3",
            "europe-west4",
            "europe-west6",
            "europe-west9",
            "europe-north1",
            "europe-southwest1",
            "asia-east1",
            "asia-northeast1",
            "asia-northeast3",
            "asia-south1",
            "asia-southeast1",
            "australia-southeast1",
            "me-west1",
        }
    ),
}

# Answers are plain data: these patterns are the whole allowed alphabet, so nothing a user types
# can carry quotes, newlines or template syntax into a generated file.
PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
TAG_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
TAG_VALUE_RE = re.compile(r"^[a-z0-9_.@-]{0,63}$")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]{0,127}$")
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]{1,253}(/[A-Za-z0-9._~/-]{0,200})?$")

ProjectName = Annotated[str, StringConstraints(pattern=PROJECT_NAME_RE.pattern)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)]


class _Model(BaseModel):
    """Base for every spec model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class ModelSpec(_Model):
    """The model being served: a container image that answers HTTP on ``port``."""

    name: Annotated[str, StringConstraints(pattern=MODEL_NAME_RE.pattern)] = Field(
        description="short model name, lowercase letters, digits and dashes"
    )
    version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)]
    image: Annotated[str, StringConstraints(pattern=IMAGE_RE.pattern)]
    port: int = Field(8080, ge=1024, le=65535)
    health_path: Annotated[str, StringConstraints(pattern=HTTP_PATH_RE.pattern)] = "/health"
    predict_path: Annotated[str, StringConstraints(pattern=HTTP_PATH_RE.pattern)] = "/predict"


class Capacity(_Model):
    """Serving capacity: the declared difference between environments."""

    min_instances: int = Field(ge=0, le=100)
    max_instances: int = Field(ge=1, le=500)
    cpu: float = Field(description="vCPU per instance", gt=0, le=16)
    memory_mb: int = Field(ge=512, le=65536)
    target_cpu_percent: int = Field(60, ge=10, le=90)

    @model_validator(mode="after")
    def _bounds(self) -> Capacity:
        if self.min_instances > self.max_instances:
            raise ValueError("capacity.min_instances must not exceed capacity.max_instances")
        return self


class ApiSettings(_Model):
    """The gateway's contract with API consumers."""

    auth: AuthMode = AuthMode.JWT_AND_API_KEY
    jwt_issuer: Annotated[str, StringConstraints(pattern=URL_RE.pattern)] = (
        "https://login.example.com"
    )
    jwt_audience: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")] = "api"
    rate_limit_rps: int = Field(50, ge=1, le=100_000)
    burst: int = Field(100, ge=1, le=200_000)
    quota_per_day: int = Field(100_000, ge=1, le=1_000_000_000)
    max_request_bytes: int = Field(1_048_576, ge=1024, le=10_485_760)
    waf_rate_limit_per_5min: int = Field(2000, ge=100, le=2_000_000_000)


class AlertSettings(_Model):
    """Alarm thresholds and where alerts go."""

    emails: tuple[Email, ...] = Field(min_length=1, max_length=10)
    latency_p50_ms: int = Field(300, ge=1, le=600_000)
    latency_p95_ms: int = Field(800, ge=1, le=600_000)
    latency_p99_ms: int = Field(1500, ge=1, le=600_000)
    error_rate_4xx: float = Field(0.10, gt=0, le=1)
    error_rate_5xx: float = Field(0.01, gt=0, le=1)
    availability_target: float = Field(0.995, gt=0.5, lt=1)
    page_on_critical: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> AlertSettings:
        if not self.latency_p50_ms <= self.latency_p95_ms <= self.latency_p99_ms:
            raise ValueError("alerts: latency thresholds must satisfy p50 <= p95 <= p99")
        return self


class RolloutSettings(_Model):
    """How a candidate model version takes traffic and when it is rolled back."""

    strategy: RolloutStrategy = RolloutStrategy.CANARY
    canary_percent: int = Field(10, ge=0, le=50)
    bake_minutes: int = Field(30, ge=0, le=1440)
    rollback_error_rate: float = Field(0.05, gt=0, le=1)
    rollback_latency_multiplier: float = Field(2.0, ge=1.1, le=10)
    candidate_version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)] | None = None
    candidate_image: Annotated[str, StringConstraints(pattern=IMAGE_RE.pattern)] | None = None

    @model_validator(mode="after")
    def _candidate_pair(self) -> RolloutSettings:
        if (self.candidate_version is None) != (self.candidate_image is None):
            raise ValueError(
                "rollout: candidate_version and candidate_image must be given together"
            )
        return self


class Retention(_Model):
    """How long logs and data are kept, and whether deletion is guarded."""

    log_days: int = Field(ge=1, le=3653)
    data_days: int = Field(ge=1, le=3653)
    deletion_protection: bool


class DeploymentSpec(_Model):
    """Everything one stack of one client project deploys.

    ``project`` is the Pulumi project name; resource names derive from it with per-cloud limits
    (see components.naming).
    """

    project: ProjectName
    cloud: Cloud
    pattern: Pattern
    environment: Environment
    region: str
    owner: Email
    model: ModelSpec
    capacity: Capacity
    api: ApiSettings = ApiSettings()
    alerts: AlertSettings
    rollout: RolloutSettings = RolloutSettings()
    retention: Retention
    tags: dict[
        Annotated[str, StringConstraints(pattern=TAG_KEY_RE.pattern)],
        Annotated[str, StringConstraints(pattern=TAG_VALUE_RE.pattern)],
    ] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _region_belongs_to_cloud(self) -> DeploymentSpec:
        if self.region not in REGIONS[self.cloud]:
            raise ValueError(
                f"region {self.region!r} is not a known {self.cloud.value} region "
                f"(e.g. {', '.join(sorted(REGIONS[self.cloud])[:4])})"
            )
        return self

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        reserved = {"project", "environment", "owner", "managed-by"} & set(tags)
        if reserved:
            raise ValueError(f"tags {sorted(reserved)} are set by aideploy and cannot be given")
        return tags

    @property
    def outputs(self) -> tuple[str, ...]:
        """The output names this spec's component exposes."""
        return PATTERN_OUTPUTS[self.pattern]

    @property
    def has_candidate(self) -> bool:
        """True when a candidate model version is being rolled out."""
        return self.rollout.candidate_version is not None

    def standard_tags(self) -> dict[str, str]:
        """Tags (labels on GCP) on every resource; lowercase so all three clouds accept them."""
        return {
            **self.tags,
            "project": self.project,
            "environment": self.environment.value,
            "owner": self.owner.lower().replace("@", "_at_").replace(".", "_")[:63],
            "managed-by": "aideploy",
            "model-version": self.model.version.lower().replace(".", "_")[:63],
        }


# The keys of a stack file's config (namespaced by the project) that make up a spec. The names
# are the stack file's keys; `spec_from_config` and the generator share this one table.
CONFIG_SECTIONS: tuple[str, ...] = (
    "cloud",
    "pattern",
    "environment",
    "region",
    "owner",
    "model",
    "capacity",
    "api",
    "alerts",
    "rollout",
    "retention",
    "tags",
)


def spec_from_config(project: str, values: dict[str, Any]) -> DeploymentSpec:
    """Build a spec from a stack's config sections (``{"model": {...}, "cloud": "aws", ...}``).

    Raises pydantic.ValidationError with every problem when the config is wrong.
    """
    data = {key: values[key] for key in CONFIG_SECTIONS if key in values}
    return DeploymentSpec.model_validate({"project": project, **data})


def describe_validation_error(exc: Exception) -> str:
    """One line per problem, naming the field: fit for a terminal, never a traceback."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
