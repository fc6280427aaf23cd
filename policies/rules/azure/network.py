"""Azure front ends and network filters a client adds: Application Gateway (WAF, HTTPS
listeners, TLS 1.2 policy), Front Door Standard/Premium (HTTPS both ways, WAF in prevention
mode) and network security groups (no admin or database port open to the internet).

Public IP addresses are not judged on their own (a gateway needs one); a public IP attached to
a machine is compute.py's rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from policies.rules.azure.state import UNKNOWN, links_to, names_unknown, of_type, read
from policies.rules.base import SECURITY, as_list, canonical_type, resource_rule, stack_rule
from policies.rules.references import checkov, mcsb
from policies.rules.settings import show

APP_GATEWAY = "azure-native:network:ApplicationGateway"
AGW_WAF_POLICY = "azure-native:network:WebApplicationFirewallPolicy"
FRONT_DOOR_WAF_POLICY = "azure-native:frontdoor:Policy"
CDN_PROFILE = "azure-native:cdn:Profile"
AFD_ROUTE = "azure-native:cdn:Route"
SECURITY_POLICY = "azure-native:cdn:SecurityPolicy"
NSG = "azure-native:network:NetworkSecurityGroup"
NSG_RULE = "azure-native:network:SecurityRule"


# ---- Application Gateway -------------------------------------------------------------------
def _agw_waf(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    policy = read(props, "firewallPolicy.id")
    inline = read(props, "webApplicationFirewallConfiguration.enabled")
    if UNKNOWN in (policy, inline):
        return
    if policy:
        return  # the WAF policy's own mode is azure-waf-policy-prevention-mode's
    if inline is not True:
        yield (
            "application gateway has no web application firewall: `firewallPolicy.id` is "
            f"unset and `webApplicationFirewallConfiguration.enabled` is {show(inline)}; "
            "attach a WAF policy (WAF_v2 tier)."
        )
        return
    mode = read(props, "webApplicationFirewallConfiguration.firewallMode")
    if mode is not UNKNOWN and mode != "Prevention":
        yield (
            "application gateway WAF only logs attacks: `webApplicationFirewallConfiguration."
            f'firewallMode` is {show(mode)}; set "Prevention".'
        )


app_gateway_require_waf = resource_rule(
    "azure-app-gateway-require-waf",
    "Application gateways inspect traffic with a web application firewall (WAF policy "
    "attached, or the inline WAF on in prevention mode).",
    types=[APP_GATEWAY],
    check=_agw_waf,
    severity=Severity.HIGH,
    tags=["network-exposure"],
    remediation=(
        'Use `sku=network.ApplicationGatewaySkuArgs(name="WAF_v2", tier="WAF_v2")` and '
        "`firewall_policy=network.SubResourceArgs(id=<WebApplicationFirewallPolicy>.id)`."
    ),
    references=[checkov("CKV_AZURE_120"), mcsb("NS-6")],
    since=2,
)


def _listener_names_redirected(props: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(listener names some routing rule uses, those every using rule only redirects)."""
    used: dict[str, bool] = {}
    for rule in as_list(read(props, "requestRoutingRules")):
        if not isinstance(rule, Mapping):
            continue
        listener = read(rule, "httpListener.id")
        if not isinstance(listener, str):
            continue
        name = listener.rstrip("/").rsplit("/", 1)[-1].casefold()
        redirect = read(rule, "redirectConfiguration.id")
        redirects = (isinstance(redirect, str) and bool(redirect)) or redirect is UNKNOWN
        used[name] = used.get(name, True) and redirects
    return set(used), {n for n, r in used.items() if r}


_STRONG_PREDEFINED = {
    "appgwsslpolicy20170401s",
    "appgwsslpolicy20220101",
    "appgwsslpolicy20220101s",
}


def _ssl_policy_problem(policy: Any) -> str | None:
    if not isinstance(policy, Mapping):
        return None  # unset: API 2023-02-01+ defaults to AppGwSslPolicy20220101 (TLS 1.2)
    kind = read(policy, "policyType")
    name = read(policy, "policyName")
    minimum = read(policy, "minProtocolVersion")
    disabled = {str(p) for p in as_list(read(policy, "disabledSslProtocols"))}
    if UNKNOWN in (kind, name, minimum):
        return None
    if isinstance(kind, str) and kind in {"Custom", "CustomV2"}:
        if minimum not in ("TLSv1_2", "TLSv1_3"):
            return f"`minProtocolVersion` is {show(minimum)}"
        return None
    if isinstance(name, str):
        if name.casefold() not in _STRONG_PREDEFINED:
            return f"`policyName` is {show(name)}"
        return None
    if disabled and not {"TLSv1_0", "TLSv1_1"} <= disabled:
        return f"`disabledSslProtocols` is {sorted(disabled)!r}"
    return None


