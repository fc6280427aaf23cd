"""ECS task definition rules (POLICY-RULES 16, advisory): no privileged containers, logging set
on every container, no secret-looking plain environment variables.

``containerDefinitions`` arrives as a JSON string holding a list of container definitions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_true, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp, guardrail

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

# A name is secret-like when one of its words (split on _ - . and camelCase) is one of these, or
# two adjacent words form one of the pairs; unless its last word says it holds a reference.
SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS"}
)
SECRET_PAIRS = frozenset(
    {("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY"), ("AUTH", "KEY")}
)
REFERENCE_WORDS = frozenset(
    {"ARN", "NAME", "ID", "PATH", "FILE", "URL", "URI", "ENDPOINT", "HEADER", "TTL", "TYPE"}
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _containers(props: Any) -> list[Mapping[str, Any]]:
    raw = get(props, "containerDefinitions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return []
    return [c for c in items(raw) if isinstance(c, Mapping)]


def _label(container: Mapping[str, Any]) -> str:
    return str(container.get("name") or "(unnamed)")


def secret_like(name: str) -> bool:
    """Whether an environment variable name suggests it holds a secret value."""
    words = [w.upper() for w in _WORD.findall(name)]
    if not words or words[-1] in REFERENCE_WORDS:
        return False
    if SECRET_WORDS.intersection(words):
        return True
    return any(pair in SECRET_PAIRS for pair in pairwise(words))


def _check_privileged(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for container in _containers(props):
        if is_true(container.get("privileged")):
            yield f"Container {_label(container)} runs privileged (root on the host)."


DISALLOW_PRIVILEGED = resource_rule(
    "aws-ecs-task-definition-disallow-privileged",
    "ECS containers should not run privileged.",
    types=[TASK_DEFINITION],
    check=_check_privileged,
    severity=Severity.HIGH,
    tags=["iam", "containers", "ecs", "least-privilege"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Remove privileged=true; grant only the Linux capabilities the container needs.",
    references=[fsbp("ECS.4")],
)


def _check_logging(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for container in _containers(props):
        if not present(get(container.get("logConfiguration"), "logDriver")):
            yield f"Container {_label(container)} has no log configuration: its output is lost."


REQUIRE_LOGGING = resource_rule(
    "aws-ecs-task-definition-require-logging",
    "Every ECS container should ship its logs (logConfiguration.logDriver set).",
    types=[TASK_DEFINITION],
    check=_check_logging,
    severity=Severity.MEDIUM,
    tags=["logging", "containers", "ecs", "logging-audit"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set logConfiguration={'logDriver': 'awslogs', 'options': {'awslogs-group': ..., "
        "'awslogs-region': ..., 'awslogs-stream-prefix': ...}} on each container."
    ),
    references=[fsbp("ECS.9")],
)


def _check_plain_secrets(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for container in _containers(props):
        for variable in items(container.get("environment")):
            name = get(variable, "name")
            if isinstance(name, str) and secret_like(name) and present(get(variable, "value")):
                yield (
                    f"Container {_label(container)} sets {name} as a plain environment "
                    "variable; it is visible to anyone who can describe the task definition."
                )


DISALLOW_PLAIN_SECRETS = resource_rule(
    "aws-ecs-task-definition-disallow-plain-secrets",
    "ECS containers should receive secrets through 'secrets' (Secrets Manager / SSM), not as "
    "plain environment variables with secret-like names.",
    types=[TASK_DEFINITION],
    check=_check_plain_secrets,
    severity=Severity.HIGH,
    tags=["secrets", "containers", "ecs", "authentication"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Move the value to Secrets Manager or SSM Parameter Store and reference it with "
        "secrets=[{'name': ..., 'valueFrom': <ARN>}]; grant the execution role read access."
    ),
    references=[fsbp("ECS.8")],
)

CLUSTER = "aws:ecs/cluster:Cluster"


def _check_fargate_storage_key(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    managed = get(props, "configuration", "managedStorageConfiguration")
    if not present(get(managed, "fargateEphemeralStorageKmsKeyId")):
        yield (
            "ECS cluster's Fargate ephemeral storage is not encrypted with a customer-managed "
            "key (configuration.managed_storage_configuration."
            "fargate_ephemeral_storage_kms_key_id unset: an AWS-owned key)."
        )


CLUSTER_REQUIRE_FARGATE_EPHEMERAL_KMS = resource_rule(
    "aws-ecs-cluster-require-fargate-ephemeral-kms",
    "ECS clusters should encrypt their tasks' Fargate ephemeral storage with a customer-managed "
    "KMS key (review C7).",
    types=[CLUSTER],
    check=_check_fargate_storage_key,
    severity=Severity.LOW,
    tags=["encryption", "key-management", "ecs"],
    remediation=(
        "Set configuration={'managed_storage_configuration': "
        "{'fargate_ephemeral_storage_kms_key_id': <key id>}} and let fargate.amazonaws.com "
        "create grants on the key (kms:GenerateDataKeyWithoutPlaintext, kms:CreateGrant, "
        "kms:DescribeKey, with kms:EncryptionContext:aws:ecs:clusterName)."
    ),
    references=[guardrail("16")],
    since=2,
)

SERVICE = "aws:ecs/service:Service"


def _check_service_public_ip(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    network = get(props, "networkConfiguration")
    if is_true(get(network, "assignPublicIp")):
        yield (
            "service tasks get public IP addresses (networkConfiguration.assignPublicIp is "
            "true): every task is reachable from the internet through its security groups."
        )


SERVICE_DISALLOW_PUBLIC_IP = resource_rule(
    "aws-ecs-service-disallow-public-ip",
    "ECS services must not assign public IP addresses to their tasks.",
    types=[SERVICE],
    check=_check_service_public_ip,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access", "ecs"],
    remediation=(
        "Run the tasks in private subnets with network_configuration={'assign_public_ip': False, "
        "...}; reach the internet through a NAT gateway or VPC endpoints, and take traffic in "
        "through a load balancer."
    ),
    references=[checkov("CKV_AWS_333"), fsbp("ECS.2")],
    since=2,
)

POLICIES = [
    DISALLOW_PRIVILEGED,
    REQUIRE_LOGGING,
    DISALLOW_PLAIN_SECRETS,
    CLUSTER_REQUIRE_FARGATE_EPHEMERAL_KMS,
    SERVICE_DISALLOW_PUBLIC_IP,
]
