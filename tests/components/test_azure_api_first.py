"""AzureApiFirst under Pulumi mocks: the captured resources and their security properties."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from components.alarms import Tier, rollback_alarms, serving_alarms, traffic_split
from components.azure import monitoring, roles, rollout, security
from components.naming import resource_name
from components.spec import AuthMode, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import SUBSCRIPTION_ID, Capture, CapturedResource
from policies.rules import all_policies
from stacks.profiles import load_profile
from tests.conftest import candidate_image, make_spec, of_type, run_component
from tests.policies.harness import evaluate

CANDIDATE_IMAGE = candidate_image(Cloud.AZURE, Pattern.API_FIRST)

ENVS = list(Environment)
CANDIDATE = {"rollout": {"candidate_version": "1.1.0", "candidate_image": CANDIDATE_IMAGE}}
# Findings this pattern accepts (with a reason in docs/patterns/azure.md): none.
ACCEPTED_FINDINGS: set[tuple[str, str]] = set()


def spec_for(env: Environment, candidate: bool = False, **overrides: Any) -> DeploymentSpec:
    merged: dict[str, Any] = {**(CANDIDATE if candidate else {}), **overrides}
    return make_spec(Cloud.AZURE, Pattern.API_FIRST, env, merged)


@cache
def run(env: Environment, candidate: bool = False) -> Capture:
    return run_component(spec_for(env, candidate))


def one(resources: list[CapturedResource], token: str) -> CapturedResource:
    found = of_type(resources, token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def by_urn(cap: Capture) -> dict[str, CapturedResource]:
    return {r.urn: r for r in cap.resources}


def model_app(cap: Capture) -> CapturedResource:
    (found,) = [
        r for r in of_type(cap.resources, "azure-native:app:ContainerApp")
        if r.name.endswith("-model")
    ]  # fmt: skip
    return found


def rollback_service(cap: Capture) -> CapturedResource:
    (found,) = [
        r for r in of_type(cap.resources, "azure-native:app:ContainerApp")
        if r.name.endswith("-rollback")
    ]  # fmt: skip
    return found


def settings_of(app: CapturedResource) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in app.inputs["template"]["containers"][0]["env"]}


def app_name(env: Environment) -> str:
    return resource_name("azure", "container-app", "acme-support", env.value, "model")


def revision(env: Environment, version: str, image: str, candidate: bool = False) -> str:
    return rollout.revision_name(spec_for(env, candidate), app_name(env), version, image)


def model_api(cap: Any) -> list[CapturedResource]:
    """The stack's resources without the anonymous health API (tests/journey/test_azure_release
    holds that one)."""
    return [r for r in cap.resources if "-health-" not in r.name]


def deps(r: CapturedResource, prop: str) -> set[str]:
    return set(r.property_dependencies.get(prop, ()))


EXPECTED_TYPES = (
    "azure-native:resources:ResourceGroup",
    "azure-native:keyvault:Vault",
    "azure-native:keyvault:Key",
    "azure-native:managedidentity:UserAssignedIdentity",
    "azure-native:authorization:RoleAssignment",
    "azure-native:operationalinsights:Workspace",
    "azure-native:applicationinsights:Component",
    "azure-native:app:ManagedEnvironment",
    "azure-native:app:ContainerApp",
    "azure-native:apimanagement:ApiManagementService",
    "azure-native:apimanagement:Api",
    "azure-native:apimanagement:ApiOperation",
    "azure-native:apimanagement:ApiPolicy",
    "azure-native:apimanagement:Product",
    "azure-native:cdn:Profile",
    "azure-native:cdn:AFDEndpoint",
    "azure-native:cdn:Route",
    "azure-native:cdn:SecurityPolicy",
    "azure-native:frontdoor:Policy",
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:monitor:ActionGroup",
    "azure-native:monitor:ScheduledQueryRule",
    "azure-native:applicationinsights:Workbook",
)


@pytest.mark.parametrize("env", ENVS)
def test_every_part_of_the_pattern_is_registered(env: Environment) -> None:
    types = {r.type for r in run(env).resources}
    missing = [t for t in EXPECTED_TYPES if not of_type(run(env).resources, t)]
    assert missing == [], types


@pytest.mark.parametrize("env", ENVS)
def test_key_vault_is_locked_down_and_the_key_rotates(env: Environment) -> None:
    res = run(env).resources
    props = one(res, "azure-native:keyvault:Vault").inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"]["defaultAction"] == "Deny"
    policy = one(res, "azure-native:keyvault:Key").inputs["properties"]["rotationPolicy"]
    actions = {a["action"]["type"]: a["trigger"] for a in policy["lifetimeActions"]}
    assert actions["rotate"] == {"timeAfterCreate": security.KEY_ROTATE_AFTER}
    assert "notify" in actions


@pytest.mark.parametrize("env", ENVS)
def test_customer_managed_key_is_wired_to_data_at_rest(env: Environment) -> None:
    cap = run(env)
    key_uri = cap.outputs[component(cap).urn]["kms_key_id"]
    assert key_uri.endswith("/keys/cmk")
    environments = of_type(cap.resources, "azure-native:app:ManagedEnvironment")
    assert len(environments) == 2  # the model's, and the rollback service's own
    # No Container Apps disk CMK: a preview API that cannot reach the firewalled vault (A6).
    for environment in environments:
        assert "diskEncryptionConfiguration" not in environment.inputs
    # No storage account at all: nothing in this pattern stores data at rest but logs.
    assert of_type(cap.resources, "azure-native:storage:StorageAccount") == []


def custom_role_id(spec: DeploymentSpec, key: str) -> str:
    """The bootstrap-created custom role's id the stack refers to (components/azure/roles.py)."""
    guid = roles.custom_role_guid(SUBSCRIPTION_ID, spec.project, key)
    return (
        f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    )


