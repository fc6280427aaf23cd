"""The AWS stacks on a fresh account: ordering, network range, account-wide singletons, the
internal TLS hop, the custom domain, and the permissions boundary the bootstrap's deployer
insists on. Each test holds one defect of the 2026-12 reviews (client-journey #5, #9, #19;
security A8, A18, A19, A22, C4) against the resources the components really register."""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from typing import Any

import pytest

from components.aws import network, security
from components.aws.api_first import POLICY_WAIVERS, waivers_for
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import ACCOUNT_ID, Capture, CapturedResource
from tests.conftest import candidate_image, make_spec, of_type, run_component

PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
PROJECT = "acme-support"
DOMAIN = "api.acme.example"
EXISTING = {
    "existing_id": "vpc-0123456789abcdef0",
    "existing_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
}


def _freeze(overrides: dict[str, Any]) -> str:
    return json.dumps(overrides, sort_keys=True)


@cache
def _spec(pattern: Pattern, env: Environment, frozen: str = "{}") -> DeploymentSpec:
    return make_spec(Cloud.AWS, pattern, env, json.loads(frozen))


@cache
def _run(pattern: Pattern, env: Environment, frozen: str = "{}") -> Capture:
    return run_component(_spec(pattern, env, frozen))


def run(pattern: Pattern, env: Environment = Environment.PROD, **overrides: Any) -> Capture:
    return _run(pattern, env, _freeze(overrides))


def spec(pattern: Pattern, env: Environment = Environment.PROD, **overrides: Any) -> DeploymentSpec:
    return _spec(pattern, env, _freeze(overrides))


def one(resources: list[CapturedResource], token: str, name: str | None = None) -> CapturedResource:
    found = [r for r in of_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def mock_arn(resource: CapturedResource) -> str:
    service = resource.type.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:eu-west-1:{ACCOUNT_ID}:{resource.name}"


def component_outputs(capture: Capture, token: str) -> dict[str, Any]:
    component = one(capture.resources, token)
    return capture.outputs[component.urn]


# --- A19: the NAT gateway and its address wait for the internet gateway -------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_nat_gateway_and_its_address_depend_on_the_internet_gateway(pattern: Pattern) -> None:
    resources = run(pattern).resources
    igw = one(resources, "aws:ec2/internetGateway:InternetGateway")
    for token in ("aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway"):
        assert igw.urn in one(resources, token).dependencies, token


# --- #19: the VPC range is the environment's, or the client's VPC is used -----------------
@pytest.mark.parametrize("env", list(Environment))
@pytest.mark.parametrize("pattern", PATTERNS)
def test_vpc_takes_the_environments_range_and_subnets_lie_inside(
    pattern: Pattern, env: Environment
) -> None:
    resources, cidr = run(pattern, env).resources, spec(pattern, env).network.cidr
    vpc = one(resources, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == cidr
    block = ipaddress.ip_network(cidr)
    subnets = [
        ipaddress.ip_network(s.inputs["cidrBlock"])
        for s in of_type(resources, "aws:ec2/subnet:Subnet")
    ]
    assert len(subnets) == 4
    assert all(s.subnet_of(block) for s in subnets)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])


def test_environments_get_distinct_ranges_so_they_can_be_peered() -> None:
    ranges = [
        ipaddress.ip_network(
            one(run(Pattern.API_FIRST, e).resources, "aws:ec2/vpc:Vpc").inputs["cidrBlock"]
        )
        for e in Environment
    ]
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])


def test_subnet_plan_keeps_the_layout_of_existing_stacks_for_a_16() -> None:
    # Stacks created before the range was configurable run 10.40.0.0/16 with these subnets;
    # recomputing them differently would replace every subnet (and what runs in it).
    plan = network.subnet_plan("10.40.0.0/16")
    assert plan.public == ("10.40.0.0/24", "10.40.1.0/24")
    assert plan.private == ("10.40.16.0/20", "10.40.32.0/20")


