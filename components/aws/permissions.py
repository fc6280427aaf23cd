"""What the CI identities may do on AWS, as data: the deployer's rights per resource type, the
permissions boundary of the roles the stacks create, the previewers' and the publisher's rights.

The bootstrap (components/aws/bootstrap.py) turns these tables into IAM policy documents for one
environment of one project; a test captures every stack of every AWS pattern and holds the two
sides together (every resource type a stack creates is in :data:`RESOURCE_TYPES`, and the
deployer policy the bootstrap writes allows each of its actions; every action a stack role is
granted is inside the boundary).

How the deployer is scoped, per service, and why (docs/patterns/aws.md has the table):

* by name: resources the components name (`<project>-<env>-...`: Lambda, alarms, dashboards,
  task definition families, WAF ACLs, the trail, schedules, KMS aliases) get ARN patterns of
  their environment; auto-named ones (`<project>-<role>-<hex>`: buckets, queues, topics, tables,
  roles, clusters, SageMaker models) get project patterns, the buckets one per bucket role so
  the state bucket never matches;
* by tag: KMS keys and IAM roles, where a mistake escalates, are managed only when they carry
  this project's and environment's tags (and `managed-by: aideploy`, which the bootstrap's own
  resources do not carry); a role can be created only with the environment's permissions
  boundary attached;
* in every policy, Deny statements keep a deployer away from anything tagged for another
  environment or project, from the bootstrap's own identities and boundary, and from the state
  bucket beyond its own stack's objects. Services that authorise by tag honour these; where a
  service does not (S3 bucket configuration, a few EC2 and ELB calls) one account per
  environment is the boundary, which is what the docs recommend.
* by region and account: EC2, ELB and API Gateway resources have generated ids; their rights
  are limited to this account and region (API Gateway's paths exclude `/account`, the setting
  the bootstrap owns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from components.bootstrap import PREVIEW_STATE_KINDS, state_object_prefixes
from components.spec import Environment, Pattern

API_FIRST = Pattern.API_FIRST
EVENT_DRIVEN = Pattern.EVENT_DRIVEN
MANAGED_PLATFORM = Pattern.MANAGED_PLATFORM
EMBEDDED = Pattern.EMBEDDED
ALL_PATTERNS = frozenset({API_FIRST, EVENT_DRIVEN, MANAGED_PLATFORM})

# The tags the stacks put on everything (DeploymentSpec.standard_tags) that make a resource
# "this environment's": the bootstrap's own resources say managed-by aideploy-bootstrap.
STACK_MANAGED_BY = "aideploy"
BOOTSTRAP_MANAGED_BY = "aideploy-bootstrap"
# A grant resource standing for the pattern's stack buckets (expanded by bucket_arns()).
BUCKETS = "{buckets}"
OWNED = "owned"  # condition: aws:ResourceTag/<key> of an existing resource
CREATED = "created"  # condition: aws:RequestTag/<key> of a resource being created


@dataclass(frozen=True)
class Grant:
    """One statement of the deployer's policy. Resources are ARN templates with ``{region}``,
    ``{account}``, ``{project}`` and ``{env}``; ``tags`` names the tag condition (OWNED,
    CREATED or None); ``condition`` adds a literal condition (templated the same way)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    tags: str | None = None
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeAccess:
    """What deploying one Pulumi resource type takes: the IAM actions its create, read,
    update and delete call, the grants that allow them, and the patterns that use it."""

    actions: tuple[str, ...]
    grants: tuple[str, ...]
    patterns: frozenset[Pattern]
    # Service-linked roles AWS creates on first use of the type (iam:AWSServiceName values).
    service_linked_roles: tuple[str, ...] = ()


_REGIONAL = "arn:aws:{svc}:{{region}}:{{account}}:"


def _arn(service: str, rest: str) -> str:
    return _REGIONAL.format(svc=service) + rest


# Buckets the components create, by role (logical name `<project>-<role>`, auto-named with a
# random suffix): one ARN pattern per role, so the state bucket (`<project>-state-...`) is
# never among them.
STACK_BUCKET_ROLES: Mapping[Pattern, tuple[str, ...]] = {
    # The uptime canary's artifacts and their access logs (components/aws/uptime.py).
    API_FIRST: ("access-logs", "uptime"),
    EVENT_DRIVEN: ("access-logs", "input", "results", "audit"),
    MANAGED_PLATFORM: ("access-logs", "capture"),
    # The release channel (components/aws/release_channel.py): the deployer creates it, and in
    # CI publishes releases into it (s3:PutObject, GetObject, ListBucket on its objects).
    EMBEDDED: ("access-logs", "releases"),
}

