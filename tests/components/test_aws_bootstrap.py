"""AwsBootstrap under Pulumi mocks: what one AWS account gets before its first `pulumi up`.

Each test reads the captured resources back: the state backend, the per-environment secrets
keys and who may use them, the OIDC trust, the boundary and the deployer's policies, the
registry, the account-wide API Gateway role, and the pack's verdict at prod levels.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.aws import permissions, security
from components.aws.bootstrap import (
    COMPONENT_TYPE,
    NONCURRENT_STATE_DAYS,
    OIDC_AUDIENCE,
    SESSION_SECONDS,
    state_log_bucket_name,
)
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
    oidc_subjects,
    state_object_prefixes,
)
from components.spec import Cloud, Environment, Pattern
from offline.capture import Capture, CapturedResource
from tests.conftest import of_type, sample_plan
from tests.journey.aws_iam import (
    allowed_resources,
    allows,
    as_list,
    attached_documents,
    resource_matches,
    statements,
)
from tests.journey.aws_runs import role, run_bootstrap

PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
SPLIT = {
    Environment.DEV: "111111111111",
    Environment.STAGING: "111111111111",
    Environment.PROD: "222222222222",
}


@cache
def _specs(pattern: Pattern, split: bool = False, ci: str = "github") -> dict[str, BootstrapSpec]:
    overrides: dict[str, Any] = {"ci": CiSystem(ci)}
    if split:
        overrides["accounts"] = SPLIT
    return sample_plan(Cloud.AWS, pattern, **overrides).bootstrap


@cache
def _run(
    pattern: Pattern, stack: str = "shared", split: bool = False, ci: str = "github"
) -> Capture:
    return run_bootstrap(_specs(pattern, split, ci)[stack])


def spec_of(pattern: Pattern, stack: str = "shared", split: bool = False) -> BootstrapSpec:
    return _specs(pattern, split)[stack]


def one(resources: list[CapturedResource], token: str, name: str | None = None) -> CapturedResource:
    found = [r for r in of_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


# --- the contract ----------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_outputs_are_the_contracts_and_everything_descends_from_the_component(
    pattern: Pattern,
) -> None:
    run = _run(pattern)
    component = one(run.resources, COMPONENT_TYPE)
    assert set(run.outputs[component.urn]) == set(BOOTSTRAP_OUTPUTS)
    assert set(run.stack_outputs()) == set(BOOTSTRAP_OUTPUTS)
    assert all(r.parent == component.urn for r in run.resources if r.custom)


def test_outputs_are_derived_from_what_was_created_and_agree_with_the_names() -> None:
    spec, outputs = spec_of(Pattern.API_FIRST), _run(Pattern.API_FIRST).stack_outputs()
    assert outputs["backend_url"] == spec.backend_url
    assert outputs["secrets_providers"] == {
        e.value: spec.secrets_provider(e) for e in spec.environments
    }
    assert outputs["image_repository"] == spec.image_repository
    assert set(outputs["identities"]) == {r.value for r in spec.identities}
    assert set(outputs["stack_prerequisites"]) == {e.value for e in spec.environments}


# --- the state backend -----------------------------------------------------------------------
def test_state_bucket_is_versioned_encrypted_private_tls_only_logged_and_protected() -> None:
    spec, resources = spec_of(Pattern.EVENT_DRIVEN), _run(Pattern.EVENT_DRIVEN).resources
    bucket = one(resources, "aws:s3/bucket:Bucket", f"{spec.project}-state")
    assert bucket.inputs["bucket"] == spec.state_name and bucket.protect
    assert bucket.inputs["forceDestroy"] is False

    def of_bucket(token: str) -> CapturedResource:
        [found] = [r for r in of_type(resources, token) if bucket.urn in r.dependencies]
        return found

    assert of_bucket("aws:s3/bucketVersioning:BucketVersioning").inputs[
        "versioningConfiguration"
    ] == {"status": "Enabled"}
    [rule] = of_bucket(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    key = one(resources, "aws:kms/key:Key", f"{spec.project}-key")
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert (
        key.urn
        in of_bucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ).dependencies
    )
    block = of_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    [deny] = statements(of_bucket("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    [lifecycle] = of_bucket(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    ).inputs["rules"]
    assert "expiration" not in lifecycle  # the current state is never expired
    assert lifecycle["noncurrentVersionExpiration"]["noncurrentDays"] == NONCURRENT_STATE_DAYS
    logging = of_bucket("aws:s3/bucketLogging:BucketLogging")
    log_bucket = one(resources, "aws:s3/bucket:Bucket", f"{spec.project}-state-logs")
    assert log_bucket.inputs["bucket"] == state_log_bucket_name(spec)
    assert log_bucket.urn in logging.dependencies


# --- the secrets keys: preview never holds prod's ------------------------------------------
@pytest.mark.parametrize(
    ("stack", "split"), [("shared", False), ("dev-staging", True), ("prod", True)]
)
def test_each_environments_secrets_key_serves_its_deployer_and_previewer_only(
    stack: str, split: bool
) -> None:
    spec, resources = (
        spec_of(Pattern.API_FIRST, stack, split),
        _run(Pattern.API_FIRST, stack, split).resources,
    )
    roles = {r: role(resources, spec, r) for r in spec.identities}
    arns = {
        r: f"arn:aws:iam:eu-west-1:{spec.account}:{resource.name}" for r, resource in roles.items()
    }
    aliases = {a.inputs["name"]: a for a in of_type(resources, "aws:kms/alias:Alias")}
    keys = {k.urn: k for k in of_type(resources, "aws:kms/key:Key")}
    for env in spec.environments:
        alias = aliases[f"alias/{spec.secrets_key_name(env)}"]
        [key] = [keys[d] for d in alias.dependencies if d in keys]
        assert key.protect and key.inputs["enableKeyRotation"] is True
        users = {r for r in spec.identities if env in IDENTITY_STACKS[r]}
        principals: dict[str, list[str]] = {}
        for s in statements(key.inputs["policy"]):
            for p in as_list(s["Principal"]["AWS"]):
                principals[p] = s["Action"]
        assert set(principals) == {f"arn:aws:iam::{spec.account}:root"} | {arns[r] for r in users}
        for r in users:
            # The key waits for the roles it names (KMS rejects unknown principals).
            assert roles[r].urn in key.dependencies
            can_encrypt = "kms:Encrypt" in principals[arns[r]]
            assert can_encrypt is (r not in READ_ONLY_ROLES)
        if env is Environment.PROD:
            assert IdentityRole.PREVIEW not in users
        else:
            assert IdentityRole.PREVIEW_PROD not in users and IdentityRole.DEPLOY_PROD not in users


# --- CI federation -----------------------------------------------------------------------------
@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_roles_trust_only_their_ci_subjects_for_long_enough(ci: str) -> None:
    spec, resources = (
        _specs(Pattern.API_FIRST, False, ci)["shared"],
        _run(Pattern.API_FIRST, ci=ci).resources,
    )
    provider = one(resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == spec.oidc_issuer
    assert provider.inputs["clientIdLists"] == [OIDC_AUDIENCE]
    assert "thumbprintLists" not in provider.inputs
    host = spec.oidc_issuer.removeprefix("https://")
    for identity in spec.identities:
        found = role(resources, spec, identity)
        assert provider.urn in found.dependencies
        [trust] = statements(found.inputs["assumeRolePolicy"])
        assert trust["Action"] == ["sts:AssumeRoleWithWebIdentity"]
        assert list(trust["Principal"]) == ["Federated"]
        subjects = list(oidc_subjects(spec.ci, spec.repo, identity))
        operator = "StringLike" if any("*" in s for s in subjects) else "StringEquals"
        assert trust["Condition"]["StringEquals"][f"{host}:aud"] == OIDC_AUDIENCE
        assert trust["Condition"][operator][f"{host}:sub"] == subjects
        assert found.inputs["maxSessionDuration"] == SESSION_SECONDS[identity]
    # Deployers outlive a prod job (up + bake + rollback, 180 minutes): four hours.
    assert {SESSION_SECONDS[r] for r in DEPLOYERS.values()} == {4 * 3600}


# --- the deployer: its state, its boundary, its fences ----------------------------------------
def _deployer_documents(
    pattern: Pattern, env: Environment, stack: str = "shared", split: bool = False
) -> list[list[dict[str, Any]]]:
    spec, resources = spec_of(pattern, stack, split), _run(pattern, stack, split).resources
    return attached_documents(resources, role(resources, spec, DEPLOYERS[env]))


@pytest.mark.parametrize("env", list(Environment))
def test_a_deployer_writes_only_its_own_stacks_state(env: Environment) -> None:
    spec = spec_of(Pattern.API_FIRST)
    docs = _deployer_documents(Pattern.API_FIRST, env)
    state = f"arn:aws:s3:eu-west-1:{spec.account}:{spec.project}-state"
    # The deployer also writes its stack's own buckets (e.g. the uptime canary's code object);
    # of the state bucket it may write only under .pulumi/, its own stacks' paths.
    writable = [w for w in allowed_resources(docs, "s3:PutObject") if w.startswith(state + "/")]
    assert writable and all(w.startswith(state + "/.pulumi/") for w in writable)
    assert not any(
        w.startswith(state) and not w.startswith(state + "/")
        for w in allowed_resources(docs, "s3:PutObject")
        if w != state + "*"
    )
    own = {f"{state}/{p}" for p in permissions.stack_paths(spec.project, env)}
    assert set(writable) == own
    others = [e for e in Environment if e is not env]
    for arn in writable:
        assert all(f"/{spec.project}/{o.value}" not in arn for o in others)
    # The checkpoint the CLI writes for this stack is among them.
    assert any(arn.endswith(f".pulumi/stacks/{spec.project}/{env.value}.json*") for arn in writable)


# Every S3 action that changes an object or the bucket: none may reach a previewer.
STATE_WRITES = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectAcl",
    "s3:PutBucketPolicy",
    "s3:RestoreObject",
)
CASES = [("shared", False), ("dev-staging", True), ("prod", True)]


def _state_arn(spec: BootstrapSpec) -> str:
    """The state bucket's ARN as the mocks synthesize it (from the bucket's logical name)."""
    return f"arn:aws:s3:eu-west-1:{spec.account}:{spec.project}-state"


def _state_keys(docs: list[list[dict[str, Any]]], action: str, state: str) -> set[str]:
    """The state-bucket key patterns ``action`` is allowed on, without the ARN."""
    return {
        r.removeprefix(f"{state}/")
        for r in allowed_resources(docs, action)
        if r.startswith(f"{state}/")
    }


def _layout(project: str, envs: Any, kinds: Any) -> set[str]:
    """The neutral layout's prefixes of ``kinds`` for ``envs``, as S3 key patterns."""
    return {f"{state_object_prefixes(project, e.value)[k]}*" for e in envs for k in kinds}


