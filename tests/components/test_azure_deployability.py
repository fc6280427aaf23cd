"""Fresh-subscription order and re-creatable Azure stacks (reviews: client journey #9, #14;
security A1, A4-A7, A9, A10, A13, A14, A25), from captured resources and their dependencies."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pulumi_azure_native
import pytest

from components.azure import (
    api_first,
    bootstrap,
    endpoint_traffic,
    guardrail,
    hosting,
    roles,
    rollout,
    security,
)
from components.azure import event_driven as ed
from components.azure import managed_platform as mp
from components.llm import LlmMode
from components.naming import resource_name
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import SUBSCRIPTION_ID, Capture, CapturedResource
from tests.conftest import candidate_image, make_spec, of_type, run_component

NS = "azure-native"
SLEEP = "time:index/sleep:Sleep"
PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
CLIENT_OBJECT_ID = "33333333-3333-3333-3333-333333333333"  # the mocks' getClientConfig


def spec_of(pattern: Pattern, env: Environment = Environment.DEV, **over: Any) -> DeploymentSpec:
    return make_spec(Cloud.AZURE, pattern, env, over or None)


@cache
def capture_of(pattern: Pattern, env: Environment = Environment.DEV) -> Capture:
    return run_component(spec_of(pattern, env))


def named(cap: Capture, suffix: str) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.name.endswith(suffix)]
    return found


def by_urn(cap: Capture) -> dict[str, CapturedResource]:
    return {r.urn: r for r in cap.resources}


def ancestors(cap: Capture, r: CapturedResource) -> set[str]:
    """Every resource ``r`` waits for, directly or through its dependencies."""
    urns = by_urn(cap)
    seen: set[str] = set()
    todo = [*r.dependencies, *(d for ds in r.property_dependencies.values() for d in ds)]
    while todo:
        urn = todo.pop()
        if urn in seen or urn not in urns:
            continue
        seen.add(urn)
        dep = urns[urn]
        todo.extend(dep.dependencies)
        todo.extend(d for ds in dep.property_dependencies.values() for d in ds)
    return seen


# -- A1: CMK consumers wait for the key, the grant and its propagation ------------------------
def cmk_consumers(cap: Capture) -> list[CapturedResource]:
    """Resources whose inputs carry the stack key's URI or its vault's URI."""
    vault = one_of(cap, f"{NS}:keyvault:Vault")
    vault_uri = f"https://{vault.inputs['vaultName']}.vault.azure.net"
    return [
        r
        for r in cap.resources
        if r.custom
        and r.type.startswith(NS)
        and vault_uri in json.dumps(dict(r.inputs), default=str)
    ]


def one_of(cap: Capture, token: str) -> CapturedResource:
    (found,) = of_type(cap.resources, token)
    return found


EXPECTED_CONSUMERS: dict[Pattern, set[str]] = {
    Pattern.API_FIRST: set(),
    Pattern.EVENT_DRIVEN: {
        f"{NS}:storage:StorageAccount",
        f"{NS}:servicebus:Namespace",
        f"{NS}:cosmosdb:DatabaseAccount",
    },
    Pattern.MANAGED_PLATFORM: {
        f"{NS}:storage:StorageAccount",
        f"{NS}:machinelearningservices:Workspace",
    },
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_cmk_consumer_depends_on_the_key_its_grant_and_the_propagation_wait(
    pattern: Pattern,
) -> None:
    cap = capture_of(pattern)
    key = one_of(cap, f"{NS}:keyvault:Key").urn
    grant = named(cap, "-encryption-key-grant").urn
    wait = named(cap, "-encryption-key-wait")
    assert wait.type == SLEEP
    assert wait.inputs["createDuration"] == security.RBAC_PROPAGATION
    assert grant in wait.dependencies
    consumers = cmk_consumers(cap)
    assert {r.type for r in consumers} == EXPECTED_CONSUMERS[pattern]
    for consumer in consumers:
        assert {key, grant, wait.urn} <= set(consumer.dependencies), consumer.name
    # The URI each consumer gets is an Output of the vault and the key, not a name string.
    vault = one_of(cap, f"{NS}:keyvault:Vault").urn
    for consumer in consumers:
        assert vault in ancestors(cap, consumer)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_key_waits_for_the_deployers_own_key_creator_grant(pattern: Pattern) -> None:
    """A5, without Crypto Officer: the deployer assigns itself bootstrap's key-creator role on
    its own vault (create a key, set its rotation policy; no cryptographic operation), so the
    role-assignment allow-list holds no role that could decrypt another environment's secrets."""
    cap = capture_of(pattern)
    spec = spec_of(pattern)
    key = one_of(cap, f"{NS}:keyvault:Key")
    vault = one_of(cap, f"{NS}:keyvault:Vault")
    grant = named(cap, "-kv-deployer-grant")
    assert grant.inputs["principalId"] == CLIENT_OBJECT_ID
    assert grant.inputs["principalType"] == "ServicePrincipal"
    assert grant.inputs["roleDefinitionId"] == (
        f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
        + roles.custom_role_guid(SUBSCRIPTION_ID, spec.project, roles.KEY_CREATOR)
    )
    assert not grant.inputs["roleDefinitionId"].endswith(
        security.BUILTIN_ROLES["key-vault-crypto-officer"]
    )
    assert set(grant.property_dependencies["scope"]) == {vault.urn}
    wait = named(cap, "-kv-deployer-wait")
    assert {grant.urn, wait.urn} <= set(key.dependencies)
    assert grant.urn in wait.dependencies
    creator = roles.CUSTOM_ROLES[roles.KEY_CREATOR]
    assert creator.actions == ()
    assert not [
        a
        for a in creator.data_actions
        if a.rsplit("/", 2)[-2] in {"encrypt", "decrypt", "wrap", "unwrap", "update", "release"}
    ]


