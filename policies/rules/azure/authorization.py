"""Azure role assignments (rule 25): no Owner / Contributor / User Access Administrator (nor a
custom role with their powers) at subscription, management group or resource group scope.

A stack rule, because a scope is often another resource's id (``rg.id``): during preview that id
is unknown and under mocks it is an opaque value, so the scope's property dependencies tell
which resource the assignment is scoped to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import PolicyResource, Severity, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import SECURITY, as_list, canonical_type, stack_rule, type_matches

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
    tags=["iam"],
    remediation=(
        "Assign a data-plane or service-specific role (e.g. Storage Blob Data Reader, "
        "Cognitive Services OpenAI User) with `scope=<the resource>.id`."
    ),
    category=SECURITY,
)