@pytest.mark.parametrize("env", ENVS)
def test_role_assignments_are_narrow_and_scoped_to_one_resource(env: Environment) -> None:
    cap = run(env)
    urns = by_urn(cap)
    narrow = {f"roleDefinitions/{g}" for g in security.BUILTIN_ROLES.values()}
    custom = {
        custom_role_id(spec_for(env), k) for k in roles.PATTERN_CUSTOM_ROLES[Pattern.API_FIRST]
    }
    for grant in of_type(cap.resources, "azure-native:authorization:RoleAssignment"):
        role = grant.inputs["roleDefinitionId"]
        assert any(role.endswith(n) for n in narrow) or role in custom, role
        scope_owners = deps(grant, "scope")
        assert len(scope_owners) == 1, grant.name
        owner = urns[next(iter(scope_owners))]
        assert owner.type not in {"azure-native:resources:ResourceGroup"}
        # Workload identities are service principals; so is a pipeline deployer (mock login:
        # its client id is not the Azure CLI's).
        assert grant.inputs["principalType"] == "ServicePrincipal"


@pytest.mark.parametrize("env", ENVS)
def test_rollback_role_may_only_read_and_write_the_model_app(env: Environment) -> None:
    cap = run(env)
    # The stack defines no role (its deployer cannot): bootstrap's rollback role, by its id.
    assert of_type(cap.resources, "azure-native:authorization:RoleDefinition") == []
    (grant,) = [
        g for g in of_type(cap.resources, "azure-native:authorization:RoleAssignment")
        if g.name.endswith("-rollback-grant")
    ]  # fmt: skip
    assert grant.inputs["roleDefinitionId"] == custom_role_id(
        spec_for(env), roles.ROLLBACK_CONTAINER_APP
    )
    assert sorted(roles.CUSTOM_ROLES[roles.ROLLBACK_CONTAINER_APP].actions) == [
        "Microsoft.App/containerApps/read",
        "Microsoft.App/containerApps/write",
    ]
    assert deps(grant, "scope") == {model_app(cap).urn}


@pytest.mark.parametrize("env", ENVS)
def test_logs_are_kept_for_the_profiles_retention(env: Environment) -> None:
    res = run(env).resources
    days = load_profile(env)["retention"]["log_days"]
    assert one(res, "azure-native:operationalinsights:Workspace").inputs["retentionInDays"] == days
    assert one(res, "azure-native:applicationinsights:Component").inputs["retentionInDays"] == days
    insights = one(res, "azure-native:applicationinsights:Component").inputs
    assert insights["disableLocalAuth"] is True


@pytest.mark.parametrize("env", ENVS)
def test_every_data_plane_resource_sends_diagnostics_to_the_workspace(env: Environment) -> None:
    cap = run(env)
    workspace = one(cap.resources, "azure-native:operationalinsights:Workspace").urn
    settings = of_type(cap.resources, "azure-native:monitor:DiagnosticSetting")
    monitored = set().union(*(deps(s, "resourceUri") for s in settings))
    assert all(deps(s, "workspaceId") == {workspace} for s in settings)
    for token in (
        "azure-native:keyvault:Vault",
        "azure-native:apimanagement:ApiManagementService",
        "azure-native:app:ManagedEnvironment",
        "azure-native:cdn:Profile",
        "azure-native:operationalinsights:Workspace",
    ):
        assert all(r.urn in monitored for r in of_type(cap.resources, token)), token