def test_a_person_running_pulumi_up_is_granted_as_a_user() -> None:
    assert "04b07795-8ddb-461a-bbee-02f9e1bf7b46" in security.INTERACTIVE_CLIENT_IDS


@pytest.mark.parametrize("pattern", PATTERNS)
def test_custom_roles_come_from_bootstrap_by_id_and_no_stack_defines_one(pattern: Pattern) -> None:
    """A13 is now bootstrap's: it creates the custom roles long before a stack assigns them (no
    replication race), and the deployer holds no roleDefinitions/write."""
    cap = capture_of(pattern)
    spec = spec_of(pattern)
    assert of_type(cap.resources, f"{NS}:authorization:RoleDefinition") == []
    custom = {
        roles.custom_role_guid(SUBSCRIPTION_ID, spec.project, k): k
        for k in roles.PATTERN_CUSTOM_ROLES[pattern]
    }
    builtin = {*security.BUILTIN_ROLES.values(), *ed.ROLES.values()}
    used = {
        g.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for g in of_type(cap.resources, f"{NS}:authorization:RoleAssignment")
    }
    assert used - builtin <= set(custom)
    assert roles.KEY_CREATOR in {custom[g] for g in used - builtin}


# -- A6: no Container Apps disk CMK, no CMK on the workspace registry ----------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_nothing_reads_the_firewalled_vault_as_a_user_assigned_identity_it_cannot_pass(
    pattern: Pattern,
) -> None:
    cap = capture_of(pattern)
    for environment in of_type(cap.resources, f"{NS}:app:ManagedEnvironment"):
        assert "diskEncryptionConfiguration" not in environment.inputs
    for registry in of_type(cap.resources, f"{NS}:containerregistry:Registry"):
        assert "encryption" not in registry.inputs


