"""The Azure release path held together from captured resources (issue 10): the health route the
pipeline and the uptime test probe is routed, GET and anonymous while predict stays
authenticated; the alarm names the watch and the rollback service match are the rule names
created; the rollback identity holds exactly the rights its calls need, where it calls them; the
model's telemetry carries the names the alerts filter on; each tier reaches its destinations."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from components.alarms import alarm_name, rollback_alarms
from components.azure import api_first, monitoring, roles, rollout
from components.azure.rollback_fn import arm
from components.registry import component_for
from components.spec import AuthMode, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, CapturedResource, _fake_id, capture
from tests.conftest import candidate_image, make_spec, of_type

NS = "azure-native"
PATTERNS = (Pattern.API_FIRST, Pattern.MANAGED_PLATFORM)
PAGE_URL = "https://events.pagerduty.com/integration/abc123/enqueue"
TEAMS_URL = "https://prod-00.westeurope.logic.azure.com/workflows/xyz/triggers/manual/run"
ROUTES = {
    "page": [
        {"kind": "events", "secret": "pagerduty_url"},
        {"kind": "email", "address": "oncall@acme.example"},
    ],
    "ticket": [{"kind": "teams", "secret": "teams_url"}],
}
# Built-in roles the rollback identity holds, with the actions the docs list for them
# (Monitoring Metrics Publisher: metrics and telemetry writes, nothing else).
BUILTIN_ACTIONS = {
    "monitoring-metrics-publisher": (
        "Microsoft.Insights/Metrics/Write",
        "Microsoft.Insights/Telemetry/Write",
    ),
}


def spec_for(
    pattern: Pattern, candidate: bool = True, auth: AuthMode | None = None, routes: bool = False
) -> DeploymentSpec:
    overrides: dict[str, Any] = {}
    if candidate:
        overrides["rollout"] = {
            "candidate_version": "1.1.0",
            "candidate_image": candidate_image(Cloud.AZURE, pattern),
        }
    if auth is not None:
        overrides["api"] = {"auth": auth.value}
    if routes:
        overrides["alerts"] = {"routes": ROUTES}
    return make_spec(Cloud.AZURE, pattern, Environment.PROD, overrides)


@cache
def run(
    pattern: Pattern, candidate: bool = True, auth: AuthMode | None = None, routes: bool = False
) -> tuple[DeploymentSpec, Capture]:
    spec = spec_for(pattern, candidate, auth, routes)
    config = {f"{spec.project}:pagerduty_url": PAGE_URL, f"{spec.project}:teams_url": TEAMS_URL}

    def program() -> None:
        component_for(spec.cloud, spec.pattern)(spec.project, spec)

    return spec, capture(
        program,
        project=spec.project,
        stack=spec.environment.value,
        region=spec.region,
        config=config if routes else None,
        secret_keys=list(config) if routes else None,
    )


def outputs(cap: Capture) -> dict[str, Any]:
    return next(v for k, v in cap.outputs.items() if "aideploy:azure" in k)


def one(resources: list[CapturedResource], token: str, **where: Any) -> CapturedResource:
    found = [
        r for r in of_type(resources, token) if all(r.inputs.get(k) == v for k, v in where.items())
    ]
    assert len(found) == 1, (token, where, [r.name for r in found])
    return found[0]


def by_urn(cap: Capture) -> dict[str, CapturedResource]:
    return {r.urn: r for r in cap.resources}


# -- contract 1: the health route ----------


@pytest.mark.parametrize("auth", list(AuthMode))
def test_health_is_routed_get_anonymous_and_rate_limited_while_predict_stays_authenticated(
    auth: AuthMode,
) -> None:
    spec, cap = run(Pattern.API_FIRST, auth=auth)
    res = cap.resources
    health = one(res, f"{NS}:apimanagement:Api", apiId=api_first.HEALTH_API_ID)
    model = one(res, f"{NS}:apimanagement:Api", apiId="model")
    # Anonymous: no subscription key, no JWT; the model's API keeps what the auth mode demands.
    assert health.inputs["subscriptionRequired"] is False
    assert model.inputs["subscriptionRequired"] is api_first.AUTH_PLANS[auth].subscription_key

    def of_api(token: str, api: CapturedResource) -> list[CapturedResource]:
        return [
            r
            for r in of_type(res, token)
            if api.urn in set(r.property_dependencies.get("apiId", ()))
        ]

    ops = {
        name: [
            (o.inputs["method"], o.inputs["urlTemplate"])
            for o in of_api(f"{NS}:apimanagement:ApiOperation", api)
        ]
        for name, api in (("model", model), (api_first.HEALTH_API_ID, health))
    }
    policies = {
        name: of_api(f"{NS}:apimanagement:ApiPolicy", api)[0].inputs["value"]
        for name, api in (("model", model), (api_first.HEALTH_API_ID, health))
    }
    assert ops[api_first.HEALTH_API_ID] == [("GET", spec.model.health_path)]
    assert ops["model"] == [("POST", spec.model.predict_path)]
    health_policy, model_policy = policies[api_first.HEALTH_API_ID], policies["model"]
    assert "validate-jwt" not in health_policy
    assert ("<validate-jwt" in model_policy) is api_first.AUTH_PLANS[auth].jwt
    assert "subscription" not in health_policy.lower()
    # Rate-limited per caller IP at the gateway, and only through our Front Door.
    limit = re.search(
        r'<rate-limit-by-key calls="(\d+)" renewal-period="(\d+)" counter-key=(["\'])(.+?)\3',
        health_policy,
    )
    assert limit is not None and "X-Azure-ClientIP" in limit.group(4).replace("&quot;", '"')
    assert "X-Azure-FDID" in health_policy
    # Forwarded to the model's own readiness path: the backend the predict API uses, the path
    # the container's readiness probe checks.
    backend = re.search(r'set-backend-service backend-id="([^"]+)"', health_policy)
    assert (
        backend is not None
        and backend.group(1) == one(res, f"{NS}:apimanagement:Backend").inputs["backendId"]
    )
    (app,) = [a for a in of_type(res, f"{NS}:app:ContainerApp") if a.name.endswith("-model")]
    probes = {
        p["type"]: p["httpGet"]["path"] for p in app.inputs["template"]["containers"][0]["probes"]
    }
    assert probes["Readiness"] == spec.model.health_path


def test_health_url_is_the_routed_path_through_the_same_front_door_route_and_waf() -> None:
    spec, cap = run(Pattern.API_FIRST)
    res = cap.resources
    health = one(res, f"{NS}:apimanagement:Api", apiId=api_first.HEALTH_API_ID)
    route_path = "/" + health.inputs["path"] + spec.model.health_path
    assert route_path == api_first.health_route(spec)
    (route,) = of_type(res, f"{NS}:cdn:Route")
    (waf,) = of_type(res, f"{NS}:cdn:SecurityPolicy")
    patterns = route.inputs["patternsToMatch"]
    waf_patterns = [
        p for a in waf.inputs["parameters"]["associations"] for p in a["patternsToMatch"]
    ]

    def covered(path: str, globs: list[str]) -> bool:
        return any(re.fullmatch(re.escape(g).replace(r"\*", ".*"), path) for g in globs)

    predict = f"/{spec.model.name}{spec.model.predict_path}"
    for path in (route_path, predict):
        assert covered(path, patterns) and covered(path, waf_patterns)
    # The uptime test probes exactly health_url, on the same host as endpoint_url.
    (test,) = of_type(res, f"{NS}:applicationinsights:WebTest")
    assert test.inputs["request"]["httpVerb"] == "GET"
    assert test.inputs["validationRules"]["expectedHttpStatusCode"] == 200
    edge = one(res, f"{NS}:cdn:AFDEndpoint")
    assert edge.urn in set(test.property_dependencies.get("request", ()))
    assert "health_url" in outputs(cap)


# -- exact alarm names ----------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rollback_alarm_names_are_exact_exported_and_the_ones_the_service_accepts(
    pattern: Pattern,
) -> None:
    spec, cap = run(pattern)
    rules = of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
    rollback = [
        r.inputs["ruleName"]
        for r in rules
        if r.inputs["actions"]["customProperties"]["aideploy-rollback"] == "true"
    ]
    expected = [alarm_name(spec, r.key) for r in rollback_alarms(spec)]
    assert sorted(rollback) == sorted(expected)  # registration order is not deterministic
    assert outputs(cap)["rollback_alarms"] == expected
    for r in rules:  # every log alert is named by the neutral rule: <project>-<env>-<key>
        assert r.inputs["ruleName"].startswith(f"{spec.project}-{spec.environment.value}-")
    (service,) = [
        a for a in of_type(cap.resources, f"{NS}:app:ContainerApp") if a.name.endswith("-rollback")
    ]
    env = {e["name"]: e.get("value") for e in service.inputs["template"]["containers"][0]["env"]}
    assert env["ROLLBACK_ALERT_RULES"].split(",") == expected
    # The rollback alerts call the rollback service's action group.
    group = next(
        g
        for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
        if g.name.endswith("-rollback-action")
    )
    for r in rules:
        if r.inputs["ruleName"] in expected:
            assert group.urn in set(r.property_dependencies.get("actions", ()))


# -- signals (E3, E4) ----------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rollback_queries_look_back_past_ingestion_guard_volume_and_compare_with_stable(
    pattern: Pattern,
) -> None:
    spec, cap = run(pattern)
    rules = {
        r.inputs["ruleName"]: r for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
    }
    for rule in rollback_alarms(spec):
        r = rules[alarm_name(spec, rule.key)]
        query = r.inputs["criteria"]["allOf"][0]["query"]
        allowance = monitoring.INGESTION_ALLOWANCE_SECONDS
        # The partial current bin and the last minutes still arriving are dropped.
        assert f"let end = bin(now(), {rule.period_seconds}s) - {allowance}s;" in query
        assert f"let start = end - {rule.period_seconds * rule.evaluation_periods}s;" in query
        window = int(re.fullmatch(r"PT(\d+)M", r.inputs["windowSize"]).group(1))  # type: ignore[union-attr]
        assert window * 60 >= monitoring.lookback_seconds(rule) + rule.period_seconds
        guard = f">= {spec.rollout.min_requests}"
        assert guard in query, rule.key
        if rule.key in ("canary-latency-ratio", "canary-starved"):
            assert "let stable = " in query and "join kind=" in query
    ratio = rules[alarm_name(spec, "canary-latency-ratio")].inputs["criteria"]["allOf"][0]
    assert "p99 / max_of(stable_p99" in ratio["query"]
    assert ratio["threshold"] == spec.rollout.rollback_latency_multiplier
    starved = rules[alarm_name(spec, "canary-starved")]
    assert starved.inputs["enabled"] is True
    assert starved.inputs["criteria"]["allOf"][0]["operator"] == "LessThan"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_without_a_live_candidate_share_the_starved_rule_finds_nothing(pattern: Pattern) -> None:
    spec, cap = run(pattern, candidate=False)
    (starved,) = [
        r
        for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
        if r.inputs["ruleName"] == alarm_name(spec, "canary-starved")
    ]
    assert starved.inputs["enabled"] is True  # still routed (policy S1)
    assert starved.inputs["criteria"]["allOf"][0]["query"].endswith(monitoring.NO_LIVE_SHARE)
    _, live = run(pattern)
    (with_share,) = [
        r
        for r in of_type(live.resources, f"{NS}:monitor:ScheduledQueryRule")
        if r.inputs["ruleName"] == alarm_name(spec, "canary-starved")
    ]
    assert monitoring.NO_LIVE_SHARE not in with_share.inputs["criteria"]["allOf"][0]["query"]


def test_the_candidate_error_rate_counts_the_gateways_own_failures() -> None:
    spec, cap = run(Pattern.API_FIRST)
    (rule,) = [
        r
        for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
        if r.inputs["ruleName"] == alarm_name(spec, "canary-error-rate")
    ]
    query = rule.inputs["criteria"]["allOf"][0]["query"]
    assert query.startswith("let end") and "union (AppRequests" in query
    assert (
        "ApiManagementGatewayLogs" in query and "BackendResponseCode in (0, 502, 503, 504)" in query
    )


def test_the_model_emits_the_service_name_and_version_its_alerts_filter_on() -> None:
    spec, cap = run(Pattern.API_FIRST)
    (app,) = [
        a for a in of_type(cap.resources, f"{NS}:app:ContainerApp") if a.name.endswith("-model")
    ]
    env = {e["name"]: e.get("value") for e in app.inputs["template"]["containers"][0]["env"]}
    version = env["OTEL_RESOURCE_ATTRIBUTES"].removeprefix("service.version=")
    assert version == spec.rollout.candidate_version == env["MODEL_VERSION"]
    rules = {
        r.inputs["ruleName"]: r for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
    }
    query = rules[alarm_name(spec, "canary-error-rate")].inputs["criteria"]["allOf"][0]["query"]
    assert f'AppRoleName == "{env["OTEL_SERVICE_NAME"]}" and AppVersion == "{version}"' in query
    ratio = rules[alarm_name(spec, "canary-latency-ratio")].inputs["criteria"]["allOf"][0]["query"]
    assert f'AppVersion == "{spec.model.version}"' in ratio  # the stable version's own rows


# -- contract 3: the rollback identity's rights ----------


def role_actions(role_definition_id: str, spec: DeploymentSpec) -> tuple[str, ...]:
    from components.azure.security import BUILTIN_ROLES

    guid = role_definition_id.rstrip("/").rsplit("/", 1)[-1]
    for key in roles.CUSTOM_ROLES:
        if roles.custom_role_guid(spec_sub(), spec.project, key) == guid:
            role = roles.CUSTOM_ROLES[key]
            return role.actions + role.data_actions
    builtin = {v: k for k, v in BUILTIN_ROLES.items()}[guid]
    return BUILTIN_ACTIONS[builtin]


def spec_sub() -> str:
    from offline.capture import SUBSCRIPTION_ID

    return SUBSCRIPTION_ID


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_rollback_identity_holds_exactly_what_its_calls_need_where_it_calls(
    pattern: Pattern,
) -> None:
    spec, cap = run(pattern)
    urns = by_urn(cap)
    (identity,) = [
        i
        for i in of_type(cap.resources, f"{NS}:managedidentity:UserAssignedIdentity")
        if i.name.endswith("-id-rollback")
    ]
    grants = [
        g
        for g in of_type(cap.resources, f"{NS}:authorization:RoleAssignment")
        if identity.urn in set(g.property_dependencies.get("principalId", ()))
    ]
    (service,) = [
        a for a in of_type(cap.resources, f"{NS}:app:ContainerApp") if a.name.endswith("-rollback")
    ]
    env = {e["name"]: e.get("value") for e in service.inputs["template"]["containers"][0]["env"]}
    kind = env["ROLLBACK_TARGET_KIND"]
    # The resource each of the service's configured scopes names.
    target_types = {
        "container-app": f"{NS}:app:ContainerApp",
        "ml-online-endpoint": f"{NS}:machinelearningservices:OnlineEndpoint",
    }
    scope_types = {
        "workspace": f"{NS}:operationalinsights:Workspace",
        "target": target_types[kind],
        "insights": f"{NS}:applicationinsights:Component",
    }
    held: dict[str, set[str]] = {}
    for g in grants:
        (scope_urn,) = g.property_dependencies["scope"]
        held.setdefault(urns[scope_urn].type.split(":")[-1], set()).update(
            role_actions(g.inputs["roleDefinitionId"], spec)
        )
    used = [
        c
        for key, c in arm.CALLS.items()
        if not key.endswith(("container-app", "ml-online-endpoint")) or key.endswith(kind)
    ]
    needed: dict[str, set[str]] = {}
    for call in used:
        needed.setdefault(scope_types[call.scope].split(":")[-1], set()).add(call.action)
    # The query right is per table: exactly the tables the sample query reads.
    tables = set(re.findall(r"\((\w+) \| where", env["ROLLBACK_SAMPLE_QUERY"]))
    assert tables == set(roles.ROLLBACK_LOG_TABLES[pattern])
    needed["Workspace"] |= set(roles.log_table_actions(tuple(sorted(tables))))
    # ML endpoints change traffic only through a PUT that restates the endpoint's identity.
    if kind == "ml-online-endpoint":
        needed["UserAssignedIdentity"] = set(roles.ASSIGN_IDENTITY_ACTIONS)
    needed["Component"] |= set(BUILTIN_ACTIONS["monitoring-metrics-publisher"])
    assert held == needed
    # No Monitoring Reader over every log (review B7).
    assert not any(a.endswith("/*/read") or a == "*/read" for acts in held.values() for a in acts)


# -- paging (contract 4) ----------


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker of a secret value


def secret(value: Any) -> Any:
    """The value inside a secret; fails when it is not one (a URL must never be plain)."""
    assert isinstance(value, dict) and SECRET_SIG in value, value
    return value["value"]


def test_each_tier_has_its_own_typed_destinations_with_secret_webhooks() -> None:
    spec, cap = run(Pattern.API_FIRST, routes=True)
    groups = {
        g.name.rsplit("-", 1)[-1]: g
        for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
        if "-alerts-" in g.name
    }
    assert set(groups) == {"page", "ticket", "info"}
    page = groups["page"].inputs
    assert [w["serviceUri"] for w in secret(page["webhookReceivers"])] == [PAGE_URL]
    assert [e["emailAddress"] for e in page["emailReceivers"]] == ["oncall@acme.example"]
    ticket = groups["ticket"].inputs
    assert [w["serviceUri"] for w in secret(ticket["webhookReceivers"])] == [TEAMS_URL]
    assert ticket["emailReceivers"] == []
    # A tier without routes gets the team's e-mails.
    assert [e["emailAddress"] for e in groups["info"].inputs["emailReceivers"]] == list(
        spec.alerts.emails
    )


def test_missing_webhook_secret_fails_the_program() -> None:
    spec = spec_for(Pattern.API_FIRST, routes=True)
    with pytest.raises(Exception, match="pagerduty_url"):
        capture(
            lambda: component_for(spec.cloud, spec.pattern)(spec.project, spec),
            project=spec.project,
            stack="prod",
            region=spec.region,
        )


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rollback_decisions_are_reported_by_tier_and_unverifiable_ones_page(
    pattern: Pattern,
) -> None:
    spec, cap = run(pattern)
    groups = {
        g.urn: g.name.rsplit("-", 1)[-1]
        for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
    }
    rules = {
        r.inputs["ruleName"]: r for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
    }
    for tier, (key, _condition) in monitoring.REPORT_RULES.items():
        r = rules[alarm_name(spec, key)]
        assert {groups[u] for u in r.property_dependencies["actions"]} == {tier.value}
        query = r.inputs["criteria"]["allOf"][0]["query"]
        # It reads the events the service sends, under the name the service sends them with.
        assert f'AppRoleName == "{rollout.rollback_app_name(spec)}"' in query
        assert f'Name == "{monitoring.ROLLBACK_EVENT}"' in query
    from components.azure.rollback_fn import handler

    assert handler.SERVICE_NAME == monitoring.ROLLBACK_EVENT


def test_the_uptime_test_alerts_the_page_tier() -> None:
    spec, cap = run(Pattern.API_FIRST)
    alert = one(
        cap.resources, f"{NS}:monitor:MetricAlert", ruleName=alarm_name(spec, monitoring.UPTIME_KEY)
    )
    page = next(
        g
        for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
        if g.name.endswith("-alerts-page")
    )
    assert page.urn in set(alert.property_dependencies["actions"])
    assert (
        alert.inputs["criteria"]["odataType"]
        == "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
    )


# -- contract 4: tiers routed per environment by the platform (alert processing rules) ---------

ALERT_RULE_TYPES = (f"{NS}:monitor:ScheduledQueryRule", f"{NS}:monitor:MetricAlert")


def _condition(rule: CapturedResource, field: str) -> dict[str, Any]:
    (found,) = [c for c in rule.inputs["properties"]["conditions"] if c["field"] == field]
    return dict(found)


@pytest.mark.parametrize("pattern", [*PATTERNS, Pattern.EVENT_DRIVEN])
def test_each_tier_has_a_processing_rule_adding_its_group_at_its_rules_severity(
    pattern: Pattern,
) -> None:
    _, cap = run(pattern)
    (rg,) = of_type(cap.resources, f"{NS}:resources:ResourceGroup")
    groups = {
        g.urn: g
        for g in of_type(cap.resources, f"{NS}:monitor:ActionGroup")
        if "-alerts-" in g.name
    }
    routing = of_type(cap.resources, f"{NS}:alertsmanagement:AlertProcessingRuleByName")
    by_group: dict[str, CapturedResource] = {}
    for rule in routing:
        props = rule.inputs["properties"]
        (action,) = props["actions"]
        assert action["actionType"] == "AddActionGroups" and props["enabled"] is True
        # Scoped to the stack's resource group (its id), and kept in it.
        (scope,) = props["scopes"]
        assert rg.urn in rule.property_dependencies["properties"]
        assert scope == _fake_id(rg.type, rg.name)  # the mocks' id of that resource group
        assert list(rule.property_dependencies["resourceGroupName"]) == [rg.urn]
        assert rule.inputs["location"] == "Global"
        (group,) = [u for u in rule.property_dependencies["properties"] if u in groups]
        by_group[group] = rule
    # Every tier's group (each has destinations: routes, else the team's e-mails) is added.
    assert set(by_group) == set(groups)
    # The severity each processing rule filters on is the one the stack's rules of that tier
    # use (derived from the captured rules routed to the group), and the stack's own rules,
    # which name their group already, are left out by name (no alert delivered twice).
    rules = [r for t in ALERT_RULE_TYPES for r in of_type(cap.resources, t)]
    assert rules
    for group_urn, processing in by_group.items():
        severity = _condition(processing, "Severity")
        assert severity["operator"] == "Equals"
        own = [r for r in rules if group_urn in r.property_dependencies.get("actions", [])]
        assert {f"Sev{int(r.inputs['severity'])}" for r in own} <= set(severity["values"])
        assert len(severity["values"]) == 1
        excluded = _condition(processing, "AlertRuleName")
        assert excluded["operator"] == "DoesNotContain"
        (prefix,) = excluded["values"]
        assert all(r.inputs["ruleName"].startswith(prefix) for r in rules)
    # One severity per tier, never shared: a severity reaches exactly one tier's group.
    values = [_condition(r, "Severity")["values"][0] for r in by_group.values()]
    assert len(values) == len(set(values))


# -- the rolled-back marker outlives `pulumi up` (E8) ----------


@pytest.mark.parametrize("pattern", [Pattern.API_FIRST, Pattern.MANAGED_PLATFORM])
def test_the_durable_marker_lands_where_the_watch_reads_it_and_no_up_rewrites_it(
    pattern: Pattern,
) -> None:
    from components.azure import release_watch

    _, cap = run(pattern)
    urns = by_urn(cap)
    names = set(outputs(cap)["rollback_alarms"])
    rules = [
        r
        for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
        if r.inputs["ruleName"] in names
    ]
    # The watch queries the workspace the rollback rules are scoped to ...
    scoped = {u for r in rules for u in r.property_dependencies["scopes"]}
    assert {urns[u].type for u in scoped} == {f"{NS}:operationalinsights:Workspace"}
    # ... and the service reports into Application Insights stored in that workspace, under the
    # event name the watch's marker query asks for.
    service = next(
        r
        for r in of_type(cap.resources, f"{NS}:app:ContainerApp")
        if any(
            e["name"] == "ROLLBACK_TARGET_KIND"
            for e in r.inputs["template"]["containers"][0]["env"]
        )
    )
    env = {e["name"]: e for e in service.inputs["template"]["containers"][0]["env"]}
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in env
    insights = of_type(cap.resources, f"{NS}:applicationinsights:Component")
    assert insights and all(
        set(c.property_dependencies["workspaceResourceId"]) == scoped for c in insights
    )
    assert release_watch.ROLLBACK_EVENT == monitoring.ROLLBACK_EVENT
    # Why the tag alone is not the durable marker: the target's tags are the component's input,
    # which the next update of the target writes back (no marker tag among them).
    target_type = {
        Pattern.API_FIRST: f"{NS}:app:ContainerApp",
        Pattern.MANAGED_PLATFORM: f"{NS}:machinelearningservices:OnlineEndpoint",
    }[pattern]
    targets = [r for r in of_type(cap.resources, target_type) if r.urn != service.urn]
    assert targets and all("tags" in t.inputs for t in targets)
    assert all(release_watch.ROLLED_BACK_TAG not in (t.inputs["tags"] or {}) for t in targets)
    # No resource of the stack touches the workspace's AppEvents (a retention shorter than the
    # workspace's would be a table resource of its own).
    assert not [r for r in cap.resources if r.type.endswith("operationalinsights:Table")]
