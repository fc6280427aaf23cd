"""Azure managed database rules (policies/rules/azure/databases.py) on small real programs.

Each case starts from a compliant resource and changes one property; inputs reach the rules in
the analyzer's read-only proxies, as the pack sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.dbformysql as mysql
import pulumi_azure_native.dbforpostgresql as postgres
import pulumi_azure_native.redis as redis
import pulumi_azure_native.sql as sql
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import databases
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
BY_NAME: dict[str, Policy] = {p.name: p for p in vars(databases).values() if isinstance(p, Policy)}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


# --- compliant fixtures -----------------------------------------------------------------------


def pg(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": postgres.SkuArgs(name="Standard_D2ds_v5", tier="GeneralPurpose"),
        "version": "16",
        "network": postgres.NetworkArgs(public_network_access="Disabled"),
        "auth_config": postgres.AuthConfigArgs(
            active_directory_auth="Enabled", password_auth="Disabled"
        ),
        "backup": postgres.BackupArgs(backup_retention_days=14, geo_redundant_backup="Enabled"),
        "data_encryption": postgres.DataEncryptionArgs(
            type=postgres.DataEncryptionType.AZURE_KEY_VAULT,
            primary_key_uri="https://kv.vault.azure.net/keys/pg",
            primary_user_assigned_identity_id="/subscriptions/s/id",
        ),
    }
    return lambda: postgres.Server(TARGET, **{**args, **over})


def my(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": mysql.MySQLServerSkuArgs(name="Standard_D2ds_v4", tier="GeneralPurpose"),
        "network": mysql.NetworkArgs(public_network_access="Disabled"),
        "backup": mysql.BackupArgs(backup_retention_days=7, geo_redundant_backup="Enabled"),
        "data_encryption": mysql.DataEncryptionArgs(
            type=mysql.DataEncryptionType.AZURE_KEY_VAULT,
            primary_key_uri="https://kv.vault.azure.net/keys/my",
        ),
    }
    return lambda: mysql.Server(TARGET, **{**args, **over})


def pg_config(name: str, value: str) -> Callable[[], object]:
    return lambda: postgres.Configuration(
        TARGET,
        resource_group_name=RG,
        server_name="pg",
        configuration_name=name,
        value=value,
        source="user-override",
    )


def my_config(name: str, value: str) -> Callable[[], object]:
    return lambda: mysql.Configuration(
        TARGET, resource_group_name=RG, server_name="my", configuration_name=name, value=value
    )


def sql_server(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "public_network_access": "Disabled",
        "minimal_tls_version": "1.2",
        "administrators": sql.ServerExternalAdministratorArgs(
            azure_ad_only_authentication=True,
            login="dba-group",
            sid="00000000-0000-0000-0000-000000000001",
            principal_type="Group",
        ),
        "key_id": "https://kv.vault.azure.net/keys/tde/1",
    }
    return lambda: sql.Server(TARGET, **{**args, **over})


def cache(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": redis.SkuArgs(name="Premium", family="P", capacity=1),
        "public_network_access": "Disabled",
        "minimum_tls_version": "1.2",
        "disable_access_key_authentication": True,
    }
    return lambda: redis.Redis(TARGET, **{**args, **over})


Case = tuple[Callable[[], object], bool]
PUBLIC = "azure-database-disable-public-network"
TLS = "azure-database-require-tls12"
ENTRA = "azure-database-require-entra-auth"
BACKUP = "azure-database-require-backup-retention"
GEO = "azure-database-geo-redundant-backup"
CMK = "azure-database-require-cmk"

CASES: dict[str, Case] = {
    # public network
    f"{PUBLIC}:pg-ok": (pg(), False),
    f"{PUBLIC}:pg-vnet-injected": (
        pg(network=postgres.NetworkArgs(delegated_subnet_resource_id="/subscriptions/s/subnet")),
        False,
    ),
    f"{PUBLIC}:pg-public": (
        pg(network=postgres.NetworkArgs(public_network_access="Enabled")),
        True,
    ),
    f"{PUBLIC}:pg-network-unset": (pg(network=None), True),
    f"{PUBLIC}:mysql-ok": (my(), False),
    f"{PUBLIC}:mysql-public": (
        my(network=mysql.NetworkArgs(public_network_access="Enabled")),
        True,
    ),
    f"{PUBLIC}:sql-ok": (sql_server(), False),
    f"{PUBLIC}:sql-unset": (sql_server(public_network_access=None), True),
    f"{PUBLIC}:redis-ok": (cache(), False),
    f"{PUBLIC}:redis-subnet": (
        cache(public_network_access=None, subnet_id="/subscriptions/s/subnet"),
        False,
    ),
    f"{PUBLIC}:redis-public": (cache(public_network_access="Enabled"), True),
    # TLS
    f"{TLS}:sql-ok": (sql_server(), False),
    f"{TLS}:sql-tls10": (sql_server(minimal_tls_version="1.0"), True),
    f"{TLS}:sql-unset": (sql_server(minimal_tls_version=None), True),
    f"{TLS}:redis-ok": (cache(), False),
    f"{TLS}:redis-tls11": (cache(minimum_tls_version="1.1"), True),
    f"{TLS}:redis-non-ssl-port": (cache(enable_non_ssl_port=True), True),
    f"{TLS}:pg-secure-transport-on": (pg_config("require_secure_transport", "ON"), False),
    f"{TLS}:pg-secure-transport-off": (pg_config("require_secure_transport", "OFF"), True),
    f"{TLS}:pg-ssl-min-12": (pg_config("ssl_min_protocol_version", "TLSv1.2"), False),
    f"{TLS}:pg-ssl-min-11": (pg_config("ssl_min_protocol_version", "TLSv1.1"), True),
    f"{TLS}:pg-other-parameter": (pg_config("log_connections", "off"), False),
    f"{TLS}:mysql-tls-version-12": (my_config("tls_version", "TLSv1.2,TLSv1.3"), False),
    f"{TLS}:mysql-tls-version-with-11": (my_config("tls_version", "TLSv1.1,TLSv1.2"), True),
    f"{TLS}:mysql-secure-transport-off": (my_config("require_secure_transport", "off"), True),
    # Entra ID only
    f"{ENTRA}:pg-ok": (pg(), False),
    f"{ENTRA}:pg-password-on": (
        pg(
            auth_config=postgres.AuthConfigArgs(
                active_directory_auth="Enabled", password_auth="Enabled"
            )
        ),
        True,
    ),
    f"{ENTRA}:pg-unset": (pg(auth_config=None), True),
    f"{ENTRA}:sql-ok": (sql_server(), False),
    f"{ENTRA}:sql-sql-logins": (
        sql_server(
            administrators=sql.ServerExternalAdministratorArgs(
                azure_ad_only_authentication=False, login="dba-group"
            )
        ),
        True,
    ),
    f"{ENTRA}:redis-ok": (cache(), False),
    f"{ENTRA}:redis-access-keys": (cache(disable_access_key_authentication=False), True),
    # backups
    f"{BACKUP}:pg-ok": (pg(), False),
    f"{BACKUP}:pg-default": (pg(backup=None), False),
    f"{BACKUP}:pg-three-days": (pg(backup=postgres.BackupArgs(backup_retention_days=3)), True),
    f"{BACKUP}:mysql-one-day": (my(backup=mysql.BackupArgs(backup_retention_days=1)), True),
    f"{GEO}:pg-ok": (pg(), False),
    f"{GEO}:pg-local-only": (pg(backup=postgres.BackupArgs(backup_retention_days=14)), True),
    f"{GEO}:mysql-ok": (my(), False),
    f"{GEO}:mysql-disabled": (
        my(backup=mysql.BackupArgs(backup_retention_days=7, geo_redundant_backup="Disabled")),
        True,
    ),
    # customer-managed keys
    f"{CMK}:pg-ok": (pg(), False),
    f"{CMK}:pg-system-key": (
        pg(data_encryption=postgres.DataEncryptionArgs(type="SystemAssigned")),
        True,
    ),
    f"{CMK}:mysql-ok": (my(), False),
    f"{CMK}:mysql-unset": (my(data_encryption=None), True),
    f"{CMK}:sql-ok": (sql_server(), False),
    f"{CMK}:sql-service-managed": (sql_server(key_id=None), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def test_backup_minimum_comes_from_pack_config() -> None:
    """azure-database-require-backup-retention: a 30-day minimum flags a 14-day server."""
    policy = databases.database_require_backup_retention
    assert findings_for(policy, pg(), {"minimumBackupRetentionDays": 30}) == {TARGET}
    assert findings_for(policy, pg(), {"minimumBackupRetentionDays": 14}) == set()


def test_versioned_token_is_checked_like_the_default_one() -> None:
    """azure-database-disable-public-network matches azure-native:dbforpostgresql/v2024...."""
    policy = databases.database_disable_public_network
    resources = [
        replace(proxied(r), type="azure-native:dbforpostgresql/v20240801:Server")
        for r in run_program(pg(network=postgres.NetworkArgs(public_network_access="Enabled")))
    ]
    assert names_violating(evaluate([policy], resources), policy.name) == {TARGET}


def test_message_names_the_field() -> None:
    """azure-database-require-tls12 names the wire property and the value to set."""
    policy = databases.database_require_tls12
    [finding] = evaluate(
        [policy], [proxied(r) for r in run_program(sql_server(minimal_tls_version="1.0"))]
    )
    assert '`minimalTlsVersion` is "1.0"' in finding.message and '"1.2"' in finding.message


def test_waiver_skips_only_the_named_server() -> None:
    """azure-database-disable-public-network waived for one cache still flags the other."""
    policy = databases.database_disable_public_network

    def program() -> None:
        for name in ("legacy", "fresh"):
            redis.Redis(
                name,
                resource_group_name=RG,
                sku=redis.SkuArgs(name="Standard", family="C", capacity=1),
                public_network_access="Enabled",
            )

    waiver = {"waivers": [{"resource": "legacy", "reason": "migrating to private link by 2027-02"}]}
    assert findings_for(policy, program, waiver) == {"fresh"}


# --- SQL auditing (stack rule) ------------------------------------------------------------------
AUDIT = "azure-sql-require-auditing"


def audited(
    state: str = "Enabled", retention: int | None = None, by_name: bool = False
) -> Callable[[], object]:
    def program() -> None:
        server = sql.Server(
            TARGET, resource_group_name=RG, server_name="sql-acme", public_network_access="Disabled"
        )
        sql.ServerBlobAuditingPolicy(
            "audit",
            resource_group_name=RG,
            server_name="sql-acme" if by_name else server.name,
            blob_auditing_policy_name="default",
            state=sql.BlobAuditingPolicyState(state),
            is_azure_monitor_target_enabled=True,
            retention_days=retention,
        )

    return program


def unaudited() -> None:
    sql.Server(TARGET, resource_group_name=RG, public_network_access="Disabled")


@pytest.mark.parametrize(
    ("case", "program", "flagged"),
    [
        ("audited-by-output", audited(), set()),
        ("audited-by-literal-name", audited(by_name=True), set()),
        ("audited-forever", audited(retention=0), set()),
        ("no-auditing-policy", unaudited, {TARGET}),
        ("auditing-disabled", audited(state="Disabled"), {"audit"}),
        ("auditing-30-days", audited(retention=30), {"audit"}),
    ],
)
def test_sql_require_auditing(case: str, program: Callable[[], None], flagged: set[str]) -> None:
    """azure-sql-require-auditing: a server needs an enabled auditing policy keeping 90+ days."""
    assert findings_for(BY_NAME[AUDIT], program) == flagged, case