# -- A14 and #14: API Management ----------------------------------------------------------------
def test_apim_custom_properties_use_only_keys_the_sdk_documents() -> None:
    sdk = Path(pulumi_azure_native.__file__).parent / "apimanagement" / "api_management_service.py"
    documented = sdk.read_text()
    service = one_of(capture_of(Pattern.API_FIRST), f"{NS}:apimanagement:ApiManagementService")
    # SSL 3.0's switches are in the ARM template reference, not in this SDK's docstring.
    arm_reference_only = {k for k in api_first.APIM_TLS_PROPERTIES if k.endswith(".Ssl30")}
    # The SDK lists the disableable cipher suites by name after the "Ciphers.[cipher_name]" prefix.
    ciphers = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers."
    for key in service.inputs["customProperties"]:
        documented_cipher = key.startswith(ciphers) and key.removeprefix(ciphers) in documented
        assert key in documented or key in arm_reference_only or documented_cipher, key
    assert not any("Security.Protocols.Server" in k for k in service.inputs["customProperties"])
    assert service.inputs["customProperties"][api_first.APIM_HTTP2_PROPERTY] == "True"


def inbound(policy: str) -> ET.Element:
    node = ET.fromstring(policy).find("inbound")
    assert node is not None
    return node


@pytest.mark.parametrize("limit", [50_000, 102_400, 1_048_576, 10_485_760])
def test_validate_content_stays_within_its_documented_maximum_and_the_limit_still_holds(
    limit: int,
) -> None:
    spec = spec_of(Pattern.API_FIRST, api={"max_request_bytes": limit})
    node = inbound(api_first.gateway_policy(spec, "fd", "model"))
    validate = node.find("validate-content")
    assert validate is not None
    assert int(validate.get("max-size", "0")) == min(limit, 102_400)
    assert validate.get("size-exceeded-action") == ("prevent" if limit <= 102_400 else "ignore")
    whens = node.findall("choose/when")
    statuses = [w.find("return-response/set-status").get("code") for w in whens]  # type: ignore[union-attr]
    # 400 first: a subscription key in the query string (review C5); then the size checks.
    assert statuses == ["400", "411", "413"]
    assert f"> {limit})" in whens[2].get("condition", "")


# -- #9: suffixed names; a stack without a suffix keeps today's names ---------------------------
# (pattern, type, input key, kind, role parts) of every name that is global or soft-deleted.
GLOBAL_NAMES: tuple[tuple[Pattern, str, str, str, tuple[str, ...]], ...] = (
    (Pattern.API_FIRST, f"{NS}:keyvault:Vault", "vaultName", "key-vault", ("kv",)),
    (
        Pattern.API_FIRST,
        f"{NS}:apimanagement:ApiManagementService",
        "serviceName",
        "apim",
        ("gateway",),
    ),
    (
        Pattern.EVENT_DRIVEN,
        f"{NS}:storage:StorageAccount",
        "accountName",
        "storage-account",
        ("jobs",),
    ),
    (
        Pattern.EVENT_DRIVEN,
        f"{NS}:servicebus:Namespace",
        "namespaceName",
        "servicebus-namespace",
        ("bus",),
    ),
    (
        Pattern.EVENT_DRIVEN,
        f"{NS}:cosmosdb:DatabaseAccount",
        "accountName",
        "cosmos-account",
        ("status",),
    ),
    (
        Pattern.MANAGED_PLATFORM,
        f"{NS}:storage:StorageAccount",
        "accountName",
        "storage-account",
        ("ml",),
    ),
    (
        Pattern.MANAGED_PLATFORM,
        f"{NS}:containerregistry:Registry",
        "registryName",
        "container-registry",
        ("acr",),
    ),
    (
        Pattern.MANAGED_PLATFORM,
        f"{NS}:machinelearningservices:Workspace",
        "workspaceName",
        "ml-workspace",
        (),
    ),
    (
        Pattern.MANAGED_PLATFORM,
        f"{NS}:machinelearningservices:OnlineEndpoint",
        "endpointName",
        "ml-endpoint",
        (),
    ),
)


@pytest.mark.parametrize(
    "row", GLOBAL_NAMES, ids=[f"{r[0].value}-{r[1].split(':')[-1]}" for r in GLOBAL_NAMES]
)
def test_global_and_soft_deleted_names_carry_the_stack_suffix(row: tuple[Any, ...]) -> None:
    pattern, token, key, kind, parts = row
    spec = spec_of(pattern)
    assert spec.suffix is not None
    (resource,) = of_type(capture_of(pattern).resources, token)
    name = resource.inputs[key]
    assert name == security.physical_name(spec, kind, *parts)
    assert name != resource_name("azure", kind, spec.project, spec.environment.value, *parts)


