"""AzureBootstrap under mocks: the state backend, secrets keys, CI identities and their
permissions, the registry; and the seam between the stacks' resource types and the deployer's
custom role, derived from captures of every Azure pattern."""

from __future__ import annotations

import re
import uuid
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
import pytest
import yaml

from components.azure import bootstrap as boot
from components.azure import event_driven as ed
from components.azure import hosting, roles, rollout, security
from components.azure.rollback_fn.webhook_auth import ACTION_GROUP_APP_ID, WEBHOOK_APP_ROLE
from components.bootstrap import (
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    READ_ONLY_ROLES,
    STATE_CONTAINER,
    STATE_READ_ONLY_PATHS,
    BootstrapSpec,
    IdentityRole,
    oidc_subjects,
)
from components.registry import bootstrap_component_for, component_for
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline import capture as capture_module
from offline.capture import SUBSCRIPTION_ID, Capture, CapturedResource, capture
from policies.rules import all_policies
from tests.conftest import candidate_image, make_spec, of_type, run_component, sample_plan
from tests.generator.pipeline_partials import pipeline_snippet
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
        assert rbac["conditionVersion"] == "2.0"
        deploy = named(cap, f"{spec.project}-{r}-deploy")
        assert deps(deploy, "roleDefinitionId") == {role.urn}
    for grant in of_type(cap.resources, f"{NS}:authorization:RoleAssignment"):
        assert not grant.inputs["roleDefinitionId"].endswith(
            ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c")
        )


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_deployer_cannot_write_or_delete_role_definitions(pattern: Pattern) -> None:
    """A principal that defines roles and assigns them can make itself anything (issue 9)."""
    spec, cap = shared(pattern)
    actions = named(cap, f"{spec.project}-deployer-role").inputs["permissions"][0]["actions"]
    assert not [a for a in actions if a.lower().startswith("microsoft.authorization/")]
    assert not [a for a in actions if "*" in a]
    # ... and no stack needs it: no stack of the pattern defines a role.
    for env in Environment:
        for over in variants(pattern):
            stack = run_component(make_spec(Cloud.AZURE, pattern, env, over))
            assert of_type(stack.resources, f"{NS}:authorization:RoleDefinition") == []


# -- the custom roles the stacks assign: created here, found there by a deterministic id -------
def bootstrap_custom_roles(spec: BootstrapSpec, cap: Capture) -> dict[str, CapturedResource]:
    deployer_role = named(cap, f"{spec.project}-deployer-role").urn
    return {
        r.inputs["roleDefinitionId"]: r
        for r in of_type(cap.resources, f"{NS}:authorization:RoleDefinition")
        if r.urn != deployer_role
    }


@cache
def stack_role_ids(pattern: Pattern) -> frozenset[str]:
    """The role definition GUIDs every stack of ``pattern`` (all environments and variants)
    assigns, from captures."""
    ids: set[str] = set()
    for env in Environment:
        for over in variants(pattern):
            stack = run_component(make_spec(Cloud.AZURE, pattern, env, over))
            for grant in of_type(stack.resources, f"{NS}:authorization:RoleAssignment"):
                ids.add(grant.inputs["roleDefinitionId"].rsplit("/", 1)[-1].lower())
    return frozenset(ids)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bootstrap_creates_every_custom_role_the_stacks_assign_by_its_deterministic_id(
    pattern: Pattern,
) -> None:
    spec, cap = shared(pattern)
    subscription = f"/subscriptions/{spec.account}"
    made = bootstrap_custom_roles(spec, cap)
    expected = {
        roles.custom_role_guid(spec.account, spec.project, key): key
        for key in roles.PATTERN_CUSTOM_ROLES[pattern]
    }
    assert set(made) == set(expected)
    for guid, key in expected.items():
        role = made[guid].inputs
        assert role["scope"] == subscription
        assert role["assignableScopes"] == [subscription]
        assert role["roleName"] == roles.custom_role_name(spec.project, key, spec.stack)
        (permission,) = role["permissions"]
        assert permission.get("actions", []) == list(roles.CUSTOM_ROLES[key].actions)
        assert permission.get("dataActions", []) == list(roles.CUSTOM_ROLES[key].data_actions)
    # The stacks' custom (non built-in) role ids are exactly the ones bootstrap made.
    builtin = {g.lower() for g in (*security.BUILTIN_ROLES.values(), *ed.ROLES.values())}
    assert stack_role_ids(pattern) - builtin == set(expected)