@pytest.mark.parametrize("prefix", range(16, 25))
def test_subnet_plan_fits_every_allowed_range(prefix: int) -> None:
    cidr = (
        f"10.77.0.0/{prefix}" if prefix <= 16 else str(ipaddress.ip_network(f"10.77.0.0/{prefix}"))
    )
    plan = network.subnet_plan(cidr)
    block = ipaddress.ip_network(cidr)
    subnets = [ipaddress.ip_network(s) for s in (*plan.public, *plan.private)]
    assert all(s.subnet_of(block) for s in subnets)
    assert all(16 <= s.prefixlen <= 28 for s in subnets)  # what a VPC subnet may be
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    # Serving needs room: private subnets are never smaller than the public ones.
    assert min(s.num_addresses for s in subnets[2:]) >= max(s.num_addresses for s in subnets[:2])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_an_existing_vpc_is_used_instead_of_creating_one(pattern: Pattern) -> None:
    resources = run(pattern, network=EXISTING).resources
    created = {r.type for r in resources}
    for token in (
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
    ):
        assert token not in created, token
    for group in of_type(resources, "aws:ec2/securityGroup:SecurityGroup"):
        assert group.inputs["vpcId"] == EXISTING["existing_id"]
    placed = [
        *(
            s.inputs["networkConfiguration"]["subnets"]
            for s in of_type(resources, "aws:ecs/service:Service")
        ),
        *(
            m.inputs["vpcConfig"]["subnets"]
            for m in of_type(resources, "aws:sagemaker/model:Model")
        ),
    ]
    assert placed and all(p == EXISTING["existing_subnet_ids"] for p in placed)


# --- A18: the account-wide API Gateway logging role is the bootstrap's -------------------
def test_the_stack_leaves_the_account_wide_api_gateway_setting_to_bootstrap() -> None:
    for env in Environment:
        resources = run(Pattern.API_FIRST, env).resources
        assert not of_type(resources, "aws:apigateway/account:Account")
        roles = [
            r
            for r in of_type(resources, "aws:iam/role:Role")
            if "apigateway" in r.inputs["assumeRolePolicy"]
        ]
        assert roles == []
        # The stage still logs: API Gateway writes through the account's role (bootstrap).
        stage = one(resources, "aws:apigateway/stage:Stage")
        assert stage.inputs["accessLogSettings"]["destinationArn"]


# --- #5, C4: no private CA by default; the internal hop by the client's choice ------------
def test_no_private_ca_by_default_and_the_plain_hop_is_a_declared_waiver() -> None:
    resources = run(Pattern.API_FIRST).resources
    assert not [r for r in resources if r.type.startswith("aws:acmpca/")]
    [listener] = of_type(resources, "aws:lb/listener:Listener")
    assert (listener.inputs["protocol"], listener.inputs["port"]) == ("HTTP", 80)
    # the predict and the health route take the same hop
    for integration in of_type(resources, "aws:apigateway/integration:Integration"):
        assert integration.inputs["uri"].startswith("http://")
        assert "tlsConfig" not in integration.inputs
    integration = one(resources, "aws:apigateway/integration:Integration", f"{PROJECT}-integration")
    assert integration.inputs["uri"].startswith("http://")
    assert "tlsConfig" not in integration.inputs
    # The pack's HTTPS rule is waived for exactly this listener, with a written reason.
    (role,), reason = POLICY_WAIVERS["aws-lb-listener-require-https"]
    assert listener.name == f"{PROJECT}-{role}" and len(reason) > 80
    # The VPC link and the ALB talk on that port only.
    link = one(resources, "aws:ec2/securityGroup:SecurityGroup", f"{PROJECT}-vpclink-sg")
    assert [(e["fromPort"], e["toPort"]) for e in link.inputs["egress"]] == [(80, 80)]


def test_private_ca_when_asked_and_acm_may_renew_from_it() -> None:
    resources = run(Pattern.API_FIRST, api={"private_ca": True}).resources
    ca = one(resources, "aws:acmpca/certificateAuthority:CertificateAuthority")
    permission = one(resources, "aws:acmpca/permission:Permission")
    assert permission.inputs["principal"] == "acm.amazonaws.com"
    assert sorted(permission.inputs["actions"]) == [
        "GetCertificate",
        "IssueCertificate",
        "ListPermissions",
    ]
    assert permission.inputs["certificateAuthorityArn"] == mock_arn(ca)
    assert permission.inputs["sourceAccount"] == ACCOUNT_ID
    cert = one(resources, "aws:acm/certificate:Certificate")
    assert permission.urn in cert.dependencies
    [listener] = of_type(resources, "aws:lb/listener:Listener")
    assert listener.inputs["protocol"] == "HTTPS" and listener.inputs["certificateArn"] == mock_arn(
        cert
    )
    assert "aws-lb-listener-require-https" not in waivers_for(
        spec(Pattern.API_FIRST, api={"private_ca": True})
    )


