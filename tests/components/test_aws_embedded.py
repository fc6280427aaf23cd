"""The AWS embedded component composed from its blocks, under mocks, in every environment:
the whole pack passes at the environment's levels with the component's declared waiver, the
device API is watched like every endpoint (S1), and the pattern's outputs are registered."""

from __future__ import annotations

import json

import pytest

from components.aws.embedded import AwsEmbedded, policy_waivers
from components.spec import RELEASE_OUTPUTS, Cloud, DeploymentSpec, Environment, Pattern
from offline.capture import Capture, capture
from policies import pack
from policies.rules import all_policies
from tests.conftest import make_spec, of_type
from tests.policies.harness import evaluate

POLICIES = all_policies()


def embedded_spec(environment: Environment) -> DeploymentSpec:
    """The spec a generated embedded project holds for this stack."""
    return make_spec(Cloud.AWS, Pattern.EMBEDDED, environment)


def run(environment: Environment, *, preview: bool = True) -> Capture:
    spec = embedded_spec(environment)
    return capture(
        lambda: AwsEmbedded(spec.project, spec),
        project=spec.project,
        stack=environment.value,
        region=spec.region,
        preview=preview,
    )


def capture_component(environment: Environment, *, preview: bool) -> dict[str, object]:
    """The component's registered outputs (with ``preview=False``, as after `pulumi up`)."""
    cap = run(environment, preview=preview)
    (component,) = [r for r in cap.resources if r.type == "aideploy:aws:Embedded"]
    return dict(cap.outputs[component.urn])


@pytest.mark.parametrize("environment", list(Environment), ids=lambda e: e.value)
def test_embedded_stack_passes_the_whole_pack(environment: Environment) -> None:
    spec = embedded_spec(environment)
    levels = json.loads(pack.config_path(environment.value).read_text())
    config = {name: {"waivers": []} for name in levels}
    for rule, entry in policy_waivers(spec.project).items():
        config[rule]["waivers"] = entry["waivers"]
    for p in POLICIES:
        schema = (p.config_schema and p.config_schema.properties) or {}
        if "minimumRetentionDays" in schema:
            config[p.name]["minimumRetentionDays"] = spec.retention.log_days
    findings = evaluate(POLICIES, run(environment).resources, config)
    mandatory = [
        (f.policy, f.resource_name, f.message) for f in findings
        if levels.get(f.policy, {}).get("enforcementLevel") == "mandatory"
    ]  # fmt: skip
    assert mandatory == []


def test_without_its_waiver_prod_says_why_the_device_api_has_no_rollback() -> None:
    levels = json.loads(pack.config_path("prod").read_text())
    config = {name: {"waivers": []} for name in levels}
    findings = evaluate(POLICIES, run(Environment.PROD).resources, config)
    s2 = [f for f in findings if f.policy == "aideploy-stack-require-rollback-wired-to-alarms"]
    assert [f.resource_name for f in s2] == ["acme-support-dl-stage"]


def test_the_device_api_is_watched_and_outputs_are_registered() -> None:
    cap = run(Environment.STAGING)
    alarms = of_type(cap.resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    names = {a.inputs["name"] for a in alarms}
    for key in ("latency-p99", "error-rate-5xx", "availability", "device-signature-failures"):
        assert f"acme-support-staging-{key}" in names
    assert not any("canary" in n for n in names)  # no split, no canary alarms
    (component,) = [r for r in cap.resources if r.type == "aideploy:aws:Embedded"]
    outputs = cap.outputs[component.urn]
    declared = set(embedded_spec(Environment.STAGING).outputs)
    assert set(outputs) == declared and set(RELEASE_OUTPUTS) <= declared
    # ci.release's --key and --channel, derived from the resources they must name.
    (key,) = [
        r for r in of_type(cap.resources, "aws:kms/key:Key")
        if r.inputs.get("customerMasterKeySpec") == "ECC_NIST_P256"
    ]  # fmt: skip
    (alias,) = [
        r for r in of_type(cap.resources, "aws:kms/alias:Alias")
        if key.urn in r.property_dependencies.get("targetKeyId", ())
    ]  # fmt: skip
    assert outputs["signing_key"] == f"awskms:{alias.inputs['name']}"
    deployed = capture_component(Environment.STAGING, preview=False)
    # The bucket is auto-named (the mocks give no name): both come from the same bucket output.
    channel = str(deployed["release_channel"])
    assert channel.startswith("s3://")
    assert deployed["model_package_uri"] == f"{channel}/releases/"


def test_each_device_function_is_given_exactly_the_settings_its_code_reads() -> None:
    """The seam between delivery.py (the functions' environment) and the handlers' code."""
    import re

    from components.aws import delivery

    sources = {
        "acme-support-dl": (delivery.HANDLER_DIR / "handler.py").read_text(),
        "acme-support-telemetry": (delivery.TELEMETRY_DIR / "handler.py").read_text(),
    }
    functions = {
        r.name: r for r in of_type(run(Environment.PROD).resources, "aws:lambda/function:Function")
    }
    for name, source in sources.items():
        read = set(re.findall(r"os\.environ(?:\.get\()?\[?\(?\"([A-Z_]+)\"", source))
        given = set(functions[name].inputs["environment"]["variables"])
        assert read and read == given, (name, read, given)
