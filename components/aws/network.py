"""A VPC of the stack's own (or the client's): private subnets for serving, NAT egress, flow logs.

Serving (ECS tasks, SageMaker instances) runs only in private subnets. Public subnets exist solely
to hold the NAT gateway that lets tasks pull a model image from an external registry; nothing we
create takes a public IP. The default security group is emptied so nothing can use it by accident.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws import security
from components.spec import DeploymentSpec

FLOW_LOG_ACTIONS = (
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)
# A VPC subnet is a /16 to a /28.
SMALLEST_SUBNET_PREFIX = 28
HTTPS_PORT = 443


def https_egress(description: str) -> aws.ec2.SecurityGroupEgressArgs:
    """The one outbound rule serving and worker tasks need: HTTPS to AWS APIs and the image
    registry (through the NAT gateway or the VPC endpoints)."""
    return aws.ec2.SecurityGroupEgressArgs(
        description=description,
        protocol="tcp",
        from_port=HTTPS_PORT,
        to_port=HTTPS_PORT,
        cidr_blocks=["0.0.0.0/0"],
    )


@dataclass(frozen=True)
class SubnetPlan:
    """Two public and two private subnets (two zones) carved from the VPC's range."""

    public: tuple[str, str]
    private: tuple[str, str]


def subnet_plan(cidr: str) -> SubnetPlan:
    """The subnets of a VPC with range ``cidr`` (a /16 to a /24, spec.network.cidr).

    Up to a /20, public subnets are the first two 1/256ths of the range and private subnets the
    second and third sixteenths: for a /16 that is exactly the layout stacks had before the
    range was configurable (10.40.0.0/24, 10.40.1.0/24; 10.40.16.0/20, 10.40.32.0/20), so no
    existing subnet is recomputed. Smaller ranges split into quarters instead (the first
    quarter halved for the public pair), so every subnet stays a valid /28 or larger.
    """
    vpc = ipaddress.ip_network(cidr)
    if vpc.prefixlen <= 20:
        public_prefix, private_prefix = vpc.prefixlen + 8, vpc.prefixlen + 4
    else:
        public_prefix, private_prefix = vpc.prefixlen + 3, vpc.prefixlen + 2
    public_prefix = min(public_prefix, SMALLEST_SUBNET_PREFIX)
    public = list(vpc.subnets(new_prefix=public_prefix))[:2]
    # The first private-sized block holds the public pair; private subnets take the next two.
    private = list(vpc.subnets(new_prefix=private_prefix))[1:3]
    return SubnetPlan(
        public=(str(public[0]), str(public[1])), private=(str(private[0]), str(private[1]))
    )


@dataclass(frozen=True)
class Network:
    """What serving needs from the network: the stack's own VPC or the client's.

    ``cidr`` is the VPC's range (the stack's, or looked up for an existing VPC), which the
    serving security groups allow traffic within.
    """

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    cidr: pulumi.Output[str]
    # For gateway endpoints (S3, DynamoDB) that keep private traffic off the NAT gateway.
    private_route_table_ids: list[pulumi.Output[str]] = field(default_factory=list)


def create_network(
    name: str, spec: DeploymentSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> Network:
    """The stack's VPC (spec.network.cidr), or the client's VPC when spec.network names one."""
    if spec.network.existing_id is not None:
        return existing_network(spec)
    return _create_vpc(name, spec, key, opts)


def existing_network(spec: DeploymentSpec) -> Network:
    """The client's VPC and private subnets (spec.network.existing_id / existing_subnet_ids).

    The client owns its routing, NAT egress and flow logs; the stack only looks up the range
    (for its security groups) and the subnets' route tables (for gateway endpoints).
    """
    vpc_id = spec.network.existing_id
    assert vpc_id is not None  # the caller checked; keeps the type checker honest
    cidr = aws.ec2.get_vpc_output(id=vpc_id).cidr_block
    subnets = list(dict.fromkeys(spec.network.existing_subnet_ids))
    # Subnets may share a route table; the endpoints' route table list is a set in AWS.
    tables = [aws.ec2.get_route_table_output(subnet_id=s).route_table_id for s in subnets]
    return Network(
        vpc_id=pulumi.Output.from_input(vpc_id),
        private_subnet_ids=[pulumi.Output.from_input(s) for s in subnets],
        cidr=cidr,
        private_route_table_ids=tables,
    )


def _create_vpc(
    name: str, spec: DeploymentSpec, key: aws.kms.Key, opts: pulumi.ResourceOptions
) -> Network:
    """The VPC, its subnets and routes, one NAT gateway, and flow logs to an encrypted group."""
    tags = spec.standard_tags()
    plan = subnet_plan(spec.network.cidr)
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=spec.network.cidr,
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
    for i, cidr in enumerate(plan.public):
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
    # The address and the gateway need the VPC attached to the internet first (review A19):
    # nothing in their inputs says so, so the dependency is explicit.
    after_igw = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[igw]))
    eip = aws.ec2.Eip(f"{name}-nat-ip", domain="vpc", tags=tags, opts=after_igw)
    nat = aws.ec2.NatGateway(
        f"{name}-nat", allocation_id=eip.id, subnet_id=public[0].id, tags=tags, opts=after_igw
    )
    private_rt = aws.ec2.RouteTable(
        f"{name}-private-rt",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
        tags=tags,
        opts=opts,
    )
    private_ids = []
    for i, cidr in enumerate(plan.private):
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
    return Network(
        vpc_id=vpc.id,
        private_subnet_ids=private_ids,
        cidr=vpc.cidr_block,
        private_route_table_ids=[private_rt.id],
    )


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
