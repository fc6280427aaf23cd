"""Azure role assignments (rule 25): no Owner / Contributor / User Access Administrator (nor a
custom role with their powers) at subscription, management group or resource group scope.

A stack rule, because a scope is often another resource's id (``rg.id``): during preview that id
is unknown and under mocks it is an opaque value, so the scope's property dependencies tell
which resource the assignment is scoped to.
"""

from __future__ import annotations

import fnmatch
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
    SECURITY,
    as_list,
    canonical_type,
    resource_rule,
    stack_rule,
    type_matches,
)
from policies.rules.references import checkov, mcsb

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

# Built-in role definition ids (the last segment of roleDefinitionId), compared exactly.
PRIVILEGED_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}

ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
# Custom-role actions that amount to Owner / Contributor / User Access Administrator (any
# action at all, or granting roles); compared whole, case-insensitively.
PRIVILEGED_ACTIONS: frozenset[str] = frozenset(
    a.lower()
    for a in (
        "*",
        "*/write",
        "Microsoft.Authorization/*",
        "Microsoft.Authorization/*/write",
        "Microsoft.Authorization/roleAssignments/*",
        "Microsoft.Authorization/roleAssignments/write",
    )
)

# Resources whose id is itself a broad scope.
BROAD_SCOPE_RESOURCES: dict[str, str] = {
    "azure-native:resources:ResourceGroup": "resource group",
    "azure-native:management:ManagementGroup": "management group",
    "azure-native:subscription:Alias": "subscription",
}


def role_id(role_definition_id: str) -> str:
    """``/subscriptions/.../roleDefinitions/<guid>`` -> ``<guid>`` (lower case)."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def scope_kind(scope: str) -> str | None:
    """The broad scope a literal ARM scope path names, or None for a narrower (resource) scope."""
    segments = [s.lower() for s in scope.split("/") if s]
    if not segments:
        return "tenant root"
    if len(segments) == 2 and segments[0] == "subscriptions":
        return "subscription"
    if len(segments) == 4 and segments[0] == "subscriptions" and segments[2] == "resourcegroups":
        return "resource group"
    if (
        segments[:3] == ["providers", "microsoft.management", "managementgroups"]
        and len(segments) == 4
    ):
        return "management group"
    return None


def _read(resource: PolicyResource, key: str) -> str | None:
    """A string input, or None when absent or unknown until apply."""
    try:
        value = resource.props.get(key)
    except UnknownValueError:
        return None
    return value if isinstance(value, str) else None


def assignment_scope(resource: PolicyResource) -> str | None:
    """The broad scope a role assignment targets, or None when it is a narrower scope."""
    scope = _read(resource, "scope")
    if scope is not None and scope.startswith("/"):
        return scope_kind(scope)
    # Not a literal path: the value is another resource's id (opaque under mocks, unknown in
    # preview). Exactly that resource's id (no "/child" suffix) makes it that resource's scope.
    if scope is not None and "/" in scope:
        return None
    for dep in resource.property_dependencies.get("scope", []):
        kind = BROAD_SCOPE_RESOURCES.get(canonical_type(dep.resource_type))
        if kind is not None:
            return kind
    return None


def privileged_custom_role(definition: PolicyResource) -> str | None:
    """``custom role '<name>' (<action>)`` when a RoleDefinition grants a privileged action."""
    try:
        permissions = as_list(definition.props.get("permissions"))
        for permission in permissions:
            actions = permission.get("actions") if isinstance(permission, Mapping) else None
            for action in as_list(actions):
                if isinstance(action, str) and action.lower() in PRIVILEGED_ACTIONS:
                    return f"custom role '{definition.name}' ({action})"
    except UnknownValueError:
        return None
    return None


def assigned_role(resource: PolicyResource) -> str | None:
    """The privileged role a role assignment grants (built-in by id, or a custom role), if any."""
    definition = _read(resource, "roleDefinitionId")
    if definition is not None:
        builtin = PRIVILEGED_ROLES.get(role_id(definition))
        if builtin is not None:
            return builtin
    for dep in resource.property_dependencies.get("roleDefinitionId", []):
        if type_matches(dep.resource_type, [ROLE_DEFINITION]):
            custom = privileged_custom_role(dep)
            if custom is not None:
                return custom
    return None


def _privileged_broad(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for resource in args.resources:
        if not type_matches(resource.resource_type, [ROLE_ASSIGNMENT]):
            continue
        role = assigned_role(resource)
        if role is None:
            continue
        kind = assignment_scope(resource)
        if kind is not None:
            yield (
                f"role assignment '{resource.name}' grants {role} at {kind} scope; "
                "grant a narrower role on the specific resource instead.",
                resource.urn,
            )


role_assignment_disallow_privileged_broad_scope = stack_rule(
    "azure-role-assignment-disallow-privileged-broad-scope",
    "No Owner, Contributor or User Access Administrator role assignment (nor a custom role "
    "allowing `*` or role assignment writes) at subscription, management group or resource "
    "group scope.",
    check=_privileged_broad,
    severity=Severity.CRITICAL,
    tags=["iam", "least-privilege"],
    remediation=(
        "Assign a data-plane or service-specific role (e.g. Storage Blob Data Reader, "
        "Cognitive Services OpenAI User) with `scope=<the resource>.id`."
    ),
    category=SECURITY,
    references=[mcsb("PA-7"), checkov("CKV_AZURE_39")],
)

# -- custom roles that can rewrite what runs (review B1) -----------------------------------------
# Writes on the resource types that run code: whoever holds one can change an app's image,
# command and environment (or an endpoint's deployments), i.e. run anything as that workload.
COMPUTE_WRITE_ACTIONS: tuple[str, ...] = (
    "Microsoft.App/containerApps/write",
    "Microsoft.App/jobs/write",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write",
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints/write",
    "Microsoft.Web/sites/write",
    "Microsoft.Web/sites/slots/write",
    "Microsoft.ContainerInstance/containerGroups/write",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachineScaleSets/write",
    "Microsoft.ContainerService/managedClusters/write",
)


def _covers(pattern: str, action: str) -> bool:
    """Whether a role's action (``*`` wildcards allowed, case-insensitive) grants ``action``."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def compute_writes(permission: Mapping[str, Any]) -> list[str]:
    """The compute write actions one permission block grants (minus its notActions)."""
    actions = [a for a in as_list(permission.get("actions")) if isinstance(a, str)]
    excluded = [a for a in as_list(permission.get("notActions")) if isinstance(a, str)]
    return [
        target
        for target in COMPUTE_WRITE_ACTIONS
        if any(_covers(a, target) for a in actions)
        and not any(_covers(n, target) for n in excluded)
    ]


