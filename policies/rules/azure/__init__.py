"""The azure rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.azure import (
    authorization,
    cognitive,
    data_services,
    keyvault,
    ml,
    monitoring,
    registry,
    storage,
    web,
)

POLICIES: list[Policy] = [
    # 17, 18: storage
    storage.storage_require_tls12,
    storage.storage_disallow_public_blob_access,
    storage.storage_disable_shared_key,
    storage.storage_restrict_network_access,
    storage.storage_require_cmk,
    # 19: key vault
    keyvault.keyvault_require_purge_protection,
    keyvault.keyvault_restrict_network_access,
    keyvault.keyvault_require_rbac_authorization,
    # 20: AI services / OpenAI
    cognitive.ai_services_disable_local_auth,
    cognitive.ai_services_disable_public_network,
    cognitive.ai_services_require_managed_identity,
    # 21: machine learning
    ml.ml_workspace_disable_public_network,
    ml.ml_endpoint_require_token_auth,
    # 22: container registry
    registry.acr_disable_admin_and_anonymous_pull,
    # 23: Cosmos DB, Service Bus, Event Grid, Event Hubs
    data_services.data_services_disable_local_auth,
    data_services.data_services_require_tls12,
    # 24: App Service / Functions, Container Apps, API Management
    web.app_service_require_https_tls12,
    web.container_app_disallow_insecure_ingress,
    web.apim_disable_legacy_tls,
    # 25: role assignments
    authorization.role_assignment_disallow_privileged_broad_scope,
    # 26: diagnostics and retention
    monitoring.data_plane_require_diagnostic_settings,
    monitoring.log_analytics_require_retention,
]
