"""Cloud Audit Logs configuration (CIS 2.1): no exempted principals, every log type.

An audit config (``gcp.projects.IAMAuditConfig`` and its folder and organization siblings, or
the ``auditConfigs`` of a project / folder / organization IAM policy) that exempts a member
leaves that principal's reads and writes unlogged: exactly the identity an attacker would use.
Whether the stack turns data access logs on at all for the services it uses is
``gcp-audit-logs-require-ai-and-storage`` (policies/rules/gcp/logging.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import (
    OPERATIONAL,
    as_list,
    canonical_type,
    parse_document,
    resource_rule,
)
from policies.rules.gcp.iam import HIERARCHY_POLICY_TYPES
from policies.rules.gcp.logging import AUDIT_CONFIG_TYPES
from policies.rules.references import checkov, cis

LOG_TYPES: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


def audit_entries(props: Mapping[str, Any], resource_type: str) -> list[Mapping[str, Any]]:
    """(service, auditLogConfigs) entries an audit config or IAM policy resource declares."""
    if canonical_type(resource_type) in AUDIT_CONFIG_TYPES:
        return [{"service": props.get("service"), "auditLogConfigs": props.get("auditLogConfigs")}]
    document = parse_document(props.get("policyData"))
    return [e for e in as_list(document.get("auditConfigs")) if isinstance(e, Mapping)]


def _exemptions(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for entry in audit_entries(props, args.resource_type):
        for config in as_list(entry.get("auditLogConfigs")):
            if not isinstance(config, Mapping):
                continue
            exempted = [str(m) for m in as_list(config.get("exemptedMembers")) if m]
            if exempted:
                yield (
                    f"audit logs skip {', '.join(exempted)}: `{config.get('logType')}` of "
                    f"{entry.get('service')} sets `exemptedMembers`; remove the exemption."
                )


audit_config_disallow_exemptions = resource_rule(
    "gcp-audit-config-disallow-exemptions",
    "Audit log configs (and IAM policies' auditConfigs) exempt no principal from logging.",
    types=(*AUDIT_CONFIG_TYPES, *HIERARCHY_POLICY_TYPES),
    check=_exemptions,
    severity=Severity.HIGH,
    tags=["logging-audit"],
    remediation=(
        "Remove `exempted_members` from every `audit_log_configs` entry; to cut log volume, "
        "use exclusion filters on the sink, which an auditor can see and which keep Admin "
        "Activity logs."
    ),
    references=[cis("gcp", "2.1"), checkov("CKV2_GCP_5")],
    since=2,
)


def _log_types(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    for entry in audit_entries(props, args.resource_type):
        logged = {
            str(c.get("logType"))
            for c in as_list(entry.get("auditLogConfigs"))
            if isinstance(c, Mapping)
        }
        missing = [t for t in LOG_TYPES if t not in logged]
        if missing:
            yield (
                f"audit config of {entry.get('service')} does not log {', '.join(missing)}: "
                "add them to `auditLogConfigs`."
            )


audit_config_require_all_log_types = resource_rule(
    "gcp-audit-config-require-all-log-types",
    "Each audit log config turns on ADMIN_READ, DATA_READ and DATA_WRITE for its service.",
    types=(*AUDIT_CONFIG_TYPES, *HIERARCHY_POLICY_TYPES),
    check=_log_types,
    severity=Severity.LOW,
    tags=["logging-audit"],
    remediation=(
        "List `audit_log_configs` with log_type ADMIN_READ, DATA_READ and DATA_WRITE (CIS 2.1 "
        'asks for them on service "allServices").'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[cis("gcp", "2.1"), checkov("CKV2_GCP_5")],
    since=2,
)
