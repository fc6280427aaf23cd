"""The uptime check of a public endpoint: a CloudWatch Synthetics canary probing the stack's
``health_url`` and a page-tier alarm on its success (issue 10, item 5).

The canary's artifacts (screenshots, logs, HAR files of each run) go to a private, SSE-KMS,
access-logged bucket whose ``canary/`` prefix expires after the log retention; its script
(``uptime_fn/canary.py``) is uploaded under ``code/`` (kept: Synthetics re-reads it on every
canary update). The canary runs as its own role holding :data:`ROLE_ACTIONS` only, with the
stack's permissions boundary like every stack role.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import Comparison, Tier
from components.aws import monitoring, security
from components.spec import DeploymentSpec

UPTIME_KEY = "uptime"
SCRIPT = Path(__file__).resolve().parent / "uptime_fn" / "canary.py"
# Synthetics' Python runtime (Python 3.12) per the CloudWatch user guide's "Runtime versions
# using Python and Selenium Webdriver" (newest listed: syn-python-selenium-14.0). The script
# uses the standard library only, so a runtime upgrade is a one-line change here.
RUNTIME_VERSION = "syn-python-selenium-14.0"
# The Python runtime loads python/<module>.py from the code archive; the handler ends ".handler".
HANDLER = "canary.handler"
CODE_PATH = "python/canary.py"
# Every environment probes every 5 minutes (parity; a run costs USD 0.0012, so about USD 10.5
# a month per stack against about USD 53 at one minute). The spec has no field for a per
# environment frequency yet (asked of the lead); until then this is one constant.
SCHEDULE_MINUTES = 5
# The alarm pages after this many failed runs in a row: one failed run may be a network blip,
# two (10 minutes) is an outage. Any failed run in a period makes SuccessPercent < 100.
UPTIME_THRESHOLD = 100.0
UPTIME_EVALUATION_PERIODS = 2
# A canary that stops running publishes nothing: that is an outage of the check, so breaching.
UPTIME_MISSING_DATA = "breaching"
# A probe waits this long at most (the script's own timeout is 10 s).
CANARY_TIMEOUT_SECONDS = 60
# Synthetics names the canary's Lambda function `cwsyn-<canary>-<36-char uuid>`, and Lambda
# caps names at 64 characters: the canary name must stay within 21.
CANARY_NAME_MAX = 21
ARTIFACT_PREFIX = "canary/"
CODE_PREFIX = "code/"
SYNTHETICS_NAMESPACE = "CloudWatchSynthetics"

# What the canary's role holds: artifact writes, its Lambda's logs, its metrics, the key.
ROLE_ACTIONS: tuple[str, ...] = (
    "s3:PutObject",
    "s3:GetBucketLocation",
    "s3:ListAllMyBuckets",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "cloudwatch:PutMetricData",
    "kms:Decrypt",
    "kms:GenerateDataKey",
)


def canary_name(spec: DeploymentSpec) -> str:
    """``<project>-<env>-up`` when it fits in 21 characters, else a cut with a stable hash."""
    full = f"{spec.project}-{spec.environment.value}-up"
    if len(full) <= CANARY_NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[: CANARY_NAME_MAX - len(digest) - 1].rstrip('-_')}-{digest}"


def schedule_expression(minutes: int = SCHEDULE_MINUTES) -> str:
    """Synthetics' rate expression (``rate(1 minute)`` is singular)."""
    return f"rate({minutes} minute{'s' if minutes != 1 else ''})"


def alarm_def() -> monitoring.AlarmDef:
    """The page-tier alarm on the canary's SuccessPercent (not a rollback alarm)."""
    period = SCHEDULE_MINUTES * 60
    return monitoring.AlarmDef(
        key=UPTIME_KEY,
        metric=monitoring.SignalMetric(
            (monitoring.Metric(SYNTHETICS_NAMESPACE, "SuccessPercent", "Average", "uptime"),)
        ),
        threshold=UPTIME_THRESHOLD,
        comparison=Comparison.BELOW,
        tier=Tier.PAGE,
        period_seconds=period,
        evaluation_periods=UPTIME_EVALUATION_PERIODS,
        description=(
            f"health_url probe success below {UPTIME_THRESHOLD:g}% for "
            f"{UPTIME_EVALUATION_PERIODS} x {period}s (the endpoint is down for its consumers)"
        ),
        missing_data=UPTIME_MISSING_DATA,
    )


@dataclass(frozen=True)
class UptimeCheck:
    """The canary, its alarm and its artifact bucket."""

    canary: aws.synthetics.Canary
    alarm: aws.cloudwatch.MetricAlarm
    bucket: aws.s3.Bucket


