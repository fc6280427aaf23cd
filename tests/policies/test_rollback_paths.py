"""S2 follows each alarm to its rollback (review D-4): captured stacks, one seam cut at a time.

The generated prod stacks of every pattern with an automatic rollback pass; cutting one seam
(the consumer's marker, its read grant on the alarm, its write grant on the traffic, the link
from the alarm to it) fails with the reason. Roles the stacks grant from bootstrap are resolved
with bootstrap's own definitions (components/azure/roles.py, components/gcp/prerequisites.py),
so the rule's read and write requirements are held against what those roles really allow.
Small programs cover what generated stacks do not use: in-stack role definitions, built-in
roles, literal scopes, SNS subscriptions.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.web as web
import pulumi_gcp as gcp
import pytest

from components.azure import roles as azure_roles
from components.gcp import prerequisites as gcp_roles
from components.spec import Cloud, Environment, Pattern
from offline.capture import GCP_PROJECT, SUBSCRIPTION_ID, CapturedResource
from policies.rules import rollback_paths, stack
from tests.conftest import make_spec, run_component
from tests.policies.harness import Finding, evaluate, run_program

S2 = "aideploy-stack-require-rollback-wired-to-alarms"
WORKSPACE = (
    "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws"
)

# (cloud, pattern) -> logical names of: the rollback consumer, its read grant, its write grant.
AUTOMATED: dict[tuple[Cloud, Pattern], tuple[str, str, str]] = {
    (Cloud.AZURE, Pattern.API_FIRST): (
        "acme-support-rollback",
        "acme-support-rollback-alerts-grant",
        "acme-support-rollback-grant",
    ),
    (Cloud.AZURE, Pattern.MANAGED_PLATFORM): (
        "acme-support-rollback",
        "acme-support-rollback-alerts-grant",
        "acme-support-rollback-grant",
    ),
    (Cloud.GCP, Pattern.API_FIRST): (
        "acme-support-rollback-fn",
        "acme-support-rollback-iam-runtime-reads",
        "acme-support-rollback-role-grant",
    ),
    (Cloud.GCP, Pattern.MANAGED_PLATFORM): (
        "acme-support-rollback-fn",
        "acme-support-rollback-iam-runtime-reads",
        "acme-support-rollback-endpoint",
    ),
}
AWS_PATTERNS = (Pattern.API_FIRST, Pattern.MANAGED_PLATFORM)
ALL = [*AUTOMATED, *((Cloud.AWS, p) for p in AWS_PATTERNS)]


@cache
def captured(cloud: Cloud, pattern: Pattern) -> tuple[CapturedResource, ...]:
    """The generated prod stack, captured once per module."""
    return tuple(run_component(make_spec(cloud, pattern, Environment.PROD)).resources)


def s2(resources: list[CapturedResource]) -> list[Finding]:
    return [f for f in evaluate([stack.ROLLBACK], resources) if f.policy == S2]


def without(resources: list[CapturedResource], *names: str) -> list[CapturedResource]:
    present = {r.name for r in resources}
    assert set(names) <= present, set(names) - present  # the cut must exist to mean anything
    return [r for r in resources if r.name not in names]


def edited(
    resources: list[CapturedResource], name: str, edit: Callable[[dict[str, Any]], None]
) -> list[CapturedResource]:
    out = []
    for r in resources:
        if r.name == name:
            inputs = json.loads(json.dumps(r.inputs, default=str))
            edit(inputs)
            r = dataclasses.replace(r, inputs=inputs)
        out.append(r)
    assert any(r.name == name for r in out)
    return out


def _aws_native_off(inputs: dict[str, Any]) -> None:
    """No native rollback: ECS service alarms off, no SageMaker auto-rollback alarms."""
    if "alarms" in inputs:
        inputs["alarms"]["rollback"] = False
    inputs.pop("deploymentConfig", None)


def aws_without_native(pattern: Pattern) -> list[CapturedResource]:
    """The AWS stack with native rollback switched off: only the rollback Lambda is left."""
    resources = list(captured(Cloud.AWS, pattern))
    natives = [
        r.name
        for r in resources
        if r.type in ("aws:ecs/service:Service", "aws:sagemaker/endpoint:Endpoint")
    ]
    assert natives
    for name in natives:
        resources = edited(resources, name, _aws_native_off)
    return resources


# ---------------------------------------------------------------- generated stacks
@pytest.mark.parametrize(("cloud", "pattern"), ALL, ids=lambda v: v.value)
def test_generated_prod_stacks_have_a_working_rollback(cloud: Cloud, pattern: Pattern) -> None:
    assert s2(list(captured(cloud, pattern))) == []


@pytest.mark.parametrize("pattern", AWS_PATTERNS, ids=lambda v: v.value)
def test_aws_rollback_lambda_alone_counts(pattern: Pattern) -> None:
    """With native rollback off, the EventBridge rule -> rollback Lambda path carries S2."""
    assert s2(aws_without_native(pattern)) == []


@pytest.mark.parametrize(("cloud", "pattern"), list(AUTOMATED), ids=lambda v: v.value)
def test_unmarked_consumer_is_no_rollback(cloud: Cloud, pattern: Pattern) -> None:
    consumer, _, _ = AUTOMATED[(cloud, pattern)]

    def unmark(inputs: dict[str, Any]) -> None:
        for key in ("tags", "labels"):
            for marker in ("aideploy-role", "role"):
                (inputs.get(key) or {}).pop(marker, None)

    findings = s2(edited(list(captured(cloud, pattern)), consumer, unmark))
    assert findings and all("rollback marker" in f.message for f in findings)


# Grants of bootstrap's roles on the alert's scope: the pack sees where they apply, not what they
# allow, so every one of them must go for the pack alone to see no read (Azure also grants its
# log reader on the workspace); test_bootstrap_roles_... holds the read grant itself necessary.
SCOPE_READERS: dict[tuple[Cloud, Pattern], tuple[str, ...]] = {
    key: (read, "acme-support-rollback-logs-grant") if key[0] is Cloud.AZURE else (read,)
    for key, (_, read, _) in AUTOMATED.items()
}


@pytest.mark.parametrize(("cloud", "pattern"), list(AUTOMATED), ids=lambda v: v.value)
def test_consumer_that_cannot_read_its_alarm_is_no_rollback(cloud: Cloud, pattern: Pattern) -> None:
    findings = s2(without(list(captured(cloud, pattern)), *SCOPE_READERS[(cloud, pattern)]))
    assert findings and all("read the alarm" in f.message for f in findings)


@pytest.mark.parametrize(("cloud", "pattern"), list(AUTOMATED), ids=lambda v: v.value)
def test_consumer_that_cannot_move_traffic_is_no_rollback(cloud: Cloud, pattern: Pattern) -> None:
    _, _, write = AUTOMATED[(cloud, pattern)]
    findings = s2(without(list(captured(cloud, pattern)), write))
    assert findings and all("change nothing" in f.message for f in findings)


def test_azure_read_grant_on_another_scope_is_no_read() -> None:
    """Review E2's shape: the alert reader granted somewhere other than where alerts are raised."""
    resources = list(captured(Cloud.AZURE, Pattern.API_FIRST))
    moved = []
    for r in resources:
        if r.name in SCOPE_READERS[(Cloud.AZURE, Pattern.API_FIRST)]:
            deps = dict(r.property_dependencies)
            insights = next(x.urn for x in resources if x.name == "acme-support-appinsights")
            deps["scope"] = (insights,)
            r = dataclasses.replace(r, property_dependencies=deps)
        moved.append(r)
    findings = s2(moved)
    assert findings and all("read the alarm" in f.message for f in findings)


