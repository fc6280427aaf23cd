"""The cloud-neutral model of a project's bootstrap: what exists before the first ``pulumi up``.

A client project's stacks need things no stack may own, because they must exist first or are
shared by every stack of an account: the state backend, a secrets-provider key per environment,
the CI's OIDC federation with one deployer identity per environment and read-only preview
identities, the model image registry, API enablement or resource-provider registration, and
account-wide singletons. ``bootstrap/`` in every generated project is a small Pulumi program of
its own that creates them, once per cloud account (AWS account, Azure subscription, GCP project).

This module is the contract between three parts that must agree on every name: the generator
(which writes the stack files, the README and docs/ci.md), each cloud's bootstrap component
(``components/<cloud>/bootstrap.py``) and the stacks' own programs. Names are computed here, from
the answers and a random suffix chosen once at ``aideploy new``, so each side derives them the
same way and a test holds them together. It imports no cloud SDK and no pulumi.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from components.naming import resource_name
from components.spec import (
    EMAIL_RE,
    MODEL_NAME_RE,
    PROJECT_NAME_RE,
    SUFFIX_RE,
    Cloud,
    Environment,
    Pattern,
    region_known,
)


class CiSystem(str, Enum):
    """The CI system whose OIDC tokens the deployer identities trust."""

    GITHUB = "github"
    GITLAB = "gitlab"


class IdentityRole(str, Enum):
    """The CI identities bootstrap creates: one deployer per environment and two previewers.

    ``preview`` runs ``pulumi preview`` for pull requests against dev and staging: it can read
    those stacks' state and decrypt their secrets, never prod's. ``preview-prod`` previews prod in
    the main pipeline before the approval gate, from the default branch only.
    """

    DEPLOY_DEV = "deploy-dev"
    DEPLOY_STAGING = "deploy-staging"
    DEPLOY_PROD = "deploy-prod"
    PREVIEW = "preview"
    PREVIEW_PROD = "preview-prod"
    # Builds the model image on the default branch and pushes it to the registry (push to that
    # one repository, nothing else); lives in the registry's account.
    PUBLISH = "publish"


# Which stacks each identity works on, and whether it may change them.
IDENTITY_STACKS: dict[IdentityRole, tuple[Environment, ...]] = {
    IdentityRole.DEPLOY_DEV: (Environment.DEV,),
    IdentityRole.DEPLOY_STAGING: (Environment.STAGING,),
    IdentityRole.DEPLOY_PROD: (Environment.PROD,),
    IdentityRole.PREVIEW: (Environment.DEV, Environment.STAGING),
    IdentityRole.PREVIEW_PROD: (Environment.PROD,),
    IdentityRole.PUBLISH: (),
}
DEPLOYERS: dict[Environment, IdentityRole] = {
    Environment.DEV: IdentityRole.DEPLOY_DEV,
    Environment.STAGING: IdentityRole.DEPLOY_STAGING,
    Environment.PROD: IdentityRole.DEPLOY_PROD,
}
READ_ONLY_ROLES: frozenset[IdentityRole] = frozenset(
    {IdentityRole.PREVIEW, IdentityRole.PREVIEW_PROD}
)

# The CI environment (GitHub environment, GitLab environment) each identity is used from. The
# GitHub OIDC subject names it, so only a job in that environment can become the identity; the
# `production` environment carries the approval gate. The pull-request previewer is used from one
# CI environment per stack it previews (`preview-dev`, `preview-staging`): with one account per
# environment, each has its own identity and backend, so each needs its own variables.
CI_ENVIRONMENTS: dict[IdentityRole, str] = {
    IdentityRole.DEPLOY_DEV: "dev",
    IdentityRole.DEPLOY_STAGING: "staging",
    IdentityRole.DEPLOY_PROD: "production",
    IdentityRole.PREVIEW: "preview",
    IdentityRole.PREVIEW_PROD: "production-preview",
    IdentityRole.PUBLISH: "release",
}

# OIDC token issuers of the hosted CI services (self-managed GitLab: its own URL).
OIDC_ISSUERS: dict[CiSystem, str] = {
    CiSystem.GITHUB: "https://token.actions.githubusercontent.com",
    CiSystem.GITLAB: "https://gitlab.com",
}
# The protected branch deployments run from.
DEFAULT_BRANCH = "main"

# OWNER/NAME on GitHub; group[/subgroup...]/project on GitLab. Plain characters only: the value
# reaches trust policies and workflow files.
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){1,4}$")
# Cloud identities of an environment, by cloud: AWS account id, Azure subscription id (a GUID),
# GCP project id.
ACCOUNT_RES: dict[Cloud, re.Pattern[str]] = {
    Cloud.AWS: re.compile(r"^[0-9]{12}$"),
    Cloud.AZURE: re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    Cloud.GCP: re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
    # The kubeconfig context of the environment's cluster (the stack's `kubernetes:context`).
    Cloud.KUBERNETES: re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$"),
}
ACCOUNT_WORDS: dict[Cloud, str] = {
    Cloud.AWS: "AWS account id (12 digits)",
    Cloud.AZURE: "Azure subscription id (a GUID)",
    Cloud.GCP: "GCP project id (6-30 lowercase letters, digits and dashes)",
    Cloud.KUBERNETES: "kubeconfig context name (letters, digits and . _ @ : -)",
}
TENANT_RE = ACCOUNT_RES[Cloud.AZURE]
# On premises (kubernetes) the state lives in the client's S3-compatible object store and images
# in the client's registry: their addresses are answers, not things bootstrap creates.
# host[:port] of the object store's S3 API (served over https).
ENDPOINT_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")
# The repository a `docker push` takes (host[:port]/path, no tag or digest): on premises the one
# the client's model image (`--model-image`, by digest) lives in.
CLIENT_REPOSITORY_RE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$"
)
# Targets whose state store, secrets keys and image registry belong to the client (bootstrap
# creates none of them, only names them): the generated bootstrap README says so.
CLIENT_OWNED_STORES: frozenset[Cloud] = frozenset({Cloud.KUBERNETES})
# The signing region S3-compatible stores accept by default (MinIO, Ceph RGW): SigV4 needs one.
ON_PREMISES_S3_REGION = "us-east-1"
# Vault's transit engine, where the stacks' secrets keys live (Pulumi's `hashivault://<key>`
# provider uses the engine mounted at `transit/`).
VAULT_TRANSIT_MOUNT = "transit"
# The provider config key that pins a stack to its environment's account, so a `pulumi up` with
# the wrong credentials fails instead of deploying into whatever account the shell points at.
ACCOUNT_CONFIG_KEYS: dict[Cloud, str] = {
    Cloud.AWS: "aws:allowedAccountIds",
    Cloud.AZURE: "azure-native:subscriptionId",
    Cloud.GCP: "gcp:project",
    # Pins the stack to one kubeconfig context: the wrong cluster fails instead of deploying.
    Cloud.KUBERNETES: "kubernetes:context",
}
# A cluster has no region setting (its site is the spec's region label only).
REGION_CONFIG_KEYS: dict[Cloud, str] = {
    Cloud.AWS: "aws:region",
    Cloud.AZURE: "azure-native:location",
    Cloud.GCP: "gcp:region",
}
TENANT_CONFIG_KEY = "azure-native:tenantId"


def account_problem(cloud: Cloud, account: str) -> str | None:
    """Why ``account`` is not a valid environment identity on ``cloud``, or None."""
    if ACCOUNT_RES[cloud].fullmatch(account):
        return None
    return f"{account!r} is not an {ACCOUNT_WORDS[cloud]}"


def group_name(environments: tuple[Environment, ...]) -> str:
    """The bootstrap stack name of an account: ``shared`` when it holds every environment,
    else its environments joined (``dev``, ``dev-staging``, ``prod``)."""
    if set(environments) == set(Environment):
        return "shared"
    return "-".join(e.value for e in environments)


def account_groups(
    accounts: Mapping[Environment, str],
) -> dict[str, tuple[str, tuple[Environment, ...]]]:
    """Environments grouped by account: ``{bootstrap stack: (account, environments)}``, in
    environment order. One bootstrap stack runs per distinct account."""
    by_account: dict[str, list[Environment]] = {}
    for env in Environment:
        by_account.setdefault(accounts[env], []).append(env)
    return {group_name(tuple(envs)): (acct, tuple(envs)) for acct, envs in by_account.items()}


def identities_for(environments: tuple[Environment, ...]) -> tuple[IdentityRole, ...]:
    """The CI identities an account holding ``environments`` gets (the registry lives with
    prod, so the publisher does too)."""
    roles = [DEPLOYERS[e] for e in environments]
    if {Environment.DEV, Environment.STAGING} & set(environments):
        roles.append(IdentityRole.PREVIEW)
    if Environment.PROD in environments:
        roles.extend((IdentityRole.PREVIEW_PROD, IdentityRole.PUBLISH))
    return tuple(roles)


def ci_environments(
    role: IdentityRole, environments: tuple[Environment, ...] = tuple(Environment)
) -> tuple[str, ...]:
    """The CI environments an identity of an account holding ``environments`` is used from."""
    if role is IdentityRole.PREVIEW:
        return tuple(
            f"{CI_ENVIRONMENTS[role]}-{e.value}" for e in IDENTITY_STACKS[role] if e in environments
        )
    return (CI_ENVIRONMENTS[role],)


def all_ci_environments() -> tuple[str, ...]:
    """Every CI environment a project's pipeline uses."""
    return tuple(env for role in IdentityRole for env in ci_environments(role))


