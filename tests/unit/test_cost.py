"""Pricing rules of `aideploy cost`, on resources captured from real components under mocks.

Expected prices are derived from the price table and from the captured inputs, never typed in:
a test then holds the rule (which input, which rate, which multiplier), and a price update in
the table does not break it.
"""

from __future__ import annotations

import base64
import dataclasses
import fractions
import pickle
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from components.spec import Cloud, DeploymentSpec, Environment, Pattern, region_known
from offline.capture import CapturedResource
from offline.program import StackRun
from stacks.cost import (
    ANY_CLOUD,
    FREE_BASIS,
    NOT_IN_TABLE,
    USAGE_PREFIX,
    CostError,
    CostItem,
    CostReport,
    Kind,
    dynamic_provider_class,
    estimate_run,
    load_price_tables,
    parse_number,
    price_resource,
    price_token,
    render_text,
    unversioned,
)
from tests.conftest import make_spec, of_type, run_component

HOURS = 730.0


@cache
def _captured(
    cloud: Cloud, pattern: Pattern, env: Environment
) -> tuple[DeploymentSpec, tuple[CapturedResource, ...]]:
    """One real component run per (cloud, pattern, environment), shared by the tests."""
    spec = make_spec(cloud, pattern, env)
    return spec, tuple(run_component(spec).resources)


def _report(cloud: Cloud, pattern: Pattern, env: Environment) -> CostReport:
    spec, resources = _captured(cloud, pattern, env)
    return estimate_run(StackRun(spec.project, env.value, list(resources), {}, {}), spec)


def _entries() -> dict[str, Mapping[str, Any]]:
    merged: dict[str, Mapping[str, Any]] = {}
    for table in load_price_tables():
        merged.update(table.entries)
    return merged


def _item(report: CostReport, token: str, name: str | None = None) -> CostItem:
    (item,) = [
        i
        for i in report.items
        if unversioned(i.resource_type) == token and (name is None or i.resource_name == name)
    ]
    return item


def _one(resources: tuple[CapturedResource, ...], token: str, name: str) -> CapturedResource:
    (resource,) = [r for r in of_type(list(resources), token) if r.name == name]
    return resource


def _referenced(
    resource: CapturedResource, key: str, resources: tuple[CapturedResource, ...]
) -> CapturedResource:
    """The resource an input refers to, found the way Pulumi records it (its URN)."""
    (urn,) = resource.property_dependencies[key]
    (target,) = [r for r in resources if r.urn == urn]
    return target


def _resource(token: str, inputs: dict[str, Any], name: str = "thing") -> CapturedResource:
    return CapturedResource(token, name, f"urn:pulumi:dev::p::{token}::{name}", "", True, inputs)


# --- the table ----------------------------------------------------------------------------------


def test_price_tables_are_dated_sourced_and_one_per_cloud() -> None:
    tables = load_price_tables()
    assert sorted(t.cloud for t in tables) == sorted([ANY_CLOUD, *(c.value for c in Cloud)])
    for table in tables:
        assert re.fullmatch(r"20\d\d-\d\d-\d\d", table.as_of)
        assert table.currency == "USD"
        if table.cloud == ANY_CLOUD:  # helpers that live only in the Pulumi state
            assert all(e["rule"] == "free" for e in table.entries.values())
            continue
        assert region_known(Cloud(table.cloud), table.region)
        for token, entry in table.entries.items():
            assert entry["rule"] == "free" or entry["source"].startswith("https://"), token


BAD_ENTRIES = {
    "unknown rule": {"rule": "yearly", "source": "https://example.com"},
    "fixed without a price": {"rule": "fixed", "source": "https://example.com"},
    "priced without a source": {"rule": "hourly", "hourly": 0.1},
    "negative price": {"rule": "fixed", "monthly": -1, "source": "https://example.com"},
    "unknown key": {"rule": "fixed", "monthly": 1, "per": "year", "source": "https://x.io"},
    "quantity with two sources": {
        "rule": "fixed",
        "monthly": 1,
        "quantity": {"path": "a", "count": "b"},
        "source": "https://example.com",
    },
    "usage without unit prices": {"rule": "usage", "usage": [], "source": "https://x.io"},
    "misspelt spec path": {
        "rule": "fixed",
        "monthly": 1,
        "quantity": {"path": "a", "spec": "capacity.min_instance"},
        "source": "https://example.com",
    },
    "sku case without a rule": {
        "rule": "sku",
        "key": "sku.name",
        "cases": {"Basic": {"monthly": 1}},
        "source": "https://example.com",
    },
}