def _agw_tls(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    used, redirected = _listener_names_redirected(props)
    for i, listener in enumerate(as_list(read(props, "httpListeners"))):
        if not isinstance(listener, Mapping):
            continue
        protocol = read(listener, "protocol")
        name = read(listener, "name")
        if not isinstance(protocol, str) or protocol.casefold() != "http":
            continue
        key = name.casefold() if isinstance(name, str) else ""
        if key in used and key in redirected:
            continue  # plain HTTP only to redirect to HTTPS
        yield (
            f"listener {show(name)} serves plain HTTP: `httpListeners[{i}].protocol` is "
            '"Http" and its routing rule does not redirect; use "Https" with a certificate, '
            "or route it only to a redirect configuration."
        )
    policies = [("sslPolicy", read(props, "sslPolicy"))]
    for i, profile in enumerate(as_list(read(props, "sslProfiles"))):
        if isinstance(profile, Mapping):
            policies.append((f"sslProfiles[{i}].sslPolicy", read(profile, "sslPolicy")))
    for where, policy in policies:
        problem = _ssl_policy_problem(policy)
        if problem:
            yield (
                f"application gateway accepts TLS below 1.2: `{where}` {problem}; use "
                '`policy_type="Predefined", policy_name="AppGwSslPolicy20220101S"` or '
                '`policy_type="CustomV2", min_protocol_version="TLSv1_2"`.'
            )


app_gateway_require_https_tls12 = resource_rule(
    "azure-app-gateway-require-https-tls12",
    "Application gateway listeners serve HTTPS (plain HTTP only to redirect) with an SSL policy "
    "whose minimum is TLS 1.2.",
    types=[APP_GATEWAY],
    check=_agw_tls,
    severity=Severity.HIGH,
    tags=["tls", "encryption"],
    remediation=(
        'Give every listener `protocol="Https"` and an `ssl_certificate`; route any HTTP '
        "listener to a `redirect_configurations` entry; set `ssl_policy=network."
        'ApplicationGatewaySslPolicyArgs(policy_type="Predefined", '
        'policy_name="AppGwSslPolicy20220101S")`.'
    ),
    references=[checkov("CKV_AZURE_217"), checkov("CKV_AZURE_218"), mcsb("DP-3")],
    since=2,
)


# ---- WAF policies -----------------------------------------------------------------------------
def _waf_mode(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    state_path = (
        "policySettings.enabledState"
        if canonical_type(args.resource_type) == FRONT_DOOR_WAF_POLICY
        else "policySettings.state"
    )
    state = read(props, state_path)
    mode = read(props, "policySettings.mode")
    # A policy is enabled unless turned off; its mode must be set to block.
    if isinstance(state, str) and state != "Enabled":
        yield f'WAF policy is off: `{state_path}` is {show(state)}; set "Enabled".'
    if mode is not UNKNOWN and mode != "Prevention":
        yield (
            f"WAF policy only logs attacks: `policySettings.mode` is {show(mode)}; set "
            '"Prevention".'
        )


waf_policy_prevention_mode = resource_rule(
    "azure-waf-policy-prevention-mode",
    "Front Door and Application Gateway WAF policies are enabled and block (prevention mode).",
    types=[FRONT_DOOR_WAF_POLICY, AGW_WAF_POLICY],
    check=_waf_mode,
    severity=Severity.HIGH,
    tags=["network-exposure"],
    remediation=(
        'Set `policy_settings=...PolicySettingsArgs(mode="Prevention", enabled_state="Enabled")` '
        '(Application Gateway: `state="Enabled"`), after tuning exclusions in Detection mode.'
    ),
    references=[checkov("CKV_AZURE_123"), checkov("CKV_AZURE_122"), mcsb("NS-6")],
    since=2,
)


def _waf_body(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    front_door = canonical_type(args.resource_type) == FRONT_DOOR_WAF_POLICY
    check = read(props, "policySettings.requestBodyCheck")
    # Unset means on for both services; off means bodies are never inspected.
    if check is not UNKNOWN and check in ("Disabled", False):
        wanted = '"Enabled"' if front_door else "true"
        yield (
            "WAF policy never inspects request bodies: `policySettings.requestBodyCheck` is "
            f"{show(check)}; set {wanted}."
        )
    if front_door:
        return  # Front Door inspects a fixed prefix and has no oversize setting to judge
    enforce = read(props, "policySettings.requestBodyEnforcement")
    if enforce is False:
        yield (
            "WAF policy passes bodies larger than it inspects: `policySettings."
            "requestBodyEnforcement` is false, so a body over `maxRequestBodySizeInKb` reaches "
            "the backend with only its first `requestBodyInspectLimitInKB` inspected; set it "
            "to true (the gateway behind must also cap the body and read it whole)."
        )


waf_policy_inspect_request_body = resource_rule(
    "azure-waf-policy-inspect-request-body",
    "Front Door and Application Gateway WAF policies inspect request bodies, and Application "
    "Gateway refuses a body larger than it inspects (never passes it uninspected).",
    types=[FRONT_DOOR_WAF_POLICY, AGW_WAF_POLICY],
    check=_waf_body,
    severity=Severity.HIGH,
    tags=["network-exposure"],
    remediation=(
        'Front Door: `policy_settings=frontdoor.PolicySettingsArgs(request_body_check="Enabled", '
        "...)`. Application Gateway: `policy_settings=network.PolicySettingsArgs("
        "request_body_check=True, request_body_enforcement=True, max_request_body_size_in_kb=...)`."
    ),
    references=[mcsb("NS-6")],
    since=4,
)


# ---- Front Door Standard / Premium ------------------------------------------------------------
def _route_https(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    protocols = read(props, "supportedProtocols")
    redirect = read(props, "httpsRedirect")
    forwarding = read(props, "forwardingProtocol")
    if UNKNOWN in (protocols, redirect, forwarding):
        return
    # Routes accept HTTP and HTTPS and forward as requested unless told otherwise.
    accepted = {str(p).casefold() for p in as_list(protocols)} or {"http", "https"}
    client_https = accepted == {"https"} or redirect == "Enabled"
    if not client_https:
        yield (
            "route serves plain HTTP to clients: `supportedProtocols` is "
            f"{sorted(accepted)!r} and `httpsRedirect` is {show(redirect)}; set "
            '`https_redirect="Enabled"` or `supported_protocols=["Https"]`.'
        )
    forwarding = forwarding or "MatchRequest"
    if forwarding == "HttpOnly" or (forwarding == "MatchRequest" and not client_https):
        yield (
            "route forwards requests to the origin over plain HTTP: `forwardingProtocol` is "
            f'{show(forwarding)}; set "HttpsOnly".'
        )


front_door_route_require_https = resource_rule(
    "azure-front-door-route-require-https",
    "Front Door routes redirect clients to HTTPS (or accept HTTPS only) and reach origins over "
    "HTTPS.",
    types=[AFD_ROUTE],
    check=_route_https,
    severity=Severity.HIGH,
    tags=["tls", "encryption"],
    remediation=(
        'Set `https_redirect="Enabled"` (or `supported_protocols=["Https"]`) and '
        '`forwarding_protocol="HttpsOnly"` on the Route.'
    ),
    references=[mcsb("DP-3")],
    since=2,
)


def _is_front_door(profile: Any) -> bool:
    sku = read(profile.props, "sku.name")
    return isinstance(sku, str) and sku.endswith("AzureFrontDoor")


def _is_waf_policy(policy: Any) -> bool:
    kind = read(policy.props, "parameters.type")
    waf = read(policy.props, "parameters.wafPolicy.id")
    return kind is UNKNOWN or (kind == "WebApplicationFirewall" and bool(waf))


def _front_doors_without_waf(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    policies = of_type(args.resources, SECURITY_POLICY)
    if any(names_unknown(p, "profileName") for p in policies):
        return
    for profile in of_type(args.resources, CDN_PROFILE):
        if not _is_front_door(profile):
            continue
        if any(
            links_to(p, "profileName", profile, ("profileName",)) and _is_waf_policy(p)
            for p in policies
        ):
            continue
        yield (
            f"Front Door profile '{profile.name}' is reachable from the internet with no web "
            "application firewall: no SecurityPolicy of type WebApplicationFirewall "
            "associates a WAF policy with its domains.",
            profile.urn,
        )


front_door_require_waf = stack_rule(
    "azure-front-door-require-waf",
    "Every Front Door Standard/Premium profile has a WAF security policy on its domains.",
    check=_front_doors_without_waf,
    severity=Severity.HIGH,
    tags=["network-exposure"],
    remediation=(
        "Add `cdn.SecurityPolicy(profile_name=<profile>.name, parameters=cdn."
        'SecurityPolicyWebApplicationFirewallParametersArgs(type="WebApplicationFirewall", '
        "waf_policy=cdn.ResourceReferenceArgs(id=<frontdoor.Policy>.id), associations=[...]))` "
        'with `patterns_to_match=["/*"]` for every endpoint / custom domain.'
    ),
    category=SECURITY,
    references=[checkov("CKV_AZURE_121"), mcsb("NS-6")],
    since=2,
)


# ---- network security groups ------------------------------------------------------------------
ADMIN_PORTS: dict[int, str] = {
    22: "SSH",
    23: "Telnet",
    3389: "RDP",
    5985: "WinRM",
    5986: "WinRM",
    1433: "SQL Server",
    3306: "MySQL",
    5432: "PostgreSQL",
    6379: "Redis",
    6380: "Redis",
    9200: "Elasticsearch",
    27017: "MongoDB",
}
_ANY_SOURCE = {"*", "0.0.0.0", "0.0.0.0/0", "internet", "any", "::/0"}  # noqa: S104  # nosec B104 - address ranges, not a bind


def _ports(ranges: list[Any]) -> set[int]:
    """The admin ports that the given port ranges ("*", "22", "1000-2000") include."""
    found: set[int] = set()
    for item in ranges:
        text = str(item).strip()
        if text == "*":
            return set(ADMIN_PORTS)
        low, _, high = text.partition("-")
        try:
            start, end = int(low), int(high or low)
        except ValueError:
            continue
        found.update(p for p in ADMIN_PORTS if start <= p <= end)
    return found


def _rule_problem(rule: Mapping[str, Any]) -> str | None:
    fields = {
        k: read(rule, k)
        for k in (
            "direction",
            "access",
            "protocol",
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "destinationPortRange",
            "destinationPortRanges",
        )
    }
    if UNKNOWN in fields.values():
        return None
    if (
        str(fields["direction"]).casefold() != "inbound"
        or str(fields["access"]).casefold() != "allow"
    ):
        return None
    if str(fields["protocol"]).casefold() in {"icmp", "esp", "ah"}:
        return None
    sources = [fields["sourceAddressPrefix"], *as_list(fields["sourceAddressPrefixes"])]
    open_sources = [
        s for s in sources if isinstance(s, str) and s.strip().casefold() in _ANY_SOURCE
    ]
    if not open_sources:
        return None
    ports = _ports([fields["destinationPortRange"], *as_list(fields["destinationPortRanges"])])
    if not ports:
        return None
    shown = ", ".join(f"{p} ({ADMIN_PORTS[p]})" for p in sorted(ports))
    return f"allows {shown} from {show(open_sources[0])}"


def _nsg_rules(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    if canonical_type(args.resource_type) == NSG_RULE:
        rules: list[tuple[str, Any]] = [("", props)]
    else:
        rules = [
            (f"securityRules[{i}]", r) for i, r in enumerate(as_list(read(props, "securityRules")))
        ]
    for where, rule in rules:
        if not isinstance(rule, Mapping):
            continue
        problem = _rule_problem(rule)
        if problem:
            name = read(rule, "name")
            label = f"rule {show(name)}" if isinstance(name, str) else "security rule"
            at = f" (`{where}`)" if where else ""
            yield (
                f"admin / database port is reachable from the internet: {label}{at} {problem}; "
                "allow only known address ranges, or use Azure Bastion / private endpoints."
            )


nsg_restrict_admin_ports = resource_rule(
    "azure-nsg-restrict-admin-ports",
    "Network security groups do not allow SSH, RDP, WinRM or database ports inbound from "
    "any address (*, Internet, 0.0.0.0/0).",
    types=[NSG, NSG_RULE],
    check=_nsg_rules,
    severity=Severity.CRITICAL,
    tags=["network-exposure", "public-access"],
    remediation=(
        "Set `source_address_prefix` to the management network (or use Azure Bastion / "
        "just-in-time access) on rules that open 22, 3389, 5985-5986 or database ports."
    ),
    references=[checkov("CKV_AZURE_10"), checkov("CKV_AZURE_9"), mcsb("NS-1")],
    since=2,
)