def oidc_subjects(
    ci: CiSystem,
    repo: str,
    role: IdentityRole,
    environments: tuple[Environment, ...] = tuple(Environment),
) -> tuple[str, ...]:
    """The OIDC ``sub`` claims an identity accepts (exact values; ``*`` only where stated).

    GitHub names the job's environment in the subject, so each identity trusts exactly one
    environment of one repository. GitLab's subject names the project and ref only: deployers
    trust the protected default branch (the environments' protection and their scoped CI/CD
    variables keep one environment's job from another's identity), and the pull-request previewer
    trusts merge-request refs.
    """
    if ci is CiSystem.GITHUB:
        return tuple(f"repo:{repo}:environment:{e}" for e in ci_environments(role, environments))
    if role is IdentityRole.PREVIEW:
        return (f"project_path:{repo}:ref_type:branch:ref:*",)
    return (f"project_path:{repo}:ref_type:branch:ref:{DEFAULT_BRANCH}",)


# -- names -----------------------------------------------------------------------------------
# Per-cloud shapes of what bootstrap creates and the stacks, the README and CI refer to. Values in
# braces are filled from a BootstrapSpec; each is a name a test derives from both sides.
BACKEND_URLS: dict[Cloud, str] = {
    Cloud.AWS: "s3://{state}?region={region}",
    Cloud.AZURE: "azblob://{container}?storage_account={state}",
    Cloud.GCP: "gs://{state}",
    # Path-style addressing: on-premises stores rarely serve one DNS name per bucket.
    Cloud.KUBERNETES: "s3://{state}?endpoint={endpoint}&s3ForcePathStyle=true&region={s3_region}",
}
SECRETS_PROVIDER_URLS: dict[Cloud, str] = {
    Cloud.AWS: "awskms://alias/{key}?region={region}",
    Cloud.AZURE: "azurekeyvault://{vault}.vault.azure.net/keys/{key}",
    Cloud.GCP: ("gcpkms://projects/{account}/locations/{region}/keyRings/{vault}/cryptoKeys/{key}"),
    # The key in Vault's transit engine (VAULT_SERVER_URL, VAULT_SERVER_TOKEN in the job).
    Cloud.KUBERNETES: "hashivault://{key}",
}
IMAGE_REPOSITORIES: dict[Cloud, str] = {
    Cloud.AWS: "{account}.dkr.ecr.{region}.amazonaws.com/{registry}/{model}",
    Cloud.AZURE: "{registry}.azurecr.io/{model}",
    Cloud.GCP: "{region}-docker.pkg.dev/{account}/{registry}/{model}",
    Cloud.KUBERNETES: "{client_repository}",
}
STATE_CONTAINER = "pulumi-state"