GUIDS = r"\{([0-9a-f, -]+)\}"


def condition_sets(condition: str, source: str, attribute: str, operator: str) -> list[set[str]]:
    """Every value set ``@<source>[...:<attribute>] <operator> {...}`` names, in order."""
    found = re.findall(
        rf"@{source}\[Microsoft\.Authorization/roleAssignments:{attribute}\] {operator} {GUIDS}",
        condition,
    )
    return [{g.strip() for g in group.split(",")} for group in found]


def principal_ids(spec: BootstrapSpec, cap: Capture) -> set[str]:
    """The principal ids of every identity this bootstrap creates (from captures)."""
    idents = of_type(cap.resources, f"{NS}:managedidentity:UserAssignedIdentity")
    assert idents
    return {"11111111-1111-1111-1111-111111111111"}  # the mocks' principalId, for every one


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_deployers_may_assign_exactly_the_roles_the_stacks_assign(pattern: Pattern) -> None:
    """An allow-list derived from both sides' captures: the role ids the stacks' role
    assignments use are in it, and it holds nothing else (issue 9: the deny-list let a
    deployer assign itself Contributor)."""
    spec, cap = shared(pattern)
    captured = stack_role_ids(pattern)
    self_only = {
        roles.custom_role_guid(spec.account, spec.project, k)
        for k in roles.PATTERN_CUSTOM_ROLES[pattern]
        if k in roles.SELF_ASSIGNED_ROLES
    }
    for deployer in (r for r in DEPLOYERS.values() if r in spec.identities):
        condition = named(cap, f"{spec.project}-{deployer.value}-rbac").inputs["condition"]
        # An allow-list, not the deny-list that named three admin roles.
        for source in ("Request", "Resource"):
            assert not condition_sets(
                condition, source, "RoleDefinitionId", "ForAnyOfAllValues:GuidNotEquals"
            )
        write = condition_sets(
            condition, "Request", "RoleDefinitionId", "ForAnyOfAnyValues:GuidEquals"
        )
        delete = condition_sets(
            condition, "Resource", "RoleDefinitionId", "ForAnyOfAnyValues:GuidEquals"
        )
        assert len(write) == len(delete) == 2  # to others, and to itself
        assert write == delete
        to_others, to_self = write
        allowed = to_others | to_self
        assert captured <= allowed, captured - allowed
        assert allowed <= captured | set(boot.ALLOW_LIST_EXTRAS), allowed - captured
        assert to_self == self_only
        assert not to_others & self_only
        for forbidden in (boot.OWNER, boot.USER_ACCESS_ADMINISTRATOR, boot.RBAC_ADMINISTRATOR):
            assert forbidden not in allowed
        assert "b24988ac-6180-42a0-ab88-20f7382dd24c" not in allowed  # Contributor
        # Only to service principals, never to the bootstrap's own identities (itself, the
        # previewers, the other deployers): a deployer cannot widen a CI identity's rights.
        for source in ("Request", "Resource"):
            assert (
                condition.count(
                    f"@{source}[Microsoft.Authorization/roleAssignments:PrincipalType] "
                    "StringEqualsIgnoreCase 'ServicePrincipal'"
                )
                == 2
            )
            excluded = condition_sets(
                condition, source, "PrincipalId", "ForAnyOfAllValues:GuidNotEquals"
            )
            assert excluded == [principal_ids(spec, cap)]
            (itself,) = condition_sets(
                condition, source, "PrincipalId", "ForAnyOfAnyValues:GuidEquals"
            )
            assert itself == principal_ids(spec, cap)


def test_the_assignment_condition_is_microsofts_documented_allow_list_shape() -> None:
    """The produced text for known inputs, held whole (conditions-format and the "constrain
    roles" and "constrain roles and principal types" examples of delegate-role-assignments)."""
    a, b, c = (f"{i}{i}{i}{i}{i}{i}{i}{i}-0000-0000-0000-000000000000" for i in "abc")
    me, other = "11111111-0000-0000-0000-000000000000", "22222222-0000-0000-0000-000000000000"
    text = boot.assignment_condition(
        assignable=[b, a], self_assignable=[c], self_principal=me, protected=[other, me]
    )

    def clause(action: str, source: str) -> str:
        attr = f"@{source}[Microsoft.Authorization/roleAssignments:"
        return (
            f"((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/{action}'}})) OR "
            f"({attr}RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{a}, {b}}} AND "
            f"{attr}PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal' AND "
            f"{attr}PrincipalId] ForAnyOfAllValues:GuidNotEquals {{{me}, {other}}}) OR "
            f"({attr}RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{c}}} AND "
            f"{attr}PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal' AND "
            f"{attr}PrincipalId] ForAnyOfAnyValues:GuidEquals {{{me}}}))"
        )

    assert text == f"{clause('write', 'Request')} AND {clause('delete', 'Resource')}"


