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

from components.llm import LlmSettings, llm_problem


class Cloud(str, Enum):
    """The clouds aideploy deploys to."""

    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    # The client's own Kubernetes cluster (on premises or any distribution they run).
    KUBERNETES = "kubernetes"


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


# What the release tool and the sample app read from a shipping pattern's stack outputs, the same
# on every cloud (part of PATTERN_OUTPUTS[EMBEDDED]): ``signing_key`` is ci.release's --key with
# its scheme (``awskms:``, ``azurekv:``, ``gcpkms:``), ``release_channel`` its --channel (``s3://``,
# ``azblob://``, ``gs://``), ``device_api_url`` the base of GET /releases/latest and POST
# /telemetry, ``release_reader`` the client build pipeline's read-only identity.
RELEASE_OUTPUTS: tuple[str, ...] = (
    "signing_key",
    "release_channel",
    "device_api_url",
    "release_reader",
)

# The outputs every component of a pattern exposes, identical on every cloud. A component sets
# one attribute per name and registers exactly these outputs; a test holds each one to it.
PATTERN_OUTPUTS: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: (
        "endpoint_url",
        # GET, no credentials, through the same gateway and WAF as predict; 200 when ready.
        "health_url",
        # The exact names of the alarms that roll the candidate back (the pipeline's watch).
        "rollback_alarms",
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
        "rollback_alarms",
    ),
    Pattern.EMBEDDED: (
        "artifact_bucket",
        "model_package_uri",
        "kms_key_id",
        "alert_topic",
        *RELEASE_OUTPUTS,
    ),
}

# Patterns that serve a candidate beside the stable version (a canary or blue/green split under
# rollback alarms). The others (event-driven workers, embedded packages) have no split: a new
# release replaces the old one, so a promotion writes it as the stable version directly.
CANDIDATE_PATTERNS: frozenset[Pattern] = frozenset({Pattern.API_FIRST, Pattern.MANAGED_PLATFORM})

# Patterns whose model runs in the client's apps or devices: the cloud ships signed releases of
# model files (no serving image) to a device API that takes the client's JWTs.
SHIPPED_PATTERNS: frozenset[Pattern] = frozenset({Pattern.EMBEDDED})

# Patterns whose API goes through our gateway (JWT / API-key auth, a domain, a health route).
GATEWAY_PATTERNS: frozenset[Pattern] = frozenset({Pattern.API_FIRST})
# Clouds whose gateway has no host name of its own, so every environment needs a domain (GCP's
# load balancer has only an IP: a managed certificate needs a name).
DOMAIN_REQUIRED: frozenset[Cloud] = frozenset({Cloud.GCP, Cloud.KUBERNETES})
# Clouds where a bare wildcard-DNS domain (`sslip.io`) can stand for the gateway's address in
# dev: the load balancer's IP under that service. AWS and Azure have host names of their own and
# their certificate services refuse such names.
WILDCARD_DNS_CLOUDS: frozenset[Cloud] = frozenset({Cloud.GCP})

