"""The seam between what the AWS stacks create and what the bootstrap lets a deployer do.

Both sides come from captures: every stack of every AWS pattern in every environment (and the
variants a client can choose: a candidate, a domain, a private CA, an existing VPC) on one side,
the bootstrap of the same pattern on the other. A resource type the deployer cannot create, a
name outside its ARN patterns, or an action a stack role holds outside the boundary fails here
before it fails a client's first `pulumi up`.
"""

from __future__ import annotations

import fnmatch
import json
from functools import cache
from typing import Any

import pytest

from components.aws import permissions
from components.aws.permissions import RESOURCE_TYPES, STACK_BUCKET_ROLES
from components.bootstrap import DEPLOYERS, IdentityRole
from components.spec import Cloud, Environment, Pattern
from offline.capture import ACCOUNT_ID, CapturedResource
from tests.components.test_aws_notify import CHAT_ROUTES, chat_config, run_with_config
from tests.conftest import candidate_image, make_spec, of_type, run_component, sample_plan
from tests.journey.aws_iam import (
    allowed_resources,
    allows,
    allows_directly,
    as_list,
    attached_documents,
    resource_matches,
    statements,
)
from tests.journey.aws_runs import role, run_bootstrap

PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM, Pattern.EMBEDDED)
REGION = "eu-west-1"
EXISTING = {
    "network": {
        "existing_id": "vpc-0123456789abcdef0",
        "existing_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    }
}

# api-first only (spec._llm_where_offered); the hosted model a cross-Region inference profile.
LLM_SELF_HOSTED: dict[str, Any] = {"llm": {"mode": "self-hosted"}}
LLM_HOSTED: dict[str, Any] = {"llm": {"mode": "hosted", "model": "eu.amazon.nova-lite-v1:0"}}


def _candidate(pattern: Pattern) -> dict[str, Any]:
    return {
        "rollout": {
            "candidate_version": "1.1.0",
            "candidate_image": candidate_image(Cloud.AWS, pattern),
        }
    }


def variants(pattern: Pattern) -> list[tuple[Environment, dict[str, Any]]]:
    """Every environment as generated, plus prod with each choice a client can make (Slack and
    Teams alert routes included)."""
    # The embedded pattern has no image, so no candidate.
    chosen: list[dict[str, Any]] = [EXISTING, CHAT_ROUTES]
    if pattern is not Pattern.EMBEDDED:
        chosen.insert(0, _candidate(pattern))
    if pattern is Pattern.API_FIRST:
        chosen += [{"api": {"domain": "api.acme.example"}}, {"api": {"private_ca": True}}]
        # An LLM behind the API: the guardrail, its version, the blocked-call metric filters.
        chosen += [LLM_SELF_HOSTED, LLM_HOSTED]
    return [(env, {}) for env in Environment] + [(Environment.PROD, c) for c in chosen]


@cache
def _stack(pattern: Pattern, env: Environment, frozen: str) -> list[CapturedResource]:
    spec = make_spec(Cloud.AWS, pattern, env, json.loads(frozen))
    if spec.alerts.routes != make_spec(Cloud.AWS, pattern, env).alerts.routes:
        # Slack/Teams routes read their webhook URLs from the stack's secret config.
        return run_with_config(spec, chat_config(spec)).resources
    return run_component(spec).resources


def stacks(pattern: Pattern) -> list[tuple[Environment, list[CapturedResource]]]:
    return [
        (env, _stack(pattern, env, json.dumps(o, sort_keys=True))) for env, o in variants(pattern)
    ]


@cache
def _bootstrap(pattern: Pattern) -> list[CapturedResource]:
    return run_bootstrap(sample_plan(Cloud.AWS, pattern).bootstrap["shared"]).resources


def deployer_documents(pattern: Pattern, env: Environment) -> list[list[dict[str, Any]]]:
    spec = sample_plan(Cloud.AWS, pattern).bootstrap["shared"]
    resources = _bootstrap(pattern)
    return attached_documents(resources, role(resources, spec, DEPLOYERS[env]))


def created_types(resources: list[CapturedResource]) -> set[str]:
    return {r.type for r in resources if r.custom and not r.type.startswith("pulumi:")}


# --- the table holds every type, for the right patterns, and nothing stale --------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_type_a_stack_creates_is_in_the_deployer_table_for_its_pattern(
    pattern: Pattern,
) -> None:
    seen: set[str] = set()
    for _, resources in stacks(pattern):
        seen |= created_types(resources)
    missing = sorted(
        t for t in seen if t not in RESOURCE_TYPES or pattern not in RESOURCE_TYPES[t].patterns
    )
    assert missing == []
    stale = sorted(t for t, a in RESOURCE_TYPES.items() if pattern in a.patterns and t not in seen)
    assert stale == []


