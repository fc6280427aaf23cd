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
    prop_at,
    resource_rule,
    stack_rule,
)
from policies.rules.gcp.iam import HIERARCHY_POLICY_TYPES
from policies.rules.gcp.iam_types import IAM_BINDING_TYPES, IAM_MEMBER_TYPES, IAM_POLICY_TYPES
from policies.rules.references import checkov, cis, guardrail
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
    tags=["logging", "logging-audit"],
    references=[cis("gcp", "2.1"), checkov("CKV2_GCP_5")],
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
    tags=["logging", "retention"],
    # CIS 2.3 / CKV2_GCP_4 ask for a locked bucket, not a minimum; the minimum is the guardrail's.
    references=[guardrail("32")],
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
    tags=["encryption", "network", "tls"],
    references=[checkov("CKV_GCP_4"), cis("gcp", "3.9")],
    remediation='Set `min_tls_version="TLS_1_2"` and `profile="MODERN"` (or RESTRICTED).',
)

# Review C6: a sink copies matching entries into its bucket, but the _Default sink still stores
# them in the _Default bucket (Google-managed key, 30 days) unless it excludes them. A stack
# that routes logs into a CMEK bucket must therefore exclude the same filter from _Default
# (`gcp.logging.ProjectExclusion`: the exclusions API adds it to the _Default sink, one named
# exclusion per stack, so stacks sharing a project do not overwrite each other), or manage the
# _Default sink itself (`ProjectSink` named "_Default" with that exclusion, or disabled), or
# make the _Default bucket CMEK too.
_PROJECT_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
_PROJECT_SINK = "gcp:logging/projectSink:ProjectSink"
_PROJECT_EXCLUSION = "gcp:logging/projectExclusion:ProjectExclusion"
_DEFAULT = "_Default"
_SYSTEM_SINKS = frozenset({"_Default", "_Required"})


class _Unknown:
    """A value the engine does not know yet (preview): compares as possibly anything."""


_UNKNOWN = _Unknown()


def _read(resource: PolicyResource, path: str) -> Any:
    try:
        return prop_at(resource.props, path)
    except UnknownValueError:
        return _UNKNOWN


def _has_key(resource: PolicyResource) -> bool:
    value = _read(resource, "cmekSettings.kmsKeyName")
    return value is _UNKNOWN or (isinstance(value, str) and value != "")


def _routes_to(sink: PolicyResource, bucket: PolicyResource) -> bool:
    if bucket.urn in {d.urn for d in sink.property_dependencies.get("destination", [])}:
        return True
    destination, bucket_id = _read(sink, "destination"), _read(bucket, "bucketId")
    return (
        isinstance(destination, str)
        and isinstance(bucket_id, str)
        and destination.endswith(f"/buckets/{bucket_id}")
    )


def _default_exclusions(resources: list[PolicyResource]) -> tuple[bool, list[Any]]:
    """(the _Default bucket or sink keeps nothing under a Google key, the _Default sink's
    enabled exclusion filters)."""
    covered = False
    filters: list[Any] = []
    for r in resources:
        token = canonical_type(r.resource_type)
        if token == _PROJECT_BUCKET and _read(r, "bucketId") == _DEFAULT and _has_key(r):
            covered = True
        elif token == _PROJECT_EXCLUSION and _read(r, "disabled") is not True:
            filters.append(_read(r, "filter"))
        elif token == _PROJECT_SINK and _read(r, "name") == _DEFAULT:
            if _read(r, "disabled") is True:
                covered = True
            for entry in as_list(_read(r, "exclusions")):
                if isinstance(entry, Mapping) and entry.get("disabled") is not True:
                    filters.append(entry.get("filter"))
    return covered, filters


def _same_filter(excluded: Any, routed: str) -> bool:
    """The exclusion removes the routed logs: the same filter, or the same filter narrowed by
    further terms (``(<filter>) AND NOT ...``: named entries kept in _Default on purpose, e.g.
    aideploy's rollback markers, which the release guard reads from there)."""
    if excluded is _UNKNOWN:
        return True  # preview: the exclusion's filter is computed; it may well be this one
    if not isinstance(excluded, str):
        return False
    routed = routed.strip()
    return excluded.strip() == routed or excluded.strip().startswith(f"({routed}) AND ")


def _missing_default_exclusion(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    buckets = [
        r
        for r in resources
        if canonical_type(r.resource_type) == _PROJECT_BUCKET
        and _read(r, "bucketId") != _DEFAULT
        and _has_key(r)
    ]
    if not buckets:
        return
    covered, excluded = _default_exclusions(resources)
    if covered:
        return
    for sink in resources:
        if canonical_type(sink.resource_type) != _PROJECT_SINK:
            continue
        if _read(sink, "name") in _SYSTEM_SINKS or _read(sink, "disabled") is True:
            continue
        bucket = next((b for b in buckets if _routes_to(sink, b)), None)
        routed = _read(sink, "filter")
        if bucket is None or not isinstance(routed, str):
            continue  # not into a CMEK bucket, or a filter only the deployment will know
        if any(_same_filter(f, routed) for f in excluded):
            continue
        yield (
            f"sink {sink.name!r} routes logs into the CMEK log bucket {bucket.name!r}, but the "
            "_Default bucket keeps a copy not encrypted with a customer-managed key: no "
            "enabled exclusion on the _Default sink has the sink's `filter`.",
            sink.urn,
        )


logging_require_default_sink_exclusion = stack_rule(
    "gcp-logging-require-default-sink-exclusion",
    "Logs a stack routes into a CMEK log bucket are excluded from the _Default bucket, so no "
    "copy stays under a Google-managed key.",
    check=_missing_default_exclusion,
    severity=Severity.MEDIUM,
    tags=["encryption", "logging-audit"],
    remediation=(
        "Add `gcp.logging.ProjectExclusion(name=..., filter=<the sink's filter>)` (it applies to "
        'the _Default sink), or manage the _Default sink as a `ProjectSink` named "_Default" '
        "with that exclusion, or give the _Default bucket CMEK settings."
    ),
    # As rule 30's CMEK rules: advisory by default, mandatory in staging and prod.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    # No benchmark control: POLICY-RULES 30 (CMEK) and 32 (logs) together.
    references=[guardrail("30"), guardrail("32")],
    since=2,
)