# Where a pattern's serving platform can pull the model image from (review A12, A22): a table of
# (registry pattern, name) per cloud and pattern; a pattern not listed pulls from any registry
# its network reaches. A reference elsewhere fails at `aideploy new`, not 30 minutes into the
# first `pulumi up`.
ECR_REGISTRY = (r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/", "Amazon ECR")
ACR_REGISTRY = (r"^[a-z0-9]{5,50}\.azurecr\.io/", "Azure Container Registry")
ARTIFACT_REGISTRY = (r"^[a-z0-9-]+-docker\.pkg\.dev/", "Artifact Registry")
GCR_REGISTRY = (r"^(?:[a-z]+\.)?gcr\.io/", "Container Registry (gcr.io)")
DOCKER_HUB = (r"^docker\.io/", "Docker Hub")
IMAGE_REGISTRIES: dict[tuple[Cloud, Pattern], tuple[tuple[str, str], ...]] = {
    # SageMaker endpoints with network isolation pull only from ECR.
    (Cloud.AWS, Pattern.MANAGED_PLATFORM): (ECR_REGISTRY,),
    # Azure Machine Learning deployments with egress disabled reach only the workspace registry.
    (Cloud.AZURE, Pattern.MANAGED_PLATFORM): (ACR_REGISTRY,),
    # Vertex AI custom containers come from Artifact Registry or Container Registry.
    (Cloud.GCP, Pattern.MANAGED_PLATFORM): (ARTIFACT_REGISTRY, GCR_REGISTRY),
    # Cloud Run deploys from Artifact Registry, Container Registry or Docker Hub only.
    (Cloud.GCP, Pattern.API_FIRST): (ARTIFACT_REGISTRY, GCR_REGISTRY, DOCKER_HUB),
    (Cloud.GCP, Pattern.EVENT_DRIVEN): (ARTIFACT_REGISTRY, GCR_REGISTRY, DOCKER_HUB),
}


def registry_problem(cloud: Cloud, pattern: Pattern, image: str) -> str | None:
    """Why ``image`` cannot serve ``pattern`` on ``cloud`` (its registry), or None when it can."""
    allowed = IMAGE_REGISTRIES.get((cloud, pattern))
    if not allowed or any(re.match(regex, image) for regex, _ in allowed):
        return None
    names = " or ".join(name for _, name in allowed)
    return f"{pattern.value} on {cloud.value} pulls images only from {names}, not {image!r}"


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
    # A site label, not a region list (see SITE_RE): the empty set keeps lookups total.
    Cloud.KUBERNETES: frozenset(),
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

# Where a cloud has no region list (the client's own cluster), ``region`` names the site or data
# centre the cluster runs in: a plain label that reaches names and labels.
SITE_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
SITE_CLOUDS: frozenset[Cloud] = frozenset({Cloud.KUBERNETES})


def region_known(cloud: Cloud, region: str) -> bool:
    """True when ``region`` is one of ``cloud``'s regions (or a valid site label on-prem)."""
    if cloud in SITE_CLOUDS:
        return SITE_RE.match(region) is not None
    return region in REGIONS[cloud]


# Answers are plain data: these patterns are the whole allowed alphabet, so nothing a user types
# can carry quotes, newlines or template syntax into a generated file.
PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
# An OCI image reference: registry[:port]/path (lowercase), then a tag (uppercase allowed, as OCI
# allows) and/or a sha256 digest. At most 255 characters in all.
IMAGE_RE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
TAG_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
TAG_VALUE_RE = re.compile(r"^[a-z0-9_.@-]{0,63}$")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]{0,127}$")
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]{1,253}(/[A-Za-z0-9._~/-]{0,200})?$")
# A DNS host name the client owns (no scheme, no port, no trailing dot), at least two labels.
HOSTNAME_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
# Public wildcard-DNS services: the name resolves to any IP written into it, so whoever runs the
# service controls the name clients trust (review C1). Never for staging or prod.
WILDCARD_DNS_DOMAINS: frozenset[str] = frozenset({"sslip.io", "nip.io", "xip.io", "traefik.me"})
# The per-stack suffix of names that must be unique worldwide or that a cloud keeps after delete
# (GCP key rings, Key Vault, API Management, Cloud Endpoints): chosen when the stack is created.
SUFFIX_RE = re.compile(r"^[a-z0-9]{6}$")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
# A private IPv4 range for a stack's own network, /16 to /24 (the subnets are carved from it).
CIDR_RE = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}/(?:1[6-9]|2[0-4])$")

ProjectName = Annotated[str, StringConstraints(pattern=PROJECT_NAME_RE.pattern)]
ImageRef = Annotated[str, StringConstraints(pattern=IMAGE_RE.pattern, max_length=255)]
HostName = Annotated[str, StringConstraints(pattern=HOSTNAME_RE.pattern, max_length=253)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)]


