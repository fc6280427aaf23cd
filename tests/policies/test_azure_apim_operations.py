"""API Management API / product / named-value rules (policies/rules/azure/apim_operations.py)
on small real programs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.apimanagement as apim
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import apim_operations
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
SERVICE = "acme-apim"
TARGET = "target"
BY_NAME: dict[str, Policy] = {
    p.name: p for p in vars(apim_operations).values() if isinstance(p, Policy)
}

JWT = (
    "<policies><inbound><base />"
    '<validate-jwt header-name="Authorization" failed-validation-httpcode="401">'
    '<openid-config url="https://login.microsoftonline.com/t/v2.0/'
    '.well-known/openid-configuration" />'
    "</validate-jwt></inbound><backend><base /></backend><outbound><base /></outbound>"
    "<on-error><base /></on-error></policies>"
)
RATE_LIMIT_ONLY = (
    '<policies><inbound><base /><rate-limit calls="10" renewal-period="60" /></inbound>'
    "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"
    "</policies>"
)
NO_BASE = "<policies><inbound /><backend><base /></backend><outbound /><on-error /></policies>"


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def api(subscription_required: bool | None, **over: Any) -> apim.Api:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "service_name": SERVICE,
        "api_id": "orders",
        "display_name": "orders",
        "path": "orders",
        "protocols": ["https"],
        "subscription_required": subscription_required,
    }
    return apim.Api(TARGET, **{**args, **over})


def api_policy(target: apim.Api, value: str, by_name: bool = False) -> None:
    apim.ApiPolicy(
        "api-policy",
        resource_group_name=RG,
        service_name=SERVICE,
        api_id="orders" if by_name else target.name,
        policy_id="policy",
        format="rawxml",
        value=value,
    )


def keyed() -> None:
    api(None)


def anonymous() -> None:
    api(False)


def anonymous_documented_oauth() -> None:
    api(
        False,
        authentication_settings=apim.AuthenticationSettingsContractArgs(
            openid=apim.OpenIdAuthenticationSettingsContractArgs(openid_provider_id="entra")
        ),
    )


def jwt_at_api(by_name: bool = False) -> Callable[[], None]:
    def program() -> None:
        api_policy(api(False), JWT, by_name=by_name)

    return program


def rate_limit_only() -> None:
    api_policy(api(False), RATE_LIMIT_ONLY)


def jwt_globally(api_value: str | None = None) -> Callable[[], None]:
    def program() -> None:
        target = api(False)
        apim.Policy(
            "global", resource_group_name=RG, service_name=SERVICE, policy_id="policy", value=JWT
        )
        if api_value:
            api_policy(target, api_value)

    return program


def jwt_per_operation(every: bool) -> Callable[[], None]:
    def program() -> None:
        target = api(False)
        for op in ("list", "create"):
            operation = apim.ApiOperation(
                f"op-{op}",
                resource_group_name=RG,
                service_name=SERVICE,
                api_id=target.name,
                operation_id=op,
                display_name=op,
                method="GET" if op == "list" else "POST",
                url_template="/",
            )
            if every or op == "list":
                apim.ApiOperationPolicy(
                    f"op-{op}-policy",
                    resource_group_name=RG,
                    service_name=SERVICE,
                    api_id=target.name,
                    operation_id=operation.name,
                    policy_id="policy",
                    value=JWT,
                )

    return program


AUTH = "azure-apim-api-require-authentication"


@pytest.mark.parametrize(
    ("case", "program", "flagged"),
    [
        ("subscription-key-by-default", keyed, set()),
        ("validate-jwt-api-policy", jwt_at_api(), set()),
        ("validate-jwt-api-policy-by-literal-id", jwt_at_api(by_name=True), set()),
        ("validate-jwt-global-policy", jwt_globally(), set()),
        ("global-policy-inherited-through-base", jwt_globally(RATE_LIMIT_ONLY), set()),
        ("validate-jwt-on-every-operation", jwt_per_operation(every=True), set()),
        ("anonymous", anonymous, {TARGET}),
        ("authentication-settings-are-documentation", anonymous_documented_oauth, {TARGET}),
        ("policy-without-validation", rate_limit_only, {TARGET}),
        ("api-policy-drops-base", jwt_globally(NO_BASE), {TARGET}),
        ("one-operation-unauthenticated", jwt_per_operation(every=False), {TARGET}),
    ],
)
def test_api_require_authentication(
    case: str, program: Callable[[], None], flagged: set[str]
) -> None:
    """azure-apim-api-require-authentication: a key, or a policy that validates callers."""
    assert findings_for(BY_NAME[AUTH], program) == flagged, case


def test_anonymous_health_api_is_waived_with_its_reason() -> None:
    """azure-apim-api-require-authentication: a deliberate anonymous probe API is waived."""
    waiver = {
        "waivers": [{"resource": TARGET, "reason": "health probe, Front Door only, rate-limited"}]
    }
    assert findings_for(BY_NAME[AUTH], anonymous, waiver) == set()


def product(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "service_name": SERVICE,
        "product_id": "partners",
        "display_name": "partners",
        "subscription_required": True,
        "approval_required": True,
        "state": "published",
    }
    return lambda: apim.Product(TARGET, **{**args, **over})


def named_value(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "service_name": SERVICE,
        "named_value_id": "backend-key",
        "display_name": "backend-key",
        "secret": True,
        "key_vault": apim.KeyVaultContractCreatePropertiesArgs(
            secret_identifier="https://kv.vault.azure.net/secrets/backend-key"
        ),
    }
    return lambda: apim.NamedValue(TARGET, **{**args, **over})


Case = tuple[Callable[[], object], bool]
PRODUCT = "azure-apim-product-require-subscription"
NAMED_VALUE = "azure-apim-named-value-secret-in-key-vault"
CASES: dict[str, Case] = {
    f"{PRODUCT}:ok": (product(), False),
    f"{PRODUCT}:default": (product(subscription_required=None), False),
    f"{PRODUCT}:open": (product(subscription_required=False, approval_required=None), True),
    f"{NAMED_VALUE}:key-vault-ok": (named_value(), False),
    f"{NAMED_VALUE}:plain-not-secret": (
        named_value(secret=False, key_vault=None, value="eu"),
        False,
    ),
    f"{NAMED_VALUE}:secret-inline": (named_value(key_vault=None, value="s3cr3t"), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())
