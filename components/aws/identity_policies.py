"""The IAM documents of an AWS bootstrap, as pure functions of a BootstrapSpec.

The deployer's policy for one environment (its stack's state, the pattern's grants from
components/aws/permissions.py, the fences), the permissions boundary of the roles its stack
creates, and the previewers' read-only access. Nothing here creates a resource: the
bootstrap component attaches what these return, and tests read the same documents back from
the captured resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.aws import permissions, security
from components.aws.permissions import BOOTSTRAP_MANAGED_BY, CREATED, OWNED, STACK_MANAGED_BY
from components.bootstrap import STATE_READ_ONLY_PATHS, BootstrapSpec
from components.spec import Environment

# IAM counts a managed policy's size without whitespace and refuses more than 6,144
# characters; the deployer's service grants are split into parts below this (with room for
# the real ARNs, which are longer than the templates).
POLICY_PART_CHARACTERS = 4500
# What an identity may do with the state bucket's key, through S3 only: a reader decrypts what
# it reads; a writer also has S3 generate data keys for what it writes.
STATE_KEY_READ: tuple[str, ...] = ("kms:Decrypt",)
STATE_KEY_WRITE: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")


def _tag_condition(kind: str, spec: BootstrapSpec, env: Environment) -> dict[str, Any]:
    key = {OWNED: "aws:ResourceTag", CREATED: "aws:RequestTag"}[kind]
    return {
        "StringEquals": {
            f"{key}/project": spec.project,
            f"{key}/environment": env.value,
            f"{key}/managed-by": STACK_MANAGED_BY,
        }
    }


def sid(name: str) -> str:
    """A statement id from a dashed name (``ec2-network`` -> ``Ec2Network``)."""
    return "".join(part.title() for part in name.replace("-", " ").split())


def _fill_condition(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, list):
        return [_fill_condition(v, values) for v in value]
    return {k: _fill_condition(v, values) for k, v in value.items()}


def grant_statement(
    name: str, spec: BootstrapSpec, env: Environment, boundary: str
) -> dict[str, Any]:
    """One of :data:`permissions.GRANTS` as a statement for ``env`` of ``spec``'s project."""
    grant = permissions.GRANTS[name]
    values = {
        "region": spec.region,
        "account": spec.account,
        "project": spec.project,
        "env": env.value,
        "boundary": boundary,
    }
    resources: list[str] = []
    for template in grant.resources:
        if template == permissions.BUCKETS:
            resources.extend(permissions.bucket_arns(spec.pattern, spec.project))
        else:
            resources.append(template.format(**values))
    condition: dict[str, Any] = {}
    if grant.tags is not None:
        condition.update(_tag_condition(grant.tags, spec, env))
    for operator, entries in grant.condition.items():
        condition.setdefault(operator, {}).update(_fill_condition(dict(entries), values))
    return security.statement(grant.actions, resources, sid=sid(name), condition=condition or None)


def _fence(sid: str, tag: str, value: str) -> list[dict[str, Any]]:
    """Deny anything on, or creating, a resource tagged ``tag`` other than ``value``."""
    return [
        security.statement(
            ["*"],
            ["*"],
            sid=f"{sid}{suffix}",
            effect="Deny",
            condition={
                "StringNotEquals": {f"{key}/{tag}": value},
                "Null": {f"{key}/{tag}": "false"},
            },
        )
        for suffix, key in (("Tagged", "aws:ResourceTag"), ("OnCreate", "aws:RequestTag"))
    ]


def fences(spec: BootstrapSpec, env: Environment) -> list[dict[str, Any]]:
    """The Deny statements that keep an environment's identities and roles to its own tags."""
    return [
        *_fence("OtherEnvironments", "environment", env.value),
        *_fence("OtherProjects", "project", spec.project),
    ]


def _under(bucket_arn: pulumi.Output[str], path: str) -> pulumi.Output[str]:
    return bucket_arn.apply(lambda arn: f"{arn}/{path}")


def _state_arns(state: pulumi.Output[str], paths: Sequence[str]) -> list[pulumi.Output[str]]:
    return [_under(state, p) for p in paths]


def state_statements(
    spec: BootstrapSpec,
    state_arn: pulumi.Output[str],
    key_arn: pulumi.Output[str],
    *,
    read_write: Sequence[str],
    read: Sequence[str],
) -> list[dict[str, Any]]:
    """Access to exactly these state-bucket keys (plus what every identity reads), and to the
    bucket's key through S3 only: encrypting too where something is written, decrypting only
    for a read-only identity."""
    statements = [
        # Key names, never contents: the CLI lists `.pulumi/stacks/` to find stacks.
        security.statement(["s3:ListBucket"], [state_arn], sid="ListStateKeys"),
        security.statement(
            ["s3:GetObject"],
            _state_arns(state_arn, [*STATE_READ_ONLY_PATHS, *read]),
            sid="ReadState",
        ),
        security.statement(
            STATE_KEY_WRITE if read_write else STATE_KEY_READ,
            [key_arn],
            sid="StateKeyThroughS3",
            condition={"StringEquals": {"kms:ViaService": f"s3.{spec.region}.amazonaws.com"}},
        ),
    ]
    if read_write:
        statements.insert(
            2,
            security.statement(
                permissions.STATE_OBJECT_ACTIONS,
                _state_arns(state_arn, read_write),
                sid="WriteOwnState",
            ),
        )
    return statements