@pytest.mark.parametrize(("stack", "split"), CASES)
def test_state_grants_are_the_neutral_layout_of_exactly_each_identitys_stacks(
    stack: str, split: bool
) -> None:
    spec = spec_of(Pattern.API_FIRST, stack, split)
    resources = _run(Pattern.API_FIRST, stack, split).resources
    state = _state_arn(spec)
    everyone = {*STATE_READ_ONLY_PATHS}
    all_kinds = tuple(state_object_prefixes(spec.project, "dev"))
    granted: dict[IdentityRole, set[str]] = {}
    for identity in spec.identities:
        docs = attached_documents(resources, role(resources, spec, identity))
        envs = [e for e in IDENTITY_STACKS[identity] if e in spec.environments]
        writes = _state_keys(docs, "s3:PutObject", state)
        reads = _state_keys(docs, "s3:GetObject", state)
        if identity is IdentityRole.PUBLISH:
            assert writes == reads == set()
            continue
        if identity in READ_ONLY_ROLES:
            assert writes == set()
            assert reads == everyone | _layout(spec.project, envs, PREVIEW_STATE_KINDS)
        else:
            assert writes == _layout(spec.project, envs, all_kinds)
            assert reads == everyone | writes
            assert _state_keys(docs, "s3:DeleteObject", state) == writes
        granted[identity] = reads
    # No identity reaches a stack it does not work on: no other stack's prefix is among its keys.
    for identity, keys in granted.items():
        others = [e for e in Environment if e not in IDENTITY_STACKS[identity]]
        foreign = _layout(spec.project, others, all_kinds)
        assert keys.isdisjoint(foreign), identity