@cache
def legacy_capture(pattern: Pattern) -> Capture:
    return run_component(spec_of(pattern, suffix=None))


@pytest.mark.parametrize(
    "row", GLOBAL_NAMES, ids=[f"{r[0].value}-{r[1].split(':')[-1]}" for r in GLOBAL_NAMES]
)
def test_a_stack_without_a_suffix_keeps_the_names_it_was_deployed_with(
    row: tuple[Any, ...],
) -> None:
    pattern, token, key, kind, parts = row
    spec = spec_of(pattern, suffix=None)
    (resource,) = of_type(legacy_capture(pattern).resources, token)
    # The formula every stack used before suffixes existed.
    assert resource.inputs[key] == resource_name(
        "azure", kind, spec.project, spec.environment.value, *parts
    )


def test_front_door_endpoint_is_named_with_the_suffix_and_auto_named_without() -> None:
    spec = spec_of(Pattern.API_FIRST)
    endpoint = one_of(capture_of(Pattern.API_FIRST), f"{NS}:cdn:AFDEndpoint")
    assert spec.suffix is not None and spec.suffix in endpoint.inputs["endpointName"]
    legacy = one_of(legacy_capture(Pattern.API_FIRST), f"{NS}:cdn:AFDEndpoint")
    assert "endpointName" not in legacy.inputs


def test_event_driven_vnet_takes_network_cidr_and_legacy_stacks_keep_their_range() -> None:
    spec = spec_of(Pattern.EVENT_DRIVEN, Environment.STAGING)
    vnet = one_of(
        capture_of(Pattern.EVENT_DRIVEN, Environment.STAGING), f"{NS}:network:VirtualNetwork"
    )
    assert vnet.inputs["addressSpace"]["addressPrefixes"] == [spec.network.cidr]
    plan = ed.network_plan(spec)
    assert plan.workers.startswith(spec.network.cidr.split(".0.0/")[0])
    legacy = one_of(legacy_capture(Pattern.EVENT_DRIVEN), f"{NS}:network:VirtualNetwork")
    assert legacy.inputs["addressSpace"]["addressPrefixes"] == [ed.LEGACY_VNET_CIDR]


def test_event_driven_uses_an_existing_network_instead_of_its_own() -> None:
    vnet_id = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v"
    subnets = [f"{vnet_id}/subnets/apps", f"{vnet_id}/subnets/endpoints"]
    cap = run_component(
        spec_of(
            Pattern.EVENT_DRIVEN, network={"existing_id": vnet_id, "existing_subnet_ids": subnets}
        )
    )
    assert of_type(cap.resources, f"{NS}:network:VirtualNetwork") == []
    environment = one_of(cap, f"{NS}:app:ManagedEnvironment")
    assert environment.inputs["vnetConfiguration"]["infrastructureSubnetId"] == subnets[0]
    for endpoint in of_type(cap.resources, f"{NS}:network:PrivateEndpoint"):
        assert endpoint.inputs["subnet"]["id"] == subnets[1]


# -- api.domain on Front Door ---------------------------------------------------------------------
def test_client_domain_gets_a_managed_tls12_certificate_on_the_route_and_the_waf() -> None:
    domain = "api.acme.example"
    spec = spec_of(Pattern.API_FIRST, Environment.STAGING, api={"domain": domain})
    cap = run_component(spec)
    custom = one_of(cap, f"{NS}:cdn:AFDCustomDomain")
    assert custom.inputs["hostName"] == domain
    tls = custom.inputs["tlsSettings"]
    assert tls["certificateType"] == "ManagedCertificate"
    assert tls["minimumTlsVersion"] == "TLS12"
    route = one_of(cap, f"{NS}:cdn:Route")
    assert custom.urn in route.property_dependencies["customDomains"]
    policy = one_of(cap, f"{NS}:cdn:SecurityPolicy")
    assert custom.urn in policy.property_dependencies["parameters"]
    (comp,) = [r for r in cap.resources if r.type == "aideploy:azure:ApiFirst"]
    assert cap.outputs[comp.urn]["endpoint_url"].startswith(f"https://{domain}/")


