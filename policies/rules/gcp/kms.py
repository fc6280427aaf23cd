"""Cloud KMS rotation and customer-managed keys on data services (rule 30)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, resource_rule
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
    tags=["encryption"],
    remediation='Set `rotation_period="7776000s"` (90 days) or shorter on the CryptoKey.',
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
    tags=["encryption"],
    remediation=(
        "Pass the CryptoKey's id: Pub/Sub and Artifact Registry `kms_key_name`, Vertex AI "
        "`encryption_spec=...EncryptionSpecArgs(kms_key_name=...)`, Firestore "
        "`cmek_config=...`, BigQuery `default_encryption_configuration=...`; grant each service "
        "agent roles/cloudkms.cryptoKeyEncrypterDecrypter."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
)
