"""Managed database rules (sql.py): a compliant Cloud SQL for PostgreSQL instance and AlloyDB
cluster/instance; one property changed per failing case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules.gcp import sql
from tests.policies.harness import evaluate, run_program
from tests.policies.test_gcp_common import KEY, TARGET, Program, judge, waiver

VPC = "projects/acme/global/networks/vpc"
LOG_FLAGS = {f: "on" for f in sql.POSTGRES_LOG_FLAGS}


def instance(
    *,
    version: str = "POSTGRES_16",
    ip: dict[str, Any] | None = None,
    backup: dict[str, Any] | None = None,
    flags: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    **top: Any,
) -> Program:
    """A private, TLS-only, CMEK, backed-up Cloud SQL instance; keyword overrides per level."""
    ip_args: dict[str, Any] = {
        "ipv4_enabled": False,
        "private_network": VPC,
        "ssl_mode": "ENCRYPTED_ONLY",
        **(ip or {}),
    }
    backup_args: dict[str, Any] = {
        "enabled": True,
        "point_in_time_recovery_enabled": True,
        **(backup or {}),
    }
    flag_values = LOG_FLAGS if flags is None else flags
    settings_args: dict[str, Any] = {
        "tier": "db-custom-2-7680",
        "deletion_protection_enabled": True,
        "ip_configuration": gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(**ip_args),
        "backup_configuration": gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
            **backup_args
        ),
        "database_flags": [
            gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=n, value=v)
            for n, v in flag_values.items()
        ],
        **(settings or {}),
    }
    args: dict[str, Any] = {
        "database_version": version,
        "region": "europe-west1",
        "encryption_key_name": KEY,
        "settings": gcp.sql.DatabaseInstanceSettingsArgs(**settings_args),
        **top,
    }
    return lambda: gcp.sql.DatabaseInstance(TARGET, **args)


def authorized(*cidrs: str) -> dict[str, Any]:
    return {
        "authorized_networks": [
            gcp.sql.DatabaseInstanceSettingsIpConfigurationAuthorizedNetworkArgs(
                value=c, name=f"net-{i}"
            )
            for i, c in enumerate(cidrs)
        ]
    }


def alloydb_cluster(**over: Any) -> Program:
    args: dict[str, Any] = {
        "cluster_id": "vectors",
        "location": "europe-west1",
        "network_config": gcp.alloydb.ClusterNetworkConfigArgs(network=VPC),
        "encryption_config": gcp.alloydb.ClusterEncryptionConfigArgs(kms_key_name=KEY),
        **over,
    }
    return lambda: gcp.alloydb.Cluster(TARGET, **args)


def alloydb_instance(**over: Any) -> Program:
    args: dict[str, Any] = {
        "cluster": "projects/acme/locations/europe-west1/clusters/vectors",
        "instance_id": "primary",
        "instance_type": "PRIMARY",
        **over,
    }
    return lambda: gcp.alloydb.Instance(TARGET, **args)


PUBLIC = sql.sql_disallow_public_access
TLS = sql.sql_require_tls
CMEK = sql.sql_require_cmek
BACKUPS = sql.sql_require_backups
FLAGS = sql.sql_postgres_require_log_flags

CASES: dict[str, tuple[Policy, Program, bool]] = {
    # network exposure
    "gcp-sql-disallow-public-access:private-ok": (PUBLIC, instance(), False),
    "gcp-sql-disallow-public-access:ipv4-unset": (
        PUBLIC,
        instance(ip={"ipv4_enabled": None}),
        True,
    ),
    "gcp-sql-disallow-public-access:ipv4-on": (PUBLIC, instance(ip={"ipv4_enabled": True}), True),
    "gcp-sql-disallow-public-access:authorized-internet": (
        PUBLIC,
        instance(ip=authorized("10.0.0.0/8", "0.0.0.0/0")),
        True,
    ),
    "gcp-sql-disallow-public-access:authorized-corporate-ok": (
        PUBLIC,
        instance(ip=authorized("203.0.113.0/24")),
        False,
    ),
    "gcp-sql-disallow-public-access:alloydb-ok": (PUBLIC, alloydb_instance(), False),
    "gcp-sql-disallow-public-access:alloydb-public-ip": (
        PUBLIC,
        alloydb_instance(
            network_config=gcp.alloydb.InstanceNetworkConfigArgs(enable_public_ip=True)
        ),
        True,
    ),
    "gcp-sql-disallow-public-access:alloydb-authorized-internet": (
        PUBLIC,
        alloydb_instance(
            network_config=gcp.alloydb.InstanceNetworkConfigArgs(
                authorized_external_networks=[
                    gcp.alloydb.InstanceNetworkConfigAuthorizedExternalNetworkArgs(
                        cidr_range="0.0.0.0/0"
                    )
                ]
            )
        ),
        True,
    ),
    # TLS
    "gcp-sql-require-tls:encrypted-only-ok": (TLS, instance(), False),
    "gcp-sql-require-tls:client-certificates-ok": (
        TLS,
        instance(ip={"ssl_mode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}),
        False,
    ),
    "gcp-sql-require-tls:ssl-mode-unset": (TLS, instance(ip={"ssl_mode": None}), True),
    "gcp-sql-require-tls:unencrypted-allowed": (
        TLS,
        instance(ip={"ssl_mode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"}),
        True,
    ),
    "gcp-sql-require-tls:alloydb-default-ok": (TLS, alloydb_instance(), False),
    "gcp-sql-require-tls:alloydb-unencrypted": (
        TLS,
        alloydb_instance(
            client_connection_config=gcp.alloydb.InstanceClientConnectionConfigArgs(
                ssl_config=gcp.alloydb.InstanceClientConnectionConfigSslConfigArgs(
                    ssl_mode="ALLOW_UNENCRYPTED_AND_ENCRYPTED"
                )
            )
        ),
        True,
    ),
    # customer-managed keys
    "gcp-sql-require-cmek:cmek-ok": (CMEK, instance(), False),
    "gcp-sql-require-cmek:google-key": (CMEK, instance(encryption_key_name=None), True),
    "gcp-sql-require-cmek:alloydb-ok": (CMEK, alloydb_cluster(), False),
    "gcp-sql-require-cmek:alloydb-google-key": (
        CMEK,
        alloydb_cluster(encryption_config=None),
        True,
    ),
    # backups, point-in-time recovery, deletion protection
    "gcp-sql-require-backups:backups-ok": (BACKUPS, instance(), False),
    "gcp-sql-require-backups:backups-off": (BACKUPS, instance(backup={"enabled": False}), True),
    "gcp-sql-require-backups:pitr-off": (
        BACKUPS,
        instance(backup={"point_in_time_recovery_enabled": None}),
        True,
    ),
    "gcp-sql-require-backups:mysql-binlog-ok": (
        BACKUPS,
        instance(
            version="MYSQL_8_0",
            backup={"point_in_time_recovery_enabled": None, "binary_log_enabled": True},
        ),
        False,
    ),
    "gcp-sql-require-backups:mysql-binlog-off": (
        BACKUPS,
        instance(version="MYSQL_8_0", backup={"point_in_time_recovery_enabled": None}),
        True,
    ),
    "gcp-sql-require-backups:replica-inherits": (
        BACKUPS,
        instance(backup={"enabled": None}, master_instance_name="primary"),
        False,
    ),
    "gcp-sql-require-backups:pulumi-guard-only-ok": (
        BACKUPS,
        instance(settings={"deletion_protection_enabled": None}),
        False,
    ),
    "gcp-sql-require-backups:no-deletion-protection": (
        BACKUPS,
        instance(settings={"deletion_protection_enabled": None}, deletion_protection=False),
        True,
    ),
    "gcp-sql-require-backups:alloydb-ok": (BACKUPS, alloydb_cluster(), False),
    "gcp-sql-require-backups:alloydb-continuous-backup-off": (
        BACKUPS,
        alloydb_cluster(
            continuous_backup_config=gcp.alloydb.ClusterContinuousBackupConfigArgs(enabled=False)
        ),
        True,
    ),
    # PostgreSQL logging flags
    "gcp-sql-postgres-require-log-flags:flags-ok": (FLAGS, instance(), False),
    "gcp-sql-postgres-require-log-flags:no-flags": (FLAGS, instance(flags={}), True),
    "gcp-sql-postgres-require-log-flags:connections-off": (
        FLAGS,
        instance(flags={**LOG_FLAGS, "log_connections": "off"}),
        True,
    ),
    "gcp-sql-postgres-require-log-flags:mysql-not-asked": (
        FLAGS,
        instance(version="MYSQL_8_0", flags={}),
        False,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_sql_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_public_database_waiver() -> None:
    """gcp-sql-disallow-public-access: a waived instance is skipped."""
    assert judge(PUBLIC, instance(ip={"ipv4_enabled": True}), waiver(TARGET)) == set()


def test_every_missing_flag_is_named() -> None:
    """gcp-sql-postgres-require-log-flags: one message per missing flag."""
    resources = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))
        for r in run_program(instance(flags={"log_connections": "on"}))
    ]
    messages = [f.message for f in evaluate([FLAGS], resources)]
    assert len(messages) == 3
    assert all("`log_" in m for m in messages)