def test_gcp_alarm_that_reaches_no_function_is_no_rollback() -> None:
    """The channel's topic is not the one the function is triggered by."""
    resources = list(captured(Cloud.GCP, Pattern.API_FIRST))
    cut = []
    for r in resources:
        if r.name == "acme-support-rollback-fn":
            deps = {k: v for k, v in r.property_dependencies.items() if k != "eventTrigger"}
            r = dataclasses.replace(r, property_dependencies=deps)
        cut.append(r)
    findings = s2(cut)
    assert findings and all("reaches a rollback function" in f.message for f in findings)


@pytest.mark.parametrize("pattern", AWS_PATTERNS, ids=lambda v: v.value)
def test_aws_rollback_lambda_needs_its_seams(pattern: Pattern) -> None:
    resources = aws_without_native(pattern)
    policy_name = "acme-support-rollback-role-policy"
    rollback_fn = "acme-support-rollback"

    def drop(prefix: str) -> Callable[[dict[str, Any]], None]:
        def edit(inputs: dict[str, Any]) -> None:
            doc = json.loads(inputs["policy"])
            kept = [
                s
                for s in doc["Statement"]
                if not any(str(a).startswith(prefix) for a in s["Action"])
            ]
            assert len(kept) < len(doc["Statement"])
            doc["Statement"] = kept
            inputs["policy"] = json.dumps(doc)

        return edit

    write_service = {Pattern.API_FIRST: "apigateway:", Pattern.MANAGED_PLATFORM: "sagemaker:"}
    cases = {
        "rollback marker": edited(resources, rollback_fn, lambda i: i["tags"].pop("aideploy-role")),
        "read the alarm": edited(resources, policy_name, drop("cloudwatch:DescribeAlarms")),
        "change nothing": edited(resources, policy_name, drop(write_service[pattern])),
    }
    for why, case in cases.items():
        findings = s2(case)
        assert findings and all(why in f.message for f in findings), (why, findings)


