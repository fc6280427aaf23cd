"""Azure Cosmos DB, Service Bus, Event Grid, Event Hubs (rule 23): no keys, TLS 1.2+."""

from __future__ import annotations

from pulumi_policy import Severity

from policies.rules.base import resource_rule
from policies.rules.settings import Setting, settings_check

COSMOS = "azure-native:cosmosdb:DatabaseAccount"
SERVICE_BUS = "azure-native:servicebus:Namespace"
EVENT_GRID_TOPIC = "azure-native:eventgrid:Topic"
EVENT_GRID_DOMAIN = "azure-native:eventgrid:Domain"
EVENT_HUBS = "azure-native:eventhub:Namespace"

_LOCAL_AUTH = {
    token: (Setting("disableLocalAuth", (True,)),)
    for token in (COSMOS, SERVICE_BUS, EVENT_GRID_TOPIC, EVENT_GRID_DOMAIN, EVENT_HUBS)
}

data_services_disable_local_auth = resource_rule(
    "azure-data-services-disable-local-auth",
    "Cosmos DB, Service Bus, Event Grid and Event Hubs accept Entra ID only (keys / SAS off).",
    types=_LOCAL_AUTH,
    check=settings_check(_LOCAL_AUTH, "keys and SAS tokens bypass Entra ID and RBAC"),
    severity=Severity.HIGH,
    tags=["iam"],
    remediation=(
        "Set `disable_local_auth=True` and grant data roles (e.g. Azure Service Bus Data Sender) "
        "to the workload's managed identity."
    ),
)

# Each service spells its minimum TLS property and values differently.
_TLS = {
    COSMOS: (Setting("minimalTlsVersion", ("Tls12",)),),
    SERVICE_BUS: (Setting("minimumTlsVersion", ("1.2", "1.3")),),
    EVENT_GRID_TOPIC: (Setting("minimumTlsVersionAllowed", ("1.2",)),),
    EVENT_GRID_DOMAIN: (Setting("minimumTlsVersionAllowed", ("1.2",)),),
    EVENT_HUBS: (Setting("minimumTlsVersion", ("1.2", "1.3")),),
}

data_services_require_tls12 = resource_rule(
    "azure-data-services-require-tls12",
    "Cosmos DB, Service Bus, Event Grid and Event Hubs refuse TLS older than 1.2.",
    types=_TLS,
    check=settings_check(_TLS, "clients must not connect with TLS < 1.2"),
    severity=Severity.HIGH,
    tags=["encryption"],
    remediation=(
        'Set the minimum TLS version explicitly: Cosmos DB `minimal_tls_version="Tls12"`, '
        'Service Bus / Event Hubs `minimum_tls_version="1.2"`, Event Grid '
        '`minimum_tls_version_allowed="1.2"`.'
    ),
)
