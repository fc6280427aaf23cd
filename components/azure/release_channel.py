"""Azure building blocks for the embedded pattern's release side: the channel and the signing key.

* :func:`create_release_channel`: a storage account per environment holding one blob container
  (:data:`CONTAINER`) with **version-level immutability** (``immutable_storage_with_versioning``,
  which needs blob versioning on the account, set first) and a default time-based retention
  policy of ``ChannelSettings.retention_days`` (30 by default) on every blob version. Private:
  no public blob access, shared-key access off (Entra only: no account-key SAS can exist), TLS
  1.2, HTTPS only, encrypted with the stack's customer-managed key like the project's other
  storage, soft delete for blobs and containers. Releases follow the neutral layout
  (components/release_channels.py): ``releases/<version>-<sequence>/...`` and the pointer
  ``releases/LATEST.json``, whose every overwrite is a new, retained version.

  The account's network stays open (Entra-authenticated): devices download from anywhere
  with user-delegation SAS URLs (delivery.py) and the client's build pipeline reads from its
  own runners; the pack waiver in embedded.py says so. The pipeline publishes as the
  environment's deployer, which assigns itself bootstrap's **release publisher** role (read,
  write and create blobs; no delete) on this container alone.

  **Lock mode.** Azure's time-based policies are *unlocked* (a principal with
  ``immutabilityPolicies/delete`` or ``write`` may shorten or remove the retention: the
  equivalent of S3 GOVERNANCE) or *locked* (the period can only be extended, never shortened or
  removed, and the account cannot be deleted while it protects data: COMPLIANCE). Locking is
  a separate action (Lock Immutability Policy, with the policy's ETag), not a property ARM
  accepts at creation, so no Pulumi resource can create a locked policy: the stack always
  creates the policy unlocked. ``LockMode.COMPLIANCE`` records the request on the container
  (metadata ``aideploy-lock-mode``) and warns at every `pulumi up` until an administrator locks
  it out of band::

      etag=$(az storage container immutability-policy show --account-name <account> \
          --container-name models --query etag -o tsv)
      az storage container immutability-policy lock --account-name <account> \
          --container-name models --if-match "$etag"

  The deployer's role cannot lock (bootstrap grants no ``immutabilityPolicies/lock/action``),
  so no pipeline run can make retention irreversible by mistake. After the lock, `pulumi up`
  may only raise ``retention_days`` (Azure allows a few extensions), never lower it.

* :func:`create_signing_key`: an ECDSA P-256 key (``key_ops`` sign and verify only) in a
  vault of its own per environment. The vault is Premium so the key is ``EC-HSM`` (its
  private half never leaves the HSM; the stack's CMK vault is Standard, which holds software
  keys only), RBAC-only, purge protected; its network is open because CI signs from runners
  without fixed addresses. Exactly one principal may use the key: the environment's deployer,
  which assigns itself bootstrap's **release signer** role (roles.py: keys/read and
  keys/sign/action) on this key alone. Apps and devices need only its public key. The key has
  no rotation policy: devices pin the public key, so a rotation is a new key published with
  the app, not a silent new version.

Both are plain functions: the caller's ``opts`` keep the pattern component as parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage

from components.azure import roles, security
from components.naming import resource_name
from components.spec import DeploymentSpec

CONTAINER = "models"  # the channel's blob container; releases live under RELEASES_PREFIX
RELEASES_PREFIX = "releases/"
KEY_VAULT_HOST = "vault.azure.net"  # the public cloud's Key Vault DNS suffix
SIGNING_CURVE = "P-256"
SIGNING_KEY_OPS = ("sign", "verify")
LOCK_MODE_METADATA = "aideploy-lock-mode"
RETENTION_METADATA = "aideploy-retention-days"


class LockMode(str, Enum):
    """The neutral lock modes (S3 Object Lock's names): GOVERNANCE is an unlocked Azure
    policy, COMPLIANCE a locked one (locked out of band: see the module docstring)."""

    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class ChannelSettings:
    """How long a release version is retained, and how hard (the same in every environment
    unless the client asks for compliance in one)."""

    mode: LockMode = LockMode.GOVERNANCE
    retention_days: int = 30

    def __post_init__(self) -> None:
        # Azure's time-based retention takes 1 to 146,000 days.
        if not 1 <= self.retention_days <= 146_000:
            raise ValueError("retention_days: 1 to 146000 days (Azure's time-based retention)")


@dataclass(frozen=True)
class ReleaseChannel:
    """The channel's account and container, and the resources that make it one."""

    account: storage.StorageAccount
    account_name: str
    container: storage.BlobContainer
    versioning: storage.BlobServiceProperties
    policy: storage.BlobContainerImmutabilityPolicy

    @property
    def url(self) -> pulumi.Output[str]:
        """``https://<account>.blob.core.windows.net/<container>`` (after the container)."""
        return self.container.id.apply(
            lambda _: f"https://{self.account_name}.blob.core.windows.net/{CONTAINER}"
        )


def lock_command(account_name: str) -> str:
    """The out-of-band command that locks the channel's policy (COMPLIANCE)."""
    return (
        f"az storage container immutability-policy lock --account-name {account_name} "
        f"--container-name {CONTAINER} --if-match <etag from "
        "`az storage container immutability-policy show`>"
    )


def create_release_channel(
    name: str,
    spec: DeploymentSpec,
    rg: resources.ResourceGroup,
    keys: security.KeyBundle,
    encryption: security.Identity,
    workspace: operationalinsights.Workspace,
    settings: ChannelSettings,
    opts: pulumi.ResourceOptions,
) -> ReleaseChannel:
    """The environment's release channel (logical names ``<name>-st-releases``,
    ``<name>-releases-*``)."""
    account = security.cmk_storage_account(
        spec,
        name,
        "releases",
        rg,
        keys,
        encryption,
        opts,
        extra_tags={LOCK_MODE_METADATA: settings.mode.value.lower()},
        # Devices download with SAS URLs from anywhere; pipelines read from their runners.
        network_default_deny=False,
    )
    account_name = security.physical_name(spec, "storage-account", "releases")
    days = min(spec.retention.data_days, 365)
    versioning = storage.BlobServiceProperties(
        f"{name}-releases-versioning",
        account_name=account.name,
        resource_group_name=rg.name,
        blob_services_name="default",
        # Version-level immutability needs versioning on the account before the container.
        is_versioning_enabled=True,
        delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=days),
        container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
            enabled=True, days=days
        ),
        opts=opts,
    )
    container = storage.BlobContainer(
        f"{name}-releases",
        container_name=CONTAINER,
        account_name=account.name,
        resource_group_name=rg.name,
        public_access=storage.PublicAccess.NONE,
        immutable_storage_with_versioning=storage.ImmutableStorageWithVersioningArgs(enabled=True),
        metadata={
            LOCK_MODE_METADATA: settings.mode.value.lower(),
            RETENTION_METADATA: str(settings.retention_days),
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
    )
    policy = storage.BlobContainerImmutabilityPolicy(
        f"{name}-releases-retention",
        account_name=account.name,
        container_name=container.name.apply(lambda _: CONTAINER),
        resource_group_name=rg.name,
        immutability_policy_name="default",
        immutability_period_since_creation_in_days=settings.retention_days,
        # Releases are written once, whole: no appends to protected blobs.
        allow_protected_append_writes=False,
        opts=opts,
    )
    # The pipeline publishes as the deployer: bootstrap's release-publisher role (read, write,
    # create blobs; no delete) on this container alone, self-assigned like the key creator.
    authorization.RoleAssignment(
        f"{name}-releases-publisher-grant",
        principal_id=security.deployer_object_id(),
        principal_type=security.deployer_principal_type(),
        role_definition_id=security.custom_role_id(spec, roles.RELEASE_PUBLISHER),
        scope=container.id,
        description="aideploy: the deployer publishes releases here (release-publisher role)",
        opts=opts,
    )
    if settings.mode is LockMode.COMPLIANCE:
        pulumi.log.warn(
            f"{account_name}/{CONTAINER}: compliance mode asks for a locked retention policy, "
            "which only an administrator can set, out of band, once the policy exists: "
            + lock_command(account_name),
            resource=container,
        )
    security.storage_logs(f"{name}-st-releases", account, workspace, opts)
    return ReleaseChannel(account, account_name, container, versioning, policy)


@dataclass(frozen=True)
class SigningKey:
    """The environment's signing key, its vault, and the deployer's sign grant."""

    vault: keyvault.Vault
    key: keyvault.Key
    vault_name: str
    key_name: str
    signer_grant: authorization.RoleAssignment

    @property
    def identifier(self) -> pulumi.Output[str]:
        """What ``ci.release`` signs with (components/release_signers.py AzureKeyVaultSigner):
        ``https://<vault>.vault.azure.net/keys/<name>`` (versionless: the signer reads the
        current version and signs with that one), after the key and the grant exist."""
        url = f"https://{self.vault_name}.{KEY_VAULT_HOST}/keys/{self.key_name}"
        return pulumi.Output.all(self.key.id, self.signer_grant.id).apply(lambda _: url)


def signing_key_name(spec: DeploymentSpec) -> str:
    """The key's name: per stack (with the stack's suffix), because Key Vault keeps a deleted
    key's name for the soft-delete period (purge protection: 90 days)."""
    suffix = (spec.suffix,) if spec.suffix is not None else ()
    return resource_name(
        "azure", "default", spec.project, spec.environment.value, "signing", *suffix
    )


def create_signing_key(
    name: str,
    spec: DeploymentSpec,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
) -> SigningKey:
    """The signing vault and key (logical names ``<name>-sign-kv``, ``<name>-signing-key``),
    and the deployer's release-signer grant on the key."""
    vault_name = security.physical_name(spec, "key-vault", "sign")
    # Premium: HSM-protected keys (EC-HSM). No base fee; HSM keys bill per key. Public: CI
    # runners sign from addresses no firewall can name (the pack waiver says so).
    vault = security.hardened_vault(
        f"{name}-sign-kv", spec, vault_name, rg, opts, hsm=True, public=True
    )
    security.diagnostics(f"{name}-sign-kv-diagnostics", vault.id, workspace, opts)
    # Creating the key is a data-plane action (review A5): the deployer's key-creator role on
    # this vault, self-assigned exactly as for the stack's CMK vault.
    creator = security.deployer_key_creator(f"{name}-sign-kv", spec, vault, "signing key", opts)
    key_name = signing_key_name(spec)
    key = keyvault.Key(
        f"{name}-signing-key",
        key_name=key_name,
        vault_name=vault.name,
        resource_group_name=rg.name,
        properties=keyvault.KeyPropertiesArgs(
            kty=keyvault.JsonWebKeyType.E_C_HSM,
            curve_name=keyvault.JsonWebKeyCurveName.P_256,
            key_ops=list(SIGNING_KEY_OPS),
            attributes=keyvault.KeyAttributesArgs(enabled=True),
        ),
        tags=spec.standard_tags(),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[vault, *creator.depends_on])
        ),
    )
    # The pipeline signs as the deployer: bootstrap's release-signer role on this key alone.
    signer = authorization.RoleAssignment(
        f"{name}-signing-key-signer-grant",
        principal_id=security.deployer_object_id(),
        principal_type=security.deployer_principal_type(),
        role_definition_id=security.custom_role_id(spec, roles.RELEASE_SIGNER),
        scope=key.id,
        description="aideploy: the deployer signs releases with this key (release-signer role)",
        opts=opts,
    )
    return SigningKey(vault, key, vault_name, key_name, signer)