# ---------------------------------------------------------------- bootstrap's roles
def _bootstrap_role_actions(cloud: Cloud, pattern: Pattern) -> dict[str, tuple[str, ...]]:
    """Role id -> what it allows, for the roles bootstrap creates for this project and stack."""
    project = make_spec(cloud, pattern, Environment.PROD).project
    if cloud is Cloud.AZURE:
        return {
            azure_roles.custom_role_guid(SUBSCRIPTION_ID, project, key): (
                role.actions + role.data_actions
            )
            for key, role in azure_roles.CUSTOM_ROLES.items()
        }
    env = Environment.PROD
    return {
        gcp_roles.rollback_role_name(GCP_PROJECT, project, env): gcp_roles.ROLLBACK_ROLES[
            pattern
        ].permissions,
        gcp_roles.rollback_reader_role_name(
            GCP_PROJECT, project, env
        ): gcp_roles.ROLLBACK_READER.permissions,
    }


def _resolved(
    grants: list[rollback_paths.Grant], known: dict[str, tuple[str, ...]]
) -> Iterator[rollback_paths.Grant]:
    for g in grants:
        if g.actions is None:
            assert g.role in known, f"a grant of a role bootstrap does not define: {g.role}"
            g = dataclasses.replace(g, actions=known[g.role])
        yield g


@pytest.mark.parametrize(("cloud", "pattern"), list(AUTOMATED), ids=lambda v: v.value)
def test_bootstrap_roles_allow_what_the_rule_requires(cloud: Cloud, pattern: Pattern) -> None:
    """The stacks grant bootstrap's roles, which the pack cannot see: resolved with bootstrap's
    definitions, the consumer still reads every rollback alarm it is wired to and writes the
    traffic target."""
    resources = list(captured(cloud, pattern))
    consumer_name, _, _ = AUTOMATED[(cloud, pattern)]
    policy_resources = _policy_resources(resources)
    paths = rollback_paths.Stack(list(policy_resources.values()))
    consumer = next(r for r in policy_resources.values() if r.name == consumer_name)
    grants = list(_resolved(paths.grants_of(consumer), _bootstrap_role_actions(cloud, pattern)))
    assert all(g.actions is not None for g in grants)
    alarms = [
        r
        for r in policy_resources.values()
        if r.resource_type.split(":")[-1] in ("ScheduledQueryRule", "AlertPolicy")
        and consumer in paths.consumers(r)
    ]
    assert alarms, "no alarm reaches the rollback"
    _, read, write = AUTOMATED[(cloud, pattern)]
    read_grant = _grant_named(paths, policy_resources, read)
    assert read_grant.role in _bootstrap_role_actions(cloud, pattern)
    others = [g for g in grants if g.role != read_grant.role]
    for alarm in alarms:
        assert rollback_paths.can_read(grants, alarm), alarm.name
        # ...and it is the read grant that makes it so: no other role of the consumer reads it.
        assert not rollback_paths.can_read(others, alarm), alarm.name
    targets = [
        r
        for r in policy_resources.values()
        if r.resource_type.split(":")[-1]
        in ("URLMap", "AiEndpoint", "ContainerApp", "OnlineEndpoint")
        and r.urn != consumer.urn
    ]
    assert rollback_paths.changes(grants, targets)
    write_role = _grant_named(paths, policy_resources, write).role
    assert not rollback_paths.changes([g for g in grants if g.role != write_role], targets)


