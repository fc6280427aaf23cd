"""SageMaker rules on small real programs: compliant resources, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import sagemaker
from tests.policies.test_aws_common import Program, judge, waiver

VPC = aws.sagemaker.ModelVpcConfigArgs(subnets=["subnet-a"], security_group_ids=["sg-a"])


def endpoint_config(**change: Any) -> Program:
    args: dict[str, Any] = {"kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k", **change}

    def program() -> None:
        aws.sagemaker.EndpointConfiguration(
            "serving-config",
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    model_name="m",
                    variant_name="stable",
                    instance_type="ml.m5.large",
                    initial_instance_count=1,
                )
            ],
            **args,
        )

    return program


def model(**change: Any) -> Program:
    args: dict[str, Any] = {"enable_network_isolation": True, "vpc_config": VPC, **change}

    def program() -> None:
        aws.sagemaker.Model(
            "serving-model",
            execution_role_arn="arn:aws:iam::123456789012:role/r",
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(image="img:1"),
            **args,
        )

    return program


def notebook(**change: Any) -> Program:
    args: dict[str, Any] = {
        "direct_internet_access": "Disabled",
        "root_access": "Disabled",
        "subnet_id": "subnet-a",
        "security_groups": ["sg-a"],
        **change,
    }

    def program() -> None:
        aws.sagemaker.NotebookInstance(
            "lab", instance_type="ml.t3.medium", role_arn="arn:aws:iam::1:role/r", **args
        )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(endpoint_config(), set()), (endpoint_config(kms_key_arn=None), {"serving-config"})],
    ids=["kms", "none"],
)
def test_aws_sagemaker_endpoint_config_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(sagemaker.ENDPOINT_CONFIG_REQUIRE_KMS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (model(), set()),
        (model(enable_network_isolation=False), {"serving-model"}),
        (model(enable_network_isolation=None), {"serving-model"}),
    ],
    ids=["isolated", "off", "unset"],
)
def test_aws_sagemaker_model_require_network_isolation(program: Program, flagged: set[str]) -> None:
    assert judge(sagemaker.MODEL_REQUIRE_NETWORK_ISOLATION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (model(), set()),
        (model(vpc_config=None), {"serving-model"}),
        (
            model(
                vpc_config=aws.sagemaker.ModelVpcConfigArgs(subnets=["s"], security_group_ids=[])
            ),
            {"serving-model"},
        ),
    ],
    ids=["vpc", "none", "no-security-groups"],
)
def test_aws_sagemaker_model_require_vpc(program: Program, flagged: set[str]) -> None:
    assert judge(sagemaker.MODEL_REQUIRE_VPC, program) == flagged


def test_model_vpc_waiver() -> None:
    program = model(vpc_config=None)
    assert judge(sagemaker.MODEL_REQUIRE_VPC, program, waiver("serving-model")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (notebook(), set()),
        (notebook(direct_internet_access="Enabled"), {"lab"}),
        (notebook(direct_internet_access=None), {"lab"}),
        (notebook(root_access="Enabled"), {"lab"}),
    ],
    ids=["locked-down", "internet", "internet-default", "root"],
)
def test_aws_sagemaker_notebook_disallow_internet_and_root(
    program: Program, flagged: set[str]
) -> None:
    assert judge(sagemaker.NOTEBOOK_DISALLOW_INTERNET_AND_ROOT, program) == flagged