@pytest.mark.parametrize("env", ENVS)
def test_model_app_is_https_only_restricted_to_the_gateway_and_autoscaled(env: Environment) -> None:
    cap = run(env)
    container_app = model_app(cap)
    ingress = container_app.inputs["configuration"]["ingress"]
    assert ingress["allowInsecure"] is False
    assert container_app.inputs["configuration"]["activeRevisionsMode"] == "Multiple"
    apim = one(cap.resources, "azure-native:apimanagement:ApiManagementService").urn
    # The ingress allow-list is computed from the gateway's public addresses.
    assert apim in deps(container_app, "configuration")
    scale = container_app.inputs["template"]["scale"]
    capacity = load_profile(env)["capacity"]
    assert (scale["minReplicas"], scale["maxReplicas"]) == (
        capacity["min_instances"],
        capacity["max_instances"],
    )
    spec = spec_for(env)
    assert scale["rules"][0]["custom"]["metadata"]["value"] == str(spec.capacity.target_cpu_percent)


@pytest.mark.parametrize("env", ENVS)
def test_without_candidate_the_stable_revision_takes_all_traffic(env: Environment) -> None:
    app = model_app(run(env)).inputs
    traffic = app["configuration"]["ingress"]["traffic"]
    assert [(t["revisionName"], t["weight"], t["label"]) for t in traffic] == [
        (revision(env, "1.0.0", spec_for(env).model.image), 100, "stable")
    ]
    assert not any(t.get("latestRevision") for t in traffic)
    assert traffic_split(spec_for(env)) == (100, 0)
    assert app["template"]["containers"][0]["image"] == spec_for(env).model.image


@pytest.mark.parametrize("env", ENVS)
def test_candidate_takes_the_canary_share(env: Environment) -> None:
    spec = spec_for(env, candidate=True)
    app = model_app(run(env, True)).inputs
    traffic = {t["label"]: t for t in app["configuration"]["ingress"]["traffic"]}
    assert traffic["candidate"]["weight"] == spec.rollout.canary_percent
    assert traffic["candidate"]["latestRevision"] is True
    assert traffic["stable"]["weight"] == 100 - spec.rollout.canary_percent
    assert traffic["stable"]["revisionName"] == revision(env, "1.0.0", spec.model.image, True)
    assert app["template"]["containers"][0]["image"] == CANDIDATE_IMAGE
    candidate = revision(env, "1.1.0", CANDIDATE_IMAGE, True)
    assert f"{app_name(env)}--{app['template']['revisionSuffix']}" == candidate
    assert app["template"]["revisionSuffix"].startswith("v1-1-0-")


@pytest.mark.parametrize("env", ENVS)
def test_gateway_refuses_old_tls_and_enforces_the_api_contract(env: Environment) -> None:
    cap = run(env)
    spec = spec_for(env)
    service = one(cap.resources, "azure-native:apimanagement:ApiManagementService").inputs
    props = service["customProperties"]
    for proto in ("Tls10", "Tls11", "Ssl30"):
        assert props[
            f"Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.{proto}"
        ] == ("False")
    assert one(model_api(cap), "azure-native:apimanagement:Api").inputs["protocols"] == ["https"]
    policy = one(model_api(cap), "azure-native:apimanagement:ApiPolicy").inputs["value"]
    assert "<validate-jwt" in policy
    assert f"<issuer>{spec.api.jwt_issuer}</issuer>" in policy
    assert f"<audience>{spec.api.jwt_audience}</audience>" in policy
    assert re.search(rf'<rate-limit-by-key calls="{spec.api.burst}"', policy)
    assert f'<quota-by-key calls="{spec.api.quota_per_day}" renewal-period="86400"' in policy
    # validate-content is capped at its documented 100 KB; the limit holds on Content-Length.
    assert 'max-size="102400"' in policy
    assert f"&gt; {spec.api.max_request_bytes})" in policy
    assert 'name="X-Azure-FDID"' in policy
    assert "<value>{{front-door-id}}</value>" in policy
    front_door = one(cap.resources, "azure-native:cdn:Profile").urn
    named_value = one(cap.resources, "azure-native:apimanagement:NamedValue")
    assert front_door in deps(named_value, "value")