def _grant_named(
    paths: rollback_paths.Stack, resources: dict[str, Any], name: str
) -> rollback_paths.Grant:
    """The grant one captured resource makes (the rule's own reader of that type)."""
    resource = next(r for r in resources.values() if r.name == name)
    reader = rollback_paths._grant_reader(resource.resource_type)
    assert reader is not None
    (grant,) = reader(resource, paths)
    return grant


def _policy_resources(resources: list[CapturedResource]) -> dict[str, Any]:
    """The pack's view of captured resources (the harness's own conversion, reused)."""
    seen: dict[str, Any] = {}

    def grab(args: Any, report: Any) -> None:
        seen.update({r.urn: r for r in args.resources})

    from pulumi_policy import StackValidationPolicy

    evaluate([StackValidationPolicy(name="grab", description="grab", validate=grab)], resources)
    return seen


# ---------------------------------------------------------------- small programs
def azure_rollback_program(
    *,
    marker: bool = True,
    read_role: str = "43d0d8ad-25c7-4714-9337-8ba259a9fe05",  # Monitoring Reader
    read_scope: str = WORKSPACE.lower(),  # ARM ids compare case-insensitively
    write_actions: tuple[str, ...] = (
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
    ),
) -> Callable[[], None]:
    """An online endpoint, a log alert on a workspace given by id, an action group whose
    function receiver is a function app with a user-assigned identity, and its two grants."""

    def program() -> None:
        identity = managedidentity.UserAssignedIdentity("rollback-id", resource_group_name="rg")
        fn = web.WebApp(
            "rollback-fn",
            resource_group_name="rg",
            kind="functionapp",
            identity=web.ManagedServiceIdentityArgs(
                type=web.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[identity.id],
            ),
            tags={"aideploy-role": "rollback"} if marker else {},
        )
        group = monitor.ActionGroup(
            "rollback-group",
            resource_group_name="rg",
            group_short_name="rollback",
            enabled=True,
            azure_function_receivers=[
                monitor.AzureFunctionReceiverArgs(
                    name="rollback",
                    function_app_resource_id=fn.id,
                    function_name="rollback",
                    http_trigger_url="https://fn/rollback",
                )
            ],
        )
        endpoint = ml.OnlineEndpoint(
            "endpoint",
            resource_group_name="rg",
            workspace_name="ws",
            properties=ml.OnlineEndpointPropertiesArgs(auth_mode="AADToken"),
        )
        monitor.ScheduledQueryRule(
            "svc-log-error-rate",
            resource_group_name="rg",
            enabled=True,
            scopes=[
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws"
            ],
            actions=monitor.ActionsArgs(action_groups=[group.id]),
        )
        authorization.RoleAssignment(
            "read",
            principal_id=identity.principal_id,
            role_definition_id=f"/providers/Microsoft.Authorization/roleDefinitions/{read_role}",
            scope=read_scope,
        )
        definition = authorization.RoleDefinition(
            "traffic",
            role_name="traffic",
            scope="/subscriptions/x",
            permissions=[authorization.PermissionArgs(actions=list(write_actions))],
        )
        authorization.RoleAssignment(
            "write",
            principal_id=identity.principal_id,
            role_definition_id=definition.id,
            scope=endpoint.id,
        )

    return program


def test_azure_program_with_function_rollback_passes() -> None:
    assert s2(run_program(azure_rollback_program(), stack="prod")) == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"marker": False}, "rollback marker"),
        ({"read_scope": "/subscriptions/x/resourceGroups/other"}, "read the alarm"),
        # Key Vault Secrets User reads secrets, not alerts.
        ({"read_role": "4633458b-17de-408a-b874-0445c86b69e6"}, "read the alarm"),
        (
            {
                "write_actions": (
                    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read",
                )
            },
            "change nothing",
        ),
        ({"write_actions": ("Microsoft.Storage/storageAccounts/write",)}, "change nothing"),
    ],
)
def test_azure_program_seams(change: dict[str, Any], why: str) -> None:
    findings = s2(run_program(azure_rollback_program(**change), stack="prod"))
    assert [f.resource_name for f in findings] == ["endpoint"]
    assert why in findings[0].message


def test_azure_resource_group_grant_covers_the_alert() -> None:
    scope = "/subscriptions/x/resourceGroups/rg"
    assert s2(run_program(azure_rollback_program(read_scope=scope), stack="prod")) == []


