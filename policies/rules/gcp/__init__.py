"""The gcp rules, listed explicitly (no registration by import side effect)."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules.gcp import (
    acl,
    apigateway,
    audit,
    certificates,
    compute,
    federation,
    iam,
    kms,
    loadbalancing,
    logging,
    pubsub,
    serverless,
    sql,
    state,
    storage,
    vertex,
    workbench,
)

POLICIES: list[Policy] = [
    # 27: Cloud Storage
    storage.bucket_require_uniform_access,
    storage.bucket_enforce_public_access_prevention,
    storage.bucket_require_cmek,
    # 28, 29: IAM
    iam.iam_disallow_public_members,
    iam.iam_disallow_privileged_project_roles,
    iam.iam_disallow_service_account_keys,
    acl.acl_disallow_public_entities,
    # 30: KMS and CMEK
    kms.kms_require_key_rotation,
    kms.data_services_require_cmek,
    kms.runtime_and_logs_require_cmek,
    # 31: Cloud Run / Functions
    serverless.serverless_restrict_ingress,
    serverless.serverless_require_dedicated_identity,
    serverless.cloud_run_invoker_iam_disabled_requires_lb_only,
    # Pub/Sub subscriptions (push authentication, no expiry, dead letters)
    pubsub.pubsub_push_subscription_require_authentication,
    pubsub.pubsub_subscription_require_no_expiry,
    pubsub.pubsub_push_subscription_require_dead_letter,
    # 32: audit logs, retention, SSL policies
    logging.audit_logs_require_ai_and_storage,
    logging.logging_require_retention,
    logging.ssl_policy_require_tls12,
    logging.logging_require_default_sink_exclusion,
    # Load balancer certificates on a domain the client owns (review C1)
    certificates.managed_certificate_disallow_wildcard_dns_domains,
    # Resource types clients add (rule-set revision 2): managed databases
    sql.sql_disallow_public_access,
    sql.sql_require_tls,
    sql.sql_require_cmek,
    sql.sql_require_backups,
    sql.sql_postgres_require_log_flags,
    # Compute Engine VMs, disks and firewall rules
    compute.compute_disallow_default_service_account,
    compute.compute_disallow_external_ip,
    compute.compute_disable_serial_port,
    compute.compute_require_os_login,
    compute.compute_disable_ip_forwarding,
    compute.compute_require_shielded_vm,
    compute.compute_disk_require_cmek,
    compute.compute_firewall_disallow_open_admin_ports,
    # Workbench notebooks and Colab Enterprise runtimes
    workbench.workbench_disallow_public_ip,
    workbench.workbench_disallow_root_access,
    workbench.workbench_require_dedicated_identity,
    workbench.workbench_require_cmek,
    workbench.workbench_require_shielded_vm,
    # Vertex AI serving, AI search stores, Model Armor
    vertex.vertex_serving_require_private_endpoint,
    vertex.ai_stores_require_cmek,
    vertex.model_armor_require_filters,
    vertex.model_armor_template_require_llm_guardrail,
    # API Gateway / Cloud Endpoints methods
    apigateway.api_require_authenticated_methods,
    # Audit log configs
    audit.audit_config_disallow_exemptions,
    audit.audit_config_require_all_log_types,
    # Load balancers
    loadbalancing.lb_backend_require_logging,
    loadbalancing.lb_backend_require_cloud_armor,
    loadbalancing.lb_http_require_https_redirect,
    loadbalancing.cloud_armor_llm_require_checked_bodies,
    # CI federation
    federation.wif_provider_require_attribute_condition,
    federation.wif_disallow_pool_wide_grants,
    # State and recoverable buckets
    state.state_bucket_require_versioning,
    state.bucket_keep_soft_delete,
]
