"""What ``aideploy new`` asks, validated once into a typed object before anything is written.

Every answer a real deployment needs is asked for (or, with ``--no-input``, required): the region,
the model image (or the sample model), the JWT issuer and audience when the API takes JWTs, the
cloud identity of each environment, the CI repository and, on Azure, the tenant. Nothing falls
back to a made-up default that would only fail at the first ``pulumi up``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from components.bootstrap import ENDPOINT_RE, TENANT_RE, CiSystem, account_problem
from components.bootstrap import REPO_RE as REPO_PATTERN
from components.llm import (
    MODEL_ID_RE,
    MODEL_VERSION_RE,
    LlmMode,
    LlmSettings,
    default_hosted_model,
    llm_place_problem,
    llm_problem,
)
from components.spec import (
    CLUSTER_PATTERNS,
    DOMAIN_REQUIRED,
    EMAIL_RE,
    GATEWAY_PATTERNS,
    IMAGE_RE,
    JWT_AUDIENCE_RE,
    MODEL_NAME_RE,
    PROJECT_NAME_RE,
    REGIONS,
    SHIPPED_PATTERNS,
    SITE_CLOUDS,
    URL_RE,
    VERSION_RE,
    WILDCARD_DNS_CLOUDS,
    WILDCARD_DNS_DOMAINS,
    AuthMode,
    Cloud,
    ClusterSettings,
    Environment,
    EnvironmentIsolation,
    HostName,
    ImageRef,
    Pattern,
    RolloutStrategy,
    region_known,
    registry_problem,
)

# The spec's llm fields and the `aideploy new` flags that give them (errors name the flag).
LLM_FLAGS: dict[str, str] = {
    "llm.mode": "--llm",
    "llm.model_version": "--llm-model-version",
    "llm.model": "--llm-model",
}
_NAME_INPUT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 _.-]{0,59}$")
_DESCRIPTION_MAX = 200


def project_slug(name: str) -> str:
    """Turn a display name into a valid Pulumi project / cloud resource prefix.

    ``"Acme Support"`` -> ``"acme-support"``. Anything beyond letters, digits, spaces, dashes,
    underscores and dots is refused rather than silently dropped, so a hostile name never
    becomes a different, surprising one.
    """
    if not _NAME_INPUT_RE.fullmatch(name.strip()):
        raise ValueError(
            "project name must start with a letter and contain only letters, digits, spaces, "
            "dashes, underscores and dots (at most 60 characters)"
        )
    slug = re.sub(r"[ _.]+", "-", name.strip().lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-")
    if not PROJECT_NAME_RE.fullmatch(slug):
        raise ValueError(
            f"project name {name!r} gives {slug!r}, which is not a valid project name "
            "(3-40 characters, lowercase letters, digits and dashes, starting with a letter)"
        )
    return slug


def per_environment(values: Iterable[str], what: str) -> dict[Environment, str]:
    """``["ID"]`` (all three) or ``["dev=ID", "prod=ID2", ...]`` as ``{environment: value}``.

    A bare value applies to every environment not named explicitly; naming an environment twice
    or an unknown environment is an error.
    """
    out: dict[Environment, str] = {}
    bare: list[str] = []
    for raw in values:
        env_name, sep, value = raw.partition("=")
        if not sep:
            bare.append(raw.strip())
            continue
        try:
            env = Environment(env_name.strip())
        except ValueError:
            raise ValueError(
                f"{what}: {env_name.strip()!r} is not an environment (dev, staging, prod)"
            ) from None
        if env in out:
            raise ValueError(f"{what}: {env.value} is given twice")
        out[env] = value.strip()
    if len(bare) > 1:
        raise ValueError(f"{what}: give one value for all environments, or ENV=VALUE for each")
    if bare:
        for env in Environment:
            out.setdefault(env, bare[0])
    return out


Account = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Answers(BaseModel):
    """What ``aideploy new`` asks. Validated before anything is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cloud: Cloud
    pattern: Pattern
    region: str
    owner: Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)]
    accounts: dict[Environment, Account]
    repo: Annotated[str, StringConstraints(pattern=REPO_PATTERN.pattern)]
    model_image: ImageRef | None = None
    sample_model: bool = False
    jwt_issuer: Annotated[str, StringConstraints(pattern=URL_RE.pattern)] | None = None
    jwt_audience: Annotated[str, StringConstraints(pattern=JWT_AUDIENCE_RE.pattern)] | None = None
    domains: dict[Environment, HostName] = Field(default_factory=dict)
    tenant: Annotated[str, StringConstraints(pattern=TENANT_RE.pattern)] | None = None
    description: str = Field("", max_length=_DESCRIPTION_MAX)
    model_name: Annotated[str, StringConstraints(pattern=MODEL_NAME_RE.pattern)] = "model"
    model_version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)] = "1.0.0"
    alert_emails: tuple[Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)], ...] = ()
    auth: AuthMode = AuthMode.JWT_AND_API_KEY
    rollout: RolloutStrategy = RolloutStrategy.CANARY
    ci: CiSystem = CiSystem.GITHUB
    # AWS api-first only: an AWS Private CA issues the internal load balancer's certificate
    # (about USD 400 a month per CA); without it the hop inside the VPC uses the client's domain
    # certificate, or plain HTTP inside the VPC with a documented waiver.
    private_ca: bool = False
    # The kubernetes target only: what the client's cluster provides (components/spec.py), and
    # the S3 API (host[:port], https) of the client's object store that keeps the Pulumi state.
    cluster: ClusterSettings | None = None
    state_endpoint: Annotated[str, StringConstraints(pattern=ENDPOINT_RE.pattern)] | None = None
    # Whether the model is an LLM and how it is reached (components/llm.py); a hosted LLM names
    # the model on the cloud's service (and, on Azure, its version).
    llm: LlmMode = LlmMode.NONE
    llm_model: Annotated[str, StringConstraints(pattern=MODEL_ID_RE.pattern)] | None = None
    llm_model_version: (
        Annotated[str, StringConstraints(pattern=MODEL_VERSION_RE.pattern)] | None
    ) = None

    @field_validator("model_image", mode="before")
    @classmethod
    def _full_image_reference(cls, value: object) -> object:
        # Say what a valid reference looks like instead of printing the regex.
        if isinstance(value, str) and not IMAGE_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a full image reference: give REGISTRY/REPOSITORY:TAG or "
                "REGISTRY/REPOSITORY@sha256:DIGEST (lowercase repository), e.g. "
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/model:1.0.0"
            )
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        project_slug(value)
        return value.strip()

    @field_validator("description")
    @classmethod
    def _plain_description(cls, value: str) -> str:
        # One line of prose: control characters (newlines included) could break out of YAML or
        # Markdown structure; everything else is escaped where it is written.
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("description must be a single line without control characters")
        return value.strip()

    @model_validator(mode="after")
    def _complete(self) -> Answers:
        cloud, pattern = self.cloud, self.pattern
        if not region_known(cloud, self.region):
            raise ValueError(_region_message(cloud, self.region))
        self._check_cluster()
        self._check_llm()
        missing = [e.value for e in Environment if e not in self.accounts]
        if missing:
            raise ValueError(f"account: no account for {', '.join(missing)}")
        for env, account in self.accounts.items():
            problem = account_problem(cloud, account)
            if problem:
                raise ValueError(f"account for {env.value}: {problem}")
        if (cloud is Cloud.AZURE) != (self.tenant is not None):
            raise ValueError(
                "tenant: the Entra ID tenant id is required on azure"
                if cloud is Cloud.AZURE
                else "tenant: only azure takes a tenant"
            )
        if pattern in SHIPPED_PATTERNS:
            if self.model_image is not None:
                raise ValueError(
                    f"model image: the {pattern.value} pattern ships signed model files to apps, "
                    "not an image (give no --model-image)"
                )
        elif (self.model_image is None) == (not self.sample_model):
            raise ValueError(
                "model image: give either --model-image (a registry reference) or "
                "--sample-model (build the sample model server into the project's registry)"
            )
        if self.model_image is not None:
            problem = registry_problem(cloud, pattern, self.model_image)
            if problem:
                raise ValueError(f"model image: {problem}")
        self._check_gateway()
        if self.private_ca and (cloud, pattern) != (Cloud.AWS, Pattern.API_FIRST):
            raise ValueError("private CA: only the aws api-first pattern uses one")
        return self

    def _check_llm(self) -> None:
        # The same table the spec checks, asked here so the error names the flag.
        if self.llm is not LlmMode.HOSTED and (self.llm_model or self.llm_model_version):
            flag = "--llm-model" if self.llm_model else "--llm-model-version"
            raise ValueError(f"{flag}: only --llm hosted names a hosted model")
        where = (self.cloud.value, self.pattern.value, self.region)
        problem = llm_place_problem(*where, self.llm) or llm_problem(*where, self.llm_settings())
        if problem:
            for field, flag in LLM_FLAGS.items():
                if problem.startswith((f"{field} ", f"{field}:")):
                    problem = flag + problem.removeprefix(field)
                    break
            raise ValueError(problem)

    def llm_settings(self) -> LlmSettings:
        """The stack files' ``llm`` section: the hosted model is the cloud's proposal for the
        region unless ``--llm-model`` names one (Azure also needs its version)."""
        if self.llm is not LlmMode.HOSTED:
            return LlmSettings(mode=self.llm)
        if self.llm_model is not None:
            return LlmSettings(
                mode=self.llm, model=self.llm_model, model_version=self.llm_model_version
            )
        proposal = default_hosted_model(self.cloud.value, self.region)
        if proposal is None:
            raise ValueError(
                f"--llm-model: there is no model to propose on {self.cloud.value} in "
                f"{self.region}; name one offered there"
            )
        model, version = proposal
        return LlmSettings(
            mode=self.llm, model=model, model_version=self.llm_model_version or version
        )

    def _check_cluster(self) -> None:
        on_cluster = self.cloud is Cloud.KUBERNETES
        if not on_cluster:
            if self.cluster is not None:
                raise ValueError(f"cluster settings: only kubernetes takes them, not {self.cloud}")
            if self.state_endpoint is not None:
                raise ValueError("state endpoint: only kubernetes takes one (the client's store)")
            return
        if self.state_endpoint is None:
            raise ValueError(
                "state endpoint: on kubernetes give the S3 API host[:port] of your object store "
                "(the Pulumi state lives there)"
            )
        if self.pattern not in CLUSTER_PATTERNS:
            choices = " or ".join(sorted(p.value for p in CLUSTER_PATTERNS))
            raise ValueError(f"pattern {self.pattern.value} does not run on kubernetes ({choices})")
        if self.cluster is None:
            raise ValueError("cluster settings: the kubernetes target needs them")
        if self.pattern is Pattern.EVENT_DRIVEN and self.cluster.queue is None:
            raise ValueError("cluster settings: the event-driven pattern needs the queue it reads")
        if self.sample_model:
            raise ValueError(
                "model image: on kubernetes give --model-image REGISTRY/REPO@sha256:DIGEST (an "
                "image your cluster's nodes can pull); the sample model is built by CI elsewhere"
            )
        # The isolation the client chose is the one the accounts (kubeconfig contexts) show.
        contexts = set(self.accounts.values())
        if self.cluster.isolation is EnvironmentIsolation.NAMESPACE and len(contexts) != 1:
            raise ValueError(
                "account: with namespace isolation the three environments share one cluster: "
                "give one kubeconfig context (--account CONTEXT)"
            )
        if self.cluster.isolation is EnvironmentIsolation.CLUSTER and len(contexts) != 3:
            raise ValueError(
                "account: with cluster isolation each environment has its own cluster: give "
                "three kubeconfig contexts (--account dev=... --account staging=... "
                "--account prod=...)"
            )
        if self.model_image is not None and "@sha256:" not in self.model_image:
            raise ValueError(
                "model image: on kubernetes the image is pinned by digest "
                "(REGISTRY/REPO@sha256:DIGEST), so every node runs the same bytes"
            )

    def _check_gateway(self) -> None:
        gateway = self.pattern in GATEWAY_PATTERNS
        uses_jwt = self.auth in (AuthMode.JWT, AuthMode.JWT_AND_API_KEY)
        if self.pattern in SHIPPED_PATTERNS and self.auth is AuthMode.API_KEY:
            raise ValueError(
                f"auth api-key: the {self.pattern.value} pattern's device API takes JWTs only "
                "(leave --auth out)"
            )
        if self.pattern in SHIPPED_PATTERNS and (
            self.jwt_issuer is None or self.jwt_audience is None
        ):
            raise ValueError(
                f"the {self.pattern.value} pattern's device API takes your identity provider's "
                "JWTs: --jwt-issuer and --jwt-audience are required"
            )
        if gateway and uses_jwt and (self.jwt_issuer is None or self.jwt_audience is None):
            raise ValueError(
                f"auth {self.auth.value}: --jwt-issuer and --jwt-audience are required (your "
                "identity provider's issuer URL and the audience your tokens carry)"
            )
        takes_jwt = gateway or self.pattern in SHIPPED_PATTERNS
        if not gateway and self.domains:
            raise ValueError(f"the {self.pattern.value} pattern has no API gateway: no domain")
        if not takes_jwt and (self.jwt_issuer or self.jwt_audience):
            raise ValueError(
                f"the {self.pattern.value} pattern has no API gateway: no domain or JWT"
            )
        for env, domain in self.domains.items():
            wildcard = any(domain == d or domain.endswith("." + d) for d in WILDCARD_DNS_DOMAINS)
            if wildcard and self.cloud not in WILDCARD_DNS_CLOUDS:
                raise ValueError(
                    f"domain for {env.value}: {domain} is a wildcard-DNS name, which works only "
                    f"on gcp; {self.cloud.value} has a host name of its own (give no --domain)"
                )
            if wildcard and env is not Environment.DEV:
                raise ValueError(
                    f"domain for {env.value}: {domain} is a public wildcard-DNS service; "
                    "its operator controls the name; only dev may use one"
                )
        if gateway and self.cloud in DOMAIN_REQUIRED:
            needed = [e.value for e in Environment if e not in self.domains]
            if needed:
                raise ValueError(
                    f"domain: {self.cloud.value} {self.pattern.value} needs a domain you own for "
                    f"{', '.join(needed)} (--domain ENV=HOST; dev may use --domain dev=sslip.io)"
                )
        if len(set(self.domains.values())) != len(self.domains):
            raise ValueError("domain: each environment needs its own host name")

    @property
    def project_slug(self) -> str:
        """The Pulumi project name."""
        return project_slug(self.name)

    @property
    def shared_account(self) -> bool:
        """True when every environment lives in the same account (allowed, and said)."""
        return len(set(self.accounts.values())) == 1


