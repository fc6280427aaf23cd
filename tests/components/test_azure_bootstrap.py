"""AzureBootstrap under mocks: the state backend, secrets keys, CI identities and their
permissions, the registry; and the seam between the stacks' resource types and the deployer's
custom role, derived from captures of every Azure pattern."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.azure import bootstrap as boot
from components.azure import hosting, security
from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    STATE_CONTAINER,
    BootstrapSpec,
    IdentityRole,
    oidc_subjects,
)
from components.registry import bootstrap_component_for
from components.spec import Cloud, Environment, Pattern
from policies.rules import all_policies
from policies.runner.capture import SUBSCRIPTION_ID, Capture, CapturedResource, capture
from tests.conftest import candidate_image, make_spec, of_type, run_component, sample_plan
from tests.policies.harness import evaluate

NS = "azure-native"
ROOT = Path(__file__).resolve().parents[2]
PARTIAL = ROOT / "templates" / "client-project" / "templates" / "bootstrap" / "azure.md"
PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
OTHER = "11111111-2222-3333-4444-555555555555"


def run_bootstrap(spec: BootstrapSpec) -> Capture:
    def program() -> None:
        component = bootstrap_component_for(spec.cloud)(spec.project, spec)
        for key, value in component.outputs().items():
            pulumi.export(key, value)

    return capture(
        program,
        project=f"{spec.project}-bootstrap",
        stack=spec.stack,
        region=spec.region,
        config={
            "azure-native:subscriptionId": spec.account,
            "azure-native:tenantId": spec.tenant or "",
        },
    )


@cache
def shared(
    pattern: Pattern = Pattern.API_FIRST, ci: str = "github"
) -> tuple[BootstrapSpec, Capture]:
    plan = sample_plan(Cloud.AZURE, pattern, ci=ci)
    (spec,) = plan.bootstrap.values()
    return spec, run_bootstrap(spec)


@cache
def split() -> dict[str, tuple[BootstrapSpec, Capture]]:
    accounts = {
        Environment.DEV: OTHER,
        Environment.STAGING: OTHER,
        Environment.PROD: SUBSCRIPTION_ID,
    }
    plan = sample_plan(Cloud.AZURE, Pattern.API_FIRST, accounts=accounts)
    return {stack: (spec, run_bootstrap(spec)) for stack, spec in plan.bootstrap.items()}


def named(cap: Capture, name: str) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.name == name]
    return found


def deps(r: CapturedResource, prop: str) -> set[str]:
    return set(r.property_dependencies.get(prop, ()))


def test_outputs_are_exactly_the_shared_contract_and_name_what_the_stacks_use() -> None:
    spec, cap = shared()
    outputs = cap.stack_outputs()
    assert set(outputs) == set(BOOTSTRAP_OUTPUTS)
    assert outputs["backend_url"] == spec.backend_url
    assert outputs["secrets_providers"] == {e.value: spec.secrets_provider(e) for e in Environment}
    assert outputs["image_repository"] == spec.image_repository
    assert set(outputs["identities"]) == {r.value for r in spec.identities}
    assert set(outputs["ci_variables"]) == {
        e for r in spec.identities for e in spec.ci_environments(r)
    }
    for variables in outputs["ci_variables"].values():
        assert variables["AZURE_TENANT_ID"] == spec.tenant
        assert variables["AZURE_SUBSCRIPTION_ID"] == spec.account
        assert variables["PULUMI_BACKEND_URL"] == spec.backend_url
        assert variables["AZURE_CLIENT_ID"]


def test_state_account_is_private_entra_only_versioned_and_encrypted() -> None:
    spec, cap = shared()
    account = named(cap, f"{spec.project}-state").inputs
    assert account["accountName"] == spec.state_name
    assert account["kind"] == "StorageV2"
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["allowBlobPublicAccess"] is False
    # Shared keys off: Pulumi's azblob backend signs in with Entra ID (documented).
    assert account["allowSharedKeyAccess"] is False
    assert account["encryption"]["keySource"] == "Microsoft.Keyvault"
    recovery = named(cap, f"{spec.project}-state-recovery").inputs
    assert recovery["isVersioningEnabled"] is True
    assert recovery["deleteRetentionPolicy"]["enabled"] is True
    assert named(cap, f"{spec.project}-state-container").inputs["containerName"] == STATE_CONTAINER
    assert spec.backend_url == f"azblob://{STATE_CONTAINER}?storage_account={spec.state_name}"


def test_a_secrets_key_per_environment_in_an_rbac_purge_protected_vault() -> None:
    spec, cap = shared()
    vault = named(cap, f"{spec.project}-vault")
    props = vault.inputs["properties"]
    assert vault.inputs["vaultName"] == spec.vault_name
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    officer = named(cap, f"{spec.project}-vault-admin-grant")
    for env in Environment:
        key = named(cap, f"{spec.project}-key-{env.value}")
        assert key.inputs["keyName"] == spec.secrets_key_name(env)
        assert key.inputs["properties"]["kty"] == "RSA"
        # Created by whoever runs bootstrap, after its data-plane role propagated (A5).
        assert officer.urn in key.dependencies
        assert spec.secrets_provider(env).startswith(f"azurekeyvault://{spec.vault_name}.vault")
        assert spec.secrets_provider(env).endswith(f"/keys/{spec.secrets_key_name(env)}")


def key_users(spec: BootstrapSpec, cap: Capture) -> dict[str, set[str]]:
    """{identity role: environments whose secrets key it may use} from captured grants."""
    identity_urns = {
        named(cap, f"{spec.project}-id-{role.value}").urn: role.value for role in spec.identities
    }
    key_urns = {named(cap, f"{spec.project}-key-{e.value}").urn: e.value for e in spec.environments}
    users: dict[str, set[str]] = {role.value: set() for role in spec.identities}
    for grant in of_type(cap.resources, f"{NS}:authorization:RoleAssignment"):
        scope = deps(grant, "scope") & set(key_urns)
        who = deps(grant, "principalId") & set(identity_urns)
        for k in scope:
            for w in who:
                users[identity_urns[w]].add(key_urns[k])
    return users


def test_each_identity_decrypts_only_its_own_environments_secrets() -> None:
    spec, cap = shared()
    users = key_users(spec, cap)
    for role in spec.identities:
        assert users[role.value] == {e.value for e in IDENTITY_STACKS[role]}, role
    assert "prod" not in users[IdentityRole.PREVIEW.value]


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_every_identity_trusts_exactly_its_oidc_subjects(ci: str) -> None:
    spec, cap = shared(ci=ci)
    credentials = of_type(cap.resources, f"{NS}:managedidentity:FederatedIdentityCredential")
    for role in spec.identities:
        ident = named(cap, f"{spec.project}-id-{role.value}")
        assert ident.inputs["resourceName"] == spec.identity_name(role)
        mine = [c for c in credentials if deps(c, "resourceName") == {ident.urn}]
        assert [c.inputs["subject"] for c in mine] == list(boot.federated_subjects(spec, role))
        for c in mine:
            assert c.inputs["issuer"] == spec.oidc_issuer
            assert c.inputs["audiences"] == [boot.FEDERATION_AUDIENCE]
            assert "*" not in c.inputs["subject"]
        if ci == "github":
            assert [c.inputs["subject"] for c in mine] == list(
                oidc_subjects(spec.ci, spec.repo, role)
            )


def test_deployers_get_the_pattern_role_and_constrained_rbac_admin_never_owner() -> None:
    spec, cap = shared()
    role = named(cap, f"{spec.project}-deployer-role")
    subscription = f"/subscriptions/{spec.account}"
    assert role.inputs["assignableScopes"] == [subscription]
    actions = role.inputs["permissions"][0]["actions"]
    assert actions == list(boot.deployer_actions(spec.pattern))
    assert not any(a.startswith("Microsoft.Authorization/roleAssignments") for a in actions)
    assert "*" not in actions
    for deployer in DEPLOYERS.values():
        r = deployer.value
        rbac = named(cap, f"{spec.project}-{r}-rbac").inputs
        assert rbac["roleDefinitionId"].endswith(boot.RBAC_ADMINISTRATOR)
        assert rbac["scope"] == subscription
        assert rbac["condition"] == boot.DEPLOYER_ASSIGNMENT_CONDITION
        assert rbac["conditionVersion"] == "2.0"
        for forbidden in (boot.OWNER, boot.USER_ACCESS_ADMINISTRATOR, boot.RBAC_ADMINISTRATOR):
            assert boot.DEPLOYER_ASSIGNMENT_CONDITION.count(forbidden) == 2
        deploy = named(cap, f"{spec.project}-{r}-deploy")
        assert deps(deploy, "roleDefinitionId") == {role.urn}
    for grant in of_type(cap.resources, f"{NS}:authorization:RoleAssignment"):
        assert not grant.inputs["roleDefinitionId"].endswith(
            ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c")
        )


def test_previewers_read_only() -> None:
    spec, cap = shared()
    for role in (IdentityRole.PREVIEW, IdentityRole.PREVIEW_PROD):
        reader = named(cap, f"{spec.project}-{role.value}-reader").inputs
        assert reader["roleDefinitionId"].endswith(security.BUILTIN_ROLES["reader"])
        state = named(cap, f"{spec.project}-{role.value}-state").inputs
        assert state["roleDefinitionId"].endswith(
            security.BUILTIN_ROLES["storage-blob-data-reader"]
        )
        names = {r.name for r in cap.resources}
        assert f"{spec.project}-{role.value}-deploy" not in names
        assert f"{spec.project}-{role.value}-rbac" not in names


def test_registry_is_premium_private_by_identity_and_cmk_publish_pushes_only_there() -> None:
    spec, cap = shared()
    registry = named(cap, f"{spec.project}-registry")
    inputs = registry.inputs
    assert inputs["registryName"] == spec.registry_name
    assert inputs["sku"]["name"] == "Premium"
    assert inputs["adminUserEnabled"] is False
    assert inputs["anonymousPullEnabled"] is False
    assert inputs["encryption"]["status"] == "enabled"
    push = named(cap, f"{spec.project}-publish-push")
    assert deps(push, "scope") == {registry.urn}
    assert push.inputs["roleDefinitionId"].endswith(security.BUILTIN_ROLES["acr-push"])
    pull = named(cap, f"{spec.project}-pull-acr")
    assert pull.inputs["roleDefinitionId"].endswith(security.BUILTIN_ROLES["acr-pull"])
    assert deps(pull, "principalId") == {named(cap, f"{spec.project}-id-pull").urn}
    assert named(cap, f"{spec.project}-id-pull").inputs[
        "resourceName"
    ] == hosting.pull_identity_name(spec.project)


def test_a_split_project_pulls_from_the_prod_registry_in_every_subscription() -> None:
    stacks = split()
    assert set(stacks) == {"dev-staging", "prod"}
    dev_spec, dev_cap = stacks["dev-staging"]
    assert not dev_spec.registry
    assert of_type(dev_cap.resources, f"{NS}:containerregistry:Registry") == []
    assert dev_cap.stack_outputs()["image_repository"] == ""
    prod_spec, prod_cap = stacks["prod"]
    assert prod_spec.pull_accounts == (OTHER,)
    provider = named(prod_cap, f"{prod_spec.project}-provider-{OTHER[:8]}")
    assert provider.inputs["subscriptionId"] == OTHER
    grant = named(prod_cap, f"{prod_spec.project}-pull-{OTHER[:8]}-acr")
    assert grant.inputs["principalId"] == "55555555-5555-5555-5555-555555555555"  # looked up
    registry = named(prod_cap, f"{prod_spec.project}-registry")
    assert deps(grant, "scope") == {registry.urn}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bootstrap_passes_the_pack_at_prod_levels_with_declared_waivers(pattern: Pattern) -> None:
    spec, cap = shared(pattern)
    config: dict[str, Any] = boot.policy_waivers(spec.project)
    for policy in all_policies():
        schema = (policy.config_schema and policy.config_schema.properties) or {}
        if "minimumRetentionDays" in schema:
            config[policy.name] = {**config.get(policy.name, {}), "minimumRetentionDays": 365}
    assert evaluate(all_policies(), cap.resources, config) == []
    # Each waiver names a resource the bootstrap has, with a reason.
    names = {r.name for r in cap.resources}
    for entry in boot.policy_waivers(spec.project).values():
        for waiver in entry["waivers"]:
            assert waiver["resource"] in names and len(waiver["reason"]) > 80


# -- the seam: every type the stacks create is in the table, and the deployer holds its actions
def canonical(token: str) -> str:
    parts = token.split(":")
    if len(parts) == 3 and "/" in parts[1] and parts[0] == NS:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return token


def variants(pattern: Pattern) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}, {"api": {"domain": "api.acme.example"}}]
    if pattern is not Pattern.EVENT_DRIVEN:
        image = candidate_image(Cloud.AZURE, pattern)
        out.append({"rollout": {"candidate_version": "1.1.0", "candidate_image": image}})
    return out if pattern is Pattern.API_FIRST else [v for v in out if "api" not in v]


@cache
def stack_types(pattern: Pattern) -> frozenset[str]:
    types: set[str] = set()
    for env in Environment:
        for over in variants(pattern):
            cap = run_component(make_spec(Cloud.AZURE, pattern, env, over))
            types |= {canonical(r.type) for r in cap.resources if r.custom}
    return frozenset(types)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_type_the_stacks_create_is_covered_by_the_deployers_permissions(
    pattern: Pattern,
) -> None:
    types = stack_types(pattern)
    assert types <= set(boot.TYPE_OPERATIONS), types - set(boot.TYPE_OPERATIONS)
    assert types <= boot.PATTERN_TYPES[pattern], types - boot.PATTERN_TYPES[pattern]
    spec, cap = shared(pattern)
    granted = set(named(cap, f"{spec.project}-deployer-role").inputs["permissions"][0]["actions"])
    granted |= set(boot.RBAC_ADMINISTRATOR_ACTIONS)
    for token in types:
        # Azure matches action wildcards ("*/read") case-insensitively.
        missing = {
            action
            for action in boot.TYPE_OPERATIONS[token]
            if not any(fnmatchcase(action.lower(), g.lower()) for g in granted)
        }
        assert not missing, (token, missing)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_readme_registers_every_resource_provider_the_stacks_and_bootstrap_use(
    pattern: Pattern,
) -> None:
    text = PARTIAL.read_text()
    registered = set(re.findall(r"az provider register --namespace (Microsoft\.\w+)", text))
    used = {
        boot.provider_namespace(a) for t in stack_types(pattern) for a in boot.TYPE_OPERATIONS[t]
    }
    assert used - boot.ALWAYS_REGISTERED <= registered
    assert set(boot.resource_providers(pattern)) <= registered


def test_gitlab_previews_cannot_be_wildcards_on_azure_and_the_readme_says_why() -> None:
    spec, _ = shared(ci="gitlab")
    assert oidc_subjects(spec.ci, spec.repo, IdentityRole.PREVIEW)[0].endswith(":*")
    assert boot.federated_subjects(spec, IdentityRole.PREVIEW)[0].endswith(":ref:main")
    assert "flexible federated identity credential" in PARTIAL.read_text().lower()
