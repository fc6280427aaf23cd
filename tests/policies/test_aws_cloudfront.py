"""CloudFront rules on small real programs: a compliant distribution, one change per failing
case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import cloudfront
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

cf = aws.cloudfront
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/c"
METHODS = ["GET", "HEAD"]


def distribution(
    *,
    viewer: str = "redirect-to-https",
    ordered: str | None = None,
    origin_policy: str = "https-only",
    origin_tls: tuple[str, ...] = ("TLSv1.2",),
    certificate: Any = None,
    logs: str | None = "logs.s3.amazonaws.com",
    log_source: bool = False,
    waf: str | None = "arn:aws:wafv2:us-east-1:1:global/webacl/edge/1",
) -> Program:
    def program() -> None:
        d = cf.Distribution(
            "edge",
            enabled=True,
            origins=[
                cf.DistributionOriginArgs(
                    origin_id="api",
                    domain_name="api.example.com",
                    custom_origin_config=cf.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy=origin_policy,
                        origin_ssl_protocols=list(origin_tls),
                    ),
                )
            ],
            default_cache_behavior=cf.DistributionDefaultCacheBehaviorArgs(
                allowed_methods=METHODS,
                cached_methods=METHODS,
                target_origin_id="api",
                viewer_protocol_policy=viewer,
            ),
            ordered_cache_behaviors=(
                [
                    cf.DistributionOrderedCacheBehaviorArgs(
                        path_pattern="/static/*",
                        allowed_methods=METHODS,
                        cached_methods=METHODS,
                        target_origin_id="api",
                        viewer_protocol_policy=ordered,
                    )
                ]
                if ordered
                else None
            ),
            restrictions=cf.DistributionRestrictionsArgs(
                geo_restriction=cf.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=certificate
            or cf.DistributionViewerCertificateArgs(
                acm_certificate_arn=CERT,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            ),
            logging_config=cf.DistributionLoggingConfigArgs(bucket=logs) if logs else None,
            web_acl_id=waf,
        )
        if log_source:
            aws.cloudwatch.LogDeliverySource(
                "edge-logs", log_type="ACCESS_LOGS", resource_arn=d.arn
            )

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (distribution(), set()),
        (distribution(viewer="https-only", ordered="redirect-to-https"), set()),
        (distribution(viewer="allow-all"), {"edge"}),
        (distribution(ordered="allow-all"), {"edge"}),
        (distribution(origin_policy="http-only"), {"edge"}),
    ],
    ids=["redirect", "https-only", "viewer-http", "ordered-http", "origin-http"],
)
def test_aws_cloudfront_require_https(program: Program, flagged: set[str]) -> None:
    assert judge(cloudfront.REQUIRE_HTTPS, program) == flagged


def test_https_waiver() -> None:
    program = distribution(viewer="allow-all")
    assert judge(cloudfront.REQUIRE_HTTPS, program, waiver("edge")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (distribution(), set()),
        (
            distribution(
                certificate=cf.DistributionViewerCertificateArgs(
                    cloudfront_default_certificate=True
                )
            ),
            {"edge"},
        ),
        (
            distribution(
                certificate=cf.DistributionViewerCertificateArgs(
                    acm_certificate_arn=CERT,
                    ssl_support_method="sni-only",
                    minimum_protocol_version="TLSv1_2016",
                )
            ),
            {"edge"},
        ),
        (distribution(origin_tls=("TLSv1", "TLSv1.2")), {"edge"}),
    ],
    ids=["tls12", "default-certificate", "tls10-policy", "origin-tls10"],
)
def test_aws_cloudfront_require_tls12(program: Program, flagged: set[str]) -> None:
    assert judge(cloudfront.REQUIRE_TLS12, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (distribution(), set()),
        (distribution(logs=None, log_source=True), set()),
        (distribution(logs=None), {"edge"}),
    ],
    ids=["legacy-logging", "log-delivery", "none"],
)
def test_aws_cloudfront_require_logging(program: Program, flagged: set[str]) -> None:
    assert judge(cloudfront.REQUIRE_LOGGING, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(distribution(), set()), (distribution(waf=None), {"edge"})],
    ids=["waf", "no-waf"],
)
def test_aws_cloudfront_require_waf(program: Program, flagged: set[str]) -> None:
    assert judge(cloudfront.REQUIRE_WAF, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in cloudfront.POLICIES]
    assert names == [
        "aws-cloudfront-require-https",
        "aws-cloudfront-require-tls12",
        "aws-cloudfront-require-logging",
        "aws-cloudfront-require-waf",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
