"""Managed relational databases: RDS DB instances, Aurora / Multi-AZ DB clusters and cluster
instances.

Mandatory: storage encrypted with a customer-managed KMS key; never publicly accessible.
Advisory (mandatory in staging / prod through the pack's levels): IAM database authentication,
automated backups kept at least 7 days, deletion protection on prod-like databases, engine logs
exported to CloudWatch Logs, automatic minor version upgrades left on.

A read replica (``replicate_source_db``) inherits encryption and backups from its source, which
is judged itself; it is exempt from those two checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_false, is_true, items, mapping, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"

# Engines that support IAM database authentication (MySQL, MariaDB, PostgreSQL, Aurora).
IAM_AUTH_ENGINE_PREFIXES = ("mysql", "mariadb", "postgres", "aurora")
DEFAULT_MINIMUM_BACKUP_DAYS = 7
MINIMUM_BACKUP_KEY = "minimumBackupRetentionDays"
# Values of an ``environment`` / ``env`` tag that mark a disposable, non-prod-like resource.
NON_PROD_ENVIRONMENTS = frozenset(
    {"dev", "development", "test", "testing", "sandbox", "ephemeral", "preview"}
)


def _kind(args: ResourceValidationArgs) -> str:
    return "RDS cluster" if args.resource_type == CLUSTER else "RDS DB instance"


def _replica(props: Any) -> bool:
    return present(get(props, "replicateSourceDb")) or present(
        get(props, "replicationSourceIdentifier")
    )


def prod_like(props: Any) -> bool:
    """False when the resource's ``environment`` (or ``env``) tag names a disposable
    environment (dev, test, sandbox, ...): deletion protection is for prod-like resources."""
    tags: Mapping[str, Any] = mapping(get(props, "tags"))
    return not any(
        str(key).lower() in ("environment", "env")
        and isinstance(value, str)
        and value.strip().lower() in NON_PROD_ENVIRONMENTS
        for key, value in tags.items()
    )


# ---------------------------------------------------------------------------- encryption
def _check_encryption(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if _replica(props):
        return
    kind = _kind(args)
    # Aurora Serverless v1 clusters are always encrypted; the flag then reads unset.
    serverless_v1 = args.resource_type == CLUSTER and get(props, "engineMode") == "serverless"
    if not is_true(get(props, "storageEncrypted")) and not serverless_v1:
        yield f"{kind} storage is not encrypted at rest (storage_encrypted is not true)."
        return
    if not present(get(props, "kmsKeyId")):
        yield (
            f"{kind} storage is not encrypted with a customer-managed key (kms_key_id unset: "
            "the AWS-managed aws/rds key is used)."
        )


REQUIRE_CMK_ENCRYPTION = resource_rule(
    "aws-rds-require-cmk-encryption",
    "RDS DB instances and clusters must encrypt storage at rest with a customer-managed KMS key.",
    types=[INSTANCE, CLUSTER],
    check=_check_encryption,
    severity=Severity.HIGH,
    tags=["rds", "encryption", "key-management"],
    remediation=(
        "Set storage_encrypted=True and kms_key_id=<customer-managed key ARN> (encryption cannot "
        "be turned on in place: restore an encrypted snapshot copy into a new database)."
    ),
    references=[
        checkov("CKV_AWS_16"),
        checkov("CKV_AWS_96"),
        checkov("CKV_AWS_327"),
        fsbp("RDS.3"),
        fsbp("RDS.27"),
    ],
    since=2,
)


# ---------------------------------------------------------------------------- public access
def _check_public(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "publiclyAccessible")):
        kind = "RDS cluster instance" if args.resource_type == CLUSTER_INSTANCE else _kind(args)
        yield (
            f"{kind} is reachable from the internet (publicly_accessible is true): it gets a "
            "public DNS name and IP address."
        )


DISALLOW_PUBLIC_ACCESS = resource_rule(
    "aws-rds-disallow-public-access",
    "RDS DB instances, cluster instances and Multi-AZ DB clusters must not be publicly accessible.",
    types=[INSTANCE, CLUSTER, CLUSTER_INSTANCE],
    check=_check_public,
    severity=Severity.CRITICAL,
    tags=["rds", "network-exposure", "public-access"],
    remediation=(
        "Set publicly_accessible=False, place the database in private subnets "
        "(db_subnet_group_name) and reach it through the VPC, a VPN or an SSM port forward."
    ),
    references=[checkov("CKV_AWS_17"), fsbp("RDS.2")],
    since=2,
)


# ---------------------------------------------------------------------------- IAM auth
def _check_iam_auth(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    engine = get(props, "engine")
    engine = engine.lower() if isinstance(engine, str) else "aurora"  # cluster default
    if not engine.startswith(IAM_AUTH_ENGINE_PREFIXES):
        return  # Oracle, SQL Server, Db2: no IAM database authentication
    if not is_true(get(props, "iamDatabaseAuthenticationEnabled")):
        yield (
            f"{_kind(args)} does not accept IAM authentication "
            "(iam_database_authentication_enabled is not true): only long-lived database "
            "passwords authenticate users."
        )


# Advisory: a master password managed and rotated by Secrets Manager is a legitimate design;
# IAM authentication removes long-lived application passwords where the engine supports it.
REQUIRE_IAM_AUTH = resource_rule(
    "aws-rds-require-iam-auth",
    "RDS DB instances and clusters whose engine supports it should enable IAM database "
    "authentication.",
    types=[INSTANCE, CLUSTER],
    check=_check_iam_auth,
    severity=Severity.MEDIUM,
    tags=["rds", "authentication"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set iam_database_authentication_enabled=True, grant rds-db:connect on the database "
        "user to the workload role, and connect with a token from generate-db-auth-token."
    ),
    references=[
        checkov("CKV_AWS_161"),
        checkov("CKV_AWS_162"),
        fsbp("RDS.10"),
        fsbp("RDS.12"),
    ],
    since=2,
)


# ---------------------------------------------------------------------------- backups
def _minimum_backup_days(args: ResourceValidationArgs) -> int:
    value = (args.get_config() or {}).get(MINIMUM_BACKUP_KEY)
    if isinstance(value, (int, float)) and 1 <= value <= 35:
        return int(value)
    return DEFAULT_MINIMUM_BACKUP_DAYS


def _check_backups(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if _replica(props):
        return
    minimum = _minimum_backup_days(args)
    days = get(props, "backupRetentionPeriod")
    if days is None:
        yield (
            f"{_kind(args)} keeps automated backups fewer than {minimum} days "
            "(backup_retention_period unset: the default is 1 day)."
        )
    elif isinstance(days, (int, float)) and days < minimum:
        yield (
            f"{_kind(args)} keeps automated backups {days:g} days "
            f"(backup_retention_period); the minimum is {minimum}."
        )


REQUIRE_BACKUP_RETENTION = resource_rule(
    "aws-rds-require-backup-retention",
    "RDS DB instances and clusters should keep automated backups at least the configured "
    f"number of days (config '{MINIMUM_BACKUP_KEY}', default {DEFAULT_MINIMUM_BACKUP_DAYS}).",
    types=[INSTANCE, CLUSTER],
    check=_check_backups,
    severity=Severity.MEDIUM,
    tags=["rds", "retention", "resilience"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    config_properties={
        MINIMUM_BACKUP_KEY: {
            "type": "integer",
            "minimum": 1,
            "maximum": 35,
            "default": DEFAULT_MINIMUM_BACKUP_DAYS,
        }
    },
    remediation=(
        f"Set backup_retention_period to {DEFAULT_MINIMUM_BACKUP_DAYS} or more (up to 35) and a "
        "preferred backup window; use AWS Backup for longer retention."
    ),
    references=[checkov("CKV_AWS_133"), fsbp("RDS.11")],
    since=2,
)


# ---------------------------------------------------------------------------- deletion
def _check_deletion_protection(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if not prod_like(props):
        return
    if not is_true(get(props, "deletionProtection")):
        yield (
            f"{_kind(args)} can be deleted by any update or destroy "
            "(deletion_protection is not true)."
        )


REQUIRE_DELETION_PROTECTION = resource_rule(
    "aws-rds-require-deletion-protection",
    "RDS DB instances and clusters should have deletion protection on, except those tagged "
    "as a disposable environment (environment/env tag dev, test, sandbox, ...).",
    types=[INSTANCE, CLUSTER],
    check=_check_deletion_protection,
    severity=Severity.MEDIUM,
    tags=["rds", "resilience"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set deletion_protection=True (and skip_final_snapshot=False with a "
        "final_snapshot_identifier); turn it off deliberately before a planned removal."
    ),
    references=[
        checkov("CKV_AWS_293"),
        checkov("CKV_AWS_139"),
        fsbp("RDS.8"),
        fsbp("RDS.7"),
    ],
    since=2,
)


# ---------------------------------------------------------------------------- logs
def _check_log_exports(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    exports = [e for e in items(get(props, "enabledCloudwatchLogsExports")) if present(e)]
    if not exports:
        yield (
            f"{_kind(args)} exports no engine logs to CloudWatch Logs "
            "(enabled_cloudwatch_logs_exports is empty): no audit or error log survives it."
        )


REQUIRE_LOG_EXPORTS = resource_rule(
    "aws-rds-require-log-exports",
    "RDS DB instances and clusters should export their engine logs (audit, error, postgresql, "
    "...) to CloudWatch Logs.",
    types=[INSTANCE, CLUSTER],
    check=_check_log_exports,
    severity=Severity.MEDIUM,
    tags=["rds", "logging-audit"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Set enabled_cloudwatch_logs_exports, e.g. ['postgresql'] for PostgreSQL, "
        "['audit', 'error', 'slowquery'] for MySQL / MariaDB (audit needs the audit plugin "
        "option or Aurora's server_audit_logging parameter)."
    ),
    references=[checkov("CKV_AWS_129"), checkov("CKV_AWS_324"), fsbp("RDS.9")],
    since=2,
)


# ---------------------------------------------------------------------------- minor upgrades
def _check_minor_upgrade(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(get(props, "autoMinorVersionUpgrade")):
        kind = "RDS cluster instance" if args.resource_type == CLUSTER_INSTANCE else _kind(args)
        yield (
            f"{kind} does not take minor engine upgrades automatically "
            "(auto_minor_version_upgrade is false): security patches wait for a manual upgrade."
        )


REQUIRE_AUTO_MINOR_UPGRADE = resource_rule(
    "aws-rds-require-auto-minor-upgrade",
    "RDS DB instances, cluster instances and clusters should keep automatic minor version "
    "upgrades on (the default).",
    types=[INSTANCE, CLUSTER, CLUSTER_INSTANCE],
    check=_check_minor_upgrade,
    severity=Severity.LOW,
    tags=["rds", "supply-chain"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Remove auto_minor_version_upgrade=False (it defaults to true) and set a "
        "maintenance window the service can upgrade in."
    ),
    references=[checkov("CKV_AWS_226"), fsbp("RDS.13")],
    since=2,
)

POLICIES = [
    REQUIRE_CMK_ENCRYPTION,
    DISALLOW_PUBLIC_ACCESS,
    REQUIRE_IAM_AUTH,
    REQUIRE_BACKUP_RETENTION,
    REQUIRE_DELETION_PROTECTION,
    REQUIRE_LOG_EXPORTS,
    REQUIRE_AUTO_MINOR_UPGRADE,
]
