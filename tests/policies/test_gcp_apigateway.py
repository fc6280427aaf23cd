"""API Gateway / Cloud Endpoints rule (apigateway.py): a compliant OpenAPI document where every
operation needs an API key or a JWT; one change per failing case."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pulumi_gcp as gcp
import pytest
import yaml

from policies.rules.gcp import apigateway
from tests.policies.test_gcp_common import TARGET, Program, judge, waiver

POLICY = apigateway.api_require_authenticated_methods
NAME = "gcp-api-gateway-require-authenticated-methods"

DOCUMENT: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "predict", "version": "1.0.0"},
    "schemes": ["https"],
    "x-google-backend": {"address": "https://predict-abc.a.run.app", "jwt_audience": "predict"},
    "securityDefinitions": {
        "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        "jwt": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": "https://issuer.example",
            "x-google-audiences": "predict",
        },
    },
    "security": [{"api_key": []}],
    "paths": {
        "/predict": {
            "post": {"operationId": "predict", "responses": {"200": {"description": "ok"}}},
            "options": {"operationId": "cors", "responses": {"204": {"description": "cors"}}},
        },
        "/admin/reload": {
            "post": {
                "operationId": "reload",
                "security": [{"jwt": []}],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "security": [],
                "responses": {"200": {"description": "ready"}},
            }
        },
    },
}


def changed(edit: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    edit(document)
    return document


def api_config(document: dict[str, Any]) -> Program:
    contents = base64.b64encode(yaml.safe_dump(document).encode()).decode()
    return lambda: gcp.apigateway.ApiConfig(
        TARGET,
        api="predict",
        api_config_id="v1",
        openapi_documents=[
            gcp.apigateway.ApiConfigOpenapiDocumentArgs(
                document=gcp.apigateway.ApiConfigOpenapiDocumentDocumentArgs(
                    path="openapi.yaml", contents=contents
                )
            )
        ],
    )


def endpoints_service(document: dict[str, Any]) -> Program:
    return lambda: gcp.endpoints.Service(
        TARGET,
        service_name="predict.endpoints.acme.cloud.goog",
        openapi_config=json.dumps(document),
    )


def _no_global(d: dict[str, Any]) -> None:
    del d["security"]


def _optional_key(d: dict[str, Any]) -> None:
    d["security"] = [{"api_key": []}, {}]


def _anonymous_post(d: dict[str, Any]) -> None:
    d["paths"]["/admin/reload"]["post"]["security"] = []


def _anonymous_data_get(d: dict[str, Any]) -> None:
    d["paths"]["/customers/{id}"] = {"get": {"security": [], "responses": {}}}


def _allow_all(d: dict[str, Any]) -> None:
    d["x-google-allow"] = "all"


CASES: dict[str, tuple[Program, bool]] = {
    f"{NAME}:gateway-ok": (api_config(DOCUMENT), False),
    f"{NAME}:gateway-no-global-security": (api_config(changed(_no_global)), True),
    f"{NAME}:gateway-optional-key": (api_config(changed(_optional_key)), True),
    f"{NAME}:gateway-anonymous-post": (api_config(changed(_anonymous_post)), True),
    f"{NAME}:gateway-anonymous-data-get": (api_config(changed(_anonymous_data_get)), True),
    f"{NAME}:endpoints-ok": (endpoints_service(DOCUMENT), False),
    f"{NAME}:endpoints-no-global-security": (endpoints_service(changed(_no_global)), True),
    f"{NAME}:endpoints-allow-all": (endpoints_service(changed(_allow_all)), True),
}


@pytest.mark.parametrize(("program", "violates"), CASES.values(), ids=CASES.keys())
def test_api_methods_require_authentication(program: Program, violates: bool) -> None:
    assert judge(POLICY, program) == ({TARGET} if violates else set())


def test_unauthenticated_operations_are_named() -> None:
    """Without a global requirement, exactly the operations without their own are reported;
    the CORS preflight and the declared health probe are not."""
    found = list(apigateway.unauthenticated_operations(changed(_no_global)))
    assert found == ["POST /predict"]


def test_waiver() -> None:
    """A waived API config is skipped."""
    assert judge(POLICY, api_config(changed(_no_global)), waiver(TARGET)) == set()


def test_openapi_3_security_is_read_the_same_way() -> None:
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header"}}},
        "paths": {"/v1/chat": {"post": {"responses": {}}}},
    }
    assert list(apigateway.unauthenticated_operations(document)) == ["POST /v1/chat"]
    document["security"] = [{"key": []}]
    assert list(apigateway.unauthenticated_operations(document)) == []


def test_undecodable_contents_are_not_judged() -> None:
    assert apigateway.load_document(apigateway.decode_contents("%%not base64%%")) is None
