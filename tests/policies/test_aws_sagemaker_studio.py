"""SageMaker notebook and Studio rules on small real programs: compliant resources, one change
per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import sagemaker_studio as studio
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/ml"
ROLE = "arn:aws:iam::123456789012:role/studio"


def notebook(**change: Any) -> Program:
    args: dict[str, Any] = {
        "role_arn": ROLE,
        "instance_type": "ml.t3.medium",
        "kms_key_id": KEY,
        "direct_internet_access": "Disabled",
        "root_access": "Disabled",
        "subnet_id": "subnet-1",
        "security_groups": ["sg-1"],
        "instance_metadata_service_configuration": (
            aws.sagemaker.NotebookInstanceInstanceMetadataServiceConfigurationArgs(
                minimum_instance_metadata_service_version="2"
            )
        ),
        **change,
    }
    return lambda: aws.sagemaker.NotebookInstance(
        "nb", **{k: v for k, v in args.items() if v is not None}
    )


def domain(sharing: dict[str, Any] | None = None, **change: Any) -> Program:
    args: dict[str, Any] = {
        "domain_name": "studio",
        "auth_mode": "IAM",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-1"],
        "app_network_access_type": "VpcOnly",
        "kms_key_id": KEY,
        **change,
    }
    settings = aws.sagemaker.DomainDefaultUserSettingsArgs(
        execution_role=ROLE,
        sharing_settings=(
            aws.sagemaker.DomainDefaultUserSettingsSharingSettingsArgs(**sharing)
            if sharing
            else None
        ),
    )
    return lambda: aws.sagemaker.Domain(
        "studio",
        default_user_settings=settings,
        **{k: v for k, v in args.items() if v is not None},
    )


def profile(**sharing: Any) -> Program:
    return lambda: aws.sagemaker.UserProfile(
        "alice",
        domain_id="d-1",
        user_profile_name="alice",
        user_settings=aws.sagemaker.UserProfileUserSettingsArgs(
            execution_role=ROLE,
            sharing_settings=aws.sagemaker.UserProfileUserSettingsSharingSettingsArgs(**sharing),
        ),
    )


SHARED = {"notebook_output_option": "Allowed", "s3_output_path": "s3://bucket/shared"}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (notebook(), set()),
        (domain(), set()),
        (notebook(kms_key_id=None), {"nb"}),
        (domain(kms_key_id=None), {"studio"}),
    ],
    ids=["notebook", "domain", "notebook-no-key", "domain-no-key"],
)
def test_aws_sagemaker_notebook_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(studio.REQUIRE_KMS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(app_network_access_type="PublicInternetOnly"), {"studio"}),
        (domain(app_network_access_type=None), {"studio"}),
    ],
    ids=["vpc-only", "public-internet", "default"],
)
def test_aws_sagemaker_domain_require_vpc_only(program: Program, flagged: set[str]) -> None:
    assert judge(studio.DOMAIN_REQUIRE_VPC_ONLY, program) == flagged


def test_vpc_only_waiver() -> None:
    program = domain(app_network_access_type="PublicInternetOnly")
    assert judge(studio.DOMAIN_REQUIRE_VPC_ONLY, program, waiver("studio")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(sharing={**SHARED, "s3_kms_key_id": KEY}), set()),
        (domain(sharing={"notebook_output_option": "Disabled"}), set()),
        (profile(**SHARED, s3_kms_key_id=KEY), set()),
        (domain(sharing=SHARED), {"studio"}),
        (profile(**SHARED), {"alice"}),
    ],
    ids=["no-sharing", "sharing-kms", "disabled", "profile-kms", "domain-plain", "profile-plain"],
)
def test_aws_sagemaker_studio_sharing_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(studio.REQUIRE_SHARING_KMS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (notebook(), set()),
        (notebook(instance_metadata_service_configuration=None), {"nb"}),
        (
            notebook(
                instance_metadata_service_configuration=(
                    aws.sagemaker.NotebookInstanceInstanceMetadataServiceConfigurationArgs(
                        minimum_instance_metadata_service_version="1"
                    )
                )
            ),
            {"nb"},
        ),
    ],
    ids=["v2", "unset", "v1"],
)
def test_aws_sagemaker_notebook_require_imdsv2(program: Program, flagged: set[str]) -> None:
    assert judge(studio.NOTEBOOK_REQUIRE_IMDSV2, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in studio.POLICIES]
    assert names == [
        "aws-sagemaker-notebook-require-kms",
        "aws-sagemaker-domain-require-vpc-only",
        "aws-sagemaker-studio-sharing-require-kms",
        "aws-sagemaker-notebook-require-imdsv2",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
