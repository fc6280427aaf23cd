"""What the real GCP APIs demand of the stacks, beyond what mocks accept (review #9, #15, #17,
A2, A3, A11, A15, A17, A21, A23, C1, A24): names that survive destroy-then-up, the client's
domain, the Endpoints service enabled before ESPv2 serves, valid Cloud Run CPU totals, service
agents that exist, and audit configs the project owns once."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.bootstrap import DEPLOYERS, identity_name
from components.gcp import api_first, delivery, prerequisites, rollout, security
from components.gcp.api_first import (
    ESP_MEMORY_MIB,
    INSTANCE_CPUS,
    container_cpus,
    endpoints_service_name,
)
from components.registry import policy_waivers
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import GCP_PROJECT, Capture, CapturedResource, ProgramError
from policies.rules import all_policies
from policies.rules.gcp.logging import audited_service
from stacks.profiles import load_profile
from tests.conftest import make_spec, of_type, run_component
from tests.policies.harness import evaluate

PATTERNS = (
    Pattern.API_FIRST,
    Pattern.EVENT_DRIVEN,
    Pattern.MANAGED_PLATFORM,
    Pattern.EMBEDDED,
)
ENVS = list(Environment)
NUMBER = "123456789"


@cache
def _run(
    pattern: Pattern, env: Environment, suffix: str | None = "keep"
) -> tuple[DeploymentSpec, Capture]:
    spec = make_spec(Cloud.GCP, pattern, env)
    if suffix != "keep":
        spec = spec.model_copy(update={"suffix": suffix})
    return spec, run_component(spec)


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def component_outputs(cap: Capture) -> dict[str, Any]:
    (component,) = [r for r in cap.resources if r.type.startswith("aideploy:gcp:")]
    return cap.outputs[component.urn]


# -- #9 / A15: names a destroy leaves behind carry the suffix; old stacks keep theirs -----------
# The physical names a stack created before suffixes existed has today: they must never change.
TODAY = {
    "gcp:kms/keyRing:KeyRing": "acme-support-{env}",
    "gcp:endpoints/service:Service": "acme-support-{env}.endpoints." + GCP_PROJECT + ".cloud.goog",
    "gcp:artifactregistry/repository:Repository": "acme-support-rollback-fn",
}
NAME_INPUTS = {
    "gcp:kms/keyRing:KeyRing": "name",
    "gcp:endpoints/service:Service": "serviceName",
    "gcp:artifactregistry/repository:Repository": "repositoryId",
}


@pytest.mark.parametrize("env", ENVS)
def test_a_stack_without_a_suffix_keeps_todays_names(env: Environment) -> None:
    spec, cap = _run(Pattern.API_FIRST, env, suffix=None)
    assert spec.suffix is None
    for token, today in TODAY.items():
        assert one(cap.resources, token).inputs[NAME_INPUTS[token]] == today.format(env=env.value)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("env", ENVS)
def test_key_ring_and_endpoints_names_carry_the_suffix(pattern: Pattern, env: Environment) -> None:
    spec, cap = _run(pattern, env)
    assert spec.suffix is not None
    # Key rings are never deleted, Endpoints names stay reserved 30 days: a destroyed stack
    # created again needs new ones.
    assert one(cap.resources, "gcp:kms/keyRing:KeyRing").inputs["name"].endswith(f"-{spec.suffix}")
    for service in of_type(cap.resources, "gcp:endpoints/service:Service"):
        assert service.inputs["serviceName"] == endpoints_service_name(spec, GCP_PROJECT)
        assert spec.suffix in service.inputs["serviceName"]
    # An API Gateway API's managed service name stays reserved after a delete, like Endpoints'.
    for api in of_type(cap.resources, "gcp:apigateway/api:Api"):
        assert api.inputs["apiId"] == delivery.api_id(spec)
        assert api.inputs["apiId"].endswith(f"-{spec.suffix}-devices")
    # The three environments may share a project: per-stack names carry the environment.
    for repo in of_type(cap.resources, "gcp:artifactregistry/repository:Repository"):
        expected = (
            delivery.build_repository_id(spec)
            if pattern is Pattern.EMBEDDED
            else rollout.rollback_repository_id(spec)
        )
        assert repo.inputs["repositoryId"] == expected
        assert env.value in repo.inputs["repositoryId"]


# Resource types whose name is chosen by us and must be unique in the project (and region).
UNIQUE_NAMES = {
    "gcp:kms/keyRing:KeyRing": "name",
    "gcp:endpoints/service:Service": "serviceName",
    "gcp:artifactregistry/repository:Repository": "repositoryId",
    "gcp:cloudrunv2/service:Service": "name",
    "gcp:pubsub/topic:Topic": "name",
    "gcp:pubsub/subscription:Subscription": "name",
    "gcp:firestore/database:Database": "name",
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": "bucketId",
    "gcp:logging/projectSink:ProjectSink": "name",
    "gcp:cloudfunctionsv2/function:Function": "name",
    "gcp:compute/uRLMap:URLMap": "name",
    "gcp:compute/backendService:BackendService": "name",
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_dev_staging_and_prod_fit_side_by_side_in_one_project(pattern: Pattern) -> None:
    seen: dict[tuple[str, str], Environment] = {}
    for env in ENVS:
        _, cap = _run(pattern, env)
        for r in cap.resources:
            key = UNIQUE_NAMES.get(r.type)
            value = r.inputs.get(key) if key else None
            if isinstance(value, str):
                assert (r.type, value) not in seen, (r.type, value, seen.get((r.type, value)))
                seen[(r.type, value)] = env


# -- A2: the Endpoints managed service is enabled in the project before Cloud Run --------------
@pytest.mark.parametrize("env", ENVS)
def test_the_endpoints_service_is_enabled_before_the_services_that_report_to_it(
    env: Environment,
) -> None:
    _, cap = _run(Pattern.API_FIRST, env)
    api = one(cap.resources, "gcp:endpoints/service:Service")
    enabled = one(cap.resources, "gcp:projects/service:Service")
    assert enabled.inputs["service"] == api.inputs["serviceName"]
    assert api.urn in enabled.property_dependencies["service"]
    assert enabled.inputs["disableOnDestroy"] is False
    for run in of_type(cap.resources, "gcp:cloudrunv2/service:Service"):
        assert enabled.urn in run.dependencies, run.name


# -- #15 / C1 / A24: the client's domain, a certificate for it --------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_the_certificate_and_the_endpoint_use_the_clients_domain(env: Environment) -> None:
    spec, cap = _run(Pattern.API_FIRST, env)
    assert spec.api.domain is not None and not spec.api.wildcard_dns
    certificate = one(cap.resources, "gcp:compute/managedSslCertificate:ManagedSslCertificate")
    assert certificate.inputs["managed"]["domains"] == [spec.api.domain]
    assert component_outputs(cap)["endpoint_url"] == f"https://{spec.api.domain}"
    assert not [r for r in cap.resources if "sslip.io" in json.dumps(r.inputs, default=str)]


@pytest.mark.parametrize("wildcard", ["sslip.io", "nip.io"])
def test_a_bare_wildcard_dns_domain_in_dev_names_the_load_balancers_address(wildcard: str) -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.DEV, {"api": {"domain": wildcard}})
    cap = run_component(spec)
    address = one(cap.resources, "gcp:compute/globalAddress:GlobalAddress")
    certificate = one(cap.resources, "gcp:compute/managedSslCertificate:ManagedSslCertificate")
    # The name comes from the reserved address (known only once it exists).
    assert address.urn in certificate.property_dependencies["managed"]
    assert api_first.public_host(spec, "203.0.113.7") == f"203-0-113-7.{wildcard}"


def test_without_a_domain_the_stack_says_what_to_give() -> None:
    spec = make_spec(Cloud.GCP, Pattern.API_FIRST, Environment.DEV)
    spec = spec.model_copy(update={"api": spec.api.model_copy(update={"domain": None})})
    with pytest.raises((ProgramError, ValueError), match=r"api\.domain"):
        run_component(spec)


# -- A11: Cloud Run CPU totals ----------------------------------------------------------------
# Cloud Run: the instance's containers together take 1, 2, 4, 6 or 8 vCPU; memory per instance
# at most 4 GiB per vCPU up to 32 GiB, and at least 2 GiB from 4 vCPU, 4 GiB from 6 vCPU.
MEMORY_BOUNDS_MIB = {
    1: (128, 4096),
    2: (128, 8192),
    4: (2048, 16384),
    6: (4096, 24576),
    8: (4096, 32768),
}


def _cpus(value: str) -> float:
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


@pytest.mark.parametrize("env", ENVS)
def test_cloud_run_instances_have_a_cpu_total_cloud_run_accepts(env: Environment) -> None:
    spec, cap = _run(Pattern.API_FIRST, env)
    assert spec.capacity.cpu == load_profile(env)["capacity"]["cpu"]
    for service in of_type(cap.resources, "gcp:cloudrunv2/service:Service"):
        containers = service.inputs["template"]["containers"]
        total = sum(_cpus(c["resources"]["limits"]["cpu"]) for c in containers)
        assert total in INSTANCE_CPUS, (service.name, total)
        memory = sum(int(c["resources"]["limits"]["memory"].rstrip("Mi")) for c in containers)
        low, high = MEMORY_BOUNDS_MIB[int(total)]
        assert low <= memory <= high, (service.name, memory)
        # CPU only while serving, said explicitly as Cloud Run requires once resources are set.
        assert {c["resources"]["cpuIdle"] for c in containers} == {True}


@pytest.mark.parametrize("cpu", [0.5, 1, 2, 3, 4, 6, 7.5])
def test_the_proxy_takes_what_makes_the_total_valid(cpu: float) -> None:
    model, esp = container_cpus(cpu)
    assert _cpus(model) == cpu
    assert _cpus(model) + _cpus(esp) in INSTANCE_CPUS
    assert _cpus(esp) >= api_first.ESP_MIN_CPU
    assert ESP_MEMORY_MIB >= 512


def test_a_model_too_big_for_one_instance_is_refused_with_the_limit() -> None:
    with pytest.raises(ValueError, match="at most 8 vCPU"):
        container_cpus(8)


# -- A17: ESPv2 finds the signing keys by OpenID Connect discovery ------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_espv2_discovers_the_jwks_from_the_issuer(env: Environment) -> None:
    spec, cap = _run(Pattern.API_FIRST, env)
    document = json.loads(
        one(cap.resources, "gcp:endpoints/service:Service").inputs["openapiConfig"]
    )
    jwt = document["securityDefinitions"]["jwt"]
    assert jwt["x-google-issuer"] == spec.api.jwt_issuer
    # ESPv2's config generator resolves jwks_uri from <issuer>/.well-known/openid-configuration
    # when the field is empty, unless --disable_oidc_discovery is given (it is not).
    assert "x-google-jwks_uri" not in jwt
    for run in of_type(cap.resources, "gcp:cloudrunv2/service:Service"):
        esp = next(c for c in run.inputs["template"]["containers"] if c["name"] == "esp")
        args = next(e["value"] for e in esp["envs"] if e["name"] == "ESPv2_ARGS")
        assert "disable_oidc_discovery" not in args


# -- A23: invoker IAM off only where only the load balancer reaches the service ----------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_invoker_iam_is_off_only_behind_the_load_balancer(pattern: Pattern) -> None:
    _, cap = _run(pattern, Environment.PROD)
    for run in of_type(cap.resources, "gcp:cloudrunv2/service:Service"):
        if run.inputs.get("invokerIamDisabled"):
            assert run.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
            assert run.inputs["defaultUriDisabled"] is True


# -- A3: every service agent a stack grants to exists before the grant -------------------------
AGENT_DOMAIN = {
    "serverless-robot-prod": "run",
    "gcf-admin-robot": "cloudfunctions",
    "gcp-sa-aiplatform": "aiplatform",
    "gcp-sa-pubsub": "pubsub",
    "gcp-sa-artifactregistry": "artifactregistry",
    "gcp-sa-firestore": "firestore",
    "gcp-sa-monitoring-notification": "monitoring-notification",
    "gs-project-accounts": "storage",
    "bigquery-encryption": "bigquery",
    "gcp-sa-logging": "logging",
}


def granted_agents(cap: Capture) -> set[str]:
    """The service agents the stack's grants name, by agent key."""
    agents = set()
    for r in cap.resources:
        member = r.inputs.get("member")
        if isinstance(member, str) and NUMBER in member:
            domain = member.split("@", 1)[1].split(".", 1)[0]
            agents.add(AGENT_DOMAIN[domain])
    return agents