# -- (c): no role a deployer may assign decrypts a Pulumi secrets key -------------------------
KEY_CRYPTO_DATA_ACTIONS = {
    f"Microsoft.KeyVault/vaults/keys/{op}/action": op
    for op in ("encrypt", "decrypt", "wrap", "unwrap", "sign", "release", "update", "import")
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_role_a_deployer_may_assign_decrypts_another_environments_secrets(
    pattern: Pattern,
) -> None:
    """Azure role assignment conditions cannot restrict the assignment's scope, so a deployer
    could assign an allowed role on any key, another environment's included: no allowed role
    may be able to decrypt with a Pulumi secrets key."""
    spec, cap = shared(pattern)
    condition = named(cap, f"{spec.project}-deploy-dev-rbac").inputs["condition"]
    allowed = set().union(
        *condition_sets(condition, "Request", "RoleDefinitionId", "ForAnyOfAnyValues:GuidEquals")
    )
    # Pulumi's azurekeyvault provider encrypts and decrypts (gocloud's keeper): the secrets
    # keys permit exactly that, so a wrap/unwrap role on them is refused (KeyOperationForbidden).
    for env in spec.environments:
        key = named(cap, f"{spec.project}-key-{env.value}").inputs["properties"]
        assert key["keyOps"] == list(boot.SECRETS_KEY_OPS) == ["encrypt", "decrypt"]
    builtin_names = {v.lower(): k for k, v in security.BUILTIN_ROLES.items()}
    custom = {
        roles.custom_role_guid(spec.account, spec.project, k): roles.CUSTOM_ROLES[k]
        for k in roles.CUSTOM_ROLES
    }
    for guid in allowed:
        if guid in custom:
            ops = {KEY_CRYPTO_DATA_ACTIONS.get(a) for a in custom[guid].data_actions} - {None}
            assert not ops, (guid, ops)
        elif guid in boot.KEY_ROLE_OPERATIONS:
            assert not boot.KEY_ROLE_OPERATIONS[guid] & set(boot.SECRETS_KEY_OPS), guid
        else:
            # Any other allowed role is no Key Vault key role at all.
            assert not builtin_names.get(guid, "").startswith("key-vault-crypto"), guid
    for forbidden in ("key-vault-crypto-data-user", "key-vault-crypto-officer"):
        assert security.BUILTIN_ROLES[forbidden] not in allowed
    # Secrets Officer (the ML workspace's, on its own vault) reads secrets: the bootstrap vault
    # holds keys only.
    assert of_type(cap.resources, f"{NS}:keyvault:Secret") == []


# -- (d): each CI identity reaches only its own stacks' state ----------------------------------
def quoted(condition: str, attribute: str, operator: str) -> set[str]:
    return set(
        re.findall(
            rf"@(?:Resource|Request)\[Microsoft\.Storage/storageAccounts/blobServices/"
            rf"containers/blobs:{attribute}\] {operator} '([^']+)'",
            condition,
        )
    )


@pytest.mark.parametrize("layout", ["shared", "split"])
def test_each_ci_identity_reaches_only_its_own_stacks_state(layout: str) -> None:
    """In a shared subscription every deployer held Storage Blob Data Contributor on the whole
    container: dev's CI could overwrite prod's state. Each grant is now conditioned on the
    Pulumi DIY layout's paths of the identity's own stacks."""
    runs = [shared()] if layout == "shared" else list(split().values())
    for spec, cap in runs:
        for role in spec.identities:
            if role not in set(DEPLOYERS.values()) | READ_ONLY_ROLES:
                continue
            grant = named(cap, f"{spec.project}-{role.value}-state").inputs
            assert grant["conditionVersion"] == "2.0"
            condition = grant["condition"]
            envs = [e for e in IDENTITY_STACKS[role] if e in spec.environments]
            writer = role not in READ_ONLY_ROLES
            paths = {p for e in envs for p in boot.state_paths(spec.project, e, writer)}
            listed = {p for e in envs for p in boot.state_list_prefixes(spec.project, e, writer)}
            assert quoted(condition, "path", "StringStartsWith") == paths
            assert quoted(condition, "prefix", "StringStartsWith") == listed
            # The backend's version file is read, never written, by CI.
            assert quoted(condition, "path", "StringEquals") == set(STATE_READ_ONLY_PATHS)
            others = {
                p
                for e in Environment
                if e not in envs
                for p in boot.state_paths(spec.project, e, True)
            }
            assert not any(o in condition for o in others), role
            writes = [
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            ]
            if role in READ_ONLY_ROLES:
                assert grant["roleDefinitionId"].endswith(
                    security.BUILTIN_ROLES["storage-blob-data-reader"]
                )
                assert not any(w in condition for w in writes)
            else:
                assert all(w in condition for w in writes)


def test_the_state_condition_is_the_documented_path_and_prefix_shape() -> None:
    """The produced text for known inputs (storage-auth-abac-examples: "read or list blobs in
    named containers with a path", "write blobs in named containers with a path")."""
    text = boot.state_condition(paths=["a/", "b."], list_prefixes=["a/"], write=True)
    blobs = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
    path = f"@Resource[{blobs}:path]"
    mine = f"({path} StringStartsWith 'a/' OR {path} StringStartsWith 'b.')"
    read = (
        f"((!(ActionMatches{{'{blobs}/read'}} AND NOT SubOperationMatches{{'Blob.List'}})) OR "
        f"{mine} OR {path} StringEquals '.pulumi/meta.yaml')"
    )
    listing = (
        f"((!(ActionMatches{{'{blobs}/read'}} AND SubOperationMatches{{'Blob.List'}})) OR "
        f"(@Request[{blobs}:prefix] StringStartsWith 'a/'))"
    )
    write = (
        f"((!(ActionMatches{{'{blobs}/write'}}) AND !(ActionMatches{{'{blobs}/add/action'}}) "
        f"AND !(ActionMatches{{'{blobs}/delete'}})) OR {mine})"
    )
    move = f"(!(ActionMatches{{'{blobs}/move/action'}}))"
    assert text == f"{read} AND {listing} AND {write} AND {move}"
    reader = boot.state_condition(paths=["a/", "b."], list_prefixes=["a/"], write=False)
    assert reader == f"{read} AND {listing}"


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
    for entry in boot.policy_waivers(spec.project, pattern).values():
        for waiver in entry["waivers"]:
            assert waiver["resource"] in names and len(waiver["reason"]) > 80


# -- the seam: every type the stacks create is in the table, and the deployer holds its actions
def canonical(token: str) -> str:
    parts = token.split(":")
    if len(parts) == 3 and "/" in parts[1] and parts[0] == NS:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return token


# api-first only (spec._llm_where_offered); the hosted model is `aideploy new`'s default.
LLM_HOSTED: dict[str, Any] = {
    "llm": {"mode": "hosted", "model": "gpt-4o-mini", "model_version": "2024-07-18"}
}
LLM_SELF_HOSTED: dict[str, Any] = {"llm": {"mode": "self-hosted"}}


def variants(pattern: Pattern) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}, {"api": {"domain": "api.acme.example"}}]
    if pattern is not Pattern.EVENT_DRIVEN:
        image = candidate_image(Cloud.AZURE, pattern)
        out.append({"rollout": {"candidate_version": "1.1.0", "candidate_image": image}})
    if pattern is Pattern.API_FIRST:
        # An LLM behind the API: its account, RAI policy and deployment, its serving grant.
        out += [LLM_HOSTED, LLM_SELF_HOSTED]
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


