"""EC2 / EBS / security group rules on small real programs: compliant resources, one change per
failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import ec2
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

KEY = "arn:aws:kms:eu-west-1:123456789012:key/ebs"
IMDSV2 = aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required", http_endpoint="enabled")
ROOT = aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, kms_key_id=KEY)


def instance(**change: Any) -> Program:
    args: dict[str, Any] = {
        "ami": "ami-0123456789abcdef0",
        "instance_type": "t3.micro",
        "subnet_id": "subnet-private",
        "metadata_options": IMDSV2,
        "root_block_device": ROOT,
        "iam_instance_profile": "app-profile",
        "associate_public_ip_address": False,
        **change,
    }

    def program() -> None:
        aws.ec2.Instance("vm", **{k: v for k, v in args.items() if v is not None})

    return program


def template(
    *, tokens: str = "required", encrypted: str = "true", public: str | None = None
) -> Program:
    def program() -> None:
        aws.ec2.LaunchTemplate(
            "lt",
            image_id="ami-0123456789abcdef0",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens=tokens),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        encrypted=encrypted, kms_key_id=KEY, volume_size=20
                    ),
                )
            ],
            network_interfaces=(
                [aws.ec2.LaunchTemplateNetworkInterfaceArgs(associate_public_ip_address=public)]
                if public is not None
                else None
            ),
        )

    return program


def volume(*, by_default: bool = False, default_key: bool = False, **change: Any) -> Program:
    args: dict[str, Any] = {
        "availability_zone": "eu-west-1a",
        "size": 10,
        "encrypted": True,
        "kms_key_id": KEY,
        **change,
    }

    def program() -> None:
        aws.ebs.Volume("data", **{k: v for k, v in args.items() if v is not None})
        if by_default:
            aws.ebs.EncryptionByDefault("ebs-default", enabled=True)
        if default_key:
            aws.ebs.DefaultKmsKey("ebs-default-key", key_arn=KEY)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (template(), set()),
        (
            instance(
                metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_endpoint="disabled")
            ),
            set(),
        ),
        (
            instance(
                metadata_options=None,
                launch_template=aws.ec2.InstanceLaunchTemplateArgs(name="lt"),
            ),
            set(),
        ),
        (instance(metadata_options=None), {"vm"}),
        (
            instance(metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="optional")),
            {"vm"},
        ),
        (template(tokens="optional"), {"lt"}),
    ],
    ids=["instance", "template", "imds-off", "from-template", "unset", "optional", "lt-optional"],
)
def test_aws_ec2_require_imdsv2(program: Program, flagged: set[str]) -> None:
    assert judge(ec2.REQUIRE_IMDSV2, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (template(), set()),
        (volume(), set()),
        (volume(encrypted=None, kms_key_id=None, snapshot_id="snap-1"), set()),
        (volume(encrypted=False, kms_key_id=None, by_default=True), set()),
        (instance(root_block_device=None), {"vm"}),
        (instance(root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(volume_size=30)), {"vm"}),
        (
            instance(
                ebs_block_devices=[
                    aws.ec2.InstanceEbsBlockDeviceArgs(device_name="/dev/sdf", encrypted=False)
                ]
            ),
            {"vm"},
        ),
        (template(encrypted="false"), {"lt"}),
        (volume(encrypted=False, kms_key_id=None), {"data"}),
    ],
    ids=[
        "instance",
        "template",
        "volume",
        "from-snapshot",
        "encryption-by-default",
        "no-root-device",
        "root-unencrypted",
        "data-device-unencrypted",
        "lt-unencrypted",
        "volume-unencrypted",
    ],
)
def test_aws_ec2_require_ebs_encryption(program: Program, flagged: set[str]) -> None:
    assert judge(ec2.REQUIRE_EBS_ENCRYPTION, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (volume(), set()),
        (volume(kms_key_id=None, by_default=True, default_key=True), set()),
        (volume(kms_key_id=None), {"data"}),
        (volume(kms_key_id=None, by_default=True), {"data"}),
    ],
    ids=["cmk", "account-default-cmk", "aws-managed-key", "default-without-key"],
)
def test_aws_ebs_volume_require_cmk(program: Program, flagged: set[str]) -> None:
    assert judge(ec2.VOLUME_REQUIRE_CMK, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (instance(), set()),
        (template(public="false"), set()),
        (instance(associate_public_ip_address=True), {"vm"}),
        (template(public="true"), {"lt"}),
    ],
    ids=["private", "lt-private", "public-ip", "lt-public-ip"],
)
def test_aws_ec2_disallow_public_ip(program: Program, flagged: set[str]) -> None:
    assert judge(ec2.DISALLOW_PUBLIC_IP, program) == flagged


def test_public_ip_waiver() -> None:
    program = instance(associate_public_ip_address=True)
    assert judge(ec2.DISALLOW_PUBLIC_IP, program, waiver("vm")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [(instance(), set()), (instance(iam_instance_profile=None), {"vm"})],
    ids=["profile", "no-profile"],
)
def test_aws_ec2_instance_require_instance_profile(program: Program, flagged: set[str]) -> None:
    assert judge(ec2.INSTANCE_REQUIRE_PROFILE, program) == flagged


def group(**ingress: Any) -> Program:
    rule: dict[str, Any] = {
        "protocol": "tcp",
        "from_port": 443,
        "to_port": 443,
        "cidr_blocks": ["0.0.0.0/0"],
    }
    rule.update(ingress)

    def program() -> None:
        aws.ec2.SecurityGroup(
            "web-sg",
            vpc_id="vpc-1",
            description="web",
            ingress=[aws.ec2.SecurityGroupIngressArgs(**rule)],
        )

    return program


def group_rule(**change: Any) -> Program:
    args: dict[str, Any] = {
        "type": "ingress",
        "security_group_id": "sg-1",
        "protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "cidr_blocks": ["10.0.0.0/8"],
        **change,
    }
    return lambda: aws.ec2.SecurityGroupRule("ssh-rule", **args)


def ingress_rule(**change: Any) -> Program:
    args: dict[str, Any] = {
        "security_group_id": "sg-1",
        "ip_protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        "referenced_security_group_id": "sg-app",
        **change,
    }
    return lambda: aws.vpc.SecurityGroupIngressRule("db-rule", **args)


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (group(), set()),
        (group(from_port=22, to_port=22, cidr_blocks=["10.0.0.0/16"]), set()),
        (group(protocol="icmp", from_port=-1, to_port=-1), set()),
        (group_rule(), set()),
        (group_rule(type="egress", cidr_blocks=["0.0.0.0/0"]), set()),
        (ingress_rule(), set()),
        (ingress_rule(referenced_security_group_id=None, cidr_ipv4="0.0.0.0/0", from_port=443,
                      to_port=443), set()),
        (group(from_port=22, to_port=22), {"web-sg"}),
        (group(from_port=0, to_port=65535), {"web-sg"}),
        (group(protocol="-1", from_port=0, to_port=0), {"web-sg"}),
        (group(from_port=3000, to_port=4000, cidr_blocks=[], ipv6_cidr_blocks=["::/0"]),
         {"web-sg"}),
        (group_rule(cidr_blocks=["0.0.0.0/0"]), {"ssh-rule"}),
        (group_rule(from_port=3389, to_port=3389, cidr_blocks=None, ipv6_cidr_blocks=["::/0"]),
         {"ssh-rule"}),
        (ingress_rule(referenced_security_group_id=None, cidr_ipv4="0.0.0.0/0"), {"db-rule"}),
        (ingress_rule(referenced_security_group_id=None, cidr_ipv6="::/0", ip_protocol="-1",
                      from_port=None, to_port=None), {"db-rule"}),
    ],
    ids=["https", "ssh-internal", "icmp", "rule-internal", "rule-egress", "vpc-rule-sg",
         "vpc-rule-https", "ssh-open", "all-tcp", "all-protocols", "ipv6-range-with-rdp",
         "rule-ssh-open", "rule-rdp-ipv6", "vpc-rule-postgres", "vpc-rule-all-ipv6"],
)  # fmt: skip
def test_aws_ec2_security_group_disallow_public_admin_ports(
    program: Program, flagged: set[str]
) -> None:
    assert judge(ec2.SECURITY_GROUP_DISALLOW_PUBLIC_ADMIN_PORTS, program) == flagged


def test_security_group_waiver() -> None:
    program = group_rule(cidr_blocks=["0.0.0.0/0"])
    rule = ec2.SECURITY_GROUP_DISALLOW_PUBLIC_ADMIN_PORTS
    assert judge(rule, program, waiver("ssh-rule")) == set()


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in ec2.POLICIES]
    assert names == [
        "aws-ec2-require-imdsv2",
        "aws-ec2-require-ebs-encryption",
        "aws-ebs-volume-require-cmk",
        "aws-ec2-disallow-public-ip",
        "aws-ec2-instance-require-instance-profile",
        "aws-ec2-security-group-disallow-public-admin-ports",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