@pytest.mark.parametrize("pattern", PATTERNS)
def test_agents_are_read_generated_by_bootstrap_or_made_by_their_api(pattern: Pattern) -> None:
    _, cap = _run(pattern, Environment.PROD)
    agents = granted_agents(cap)
    assert agents <= prerequisites.PATTERN_AGENTS[pattern], agents
    for agent in agents:
        assert (
            agent in prerequisites.LOOKUP_AGENTS
            or agent in prerequisites.GENERATED_AGENTS
            or agent in prerequisites.API_AGENTS
        ), agent
    # Read, never spelled out: the mocks answer the logging CMEK account in the older form.
    members = {r.inputs.get("member") for r in cap.resources}
    assert f"serviceAccount:cmek-p{NUMBER}@gcp-sa-logging.iam.gserviceaccount.com" in members
    assert f"serviceAccount:service-{NUMBER}@gcp-sa-logging.iam.gserviceaccount.com" not in members


@pytest.mark.parametrize("pattern", PATTERNS)
def test_runtime_identities_are_the_bootstraps(pattern: Pattern) -> None:
    spec, cap = _run(pattern, Environment.DEV)
    assert of_type(cap.resources, "gcp:serviceaccount/account:Account") == []
    assert of_type(cap.resources, "gcp:projects/iAMCustomRole:IAMCustomRole") == []
    ids = {
        prerequisites.runtime_account_id(spec.project, spec.environment, r)
        for r in prerequisites.PATTERN_IDENTITIES[pattern]
    }
    # The embedded stack's signing key is used by the environment's CI deployer (also the
    # bootstrap's, components/gcp/release_channel.py).
    if pattern is Pattern.EMBEDDED:
        ids.add(identity_name(Cloud.GCP, spec.project, DEPLOYERS[spec.environment]))
    used = {
        m.split(":", 1)[1].split("@", 1)[0]
        for r in cap.resources
        for m in [r.inputs.get("member")]
        if isinstance(m, str) and m.endswith(f"@{GCP_PROJECT}.iam.gserviceaccount.com")
    }
    assert used <= ids and used


