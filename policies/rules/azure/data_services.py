"""Azure Cosmos DB, Service Bus, Event Grid, Event Hubs (rule 23): no keys, TLS 1.2+."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import Present, Setting, settings_check

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
    tags=["iam", "authentication"],
    remediation=(
        "Set `disable_local_auth=True` and grant data roles (e.g. Azure Service Bus Data Sender) "
        "to the workload's managed identity."
    ),
    references=[
        mcsb("IM-1"),
        checkov("CKV_AZURE_140"),
        checkov("CKV_AZURE_203"),
        checkov("CKV_AZURE_192"),
        checkov("CKV_AZURE_195"),
    ],
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
    tags=["encryption", "tls"],
    remediation=(
        'Set the minimum TLS version explicitly: Cosmos DB `minimal_tls_version="Tls12"`, '
        'Service Bus / Event Hubs `minimum_tls_version="1.2"`, Event Grid '
        '`minimum_tls_version_allowed="1.2"`.'
    ),
    references=[mcsb("DP-3"), checkov("CKV_AZURE_205"), checkov("CKV_AZURE_223")],
)

# -- Event Grid publishing endpoint (review C2) ------------------------------------------------
# Public network access only governs publishing (inbound); deliveries to subscribers are outbound
# and keep working with it off.
_EVENT_GRID_NETWORK = {
    token: (Setting("publicNetworkAccess", ("Disabled",)),)
    for token in (EVENT_GRID_TOPIC, EVENT_GRID_DOMAIN)
}

eventgrid_disable_public_network = resource_rule(
    "azure-eventgrid-disable-public-network",
    "Event Grid topics and domains accept published events only through private endpoints.",
    types=_EVENT_GRID_NETWORK,
    check=settings_check(_EVENT_GRID_NETWORK, "topic is reachable from the internet"),
    severity=Severity.MEDIUM,
    tags=["network", "network-exposure"],
    remediation=(
        'Set `public_network_access="Disabled"` and give publishers a private endpoint (sub-'
        'resource "topic", zone privatelink.eventgrid.azure.net) in their network; subscribers '
        "are unaffected (delivery is outbound)."
    ),
    references=[mcsb("NS-2"), checkov("CKV_AZURE_193"), checkov("CKV_AZURE_106")],
    since=2,
)

# -- customer-managed keys outside storage (review D-3) ----------------------------------------
_SERVICE_BUS_CMK = {
    SERVICE_BUS: (
        Setting("encryption.keySource", ("Microsoft.KeyVault",)),
        Present("encryption.keyVaultProperties", "the Key Vault key (name, vault URI, identity)"),
    ),
}

servicebus_require_cmk = resource_rule(
    "azure-servicebus-require-cmk",
    "Service Bus namespaces (Premium) encrypt messages with a customer-managed key.",
    types=_SERVICE_BUS_CMK,
    check=settings_check(
        _SERVICE_BUS_CMK, "namespace is not encrypted with a customer-managed key"
    ),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Set `encryption=servicebus.EncryptionArgs(key_source="Microsoft.KeyVault", '
        "key_vault_properties=[servicebus.KeyVaultPropertiesArgs(key_name=..., key_vault_uri=..., "
        "identity=...)], require_infrastructure_encryption=True)` on a Premium namespace."
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5"), checkov("CKV_AZURE_201")],
    since=2,
)

_COSMOS_CMK = {COSMOS: (Present("keyVaultKeyUri", "the versionless Key Vault key URI"),)}

cosmosdb_require_cmk = resource_rule(
    "azure-cosmosdb-require-cmk",
    "Cosmos DB accounts encrypt data with a customer-managed key.",
    types=_COSMOS_CMK,
    check=settings_check(_COSMOS_CMK, "account is not encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Set `key_vault_key_uri=<versionless key URI>` and `default_identity=` a user-assigned "
        "identity holding Key Vault Crypto Service Encryption User on the key; only at creation."
    ),
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5"), checkov("CKV_AZURE_100")],
    since=2,
)
