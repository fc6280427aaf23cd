"""ECR rules (POLICY-RULES 11, advisory): immutable tags, scan on push, KMS encryption."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_true, items
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp

REPOSITORY = "aws:ecr/repository:Repository"

IMMUTABLE = frozenset({"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"})
KMS_TYPES = frozenset({"KMS", "KMS_DSSE"})


def _check_immutable(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    mutability = get(props, "imageTagMutability") or "MUTABLE"
    if mutability not in IMMUTABLE:
        yield f"ECR repository tags are {mutability}: a deployed tag can be overwritten."


REQUIRE_IMMUTABLE_TAGS = resource_rule(
    "aws-ecr-repository-require-immutable-tags",
    "ECR repositories should make image tags immutable so a deployed tag always means the "
    "same image.",
    types=[REPOSITORY],
    check=_check_immutable,
    severity=Severity.MEDIUM,
    tags=["supply-chain", "ecr"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set image_tag_mutability='IMMUTABLE' and deploy by digest or unique tag.",
    references=[checkov("CKV_AWS_51")],
)


def _check_scan(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "imageScanningConfiguration", "scanOnPush")):
        yield "ECR repository does not scan images on push."


REQUIRE_SCAN_ON_PUSH = resource_rule(
    "aws-ecr-repository-require-scan-on-push",
    "ECR repositories should scan every pushed image for vulnerabilities.",
    types=[REPOSITORY],
    check=_check_scan,
    severity=Severity.MEDIUM,
    tags=["supply-chain", "ecr"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set image_scanning_configuration={'scan_on_push': True} (or enable enhanced scanning "
        "in aws.ecr.RegistryScanningConfiguration and waive this rule with that reason)."
    ),
    references=[checkov("CKV_AWS_163"), fsbp("ECR.1")],
)


def _check_kms(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    types = [get(c, "encryptionType") for c in items(get(props, "encryptionConfigurations"))]
    if not types or not all(t in KMS_TYPES for t in types):
        yield "ECR repository is encrypted with AES256, not a KMS key."


REQUIRE_KMS = resource_rule(
    "aws-ecr-repository-require-kms",
    "ECR repositories should encrypt images with a KMS key.",
    types=[REPOSITORY],
    check=_check_kms,
    severity=Severity.LOW,
    tags=["encryption", "ecr", "key-management"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Set encryption_configurations=[{'encryption_type': 'KMS', 'kms_key': <ARN>}].",
    references=[checkov("CKV_AWS_136")],
)

POLICIES = [REQUIRE_IMMUTABLE_TAGS, REQUIRE_SCAN_ON_PUSH, REQUIRE_KMS]