# -- Pulumi's DIY state layout -----------------------------------------------------------------
# Where `pulumi` keeps one stack's objects in a DIY backend (S3, GCS, Azure Blob), in project mode
# (`.pulumi/meta.yaml` version 1: what a new, empty backend gets), from pulumi/pulumi
# pkg/backend/diy (read at 1b5949891b3c, Aug 2026):
#   store.go    projectReferenceStore.StackBasePath = .pulumi/stacks/<project>/<stack>; the
#               checkpoint is that + ".json" (".json.gz"/".json.zst" when compressed), and
#               state.go backupTarget copies it to "<file>.bak" before each save;
#               HistoryDir = .pulumi/history/<project>/<stack>/ (addToHistory:
#               <stack>-<ns>.history.json and .checkpoint.json);
#               BackupDir = .pulumi/backups/<project>/<stack>/ (backupStack: <stack>.<ns>.json)
#   lock.go     lockPath = stackLockDir(FullyQualifiedName()) + "/<lock id>.json", and
#               backend.go FullyQualifiedName() = "organization/<project>/<stack>" (the DIY
#               backend's fixed organization), so locks are .pulumi/locks/organization/<p>/<s>/
#   meta.go     every backend open reads .pulumi/meta.yaml (ensurePulumiMeta); it is written only
#               when missing, i.e. by the first login to the empty bucket (the bootstrap's own
#               state move), so every identity reads it and none needs to write it.
#   backend.go  diyBackend.Preview calls backend.Preview(..., b.apply) without b.Lock, and apply
#               writes history and backups only when !DryRun: a preview reads the checkpoint
#               and writes nothing. Update, Refresh, Destroy, Import and stack import lock.
# Every cloud's bootstrap derives its state grants from these, so all three agree on one layout.
STATE_READ_ONLY_PATHS: tuple[str, ...] = (".pulumi/meta.yaml",)
# The kinds of :func:`state_object_prefixes` a read-only previewer reads (never writes): the
# checkpoint a preview diffs against, and the history `pulumi stack history` shows. No locks: a
# preview takes none, and a previewer that could write one could block a deployment.
PREVIEW_STATE_KINDS: tuple[str, ...] = ("stack", "tags", "history", "journal")
# A Pulumi project or stack name: one path segment (a `/` would reach another stack's objects).
PULUMI_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def state_object_prefixes(project: str, stack: str) -> dict[str, str]:
    """Object-name prefixes of one stack's state in a DIY backend, by kind (see the layout above).

    ``{"stack": checkpoint and its .bak/.gz/.zst, "tags": the stack's tag file (DIY backends
    keep `<stack>.pulumi-tags` beside the checkpoint since Pulumi 3.237), "history": ...,
    "journal": ..., "backups": ..., "locks": ...}``;
    every value is a literal prefix (S3 ARNs append ``*``, GCS conditions use ``startsWith``).
    A deployer reads and writes all four for its own stack; a previewer reads
    :data:`PREVIEW_STATE_KINDS`; everyone reads :data:`STATE_READ_ONLY_PATHS`.
    """
    for what, name in (("project", project), ("stack", stack)):
        if not PULUMI_NAME_RE.fullmatch(name):
            raise ValueError(f"{what} {name!r} is not a one-segment Pulumi name")
    return {
        "stack": f".pulumi/stacks/{project}/{stack}.json",
        "tags": f".pulumi/stacks/{project}/{stack}.pulumi-tags",
        "history": f".pulumi/history/{project}/{stack}/",
        # Where newer CLIs may journal an update's steps (granted within the stack's own
        # prefixes only, so a CLI that does not write it loses nothing).
        "journal": f".pulumi/journal/{project}/{stack}/",
        "backups": f".pulumi/backups/{project}/{stack}/",
        "locks": f".pulumi/locks/organization/{project}/{stack}/",
    }