def test_the_readme_says_what_a_deployer_can_and_cannot_do() -> None:
    """(e): the partial said "never Owner or Contributor" while a deployer could assign itself
    Contributor, and "can read each other's state" while it could overwrite it."""
    text = " ".join(PARTIAL.read_text().split())
    assert "Never Owner or Contributor" not in text
    assert "read each other's state" not in text
    for said in (
        "allow-list",
        "only to a **service principal**",
        "never to one of this bootstrap's own identities",
        "cannot define a role",
        "conditioned on the blob path",
        "cannot decrypt another environment's Pulumi secrets",
        "The boundary between environments is the subscription",
        "--ops encrypt decrypt",
    ):
        assert said in text, said
    for key in roles.CUSTOM_ROLES:
        assert roles.CUSTOM_ROLES[key].title in text, key


def test_the_readme_says_where_gitlab_previews_run_as_the_pipeline_does() -> None:
    """The Azure previewer trusts the default branch only: the generated GitLab pipeline runs
    its previews there, and the partial says so; the sign-in exports what the Azure SDK reads."""
    rules = yaml.safe_load(pipeline_snippet(Cloud.AZURE, "gitlab-preview-rules.yml"))
    assert {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"} in rules
    assert not any("merge_request_event" in r.get("if", "") for r in rules)
    text = " ".join(PARTIAL.read_text().split())
    assert "runs the cloud `preview` job of dev and staging on the **default branch**" in text
    for variable in ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        assert variable in text and variable in pipeline_snippet(Cloud.AZURE, "gitlab-login.sh")


# -- the rollback webhook's Entra application (review B1) ---------------------------------------
# The shared mocks answer nothing for Entra objects (their ids stay unknown, as in a first
# preview); these runs give each azuread object the ids Entra would assign, and the tenant's
# Azure Monitor service principal, so the ids can be followed into ci_variables.
ENTRA = "azuread:index"
MONITOR_SP = "99999999-8888-4777-8666-555555555555"  # Azure Monitor's SP in the mock tenant


def entra_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{name}"))


def run_bootstrap_with_entra(spec: BootstrapSpec, config: dict[str, str] | None = None) -> Capture:
    synthesized = capture_module._synthesized_outputs
    invokes = capture_module._invoke_results

    def outputs(type_: str, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        out = synthesized(type_, name, *args, **kwargs)
        if type_.startswith(f"{ENTRA}/"):
            out.update(objectId=entra_id("object", name), clientId=entra_id("client", name))
        return out

    def functions(*args: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
        found = invokes(*args, **kwargs)
        found[f"{ENTRA}/getServicePrincipal:getServicePrincipal"] = {
            "objectId": MONITOR_SP,
            "clientId": ACTION_GROUP_APP_ID,
            "displayName": "AZNS AAD Webhook",
        }
        return found

    def program() -> None:
        component = bootstrap_component_for(spec.cloud)(spec.project, spec)
        for key, value in component.outputs().items():
            pulumi.export(key, value)

    with (
        mock.patch.object(capture_module, "_synthesized_outputs", outputs),
        mock.patch.object(capture_module, "_invoke_results", functions),
    ):
        return capture(
            program,
            project=f"{spec.project}-bootstrap",
            stack=spec.stack,
            region=spec.region,
            config={
                "azure-native:subscriptionId": spec.account,
                "azure-native:tenantId": spec.tenant or "",
                **{f"{spec.project}-bootstrap:{k}": v for k, v in (config or {}).items()},
            },
        )


@cache
def entra_run(
    pattern: Pattern = Pattern.API_FIRST, layout: str = "shared", opt_out: bool = False
) -> dict[str, tuple[BootstrapSpec, Capture]]:
    accounts = (
        {Environment.DEV: OTHER, Environment.STAGING: OTHER, Environment.PROD: SUBSCRIPTION_ID}
        if layout == "split"
        else {e: SUBSCRIPTION_ID for e in Environment}
    )
    plan = sample_plan(Cloud.AZURE, pattern, accounts=accounts)
    config = {boot.WEBHOOK_APP_CONFIG: "false"} if opt_out else None
    return {s: (spec, run_bootstrap_with_entra(spec, config)) for s, spec in plan.bootstrap.items()}


def webhook_apps_of(cap: Capture) -> dict[str, CapturedResource]:
    """The bootstrap's webhook applications, by the environment their identifier URI names."""
    apps = of_type(cap.resources, f"{ENTRA}/application:Application")
    return {a.inputs["identifierUris"][0].rsplit("-", 2)[-2]: a for a in apps}


def stack_receiver(spec: BootstrapSpec, env: Environment) -> dict[str, Any]:
    """The rollback webhook receiver of ``env``'s stack, run with the bootstrap's tenant and the
    object id its CI variable would carry."""
    stack = make_spec(Cloud.AZURE, spec.pattern, env)

    def program() -> None:
        component_for(stack.cloud, stack.pattern)(stack.project, stack)

    cap = capture(
        program,
        project=stack.project,
        stack=env.value,
        region=stack.region,
        config={
            "azure-native:tenantId": spec.tenant or "",
            f"{stack.project}:{rollout.WEBHOOK_APP_OBJECT_ID_CONFIG}": OTHER,
        },
    )
    (action,) = [
        g for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
        if g.name.endswith("-rollback-action")
    ]  # fmt: skip
    receiver: dict[str, Any] = action.inputs["webhookReceivers"][0]
    return receiver


@pytest.mark.parametrize("pattern", sorted(rollout.WEBHOOK_PATTERNS))
def test_bootstrap_creates_the_webhook_app_the_stacks_receiver_authenticates_with(
    pattern: Pattern,
) -> None:
    ((spec, cap),) = entra_run(pattern).values()
    apps = webhook_apps_of(cap)
    assert set(apps) == {e.value for e in spec.environments}
    for env in spec.environments:
        app = apps[env.value]
        # The exact identifier URI the stack's action group names, both from the real code.
        uri = rollout.webhook_identifier_uri(spec.tenant or "", spec.project, env.value)
        assert app.inputs["identifierUris"] == [uri]
        assert app.inputs["signInAudience"] == "AzureADMyOrg"
        (role,) = app.inputs["appRoles"]
        assert role["value"] == role["displayName"] == WEBHOOK_APP_ROLE
        assert role["allowedMemberTypes"] == ["Application"]
        assert role["id"] == boot.webhook_role_id(spec.project, env)
        # Its service principal, and Azure Monitor's action-group SP holding the role there.
        (sp,) = [
            s for s in of_type(cap.resources, f"{ENTRA}/servicePrincipal:ServicePrincipal")
            if s.name == f"{app.name}-sp"
        ]  # fmt: skip
        assert sp.inputs["clientId"] == entra_id("client", app.name)
        assert deps(sp, "clientId") == {app.urn}
        (grant,) = [
            g for g in of_type(cap.resources, f"{ENTRA}/appRoleAssignment:AppRoleAssignment")
            if g.name == f"{app.name}-action-groups"
        ]  # fmt: skip
        assert grant.inputs["appRoleId"] == role["id"]
        assert grant.inputs["principalObjectId"] == MONITOR_SP
        assert grant.inputs["resourceObjectId"] == entra_id("object", sp.name)
        assert deps(grant, "resourceObjectId") == {sp.urn}
        # Entra objects go through the bootstrap's own azuread provider, pinned to its tenant.
        (provider,) = of_type(cap.resources, "pulumi:providers:azuread")
        assert provider.inputs["tenantId"] == spec.tenant
        assert all(r.provider.startswith(f"{provider.urn}::") for r in (app, sp, grant))
    # ... and the stack's receiver names that URI, so Azure Monitor's token carries that audience.
    receiver = stack_receiver(spec, Environment.PROD)
    assert receiver["useAadAuth"] is True
    assert receiver["identifierUri"] == apps["prod"].inputs["identifierUris"][0]
    assert receiver["tenantId"] == spec.tenant


def test_the_action_group_lookup_is_azure_monitors_documented_application() -> None:
    # The one client id Microsoft documents for secure webhooks, which the service also checks.
    assert ACTION_GROUP_APP_ID == "461e8683-5575-4561-ac7f-899cc907d62a"
    assert WEBHOOK_APP_ROLE == "ActionGroupsSecureWebhook"


@pytest.mark.parametrize("layout", ["shared", "split"])
def test_ci_variables_carry_each_environments_webhook_app_ids(layout: str) -> None:
    for spec, cap in entra_run(Pattern.API_FIRST, layout).values():
        apps = webhook_apps_of(cap)
        variables = cap.stack_outputs()["ci_variables"]
        stacks = boot.ci_environment_stacks(spec)
        for ci_env, values in variables.items():
            env = stacks.get(ci_env)
            if env is None:  # the release environment pushes images; it runs no stack
                assert rollout.WEBHOOK_APP_OBJECT_ID_ENV not in values, ci_env
                continue
            app = apps[env.value]
            assert values[rollout.WEBHOOK_APP_OBJECT_ID_ENV] == entra_id("object", app.name)
            assert values[rollout.WEBHOOK_APP_CLIENT_ID_ENV] == entra_id("client", app.name)
        # Every deployer and previewer of this subscription's stacks gets its stack's ids.
        assert set(stacks.values()) == set(spec.environments)
        assert {c for c in variables if rollout.WEBHOOK_APP_OBJECT_ID_ENV in variables[c]} == set(
            stacks
        )


def test_split_bootstraps_create_only_their_own_environments_apps_with_unique_uris() -> None:
    uris: list[str] = []
    for spec, cap in entra_run(Pattern.API_FIRST, "split").values():
        apps = webhook_apps_of(cap)
        assert set(apps) == {e.value for e in spec.environments}
        uris += [a.inputs["identifierUris"][0] for a in apps.values()]
    # Identifier URIs are unique in a tenant: no two bootstrap stacks may claim the same one.
    assert len(uris) == len(set(uris)) == len(Environment)


def test_no_webhook_app_for_patterns_without_the_rollback_webhook() -> None:
    for pattern in set(PATTERNS) - rollout.WEBHOOK_PATTERNS:
        ((_, cap),) = entra_run(pattern).values()
        assert not [r for r in cap.resources if r.type.startswith("azuread:")]
        for values in cap.stack_outputs()["ci_variables"].values():
            assert rollout.WEBHOOK_APP_OBJECT_ID_ENV not in values


def test_the_webhook_app_is_opt_out_for_tenants_without_entra_rights() -> None:
    ((_, cap),) = entra_run(Pattern.API_FIRST, opt_out=True).values()
    assert not [r for r in cap.resources if r.type.startswith("azuread:")]
    for values in cap.stack_outputs()["ci_variables"].values():
        assert rollout.WEBHOOK_APP_OBJECT_ID_ENV not in values
        assert values["AZURE_CLIENT_ID"]


def test_the_webhook_patterns_are_the_ones_whose_stacks_declare_the_webhook() -> None:
    for pattern in PATTERNS:
        cap = run_component(make_spec(Cloud.AZURE, pattern, Environment.DEV))
        receivers = [
            r
            for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
            for r in g.inputs.get("webhookReceivers") or []
            if r.get("useAadAuth")
        ]
        assert bool(receivers) == (pattern in rollout.WEBHOOK_PATTERNS), pattern


def test_the_readme_says_who_creates_the_webhook_app_and_with_which_entra_role() -> None:
    text = " ".join(PARTIAL.read_text().split())
    assert "The rollback webhook's Entra application" in text
    assert rollout.WEBHOOK_APP_DOC.split('"')[1] in text
    for needed in (
        "Cloud Application Administrator",
        "Application Administrator",
        "admin consent",
        WEBHOOK_APP_ROLE,
        ACTION_GROUP_APP_ID,
        boot.WEBHOOK_APP_CONFIG,
        rollout.WEBHOOK_APP_OBJECT_ID_ENV,
        rollout.WEBHOOK_APP_CLIENT_ID_ENV,
        f"pulumi config set {rollout.WEBHOOK_APP_OBJECT_ID_CONFIG}",
    ):
        assert needed in text, needed


# -- the embedded pattern: the release-signer role (issue 12) ---------------------------------
@cache
def embedded_bootstrap() -> tuple[BootstrapSpec, Capture]:
    """The sample bootstrap with the embedded pattern (not generated yet: planned)."""
    spec, _ = shared()
    spec = spec.model_copy(update={"pattern": Pattern.EMBEDDED})
    return spec, run_bootstrap(spec)


def test_the_release_signer_role_exists_only_for_embedded_and_holds_exactly_sign_and_read() -> None:
    signer = roles.CUSTOM_ROLES[roles.RELEASE_SIGNER]
    assert signer.actions == ()
    assert sorted(signer.data_actions) == [
        "Microsoft.KeyVault/vaults/keys/read",
        "Microsoft.KeyVault/vaults/keys/sign/action",
    ]
    for pattern in PATTERNS:
        assert roles.RELEASE_SIGNER not in roles.PATTERN_CUSTOM_ROLES[pattern]
        spec, cap = shared(pattern)
        guid = roles.custom_role_guid(spec.account, spec.project, roles.RELEASE_SIGNER)
        assert guid not in bootstrap_custom_roles(spec, cap)
    spec, cap = embedded_bootstrap()
    made = bootstrap_custom_roles(spec, cap)
    guid = roles.custom_role_guid(spec.account, spec.project, roles.RELEASE_SIGNER)
    (permission,) = made[guid].inputs["permissions"]
    assert permission.get("actions", []) == []
    assert sorted(permission["dataActions"]) == sorted(signer.data_actions)
    assert made[guid].inputs["assignableScopes"] == [f"/subscriptions/{spec.account}"]


def test_embedded_deployers_may_assign_the_signer_role_to_themselves_only() -> None:
    """As the key-creator role: in the condition's self-assignment clause, never to others."""
    spec, cap = embedded_bootstrap()
    signer = roles.custom_role_guid(spec.account, spec.project, roles.RELEASE_SIGNER)
    creator = roles.custom_role_guid(spec.account, spec.project, roles.KEY_CREATOR)
    publisher = roles.custom_role_guid(spec.account, spec.project, roles.RELEASE_PUBLISHER)
    for deployer in (r for r in DEPLOYERS.values() if r in spec.identities):
        condition = named(cap, f"{spec.project}-{deployer.value}-rbac").inputs["condition"]
        write = condition_sets(
            condition, "Request", "RoleDefinitionId", "ForAnyOfAnyValues:GuidEquals"
        )
        to_others, to_self = write
        assert to_self == {signer, creator, publisher}
        assert signer not in to_others
        assert to_others == set(boot.assignable_roles(Pattern.EMBEDDED, spec.account, spec.project))
    # The other patterns' allow-lists are unchanged by it.
    for pattern in PATTERNS:
        assert signer not in boot.self_assignable_roles(pattern, spec.account, spec.project)


def test_the_embedded_stack_types_and_roles_are_covered_by_its_bootstrap() -> None:
    """The seam, from a capture of every environment of the embedded component."""
    from components.azure.embedded import AzureEmbedded

    types: set[str] = set()
    assigned: set[str] = set()
    for env in Environment:
        spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, env).model_copy(
            update={"pattern": Pattern.EMBEDDED}
        )

        def program(spec: DeploymentSpec = spec) -> None:
            AzureEmbedded(spec.project, spec)

        cap = capture(
            program,
            project=spec.project,
            stack=env.value,
            region=spec.region,
        )
        types |= {canonical(r.type) for r in cap.resources if r.custom}
        for grant in of_type(cap.resources, f"{NS}:authorization:RoleAssignment"):
            assigned.add(grant.inputs["roleDefinitionId"].rsplit("/", 1)[-1].lower())
    assert types <= boot.PATTERN_TYPES[Pattern.EMBEDDED], (
        types - boot.PATTERN_TYPES[Pattern.EMBEDDED]
    )
    # No embedded-only type widens another pattern's deployer.
    for pattern in PATTERNS:
        assert not boot._EMBEDDED_ONLY_TYPES & boot.PATTERN_TYPES[pattern]
    allowed = set(boot.assignable_roles(Pattern.EMBEDDED, SUBSCRIPTION_ID, "acme-support"))
    allowed |= set(boot.self_assignable_roles(Pattern.EMBEDDED, SUBSCRIPTION_ID, "acme-support"))
    assert assigned == allowed
    assert {"Microsoft.Storage", "Microsoft.ApiManagement", "Microsoft.App"} <= set(
        boot.resource_providers(Pattern.EMBEDDED)
    )


# -- an LLM behind api-first (issue 14): its types, its serving grant, its resource provider ------
def test_the_llm_variants_bring_their_types_grants_and_provider_into_the_seam() -> None:
    """The seam tests above see LLM stacks: their Cognitive Services types, the serving
    identity's role of each mode (from the component's own table) and the namespace to
    register; no other pattern's deployer gains them."""
    from components.azure import guardrail
    from components.llm import LlmMode

    llm_types = {t for t in stack_types(Pattern.API_FIRST) if ":cognitiveservices:" in t}
    assert llm_types == {
        f"{NS}:cognitiveservices:Account",
        f"{NS}:cognitiveservices:RaiPolicy",
        f"{NS}:cognitiveservices:Deployment",
    }
    serving = {
        security.BUILTIN_ROLES[guardrail.SERVING_ROLE[m]]
        for m in (LlmMode.HOSTED, LlmMode.SELF_HOSTED)
    }
    assert serving <= stack_role_ids(Pattern.API_FIRST)
    namespaces = {boot.provider_namespace(a) for t in llm_types for a in boot.TYPE_OPERATIONS[t]}
    assert namespaces == {"Microsoft.CognitiveServices"}
    assert namespaces <= set(boot.resource_providers(Pattern.API_FIRST))
    for pattern in (Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM, Pattern.EMBEDDED):
        assert not llm_types & boot.PATTERN_TYPES[pattern]
        assert not namespaces & set(boot.resource_providers(pattern))
        spec, _ = shared(Pattern.API_FIRST)
        assert not serving & set(boot.assignable_roles(pattern, spec.account, spec.project))
