"""The Azure embedded component composed from its blocks, under mocks, in every environment:
the whole pack passes at the environment's levels with the component's declared waivers, the
device API is watched like every endpoint (S1), the outputs are registered, and the seams
between the blocks hold (derived from the captured resources)."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components import embedded_telemetry as telemetry
from components.alarms import Tier, alarm_name, endpoint_alarms
from components.azure import delivery, monitoring, release_channel, roles, security
from components.azure.device_fn import server
from components.azure.embedded import POLICY_WAIVERS, AzureEmbedded, policy_waivers
from components.release_signers import AzureKeyVaultSigner
from components.spec import Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import SUBSCRIPTION_ID, Capture, CapturedResource, capture
from policies import pack
from policies.rules import all_policies
from tests.conftest import make_spec, of_type
from tests.policies.harness import evaluate

POLICIES = all_policies()
NS = "azure-native"
DEPLOYER = "33333333-3333-3333-3333-333333333333"  # the mocks' getClientConfig object id


def embedded_spec(environment: Environment) -> DeploymentSpec:
    """The sample project's spec for the embedded pattern (not generated yet: the pattern
    is planned in the registry, so the api-first sample stands in with its pattern changed)."""
    return make_spec(Cloud.AZURE, Pattern.API_FIRST, environment).model_copy(
        update={"pattern": Pattern.EMBEDDED}
    )


@cache
def run(environment: Environment) -> Capture:
    spec = embedded_spec(environment)
    return capture(
        lambda: AzureEmbedded(spec.project, spec),
        project=spec.project,
        stack=environment.value,
        region=spec.region,
    )


def arm_id(r: CapturedResource) -> str:
    """The id the mocks give a resource (offline/capture.py: a hash of type and name)."""
    return hashlib.sha256(f"{r.type}/{r.name}".encode()).hexdigest()[:12]


def named(cap: Capture, suffix: str) -> CapturedResource:
    (found,) = [r for r in cap.resources if r.name == f"acme-support-{suffix}"]
    return found


def pack_config(environment: Environment, waived: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = embedded_spec(environment)
    levels = json.loads(pack.config_path(environment.value).read_text())
    config: dict[str, Any] = {name: {"waivers": []} for name in levels}
    if waived:
        for rule, entry in policy_waivers(spec.project).items():
            config[rule]["waivers"] = entry["waivers"]
    for p in POLICIES:
        schema = (p.config_schema and p.config_schema.properties) or {}
        if "minimumRetentionDays" in schema:
            config[p.name]["minimumRetentionDays"] = spec.retention.log_days
    return levels, config


@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_embedded_stack_passes_the_whole_pack(environment: Environment) -> None:
    levels, config = pack_config(environment, waived=True)
    findings = evaluate(POLICIES, run(environment).resources, config)
    mandatory = [
        (f.policy, f.resource_name, f.message) for f in findings
        if levels.get(f.policy, {}).get("enforcementLevel") == "mandatory"
    ]  # fmt: skip
    assert mandatory == []


def test_each_waiver_is_needed_names_a_real_resource_and_says_why() -> None:
    """Without its waivers prod fails exactly the waived rules on exactly the waived
    resources: no waiver is decorative, none hides anything else."""
    levels, config = pack_config(Environment.PROD, waived=False)
    cap = run(Environment.PROD)
    findings = evaluate(POLICIES, cap.resources, config)
    failed = {
        (f.policy, f.resource_name) for f in findings
        if levels.get(f.policy, {}).get("enforcementLevel") == "mandatory"
    }  # fmt: skip
    waived = {
        (rule, f"acme-support-{suffix}")
        for rule, entries in POLICY_WAIVERS.items()
        for suffix, _ in entries
    }
    assert failed == waived
    names = {r.name for r in cap.resources}
    for _, resource in waived:
        assert resource in names
    for entries in POLICY_WAIVERS.values():
        assert all(len(reason) > 80 for _, reason in entries)


def test_outputs_are_registered_exactly() -> None:
    spec = embedded_spec(Environment.STAGING)
    cap = run(Environment.STAGING)
    (component,) = [r for r in cap.resources if r.type == "aideploy:azure:Embedded"]
    outputs = cap.outputs[component.urn]
    declared = set(spec.outputs)
    assert set(outputs) == declared
    account = named(cap, "st-releases").inputs["accountName"]
    assert outputs["release_channel"] == f"azblob://{account}/models"
    assert outputs["artifact_bucket"] == f"https://{account}.blob.core.windows.net/models"
    assert outputs["model_package_uri"] == outputs["artifact_bucket"] + "/releases/"
    assert outputs["kms_key_id"].endswith("/keys/cmk")
    assert outputs["alert_topic"] == arm_id(named(cap, "alerts-page"))
    gateway = named(cap, "dl-apim").inputs["serviceName"]
    assert outputs["device_api_url"] == f"https://{gateway}.azure-api.net/devices"
    assert outputs["release_reader"] == "77777777-7777-7777-7777-777777777777"  # mocks' client id


def test_the_signing_key_output_is_what_the_key_vault_signer_takes() -> None:
    cap = run(Environment.PROD)
    (component,) = [r for r in cap.resources if r.type == "aideploy:azure:Embedded"]
    scheme, _, identifier = cap.outputs[component.urn]["signing_key"].partition(":")
    assert scheme == "azurekv"
    AzureKeyVaultSigner(identifier, send=lambda *a: (500, None), token=lambda: "t")  # accepted
    vault = named(cap, "sign-kv").inputs["vaultName"]
    key = named(cap, "signing-key").inputs["keyName"]
    assert identifier == f"https://{vault}.vault.azure.net/keys/{key}"


def test_only_the_deployer_signs_with_release_signer_on_the_key_alone() -> None:
    cap = run(Environment.STAGING)
    key = named(cap, "signing-key")
    signer_role = security.role_definition_path(
        SUBSCRIPTION_ID,
        roles.custom_role_guid(SUBSCRIPTION_ID, "acme-support", roles.RELEASE_SIGNER),
    )
    grants = [
        g for g in of_type(cap.resources, f"{NS}:authorization:RoleAssignment")
        if g.inputs["roleDefinitionId"] == signer_role
    ]  # fmt: skip
    assert [g.name for g in grants] == ["acme-support-signing-key-signer-grant"]
    (grant,) = grants
    assert grant.inputs["scope"] == arm_id(key)
    assert set(grant.property_dependencies["scope"]) == {key.urn}
    assert grant.inputs["principalId"] == DEPLOYER  # whoever runs `pulumi up`: the deployer
    assert grant.inputs["principalType"] == "ServicePrincipal"
    # Nothing else holds any role on the key or its vault, except the deployer's key creator.
    vault = named(cap, "sign-kv")
    on_vault = [
        g
        for g in of_type(cap.resources, f"{NS}:authorization:RoleAssignment")
        if {vault.urn, key.urn} & set(g.property_dependencies.get("scope", ()))
    ]
    assert sorted(g.name for g in on_vault) == [
        "acme-support-sign-kv-deployer-grant",
        "acme-support-signing-key-signer-grant",
    ]


def test_the_deployer_publishes_into_the_container_alone_and_cannot_delete() -> None:
    cap = run(Environment.PROD)
    grant = named(cap, "releases-publisher-grant")
    assert grant.inputs["roleDefinitionId"].endswith(
        roles.custom_role_guid(SUBSCRIPTION_ID, "acme-support", roles.RELEASE_PUBLISHER)
    )
    assert set(grant.property_dependencies["scope"]) == {named(cap, "releases").urn}
    assert grant.inputs["principalId"] == DEPLOYER
    actions = roles.CUSTOM_ROLES[roles.RELEASE_PUBLISHER].data_actions
    assert not [a for a in actions if a.endswith(("/delete", "/move/action"))]


def test_the_reader_reads_only_the_releases_container() -> None:
    cap = run(Environment.PROD)
    reader = named(cap, "id-release-reader")
    container = named(cap, "releases")
    grants = [
        g for g in of_type(cap.resources, f"{NS}:authorization:RoleAssignment")
        if reader.urn in g.property_dependencies.get("principalId", [])
    ]  # fmt: skip
    assert len(grants) == 1
    (grant,) = grants
    assert grant.inputs["roleDefinitionId"].endswith(
        security.BUILTIN_ROLES["storage-blob-data-reader"]
    )
    assert grant.inputs["scope"] == arm_id(container)
    assert set(grant.property_dependencies["scope"]) == {container.urn}


def test_the_device_service_reads_the_container_and_signs_sas_on_the_account_only() -> None:
    cap = run(Environment.PROD)
    ident = named(cap, "id-devices")
    grants = {
        g.inputs["roleDefinitionId"].rsplit("/", 1)[-1]: g
        for g in of_type(cap.resources, f"{NS}:authorization:RoleAssignment")
        if ident.urn in g.property_dependencies.get("principalId", [])
    }
    reader = security.BUILTIN_ROLES["storage-blob-data-reader"]
    delegator = security.BUILTIN_ROLES["storage-blob-delegator"]
    assert set(grants) == {reader, delegator}
    assert set(grants[reader].property_dependencies["scope"]) == {named(cap, "releases").urn}
    assert set(grants[delegator].property_dependencies["scope"]) == {named(cap, "st-releases").urn}
    # The service starts after its grants propagated.
    wait = named(cap, "dl-grants-wait")
    assert wait.urn in named(cap, "dl").dependencies


def _settings(app: CapturedResource) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in app.inputs["template"]["containers"][0]["env"]}


def test_the_device_service_is_given_exactly_the_settings_its_code_reads() -> None:
    """The seam between delivery.py (the app's environment) and device_fn's code."""
    source = "\n".join(
        (delivery.DEVICE_FN_DIR / f).read_text() for f in ("server.py", "channel.py")
    )
    read = set(re.findall(r"(?:env|os\.environ)(?:\.get\(|\[)\"([A-Z_]+)\"", source))
    app = named(run(Environment.PROD), "dl")
    given = set(_settings(app)) - set(delivery.INTERPRETER_SETTINGS)
    assert read - set(server.PLATFORM_SETTINGS) == given
    settings = _settings(app)
    assert (
        settings["CHANNEL_ACCOUNT"]
        == named(run(Environment.PROD), "st-releases").inputs["accountName"]
    )
    assert settings["CHANNEL_CONTAINER"] == release_channel.CONTAINER
    assert int(settings["URL_SECONDS"]) <= 3600
    # The code mounted is exactly the files the service imports.
    volume = app.inputs["template"]["volumes"][0]
    assert {i["path"] for i in volume["secrets"]} == {
        f"device_fn/{f}" for f in delivery.DEVICE_FN_SOURCES
    }
    assert app.inputs["template"]["containers"][0]["command"][-1] == "device_fn.server"


def test_the_service_admits_only_the_gateway_and_the_gateway_validates_the_specs_jwt() -> None:
    spec = embedded_spec(Environment.PROD)
    cap = run(Environment.PROD)
    app = named(cap, "dl")
    ingress = app.inputs["configuration"]["ingress"]
    assert ingress["external"] is True and ingress.get("allowInsecure") is False
    gateway = named(cap, "dl-apim")
    assert gateway.urn in app.property_dependencies["configuration"]
    api = named(cap, "dl-api")
    assert api.inputs["subscriptionRequired"] is False
    policy = named(cap, "dl-api-policy").inputs["value"]
    issuer, audience = spec.api.jwt()
    assert f"<issuer>{issuer}</issuer>" in policy
    assert f"<audience>{audience}</audience>" in policy
    assert issuer.rstrip("/") + "/.well-known/openid-configuration" in policy
    assert 'require-signed-tokens="true"' in policy
    assert policy.index("<validate-jwt") < policy.index("<set-backend-service")
    operations = {
        (o.inputs["method"], o.inputs["urlTemplate"])
        for o in of_type(cap.resources, f"{NS}:apimanagement:ApiOperation")
    }
    assert operations == {("GET", "/releases/latest"), ("POST", "/telemetry")}


def test_alarms_route_to_their_tiers_action_groups() -> None:
    spec = embedded_spec(Environment.STAGING)
    cap = run(Environment.STAGING)
    groups = {t: named(cap, f"alerts-{t.value}").urn for t in Tier}
    rules = {
        r.inputs["ruleName"]: r for r in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule")
    }
    for rule in telemetry.ALARMS:
        alert = rules[alarm_name(spec, rule.key)]
        assert set(alert.property_dependencies["actions"]) == {groups[Tier(rule.tier)]}
        assert alert.inputs["severity"] == monitoring.TIER_SEVERITY[Tier(rule.tier)]
        query = alert.inputs["criteria"]["allOf"][0]["query"]
        assert delivery.device_app_name(spec) in query and rule.metric in query
    signature = rules[alarm_name(spec, "device-signature-failures")]
    assert set(signature.property_dependencies["actions"]) == {groups[Tier.PAGE]}
    # The endpoint alarms (S1) on the gateway's log, each to its tier, none rolls back.
    for endpoint_rule in endpoint_alarms(spec):
        alert = rules[alarm_name(spec, endpoint_rule.key)]
        assert set(alert.property_dependencies["actions"]) == {groups[endpoint_rule.tier]}
        assert 'ApiId == "devices"' in alert.inputs["criteria"]["allOf"][0]["query"]
    assert not any("canary" in n for n in rules)


def test_report_lines_are_what_the_alerts_parse() -> None:
    """The seam between the service's log line and the alerts' KQL."""
    report = telemetry.parse(
        {"device": "d", "model_version": "1", "app_version": "1", "signature_failures": 2}
    )
    line = json.loads(server.report_line(report, telemetry.metrics(report, 5), "prod"))
    assert line["event"] == delivery.REPORT_EVENT == server.REPORT_EVENT
    assert line["environment"] == "prod"
    for rule in telemetry.ALARMS:
        assert rule.metric in line
        query = delivery.telemetry_query(rule, "app", "prod")
        assert f"report.{rule.metric}" in query and '"prod"' in query


def test_azure_names_fit_azures_rules() -> None:
    """Mocks accept any name; Azure does not."""
    for env in Environment:
        cap = run(env)
        for account in of_type(cap.resources, f"{NS}:storage:StorageAccount"):
            assert re.fullmatch(r"[a-z0-9]{3,24}", account.inputs["accountName"])
        for vault in of_type(cap.resources, f"{NS}:keyvault:Vault"):
            assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", vault.inputs["vaultName"])
            assert "--" not in vault.inputs["vaultName"]
        for key in of_type(cap.resources, f"{NS}:keyvault:Key"):
            assert re.fullmatch(r"[a-zA-Z0-9-]{1,127}", key.inputs["keyName"])
        for container in of_type(cap.resources, f"{NS}:storage:BlobContainer"):
            assert re.fullmatch(
                r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", container.inputs["containerName"]
            )
        for app in of_type(cap.resources, f"{NS}:app:ContainerApp"):
            assert re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", app.inputs["containerAppName"])
            for secret in app.inputs["configuration"]["secrets"]:
                assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", secret["name"])
        for gateway in of_type(cap.resources, f"{NS}:apimanagement:ApiManagementService"):
            assert re.fullmatch(
                r"[a-zA-Z][a-zA-Z0-9-]{0,48}[a-zA-Z0-9]", gateway.inputs["serviceName"]
            )
        for rule in of_type(cap.resources, f"{NS}:monitor:ScheduledQueryRule"):
            window = rule.inputs["windowSize"]
            assert window in {
                "PT1M",
                "PT5M",
                "PT10M",
                "PT15M",
                "PT30M",
                "PT45M",
                "PT1H",
                "PT2H",
                "PT3H",
                "PT4H",
                "PT5H",
                "PT6H",
                "P1D",
                "P2D",
            }, window


def test_the_release_channel_output_is_what_the_blob_publisher_takes() -> None:
    """The seam between the component's ``release_channel`` output and ``ci.release publish``:
    the output parses into the publisher of the captured account and container."""
    from components.release_channels import AzureBlobChannel
    from components.release_cli import channel_for

    cap = run(Environment.PROD)
    (component,) = [r for r in cap.resources if r.type == "aideploy:azure:Embedded"]
    channel = channel_for(cap.outputs[component.urn]["release_channel"])
    assert isinstance(channel, AzureBlobChannel)
    assert channel.account == named(cap, "st-releases").inputs["accountName"]
    assert channel.container == named(cap, "releases").inputs["containerName"]


def test_the_release_publisher_role_allows_exactly_what_the_publisher_calls(
    tmp_path: Path,
) -> None:
    """Publishing twice (the second overwrites the pointer) against a Blob double that grants
    the release publisher role's data actions alone: every call is allowed, and the role holds
    only actions that authorize those calls (Get Blob: read; Put Blob of a new blob: add or
    write; Put Blob over the pointer: write). No delete, and without read or write it fails."""
    from datetime import timedelta

    from components import release_manifest as rm
    from components.release_channels import AzureBlobChannel, ChannelError
    from tests.unit.test_release_channels import (
        ACCOUNT,
        AUTHORIZED_BY,
        CONTAINER,
        READ,
        WRITE,
        FakeBlob,
        signed_model,
    )

    model, signer, public = signed_model(tmp_path)
    bundles = [
        rm.sign(model, signer, name="m", version=f"1.{n}", sequence=n,
                expires_in=timedelta(days=9))
        for n in (1, 2)
    ]  # fmt: skip
    role = frozenset(roles.CUSTOM_ROLES[roles.RELEASE_PUBLISHER].data_actions)

    def publish(granted: frozenset[str]) -> FakeBlob:
        blob = FakeBlob(granted)
        channel = AzureBlobChannel(ACCOUNT, CONTAINER, send=blob.send, token=lambda: "token")
        for bundle in bundles:
            channel.publish(model, bundle, public)
        return blob

    blob = publish(role)
    called = {operation for operation, _ in blob.operations}
    assert called == {"Get Blob", "Put Blob (new)", "Put Blob (overwrite)"}
    assert role == frozenset().union(*(AUTHORIZED_BY[op] for op in called))
    assert not [a for a in role if a.endswith(("/delete", "/move/action", "/tags/write"))]
    for needed in (READ, WRITE):
        with pytest.raises(ChannelError, match="AuthorizationPermissionMismatch"):
            publish(role - {needed})