# The outputs every cloud's bootstrap component registers (and the bootstrap program exports),
# identical on every cloud; the journey tests feed them into the stacks' config and docs:
#   backend_url        what `pulumi login` takes for this account's stacks
#   secrets_providers  {environment: what `pulumi stack init --secrets-provider` takes}
#   identities         {identity role: the CI identity (role ARN, client id, SA email)}
#   ci_variables       {CI environment: {variable: value}} to set in the CI system
#   image_repository   where model images are pushed ("" when this account has no registry)
#   stack_prerequisites {environment: {what: value}}: names the stacks rely on bootstrap for
#                      (e.g. the permissions boundary a stack's roles must carry)
BOOTSTRAP_OUTPUTS: tuple[str, ...] = (
    "backend_url",
    "secrets_providers",
    "identities",
    "ci_variables",
    "image_repository",
    "stack_prerequisites",
)


class BootstrapSpec(BaseModel):
    """Everything one bootstrap stack (one cloud account) creates, as validated data.

    ``environments`` are the project's environments whose stacks live in this account;
    ``registry`` is true for the account that holds the model registry (the one with prod: the
    release of record lives with production), and ``pull_accounts`` are the other environments'
    accounts that pull from it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: Annotated[str, StringConstraints(pattern=PROJECT_NAME_RE.pattern)]
    cloud: Cloud
    pattern: Pattern
    region: str
    owner: Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)]
    account: str
    tenant: Annotated[str, StringConstraints(pattern=TENANT_RE.pattern)] | None = None
    # kubernetes only: the client's object store (state) and image repository (its registry).
    state_endpoint: Annotated[str, StringConstraints(pattern=ENDPOINT_RE.pattern)] | None = None
    client_repository: (
        Annotated[str, StringConstraints(pattern=CLIENT_REPOSITORY_RE.pattern)] | None
    ) = None
    environments: tuple[Environment, ...] = Field(min_length=1, max_length=3)
    registry: bool
    pull_accounts: tuple[str, ...] = ()
    ci: CiSystem
    repo: Annotated[str, StringConstraints(pattern=REPO_RE.pattern)]
    oidc_issuer: Annotated[str, StringConstraints(pattern=r"^https://[A-Za-z0-9.-]{1,253}$")]
    model_name: Annotated[str, StringConstraints(pattern=MODEL_NAME_RE.pattern)]
    suffix: Annotated[str, StringConstraints(pattern=SUFFIX_RE.pattern)]

    @model_validator(mode="after")
    def _consistent(self) -> BootstrapSpec:
        if not region_known(self.cloud, self.region):
            raise ValueError(f"region {self.region!r} is not a known {self.cloud.value} region")
        for account in (self.account, *self.pull_accounts):
            problem = account_problem(self.cloud, account)
            if problem:
                raise ValueError(problem)
        if (self.cloud is Cloud.AZURE) != (self.tenant is not None):
            raise ValueError("tenant: required on azure (the Entra ID tenant id), only there")
        on_premises = self.cloud is Cloud.KUBERNETES
        for field in ("state_endpoint", "client_repository"):
            if on_premises != (getattr(self, field) is not None):
                raise ValueError(f"{field}: required on kubernetes (the client's), only there")
        if len(set(self.environments)) != len(self.environments):
            raise ValueError("environments: each environment once")
        if self.registry != (Environment.PROD in self.environments):
            raise ValueError("registry: the account holding prod holds the registry")
        if self.account in self.pull_accounts:
            raise ValueError("pull_accounts: list the other accounts only")
        return self

    # -- derived names, the same on every side --------------------------------------------
    @property
    def stack(self) -> str:
        """This bootstrap stack's name."""
        return group_name(self.environments)

    @property
    def identities(self) -> tuple[IdentityRole, ...]:
        """The CI identities this account gets."""
        return identities_for(self.environments)

    def ci_environments(self, role: IdentityRole) -> tuple[str, ...]:
        """The CI environments this account's identity ``role`` is used from."""
        return ci_environments(role, self.environments)

    def oidc_subjects(self, role: IdentityRole) -> tuple[str, ...]:
        """The OIDC subjects this account's identity ``role`` trusts (exact values)."""
        return oidc_subjects(self.ci, self.repo, role, self.environments)

    @property
    def state_name(self) -> str:
        """The state bucket (AWS, GCP) or storage account (Azure): unique worldwide."""
        kind = {
            Cloud.AWS: "s3-bucket",
            Cloud.AZURE: "storage-account",
            Cloud.GCP: "bucket",
            Cloud.KUBERNETES: "bucket",
        }
        return resource_name(self.cloud.value, kind[self.cloud], self.project, "state", self.suffix)

    @property
    def vault_name(self) -> str:
        """Where the secrets keys live: Key Vault (Azure), key ring (GCP); "" on AWS."""
        if self.cloud is Cloud.AZURE:
            return resource_name("azure", "key-vault", self.project[:13].rstrip("-"), self.suffix)
        if self.cloud is Cloud.GCP:
            return resource_name("gcp", "kms-key-ring", self.project, "pulumi", self.suffix)
        return ""

    def secrets_key_name(self, environment: Environment) -> str:
        """The secrets-provider key of one environment (an AWS alias name without `alias/`)."""
        return f"{self.project}-{environment.value}-pulumi-secrets"

    @property
    def backend_url(self) -> str:
        """What `pulumi login` takes for this account's stacks."""
        return BACKEND_URLS[self.cloud].format(
            state=self.state_name,
            region=self.region,
            container=STATE_CONTAINER,
            endpoint=self.state_endpoint,
            s3_region=ON_PREMISES_S3_REGION,
        )

    def secrets_provider(self, environment: Environment) -> str:
        """What `pulumi stack init --secrets-provider` takes for one environment's stack."""
        return SECRETS_PROVIDER_URLS[self.cloud].format(
            key=self.secrets_key_name(environment),
            vault=self.vault_name,
            region=self.region,
            account=self.account,
        )

    @property
    def registry_name(self) -> str:
        """The registry: ECR repository prefix, ACR name, Artifact Registry repository id."""
        if self.cloud is Cloud.AZURE:
            return resource_name("azure", "container-registry", self.project, self.suffix)
        return self.project

    @property
    def image_repository(self) -> str:
        """Where the model's images are pushed (without a tag)."""
        return IMAGE_REPOSITORIES[self.cloud].format(
            client_repository=self.client_repository,
            account=self.account,
            region=self.region,
            registry=self.registry_name,
            model=self.model_name,
        )

    def identity_name(self, role: IdentityRole) -> str:
        """The deployer or previewer identity's name (IAM role, managed identity, SA id)."""
        return identity_name(self.cloud, self.project, role)


