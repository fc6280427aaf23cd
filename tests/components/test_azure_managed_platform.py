"""AzureManagedPlatform under Pulumi mocks: workspace, blue/green endpoint, autoscale, rollback."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from components.alarms import rollback_alarms, serving_alarms
from components.azure import roles, rollout, security
from components.azure.managed_platform import ENDPOINT_AUTH, instance_type
from components.spec import AuthMode, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import SUBSCRIPTION_ID, Capture, CapturedResource
from policies.rules import all_policies
from stacks.profiles import load_profile
from tests.conftest import candidate_image, make_spec, of_type, run_component
from tests.policies.harness import evaluate

CANDIDATE_IMAGE = candidate_image(Cloud.AZURE, Pattern.MANAGED_PLATFORM)

ENVS = list(Environment)
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
SHADOW = {"rollout": {**CANDIDATE["rollout"], "canary_percent": 0}}
ACCEPTED_FINDINGS: set[tuple[str, str]] = set()


def spec_for(env: Environment, overrides: dict[str, Any] | None = None) -> DeploymentSpec:
    return make_spec(Cloud.AZURE, Pattern.MANAGED_PLATFORM, env, overrides or {})


@cache
def run(env: Environment, mode: str = "stable") -> Capture:
    overrides = {"stable": None, "canary": CANDIDATE, "shadow": SHADOW}[mode]
    return run_component(spec_for(env, overrides))


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def deps(r: CapturedResource, prop: str) -> set[str]:
    return set(r.property_dependencies.get(prop, ()))


def component(cap: Capture) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.type == "aideploy:azure:ManagedPlatform"]
    return found


def traffic_resource(cap: Capture) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.name.endswith("-endpoint-traffic")]
    return found


def deployments(cap: Capture) -> dict[str, CapturedResource]:
    return {
        d.inputs["deploymentName"]: d
        for d in of_type(cap.resources, "azure-native:machinelearningservices:OnlineDeployment")
    }


@pytest.mark.parametrize("env", ENVS)
def test_workspace_has_its_own_vault_storage_registry_and_insights(env: Environment) -> None:
    cap = run(env)
    ws = one(cap.resources, "azure-native:machinelearningservices:Workspace")
    expected = {
        "keyVault": "azure-native:keyvault:Vault",
        "containerRegistry": "azure-native:containerregistry:Registry",
        "applicationInsights": "azure-native:applicationinsights:Component",
    }
    for prop, token in expected.items():
        assert deps(ws, prop) == {one(cap.resources, token).urn}, prop
    ml_storage = [
        s for s in of_type(cap.resources, "azure-native:storage:StorageAccount")
        if s.name.endswith("-st-ml")
    ]  # fmt: skip
    assert deps(ws, "storageAccount") == {ml_storage[0].urn}
    assert ws.inputs["publicNetworkAccess"] == "Disabled"
    assert ws.inputs["managedNetwork"]["isolationMode"] == "AllowOnlyApprovedOutbound"
    assert ws.inputs["systemDatastoresAuthMode"] == "identity"


@pytest.mark.parametrize("env", ENVS)
def test_customer_managed_key_encrypts_workspace_storage_and_registry(env: Environment) -> None:
    cap = run(env)
    key_uri = cap.outputs[component(cap).urn]["kms_key_id"]
    ws = one(cap.resources, "azure-native:machinelearningservices:Workspace").inputs
    assert ws["encryption"]["status"] == "Enabled"
    assert ws["encryption"]["keyVaultProperties"]["keyIdentifier"] == key_uri
    acr = one(cap.resources, "azure-native:containerregistry:Registry").inputs
    # No CMK on the workspace registry: ACR's user-assigned identity cannot pass the stack
    # vault's firewall (review A6); the bootstrap registry holds the CMK-encrypted release.
    assert "encryption" not in acr
    assert acr["sku"]["name"] == "Premium"
    for account in of_type(cap.resources, "azure-native:storage:StorageAccount"):
        enc = account.inputs["encryption"]
        assert enc["keySource"] == "Microsoft.Keyvault"
        assert key_uri == f"{enc['keyVaultProperties']['keyVaultUri'].rstrip('/')}/keys/cmk"
        assert account.inputs["minimumTlsVersion"] == "TLS1_2"
        assert account.inputs["enableHttpsTrafficOnly"] is True
        assert account.inputs["allowBlobPublicAccess"] is False
        assert account.inputs["allowSharedKeyAccess"] is False
    vault = one(cap.resources, "azure-native:keyvault:Vault").inputs["properties"]
    assert vault["enablePurgeProtection"] is True
    assert vault["enableRbacAuthorization"] is True


@pytest.mark.parametrize("env", ENVS)
def test_registry_has_no_admin_user_and_no_anonymous_pull(env: Environment) -> None:
    acr = one(run(env).resources, "azure-native:containerregistry:Registry").inputs
    assert acr["adminUserEnabled"] is False
    assert acr["anonymousPullEnabled"] is False
    assert acr["publicNetworkAccess"] == "Disabled"


@pytest.mark.parametrize("env", ENVS)
def test_ml_storage_denies_public_networks(env: Environment) -> None:
    cap = run(env)
    (ml_storage,) = [
        s for s in of_type(cap.resources, "azure-native:storage:StorageAccount")
        if s.name.endswith("-st-ml")
    ]  # fmt: skip
    assert ml_storage.inputs["networkRuleSet"]["defaultAction"] == "Deny"


@pytest.mark.parametrize(
    ("auth", "mode"),
    [
        (AuthMode.JWT, "AADToken"),
        (AuthMode.API_KEY, "AMLToken"),
        (AuthMode.JWT_AND_API_KEY, "AADToken"),
    ],
)
def test_endpoint_auth_is_a_token_never_a_static_key(auth: AuthMode, mode: str) -> None:
    assert ENDPOINT_AUTH[auth] == mode
    cap = run_component(spec_for(Environment.DEV, {"api": {"auth": auth.value}}))
    endpoint = one(cap.resources, "azure-native:machinelearningservices:OnlineEndpoint")
    assert endpoint.inputs["properties"]["authMode"] == mode
    assert endpoint.inputs["properties"]["publicNetworkAccess"] == "Disabled"


@pytest.mark.parametrize("env", ENVS)
def test_blue_and_green_without_candidate(env: Environment) -> None:
    cap = run(env)
    endpoint = one(cap.resources, "azure-native:machinelearningservices:OnlineEndpoint")
    # Created without traffic (A4): the split is applied after the deployments exist.
    assert "traffic" not in endpoint.inputs["properties"]
    split = traffic_resource(cap).inputs
    assert split["traffic"] == {"blue": 100, "green": 0}
    assert split["mirror_traffic"] == {}
    slots = deployments(cap)
    assert set(slots) == {"blue", "green"}
    spec = spec_for(env)
    envs = of_type(cap.resources, "azure-native:machinelearningservices:EnvironmentVersion")
    assert {e.inputs["properties"]["image"] for e in envs} == {spec.model.image}
    # Same model in both slots, yet two distinct (immutable) environment versions.
    assert len({(e.inputs["name"], e.inputs["version"]) for e in envs}) == 2
    for slot, deployment in slots.items():
        (env_version,) = [e for e in envs if e.inputs["name"].endswith(f"-{slot}")]
        assert deps(deployment, "properties") >= {env_version.urn}


@pytest.mark.parametrize("env", ENVS)
def test_candidate_takes_the_canary_share_live(env: Environment) -> None:
    cap = run(env, "canary")
    spec = spec_for(env, CANDIDATE)
    props = traffic_resource(cap).inputs
    share = spec.rollout.canary_percent
    assert props["traffic"] == {"blue": 100 - share, "green": share}
    assert sum(props["traffic"].values()) == 100
    assert props["mirror_traffic"] == {}
    images = {
        e.name.rsplit("-", 1)[-1]: e.inputs["properties"]["image"]
        for e in of_type(cap.resources, "azure-native:machinelearningservices:EnvironmentVersion")
    }
    assert images == {"blue": spec.model.image, "green": CANDIDATE_IMAGE}
    outputs = cap.outputs[component(cap).urn]
    assert outputs["model_name"] == f"{spec.model.name}:{spec.model.version}"
    assert outputs["candidate_model_name"] == f"{spec.model.name}:1.1.0"


@pytest.mark.parametrize("env", ENVS)
def test_candidate_with_zero_canary_is_shadow_tested_with_mirrored_traffic(
    env: Environment,
) -> None:
    props = traffic_resource(run(env, "shadow")).inputs
    assert props["traffic"] == {"blue": 100, "green": 0}
    assert props["mirror_traffic"] == {"green": rollout.SHADOW_MIRROR_PERCENT}


@pytest.mark.parametrize("env", ENVS)
def test_deployments_are_private_instrumented_and_collect_model_data(env: Environment) -> None:
    spec = spec_for(env)
    for slot, deployment in deployments(run(env)).items():
        props = deployment.inputs["properties"]
        assert props["endpointComputeType"] == "Managed", slot
        assert props["instanceType"] == instance_type(spec)
        assert props["egressPublicNetworkAccess"] == "Disabled"
        # AML's key-based App Insights logging is off (local auth off, A25); the model sends
        # Entra-authenticated telemetry as the endpoint identity.
        assert props["appInsightsEnabled"] is False
        variables = props["environmentVariables"]
        assert variables["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].startswith(
            "Authorization=AAD;ClientId="
        )
        collections = props["dataCollector"]["collections"]
        assert collections["model_inputs"]["dataCollectionMode"] == "Enabled"
        assert collections["model_outputs"]["dataCollectionMode"] == "Enabled"


@pytest.mark.parametrize("env", ENVS)
def test_autoscale_on_each_deployment_within_the_profiles_bounds(env: Environment) -> None:
    cap = run(env)
    capacity = load_profile(env)["capacity"]
    slots = {d.urn: name for name, d in deployments(cap).items()}
    scaled = set()
    for setting in of_type(cap.resources, "azure-native:monitor:AutoscaleSetting"):
        (target,) = deps(setting, "targetResourceUri")
        scaled.add(slots[target])
        profile = setting.inputs["profiles"][0]
        assert profile["capacity"]["minimum"] == str(max(1, capacity["min_instances"]))
        assert profile["capacity"]["maximum"] == str(capacity["max_instances"])
        out_rule, in_rule = profile["rules"]
        assert out_rule["metricTrigger"]["threshold"] == spec_for(env).capacity.target_cpu_percent
        assert out_rule["scaleAction"]["direction"] == "Increase"
        assert in_rule["scaleAction"]["direction"] == "Decrease"
    assert scaled == {"blue", "green"}


@pytest.mark.parametrize("env", ENVS)
def test_logs_retention_and_diagnostics(env: Environment) -> None:
    cap = run(env)
    days = load_profile(env)["retention"]["log_days"]
    ws = one(cap.resources, "azure-native:operationalinsights:Workspace")
    assert ws.inputs["retentionInDays"] == days
    settings = of_type(cap.resources, "azure-native:monitor:DiagnosticSetting")
    monitored = set().union(*(deps(s, "resourceUri") for s in settings))
    for token in (
        "azure-native:machinelearningservices:Workspace",
        "azure-native:machinelearningservices:OnlineEndpoint",
        "azure-native:containerregistry:Registry",
        "azure-native:keyvault:Vault",
    ):
        assert one(cap.resources, token).urn in monitored, token
    for account in of_type(cap.resources, "azure-native:storage:StorageAccount"):
        assert account.urn in monitored, account.name


@pytest.mark.parametrize("env", ENVS)
def test_alarms_watch_the_endpoint_traffic_log_and_route_rollback(env: Environment) -> None:
    cap = run(env, "canary")
    spec = spec_for(env, CANDIDATE)
    rules = serving_alarms(spec)
    alarms = [
        a
        for a in of_type(cap.resources, "azure-native:monitor:ScheduledQueryRule")
        if "-alarm-" in a.name  # the rollback service's report rules are held elsewhere
    ]
    assert len(alarms) == len(rules)
    action = next(
        g for g in of_type(cap.resources, "azure-native:monitor:ActionGroup")
        if g.name.endswith("-rollback-action")
    )  # fmt: skip
    for rule in rules:
        (alarm,) = [a for a in alarms if a.name.endswith(f"-alarm-{rule.key}")]
        condition = alarm.inputs["criteria"]["allOf"][0]
        # Complete, ingested periods only (review E3), from the endpoint's traffic log.
        assert condition["query"].startswith("let end = bin(now(), 60s) - ")
        assert "AmlOnlineEndpointTrafficLog" in condition["query"]
        assert condition["threshold"] == pytest.approx(rule.threshold)
        assert ('DeploymentName == "green"' in condition["query"]) is rule.signal.value.startswith(
            "canary"
        )
        assert (action.urn in deps(alarm, "actions")) is rule.triggers_rollback
    thresholds = {r.signal.value: r.threshold for r in rollback_alarms(spec)}
    assert thresholds["canary-error-rate"] == spec.rollout.rollback_error_rate
    assert thresholds["canary-latency-p99"] == spec.alerts.latency_p99_ms * 2.0


@pytest.mark.parametrize("env", ENVS)
def test_utilisation_metric_alerts_per_deployment(env: Environment) -> None:
    cap = run(env)
    alerts = of_type(cap.resources, "azure-native:monitor:MetricAlert")
    slots = {d.urn: name for name, d in deployments(cap).items()}
    seen = set()
    for alert in alerts:
        (target,) = deps(alert, "scopes")
        metric = alert.inputs["criteria"]["allOf"][0]["metricName"]
        seen.add((slots[target], metric))
    assert seen == {
        (slot, metric)
        for slot in ("blue", "green")
        for metric in (
            "CpuUtilizationPercentage",
            "MemoryUtilizationPercentage",
            "GpuUtilizationPercentage",
        )
    }


@pytest.mark.parametrize("env", ENVS)
def test_rollback_function_may_only_touch_the_endpoint(env: Environment) -> None:
    cap = run(env, "canary")
    endpoint = one(cap.resources, "azure-native:machinelearningservices:OnlineEndpoint").urn
    # The stack defines no role (its deployer cannot): bootstrap's roles, by their ids.
    assert of_type(cap.resources, "azure-native:authorization:RoleDefinition") == []
    project = spec_for(env).project

    def role_id(key: str) -> str:
        guid = roles.custom_role_guid(SUBSCRIPTION_ID, project, key)
        return security.role_definition_path(SUBSCRIPTION_ID, guid)

    grants = {
        g.name.rsplit("-rollback-", 1)[-1]: g
        for g in of_type(cap.resources, "azure-native:authorization:RoleAssignment")
        if "-rollback-" in g.name
        # The read grants (alerts, logs, report) are held to the service's calls in
        # tests/journey/test_azure_release.py.
        and not g.name.endswith(("-alerts-grant", "-logs-grant", "-report-grant"))
    }
    assert set(grants) == {"grant", "endpoint-identity-grant"}
    # The PUT restates the endpoint's identity: "assign" on that one identity, nothing more.
    (identity,) = [
        i for i in of_type(cap.resources, "azure-native:managedidentity:UserAssignedIdentity")
        if i.name.endswith("-id-endpoint")
    ]  # fmt: skip
    linked = grants["endpoint-identity-grant"]
    assert linked.inputs["roleDefinitionId"] == role_id(roles.ROLLBACK_ASSIGN_IDENTITY)
    assert roles.CUSTOM_ROLES[roles.ROLLBACK_ASSIGN_IDENTITY].actions == (
        rollout.ASSIGN_IDENTITY_ACTIONS
    )
    assert deps(linked, "scope") == {identity.urn}
    grant = grants["grant"]
    assert grant.inputs["roleDefinitionId"] == role_id(roles.ROLLBACK_ML_ENDPOINT)
    assert sorted(roles.CUSTOM_ROLES[roles.ROLLBACK_ML_ENDPOINT].actions) == sorted(
        rollout.ONLINE_ENDPOINT_ACTIONS
    )
    assert deps(grant, "scope") == {endpoint}
    (service,) = of_type(cap.resources, "azure-native:app:ContainerApp")
    env_vars = service.inputs["template"]["containers"][0]["env"]
    settings = {e["name"]: e.get("value") for e in env_vars}
    assert settings["ROLLBACK_TARGET_KIND"] == "ml-online-endpoint"
    assert (settings["ROLLBACK_STABLE"], settings["ROLLBACK_CANDIDATE"]) == ("blue", "green")
    assert endpoint in deps(service, "template")
    (action,) = [
        g for g in of_type(cap.resources, "azure-native:monitor:ActionGroup")
        if g.name.endswith("-rollback-action")
    ]  # fmt: skip
    assert action.inputs["webhookReceivers"][0]["useCommonAlertSchema"] is True
    outputs = cap.outputs[component(cap).urn]
    assert outputs["rollback_trigger"]  # the action group's id


@pytest.mark.parametrize("env", ENVS)
def test_no_broad_role_and_every_grant_scoped_to_one_resource(env: Environment) -> None:
    cap = run(env)
    urns = {r.urn: r for r in cap.resources}
    narrow = tuple(f"roleDefinitions/{g}" for g in security.BUILTIN_ROLES.values())
    # ... or one of bootstrap's custom roles (roles.py), by the id the stack computes for it.
    custom = tuple(
        f"roleDefinitions/{roles.custom_role_guid(SUBSCRIPTION_ID, spec_for(env).project, k)}"
        for k in roles.PATTERN_CUSTOM_ROLES[Pattern.MANAGED_PLATFORM]
    )
    for grant in of_type(cap.resources, "azure-native:authorization:RoleAssignment"):
        role = grant.inputs["roleDefinitionId"]
        assert role.endswith(narrow + custom), grant.name
        (scope,) = deps(grant, "scope")
        assert urns[scope].type != "azure-native:resources:ResourceGroup"


@pytest.mark.parametrize("env", ENVS)
def test_outputs_parents_and_policy_pack(env: Environment) -> None:
    cap = run(env)
    comp = component(cap)
    assert set(cap.outputs[comp.urn]) == set(spec_for(env).outputs)
    urns = {r.urn: r for r in cap.resources}
    for r in cap.resources:
        if r.custom:
            parent = r.parent
            while parent and parent != comp.urn:
                parent = urns[parent].parent if parent in urns else ""
            assert parent == comp.urn, r.name
    # With the waivers the component declares (components/azure/waivers.py).
    from components.azure.managed_platform import policy_waivers

    spec = spec_for(env)
    findings = evaluate(all_policies(), cap.resources, policy_waivers(spec.project, spec))
    assert {(f.policy, f.resource_name) for f in findings} <= ACCEPTED_FINDINGS, findings


def test_instance_type_fits_the_profile() -> None:
    assert instance_type(spec_for(Environment.DEV)) == "Standard_DS1_v2"
    assert instance_type(spec_for(Environment.PROD)) == "Standard_DS2_v2"
    huge = spec_for(Environment.PROD, {"capacity": {"cpu": 16, "memory_mb": 65536}})
    assert instance_type(huge) == "Standard_DS5_v2"


@pytest.mark.parametrize("env", ENVS)
def test_data_holders_are_protected_and_recoverable_per_profile(env: Environment) -> None:
    cap = run(env)
    retention = load_profile(env)["retention"]
    guarded = [
        one(cap.resources, "azure-native:keyvault:Vault"),
        one(cap.resources, "azure-native:machinelearningservices:Workspace"),
        one(cap.resources, "azure-native:operationalinsights:Workspace"),
        *[
            s for s in of_type(cap.resources, "azure-native:storage:StorageAccount")
            if s.name.endswith("-st-ml")
        ],
    ]  # fmt: skip
    assert len(guarded) == 4
    assert {r.protect for r in guarded} == {retention["deletion_protection"]}
    recovery = one(cap.resources, "azure-native:storage:BlobServiceProperties").inputs
    assert recovery["deleteRetentionPolicy"] == {
        "enabled": True,
        "days": min(retention["data_days"], 365),
    }
