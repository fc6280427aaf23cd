"""API Gateway method / route auth on small real programs: one change per failing case."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from policies.rules import aws as aws_pack
from policies.rules.aws import apigateway_methods as methods
from policies.rules.base import RULE_REFERENCES, RULE_SINCE
from tests.policies.test_aws_common import Program, judge, waiver

RULE = methods.REQUIRE_AUTH


def rest(path: str = "predict", **method: Any) -> Program:
    args: dict[str, Any] = {
        "http_method": "POST",
        "authorization": "CUSTOM",
        "authorizer_id": "auth-1",
        **method,
    }

    def program() -> None:
        api = aws.apigateway.RestApi("api")
        resource = aws.apigateway.Resource(
            "api-path", rest_api=api.id, parent_id=api.root_resource_id, path_part=path
        )
        aws.apigateway.Method(
            "api-method",
            rest_api=api.id,
            resource_id=resource.id,
            **{k: v for k, v in args.items() if v is not None},
        )

    return program


OPEN: dict[str, Any] = {"authorization": "NONE", "authorizer_id": None}


def http_route(key: str, protocol: str = "HTTP", **route: Any) -> Program:
    def program() -> None:
        api = aws.apigatewayv2.Api(
            "http-api", protocol_type=protocol, route_selection_expression="$request.body.action"
        )
        aws.apigatewayv2.Route("route", api_id=api.id, route_key=key, **route)

    return program  # fmt: skip


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (rest(), set()),
        (rest(authorization="AWS_IAM", authorizer_id=None), set()),
        (rest(**OPEN, api_key_required=True), set()),
        (rest(**OPEN, http_method="OPTIONS"), set()),
        (rest("health", **OPEN, http_method="GET"), set()),
        (rest("healthz", **OPEN, http_method="HEAD"), set()),
        (rest(**OPEN), {"api-method"}),
        (rest(**OPEN, api_key_required=False), {"api-method"}),
        (rest("health", **OPEN, http_method="POST"), {"api-method"}),
        (rest("items", **OPEN, http_method="GET"), {"api-method"}),
    ],
    ids=["authorizer", "iam", "api-key", "preflight", "health-get", "healthz-head", "open-post",
         "open-no-key", "health-post", "open-get"],
)  # fmt: skip
def test_aws_apigateway_method_require_auth_rest(program: Program, flagged: set[str]) -> None:
    assert judge(RULE, program) == flagged


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (http_route("POST /predict", authorization_type="JWT", authorizer_id="a"), set()),
        (http_route("GET /v1/health"), set()),
        (http_route("OPTIONS /predict"), set()),
        (http_route("sendMessage", protocol="WEBSOCKET"), set()),
        (http_route("$default", protocol="WEBSOCKET"), set()),
        (http_route("$disconnect", protocol="WEBSOCKET"), set()),
        (http_route("$connect", protocol="WEBSOCKET", authorization_type="AWS_IAM"), set()),
        (http_route("POST /predict"), {"route"}),
        (http_route("ANY /{proxy+}", authorization_type="NONE"), {"route"}),
        (http_route("$default"), {"route"}),
        (http_route("$connect", protocol="WEBSOCKET"), {"route"}),
    ],
    ids=["jwt", "health", "preflight", "ws-action", "ws-default", "ws-disconnect",
         "ws-connect-iam", "open", "open-proxy", "http-default", "ws-connect-open"],
)  # fmt: skip
def test_aws_apigateway_method_require_auth_routes(program: Program, flagged: set[str]) -> None:
    assert judge(RULE, program) == flagged


def test_health_paths_are_configurable() -> None:
    program = rest("status", **OPEN, http_method="GET")
    assert judge(RULE, program) == {"api-method"}
    config = {"waivers": [], methods.HEALTH_PATHS_KEY: ["status"]}
    assert judge(RULE, program, config) == set()


def test_method_auth_waiver() -> None:
    assert judge(RULE, rest(**OPEN), waiver("api-method")) == set()


def test_rules_are_listed_in_the_pack() -> None:
    names = [p.name for p in methods.POLICIES]
    assert names == [
        "aws-apigateway-method-require-auth",
    ]
    assert set(names) <= {p.name for p in aws_pack.POLICIES}
    assert all(RULE_SINCE[n] == 2 and RULE_REFERENCES[n] for n in names)
