"""SageMaker notebooks and Studio: notebook instances, Studio domains and user profiles
(POLICY-RULES 8, beyond the notebook internet/root rule in sagemaker.py).

Mandatory: notebook volumes and Studio EFS volumes encrypted with a customer-managed KMS key;
Studio domains send app traffic through the VPC only (``VpcOnly``, the default is
``PublicInternetOnly``); notebook sharing to S3 encrypted with a KMS key; notebook instances
answer IMDSv2 only.

Studio spaces carry no encryption or network setting of their own (their storage is the
domain's EFS volume, its key set on the domain), so nothing is checked on ``Space``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.aws._common import get, present
from policies.rules.base import resource_rule
from policies.rules.references import checkov, guardrail

NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"
DOMAIN = "aws:sagemaker/domain:Domain"
USER_PROFILE = "aws:sagemaker/userProfile:UserProfile"

VPC_ONLY = "VpcOnly"
SHARING_ALLOWED = "Allowed"


def _check_kms(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if not present(get(props, "kmsKeyId")):
        what = (
            "SageMaker notebook instance ML storage volume"
            if args.resource_type == NOTEBOOK
            else "SageMaker Studio domain EFS volume"
        )
        yield (
            f"{what} is not encrypted with a customer-managed key (kms_key_id unset: an "
            "AWS-managed key is used)."
        )


REQUIRE_KMS = resource_rule(
    "aws-sagemaker-notebook-require-kms",
    "SageMaker notebook instances and Studio domains must encrypt their storage with a "
    "customer-managed KMS key.",
    types=[NOTEBOOK, DOMAIN],
    check=_check_kms,
    severity=Severity.HIGH,
    tags=["sagemaker", "encryption", "key-management"],
    remediation=(
        "Set kms_key_id=<customer-managed key ARN> on aws.sagemaker.NotebookInstance / "
        "aws.sagemaker.Domain (a domain's key can only be set at creation)."
    ),
    references=[checkov("CKV_AWS_22"), checkov("CKV_AWS_187")],
    since=2,
)


def _check_vpc_only(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    mode = get(props, "appNetworkAccessType")
    if mode != VPC_ONLY:
        yield (
            "SageMaker Studio domain gives its apps direct internet access "
            f"(app_network_access_type is {mode or 'unset (PublicInternetOnly)'}): notebooks "
            "can send data anywhere, bypassing the VPC's controls."
        )


DOMAIN_REQUIRE_VPC_ONLY = resource_rule(
    "aws-sagemaker-domain-require-vpc-only",
    "SageMaker Studio domains must route app traffic through the VPC "
    "(app_network_access_type = VpcOnly).",
    types=[DOMAIN],
    check=_check_vpc_only,
    severity=Severity.HIGH,
    tags=["sagemaker", "network-exposure"],
    remediation=(
        "Set app_network_access_type='VpcOnly' with private subnet_ids and security groups; "
        "give the subnets VPC endpoints (SageMaker API/runtime, S3, STS, ...) or a NAT path."
    ),
    references=[guardrail("8")],
    since=2,
)


def _sharing_settings(props: Any, args: ResourceValidationArgs) -> Any:
    if args.resource_type == DOMAIN:
        return get(props, "defaultUserSettings", "sharingSettings")
    return get(props, "userSettings", "sharingSettings")


def _check_sharing(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    sharing = _sharing_settings(props, args)
    if get(sharing, "notebookOutputOption") != SHARING_ALLOWED:
        return  # sharing is disabled (the default)
    if not present(get(sharing, "s3KmsKeyId")):
        yield (
            "Studio notebook sharing copies notebooks and their outputs to S3 without a KMS key "
            "(sharing_settings.s3_kms_key_id unset)."
        )


REQUIRE_SHARING_KMS = resource_rule(
    "aws-sagemaker-studio-sharing-require-kms",
    "When Studio domains or user profiles allow notebook sharing, the shared copies in S3 must "
    "be encrypted with a KMS key.",
    types=[DOMAIN, USER_PROFILE],
    check=_check_sharing,
    severity=Severity.MEDIUM,
    tags=["sagemaker", "encryption"],
    remediation=(
        "Set sharing_settings={'notebook_output_option': 'Allowed', 's3_output_path': ..., "
        "'s3_kms_key_id': <key ARN>}, or notebook_output_option='Disabled'."
    ),
    references=[guardrail("8")],
    since=2,
)


def _check_notebook_imds(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    config = get(props, "instanceMetadataServiceConfiguration")
    version = get(config, "minimumInstanceMetadataServiceVersion")
    if str(version) != "2":
        yield (
            "SageMaker notebook instance accepts IMDSv1 requests "
            "(instance_metadata_service_configuration.minimum_instance_metadata_service_version "
            f"is {version or 'unset (1)'}): an SSRF can read the notebook role's credentials."
        )


NOTEBOOK_REQUIRE_IMDSV2 = resource_rule(
    "aws-sagemaker-notebook-require-imdsv2",
    "SageMaker notebook instances must accept IMDSv2 only.",
    types=[NOTEBOOK],
    check=_check_notebook_imds,
    severity=Severity.MEDIUM,
    tags=["sagemaker", "authentication"],
    remediation=(
        "Set instance_metadata_service_configuration="
        "{'minimum_instance_metadata_service_version': '2'}."
    ),
    references=[checkov("CKV_AWS_371")],
    since=2,
)

POLICIES = [REQUIRE_KMS, DOMAIN_REQUIRE_VPC_ONLY, REQUIRE_SHARING_KMS, NOTEBOOK_REQUIRE_IMDSV2]
