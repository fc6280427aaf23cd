"""The gcp rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.gcp import iam, kms, logging, serverless, storage

POLICIES: list[Policy] = [
    # 27: Cloud Storage
    storage.bucket_require_uniform_access,
    storage.bucket_enforce_public_access_prevention,
    storage.bucket_require_cmek,
    # 28, 29: IAM
    iam.iam_disallow_public_members,
    iam.iam_disallow_privileged_project_roles,
    iam.iam_disallow_service_account_keys,
    # 30: KMS and CMEK
    kms.kms_require_key_rotation,
    kms.data_services_require_cmek,
    # 31: Cloud Run / Functions
    serverless.serverless_restrict_ingress,
    serverless.serverless_require_dedicated_identity,
    # 32: audit logs, retention, SSL policies
    logging.audit_logs_require_ai_and_storage,
    logging.logging_require_retention,
    logging.ssl_policy_require_tls12,
]
