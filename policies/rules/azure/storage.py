"""Azure storage accounts and blob containers (rules 17 and 18)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import AnyOf, Setting, settings_check

ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"

_TLS = {
    ACCOUNT: (
        Setting("minimumTlsVersion", ("TLS1_2", "TLS1_3")),
        # HTTPS-only is the service default since API 2019-04-01: only an explicit false fails.
        Setting("enableHttpsTrafficOnly", (True,), unset_ok=True),
    ),
}

storage_require_tls12 = resource_rule(
    "azure-storage-require-tls12",
    "Storage accounts accept only HTTPS, with TLS 1.2 or newer.",
    types=_TLS,
    check=settings_check(_TLS, "storage account must refuse plain HTTP and TLS < 1.2"),
    severity=Severity.HIGH,
    tags=["encryption", "network", "tls"],
    remediation=(
        "Set `minimum_tls_version=storage.MinimumTlsVersion.TLS1_2` and "
        "`enable_https_traffic_only=True` on the StorageAccount."
    ),
    references=[mcsb("DP-3"), checkov("CKV_AZURE_44"), checkov("CKV_AZURE_3")],
)

_PUBLIC = {
    ACCOUNT: (Setting("allowBlobPublicAccess", (False,)),),
    # A container's public access defaults to none; only "Blob" or "Container" expose data.
    CONTAINER: (Setting("publicAccess", ("None",), unset_ok=True),),
}

storage_disallow_public_blob_access = resource_rule(
    "azure-storage-disallow-public-blob-access",
    "Storage accounts disallow anonymous blob access and no container is public.",
    types=_PUBLIC,
    check=settings_check(_PUBLIC, "blob data must not be readable anonymously"),
    severity=Severity.CRITICAL,
    tags=["network", "data-protection", "public-access"],
    remediation=(
        "Set `allow_blob_public_access=False` on the StorageAccount and leave BlobContainer "
        "`public_access` unset or `storage.PublicAccess.NONE`; share data with RBAC or SAS."
    ),
    references=[mcsb("NS-2"), checkov("CKV_AZURE_190"), checkov("CKV_AZURE_34")],
)

_SHARED_KEY = {ACCOUNT: (Setting("allowSharedKeyAccess", (False,)),)}

storage_disable_shared_key = resource_rule(
    "azure-storage-disable-shared-key",
    "Storage accounts authorize with Entra ID only (shared key access off).",
    types=_SHARED_KEY,
    check=settings_check(_SHARED_KEY, "account keys grant full access and never expire"),
    severity=Severity.MEDIUM,
    tags=["iam", "authentication"],
    remediation=(
        "Set `allow_shared_key_access=False` and grant identities data roles such as "
        "Storage Blob Data Reader."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("IM-1"), checkov("CKV2_AZURE_40")],
)

_NETWORK = {
    ACCOUNT: (
        AnyOf(
            (
                Setting("publicNetworkAccess", ("Disabled",)),
                Setting("networkRuleSet.defaultAction", ("Deny",)),
            )
        ),
    ),
}

storage_restrict_network_access = resource_rule(
    "azure-storage-restrict-network-access",
    "Storage accounts deny network access by default (or disable public network access).",
    types=_NETWORK,
    check=settings_check(_NETWORK, "storage account must not be reachable from any network"),
    severity=Severity.MEDIUM,
    tags=["network", "network-exposure"],
    remediation=(
        "Set `network_rule_set=storage.NetworkRuleSetArgs(default_action="
        "storage.DefaultAction.DENY, ...)` with the allowed subnets / IPs, or "
        '`public_network_access="Disabled"` with a private endpoint.'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("NS-2"), checkov("CKV_AZURE_35"), checkov("CKV_AZURE_59")],
)

_CMK = {ACCOUNT: (Setting("encryption.keySource", ("Microsoft.Keyvault",)),)}

storage_require_cmk = resource_rule(
    "azure-storage-require-cmk",
    "Storage accounts encrypt with a customer-managed key from Key Vault.",
    types=_CMK,
    check=settings_check(_CMK, "storage encryption must use a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Set `encryption=storage.EncryptionArgs(key_source="Microsoft.Keyvault", '
        "key_vault_properties=storage.KeyVaultPropertiesArgs(...), encryption_identity=...)`."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("DP-5"), checkov("CKV2_AZURE_1")],
)
