"""The bootstrap of one GCP project: everything its stacks need before their first `pulumi up`.

Run once per project (``bootstrap/`` of a generated project, one stack per project), by someone
allowed to administer the project. It creates, in order of need:

- the project's APIs (every API the pattern's stacks use: components/gcp/prerequisites.py) and
  the Google service agents that appear only lazily, so the stacks' grants find them;
- where the stacks serve an LLM: the project's Model Armor floor setting (one per project,
  components/gcp/guardrail.py), the minimum every template of the project must meet;
- the data-access audit configs, once per project (authoritative per project and service);
- a key ring ``spec.vault_name`` with one secrets-provider key per environment here and the keys
  of the state bucket and the model registry (every key rotated within 90 days);
- the state bucket ``spec.state_name`` (uniform access, public access prevention enforced,
  versioned, CMEK; the Cloud Storage agent holds the key before the bucket exists);
- Workload Identity Federation for the CI (a pool whose id carries the suffix, since deleted
  pools keep their id for 30 days, and one provider restricted to ``spec.repo``), one service
  account per CI identity, each federated to exactly its OIDC subjects;
- each environment's runtime service accounts and custom roles (the rollback function's target
  role and Monitoring reader role, the release watch's reader role), so its deployer may act as
  exactly those accounts and never edits a role it may grant; where an account signs as itself
  (the embedded download function's signBlob), its Token Creator on itself, so its deployer
  never edits a service account's IAM policy;
- each deployer's predefined, service-scoped roles (with an LLM, Model Armor's admin for the
  stack's template; conditioned Project IAM Admin: only the roles its stack grants, with an
  LLM also the guardrail's project roles), the release watch's reader role, its state objects
  and its own secrets key; previewers that read
  their stacks' state (never write it: no lock) and use their environments' keys;
- where ``spec.registry``: the Artifact Registry repository of model images (CMEK, immutable
  tags; vulnerability scanning is project-wide), the publisher's push right on it alone, and
  read for the image-pulling agents of the other projects.

Names come from components/bootstrap.py, so the stacks, the README and CI use the same ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
from pulumi import Output

from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    PREVIEW_STATE_KINDS,
    READ_ONLY_ROLES,
    STATE_READ_ONLY_PATHS,
    BootstrapSpec,
    CiSystem,
    IdentityRole,
    state_object_prefixes,
)
from components.gcp import guardrail
from components.gcp.prerequisites import (
    AGENT_EMAILS,
    AUDIT_LOG_TYPES,
    AUDITED_SERVICES,
    GENERATED_AGENTS,
    LLM_AGENTS,
    LLM_PROJECT_GRANTS,
    PATTERN_AGENTS,
    PATTERN_IDENTITIES,
    PULL_AGENTS,
    ROLLBACK_READER,
    ROLLBACK_ROLES,
    SELF_SIGNERS,
    SELF_SIGNING_ROLE,
    TYPE_REQUIREMENTS,
    WATCH_READER,
    RollbackRole,
    granted_project_roles,
    llm_apis,
    llm_roles,
    pattern_apis,
    pattern_roles,
    rollback_reader_role_id,
    rollback_reader_role_name,
    rollback_role_id,
    rollback_role_name,
    runtime_account_id,
    watch_role_id,
)
from components.llm import LlmMode, LlmSettings
from components.naming import resource_name
from components.spec import Cloud, Environment, spec_from_config

COMPONENT_TYPE = "aideploy:gcp:Bootstrap"
KEY_ROTATION_PERIOD = f"{90 * 24 * 3600}s"  # the longest rotation policy rule 30 allows
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

# APIs the bootstrap itself uses, whatever the pattern: federation (STS exchanges the CI's token,
# IAM Credentials mints the service account's), the state and its keys, audit configs.
BOOTSTRAP_APIS: tuple[str, ...] = (
    "serviceusage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "storage.googleapis.com",
    "cloudkms.googleapis.com",
    "logging.googleapis.com",
)
# The registry's project also scans images: turning Artifact Analysis container scanning on is
# project-wide (every Docker repository of the project is scanned, each image billed once).
REGISTRY_APIS: tuple[str, ...] = (
    "artifactregistry.googleapis.com",
    "containerscanning.googleapis.com",
)
# The APIs each bootstrap resource type needs (the stacks' types are in TYPE_REQUIREMENTS).
BOOTSTRAP_TYPE_APIS: dict[str, tuple[str, ...]] = {
    "gcp:projects/serviceIdentity:ServiceIdentity": ("serviceusage.googleapis.com",),
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": ("cloudresourcemanager.googleapis.com",),
    "gcp:projects/iAMCustomRole:IAMCustomRole": ("iam.googleapis.com",),
    "gcp:serviceaccount/account:Account": ("iam.googleapis.com",),
    "gcp:serviceaccount/iAMMember:IAMMember": ("iam.googleapis.com",),
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": ("iam.googleapis.com",),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": ("iam.googleapis.com",),
    **{token: req.apis for token, req in TYPE_REQUIREMENTS.items()},
}
FLOOR_SETTING = "gcp:modelarmor/floorsetting:Floorsetting"


# What a previewer may do in its project besides reading its state and using its keys.
PREVIEWER_ROLES: tuple[str, ...] = ("roles/viewer",)
PUBLISHER_ROLE = "roles/artifactregistry.writer"
PULL_ROLE = "roles/artifactregistry.reader"
# The pool id: 4-32 of [a-z0-9-], never starting with `gcp-` (Google's).
POOL_ID_MAX = 32
# Attribute mappings per CI: the subject, and what the provider's condition and principal sets
# read. GitHub names the job's environment; GitLab names the project path.
ATTRIBUTE_MAPPINGS: dict[CiSystem, dict[str, str]] = {
    CiSystem.GITHUB: {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.repository",
        "attribute.ref": "assertion.ref",
        "attribute.environment": "assertion.environment",
    },
    CiSystem.GITLAB: {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.project_path",
        "attribute.ref": "assertion.ref",
    },
}
CI_VARIABLES = ("GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_SERVICE_ACCOUNT", "PULUMI_BACKEND_URL")


def bounded(base: str, suffix: str, limit: int) -> str:
    """``base-suffix`` within ``limit`` characters, cutting ``base``."""
    keep = limit - len(suffix) - 1
    return f"{base[:keep].rstrip('-')}-{suffix}"


def pool_id(spec: BootstrapSpec) -> str:
    """The Workload Identity pool id: deleted pools keep their id 30 days, so it has the suffix."""
    return bounded(f"ci-{spec.project}", spec.suffix, POOL_ID_MAX)


def _project_wide(llm: LlmSettings) -> LlmSettings:
    """``llm`` without what may differ between environments (parity: ``fail_open``, dev
    only), which the project's floor setting and APIs never read."""
    guardrail_settings = llm.guardrail.model_copy(update={"fail_open": False})
    return llm.model_copy(update={"guardrail": guardrail_settings})


