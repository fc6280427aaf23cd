"""Recoverable and auditable records: blob soft delete (Pulumi state accounts included), the
subscription activity log's export, and the links the Azure stack rules follow.

A storage account that holds Pulumi state is an ordinary ``storage:StorageAccount`` and gets
every storage rule (storage.py). What a state bucket needs beyond those is recovery: blob and
container soft delete, configured on the account's ``storage:BlobServiceProperties``.

The helpers here let the Azure stack rules of this pack find the resource another one
configures: ARM child resources name their parent by a string input (``accountName``,
``serverName``, ``apiId``), which is either the parent's Output (a property dependency) or
the literal name the parent was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
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
    as_list,
    canonical_type,
    prop_at,
    resource_rule,
    stack_rule,
)
from policies.rules.references import checkov, cis, mcsb

ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"


class Unknown:
    """A value a preview does not know yet (an Output of a resource still to be created)."""

    def __repr__(self) -> str:
        return "unknown"


UNKNOWN = Unknown()


def read(props: Mapping[str, Any], path: str) -> Any:
    """``prop_at`` that returns :data:`UNKNOWN` instead of raising on a preview's unknown."""
    try:
        return prop_at(props, path)
    except UnknownValueError:
        return UNKNOWN


def of_type(resources: Iterable[PolicyResource], *tokens: str) -> list[PolicyResource]:
    """The resources of the given (canonical) type tokens."""
    wanted = set(tokens)
    return [r for r in resources if canonical_type(r.resource_type) in wanted]


def links_to(
    child: PolicyResource, prop: str, parent: PolicyResource, name_props: Iterable[str]
) -> bool:
    """Whether ``child``'s input ``prop`` names ``parent``: built from its Output (a property
    dependency), or the literal name ``parent`` was created with (one of ``name_props``)."""
    if any(dep.urn == parent.urn for dep in child.property_dependencies.get(prop, [])):
        return True
    value = read(child.props, prop)
    if not isinstance(value, str) or not value:
        return False
    names = {read(parent.props, p) for p in name_props}
    return value in names or value.rsplit("/", 1)[-1] in names


def names_unknown(child: PolicyResource, prop: str) -> bool:
    """Whether the preview cannot tell which resource ``child`` configures."""
    return read(child.props, prop) is UNKNOWN


def _enabled(props: Mapping[str, Any], path: str) -> bool:
    value = read(props, path)
    return value is UNKNOWN or value is True


def _missing_soft_delete(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    services = of_type(args.resources, BLOB_SERVICE)
    if any(names_unknown(s, "accountName") for s in services):
        return  # a preview cannot tell which account a service configures; the update will
    for account in of_type(args.resources, ACCOUNT):
        kind = read(account.props, "kind")
        if isinstance(kind, str) and kind.casefold() == "filestorage":
            continue  # no blob service
        mine = [s for s in services if links_to(s, "accountName", account, ("accountName",))]
        if not mine:
            yield (
                f"storage account '{account.name}' keeps no deleted blobs: no "
                "BlobServiceProperties sets `deleteRetentionPolicy` and "
                "`containerDeleteRetentionPolicy` (a deleted or overwritten blob, e.g. "
                "Pulumi state, cannot be recovered).",
                account.urn,
            )
            continue
        for service in mine:
            for path in ("deleteRetentionPolicy.enabled", "containerDeleteRetentionPolicy.enabled"):
                if not _enabled(service.props, path):
                    yield (
                        f"blob service '{service.name}' of storage account '{account.name}' "
                        f"keeps no deleted data: `{path}` is "
                        f"{read(service.props, path)!r}; set it to true with `days` >= 7.",
                        service.urn,
                    )


storage_require_blob_soft_delete = stack_rule(
    "azure-storage-require-blob-soft-delete",
    "Every storage account keeps deleted blobs and containers for a retention period "
    "(BlobServiceProperties soft delete), so deleted data and Pulumi state can be recovered.",
    check=_missing_soft_delete,
    severity=Severity.MEDIUM,
    tags=["retention", "resilience"],
    remediation=(
        'Add `storage.BlobServiceProperties(blob_services_name="default", '
        "account_name=<account>.name, delete_retention_policy=storage.DeleteRetentionPolicyArgs("
        "enabled=True, days=30), container_delete_retention_policy=storage."
        "DeleteRetentionPolicyArgs(enabled=True, days=30))`; for a Pulumi state account add "
        "`is_versioning_enabled=True` too."
    ),
    # Recovery, not exposure: advisory in dev like the other storage hardening rules.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV2_AZURE_38"), mcsb("BR-1")],
    since=2,
)


# ---- the subscription's activity log ------------------------------------------------------------
SUBSCRIPTION_DIAGNOSTIC_SETTING = "azure-native:monitor:SubscriptionDiagnosticSetting"
DIAGNOSTIC_SETTINGS = (
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:insights:DiagnosticSetting",  # the azure-native 2.x module name
)
_SUBSCRIPTION_URI = re.compile(r"^/subscriptions/[^/]+/?$", re.IGNORECASE)
# Control-plane writes and deletes, Defender / security alerts, Azure Policy decisions.
ACTIVITY_LOG_CATEGORIES = ("Administrative", "Security", "Policy")


def _exported_categories(logs: Any) -> set[str] | None:
    """Categories the setting exports (None when a preview cannot tell)."""
    exported: set[str] = set()
    for entry in as_list(logs):
        if not isinstance(entry, Mapping):
            continue
        enabled, category = read(entry, "enabled"), read(entry, "category")
        group = read(entry, "categoryGroup")
        if UNKNOWN in (enabled, category, group):
            return None
        if enabled is not True:
            continue
        if isinstance(group, str) and group.casefold() == "alllogs":
            return {c.casefold() for c in ACTIVITY_LOG_CATEGORIES}
        if isinstance(category, str):
            exported.add(category.casefold())
    return exported


def _activity_log_categories(
    props: Mapping[str, Any], args: ResourceValidationArgs
) -> Iterator[str]:
    if canonical_type(args.resource_type) != SUBSCRIPTION_DIAGNOSTIC_SETTING:
        uri = read(props, "resourceUri")
        if not isinstance(uri, str) or not _SUBSCRIPTION_URI.match(uri.strip()):
            return  # a resource's diagnostic setting: monitoring.py's rules
    logs = read(props, "logs")
    if logs is UNKNOWN:
        return
    exported = _exported_categories(logs)
    if exported is None:
        return
    missing = [c for c in ACTIVITY_LOG_CATEGORIES if c.casefold() not in exported]
    if missing:
        yield (
            "subscription activity log export leaves out audit records: `logs` does not "
            f'enable {", ".join(missing)}; enable them (or `category_group="allLogs"`).'
        )


activity_log_export_audit_categories = resource_rule(
    "azure-activity-log-export-audit-categories",
    "A subscription's activity log diagnostic setting exports the Administrative, Security and "
    "Policy categories.",
    types=[SUBSCRIPTION_DIAGNOSTIC_SETTING, *DIAGNOSTIC_SETTINGS],
    check=_activity_log_categories,
    severity=Severity.MEDIUM,
    tags=["logging-audit"],
    remediation=(
        "Give the `monitor.SubscriptionDiagnosticSetting` "
        "`logs=[monitor.SubscriptionLogSettingsArgs("
        'category=c, enabled=True) for c in ("Administrative", "Security", "Policy", "Alert", '
        '"ServiceHealth")]` and a Log Analytics `workspace_id`.'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[cis("azure", "5.1.2"), mcsb("LT-3")],
    since=2,
)