def create_uptime_check(
    name: str,
    spec: DeploymentSpec,
    *,
    key: aws.kms.Key,
    health_url: pulumi.Input[str],
    topics: Mapping[Tier, aws.sns.Topic],
    opts: pulumi.ResourceOptions,
) -> UptimeCheck:
    """A canary GETting ``health_url`` every SCHEDULE_MINUTES, and its page-tier alarm.

    ``key`` must list security.S3_LOGGING_KEY_USER (the artifact bucket's access logs).
    """
    o = opts
    logs = security.create_access_log_bucket(f"{name}-access-logs", spec, key, o)
    artifacts = security.create_private_bucket(
        f"{name}-uptime",
        spec,
        key,
        o,
        access_log_bucket=logs.bucket,
        expire_days=spec.retention.log_days,
        expire_prefix=ARTIFACT_PREFIX,
    )
    bucket = artifacts.bucket
    code = aws.s3.BucketObjectv2(
        f"{name}-uptime-code",
        bucket=bucket.id,
        key=f"{CODE_PREFIX}canary.zip",
        source=pulumi.AssetArchive({CODE_PATH: pulumi.FileAsset(str(SCRIPT))}),
        server_side_encryption="aws:kms",
        kms_key_id=key.arn,
        # With SSE-KMS the ETag is no digest of the content: the hash makes a new script upload.
        source_hash=hashlib.sha256(SCRIPT.read_bytes()).hexdigest(),
        tags=spec.standard_tags(),
        opts=pulumi.ResourceOptions.merge(
            o, pulumi.ResourceOptions(depends_on=list(artifacts.children))
        ),
    )
    name_ = canary_name(spec)
    account = security.account_id()
    role = security.create_role(
        f"{name}-uptime-role",
        spec,
        "lambda.amazonaws.com",
        [
            security.statement(
                ["s3:PutObject"], [bucket.arn.apply(lambda a: f"{a}/{ARTIFACT_PREFIX}*")]
            ),
            security.statement(["s3:GetBucketLocation"], [bucket.arn]),
            # Synthetics' documented canary permissions: it lists buckets before uploading.
            security.statement(["s3:ListAllMyBuckets"], ["*"]),
            # Synthetics creates the canary's function and its log group itself (the uuid in
            # the name is unknown in advance), so the group cannot be created encrypted here.
            security.statement(
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                [
                    account.apply(
                        lambda a: (
                            f"arn:aws:logs:{spec.region}:{a}:log-group:/aws/lambda/cwsyn-{name_}-*"
                        )
                    )
                ],
            ),
            # PutMetricData has no resource-level permissions; the namespace is the fence.
            security.statement(
                ["cloudwatch:PutMetricData"],
                ["*"],
                condition={"StringEquals": {"cloudwatch:namespace": SYNTHETICS_NAMESPACE}},
            ),
            # SSE-KMS artifacts and the run configuration's encrypted environment.
            security.key_use_statement(
                ["kms:Decrypt", "kms:GenerateDataKey"], key.arn, spec.region, "s3", "lambda"
            ),
        ],
        o,
        description="Uptime canary: writes its artifacts, logs and metrics only",
    )
    canary = aws.synthetics.Canary(
        f"{name}-uptime",
        name=name_,
        artifact_s3_location=bucket.id.apply(lambda b: f"s3://{b}/{ARTIFACT_PREFIX.rstrip('/')}"),
        artifact_config=aws.synthetics.CanaryArtifactConfigArgs(
            s3_encryption=aws.synthetics.CanaryArtifactConfigS3EncryptionArgs(
                encryption_mode="SSE_KMS", kms_key_arn=key.arn
            )
        ),
        execution_role_arn=role.arn,
        handler=HANDLER,
        runtime_version=RUNTIME_VERSION,
        s3_bucket=bucket.id,
        s3_key=code.key,
        s3_version=code.version_id,
        schedule=aws.synthetics.CanaryScheduleArgs(expression=schedule_expression()),
        run_config=aws.synthetics.CanaryRunConfigArgs(
            timeout_in_seconds=CANARY_TIMEOUT_SECONDS,
            environment_variables={"HEALTH_URL": health_url},
        ),
        kms_key_arn=key.arn,
        start_canary=True,
        delete_lambda=True,
        success_retention_period=spec.retention.log_days,
        failure_retention_period=spec.retention.log_days,
        tags=spec.standard_tags(),
        opts=o,
    )
    alarms = monitoring.create_alarms(
        name, spec, [alarm_def()], {"uptime": {"CanaryName": canary.name}}, topics, o
    )
    return UptimeCheck(canary, alarms[UPTIME_KEY], bucket)
