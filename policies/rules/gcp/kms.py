"""Cloud KMS rotation and customer-managed keys on data services (rule 30)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, cis, guardrail
from policies.rules.settings import Present, settings_check

CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
MAX_ROTATION_SECONDS = 90 * 24 * 3600
# Only symmetric encryption keys rotate automatically; signing and MAC keys cannot.
_ROTATABLE_PURPOSES: frozenset[str | None] = frozenset({None, "ENCRYPT_DECRYPT"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def rotation_seconds(value: Any) -> float | None:
    """``"7776000s"`` -> 7776000.0; None when absent or not a duration."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else None


def _rotation(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if props.get("purpose") not in _ROTATABLE_PURPOSES:
        return
    seconds = rotation_seconds(props.get("rotationPeriod"))
    if seconds is None:
        yield "key is never rotated: `rotationPeriod` is unset."
    elif seconds > MAX_ROTATION_SECONDS:
        yield f"key rotates every {seconds / 86400:g} days; rotate at least every 90 days."


kms_require_key_rotation = resource_rule(
    "gcp-kms-require-key-rotation",
    "Symmetric Cloud KMS keys rotate automatically at least every 90 days.",
    types=[CRYPTO_KEY],
    check=_rotation,
    severity=Severity.HIGH,
    tags=["encryption", "key-management"],
    remediation='Set `rotation_period="7776000s"` (90 days) or shorter on the CryptoKey.',
    references=[checkov("CKV_GCP_43"), cis("gcp", "1.10")],
)

_VERTEX_TYPES: tuple[str, ...] = (
    "gcp:vertex/aiDataset:AiDataset",
    "gcp:vertex/aiEndpoint:AiEndpoint",
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
    "gcp:vertex/aiFeatureStore:AiFeatureStore",
    "gcp:vertex/aiIndex:AiIndex",
    "gcp:vertex/aiIndexEndpoint:AiIndexEndpoint",
    "gcp:vertex/aiMetadataStore:AiMetadataStore",
    "gcp:vertex/aiTensorboard:AiTensorboard",
    "gcp:vertex/aiReasoningEngine:AiReasoningEngine",
    "gcp:vertex/aiRagCorpus:AiRagCorpus",
)

# Where each service takes its key.
_KEY = "a Cloud KMS CryptoKey id"
_CMEK = {
    "gcp:pubsub/topic:Topic": (Present("kmsKeyName", _KEY),),
    "gcp:artifactregistry/repository:Repository": (Present("kmsKeyName", _KEY),),
    "gcp:firestore/database:Database": (Present("cmekConfig.kmsKeyName", _KEY),),
    # Where Vertex AI request-response logs (data capture) land.
    "gcp:bigquery/dataset:Dataset": (Present("defaultEncryptionConfiguration.kmsKeyName", _KEY),),
    **{token: (Present("encryptionSpec.kmsKeyName", _KEY),) for token in _VERTEX_TYPES},
}

data_services_require_cmek = resource_rule(
    "gcp-data-services-require-cmek",
    "Pub/Sub topics, Vertex AI resources, Artifact Registry repositories, Firestore databases "
    "and BigQuery datasets encrypt with a customer-managed Cloud KMS key.",
    types=_CMEK,
    check=settings_check(_CMEK, "data must be encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Pass the CryptoKey's id: Pub/Sub and Artifact Registry `kms_key_name`, Vertex AI "
        "`encryption_spec=...EncryptionSpecArgs(kms_key_name=...)`, Firestore "
        "`cmek_config=...`, BigQuery `default_encryption_configuration=...`; grant each service "
        "agent roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[
        checkov("CKV_GCP_83"),
        checkov("CKV_GCP_84"),
        checkov("CKV_GCP_81"),
        checkov("CKV2_GCP_24"),
        checkov("CKV_GCP_92"),
        checkov("CKV_GCP_96"),
        checkov("CKV2_GCP_25"),
        checkov("CKV2_GCP_26"),
        cis("gcp", "7.3"),
    ],
)

# Review D-2: the services the four patterns run on and log to, where GCP's "CMEK everywhere"
# matters most. A rule of its own (rule-set revision 2), so a project on an older baseline gets
# these types as advisory until its config raises them, as with every new rule.
# Cloud Run v2 and Functions v2 encrypt the container image and its layers with the key; log
# buckets encrypt the stored log entries. Log buckets above the project (folder, organization,
# billing account) take their key from the parent's CMEK settings, so only project buckets are
# listed. Secret Manager is not used by the patterns (docs/patterns/gcp.md).
_RUNTIME_CMEK = {
    "gcp:cloudrunv2/service:Service": (Present("template.encryptionKey", _KEY),),
    "gcp:cloudrunv2/job:Job": (Present("template.template.encryptionKey", _KEY),),
    "gcp:cloudfunctionsv2/function:Function": (Present("kmsKeyName", _KEY),),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": (
        Present("cmekSettings.kmsKeyName", _KEY),
    ),
}

runtime_and_logs_require_cmek = resource_rule(
    "gcp-runtime-and-logs-require-cmek",
    "Cloud Run services and jobs, Cloud Functions (2nd gen) and project log buckets encrypt "
    "with a customer-managed Cloud KMS key.",
    types=_RUNTIME_CMEK,
    check=settings_check(_RUNTIME_CMEK, "data is not encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Pass the CryptoKey's id: Cloud Run `template=...(encryption_key=key.id)` (jobs: "
        "`template.template.encryption_key`), Cloud Functions v2 `kms_key_name`, log buckets "
        "`cmek_settings=...CmekSettingsArgs(kms_key_name=key.id)`; grant the Cloud Run / "
        "Cloud Functions / Artifact Registry agents and the Cloud Logging CMEK account "
        "(`gcp.logging.get_project_settings().kms_service_account_id`) "
        "roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    # No Checkov check covers Cloud Run, Functions v2 or log bucket CMEK; rule 30 does.
    references=[guardrail("30")],
    since=2,
)