def bootstrap_inputs(
    spec: BootstrapSpec, stack_sections: Callable[[Environment], Mapping[str, Any]]
) -> dict[str, Any]:
    """The registry's hook (components.registry.bootstrap_inputs): ``llm``, the ``llm``
    settings of this project's stack files (how they reach their LLM and its guardrail), so the
    project gets the guardrail's APIs, grants and agents and its Model Armor floor setting.

    Parity keeps them equal in every environment (``fail_open`` aside, which is left out: the
    project's share never reads it); stack files that differ otherwise are refused, since one
    project has one floor setting."""
    found: list[tuple[LlmSettings, list[Environment]]] = []  # settings are unhashable
    for env in spec.environments:
        stack = spec_from_config(spec.project, dict(stack_sections(env)))
        if stack.environment is not env or stack.cloud is not Cloud.GCP:
            raise ValueError(
                f"stack file of {env.value} describes {stack.cloud.value} {stack.environment.value}"
            )
        llm = _project_wide(stack.llm)
        same = [envs for settings, envs in found if settings == llm]
        if same:
            same[0].append(env)
        else:
            found.append((llm, [env]))
    if len(found) > 1:
        modes = {settings.mode for settings, _ in found}
        if len(modes) > 1:
            listed = ", ".join(sorted(m.value for m in modes))
            raise ValueError(f"llm.mode differs between the environments of this project: {listed}")
        groups = " / ".join(", ".join(e.value for e in envs) for _, envs in found)
        raise ValueError(
            "llm settings differ between the environments of this project (parity lets only "
            f"llm.guardrail.fail_open differ): {groups}"
        )
    return {"llm": found[0][0] if found else LlmSettings()}


def project_apis(spec: BootstrapSpec, llm: LlmMode = LlmMode.NONE) -> tuple[str, ...]:
    """Every API this project needs: the bootstrap's, the registry's, the stacks' (with their
    LLM's guardrail and model service) and those of the agents bootstrap generates."""
    apis = set(BOOTSTRAP_APIS) | pattern_apis(spec.pattern) | llm_apis(llm)
    apis |= {GENERATED_AGENTS[a] for a in generated_agents(spec, llm)}
    if spec.registry:
        apis |= set(REGISTRY_APIS)
    return tuple(sorted(apis))


def generated_agents(spec: BootstrapSpec, llm: LlmMode = LlmMode.NONE) -> tuple[str, ...]:
    """The lazily created agents this project's stacks (and registry) grant to: with a hosted
    LLM, Vertex AI's, which the stack grants Model Armor's user role."""
    wanted = set(PATTERN_AGENTS[spec.pattern]) | LLM_AGENTS[llm]
    if spec.registry:
        wanted.add("artifactregistry")  # the registry's CMEK
    return tuple(sorted(a for a in wanted if a in GENERATED_AGENTS))


def principal_of(number: str, pool: str, repo: str, subject: str) -> str:
    """The IAM principal of one OIDC subject; a wildcard subject (GitLab's pull-request refs)
    becomes the principal set of the repository attribute, which the provider's condition
    already restricts to ``repo``."""
    base = f"iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}"
    if subject.endswith("*"):
        return f"principalSet://{base}/attribute.repository/{repo}"
    return f"principal://{base}/subject/{subject}"


