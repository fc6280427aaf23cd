"""Pure helpers of the Azure package (alarm queries, windows, traffic plans, the function zip)
and its building blocks (api_management.py, container_apps.py, security.py's vault), each run
alone under mocks with explicit inputs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from xml.etree import ElementTree

import pulumi
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage
import pytest

from components.alarms import AlarmRule, Comparison, Signal, Tier, serving_alarms
from components.azure import (
    api_management,
    container_apps,
    hosting,
    monitoring,
    private_link,
    rollout,
    security,
)
from components.spec import Cloud, DeploymentSpec, Environment, GatewayTier, Pattern
from offline.capture import capture
from tests.conftest import make_spec

OPTS = pulumi.ResourceOptions()

LOG = monitoring.RequestLog(
    serving=monitoring.LogView("Requests", "Ms", "Code", 'Api == "a"'),
    candidate=monitoring.LogView("Telemetry", "Dur", "toint(Rc)", 'Version == "2"'),
)


def rule(signal: Signal, comparison: Comparison = Comparison.ABOVE, periods: int = 3) -> AlarmRule:
    return AlarmRule(signal, 0.5, comparison, Tier.PAGE, 60, periods)


# The window covers the periods, the ingestion allowance (5 min) and one period of alignment.
@pytest.mark.parametrize(("periods", "window"), [(1, 10), (2, 10), (3, 10), (5, 15), (10, 30)])
def test_alert_window_rounds_up_to_an_accepted_size(periods: int, window: int) -> None:
    assert monitoring.window_minutes(rule(Signal.LATENCY_P99, periods=periods)) == window


def test_query_requires_every_period_to_breach_above() -> None:
    query = monitoring.alarm_query(rule(Signal.LATENCY_P99), LOG)
    assert query.splitlines() == [
        "let end = bin(now(), 60s) - 300s;",
        "let start = end - 180s;",
        "Requests",
        "| where TimeGenerated >= start and TimeGenerated < end",
        '| where Api == "a"',
        "| summarize value = percentile(Ms, 99) by TimeGenerated = bin(TimeGenerated, 60s)",
        "| summarize value = min(value), periods = count()",
        "| where periods >= 3",
    ]


def test_query_below_threshold_uses_the_best_period() -> None:
    query = monitoring.alarm_query(rule(Signal.AVAILABILITY, Comparison.BELOW), LOG)
    assert "value = max(value)" in query
    assert "1.0 - todouble(countif(Code >= 500)) / count()" in query


def test_canary_signals_read_the_candidate_view() -> None:
    query = monitoring.alarm_query(rule(Signal.CANARY_ERROR_RATE), LOG)
    assert "\nTelemetry | where" in query
    assert 'Version == "2"' in query
    assert "failed = (toint(Rc) >= 500)" in query


def test_every_serving_signal_has_an_expression() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)
    assert {r.signal for r in serving_alarms(spec)} <= set(monitoring.SIGNAL_EXPRESSIONS) | set(
        monitoring.CANDIDATE_SIGNALS
    )


@pytest.mark.parametrize(
    ("version", "suffix"),
    [("1.0.0", "v1-0-0"), ("2024.10.1-rc1", "v2024-10-1-rc1"), ("A_B", "va-b")],
)
def test_revision_suffix(version: str, suffix: str) -> None:
    assert rollout.revision_suffix(version) == suffix


IMAGE = "acmeregistry.azurecr.io/m:2"


@pytest.mark.parametrize(
    ("rollout_settings", "live", "mirror"),
    [
        ({}, {"blue": 100, "green": 0}, {}),
        (
            {
                "candidate_version": "2",
                "candidate_image": IMAGE,
                "canary_percent": 5,
            },
            {"blue": 95, "green": 5},
            {},
        ),
        (
            {
                "candidate_version": "2",
                "candidate_image": IMAGE,
                "canary_percent": 0,
            },
            {"blue": 100, "green": 0},
            {"green": rollout.SHADOW_MIRROR_PERCENT},
        ),
    ],
)
def test_online_endpoint_traffic_phases(
    rollout_settings: dict[str, object], live: dict[str, int], mirror: dict[str, int]
) -> None:
    spec = make_spec(
        Cloud.AZURE, Pattern.MANAGED_PLATFORM, Environment.PROD, {"rollout": rollout_settings}
    )
    traffic = rollout.online_endpoint_traffic(spec)
    assert (traffic.live, traffic.mirror) == (live, mirror)
    assert sum(traffic.live.values()) == 100
    assert traffic.shadow is bool(mirror)


def test_service_code_lists_every_file_of_the_rollback_folder() -> None:
    on_disk = {
        str(p.relative_to(rollout.ROLLBACK_FN_DIR))
        for p in rollout.ROLLBACK_FN_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    # Every file of the folder, plus the one rollout rule shipped beside them.
    assert on_disk | {"rollout_decision.py"} == set(rollout.ROLLBACK_FN_FILES)
    secrets = rollout.code_secrets()
    assert len(secrets) == len(rollout.ROLLBACK_FN_FILES)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name) for name in secrets)
    items = {item.secret_ref: item.path for item in rollout.code_volume_items()}
    assert set(items) == set(secrets)
    assert items["code-decision-py"] == "rollback_fn/decision.py"
    assert secrets["code-decision-py"] == (rollout.ROLLBACK_FN_DIR / "decision.py").read_text()
    assert len(rollout.code_digest()) == 10


def test_revision_name_changes_with_the_template_not_only_the_version() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.DEV)
    bigger = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.DEV, {"capacity": {"cpu": 1}})
    same = rollout.revision_name(spec, "app", "1.0.0", "r/m:1")
    assert same == rollout.revision_name(spec, "app", "1.0.0", "r/m:1")
    assert same.startswith("app--v1-0-0-")
    assert same != rollout.revision_name(bigger, "app", "1.0.0", "r/m:1")
    assert same != rollout.revision_name(spec, "app", "1.0.0", "r/m:2")


# -- building blocks under mocks, with explicit inputs ------------------------------------------
# Each block is run alone (not through a pattern): what it guarantees must hold for any caller.


def _block_resources(spec: DeploymentSpec, build: Callable[[Any, Any], None]) -> list[Any]:
    """Run ``build(rg, workspace)`` under mocks beside a bare group and workspace."""

    def program() -> None:
        rg = resources.ResourceGroup("rg", resource_group_name="rg")
        workspace = operationalinsights.Workspace("logs", resource_group_name=rg.name)
        build(rg, workspace)

    return capture(
        program, project=spec.project, stack=spec.environment.value, region=spec.region
    ).resources


def _one(found: list[Any], name: str) -> Any:
    (match,) = [r for r in found if r.name == name]
    return match


@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_gateway_block_is_hardened_and_logged(environment: Environment) -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, environment)
    made: list[api_management.Gateway] = []

    def build(rg: Any, workspace: Any) -> None:
        made.append(api_management.create_gateway("gw", spec, "gw-1", rg, workspace, OPTS))

    found = _block_resources(spec, build)
    service = _one(found, "gw").inputs
    assert service["serviceName"] == "gw-1" and made[0].host == "gw-1.azure-api.net"
    assert service["customProperties"] == api_management.APIM_TLS_PROPERTIES
    for key, value in service["customProperties"].items():
        if re.search(r"\.(Tls10|Tls11|Ssl30|TripleDes168|TLS_RSA_\w+|\w+_CBC_SHA)$", key):
            assert value == "False", key
    assert service["customProperties"][api_management.APIM_HTTP2_PROPERTY] == "True"
    assert service["legacyPortalStatus"] == "Disabled"
    assert service["developerPortalStatus"] == "Disabled"
    assert service["sku"]["name"] == api_management.APIM_SKU[spec.capacity.gateway_tier]
    assert service["sku"]["capacity"] == api_management.gateway_capacity(spec)
    if spec.capacity.gateway_tier is GatewayTier.DEVELOPER:
        assert service["sku"]["capacity"] == 1
    assert "identity" not in service  # no identity unless the caller gives one
    logs = _one(found, "gw-diagnostics").inputs
    assert logs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_gateway_block_signs_in_as_the_identity_it_is_given() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)

    def build(rg: Any, workspace: Any) -> None:
        who = security.identity(spec, "x", "gateway", rg, OPTS)
        api_management.create_gateway("gw", spec, "gw-1", rg, workspace, OPTS, who)

    identity = _one(_block_resources(spec, build), "gw").inputs["identity"]
    assert identity["type"] == "UserAssigned"
    assert len(identity["userAssignedIdentities"]) == 1


def test_backend_api_and_policy_blocks() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)

    def build(rg: Any, workspace: Any) -> None:
        gw = api_management.create_gateway("gw", spec, "gw-1", rg, workspace, OPTS).service
        backend = api_management.create_backend("be", rg, gw, "svc", "https://svc", OPTS)
        api = api_management.create_api("api", rg, gw, "a", "A", "a", "https://svc", OPTS)
        xml = api_management.policy_document([], "svc")
        api_management.create_api_policy("pol", rg, gw, api, xml, [backend], OPTS)

    found = _block_resources(spec, build)
    assert _one(found, "be").inputs["tls"] == {
        "validateCertificateChain": True,
        "validateCertificateName": True,
    }
    api = _one(found, "api").inputs
    assert api["protocols"] == ["https"] and api["subscriptionRequired"] is False
    policy = _one(found, "pol")
    assert policy.inputs["format"] == "rawxml" and policy.inputs["policyId"] == "policy"
    assert _one(found, "be").urn in policy.dependencies


def test_policy_fragments_compose_a_well_formed_policy() -> None:
    xml = api_management.policy_document(
        [
            *api_management.validate_jwt_policy("https://issuer.example/", "devices&co"),
            "",  # an optional fragment left out
            *api_management.consumer_limits_policy(100, 50, 1000, "@(context.Subscription.Id)"),
            *api_management.size_limit_policy(4096),
        ],
        "model",
        removed_headers=("X-Powered-By", "X-AspNet-Version"),
    )
    root = ElementTree.fromstring(xml)
    inbound = root.find("inbound")
    assert inbound is not None
    jwt = inbound.find("validate-jwt")
    assert jwt is not None and jwt.get("require-signed-tokens") == "true"
    config = jwt.find("openid-config")
    assert config is not None
    assert config.get("url") == "https://issuer.example/.well-known/openid-configuration"
    assert jwt.findtext("audiences/audience") == "devices&co"
    rate = inbound.find("rate-limit-by-key")
    assert rate is not None and (rate.get("calls"), rate.get("renewal-period")) == ("100", "2")
    quota = inbound.find("quota-by-key")
    assert quota is not None and quota.get("renewal-period") == "86400"
    backend = inbound.find("set-backend-service")
    assert backend is not None and backend.get("backend-id") == "model"
    removed = {h.get("name") for h in root.iterfind("outbound/set-header")}
    assert removed == {"X-Powered-By", "X-AspNet-Version"}
    assert "\n\n" not in xml


def test_ingress_admits_the_gateway_addresses_alone() -> None:
    seen: list[Any] = []

    def program() -> None:
        addresses = pulumi.Output.from_input(["1.2.3.4", "5.6.7.8"])
        gateway = SimpleNamespace(public_ip_addresses=addresses)
        rules = api_management.ingress_allow_list(cast(Any, gateway))
        rules.apply(seen.extend)

    capture(program, project="p", stack="dev", region="westeurope")
    assert [(r.ip_address_range, r.action) for r in seen] == [
        ("1.2.3.4/32", "Allow"),
        ("5.6.7.8/32", "Allow"),
    ]
    ingress = container_apps.https_ingress(8080)
    assert ingress.external is True and ingress.allow_insecure is False


def test_code_package_names_the_revision_after_its_content(tmp_path: Path) -> None:
    (tmp_path / "Server.py").write_text("print(1)\n")
    package = container_apps.CodePackage("pkg", {"Server.py": tmp_path / "Server.py"})
    assert package.secrets() == {"code-server-py": "print(1)\n"}
    (item,) = package.volume_items()
    assert (item.secret_ref, item.path) == ("code-server-py", "pkg/Server.py")
    before = package.revision_suffix
    assert re.fullmatch(r"code-[0-9a-f]{10}", before)
    (tmp_path / "Server.py").write_text("print(2)\n")
    assert package.revision_suffix != before


def test_container_app_block_is_hardened(tmp_path: Path) -> None:
    spec = make_spec(Cloud.AZURE, Pattern.EMBEDDED, Environment.PROD)
    (tmp_path / "server.py").write_text("pass\n")
    code = container_apps.CodePackage("svc_fn", {"server.py": tmp_path / "server.py"})

    def build(rg: Any, workspace: Any) -> None:
        env = hosting.container_environment(spec, "x", "env", rg, workspace, OPTS)
        container_apps.create_container_app(
            "svc",
            spec,
            "svc-app",
            rg,
            env,
            ["/id/one"],
            container_apps.Container(
                name="svc",
                image="mcr.microsoft.com/azurelinux/base/python:3.12",
                cpu=0.25,
                memory="0.5Gi",
                port=8080,
                health_path="/healthz",
                env={**container_apps.CODE_SETTINGS, "A": "1"},
                command=["python3", "-m", "svc_fn.server"],
                code=code,
            ),
            container_apps.https_ingress(8080),
            container_apps.http_scale(0, 2, 10),
            OPTS,
            extra_tags={"marker": "yes"},
        )

    inputs = _one(_block_resources(spec, build), "svc").inputs
    assert inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": ["/id/one"]}
    config = inputs["configuration"]
    assert config["activeRevisionsMode"] == "Single"
    assert config["ingress"]["allowInsecure"] is False
    assert config["secrets"] == [{"name": "code-server-py", "value": "pass\n"}]
    template = inputs["template"]
    assert template["revisionSuffix"] == code.revision_suffix
    (container,) = template["containers"]
    assert {p["type"] for p in container["probes"]} == {"Liveness", "Readiness"}
    assert all(p["httpGet"] == {"path": "/healthz", "port": 8080} for p in container["probes"])
    assert container["volumeMounts"] == [{"volumeName": "code", "mountPath": "/app"}]
    assert template["volumes"][0]["storageType"] == "Secret"
    assert template["scale"]["rules"][0]["http"]["metadata"] == {"concurrentRequests": "10"}
    assert inputs["tags"] == {**spec.standard_tags(), "marker": "yes"}


@pytest.mark.parametrize(("hsm", "public"), [(False, False), (True, True)])
def test_vault_block_is_rbac_only_purge_protected_and_private_by_default(
    hsm: bool, public: bool
) -> None:
    spec = make_spec(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)

    def build(rg: Any, workspace: Any) -> None:
        vault = security.hardened_vault("kv", spec, "kv-1", rg, OPTS, hsm=hsm, public=public)
        security.deployer_key_creator("kv", spec, vault, "key", OPTS)

    found = _block_resources(spec, build)
    vault = _one(found, "kv")
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["softDeleteRetentionInDays"] == security.SOFT_DELETE_DAYS
    assert props["sku"]["name"] == ("premium" if hsm else "standard")
    assert props["publicNetworkAccess"] == ("Enabled" if public else "Disabled")
    assert props["networkAcls"]["defaultAction"] == ("Allow" if public else "Deny")
    assert not any(props[k] for k in ("enabledForDeployment", "enabledForDiskEncryption"))
    assert vault.protect is spec.retention.deletion_protection
    grant = _one(found, "kv-deployer-grant")
    # The key-creator role on this vault alone.
    assert vault.urn in grant.property_dependencies["scope"]
    assert grant.inputs["description"].endswith("this vault's key (key-creator role)")
    assert grant.urn in _one(found, "kv-deployer-wait").dependencies


def test_storage_logs_block_logs_the_account_and_its_blob_service() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.EVENT_DRIVEN, Environment.PROD)

    def build(rg: Any, workspace: Any) -> None:
        account = storage.StorageAccount(
            "st",
            resource_group_name=rg.name,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_ZRS"),
        )
        security.storage_logs("st", account, workspace, OPTS)

    found = _block_resources(spec, build)
    account = _one(found, "st")
    for name in ("st-diagnostics", "st-blob-diagnostics"):
        setting = _one(found, name)
        assert account.urn in setting.property_dependencies["resourceUri"]
        assert setting.inputs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_private_endpoint_block_registers_in_its_zones_and_never_auto_registers() -> None:
    spec = make_spec(Cloud.AZURE, Pattern.MANAGED_PLATFORM, Environment.PROD)

    def build(rg: Any, workspace: Any) -> None:
        zones = [
            (f"zone{i}", private_link.create_private_zone(f"z{i}", spec, z, rg, "/vnet", OPTS))
            for i, z in enumerate(("privatelink.a.example", "privatelink.b.example"))
        ]
        private_link.create_private_endpoint(
            "pe", spec, rg, "/vnet/subnets/pe", "svc", "/svc", "amlworkspace", zones, OPTS
        )

    found = _block_resources(spec, build)
    for i in range(2):
        link = _one(found, f"z{i}-link").inputs
        assert link["registrationEnabled"] is False
        assert link["virtualNetwork"] == {"id": "/vnet"}
    endpoint = _one(found, "pe")
    (connection,) = endpoint.inputs["privateLinkServiceConnections"]
    assert connection == {
        "name": "svc",
        "privateLinkServiceId": "/svc",
        "groupIds": ["amlworkspace"],
    }
    assert endpoint.inputs["subnet"]["id"] == "/vnet/subnets/pe"
    group = _one(found, "pe-dns")
    assert [c["name"] for c in group.inputs["privateDnsZoneConfigs"]] == ["zone0", "zone1"]
    assert endpoint.urn in group.dependencies