# -- A21: audit configs are the project's, once ------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_stacks_own_no_audit_config_and_their_pack_config_says_whose_they_are(
    pattern: Pattern,
) -> None:
    spec, cap = _run(pattern, Environment.PROD)
    assert of_type(cap.resources, "gcp:projects/iAMAuditConfig:IAMAuditConfig") == []
    waivers = policy_waivers(Cloud.GCP, pattern, spec.project)
    listed = {w["resource"] for w in waivers[security.AUDIT_RULE]}
    # Exactly the stack's resources the audit rule asks about, each of a service whose audit
    # config the bootstrap of the project creates (prerequisites.AUDITED_SERVICES).
    asked = {r.name: audited_service(r.type) for r in cap.resources if audited_service(r.type)}
    assert listed == set(asked)
    assert set(asked.values()) <= set(prerequisites.AUDITED_SERVICES[pattern])
    assert all("bootstrap" in w["reason"] for w in waivers[security.AUDIT_RULE])
    config = {rule: {"waivers": entries} for rule, entries in waivers.items()}
    assert evaluate(all_policies(), cap.resources, config) == []
    # Without the declaration the rule still catches a stack that uses an unaudited service
    # (the component's other declared waivers kept).
    others = {rule: entry for rule, entry in config.items() if rule != security.AUDIT_RULE}
    missing = [f.policy for f in evaluate(all_policies(), cap.resources, others)]
    assert missing == [security.AUDIT_RULE] * len(missing) and missing