def deployer_statements(
    spec: BootstrapSpec,
    env: Environment,
    *,
    boundary_arn: str,
    state_arn: pulumi.Output[str],
    key_arn: pulumi.Output[str],
    protected_arns: Sequence[pulumi.Input[str]],
) -> dict[str, list[dict[str, Any]]]:
    """The deployer of ``env``: its stack's state, the pattern's resource types (by
    :func:`permissions.grants_for`), roles only with the boundary, and the fences. Split in
    parts that each stay under IAM's managed-policy size limit."""
    project = spec.project
    state_paths = permissions.stack_paths(project, env)
    linked = permissions.service_linked_roles(spec.pattern)
    services = [
        grant_statement(n, spec, env, boundary_arn) for n in permissions.grants_for(spec.pattern)
    ]
    guards = [
        *fences(spec, env),
        security.statement(["*"], list(protected_arns), sid="BootstrapOwned", effect="Deny"),
        security.statement(
            ["iam:DeleteRolePermissionsBoundary"],
            [f"arn:aws:iam::{spec.account}:role/*"],
            sid="BoundaryStays",
            effect="Deny",
        ),
        {
            "Sid": "StateBucketObjectsOnly",
            "Effect": "Deny",
            "NotAction": ["s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"],
            "Resource": [state_arn, state_arn.apply(lambda a: f"{a}/*")],
        },
    ]
    if linked:
        guards.append(
            security.statement(
                ["iam:CreateServiceLinkedRole"],
                [f"arn:aws:iam::{spec.account}:role/aws-service-role/*"],
                sid="ServiceLinkedRoles",
                condition={"StringEquals": {"iam:AWSServiceName": list(linked)}},
            )
        )
    parts: dict[str, list[dict[str, Any]]] = {
        "state": state_statements(spec, state_arn, key_arn, read_write=state_paths, read=())
    }
    for i, chunk in enumerate(chunks(services, POLICY_PART_CHARACTERS), start=1):
        parts[f"services-{i}"] = chunk
    parts["guards"] = guards
    return parts


def boundary_statements(
    spec: BootstrapSpec, env: Environment, state_arns: Sequence[pulumi.Input[str]]
) -> list[dict[str, Any]]:
    """The ceiling of every role ``env``'s stack creates."""
    return [
        security.statement(permissions.BOUNDARY_ACTIONS, ["*"], sid="WhatStackRolesDo"),
        *fences(spec, env),
        security.statement(["s3:*"], list(state_arns), sid="NotTheState", effect="Deny"),
        security.statement(
            ["kms:*"],
            ["*"],
            sid="NotTheBootstrapKeys",
            effect="Deny",
            condition={"StringEquals": {"aws:ResourceTag/managed-by": BOOTSTRAP_MANAGED_BY}},
        ),
    ]


def previewer_statements(
    spec: BootstrapSpec,
    environments: Sequence[Environment],
    *,
    state_arn: pulumi.Output[str],
    key_arn: pulumi.Output[str],
) -> list[dict[str, Any]]:
    """Read the stacks' state (checkpoint and history, :data:`PREVIEW_STATE_KINDS`) and make the
    lookups the programs make; nothing else. Pulumi's DIY preview takes no lock and writes
    nothing (components/bootstrap.py), so a previewer writes no state object at all: a pull
    request's branch cannot plant or delete a lock that would block a deployment."""
    reads = [p for e in environments for p in permissions.preview_paths(spec.project, e)]
    return [
        *state_statements(spec, state_arn, key_arn, read_write=(), read=reads),
        security.statement(permissions.PREVIEW_LOOKUP_ACTIONS, ["*"], sid="ProgramLookups"),
    ]


def policy_characters(statements: Sequence[Mapping[str, Any]]) -> int:
    """What IAM counts against a policy's size: the document without whitespace."""
    text = json.dumps(security.document(list(statements)), sort_keys=True)
    return len("".join(text.split()))


def chunks(statements: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """``statements`` in order, in as few parts as keep each under ``limit`` characters."""
    parts: list[list[dict[str, Any]]] = [[]]
    for statement in statements:
        if parts[-1] and policy_characters([*parts[-1], statement]) > limit:
            parts.append([])
        parts[-1].append(statement)
    return [p for p in parts if p]
