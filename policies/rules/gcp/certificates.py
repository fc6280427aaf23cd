"""Certificates for the host names clients trust (review C1).

A public wildcard-DNS service (``sslip.io``, ``nip.io``, ``xip.io``, ``traefik.me``) resolves
``<ip>.sslip.io`` to the IP in the name: convenient, but its operator controls the name's DNS,
so it can answer a certificate authority's DNS or HTTP challenge for that name and present a
valid certificate for the host clients were told to trust. A certificate (Google-managed on a
load balancer, or a Certificate Manager certificate) must name a domain the client owns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import as_list, prop_at, resource_rule
from policies.rules.references import guardrail

# Kept in step with components/spec.py WILDCARD_DNS_DOMAINS (the pack imports no component code).
WILDCARD_DNS_DOMAINS: frozenset[str] = frozenset({"sslip.io", "nip.io", "xip.io", "traefik.me"})

MANAGED_SSL_CERTIFICATE = "gcp:compute/managedSslCertificate:ManagedSslCertificate"
CERTIFICATE_MANAGER_CERTIFICATE = "gcp:certificatemanager/certificate:Certificate"
# Where each type lists the names its certificate is issued for.
DOMAIN_PATHS: dict[str, str] = {
    MANAGED_SSL_CERTIFICATE: "managed.domains",
    CERTIFICATE_MANAGER_CERTIFICATE: "managed.domains",
}


def wildcard_dns_domain(host: str) -> str | None:
    """The wildcard-DNS service ``host`` lies under (whole labels, any case), or None."""
    name = host.strip().rstrip(".").lower()
    for domain in WILDCARD_DNS_DOMAINS:
        if name == domain or name.endswith("." + domain):
            return domain
    return None


def _wildcard_domains(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    path = DOMAIN_PATHS.get(args.resource_type, "managed.domains")
    for host in as_list(prop_at(props, path)):
        if isinstance(host, str) and (service := wildcard_dns_domain(host)):
            yield (
                f"certificate for {host!r} (`{path}`) names a host under the public "
                f"wildcard-DNS service {service}, whose operator controls its DNS and can "
                "obtain a certificate for it: clients cannot tell the real endpoint apart."
            )


managed_certificate_disallow_wildcard_dns_domains = resource_rule(
    "gcp-managed-certificate-disallow-wildcard-dns-domains",
    "Managed certificates (load balancer, Certificate Manager) name domains the client owns, "
    "never a public wildcard-DNS service such as sslip.io or nip.io.",
    types=DOMAIN_PATHS,
    check=_wildcard_domains,
    severity=Severity.HIGH,
    tags=["tls", "authentication"],
    remediation=(
        "Set the pattern's `api.domain` to a host name under a domain you own and point its DNS "
        "A record at the load balancer's address (a DNS-authorised Certificate Manager "
        "certificate works before the record moves). A dev stack that deliberately uses "
        "sslip.io declares a waiver with its reason."
    ),
    # No public benchmark has this control (review C1); POLICY-RULES 32 covers load balancer TLS.
    references=[guardrail("32")],
    since=2,
)