def aws_sns_program(
    *, protocol: str = "lambda", describe: str = "cloudwatch:Describe*"
) -> Callable[[], None]:
    """An API stage, a 5xx alarm to an SNS topic, and a rollback Lambda subscribed to it."""

    def program() -> None:
        api = aws.apigateway.RestApi("api")
        stage = aws.apigateway.Stage("stage", rest_api=api.id, deployment="d", stage_name="prod")
        topic = aws.sns.Topic("rollback")
        alarm = aws.cloudwatch.MetricAlarm(
            "svc-alarm-error-rate-5xx",
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=1,
            threshold=1.0,
            namespace="AWS/ApiGateway",
            metric_name="5XXError",
            period=60,
            statistic="Sum",
            alarm_actions=[topic.arn],
        )
        role = aws.iam.Role("rollback-role", assume_role_policy="{}")
        fn = aws.lambda_.Function(
            "rollback-fn",
            role=role.arn,
            runtime="python3.12",
            handler="h.h",
            code=pulumi.AssetArchive({}),
            tags={"aideploy-role": "rollback"},
        )
        aws.lambda_.Permission(
            "sns-invokes", action="lambda:InvokeFunction", function=fn.name,
            principal="sns.amazonaws.com", source_arn=topic.arn,
        )  # fmt: skip
        aws.sns.TopicSubscription("sub", topic=topic.arn, protocol=protocol, endpoint=fn.arn)
        aws.iam.RolePolicy(
            "rollback-policy",
            role=role.id,
            policy=pulumi.Output.all(alarm.arn, stage.arn).apply(
                lambda arns: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": [describe], "Resource": [arns[0]]},
                            {
                                "Effect": "Allow",
                                "Action": ["apigateway:PATCH"],
                                "Resource": [arns[1]],
                            },
                        ],
                    }
                )
            ),
        )

    return program


def test_aws_sns_subscribed_lambda_is_a_rollback() -> None:
    assert s2(run_program(aws_sns_program(), stack="prod")) == []


def test_aws_sns_subscription_of_another_protocol_reaches_nothing() -> None:
    findings = s2(run_program(aws_sns_program(protocol="sqs"), stack="prod"))
    assert findings and "reaches a rollback function" in findings[0].message


def test_aws_policy_without_the_alarm_read_is_no_rollback() -> None:
    findings = s2(run_program(aws_sns_program(describe="cloudwatch:GetMetricData"), stack="prod"))
    assert findings and "read the alarm" in findings[0].message


def gcp_push_program(*, role: str = "roles/monitoring.viewer") -> Callable[[], None]:
    """A Cloud Run service behind a URL map, an alert policy to a Pub/Sub channel whose push
    subscription calls a rollback service; project read grant and a URL-map write grant."""

    def program() -> None:
        sa = "rollback@p.iam.gserviceaccount.com"
        urlmap = gcp.compute.URLMap("urlmap", default_service="be")
        topic = gcp.pubsub.Topic("rollback")
        channel = gcp.monitoring.NotificationChannel(
            "rollback", type="pubsub", labels={"topic": topic.id}
        )
        service = gcp.cloudrunv2.Service(
            "rollback-svc",
            location="europe-west1",
            ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
            labels={"role": "rollback"},
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=sa,
                containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(image="img")],
            ),
        )
        gcp.pubsub.Subscription(
            "push",
            topic=topic.id,
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(push_endpoint=service.uri),
        )
        gcp.monitoring.AlertPolicy(
            "svc-policy-error-rate-5xx",
            display_name="5xx",
            combiner="OR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="5xx",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter='metric.type = "x"', comparison="COMPARISON_GT", duration="60s"
                    ),
                )
            ],
            notification_channels=[channel.name],
        )
        gcp.projects.IAMMember("read", project="p", role=role, member=f"serviceAccount:{sa}")
        gcp.projects.IAMMember(
            "write",
            project="p",
            role="roles/compute.loadBalancerAdmin",
            member=f"serviceAccount:{sa}",
            condition=gcp.projects.IAMMemberConditionArgs(
                title="one-map",
                expression=urlmap.id.apply(lambda i: f'resource.name == "{i}"'),
            ),
        )

    return program


def test_gcp_push_subscription_to_a_marked_service_is_a_rollback() -> None:
    assert s2(run_program(gcp_push_program(), stack="prod")) == []


def test_gcp_predefined_role_without_monitoring_reads_is_no_read() -> None:
    findings = s2(run_program(gcp_push_program(role="roles/logging.logWriter"), stack="prod"))
    assert [f.resource_name for f in findings] == ["urlmap"]
    assert "read the alarm" in findings[0].message


