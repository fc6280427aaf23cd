"""A client's AWS journey: `aideploy new`, the bootstrap of every account, the dev stack.

Generate the project as `aideploy new` would (one account for everything; and a split with prod
in an account of its own, under a 40-character project name), run every bootstrap stack the
project ships under mocks, then the dev stack, and hold the parts against each other from what
they registered: the backend and secrets providers the README logs in with, the boundary every
stack role carries, the deployer's state paths and rights, the image repository and who may
pull from it, the account-wide API Gateway role, the CI variables the workflows read. Then the
bootstrap passes the pack at prod levels, every name fits its AWS limit, and every consumer of a
key or identity depends on it.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.bootstrap import DEPLOYERS, READ_ONLY_ROLES, IdentityRole
from components.spec import Cloud, Environment, Pattern
from offline.capture import CapturedResource
from offline.program import StackRun, run_stack
from templates.generator import GenerationResult, generate
from tests.conftest import of_type, sample_answers
from tests.journey.aws_iam import (
    allowed_resources,
    allows,
    as_list,
    attached_documents,
    resource_matches,
    statements,
)

PARTIAL = (
    Path(__file__).resolve().parents[2] / "templates/client-project/templates/bootstrap/aws.md"
)
LONG_NAME = "northwind-traders-model-serving-platform"  # 40 characters, the longest allowed
SPLIT_ACCOUNTS = {
    Environment.DEV: "111111111111",
    Environment.STAGING: "111111111111",
    Environment.PROD: "222222222222",
}


@dataclass(frozen=True)
class Journey:
    """One generated project and what its bootstrap stacks and dev stack registered."""

    result: GenerationResult
    bootstraps: dict[str, StackRun]
    dev: StackRun

    @property
    def path(self) -> Path:
        return self.result.path

    @property
    def project(self) -> str:
        return str(yaml.safe_load((self.path / "Pulumi.yaml").read_text())["name"])

    def account_of(self, env: Environment) -> str:
        return next(s for s in self.result.plan.bootstrap.values() if env in s.environments).stack

    def bootstrap_of(self, env: Environment) -> StackRun:
        return self.bootstraps[self.account_of(env)]

    def registry(self) -> StackRun:
        return next(
            self.bootstraps[s.stack] for s in self.result.plan.bootstrap.values() if s.registry
        )

    def docs(self) -> str:
        return (self.path / "README.md").read_text() + (
            self.path / "bootstrap/README.md"
        ).read_text()


JOURNEYS: dict[str, dict[str, Any]] = {
    "one-account-api-first": {"pattern": Pattern.API_FIRST},
    "split-api-first": {
        "pattern": Pattern.API_FIRST,
        "accounts": SPLIT_ACCOUNTS,
        "name": LONG_NAME,
    },
    "split-managed-platform": {"pattern": Pattern.MANAGED_PLATFORM, "accounts": SPLIT_ACCOUNTS},
    "one-account-event-driven": {"pattern": Pattern.EVENT_DRIVEN},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aws-journeys")


_CACHE: dict[str, Journey] = {}


def journey(kind: str, workdir: Path) -> Journey:
    """Generate the project, run every bootstrap stack it ships, then its dev stack."""
    if kind not in _CACHE:
        options = dict(JOURNEYS[kind])
        pattern = options.pop("pattern")
        result = generate(
            sample_answers(Cloud.AWS, pattern, **options), workdir / kind, rng=random.Random(7)
        )
        boot = result.path / "bootstrap"
        stacks = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in (boot / "stacks").glob("Pulumi.*.yaml")
        )
        assert stacks == sorted(result.plan.bootstrap)
        bootstraps = {s: run_stack(boot, s) for s in stacks}
        _CACHE[kind] = Journey(result, bootstraps, run_stack(result.path, "dev"))
    return _CACHE[kind]


KINDS = list(JOURNEYS)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    [found] = of_type(resources, token)
    return found


def role_named(resources: list[CapturedResource], name: str) -> CapturedResource:
    [found] = [r for r in of_type(resources, "aws:iam/role:Role") if r.inputs.get("name") == name]
    return found


# --- 1. the bootstrap runs, and passes the pack at prod levels --------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_bootstrap_stack_passes_the_pack_with_the_projects_prod_config(
    kind: str, workdir: Path
) -> None:
    from policies.rules import all_policies
    from tests.policies.harness import evaluate

    j = journey(kind, workdir)
    config = json.loads((j.path / "policies/config/prod.json").read_text())
    for stack, run in j.bootstraps.items():
        assert evaluate(all_policies(), run.resources, config) == [], stack
        # ... and without a single waiver of its own: the project's waivers name stack resources.
        waived = {w["resource"] for entry in config.values() for w in entry.get("waivers", [])}
        assert not waived & {r.name for r in run.resources}


# --- 2. where the stacks log in, and with which secrets provider ---------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_the_docs_log_in_to_the_backend_and_keys_bootstrap_created(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    docs = j.docs()
    for env in Environment:
        outputs = j.bootstrap_of(env).outputs
        assert f'pulumi login "{outputs["backend_url"]}"' in docs
        provider = outputs["secrets_providers"][env.value]
        assert f'pulumi stack init {env.value} --secrets-provider "{provider}"' in docs
        assert outputs["stack_prerequisites"][env.value]["secrets_provider"] == provider


# --- 3. the dev stack's roles carry the boundary the dev account's bootstrap made ----------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_dev_stack_role_carries_the_boundary_bootstrap_created(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    boot = j.bootstrap_of(Environment.DEV)
    account = j.result.plan.bootstrap[j.account_of(Environment.DEV)].account
    [boundary] = [
        p
        for p in of_type(boot.resources, "aws:iam/policy:Policy")
        if p.urn
        == _urn_of_output(boot, boot.outputs["stack_prerequisites"]["dev"]["permissions_boundary"])
    ]
    expected = f"arn:aws:iam::{account}:policy/{boundary.inputs['name']}"
    roles = of_type(j.dev.resources, "aws:iam/role:Role")
    assert roles and {r.inputs["permissionsBoundary"] for r in roles} == {expected}
    # The deployer that creates them may do so only with that boundary.
    deployer = role_named(
        boot.resources, boot.outputs["identities"]["deploy-dev"].rsplit(":", 1)[-1]
    )
    docs = attached_documents(boot.resources, deployer)
    conditions = [
        s["Condition"]["StringEquals"]["iam:PermissionsBoundary"]
        for d in docs
        for s in d
        if s["Effect"] == "Allow" and "iam:CreateRole" in as_list(s["Action"])
    ]
    assert conditions == [expected]


def _urn_of_output(run: StackRun, arn: str) -> str:
    """The URN of the resource whose (mock) ARN an output carries."""
    name = arn.rsplit(":", 1)[-1]
    [found] = [r for r in run.resources if r.custom and r.name == name]
    return found.urn


# --- 4. the deployer may deploy the dev stack and write exactly its state ------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_the_dev_deployer_may_create_every_resource_of_the_dev_stack(
    kind: str, workdir: Path
) -> None:
    from components.aws.permissions import RESOURCE_TYPES

    j = journey(kind, workdir)
    boot = j.bootstrap_of(Environment.DEV)
    deployer = role_named(
        boot.resources, boot.outputs["identities"]["deploy-dev"].rsplit(":", 1)[-1]
    )
    docs = attached_documents(boot.resources, deployer)
    types = {r.type for r in j.dev.resources if r.custom and not r.type.startswith("pulumi:")}
    refused = sorted(
        (t, a) for t in types for a in RESOURCE_TYPES[t].actions if not allows(docs, a)
    )
    assert refused == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_dev_deployer_writes_the_keys_the_cli_writes_for_this_project_and_no_other_stack(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    boot = j.bootstrap_of(Environment.DEV)
    state = one([r for r in boot.resources if r.name.endswith("-state")], "aws:s3/bucket:Bucket")
    account = j.result.plan.bootstrap[j.account_of(Environment.DEV)].account
    state_arn = f"arn:aws:s3:eu-west-1:{account}:{state.name}"
    deployer = role_named(
        boot.resources, boot.outputs["identities"]["deploy-dev"].rsplit(":", 1)[-1]
    )
    writable = allowed_resources(attached_documents(boot.resources, deployer), "s3:PutObject")
    project = j.project  # the DIY backend files stacks under Pulumi.yaml's name

    def may_write(key: str) -> bool:
        return any(resource_matches(p, f"{state_arn}/{key}") for p in writable)

    for key in (
        f".pulumi/stacks/{project}/dev.json",
        f".pulumi/stacks/{project}/dev.json.bak",
        f".pulumi/history/{project}/dev/dev-1733270400000000000.history.json",
        f".pulumi/backups/{project}/dev/dev.1733270400000000000.json",
        f".pulumi/locks/organization/{project}/dev/4f0a7b1c.json",
    ):
        assert may_write(key), key
    for key in (
        f".pulumi/stacks/{project}/prod.json",
        f".pulumi/stacks/{project}/staging.json",
        f".pulumi/stacks/{project}-bootstrap/shared.json",
        ".pulumi/meta.yaml",
    ):
        assert not may_write(key), key


@pytest.mark.parametrize("kind", KINDS)
def test_the_dev_previewer_reads_what_a_preview_reads_and_writes_nothing(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    boot = j.bootstrap_of(Environment.DEV)
    state = one([r for r in boot.resources if r.name.endswith("-state")], "aws:s3/bucket:Bucket")
    account = j.result.plan.bootstrap[j.account_of(Environment.DEV)].account
    state_arn = f"arn:aws:s3:eu-west-1:{account}:{state.name}"
    previewer = role_named(boot.resources, boot.outputs["identities"]["preview"].rsplit(":", 1)[-1])
    docs = attached_documents(boot.resources, previewer)
    project = j.project

    def may(action: str, key: str) -> bool:
        return any(
            resource_matches(p, f"{state_arn}/{key}") for p in allowed_resources(docs, action)
        )

    # What `pulumi preview` reads (meta.go, the checkpoint), and the history it may show.
    for key in (
        ".pulumi/meta.yaml",
        f".pulumi/stacks/{project}/dev.json",
        f".pulumi/history/{project}/dev/dev-1733270400000000000.history.json",
    ):
        assert may("s3:GetObject", key), key
    # A preview takes no lock (diyBackend.Preview): nothing to write, no lock to plant or lift.
    for key in (
        f".pulumi/locks/organization/{project}/dev/4f0a7b1c.json",
        f".pulumi/stacks/{project}/dev.json",
    ):
        assert not may("s3:PutObject", key) and not may("s3:DeleteObject", key), key
    assert not may("s3:GetObject", f".pulumi/stacks/{project}/prod.json")


# --- 5. the image: where CI pushes it, what the stack pulls, who may pull --------------------
@pytest.mark.parametrize("kind", KINDS)
def test_the_dev_stack_pulls_the_image_bootstrap_made_a_home_for(kind: str, workdir: Path) -> None:
    j = journey(kind, workdir)
    registry = j.registry()
    repository = registry.outputs["image_repository"]
    stack_file = yaml.safe_load((j.path / "stacks/Pulumi.dev.yaml").read_text())["config"]
    image = stack_file[f"{j.project}:model"]["image"]
    assert image.startswith(repository + ":")
    assert f"docker push {image}" in j.docs()
    repo = one(registry.resources, "aws:ecr/repository:Repository")
    host, _, name = repository.partition("/")
    registry_account, region = host.split(".")[0], host.split(".")[3]
    assert name == repo.inputs["name"]
    repository_arn = f"arn:aws:ecr:{region}:{registry_account}:repository/{name}"
    pulls = [
        s
        for p in of_type(j.dev.resources, "aws:iam/rolePolicy:RolePolicy")
        for s in statements(p.inputs["policy"])
        if "ecr:BatchGetImage" in as_list(s["Action"])
    ]
    assert pulls and all(as_list(s["Resource"]) == [repository_arn] for s in pulls)
    dev_account = j.result.plan.bootstrap[j.account_of(Environment.DEV)].account
    policies = of_type(registry.resources, "aws:ecr/repositoryPolicy:RepositoryPolicy")
    if dev_account == registry_account:
        assert policies == []  # same account: the roles' own policies suffice
    else:
        [pull] = statements(
            one(registry.resources, "aws:ecr/repositoryPolicy:RepositoryPolicy").inputs["policy"]
        )
        assert f"arn:aws:iam::{dev_account}:root" in pull["Principal"]["AWS"]
        assert {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"} <= set(pull["Action"])


# --- 6. account-wide singletons: bootstrap's, named in its prerequisites ------------------------
@pytest.mark.parametrize("kind", ["one-account-api-first", "split-api-first"])
def test_stage_logging_relies_on_the_bootstraps_api_gateway_account_role(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    boot = j.bootstrap_of(Environment.DEV)
    assert not of_type(j.dev.resources, "aws:apigateway/account:Account")
    stage = one(j.dev.resources, "aws:apigateway/stage:Stage")
    assert stage.inputs["accessLogSettings"]["destinationArn"]
    account = one(boot.resources, "aws:apigateway/account:Account")
    needs = boot.outputs["stack_prerequisites"]["dev"]
    assert needs["apigateway_cloudwatch_role"] == account.inputs["cloudwatchRoleArn"]
    # WAF's log group is one the bootstrap's log resource policy lets WAF deliver to.
    policy = one(boot.resources, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    assert needs["waf_log_resource_policy"] == policy.inputs["policyName"]
    [delivery] = statements(policy.inputs["policyDocument"])
    waf_groups = [
        g.inputs["name"]
        for g in of_type(j.dev.resources, "aws:cloudwatch/logGroup:LogGroup")
        if str(g.inputs.get("name", "")).startswith("aws-waf-logs-")
    ]
    account_id = j.result.plan.bootstrap[j.account_of(Environment.DEV)].account
    assert waf_groups and all(
        any(
            resource_matches(p, f"arn:aws:logs:eu-west-1:{account_id}:log-group:{g}:log-stream:x")
            for p in as_list(delivery["Resource"])
        )
        for g in waf_groups
    )


# --- 7. CI: every environment a workflow job runs in gets the variables it reads ----------------
def _jobs(path: Path) -> list[tuple[str, str]]:
    """(job's environment, the job's YAML) of every job that runs in an environment."""
    from tests.journey.ci_jobs import job_environments

    return job_environments(path)


@pytest.mark.parametrize("kind", KINDS)
def test_ci_variables_cover_every_job_environment_and_what_it_reads(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    variables: dict[str, dict[str, str]] = {}
    for run in j.bootstraps.values():
        for ci_env, values in run.outputs["ci_variables"].items():
            assert ci_env not in variables, f"{ci_env} set by two accounts"
            variables[ci_env] = values
    jobs = _jobs(j.path)
    assert jobs
    # What the client sets itself (the test client's credentials): named in docs/ci.md's table.
    client_set = set(
        re.findall(
            r"^\s*\| `([A-Z0-9_]+)` \| variable", (j.path / "docs" / "ci.md").read_text(), re.M
        )
    )
    assert "API_TEST_CLIENT_ID" in client_set or "api-first" not in kind
    for ci_env, job in jobs:
        read = set(re.findall(r"vars\.([A-Z0-9_]+)", job))
        assert ci_env in variables, ci_env
        missing = read - set(variables[ci_env]) - client_set
        assert not missing, (ci_env, missing)
        # A bootstrap variable is never also left to the client to set by hand.
        assert not client_set & set(variables[ci_env]), client_set & set(variables[ci_env])
    # Each identity's variables log in as that identity.
    for stack, run in j.bootstraps.items():
        spec = j.result.plan.bootstrap[stack]
        for identity, arn in run.outputs["identities"].items():
            for ci_env in spec.ci_environments(IdentityRole(identity)):
                assert variables[ci_env]["AWS_ROLE_ARN"] == arn


# A GitHub job's AWS session: configure-aws-credentials asks STS for role-duration-seconds, one
# hour when the step does not say (its default for OIDC).
AWS_LOGIN_ACTION = "aws-actions/configure-aws-credentials@"
DEFAULT_SESSION_SECONDS = 3600


def _requested_sessions(job: str) -> list[int]:
    steps = yaml.safe_load(job).get("steps") or []
    return [
        int((step.get("with") or {}).get("role-duration-seconds", DEFAULT_SESSION_SECONDS))
        for step in steps
        if str(step.get("uses", "")).startswith(AWS_LOGIN_ACTION)
    ]


@pytest.mark.parametrize("kind", ["one-account-api-first", "split-managed-platform"])
def test_every_ci_job_asks_for_a_session_its_identity_allows(kind: str, workdir: Path) -> None:
    # STS refuses an AssumeRoleWithWebIdentity longer than the role's MaxSessionDuration, so a
    # job asking for more than its identity allows fails before it starts.
    j = journey(kind, workdir)
    longest: dict[str, int] = {}
    for run in j.bootstraps.values():
        for ci_env, values in run.outputs["ci_variables"].items():
            name = values["AWS_ROLE_ARN"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            longest[ci_env] = int(role_named(run.resources, name).inputs["maxSessionDuration"])
    asked = [(ci_env, s) for ci_env, job in _jobs(j.path) for s in _requested_sessions(job)]
    assert asked
    too_long = [(ci_env, s, longest[ci_env]) for ci_env, s in asked if s > longest[ci_env]]
    assert too_long == []


_SESSION_ROW = re.compile(r"^\|\s*(?P<who>`[^|]+)\|\s*(?P<hours>\d+) hours?\s*\|", re.MULTILINE)


def test_the_partial_says_how_long_each_identitys_session_may_last(workdir: Path) -> None:
    j = journey("one-account-api-first", workdir)
    boot = j.bootstrap_of(Environment.DEV)
    rendered = (j.path / "bootstrap/README.md").read_text()
    said: dict[str, int] = {}
    for row in _SESSION_ROW.finditer(rendered):
        for who in re.findall(r"`([a-z-]+)`", row.group("who")):
            said[who] = int(row.group("hours"))
    captured = {
        identity: int(
            role_named(boot.resources, arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]).inputs[
                "maxSessionDuration"
            ]
        )
        // 3600
        for identity, arn in boot.outputs["identities"].items()
    }
    assert said == captured


# --- 8. every prerequisite of the dev stack is bootstrap's, or the docs say who makes it ---------
ALL = frozenset(Pattern)
# What a stack relies on that no program here can create -> (patterns, words the docs hold).
PREREQUISITES_IN_DOCS: dict[str, tuple[frozenset[Pattern], tuple[str, ...]]] = {
    "DNS records of api.domain, in the client's zone": (
        frozenset({Pattern.API_FIRST}),
        ("CNAME", "api.domain", "30 minutes"),
    ),
    "SNS e-mail subscriptions, confirmed by each recipient": (ALL, ("confirm",)),
    "account quotas: VPCs and Elastic IPs per region": (ALL, ("VPCs per region", "Elastic IP")),
    "CloudTrail trails per region": (ALL, ("trails per region",)),
    "SageMaker instance quota": (
        frozenset({Pattern.MANAGED_PLATFORM}),
        ("SageMaker instance quota",),
    ),
    "one account per environment": (ALL, ("one account per environment",)),
    "an OIDC provider that already exists is imported": (
        ALL,
        ("pulumi import aws:iam/openIdConnectProvider",),
    ),
    "the deploy job's session length": (ALL, ("role-duration-seconds", "14400")),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_prerequisite_of_the_dev_stack_is_created_by_bootstrap_or_named_in_the_docs(
    kind: str, workdir: Path
) -> None:
    j = journey(kind, workdir)
    boot = j.bootstrap_of(Environment.DEV)
    created = {r.type for r in boot.resources}
    needs = {
        "state backend": "aws:s3/bucket:Bucket",
        "secrets key": "aws:kms/key:Key",
        "CI federation": "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "boundary": "aws:iam/policy:Policy",
    }
    if j.result.plan.specs[Environment.DEV].pattern is Pattern.API_FIRST:
        needs["API Gateway CloudWatch role"] = "aws:apigateway/account:Account"
        needs["WAF log delivery policy"] = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"
    assert {what for what, token in needs.items() if token not in created} == set()
    assert j.registry().outputs["image_repository"]
    rendered = (j.path / "bootstrap/README.md").read_text()
    assert PARTIAL.is_file()
    pattern = j.result.plan.specs[Environment.DEV].pattern
    for what, (patterns, words) in PREREQUISITES_IN_DOCS.items():
        for word in words if pattern in patterns else ():
            assert word in rendered, (what, word)


# --- 9. every name fits its AWS limit ------------------------------------------------------------
# type -> (input holding the name, max length, allowed characters)
NAME_LIMITS: dict[str, tuple[str, int, str]] = {
    "aws:s3/bucket:Bucket": ("bucket", 63, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
    "aws:iam/role:Role": ("name", 64, r"[\w+=,.@-]+"),
    "aws:iam/policy:Policy": ("name", 128, r"[\w+=,.@-]+"),
    "aws:kms/alias:Alias": ("name", 256, r"alias/[a-zA-Z0-9/_-]+"),
    "aws:ecr/repository:Repository": (
        "name",
        256,
        r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*",
    ),
    "aws:lb/loadBalancer:LoadBalancer": ("name", 32, r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"),
    "aws:lb/targetGroup:TargetGroup": ("name", 32, r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"),
    "aws:lambda/function:Function": ("name", 64, r"[a-zA-Z0-9_-]+"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", 255, r"[^\x00-\x1f]+"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512, r"[\w./#-]+"),
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": ("policyName", 256, r"[\w./-]+"),
    "aws:wafv2/webAcl:WebAcl": ("name", 128, r"[\w-]+"),
    "aws:sagemaker/endpoint:Endpoint": ("name", 63, r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*"),
    "aws:ecs/taskDefinition:TaskDefinition": ("family", 255, r"[a-zA-Z0-9_-]+"),
    "aws:scheduler/schedule:Schedule": ("name", 64, r"[0-9a-zA-Z-_.]+"),
    "aws:cloudtrail/trail:Trail": ("name", 128, r"[a-zA-Z0-9][\w.-]{2,127}"),
    "aws:apigatewayv2/vpcLink:VpcLink": ("name", 128, r".+"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_physical_name_fits_its_aws_limit(kind: str, workdir: Path) -> None:
    j = journey(kind, workdir)
    runs = [j.dev, *j.bootstraps.values()]
    checked = 0
    for run in runs:
        for r in run.resources:
            if r.type not in NAME_LIMITS:
                continue
            key, limit, alphabet = NAME_LIMITS[r.type]
            name = r.inputs.get(key)
            if name is None:
                continue  # auto-named: the provider fits it to the limit
            assert len(str(name)) <= limit and re.fullmatch(alphabet, str(name)), (r.type, name)
            checked += 1
    assert checked >= 5


# --- 10. every consumer of a key, an identity or a provider depends on it ---------------------
PRODUCERS = (
    "aws:kms/key:Key",
    "aws:iam/role:Role",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/policy:Policy",
    "aws:s3/bucket:Bucket",
    "aws:ecr/repository:Repository",
)


@pytest.mark.parametrize("kind", KINDS)
def test_every_consumer_of_a_key_or_identity_depends_on_it(kind: str, workdir: Path) -> None:
    j = journey(kind, workdir)
    for run in (j.dev, *j.bootstraps.values()):
        account = json.loads(run.config["aws:allowedAccountIds"])[0]
        producers = [r for r in run.resources if r.type in PRODUCERS]
        undeclared, mentions = [], 0
        for producer in producers:
            service = producer.type.split(":")[1].split("/")[0]
            arn = re.escape(f"arn:aws:{service}:eu-west-1:{account}:{producer.name}")
            mention = re.compile(arn + r"(?![A-Za-z0-9-])")
            for consumer in run.resources:
                if consumer.urn == producer.urn or not consumer.custom:
                    continue
                if not mention.search(json.dumps(dict(consumer.inputs), default=str)):
                    continue
                mentions += 1
                if producer.urn not in consumer.dependencies:
                    undeclared.append((consumer.type, consumer.name, producer.name))
        assert mentions >= 5, run.stack  # the check has something to hold
        assert undeclared == [], run.stack


# --- 11. the split: prod's secrets stay in prod's account ----------------------------------------
def test_in_a_split_no_identity_of_the_dev_account_may_use_prods_key(workdir: Path) -> None:
    j = journey("split-api-first", workdir)
    dev_account = j.bootstraps["dev-staging"]
    assert "prod" not in dev_account.outputs["secrets_providers"]
    prod = j.bootstraps["prod"]
    [key] = [
        k
        for k in of_type(prod.resources, "aws:kms/key:Key")
        if k.inputs.get("tags", {}).get("environment") == "prod"
    ]
    principals = {
        p for s in statements(key.inputs["policy"]) for p in as_list(s["Principal"]["AWS"])
    }
    assert all(":111111111111:" not in p for p in principals)
    assert not any(
        p.endswith(":acme-support-preview") or p.endswith("-preview") for p in principals
    )
    read_only = {r.value for r in READ_ONLY_ROLES}
    assert set(prod.outputs["identities"]) & read_only == {"preview-prod"}
    assert set(dev_account.outputs["identities"]) & read_only == {"preview"}
    assert DEPLOYERS[Environment.PROD].value in prod.outputs["identities"]


def test_the_long_project_name_still_scopes_the_deployer_by_name(workdir: Path) -> None:
    j = journey("split-api-first", workdir)
    assert j.project == LONG_NAME
    boot = j.bootstrap_of(Environment.DEV)
    deployer = role_named(
        boot.resources, boot.outputs["identities"]["deploy-dev"].rsplit(":", 1)[-1]
    )
    docs = attached_documents(boot.resources, deployer)
    # every function of the stack (the JWT authorizer and the post-window rollback function)
    for function in of_type(j.dev.resources, "aws:lambda/function:Function"):
        arn = f"arn:aws:lambda:eu-west-1:111111111111:function:{function.inputs['name']}"
        assert any(
            fnmatch.fnmatchcase(arn, p) for p in allowed_resources(docs, "lambda:CreateFunction")
        )
