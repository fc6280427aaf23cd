"""A client's journey on Azure, under mocks: `aideploy new`, every bootstrap stack, the dev stack.

Generate a project (one subscription for every environment, and a split with prod and its
registry in a subscription of their own), run each bootstrap stack from the generated files,
and run the dev stack from its generated stack file. What the dev stack relies on (its
subscription, the pull identity its apps name, the registry its image lives in, the state and
secrets key CI logs in with, the resource providers its types need) must be created by the
bootstrap of its subscription or of the registry's, or be named in the generated README; every
physical name must fit Azure's limits; every key consumer must wait for the key and its grant;
and the bootstrap must pass the project's own policy pack at prod levels.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azure import bootstrap as boot
from components.azure import event_driven as ed
from components.azure import hosting, security
from components.bootstrap import CI_ENVIRONMENTS, DEPLOYERS, IDENTITY_STACKS, account_of
from components.spec import Cloud, Environment, Pattern
from offline.capture import CapturedResource
from offline.program import StackRun, run_stack
from policies.rules import all_policies
from templates.generator import ProjectPlan, generate
from tests.conftest import sample_answers, sample_plan
from tests.policies.harness import evaluate

NS = "azure-native"
PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
NONPROD = "aaaaaaaa-0000-4000-8000-000000000001"
PROD = "bbbbbbbb-0000-4000-8000-000000000002"
SPLIT = {Environment.DEV: NONPROD, Environment.STAGING: NONPROD, Environment.PROD: PROD}
LAYOUTS: dict[str, dict[str, Any]] = {"one-subscription": {}, "split": {"accounts": SPLIT}}
CLIENT_OBJECT_ID = "33333333-3333-3333-3333-333333333333"  # the mocks' getClientConfig

# Azure's rules for the names we set: (input key, pattern). A name outside them is rejected by
# ARM at `pulumi up`, whatever the mocks accept.
NAME_LIMITS: dict[str, tuple[str, str]] = {
    f"{NS}:storage:StorageAccount": ("accountName", r"[a-z0-9]{3,24}"),
    f"{NS}:keyvault:Vault": ("vaultName", r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]"),
    f"{NS}:keyvault:Key": ("keyName", r"[a-zA-Z0-9-]{1,127}"),
    f"{NS}:containerregistry:Registry": ("registryName", r"[a-zA-Z0-9]{5,50}"),
    f"{NS}:apimanagement:ApiManagementService": (
        "serviceName",
        r"[a-zA-Z][a-zA-Z0-9-]{0,48}[a-zA-Z0-9]",
    ),
    f"{NS}:machinelearningservices:Workspace": ("workspaceName", r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}"),
    f"{NS}:machinelearningservices:OnlineEndpoint": (
        "endpointName",
        r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]",
    ),
    f"{NS}:cosmosdb:DatabaseAccount": ("accountName", r"[a-z0-9][a-z0-9-]{1,42}[a-z0-9]"),
    f"{NS}:servicebus:Namespace": ("namespaceName", r"[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]"),
    f"{NS}:app:ContainerApp": ("containerAppName", r"[a-z][a-z0-9-]{0,30}[a-z0-9]"),
    f"{NS}:app:Job": ("jobName", r"[a-z][a-z0-9-]{0,30}[a-z0-9]"),
    f"{NS}:cdn:AFDEndpoint": ("endpointName", r"[a-zA-Z0-9][a-zA-Z0-9-]{0,44}[a-zA-Z0-9]"),
    f"{NS}:resources:ResourceGroup": ("resourceGroupName", r"[-\w._()]{1,90}"),
    f"{NS}:managedidentity:UserAssignedIdentity": (
        "resourceName",
        r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}",
    ),
    f"{NS}:managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}",
    ),
}


def canonical(token: str) -> str:
    parts = token.split(":")
    if len(parts) == 3 and "/" in parts[1] and parts[0] == NS:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return token


@dataclass(frozen=True)
class Journey:
    """One generated project, its bootstrap runs by stack, and its dev stack's run."""

    plan: ProjectPlan
    root: Path
    bootstraps: dict[str, StackRun]
    dev: StackRun

    def bootstrap_of(self, env: Environment) -> StackRun:
        return self.bootstraps[account_of(self.plan.bootstrap, env).stack]

    def registry(self) -> StackRun:
        (stack,) = [s for s, spec in self.plan.bootstrap.items() if spec.registry]
        return self.bootstraps[stack]