# ---------------------------------------------------------------- unit
@pytest.mark.parametrize(
    ("granted", "wanted", "expected"),
    [
        (("cloudwatch:Describe*",), ("cloudwatch:DescribeAlarms",), True),
        (("CLOUDWATCH:describealarms",), ("cloudwatch:DescribeAlarms",), True),
        (("cloudwatch:GetMetricData",), ("cloudwatch:DescribeAlarms",), False),
        (("*/read",), ("Microsoft.AlertsManagement/alerts/read",), True),
        (("Microsoft.Insights/*",), ("Microsoft.AlertsManagement/alerts/read",), False),
        (("monitoring.*.list",), ("monitoring.alerts.list",), True),
    ],
)
def test_allows_any(granted: tuple[str, ...], wanted: tuple[str, ...], expected: bool) -> None:
    assert rollback_paths.allows_any(granted, wanted) is expected


@pytest.mark.parametrize(
    ("granted", "target", "expected"),
    [
        (("apigateway:PATCH",), "aws:apigateway/stage:Stage", True),
        (("apigateway:GET",), "aws:apigateway/stage:Stage", False),
        (("sns:Publish",), "aws:apigateway/stage:Stage", False),
        (("sagemaker:InvokeEndpoint",), "aws:sagemaker/endpoint:Endpoint", False),
        (("sagemaker:UpdateEndpoint*",), "aws:sagemaker/endpoint:Endpoint", True),
        (("ecs:TagResource",), "aws:ecs/service:Service", False),
        (("lambda:InvokeFunction",), "aws:lambda/alias:Alias", False),
        (("*",), "gcp:compute/uRLMap:URLMap", True),
        (("run.routes.invoke",), "gcp:cloudrunv2/service:Service", False),
        (("aiplatform.endpoints.predict",), "gcp:vertex/aiEndpoint:AiEndpoint", False),
        (("Microsoft.App/*",), "azure-native:app:ContainerApp", True),
        (("*/read",), "azure-native:app:ContainerApp", False),
        (
            ("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action",),
            "azure-native:machinelearningservices:OnlineEndpoint",
            False,
        ),
        (("compute.urlMaps.update", "compute.urlMaps.get"), "gcp:compute/uRLMap:URLMap", True),
    ],
)
def test_only_actions_that_change_the_target_count_as_writes(
    granted: tuple[str, ...], target: str, expected: bool
) -> None:
    assert rollback_paths.writes(granted, rollback_paths.TARGET_TYPES[target]) is expected


def test_pack_knows_every_built_in_azure_role_the_components_grant() -> None:
    """A built-in role the pack does not know would be judged by its scope alone."""
    from components.azure import security as azure_security

    missing = set(azure_security.BUILTIN_ROLES.values()) - set(rollback_paths.BUILTIN_ROLES)
    assert not missing


def test_gcp_identity_created_in_the_stack_is_followed_by_dependency() -> None:
    """A service account made by the program: its grants name it through the account's
    e-mail output, which the function's settings depend on."""

    def program() -> None:
        account = gcp.serviceaccount.Account("rollback-sa", account_id="rollback")
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        urlmap = gcp.compute.URLMap("urlmap", default_service="be")
        topic = gcp.pubsub.Topic("rollback")
        channel = gcp.monitoring.NotificationChannel(
            "rollback", type="pubsub", labels={"topic": topic.id}
        )
        gcp.cloudfunctionsv2.Function(
            "rollback-fn",
            location="europe-west1",
            labels={"role": "rollback"},
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=account.email
            ),
            event_trigger=gcp.cloudfunctionsv2.FunctionEventTriggerArgs(
                event_type="google.cloud.pubsub.topic.v1.messagePublished", pubsub_topic=topic.id
            ),
        )
        gcp.monitoring.AlertPolicy(
            "svc-policy-error-rate-5xx",
            display_name="5xx",
            combiner="OR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="5xx",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter='metric.type = "x"', comparison="COMPARISON_GT", duration="60s"
                    ),
                )
            ],
            notification_channels=[channel.name],
        )
        gcp.projects.IAMMember("read", project="p", role="roles/monitoring.viewer", member=member)
        gcp.projects.IAMMember(
            "write",
            project="p",
            role="roles/compute.loadBalancerAdmin",
            member=member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title="one-map", expression=urlmap.id.apply(lambda i: f'resource.name == "{i}"')
            ),
        )

    assert s2(run_program(program, stack="prod")) == []


