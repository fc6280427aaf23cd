"""Managed databases: Cloud SQL instances, AlloyDB clusters and instances.

No public IP (and never an authorized network of the whole internet), TLS on every connection,
customer-managed keys, backups with point-in-time recovery and deletion protection, and the
PostgreSQL connection and lock logging of CIS 6.2.2-6.2.3 (and Checkov's CKV_GCP_51-54).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.base import OPERATIONAL, as_list, canonical_type, prop_at, resource_rule
from policies.rules.references import checkov, cis, guardrail
from policies.rules.settings import show

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
ALLOYDB_CLUSTER = "gcp:alloydb/cluster:Cluster"
ALLOYDB_INSTANCE = "gcp:alloydb/instance:Instance"

# The whole internet, as an authorized network or a firewall source.
ANYWHERE: frozenset[str] = frozenset({"0.0.0.0/0", "::/0", "0.0.0.0"})  # noqa: S104  # nosec B104 - address ranges


def _is_true(value: Any) -> bool:
    return value is True


def _is_false(value: Any) -> bool:
    return value is False


def _version(props: Mapping[str, Any]) -> str:
    value = props.get("databaseVersion")
    return value.upper() if isinstance(value, str) else ""


def _is_replica(props: Mapping[str, Any]) -> bool:
    """A read replica: it takes backups and recovery from its primary."""
    return bool(props.get("masterInstanceName")) or props.get("instanceType") in {
        "READ_REPLICA_INSTANCE",
        "ON_PREMISES_INSTANCE",
    }


# -- network exposure ------------------------------------------------------------------------
def _public_database(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    if token == SQL_INSTANCE:
        # ipv4Enabled defaults to true: an instance without the setting gets a public address.
        ipv4 = prop_at(props, "settings.ipConfiguration.ipv4Enabled")
        if not _is_false(ipv4):
            yield (
                "database is reachable from the internet: "
                f"`settings.ipConfiguration.ipv4Enabled` is {show(ipv4)} (public IP); set it to "
                "false and connect over `privateNetwork` or Private Service Connect."
            )
        networks = as_list(prop_at(props, "settings.ipConfiguration.authorizedNetworks"))
        path, key = "settings.ipConfiguration.authorizedNetworks", "value"
    elif token == ALLOYDB_INSTANCE:
        public = prop_at(props, "networkConfig.enablePublicIp")
        if _is_true(public):
            yield (
                "database is reachable from the internet: `networkConfig.enablePublicIp` is "
                "true; use private services access or Private Service Connect."
            )
        networks = as_list(prop_at(props, "networkConfig.authorizedExternalNetworks"))
        path, key = "networkConfig.authorizedExternalNetworks", "cidrRange"
    else:
        return
    for network in networks:
        cidr = network.get(key) if isinstance(network, Mapping) else None
        if isinstance(cidr, str) and cidr.strip() in ANYWHERE:
            yield f"database accepts connections from anywhere: `{path}` holds {cidr}."


sql_disallow_public_access = resource_rule(
    "gcp-sql-disallow-public-access",
    "Cloud SQL and AlloyDB instances have no public IP and never authorize 0.0.0.0/0.",
    types=(SQL_INSTANCE, ALLOYDB_INSTANCE),
    check=_public_database,
    severity=Severity.HIGH,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Cloud SQL: `settings.ip_configuration.ipv4_enabled=False` with `private_network` (or "
        "`psc_configs`); AlloyDB: leave `network_config.enable_public_ip` off. Remove "
        "0.0.0.0/0 from authorized networks; reach the database through the Cloud SQL / AlloyDB "
        "Auth Proxy from inside the VPC."
    ),
    references=[checkov("CKV_GCP_60"), checkov("CKV_GCP_11"), cis("gcp", "6.6"), cis("gcp", "6.5")],
    since=2,
)


# -- TLS -------------------------------------------------------------------------------------
# ENCRYPTED_ONLY is TLS on every connection (server certificate); TRUSTED_CLIENT_CERTIFICATE_
# REQUIRED adds client certificates. SQL Server supports only the first.
SQL_TLS_MODES: frozenset[str] = frozenset({"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"})


def _database_tls(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    if token == SQL_INSTANCE:
        mode = prop_at(props, "settings.ipConfiguration.sslMode")
        if mode not in SQL_TLS_MODES:
            yield (
                "database accepts unencrypted connections: `settings.ipConfiguration.sslMode` is "
                f'{show(mode)}; set "ENCRYPTED_ONLY" (or "TRUSTED_CLIENT_CERTIFICATE_REQUIRED").'
            )
    elif token == ALLOYDB_INSTANCE:
        # AlloyDB defaults to ENCRYPTED_ONLY: only an explicit downgrade is a finding.
        mode = prop_at(props, "clientConnectionConfig.sslConfig.sslMode")
        if mode is not None and mode != "ENCRYPTED_ONLY":
            yield (
                "database accepts unencrypted connections: "
                f'`clientConnectionConfig.sslConfig.sslMode` is {show(mode)}; set "ENCRYPTED_ONLY".'
            )


sql_require_tls = resource_rule(
    "gcp-sql-require-tls",
    "Cloud SQL and AlloyDB instances accept only TLS-encrypted connections.",
    types=(SQL_INSTANCE, ALLOYDB_INSTANCE),
    check=_database_tls,
    severity=Severity.HIGH,
    tags=["tls", "encryption"],
    remediation=(
        'Set `settings.ip_configuration.ssl_mode="ENCRYPTED_ONLY"` (or '
        '"TRUSTED_CLIENT_CERTIFICATE_REQUIRED" for client certificates) on the Cloud SQL '
        "instance; leave AlloyDB's `client_connection_config.ssl_config.ssl_mode` at "
        '"ENCRYPTED_ONLY".'
    ),
    references=[checkov("CKV_GCP_6"), cis("gcp", "6.4")],
    since=2,
)


# -- customer-managed keys -------------------------------------------------------------------
_CMEK_PATHS: dict[str, str] = {
    SQL_INSTANCE: "encryptionKeyName",
    ALLOYDB_CLUSTER: "encryptionConfig.kmsKeyName",
}


def _database_cmek(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    path = _CMEK_PATHS[canonical_type(args.resource_type)]
    value = prop_at(props, path)
    if not isinstance(value, str) or not value:
        yield (
            f"database is not encrypted with a customer-managed key: `{path}` is unset; set it "
            "to a Cloud KMS CryptoKey id."
        )


sql_require_cmek = resource_rule(
    "gcp-sql-require-cmek",
    "Cloud SQL instances and AlloyDB clusters encrypt with a customer-managed Cloud KMS key.",
    types=_CMEK_PATHS,
    check=_database_cmek,
    severity=Severity.LOW,
    tags=["encryption", "key-management"],
    remediation=(
        "Cloud SQL: `encryption_key_name=key.id` (the key in the instance's region; grant the "
        "Cloud SQL service agent roles/cloudkms.cryptoKeyEncrypterDecrypter first); AlloyDB: "
        "`encryption_config=...ClusterEncryptionConfigArgs(kms_key_name=key.id)`."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[guardrail("30")],
    since=2,
)


# -- backups, point-in-time recovery, deletion protection ------------------------------------
def _database_recovery(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    if token == ALLOYDB_CLUSTER:
        continuous = prop_at(props, "continuousBackupConfig.enabled")
        if _is_false(continuous):
            yield (
                "database cannot be restored to a point in time: "
                "`continuousBackupConfig.enabled` is false."
            )
        if _is_false(props.get("deletionProtection")):
            yield "database can be deleted by one update: `deletionProtection` is false."
        return
    if not _is_replica(props):
        backups = "settings.backupConfiguration"
        if not _is_true(prop_at(props, f"{backups}.enabled")):
            yield (
                f"database has no automated backups: `{backups}.enabled` is "
                f"{show(prop_at(props, f'{backups}.enabled'))}; set it to true."
            )
        # MySQL recovers to a point in time from its binary log; PostgreSQL and SQL Server
        # from the transaction log that pointInTimeRecoveryEnabled keeps.
        pitr = (
            "binaryLogEnabled"
            if _version(props).startswith("MYSQL")
            else ("pointInTimeRecoveryEnabled")
        )
        if not _is_true(prop_at(props, f"{backups}.{pitr}")):
            yield (
                "database cannot be restored to a point in time: "
                f"`{backups}.{pitr}` is {show(prop_at(props, f'{backups}.{pitr}'))}; set it to "
                "true."
            )
    # Pulumi's deletionProtection (default true) guards `pulumi destroy`; the API-level setting
    # guards every other client. Either one is enough to stop an accidental delete.
    pulumi_guard = props.get("deletionProtection")
    api_guard = prop_at(props, "settings.deletionProtectionEnabled")
    if _is_false(pulumi_guard) and not _is_true(api_guard):
        yield (
            "database can be deleted by one update: `deletionProtection` is false and "
            f"`settings.deletionProtectionEnabled` is {show(api_guard)}."
        )


sql_require_backups = resource_rule(
    "gcp-sql-require-backups",
    "Cloud SQL and AlloyDB keep automated backups with point-in-time recovery and are "
    "protected from deletion.",
    types=(SQL_INSTANCE, ALLOYDB_CLUSTER),
    check=_database_recovery,
    severity=Severity.MEDIUM,
    tags=["resilience", "retention"],
    remediation=(
        "Set `settings.backup_configuration=...(enabled=True, "
        "point_in_time_recovery_enabled=True)` (MySQL: `binary_log_enabled=True`) and "
        "`settings.deletion_protection_enabled=True`; keep AlloyDB's continuous backup on and "
        "`deletion_protection` unset or true."
    ),
    # Operational: advisory in dev, mandatory in staging and prod.
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[checkov("CKV_GCP_14"), checkov("CKV2_GCP_20"), cis("gcp", "6.7")],
    since=2,
)


# -- PostgreSQL logging flags ----------------------------------------------------------------
# Who connected and disconnected (CIS 6.2.2, 6.2.3), checkpoints and lock waits (Checkov).
POSTGRES_LOG_FLAGS: dict[str, str] = {
    "log_connections": "on",
    "log_disconnections": "on",
    "log_checkpoints": "on",
    "log_lock_waits": "on",
}


def _postgres_logging(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if not _version(props).startswith("POSTGRES"):
        return
    flags = {
        str(f.get("name")): f.get("value")
        for f in as_list(prop_at(props, "settings.databaseFlags"))
        if isinstance(f, Mapping)
    }
    for name, wanted in POSTGRES_LOG_FLAGS.items():
        value = flags.get(name)
        if not isinstance(value, str) or value.strip().lower() != wanted:
            yield (
                f"database does not log {name.removeprefix('log_').replace('_', ' ')}: flag "
                f'`{name}` in `settings.databaseFlags` is {show(value)}; set "{wanted}".'
            )


sql_postgres_require_log_flags = resource_rule(
    "gcp-sql-postgres-require-log-flags",
    "Cloud SQL for PostgreSQL logs connections, disconnections, checkpoints and lock waits.",
    types=[SQL_INSTANCE],
    check=_postgres_logging,
    severity=Severity.LOW,
    tags=["logging-audit"],
    remediation=(
        "Add `settings.database_flags` entries log_connections, log_disconnections, "
        'log_checkpoints and log_lock_waits with value "on".'
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[
        cis("gcp", "6.2.2"),
        cis("gcp", "6.2.3"),
        checkov("CKV_GCP_52"),
        checkov("CKV_GCP_53"),
        checkov("CKV_GCP_51"),
        checkov("CKV_GCP_54"),
    ],
    since=2,
)
