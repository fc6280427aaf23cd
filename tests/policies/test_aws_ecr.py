"""ECR rules on small real programs: a compliant repository, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import ecr
from tests.policies.test_aws_common import Program, judge

KMS = [aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key="arn:k")]
SCAN = aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True)


def repository(**change: Any) -> Program:
    args: dict[str, Any] = {
        "image_tag_mutability": "IMMUTABLE",
        "image_scanning_configuration": SCAN,
        "encryption_configurations": KMS,
        **change,
    }

    def program() -> None:
        aws.ecr.Repository("images", **args)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (repository(), set()),
        (repository(image_tag_mutability="MUTABLE"), {"images"}),
        (repository(image_tag_mutability=None), {"images"}),
        (repository(image_tag_mutability="MUTABLE_WITH_EXCLUSION"), {"images"}),
    ],
    ids=["immutable", "mutable", "default", "mutable-with-exclusion"],
)
def test_aws_ecr_repository_require_immutable_tags(program: Program, flagged: set[str]) -> None:
    assert judge(ecr.REQUIRE_IMMUTABLE_TAGS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (repository(), set()),
        (repository(image_scanning_configuration=None), {"images"}),
        (
            repository(
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=False
                )
            ),
            {"images"},
        ),
    ],
    ids=["scan", "unset", "off"],
)
def test_aws_ecr_repository_require_scan_on_push(program: Program, flagged: set[str]) -> None:
    assert judge(ecr.REQUIRE_SCAN_ON_PUSH, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (repository(), set()),
        (repository(encryption_configurations=None), {"images"}),
        (
            repository(
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")
                ]
            ),
            {"images"},
        ),
    ],
    ids=["kms", "default", "aes256"],
)
def test_aws_ecr_repository_require_kms(program: Program, flagged: set[str]) -> None:
    assert judge(ecr.REQUIRE_KMS, program) == flagged