@pytest.mark.parametrize(
    ("auth", "jwt", "keys"),
    [
        (AuthMode.JWT, True, False),
        (AuthMode.API_KEY, False, True),
        (AuthMode.JWT_AND_API_KEY, True, True),
    ],
)
def test_auth_mode_decides_jwt_and_subscription_keys(auth: AuthMode, jwt: bool, keys: bool) -> None:
    cap = run_component(spec_for(Environment.DEV, api={"auth": auth.value}))
    policy = one(model_api(cap), "azure-native:apimanagement:ApiPolicy").inputs["value"]
    assert ("<validate-jwt" in policy) is jwt
    assert (
        one(model_api(cap), "azure-native:apimanagement:Api").inputs["subscriptionRequired"] is keys
    )
    counter = "context.Subscription.Id" if keys else "AsJwt()?.Subject"
    assert counter in policy


@pytest.mark.parametrize("env", ENVS)
def test_front_door_waf_blocks_with_managed_rules_and_a_rate_limit(env: Environment) -> None:
    cap = run(env)
    spec = spec_for(env)
    waf = one(cap.resources, "azure-native:frontdoor:Policy")
    assert waf.inputs["policySettings"]["mode"] == "Prevention"
    assert waf.inputs["policySettings"]["enabledState"] == "Enabled"
    sets = {m["ruleSetType"] for m in waf.inputs["managedRules"]["managedRuleSets"]}
    assert sets == {"Microsoft_DefaultRuleSet", "Microsoft_BotManagerRuleSet"}
    (rule,) = waf.inputs["customRules"]["rules"]
    assert rule["ruleType"] == "RateLimitRule"
    assert rule["rateLimitThreshold"] == spec.api.waf_rate_limit_per_5min
    assert rule["rateLimitDurationInMinutes"] == 5
    assert rule["action"] == "Block"
    association = one(cap.resources, "azure-native:cdn:SecurityPolicy")
    endpoint = one(cap.resources, "azure-native:cdn:AFDEndpoint").urn
    assert deps(association, "parameters") >= {waf.urn, endpoint}
    assert one(cap.resources, "azure-native:cdn:Profile").inputs["sku"]["name"] == (
        "Premium_AzureFrontDoor"
    )
    route = one(cap.resources, "azure-native:cdn:Route").inputs
    assert route["supportedProtocols"] == ["Https"]
    assert route["forwardingProtocol"] == "HttpsOnly"


def component(cap: Capture) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.type == "aideploy:azure:ApiFirst"]
    return found


@pytest.mark.parametrize("env", ENVS)
def test_one_alarm_per_rule_routed_to_its_tier(env: Environment) -> None:
    cap = run(env)
    spec = spec_for(env)
    rules = serving_alarms(spec)
    alarms = [
        a
        for a in of_type(cap.resources, "azure-native:monitor:ScheduledQueryRule")
        if "-alarm-" in a.name  # the rollback service's report rules are held elsewhere
    ]
    assert len(alarms) == len(rules)
    groups = {
        r.name.rsplit("-", 1)[-1]: r.urn
        for r in of_type(cap.resources, "azure-native:monitor:ActionGroup")
    }
    # Every tier has its channel: the rollback service reports to all three.
    assert {t.value for t in Tier} | {"action"} == set(groups)
    for rule in rules:
        (alarm,) = [a for a in alarms if a.name.endswith(f"-alarm-{rule.key}")]
        condition = alarm.inputs["criteria"]["allOf"][0]
        assert condition["threshold"] == pytest.approx(rule.threshold)
        assert condition["operator"] == (
            "GreaterThan" if rule.comparison.value == "above" else "LessThan"
        )
        assert f"where periods >= {rule.evaluation_periods}" in condition["query"]
        routed = deps(alarm, "actions")
        assert groups[rule.tier.value] in routed
        assert (groups["action"] in routed) is rule.triggers_rollback


@pytest.mark.parametrize("env", ENVS)
def test_channels_email_every_address_and_alert_topic_is_the_most_urgent(env: Environment) -> None:
    cap = run(env)
    spec = spec_for(env)
    channels = [
        g for g in of_type(cap.resources, "azure-native:monitor:ActionGroup")
        if not g.name.endswith("-rollback-action")
    ]  # fmt: skip
    for channel in channels:
        emails = [e["emailAddress"] for e in channel.inputs["emailReceivers"]]
        assert emails == list(spec.alerts.emails)
    tiers = {r.tier for r in serving_alarms(spec)}
    assert (Tier.PAGE in tiers) is spec.alerts.page_on_critical