def test_a_wildcard_dns_domain_is_refused_front_door_has_its_own_host_name() -> None:
    import pydantic

    # Front Door cannot validate a name whose DNS it does not own; its *.azurefd.net host is
    # dev's default. The spec refuses the name before any resource exists.
    with pytest.raises(pydantic.ValidationError, match="wildcard-DNS name works only on gcp"):
        spec_of(Pattern.API_FIRST, api={"domain": "sslip.io"})


# -- the model image from the project's registry ------------------------------------------------
@pytest.mark.parametrize("pattern", [Pattern.API_FIRST, Pattern.EVENT_DRIVEN])
def test_images_in_an_acr_are_pulled_as_bootstraps_pull_identity(pattern: Pattern) -> None:
    spec = spec_of(pattern)
    image = spec.model.image
    assert image is not None
    host = image.split("/", 1)[0]
    assert host.endswith(".azurecr.io")
    cap = capture_of(pattern)
    token = f"{NS}:app:ContainerApp" if pattern is Pattern.API_FIRST else f"{NS}:app:Job"
    app = next(
        r for r in of_type(cap.resources, token) if "registries" in r.inputs["configuration"]
    )
    expected = hosting.pull_identity_id(SUBSCRIPTION_ID, spec.project)
    assert app.inputs["configuration"]["registries"] == [{"server": host, "identity": expected}]
    assert expected in app.inputs["identity"]["userAssignedIdentities"]


def test_a_public_image_needs_no_registry_credentials() -> None:
    assert hosting.registry_pull(spec_of(Pattern.API_FIRST), "mcr.microsoft.com/x/y:1") is None


# -- A4: the ML endpoint's traffic is set after its deployments ------------------------------
@pytest.mark.parametrize("mode", ["stable", "canary"])
def test_endpoint_starts_without_traffic_and_the_split_follows_both_deployments(mode: str) -> None:
    over: dict[str, Any] = {}
    if mode == "canary":
        image = candidate_image(Cloud.AZURE, Pattern.MANAGED_PLATFORM)
        over = {"rollout": {"candidate_version": "1.1.0", "candidate_image": image}}
    cap = run_component(spec_of(Pattern.MANAGED_PLATFORM, Environment.DEV, **over))
    endpoint = one_of(cap, f"{NS}:machinelearningservices:OnlineEndpoint")
    assert "traffic" not in endpoint.inputs["properties"]
    assert "mirrorTraffic" not in endpoint.inputs["properties"]
    assert set(endpoint.request.ignoreChanges) == {"properties.traffic", "properties.mirrorTraffic"}
    split = named(cap, "-endpoint-traffic")
    deployments = {
        d.urn for d in of_type(cap.resources, f"{NS}:machinelearningservices:OnlineDeployment")
    }
    assert len(deployments) == 2
    assert deployments | {endpoint.urn} <= set(split.dependencies)
    assert split.inputs["deployments"] == ["blue", "green"]
    assert sum(split.inputs["traffic"].values()) == 100


# Recorded ARM answers (shapes from the Azure ML REST reference, 2024-04-01).
ENDPOINT_ID = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
    "workspaces/w/onlineEndpoints/e"
)
ENDPOINT_GET = {
    "id": ENDPOINT_ID,
    "name": "e",
    "location": "westeurope",
    "identity": {"type": "UserAssigned", "userAssignedIdentities": {"/id/x": {}}},
    "tags": {"project": "acme"},
    "kind": "Managed",
    "properties": {
        "authMode": "AADToken",
        "publicNetworkAccess": "Disabled",
        "provisioningState": "Succeeded",
        "scoringUri": "https://e.westeurope.inference.ml.azure.com/score",
        "traffic": {},
    },
}
OPERATION = "https://management.azure.com/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/westeurope/mfeOperationsStatus/op?api-version=2024-04-01"