class _Model(BaseModel):
    """Base for every spec model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class ModelSpec(_Model):
    """The model: a container image that answers HTTP on ``port`` for the serving patterns; for
    the embedded pattern, the release of model files the apps run (no image: ``image`` is None).
    """

    name: Annotated[str, StringConstraints(pattern=MODEL_NAME_RE.pattern)] = Field(
        description="short model name, lowercase letters, digits and dashes"
    )
    version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)]
    image: ImageRef | None = None
    port: int = Field(8080, ge=1024, le=65535)
    health_path: Annotated[str, StringConstraints(pattern=HTTP_PATH_RE.pattern)] = "/health"
    predict_path: Annotated[str, StringConstraints(pattern=HTTP_PATH_RE.pattern)] = "/predict"

    @property
    def serving_image(self) -> str:
        """The image a serving pattern runs (the spec's validation guarantees one there)."""
        if self.image is None:
            raise ValueError("model.image: this pattern serves the model from an image; give one")
        return self.image


class GatewayTier(str, Enum):
    """The managed API gateway's service tier, where the cloud sells tiers (Azure API Management:
    Developer, Standard, Premium). A declared difference: dev may run the cheaper tier, which
    has the same security features but no SLA."""

    DEVELOPER = "developer"
    STANDARD = "standard"
    PREMIUM = "premium"


class Capacity(_Model):
    """Serving capacity: the declared difference between environments."""

    min_instances: int = Field(ge=0, le=100)
    max_instances: int = Field(ge=1, le=500)
    cpu: float = Field(description="vCPU per instance", gt=0, le=16)
    memory_mb: int = Field(ge=512, le=65536)
    target_cpu_percent: int = Field(60, ge=10, le=90)
    # Workers of the event-driven pattern stop entirely when their queue is empty (dev): a job
    # then waits for a worker to start and load the model, so staging and prod keep min warm.
    scale_to_zero: bool = False
    gateway_tier: GatewayTier = GatewayTier.STANDARD
    gateway_units: int = Field(1, ge=1, le=12)

    @model_validator(mode="after")
    def _bounds(self) -> Capacity:
        if self.min_instances > self.max_instances:
            raise ValueError("capacity.min_instances must not exceed capacity.max_instances")
        return self


JWT_AUDIENCE_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")


class ApiSettings(_Model):
    """The gateway's contract with API consumers.

    ``jwt_issuer`` and ``jwt_audience`` have no defaults: a made-up issuer would make every
    request fail with 401. They are required when ``auth`` includes JWT; the gateway discovers
    the signing keys from ``<issuer>/.well-known/openid-configuration`` on every cloud.
    ``domain`` is the host name clients call (a name the client owns, with a certificate the
    cloud issues for it); without one the cloud's default host name is used where it has one.
    """

    auth: AuthMode = AuthMode.JWT_AND_API_KEY
    jwt_issuer: Annotated[str, StringConstraints(pattern=URL_RE.pattern)] | None = None
    jwt_audience: Annotated[str, StringConstraints(pattern=JWT_AUDIENCE_RE.pattern)] | None = None
    domain: HostName | None = None
    # AWS api-first: an AWS Private CA of the stack issues the internal load balancer's
    # certificate (about USD 400 a month). Off by default: the hop inside the VPC uses a
    # certificate for the client's domain, or stays inside the VPC under a documented waiver.
    private_ca: bool = False
    rate_limit_rps: int = Field(50, ge=1, le=100_000)
    burst: int = Field(100, ge=1, le=200_000)
    quota_per_day: int = Field(100_000, ge=1, le=1_000_000_000)
    max_request_bytes: int = Field(1_048_576, ge=1024, le=10_485_760)
    waf_rate_limit_per_5min: int = Field(2000, ge=100, le=2_000_000_000)

    @property
    def uses_jwt(self) -> bool:
        """True when consumers present a JWT."""
        return self.auth in (AuthMode.JWT, AuthMode.JWT_AND_API_KEY)

    @property
    def uses_api_key(self) -> bool:
        """True when consumers present an API key."""
        return self.auth in (AuthMode.API_KEY, AuthMode.JWT_AND_API_KEY)

    @property
    def wildcard_dns(self) -> bool:
        """True when ``domain`` lies under a public wildcard-DNS service (dev only)."""
        return self.domain is not None and any(
            self.domain == d or self.domain.endswith("." + d) for d in WILDCARD_DNS_DOMAINS
        )

    def jwt(self) -> tuple[str, str]:
        """``(issuer, audience)`` for a gateway that validates JWTs (the spec requires both)."""
        if self.jwt_issuer is None or self.jwt_audience is None:
            raise ValueError("api: jwt_issuer and jwt_audience are not set")
        return self.jwt_issuer, self.jwt_audience

    @property
    def jwt_missing(self) -> bool:
        """True when JWT auth is asked for without the issuer or the audience."""
        return self.uses_jwt and (self.jwt_issuer is None or self.jwt_audience is None)


class DestinationKind(str, Enum):
    """Where an alert tier can be delivered."""

    EMAIL = "email"
    # An incident tool's HTTPS events endpoint (PagerDuty, Opsgenie, incident.io, ...): the URL
    # carries the integration key, so it is a secret.
    EVENTS = "events"
    SLACK = "slack"  # an incoming-webhook URL (a secret)
    TEAMS = "teams"  # a Teams workflow/incoming-webhook URL (a secret)


# A Pulumi config key in the project's namespace that holds a secret (`pulumi config set --secret`).
SECRET_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")


class Destination(_Model):
    """One place a tier's alerts go: an e-mail address, or a webhook URL kept as a Pulumi secret.

    ``secret`` names the stack config key holding the URL (``pulumi config set --secret KEY URL``);
    the component reads it with ``config.require_secret``, so the URL never appears in plain text
    in a stack file, a state file or a preview.
    """

    kind: DestinationKind
    address: Email | None = None
    secret: Annotated[str, StringConstraints(pattern=SECRET_KEY_RE.pattern)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Destination:
        if self.kind is DestinationKind.EMAIL:
            if self.address is None or self.secret is not None:
                raise ValueError("alerts.routes: an email destination takes address, not secret")
        elif self.secret is None or self.address is not None:
            raise ValueError(
                f"alerts.routes: a {self.kind.value} destination takes secret (the config key "
                "holding its URL), not address"
            )
        return self


class AlertRoutes(_Model):
    """Destinations per tier. A tier without destinations of its own gets ``alerts.emails``."""

    page: tuple[Destination, ...] = ()
    ticket: tuple[Destination, ...] = ()
    info: tuple[Destination, ...] = ()


class AlertSettings(_Model):
    """Alarm thresholds and where alerts go."""

    emails: tuple[Email, ...] = Field(min_length=1, max_length=10)
    # Typed destinations per tier (a declared difference: each environment routes its own).
    routes: AlertRoutes = AlertRoutes()
    latency_p50_ms: int = Field(300, ge=1, le=600_000)
    latency_p95_ms: int = Field(800, ge=1, le=600_000)
    latency_p99_ms: int = Field(1500, ge=1, le=600_000)
    error_rate_4xx: float = Field(0.10, gt=0, le=1)
    error_rate_5xx: float = Field(0.01, gt=0, le=1)
    availability_target: float = Field(0.995, gt=0.5, lt=1)
    page_on_critical: bool = True
    # How long a breach must last before an alarm fires: a declared difference (prod reacts
    # fastest, dev waits longest so a developer's experiment does not alarm).
    evaluation_minutes: int = Field(5, ge=1, le=60)

    @model_validator(mode="after")
    def _ordered(self) -> AlertSettings:
        if not self.latency_p50_ms <= self.latency_p95_ms <= self.latency_p99_ms:
            raise ValueError("alerts: latency thresholds must satisfy p50 <= p95 <= p99")
        return self

    def destinations(self, tier: str) -> tuple[Destination, ...]:
        """Where ``tier`` ("page", "ticket", "info") is delivered: its routes, else the emails."""
        routed: tuple[Destination, ...] = getattr(self.routes, tier)
        if routed:
            return routed
        return tuple(Destination(kind=DestinationKind.EMAIL, address=e) for e in self.emails)


class RolloutSettings(_Model):
    """How a candidate model version takes traffic and when it is rolled back."""

    strategy: RolloutStrategy = RolloutStrategy.CANARY
    canary_percent: int = Field(10, ge=0, le=50)
    bake_minutes: int = Field(30, ge=0, le=1440)
    rollback_error_rate: float = Field(0.05, gt=0, le=1)
    rollback_latency_multiplier: float = Field(2.0, ge=1.1, le=10)
    # The volume guard: a rollback rule judges only windows with at least this many candidate
    # requests, and fresh data proves a candidate healthy only with at least this many.
    min_requests: int = Field(20, ge=1, le=100_000)
    # The drill's recovery-time objective: a failing candidate in staging must be rolled back
    # (traffic on the stable version) within this many minutes of its first request.
    recovery_minutes: int = Field(15, ge=1, le=240)
    candidate_version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)] | None = None
    candidate_image: ImageRef | None = None
    # A candidate that an automatic rollback removed from traffic is not re-applied by the next
    # deploy (review E8) unless the stack file names it here: a deliberate, reviewed retry.
    retry_version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)] | None = None

    @model_validator(mode="after")
    def _candidate_pair(self) -> RolloutSettings:
        if (self.candidate_version is None) != (self.candidate_image is None):
            raise ValueError(
                "rollout: candidate_version and candidate_image must be given together"
            )
        if self.retry_version is not None and self.retry_version != self.candidate_version:
            raise ValueError(
                "rollout: retry_version must equal candidate_version (it re-admits exactly the "
                "candidate that was rolled back)"
            )
        return self