@pytest.mark.parametrize(("stack", "split"), CASES)
def test_previewers_are_read_only_on_the_state(stack: str, split: bool) -> None:
    spec = spec_of(Pattern.API_FIRST, stack, split)
    resources = _run(Pattern.API_FIRST, stack, split).resources
    state = _state_arn(spec)
    previewers = [r for r in spec.identities if r in READ_ONLY_ROLES]
    assert previewers
    for identity in previewers:
        docs = attached_documents(resources, role(resources, spec, identity))
        for action in STATE_WRITES:
            reach = [
                r
                for r in allowed_resources(docs, action)
                if resource_matches(r, state) or resource_matches(r, f"{state}/.pulumi/x")
            ]
            assert reach == [], (identity, action)
        # Its stacks' checkpoints are readable, and nothing under the locks.
        readable = allowed_resources(docs, "s3:GetObject")
        for env in (e for e in IDENTITY_STACKS[identity] if e in spec.environments):
            layout = state_object_prefixes(spec.project, env.value)
            assert any(resource_matches(r, f"{state}/{layout['stack']}") for r in readable)
            assert not any(
                resource_matches(r, f"{state}/{layout['locks']}x.json") for r in readable
            )
        # The state key decrypts what it reads; it never asks S3 for a key to write with.
        assert allows(docs, "kms:Decrypt")
        assert not allows(docs, "kms:GenerateDataKey") and not allows(docs, "kms:Encrypt")
        for action in ("iam:CreateRole", "ec2:CreateVpc", "s3:DeleteBucket", "kms:CreateKey"):
            assert not allows(docs, action), (identity, action)


