"""API Management APIs and products a client adds: no API is callable anonymously, no product
is open, secrets in named values live in Key Vault.

An API that does not require a subscription key must authenticate callers in a policy
(``validate-jwt``, ``validate-azure-ad-token`` or ``validate-client-certificate``) at the API,
on every operation, or globally (inherited through ``<base />``). An API's
``authenticationSettings`` (OAuth 2.0 / OpenID Connect server) only documents the scheme for
the developer portal: the gateway does not enforce it, so it does not count. Product policies
do not run for calls made without a subscription key, so they do not count either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.azure.state import UNKNOWN, links_to, of_type, read
from policies.rules.base import OPERATIONAL, SECURITY, resource_rule, stack_rule
from policies.rules.references import mcsb
from policies.rules.settings import Present, Setting, settings_check

API = "azure-native:apimanagement:Api"
API_POLICY = "azure-native:apimanagement:ApiPolicy"
OPERATION = "azure-native:apimanagement:ApiOperation"
OPERATION_POLICY = "azure-native:apimanagement:ApiOperationPolicy"
SERVICE_POLICY = "azure-native:apimanagement:Policy"
PRODUCT = "azure-native:apimanagement:Product"
NAMED_VALUE = "azure-native:apimanagement:NamedValue"

_VALIDATES_CALLER = re.compile(
    r"<\s*(validate-jwt|validate-azure-ad-token|validate-client-certificate)\b", re.IGNORECASE
)
_INBOUND = re.compile(r"<\s*inbound\s*>(.*?)<\s*/\s*inbound\s*>", re.IGNORECASE | re.DOTALL)
_BASE = re.compile(r"<\s*base\s*/?\s*>", re.IGNORECASE)


def _inherits_inbound(text: str) -> bool:
    """Whether a policy's inbound section runs the enclosing scope's policy (``<base />``)."""
    inbound = _INBOUND.search(text)
    return bool(inbound and _BASE.search(inbound.group(1)))


def _policy_text(policy: PolicyResource) -> str | None:
    """The policy XML, or None when the check cannot read it (unknown, or a link to a file)."""
    fmt = read(policy.props, "format")
    if isinstance(fmt, str) and fmt.casefold().endswith("-link"):
        return None
    value = read(policy.props, "value")
    return value if isinstance(value, str) else None


def _validates(policy: PolicyResource) -> bool:
    """Whether a policy authenticates callers (an unreadable policy gets the benefit)."""
    text = _policy_text(policy)
    return text is None or bool(_VALIDATES_CALLER.search(text))


def _same_service(a: PolicyResource, b: PolicyResource) -> bool:
    """Whether two APIM child resources name the same service (same Output or same name)."""
    deps_a = {d.urn for d in a.property_dependencies.get("serviceName", [])}
    deps_b = {d.urn for d in b.property_dependencies.get("serviceName", [])}
    if deps_a & deps_b:
        return True
    name_a, name_b = read(a.props, "serviceName"), read(b.props, "serviceName")
    return isinstance(name_a, str) and name_a == name_b


def _operations_all_validate(api: PolicyResource, args: StackValidationArgs) -> bool:
    operations = [
        o for o in of_type(args.resources, OPERATION) if links_to(o, "apiId", api, ("apiId",))
    ]
    if not operations:
        return False
    policies = [
        p
        for p in of_type(args.resources, OPERATION_POLICY)
        if links_to(p, "apiId", api, ("apiId",))
    ]
    return all(
        any(links_to(p, "operationId", op, ("operationId",)) and _validates(p) for p in policies)
        for op in operations
    )


def _api_authenticates(api: PolicyResource, args: StackValidationArgs) -> bool:
    api_policies = [
        p for p in of_type(args.resources, API_POLICY) if links_to(p, "apiId", api, ("apiId",))
    ]
    if any(_validates(p) for p in api_policies):
        return True
    # A global policy applies unless the API's own policy drops <base />.
    inherits = all(
        (text := _policy_text(p)) is None or _inherits_inbound(text) for p in api_policies
    )
    if inherits and any(
        _same_service(p, api) and _validates(p) for p in of_type(args.resources, SERVICE_POLICY)
    ):
        return True
    return _operations_all_validate(api, args)


def _anonymous_apis(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for api in of_type(args.resources, API):
        # APIs require a subscription key unless told otherwise.
        if read(api.props, "subscriptionRequired") is not False:
            continue
        if _api_authenticates(api, args):
            continue
        path = read(api.props, "path")
        shown = f" (path `{path}`)" if isinstance(path, str) else ""
        yield (
            f"API '{api.name}'{shown} allows unauthenticated calls: `subscriptionRequired` is "
            "false and no API, operation or global policy validates the caller "
            "(validate-jwt / validate-azure-ad-token / validate-client-certificate); "
            "`authenticationSettings` only documents a scheme and is not enforced.",
            api.urn,
        )


apim_api_require_authentication = stack_rule(
    "azure-apim-api-require-authentication",
    "Every API Management API authenticates its callers: a subscription key, or a policy that "
    "validates a token or client certificate.",
    check=_anonymous_apis,
    severity=Severity.HIGH,
    tags=["authentication", "public-access"],
    remediation=(
        "Leave `subscription_required` unset (true), or add an `apimanagement.ApiPolicy` whose "
        'inbound section has `<validate-jwt header-name="Authorization">` (or '
        "`<validate-azure-ad-token>`) for the API. A deliberately anonymous API (a health "
        "probe) gets a waiver with its reason."
    ),
    category=SECURITY,
    references=[mcsb("IM-1")],
    since=2,
)

_PRODUCT = {PRODUCT: (Setting("subscriptionRequired", (True,), unset_ok=True),)}

apim_product_require_subscription = resource_rule(
    "azure-apim-product-require-subscription",
    "API Management products require a subscription (an open product lets anyone call its "
    "APIs without a key).",
    types=_PRODUCT,
    check=settings_check(_PRODUCT, "product allows unauthenticated calls to its APIs"),
    severity=Severity.HIGH,
    tags=["authentication", "public-access"],
    remediation=(
        "Leave `subscription_required` unset or true on the Product (and keep "
        "`approval_required=True` for external consumers)."
    ),
    references=[mcsb("IM-1")],
    since=2,
)


def _secret_outside_vault(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    if read(props, "secret") is not True:
        return
    reference = Present("keyVault.secretIdentifier", "a Key Vault secret URI")
    if read(props, "keyVault.secretIdentifier") is UNKNOWN or reference.satisfied(props):
        return
    yield (
        "secret named value is stored in API Management, not referenced from Key Vault: "
        "`keyVault.secretIdentifier` is unset; set it to the Key Vault secret URI (rotation "
        "and access are then managed in the vault)."
    )


apim_named_value_secret_in_key_vault = resource_rule(
    "azure-apim-named-value-secret-in-key-vault",
    "Secret API Management named values reference a Key Vault secret instead of holding the value.",
    types=[NAMED_VALUE],
    check=_secret_outside_vault,
    severity=Severity.LOW,
    tags=["key-management"],
    remediation=(
        "Set `key_vault=apimanagement.KeyVaultContractCreatePropertiesArgs(secret_identifier="
        "<secret uri>, identity_client_id=<user-assigned identity client id or None>)` and "
        "drop `value`; grant the service identity Key Vault Secrets User."
    ),
    category=OPERATIONAL,
    enforcement=EnforcementLevel.ADVISORY,
    references=[mcsb("IM-8")],
    since=2,
)
