"""Azure building blocks for private endpoints, used by the event-driven pattern (the workers'
private paths to storage, Service Bus, Cosmos DB and Event Grid) and the managed-platform
pattern (the only way into the Machine Learning workspace).

* :func:`create_private_zone`: a private DNS zone linked to one virtual network, without
  auto-registration (only the endpoints' own records live in it).
* :func:`create_private_endpoint`: a private endpoint for one service's sub-resource in one
  subnet, with the DNS zone group that keeps the zones' records pointing at it, so the service's
  usual host name resolves to the private address inside the network.

Blocks are plain functions: the caller passes its own ``opts`` (``parent=`` the pattern
component) and the logical names the resources always had, so their URNs do not change
(tests/components/test_urn_snapshots.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.network as network
import pulumi_azure_native.privatedns as privatedns
import pulumi_azure_native.resources as resources

from components.spec import DeploymentSpec


@dataclass(frozen=True)
class PrivateEndpoint:
    """A private endpoint and the DNS zone group that registers it."""

    endpoint: network.PrivateEndpoint
    dns: network.PrivateDnsZoneGroup


def create_private_zone(
    logical_name: str,
    spec: DeploymentSpec,
    zone_name: str,
    rg: resources.ResourceGroup,
    vnet_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> privatedns.PrivateZone:
    """The private DNS zone ``zone_name`` (e.g. ``privatelink.blob.core.windows.net``), linked
    to the network ``vnet_id`` (``<logical_name>-link``) with auto-registration off: the
    network's machines do not write their own names into a service's zone."""
    zone = privatedns.PrivateZone(
        logical_name,
        private_zone_name=zone_name,
        resource_group_name=rg.name,
        location="global",
        tags=spec.standard_tags(),
        opts=opts,
    )
    privatedns.VirtualNetworkLink(
        f"{logical_name}-link",
        private_zone_name=zone.name,
        resource_group_name=rg.name,
        location="global",
        registration_enabled=False,
        virtual_network=privatedns.SubResourceArgs(id=vnet_id),
        tags=spec.standard_tags(),
        opts=opts,
    )
    return zone


def create_private_endpoint(
    logical_name: str,
    spec: DeploymentSpec,
    rg: resources.ResourceGroup,
    subnet_id: pulumi.Input[str],
    connection_name: str,
    service_id: pulumi.Input[str],
    group_id: str,
    zones: Sequence[tuple[str, privatedns.PrivateZone]],
    opts: pulumi.ResourceOptions,
) -> PrivateEndpoint:
    """A private endpoint in ``subnet_id`` for ``service_id``'s ``group_id`` sub-resource, and
    its DNS zone group (``<logical_name>-dns``) over ``zones`` (config name, zone)."""
    endpoint = network.PrivateEndpoint(
        logical_name,
        resource_group_name=rg.name,
        location=spec.region,
        subnet=network.SubnetArgs(id=subnet_id),
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=connection_name, private_link_service_id=service_id, group_ids=[group_id]
            )
        ],
        tags=spec.standard_tags(),
        opts=opts,
    )
    dns = network.PrivateDnsZoneGroup(
        f"{logical_name}-dns",
        private_endpoint_name=endpoint.name,
        resource_group_name=rg.name,
        private_dns_zone_group_name="default",
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(name=config, private_dns_zone_id=zone.id)
            for config, zone in zones
        ],
        opts=opts,
    )
    return PrivateEndpoint(endpoint, dns)