def provider_name(number: str, pool: str, provider: str) -> str:
    """The provider's full resource name, as `google-github-actions/auth` and gcloud take it."""
    return f"projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}"


def state_prefixes(spec: BootstrapSpec, environment: Environment) -> tuple[str, ...]:
    """The object-name prefixes of one environment's stack in the state bucket (its deployer
    reads and writes them): every kind of Pulumi's DIY layout,
    :func:`components.bootstrap.state_object_prefixes` (stack file, history, backups, locks)."""
    return tuple(state_object_prefixes(spec.project, environment.value).values())


def preview_prefixes(spec: BootstrapSpec, environment: Environment) -> tuple[str, ...]:
    """The object-name prefixes a previewer of ``environment`` reads (never writes):
    :data:`components.bootstrap.PREVIEW_STATE_KINDS` of its stack."""
    prefixes = state_object_prefixes(spec.project, environment.value)
    return tuple(prefixes[kind] for kind in PREVIEW_STATE_KINDS)


def state_condition(spec: BootstrapSpec, prefixes: Iterable[str]) -> str:
    """A CEL expression limiting an object role on the state bucket to ``prefixes`` (plus the
    bucket itself, which is the resource `storage.objects.list` is checked on, and what every
    identity reads: :data:`components.bootstrap.STATE_READ_ONLY_PATHS`).

    Cloud Storage names an object ``projects/_/buckets/<bucket>/objects/<object name>`` in IAM
    conditions, and ``resource.name.startsWith(...)`` on that is how its docs scope a grant to a
    prefix."""
    bucket = f"projects/_/buckets/{spec.state_name}"
    clauses = [f'resource.name == "{bucket}"']
    clauses += [f'resource.name == "{bucket}/objects/{p}"' for p in STATE_READ_ONLY_PATHS]
    clauses += [f'resource.name.startsWith("{bucket}/objects/{p}")' for p in prefixes]
    return " || ".join(clauses)


def _outside(resource: str) -> str:
    return f'resource.name != "{resource}" && !resource.name.startsWith("{resource}/")'


def grantable_roles(
    spec: BootstrapSpec, environment: Environment, llm: LlmMode = LlmMode.NONE
) -> tuple[str, ...]:
    """Every role the environment's stack grants at project level: its pattern's, and with an
    LLM its guardrail's (``LLM_PROJECT_GRANTS``: to the serving account and Vertex AI's agent)."""
    roles = granted_project_roles(spec.pattern, spec.account, spec.project, environment)
    return tuple(dict.fromkeys([*roles, *LLM_PROJECT_GRANTS[llm]]))


def deployer_condition(
    role: str, spec: BootstrapSpec, environment: Environment, llm: LlmMode = LlmMode.NONE
) -> gcp.projects.IAMMemberConditionArgs | None:
    """The IAM condition on one of a deployer's project roles, where the role needs one.

    Project IAM Admin may grant only the roles the environment's stack grants
    (:func:`grantable_roles`); the service admin roles may not reach the bootstrap's own key
    ring, state bucket and model registry.
    """
    account, region = spec.account, spec.region
    if role == "roles/resourcemanager.projectIamAdmin":
        grantable = grantable_roles(spec, environment, llm)
        listed = ", ".join(f"'{r}'" for r in grantable)
        return gcp.projects.IAMMemberConditionArgs(
            title="only-the-stacks-grants",
            description=f"May grant only the roles the {environment.value} stack grants",
            expression=(
                "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
                f".hasOnly([{listed}])"
            ),
        )
    protected = {
        "roles/cloudkms.admin": f"projects/{account}/locations/{region}/keyRings/{spec.vault_name}",
        "roles/storage.admin": f"projects/_/buckets/{spec.state_name}",
    }
    if spec.registry:
        protected["roles/artifactregistry.admin"] = (
            f"projects/{account}/locations/{region}/repositories/{spec.registry_name}"
        )
    if role not in protected:
        return None
    return gcp.projects.IAMMemberConditionArgs(
        title="not-the-bootstraps",
        description="The bootstrap's keys, state and registry stay out of reach",
        expression=_outside(protected[role]),
    )


def _short(text: str) -> str:
    return text.rsplit("/", 1)[-1].split(".googleapis.com")[0].replace(".", "-").lower()


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Keys:
    """The key ring and its keys: per environment, and for the state and the registry."""

    ring: gcp.kms.KeyRing
    environments: Mapping[Environment, gcp.kms.CryptoKey]
    state: gcp.kms.CryptoKey
    registry: gcp.kms.CryptoKey | None


@dataclass(frozen=True)
class Federation:
    """The CI's Workload Identity pool and provider, and the provider's full name."""

    pool: gcp.iam.WorkloadIdentityPool
    provider: gcp.iam.WorkloadIdentityPoolProvider
    provider_name: Output[str]


