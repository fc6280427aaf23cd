"""Azure managed databases a client adds: PostgreSQL and MySQL flexible servers, Azure SQL
servers and Azure Cache for Redis (network exposure, TLS, Entra authentication, backups,
customer-managed keys, SQL auditing)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.azure.state import UNKNOWN, links_to, names_unknown, of_type, read
from policies.rules.base import OPERATIONAL, canonical_type, resource_rule, stack_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import AnyOf, Present, Setting, SettingsTable, settings_check, show

POSTGRES = "azure-native:dbforpostgresql:Server"  # flexible server (azure-native 2.x/3.x)
POSTGRES_CONFIG = "azure-native:dbforpostgresql:Configuration"
MYSQL = "azure-native:dbformysql:Server"  # flexible server
MYSQL_CONFIG = "azure-native:dbformysql:Configuration"
SQL = "azure-native:sql:Server"
SQL_AUDITING = (
    "azure-native:sql:ServerBlobAuditingPolicy",
    "azure-native:sql:ExtendedServerBlobAuditingPolicy",
)
REDIS = "azure-native:redis:Redis"

# A flexible server injected into a delegated subnet has no public endpoint at all.
_PUBLIC: SettingsTable = {
    POSTGRES: (
        AnyOf(
            (
                Setting("network.publicNetworkAccess", ("Disabled",)),
                Present("network.delegatedSubnetResourceId", "a delegated subnet"),
            )
        ),
    ),
    MYSQL: (
        AnyOf(
            (
                Setting("network.publicNetworkAccess", ("Disabled",)),
                Present("network.delegatedSubnetResourceId", "a delegated subnet"),
            )
        ),
    ),
    # SQL's public endpoint is on unless turned off (or put behind a network perimeter).
    SQL: (Setting("publicNetworkAccess", ("Disabled", "SecuredByPerimeter")),),
    # A Premium cache injected into a subnet has no public endpoint.
    REDIS: (
        AnyOf(
            (
                Setting("publicNetworkAccess", ("Disabled",)),
                Present("subnetId", "a subnet"),
            )
        ),
    ),
}

database_disable_public_network = resource_rule(
    "azure-database-disable-public-network",
    "PostgreSQL / MySQL flexible servers, SQL servers and Redis caches are not reachable from "
    "the internet (public network access off, or VNet-injected).",
    types=_PUBLIC,
    check=settings_check(_PUBLIC, "database is reachable from the internet"),
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        'Set `network=dbforpostgresql.NetworkArgs(public_network_access="Disabled")` '
        "(or a `delegated_subnet_resource_id`) on flexible servers, "
        '`public_network_access="Disabled"` on SQL servers and Redis caches, and reach them '
        "through private endpoints."
    ),
    references=[
        checkov("CKV_AZURE_68"),
        checkov("CKV2_AZURE_57"),
        checkov("CKV_AZURE_53"),
        checkov("CKV_AZURE_113"),
        checkov("CKV_AZURE_89"),
        mcsb("NS-2"),
    ],
    since=2,
)

# ---- TLS -------------------------------------------------------------------------------------
_TLS_SETTINGS = {
    SQL: (Setting("minimalTlsVersion", ("1.2", "1.3")),),
    REDIS: (
        Setting("minimumTlsVersion", ("1.2",)),
        # The non-TLS port 6379 is closed unless opened.
        Setting("enableNonSslPort", (False,), unset_ok=True),
    ),
}
_TLS_SETTINGS_CHECK = settings_check(_TLS_SETTINGS, "database accepts TLS below 1.2 or plain text")

# Flexible servers enforce TLS through server parameters (Configuration resources): turning
# `require_secure_transport` off accepts plain-text connections, and the minimum version
# parameters accept TLS 1.0 / 1.1 when lowered.
_OLD_TLS = ("tlsv1", "tlsv1.0", "tlsv1.1")
_TLS_PARAMETERS: dict[str, str] = {
    "require_secure_transport": "accepts plain-text connections",
    "ssl_min_protocol_version": "accepts TLS below 1.2",  # PostgreSQL
    "tls_version": "accepts TLS below 1.2",  # MySQL
}


def _parameter_weakens_tls(name: str, value: str) -> bool:
    folded = value.strip().casefold()
    if name == "require_secure_transport":
        return folded in {"off", "false", "0"}
    return any(v in _OLD_TLS for v in (p.strip() for p in folded.split(",")))


def _database_tls(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if canonical_type(args.resource_type) not in {POSTGRES_CONFIG, MYSQL_CONFIG}:
        yield from _TLS_SETTINGS_CHECK(props, args)
        return
    name = read(props, "configurationName")
    value = read(props, "value")
    if not isinstance(name, str) or not isinstance(value, str):
        return
    problem = _TLS_PARAMETERS.get(name.casefold())
    if problem and _parameter_weakens_tls(name.casefold(), value):
        yield (
            f"server parameter `{name}` = {show(value)} {problem}; set it to "
            f"{'ON' if name.casefold() == 'require_secure_transport' else 'TLSv1.2'} "
            "(or remove the Configuration resource)."
        )


database_require_tls12 = resource_rule(
    "azure-database-require-tls12",
    "Databases accept only TLS 1.2+: SQL minimal TLS 1.2, Redis minimum TLS 1.2 with the "
    "non-TLS port closed, flexible servers keep `require_secure_transport` ON and no TLS "
    "1.0/1.1 in their TLS version parameters.",
    types=[*_TLS_SETTINGS, POSTGRES_CONFIG, MYSQL_CONFIG],
    check=_database_tls,
    severity=Severity.HIGH,
    tags=["tls", "encryption"],
    remediation=(
        'Set `minimal_tls_version="1.2"` on SQL servers; `minimum_tls_version="1.2"` and no '
        "`enable_non_ssl_port=True` on Redis; keep the `require_secure_transport` parameter "
        '"ON" and `ssl_min_protocol_version` / `tls_version` at "TLSv1.2" or newer.'
    ),
    references=[
        checkov("CKV_AZURE_52"),
        checkov("CKV_AZURE_148"),
        checkov("CKV_AZURE_91"),
        checkov("CKV_AZURE_29"),
        checkov("CKV_AZURE_28"),
        mcsb("DP-3"),
    ],
    since=2,
)

# ---- Entra authentication ---------------------------------------------------------------------
_ENTRA = {
    POSTGRES: (
        Setting("authConfig.activeDirectoryAuth", ("Enabled",)),
        Setting("authConfig.passwordAuth", ("Disabled",)),
    ),
    SQL: (Setting("administrators.azureADOnlyAuthentication", (True,)),),
    # Access keys are shared secrets; Entra ID auth needs `aad-enabled` in the configuration.
    REDIS: (Setting("disableAccessKeyAuthentication", (True,)),),
}

database_require_entra_auth = resource_rule(
    "azure-database-require-entra-auth",
    "PostgreSQL flexible servers, SQL servers and Redis caches authenticate with Entra ID only "
    "(password / access-key authentication off).",
    types=_ENTRA,
    check=settings_check(_ENTRA, "database accepts passwords or keys instead of Entra ID"),
    severity=Severity.HIGH,
    tags=["authentication"],
    remediation=(
        "PostgreSQL: `auth_config=dbforpostgresql.AuthConfigArgs(active_directory_auth="
        '"Enabled", password_auth="Disabled")` and an AdministratorsMicrosoftEntra; SQL: '
        "`administrators=sql.ServerExternalAdministratorArgs(azure_ad_only_authentication=True, "
        "login=..., sid=..., principal_type=...)`; Redis: `disable_access_key_authentication=True` "
        "with `redis_configuration=redis.RedisCommonPropertiesRedisConfigurationArgs("
        'aad_enabled="true")`. '
        "(MySQL flexible servers: add an AzureADAdministrator and set the `aad_auth_only` "
        "parameter ON.)"
    ),
    references=[checkov("CKV2_AZURE_27"), mcsb("IM-1")],
    since=2,
)

# ---- backups ------------------------------------------------------------------------------------
DEFAULT_MINIMUM_BACKUP_DAYS = 7
_SERVICE_DEFAULT_BACKUP_DAYS = 7  # flexible servers keep 7 days when retention is not set


def _short_backup(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config().get("minimumBackupRetentionDays", DEFAULT_MINIMUM_BACKUP_DAYS)
    value = read(props, "backup.backupRetentionDays")
    if value is UNKNOWN:
        return
    days = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    effective = _SERVICE_DEFAULT_BACKUP_DAYS if days is None else days
    if effective < minimum:
        shown = f"unset ({_SERVICE_DEFAULT_BACKUP_DAYS} days)" if days is None else f"{days:g} days"
        yield (
            f"backups are kept fewer than {minimum} days: `backup.backupRetentionDays` is {shown}."
        )


database_require_backup_retention = resource_rule(
    "azure-database-require-backup-retention",
    "PostgreSQL and MySQL flexible servers keep backups at least the configured minimum "
    "number of days (7 by default).",
    types=[POSTGRES, MYSQL],
    check=_short_backup,
    severity=Severity.MEDIUM,
    tags=["retention", "resilience"],
    remediation="Set `backup=...BackupArgs(backup_retention_days=<days>)` (7 to 35).",
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    config_properties={
        "minimumBackupRetentionDays": {
            "type": "integer",
            "minimum": 1,
            "maximum": 35,
            "default": DEFAULT_MINIMUM_BACKUP_DAYS,
        }
    },
    references=[mcsb("BR-1")],
    since=2,
)

_GEO = {token: (Setting("backup.geoRedundantBackup", ("Enabled",)),) for token in (POSTGRES, MYSQL)}

database_geo_redundant_backup = resource_rule(
    "azure-database-geo-redundant-backup",
    "PostgreSQL and MySQL flexible servers copy backups to the paired region.",
    types=_GEO,
    check=settings_check(_GEO, "backups are lost with the region"),
    severity=Severity.LOW,
    tags=["resilience", "retention"],
    remediation=(
        'Set `backup=...BackupArgs(geo_redundant_backup="Enabled")` (only at creation; not '
        "every region pairs)."
    ),
    # A region-pair copy costs more and is fixed at creation: advisory in dev.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_136"), checkov("CKV_AZURE_94"), mcsb("BR-1")],
    since=2,
)

_CMK: SettingsTable = {
    POSTGRES: (Setting("dataEncryption.type", ("AzureKeyVault",)),),
    MYSQL: (Setting("dataEncryption.type", ("AzureKeyVault",)),),
    SQL: (Present("keyId", "a Key Vault key URI (TDE protector)"),),
}

database_require_cmk = resource_rule(
    "azure-database-require-cmk",
    "PostgreSQL / MySQL flexible servers and SQL servers encrypt data with a customer-managed "
    "key from Key Vault.",
    types=_CMK,
    check=settings_check(_CMK, "database is not encrypted with a customer-managed key"),
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        'Flexible servers: `data_encryption=...DataEncryptionArgs(type="AzureKeyVault", '
        "primary_key_uri=..., primary_user_assigned_identity_id=...)` with that identity in "
        "`identity`; SQL: `key_id=<key uri>` with a server identity that can use the key."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV2_AZURE_17"), checkov("CKV2_AZURE_16"), mcsb("DP-5")],
    since=2,
)

# ---- SQL auditing -------------------------------------------------------------------------------
MINIMUM_AUDIT_DAYS = 90


def _audit_problems(policy_props: Mapping[str, Any]) -> str | None:
    state = read(policy_props, "state")
    if state is not UNKNOWN and (not isinstance(state, str) or state.casefold() != "enabled"):
        return f"`state` is {show(state)}"
    days = read(policy_props, "retentionDays")
    # 0 (or unset) keeps audit records without limit.
    if isinstance(days, (int, float)) and not isinstance(days, bool) and 0 < days < 90:
        return (
            f"keeps audit records fewer than {MINIMUM_AUDIT_DAYS} days: `retentionDays` is {days:g}"
        )
    return None


def _unaudited_sql(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    policies = of_type(args.resources, *SQL_AUDITING)
    if any(names_unknown(p, "serverName") for p in policies):
        return
    for server in of_type(args.resources, SQL):
        mine = [p for p in policies if links_to(p, "serverName", server, ("serverName",))]
        if not mine:
            yield (
                f"SQL server '{server.name}' is not audited: no ServerBlobAuditingPolicy with "
                '`state` = "Enabled" configures it.',
                server.urn,
            )
            continue
        problems = [(p, _audit_problems(p.props)) for p in mine]
        if all(problem for _, problem in problems):
            for policy, problem in problems:
                yield (
                    f"SQL server '{server.name}' auditing policy '{policy.name}' {problem}.",
                    policy.urn,
                )


sql_require_auditing = stack_rule(
    "azure-sql-require-auditing",
    "Every SQL server has server auditing enabled (ServerBlobAuditingPolicy), keeping records "
    f"at least {MINIMUM_AUDIT_DAYS} days or without limit.",
    check=_unaudited_sql,
    severity=Severity.MEDIUM,
    tags=["logging-audit", "retention"],
    remediation=(
        'Add `sql.ServerBlobAuditingPolicy(server_name=<server>.name, state="Enabled", '
        'blob_auditing_policy_name="default", is_azure_monitor_target_enabled=True)` and a '
        "diagnostic setting on the server's master database sending SQLSecurityAuditEvents to "
        "Log Analytics (or a storage endpoint with `retention_days` >= 90)."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_AZURE_23"), checkov("CKV_AZURE_24"), mcsb("LT-3")],
    since=2,
)