def _region_message(cloud: Cloud, region: str) -> str:
    """Unknown region: name the cloud it belongs to if it is another's, else close matches."""
    if cloud in SITE_CLOUDS:
        return (
            f"region {region!r}: on {cloud.value} the region is your site's label (3-32 "
            "lowercase letters, digits and dashes, e.g. dc-paris)"
        )
    for other, regions in REGIONS.items():
        if other is not cloud and region in regions:
            return f"region {region!r} belongs to {other.value}, not to {cloud.value}"
    import difflib

    close = difflib.get_close_matches(region, sorted(REGIONS[cloud]), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"region {region!r} is not a known {cloud.value} region{hint}"


# Example answers (the demo, benchmarks and tests): what a client would type, with placeholder
# identities of the right shape.
EXAMPLE_REGIONS: dict[Cloud, str] = {
    Cloud.AWS: "eu-west-1",
    Cloud.AZURE: "westeurope",
    Cloud.GCP: "europe-west1",
    Cloud.KUBERNETES: "dc-paris",
}
EXAMPLE_ACCOUNTS: dict[Cloud, str] = {
    Cloud.AWS: "123456789012",
    Cloud.AZURE: "00000000-0000-0000-0000-000000000000",
    Cloud.GCP: "acme-ai-demo",
    Cloud.KUBERNETES: "acme-onprem",
}
# The kubernetes target's examples: an image by digest in the client's own registry, and the
# cluster's add-ons (the event-driven pattern reads the client's RabbitMQ and object store).
EXAMPLE_CLUSTER_IMAGE = "registry.acme.example/support/model@sha256:" + "3" * 64
EXAMPLE_CLUSTER: dict[Pattern, dict[str, object]] = {
    Pattern.API_FIRST: {
        "tls_issuer": "acme-internal-ca",
        "jwks_uri": "https://login.acme.example/.well-known/jwks.json",
        "api_server_cidrs": ["10.20.0.10/32"],
    },
    Pattern.EVENT_DRIVEN: {
        "tls_issuer": "acme-internal-ca",
        "queue": {
            "url_key": "acme-support/rabbitmq",
            "host": "rabbitmq.acme.internal",
            "cidrs": ["10.20.1.0/28"],
        },
        "object_store": {
            "endpoint": "https://minio.acme.internal",
            "credentials_key": "acme-support/object-store",
            "cidrs": ["10.20.2.0/28"],
        },
    },
}
EXAMPLE_STATE_ENDPOINT = "s3.acme.example"
EXAMPLE_TENANT = "44444444-4444-4444-4444-444444444444"
EXAMPLE_DOMAINS: dict[Environment, str] = {
    Environment.DEV: "dev.api.acme.example",
    Environment.STAGING: "staging.api.acme.example",
    Environment.PROD: "api.acme.example",
}


def example_answers(cloud: Cloud, pattern: Pattern, **overrides: object) -> Answers:
    """Complete answers for ``cloud`` and ``pattern`` as a client would give them: the sample
    model (unless ``model_image`` is given), one account for every environment, a JWT issuer
    and audience for api-first, and on GCP a domain per environment. ``overrides`` replace any
    field."""
    values: dict[str, object] = {
        "name": "acme-support",
        "cloud": cloud,
        "pattern": pattern,
        "region": EXAMPLE_REGIONS[cloud],
        "owner": "ops@acme.example",
        "accounts": {env: EXAMPLE_ACCOUNTS[cloud] for env in Environment},
        "repo": "acme/support",
        "tenant": EXAMPLE_TENANT if cloud is Cloud.AZURE else None,
        "sample_model": "model_image" not in overrides and pattern not in SHIPPED_PATTERNS,
    }
    if cloud is Cloud.KUBERNETES:
        values["sample_model"] = False
        values["model_image"] = EXAMPLE_CLUSTER_IMAGE
        values["cluster"] = EXAMPLE_CLUSTER.get(pattern, EXAMPLE_CLUSTER[Pattern.API_FIRST])
        values["state_endpoint"] = EXAMPLE_STATE_ENDPOINT
    if pattern in GATEWAY_PATTERNS or pattern in SHIPPED_PATTERNS:
        values["jwt_issuer"] = "https://login.acme.example"
        values["jwt_audience"] = "api://acme-support"
        if cloud in DOMAIN_REQUIRED and pattern in GATEWAY_PATTERNS:
            values["domains"] = dict(EXAMPLE_DOMAINS)
    values.update(overrides)
    return Answers.model_validate(values)


def cluster_file_text(answers: Answers) -> str:
    """The ``--cluster`` file that gives ``answers.cluster`` (YAML), for scripts and tests."""
    import yaml

    if answers.cluster is None:
        raise ValueError(f"{answers.cloud.value} takes no cluster settings")
    data = answers.cluster.model_dump(mode="json", exclude_defaults=True)
    return str(yaml.safe_dump(data, sort_keys=False))


def cli_flags(answers: Answers, cluster_file: str | None = None) -> list[str]:
    """The ``aideploy new`` arguments that give ``answers`` (name first, then flags): scripts,
    the demo and the benchmarks type exactly what a user would. On kubernetes ``cluster_file``
    is where the caller wrote :func:`cluster_file_text`."""
    a = answers
    if a.cluster is not None and cluster_file is None:
        raise ValueError("kubernetes answers need the --cluster file's path")
    flags = [
        a.name,
        "--cloud", a.cloud.value, "--pattern", a.pattern.value, "--region", a.region,
        "--owner", a.owner, "--repo", a.repo,
        "--model-name", a.model_name, "--model-version", a.model_version,
        "--auth", a.auth.value, "--rollout", a.rollout.value, "--ci", a.ci.value,
    ]  # fmt: skip
    if len(set(a.accounts.values())) == 1:
        flags += ["--account", next(iter(a.accounts.values()))]
    else:
        for env, account in a.accounts.items():
            flags += ["--account", f"{env.value}={account}"]
    for env, host in a.domains.items():
        flags += ["--domain", f"{env.value}={host}"]
    optional = {
        "--tenant": a.tenant,
        "--cluster": cluster_file if a.cluster is not None else None,
        "--state-endpoint": a.state_endpoint,
        "--model-image": a.model_image,
        "--jwt-issuer": a.jwt_issuer,
        "--jwt-audience": a.jwt_audience,
        "--description": a.description or None,
        "--llm": a.llm.value if a.llm is not LlmMode.NONE else None,
        "--llm-model": a.llm_model,
        "--llm-model-version": a.llm_model_version,
    }
    for flag, value in optional.items():
        if value is not None:
            flags += [flag, value]
    for email in a.alert_emails:
        flags += ["--alert-email", email]
    if a.sample_model:
        flags.append("--sample-model")
    if a.private_ca:
        flags.append("--private-ca")
    return flags
