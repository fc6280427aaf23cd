"""A client's journey on GCP, under mocks: `aideploy new`, every bootstrap stack, the dev stack.

Generate a project (one project for all environments, and a split with prod and its registry in
a project of their own), run each bootstrap stack from the generated files, feed what it outputs
into what the dev stack relies on, and run the dev stack from its generated stack file. Every
prerequisite of the stack must be created by the bootstrap of its project (or of the registry's
project), every physical name must fit GCP's limits, every consumer of a key or an identity must
depend on it, and the bootstrap must pass the project's own policy pack at prod levels.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.bootstrap import CI_ENVIRONMENTS, DEPLOYERS, account_of
from components.gcp import prerequisites
from components.spec import Cloud, Environment, Pattern
from offline.capture import CapturedResource, _fake_id
from offline.program import StackRun, run_stack
from policies.rules import all_policies
from policies.rules.gcp.logging import audited_service
from templates.generator import ProjectPlan, generate
from tests.conftest import sample_answers, sample_plan
from tests.policies.harness import evaluate

PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
SPLIT = {
    Environment.DEV: "acme-ai-nonprod",
    Environment.STAGING: "acme-ai-nonprod",
    Environment.PROD: "acme-ai-prod",
}
LAYOUTS = {"one-project": {}, "split": {"accounts": SPLIT}}

# GCP's name limits for the names we set: (input key, pattern). A name outside its pattern is
# rejected by the API at `pulumi up`, whatever the mocks accept.
NAME_LIMITS: dict[str, tuple[str, str]] = {
    "gcp:storage/bucket:Bucket": ("name", r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"),
    "gcp:kms/keyRing:KeyRing": ("name", r"[a-zA-Z0-9_-]{1,63}"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", r"[a-zA-Z0-9_-]{1,63}"),
    "gcp:serviceaccount/account:Account": ("accountId", r"[a-z]([-a-z0-9]{4,28}[a-z0-9])"),
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": (
        "workloadIdentityPoolId",
        r"(?!gcp-)[a-z0-9-]{4,32}",
    ),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": (
        "workloadIdentityPoolProviderId",
        r"(?!gcp-)[a-z0-9-]{4,32}",
    ),
    "gcp:artifactregistry/repository:Repository": (
        "repositoryId",
        r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?",
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": ("roleId", r"[a-zA-Z0-9_.]{3,64}"),
    "gcp:cloudrunv2/service:Service": ("name", r"[a-z]([a-z0-9-]{0,47}[a-z0-9])?"),
    "gcp:endpoints/service:Service": ("serviceName", r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?\..+"),
    "gcp:pubsub/topic:Topic": ("name", r"[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}"),
    "gcp:pubsub/subscription:Subscription": ("name", r"[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}"),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": ("bucketId", r"[a-zA-Z0-9_-]{1,100}"),
    "gcp:firestore/database:Database": ("name", r"[a-z][a-z0-9-]{2,61}[a-z0-9]"),
    "gcp:cloudfunctionsv2/function:Function": ("name", r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?"),
    "gcp:compute/uRLMap:URLMap": ("name", r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"),
    "gcp:compute/backendService:BackendService": ("name", r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"),
}


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
    overrides: dict[str, Any] = dict(LAYOUTS[layout])
    root = tmp / f"{pattern.value}-{layout}"
    generate(sample_answers(Cloud.GCP, pattern, **overrides), root, rng=random.Random(0))
    plan = sample_plan(Cloud.GCP, pattern, **overrides)
    stacks = sorted(
        p.name.split(".")[1] for p in (root / "bootstrap" / "stacks").glob("Pulumi.*.yaml")
    )
    assert stacks == sorted(plan.bootstrap)
    bootstraps = {stack: run_stack(root / "bootstrap", stack) for stack in stacks}
    return Journey(plan, root, bootstraps, run_stack(root, "dev"))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gcp-journey")


CASES = [(p, layout) for p in PATTERNS for layout in LAYOUTS]


def _members(resources: list[CapturedResource]) -> set[str]:
    found = set()
    for r in resources:
        text = json.dumps(r.inputs, default=str)
        found |= set(re.findall(r"[a-z0-9.-]+@[a-z0-9.-]+\.gserviceaccount\.com", text))
    return found


@pytest.mark.parametrize(("pattern", "layout"), CASES)
def test_the_bootstrap_creates_every_prerequisite_of_the_dev_stack(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    prereq = j.bootstrap_of(Environment.DEV).outputs["stack_prerequisites"]["dev"]
    dev_config = yaml.safe_load((j.root / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    # The dev stack deploys into the project its bootstrap prepared.
    assert dev_config["gcp:project"] == prereq["project"]
    # Every API each of its resource types (and each lookup) needs is enabled there.
    types = {r.type for r in j.dev.resources if r.custom}
    needed = {api for t in types for api in prerequisites.TYPE_REQUIREMENTS[t].apis}
    assert needed <= set(prereq["apis"]), needed - set(prereq["apis"])
    # Its runtime identities and rollback role exist, by the names it looks them up with.
    project = prereq["project"]
    accounts = {
        m for m in _members(j.dev.resources) if m.endswith(f"@{project}.iam.gserviceaccount.com")
    }
    assert accounts and accounts <= set(prereq["service_accounts"].values()), accounts
    roles = {r.inputs.get("role") for r in j.dev.resources}
    custom = {r for r in roles if isinstance(r, str) and r.startswith("projects/")}
    bootstrap_roles = {prereq["rollback_role"], prereq["rollback_reader_role"]} - {""}
    assert custom == bootstrap_roles
    # The bootstrap created each with the id the stack names.
    created = {
        f"projects/{project}/roles/{r.inputs['roleId']}"
        for r in j.bootstrap_of(Environment.DEV).resources
        if r.type == "gcp:projects/iAMCustomRole:IAMCustomRole"
    }
    assert custom <= created, custom - created
    # Every Google service agent it grants to exists: generated by the bootstrap, created with
    # its API, or read by the stack with a data source (which makes it exist).
    agents = {
        m
        for m in _members(j.dev.resources)
        if not m.endswith(f"@{project}.iam.gserviceaccount.com")
    }
    made = set(prereq["service_agents"].values())
    read = {
        m
        for m in agents
        if re.search(r"@(gs-project-accounts|bigquery-encryption|gcp-sa-logging)\.", m)
    }
    assert agents - read <= made, (agents - read) - made
    # The data-access audit logs the stack's pack config defers to are on in its project.
    pack = json.loads((j.root / "policies" / "config" / "dev.json").read_text())
    deferred = {w["resource"] for w in pack["gcp-audit-logs-require-ai-and-storage"]["waivers"]}
    asked = {r.name: audited_service(r.type) for r in j.dev.resources if audited_service(r.type)}
    assert deferred == set(asked)
    assert set(asked.values()) <= set(prereq["audited_services"])


@pytest.mark.parametrize(("pattern", "layout"), CASES)
def test_the_model_image_comes_from_the_bootstrap_registry_which_lets_the_stack_pull(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    repository = j.registry().outputs["image_repository"]
    dev_config = yaml.safe_load((j.root / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    image = dev_config[f"{j.plan.answers.project_slug}:model"]["image"]
    assert image.startswith(repository + ":")
    dev_project = dev_config["gcp:project"]
    registry_spec = next(s for s in j.plan.bootstrap.values() if s.registry)
    readers = [
        r.inputs["member"]
        for r in j.registry().resources
        if r.type == "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
        and r.inputs["role"] == "roles/artifactregistry.reader"
    ]
    if dev_project == registry_spec.account:
        assert readers == []  # its own agents read through their service-agent roles
    else:
        # The other project's image-pulling agents (by its number) may read, nothing more.
        assert dev_project in registry_spec.pull_accounts
        assert sorted(readers) == sorted(
            "serviceAccount:" + prerequisites.AGENT_EMAILS[a].format(number="123456789")
            for a in prerequisites.PULL_AGENTS[pattern]
        )


@pytest.mark.parametrize(("pattern", "layout"), CASES)
def test_the_docs_and_ci_name_what_the_bootstrap_created(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    readme = (j.root / "bootstrap" / "README.md").read_text()
    for stack, run in j.bootstraps.items():
        spec = j.plan.bootstrap[stack]
        assert run.outputs["backend_url"] in readme
        for env, provider in run.outputs["secrets_providers"].items():
            assert provider == spec.secrets_provider(Environment(env))
            assert provider in readme
        for env in spec.environments:
            variables = run.outputs["ci_variables"][CI_ENVIRONMENTS[DEPLOYERS[env]]]
            assert (
                variables["GCP_SERVICE_ACCOUNT"] == run.outputs["identities"][DEPLOYERS[env].value]
            )
            assert re.fullmatch(
                r"projects/\d+/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}",
                variables["GCP_WORKLOAD_IDENTITY_PROVIDER"],
            )
    # The GCP section says what a client must do by hand, and in which order.
    needles = ["ci_variables", "GCP_WORKLOAD_IDENTITY_PROVIDER", "pulumi stack import", "hasOnly"]
    if pattern is Pattern.API_FIRST:
        needles += ["DNS A record", "15-60", "run.managed.requireInvokerIam", "sslip.io"]
    if layout == "split":
        needles.append("without the registry first")
    for needle in needles:
        assert needle in readme, needle


@pytest.mark.parametrize(("pattern", "layout"), CASES)
def test_the_bootstrap_passes_the_projects_pack_at_prod_levels(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    config = json.loads((j.root / "policies" / "config" / "prod.json").read_text())
    for run in j.bootstraps.values():
        assert evaluate(all_policies(), run.resources, config) == []


@pytest.mark.parametrize(("pattern", "layout"), CASES)
def test_every_name_fits_gcps_limits(pattern: Pattern, layout: str, tmp: Path) -> None:
    j = journey(pattern, layout, tmp)
    checked = 0
    for run in (*j.bootstraps.values(), j.dev):
        for r in run.resources:
            if r.type not in NAME_LIMITS:
                continue
            key, regex = NAME_LIMITS[r.type]
            value = r.inputs.get(key)
            if isinstance(value, str):
                assert re.fullmatch(regex, value), (r.type, value)
                checked += 1
    assert checked >= 10


def _references(resource: CapturedResource, value: str) -> bool:
    return value in json.dumps(resource.inputs, default=str)


@pytest.mark.parametrize(("pattern", "layout"), CASES)
def test_every_consumer_of_a_key_or_identity_depends_on_it(
    pattern: Pattern, layout: str, tmp: Path
) -> None:
    j = journey(pattern, layout, tmp)
    for run in (*j.bootstraps.values(), j.dev):
        producers = [
            r
            for r in run.resources
            if r.type in ("gcp:kms/cryptoKey:CryptoKey", "gcp:serviceaccount/account:Account")
        ]
        checked = 0
        for producer in producers:
            outputs_of = {
                "gcp:kms/cryptoKey:CryptoKey": "id",
                "gcp:serviceaccount/account:Account": "email",
            }
            marker = _marker(run, producer, outputs_of[producer.type])
            for consumer in run.resources:
                if consumer is producer or not _references(consumer, marker):
                    continue
                assert producer.urn in consumer.dependencies, (consumer.name, producer.name)
                checked += 1
        if producers:
            assert checked, run.stack


def _marker(run: StackRun, producer: CapturedResource, output: str) -> str:
    """A value only ``producer`` hands out (its key id, its email), as consumers receive it."""
    if output == "email":
        return (
            f"{producer.inputs['accountId']}@{producer.inputs['project']}.iam.gserviceaccount.com"
        )
    # Keys: the mock's synthesized id is derived from type and name (offline/capture.py).
    return _fake_id(producer.type, producer.name)
