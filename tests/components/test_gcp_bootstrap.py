"""GcpBootstrap under Pulumi's mocks, and the seam between it and every GCP stack.

Both sides come from captures: the stacks of every GCP pattern in every environment (with and
without a candidate) and the bootstrap of the same pattern. The tables in
components/gcp/prerequisites.py are the bridge, and a test fails when either side drifts.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    READ_ONLY_ROLES,
    BootstrapSpec,
    CiSystem,
    IdentityRole,
    oidc_subjects,
)
from components.gcp import guardrail, prerequisites
from components.gcp.bootstrap import (
    BOOTSTRAP_TYPE_APIS,
    COMPONENT_TYPE,
    KEY_ROTATION_PERIOD,
    GcpBootstrap,
    deployer_condition,
    pool_id,
    principal_of,
    project_apis,
)
from components.gcp.prerequisites import (
    GENERATED_AGENTS,
    INVOKE_REQUIREMENTS,
    PATTERN_RESOURCE_TYPES,
    TYPE_REQUIREMENTS,
    granted_project_roles,
)
from components.llm import LlmMode
from components.registry import bootstrap_inputs as registry_bootstrap_inputs
from components.spec import SHIPPED_PATTERNS, Cloud, Environment, Pattern
from offline import capture as capture_module
from offline.capture import Capture, CapturedResource, capture
from offline.program import run_stack
from policies.rules import all_policies
from templates.answers import example_answers
from templates.generator import ProjectPlan, generate
from tests.conftest import candidate_image, make_spec, of_type, run_component, sample_plan
from tests.policies.harness import evaluate

PATTERNS = (
    Pattern.API_FIRST,
    Pattern.EVENT_DRIVEN,
    Pattern.MANAGED_PLATFORM,
    Pattern.EMBEDDED,
)
# A split: dev and staging in one project, prod (and the registry) in another.
SPLIT_ACCOUNTS = {
    Environment.DEV: "acme-ai-nonprod",
    Environment.STAGING: "acme-ai-nonprod",
    Environment.PROD: "acme-ai-prod",
}
NUMBER = "123456789"  # the project number the mocks answer with


def bootstrap_specs(pattern: Pattern, split: bool = False, **overrides: Any) -> list[BootstrapSpec]:
    """The bootstrap specs `aideploy new` plans for ``pattern`` (one project, or the split)."""
    if split:
        overrides["accounts"] = SPLIT_ACCOUNTS
    return list(sample_plan(Cloud.GCP, pattern, **overrides).bootstrap.values())


@cache
def _bootstrap(pattern: Pattern, split: bool = False, ci: str = "github") -> list[Capture]:
    caps = []
    for spec in bootstrap_specs(pattern, split, ci=CiSystem(ci)):
        caps.append(run_bootstrap(spec))
    return caps


def run_bootstrap(spec: BootstrapSpec) -> Capture:
    """The bootstrap of ``spec`` under mocks that answer with its project."""
    return capture(
        lambda: GcpBootstrap(spec.project, spec),
        project=f"{spec.project}-bootstrap",
        stack=spec.stack,
        config={"gcp:project": spec.account, "gcp:region": spec.region},
        region=spec.region,
    )


def outputs(cap: Capture) -> dict[str, Any]:
    (component,) = [r for r in cap.resources if r.type == COMPONENT_TYPE]
    return cap.outputs[component.urn]


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def by_urn(cap: Capture) -> dict[str, CapturedResource]:
    return {r.urn: r for r in cap.resources}


def member_of(cap: Capture, name_suffix: str) -> str:
    """``serviceAccount:<email>`` of the account resource whose name ends with the suffix."""
    (account,) = [
        r
        for r in of_type(cap.resources, "gcp:serviceaccount/account:Account")
        if r.name.endswith(name_suffix)
    ]
    email = f"{account.inputs['accountId']}@{account.inputs['project']}.iam.gserviceaccount.com"
    return f"serviceAccount:{email}"


def grantable(expression: str) -> set[str]:
    """The roles a ``modifiedGrantsByRole ... hasOnly([...])`` condition allows."""
    (listed,) = re.findall(r"\.hasOnly\(\[([^\]]*)\]\)", expression)
    return set(re.findall(r"'([^']+)'", listed))


CASES = [(p, split) for p in PATTERNS for split in (False, True)]


# -- the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_outputs_are_the_contract_and_name_what_the_stacks_use(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        out = outputs(cap)
        assert set(out) == set(BOOTSTRAP_OUTPUTS)
        assert out["backend_url"] == spec.backend_url
        assert out["secrets_providers"] == {
            env.value: spec.secrets_provider(env) for env in spec.environments
        }
        assert out["image_repository"] == (spec.image_repository if spec.registry else "")
        assert set(out["identities"]) == {r.value for r in spec.identities}
        assert set(out["stack_prerequisites"]) == {e.value for e in spec.environments}


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_ci_variables_name_the_provider_the_account_and_the_backend(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        variables = outputs(cap)["ci_variables"]
        assert set(variables) == {e for r in spec.identities for e in spec.ci_environments(r)}
        provider = one(
            cap.resources, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
        )
        expected = (
            f"projects/{NUMBER}/locations/global/workloadIdentityPools/{pool_id(spec)}"
            f"/providers/{provider.inputs['workloadIdentityPoolProviderId']}"
        )
        for role in spec.identities:
            for ci_environment in spec.ci_environments(role):
                values = variables[ci_environment]
                assert values["GCP_WORKLOAD_IDENTITY_PROVIDER"] == expected
                assert values["GCP_SERVICE_ACCOUNT"] == outputs(cap)["identities"][role.value]
                assert values["GCP_SERVICE_ACCOUNT"].startswith(spec.identity_name(role) + "@")
                assert values["PULUMI_BACKEND_URL"] == spec.backend_url


# -- state and keys ----------------------------------------------------------------------------
@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_state_bucket_is_private_versioned_encrypted_and_protected(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        bucket = one(cap.resources, "gcp:storage/bucket:Bucket")
        assert bucket.inputs["name"] == spec.state_name
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["publicAccessPrevention"] == "enforced"
        assert bucket.inputs["versioning"] == {"enabled": True}
        assert bucket.inputs["forceDestroy"] is False
        assert bucket.protect is True
        urns = by_urn(cap)
        (state_key,) = [
            r
            for r in of_type(cap.resources, "gcp:kms/cryptoKey:CryptoKey")
            if r.name.endswith("-key-state")
        ]
        assert state_key.urn in bucket.property_dependencies["encryption"]
        # The Cloud Storage agent (read with its data source) holds the key before the bucket.
        grants = [urns[u] for u in bucket.dependencies if u in urns]
        agent_grant = [
            g
            for g in grants
            if g.type == "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
            and state_key.urn in g.property_dependencies["cryptoKeyId"]
        ]
        assert [g.inputs["member"] for g in agent_grant] == [
            f"serviceAccount:service-{NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
        ]


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_one_rotated_key_per_environment_usable_only_by_its_deployer_and_previewer(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        ring = one(cap.resources, "gcp:kms/keyRing:KeyRing")
        assert ring.inputs["name"] == spec.vault_name
        keys = of_type(cap.resources, "gcp:kms/cryptoKey:CryptoKey")
        for key in keys:
            assert key.inputs["rotationPeriod"] == KEY_ROTATION_PERIOD
            assert int(KEY_ROTATION_PERIOD.rstrip("s")) <= 90 * 86400
            assert key.protect is True
            assert ring.urn in key.property_dependencies["keyRing"]
        by_name = {k.inputs["name"]: k for k in keys}
        grants = of_type(cap.resources, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        for env in Environment:
            key_name = spec.secrets_key_name(env)
            if env not in spec.environments:
                assert key_name not in by_name
                continue
            key = by_name[key_name]
            users = {
                g.inputs["member"]
                for g in grants
                if key.urn in g.property_dependencies["cryptoKeyId"]
            }
            expected = {
                member_of(cap, f"-ci-{role.value}")
                for role in spec.identities
                if env in IDENTITY_STACKS[role]
            }
            assert users == expected
            # A pull-request preview can never decrypt prod's secrets.
            preview = (
                member_of(cap, f"-ci-{IdentityRole.PREVIEW.value}")
                if IdentityRole.PREVIEW in spec.identities
                else None
            )
            assert (preview in users) is (env is not Environment.PROD and preview is not None)


# -- federation --------------------------------------------------------------------------------
@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_federation_trusts_only_the_repository_and_each_identitys_subjects(ci: str) -> None:
    for spec, cap in zip(
        bootstrap_specs(Pattern.API_FIRST, ci=CiSystem(ci)),
        _bootstrap(Pattern.API_FIRST, False, ci),
        strict=True,
    ):
        pool = one(cap.resources, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool")
        pid = pool.inputs["workloadIdentityPoolId"]
        assert pid == pool_id(spec)
        assert spec.suffix in pid  # deleted pool ids stay taken for 30 days
        assert re.fullmatch(r"[a-z0-9-]{4,32}", pid) and not pid.startswith("gcp-")
        provider = one(
            cap.resources, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
        )
        assert provider.inputs["oidc"]["issuerUri"] == spec.oidc_issuer
        mapping = provider.inputs["attributeMapping"]
        assert {"google.subject", "attribute.repository", "attribute.ref"} <= set(mapping)
        assert ("attribute.environment" in mapping) is (spec.ci is CiSystem.GITHUB)
        assert provider.inputs["attributeCondition"] == f'attribute.repository == "{spec.repo}"'
        bindings = of_type(cap.resources, "gcp:serviceaccount/iAMMember:IAMMember")
        for role in spec.identities:
            account = one(
                [
                    a
                    for a in of_type(cap.resources, "gcp:serviceaccount/account:Account")
                    if a.name.endswith(f"-ci-{role.value}")
                ],
                "gcp:serviceaccount/account:Account",
            )
            federated = {
                b.inputs["member"]
                for b in bindings
                if b.inputs["role"] == "roles/iam.workloadIdentityUser"
                and account.urn in b.property_dependencies["serviceAccountId"]
            }
            assert federated == {
                principal_of(NUMBER, pid, spec.repo, s)
                for s in oidc_subjects(spec.ci, spec.repo, role)
            }
            for principal in federated:
                if principal.startswith("principalSet://"):
                    # GitLab's merge-request refs: the repository's principal set, read-only.
                    assert role in READ_ONLY_ROLES
                    assert principal.endswith(f"/attribute.repository/{spec.repo}")
                else:
                    assert "*" not in principal


# -- the deployers and previewers ----------------------------------------------------------------
FORBIDDEN = {
    "roles/owner",
    "roles/editor",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.roleAdmin",
    "roles/resourcemanager.projectIamAdmin",  # only with its condition (checked below)
}


def project_grants(cap: Capture, member: str) -> dict[str, CapturedResource]:
    return {
        g.inputs["role"]: g
        for g in of_type(cap.resources, "gcp:projects/iAMMember:IAMMember")
        if g.inputs["member"] == member
    }


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_deployers_hold_service_scoped_roles_and_a_conditioned_iam_admin(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        for env in spec.environments:
            grants = project_grants(cap, member_of(cap, f"-ci-{DEPLOYERS[env].value}"))
            custom = {r for r in grants if r.startswith("projects/")}
            # Besides the predefined roles: the release watch's reader role, where watched.
            watched = pattern in prerequisites.ROLLBACK_ROLES
            watch = (
                f"projects/{spec.account}/roles/{prerequisites.watch_role_id(spec.project, env)}"
            )
            assert custom == ({watch} if watched else set())
            assert set(grants) - custom == set(prerequisites.pattern_roles(pattern))
            for role in set(grants) - custom:
                if role in FORBIDDEN:
                    assert role == "roles/resourcemanager.projectIamAdmin"
            admin = grants["roles/resourcemanager.projectIamAdmin"]
            allowed = granted_project_roles(pattern, spec.account, spec.project, env)
            expression = admin.inputs["condition"]["expression"]
            assert "iam.googleapis.com/modifiedGrantsByRole" in expression
            assert grantable(expression) == set(allowed)
            # The bootstrap's own keys, state and registry are out of the service roles' reach.
            assert (
                spec.vault_name in grants["roles/cloudkms.admin"].inputs["condition"]["expression"]
            )
            assert (
                spec.state_name in grants["roles/storage.admin"].inputs["condition"]["expression"]
            )


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_custom_roles_hold_exactly_their_tables_permissions_by_deterministic_ids(
    pattern: Pattern, split: bool
) -> None:
    """Per environment: the rollback function's target role and Monitoring reader role, and the
    release watch's role, with exactly their permissions and the ids the stacks and the
    deployer grants name (no predefined Monitoring role anywhere)."""
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        created = {
            r.inputs["roleId"]: sorted(r.inputs["permissions"])
            for r in of_type(cap.resources, "gcp:projects/iAMCustomRole:IAMCustomRole")
        }
        expected: dict[str, list[str]] = {}
        if pattern in prerequisites.ROLLBACK_ROLES:
            for env in spec.environments:
                expected[prerequisites.rollback_role_id(spec.project, env)] = sorted(
                    prerequisites.ROLLBACK_ROLES[pattern].permissions
                )
                expected[prerequisites.rollback_reader_role_id(spec.project, env)] = [
                    "monitoring.alerts.list",
                    "monitoring.timeSeries.list",
                ]
                expected[prerequisites.watch_role_id(spec.project, env)] = sorted(
                    prerequisites.WATCH_READER.permissions
                )
        assert created == expected
        assert all(re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", role_id) for role_id in created)
        roles = {r.inputs["role"] for r in cap.resources if isinstance(r.inputs.get("role"), str)}
        assert "roles/monitoring.viewer" not in roles


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_deployers_act_as_their_own_runtime_accounts_only(pattern: Pattern, split: bool) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        acts = [
            b
            for b in of_type(cap.resources, "gcp:serviceaccount/iAMMember:IAMMember")
            if b.inputs["role"] == "roles/iam.serviceAccountUser"
        ]
        accounts = {a.urn: a for a in of_type(cap.resources, "gcp:serviceaccount/account:Account")}
        for env in spec.environments:
            deployer = member_of(cap, f"-ci-{DEPLOYERS[env].value}")
            targets = {
                accounts[b.property_dependencies["serviceAccountId"][0]].inputs["accountId"]
                for b in acts
                if b.inputs["member"] == deployer
            }
            assert targets == {
                prerequisites.runtime_account_id(spec.project, env, role)
                for role in prerequisites.PATTERN_IDENTITIES[pattern]
            }


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_signers_sign_as_themselves_and_nothing_else_may_sign(
    pattern: Pattern, split: bool
) -> None:
    """Token Creator (signBlob) exactly for the pattern's signing identities, each on its own
    account, per environment: made here, since granting on a service account needs
    iam.serviceAccounts.setIamPolicy, which no deployer holds (nor may grant: its IAM admin
    role is conditioned to the stacks' project roles)."""
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        accounts = {a.urn: a for a in of_type(cap.resources, "gcp:serviceaccount/account:Account")}
        grants = [
            r for r in cap.resources if r.inputs.get("role") == prerequisites.SELF_SIGNING_ROLE
        ]
        signers = set()
        for grant in grants:
            assert grant.type == "gcp:serviceaccount/iAMMember:IAMMember", grant.name
            (target,) = grant.property_dependencies["serviceAccountId"]
            inputs = accounts[target].inputs
            itself = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
            assert grant.inputs["member"] == f"serviceAccount:{itself}"
            assert target in grant.dependencies
            signers.add(inputs["accountId"])
        assert len(grants) == len(signers)
        assert signers == {
            prerequisites.runtime_account_id(spec.project, env, role)
            for env in spec.environments
            for role in prerequisites.SELF_SIGNERS[pattern]
        }
        for env in spec.environments:
            allowed = granted_project_roles(pattern, spec.account, spec.project, env)
            assert prerequisites.SELF_SIGNING_ROLE not in allowed
    assert set(prerequisites.SELF_SIGNERS[pattern]) <= set(
        prerequisites.PATTERN_IDENTITIES[pattern]
    )


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_previewers_read_and_use_only_their_environments_keys_and_state(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        state_grants = of_type(cap.resources, "gcp:storage/bucketIAMMember:BucketIAMMember")
        for role in (r for r in spec.identities if r in READ_ONLY_ROLES):
            member = member_of(cap, f"-ci-{role.value}")
            assert set(project_grants(cap, member)) == {"roles/viewer"}
            mine = [g for g in state_grants if g.inputs["member"] == member]
            # Read only: a preview takes no lock (tests/components/test_gcp_state_access.py).
            assert [g.inputs["role"] for g in mine] == ["roles/storage.objectViewer"]
            for grant in mine:
                expression = grant.inputs["condition"]["expression"]
                for env in Environment:
                    named = f"/{spec.project}/{env.value}" in expression
                    assert named is (env in IDENTITY_STACKS[role] and env in spec.environments)
                assert "/locks/" not in expression


# -- registry ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_registry_is_immutable_encrypted_pushed_by_the_publisher_and_pulled_by_the_other_projects(
    pattern: Pattern, split: bool
) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        repos = of_type(cap.resources, "gcp:artifactregistry/repository:Repository")
        if not spec.registry:
            assert repos == []
            continue
        (repo,) = repos
        assert repo.inputs["repositoryId"] == spec.registry_name
        assert repo.inputs["location"] == spec.region
        assert repo.inputs["dockerConfig"] == {"immutableTags": True}
        assert repo.inputs["kmsKeyName"]
        grants = of_type(
            cap.resources, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
        )
        writers = [g for g in grants if g.inputs["role"] == "roles/artifactregistry.writer"]
        assert [g.inputs["member"] for g in writers] == [member_of(cap, "-ci-publish")]
        readers = {
            g.inputs["member"]
            for g in grants
            if g.inputs["role"] == "roles/artifactregistry.reader"
        }
        expected = {
            "serviceAccount:" + prerequisites.AGENT_EMAILS[a].format(number=NUMBER)
            for a in prerequisites.PULL_AGENTS[pattern]
        }
        assert readers == (expected if spec.pull_accounts else set())
        assert len(
            [g for g in grants if g.inputs["role"] == "roles/artifactregistry.reader"]
        ) == len(spec.pull_accounts) * len(prerequisites.PULL_AGENTS[pattern])
        assert "containerscanning.googleapis.com" in project_apis(spec)


# -- fresh-project order -------------------------------------------------------------------------
@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_every_resource_depends_on_the_apis_it_uses(pattern: Pattern, split: bool) -> None:
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        services = {
            s.urn: s.inputs["service"]
            for s in of_type(cap.resources, "gcp:projects/service:Service")
        }
        assert set(services.values()) == set(project_apis(spec))
        for resource in cap.resources:
            if not resource.custom or resource.type == "gcp:projects/service:Service":
                continue
            needed = set(BOOTSTRAP_TYPE_APIS[resource.type])
            enabled_before = {services[u] for u in resource.dependencies if u in services}
            assert needed <= enabled_before, (resource.name, needed - enabled_before)
        for api in of_type(cap.resources, "gcp:projects/service:Service"):
            assert api.inputs["disableOnDestroy"] is False


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_lazy_service_agents_and_audit_configs_exist_once_per_project(
    pattern: Pattern, split: bool
) -> None:
    for cap in _bootstrap(pattern, split):
        identities = {
            i.inputs["service"]
            for i in of_type(cap.resources, "gcp:projects/serviceIdentity:ServiceIdentity")
        }
        wanted = {
            GENERATED_AGENTS[a]
            for a in prerequisites.PATTERN_AGENTS[pattern]
            if a in GENERATED_AGENTS
        }
        assert wanted <= identities
        audits = of_type(cap.resources, "gcp:projects/iAMAuditConfig:IAMAuditConfig")
        services = sorted(a.inputs["service"] for a in audits)
        assert services == sorted(prerequisites.AUDITED_SERVICES[pattern])
        for audit in audits:
            assert {"DATA_READ", "DATA_WRITE"} <= {
                c["logType"] for c in audit.inputs["auditLogConfigs"]
            }


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_the_bootstrap_passes_the_pack_at_prod_levels(pattern: Pattern, split: bool) -> None:
    for cap in _bootstrap(pattern, split):
        assert evaluate(all_policies(), cap.resources) == []


# -- the seam: every stack's needs are met by its bootstrap ---------------------------------
def _recording_calls() -> tuple[list[str], Callable[[], None]]:
    """Record every invoke token the mocks answer (restore with the returned function)."""
    tokens: list[str] = []
    original = capture_module.CloudMocks.call

    def call(self: Any, args: Any) -> dict[str, Any]:
        tokens.append(args.token)
        return original(self, args)

    capture_module.CloudMocks.call = call  # type: ignore[method-assign]

    def restore() -> None:
        capture_module.CloudMocks.call = original  # type: ignore[method-assign]

    return tokens, restore


@cache
def stack_needs(pattern: Pattern) -> tuple[frozenset[str], frozenset[str], tuple[Capture, ...]]:
    """(resource types, invoke tokens, captures) of the pattern's stacks: every environment,
    with and without a candidate (a shipped pattern has no image, so no candidate)."""
    tokens, restore = _recording_calls()
    try:
        caps = []
        for env in Environment:
            for candidate in (False,) if pattern in SHIPPED_PATTERNS else (False, True):
                overrides: dict[str, Any] = {}
                if candidate:
                    overrides["rollout"] = {
                        "candidate_version": "1.1.0",
                        "candidate_image": candidate_image(Cloud.GCP, pattern),
                    }
                caps.append(run_component(make_spec(Cloud.GCP, pattern, env, overrides)))
    finally:
        restore()
    types = frozenset(r.type for c in caps for r in c.resources if r.custom)
    return types, frozenset(t for t in tokens if t.startswith("gcp:")), tuple(caps)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_stack_resource_type_and_lookup_is_in_the_table(pattern: Pattern) -> None:
    types, invokes, _ = stack_needs(pattern)
    assert types <= set(TYPE_REQUIREMENTS), types - set(TYPE_REQUIREMENTS)
    # The per-pattern list is exact: no type its deployer is granted for goes unused.
    assert types == PATTERN_RESOURCE_TYPES[pattern]
    assert invokes <= set(INVOKE_REQUIREMENTS), invokes - set(INVOKE_REQUIREMENTS)
    assert invokes == prerequisites.PATTERN_INVOKES[pattern]


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_bootstrap_enables_every_api_and_grants_every_role_the_stacks_need(
    pattern: Pattern, split: bool
) -> None:
    types, invokes, caps = stack_needs(pattern)
    needed_apis = {api for t in types for api in TYPE_REQUIREMENTS[t].apis}
    needed_apis |= {api for t in invokes for api in INVOKE_REQUIREMENTS[t].apis}
    needed_roles = {role for t in types for role in TYPE_REQUIREMENTS[t].roles}
    needed_roles |= {role for t in invokes for role in INVOKE_REQUIREMENTS[t].roles}
    granted_by_stacks = {
        r.inputs["role"]
        for c in caps
        for r in of_type(c.resources, "gcp:projects/iAMMember:IAMMember")
    }
    for spec, cap in zip(bootstrap_specs(pattern, split), _bootstrap(pattern, split), strict=True):
        enabled = {
            s.inputs["service"] for s in of_type(cap.resources, "gcp:projects/service:Service")
        }
        assert needed_apis <= enabled, needed_apis - enabled
        for env in spec.environments:
            grants = project_grants(cap, member_of(cap, f"-ci-{DEPLOYERS[env].value}"))
            assert needed_roles <= set(grants), needed_roles - set(grants)
            # What the stacks grant at project level is what the conditioned IAM admin allows
            # (the stacks' rollback role is named in the mocks' project).
            expression = grants["roles/resourcemanager.projectIamAdmin"].inputs["condition"][
                "expression"
            ]
            allowed = {
                r.replace(f"projects/{spec.account}/", "projects/{p}/")
                for r in grantable(expression)
            }
            stack_roles = {
                r.replace(f"projects/{capture_module.GCP_PROJECT}/", "projects/{p}/")
                for r in granted_by_stacks
            }
            # Custom roles are per environment: the deployer of env may grant its own only.
            own = {r for r in stack_roles if not r.startswith("projects/") or f"_{env.value}_" in r}
            assert own <= allowed, own - allowed


# -- a project whose stacks serve an LLM (components/gcp/guardrail.py) -----------------------
LLM_MODES = (LlmMode.SELF_HOSTED, LlmMode.HOSTED)
LLM_REGION = "us-central1"  # hosted Gemini and Model Armor's Vertex AI integration run there
FLOOR = "gcp:modelarmor/floorsetting:Floorsetting"
TEMPLATE = "gcp:modelarmor/template:Template"
LLM_CASES = [(m, split) for m in LLM_MODES for split in (False, True)]


def llm_plan(mode: LlmMode, split: bool = False, region: str = LLM_REGION) -> ProjectPlan:
    """The plan `aideploy new --llm <mode>` makes for an api-first project."""
    overrides: dict[str, Any] = {"llm": mode, "region": region}
    if split:
        overrides["accounts"] = SPLIT_ACCOUNTS
    return sample_plan(Cloud.GCP, Pattern.API_FIRST, **overrides)


def run_program_bootstrap(plan: ProjectPlan, spec: BootstrapSpec) -> Capture:
    """What bootstrap/__main__.py does: the registry's hook reads the stack files' sections."""

    def program() -> None:
        inputs = registry_bootstrap_inputs(Cloud.GCP, spec, lambda env: plan.sections[env])
        GcpBootstrap(spec.project, spec, **inputs)

    return capture(
        program,
        project=f"{spec.project}-bootstrap",
        stack=spec.stack,
        config={"gcp:project": spec.account, "gcp:region": spec.region},
        region=spec.region,
    )


@cache
def _llm_bootstrap(
    mode: LlmMode, split: bool = False, region: str = LLM_REGION
) -> tuple[tuple[BootstrapSpec, Capture], ...]:
    plan = llm_plan(mode, split, region)
    return tuple((spec, run_program_bootstrap(plan, spec)) for spec in plan.bootstrap.values())


@cache
def llm_stacks(mode: LlmMode) -> tuple[Capture, ...]:
    """The LLM project's stacks, every environment."""
    plan = llm_plan(mode)
    return tuple(run_component(plan.specs[env]) for env in Environment)


def _without_llm(spec: BootstrapSpec, env: Environment) -> set[str]:
    condition = deployer_condition("roles/resourcemanager.projectIamAdmin", spec, env)
    assert condition is not None
    return grantable(str(condition.expression))


@pytest.mark.parametrize(("mode", "split"), LLM_CASES)
def test_llm_deployers_may_create_the_template_and_grant_exactly_the_guardrails_roles(
    mode: LlmMode, split: bool
) -> None:
    for spec, cap in _llm_bootstrap(mode, split):
        for env in spec.environments:
            grants = project_grants(cap, member_of(cap, f"-ci-{DEPLOYERS[env].value}"))
            predefined = {r for r in grants if not r.startswith("projects/")}
            # The CI deployer creates the stack's Model Armor template, and never the floor.
            assert "roles/modelarmor.admin" in predefined
            assert "roles/modelarmor.floorSettingsAdmin" not in predefined
            assert predefined == set(prerequisites.pattern_roles(Pattern.API_FIRST)) | set(
                prerequisites.llm_roles(mode)
            )
            assert grants["roles/modelarmor.admin"].inputs.get("condition") is None
            expression = grants["roles/resourcemanager.projectIamAdmin"].inputs["condition"][
                "expression"
            ]
            # Exactly the guardrail's project grants on top of the pattern's: nothing broader.
            added = grantable(expression) - _without_llm(spec, env)
            assert (
                added
                == {
                    LlmMode.SELF_HOSTED: {"roles/modelarmor.user"},
                    LlmMode.HOSTED: {"roles/modelarmor.user", "roles/aiplatform.user"},
                }[mode]
            )
            assert _without_llm(spec, env) <= grantable(expression)
            assert not grantable(expression) & FORBIDDEN
            assert not any(r.endswith((".admin", "Admin")) for r in added)


@pytest.mark.parametrize("mode", LLM_MODES)
def test_llm_bootstrap_meets_every_need_of_the_llm_stacks(mode: LlmMode) -> None:
    """The seam, from both captures: every type the LLM stacks create has its API and its
    deployer role, every project role they grant is in their deployer's condition, and every
    service agent they grant to exists before they run."""
    caps = llm_stacks(mode)
    types = {r.type for c in caps for r in c.resources if r.custom}
    assert TEMPLATE in types
    needed_apis = {api for t in types for api in TYPE_REQUIREMENTS[t].apis}
    needed_roles = {role for t in types for role in TYPE_REQUIREMENTS[t].roles}
    agent_emails = {
        "serviceAccount:" + template.format(number=NUMBER): agent
        for agent, template in prerequisites.AGENT_EMAILS.items()
    }
    ((spec, cap),) = _llm_bootstrap(mode)
    enabled = {s.inputs["service"] for s in of_type(cap.resources, "gcp:projects/service:Service")}
    assert needed_apis <= enabled, needed_apis - enabled
    generated = {
        i.inputs["service"]
        for i in of_type(cap.resources, "gcp:projects/serviceIdentity:ServiceIdentity")
    }
    for env, stack in zip(Environment, caps, strict=True):
        deployer = project_grants(cap, member_of(cap, f"-ci-{DEPLOYERS[env].value}"))
        assert needed_roles <= set(deployer), needed_roles - set(deployer)
        expression = deployer["roles/resourcemanager.projectIamAdmin"].inputs["condition"][
            "expression"
        ]
        allowed = {
            r.replace(f"projects/{spec.account}/", "projects/{p}/") for r in grantable(expression)
        }
        stack_grants = of_type(stack.resources, "gcp:projects/iAMMember:IAMMember")
        roles = {
            g.inputs["role"].replace(f"projects/{capture_module.GCP_PROJECT}/", "projects/{p}/")
            for g in stack_grants
        }
        assert roles <= allowed, roles - allowed
        for grant in stack_grants:
            agent = agent_emails.get(grant.inputs["member"])
            if agent in GENERATED_AGENTS:
                assert GENERATED_AGENTS[agent] in generated, (grant.name, agent)


@pytest.mark.parametrize(("mode", "split"), LLM_CASES)
def test_hosted_projects_generate_vertex_ais_agent_and_self_hosted_ones_do_not(
    mode: LlmMode, split: bool
) -> None:
    plain = {
        s.stack: c
        for s, c in zip(
            bootstrap_specs(Pattern.API_FIRST, split),
            _bootstrap(Pattern.API_FIRST, split),
            strict=True,
        )
    }
    for spec, cap in _llm_bootstrap(mode, split):
        identities = {
            i.inputs["service"]: i
            for i in of_type(cap.resources, "gcp:projects/serviceIdentity:ServiceIdentity")
        }
        before = {
            i.inputs["service"]
            for i in of_type(
                plain[spec.stack].resources, "gcp:projects/serviceIdentity:ServiceIdentity"
            )
        }
        expected = {"aiplatform.googleapis.com"} if mode is LlmMode.HOSTED else set()
        assert set(identities) - before == expected
        agents = outputs(cap)["stack_prerequisites"]
        for env in spec.environments:
            vertex = agents[env.value]["service_agents"].get("aiplatform")
            assert (vertex is not None) is (mode is LlmMode.HOSTED)
        if mode is LlmMode.HOSTED:
            # Generated once its API is on (a fresh project has neither).
            api = {
                s.urn
                for s in of_type(cap.resources, "gcp:projects/service:Service")
                if s.inputs["service"] == "aiplatform.googleapis.com"
            }
            assert api <= set(identities["aiplatform.googleapis.com"].dependencies)


@pytest.mark.parametrize(("mode", "split"), LLM_CASES)
def test_llm_projects_get_a_floor_setting_as_strict_as_their_stacks_templates(
    mode: LlmMode, split: bool
) -> None:
    templates = [one(c.resources, TEMPLATE) for c in llm_stacks(mode)]
    filters = {json.dumps(t.inputs["filterConfig"], sort_keys=True) for t in templates}
    assert len(filters) == 1  # parity: one template configuration in every environment
    for spec, cap in _llm_bootstrap(mode, split):
        floor = one(cap.resources, FLOOR)
        assert floor.inputs["parent"] == f"projects/{spec.account}"
        assert floor.inputs["location"] == "global"
        assert floor.inputs["enableFloorSettingEnforcement"] is True
        # Template conformance: the stacks' templates are exactly as strict as the floor.
        assert json.dumps(floor.inputs["filterConfig"], sort_keys=True) in filters
        if mode is LlmMode.HOSTED:
            assert floor.inputs["integratedServices"] == ["AI_PLATFORM"]
            assert floor.inputs["aiPlatformFloorSetting"]["inspectAndBlock"] is True
        else:
            assert "integratedServices" not in floor.inputs
            assert "aiPlatformFloorSetting" not in floor.inputs
        armor = {
            s.urn
            for s in of_type(cap.resources, "gcp:projects/service:Service")
            if s.inputs["service"] == "modelarmor.googleapis.com"
        }
        assert armor and armor <= set(floor.dependencies)


def test_self_hosted_outside_the_vertex_regions_gets_a_floor_without_vertex() -> None:
    region = "europe-west1"
    assert region not in guardrail.VERTEX_INTEGRATION_REGIONS
    ((_, cap),) = _llm_bootstrap(LlmMode.SELF_HOSTED, False, region)
    floor = one(cap.resources, FLOOR)
    assert floor.inputs["enableFloorSettingEnforcement"] is True
    assert "integratedServices" not in floor.inputs


@pytest.mark.parametrize(("mode", "split"), LLM_CASES)
def test_llm_bootstrap_depends_on_its_apis_and_passes_the_pack(mode: LlmMode, split: bool) -> None:
    for spec, cap in _llm_bootstrap(mode, split):
        services = {
            s.urn: s.inputs["service"]
            for s in of_type(cap.resources, "gcp:projects/service:Service")
        }
        assert set(services.values()) == set(project_apis(spec, mode))
        for resource in cap.resources:
            if not resource.custom or resource.type == "gcp:projects/service:Service":
                continue
            needed = set(BOOTSTRAP_TYPE_APIS[resource.type])
            enabled_before = {services[u] for u in resource.dependencies if u in services}
            assert needed <= enabled_before, (resource.name, needed - enabled_before)
        assert evaluate(all_policies(), cap.resources) == []


def _shape(cap: Capture) -> list[tuple[str, str]]:
    """Each resource's URN and inputs (unknowns by their kind: their ids differ per run)."""
    return sorted(
        (r.urn, json.dumps(r.inputs, sort_keys=True, default=lambda v: type(v).__name__))
        for r in cap.resources
    )


@pytest.mark.parametrize(("pattern", "split"), CASES)
def test_a_project_without_an_llm_bootstraps_as_before(pattern: Pattern, split: bool) -> None:
    """The stack files' ``llm: none`` through the registry's hook changes nothing: the same
    resources with the same inputs as the bootstrap without the hook, and nothing of Model
    Armor's anywhere."""
    overrides: dict[str, Any] = {"accounts": SPLIT_ACCOUNTS} if split else {}
    plan = sample_plan(Cloud.GCP, pattern, **overrides)
    for spec, cap in zip(plan.bootstrap.values(), _bootstrap(pattern, split), strict=True):
        assert _shape(run_program_bootstrap(plan, spec)) == _shape(cap)
        assert not of_type(cap.resources, FLOOR)
        text = json.dumps([r.inputs for r in cap.resources], default=str)
        assert "modelarmor" not in text


def test_the_generated_projects_bootstrap_program_runs_for_an_llm_project(
    tmp_path: Path,
) -> None:
    """`aideploy new --llm self-hosted`: the generated bootstrap/__main__.py reads the stack
    files through the registry's hook and creates the floor setting."""
    answers = example_answers(
        Cloud.GCP, Pattern.API_FIRST, llm=LlmMode.SELF_HOSTED, region=LLM_REGION
    )
    generate(answers, tmp_path / "p", rng=random.Random(0))
    stacks = sorted(
        p.name.split(".")[1]
        for p in (tmp_path / "p" / "bootstrap" / "stacks").glob("Pulumi.*.yaml")
    )
    assert stacks
    for stack in stacks:
        run = run_stack(tmp_path / "p" / "bootstrap", stack)
        floor = one(run.resources, FLOOR)
        assert floor.inputs["enableFloorSettingEnforcement"] is True
        roles = {
            r.inputs.get("role") for r in of_type(run.resources, "gcp:projects/iAMMember:IAMMember")
        }
        assert "roles/modelarmor.admin" in roles