# --- the bootstrap's deployer allows what the table says, for every environment ----------------
@pytest.mark.parametrize("env", list(Environment))
@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_deployer_may_do_everything_its_stacks_resource_types_need(
    pattern: Pattern, env: Environment
) -> None:
    docs = deployer_documents(pattern, env)
    types: set[str] = set()
    for _, resources in stacks(pattern):
        types |= created_types(resources)
    refused = sorted(
        (t, a) for t in types for a in RESOURCE_TYPES[t].actions if not allows(docs, a)
    )
    assert refused == []
    linked = {s for t in types for s in RESOURCE_TYPES[t].service_linked_roles}
    granted = [
        s
        for d in docs
        for s in d
        if s["Effect"] == "Allow" and "iam:CreateServiceLinkedRole" in as_list(s["Action"])
    ]
    names = {n for s in granted for n in s["Condition"]["StringEquals"]["iam:AWSServiceName"]}
    assert linked <= names


def test_a_deployer_is_not_an_administrator() -> None:
    docs = deployer_documents(Pattern.API_FIRST, Environment.DEV)
    for action in (
        "iam:CreateUser",
        "iam:CreateAccessKey",
        "iam:CreatePolicyVersion",
        "organizations:LeaveOrganization",
        "sts:AssumeRole",
        "secretsmanager:GetSecretValue",
        "sagemaker:CreateEndpoint",  # not this pattern's service
    ):
        assert not allows(docs, action), action
    # api-first's only buckets are the uptime canary's: no other bucket's policy is in reach.
    assert not any(
        resource_matches(p, "arn:aws:s3:::someone-elses-bucket")
        for p in allowed_resources(docs, "s3:PutBucketPolicy")
    )
    # The account-wide API Gateway setting is the bootstrap's: its path is not granted.
    paths = allowed_resources(docs, "apigateway:PATCH")
    assert paths and not any(
        resource_matches(p, f"arn:aws:apigateway:{REGION}::/account") for p in paths
    )


# --- names: every physical name falls inside the deployer's ARN patterns -----------------------
AUTONAMED_SUFFIX = "-1a2b3c4"  # Pulumi auto-names `<logical name>-<7 hex>`


def _physical(r: CapturedResource, key: str = "name") -> str:
    return str(r.inputs.get(key) or r.name + AUTONAMED_SUFFIX)


# type -> (action the create calls, ARN of the resource from its captured inputs)
ARNS: dict[str, tuple[str, Any]] = {
    "aws:s3/bucket:Bucket": ("s3:CreateBucket", lambda r: f"arn:aws:s3:::{_physical(r, 'bucket')}"),
    "aws:ssm/parameter:Parameter": (
        "ssm:PutParameter",
        lambda r: f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{_physical(r).lstrip('/')}",
    ),
    "aws:sqs/queue:Queue": (
        "sqs:CreateQueue",
        lambda r: f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{_physical(r)}",
    ),
    "aws:sns/topic:Topic": (
        "sns:CreateTopic",
        lambda r: f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{_physical(r)}",
    ),
    "aws:dynamodb/table:Table": (
        "dynamodb:CreateTable",
        lambda r: f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{_physical(r)}",
    ),
    "aws:iam/role:Role": (
        "iam:CreateRole",
        lambda r: f"arn:aws:iam::{ACCOUNT_ID}:role/{_physical(r)}",
    ),
    "aws:lambda/function:Function": (
        "lambda:CreateFunction",
        lambda r: f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{_physical(r)}",
    ),
    "aws:ecs/cluster:Cluster": (
        "ecs:DeleteCluster",
        lambda r: f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{_physical(r)}",
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        "cloudwatch:PutMetricAlarm",
        lambda r: f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{_physical(r)}",
    ),
    "aws:cloudwatch/dashboard:Dashboard": (
        "cloudwatch:PutDashboard",
        lambda r: f"arn:aws:cloudwatch::{ACCOUNT_ID}:dashboard/{_physical(r, 'dashboardName')}",
    ),
    "aws:cloudwatch/logGroup:LogGroup": (
        "logs:CreateLogGroup",
        lambda r: f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{_physical(r)}",
    ),
    # The blocked-call counters of an LLM stack: a metric filter is authorised on its log group.
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": (
        "logs:PutMetricFilter",
        lambda r: f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{r.inputs['logGroupName']}",
    ),
    "aws:cloudwatch/eventRule:EventRule": (
        "events:PutRule",
        lambda r: f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{_physical(r)}",
    ),
    "aws:kms/alias:Alias": (
        "kms:CreateAlias",
        lambda r: f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{_physical(r)}",
    ),
    "aws:wafv2/webAcl:WebAcl": (
        "wafv2:CreateWebACL",
        lambda r: f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:regional/webacl/{_physical(r)}/0000",
    ),
    "aws:scheduler/schedule:Schedule": (
        "scheduler:CreateSchedule",
        lambda r: f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{_physical(r)}",
    ),
    "aws:cloudtrail/trail:Trail": (
        "cloudtrail:CreateTrail",
        lambda r: f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/{_physical(r)}",
    ),
    "aws:sagemaker/model:Model": (
        "sagemaker:CreateModel",
        lambda r: f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/{_physical(r)}",
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "sagemaker:CreateEndpointConfig",
        lambda r: f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint-config/{_physical(r)}",
    ),
    "aws:sagemaker/endpoint:Endpoint": (
        "sagemaker:CreateEndpoint",
        lambda r: f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/{_physical(r)}",
    ),
}