@dataclass(frozen=True)
class Environments:
    """Per environment here: runtime service accounts by role, the custom roles (the
    rollback function's target and reader roles, the deployer's release watch role) of the
    patterns with a rollback, and the self-signing grants (``SELF_SIGNERS``) by role."""

    accounts: Mapping[Environment, Mapping[str, gcp.serviceaccount.Account]]
    rollback_roles: Mapping[Environment, gcp.projects.IAMCustomRole]
    reader_roles: Mapping[Environment, gcp.projects.IAMCustomRole]
    watch_roles: Mapping[Environment, gcp.projects.IAMCustomRole]
    self_signing: Mapping[Environment, Mapping[str, gcp.serviceaccount.IAMMember]]


# -- building blocks -------------------------------------------------------------------------
class _Context:
    """What every building block needs: the spec, the parent, the APIs to depend on, and the
    stacks' LLM settings (``LlmSettings()`` without one)."""

    def __init__(
        self,
        name: str,
        spec: BootstrapSpec,
        parent: pulumi.Resource,
        apis: Mapping[str, gcp.projects.Service],
        number: Output[str],
        llm: LlmSettings | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.parent = parent
        self.apis = apis
        self.number = number
        self.llm = llm if llm is not None else LlmSettings()

    def after(self, token: str, *extra: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a resource of type ``token``: parented here, after the APIs it uses."""
        depends = [self.apis[a] for a in BOOTSTRAP_TYPE_APIS[token] if a in self.apis]
        return pulumi.ResourceOptions(parent=self.parent, depends_on=[*depends, *extra], **kwargs)

    @property
    def labels(self) -> dict[str, str]:
        """Labels on every bootstrap resource that takes them."""
        return {
            "project": self.spec.project,
            "managed-by": "aideploy",
            "bootstrap": self.spec.stack,
        }


def enable_apis(
    name: str, spec: BootstrapSpec, parent: pulumi.Resource, llm: LlmMode = LlmMode.NONE
) -> dict[str, gcp.projects.Service]:
    """One ``gcp.projects.Service`` per API; kept enabled when the bootstrap is destroyed (the
    stacks may still run, and disabling an API deletes what uses it)."""
    return {
        api: gcp.projects.Service(
            f"{name}-api-{_short(api)}",
            gcp.projects.ServiceArgs(project=spec.account, service=api, disable_on_destroy=False),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for api in project_apis(spec, llm)
    }


def create_service_identities(ctx: _Context) -> dict[str, gcp.projects.ServiceIdentity]:
    """The lazily created service agents, generated now so every grant to them succeeds."""
    kind = "gcp:projects/serviceIdentity:ServiceIdentity"
    return {
        agent: gcp.projects.ServiceIdentity(
            f"{ctx.name}-agent-{agent}",
            gcp.projects.ServiceIdentityArgs(
                project=ctx.spec.account, service=GENERATED_AGENTS[agent]
            ),
            opts=ctx.after(kind, ctx.apis[GENERATED_AGENTS[agent]]),
        )
        for agent in generated_agents(ctx.spec, ctx.llm.mode)
    }


def create_audit_configs(ctx: _Context) -> tuple[gcp.projects.IAMAuditConfig, ...]:
    """Admin and data-access audit logs for every service the pattern uses, once per project."""
    kind = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
    return tuple(
        gcp.projects.IAMAuditConfig(
            f"{ctx.name}-audit-{_short(service)}",
            gcp.projects.IAMAuditConfigArgs(
                project=ctx.spec.account,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=t)
                    for t in AUDIT_LOG_TYPES
                ],
            ),
            opts=ctx.after(kind),
        )
        for service in AUDITED_SERVICES[ctx.spec.pattern]
    )


def _key(ctx: _Context, role: str, key_name: str, ring: gcp.kms.KeyRing) -> gcp.kms.CryptoKey:
    return gcp.kms.CryptoKey(
        f"{ctx.name}-key-{role}",
        gcp.kms.CryptoKeyArgs(
            name=key_name,
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION_PERIOD,
            labels=ctx.labels,
        ),
        # Destroying a key makes everything it encrypted unreadable: Pulumi refuses to.
        opts=ctx.after("gcp:kms/cryptoKey:CryptoKey", protect=True),
    )


def create_keys(ctx: _Context) -> Keys:
    """The key ring ``vault_name`` and its keys (rings and keys are never deleted in GCP)."""
    spec = ctx.spec
    ring = gcp.kms.KeyRing(
        f"{ctx.name}-keyring",
        gcp.kms.KeyRingArgs(project=spec.account, name=spec.vault_name, location=spec.region),
        opts=ctx.after("gcp:kms/keyRing:KeyRing"),
    )
    environments = {
        env: _key(ctx, env.value, spec.secrets_key_name(env), ring) for env in spec.environments
    }
    state = _key(ctx, "state", resource_name("gcp", "default", spec.project, "state"), ring)
    registry = (
        _key(ctx, "registry", resource_name("gcp", "default", spec.project, "registry"), ring)
        if spec.registry
        else None
    )
    return Keys(ring, environments, state, registry)


def _key_grant(
    ctx: _Context, role: str, key: gcp.kms.CryptoKey, member: pulumi.Input[str]
) -> gcp.kms.CryptoKeyIAMMember:
    return gcp.kms.CryptoKeyIAMMember(
        f"{ctx.name}-key-grant-{role}",
        gcp.kms.CryptoKeyIAMMemberArgs(
            crypto_key_id=key.id, role=ENCRYPTER_DECRYPTER, member=member
        ),
        opts=ctx.after("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"),
    )


def create_state_bucket(ctx: _Context, keys: Keys) -> gcp.storage.Bucket:
    """The state backend: private, versioned, CMEK, deletion protected.

    The Cloud Storage agent must hold the key before a CMEK bucket can be created, and it is
    read with its data source, which also makes it exist.
    """
    spec = ctx.spec
    agent = gcp.storage.get_project_service_account_output(
        project=spec.account,
        opts=pulumi.InvokeOutputOptions(
            parent=ctx.parent, depends_on=[ctx.apis["storage.googleapis.com"]]
        ),
    )
    grant = _key_grant(ctx, "state-storage", keys.state, agent.member)
    return gcp.storage.Bucket(
        f"{ctx.name}-state",
        gcp.storage.BucketArgs(
            project=spec.account,
            name=spec.state_name,
            location=spec.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=keys.state.id),
            # Old versions of a state file are the undo history: kept 90 days.
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=90, with_state="ARCHIVED"
                    ),
                )
            ],
            force_destroy=False,
            labels=ctx.labels,
        ),
        opts=ctx.after("gcp:storage/bucket:Bucket", grant, protect=True),
    )


def create_federation(ctx: _Context) -> Federation:
    """A pool and an OIDC provider for the CI, accepting tokens of ``spec.repo`` only."""
    spec = ctx.spec
    pool = gcp.iam.WorkloadIdentityPool(
        f"{ctx.name}-ci-pool",
        gcp.iam.WorkloadIdentityPoolArgs(
            project=spec.account,
            workload_identity_pool_id=pool_id(spec),
            display_name=f"CI of {spec.project}"[:32],
            description=f"{spec.ci.value} deployments of {spec.repo}",
        ),
        opts=ctx.after("gcp:iam/workloadIdentityPool:WorkloadIdentityPool"),
    )
    provider = gcp.iam.WorkloadIdentityPoolProvider(
        f"{ctx.name}-ci-provider",
        gcp.iam.WorkloadIdentityPoolProviderArgs(
            project=spec.account,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=spec.ci.value,
            display_name=spec.ci.value,
            attribute_mapping=ATTRIBUTE_MAPPINGS[spec.ci],
            # Without a condition any repository of the CI service could exchange tokens here.
            attribute_condition=f'attribute.repository == "{spec.repo}"',
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=spec.oidc_issuer),
        ),
        opts=ctx.after("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"),
    )
    name = Output.all(
        ctx.number, pool.workload_identity_pool_id, provider.workload_identity_pool_provider_id
    ).apply(lambda v: provider_name(str(v[0]), str(v[1]), str(v[2])))
    return Federation(pool, provider, name)


def create_ci_identities(
    ctx: _Context, federation: Federation
) -> dict[IdentityRole, gcp.serviceaccount.Account]:
    """One service account per CI identity, which only its OIDC subjects may become."""
    spec = ctx.spec
    accounts = {}
    for role in spec.identities:
        account = gcp.serviceaccount.Account(
            f"{ctx.name}-ci-{role.value}",
            gcp.serviceaccount.AccountArgs(
                project=spec.account,
                account_id=spec.identity_name(role),
                display_name=f"{spec.project} CI {role.value}",
                description=(
                    f"CI identity {role.value} of {spec.repo} "
                    f"({', '.join(spec.ci_environments(role))})"
                ),
            ),
            opts=ctx.after("gcp:serviceaccount/account:Account"),
        )
        for index, subject in enumerate(spec.oidc_subjects(role)):
            principal = Output.all(ctx.number, federation.pool.workload_identity_pool_id).apply(
                functools.partial(_principal, spec.repo, subject)
            )
            gcp.serviceaccount.IAMMember(
                f"{ctx.name}-ci-{role.value}-federated-{index}",
                gcp.serviceaccount.IAMMemberArgs(
                    service_account_id=account.name,
                    role="roles/iam.workloadIdentityUser",
                    member=principal,
                ),
                opts=ctx.after("gcp:serviceaccount/iAMMember:IAMMember", federation.provider),
            )
        accounts[role] = account
    return accounts


def _custom_role(
    ctx: _Context, label: str, role_id: str, title: str, role: RollbackRole
) -> gcp.projects.IAMCustomRole:
    return gcp.projects.IAMCustomRole(
        f"{ctx.name}-{label}",
        gcp.projects.IAMCustomRoleArgs(
            project=ctx.spec.account,
            role_id=role_id,
            title=title,
            description=role.description,
            permissions=list(role.permissions),
            stage="GA",
        ),
        opts=ctx.after("gcp:projects/iAMCustomRole:IAMCustomRole"),
    )


def grant_self_signing(
    ctx: _Context, env: Environment, accounts: Mapping[str, gcp.serviceaccount.Account]
) -> dict[str, gcp.serviceaccount.IAMMember]:
    """Token Creator for each signing identity of the pattern (``SELF_SIGNERS``) on its own
    account and nothing else: it signs with IAM Credentials ``signBlob`` as itself (V4 signed
    URLs from Cloud Functions, which has no key file). Made here because only the bootstrap may
    set a service account's IAM policy; the stack's deployer never needs that right."""
    return {
        role: gcp.serviceaccount.IAMMember(
            f"{ctx.name}-{env.value}-sa-{role}-signs-as-itself",
            gcp.serviceaccount.IAMMemberArgs(
                service_account_id=accounts[role].name,
                role=SELF_SIGNING_ROLE,
                member=_member(accounts[role]),
            ),
            opts=ctx.after("gcp:serviceaccount/iAMMember:IAMMember"),
        )
        for role in SELF_SIGNERS[ctx.spec.pattern]
    }


def create_environments(ctx: _Context) -> Environments:
    """Each environment's runtime service accounts (with the signers' grants on themselves,
    :func:`grant_self_signing`) and, where the pattern rolls back, its custom roles: the
    rollback function's on its target (``ROLLBACK_ROLES``) and on Cloud Monitoring
    (``ROLLBACK_READER``), and the deployer's release watch (``WATCH_READER``)."""
    spec = ctx.spec
    accounts: dict[Environment, dict[str, gcp.serviceaccount.Account]] = {}
    roles: dict[Environment, gcp.projects.IAMCustomRole] = {}
    readers: dict[Environment, gcp.projects.IAMCustomRole] = {}
    watches: dict[Environment, gcp.projects.IAMCustomRole] = {}
    signing: dict[Environment, dict[str, gcp.serviceaccount.IAMMember]] = {}
    for env in spec.environments:
        accounts[env] = {
            role: gcp.serviceaccount.Account(
                f"{ctx.name}-{env.value}-sa-{role}",
                gcp.serviceaccount.AccountArgs(
                    project=spec.account,
                    account_id=runtime_account_id(spec.project, env, role),
                    display_name=f"{spec.project} {env.value} {role}",
                    description=description,
                ),
                opts=ctx.after("gcp:serviceaccount/account:Account"),
            )
            for role, description in PATTERN_IDENTITIES[spec.pattern].items()
        }
        signing[env] = grant_self_signing(ctx, env, accounts[env])
        rollback = ROLLBACK_ROLES.get(spec.pattern)
        if rollback is not None:
            roles[env] = _custom_role(
                ctx,
                f"{env.value}-rollback-role",
                rollback_role_id(spec.project, env),
                f"{spec.project} {env.value} rollback",
                rollback,
            )
            env_title = f"{spec.project} {env.value}"
            readers[env] = _custom_role(
                ctx,
                f"{env.value}-rollback-reader-role",
                rollback_reader_role_id(spec.project, env),
                f"{env_title} rollback reads",
                ROLLBACK_READER,
            )
            watches[env] = _custom_role(
                ctx,
                f"{env.value}-release-watch-role",
                watch_role_id(spec.project, env),
                f"{env_title} release watch",
                WATCH_READER,
            )
    return Environments(accounts, roles, readers, watches, signing)


def _principal(repo: str, subject: str, values: Sequence[Any]) -> str:
    return principal_of(str(values[0]), str(values[1]), repo, subject)


def _agent_email(template: str, number: str) -> str:
    return template.format(number=number)


def _agent_member(template: str, number: str) -> str:
    return f"serviceAccount:{template.format(number=number)}"


def _role_name(account: str, project: str, environment: Environment, _role_id: str) -> str:
    return rollback_role_name(account, project, environment)


def _custom_role_name(account: str, role_id: str) -> str:
    return f"projects/{account}/roles/{role_id}"


def _reader_role_name(account: str, project: str, environment: Environment, _id: str) -> str:
    return rollback_reader_role_name(account, project, environment)


def _member(account: gcp.serviceaccount.Account) -> Output[str]:
    return account.email.apply(lambda e: f"serviceAccount:{e}")


def _project_role(
    ctx: _Context,
    label: str,
    role: str,
    member: pulumi.Input[str],
    condition: gcp.projects.IAMMemberConditionArgs | None = None,
) -> gcp.projects.IAMMember:
    return gcp.projects.IAMMember(
        f"{ctx.name}-{label}-{_short(role)}",
        gcp.projects.IAMMemberArgs(
            project=ctx.spec.account, role=role, member=member, condition=condition
        ),
        opts=ctx.after("gcp:projects/iAMMember:IAMMember"),
    )


def _state_access(
    ctx: _Context,
    label: str,
    bucket: gcp.storage.Bucket,
    role: str,
    member: pulumi.Input[str],
    prefixes: Sequence[str],
) -> gcp.storage.BucketIAMMember:
    return gcp.storage.BucketIAMMember(
        f"{ctx.name}-state-{label}",
        gcp.storage.BucketIAMMemberArgs(
            bucket=bucket.name,
            role=role,
            member=member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=f"{label}-state-only",
                description="Only the state of the stacks this identity works on",
                expression=state_condition(ctx.spec, prefixes),
            ),
        ),
        opts=ctx.after("gcp:storage/bucketIAMMember:BucketIAMMember"),
    )