class Recorded:
    """Plays back ARM answers in order and records the calls."""

    def __init__(self, *answers: endpoint_traffic.ArmResponse) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(
        self, method: str, url: str, token: str, body: Any
    ) -> endpoint_traffic.ArmResponse:
        assert token == "t"
        self.calls.append((method, url, body))
        return self.answers.pop(0)


def client(transport: Recorded) -> endpoint_traffic.ArmClient:
    return endpoint_traffic.ArmClient(transport=transport, token=lambda: "t", sleep=lambda _: None)


def test_split_is_put_back_with_the_read_endpoint_and_waits_for_the_operation() -> None:
    arm = Recorded(
        endpoint_traffic.ArmResponse(200, ENDPOINT_GET),
        endpoint_traffic.ArmResponse(201, {}, {"azure-asyncoperation": OPERATION}),
        endpoint_traffic.ArmResponse(200, {"status": "InProgress"}),
        endpoint_traffic.ArmResponse(200, {"status": "Succeeded"}),
    )
    endpoint_traffic.apply_split(client(arm), ENDPOINT_ID, {"blue": 90, "green": 10}, {})
    (get, put, *polls) = arm.calls
    assert get[0] == "GET" and get[1].endswith(f"{ENDPOINT_ID}?api-version=2024-04-01")
    method, _, body = put
    assert method == "PUT"
    assert body["properties"]["traffic"] == {"blue": 90, "green": 10}
    assert body["properties"]["mirrorTraffic"] == {}
    assert body["identity"] == ENDPOINT_GET["identity"]  # the PUT restates the identity
    assert "provisioningState" not in body["properties"]
    assert [p[1] for p in polls] == [OPERATION, OPERATION]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            [
                endpoint_traffic.ArmResponse(
                    404, {"error": {"code": "ResourceNotFound", "message": "gone"}}
                )
            ],
            "ResourceNotFound",
        ),
        (
            [
                endpoint_traffic.ArmResponse(200, ENDPOINT_GET),
                endpoint_traffic.ArmResponse(
                    400,
                    {"error": {"code": "BadArgument", "message": "Deployment green not found"}},
                ),
            ],
            "Deployment green not found",
        ),
        (
            [
                endpoint_traffic.ArmResponse(200, ENDPOINT_GET),
                endpoint_traffic.ArmResponse(202, {}, {"azure-asyncoperation": OPERATION}),
                endpoint_traffic.ArmResponse(
                    200, {"status": "Failed", "error": {"code": "UserError", "message": "bad"}}
                ),
            ],
            "ended Failed: UserError bad",
        ),
        (
            [
                endpoint_traffic.ArmResponse(
                    403, {"error": {"code": "AuthorizationFailed", "message": "no"}}
                )
            ],
            "AuthorizationFailed",
        ),
    ],
)
def test_arm_refusals_fail_the_update_with_arms_own_words(
    answers: list[endpoint_traffic.ArmResponse], message: str
) -> None:
    with pytest.raises(endpoint_traffic.ArmError, match=message):
        endpoint_traffic.apply_split(client(Recorded(*answers)), ENDPOINT_ID, {"blue": 100}, {})


def test_provider_checks_the_split_before_any_call() -> None:
    provider = endpoint_traffic.EndpointTrafficProvider(client(Recorded()))
    ok = provider.check(
        {}, {"traffic": {"blue": 100, "green": 0}, "deployments": ["blue", "green"]}
    )
    assert not ok.failures
    bad = provider.check({}, {"traffic": {"blue": 60, "red": 30}, "deployments": ["blue", "green"]})
    assert {f.property for f in bad.failures} == {"traffic"}
    assert len(bad.failures) == 2
    diff = provider.diff("id", {"traffic": {"blue": 100}}, {"traffic": {"blue": 90, "green": 10}})
    assert diff.changes and not diff.replaces


