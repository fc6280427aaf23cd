"""Virtual machines and their network edge: EC2 instances, launch templates / configurations,
EBS volumes and security groups.

Mandatory: IMDSv2 (session tokens) required; EBS volumes encrypted (CMK for standalone volumes);
no public IP association; no security group ingress from 0.0.0.0/0 or ::/0 to administration
or database ports (SSH, RDP, PostgreSQL, MySQL, Redis, Elasticsearch, Jupyter, ...).
Advisory: an instance runs with an instance profile (role credentials, not keys on disk).

An account-wide ``aws.ebs.EncryptionByDefault`` (and ``aws.ebs.DefaultKmsKey``) in the same
stack satisfies the volume checks: every new volume of the region is then encrypted anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.aws._common import (
    StackFindings,
    each,
    get,
    is_false,
    is_true,
    items,
    of_types,
    present,
)
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import checkov, cis, fsbp

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
VOLUME = "aws:ebs/volume:Volume"
ENCRYPTION_BY_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
DEFAULT_KMS_KEY = "aws:ebs/defaultKmsKey:DefaultKmsKey"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
ALL_PROTOCOLS = frozenset({"-1", "all"})
PORT_PROTOCOLS = frozenset({"tcp", "udp", "6", "17"})
# Remote administration, database, cache, search and notebook ports nobody should reach from
# the whole internet (FSBP EC2.19's high-risk list plus the data stores an AI stack runs).
ADMIN_PORTS: Mapping[int, str] = {
    20: "FTP data",
    21: "FTP",
    22: "SSH",
    23: "Telnet",
    135: "MS RPC",
    139: "NetBIOS",
    445: "SMB",
    1433: "SQL Server",
    1521: "Oracle",
    2049: "NFS",
    2375: "Docker API",
    2376: "Docker API (TLS)",
    3306: "MySQL",
    3389: "RDP",
    4333: "mSQL",
    5432: "PostgreSQL",
    5439: "Redshift",
    5601: "Kibana / OpenSearch Dashboards",
    5900: "VNC",
    5984: "CouchDB",
    6379: "Redis",
    6443: "Kubernetes API",
    7000: "Cassandra",
    7001: "Cassandra (TLS)",
    8020: "HDFS",
    8888: "Jupyter",
    9042: "Cassandra CQL",
    9092: "Kafka",
    9200: "Elasticsearch / OpenSearch",
    9300: "Elasticsearch transport",
    10250: "kubelet",
    11211: "Memcached",
    27017: "MongoDB",
}


# ---------------------------------------------------------------------------- IMDSv2
def _check_imdsv2(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    options = get(props, "metadataOptions")
    if args.resource_type == INSTANCE and options is None and get(props, "launchTemplate"):
        return  # the launch template's metadata options apply; it is judged itself
    if get(options, "httpEndpoint") == "disabled":
        return
    tokens = get(options, "httpTokens")
    if tokens != "required":
        shown = tokens or "unset (optional)"
        yield (
            f"Instance metadata accepts IMDSv1 requests without a session token "
            f"(metadata_options.http_tokens is {shown}): an SSRF can read the role's "
            "credentials."
        )


REQUIRE_IMDSV2 = resource_rule(
    "aws-ec2-require-imdsv2",
    "EC2 instances, launch templates and launch configurations must require IMDSv2 "
    "(metadata_options.http_tokens = required).",
    types=[INSTANCE, LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION],
    check=_check_imdsv2,
    severity=Severity.HIGH,
    tags=["ec2", "authentication"],
    remediation=(
        "Set metadata_options={'http_tokens': 'required', 'http_endpoint': 'enabled', "
        "'http_put_response_hop_limit': 1} (2 for containers on the host that need it)."
    ),
    references=[checkov("CKV_AWS_79"), fsbp("EC2.8")],
    since=2,
)


# ---------------------------------------------------------------------------- EBS encryption
def _block_unencrypted(block: Any) -> bool:
    """A block device that is not encrypted: ``encrypted`` not true, and no snapshot to
    inherit encryption from (strings in launch templates, booleans elsewhere)."""
    if is_true(get(block, "encrypted")):
        return False
    return not present(get(block, "snapshotId"))


def _instance_volume_findings(r: PolicyResource) -> Iterator[str]:
    props = r.props
    root = get(props, "rootBlockDevice")
    if root is None:
        if not get(props, "launchTemplate"):
            yield "root volume (root_block_device unset: it is created unencrypted)"
    elif _block_unencrypted(root):
        yield "root volume (root_block_device.encrypted is not true)"
    for block in items(get(props, "ebsBlockDevices")):
        if _block_unencrypted(block):
            yield f"EBS volume {get(block, 'deviceName') or '(unnamed)'} (encrypted is not true)"


def _template_volume_findings(r: PolicyResource) -> Iterator[str]:
    for mapping_ in items(get(r.props, "blockDeviceMappings")):
        ebs = get(mapping_, "ebs")
        if ebs is not None and _block_unencrypted(ebs):
            device = get(mapping_, "deviceName") or "(unnamed)"
            yield f"EBS volume {device} (block_device_mappings.ebs.encrypted is not true)"


def _volume_findings(r: PolicyResource) -> Iterator[str]:
    if _block_unencrypted(r.props):
        yield "volume (encrypted is not true)"


_VOLUME_FINDERS = {
    INSTANCE: _instance_volume_findings,
    LAUNCH_CONFIGURATION: _instance_volume_findings,
    LAUNCH_TEMPLATE: _template_volume_findings,
    VOLUME: _volume_findings,
}


def _encrypted_by_default(args: StackValidationArgs) -> bool:
    return any(not is_false(get(r.props, "enabled")) for r in of_types(args, ENCRYPTION_BY_DEFAULT))


def _check_ebs_encryption(args: StackValidationArgs) -> StackFindings:
    if _encrypted_by_default(args):
        return

    def check(r: PolicyResource) -> StackFindings:
        for what in _VOLUME_FINDERS[r.resource_type](r):
            yield (f"'{r.name}': {what} is not encrypted at rest.", r.urn)

    yield from each(of_types(args, *_VOLUME_FINDERS), check)


REQUIRE_EBS_ENCRYPTION = stack_rule(
    "aws-ec2-require-ebs-encryption",
    "EBS volumes of instances, launch templates, launch configurations and standalone volumes "
    "must be encrypted (or the stack turns on EBS encryption by default).",
    check=_check_ebs_encryption,
    severity=Severity.HIGH,
    tags=["ec2", "ebs", "encryption"],
    category=SECURITY,
    remediation=(
        "Set encrypted=True (launch templates: ebs={'encrypted': 'true'}) with kms_key_id on "
        "root_block_device / ebs_block_devices / block_device_mappings / aws.ebs.Volume, or "
        "turn on aws.ebs.EncryptionByDefault(enabled=True) for the account and region."
    ),
    references=[checkov("CKV_AWS_8"), checkov("CKV_AWS_3"), fsbp("EC2.3"), fsbp("EC2.7")],
    since=2,
)


def _check_volume_cmk(args: StackValidationArgs) -> StackFindings:
    default_key = any(present(get(r.props, "keyArn")) for r in of_types(args, DEFAULT_KMS_KEY))
    if default_key and _encrypted_by_default(args):
        return

    def check(r: PolicyResource) -> StackFindings:
        if present(get(r.props, "snapshotId")) and get(r.props, "encrypted") is None:
            return  # inherits the snapshot's key
        if not present(get(r.props, "kmsKeyId")):
            yield (
                f"EBS volume '{r.name}' is not encrypted with a customer-managed key "
                "(kms_key_id unset: the AWS-managed aws/ebs key is used).",
                r.urn,
            )

    yield from each(of_types(args, VOLUME), check)


VOLUME_REQUIRE_CMK = stack_rule(
    "aws-ebs-volume-require-cmk",
    "Standalone EBS volumes must be encrypted with a customer-managed KMS key (or the stack "
    "sets EBS encryption by default with a customer-managed default key).",
    check=_check_volume_cmk,
    severity=Severity.MEDIUM,
    tags=["ebs", "key-management"],
    category=SECURITY,
    remediation=(
        "Set kms_key_id=<customer-managed key ARN> on aws.ebs.Volume, or aws.ebs.DefaultKmsKey "
        "plus aws.ebs.EncryptionByDefault for the region."
    ),
    references=[checkov("CKV_AWS_189")],
    since=2,
)


# ---------------------------------------------------------------------------- public IPs
def _check_public_ip(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == LAUNCH_TEMPLATE:
        for interface in items(get(props, "networkInterfaces")):
            if is_true(get(interface, "associatePublicIpAddress")):
                yield (
                    "Launch template gives instances a public IP address "
                    "(network_interfaces.associate_public_ip_address is true): they are "
                    "reachable from the internet."
                )
                return
        return
    if is_true(get(props, "associatePublicIpAddress")):
        yield (
            "Instance gets a public IP address (associate_public_ip_address is true): it is "
            "reachable from the internet."
        )


DISALLOW_PUBLIC_IP = resource_rule(
    "aws-ec2-disallow-public-ip",
    "EC2 instances, launch templates and launch configurations must not associate a public IP "
    "address.",
    types=[INSTANCE, LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION],
    check=_check_public_ip,
    severity=Severity.HIGH,
    tags=["ec2", "network-exposure", "public-access"],
    remediation=(
        "Launch into private subnets without a public IP and reach the instance through a load "
        "balancer, SSM Session Manager or a VPN; waive a deliberate bastion with a reason."
    ),
    references=[checkov("CKV_AWS_88"), fsbp("EC2.9")],
    since=2,
)


# ---------------------------------------------------------------------------- instance profile
def _check_profile(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if present(get(props, "iamInstanceProfile")) or get(props, "launchTemplate"):
        return
    yield (
        "Instance has no instance profile (iam_instance_profile unset): software on it has no "
        "role credentials, which invites long-lived access keys on disk."
    )


INSTANCE_REQUIRE_PROFILE = resource_rule(
    "aws-ec2-instance-require-instance-profile",
    "EC2 instances should run with an instance profile so software uses short-lived role "
    "credentials.",
    types=[INSTANCE],
    check=_check_profile,
    severity=Severity.LOW,
    tags=["ec2", "authentication"],
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    remediation=(
        "Create an aws.iam.InstanceProfile for a least-privilege role and set "
        "iam_instance_profile=<profile>.name (it also enables SSM Session Manager)."
    ),
    references=[checkov("CKV2_AWS_41")],
    since=2,
)


# ---------------------------------------------------------------------------- security groups
def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _exposed_ports(protocol: Any, from_port: Any, to_port: Any) -> list[str]:
    """The admin ports a rule opens (all of them for the all-protocols rule)."""
    proto = str(protocol).lower() if protocol is not None else ""
    if proto in ALL_PROTOCOLS:
        return ["all ports"]
    if proto not in PORT_PROTOCOLS:
        return []  # ICMP and other protocols carry no ports
    low, high = _number(from_port), _number(to_port)
    if low is None and high is None:
        return ["all ports"]
    first = low if low is not None else high
    last = high if high is not None else low
    if first is None or last is None or first == -1 or (first <= 0 and last >= 65535):
        return ["all ports"]
    return [f"{port} ({name})" for port, name in ADMIN_PORTS.items() if first <= port <= last]


def _open_sources(*cidr_lists: Any) -> list[str]:
    return sorted({c for cidrs in cidr_lists for c in items(cidrs) if c in OPEN_CIDRS})


def _finding(where: str, sources: list[str], ports: list[str]) -> str:
    return (
        f"{where} allows ingress from {', '.join(sources)} to {', '.join(ports)}: the "
        "service is reachable from the whole internet."
    )


def _check_security_group(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for rule in items(get(props, "ingress")):
            sources = _open_sources(get(rule, "cidrBlocks"), get(rule, "ipv6CidrBlocks"))
            ports = _exposed_ports(
                get(rule, "protocol"), get(rule, "fromPort"), get(rule, "toPort")
            )
            if sources and ports:
                yield _finding("Security group ingress rule", sources, ports)
    elif args.resource_type == SECURITY_GROUP_RULE:
        if get(props, "type") != "ingress":
            return
        sources = _open_sources(get(props, "cidrBlocks"), get(props, "ipv6CidrBlocks"))
        ports = _exposed_ports(get(props, "protocol"), get(props, "fromPort"), get(props, "toPort"))
        if sources and ports:
            yield _finding("Security group rule", sources, ports)
    else:
        sources = _open_sources(get(props, "cidrIpv4"), get(props, "cidrIpv6"))
        ports = _exposed_ports(
            get(props, "ipProtocol"), get(props, "fromPort"), get(props, "toPort")
        )
        if sources and ports:
            yield _finding("Security group ingress rule", sources, ports)


SECURITY_GROUP_DISALLOW_PUBLIC_ADMIN_PORTS = resource_rule(
    "aws-ec2-security-group-disallow-public-admin-ports",
    "Security groups must not allow ingress from 0.0.0.0/0 or ::/0 to administration, "
    "database, cache, search or notebook ports (22, 3389, 5432, 3306, 6379, 9200, 8888, ...) "
    "or to all ports.",
    types=[SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE],
    check=_check_security_group,
    severity=Severity.CRITICAL,
    tags=["ec2", "network-exposure", "public-access"],
    remediation=(
        "Allow these ports only from a security group (referenced_security_group_id / "
        "security_groups) or a narrow CIDR; use SSM Session Manager instead of open SSH/RDP."
    ),
    references=[
        checkov("CKV_AWS_24"),
        checkov("CKV_AWS_25"),
        checkov("CKV_AWS_277"),
        fsbp("EC2.13"),
        fsbp("EC2.14"),
        fsbp("EC2.19"),
        cis("aws", "5.2"),
        cis("aws", "5.3"),
    ],
    since=2,
)

POLICIES = [
    REQUIRE_IMDSV2,
    REQUIRE_EBS_ENCRYPTION,
    VOLUME_REQUIRE_CMK,
    DISALLOW_PUBLIC_IP,
    INSTANCE_REQUIRE_PROFILE,
    SECURITY_GROUP_DISALLOW_PUBLIC_ADMIN_PORTS,
]
