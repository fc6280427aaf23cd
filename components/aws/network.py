"""A VPC of the stack's own: private subnets for serving, NAT egress, flow logs.

Serving (ECS tasks, SageMaker instances) runs only in private subnets. Public subnets exist solely
to hold the NAT gateway that lets tasks pull a model image from an external registry; nothing we
create takes a public IP. The default security group is emptied so nothing can use it by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.spec import DeploymentSpec

VPC_CIDR = "10.40.0.0/16"
# Two zones: an ALB and a SageMaker VPC config both need subnets in at least two.
PUBLIC_CIDRS = ("10.40.0.0/24", "10.40.1.0/24")
PRIVATE_CIDRS = ("10.40.16.0/20", "10.40.32.0/20")

FLOW_LOG_ACTIONS = (
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)


@dataclass(frozen=True)
class Network:
    """What serving needs from the network."""

    vpc: aws.ec2.Vpc
    private_subnet_ids: list[pulumi.Output[str]]
    cidr: str = VPC_CIDR
    # For gateway endpoints (S3, DynamoDB) that keep private traffic off the NAT gateway.
    private_route_table_ids: list[pulumi.Output[str]] = field(default_factory=list)


def create_network(
    name: str, spec: DeploymentSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> Network:
    """The VPC, its subnets and routes, one NAT gateway, and flow logs to an encrypted group."""
    tags = spec.standard_tags()
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=VPC_CIDR,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags=tags,
        opts=opts,
    )
    # No rules at all: nothing should ever be placed in the default group.
    aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, tags=tags, opts=opts)
    names = aws.get_availability_zones_output(state="available").names

    def zone(i: int) -> pulumi.Output[str]:
        return names.apply(lambda z: z[i])

    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=opts)
    public_rt = aws.ec2.RouteTable(
        f"{name}-public-rt",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
        tags=tags,
        opts=opts,
    )
    public = []
    for i, cidr in enumerate(PUBLIC_CIDRS):
        subnet = aws.ec2.Subnet(
            f"{name}-public-{i}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone(i),
            map_public_ip_on_launch=False,
            tags={**tags, "tier": "public"},
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{i}-rt", subnet_id=subnet.id, route_table_id=public_rt.id, opts=opts
        )
        public.append(subnet)
    # One NAT gateway: egress for image pulls is not on the serving path once tasks run; a
    # gateway per zone is a cost/availability trade-off a client can take in the profile later.
    eip = aws.ec2.Eip(f"{name}-nat-ip", domain="vpc", tags=tags, opts=opts)
    nat = aws.ec2.NatGateway(
        f"{name}-nat", allocation_id=eip.id, subnet_id=public[0].id, tags=tags, opts=opts
    )
    private_rt = aws.ec2.RouteTable(
        f"{name}-private-rt",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
        tags=tags,
        opts=opts,
    )
    private_ids = []
    for i, cidr in enumerate(PRIVATE_CIDRS):
        subnet = aws.ec2.Subnet(
            f"{name}-private-{i}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone(i),
            map_public_ip_on_launch=False,
            tags={**tags, "tier": "private"},
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{i}-rt", subnet_id=subnet.id, route_table_id=private_rt.id, opts=opts
        )
        private_ids.append(subnet.id)
    _create_flow_logs(name, spec, key, vpc, opts)
    return Network(vpc, private_ids, private_route_table_ids=[private_rt.id])


def _create_flow_logs(
    name: str,
    spec: DeploymentSpec,
    key: aws.kms.Key,
    vpc: aws.ec2.Vpc,
    opts: pulumi.ResourceOptions,
) -> aws.ec2.FlowLog:
    group = security.create_log_group(f"{name}-flow-logs", spec, key, opts)
    role = security.create_role(
        f"{name}-flow-logs-role",
        spec,
        "vpc-flow-logs.amazonaws.com",
        [security.statement(FLOW_LOG_ACTIONS, [group.arn, group.arn.apply(lambda a: f"{a}:*")])],
        opts,
        description="Lets VPC Flow Logs write to this stack's flow-log group only",
    )
    return aws.ec2.FlowLog(
        f"{name}-flow-log",
        vpc_id=vpc.id,
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_destination=group.arn,
        iam_role_arn=role.arn,
        max_aggregation_interval=60,
        tags=spec.standard_tags(),
        opts=opts,
    )
