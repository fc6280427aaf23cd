"""RDS rules on small real programs: a compliant instance and cluster, one change per failing
case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import rds
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/db"
GOOD_INSTANCE: dict[str, Any] = {
    "engine": "postgres",
    "instance_class": "db.t4g.micro",
    "allocated_storage": 20,
    "username": "app",
    "manage_master_user_password": True,
    "storage_encrypted": True,
    "kms_key_id": KEY,
    "publicly_accessible": False,
    "iam_database_authentication_enabled": True,
    "backup_retention_period": 7,
    "deletion_protection": True,
    "enabled_cloudwatch_logs_exports": ["postgresql", "upgrade"],
    "tags": {"environment": "prod"},
}
GOOD_CLUSTER: dict[str, Any] = {
    "engine": "aurora-postgresql",
    "master_username": "app",
    "manage_master_user_password": True,
    "storage_encrypted": True,
    "kms_key_id": KEY,
    "iam_database_authentication_enabled": True,
    "backup_retention_period": 14,
    "deletion_protection": True,
    "enabled_cloudwatch_logs_exports": ["postgresql"],
}


def instance(**change: Any) -> Program:
    args = {**GOOD_INSTANCE, **change}

    def program() -> None:
        aws.rds.Instance("db", **{k: v for k, v in args.items() if v is not None})

    return program


def cluster(member: dict[str, Any] | None = None, **change: Any) -> Program:
    args = {**GOOD_CLUSTER, **change}

    def program() -> None:
        c = aws.rds.Cluster("aurora", **{k: v for k, v in args.items() if v is not None})
        member_args: dict[str, Any] = {
            "cluster_identifier": c.id,
            "instance_class": "db.r6g.large",
            "engine": "aurora-postgresql",
            **(member or {}),
        }
        aws.rds.ClusterInstance("aurora-1", **member_args)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (cluster(), set()),
        (
            instance(replicate_source_db="db-primary", storage_encrypted=None, kms_key_id=None),
            set(),
        ),
        (instance(storage_encrypted=False, kms_key_id=None), {"db"}),
        (instance(kms_key_id=None), {"db"}),
        (cluster(storage_encrypted=None), {"aurora"}),
        (cluster(kms_key_id=None), {"aurora"}),
    ],
    ids=[
        "instance",
        "cluster",
        "replica",
        "unencrypted",
        "aws-managed-key",
        "cluster-plain",
        "cluster-aws-key",
    ],
)
def test_aws_rds_require_cmk_encryption(program: Program, flagged: set[str]) -> None:
    assert judge(rds.REQUIRE_CMK_ENCRYPTION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (cluster(), set()),
        (instance(publicly_accessible=True), {"db"}),
        (cluster(member={"publicly_accessible": True}), {"aurora-1"}),
    ],
    ids=["private", "private-cluster", "public-instance", "public-cluster-instance"],
)
def test_aws_rds_disallow_public_access(program: Program, flagged: set[str]) -> None:
    assert judge(rds.DISALLOW_PUBLIC_ACCESS, program) == flagged


def test_public_access_waiver() -> None:
    program = instance(publicly_accessible=True)
    assert judge(rds.DISALLOW_PUBLIC_ACCESS, program, waiver("db")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (cluster(), set()),
        (
            instance(
                engine="sqlserver-ex",
                iam_database_authentication_enabled=None,
                enabled_cloudwatch_logs_exports=["error"],
            ),
            set(),
        ),
        (instance(iam_database_authentication_enabled=False), {"db"}),
        (cluster(iam_database_authentication_enabled=None), {"aurora"}),
    ],
    ids=["instance", "cluster", "engine-without-iam-auth", "off", "cluster-unset"],
)
def test_aws_rds_require_iam_auth(program: Program, flagged: set[str]) -> None:
    assert judge(rds.REQUIRE_IAM_AUTH, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (cluster(), set()),
        (instance(backup_retention_period=None), {"db"}),
        (instance(backup_retention_period=1), {"db"}),
        (cluster(backup_retention_period=3), {"aurora"}),
    ],
    ids=["seven-days", "cluster", "unset", "one-day", "cluster-short"],
)
def test_aws_rds_require_backup_retention(program: Program, flagged: set[str]) -> None:
    assert judge(rds.REQUIRE_BACKUP_RETENTION, program) == flagged


def test_backup_retention_minimum_is_configurable() -> None:
    config = {"waivers": [], rds.MINIMUM_BACKUP_KEY: 30}
    assert judge(rds.REQUIRE_BACKUP_RETENTION, cluster(), config) == {"aurora"}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (cluster(), set()),
        (instance(deletion_protection=False, tags={"environment": "dev"}), set()),
        (instance(deletion_protection=False), {"db"}),
        (instance(deletion_protection=None, tags=None), {"db"}),
        (cluster(deletion_protection=False), {"aurora"}),
    ],
    ids=["instance", "cluster", "dev-tagged", "off", "unset", "cluster-off"],
)
def test_aws_rds_require_deletion_protection(program: Program, flagged: set[str]) -> None:
    assert judge(rds.REQUIRE_DELETION_PROTECTION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (cluster(), set()),
        (instance(enabled_cloudwatch_logs_exports=None), {"db"}),
        (cluster(enabled_cloudwatch_logs_exports=[]), {"aurora"}),
    ],
    ids=["instance", "cluster", "instance-none", "cluster-empty"],
)
def test_aws_rds_require_log_exports(program: Program, flagged: set[str]) -> None:
    assert judge(rds.REQUIRE_LOG_EXPORTS, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (instance(auto_minor_version_upgrade=True), set()),
        (instance(auto_minor_version_upgrade=False), {"db"}),
        (cluster(member={"auto_minor_version_upgrade": False}), {"aurora-1"}),
    ],
    ids=["default", "on", "off", "cluster-instance-off"],
)
def test_aws_rds_require_auto_minor_upgrade(program: Program, flagged: set[str]) -> None:
    assert judge(rds.REQUIRE_AUTO_MINOR_UPGRADE, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in rds.POLICIES]
    assert names == [
        "aws-rds-require-cmk-encryption",
        "aws-rds-disallow-public-access",
        "aws-rds-require-iam-auth",
        "aws-rds-require-backup-retention",
        "aws-rds-require-deletion-protection",
        "aws-rds-require-log-exports",
        "aws-rds-require-auto-minor-upgrade",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