@cache
def journey(pattern: Pattern, layout: str, tmp: Path) -> Journey:
    overrides = dict(LAYOUTS[layout])
    root = tmp / f"{pattern.value}-{layout}"
    generate(sample_answers(Cloud.AZURE, pattern, **overrides), root, rng=random.Random(0))
    plan = sample_plan(Cloud.AZURE, pattern, **overrides)
    stacks = sorted(
        p.name.split(".")[1] for p in (root / "bootstrap" / "stacks").glob("Pulumi.*.yaml")
    )
    assert stacks == sorted(plan.bootstrap)
    # The registry's subscription last: it reads the other subscriptions' pull identities.
    stacks.sort(key=lambda s: plan.bootstrap[s].registry)
    bootstraps = {stack: run_stack(root / "bootstrap", stack) for stack in stacks}
    return Journey(plan, root, bootstraps, run_stack(root, "dev"))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("azure-journey")


CASES = [(p, layout) for p in PATTERNS for layout in LAYOUTS]
IDS = [f"{p.value}-{layout}" for p, layout in CASES]


def of(resources: list[CapturedResource], token: str) -> list[CapturedResource]:
    return [r for r in resources if canonical(r.type) == token]


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_the_bootstrap_creates_what_the_dev_stack_relies_on(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    spec = account_of(j.plan.bootstrap, Environment.DEV)
    boot_run = j.bootstrap_of(Environment.DEV)
    # The dev stack deploys into the subscription whose bootstrap holds its prerequisites.
    assert j.dev.config["azure-native:subscriptionId"] == spec.account
    assert boot_run.config["azure-native:subscriptionId"] == spec.account
    prerequisites = boot_run.outputs["stack_prerequisites"][Environment.DEV.value]
    # The pull identity the dev stack's apps name exists in its subscription's bootstrap.
    pull = [
        r
        for r in of(boot_run.resources, f"{NS}:managedidentity:UserAssignedIdentity")
        if r.inputs["resourceName"] == hosting.pull_identity_name(spec.project)
    ]
    assert len(pull) == 1
    group = of(boot_run.resources, f"{NS}:resources:ResourceGroup")[0].inputs["resourceGroupName"]
    assert prerequisites["pull_identity"] == hosting.pull_identity_id(spec.account, spec.project)
    assert f"/resourceGroups/{group}/" in prerequisites["pull_identity"]
    named_by_stack = {
        reg["identity"]
        for app in of(j.dev.resources, f"{NS}:app:ContainerApp")
        + of(j.dev.resources, f"{NS}:app:Job")
        for reg in app.inputs["configuration"].get("registries") or []
    }
    if pattern is not Pattern.MANAGED_PLATFORM:
        assert named_by_stack == {prerequisites["pull_identity"]}
    # CI logs in to this state backend and this key, both created here.
    assert prerequisites["backend_url"] == boot_run.outputs["backend_url"] == spec.backend_url
    (account,) = [
        r for r in of(boot_run.resources, f"{NS}:storage:StorageAccount")
        if r.inputs["accountName"] == spec.state_name
    ]  # fmt: skip
    assert account.inputs["allowSharedKeyAccess"] is False
    keys = {k.inputs["keyName"] for k in of(boot_run.resources, f"{NS}:keyvault:Key")}
    assert spec.secrets_key_name(Environment.DEV) in keys
    assert (
        boot_run.outputs["secrets_providers"]["dev"]
        == prerequisites["secrets_provider"]
        == spec.secrets_provider(Environment.DEV)
    )
    # The dev deployer CI uses is one of this bootstrap's identities.
    deployer = DEPLOYERS[Environment.DEV]
    assert prerequisites["deployer"] == spec.identity_name(deployer)
    variables = boot_run.outputs["ci_variables"][CI_ENVIRONMENTS[deployer]]
    assert variables["AZURE_CLIENT_ID"] == boot_run.outputs["identities"][deployer.value]
    assert variables["AZURE_SUBSCRIPTION_ID"] == spec.account


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_the_model_image_is_in_the_bootstrap_registry_every_subscription_pulls_from(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    registry_run = j.registry()
    repository = registry_run.outputs["image_repository"]
    stack_file = yaml.safe_load((j.root / "stacks" / "Pulumi.dev.yaml").read_text())
    image = next(v for k, v in stack_file["config"].items() if k.endswith(":model"))["image"]
    assert image.rsplit(":", 1)[0] == repository
    registry = of(registry_run.resources, f"{NS}:containerregistry:Registry")[0]
    assert image.split("/", 1)[0] == f"{registry.inputs['registryName']}.azurecr.io"
    # Every subscription's pull identity holds AcrPull on it: this one's directly, the others'
    # read by name through a provider for their subscription.
    pulls = [
        r for r in of(registry_run.resources, f"{NS}:authorization:RoleAssignment")
        if r.name.endswith("-acr") and "-pull" in r.name
    ]  # fmt: skip
    assert len(pulls) == len(j.plan.bootstrap)
    providers = [r for r in registry_run.resources if r.type == "pulumi:providers:azure-native"]
    others = {s.account for s in j.plan.bootstrap.values() if not s.registry}
    assert {p.inputs["subscriptionId"] for p in providers} == others


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_the_bootstrap_passes_the_pack_at_prod_levels(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    for stack, run in j.bootstraps.items():
        spec = j.plan.bootstrap[stack]
        config: dict[str, Any] = boot.policy_waivers(spec.project)
        for policy in all_policies():
            schema = (policy.config_schema and policy.config_schema.properties) or {}
            if "minimumRetentionDays" in schema:
                config[policy.name] = {**config.get(policy.name, {}), "minimumRetentionDays": 365}
        assert evaluate(all_policies(), run.resources, config) == [], stack


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_every_physical_name_fits_azure(pattern: Pattern, layout: str, tmp: Path) -> None:
    j = journey(pattern, layout, tmp)
    runs = [j.dev, *j.bootstraps.values()]
    checked = 0
    for run in runs:
        for r in run.resources:
            limit = NAME_LIMITS.get(canonical(r.type))
            if limit is None or limit[0] not in r.inputs:
                continue
            key, pattern_re = limit
            assert re.fullmatch(pattern_re, str(r.inputs[key])), (r.type, r.inputs[key])
            checked += 1
    assert checked > 10


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_every_key_consumer_waits_for_the_key_and_its_grant(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    for run in (j.dev, *j.bootstraps.values()):
        vaults = of(run.resources, f"{NS}:keyvault:Vault")
        uris = [f"https://{v.inputs['vaultName']}.vault.azure.net" for v in vaults]
        keys = {k.urn for k in of(run.resources, f"{NS}:keyvault:Key")}
        grants = {
            g.urn
            for g in of(run.resources, f"{NS}:authorization:RoleAssignment")
            if set(g.property_dependencies.get("scope", ())) & keys
        }
        consumers = [
            r
            for r in run.resources
            if r.custom
            and canonical(r.type) != f"{NS}:keyvault:Key"
            and any(uri in str(dict(r.inputs)) for uri in uris)
        ]
        # Bootstrap: the state account and the registry; stacks: their CMK consumers.
        assert consumers or (pattern is Pattern.API_FIRST and run is j.dev), run.stack
        for r in consumers:
            assert set(r.dependencies) & keys, r.name
            assert set(r.dependencies) & grants, r.name


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_the_generated_readme_registers_the_providers_the_stack_needs(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    readme = (j.root / "bootstrap" / "README.md").read_text()
    registered = set(re.findall(r"az provider register --namespace (Microsoft\.\w+)", readme))
    for r in j.dev.resources:
        if r.custom and canonical(r.type) in boot.TYPE_OPERATIONS:
            for action in boot.TYPE_OPERATIONS[canonical(r.type)]:
                namespace = boot.provider_namespace(action)
                assert namespace in registered | boot.ALWAYS_REGISTERED, (r.type, namespace)


# -- issue 9 review: the deployer's role assignments and state access, held to the stacks -----
ROLE_SETS = r"@Request\[Microsoft\.Authorization/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{([0-9a-f, -]+)\}"  # noqa: E501


def guid_of(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_every_role_the_dev_stack_assigns_is_one_its_deployer_may_assign_and_exists(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    spec = account_of(j.plan.bootstrap, Environment.DEV)
    boot_run = j.bootstrap_of(Environment.DEV)
    deployer = DEPLOYERS[Environment.DEV].value
    (rbac,) = [r for r in boot_run.resources if r.name == f"{spec.project}-{deployer}-rbac"]
    to_others, to_self = (
        {g.strip() for g in group.split(",")}
        for group in re.findall(ROLE_SETS, rbac.inputs["condition"])
    )
    grants = of(j.dev.resources, f"{NS}:authorization:RoleAssignment")
    assert grants
    created = {
        r.inputs["roleDefinitionId"]
        for r in of(boot_run.resources, f"{NS}:authorization:RoleDefinition")
        if "roleDefinitionId" in r.inputs
    }
    prerequisites = boot_run.outputs["stack_prerequisites"][Environment.DEV.value]
    assert set(prerequisites["custom_roles"].values()) == {
        f"/subscriptions/{spec.account}/providers/Microsoft.Authorization/roleDefinitions/{g}"
        for g in created
    }
    builtin = {g.lower() for g in (*security.BUILTIN_ROLES.values(), *ed.ROLES.values())}
    for grant in grants:
        role = guid_of(grant.inputs["roleDefinitionId"])
        # The stack's own principals are service principals it created; the deployer's grant to
        # itself (its key-creator role on its own vault) is the one self-assignment.
        itself = grant.inputs["principalId"] == CLIENT_OBJECT_ID
        assert role in (to_self if itself else to_others), (grant.name, role)
        # The condition tests the request's principal type: every assignment must state it.
        assert grant.inputs["principalType"] == "ServicePrincipal", grant.name
        if role not in builtin:
            assert role in created, grant.name
            assert grant.inputs["roleDefinitionId"] in prerequisites["custom_roles"].values()


# The Pulumi DIY backend's layout (pulumi/pulumi pkg/backend/diy: store.go, lock.go, meta.go,
# stack_tags.go, journal.go) for project P and stack S, written out from Pulumi's source: what a
# deployer writes, and what a previewer reads (a preview takes no lock and writes nothing).
DIY_WRITER = (
    ".pulumi/stacks/{p}/{s}.json",
    ".pulumi/stacks/{p}/{s}.pulumi-tags",
    ".pulumi/history/{p}/{s}/",
    ".pulumi/backups/{p}/{s}/",
    ".pulumi/journal/{p}/{s}/",
    ".pulumi/locks/organization/{p}/{s}/",
)
DIY_READER = (
    ".pulumi/stacks/{p}/{s}.json",
    ".pulumi/stacks/{p}/{s}.pulumi-tags",
    ".pulumi/history/{p}/{s}/",
    ".pulumi/journal/{p}/{s}/",
)


@pytest.mark.parametrize(("pattern", "layout"), CASES, ids=IDS)
def test_each_ci_identity_may_write_only_the_state_of_its_own_stacks(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    # Both names as Pulumi sees them: the project's Pulumi.yaml and the stack files.
    project = yaml.safe_load((j.root / "Pulumi.yaml").read_text())["name"]
    stacks = {p.name.split(".")[1] for p in (j.root / "stacks").glob("Pulumi.*.yaml")}
    assert stacks == {e.value for e in Environment}
    checked = 0
    for stack, run in j.bootstraps.items():
        spec = j.plan.bootstrap[stack]
        for role in spec.identities:
            grants = [r for r in run.resources if r.name == f"{spec.project}-{role.value}-state"]
            if not grants:
                continue
            condition = grants[0].inputs["condition"]
            paths = set(re.findall(r"blobs:path\] StringStartsWith '([^']+)'", condition))
            mine = {e.value for e in IDENTITY_STACKS[role] if e in spec.environments}
            layout_of = DIY_READER if role.value.startswith("preview") else DIY_WRITER
            assert paths == {p.format(p=project, s=s) for s in mine for p in layout_of}, role
            for other in stacks - mine:
                assert f"/{project}/{other}" not in condition, (role, other)
            checked += 1
    assert checked == sum(
        1 for s in j.plan.bootstrap.values() for r in s.identities if r.value != "publish"
    )
