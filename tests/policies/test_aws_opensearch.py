"""OpenSearch rules on small real programs: a compliant domain, one change per failing case."""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import opensearch
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/search"
LOGS = "arn:aws:logs:eu-west-1:123456789012:log-group:/search"
os_ = aws.opensearch


def log(kind: str, **extra: Any) -> Any:
    return os_.DomainLogPublishingOptionArgs(
        log_type=kind, cloudwatch_log_group_arn=f"{LOGS}-{kind}", **extra
    )


def domain(**change: Any) -> Program:
    args: dict[str, Any] = {
        "domain_name": "vectors",
        "engine_version": "OpenSearch_2.13",
        "encrypt_at_rest": os_.DomainEncryptAtRestArgs(enabled=True, kms_key_id=KEY),
        "node_to_node_encryption": os_.DomainNodeToNodeEncryptionArgs(enabled=True),
        "domain_endpoint_options": os_.DomainDomainEndpointOptionsArgs(
            enforce_https=True, tls_security_policy="Policy-Min-TLS-1-2-PFS-2023-10"
        ),
        "vpc_options": os_.DomainVpcOptionsArgs(subnet_ids=["subnet-1"]),
        "log_publishing_options": [log("ES_APPLICATION_LOGS"), log("AUDIT_LOGS")],
        **change,
    }
    return lambda: os_.Domain("vectors", **{k: v for k, v in args.items() if v is not None})


FGAC = os_.DomainAdvancedSecurityOptionsArgs(
    enabled=True,
    master_user_options=os_.DomainAdvancedSecurityOptionsMasterUserOptionsArgs(
        master_user_arn="arn:aws:iam::123456789012:role/search-admin"
    ),
)


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(encrypt_at_rest=None), {"vectors"}),
        (domain(encrypt_at_rest=os_.DomainEncryptAtRestArgs(enabled=True)), {"vectors"}),
    ],
    ids=["cmk", "unencrypted", "aws-managed-key"],
)
def test_aws_opensearch_domain_require_cmk_encryption(program: Program, flagged: set[str]) -> None:
    assert judge(opensearch.REQUIRE_CMK_ENCRYPTION, program) == flagged


def test_elasticsearch_domains_are_judged_too() -> None:
    def program() -> None:
        aws.elasticsearch.Domain("legacy", domain_name="legacy")

    assert judge(opensearch.REQUIRE_CMK_ENCRYPTION, program) == {"legacy"}


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(node_to_node_encryption=None), {"vectors"}),
        (
            domain(node_to_node_encryption=os_.DomainNodeToNodeEncryptionArgs(enabled=False)),
            {"vectors"},
        ),
    ],
    ids=["on", "unset", "off"],
)
def test_aws_opensearch_domain_require_node_to_node_encryption(
    program: Program, flagged: set[str]
) -> None:
    assert judge(opensearch.REQUIRE_NODE_TO_NODE_ENCRYPTION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(domain_endpoint_options=None), {"vectors"}),
        (
            domain(
                domain_endpoint_options=os_.DomainDomainEndpointOptionsArgs(
                    enforce_https=True, tls_security_policy="Policy-Min-TLS-1-0-2019-07"
                )
            ),
            {"vectors"},
        ),
        (
            domain(
                domain_endpoint_options=os_.DomainDomainEndpointOptionsArgs(
                    enforce_https=False, tls_security_policy="Policy-Min-TLS-1-2-2019-07"
                )
            ),
            {"vectors"},
        ),
    ],
    ids=["https-tls12", "unset", "tls10", "http"],
)
def test_aws_opensearch_domain_require_https_tls12(program: Program, flagged: set[str]) -> None:
    assert judge(opensearch.REQUIRE_HTTPS_TLS12, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(vpc_options=None, advanced_security_options=FGAC), set()),
        (domain(vpc_options=None), {"vectors"}),
    ],
    ids=["vpc", "fine-grained", "public-without-fgac"],
)
def test_aws_opensearch_domain_require_vpc_or_fine_grained_access(
    program: Program, flagged: set[str]
) -> None:
    assert judge(opensearch.REQUIRE_ACCESS_CONTROL, program) == flagged


def test_access_control_waiver() -> None:
    rule = opensearch.REQUIRE_ACCESS_CONTROL
    assert judge(rule, domain(vpc_options=None), waiver("vectors")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (domain(), set()),
        (domain(log_publishing_options=[log("ES_APPLICATION_LOGS")]), set()),
        (domain(advanced_security_options=FGAC), set()),
        (domain(log_publishing_options=None), {"vectors"}),
        (domain(log_publishing_options=[log("ES_APPLICATION_LOGS", enabled=False)]), {"vectors"}),
        (
            domain(
                advanced_security_options=FGAC,
                log_publishing_options=[log("ES_APPLICATION_LOGS")],
            ),
            {"vectors"},
        ),
    ],
    ids=["both", "errors-without-fgac", "both-with-fgac", "none", "disabled", "fgac-no-audit"],
)
def test_aws_opensearch_domain_require_logs(program: Program, flagged: set[str]) -> None:
    assert judge(opensearch.REQUIRE_LOGS, program) == flagged


def security_policy(kind: str, policy: Any) -> Program:
    return lambda: os_.ServerlessSecurityPolicy(
        f"collection-{kind}", name=f"vectors-{kind}", type=kind, policy=json.dumps(policy)
    )


RULES = [{"ResourceType": "collection", "Resource": ["collection/vectors"]}]


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (security_policy("encryption", {"Rules": RULES, "AWSOwnedKey": False, "KmsARN": KEY}),
         set()),
        (security_policy("network", [{"Rules": RULES, "AllowFromPublic": True}]), set()),
        (security_policy("encryption", {"Rules": RULES, "AWSOwnedKey": True}),
         {"collection-encryption"}),
    ],
    ids=["cmk", "other-type", "aws-owned-key"],
)  # fmt: skip
def test_aws_opensearch_serverless_encryption_require_cmk(
    program: Program, flagged: set[str]
) -> None:
    assert judge(opensearch.SERVERLESS_REQUIRE_CMK, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (security_policy("network", [{"Rules": RULES, "AllowFromPublic": False,
                                      "SourceVPCEs": ["vpce-1"]}]), set()),
        (security_policy("encryption", {"Rules": RULES, "AWSOwnedKey": True}), set()),
        (security_policy("network", [{"Rules": RULES, "AllowFromPublic": True}]),
         {"collection-network"}),
        (security_policy("network", {"Rules": RULES, "AllowFromPublic": True}),
         {"collection-network"}),
    ],
    ids=["vpc-endpoint", "other-type", "public", "public-single-object"],
)  # fmt: skip
def test_aws_opensearch_serverless_network_disallow_public(
    program: Program, flagged: set[str]
) -> None:
    assert judge(opensearch.SERVERLESS_DISALLOW_PUBLIC, program) == flagged


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in opensearch.POLICIES]
    assert names == [
        "aws-opensearch-domain-require-cmk-encryption",
        "aws-opensearch-domain-require-node-to-node-encryption",
        "aws-opensearch-domain-require-https-tls12",
        "aws-opensearch-domain-require-vpc-or-fine-grained-access",
        "aws-opensearch-domain-require-logs",
        "aws-opensearch-serverless-encryption-require-cmk",
        "aws-opensearch-serverless-network-disallow-public",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
