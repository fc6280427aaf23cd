"""The azure rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.azure import (
    apim_operations,
    authorization,
    cognitive,
    compute,
    container_apps,
    data_services,
    databases,
    functions,
    identity,
    keyvault,
    ml,
    ml_compute,
    monitoring,
    network,
    openai,
    registry,
    search,
    state,
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
    ml.ml_workspace_require_cmk,
    # 22: container registry
    registry.acr_disable_admin_and_anonymous_pull,
    registry.acr_require_cmk,
    # 23: Cosmos DB, Service Bus, Event Grid, Event Hubs
    data_services.data_services_disable_local_auth,
    data_services.data_services_require_tls12,
    data_services.eventgrid_disable_public_network,
    data_services.servicebus_require_cmk,
    data_services.cosmosdb_require_cmk,
    # 24: App Service / Functions, Container Apps, API Management
    web.app_service_require_https_tls12,
    web.container_app_disallow_insecure_ingress,
    web.apim_disable_legacy_tls,
    web.container_app_restrict_external_ingress,
    web.container_app_environment_require_cmk,
    container_apps.container_app_environment_require_logs,
    container_apps.container_app_secrets_from_key_vault,
    web.apim_disable_weak_ciphers,
    web.apim_disallow_query_subscription_key,
    web.apim_require_private_origin,
    # 25: role assignments
    authorization.role_assignment_disallow_privileged_broad_scope,
    authorization.custom_role_flag_resource_write,
    authorization.role_assignment_flag_data_owner,
    # 26: diagnostics and retention
    monitoring.data_plane_require_diagnostic_settings,
    monitoring.log_analytics_require_retention,
    monitoring.action_group_webhook_require_aad_auth,
    monitoring.monitor_disable_public_ingestion,
    # client-added resources (rule-set revision 2)
    # managed databases
    databases.database_disable_public_network,
    databases.database_require_tls12,
    databases.database_require_entra_auth,
    databases.database_require_backup_retention,
    databases.database_geo_redundant_backup,
    databases.database_require_cmk,
    databases.sql_require_auditing,
    # virtual machines, scale sets, disks
    compute.vm_disable_password_authentication,
    compute.vm_require_host_or_cmk_disk_encryption,
    compute.vm_require_managed_identity,
    compute.vm_disallow_public_ip,
    compute.disk_require_cmk,
    compute.disk_restrict_network_access,
    # ML notebooks and training compute
    ml_compute.ml_compute_disable_node_public_ip,
    ml_compute.ml_compute_disable_local_auth,
    ml_compute.ml_compute_disable_public_ssh,
    # AI Search
    search.search_disable_public_network,
    search.search_disable_local_auth,
    search.search_require_cmk,
    search.search_require_managed_identity,
    # hosted LLMs
    openai.openai_require_cmk,
    openai.openai_restrict_outbound_access,
    openai.openai_deployment_require_content_filter,
    openai.openai_content_filters_enabled,
    # API Management APIs and products
    apim_operations.apim_api_require_authentication,
    apim_operations.apim_product_require_subscription,
    apim_operations.apim_named_value_secret_in_key_vault,
    # App Service / Function apps
    functions.web_app_disable_ftp,
    functions.web_app_disable_remote_debugging,
    functions.web_app_require_managed_identity,
    functions.web_app_restrict_public_network,
    functions.web_app_disable_basic_publishing_auth,
    functions.web_app_require_authentication,
    # front ends and network filters
    network.app_gateway_require_waf,
    network.app_gateway_require_https_tls12,
    network.waf_policy_prevention_mode,
    network.waf_policy_inspect_request_body,
    network.front_door_route_require_https,
    network.front_door_require_waf,
    network.nsg_restrict_admin_ports,
    # CI federation trust
    identity.federated_credential_restrict_subject,
    # recoverable and audited records (Pulumi state accounts, activity log)
    state.storage_require_blob_soft_delete,
    state.activity_log_export_audit_categories,
]