def grant_deployers(
    ctx: _Context,
    ci: Mapping[IdentityRole, gcp.serviceaccount.Account],
    keys: Keys,
    state: gcp.storage.Bucket,
    environments: Environments,
) -> list[pulumi.Resource]:
    """What each deployer (and each previewer) may do, and nothing else."""
    spec = ctx.spec
    grants: list[pulumi.Resource] = []
    for env in spec.environments:
        role = DEPLOYERS[env]
        deployer = _member(ci[role])
        label = role.value
        # With an LLM, Model Armor's admin too: the deployer creates the stack's template.
        for project_role in sorted(pattern_roles(spec.pattern) | llm_roles(ctx.llm.mode)):
            condition = deployer_condition(project_role, spec, env, ctx.llm.mode)
            grants.append(_project_role(ctx, label, project_role, deployer, condition))
        # Act as the environment's own runtime accounts, one by one: never the project's.
        for sa_role, account in environments.accounts[env].items():
            grants.append(
                gcp.serviceaccount.IAMMember(
                    f"{ctx.name}-{label}-acts-as-{sa_role}",
                    gcp.serviceaccount.IAMMemberArgs(
                        service_account_id=account.name,
                        role="roles/iam.serviceAccountUser",
                        member=deployer,
                    ),
                    opts=ctx.after("gcp:serviceaccount/iAMMember:IAMMember"),
                )
            )
        watch = environments.watch_roles.get(env)
        if watch is not None:
            # The pipeline's release watch runs as this deployer (components/gcp/release_watch).
            grants.append(
                gcp.projects.IAMMember(
                    f"{ctx.name}-{label}-release-watch",
                    gcp.projects.IAMMemberArgs(
                        project=spec.account,
                        role=watch.role_id.apply(
                            functools.partial(_custom_role_name, spec.account)
                        ),
                        member=deployer,
                    ),
                    opts=ctx.after("gcp:projects/iAMMember:IAMMember"),
                )
            )
        grants.append(_key_grant(ctx, f"{label}-secrets", keys.environments[env], deployer))
        grants.append(
            _state_access(
                ctx, label, state, "roles/storage.objectUser", deployer, state_prefixes(spec, env)
            )
        )
    for role in (r for r in spec.identities if r in READ_ONLY_ROLES):
        reader = _member(ci[role])
        envs = [e for e in IDENTITY_STACKS[role] if e in spec.environments]
        for project_role in PREVIEWER_ROLES:
            grants.append(_project_role(ctx, role.value, project_role, reader))
        for env in envs:
            grants.append(
                _key_grant(ctx, f"{role.value}-{env.value}-secrets", keys.environments[env], reader)
            )
        # Read only: Pulumi's DIY preview takes no lock and writes nothing
        # (components/bootstrap.py), so a pull request's branch can neither plant nor delete a
        # lock that would block a deployment.
        reads = [p for env in envs for p in preview_prefixes(spec, env)]
        grants.append(
            _state_access(
                ctx, f"{role.value}-read", state, "roles/storage.objectViewer", reader, reads
            )
        )
    return grants


