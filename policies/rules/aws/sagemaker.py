"""SageMaker rules (POLICY-RULES 8).

Endpoint configurations must encrypt their storage with KMS (M); notebooks must not have direct
internet or root access (M: both expose data and credentials directly); models should run with
network isolation inside a VPC (A).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_true, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp, guardrail

ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"

DISABLED = "Disabled"  # both notebook flags default to "Enabled" when unset


def _check_endpoint_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsKeyArn")):
        yield "SageMaker endpoint configuration does not encrypt its ML storage with a KMS key."


ENDPOINT_CONFIG_REQUIRE_KMS = resource_rule(
    "aws-sagemaker-endpoint-config-require-kms",
    "SageMaker endpoint configurations must set a KMS key for the attached ML storage volumes.",
    types=[ENDPOINT_CONFIG],
    check=_check_endpoint_kms,
    severity=Severity.HIGH,
    tags=["encryption", "sagemaker", "key-management"],
    remediation="Set kms_key_arn=<key ARN> on aws.sagemaker.EndpointConfiguration.",
    references=[checkov("CKV_AWS_98")],
)


def _check_isolation(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "enableNetworkIsolation")):
        yield "SageMaker model containers can make outbound network calls (no network isolation)."


MODEL_REQUIRE_NETWORK_ISOLATION = resource_rule(
    "aws-sagemaker-model-require-network-isolation",
    "SageMaker models should run with network isolation so containers cannot call out.",
    types=[MODEL],
    check=_check_isolation,
    severity=Severity.MEDIUM,
    tags=["network", "sagemaker", "network-exposure"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set enable_network_isolation=True (model artifacts are still fetched from S3).",
    references=[checkov("CKV_AWS_370")],
)


def _check_vpc(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    vpc = get(props, "vpcConfig")
    if not items(get(vpc, "subnets")) or not items(get(vpc, "securityGroupIds")):
        yield "SageMaker model does not run in a VPC (vpc_config subnets / security groups unset)."


MODEL_REQUIRE_VPC = resource_rule(
    "aws-sagemaker-model-require-vpc",
    "SageMaker models should run in private subnets of a VPC with security groups.",
    types=[MODEL],
    check=_check_vpc,
    severity=Severity.MEDIUM,
    tags=["network", "sagemaker", "network-exposure"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set vpc_config={'subnets': [<private subnet ids>], 'security_group_ids': [...]}.",
    references=[guardrail("8")],
)


def _check_notebook(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "directInternetAccess") != DISABLED:
        yield "SageMaker notebook has direct internet access (direct_internet_access not Disabled)."
    if get(props, "rootAccess") != DISABLED:
        yield "SageMaker notebook users have root access (root_access not Disabled)."


NOTEBOOK_DISALLOW_INTERNET_AND_ROOT = resource_rule(
    "aws-sagemaker-notebook-disallow-internet-and-root",
    "SageMaker notebook instances must disable direct internet access and root access.",
    types=[NOTEBOOK],
    check=_check_notebook,
    severity=Severity.HIGH,
    tags=["network", "iam", "sagemaker", "network-exposure", "least-privilege"],
    remediation=(
        "Set direct_internet_access='Disabled', root_access='Disabled' and subnet_id / "
        "security_groups so the notebook reaches the internet only through your VPC."
    ),
    references=[
        checkov("CKV_AWS_122"),
        checkov("CKV_AWS_307"),
        fsbp("SageMaker.1"),
        fsbp("SageMaker.3"),
    ],
)

POLICIES = [
    ENDPOINT_CONFIG_REQUIRE_KMS,
    MODEL_REQUIRE_NETWORK_ISOLATION,
    MODEL_REQUIRE_VPC,
    NOTEBOOK_DISALLOW_INTERNET_AND_ROOT,
]