class Retention(_Model):
    """How long logs and data are kept, and whether deletion is guarded."""

    log_days: int = Field(ge=1, le=3653)
    data_days: int = Field(ge=1, le=3653)
    deletion_protection: bool


class NetworkSettings(_Model):
    """The stack's own network, or the client's existing one.

    ``cidr`` is the range a new VPC or VNet takes; each environment has its own (a declared
    difference), so environments can be peered. ``existing_id`` (a VPC id, a VNet resource id)
    and ``existing_subnet_ids`` use a network the client already runs instead; the client then
    owns its routing, egress and flow logs (see the pattern's docs).
    """

    cidr: Annotated[str, StringConstraints(pattern=CIDR_RE.pattern)] = "10.40.0.0/16"
    existing_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9/._:-]{3,300}$")] | None = (
        None
    )
    existing_subnet_ids: tuple[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9/._:-]{3,300}$")], ...
    ] = ()

    @model_validator(mode="after")
    def _existing_pair(self) -> NetworkSettings:
        if (self.existing_id is None) != (not self.existing_subnet_ids):
            raise ValueError("network: existing_id and existing_subnet_ids must be given together")
        if self.existing_subnet_ids and len(self.existing_subnet_ids) < 2:
            raise ValueError("network: give at least two existing subnets (two zones)")
        return self