@pytest.mark.parametrize("env", ENVS)
def test_rollback_alarms_call_the_rollback_service_for_the_model_app(env: Environment) -> None:
    cap = run(env, True)
    service = rollback_service(cap)
    ingress = service.inputs["configuration"]["ingress"]
    assert ingress["allowInsecure"] is False
    settings = settings_of(service)
    assert settings["ROLLBACK_TARGET_KIND"] == "container-app"
    stable_image = spec_for(env).model.image
    assert settings["ROLLBACK_STABLE"] == revision(env, "1.0.0", stable_image, True)
    assert settings["ROLLBACK_CANDIDATE"] == revision(env, "1.1.0", CANDIDATE_IMAGE, True)
    rollback_rules = {
        monitoring.alarm_rule_name(spec_for(env, True), r) for r in rollback_alarms(spec_for(env))
    }
    assert set(settings["ROLLBACK_ALERT_RULES"].split(",")) == rollback_rules
    alarm_names = {
        a.inputs["ruleName"]
        for a in of_type(cap.resources, "azure-native:monitor:ScheduledQueryRule")
    }
    assert rollback_rules <= alarm_names
    assert model_app(cap).urn in deps(service, "template")
    (action,) = [
        g for g in of_type(cap.resources, "azure-native:monitor:ActionGroup")
        if g.name.endswith("-rollback-action")
    ]  # fmt: skip
    receiver = action.inputs["webhookReceivers"][0]
    assert receiver["useCommonAlertSchema"] is True
    # The URL is the service's address in its own environment (the domain is known after deploy)
    # and depends on the service itself, which the pack's S2 follows from alert to rollback.
    (rollback_env,) = [
        e for e in of_type(cap.resources, "azure-native:app:ManagedEnvironment")
        if e.name.endswith("-rollback-env")
    ]  # fmt: skip
    assert deps(action, "webhookReceivers") == {rollback_env.urn, service.urn}
    assert deps(service, "managedEnvironmentId") == {rollback_env.urn}


@pytest.mark.parametrize("env", ENVS)
def test_rollback_service_code_travels_as_secrets_mounted_into_a_stock_image(
    env: Environment,
) -> None:
    service = rollback_service(run(env))
    secrets = {s["name"]: s["value"] for s in service.inputs["configuration"]["secrets"]}
    assert secrets == rollout.code_secrets()
    template = service.inputs["template"]
    (volume,) = template["volumes"]
    assert volume["storageType"] == "Secret"
    paths = {item["path"] for item in volume["secrets"]}
    assert paths == {f"rollback_fn/{f}" for f in rollout.ROLLBACK_FN_FILES}
    container = template["containers"][0]
    assert container["image"] == rollout.ROLLBACK_IMAGE
    assert container["command"] == ["python3", "-m", "rollback_fn.server"]
    assert container["volumeMounts"] == [{"volumeName": "code", "mountPath": "/app"}]
    assert template["revisionSuffix"] == f"code-{rollout.code_digest()}"
    assert (template["scale"]["minReplicas"], template["scale"]["maxReplicas"]) == (0, 1)


@pytest.mark.parametrize("env", ENVS)
def test_outputs_and_parents(env: Environment) -> None:
    cap = run(env)
    spec = spec_for(env)
    comp = component(cap)
    assert set(cap.outputs[comp.urn]) == set(spec.outputs)
    assert cap.outputs[comp.urn]["serving_service"] == app_name(env)
    assert cap.outputs[comp.urn]["canary_service"] == revision(env, "1.0.0", spec.model.image)
    urns = by_urn(cap)
    for r in cap.resources:
        if not r.custom:
            continue
        parent = r.parent
        while parent and parent != comp.urn:
            parent = urns[parent].parent if parent in urns else ""
        assert parent == comp.urn, r.name


@pytest.mark.parametrize("env", ENVS)
def test_policy_pack_finds_nothing_beyond_the_documented_advisory(env: Environment) -> None:
    # With the waivers the component declares (components/azure/waivers.py), as a generated
    # project's pack config holds them.
    from components.azure.api_first import policy_waivers

    spec = spec_for(env)
    findings = evaluate(all_policies(), run(env).resources, policy_waivers(spec.project, spec))
    assert {(f.policy, f.resource_name) for f in findings} <= ACCEPTED_FINDINGS, findings
