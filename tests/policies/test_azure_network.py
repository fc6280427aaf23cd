"""Front end and network filter rules (policies/rules/azure/network.py) on small real programs:
Application Gateway, WAF policies, Front Door routes and security policies, NSGs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi_azure_native.cdn as cdn
import pulumi_azure_native.frontdoor as frontdoor
import pulumi_azure_native.network as network
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies.rules.azure import network as network_rules
from tests.policies.harness import evaluate, names_violating, run_program

RG = "rg"
TARGET = "target"
AGW = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw"
WAF_POLICY = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
    "ApplicationGatewayWebApplicationFirewallPolicies/waf"
)
BY_NAME: dict[str, Policy] = {
    p.name: p for p in vars(network_rules).values() if isinstance(p, Policy)
}


def proxied(r: CapturedResource) -> CapturedResource:
    return replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    resources = [proxied(r) for r in run_program(program)]
    return names_violating(evaluate([policy], resources, {policy.name: config or {}}), policy.name)


def listener(name: str, protocol: str) -> network.ApplicationGatewayHttpListenerArgs:
    return network.ApplicationGatewayHttpListenerArgs(
        name=name,
        protocol=protocol,
        frontend_port=network.SubResourceArgs(id=f"{AGW}/frontendPorts/{name}"),
        ssl_certificate=network.SubResourceArgs(id=f"{AGW}/sslCertificates/cert")
        if protocol == "Https"
        else None,
    )


def rule(
    name: str, listener_name: str, redirect: bool
) -> network.ApplicationGatewayRequestRoutingRuleArgs:
    return network.ApplicationGatewayRequestRoutingRuleArgs(
        name=name,
        rule_type="Basic",
        priority=100 if redirect else 200,
        http_listener=network.SubResourceArgs(id=f"{AGW}/httpListeners/{listener_name}"),
        redirect_configuration=network.SubResourceArgs(id=f"{AGW}/redirectConfigurations/to-https")
        if redirect
        else None,
        backend_address_pool=None
        if redirect
        else network.SubResourceArgs(id=f"{AGW}/backendAddressPools/app"),
    )


def gateway(http_redirects: bool = True, **over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "sku": network.ApplicationGatewaySkuArgs(name="WAF_v2", tier="WAF_v2", capacity=2),
        "firewall_policy": network.SubResourceArgs(id=WAF_POLICY),
        "ssl_policy": network.ApplicationGatewaySslPolicyArgs(
            policy_type="Predefined", policy_name="AppGwSslPolicy20220101S"
        ),
        "http_listeners": [listener("https", "Https"), listener("http", "Http")],
        "request_routing_rules": [
            rule("app", "https", redirect=False),
            rule("redirect", "http", redirect=http_redirects),
        ],
    }
    return lambda: network.ApplicationGateway(TARGET, **{**args, **over})


def agw_waf_policy(**settings: Any) -> Callable[[], object]:
    policy_settings: dict[str, Any] = {"state": "Enabled", "mode": "Prevention"}
    return lambda: network.WebApplicationFirewallPolicy(
        TARGET,
        resource_group_name=RG,
        managed_rules=network.ManagedRulesDefinitionArgs(
            managed_rule_sets=[
                network.ManagedRuleSetArgs(rule_set_type="OWASP", rule_set_version="3.2")
            ]
        ),
        policy_settings=network.PolicySettingsArgs(**{**policy_settings, **settings}),
    )


def fd_waf_policy(**settings: Any) -> Callable[[], object]:
    policy_settings: dict[str, Any] = {"enabled_state": "Enabled", "mode": "Prevention"}
    return lambda: frontdoor.Policy(
        TARGET,
        resource_group_name=RG,
        sku=frontdoor.SkuArgs(name="Premium_AzureFrontDoor"),
        policy_settings=frontdoor.PolicySettingsArgs(**{**policy_settings, **settings}),
    )


def route(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "resource_group_name": RG,
        "profile_name": "fd",
        "endpoint_name": "edge",
        "origin_group": cdn.ResourceReferenceArgs(id="/origin-group"),
        "supported_protocols": ["Http", "Https"],
        "https_redirect": "Enabled",
        "forwarding_protocol": "HttpsOnly",
        "patterns_to_match": ["/*"],
    }
    return lambda: cdn.Route(TARGET, **{**args, **over})


def nsg(*rules: network.SecurityRuleArgs) -> Callable[[], object]:
    return lambda: network.NetworkSecurityGroup(
        TARGET, resource_group_name=RG, security_rules=list(rules)
    )


def inbound(
    port: str = "443", source: str = "Internet", access: str = "Allow", **over: Any
) -> network.SecurityRuleArgs:
    args: dict[str, Any] = {
        "name": "in",
        "priority": 100,
        "direction": "Inbound",
        "access": access,
        "protocol": "Tcp",
        "source_address_prefix": source,
        "source_port_range": "*",
        "destination_address_prefix": "*",
        "destination_port_range": port,
    }
    return network.SecurityRuleArgs(**{**args, **over})


def standalone_rule(port: str, source: str) -> Callable[[], object]:
    return lambda: network.SecurityRule(
        TARGET,
        resource_group_name=RG,
        network_security_group_name="nsg",
        priority=110,
        direction="Inbound",
        access="Allow",
        protocol="*",
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_range=port,
    )


Case = tuple[Callable[[], object], bool]
WAF = "azure-app-gateway-require-waf"
AGW_TLS = "azure-app-gateway-require-https-tls12"
MODE = "azure-waf-policy-prevention-mode"
BODY = "azure-waf-policy-inspect-request-body"
ROUTE = "azure-front-door-route-require-https"
NSG = "azure-nsg-restrict-admin-ports"

CASES: dict[str, Case] = {
    f"{WAF}:policy-attached": (gateway(), False),
    f"{WAF}:inline-prevention": (
        gateway(
            firewall_policy=None,
            web_application_firewall_configuration=network.ApplicationGatewayWebApplicationFirewallConfigurationArgs(
                enabled=True,
                firewall_mode="Prevention",
                rule_set_type="OWASP",
                rule_set_version="3.2",
            ),
        ),
        False,
    ),
    f"{WAF}:inline-detection": (
        gateway(
            firewall_policy=None,
            web_application_firewall_configuration=network.ApplicationGatewayWebApplicationFirewallConfigurationArgs(
                enabled=True,
                firewall_mode="Detection",
                rule_set_type="OWASP",
                rule_set_version="3.2",
            ),
        ),
        True,
    ),
    f"{WAF}:none": (
        gateway(
            firewall_policy=None,
            sku=network.ApplicationGatewaySkuArgs(
                name="Standard_v2", tier="Standard_v2", capacity=2
            ),
        ),
        True,
    ),
    f"{AGW_TLS}:ok": (gateway(), False),
    f"{AGW_TLS}:default-ssl-policy": (gateway(ssl_policy=None), False),
    f"{AGW_TLS}:custom-tls12": (
        gateway(
            ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                policy_type="CustomV2", min_protocol_version="TLSv1_2"
            )
        ),
        False,
    ),
    f"{AGW_TLS}:http-served": (gateway(http_redirects=False), True),
    f"{AGW_TLS}:old-predefined": (
        gateway(
            ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                policy_type="Predefined", policy_name="AppGwSslPolicy20150501"
            )
        ),
        True,
    ),
    f"{AGW_TLS}:custom-tls10": (
        gateway(
            ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                policy_type="Custom", min_protocol_version="TLSv1_0"
            )
        ),
        True,
    ),
    f"{AGW_TLS}:ssl-profile-tls11": (
        gateway(
            ssl_profiles=[
                network.ApplicationGatewaySslProfileArgs(
                    name="legacy",
                    ssl_policy=network.ApplicationGatewaySslPolicyArgs(
                        policy_type="Predefined", policy_name="AppGwSslPolicy20170401"
                    ),
                )
            ]
        ),
        True,
    ),
    f"{MODE}:agw-ok": (agw_waf_policy(), False),
    f"{MODE}:agw-detection": (agw_waf_policy(mode="Detection"), True),
    f"{MODE}:agw-disabled": (agw_waf_policy(state="Disabled"), True),
    f"{MODE}:fd-ok": (fd_waf_policy(), False),
    f"{MODE}:fd-mode-unset": (fd_waf_policy(mode=None), True),
    f"{MODE}:fd-disabled": (fd_waf_policy(enabled_state="Disabled"), True),
    f"{BODY}:agw-defaults-ok": (agw_waf_policy(), False),
    f"{BODY}:agw-enforced-ok": (
        agw_waf_policy(request_body_check=True, request_body_enforcement=True),
        False,
    ),
    f"{BODY}:agw-no-body-check": (agw_waf_policy(request_body_check=False), True),
    f"{BODY}:agw-oversize-passes": (agw_waf_policy(request_body_enforcement=False), True),
    f"{BODY}:fd-ok": (fd_waf_policy(request_body_check="Enabled"), False),
    f"{BODY}:fd-unset-ok": (fd_waf_policy(), False),
    f"{BODY}:fd-no-body-check": (fd_waf_policy(request_body_check="Disabled"), True),
    f"{ROUTE}:redirect-ok": (route(), False),
    f"{ROUTE}:https-only-match-request": (
        route(
            supported_protocols=["Https"],
            https_redirect="Disabled",
            forwarding_protocol="MatchRequest",
        ),
        False,
    ),
    f"{ROUTE}:http-served": (route(https_redirect="Disabled"), True),
    f"{ROUTE}:defaults": (
        route(supported_protocols=None, https_redirect=None, forwarding_protocol=None),
        True,
    ),
    f"{ROUTE}:http-to-origin": (route(forwarding_protocol="HttpOnly"), True),
    f"{NSG}:https-from-internet-ok": (nsg(inbound()), False),
    f"{NSG}:ssh-from-office-ok": (nsg(inbound("22", "203.0.113.0/24")), False),
    f"{NSG}:ssh-denied-ok": (nsg(inbound("22", "*", access="Deny")), False),
    f"{NSG}:ssh-from-internet": (nsg(inbound("22")), True),
    f"{NSG}:rdp-in-range-from-any": (nsg(inbound("3000-4000", "*")), True),
    f"{NSG}:postgres-in-list": (
        nsg(
            inbound(
                destination_port_range=None,
                destination_port_ranges=["443", "5432"],
                source_address_prefix=None,
                source_address_prefixes=["0.0.0.0/0"],
            )
        ),
        True,
    ),
    f"{NSG}:all-ports": (nsg(inbound("*", "Internet")), True),
    f"{NSG}:standalone-rule-ok": (standalone_rule("22", "10.0.0.0/8"), False),
    f"{NSG}:standalone-rule-sql": (standalone_rule("1433", "*"), True),
}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each change is flagged."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


# --- Front Door WAF association (stack rule) ---------------------------------------------------
FD_WAF = "azure-front-door-require-waf"


def front_door(security_policy: bool = True, waf: bool = True) -> Callable[[], None]:
    def program() -> None:
        profile = cdn.Profile(
            TARGET, resource_group_name=RG, sku=cdn.SkuArgs(name="Premium_AzureFrontDoor")
        )
        endpoint = cdn.AFDEndpoint(
            "edge", resource_group_name=RG, profile_name=profile.name, enabled_state="Enabled"
        )
        policy = frontdoor.Policy(
            "waf",
            resource_group_name=RG,
            sku=frontdoor.SkuArgs(name="Premium_AzureFrontDoor"),
            policy_settings=frontdoor.PolicySettingsArgs(mode="Prevention"),
        )
        if security_policy:
            cdn.SecurityPolicy(
                "edge-waf",
                resource_group_name=RG,
                profile_name=profile.name,
                parameters=cdn.SecurityPolicyWebApplicationFirewallParametersArgs(
                    type="WebApplicationFirewall",
                    waf_policy=cdn.ResourceReferenceArgs(id=policy.id) if waf else None,
                    associations=[
                        cdn.SecurityPolicyWebApplicationFirewallAssociationArgs(
                            domains=[cdn.ActivatedResourceReferenceArgs(id=endpoint.id)],
                            patterns_to_match=["/*"],
                        )
                    ],
                ),
            )

    return program


def classic_cdn() -> None:
    cdn.Profile(TARGET, resource_group_name=RG, sku=cdn.SkuArgs(name="Standard_Microsoft"))


@pytest.mark.parametrize(
    ("case", "program", "flagged"),
    [
        ("waf-attached", front_door(), set()),
        ("classic-cdn-not-judged", classic_cdn, set()),
        ("no-security-policy", front_door(security_policy=False), {TARGET}),
        ("security-policy-without-waf", front_door(waf=False), {TARGET}),
    ],
)
def test_front_door_require_waf(case: str, program: Callable[[], None], flagged: set[str]) -> None:
    """azure-front-door-require-waf: a WAF security policy on every Front Door profile."""
    assert findings_for(BY_NAME[FD_WAF], program) == flagged, case


def test_nsg_message_names_the_port_and_source() -> None:
    """azure-nsg-restrict-admin-ports names the rule, the port and the source."""
    [finding] = evaluate([BY_NAME[NSG]], [proxied(r) for r in run_program(nsg(inbound("22")))])
    assert '22 (SSH) from "Internet"' in finding.message and "securityRules[0]" in finding.message