def _resource_writes(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    for permission in as_list(props.get("permissions")):
        if not isinstance(permission, Mapping):
            continue
        granted = compute_writes(permission)
        if granted:
            yield (
                f"custom role grants write on compute resources ({', '.join(granted)} in "
                "`permissions[].actions`): its holder can replace the workload's image, command "
                "and settings; hold it only in an identity reached through an authenticated "
                "trigger, and waive this role with that reason."
            )


custom_role_flag_resource_write = resource_rule(
    "azure-custom-role-flag-resource-write",
    "Custom roles that can write to resources that run code (Container Apps, ML online "
    "endpoints, web apps, VMs) are held only behind an authenticated trigger (waived with the "
    "reason).",
    types=[ROLE_DEFINITION],
    check=_resource_writes,
    severity=Severity.MEDIUM,
    tags=["iam", "least-privilege"],
    remediation=(
        "Narrow the role to the one action the automation needs, assign it on exactly one "
        "resource, put the identity behind an authenticated trigger (action group webhook with "
        "`use_aad_auth=True`, token checked by the service), alert on its writes (Activity Log), "
        "and waive the role with that reason."
    ),
    # Advisory (review B1): a deployer or a rollback service needs such a role; the rule makes
    # each one a written decision rather than forbidding it.
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("PA-7"), checkov("CKV_AZURE_39")],
    since=2,
)

# -- data "Owner" roles (review B10) ---------------------------------------------------------
# Built-in data roles that also manage access (ACLs, SAS-less management operations): a Data
# Contributor / Sender / Receiver role is enough for reading and writing data.
DATA_OWNER_ROLES: dict[str, str] = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
    "f526a384-b230-433a-b45c-95f59c4a2dec": "Azure Event Hubs Data Owner",
}


def _data_owner(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    definition = props.get("roleDefinitionId")
    if not isinstance(definition, str):
        return
    role = DATA_OWNER_ROLES.get(role_id(definition))
    if role is not None:
        yield (
            f"role assignment grants {role} (`roleDefinitionId` {definition}): more than reading "
            "and writing data (it manages access too); grant the Data Contributor / Sender / "
            "Receiver role, or waive this assignment with the reason the owner role is needed."
        )


role_assignment_flag_data_owner = resource_rule(
    "azure-role-assignment-flag-data-owner",
    "Data Owner roles (Storage Blob, Service Bus, Event Hubs) are granted only with a written "
    "reason; Data Contributor / Sender / Receiver cover reading and writing.",
    types=[ROLE_ASSIGNMENT],
    check=_data_owner,
    severity=Severity.LOW,
    tags=["iam", "least-privilege"],
    remediation=(
        "Assign Storage Blob Data Contributor (or Service Bus Data Sender / Receiver) instead; "
        "where a service documents the Owner role as the only one that works (KEDA reading a "
        "queue's runtime properties), waive the assignment with that reason."
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("PA-7")],
    since=2,
)