def create_registry(
    ctx: _Context,
    keys: Keys,
    agents: Mapping[str, gcp.projects.ServiceIdentity],
    ci: Mapping[IdentityRole, gcp.serviceaccount.Account],
) -> gcp.artifactregistry.Repository:
    """The model image repository: CMEK, immutable tags; push for the publisher only, pull for
    the image-pulling agents of the other projects."""
    spec = ctx.spec
    if keys.registry is None:
        raise ValueError("the registry's key is made where spec.registry (create_keys)")
    grant = _key_grant(ctx, "registry-agent", keys.registry, agents["artifactregistry"].member)
    repository = gcp.artifactregistry.Repository(
        f"{ctx.name}-registry",
        gcp.artifactregistry.RepositoryArgs(
            project=spec.account,
            location=spec.region,
            repository_id=spec.registry_name,
            format="DOCKER",
            description=f"Model images of {spec.project}",
            kms_key_name=keys.registry.id,
            # A released tag always names the same image: rollbacks and promotions depend on it.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            labels=ctx.labels,
        ),
        opts=ctx.after("gcp:artifactregistry/repository:Repository", grant, protect=True),
    )
    gcp.artifactregistry.RepositoryIamMember(
        f"{ctx.name}-registry-publish",
        gcp.artifactregistry.RepositoryIamMemberArgs(
            project=spec.account,
            location=spec.region,
            repository=repository.repository_id,
            role=PUBLISHER_ROLE,
            member=_member(ci[IdentityRole.PUBLISH]),
        ),
        opts=ctx.after("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"),
    )
    for account in spec.pull_accounts:
        number = gcp.organizations.get_project_output(
            project_id=account, opts=pulumi.InvokeOutputOptions(parent=ctx.parent)
        ).number
        for agent in PULL_AGENTS[spec.pattern]:
            template = AGENT_EMAILS[agent]
            gcp.artifactregistry.RepositoryIamMember(
                f"{ctx.name}-registry-pull-{account}-{agent}",
                gcp.artifactregistry.RepositoryIamMemberArgs(
                    project=spec.account,
                    location=spec.region,
                    repository=repository.repository_id,
                    role=PULL_ROLE,
                    member=number.apply(functools.partial(_agent_member, template)),
                ),
                opts=ctx.after("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"),
            )
    return repository


