"""Azure Cosmos DB / Service Bus / Event Grid / Event Hubs rules (23, C2, D-3): one change per
failing case."""

from __future__ import annotations

import pulumi_azure_native.servicebus as servicebus
import pytest

from policies.rules.azure import data_services
from tests.policies.harness import evaluate, run_program
from tests.policies.test_azure_common import (
    TARGET,
    WAIVED,
    Case,
    Program,
    cosmos,
    event_grid,
    event_hubs,
    findings_for,
    judge_case,
    params,
    proxied,
    service_bus,
)

BUS_CMK = servicebus.EncryptionArgs(
    key_source=servicebus.KeySource.MICROSOFT_KEY_VAULT,
    key_vault_properties=[
        servicebus.KeyVaultPropertiesArgs(
            key_name="cmk", key_vault_uri="https://kv.vault.azure.net"
        )
    ],
)

CASES: dict[str, Case] = {
    "azure-data-services-disable-local-auth:local-auth-cosmos-ok": (cosmos(), False),
    "azure-data-services-disable-local-auth:local-auth-cosmos-keys": (
        cosmos(disable_local_auth=False),
        True,
    ),
    "azure-data-services-disable-local-auth:local-auth-sb-unset": (
        service_bus(disable_local_auth=None),
        True,
    ),
    "azure-data-services-disable-local-auth:local-auth-eh-ok": (event_hubs(), False),
    "azure-data-services-disable-local-auth:local-auth-eg-keys": (
        event_grid(disable_local_auth=False),
        True,
    ),
    "azure-data-services-require-tls12:tls-sb-ok": (service_bus(), False),
    "azure-data-services-require-tls12:tls-sb-10": (
        service_bus(minimum_tls_version="1.0"),
        True,
    ),
    "azure-data-services-require-tls12:tls-cosmos-11": (
        cosmos(minimal_tls_version="Tls11"),
        True,
    ),
    "azure-data-services-require-tls12:tls-eg-ok": (event_grid(), False),
    "azure-data-services-require-tls12:tls-eh-11": (
        event_hubs(minimum_tls_version="1.1"),
        True,
    ),
    # C2: Event Grid publishing endpoint
    "azure-eventgrid-disable-public-network:eg-private": (
        event_grid(public_network_access="Disabled"),
        False,
    ),
    "azure-eventgrid-disable-public-network:eg-default": (event_grid(), True),
    "azure-eventgrid-disable-public-network:eg-enabled": (
        event_grid(public_network_access="Enabled"),
        True,
    ),
    # D-3: Service Bus and Cosmos DB CMK (advisory)
    "azure-servicebus-require-cmk:sb-cmk-ok": (service_bus(encryption=BUS_CMK), False),
    "azure-servicebus-require-cmk:sb-cmk-unset": (service_bus(), True),
    "azure-servicebus-require-cmk:sb-cmk-microsoft": (
        service_bus(
            encryption=servicebus.EncryptionArgs(
                key_source=servicebus.KeySource.MICROSOFT_KEY_VAULT
            )
        ),
        True,
    ),
    "azure-cosmosdb-require-cmk:cosmos-cmk-ok": (
        cosmos(key_vault_key_uri="https://kv.vault.azure.net/keys/cmk"),
        False,
    ),
    "azure-cosmosdb-require-cmk:cosmos-cmk-unset": (cosmos(), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), params(CASES))
def test_rule_on_one_property_change(case: str, program: Program, violates: bool) -> None:
    judge_case(case, program, violates)


def test_message_names_the_property_and_the_fix() -> None:
    """azure-data-services-require-tls12 says which wire property is wrong and what to set."""
    policy = data_services.data_services_require_tls12
    resources = [proxied(r) for r in run_program(service_bus(minimum_tls_version="1.0"))]
    [finding] = evaluate([policy], resources)
    assert '`minimumTlsVersion` is "1.0"' in finding.message
    assert '"1.2"' in finding.message


def test_event_grid_and_cmk_waivers() -> None:
    assert (
        findings_for(data_services.eventgrid_disable_public_network, event_grid(), WAIVED) == set()
    )
    assert findings_for(data_services.cosmosdb_require_cmk, cosmos(), WAIVED) == set()
    assert findings_for(data_services.servicebus_require_cmk, event_hubs()) == set()
    assert findings_for(data_services.servicebus_require_cmk, service_bus()) == {TARGET}
