"""OpenSearch (and legacy Elasticsearch) domains and OpenSearch Serverless: the vector / AI
search stores.

Mandatory: data at rest encrypted with a customer-managed KMS key; node-to-node encryption;
HTTPS enforced with a TLS 1.2+ policy; access controlled by a VPC or fine-grained access control;
Serverless collections encrypted with a customer key and not reachable from the public internet.
Advisory: error (application) logs published to CloudWatch Logs, and audit logs where
fine-grained access control makes them available.

An open domain access policy (``Principal: "*"``) is judged by
``aws-resource-policy-disallow-public-principal`` (resource_policies.py), which accepts it on a
domain inside a VPC or with fine-grained access control, as AWS recommends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from policies.rules.aws._common import get, is_false, is_true, items, present
from policies.rules.base import OPERATIONAL, resource_rule
from policies.rules.references import checkov, fsbp, mcsb

DOMAINS = ("aws:opensearch/domain:Domain", "aws:elasticsearch/domain:Domain")
SERVERLESS_SECURITY_POLICY = "aws:opensearch/serverlessSecurityPolicy:ServerlessSecurityPolicy"

TLS12_POLICIES = frozenset({"Policy-Min-TLS-1-2-2019-07", "Policy-Min-TLS-1-2-PFS-2023-10"})
APPLICATION_LOGS = "ES_APPLICATION_LOGS"
AUDIT_LOGS = "AUDIT_LOGS"


def _fgac(props: Any) -> bool:
    return is_true(get(props, "advancedSecurityOptions", "enabled"))


def _in_vpc(props: Any) -> bool:
    return any(present(s) for s in items(get(props, "vpcOptions", "subnetIds")))


# ---------------------------------------------------------------------------- encryption
def _check_encryption(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    at_rest = get(props, "encryptAtRest")
    if not is_true(get(at_rest, "enabled")):
        yield "OpenSearch domain data is not encrypted at rest (encrypt_at_rest.enabled not true)."
    elif not present(get(at_rest, "kmsKeyId")):
        yield (
            "OpenSearch domain data is not encrypted with a customer-managed key "
            "(encrypt_at_rest.kms_key_id unset: the AWS-managed aws/es key is used)."
        )


REQUIRE_CMK_ENCRYPTION = resource_rule(
    "aws-opensearch-domain-require-cmk-encryption",
    "OpenSearch domains must encrypt data at rest with a customer-managed KMS key.",
    types=DOMAINS,
    check=_check_encryption,
    severity=Severity.HIGH,
    tags=["opensearch", "encryption", "key-management"],
    remediation=(
        "Set encrypt_at_rest={'enabled': True, 'kms_key_id': <customer-managed key ARN>} "
        "(set at creation: changing it replaces the domain)."
    ),
    references=[checkov("CKV_AWS_5"), checkov("CKV_AWS_247"), fsbp("Opensearch.1")],
    since=2,
)


def _check_node_to_node(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "nodeToNodeEncryption", "enabled")):
        yield (
            "OpenSearch domain nodes talk to each other in plain text "
            "(node_to_node_encryption.enabled not true)."
        )


REQUIRE_NODE_TO_NODE_ENCRYPTION = resource_rule(
    "aws-opensearch-domain-require-node-to-node-encryption",
    "OpenSearch domains must encrypt traffic between their nodes.",
    types=DOMAINS,
    check=_check_node_to_node,
    severity=Severity.HIGH,
    tags=["opensearch", "encryption", "tls"],
    remediation="Set node_to_node_encryption={'enabled': True}.",
    references=[checkov("CKV_AWS_6"), fsbp("Opensearch.3")],
    since=2,
)


# ---------------------------------------------------------------------------- TLS
def _check_https(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    endpoint = get(props, "domainEndpointOptions")
    if not is_true(get(endpoint, "enforceHttps")):
        yield (
            "OpenSearch domain accepts plain HTTP (domain_endpoint_options.enforce_https not true)."
        )
    policy = get(endpoint, "tlsSecurityPolicy")
    if policy not in TLS12_POLICIES:
        yield (
            "OpenSearch domain accepts TLS below 1.2 (domain_endpoint_options."
            f"tls_security_policy is {policy or 'unset'}; use Policy-Min-TLS-1-2-2019-07 or "
            "Policy-Min-TLS-1-2-PFS-2023-10)."
        )


REQUIRE_HTTPS_TLS12 = resource_rule(
    "aws-opensearch-domain-require-https-tls12",
    "OpenSearch domains must enforce HTTPS with a TLS 1.2+ security policy.",
    types=DOMAINS,
    check=_check_https,
    severity=Severity.HIGH,
    tags=["opensearch", "tls"],
    remediation=(
        "Set domain_endpoint_options={'enforce_https': True, 'tls_security_policy': "
        "'Policy-Min-TLS-1-2-PFS-2023-10'}."
    ),
    references=[checkov("CKV_AWS_83"), checkov("CKV_AWS_228"), fsbp("Opensearch.8")],
    since=2,
)


# ---------------------------------------------------------------------------- access control
def _check_access_control(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if not _in_vpc(props) and not _fgac(props):
        yield (
            "OpenSearch domain has a public endpoint and no fine-grained access control "
            "(vpc_options.subnet_ids unset, advanced_security_options.enabled not true): the "
            "access policy alone decides who can read the index."
        )


REQUIRE_ACCESS_CONTROL = resource_rule(
    "aws-opensearch-domain-require-vpc-or-fine-grained-access",
    "OpenSearch domains must sit in a VPC or have fine-grained access control enabled.",
    types=DOMAINS,
    check=_check_access_control,
    severity=Severity.HIGH,
    tags=["opensearch", "network-exposure", "authentication"],
    remediation=(
        "Set vpc_options={'subnet_ids': [...], 'security_group_ids': [...]} (chosen at "
        "creation), and/or advanced_security_options={'enabled': True, "
        "'master_user_options': {'master_user_arn': <IAM role ARN>}}."
    ),
    references=[checkov("CKV_AWS_137"), checkov("CKV2_AWS_52"), fsbp("Opensearch.2")],
    since=2,
)


# ---------------------------------------------------------------------------- logs
def _published(props: Any) -> set[str]:
    return {
        str(get(option, "logType"))
        for option in items(get(props, "logPublishingOptions"))
        if not is_false(get(option, "enabled")) and present(get(option, "cloudwatchLogGroupArn"))
    }


def _check_logs(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    published = _published(props)
    if APPLICATION_LOGS not in published:
        yield (
            "OpenSearch domain does not publish its error logs to CloudWatch Logs "
            f"(no enabled log_publishing_options entry of type {APPLICATION_LOGS})."
        )
    if _fgac(props) and AUDIT_LOGS not in published:
        yield (
            "OpenSearch domain does not publish audit logs to CloudWatch Logs (no enabled "
            f"log_publishing_options entry of type {AUDIT_LOGS}): who read or changed which "
            "index is not recorded."
        )


REQUIRE_LOGS = resource_rule(
    "aws-opensearch-domain-require-logs",
    "OpenSearch domains should publish error logs, and audit logs when fine-grained access "
    "control is on, to CloudWatch Logs.",
    types=DOMAINS,
    check=_check_logs,
    severity=Severity.MEDIUM,
    tags=["opensearch", "logging-audit"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Add log_publishing_options entries {'log_type': 'ES_APPLICATION_LOGS', "
        "'cloudwatch_log_group_arn': ...} and {'log_type': 'AUDIT_LOGS', ...} (audit logging "
        "must also be turned on in the security plugin), with a log group resource policy "
        "for es.amazonaws.com."
    ),
    references=[
        checkov("CKV_AWS_84"),
        checkov("CKV_AWS_317"),
        fsbp("Opensearch.4"),
        fsbp("Opensearch.5"),
    ],
    since=2,
)


# ---------------------------------------------------------------------------- serverless
def _policy_entries(value: Any) -> list[Mapping[str, Any]]:
    """A Serverless security policy document: one JSON object or a list of them."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return [entry for entry in items(value) if isinstance(entry, Mapping)]


