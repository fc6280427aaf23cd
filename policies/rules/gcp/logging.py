"""GCP audit logs, log retention and SSL policies (rule 32)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import (
    OPERATIONAL,
    SECURITY,
    as_list,
    canonical_type,
    parse_document,
    resource_rule,
    stack_rule,
)
from policies.rules.gcp.iam import HIERARCHY_POLICY_TYPES
from policies.rules.gcp.iam_types import IAM_BINDING_TYPES, IAM_MEMBER_TYPES, IAM_POLICY_TYPES
from policies.rules.settings import Setting, settings_check

AUDIT_CONFIG_TYPES: tuple[str, ...] = (
    "gcp:projects/iAMAuditConfig:IAMAuditConfig",
    "gcp:folder/iamAuditConfig:IamAuditConfig",
    "gcp:organizations/iamAuditConfig:IamAuditConfig",
)
ALL_SERVICES = "allServices"
# Data access logs: who read or changed the data and the models, not only the admin activity
# that Cloud Audit Logs keep anyway.
REQUIRED_LOG_TYPES: frozenset[str] = frozenset({"DATA_READ", "DATA_WRITE"})

# Which service's data access logs a resource needs, by the token's module (exact name).
AUDITED_MODULES: dict[str, str] = {
    "vertex": "aiplatform.googleapis.com",
    "storage": "storage.googleapis.com",
}
# Of a module, the resource types that hold data (a bucket's IAM member holds none).
_AUDITED_STORAGE_TYPES = frozenset({"gcp:storage/bucket:Bucket"})
_IAM_TYPES = frozenset((*IAM_MEMBER_TYPES, *IAM_BINDING_TYPES, *IAM_POLICY_TYPES))


def _module(token: str) -> str:
    parts = token.split(":")
    return parts[1].split("/")[0] if len(parts) == 3 else ""


def audited_service(resource_type: str) -> str | None:
    """The audit service a resource's data access is logged under, if it holds data."""
    token = canonical_type(resource_type)
    module = _module(token)
    if module == "storage" and token not in _AUDITED_STORAGE_TYPES:
        return None
    if token in _IAM_TYPES:
        return None  # a grant on a Vertex resource holds no data
    return AUDITED_MODULES.get(module)


def _logged(configs: Any) -> set[str]:
    return {
        str(c.get("logType"))
        for c in as_list(configs)
        if isinstance(c, Mapping) and c.get("logType")
    }


def audited_services(resources: list[PolicyResource]) -> set[str]:
    """Services whose DATA_READ and DATA_WRITE logs an audit config (or IAM policy) turns on."""
    covered: set[str] = set()
    for r in resources:
        token = canonical_type(r.resource_type)
        try:
            if token in AUDIT_CONFIG_TYPES:
                entries: list[Any] = [
                    {
                        "service": r.props.get("service"),
                        "auditLogConfigs": r.props.get("auditLogConfigs"),
                    }
                ]
            elif token in HIERARCHY_POLICY_TYPES:
                entries = as_list(parse_document(r.props.get("policyData")).get("auditConfigs"))
            else:
                continue
        except UnknownValueError:
            continue
        for entry in entries:
            logged = _logged(entry.get("auditLogConfigs")) if isinstance(entry, Mapping) else set()
            if isinstance(entry, Mapping) and logged >= REQUIRED_LOG_TYPES:
                covered.add(str(entry.get("service")))
    return covered


def _missing_audit_logs(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    covered = audited_services(args.resources)
    if ALL_SERVICES in covered:
        return
    reported: set[str] = set()
    for r in args.resources:
        service = audited_service(r.resource_type)
        if service is None or service in covered or service in reported:
            continue
        reported.add(service)
        yield (
            f"'{r.name}' uses {service}, but no audit config turns on its DATA_READ and "
            "DATA_WRITE logs.",
            r.urn,
        )


audit_logs_require_ai_and_storage = stack_rule(
    "gcp-audit-logs-require-ai-and-storage",
    "Data access audit logs (DATA_READ, DATA_WRITE) are on for Vertex AI and Cloud Storage "
    "when the stack uses them.",
    check=_missing_audit_logs,
    severity=Severity.HIGH,
    tags=["logging"],
    remediation=(
        'Add `gcp.projects.IAMAuditConfig(service="aiplatform.googleapis.com", '
        'audit_log_configs=[...(log_type="DATA_READ"), ...(log_type="DATA_WRITE")])` and the '
        "same for storage.googleapis.com (or allServices)."
    ),
    category=SECURITY,
)

DEFAULT_MINIMUM_DAYS = 30
_SERVICE_DEFAULT_DAYS = 30  # a log bucket without retentionDays keeps 30 days
_LOG_BUCKET_TYPES: tuple[str, ...] = (
    "gcp:logging/projectBucketConfig:ProjectBucketConfig",
    "gcp:logging/folderBucketConfig:FolderBucketConfig",
    "gcp:logging/organizationBucketConfig:OrganizationBucketConfig",
    "gcp:logging/billingAccountBucketConfig:BillingAccountBucketConfig",
)


def _short_retention(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config().get("minimumRetentionDays", DEFAULT_MINIMUM_DAYS)
    value = props.get("retentionDays")
    days = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    effective = _SERVICE_DEFAULT_DAYS if days is None else days
    if effective < minimum:
        shown = "unset (30 days)" if days is None else f"{days:g} days"
        yield f"log retention is {shown}; this environment keeps logs at least {minimum} days."


logging_require_retention = resource_rule(
    "gcp-logging-require-retention",
    "Log buckets keep logs at least the configured minimum number of days.",
    types=_LOG_BUCKET_TYPES,
    check=_short_retention,
    severity=Severity.MEDIUM,
    tags=["logging"],
    remediation="Set `retention_days` to at least the environment's minimum (pack config).",
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    config_properties={
        "minimumRetentionDays": {"type": "integer", "minimum": 1, "default": DEFAULT_MINIMUM_DAYS}
    },
)

# COMPATIBLE (the default profile) still offers weak TLS 1.2 cipher suites.
_SSL_POLICY: tuple[Setting, ...] = (
    Setting("minTlsVersion", ("TLS_1_2", "TLS_1_3")),
    Setting("profile", ("MODERN", "RESTRICTED", "CUSTOM")),
)
_SSL = {
    "gcp:compute/sSLPolicy:SSLPolicy": _SSL_POLICY,
    "gcp:compute/regionSslPolicy:RegionSslPolicy": _SSL_POLICY,
}

ssl_policy_require_tls12 = resource_rule(
    "gcp-ssl-policy-require-tls12",
    "Load balancer SSL policies require TLS 1.2+ with a modern cipher profile.",
    types=_SSL,
    check=settings_check(_SSL, "clients must not negotiate TLS < 1.2 or weak ciphers"),
    severity=Severity.HIGH,
    tags=["encryption", "network"],
    remediation='Set `min_tls_version="TLS_1_2"` and `profile="MODERN"` (or RESTRICTED).',
)