# -- A9: the stable revision is read from the live app ------------------------------------------
LIVE_APP = {
    "properties": {
        "latestRevisionName": "app--v1-1-0-bbbbbb",
        "latestReadyRevisionName": "app--v1-1-0-bbbbbb",
        "configuration": {
            "ingress": {
                "traffic": [
                    {"revisionName": "app--v1-0-0-aaaaaa", "weight": 100, "label": "stable"}
                ]
            }
        },
    }
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, LIVE_APP, rollout.LiveApp(True, "app--v1-0-0-aaaaaa")),
        (404, {"error": {"code": "ContainerAppNotFound"}}, rollout.ABSENT_APP),
    ],
)
def test_the_live_app_is_read_from_arm(status: int, body: Any, expected: rollout.LiveApp) -> None:
    assert (
        rollout.read_live_app("https://management.azure.com/x", "t", lambda u, t: (status, body))
        == expected
    )


def test_a_refused_read_fails_instead_of_guessing_and_no_token_means_unknown() -> None:
    with pytest.raises(RuntimeError, match="AuthorizationFailed"):
        rollout.read_live_app(
            "https://management.azure.com/x",
            "t",
            lambda u, t: (403, {"error": {"code": "AuthorizationFailed", "message": "no"}}),
        )
    assert rollout.read_live_app("https://management.azure.com/x", None) is rollout.UNKNOWN_APP


def candidate_spec() -> DeploymentSpec:
    image = candidate_image(Cloud.AZURE, Pattern.API_FIRST)
    return spec_of(
        Pattern.API_FIRST, rollout={"candidate_version": "1.1.0", "candidate_image": image}
    )


def test_first_deploy_with_a_candidate_deploys_the_stable_version_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = candidate_spec()
    monkeypatch.setattr(rollout, "live_app", lambda *_: rollout.ABSENT_APP)
    cap = run_component(spec)
    app = next(
        r for r in of_type(cap.resources, f"{NS}:app:ContainerApp") if r.name.endswith("-model")
    )
    traffic = app.inputs["configuration"]["ingress"]["traffic"]
    assert len(traffic) == 1 and traffic[0]["weight"] == 100
    assert app.inputs["template"]["containers"][0]["image"] == spec.model.image
    assert traffic[0]["revisionName"].endswith(app.inputs["template"]["revisionSuffix"])


def test_a_candidate_splits_against_the_revision_the_live_app_labels_stable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = candidate_spec()
    live = rollout.LiveApp(True, "acme-support-dev-model--v0-9-0-cccccc")
    monkeypatch.setattr(rollout, "live_app", lambda *_: live)
    cap = run_component(spec)
    app = next(
        r for r in of_type(cap.resources, f"{NS}:app:ContainerApp") if r.name.endswith("-model")
    )
    stable, candidate = app.inputs["configuration"]["ingress"]["traffic"]
    assert stable["revisionName"] == live.stable_revision
    assert stable["weight"] == 100 - spec.rollout.canary_percent
    assert candidate["latestRevision"] is True
    assert app.inputs["template"]["containers"][0]["image"] == spec.rollout.candidate_image
    rollback = next(
        r for r in of_type(cap.resources, f"{NS}:app:ContainerApp") if r.name.endswith("-rollback")
    )
    env = {e["name"]: e.get("value") for e in rollback.inputs["template"]["containers"][0]["env"]}
    assert env["ROLLBACK_STABLE"] == live.stable_revision


# -- A7, A10, A25: the ML workspace --------------------------------------------------------------
def test_workspace_identity_holds_its_documented_roles_on_single_resources_before_creation() -> (
    None
):
    cap = capture_of(Pattern.MANAGED_PLATFORM)
    workspace = one_of(cap, f"{NS}:machinelearningservices:Workspace")
    for key, role in mp.WORKSPACE_GRANTS:
        grant = named(cap, f"-workspace-{key}-grant")
        assert grant.inputs["roleDefinitionId"].endswith(security.BUILTIN_ROLES[role])
        assert grant.urn in workspace.dependencies
    assert named(cap, "-workspace-grants-wait").urn in workspace.dependencies