def test_a_domain_gives_a_public_certificate_a_verified_hop_and_the_custom_domain() -> None:
    resources = run(Pattern.API_FIRST, api={"domain": DOMAIN}).resources
    cert = one(resources, "aws:acm/certificate:Certificate")
    assert cert.inputs["domainName"] == DOMAIN
    assert cert.inputs["validationMethod"] == "DNS"
    # One validation record serves the name and the wildcard the internal host sits under.
    assert cert.inputs["subjectAlternativeNames"] == [f"*.{DOMAIN}"]
    validation = one(resources, "aws:acm/certificateValidation:CertificateValidation")
    timeout = validation.request.customTimeouts.create
    assert timeout and timeout.endswith("m") and int(timeout[:-1]) <= 60
    domain = one(resources, "aws:apigateway/domainName:DomainName")
    assert domain.inputs["domainName"] == DOMAIN
    assert domain.inputs["securityPolicy"] == "TLS_1_2"
    assert domain.inputs["endpointConfiguration"]["types"] == "REGIONAL"
    assert validation.urn in domain.dependencies
    mapping = one(resources, "aws:apigateway/basePathMapping:BasePathMapping")
    stage = one(resources, "aws:apigateway/stage:Stage")
    assert mapping.inputs["stageName"] == stage.inputs["stageName"]
    [listener] = of_type(resources, "aws:lb/listener:Listener")
    assert listener.inputs["protocol"] == "HTTPS" and listener.inputs["port"] == 443
    assert validation.urn in listener.dependencies
    integration = one(resources, "aws:apigateway/integration:Integration", f"{PROJECT}-integration")
    assert integration.inputs["uri"] == f"https://serving.{DOMAIN}/predict"
    # A publicly trusted certificate: API Gateway verifies the chain and the host name.
    assert integration.inputs.get("tlsConfig", {}).get("insecureSkipVerification") is not True
    assert not [r for r in resources if r.type.startswith("aws:acmpca/")]
    outputs = component_outputs(
        run(Pattern.API_FIRST, api={"domain": DOMAIN}), "aideploy:aws:ApiFirst"
    )
    assert outputs["endpoint_url"] == f"https://{DOMAIN}/predict"


def test_a_wildcard_dns_domain_is_refused_on_aws_with_a_reason() -> None:
    with pytest.raises(Exception, match="wildcard-DNS"):
        run(Pattern.API_FIRST, Environment.DEV, api={"domain": "sslip.io"})


# --- the permissions boundary every role of a stack carries -------------------------------
@pytest.mark.parametrize("env", list(Environment))
@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_role_carries_the_environments_permissions_boundary(
    pattern: Pattern, env: Environment
) -> None:
    roles = of_type(run(pattern, env).resources, "aws:iam/role:Role")
    assert roles
    expected = security.boundary_arn(ACCOUNT_ID, PROJECT, env)
    assert {r.inputs.get("permissionsBoundary") for r in roles} == {expected}


# --- A22: SageMaker's trust and its image -------------------------------------------------
def test_sagemaker_trust_refuses_other_accounts_without_demanding_absent_keys() -> None:
    resources = run(Pattern.MANAGED_PLATFORM).resources
    [role] = [
        r
        for r in of_type(resources, "aws:iam/role:Role")
        if "sagemaker" in r.inputs["assumeRolePolicy"]
    ]
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Condition"] == {
        "StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLikeIfExists": {"aws:SourceArn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT_ID}:*"},
    }


def test_sagemaker_pulls_the_candidate_and_stable_images_from_ecr_itself() -> None:
    image = candidate_image(Cloud.AWS, Pattern.MANAGED_PLATFORM)
    resources = run(
        Pattern.MANAGED_PLATFORM,
        rollout={"candidate_version": "1.1.0", "candidate_image": image},
    ).resources
    for model in of_type(resources, "aws:sagemaker/model:Model"):
        assert model.inputs["primaryContainer"]["imageConfig"]["repositoryAccessMode"] == "Platform"


# --- #9: no physical name of an AWS stack depends on the suffix ---------------------------
def _physical_names(resources: list[CapturedResource]) -> dict[str, Any]:
    keys = ("name", "bucket", "family", "functionName", "domainName", "alias")
    return {r.urn: {k: r.inputs.get(k) for k in keys} for r in resources if r.custom}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_stack_without_a_suffix_keeps_todays_names(pattern: Pattern) -> None:
    # AWS names no stack resource worldwide (buckets are auto-named) and keeps none after
    # delete, so no name needs the suffix: with or without it, every name is the same.
    with_suffix = run(pattern)
    without = run(pattern, suffix=None)
    assert spec(pattern, suffix=None).suffix is None and spec(pattern).suffix is not None
    assert _physical_names(without.resources) == _physical_names(with_suffix.resources)
    names = {r.inputs.get("name") for r in without.resources if r.custom}
    assert f"{PROJECT}-prod-latency-p99" in names  # alarm_name(): the pipeline finds it by name
