"""A small fake Pulumi project for the parity and promote tests.

Its program reads the same kind of stack config a generated project holds (model, capacity,
retention) and declares real pulumi_aws resources. Per-stack program drift (a hand edit that
skips encryption or an alarm in one environment) is injected by rewriting the two sets at the
top of ``__main__.py``, exactly like a careless edit would.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

PROJECT = "fake"

MAIN = textwrap.dedent(
    """
    import pulumi
    import pulumi_aws as aws

    PLAIN_STACKS: set[str] = set()
    NO_LATENCY_ALARM_STACKS: set[str] = set()

    config = pulumi.Config()
    stack = pulumi.get_stack()
    model = config.require_object("model")
    capacity = config.require_object("capacity")
    retention = config.require_object("retention")

    key = aws.kms.Key("fake-key", enable_key_rotation=True, deletion_window_in_days=7)
    bucket = aws.s3.Bucket("fake-data", bucket=f"fake-{stack}-data")
    if stack not in PLAIN_STACKS:
        aws.s3.BucketServerSideEncryptionConfiguration(
            "fake-data-sse",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    )
                )
            ],
        )
    aws.s3.BucketPublicAccessBlock(
        "fake-data-public",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )
    aws.cloudwatch.LogGroup(
        "fake-logs", retention_in_days=retention["log_days"], kms_key_id=key.arn
    )
    role = aws.iam.Role("fake-role", assume_role_policy="{}")
    aws.sagemaker.Model(
        "fake-model",
        execution_role_arn=role.arn,
        primary_container=aws.sagemaker.ModelPrimaryContainerArgs(image=model["image"]),
        tags={"model-version": model["version"], "environment": stack},
    )
    aws.appautoscaling.Target(
        "fake-scaling",
        min_capacity=capacity["min_instances"],
        max_capacity=capacity["max_instances"],
        resource_id=f"endpoint/fake-{stack}/variant/main",
        scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        service_namespace="sagemaker",
    )
    # paging exists only where alerts.page_on_critical (a declared difference) asks for it
    if config.get_object("alerts", {}).get("page_on_critical"):
        aws.sns.Topic("fake-pager", kms_master_key_id=key.id)
    alarms = ["errors", "latency"]
    if stack in NO_LATENCY_ALARM_STACKS:
        alarms.remove("latency")
    for alarm in alarms:
        aws.cloudwatch.MetricAlarm(
            f"fake-{alarm}",
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=3,
            metric_name=alarm,
            namespace="fake",
            period=60,
            statistic="Average",
            threshold=1,
        )
    pulumi.export("bucket", bucket.bucket)
    """
)

CAPACITY = {
    "dev": {"min_instances": 1, "max_instances": 2},
    "staging": {"min_instances": 1, "max_instances": 4},
    "prod": {"min_instances": 2, "max_instances": 10},
}
RETENTION = {"dev": 30, "staging": 90, "prod": 365}


def stack_config(stack: str, *, version: str = "1.0.0") -> dict[str, Any]:
    """The config of one fake stack: same model everywhere, sized per environment."""
    return {
        "aws:region": "eu-west-1",
        f"{PROJECT}:environment": stack,
        f"{PROJECT}:model": {
            "name": "model",
            "version": version,
            "image": f"ghcr.io/acme/model:{version}",
        },
        f"{PROJECT}:capacity": CAPACITY[stack],
        f"{PROJECT}:retention": {"log_days": RETENTION[stack], "deletion_protection": True},
        f"{PROJECT}:rollout": {"strategy": "canary", "bake_minutes": 10, "canary_percent": 10},
        f"{PROJECT}:alerts": {"emails": ["ops@acme.example"], "page_on_critical": stack == "prod"},
    }


def write_stack(root: Path, stack: str, config: dict[str, Any]) -> Path:
    """Write ``stacks/Pulumi.<stack>.yaml`` with a comment header like the generator's."""
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_text(
        f"# Stack {stack} of {PROJECT}.\n# Keep in step with the other environments.\n"
        + yaml.safe_dump({"config": config}, sort_keys=False)
    )
    return path


def make_project(root: Path) -> Path:
    """Create the fake project with dev, staging and prod stacks at parity."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stacks").mkdir()
    (root / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": PROJECT, "runtime": "python", "stackConfigDir": "stacks"})
    )
    (root / "__main__.py").write_text(MAIN)
    for stack in ("dev", "staging", "prod"):
        write_stack(root, stack, stack_config(stack))
    return root


def inject(root: Path, variable: str, stacks: set[str]) -> None:
    """Make the program skip something in ``stacks`` (a per-environment hand edit)."""
    main = root / "__main__.py"
    old = f"{variable}: set[str] = set()"
    assert old in main.read_text()
    main.write_text(main.read_text().replace(old, f"{variable}: set[str] = {stacks!r}"))
