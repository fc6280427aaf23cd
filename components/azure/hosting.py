"""Container Apps environments, shared by the serving app and the rollback service, and the
way Container Apps pull the model image from the project's registry."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.app as app
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from components.azure import security
from components.naming import resource_name
from components.spec import DeploymentSpec

# Container Apps disk encryption with a customer-managed key is not used (review A6). It is a
# preview API (app 2025-02-02-preview in this SDK), the environment reads the key over the
# network as a user-assigned identity, and Container Apps is not one of Key Vault's trusted
# services: a vault with public network access disabled (ours) is unreachable from an
# environment that is not VNet-integrated, so creating the environment fails. Container Apps
# encrypts its disks with platform-managed keys; the data the pattern keeps lives in storage,
# Service Bus and Cosmos DB, which do use the customer-managed key. See docs/patterns/azure.md.
ACR_SUFFIX = ".azurecr.io"


def container_environment(
    spec: DeploymentSpec,
    name: str,
    role: str,
    rg: resources.ResourceGroup,
    workspace: operationalinsights.Workspace,
    opts: pulumi.ResourceOptions,
) -> app.ManagedEnvironment:
    """A consumption Container Apps environment: logs through Azure Monitor (a diagnostic
    setting, so no workspace shared key)."""
    environment = app.ManagedEnvironment(
        f"{name}-{role}",
        resource_group_name=rg.name,
        location=spec.region,
        app_logs_configuration=app.AppLogsConfigurationArgs(destination="azure-monitor"),
        zone_redundant=False,
        tags=spec.standard_tags(),
        opts=opts,
    )
    security.diagnostics(f"{name}-{role}-diagnostics", environment.id, workspace, opts, False)
    return environment


# -- pulling the model image ------------------------------------------------------------------
# Bootstrap (components/azure/bootstrap.py) creates, in every subscription that holds some of
# the project's environments, one "pull" identity in the bootstrap resource group; the
# registry's bootstrap grants it AcrPull on the model registry. A Container App or job whose
# image lives in an Azure Container Registry pulls it as that identity: the stacks never need
# rights on a registry in another subscription. Both names derive from the project alone.
def bootstrap_resource_group_name(project: str) -> str:
    """The resource group bootstrap creates in every subscription of the project."""
    return resource_name("azure", "resource-group", project, "bootstrap")


def pull_identity_name(project: str) -> str:
    """The identity stacks pull images from the project's registry as."""
    return resource_name("azure", "default", project, "pull")


@dataclass(frozen=True)
class RegistryPull:
    """How a Container App pulls its images: the registries and the identity it uses."""

    servers: tuple[str, ...]
    identity_id: pulumi.Output[str]

    def registries(self) -> list[app.RegistryCredentialsArgs]:
        """Container Apps ``configuration.registries``: each ACR server, pulled as the identity."""
        return [
            app.RegistryCredentialsArgs(server=server, identity=self.identity_id)
            for server in self.servers
        ]


def acr_servers(*images: str) -> tuple[str, ...]:
    """The Azure Container Registry login servers among ``images`` (sorted, once each)."""
    hosts = {image.split("/", 1)[0] for image in images}
    return tuple(sorted(h for h in hosts if h.endswith(ACR_SUFFIX)))


def registry_pull(spec: DeploymentSpec, *images: str) -> RegistryPull | None:
    """The pull configuration for ``images``: None when none of them is in an ACR (a public
    image needs no credentials)."""
    servers = acr_servers(*images)
    if not servers:
        return None
    identity_id = security.subscription_id().apply(
        lambda subscription: pull_identity_id(subscription, spec.project)
    )
    return RegistryPull(servers, identity_id)


def pull_identity_id(subscription: str, project: str) -> str:
    """The ARM id of the pull identity bootstrap creates in ``subscription``."""
    return (
        f"/subscriptions/{subscription}/resourceGroups/{bootstrap_resource_group_name(project)}"
        f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{pull_identity_name(project)}"
    )