EC2_NETWORK_ACTIONS = (
    "ec2:AllocateAddress",
    "ec2:AssociateRouteTable",
    "ec2:AttachInternetGateway",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateFlowLogs",
    "ec2:CreateInternetGateway",
    "ec2:CreateNatGateway",
    # API Gateway's VPC link asks for the caller's right to place its interfaces.
    "ec2:CreateNetworkInterface",
    "ec2:CreateRoute",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateTags",
    "ec2:CreateVpc",
    "ec2:CreateVpcEndpoint",
    "ec2:DeleteFlowLogs",
    "ec2:DeleteInternetGateway",
    "ec2:DeleteNatGateway",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteRoute",
    "ec2:DeleteRouteTable",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSubnet",
    "ec2:DeleteTags",
    "ec2:DeleteVpc",
    "ec2:DeleteVpcEndpoints",
    "ec2:DetachInternetGateway",
    "ec2:DisassociateAddress",
    "ec2:DisassociateRouteTable",
    "ec2:ModifySecurityGroupRules",
    "ec2:ModifySubnetAttribute",
    "ec2:ModifyVpcAttribute",
    "ec2:ModifyVpcEndpoint",
    "ec2:ReleaseAddress",
    "ec2:ReplaceRoute",
    "ec2:ReplaceRouteTableAssociation",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
    "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
)
ELB_ACTIONS = (
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyListenerAttributes",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:SetRulePriorities",
    "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets",
)
LOG_GROUP_ACTIONS = (
    "logs:AssociateKmsKey",
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:DeleteMetricFilter",
    "logs:DeleteRetentionPolicy",
    "logs:DescribeLogGroups",
    # LLM stacks count blocked calls with metric filters on the serving log group.
    "logs:DescribeMetricFilters",
    "logs:DisassociateKmsKey",
    "logs:ListTagsForResource",
    "logs:ListTagsLogGroup",
    "logs:PutMetricFilter",
    "logs:PutRetentionPolicy",
    "logs:TagLogGroup",
    "logs:TagResource",
    "logs:UntagLogGroup",
    "logs:UntagResource",
)
# WAF (and other vended logs) deliver to CloudWatch Logs through log deliveries, which have no
# resource-level permissions, and check or extend the account's log resource policy.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)
ROLE_WRITE_WITH_BOUNDARY = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
)
ROLE_MANAGE = (
    "iam:DeleteRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
ROLE_READ = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
)
# The services the stacks hand their roles to (iam:PassedToService).
PASSED_TO_SERVICES = (
    "ecs-tasks.amazonaws.com",
    "lambda.amazonaws.com",
    "sagemaker.amazonaws.com",
    "scheduler.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
)
API_GATEWAY_VERBS = (
    "apigateway:DELETE",
    "apigateway:GET",
    "apigateway:PATCH",
    "apigateway:POST",
    "apigateway:PUT",
)
# Every API Gateway path a stack touches; `/account` (the account-wide logging role, owned by
# the bootstrap) is deliberately not among them.
API_GATEWAY_PATHS = (
    *(
        f"arn:aws:apigateway:{{region}}::/{path}"
        for base in ("restapis", "apikeys", "usageplans", "vpclinks", "domainnames")
        for path in (base, f"{base}/*")
    ),
    "arn:aws:apigateway:{region}::/tags/*",
)
WAF_ACTIONS = (
    "wafv2:AssociateWebACL",
    "wafv2:CreateWebACL",
    "wafv2:DeleteLoggingConfiguration",
    "wafv2:DeleteWebACL",
    "wafv2:DisassociateWebACL",
    "wafv2:GetLoggingConfiguration",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
    "wafv2:ListTagsForResource",
    "wafv2:PutLoggingConfiguration",
    "wafv2:TagResource",
    "wafv2:UntagResource",
    "wafv2:UpdateWebACL",
)
AUTOSCALING_ACTIONS = (
    "application-autoscaling:DeleteScalingPolicy",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingActivities",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:ListTagsForResource",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:TagResource",
    "application-autoscaling:UntagResource",
)
CLOUDWATCH_ACTIONS = (
    "cloudwatch:DeleteAlarms",
    "cloudwatch:DeleteDashboards",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListTagsForResource",
    "cloudwatch:PutDashboard",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:TagResource",
    "cloudwatch:UntagResource",
)
ACM_ACTIONS = (
    "acm:AddTagsToCertificate",
    "acm:DeleteCertificate",
    "acm:DescribeCertificate",
    "acm:GetCertificate",
    "acm:ListTagsForCertificate",
    "acm:RemoveTagsFromCertificate",
)
SYNTHETICS_LAMBDA_ACTIONS = (
    "lambda:AddPermission",
    "lambda:CreateFunction",
    "lambda:DeleteFunction",
    "lambda:DeleteLayerVersion",
    "lambda:GetFunctionConfiguration",
    "lambda:GetLayerVersion",
    "lambda:GetLayerVersionByArn",
    "lambda:PublishLayerVersion",
    "lambda:PublishVersion",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
)
# The Bedrock guardrail of an LLM stack (components/aws/guardrail.py). Guardrail ARNs end in a
# generated id, so tags scope them: created with this stack's tags, managed only when tagged.
# A version is a guardrail ARN plus a number; DeleteGuardrail with a version deletes that one.
BEDROCK_GUARDRAIL_ACTIONS = (
    "bedrock:CreateGuardrailVersion",
    "bedrock:DeleteGuardrail",
    "bedrock:GetGuardrail",
    "bedrock:ListTagsForResource",
    "bedrock:TagResource",
    "bedrock:UntagResource",
    "bedrock:UpdateGuardrail",
)
PCA_ACTIONS = (
    "acm-pca:CreatePermission",
    "acm-pca:DeleteCertificateAuthority",
    "acm-pca:DeletePermission",
    "acm-pca:DescribeCertificateAuthority",
    "acm-pca:GetCertificate",
    "acm-pca:GetCertificateAuthorityCertificate",
    "acm-pca:GetCertificateAuthorityCsr",
    "acm-pca:ImportCertificateAuthorityCertificate",
    "acm-pca:IssueCertificate",
    "acm-pca:ListPermissions",
    "acm-pca:ListTags",
    "acm-pca:TagCertificateAuthority",
    "acm-pca:UntagCertificateAuthority",
    "acm-pca:UpdateCertificateAuthority",
)

