"""gcp-managed-certificate-disallow-wildcard-dns-domains (review C1): a certificate names a
domain the client owns, never a host under a public wildcard-DNS service."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
import pytest

from components.registry import policy_waivers
from components.spec import WILDCARD_DNS_DOMAINS, Cloud, Environment, Pattern
from policies.rules.gcp import certificates
from tests.conftest import make_spec, run_component
from tests.policies.harness import evaluate, names_violating
from tests.policies.test_gcp_common import TARGET, Program, judge, waiver

POLICY = certificates.managed_certificate_disallow_wildcard_dns_domains


def lb_certificate(*domains: str) -> Program:
    return lambda: gcp.compute.ManagedSslCertificate(
        TARGET, managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=list(domains))
    )


def manager_certificate(*domains: str) -> Program:
    return lambda: gcp.certificatemanager.Certificate(
        TARGET,
        location="global",
        managed=gcp.certificatemanager.CertificateManagedArgs(
            domains=list(domains), dns_authorizations=["projects/acme/locations/global/x"]
        ),
    )


CASES: dict[str, tuple[Program, bool]] = {
    "own-domain-ok": (lb_certificate("api.acme.example"), False),
    "sslip": (lb_certificate("34-120-1-2.sslip.io"), True),
    "nip-among-own": (lb_certificate("api.acme.example", "10.0.0.1.nip.io"), True),
    "xip-upper-case": (lb_certificate("1.2.3.4.XIP.IO"), True),
    "traefik-me-trailing-dot": (lb_certificate("api.traefik.me."), True),
    "lookalike-label-ok": (lb_certificate("api.notsslip.io"), False),
    "lookalike-suffix-ok": (lb_certificate("sslip.io.acme.example"), False),
    "certificate-manager-own-ok": (manager_certificate("api.acme.example"), False),
    "certificate-manager-sslip": (manager_certificate("1-2-3-4.sslip.io"), True),
}


@pytest.mark.parametrize(
    ("program", "violates"),
    CASES.values(),
    ids=[f"gcp-managed-certificate-disallow-wildcard-dns-domains:{k}" for k in CASES],
)
def test_certificate_domains(program: Program, violates: bool) -> None:
    assert judge(POLICY, program) == ({TARGET} if violates else set())


def test_dev_waiver() -> None:
    """A dev stack that deliberately uses sslip.io declares a waiver with its reason."""
    reason = "dev stack without a client domain; staging and prod require api.domain"
    assert judge(POLICY, lb_certificate("1-2-3-4.sslip.io"), waiver(TARGET, reason)) == set()


@pytest.mark.parametrize(
    ("host", "service"),
    [("a.sslip.io", "sslip.io"), ("nip.io", "nip.io"), ("x.example", None)],
)
def test_wildcard_dns_domain(host: str, service: Any) -> None:
    assert certificates.wildcard_dns_domain(host) == service


def test_domain_list_matches_the_spec() -> None:
    """The pack keeps its own copy of the list (it imports no component code): same values."""
    assert certificates.WILDCARD_DNS_DOMAINS == WILDCARD_DNS_DOMAINS


def _api_first(environment: Environment, domain: str) -> tuple[Any, list[Any]]:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, environment, {"api": {"domain": domain}})
    return spec, run_component(spec).resources


def test_dev_sslip_stack_is_flagged_and_waived_by_its_own_spec() -> None:
    """The api-first component on an sslip.io host (dev only): the certificate is flagged, and
    the waiver the component declares for that spec (with its reason) covers it; the same
    component's waivers without the spec do not. (With a bare ``sslip.io`` the host is built
    from the reserved address, so it is unknown until the address exists: a first preview
    cannot see it, later ones can; the spec refuses wildcard DNS outside dev either way.)"""
    spec, resources = _api_first(Environment.DEV, "34-120-1-2.sslip.io")
    flagged = names_violating(evaluate([POLICY], resources), POLICY.name)
    assert flagged == {f"{spec.project}-cert"}
    declared = policy_waivers(Cloud.GCP, Pattern.API_FIRST, spec.project, spec)
    assert (
        names_violating(
            evaluate([POLICY], resources, {POLICY.name: {"waivers": declared[POLICY.name]}}),
            POLICY.name,
        )
        == set()
    )
    assert POLICY.name not in policy_waivers(Cloud.GCP, Pattern.API_FIRST, spec.project)


def test_own_domain_stack_declares_no_certificate_waiver() -> None:
    spec, resources = _api_first(Environment.PROD, "api.acme.example")
    assert names_violating(evaluate([POLICY], resources), POLICY.name) == set()
    assert POLICY.name not in policy_waivers(Cloud.GCP, Pattern.API_FIRST, spec.project, spec)
