"""The custom Azure roles the stacks assign, created once per subscription by bootstrap.

A stack's deployer may not write role definitions: a principal that can define a role and assign
it can give anything any power (a custom role with ``*``). So every custom role a stack assigns is
defined here, created by the bootstrap of the stack's subscription (components/azure/bootstrap.py,
assignable anywhere in the subscription), and referred to by the stacks through a deterministic
id: :func:`custom_role_guid` of (subscription, project, role key). Both sides compute the same
GUID, and the deployer's role-assignment condition allows exactly these ids (plus the built-in
roles the pattern uses), so neither side can drift without a test failing.

This module imports no Pulumi resource: it is the table both sides read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from components.spec import Pattern

# Namespace of the custom role GUIDs (fixed: changing it would rename every role).
ROLE_NAMESPACE = uuid.UUID("5b0c6c83-5e0e-4f38-9a5e-7d1f3c8a4a10")


@dataclass(frozen=True)
class CustomRole:
    """A custom role: what it is for, and exactly the actions and data actions it allows."""

    title: str
    description: str
    actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()


CONTAINER_APP_ACTIONS = ("Microsoft.App/containerApps/read", "Microsoft.App/containerApps/write")
# An online endpoint's traffic only changes through a full PUT, which restates the endpoint's
# user-assigned identity; ARM then requires "assign" on that identity from the caller.
ASSIGN_IDENTITY_ACTIONS = ("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",)
ONLINE_ENDPOINT_ACTIONS = (
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
)
# Creating a key in an RBAC vault (through ARM, as azure-native's Key does) is authorised on the
# data plane (review A5): create and read the key, read and set its rotation policy. Nothing else:
# no encrypt/decrypt/wrap/unwrap/sign (so holding it anywhere decrypts nothing), no update (so it
# cannot widen an existing key's permitted operations), no delete, purge, backup or release.
KEY_CREATOR_DATA_ACTIONS = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/create/action",
    "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
)

# The rollback service reads the alert that called it at the scope it was raised on (the log
# workspace; review E2): alerts read, nothing else of Azure Monitor.
ALERT_READ_ACTIONS = ("Microsoft.AlertsManagement/alerts/read",)
# ...and re-reads the candidate's and the stable version's requests from exactly the tables the
# rollback alerts query (table-level access; review B7: not Monitoring Reader on every log).
LOG_QUERY_ACTIONS = (
    "Microsoft.OperationalInsights/workspaces/read",
    "Microsoft.OperationalInsights/workspaces/query/read",
)
ROLLBACK_LOG_TABLES: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: ("AppRequests", "ApiManagementGatewayLogs"),
    Pattern.MANAGED_PLATFORM: ("AmlOnlineEndpointTrafficLog",),
}


def log_table_actions(tables: tuple[str, ...]) -> tuple[str, ...]:
    """Query rights on a workspace limited to ``tables``."""
    return LOG_QUERY_ACTIONS + tuple(
        f"Microsoft.OperationalInsights/workspaces/query/{table}/read" for table in tables
    )


# Signing a release with the environment's key (components/release_signers.py's Key Vault
# signer): read the key (its public half and current version) and sign with it. Nothing else:
# no create, update, delete, verify-by-service, encrypt/decrypt or wrap (review: the pipeline
# identity may sign and nothing else).
RELEASE_SIGNER_DATA_ACTIONS = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/sign/action",
)

# Publishing a release into the channel (the pipeline writes blobs under releases/ and moves
# the pointer): read, write and create blobs; no delete, no move, no immutability-policy change.
# Every overwrite of the pointer is a new, retained version (version-level immutability).
RELEASE_PUBLISHER_DATA_ACTIONS = (
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
)

KEY_CREATOR = "key-creator"
RELEASE_SIGNER = "release-signer"
RELEASE_PUBLISHER = "release-publisher"
ROLLBACK_CONTAINER_APP = "rollback-container-app"
ROLLBACK_ML_ENDPOINT = "rollback-ml-endpoint"
ROLLBACK_ASSIGN_IDENTITY = "rollback-assign-identity"
ROLLBACK_ALERT_READER = "rollback-alert-reader"
ROLLBACK_LOGS: dict[Pattern, str] = {
    Pattern.API_FIRST: "rollback-logs-api-first",
    Pattern.MANAGED_PLATFORM: "rollback-logs-managed-platform",
}

CUSTOM_ROLES: dict[str, CustomRole] = {
    # The deployer assigns this to itself on its own stack's vault, to create the stack's CMK.
    KEY_CREATOR: CustomRole(
        "key creator",
        "create a key in one vault and set its rotation policy; no cryptographic operation",
        data_actions=KEY_CREATOR_DATA_ACTIONS,
    ),
    # The embedded pattern's deployer assigns this to itself on its release-signing key alone.
    RELEASE_SIGNER: CustomRole(
        "release signer",
        "read one Key Vault key and sign with it; nothing else",
        data_actions=RELEASE_SIGNER_DATA_ACTIONS,
    ),
    # ...and this on its release channel's container alone, to publish releases.
    RELEASE_PUBLISHER: CustomRole(
        "release publisher",
        "read, write and create blobs in one container; no delete",
        data_actions=RELEASE_PUBLISHER_DATA_ACTIONS,
    ),
    # The rollback service's identity, on the one container app whose traffic it resets.
    ROLLBACK_CONTAINER_APP: CustomRole(
        "container app traffic rollback",
        "read and update one container app's traffic split",
        actions=CONTAINER_APP_ACTIONS,
    ),
    # The rollback service's identity, on the one online endpoint whose traffic it resets...
    ROLLBACK_ML_ENDPOINT: CustomRole(
        "ml online endpoint traffic rollback",
        "read and update one online endpoint's traffic split",
        actions=ONLINE_ENDPOINT_ACTIONS,
    ),
    # ...and on the endpoint's own identity, which the endpoint PUT restates (linked access).
    ROLLBACK_ASSIGN_IDENTITY: CustomRole(
        "rollback identity assign",
        "restate one user-assigned identity on the resource it already serves",
        actions=ASSIGN_IDENTITY_ACTIONS,
    ),
    # The rollback service's identity, on the log workspace its rollback alerts are raised on.
    ROLLBACK_ALERT_READER: CustomRole(
        "rollback alert reader",
        "read the alerts raised on one log workspace",
        actions=ALERT_READ_ACTIONS,
    ),
    **{
        key: CustomRole(
            f"rollback log reader ({pattern.value})",
            f"query {', '.join(ROLLBACK_LOG_TABLES[pattern])} in one log workspace",
            actions=log_table_actions(ROLLBACK_LOG_TABLES[pattern]),
        )
        for pattern, key in ROLLBACK_LOGS.items()
    },
}

# The custom roles each pattern's stacks assign (the journey and bootstrap tests hold this to the
# captured stacks' role assignments).
PATTERN_CUSTOM_ROLES: dict[Pattern, tuple[str, ...]] = {
    Pattern.API_FIRST: (
        KEY_CREATOR,
        ROLLBACK_CONTAINER_APP,
        ROLLBACK_ALERT_READER,
        ROLLBACK_LOGS[Pattern.API_FIRST],
    ),
    Pattern.EVENT_DRIVEN: (KEY_CREATOR,),
    Pattern.MANAGED_PLATFORM: (
        KEY_CREATOR,
        ROLLBACK_ML_ENDPOINT,
        ROLLBACK_ASSIGN_IDENTITY,
        ROLLBACK_ALERT_READER,
        ROLLBACK_LOGS[Pattern.MANAGED_PLATFORM],
    ),
    # The embedded pattern: the stack CMK and the signing key (key creator), and signing
    # releases with the environment's key (release signer, on that key only).
    Pattern.EMBEDDED: (KEY_CREATOR, RELEASE_SIGNER, RELEASE_PUBLISHER),
}
# Custom roles a deployer may assign to itself only (never to another principal).
SELF_ASSIGNED_ROLES: frozenset[str] = frozenset({KEY_CREATOR, RELEASE_SIGNER, RELEASE_PUBLISHER})


def custom_role_guid(subscription: str, project: str, key: str) -> str:
    """The role definition GUID of custom role ``key`` of ``project`` in ``subscription``.

    Role definition ids are unique in the tenant, so the subscription is part of the seed; the
    project keeps two projects of one subscription apart.
    """
    if key not in CUSTOM_ROLES:
        raise KeyError(key)
    return str(uuid.uuid5(ROLE_NAMESPACE, f"{subscription.lower()}/{project}/{key}"))


def custom_role_name(project: str, key: str, bootstrap_stack: str) -> str:
    """The role's display name (unique in the tenant: one bootstrap stack per subscription)."""
    return f"aideploy {project} {CUSTOM_ROLES[key].title} ({bootstrap_stack})"