def identity_name(cloud: Cloud, project: str, role: IdentityRole) -> str:
    """A CI identity's name (IAM role, managed identity, service-account id), as bootstrap
    creates it and as a stack names it (e.g. the deployer allowed to sign releases)."""
    # kubernetes: a label only; the cluster users are ci:<ci>:<repo>:<CI environment>
    # (components/kubernetes/bootstrap.py).
    kind = {
        Cloud.AWS: "iam-role",
        Cloud.AZURE: "default",
        Cloud.GCP: "service-account",
        Cloud.KUBERNETES: "default",
    }
    short = project if cloud is not Cloud.GCP else project[:16]
    return resource_name(cloud.value, kind[cloud], short, role.value)


def bootstrap_specs(
    *,
    project: str,
    cloud: Cloud,
    pattern: Pattern,
    region: str,
    owner: str,
    accounts: Mapping[Environment, str],
    tenant: str | None,
    ci: CiSystem,
    repo: str,
    model_name: str,
    suffixes: Mapping[str, str],
    oidc_issuer: str | None = None,
    state_endpoint: str | None = None,
    client_repository: str | None = None,
) -> dict[str, BootstrapSpec]:
    """One bootstrap spec per distinct account, by bootstrap stack name.

    ``suffixes`` maps each bootstrap stack name to its random suffix.
    """
    groups = account_groups(accounts)
    registry_account = accounts[Environment.PROD]
    specs = {}
    for stack, (account, envs) in groups.items():
        holds_registry = account == registry_account
        specs[stack] = BootstrapSpec(
            project=project,
            cloud=cloud,
            pattern=pattern,
            region=region,
            owner=owner,
            account=account,
            tenant=tenant,
            state_endpoint=state_endpoint,
            client_repository=client_repository,
            environments=envs,
            registry=holds_registry,
            pull_accounts=(
                tuple(a for a, _ in groups.values() if a != account) if holds_registry else ()
            ),
            ci=ci,
            repo=repo,
            oidc_issuer=oidc_issuer or OIDC_ISSUERS[ci],
            model_name=model_name,
            suffix=suffixes[stack],
        )
    return specs


def account_of(specs: Mapping[str, BootstrapSpec], environment: Environment) -> BootstrapSpec:
    """The bootstrap spec of the account that holds ``environment``."""
    for spec in specs.values():
        if environment in spec.environments:
            return spec
    raise KeyError(environment)


def registry_of(specs: Mapping[str, BootstrapSpec]) -> BootstrapSpec:
    """The bootstrap spec of the account that holds the model registry."""
    return next(s for s in specs.values() if s.registry)