def _permitted(docs: list[list[dict[str, Any]]], action: str, arn: str) -> bool:
    return any(resource_matches(p, arn) for p in allowed_resources(docs, action))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_named_resource_lies_inside_its_deployers_arn_patterns(pattern: Pattern) -> None:
    for env, resources in stacks(pattern):
        docs = deployer_documents(pattern, env)
        outside = [
            (r.type, arn)
            for r in resources
            if r.type in ARNS
            for action, to_arn in [ARNS[r.type]]
            for arn in [to_arn(r)]
            if not _permitted(docs, action, arn)
        ]
        assert outside == [], env


# Application Auto Scaling names a target tracking policy's alarms after the scalable target.
TARGET_TRACKING_ALARMS = (
    "TargetTracking-{id}-AlarmHigh-{uuid}",
    "TargetTracking-{id}-AlarmLow-{uuid}",
)
ALARM_UUID = "0b0e4b1c-8f7a-4d2e-9c61-3a5f2e9d7b10"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_action_a_stack_needs_is_allowed_to_the_deployers_own_calls(
    pattern: Pattern,
) -> None:
    # The deployer calls every API itself: an Allow that only a service-forwarded request could
    # match (aws:CalledVia*) grants it nothing.
    types: set[str] = set()
    for _, resources in stacks(pattern):
        types |= created_types(resources)
    for env in Environment:
        docs = deployer_documents(pattern, env)
        refused = sorted(
            (t, a) for t in types for a in RESOURCE_TYPES[t].actions if not allows_directly(docs, a)
        )
        assert refused == [], env


@pytest.mark.parametrize("pattern", [Pattern.API_FIRST, Pattern.MANAGED_PLATFORM])
def test_the_deployer_may_manage_its_target_tracking_alarms_itself(pattern: Pattern) -> None:
    for env, resources in stacks(pattern):
        docs = deployer_documents(pattern, env)
        policies = of_type(resources, "aws:appautoscaling/policy:Policy")
        assert policies, env
        for policy in policies:
            assert policy.inputs["policyType"] == "TargetTrackingScaling"
            target = policy.inputs["resourceId"]
            for name in TARGET_TRACKING_ALARMS:
                arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:" + name.format(
                    id=target, uuid=ALARM_UUID
                )
                for action in RESOURCE_TYPES[policy.type].actions:
                    if action.startswith("cloudwatch:"):
                        assert allows_directly(docs, action, arn), (env, action, arn)
        # The name prefix still scopes it: someone else's alarm is out of reach.
        other = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:billing-alarm"
        assert not allows_directly(docs, "cloudwatch:DeleteAlarms", other)


# --- the guardrail: no name in its ARN, so its tags are what scope the deployer ------------------
GUARDRAIL = "aws:bedrock/guardrail:Guardrail"
GUARDRAIL_VERSION = "aws:bedrock/guardrailVersion:GuardrailVersion"
# CreateGuardrail's only resource types are a guardrail profile and automated-reasoning policies
# (Service Authorization Reference, Amazon Bedrock), neither of which a CLASSIC guardrail names:
# the request carries no guardrail ARN, so only a grant on "*" can match it.
NO_RESOURCE_YET = "*"