# Patterns the kubernetes target runs: serving and workers in the client's cluster. Embedded and
# managed-platform depend on a cloud's signing keys or managed ML service.
CLUSTER_PATTERNS: frozenset[Pattern] = frozenset({Pattern.API_FIRST, Pattern.EVENT_DRIVEN})
# Kubernetes minors the kubernetes target supports and is validated against (schemas offline).
# 1.30 is the oldest: structured authentication (the CI's OIDC tokens) is beta there and every
# API we render (apps/v1, autoscaling/v2, policy/v1, networking/v1) is GA long before.
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = (
    "1.30",
    "1.31",
    "1.32",
    "1.33",
    "1.34",
    "1.35",
    "1.36",
    "1.37",
)
K8S_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
K8sName = Annotated[str, StringConstraints(pattern=K8S_NAME_RE.pattern)]
# A key in the client's external secret store (a Vault path, a cloud secret name).
STORE_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$")
StoreKey = Annotated[str, StringConstraints(pattern=STORE_KEY_RE.pattern)]
LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")


class EnvironmentIsolation(str, Enum):
    """How the client separates environments on premises: a namespace of one cluster each, or a
    cluster each (then each stack's kubeconfig points at its own cluster)."""

    NAMESPACE = "namespace"
    CLUSTER = "cluster"


# An IPv4 range a NetworkPolicy's ipBlock takes.
EgressCidr = Annotated[
    str, StringConstraints(pattern=rf"^{_OCTET}(?:\.{_OCTET}){{3}}/(?:[0-9]|[12][0-9]|3[0-2])$")
]


class QueueKind(str, Enum):
    """The message broker the client already runs for the event-driven pattern on-prem."""

    RABBITMQ = "rabbitmq"


class ClusterQueue(_Model):
    """The client's broker: the workers consume ``<project>-<env>-jobs`` (and a dead-letter queue)
    on it. The connection URL lives in the external store under ``url_key``, never here."""

    kind: QueueKind = QueueKind.RABBITMQ
    url_key: StoreKey
    # The broker's address for the NetworkPolicy's egress (host or IP, and the AMQPS port).
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}$")]
    port: int = Field(5671, ge=1, le=65535)
    # The broker's addresses: NetworkPolicy matches addresses, not host names. Required outside
    # dev (without them the workers could reach any address on the port).
    cidrs: tuple[EgressCidr, ...] = ()


