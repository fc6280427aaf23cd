"""Container Apps environments, shared by the serving app and the rollback service."""

from __future__ import annotations

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components.azure import security
from components.spec import DeploymentSpec


def container_environment(
    spec: DeploymentSpec,
    name: str,
    role: str,
    rg: resources.ResourceGroup,
    keys: security.KeyBundle,
    encryption: security.Identity,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
) -> app.ManagedEnvironment:
    """A consumption Container Apps environment: logs through Azure Monitor (a diagnostic
    setting, so no workspace shared key) and disks encrypted with the customer-managed key
    (the versionless key URI, so rotations apply without a redeploy)."""
    environment = app.ManagedEnvironment(
        f"{name}-{role}",
        resource_group_name=rg.name,
        location=spec.region,
        app_logs_configuration=app.AppLogsConfigurationArgs(destination="azure-monitor"),
        identity=app.ManagedServiceIdentityArgs(
            type=app.ManagedServiceIdentityType.USER_ASSIGNED,
            user_assigned_identities=[encryption.id],
        ),
        disk_encryption_configuration=app.DiskEncryptionConfigurationArgs(
            key_vault_configuration=app.DiskEncryptionConfigurationKeyVaultConfigurationArgs(
                key_url=keys.key_uri,
                auth=app.DiskEncryptionConfigurationAuthArgs(identity=encryption.id),
            )
        ),
        zone_redundant=False,
        tags=spec.standard_tags(),
        opts=opts,
    )
    security.diagnostics(f"{name}-{role}-diagnostics", environment.id, workspace, opts, False)
    return environment