@pytest.mark.parametrize("existing", [False, True])
def test_inference_reaches_the_private_workspace_through_a_private_endpoint(existing: bool) -> None:
    over: dict[str, Any] = {}
    if existing:
        vnet = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v"
        over = {
            "network": {
                "existing_id": vnet,
                "existing_subnet_ids": [f"{vnet}/subnets/a", f"{vnet}/subnets/b"],
            }
        }
    cap = run_component(spec_of(Pattern.MANAGED_PLATFORM, **over))
    workspace = one_of(cap, f"{NS}:machinelearningservices:Workspace")
    pe = named(cap, "-pe-mlw")
    (connection,) = pe.inputs["privateLinkServiceConnections"]
    assert connection["groupIds"] == [mp.WORKSPACE_PRIVATE_LINK]
    assert workspace.urn in pe.property_dependencies["privateLinkServiceConnections"]
    zones = {
        z.inputs["privateZoneName"] for z in of_type(cap.resources, f"{NS}:privatedns:PrivateZone")
    }
    assert zones == set(mp.WORKSPACE_DNS_ZONES)
    vnets = of_type(cap.resources, f"{NS}:network:VirtualNetwork")
    assert (vnets == []) is existing
    links = of_type(cap.resources, f"{NS}:privatedns:VirtualNetworkLink")
    assert len(links) == len(mp.WORKSPACE_DNS_ZONES)
    if existing:
        assert all(
            link.inputs["virtualNetwork"]["id"] == over["network"]["existing_id"] for link in links
        )


# -- an LLM's account: Azure keeps a deleted Cognitive Services account's name for 48 hours -------
# ("Once you delete a resource, you can't create another one with the same name for 48 hours":
# Recover or purge deleted Azure AI services resources). pulumi-azure-native deletes without
# purging (pulumi/pulumi-azure-native#2529), and a deployer holds no purge
# (deletedAccounts/delete): a stack re-created after `pulumi destroy` gets a new name from its
# renewed suffix (`python -m stacks.suffix renew`), as Key Vault and API Management do.
LLM_MODES: dict[str, dict[str, Any]] = {
    "hosted": {"mode": "hosted", "model": "gpt-4o-mini", "model_version": "2024-07-18"},
    "self-hosted": {"mode": "self-hosted"},
}
COGNITIVE_ACCOUNT = f"{NS}:cognitiveservices:Account"
# Account names and custom subdomains: 2-64 letters, digits and hyphens, alphanumeric at both ends.
ACCOUNT_NAME_RE = r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}[a-zA-Z0-9]$"


def llm_account(mode: str, suffix: str | None) -> CapturedResource:
    spec = spec_of(Pattern.API_FIRST, Environment.PROD, llm=LLM_MODES[mode], suffix=suffix)
    return one_of(run_component(spec), COGNITIVE_ACCOUNT)


@pytest.mark.parametrize("mode", list(LLM_MODES))
def test_a_re_created_llm_stack_does_not_collide_with_its_soft_deleted_account(mode: str) -> None:
    before = llm_account(mode, "a1b2c3")
    after = llm_account(mode, "d4e5f6")  # the suffix renewed after `pulumi destroy`
    for account in (before, after):
        name = account.inputs["accountName"]
        # The custom subdomain (unique worldwide, token auth needs it) is the suffixed name.
        assert account.inputs["properties"]["customSubDomainName"] == name
        assert re.fullmatch(ACCOUNT_NAME_RE, name), name
    assert before.inputs["accountName"] != after.inputs["accountName"]
    # A stack from before suffixes keeps the unsuffixed formula; the name says the mode, so
    # switching llm.mode (a new kind) replaces the account under another name.
    spec = spec_of(Pattern.API_FIRST, Environment.PROD, suffix=None)
    part = guardrail.ACCOUNT_NAMES[LlmMode(mode)]
    assert llm_account(mode, None).inputs["accountName"] == resource_name(
        "azure", "container-app", spec.project, spec.environment.value, part
    )
    other = next(m for m in LLM_MODES if m != mode)
    assert llm_account(other, "a1b2c3").inputs["accountName"] != before.inputs["accountName"]
    # Purging is a person's step, never the deployer's.
    assert not [a for a in bootstrap.deployer_actions(Pattern.API_FIRST) if "deletedAccounts" in a]