# Writes with no resource-level permission are kept to the stack's region.
IN_REGION: Mapping[str, Mapping[str, Any]] = {"StringEquals": {"aws:RequestedRegion": "{region}"}}

# The deployer's grants, by name. `svc:*` only ever on ARN patterns (rule 12); on "*" only
# explicit actions that have no resource-level permissions (Describe/List, create calls).
GRANTS: Mapping[str, Grant] = {
    "ec2-read": Grant(("ec2:Describe*",)),
    "ec2-network": Grant(
        EC2_NETWORK_ACTIONS,
        (
            _arn("ec2", "*"),
            # VPC endpoints name AWS's endpoint service, which lives in an AWS account.
            "arn:aws:ec2:{region}:*:vpc-endpoint-service/*",
        ),
    ),
    "logs": Grant(LOG_GROUP_ACTIONS, (_arn("logs", "log-group:*"),)),
    "log-delivery": Grant(LOG_DELIVERY_ACTIONS),
    "kms-create": Grant(("kms:CreateKey", "kms:TagResource"), tags=CREATED),
    "kms-list": Grant(("kms:ListAliases", "kms:ListKeys")),
    "kms-keys": Grant(("kms:*",), (_arn("kms", "key/*"),), tags=OWNED),
    "kms-aliases": Grant(
        ("kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"),
        (_arn("kms", "alias/{project}-{env}-*"),),
    ),
    "iam-role-write": Grant(
        ROLE_WRITE_WITH_BOUNDARY,
        ("arn:aws:iam::{account}:role/{project}-*",),
        condition={"StringEquals": {"iam:PermissionsBoundary": "{boundary}"}},
    ),
    "iam-role-tag": Grant(
        ("iam:TagRole",),
        ("arn:aws:iam::{account}:role/{project}-*",),
        tags=CREATED,
    ),
    "iam-role-manage": Grant(ROLE_MANAGE, ("arn:aws:iam::{account}:role/{project}-*",), tags=OWNED),
    "iam-role-read": Grant(ROLE_READ, ("arn:aws:iam::{account}:role/{project}-*",)),
    "iam-pass-role": Grant(
        ("iam:PassRole",),
        ("arn:aws:iam::{account}:role/{project}-*",),
        tags=OWNED,
        condition={"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
    ),
    # Resources: one pair (bucket, objects) per bucket role of the pattern, see bucket_arns().
    "s3-buckets": Grant(("s3:*",), (BUCKETS,)),
    "sqs": Grant(("sqs:*",), (_arn("sqs", "{project}-*"),)),
    "sns": Grant(("sns:*",), (_arn("sns", "{project}-*"),)),
    "dynamodb": Grant(
        ("dynamodb:*",),
        (_arn("dynamodb", "table/{project}-*"), _arn("dynamodb", "table/{project}-*/*")),
    ),
    "lambda": Grant(("lambda:*",), (_arn("lambda", "function:{project}-{env}-*"),)),
    # The chat forwarders' webhook parameters (components/aws/notify.parameter_name). The
    # provider reads a parameter back with DescribeParameters, which has no resource-level
    # permissions.
    "ssm-parameters": Grant(
        (
            "ssm:PutParameter",
            "ssm:GetParameter",
            "ssm:GetParameters",
            "ssm:DeleteParameter",
            "ssm:AddTagsToResource",
            "ssm:RemoveTagsFromResource",
            "ssm:ListTagsForResource",
        ),
        ("arn:aws:ssm:{region}:{account}:parameter/{project}/{env}/*",),
    ),
    "ssm-describe": Grant(("ssm:DescribeParameters",)),
    "apigateway": Grant((*API_GATEWAY_VERBS, "apigateway:SetWebACL"), API_GATEWAY_PATHS),
    "wafv2": Grant(
        WAF_ACTIONS,
        (
            _arn("wafv2", "regional/webacl/{project}-{env}-*/*"),
            "arn:aws:wafv2:{region}:*:regional/managedruleset/*/*",
            "arn:aws:apigateway:{region}::/restapis/*/stages/*",
        ),
    ),
    "elb": Grant(ELB_ACTIONS, (_arn("elasticloadbalancing", "*"),)),
    "elb-read": Grant(("elasticloadbalancing:Describe*",)),
    "ecs": Grant(
        ("ecs:*",),
        (
            _arn("ecs", "cluster/{project}-*"),
            _arn("ecs", "service/{project}-*/*"),
            _arn("ecs", "task-definition/{project}-{env}-*:*"),
            _arn("ecs", "task/{project}-*/*"),
        ),
    ),
    # These take no resource ARN the deployer could name before they run (task definitions
    # and clusters get theirs at creation; Application Auto Scaling resolves targets by id):
    # the stack's region is the fence ("*" without a condition would be any region).
    "ecs-account": Grant(
        (
            "ecs:CreateCluster",
            "ecs:DeregisterTaskDefinition",
            "ecs:DescribeTaskDefinition",
            "ecs:ListTaskDefinitions",
            "ecs:RegisterTaskDefinition",
        ),
        condition=IN_REGION,
    ),
    "autoscaling": Grant(AUTOSCALING_ACTIONS, condition=IN_REGION),
    # A target tracking policy's alarms (`TargetTracking-<resource id>-AlarmHigh|Low-<uuid>`) are
    # created and deleted by Application Auto Scaling with its service-linked role, but
    # PutScalingPolicy first validates that the *caller* may manage CloudWatch alarms (Application
    # Auto Scaling user guide: "Permissions validation for API calls on target resources"; the
    # ECS guide lists cloudwatch:PutMetricAlarm/DescribeAlarms/DeleteAlarms for the caller). The
    # deployer's own request carries no aws:CalledVia (IAM sets it only for the few services that
    # document it: Athena, CloudFormation, DynamoDB, KMS), so no CalledVia condition here: the
    # name prefix is the scope.
    "autoscaling-alarms": Grant(
        ("cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"),
        (_arn("cloudwatch", "alarm:TargetTracking-*"),),
    ),
    "cloudwatch": Grant(
        CLOUDWATCH_ACTIONS,
        (
            _arn("cloudwatch", "alarm:{project}-{env}-*"),
            "arn:aws:cloudwatch::{account}:dashboard/{project}-{env}-*",
        ),
    ),
    "cloudwatch-read": Grant(("cloudwatch:DescribeAlarms", "cloudwatch:ListDashboards")),
    "events": Grant(("events:*",), (_arn("events", "rule/{project}-*"),)),
    "scheduler": Grant(
        ("scheduler:*",), (_arn("scheduler", "schedule/default/{project}-{env}-*"),)
    ),
    "cloudtrail": Grant(("cloudtrail:*",), (_arn("cloudtrail", "trail/{project}-{env}-*"),)),
    "cloudtrail-read": Grant(("cloudtrail:DescribeTrails", "cloudtrail:ListTrails")),
    "sagemaker": Grant(
        ("sagemaker:*",),
        (
            _arn("sagemaker", "model/{project}-*"),
            _arn("sagemaker", "endpoint-config/{project}-*"),
            _arn("sagemaker", "endpoint/{project}-{env}"),
        ),
    ),
    # CreateGuardrail names no guardrail resource type (only the optional guardrail-profile and
    # automated-reasoning-policy ones, which CLASSIC guardrails never use; Service Authorization
    # Reference, Amazon Bedrock): a guardrail ARN pattern would not match the request, so "*",
    # scoped by the request's tags and the stack's Region. Tags passed to CreateGuardrail also
    # take bedrock:TagResource (Bedrock user guide, guardrails-permissions).
    "bedrock-guardrail-create": Grant(
        ("bedrock:CreateGuardrail", "bedrock:TagResource"), tags=CREATED, condition=IN_REGION
    ),
    "bedrock-guardrail": Grant(
        BEDROCK_GUARDRAIL_ACTIONS, (_arn("bedrock", "guardrail/*"),), tags=OWNED
    ),
    "acm-request": Grant(("acm:AddTagsToCertificate", "acm:RequestCertificate"), tags=CREATED),
    "acm": Grant(ACM_ACTIONS, (_arn("acm", "certificate/*"),), tags=OWNED),
    "acm-pca-create": Grant(
        ("acm-pca:CreateCertificateAuthority", "acm-pca:TagCertificateAuthority"), tags=CREATED
    ),
    "acm-pca": Grant(PCA_ACTIONS, (_arn("acm-pca", "certificate-authority/*"),), tags=OWNED),
    # The uptime canary (components/aws/uptime.py). Its name may be cut with a hash (21
    # characters), so tags scope it: created with this stack's tags, managed only when tagged.
    "synthetics-create": Grant(
        ("synthetics:CreateCanary", "synthetics:TagResource"),
        (_arn("synthetics", "canary:*"),),
        tags=CREATED,
    ),
    "synthetics": Grant(("synthetics:*",), (_arn("synthetics", "canary:*"),), tags=OWNED),
    "synthetics-read": Grant(("synthetics:DescribeCanaries", "synthetics:DescribeRuntimeVersions")),
    # Synthetics creates, updates and deletes the canary's function and layer with the
    # caller's rights (CloudWatch user guide, "Required roles and permissions for canaries").
    "synthetics-lambda": Grant(
        SYNTHETICS_LAMBDA_ACTIONS,
        (
            _arn("lambda", "function:cwsyn-*"),
            _arn("lambda", "layer:cwsyn-*"),
            _arn("lambda", "layer:Synthetics*"),
        ),
    ),
}

_NET = ("ec2-network", "ec2-read")
_API = frozenset({API_FIRST})
_EVENTS = frozenset({EVENT_DRIVEN})
_SAGEMAKER = frozenset({MANAGED_PLATFORM})
_ECS = frozenset({API_FIRST, EVENT_DRIVEN})
_S3 = ALL_PATTERNS  # API-first: the uptime canary's artifact bucket
# Every pattern has a queue: dead letters of its Lambda functions, and the event-driven jobs.
_QUEUES = ALL_PATTERNS


def _t(
    actions: Sequence[str],
    grants: Sequence[str],
    patterns: frozenset[Pattern] = ALL_PATTERNS,
    linked: Sequence[str] = (),
) -> TypeAccess:
    return TypeAccess(tuple(actions), tuple(grants), patterns, tuple(linked))


def _s3_config(action: str) -> TypeAccess:
    return _t(
        (f"s3:{action}", f"s3:Get{action.removeprefix('Put')}", "s3:ListBucket"),
        ("s3-buckets",),
        _S3,
    )


# Every resource type the stacks create -> what deploying it takes. A test captures every
# stack of every AWS pattern (candidates, domains, a private CA, an existing VPC included)
# and fails on a type missing here or a pattern not listed.
RESOURCE_TYPES: Mapping[str, TypeAccess] = {
    # network
    "aws:ec2/vpc:Vpc": _t(("ec2:CreateVpc", "ec2:ModifyVpcAttribute", "ec2:DeleteVpc"), _NET),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _t(
        ("ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags"),
        _NET,
    ),
    "aws:ec2/subnet:Subnet": _t(("ec2:CreateSubnet", "ec2:DeleteSubnet"), _NET),
    "aws:ec2/internetGateway:InternetGateway": _t(
        ("ec2:CreateInternetGateway", "ec2:AttachInternetGateway", "ec2:DeleteInternetGateway"),
        _NET,
    ),
    "aws:ec2/routeTable:RouteTable": _t(
        ("ec2:CreateRouteTable", "ec2:CreateRoute", "ec2:DeleteRouteTable"), _NET
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _t(
        ("ec2:AssociateRouteTable", "ec2:DisassociateRouteTable"), _NET
    ),
    "aws:ec2/eip:Eip": _t(("ec2:AllocateAddress", "ec2:ReleaseAddress"), _NET),
    "aws:ec2/natGateway:NatGateway": _t(("ec2:CreateNatGateway", "ec2:DeleteNatGateway"), _NET),
    "aws:ec2/securityGroup:SecurityGroup": _t(
        (
            "ec2:CreateSecurityGroup",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:DeleteSecurityGroup",
        ),
        _NET,
    ),
    "aws:ec2/flowLog:FlowLog": _t(
        ("ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", "iam:PassRole"),
        (*_NET, "iam-pass-role"),
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _t(
        ("ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint", "ec2:DeleteVpcEndpoints"),
        _NET,
        _EVENTS,
    ),
    # keys, logs, identities
    "aws:kms/key:Key": _t(
        (
            "kms:CreateKey",
            "kms:TagResource",
            "kms:PutKeyPolicy",
            "kms:EnableKeyRotation",
            "kms:DescribeKey",
            "kms:ScheduleKeyDeletion",
        ),
        ("kms-create", "kms-keys", "kms-list"),
    ),
    "aws:kms/alias:Alias": _t(
        ("kms:CreateAlias", "kms:DeleteAlias", "kms:ListAliases"),
        ("kms-aliases", "kms-keys", "kms-list"),
    ),
    "aws:cloudwatch/logGroup:LogGroup": _t(
        ("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"), ("logs",)
    ),
    "aws:iam/role:Role": _t(
        ("iam:CreateRole", "iam:TagRole", "iam:GetRole", "iam:DeleteRole"),
        ("iam-role-write", "iam-role-tag", "iam-role-read", "iam-role-manage"),
    ),
    "aws:iam/rolePolicy:RolePolicy": _t(
        ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
        ("iam-role-write", "iam-role-read"),
    ),
    # monitoring
    "aws:sns/topic:Topic": _t(
        ("sns:CreateTopic", "sns:SetTopicAttributes", "sns:DeleteTopic"), ("sns",)
    ),
    "aws:sns/topicPolicy:TopicPolicy": _t(("sns:SetTopicAttributes",), ("sns",)),
    "aws:sns/topicSubscription:TopicSubscription": _t(
        ("sns:Subscribe", "sns:Unsubscribe"), ("sns",)
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _t(
        ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"),
        ("cloudwatch", "cloudwatch-read"),
    ),
    "aws:cloudwatch/dashboard:Dashboard": _t(
        ("cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"),
        ("cloudwatch",),
    ),
    # serving on ECS
    "aws:ecs/cluster:Cluster": _t(
        ("ecs:CreateCluster", "ecs:DescribeClusters", "ecs:DeleteCluster"),
        ("ecs", "ecs-account"),
        _ECS,
        ("ecs.amazonaws.com",),
    ),
    "aws:ecs/taskDefinition:TaskDefinition": _t(
        ("ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "iam:PassRole"),
        ("ecs-account", "iam-pass-role"),
        _ECS,
    ),
    "aws:ecs/service:Service": _t(
        ("ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices"),
        ("ecs",),
        _ECS,
        ("ecs.amazonaws.com",),
    ),
    # Registering also updates the ECS service or SageMaker variant (their own grants).
    "aws:appautoscaling/target:Target": _t(
        (
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:DeregisterScalableTarget",
        ),
        ("autoscaling",),
        linked=(
            "ecs.application-autoscaling.amazonaws.com",
            "sagemaker.application-autoscaling.amazonaws.com",
        ),
    ),
    "aws:appautoscaling/policy:Policy": _t(
        (
            "application-autoscaling:PutScalingPolicy",
            "application-autoscaling:DeleteScalingPolicy",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:DeleteAlarms",
        ),
        ("autoscaling", "autoscaling-alarms", "cloudwatch-read"),
    ),
    # the API
    "aws:lb/loadBalancer:LoadBalancer": _t(
        ("elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:DescribeLoadBalancers"),
        ("elb", "elb-read"),
        _API,
        ("elasticloadbalancing.amazonaws.com",),
    ),
    "aws:lb/targetGroup:TargetGroup": _t(
        ("elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteTargetGroup"),
        ("elb", "elb-read"),
        _API,
    ),
    "aws:lb/listener:Listener": _t(
        ("elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener"),
        ("elb", "elb-read"),
        _API,
    ),
    "aws:lb/listenerRule:ListenerRule": _t(
        ("elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"),
        ("elb", "elb-read"),
        _API,
    ),
    "aws:acm/certificate:Certificate": _t(
        ("acm:RequestCertificate", "acm:DescribeCertificate", "acm:DeleteCertificate"),
        ("acm-request", "acm", "acm-pca"),
        _API,
    ),
    "aws:acm/certificateValidation:CertificateValidation": _t(
        ("acm:DescribeCertificate",), ("acm",), _API
    ),
    "aws:acmpca/certificateAuthority:CertificateAuthority": _t(
        ("acm-pca:CreateCertificateAuthority", "acm-pca:DescribeCertificateAuthority"),
        ("acm-pca-create", "acm-pca"),
        _API,
    ),
    "aws:acmpca/certificate:Certificate": _t(
        ("acm-pca:IssueCertificate", "acm-pca:GetCertificate"), ("acm-pca",), _API
    ),
    "aws:acmpca/certificateAuthorityCertificate:CertificateAuthorityCertificate": _t(
        ("acm-pca:ImportCertificateAuthorityCertificate",), ("acm-pca",), _API
    ),
    "aws:acmpca/permission:Permission": _t(
        ("acm-pca:CreatePermission", "acm-pca:ListPermissions", "acm-pca:DeletePermission"),
        ("acm-pca",),
        _API,
    ),
    "aws:apigateway/restApi:RestApi": _t(
        ("apigateway:POST", "apigateway:PATCH"), ("apigateway",), _API
    ),
    "aws:apigateway/resource:Resource": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/method:Method": _t(("apigateway:PUT",), ("apigateway",), _API),
    "aws:apigateway/model:Model": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/requestValidator:RequestValidator": _t(
        ("apigateway:POST",), ("apigateway",), _API
    ),
    "aws:apigateway/authorizer:Authorizer": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/integration:Integration": _t(("apigateway:PUT",), ("apigateway",), _API),
    "aws:apigateway/deployment:Deployment": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/stage:Stage": _t(
        ("apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"), ("apigateway",), _API
    ),
    "aws:apigateway/methodSettings:MethodSettings": _t(
        ("apigateway:PATCH",), ("apigateway",), _API
    ),
    "aws:apigateway/usagePlan:UsagePlan": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/apiKey:ApiKey": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/usagePlanKey:UsagePlanKey": _t(("apigateway:POST",), ("apigateway",), _API),
    "aws:apigateway/domainName:DomainName": _t(
        ("apigateway:POST", "apigateway:DELETE"), ("apigateway",), _API
    ),
    "aws:apigateway/basePathMapping:BasePathMapping": _t(
        ("apigateway:POST",), ("apigateway",), _API
    ),
    "aws:apigatewayv2/vpcLink:VpcLink": _t(
        ("apigateway:POST", "apigateway:DELETE", "ec2:CreateNetworkInterface"),
        ("apigateway",),
        _API,
        ("ops.apigateway.amazonaws.com",),
    ),
    # The JWT authorizer (api-first), the post-window rollback function (both candidates) and
    # the Slack/Teams forwarders (every pattern whose alerts route to a chat).
    "aws:lambda/function:Function": _t(
        ("lambda:CreateFunction", "lambda:UpdateFunctionCode", "iam:PassRole"),
        ("lambda", "iam-pass-role"),
    ),
    "aws:lambda/permission:Permission": _t(
        ("lambda:AddPermission", "lambda:RemovePermission"), ("lambda",)
    ),
    # The chat forwarders' webhook URLs (SecureString with the stack key).
    "aws:ssm/parameter:Parameter": _t(
        (
            "ssm:PutParameter",
            "ssm:GetParameter",
            "ssm:DeleteParameter",
            "ssm:AddTagsToResource",
            "ssm:DescribeParameters",
            "kms:Encrypt",
        ),
        ("ssm-parameters", "ssm-describe", "kms-keys"),
    ),
    "aws:wafv2/webAcl:WebAcl": _t(("wafv2:CreateWebACL", "wafv2:UpdateWebACL"), ("wafv2",), _API),
    # LLM stacks (api-first only): the guardrail, its versions, the blocked-call metric filters.
    # Encrypting the guardrail with the stack key takes the creator's kms:CreateGrant, Decrypt,
    # GenerateDataKey and DescribeKey on it (Bedrock user guide, guardrails-permissions-kms).
    # The provider (terraform-provider-aws internal/service/bedrock/guardrail.go) calls Create,
    # Get (waiting and reading), Update and DeleteGuardrail, and tags through TagResource,
    # UntagResource and ListTagsForResource; never ListGuardrails.
    "aws:bedrock/guardrail:Guardrail": _t(
        (
            "bedrock:CreateGuardrail",
            "bedrock:TagResource",
            "bedrock:GetGuardrail",
            "bedrock:UpdateGuardrail",
            "bedrock:DeleteGuardrail",
            "bedrock:ListTagsForResource",
            "bedrock:UntagResource",
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKey",
        ),
        ("bedrock-guardrail-create", "bedrock-guardrail", "kms-keys"),
        _API,
    ),
    "aws:bedrock/guardrailVersion:GuardrailVersion": _t(
        ("bedrock:CreateGuardrailVersion", "bedrock:GetGuardrail", "kms:Decrypt"),
        ("bedrock-guardrail", "kms-keys"),
        _API,
    ),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": _t(
        ("logs:PutMetricFilter", "logs:DescribeMetricFilters", "logs:DeleteMetricFilter"),
        ("logs",),
        _API,
    ),
    "aws:wafv2/webAclAssociation:WebAclAssociation": _t(
        ("wafv2:AssociateWebACL", "apigateway:SetWebACL"), ("wafv2", "apigateway"), _API
    ),
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": _t(
        (
            "wafv2:PutLoggingConfiguration",
            "logs:CreateLogDelivery",
            "logs:DescribeResourcePolicies",
        ),
        ("wafv2", "log-delivery"),
        _API,
    ),
    "aws:sqs/queue:Queue": _t(
        ("sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue"), ("sqs",), _QUEUES
    ),
    "aws:sqs/queuePolicy:QueuePolicy": _t(("sqs:SetQueueAttributes",), ("sqs",), _QUEUES),
    # the event-driven pattern
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": _t(
        ("sqs:SetQueueAttributes",), ("sqs",), _EVENTS
    ),
    "aws:s3/bucket:Bucket": _t(
        ("s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket"), ("s3-buckets",), _S3
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _s3_config(
        "PutBucketPublicAccessBlock"
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _s3_config(
        "PutBucketOwnershipControls"
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _s3_config("PutEncryptionConfiguration")
    ),
    "aws:s3/bucketVersioning:BucketVersioning": _s3_config("PutBucketVersioning"),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _t(
        ("s3:PutBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
        ("s3-buckets",),
        frozenset({EMBEDDED}),
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _s3_config(
        "PutLifecycleConfiguration"
    ),
    "aws:s3/bucketPolicy:BucketPolicy": _s3_config("PutBucketPolicy"),
    "aws:s3/bucketLogging:BucketLogging": _s3_config("PutBucketLogging"),
    "aws:s3/bucketObjectv2:BucketObjectv2": _t(
        ("s3:PutObject", "s3:GetObject", "s3:DeleteObject", "kms:GenerateDataKey"),
        ("s3-buckets", "kms-keys"),
        _API,
    ),
    "aws:synthetics/canary:Canary": _t(
        (
            "synthetics:CreateCanary",
            "synthetics:TagResource",
            "synthetics:StartCanary",
            "synthetics:UpdateCanary",
            "synthetics:DeleteCanary",
            "synthetics:DescribeCanaries",
            "lambda:CreateFunction",
            "lambda:PublishLayerVersion",
            "iam:PassRole",
        ),
        (
            "synthetics-create",
            "synthetics",
            "synthetics-read",
            "synthetics-lambda",
            "iam-pass-role",
        ),
        _API,
    ),
    "aws:s3/bucketNotification:BucketNotification": _t(
        ("s3:PutBucketNotification", "s3:GetBucketNotification"), ("s3-buckets",), _EVENTS
    ),
    "aws:dynamodb/table:Table": _t(
        ("dynamodb:CreateTable", "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTimeToLive"),
        ("dynamodb", "kms-keys"),
        _EVENTS,
    ),
    # Every pattern: the event-driven pattern's schedules, and the post-window rollback rule
    # (components/aws/release.py) of the patterns with a candidate.
    "aws:cloudwatch/eventRule:EventRule": _t(("events:PutRule", "events:DeleteRule"), ("events",)),
    "aws:cloudwatch/eventTarget:EventTarget": _t(
        ("events:PutTargets", "events:RemoveTargets"), ("events",)
    ),
    "aws:scheduler/schedule:Schedule": _t(
        ("scheduler:CreateSchedule", "scheduler:DeleteSchedule", "iam:PassRole"),
        ("scheduler", "iam-pass-role"),
        _EVENTS,
    ),
    "aws:cloudtrail/trail:Trail": _t(
        ("cloudtrail:CreateTrail", "cloudtrail:PutEventSelectors", "cloudtrail:StartLogging"),
        ("cloudtrail", "cloudtrail-read"),
        _EVENTS,
    ),
    # the managed platform
    "aws:sagemaker/model:Model": _t(
        ("sagemaker:CreateModel", "sagemaker:DeleteModel", "iam:PassRole"),
        ("sagemaker", "iam-pass-role", "ec2-read"),
        _SAGEMAKER,
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _t(
        ("sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig", "kms:CreateGrant"),
        ("sagemaker", "kms-keys"),
        _SAGEMAKER,
    ),
    "aws:sagemaker/endpoint:Endpoint": _t(
        ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint"),
        ("sagemaker",),
        _SAGEMAKER,
    ),
}

# The embedded pattern's stacks (components/aws/embedded.py) build from the same types as the
# others: a release channel (buckets), a signing key and its alias, the device API (a REST API
# with its stage, authorizer, WAF and functions), alarms and topics.
EMBEDDED_TYPES: tuple[str, ...] = (
    "aws:apigateway/authorizer:Authorizer",
    "aws:apigateway/deployment:Deployment",
    "aws:apigateway/integration:Integration",
    "aws:apigateway/method:Method",
    "aws:apigateway/methodSettings:MethodSettings",
    "aws:apigateway/resource:Resource",
    "aws:apigateway/restApi:RestApi",
    "aws:apigateway/stage:Stage",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:kms/alias:Alias",
    "aws:kms/key:Key",
    "aws:lambda/function:Function",
    "aws:lambda/permission:Permission",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLogging:BucketLogging",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:sns/topic:Topic",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:sqs/queue:Queue",
    "aws:sqs/queuePolicy:QueuePolicy",
    # Slack/Teams alert routes: the forwarder's webhook URL (components/aws/notify.py).
    "aws:ssm/parameter:Parameter",
    "aws:wafv2/webAcl:WebAcl",
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
)
RESOURCE_TYPES = {
    type_: replace(access, patterns=access.patterns | {EMBEDDED})
    if type_ in EMBEDDED_TYPES
    else access
    for type_, access in RESOURCE_TYPES.items()
}


def grants_for(pattern: Pattern) -> tuple[str, ...]:
    """The names of the grants a deployer of ``pattern`` needs, in table order."""
    needed = {g for t in RESOURCE_TYPES.values() if pattern in t.patterns for g in t.grants}
    # Every deployer reads the identity-role metadata and the zones it deploys into.
    needed |= {"iam-role-read", "ec2-read"}
    return tuple(name for name in GRANTS if name in needed)


def service_linked_roles(pattern: Pattern) -> tuple[str, ...]:
    """The service-linked roles AWS may create while ``pattern``'s stack deploys."""
    names = {
        s for t in RESOURCE_TYPES.values() if pattern in t.patterns for s in t.service_linked_roles
    }
    return tuple(sorted(names))


# The ceiling of every role a stack creates (its permissions boundary): the actions the
# components' roles are granted, nothing else (no IAM, no STS, no data services the patterns
# do not use). The roles' own policies scope them to resources; the boundary's Deny
# statements add the environment and bootstrap fences.
BOUNDARY_ACTIONS: tuple[str, ...] = (
    # The post-window rollback function (components/aws/release.API_CALLS).
    "apigateway:PATCH",
    # The serving task of an LLM stack (components/aws/guardrail.task_role_statements): its
    # guardrail, and the hosted model only with it (the Deny names the same actions).
    "bedrock:ApplyGuardrail",
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData",
    "sagemaker:UpdateEndpointWeightsAndCapacities",
    "ssm:PutParameter",
    # The Slack/Teams forwarders (components/aws/notify.ROLE_ACTIONS): their webhook parameter.
    "ssm:GetParameter",
    "cloudwatch:PutMetricData",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
    "ecs:GetTaskProtection",
    "ecs:UpdateTaskProtection",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "s3:AbortMultipartUpload",
    # The embedded pattern's download function and the client build pipeline's reader
    # (components/aws/delivery.py): read releases by version, list releases/ (a missing pointer
    # is then 404, not 403).
    "s3:GetObjectVersion",
    "s3:ListBucket",
    # The uptime canary's role (components/aws/uptime.ROLE_ACTIONS).
    "s3:GetBucketLocation",
    "s3:ListAllMyBuckets",
    "s3:GetObject",
    "s3:PutObject",
    "sns:Publish",
    "sns:Subscribe",
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)

# What a read-only previewer's `pulumi preview` calls besides the state and its secrets key:
# the lookups the programs make (no --refresh: previews diff against the state).
PREVIEW_LOOKUP_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcs",
)

# The publisher pushes model images to one repository.
ECR_PUSH_ACTIONS: tuple[str, ...] = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
ECR_PULL_ACTIONS: tuple[str, ...] = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)

# Pulumi's DIY state layout is the neutral one in components/bootstrap.py (read from pulumi/pulumi
# pkg/backend/diy): a deployer reads and writes every kind of its own stack's objects, a
# previewer reads PREVIEW_STATE_KINDS of its stacks, everyone reads STATE_READ_ONLY_PATHS.
STATE_OBJECT_ACTIONS = ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")


def bucket_arns(pattern: Pattern, project: str) -> tuple[str, ...]:
    """ARN patterns of ``pattern``'s stack buckets and their objects (never the state's)."""
    return tuple(
        arn
        for role in STACK_BUCKET_ROLES[pattern]
        for arn in (f"arn:aws:s3:::{project}-{role}-*", f"arn:aws:s3:::{project}-{role}-*/*")
    )


def fill(template: str, **values: str) -> str:
    """An ARN or path template with its ``{name}`` fields filled in."""
    return template.format(**values)


def _key_patterns(prefixes: Sequence[str]) -> tuple[str, ...]:
    # S3 object ARNs match with `*`: a literal prefix plus `*` is exactly "starts with".
    return tuple(f"{p}*" for p in prefixes)


def stack_paths(project: str, environment: Environment) -> tuple[str, ...]:
    """The state-bucket key patterns of one environment's stack (its deployer reads and writes
    them): every kind of :func:`components.bootstrap.state_object_prefixes`."""
    return _key_patterns(tuple(state_object_prefixes(project, environment.value).values()))


def preview_paths(project: str, environment: Environment) -> tuple[str, ...]:
    """The state-bucket key patterns a previewer of ``environment`` reads (never writes)."""
    prefixes = state_object_prefixes(project, environment.value)
    return _key_patterns(tuple(prefixes[kind] for kind in PREVIEW_STATE_KINDS))