def _write_table(directory: Path, name: str, types: dict[str, Any]) -> None:
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    table = {
        "cloud": name,
        "as_of": "2026-11-01",
        "currency": "USD",
        "region": "r",
        "hours_per_month": 730,
        "types": types,
    }
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(table))


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_a_malformed_entry_fails_at_load_naming_it(tmp_path: Path, case: str) -> None:
    _write_table(tmp_path, "aws", {"aws:x/y:Broken": BAD_ENTRIES[case]})
    with pytest.raises(CostError, match="aws:x/y:Broken"):
        load_price_tables(tmp_path)


def test_a_type_priced_in_two_tables_fails(tmp_path: Path) -> None:
    for cloud in ("aws", "other"):
        _write_table(tmp_path, cloud, {"aws:x/y:Twice": {"rule": "free"}})
    with pytest.raises(CostError, match="aws:x/y:Twice"):
        load_price_tables(tmp_path)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("azure-native:storage/v20230101:StorageAccount", "azure-native:storage:StorageAccount"),
        ("azure-native:app/v20240301preview:Job", "azure-native:app:Job"),
        ("azure-native:storage:StorageAccount", "azure-native:storage:StorageAccount"),
        ("aws:ec2/vpc:Vpc", "aws:ec2/vpc:Vpc"),
    ],
)
def test_unversioned_drops_only_an_azure_api_version(token: str, expected: str) -> None:
    assert unversioned(token) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, 2.0),
        ("512", 512.0),
        ("500m", 0.5),
        ("1Gi", 2.0**30),
        ("1024Mi", 2.0**30),
        ("0.5Gi", 2.0**29),
        (True, None),
        ("lots", None),
        (None, None),
    ],
)
def test_parse_number_reads_kubernetes_style_quantities(value: Any, expected: float) -> None:
    assert parse_number(value) == expected


def test_a_generic_dynamic_resource_is_known_by_its_provider_class() -> None:
    # A provider pickled by reference (as Pulumi does for one defined in a module), read
    # without unpickling it.
    provider = base64.b64encode(pickle.dumps(fractions.Fraction(1, 2))).decode()
    assert dynamic_provider_class(provider) == "fractions.Fraction"
    assert dynamic_provider_class({"value": provider}) == "fractions.Fraction"  # a secret
    assert dynamic_provider_class("not a pickle") is None
    generic = _resource("pulumi-python:dynamic:Resource", {"__provider": provider})
    assert price_token(generic) == "pulumi-python:dynamic:Resource#fractions.Fraction"
    # an unknown provider is a gap to fill, never assumed free
    assert price_resource(generic, _entries()).kind is Kind.UNPRICED


# --- rules on real components -------------------------------------------------------------------


@pytest.mark.parametrize("env", [Environment.DEV, Environment.PROD])
def test_fargate_service_is_priced_from_its_task_definition(env: Environment) -> None:
    _, resources = _captured(Cloud.AWS, Pattern.API_FIRST, env)
    report = _report(Cloud.AWS, Pattern.API_FIRST, env)
    fargate = _entries()["aws:ecs/service:Service"]["default"]
    for service in of_type(list(resources), "aws:ecs/service:Service"):
        task = _referenced(service, "taskDefinition", resources).inputs
        per_hour = (
            float(task["cpu"]) / 1024 * fargate["vcpu_hour"]
            + float(task["memory"]) / 1024 * fargate["gb_hour"]
        )
        expected = round(service.inputs["desiredCount"] * per_hour * HOURS, 2)
        item = _item(report, service.type, service.name)
        assert item.monthly == expected
        # a service at 0 tasks (the idle canary) is billed only when it scales up
        assert item.kind is (Kind.FIXED if expected else Kind.USAGE)
    services = of_type(list(resources), "aws:ecs/service:Service")
    assert any(_item(report, s.type, s.name).monthly for s in services)


def test_a_quantity_missing_from_the_inputs_comes_from_the_spec() -> None:
    spec, resources = _captured(Cloud.AWS, Pattern.API_FIRST, Environment.PROD)
    stable = _one(resources, "aws:ecs/service:Service", "acme-support-stable")
    without = dataclasses.replace(
        stable, inputs={k: v for k, v in stable.inputs.items() if k != "desiredCount"}
    )
    by_urn = {r.urn: r for r in resources}
    entries = _entries()
    with_count = price_resource(stable, entries, by_urn=by_urn, spec=spec)
    from_spec = price_resource(without, entries, by_urn=by_urn, spec=spec)
    assert stable.inputs["desiredCount"] == spec.capacity.min_instances  # same count either way
    assert from_spec.monthly == with_count.monthly > 0
    # without the spec nothing gives the count: listed as not priced, not guessed
    unknown = price_resource(without, entries, by_urn=by_urn, spec=None)
    assert unknown.kind is Kind.UNPRICED
    assert "desiredCount" in unknown.basis


