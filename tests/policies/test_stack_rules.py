"""S1 (routed serving alarms) and S2 (rollback wired to alarms) on small real programs.

Each cloud starts from a compliant program (an endpoint, the three alarm kinds, routed to a
notification target, rollback wired) and changes one thing per case. The Azure and GCP programs
wire the rollback to code outside the program, which S2 cannot follow: the full rollback paths
(consumer, marker, grants) are in test_rollback_paths.py. The in-process harness gives fast
feedback; the prod-only behaviour of S2 is proven through the real pack and its environment
config files in test_runner.py and at the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pulumi_aws as aws
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.monitor as monitor
import pulumi_gcp as gcp
import pytest

from offline.capture import capture
from policies.rules import stack
from policies.runner.analyzer import PackProcess
from policies.runner.engine import analyze_resources, effective_config
from tests.policies.harness import evaluate, names_violating, run_program

S1 = "aideploy-stack-require-routed-serving-alarms"
S2 = "aideploy-stack-require-rollback-wired-to-alarms"
SERVING = ("latency-p99", "error-rate-5xx", "availability")
PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


# ---------------------------------------------------------------- AWS
def aws_program(
    *,
    signals: Sequence[str] = SERVING,
    routed: bool = True,
    rollback: bool = True,
    alarm_names: Callable[[str], str] = lambda s: f"svc-alarm-{s}",
) -> Callable[[], None]:
    def program() -> None:
        topic = aws.sns.Topic("alerts")
        alarms = [
            aws.cloudwatch.MetricAlarm(
                alarm_names(signal),
                comparison_operator="GreaterThanThreshold",
                evaluation_periods=3,
                threshold=1.0,
                namespace="AWS/SageMaker",
                metric_name="ModelLatency",
                period=60,
                statistic="Average",
                dimensions={"EndpointName": "endpoint"},
                alarm_actions=[topic.arn] if routed else [],
            )
            for signal in signals
        ]
        config = aws.sagemaker.EndpointConfiguration(
            "config",
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    model_name="model",
                    variant_name="stable",
                    initial_instance_count=1,
                    instance_type="ml.m5.large",
                )
            ],
        )
        deployment = None
        if rollback:
            deployment = aws.sagemaker.EndpointDeploymentConfigArgs(
                auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                    alarms=[
                        aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(
                            alarm_name=a.name
                        )
                        for a in alarms
                    ]
                )
            )
        aws.sagemaker.Endpoint(
            "endpoint", endpoint_config_name=config.name, deployment_config=deployment
        )

    return program


def test_aws_alarms_present_and_routed_pass() -> None:
    findings = evaluate(stack.POLICIES, run_program(aws_program()))
    assert findings == []


def test_aws_missing_availability_alarm_fails() -> None:
    findings = evaluate(stack.POLICIES, run_program(aws_program(signals=SERVING[:2])))
    assert names_violating(findings, S1) == {"endpoint"}
    assert "availability" in findings[0].message


def test_aws_unrouted_alarms_fail_and_do_not_count() -> None:
    findings = evaluate(stack.POLICIES, run_program(aws_program(routed=False)))
    flagged = names_violating(findings, S1)
    assert {"endpoint", "svc-alarm-latency-p99"} <= flagged


def test_aws_scaling_alarm_has_an_action_but_alerts_nobody() -> None:
    # A scale-out alarm acts on an autoscaling policy: not "unrouted", yet it tells no one, so
    # it does not count as a serving alarm.
    def program() -> None:
        policy = aws.appautoscaling.Policy(
            "scale",
            resource_id="service/c/s",
            scalable_dimension="ecs:service:DesiredCount",
            service_namespace="ecs",
        )
        aws.sagemaker.Endpoint("endpoint", endpoint_config_name="config")
        for signal in SERVING:
            aws.cloudwatch.MetricAlarm(
                f"svc-alarm-{signal}",
                comparison_operator="GreaterThanThreshold",
                evaluation_periods=1,
                alarm_actions=[policy.arn],
            )

    findings = evaluate([stack.MONITORING], run_program(program))
    assert names_violating(findings, S1) == {"endpoint"}


def test_aws_alarm_classified_by_metric_name_without_marker() -> None:
    # Only the metric names say what each alarm watches: ModelLatency is latency, not errors.
    program = aws_program(alarm_names=lambda s: f"alarm{SERVING.index(s)}")
    findings = evaluate([stack.MONITORING], run_program(program))
    assert names_violating(findings, S1) == {"endpoint"}
    assert "error-rate, availability" in findings[0].message


def test_aws_rollback_not_wired_fails() -> None:
    findings = evaluate(stack.POLICIES, run_program(aws_program(rollback=False)))
    assert names_violating(findings, S2) == {"endpoint"}
    assert names_violating(findings, S1) == set()


def test_aws_ecs_service_alarm_rollback_counts() -> None:
    def program() -> None:
        aws_program(rollback=False)()
        aws.ecs.Service(
            "svc",
            alarms=aws.ecs.ServiceAlarmsArgs(alarm_names=["a"], enable=True, rollback=True),
        )

    assert names_violating(evaluate([stack.ROLLBACK], run_program(program)), S2) == set()


def test_aws_internal_load_balancer_is_not_a_serving_endpoint() -> None:
    def program() -> None:
        aws.lb.LoadBalancer("internal", internal=True, load_balancer_type="application")

    assert evaluate(stack.POLICIES, run_program(program)) == []


# ---------------------------------------------------------------- Azure
def azure_program(
    *, signals: Sequence[str] = SERVING, routed: bool = True, rollback: bool = True
) -> Callable[[], None]:
    def program() -> None:
        receivers = (
            [
                monitor.AzureFunctionReceiverArgs(
                    name="rollback",
                    function_app_resource_id="/subscriptions/x/fn",
                    function_name="rollback",
                    http_trigger_url="https://fn/rollback",
                )
            ]
            if rollback
            else None
        )
        group = monitor.ActionGroup(
            "alerts",
            resource_group_name="rg",
            group_short_name="alerts",
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name="ops", email_address="ops@example.com"
                )
            ],
            azure_function_receivers=receivers,
        )
        ml.OnlineEndpoint(
            "endpoint",
            resource_group_name="rg",
            workspace_name="ws",
            properties=ml.OnlineEndpointPropertiesArgs(auth_mode="AADToken"),
        )
        for signal in signals:
            monitor.ScheduledQueryRule(
                f"svc-log-{signal.split('-')[0]}",
                resource_group_name="rg",
                enabled=True,
                scopes=["/subscriptions/x/workspace"],
                actions=monitor.ActionsArgs(
                    action_groups=[group.id] if routed else [],
                    custom_properties={"aideploy-signal": signal},
                ),
            )

    return program


def test_azure_log_alerts_with_markers_routed_pass() -> None:
    findings = evaluate(stack.POLICIES, run_program(azure_program()))
    assert names_violating(findings, S1) == set()


def test_azure_function_receiver_outside_the_stack_is_not_a_verified_rollback() -> None:
    """S2 follows the alarm to the rollback's code and grants (test_rollback_paths.py); a
    function named only by id cannot be followed, so it does not count."""
    findings = evaluate([stack.ROLLBACK], run_program(azure_program()))
    assert names_violating(findings, S2) == {"endpoint"}
    assert "reaches a rollback function" in findings[0].message


def test_azure_missing_latency_alert_fails() -> None:
    findings = evaluate(stack.POLICIES, run_program(azure_program(signals=SERVING[1:])))
    assert names_violating(findings, S1) == {"endpoint"}
    assert "latency" in findings[0].message


def test_azure_alerts_without_action_group_fail() -> None:
    findings = evaluate(stack.POLICIES, run_program(azure_program(routed=False)))
    assert "endpoint" in names_violating(findings, S1)


def test_azure_action_group_without_automation_is_no_rollback() -> None:
    findings = evaluate(stack.POLICIES, run_program(azure_program(rollback=False)))
    assert names_violating(findings, S2) == {"endpoint"}


# ---------------------------------------------------------------- GCP
def gcp_program(
    *, signals: Sequence[str] = SERVING, routed: bool = True, rollback: bool = True
) -> Callable[[], None]:
    def program() -> None:
        email = gcp.monitoring.NotificationChannel(
            "page", type="email", labels={"email_address": "ops@example.com"}
        )
        channels = [email.name]
        if rollback:
            hook = gcp.monitoring.NotificationChannel(
                "rollback", type="pubsub", labels={"topic": "projects/p/topics/rollback"}
            )
            channels.append(hook.name)
        gcp.vertex.AiEndpoint("endpoint", location="europe-west1", display_name="endpoint")
        for signal in signals:
            gcp.monitoring.AlertPolicy(
                f"svc-policy-{signal.split('-')[0]}",
                display_name=signal,
                combiner="OR",
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=signal,
                        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                            filter='metric.type = "x"',
                            comparison="COMPARISON_GT",
                            duration="60s",
                        ),
                    )
                ],
                notification_channels=channels if routed else [],
                user_labels={"signal": signal},
            )

    return program


def test_gcp_alert_policies_routed_pass() -> None:
    findings = evaluate(stack.POLICIES, run_program(gcp_program()))
    assert names_violating(findings, S1) == set()


def test_gcp_pubsub_channel_to_a_topic_outside_the_stack_is_not_a_verified_rollback() -> None:
    findings = evaluate([stack.ROLLBACK], run_program(gcp_program()))
    assert names_violating(findings, S2) == {"endpoint"}
    assert "reaches a rollback function" in findings[0].message


def test_gcp_missing_error_rate_alert_fails() -> None:
    findings = evaluate(stack.POLICIES, run_program(gcp_program(signals=SERVING[::2])))
    assert names_violating(findings, S1) == {"endpoint"}
    assert "error-rate" in findings[0].message


def test_gcp_alert_policy_without_channels_fails() -> None:
    findings = evaluate(stack.POLICIES, run_program(gcp_program(routed=False)))
    assert "svc-policy-latency" in names_violating(findings, S1)


def test_gcp_email_only_channels_are_no_rollback() -> None:
    findings = evaluate(stack.POLICIES, run_program(gcp_program(rollback=False)))
    assert names_violating(findings, S2) == {"endpoint"}


def test_gcp_internal_cloud_run_worker_is_not_a_serving_endpoint() -> None:
    def program() -> None:
        gcp.cloudrunv2.Service(
            "worker",
            location="europe-west1",
            ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(image="img")]
            ),
        )

    assert evaluate(stack.POLICIES, run_program(program)) == []


# ---------------------------------------------------------------- unit
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("svc-alarm-latency-p99", {"latency"}),
        ("svc-alarm-canary-error-rate", {"error-rate"}),
        ("svc-alarm-availability", {"availability"}),
        ("svc-alarm-unavailability", set()),  # a token, not a substring
    ],
)
def test_signal_from_name_is_a_whole_token(name: str, expected: set[str]) -> None:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions

    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    alarm = PolicyResource(
        "aws:cloudwatch/metricAlarm:MetricAlarm", {}, "urn", name, opts, None, None, [], {}
    )
    assert stack.signal_categories(alarm) == expected


# ---------------------------------------------------------------- through the pack
@pytest.fixture(scope="module")
def pack() -> Iterator[PackProcess]:
    with PackProcess(PACK_DIR) as running:
        yield running


@pytest.mark.parametrize(
    ("environment", "level"), [("dev", "advisory"), ("staging", "advisory"), ("prod", "mandatory")]
)
def test_unwired_rollback_fails_in_prod_only(
    pack: PackProcess, environment: str, level: str
) -> None:
    resources = capture(aws_program(rollback=False), project="fixture", stack=environment).resources
    effective = effective_config(pack.info(), PACK_DIR / "config" / f"{environment}.json")
    pack.configure(effective)
    violations, _ = analyze_resources(
        pack, resources, effective, project="fixture", stack=environment
    )
    rollback = [v for v in violations if v.policy == S2]
    assert [(v.resource_name, v.level) for v in rollback] == [("endpoint", level)]