def _check_serverless_encryption(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "type") != "encryption":
        return
    for entry in _policy_entries(get(props, "policy")):
        if is_true(entry.get("AWSOwnedKey")) or not present(entry.get("KmsARN")):
            yield (
                "OpenSearch Serverless encryption policy encrypts collections with an AWS-owned "
                "key (AWSOwnedKey true or no KmsARN), not a customer-managed key."
            )
            return


SERVERLESS_REQUIRE_CMK = resource_rule(
    "aws-opensearch-serverless-encryption-require-cmk",
    "OpenSearch Serverless encryption policies must use a customer-managed KMS key "
    "(AWSOwnedKey false and a KmsARN).",
    types=[SERVERLESS_SECURITY_POLICY],
    check=_check_serverless_encryption,
    severity=Severity.HIGH,
    tags=["opensearch", "encryption", "key-management"],
    remediation=('Set the policy to {"Rules": [...], "AWSOwnedKey": false, "KmsARN": <key ARN>}.'),
    references=[mcsb("DP-5")],
    since=2,
)


def _check_serverless_network(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "type") != "network":
        return
    for entry in _policy_entries(get(props, "policy")):
        if is_true(entry.get("AllowFromPublic")):
            yield (
                "OpenSearch Serverless network policy makes collections reachable from the "
                "internet (AllowFromPublic true)."
            )
            return


SERVERLESS_DISALLOW_PUBLIC = resource_rule(
    "aws-opensearch-serverless-network-disallow-public",
    "OpenSearch Serverless network policies must not allow access from the public internet "
    "(AllowFromPublic false, with SourceVPCEs).",
    types=[SERVERLESS_SECURITY_POLICY],
    check=_check_serverless_network,
    severity=Severity.HIGH,
    tags=["opensearch", "network-exposure", "public-access"],
    remediation=(
        'Set the policy to [{"Rules": [...], "AllowFromPublic": false, "SourceVPCEs": '
        "[<aws.opensearch.ServerlessVpcEndpoint id>]}]."
    ),
    references=[mcsb("NS-2")],
    since=2,
)

POLICIES = [
    REQUIRE_CMK_ENCRYPTION,
    REQUIRE_NODE_TO_NODE_ENCRYPTION,
    REQUIRE_HTTPS_TLS12,
    REQUIRE_ACCESS_CONTROL,
    REQUIRE_LOGS,
    SERVERLESS_REQUIRE_CMK,
    SERVERLESS_DISALLOW_PUBLIC,
]
