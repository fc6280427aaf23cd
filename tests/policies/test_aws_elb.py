"""Load balancer rules on small real programs: an HTTPS ALB with an HTTP->HTTPS redirect and
access logs, one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules.aws import elb
from tests.policies.test_aws_common import Program, judge, waiver

REDIRECT = aws.lb.ListenerDefaultActionArgs(
    type="redirect",
    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
        protocol="HTTPS", port="443", status_code="HTTP_301"
    ),
)
FORWARD = aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn="arn:tg")
LOGS = aws.lb.LoadBalancerAccessLogsArgs(bucket="acme-lb-logs", enabled=True)


def alb(
    *,
    https: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
    lb: dict[str, Any] | None = None,
) -> Program:
    https_args: dict[str, Any] = {
        "port": 443,
        "protocol": "HTTPS",
        "certificate_arn": "arn:c",
        "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "default_actions": [FORWARD],
    }
    https_args.update(https or {})
    http_args: dict[str, Any] = {"port": 80, "protocol": "HTTP", "default_actions": [REDIRECT]}
    http_args.update(http or {})
    lb_args: dict[str, Any] = {"load_balancer_type": "application", "access_logs": LOGS}
    lb_args.update(lb or {})

    def program() -> None:
        balancer = aws.lb.LoadBalancer("front", **lb_args)
        aws.lb.Listener("front-https", load_balancer_arn=balancer.arn, **https_args)
        aws.lb.Listener("front-http", load_balancer_arn=balancer.arn, **http_args)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (alb(), set()),
        (alb(https={"ssl_policy": "ELBSecurityPolicy-FS-1-2-Res-2020-10"}), set()),
        (alb(https={"ssl_policy": "ELBSecurityPolicy-2016-08"}), {"front-https"}),
        (alb(https={"ssl_policy": None}), {"front-https"}),
        (alb(https={"ssl_policy": "ELBSecurityPolicy-TLS-1-1-2017-01"}), {"front-https"}),
        (alb(http={"default_actions": [FORWARD]}), {"front-http"}),
        (alb(http={"protocol": None, "default_actions": [FORWARD]}), {"front-http"}),
        (alb(http={"protocol": "TCP", "default_actions": [FORWARD]}), set()),
    ],
    ids=[
        "tls13",
        "fs-1-2",
        "2016-08",
        "default-policy",
        "tls11",
        "http-forward",
        "default-protocol-forward",
        "tcp-passthrough",
    ],
)
def test_aws_lb_listener_require_https(program: Program, flagged: set[str]) -> None:
    assert judge(elb.LISTENER_REQUIRE_HTTPS, program) == flagged


def test_classic_load_balancer_listener_protocols() -> None:
    def program() -> None:
        aws.elb.LoadBalancer(
            "classic",
            availability_zones=["eu-west-1a"],
            listeners=[
                aws.elb.LoadBalancerListenerArgs(
                    instance_port=80, instance_protocol="http", lb_port=80, lb_protocol="http"
                )
            ],
        )

    assert judge(elb.LISTENER_REQUIRE_HTTPS, program) == {"classic"}


def test_listener_waiver() -> None:
    program = alb(http={"default_actions": [FORWARD]})
    assert judge(elb.LISTENER_REQUIRE_HTTPS, program, waiver("front-http")) == set()


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (alb(), set()),
        (alb(lb={"access_logs": None}), {"front"}),
        (
            alb(lb={"access_logs": aws.lb.LoadBalancerAccessLogsArgs(bucket="b", enabled=False)}),
            {"front"},
        ),
        (alb(lb={"access_logs": None, "load_balancer_type": "gateway"}), set()),
    ],
    ids=["logged", "none", "disabled", "gateway-exempt"],
)
def test_aws_lb_require_access_logs(program: Program, flagged: set[str]) -> None:
    assert judge(elb.REQUIRE_ACCESS_LOGS, program) == flagged


# ---------------------------------------------------------------------------- revision 2
def target_group(**args: Any) -> Program:
    def program() -> None:
        aws.lb.TargetGroup("model-tg", vpc_id="vpc-1", **args)

    return program


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (target_group(port=8443, protocol="HTTPS", target_type="ip"), set()),
        (target_group(target_type="lambda"), set()),
        (target_group(port=443, protocol="TCP"), set()),
        (target_group(port=8080, protocol="HTTP", target_type="ip"), {"model-tg"}),
    ],
    ids=["https", "lambda", "nlb-tcp", "http"],
)
def test_aws_lb_target_group_require_https(program: Program, flagged: set[str]) -> None:
    assert judge(elb.TARGET_GROUP_REQUIRE_HTTPS, program) == flagged


def test_target_group_waiver() -> None:
    program = target_group(port=8080, protocol="HTTP", target_type="ip")
    assert judge(elb.TARGET_GROUP_REQUIRE_HTTPS, program, waiver("model-tg")) == set()
