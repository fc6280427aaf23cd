"""GCP logging rules (32, review C6): log retention, SSL policies, and the _Default exclusion of
logs a stack routes into a CMEK bucket. The audit-log stack rule is in test_gcp_stack_rules.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components.registry import is_available
from components.spec import Cloud, Environment, Pattern
from policies.rules.gcp import logging
from tests.conftest import make_spec, run_component
from tests.policies.harness import evaluate, names_violating, run_program
from tests.policies.test_gcp_common import KEY, TARGET, Program, judge, waiver

RETENTION = logging.logging_require_retention
SSL = logging.ssl_policy_require_tls12
EXCLUSION = logging.logging_require_default_sink_exclusion
FILTER = 'resource.type="cloud_run_revision" AND resource.labels.service_name="api"'


def log_bucket(retention: int | None = 90) -> Program:
    return lambda: gcp.logging.ProjectBucketConfig(
        TARGET, project="acme", location="global", bucket_id="_Default", retention_days=retention
    )


def ssl_policy(**over: Any) -> Program:
    args: dict[str, Any] = {"min_tls_version": "TLS_1_2", "profile": "MODERN"}
    return lambda: gcp.compute.SSLPolicy(TARGET, **{**args, **over})


CASES: dict[str, tuple[Any, Program, bool]] = {
    "gcp-logging-require-retention:retention-ok": (RETENTION, log_bucket(), False),
    "gcp-logging-require-retention:retention-unset": (RETENTION, log_bucket(None), False),
    "gcp-logging-require-retention:retention-short": (RETENTION, log_bucket(7), True),
    "gcp-ssl-policy-require-tls12:ssl-ok": (SSL, ssl_policy(), False),
    "gcp-ssl-policy-require-tls12:ssl-tls10": (SSL, ssl_policy(min_tls_version="TLS_1_0"), True),
    "gcp-ssl-policy-require-tls12:ssl-compatible": (SSL, ssl_policy(profile="COMPATIBLE"), True),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_logging_resource_rules(policy: Any, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_retention_minimum_comes_from_pack_config() -> None:
    """gcp-logging-require-retention: a 365-day minimum (prod) flags a 90-day log bucket."""
    assert judge(RETENTION, log_bucket(), {"minimumRetentionDays": 365}) == {TARGET}
    assert judge(RETENTION, log_bucket(None), {"minimumRetentionDays": 31}) == {TARGET}


# -- C6: logs routed into a CMEK bucket are excluded from _Default ------------------------------
def routed_stack(
    *,
    exclusion: str | None = "resource",
    excluded_filter: str = FILTER,
    cmek: bool = True,
    default_bucket_cmek: bool = False,
) -> Program:
    """A CMEK log bucket, a sink (the target) routing FILTER into it, and the _Default side:
    ``exclusion`` = "resource" (ProjectExclusion), "default-sink" (the _Default sink managed
    with an exclusion), "disabled" (an exclusion switched off), "default-sink-off" (the
    _Default sink disabled) or None."""

    def program() -> None:
        bucket = gcp.logging.ProjectBucketConfig(
            "stack-logs",
            project="acme",
            location="europe-west1",
            bucket_id="stack-logs",
            retention_days=90,
            cmek_settings=(
                gcp.logging.ProjectBucketConfigCmekSettingsArgs(kms_key_name=KEY) if cmek else None
            ),
        )
        gcp.logging.ProjectSink(
            TARGET,
            name="stack-sink",
            destination=pulumi.Output.concat("logging.googleapis.com/", bucket.id),
            filter=FILTER,
            unique_writer_identity=True,
        )
        if default_bucket_cmek:
            gcp.logging.ProjectBucketConfig(
                "default-bucket",
                project="acme",
                location="global",
                bucket_id="_Default",
                cmek_settings=gcp.logging.ProjectBucketConfigCmekSettingsArgs(kms_key_name=KEY),
            )
        if exclusion in ("resource", "disabled"):
            gcp.logging.ProjectExclusion(
                "default-exclusion",
                name="stack-routed-logs",
                filter=excluded_filter,
                disabled=exclusion == "disabled",
            )
        elif exclusion in ("default-sink", "default-sink-off"):
            gcp.logging.ProjectSink(
                "default-sink",
                name="_Default",
                destination="logging.googleapis.com/projects/acme/locations/global/buckets/_Default",
                disabled=exclusion == "default-sink-off",
                exclusions=[
                    gcp.logging.ProjectSinkExclusionArgs(name="stack", filter=excluded_filter)
                ],
            )

    return program


SINK_CASES: dict[str, tuple[Program, bool]] = {
    "exclusion-ok": (routed_stack(), False),
    "no-exclusion": (routed_stack(exclusion=None), True),
    "exclusion-of-another-filter": (routed_stack(excluded_filter='severity="DEBUG"'), True),
    "exclusion-narrowed-ok": (
        routed_stack(excluded_filter=f"({FILTER}) AND NOT jsonPayload.marker:*"),
        False,
    ),
    "exclusion-of-part-of-the-filter": (
        routed_stack(excluded_filter=f"{FILTER} AND severity>=ERROR"),
        True,
    ),
    "exclusion-disabled": (routed_stack(exclusion="disabled"), True),
    "default-sink-with-exclusion-ok": (routed_stack(exclusion="default-sink"), False),
    "default-sink-disabled-ok": (
        routed_stack(exclusion="default-sink-off", excluded_filter="x"),
        False,
    ),
    "default-bucket-cmek-ok": (routed_stack(exclusion=None, default_bucket_cmek=True), False),
    "bucket-without-cmek-ok": (routed_stack(exclusion=None, cmek=False), False),
}


@pytest.mark.parametrize(
    ("program", "violates"),
    SINK_CASES.values(),
    ids=[f"gcp-logging-require-default-sink-exclusion:{k}" for k in SINK_CASES],
)
def test_default_sink_exclusion(program: Program, violates: bool) -> None:
    assert judge(EXCLUSION, program) == ({TARGET} if violates else set())


def test_default_sink_exclusion_message() -> None:
    """The finding names the sink, the CMEK bucket and what is missing."""
    resources = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))
        for r in run_program(routed_stack(exclusion=None))
    ]
    [finding] = evaluate([EXCLUSION], resources)
    assert "'stack-logs'" in finding.message and "_Default" in finding.message
    assert "not encrypted with a customer-managed key" in finding.message


def test_default_sink_exclusion_waiver() -> None:
    """A waived sink (e.g. the project's _Default bucket is CMEK by org policy) is skipped."""
    assert judge(EXCLUSION, routed_stack(exclusion=None), waiver(TARGET)) == set()


def test_preview_unknown_filters_do_not_abort_or_fail() -> None:
    """In a preview the sink's or the exclusion's filter may be computed (unknown): the rule
    neither raises nor reports a sink whose filter it cannot read yet."""
    for unknown in (TARGET, "default-exclusion"):
        captured = []
        for r in run_program(routed_stack()):
            inputs = dict(r.inputs)
            if r.name == unknown:
                inputs["filter"] = UNKNOWN_STRING_VALUE
            captured.append(replace(r, inputs=unknown_checking_proxy(inputs)))
        assert names_violating(evaluate([EXCLUSION], captured), EXCLUSION.name) == set()


@pytest.mark.parametrize("pattern", [p for p in Pattern if is_available(Cloud.GCP, p)])
def test_each_gcp_pattern_excludes_its_routed_logs_from_default(pattern: Pattern) -> None:
    """Every GCP pattern's stack passes because of its exclusion (review C6): without it, the
    sink into the CMEK bucket is reported."""
    spec = make_spec(Cloud.GCP, pattern, Environment.PROD)
    resources = run_component(spec).resources
    assert names_violating(evaluate([EXCLUSION], resources), EXCLUSION.name) == set()
    without = [r for r in resources if r.type != "gcp:logging/projectExclusion:ProjectExclusion"]
    assert names_violating(evaluate([EXCLUSION], without), EXCLUSION.name) == {
        f"{spec.project}-log-sink"
    }