# ---------------------------------------------------------------- review findings (S2)
def test_an_alarm_does_not_borrow_another_components_rollback_through_a_shared_topic() -> None:
    """Two deployments share a paging topic; only B's alarm reaches B's rollback. A's stage
    has no rollback of its own and must fail."""

    def program() -> None:
        topic = aws.sns.Topic("page")

        class Deployment(pulumi.ComponentResource):
            def __init__(self, name: str, rollback: bool) -> None:
                super().__init__("aideploy:test:Deployment", name)
                o = pulumi.ResourceOptions(parent=self)
                api = aws.apigateway.RestApi(f"{name}-api", opts=o)
                stage = aws.apigateway.Stage(
                    f"{name}-stage", rest_api=api.id, deployment="d", stage_name="prod", opts=o
                )
                actions: list[Any] = [topic.arn]
                if rollback:
                    role = aws.iam.Role(f"{name}-role", assume_role_policy="{}", opts=o)
                    fn = aws.lambda_.Function(
                        f"{name}-fn", role=role.arn, runtime="python3.12", handler="h.h",
                        code=pulumi.AssetArchive({}), tags={"aideploy-role": "rollback"}, opts=o,
                    )  # fmt: skip
                    aws.lambda_.Permission(
                        f"{name}-invoke", action="lambda:InvokeFunction", function=fn.name,
                        principal="lambda.alarms.cloudwatch.amazonaws.com", opts=o,
                    )  # fmt: skip
                    aws.iam.RolePolicy(
                        f"{name}-policy", role=role.id, opts=o,
                        policy=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": [action], "Resource": ["*"]}
                            for action in ("cloudwatch:DescribeAlarms", "apigateway:PATCH")
                        ]}),
                    )  # fmt: skip
                    actions.append(fn.arn)
                aws.cloudwatch.MetricAlarm(
                    f"{name}-alarm-error-rate-5xx", comparison_operator="GreaterThanThreshold",
                    evaluation_periods=1, threshold=1.0, namespace="AWS/ApiGateway",
                    metric_name="5XXError", period=60, statistic="Sum",
                    dimensions={"Stage": stage.stage_name}, alarm_actions=actions, opts=o,
                )  # fmt: skip

        Deployment("a", rollback=False)
        Deployment("b", rollback=True)

    findings = s2(run_program(program, stack="prod"))
    assert [f.resource_name for f in findings] == ["a-stage"]


@pytest.mark.parametrize("pattern", AWS_PATTERNS, ids=lambda v: v.value)
def test_aws_rollback_lambda_must_be_invocable_and_its_rule_enabled(pattern: Pattern) -> None:
    resources = aws_without_native(pattern)
    no_permission = without(resources, "acme-support-rollback-invoke")
    findings = s2(no_permission)
    assert findings and all("no permission lets" in f.message for f in findings)
    disabled = edited(resources, "acme-support-rollback-rule", lambda i: i.update(state="DISABLED"))
    findings = s2(disabled)
    assert findings and all("reaches a rollback function" in f.message for f in findings)


@pytest.mark.parametrize(("cloud", "pattern"), ALL, ids=lambda v: v.value)
def test_unknown_alarm_actions_at_first_preview_do_not_abort_the_stack_rules(
    cloud: Cloud, pattern: Pattern
) -> None:
    """At a first preview an alarm's targets are unknown values: S1 and S2 still run."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    paths = {
        "aws:cloudwatch/metricAlarm:MetricAlarm": ("alarmActions",),
        "azure-native:monitor:ScheduledQueryRule": ("actions", "actionGroups"),
        "gcp:monitoring/alertPolicy:AlertPolicy": ("notificationChannels",),
    }
    out = []
    for r in captured(cloud, pattern):
        inputs = json.loads(json.dumps(r.inputs, default=str))
        if r.type in paths:
            *parents, last = paths[r.type]
            node = inputs
            for key in parents:
                node = node[key]
            node[last] = [UNKNOWN_STRING_VALUE, *node.get(last, [])[1:]]
        out.append(dataclasses.replace(r, inputs=unknown_checking_proxy(inputs)))
    evaluate(stack.POLICIES, out)  # no exception: unknown targets are skipped, not fatal
