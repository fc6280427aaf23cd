"""ECS task definition rules on small real programs: one compliant container, one change per
failing case."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import ecs
from tests.policies.test_aws_common import Program, judge, waiver

LOGGING = {
    "logDriver": "awslogs",
    "options": {
        "awslogs-group": "serving",
        "awslogs-region": "eu-west-1",
        "awslogs-stream-prefix": "app",
    },
}


def task(**change: Any) -> Program:
    container: dict[str, Any] = {
        "name": "app",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc",
        "essential": True,
        "privileged": False,
        "logConfiguration": LOGGING,
        "environment": [
            {"name": "MODEL_NAME", "value": "support-bot"},
            {"name": "DB_PASSWORD_SECRET_ARN", "value": "arn:aws:secretsmanager:x"},
        ],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:x"}],
    }
    container.update(change)
    container = {k: v for k, v in container.items() if v is not None}

    def program() -> None:
        aws.ecs.TaskDefinition(
            "serving-task",
            family="serving",
            cpu="512",
            memory="1024",
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            container_definitions=json.dumps([container]),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(task(), set()), (task(privileged=True), {"serving-task"})],
    ids=["unprivileged", "privileged"],
)
def test_aws_ecs_task_definition_disallow_privileged(program: Program, flagged: set[str]) -> None:
    assert judge(ecs.DISALLOW_PRIVILEGED, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(task(), set()), (task(logConfiguration=None), {"serving-task"})],
    ids=["awslogs", "none"],
)
def test_aws_ecs_task_definition_require_logging(program: Program, flagged: set[str]) -> None:
    assert judge(ecs.REQUIRE_LOGGING, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (task(), set()),
        (task(environment=[{"name": "DB_PASSWORD", "value": "hunter2"}]), {"serving-task"}),
        (task(environment=[{"name": "openaiApiKey", "value": "sk-x"}]), {"serving-task"}),
        (task(environment=[{"name": "DB_PASSWORD", "value": ""}]), set()),
        (task(environment=[{"name": "KMS_KEY_ID", "value": "k"}]), set()),
    ],
    ids=["references-only", "password", "camel-api-key", "empty-value", "key-id-not-secret"],
)
def test_aws_ecs_task_definition_disallow_plain_secrets(
    program: Program, flagged: set[str]
) -> None:
    assert judge(ecs.DISALLOW_PLAIN_SECRETS, program) == flagged


def test_plain_secrets_waiver() -> None:
    program = task(environment=[{"name": "DB_PASSWORD", "value": "hunter2"}])
    assert judge(ecs.DISALLOW_PLAIN_SECRETS, program, waiver("serving-task")) == set()


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GITHUB_TOKEN", True),
        ("x-api-key", True),
        ("PRIVATE_KEY", True),
        ("API_TOKEN_URL", False),
        ("SECRET_ARN", False),
        ("PASSWORDLESS_MODE", False),
        ("TOKENIZER", False),
        ("MONKEY", False),
        ("KEYCLOAK_REALM", False),
    ],
)
def test_secret_like_names_by_whole_words(name: str, secret: bool) -> None:
    assert ecs.secret_like(name) is secret


# ---------------------------------------------------------------------------- revision 2
def cluster(key: str | None) -> Program:
    def program() -> None:
        aws.ecs.Cluster(
            "cluster",
            configuration=(
                aws.ecs.ClusterConfigurationArgs(
                    managed_storage_configuration=aws.ecs.ClusterConfigurationManagedStorageConfigurationArgs(
                        fargate_ephemeral_storage_kms_key_id=key
                    )
                )
                if key is not None
                else None
            ),
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (cluster("arn:aws:kms:eu-west-1:123456789012:key/abc"), set()),
        (cluster(None), {"cluster"}),
        (cluster(""), {"cluster"}),
    ],
    ids=["cmk", "unset", "blank"],
)
def test_aws_ecs_cluster_require_fargate_ephemeral_kms(program: Program, flagged: set[str]) -> None:
    assert judge(ecs.CLUSTER_REQUIRE_FARGATE_EPHEMERAL_KMS, program) == flagged


def test_fargate_ephemeral_kms_waiver() -> None:
    rule = ecs.CLUSTER_REQUIRE_FARGATE_EPHEMERAL_KMS
    assert judge(rule, cluster(None), waiver("cluster")) == set()


def service(assign_public_ip: bool | None) -> Program:
    def program() -> None:
        network = aws.ecs.ServiceNetworkConfigurationArgs(
            subnets=["subnet-0a1b2c3d"], assign_public_ip=assign_public_ip
        )
        aws.ecs.Service("serving", cluster="models", network_configuration=network)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(service(False), set()), (service(None), set()), (service(True), {"serving"})],
    ids=["private", "default-private", "public-ip"],
)
def test_aws_ecs_service_disallow_public_ip(program: Program, flagged: set[str]) -> None:
    assert judge(ecs.SERVICE_DISALLOW_PUBLIC_IP, program) == flagged


def test_ecs_service_public_ip_waiver() -> None:
    rule = ecs.SERVICE_DISALLOW_PUBLIC_IP
    assert judge(rule, service(True), waiver("serving")) == set()