def _condition_holds(statement: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM's StringEquals, StringNotEquals and Null over ``context`` (keys case-insensitive; an
    absent key fails StringEquals and passes StringNotEquals)."""
    ctx = {k.lower(): v for k, v in context.items()}
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, expected in entries.items():
            values = [str(v) for v in as_list(expected)]
            present = key.lower() in ctx
            if operator == "StringEquals":
                holds = present and ctx[key.lower()] in values
            elif operator == "StringNotEquals":
                holds = not present or ctx[key.lower()] not in values
            elif operator == "Null":
                holds = (not present) == (values == ["true"])
            else:
                raise AssertionError(f"an operator this reader does not evaluate: {operator}")
            if not holds:
                return False
    return True


def _decides(
    docs: list[list[dict[str, Any]]], action: str, arn: str, context: dict[str, str]
) -> bool:
    """Some Allow matches the request (action, resource, condition) and no Deny does."""

    def named(s: dict[str, Any], key: str, matches: Any) -> bool:
        # Action/Resource name what a statement covers; NotAction/NotResource what it does not.
        if key in s:
            return any(matches(p) for p in as_list(s[key]))
        return not any(matches(p) for p in as_list(s[f"Not{key}"]))

    def applies(s: dict[str, Any]) -> bool:
        return (
            named(s, "Action", lambda p: fnmatch.fnmatchcase(action.lower(), p.lower()))
            and named(s, "Resource", lambda p: resource_matches(p, arn))
            and _condition_holds(s, context)
        )

    found = [s for d in docs for s in d if applies(s)]
    return any(s["Effect"] == "Allow" for s in found) and not any(
        s["Effect"] == "Deny" for s in found
    )


def _tag_context(kind: str, tags: dict[str, str]) -> dict[str, str]:
    return {"aws:RequestedRegion": REGION, **{f"aws:{kind}/{k}": v for k, v in tags.items()}}


@pytest.mark.parametrize("env", list(Environment))
def test_the_deployer_creates_and_manages_its_guardrail_by_the_tags_the_stack_gives_it(
    env: Environment,
) -> None:
    resources = _stack(Pattern.API_FIRST, env, json.dumps(LLM_HOSTED, sort_keys=True))
    guardrail = one_of(resources, GUARDRAIL)
    arn = one_of(resources, GUARDRAIL_VERSION).inputs["guardrailArn"]
    tags = guardrail.inputs["tags"]
    creating = _tag_context("RequestTag", tags)
    owned = {**_tag_context("ResourceTag", tags), **creating}
    requests = [
        (action, NO_RESOURCE_YET if action == "bedrock:CreateGuardrail" else arn, context)
        for t in (GUARDRAIL, GUARDRAIL_VERSION)
        for action in RESOURCE_TYPES[t].actions
        if action.startswith("bedrock:")
        for context in ([creating, owned] if action == "bedrock:TagResource" else [owned])
    ]
    # Tagging at creation is authorised like CreateGuardrail: on the request, before any ARN.
    requests.append(("bedrock:TagResource", NO_RESOURCE_YET, creating))
    docs = deployer_documents(Pattern.API_FIRST, env)
    assert [r[:2] for r in requests if not _decides(docs, *r)] == []
    # Another environment's deployer reaches neither this guardrail nor one tagged like it.
    other = next(e for e in Environment if e is not env)
    assert not any(_decides(deployer_documents(Pattern.API_FIRST, other), *r) for r in requests)
    # Nor a guardrail in another Region.
    moved = [(a, r, {**c, "aws:RequestedRegion": "us-east-1"}) for a, r, c in requests]
    assert not any(_decides(docs, a, r, c) for a, r, c in moved if a == "bedrock:CreateGuardrail")


def test_names_that_carry_the_environment_are_out_of_other_deployers_reach() -> None:
    resources = _stack(Pattern.API_FIRST, Environment.DEV, "{}")
    prod = deployer_documents(Pattern.API_FIRST, Environment.PROD)
    # every function: the JWT authorizer and the post-window rollback function
    for function in of_type(resources, "aws:lambda/function:Function"):
        action, to_arn = ARNS[function.type]
        assert not _permitted(prod, action, to_arn(function))
    for alarm in of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert not _permitted(prod, "cloudwatch:PutMetricAlarm", ARNS[alarm.type][1](alarm))


def one_of(resources: list[CapturedResource], token: str) -> CapturedResource:
    [found] = of_type(resources, token)
    return found


def test_stack_buckets_are_the_roles_the_table_names_and_never_the_state_bucket() -> None:
    spec = sample_plan(Cloud.AWS, Pattern.EVENT_DRIVEN).bootstrap["shared"]
    for pattern in PATTERNS:
        roles = {
            b.name.removeprefix(f"{spec.project}-")
            for _, resources in stacks(pattern)
            for b in of_type(resources, "aws:s3/bucket:Bucket")
        }
        assert roles == set(STACK_BUCKET_ROLES[pattern])
        docs = deployer_documents(pattern, Environment.PROD)
        for action in ("s3:GetObject", "s3:PutBucketPolicy", "s3:DeleteBucket"):
            for arn in (
                f"arn:aws:s3:::{spec.state_name}",
                f"arn:aws:s3:::{spec.state_name}/.pulumi/x",
            ):
                granted = [p for p in allowed_resources(docs, action) if "{" not in p]
                assert not any(resource_matches(p, arn) for p in granted if "/.pulumi/" not in p), (
                    action,
                    arn,
                )


# --- the boundary is above every stack role -----------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_action_a_stack_role_holds_is_inside_its_environments_boundary(
    pattern: Pattern,
) -> None:
    spec = sample_plan(Cloud.AWS, pattern).bootstrap["shared"]
    bootstrap = _bootstrap(pattern)
    for env, resources in stacks(pattern):
        [boundary] = [
            p
            for p in of_type(bootstrap, "aws:iam/policy:Policy")
            if p.inputs["name"] == f"{spec.project}-{env.value}-boundary"
        ]
        ceiling = [statements(boundary.inputs["policy"])]
        held = {
            a
            for p in of_type(resources, "aws:iam/rolePolicy:RolePolicy")
            for s in statements(p.inputs["policy"])
            for a in as_list(s["Action"])
        }
        assert sorted(a for a in held if not allows(ceiling, a)) == []


def test_the_boundary_table_holds_nothing_no_stack_role_uses() -> None:
    held = {
        a
        for pattern in PATTERNS
        for _, resources in stacks(pattern)
        for p in of_type(resources, "aws:iam/rolePolicy:RolePolicy")
        for s in statements(p.inputs["policy"])
        for a in as_list(s["Action"])
    }
    assert set(permissions.BOUNDARY_ACTIONS) == held


def test_identities_that_are_not_deployers_hold_no_deploy_rights() -> None:
    spec = sample_plan(Cloud.AWS, Pattern.API_FIRST).bootstrap["shared"]
    resources = _bootstrap(Pattern.API_FIRST)
    for identity in (IdentityRole.PREVIEW, IdentityRole.PREVIEW_PROD, IdentityRole.PUBLISH):
        docs = attached_documents(resources, role(resources, spec, identity))
        for t in ("aws:ec2/vpc:Vpc", "aws:iam/role:Role", "aws:lb/loadBalancer:LoadBalancer"):
            assert not any(
                allows(docs, a)
                for a in RESOURCE_TYPES[t].actions
                if not a.startswith("ec2:Describe")
            ), (identity, t)


@pytest.mark.parametrize("env", list(Environment))
def test_the_deployer_may_publish_a_release_into_its_channel(env: Environment) -> None:
    """`python -m ci.release publish` runs as the deployer (components/release_channels.py
    S3Channel: get the pointer, put the files, the bundle and the pointer, SSE-KMS with the
    stack key); signing is allowed by the signing key's own policy (release_channel.py)."""
    docs = deployer_documents(Pattern.EMBEDDED, env)
    bucket = "acme-support-releases-0a1b2c3"  # the channel is auto-named from <project>-releases
    for action, arn in (
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/releases/1.0.0-7/model/keywords.json"),
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/releases/LATEST.json"),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/releases/LATEST.json"),
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    ):
        assert _permitted(docs, action, arn), (action, arn)
    assert allows(docs, "kms:GenerateDataKey") and allows(docs, "kms:Decrypt")
    # never the state bucket's objects through this grant
    assert not _permitted(docs, "s3:PutObject", "arn:aws:s3:::acme-support-state-0a1b2c3/x")