def create_floor_setting(ctx: _Context) -> gcp.modelarmor.Floorsetting | None:
    """The project's Model Armor floor setting where its stacks serve an LLM (None otherwise),
    after the Model Armor API (components.gcp.guardrail.floor_setting_args says what it holds).
    Made by whoever runs the bootstrap: the deployers never hold Model Armor's floor-settings
    admin role, so no stack can lower the floor."""
    spec = ctx.spec
    if not ctx.llm.enabled:
        return None
    return guardrail.create_floor_setting(
        ctx.name, spec.account, spec.region, ctx.llm, ctx.after(FLOOR_SETTING)
    )


# -- the component ---------------------------------------------------------------------------
class GcpBootstrap(pulumi.ComponentResource):
    """Everything one GCP project needs before its stacks' first `pulumi up` (see module doc)."""

    def __init__(
        self,
        name: str,
        spec: BootstrapSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        llm: LlmSettings | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.spec = spec
        self.llm = llm if llm is not None else LlmSettings()
        number = gcp.organizations.get_project_output(
            project_id=spec.account, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number.apply(lambda n: n or "")
        apis = enable_apis(name, spec, self, self.llm.mode)
        ctx = _Context(name, spec, self, apis, number, self.llm)
        self.apis = apis
        self.agents = create_service_identities(ctx)
        self.floor_setting = create_floor_setting(ctx)
        self.audit = create_audit_configs(ctx)
        self.keys = create_keys(ctx)
        self.state = create_state_bucket(ctx, self.keys)
        self.federation = create_federation(ctx)
        self.ci = create_ci_identities(ctx, self.federation)
        self.environments = create_environments(ctx)
        self.grants = grant_deployers(ctx, self.ci, self.keys, self.state, self.environments)
        self.registry = (
            create_registry(ctx, self.keys, self.agents, self.ci) if spec.registry else None
        )
        self._outputs = self._collect_outputs(number)
        self.register_outputs(self._outputs)

    def outputs(self) -> dict[str, Output[Any]]:
        """Exactly ``BOOTSTRAP_OUTPUTS``, by name."""
        return dict(self._outputs)

    def _collect_outputs(self, number: Output[str]) -> dict[str, Output[Any]]:
        spec = self.spec
        backend = Output.concat("gs://", self.state.name)
        ring = self.keys.ring
        secrets = {
            env.value: Output.concat(
                "gcpkms://projects/",
                spec.account,
                "/locations/",
                ring.location,
                "/keyRings/",
                ring.name,
                "/cryptoKeys/",
                key.name,
            )
            for env, key in self.keys.environments.items()
        }
        ci_variables = {
            ci_environment: {
                "GCP_WORKLOAD_IDENTITY_PROVIDER": self.federation.provider_name,
                "GCP_SERVICE_ACCOUNT": account.email,
                "PULUMI_BACKEND_URL": backend,
            }
            for role, account in self.ci.items()
            for ci_environment in spec.ci_environments(role)
        }
        image = (
            Output.concat(
                self.registry.location,
                "-docker.pkg.dev/",
                spec.account,
                "/",
                self.registry.repository_id,
                "/",
                spec.model_name,
            )
            if self.registry is not None
            else Output.from_input("")
        )
        agents = {
            agent: number.apply(functools.partial(_agent_email, AGENT_EMAILS[agent]))
            for agent in sorted(PATTERN_AGENTS[spec.pattern] | LLM_AGENTS[self.llm.mode])
            if agent in AGENT_EMAILS
        }
        prerequisites_by_env: dict[str, Any] = {}
        for env in spec.environments:
            role = self.environments.rollback_roles.get(env)
            reader = self.environments.reader_roles.get(env)
            prerequisites_by_env[env.value] = {
                "project": spec.account,
                "apis": sorted(self.apis),
                "service_accounts": {
                    r: a.email for r, a in self.environments.accounts[env].items()
                },
                "service_agents": agents,
                "rollback_role": (
                    role.role_id.apply(
                        functools.partial(_role_name, spec.account, spec.project, env)
                    )
                    if role is not None
                    else ""
                ),
                "rollback_reader_role": (
                    reader.role_id.apply(
                        functools.partial(_reader_role_name, spec.account, spec.project, env)
                    )
                    if reader is not None
                    else ""
                ),
                "audited_services": list(AUDITED_SERVICES[spec.pattern]),
            }
        values: dict[str, Any] = {
            "backend_url": backend,
            "secrets_providers": secrets,
            "identities": {role.value: a.email for role, a in self.ci.items()},
            "ci_variables": ci_variables,
            "image_repository": image,
            "stack_prerequisites": prerequisites_by_env,
        }
        if set(values) != set(BOOTSTRAP_OUTPUTS):
            raise TypeError(f"bootstrap outputs {sorted(values)} != {sorted(BOOTSTRAP_OUTPUTS)}")
        return {key: Output.from_input(value) for key, value in values.items()}
