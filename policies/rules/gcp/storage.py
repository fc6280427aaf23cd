"""Cloud Storage buckets (rule 27)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, cis, guardrail
from policies.rules.settings import Present, Setting, settings_check

BUCKET = "gcp:storage/bucket:Bucket"

_UNIFORM = {BUCKET: (Setting("uniformBucketLevelAccess", (True,)),)}

bucket_require_uniform_access = resource_rule(
    "gcp-storage-bucket-require-uniform-access",
    "Buckets use uniform bucket-level access (IAM only, no per-object ACLs).",
    types=_UNIFORM,
    check=settings_check(_UNIFORM, "object ACLs escape bucket IAM and audit"),
    severity=Severity.HIGH,
    tags=["iam", "public-access"],
    remediation="Set `uniform_bucket_level_access=True` on the Bucket.",
    references=[checkov("CKV_GCP_29"), cis("gcp", "5.2")],
)

# "inherited" follows the org policy, which a project cannot be sure of; only "enforced" is sure.
_PAP = {BUCKET: (Setting("publicAccessPrevention", ("enforced",)),)}

bucket_enforce_public_access_prevention = resource_rule(
    "gcp-storage-bucket-enforce-public-access-prevention",
    "Buckets enforce public access prevention, so no grant can make data public.",
    types=_PAP,
    check=settings_check(_PAP, "bucket data must never become public"),
    severity=Severity.CRITICAL,
    tags=["network", "data-protection", "public-access"],
    remediation='Set `public_access_prevention="enforced"` on the Bucket.',
    references=[checkov("CKV_GCP_114"), cis("gcp", "5.1")],
)

_KEY = "a Cloud KMS CryptoKey id"
_CMEK = {BUCKET: (Present("encryption.defaultKmsKeyName", _KEY),)}

bucket_require_cmek = resource_rule(
    "gcp-storage-bucket-require-cmek",
    "Buckets encrypt with a customer-managed Cloud KMS key.",
    types=_CMEK,
    check=settings_check(_CMEK, "bucket must use a customer-managed encryption key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Set `encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key.id)` and "
        "grant the Cloud Storage service agent roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    # Checkov has no Cloud Storage CMEK check; the control is the guardrail's.
    references=[guardrail("27")],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
)