def test_sagemaker_endpoint_pays_for_every_variant_of_its_configuration() -> None:
    _, resources = _captured(Cloud.AWS, Pattern.MANAGED_PLATFORM, Environment.DEV)
    report = _report(Cloud.AWS, Pattern.MANAGED_PLATFORM, Environment.DEV)
    prices = _entries()["aws:sagemaker/endpoint:Endpoint"]["cases"]
    (endpoint,) = of_type(list(resources), "aws:sagemaker/endpoint:Endpoint")
    variants = _referenced(endpoint, "endpointConfigName", resources).inputs["productionVariants"]
    assert len(variants) == 2  # stable and the weight-0 candidate
    expected = sum(
        v["initialInstanceCount"] * prices[v["instanceType"]]["hourly"] * HOURS for v in variants
    )
    assert _item(report, endpoint.type).monthly == round(expected, 2)
    config = _item(report, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert config.kind is Kind.FREE  # priced once, on the endpoint


def test_service_bus_premium_is_billed_per_messaging_unit_hour() -> None:
    _, resources = _captured(Cloud.AZURE, Pattern.EVENT_DRIVEN, Environment.DEV)
    report = _report(Cloud.AZURE, Pattern.EVENT_DRIVEN, Environment.DEV)
    (namespace,) = of_type(list(resources), "azure-native:servicebus:Namespace")
    case = _entries()["azure-native:servicebus:Namespace"]["cases"][namespace.inputs["sku"]["name"]]
    units = namespace.inputs["sku"].get("capacity", 1) if case["rule"] == "hourly" else 0
    expected = round(case.get("hourly", 0) * HOURS * units, 2)
    assert _item(report, namespace.type).monthly == expected


def test_api_management_tier_and_units_follow_the_profile() -> None:
    prices = _entries()["azure-native:apimanagement:ApiManagementService"]["cases"]
    monthly = {}
    for env in (Environment.DEV, Environment.PROD):
        _, resources = _captured(Cloud.AZURE, Pattern.API_FIRST, env)
        (apim,) = of_type(list(resources), "azure-native:apimanagement:ApiManagementService")
        sku = apim.inputs["sku"]
        monthly[env] = _item(_report(Cloud.AZURE, Pattern.API_FIRST, env), apim.type).monthly
        assert monthly[env] == round(prices[sku["name"]]["monthly"] * sku["capacity"], 2)
    assert monthly[Environment.PROD] > monthly[Environment.DEV]


def _cpu_idle(service: CapturedResource) -> bool:
    containers = service.inputs["template"]["containers"]
    return any(c.get("resources", {}).get("cpuIdle") is True for c in containers)


def _cloud_run_monthly(service: CapturedResource) -> float:
    """What the table's rule should give: the billing mode chosen by cpuIdle, every container
    of an instance, minInstanceCount instances."""
    entry = _entries()["gcp:cloudrunv2/service:Service"]
    rates = entry["cases"]["true"] if _cpu_idle(service) else entry["default"]
    template = service.inputs["template"]
    limits = [c["resources"]["limits"] for c in template["containers"]]
    vcpu = sum(parse_number(limit["cpu"]) or 0 for limit in limits)
    memory = sum(parse_number(limit["memory"]) or 0 for limit in limits) / 2**30
    per_hour = vcpu * rates["vcpu_hour"] + memory * rates["gb_hour"]
    return round(template["scaling"].get("minInstanceCount", 0) * per_hour * HOURS, 2)


@pytest.mark.parametrize(
    ("pattern", "env"),
    [(Pattern.API_FIRST, Environment.DEV), (Pattern.EVENT_DRIVEN, Environment.PROD)],
)
def test_cloud_run_is_priced_by_its_billing_mode_and_warm_instances(
    pattern: Pattern, env: Environment
) -> None:
    _, resources = _captured(Cloud.GCP, pattern, env)
    report = _report(Cloud.GCP, pattern, env)
    services = of_type(list(resources), "gcp:cloudrunv2/service:Service")
    for service in services:
        assert _item(report, service.type, service.name).monthly == _cloud_run_monthly(service)
    assert any(_cloud_run_monthly(s) > 0 for s in services)


def test_cloud_run_without_cpu_idle_pays_for_cpu_all_the_time() -> None:
    # With resources set, Cloud Run allocates CPU all the time unless cpuIdle is true.
    _, resources = _captured(Cloud.GCP, Pattern.EVENT_DRIVEN, Environment.PROD)
    (worker,) = of_type(list(resources), "gcp:cloudrunv2/service:Service")
    template = worker.inputs["template"]
    containers = [
        {**c, "resources": {k: v for k, v in c["resources"].items() if k != "cpuIdle"}}
        for c in template["containers"]
    ]
    always_on = dataclasses.replace(
        worker, inputs={**worker.inputs, "template": {**template, "containers": containers}}
    )
    idle = dataclasses.replace(
        always_on,
        inputs={
            **worker.inputs,
            "template": {
                **template,
                "containers": [
                    {**c, "resources": {**c["resources"], "cpuIdle": True}} for c in containers
                ],
            },
        },
    )
    always_on_price, idle_price = (price_resource(r, _entries()).monthly for r in (always_on, idle))
    assert always_on_price == _cloud_run_monthly(always_on)
    assert idle_price == _cloud_run_monthly(idle)
    assert always_on_price > idle_price > 0


def test_vertex_deployment_keeps_min_replicas_running() -> None:
    token = "pulumi-python:dynamic/gcp:VertexDeployment"
    prices = _entries()[token]["cases"]
    monthly = {}
    for env in (Environment.DEV, Environment.PROD):
        _, resources = _captured(Cloud.GCP, Pattern.MANAGED_PLATFORM, env)
        (deployment,) = of_type(list(resources), token)
        slots = deployment.inputs["slots"].values()
        expected = sum(s["min_replicas"] * prices[s["machine_type"]]["hourly"] for s in slots)
        monthly[env] = _item(_report(Cloud.GCP, Pattern.MANAGED_PLATFORM, env), token).monthly
        assert monthly[env] == round(expected * HOURS, 2)
    assert monthly[Environment.PROD] > monthly[Environment.DEV]


def test_a_versioned_azure_token_is_priced_like_the_unversioned_one() -> None:
    _, resources = _captured(Cloud.AZURE, Pattern.EVENT_DRIVEN, Environment.DEV)
    (namespace,) = of_type(list(resources), "azure-native:servicebus:Namespace")
    versioned = dataclasses.replace(namespace, type="azure-native:servicebus/v20240101:Namespace")
    plain, other = (price_resource(r, _entries()) for r in (namespace, versioned))
    assert other.kind is Kind.FIXED
    assert (other.monthly, other.basis) == (plain.monthly, plain.basis)
    assert other.resource_type == versioned.type  # the line keeps the token it was given


def test_unknown_types_are_listed_not_priced_and_known_free_ones_say_so() -> None:
    unknown = price_resource(_resource("aws:made/up:Thing", {}), _entries())
    assert (unknown.kind, unknown.basis, unknown.monthly) == (Kind.UNPRICED, NOT_IN_TABLE, 0.0)
    role = price_resource(_resource("aws:iam/role:Role", {}), _entries())
    assert (role.kind, role.basis, role.monthly) == (Kind.FREE, FREE_BASIS, 0.0)


def test_a_sku_value_without_a_price_is_not_guessed() -> None:
    table = _resource("aws:dynamodb/table:Table", {"billingMode": "PROVISIONED"})
    item = price_resource(table, _entries())
    assert item.kind is Kind.UNPRICED
    assert "billingMode=PROVISIONED" in item.basis


@pytest.mark.parametrize("mode", [None, "GENERAL_PURPOSE", "SHORT_LIVED_CERTIFICATE"])
def test_private_ca_price_follows_its_usage_mode(mode: str | None) -> None:
    token = "aws:acmpca/certificateAuthority:CertificateAuthority"
    cases = _entries()[token]["cases"]
    # AWS creates a general-purpose CA when no mode is given
    expected = cases[mode or "GENERAL_PURPOSE"]["monthly"]
    inputs = {"type": "ROOT"} | ({"usageMode": mode} if mode else {})
    item = price_resource(_resource(token, inputs), _entries())
    assert (item.kind, item.monthly) == (Kind.FIXED, expected)


def test_a_short_lived_mode_ca_costs_less_than_a_general_purpose_one() -> None:
    cases = _entries()["aws:acmpca/certificateAuthority:CertificateAuthority"]["cases"]
    assert cases["SHORT_LIVED_CERTIFICATE"]["monthly"] < cases["GENERAL_PURPOSE"]["monthly"]


# --- the report ---------------------------------------------------------------------------------


def test_usage_priced_lines_stay_out_of_the_total() -> None:
    report = _report(Cloud.AWS, Pattern.API_FIRST, Environment.DEV)
    fixed = report.of_kind(Kind.FIXED)
    usage = report.of_kind(Kind.USAGE)
    assert usage and fixed
    assert all(i.monthly == 0 and i.basis.startswith(USAGE_PREFIX) for i in usage)
    assert report.monthly_total == round(sum(i.monthly for i in fixed), 2)
    assert report.monthly_total == round(sum(i.monthly for i in report.items), 2)
    # a fixed line that also bills by use names its unit price and is listed as usage-priced
    nat = _item(report, "aws:ec2/natGateway:NatGateway")
    assert nat.kind is Kind.FIXED and "per GB processed" in nat.basis
    listed = {(u["resource_type"], u["resource_name"]) for u in report.to_json()["usage_priced"]}
    assert (nat.resource_type, nat.resource_name) in listed
    assert {(i.resource_type, i.resource_name) for i in usage} <= listed


def test_json_items_carry_exactly_the_contract_keys() -> None:
    payload = _report(Cloud.GCP, Pattern.EVENT_DRIVEN, Environment.DEV).to_json()
    assert {"stack", "currency", "monthly_total", "items"} <= set(payload)
    assert payload["items"]
    for item in payload["items"]:
        assert set(item) == {"resource_type", "resource_name", "monthly", "basis"}
        assert isinstance(item["monthly"], float) and isinstance(item["basis"], str)


def test_a_region_without_its_own_prices_is_said() -> None:
    spec, resources = _captured(Cloud.AWS, Pattern.EVENT_DRIVEN, Environment.DEV)
    elsewhere = spec.model_copy(update={"region": "us-east-1"})
    run = StackRun(spec.project, "dev", list(resources), {}, {})
    assert not any("may differ" in n for n in estimate_run(run, spec).notes)
    report = estimate_run(run, elsewhere)
    assert report.region == "us-east-1" and report.price_region == "eu-west-1"
    assert any("us-east-1" in n and "may differ" in n for n in report.notes)


def test_the_on_premises_table_holds_at_any_site_and_says_no_prices_differ() -> None:
    """The kubernetes table prices the client's own cluster: its `region` is no cloud region,
    and a site label (the spec's region) is no reason to say prices may differ."""
    tables = load_price_tables()
    (onprem,) = [t for t in tables if t.cloud == Cloud.KUBERNETES.value]
    assert not onprem.regional and onprem.region == "on-premises"
    assert all(t.regional for t in tables if t.cloud in {"aws", "azure", "gcp"})
    spec, resources = _captured(Cloud.KUBERNETES, Pattern.API_FIRST, Environment.DEV)
    run = StackRun(spec.project, "dev", list(resources), {}, {})
    for site in (spec.region, "dc-lyon-2"):
        report = estimate_run(run, spec.model_copy(update={"region": site}))
        assert report.region == site and report.price_region == "on-premises"
        assert not any("may differ" in n for n in report.notes), report.notes
    # the flag, not the cloud, decides: the same table marked regional says so
    regional = dataclasses.replace(onprem, regional=True)
    report = estimate_run(run, spec, tables=tuple(regional if t is onprem else t for t in tables))
    assert any(spec.region in n and "may differ" in n for n in report.notes), report.notes


@pytest.mark.parametrize("value", ["no", "false", 0, None])
def test_regional_must_be_a_yaml_boolean(tmp_path: Path, value: Any) -> None:
    import yaml

    _write_table(tmp_path, "aws", {"aws:x/y:Free": {"rule": "free"}})
    path = tmp_path / "aws.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "regional": value}))
    with pytest.raises(CostError, match="regional must be true or false"):
        load_price_tables(tmp_path)


def test_text_shows_the_big_fixed_costs_first_and_what_usage_is() -> None:
    report = _report(Cloud.AZURE, Pattern.API_FIRST, Environment.PROD)
    console = Console(record=True, width=160, no_color=True, force_terminal=False)
    console.print(render_text(report))
    text = console.export_text()
    assert "\x1b[" not in text
    assert text.index("Fixed monthly costs") < text.index("Usage-priced") < text.index("Note:")
    assert "NOT in the total" in text
    amounts = []
    for line in text.split("Fixed monthly costs", 1)[1].splitlines():
        match = re.match(r"^│\s+([\d,]+\.\d\d) │ (\S+)", line)
        if match and match[2] != "Total":
            amounts.append(float(match[1].replace(",", "")))
        if "Total" in line:
            break
    assert len(amounts) > 2 and amounts == sorted(amounts, reverse=True)
    assert f"{report.monthly_total:,.2f}" in text