@pytest.mark.parametrize("env", list(Environment))
def test_a_deployer_creates_roles_only_with_its_environments_boundary(env: Environment) -> None:
    spec, resources = spec_of(Pattern.MANAGED_PLATFORM), _run(Pattern.MANAGED_PLATFORM).resources
    boundary = one(resources, "aws:iam/policy:Policy", f"{spec.project}-{env.value}-boundary")
    assert boundary.inputs["name"] == security.boundary_policy_name(spec.project, env)
    expected = security.boundary_arn(spec.account, spec.project, env)
    docs = _deployer_documents(Pattern.MANAGED_PLATFORM, env)
    for action in permissions.ROLE_WRITE_WITH_BOUNDARY:
        grants = [
            s for d in docs for s in d if s["Effect"] == "Allow" and action in as_list(s["Action"])
        ]
        assert grants, action
        for s in grants:
            assert s["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == expected
    # Nobody takes the boundary off a role, nor edits the bootstrap's identities.
    denies = [s for d in docs for s in d if s["Effect"] == "Deny"]
    assert any("iam:DeleteRolePermissionsBoundary" in s["Action"] for s in denies)
    [owned] = [s for s in denies if s.get("Sid") == "BootstrapOwned"]
    for identity in spec.identities:
        assert (
            f"arn:aws:iam::{spec.account}:role/{spec.identity_name(identity)}" in owned["Resource"]
        )


def test_deployers_stay_out_of_other_environments_and_projects_by_tag() -> None:
    docs = _deployer_documents(Pattern.EVENT_DRIVEN, Environment.DEV)
    fences = {
        s["Sid"]: s
        for d in docs
        for s in d
        if s["Effect"] == "Deny" and "Null" in s.get("Condition", {})
    }
    for tag, value in (("environment", "dev"), ("project", "acme-support")):
        for key in ("aws:ResourceTag", "aws:RequestTag"):
            [fence] = [f for f in fences.values() if f"{key}/{tag}" in f["Condition"]["Null"]]
            assert fence["Action"] == ["*"] and fence["Resource"] == ["*"]
            assert fence["Condition"]["StringNotEquals"] == {f"{key}/{tag}": value}


def test_the_boundary_holds_no_iam_and_fences_the_state_and_bootstrap_keys() -> None:
    spec, resources = spec_of(Pattern.EVENT_DRIVEN), _run(Pattern.EVENT_DRIVEN).resources
    for env in spec.environments:
        boundary = statements(
            one(resources, "aws:iam/policy:Policy", f"{spec.project}-{env.value}-boundary").inputs[
                "policy"
            ]
        )
        assert not allows([boundary], "iam:CreateRole") and not allows([boundary], "sts:AssumeRole")
        sids = {s.get("Sid") for s in boundary if s["Effect"] == "Deny"}
        assert {"NotTheState", "NotTheBootstrapKeys", "OtherEnvironmentsTagged"} <= sids


# --- the registry and its publisher --------------------------------------------------------------
@pytest.mark.parametrize(("stack", "split"), [("shared", False), ("prod", True)])
def test_registry_is_immutable_scanned_encrypted_and_shared_with_the_projects_accounts(
    stack: str, split: bool
) -> None:
    spec, resources = (
        spec_of(Pattern.MANAGED_PLATFORM, stack, split),
        _run(Pattern.MANAGED_PLATFORM, stack, split).resources,
    )
    repository = one(resources, "aws:ecr/repository:Repository")
    assert repository.inputs["name"] == f"{spec.registry_name}/{spec.model_name}"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    assert repository.protect
    [rule] = json.loads(one(resources, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])[
        "rules"
    ]
    assert rule["selection"]["tagStatus"] == "untagged" and rule["action"] == {"type": "expire"}
    policies = of_type(resources, "aws:ecr/repositoryPolicy:RepositoryPolicy")
    if spec.pull_accounts:
        [pull] = statements(policies[0].inputs["policy"])
        assert pull["Principal"]["AWS"] == [f"arn:aws:iam::{a}:root" for a in spec.pull_accounts]
        assert sorted(pull["Action"]) == sorted(permissions.ECR_PULL_ACTIONS)
    else:
        assert policies == []
    publish = attached_documents(resources, role(resources, spec, IdentityRole.PUBLISH))
    assert allowed_resources(publish, "ecr:PutImage") == [
        f"arn:aws:ecr:eu-west-1:{spec.account}:{repository.name}"
    ]
    assert allowed_resources(publish, "ecr:GetAuthorizationToken") == ["*"]
    assert not allows(publish, "ecr:DeleteRepository") and not allows(publish, "s3:GetObject")


def test_accounts_without_prod_hold_no_registry_and_no_publisher() -> None:
    spec, resources = (
        spec_of(Pattern.API_FIRST, "dev-staging", True),
        _run(Pattern.API_FIRST, "dev-staging", True).resources,
    )
    assert not of_type(resources, "aws:ecr/repository:Repository")
    assert IdentityRole.PUBLISH not in spec.identities
    assert _run(Pattern.API_FIRST, "dev-staging", True).stack_outputs()["image_repository"] == ""


# --- account-wide singletons ---------------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_api_gateway_account_role_and_waf_log_policy_are_bootstraps_for_api_first(
    pattern: Pattern,
) -> None:
    spec, run = spec_of(pattern), _run(pattern)
    accounts = of_type(run.resources, "aws:apigateway/account:Account")
    if pattern is not Pattern.API_FIRST:
        assert accounts == [] and not of_type(
            run.resources, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"
        )
        return
    [account] = accounts
    [logs_role] = [
        r
        for r in of_type(run.resources, "aws:iam/role:Role")
        if "apigateway.amazonaws.com" in r.inputs["assumeRolePolicy"]
    ]
    assert (
        account.inputs["cloudwatchRoleArn"]
        == f"arn:aws:iam:eu-west-1:{spec.account}:{logs_role.name}"
    )
    for env in spec.environments:
        assert (
            run.stack_outputs()["stack_prerequisites"][env.value]["apigateway_cloudwatch_role"]
            == account.inputs["cloudwatchRoleArn"]
        )
    waf = one(run.resources, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    [delivery] = statements(waf.inputs["policyDocument"])
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": spec.account}


# --- the pack, and IAM's size limit --------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "stack", "split"),
    [(p, "shared", False) for p in PATTERNS]
    + [(Pattern.API_FIRST, "dev-staging", True), (Pattern.API_FIRST, "prod", True)],
)
def test_the_bootstrap_passes_the_policy_pack_at_prod_levels_without_waivers(
    pattern: Pattern, stack: str, split: bool
) -> None:
    from policies.rules import all_policies
    from tests.policies.harness import evaluate

    assert evaluate(all_policies(), _run(pattern, stack, split).resources) == []


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_managed_policy_fits_iams_size_limit(pattern: Pattern) -> None:
    for policy in of_type(_run(pattern).resources, "aws:iam/policy:Policy"):
        # IAM counts characters without whitespace; the mocks' ARNs are as long as real ones.
        assert len("".join(policy.inputs["policy"].split())) <= 6144, policy.name