class ObjectStore(_Model):
    """The client's S3-compatible object store (MinIO, Ceph RGW, a NetApp or Dell appliance) that
    keeps the event-driven pattern's inputs and results; its keys are in the external store."""

    endpoint: Annotated[str, StringConstraints(pattern=URL_RE.pattern)]
    credentials_key: StoreKey
    # The store's addresses, for the workers' egress (as for the broker, required outside dev).
    cidrs: tuple[EgressCidr, ...] = ()


class ClusterSettings(_Model):
    """The kubernetes target: what the client's cluster provides and the choices recorded here.

    Every add-on is named, never assumed: the Gateway API implementation (``gateway_class``, Envoy
    Gateway, for JWT, API keys and rate limits at the edge), cert-manager's ``tls_issuer`` or a
    client certificate in the external store (``tls_secret_key``), the External Secrets store
    (``secret_store``), Prometheus Operator (``prometheus``), KEDA (``keda``) and KServe
    (``kserve``). docs/patterns/kubernetes.md lists what the cluster must provide.
    """

    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}$")] = "1.34"
    isolation: EnvironmentIsolation = EnvironmentIsolation.NAMESPACE
    gateway_class: K8sName = "envoy-gateway"
    # The namespace the gateway's proxies run in: the only source the model pods accept.
    gateway_namespace: K8sName = "envoy-gateway-system"
    # No default: the Gateway listens on HTTPS only (k8s-gateway-tls), so an ACME HTTP-01 issuer
    # cannot answer its challenge there; name a DNS-01 or CA ClusterIssuer, or your certificate.
    tls_issuer: K8sName | None = None
    tls_secret_key: StoreKey | None = None
    secret_store: K8sName = "vault"  # noqa: S105 (the name of a ClusterSecretStore)
    prometheus: bool = True
    monitoring_namespace: K8sName = "monitoring"
    # The label Prometheus Operator selects ServiceMonitors and rules by (release=<its release>).
    prometheus_release: Annotated[str, StringConstraints(pattern=LABEL_VALUE_RE.pattern)] = (
        "kube-prometheus-stack"
    )
    keda: bool = True
    kserve: bool = False
    gpus: int = Field(0, ge=0, le=8)
    # Where the gateway fetches the JWT signing keys (default <issuer>/.well-known/jwks.json):
    # Envoy Gateway takes the JWKS URL itself, not the issuer's discovery document.
    jwks_uri: Annotated[str, StringConstraints(pattern=URL_RE.pattern)] | None = None
    # Where the pods resolve names: the cluster DNS's namespace and port (OpenShift: openshift-dns
    # and 5353), and address ranges for a node-local cache (NodeLocal DNSCache: 169.254.20.10/32).
    dns_namespace: K8sName = "kube-system"
    dns_port: int = Field(53, ge=1, le=65535)
    dns_cidrs: tuple[EgressCidr, ...] = ()
    # The control plane's addresses (the API server's hosts): the api-first rollback service
    # patches its route through the API server, and NetworkPolicy cannot select the API server
    # by namespace. Required outside dev; without them that pod reaches any address on 443/6443.
    api_server_cidrs: tuple[EgressCidr, ...] = ()
    # The client's internal CA bundle in the store (a PEM under property `ca.crt`), when the
    # broker, the object store or the identity provider use certificates it signed.
    ca_bundle_key: StoreKey | None = None
    # Alertmanager's mail relay and sender for the e-mail receivers, when its global SMTP
    # settings do not have them (Alertmanager refuses an e-mail receiver without a smarthost).
    smtp_smarthost: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$")] | None
    ) = None
    smtp_from: Email | None = None
    queue: ClusterQueue | None = None
    object_store: ObjectStore | None = None

    @model_validator(mode="after")
    def _choices(self) -> ClusterSettings:
        if self.kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(
                f"cluster.kubernetes_version {self.kubernetes_version}: supported are "
                f"{', '.join(SUPPORTED_KUBERNETES_VERSIONS)}"
            )
        if (self.tls_issuer is None) == (self.tls_secret_key is None):
            raise ValueError(
                "cluster: give tls_issuer (a cert-manager ClusterIssuer) or tls_secret_key (your "
                "certificate in the secret store), exactly one"
            )
        if (self.queue is None) != (self.object_store is None):
            raise ValueError("cluster: queue and object_store go together (event-driven)")
        return self


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
    network: NetworkSettings = NetworkSettings()
    # The client's cluster (the kubernetes target only): what it provides and how we use it.
    cluster: ClusterSettings | None = None
    # Whether the model is an LLM, how it is reached, and its guardrail (components.llm).
    llm: LlmSettings = LlmSettings()
    # Chosen at random when the stack is created (`aideploy new`), recorded in the stack file and
    # never changed for a live stack. None: a stack generated before suffixes existed keeps the
    # names it was deployed with.
    suffix: Annotated[str, StringConstraints(pattern=SUFFIX_RE.pattern)] | None = None
    tags: dict[
        Annotated[str, StringConstraints(pattern=TAG_KEY_RE.pattern)],
        Annotated[str, StringConstraints(pattern=TAG_VALUE_RE.pattern)],
    ] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _region_belongs_to_cloud(self) -> DeploymentSpec:
        if self.cloud in SITE_CLOUDS:
            if not region_known(self.cloud, self.region):
                raise ValueError(
                    f"region {self.region!r}: on {self.cloud.value} the region is the site's "
                    "label (3-32 lowercase letters, digits and dashes, e.g. dc-paris)"
                )
        elif self.region not in REGIONS[self.cloud]:
            raise ValueError(
                f"region {self.region!r} is not a known {self.cloud.value} region "
                f"(e.g. {', '.join(sorted(REGIONS[self.cloud])[:4])})"
            )
        return self

    @model_validator(mode="after")
    def _cluster_only_on_kubernetes(self) -> DeploymentSpec:
        on_cluster = self.cloud is Cloud.KUBERNETES
        if on_cluster and self.cluster is None:
            raise ValueError("cluster: the kubernetes target needs its cluster settings")
        if not on_cluster and self.cluster is not None:
            raise ValueError(
                f"cluster: only the kubernetes target takes it, not {self.cloud.value}"
            )
        if on_cluster and self.pattern not in CLUSTER_PATTERNS:
            raise ValueError(
                f"pattern {self.pattern.value} does not run on kubernetes (choose "
                f"{' or '.join(p.value for p in sorted(CLUSTER_PATTERNS, key=lambda p: p.value))})"
            )
        if on_cluster and self.cluster is not None:
            for field_name, image in (
                ("model.image", self.model.image),
                ("rollout.candidate_image", self.rollout.candidate_image),
            ):
                if image is not None and "@sha256:" not in image:
                    raise ValueError(
                        f"{field_name}: on kubernetes the image is pinned by digest "
                        "(registry/path@sha256:...), so every node runs the same bytes"
                    )
            gateway = self.pattern in GATEWAY_PATTERNS
            if gateway and self.api.uses_jwt and self.cluster.jwks_uri is None:
                raise ValueError(
                    "cluster.jwks_uri: the gateway fetches your identity provider's signing keys "
                    "from this URL (its discovery document's jwks_uri, e.g. Keycloak's "
                    ".../protocol/openid-connect/certs); give it"
                )
            if self.pattern is Pattern.EVENT_DRIVEN and self.cluster.queue is None:
                raise ValueError("cluster.queue: the event-driven pattern needs the queue it reads")
            store = self.cluster.object_store
            open_egress = self.cluster.queue is not None and (
                not self.cluster.queue.cidrs or store is None or not store.cidrs
            )
            rollback_open = (
                self.pattern in CANDIDATE_PATTERNS
                and self.cluster.prometheus
                and not self.cluster.api_server_cidrs
            )
            if rollback_open and self.environment is not Environment.DEV:
                raise ValueError(
                    "cluster.api_server_cidrs: give the control plane's address ranges outside "
                    "dev; the rollback service's egress to the API server is limited to them"
                )
            if open_egress and self.environment is not Environment.DEV:
                raise ValueError(
                    "cluster.queue.cidrs, cluster.object_store.cidrs: give the broker's and the "
                    "store's address ranges outside dev; without them the workers could send "
                    "what they process to any address on those ports"
                )
        return self

    @model_validator(mode="after")
    def _image_where_served(self) -> DeploymentSpec:
        shipped = self.pattern in SHIPPED_PATTERNS
        if shipped and (self.model.image or self.rollout.candidate_image):
            raise ValueError(
                f"model.image: the {self.pattern.value} pattern ships model files to apps, not an "
                "image; give no model.image or rollout.candidate_image"
            )
        if not shipped and self.model.image is None:
            raise ValueError(f"model.image: the {self.pattern.value} pattern needs an image")
        return self

    @model_validator(mode="after")
    def _image_registries(self) -> DeploymentSpec:
        for field_name, image in (
            ("model.image", self.model.image),
            ("rollout.candidate_image", self.rollout.candidate_image),
        ):
            problem = image and registry_problem(self.cloud, self.pattern, image)
            if problem:
                raise ValueError(f"{field_name}: {problem}")
        return self

    @model_validator(mode="after")
    def _gateway_settings(self) -> DeploymentSpec:
        if self.pattern in GATEWAY_PATTERNS and self.api.jwt_missing:
            raise ValueError(
                f"api: auth {self.api.auth.value} needs api.jwt_issuer and api.jwt_audience "
                "(your identity provider's issuer URL and the audience your tokens carry)"
            )
        device_jwt = self.api.jwt_issuer is not None and self.api.jwt_audience is not None
        if self.pattern in SHIPPED_PATTERNS and not device_jwt:
            raise ValueError(
                "api: the device API takes your identity provider's JWTs: give api.jwt_issuer "
                "and api.jwt_audience (the issuer URL and the audience your apps' tokens carry)"
            )
        if self.api.domain is not None and self.pattern not in GATEWAY_PATTERNS:
            raise ValueError(f"api.domain: the {self.pattern.value} pattern serves no API")
        needs_domain = self.pattern in GATEWAY_PATTERNS and self.cloud in DOMAIN_REQUIRED
        if needs_domain and self.api.domain is None:
            raise ValueError(
                f"api.domain: {self.cloud.value} {self.pattern.value} needs a domain you own "
                "(its load balancer has no host name for a certificate)"
            )
        if self.api.wildcard_dns and self.cloud not in WILDCARD_DNS_CLOUDS:
            raise ValueError(
                f"api.domain {self.api.domain!r}: a wildcard-DNS name works only on "
                f"{', '.join(sorted(c.value for c in WILDCARD_DNS_CLOUDS))}; {self.cloud.value} "
                "has a host name of its own (leave api.domain out) or takes a domain you own"
            )
        return self

    @model_validator(mode="after")
    def _llm_where_offered(self) -> DeploymentSpec:
        problem = llm_problem(self.cloud.value, self.pattern.value, self.region, self.llm)
        if problem:
            raise ValueError(problem)
        guardrail = self.llm.guardrail
        if self.llm.enabled and guardrail.fail_open and self.environment is not Environment.DEV:
            raise ValueError(
                "llm.guardrail.fail_open: only dev may let calls through while the guardrail is "
                "down; staging and prod fail closed"
            )
        if self.llm.enabled and guardrail.max_prompt_bytes > self.api.max_request_bytes:
            raise ValueError(
                f"llm.guardrail.max_prompt_bytes {guardrail.max_prompt_bytes} is above "
                f"api.max_request_bytes {self.api.max_request_bytes}: the gateway would refuse "
                "prompts the guardrail allows; raise api.max_request_bytes or lower the prompt cap"
            )
        return self

    @property
    def body_cap(self) -> int:
        """The largest request body the gateway lets through.

        With an LLM, the guardrail's ``max_prompt_bytes`` (the guardrail reads every byte up to
        it, so no body passes unchecked); otherwise ``api.max_request_bytes``.
        """
        if self.llm.enabled:
            return self.llm.guardrail.max_prompt_bytes
        return self.api.max_request_bytes

    @model_validator(mode="after")
    def _no_wildcard_dns_beyond_dev(self) -> DeploymentSpec:
        if self.api.wildcard_dns and self.environment is not Environment.DEV:
            raise ValueError(
                f"api.domain {self.api.domain!r} is a public wildcard-DNS name: its operator "
                "controls what clients trust; use a domain you own for staging and prod"
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
        """Tags (labels on GCP) on every resource; lowercase so all three clouds accept them.

        No model version here: a release would then touch every resource's tags, drowning the
        one change a reviewer must see (the serving image) in a hundred tag updates; the serving
        resources carry the version where it is served.
        """
        return {
            **self.tags,
            "project": self.project,
            "environment": self.environment.value,
            "owner": self.owner.lower().replace("@", "_at_").replace(".", "_")[:63],
            "managed-by": "aideploy",
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
    "network",
    "cluster",
    "llm",
    "suffix",
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
