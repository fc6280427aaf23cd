"""`aideploy cost` on generated projects: text and JSON, exit codes, and no resource of any
generated stack left without a price."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from components.registry import offered_patterns, project_clouds, scaffolded
from components.spec import Cloud, Pattern
from offline.program import run_stack
from stacks.cost import FREE_BASIS, USAGE_PREFIX, load_price_tables
from templates.generator import generate
from tests.conftest import of_type, sample_answers

runner = CliRunner()
PAIRS = [(c, p) for p in offered_patterns() for c in Cloud if scaffolded(c, p)]
CONTRACT_KEYS = {"stack", "currency", "monthly_total", "items"}
ITEM_KEYS = {"resource_type", "resource_name", "monthly", "basis"}
PRIVATE_CA = "aws:acmpca/certificateAuthority:CertificateAuthority"
# Resource types whose price at rest grows with the profile's capacity (instances, size, units).
CAPACITY_PRICED = frozenset(
    {
        "aws:ecs/service:Service",
        "aws:sagemaker/endpoint:Endpoint",
        "azure-native:app:ContainerApp",
        "azure-native:apimanagement:ApiManagementService",
        "azure-native:machinelearningservices:OnlineDeployment",
        "gcp:cloudrunv2/service:Service",
        "pulumi-python:dynamic/gcp:VertexDeployment",
    }
)

ProjectFactory = Callable[..., Path]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectFactory]:
    """``project(cloud, pattern, **answers)``: a generated project, made once per module."""
    root = tmp_path_factory.mktemp("cost-projects")
    made: dict[tuple[Any, ...], Path] = {}

    def make(cloud: Cloud, pattern: Pattern, **overrides: Any) -> Path:
        key = (cloud, pattern, *sorted(overrides.items()))
        if key not in made:
            path = root / f"{cloud.value}-{pattern.value}-{len(made)}"
            generate(sample_answers(cloud, pattern, **overrides), path, rng=random.Random(0))
            made[key] = path
        return made[key]

    yield make


def _cost(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["cost", *args], env={"NO_COLOR": "1", "COLUMNS": "160"})
    return result.exit_code, result.stdout, result.stderr


_payloads: dict[tuple[Path, str], dict[str, Any]] = {}


def _json(path: Path, stack: str) -> dict[str, Any]:
    """The JSON report of one stack (each stack runs once per test module)."""
    if (path, stack) not in _payloads:
        code, out, err = _cost(str(path), "--stack", stack, "--format", "json")
        assert code == 0, err
        _payloads[(path, stack)] = json.loads(out)
    return _payloads[(path, stack)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_json_report_has_the_contract_shape(project: ProjectFactory, stack: str) -> None:
    payload = _json(project(Cloud.AWS, Pattern.API_FIRST), stack)
    assert set(payload) >= CONTRACT_KEYS
    assert payload["stack"] == stack
    assert payload["currency"] == "USD"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", payload["price_table_date"])
    assert payload["items"]
    for item in payload["items"]:
        assert set(item) == ITEM_KEYS
        assert isinstance(item["monthly"], float) and item["monthly"] >= 0
        assert isinstance(item["basis"], str) and item["basis"]
    total = round(sum(i["monthly"] for i in payload["items"]), 2)
    assert payload["monthly_total"] == total > 0
    monthly = [i["monthly"] for i in payload["items"]]
    assert monthly[0] == max(monthly)  # the biggest fixed cost comes first


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_text_report_shows_the_total_and_what_is_billed_by_use(
    project: ProjectFactory, stack: str
) -> None:
    path = project(Cloud.AWS, Pattern.API_FIRST)
    code, out, err = _cost(str(path), "--stack", stack)
    assert code == 0, err
    assert "\x1b[" not in out  # NO_COLOR, and not a terminal
    assert f"Stack {stack}:" in out
    assert f"{_json(path, stack)['monthly_total']:,.2f}" in out
    assert out.index("Fixed monthly costs") < out.index("Usage-priced") < out.index("Note:")
    assert "NOT in the total" in out


def test_usage_priced_items_are_listed_and_not_in_the_total(project: ProjectFactory) -> None:
    payload = _json(project(Cloud.AWS, Pattern.API_FIRST), "dev")
    usage_only = [i for i in payload["items"] if i["basis"].startswith(USAGE_PREFIX)]
    assert usage_only and all(i["monthly"] == 0 for i in usage_only)
    listed = {(u["resource_type"], u["resource_name"]) for u in payload["usage_priced"]}
    assert {(i["resource_type"], i["resource_name"]) for i in usage_only} <= listed
    assert all(u["unit_prices"] for u in payload["usage_priced"])
    # a fixed line that also bills by use says its use-based part is not in the total
    billed_by_use_too = [
        i
        for i in payload["items"]
        if i["monthly"] > 0 and (i["resource_type"], i["resource_name"]) in listed
    ]
    assert billed_by_use_too
    assert all("not in the total" in i["basis"] for i in billed_by_use_too)
    assert payload["monthly_total"] == round(sum(i["monthly"] for i in payload["items"]), 2)


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_stack_is_one_line_and_exit_2(project: ProjectFactory) -> None:
    path = project(Cloud.AWS, Pattern.API_FIRST)
    line = _one_line_error(*_cost(str(path), "--stack", "nope"))
    assert "nope" in line and "dev, staging, prod" in line


def test_a_folder_that_is_no_project_is_one_line_and_exit_2(tmp_path: Path) -> None:
    line = _one_line_error(*_cost(str(tmp_path), "--stack", "dev"))
    assert "Pulumi.yaml" in line


def test_missing_stack_option_is_one_line_and_exit_2(project: ProjectFactory) -> None:
    line = _one_line_error(*_cost(str(project(Cloud.AWS, Pattern.API_FIRST))))
    assert "--stack" in line


def test_a_stack_whose_program_fails_is_one_line_and_exit_2(project: ProjectFactory) -> None:
    path = project(Cloud.AWS, Pattern.EVENT_DRIVEN)
    stacks = path / "stacks"
    text = (stacks / "Pulumi.dev.yaml").read_text()
    broken = re.sub(r"(?m)^(\s+min_instances:) \d+$", r"\1 -5", text, count=1)
    assert broken != text
    (stacks / "Pulumi.broken.yaml").write_text(broken)
    try:
        line = _one_line_error(*_cost(str(path), "--stack", "broken"))
    finally:
        (stacks / "Pulumi.broken.yaml").unlink()
    assert "min_instances" in line


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize(
    ("cloud", "pattern"), PAIRS, ids=[f"{c.value}-{p.value}" for c, p in PAIRS]
)
def test_every_resource_of_every_generated_stack_is_priced_free_or_usage_priced(
    project: ProjectFactory, cloud: Cloud, pattern: Pattern, stack: str
) -> None:
    payload = _json(project(cloud, pattern), stack)
    assert payload["not_priced"] == []
    kinds = {"fixed": 0, "usage": 0, "free": 0}
    for item in payload["items"]:
        basis = item["basis"]
        if basis.startswith(USAGE_PREFIX):
            kinds["usage"] += 1
        elif basis.startswith(FREE_BASIS):
            kinds["free"] += 1
        else:
            assert not basis.startswith("not "), item
            kinds["fixed"] += 1
    assert payload["cloud"] == cloud.value
    (table,) = [t for t in load_price_tables() if t.cloud == cloud.value]
    if all(entry["rule"] == "free" for entry in table.entries.values()):
        # The on-premises table (kubernetes): the stack runs on the client's own nodes, so no
        # line has a price, and each says where the cost really is (the table's note).
        assert kinds["free"] and kinds["fixed"] == kinds["usage"] == 0, kinds
        assert payload["monthly_total"] == 0 and payload["usage_priced"] == []
        for item in payload["items"]:
            note = table.entries[item["resource_type"]]["note"]
            assert item["basis"] == f"{FREE_BASIS}: {note}", item
    else:
        assert kinds["fixed"] and kinds["usage"] and kinds["free"], kinds
    if table.regional:
        assert payload["region"] == payload["price_region"]  # the sample regions are priced
    else:
        # a site label, not a region: the prices hold there, and no note says they may differ
        assert payload["price_region"] == table.region != payload["region"]
        assert not any("may differ" in note for note in payload["notes"]), payload["notes"]


def test_prod_costs_more_than_dev_where_capacity_sets_the_price(project: ProjectFactory) -> None:
    grows = []
    for cloud, pattern in PAIRS:
        path = project(cloud, pattern)
        dev, prod = (_json(path, s) for s in ("dev", "prod"))
        assert prod["monthly_total"] >= dev["monthly_total"], (cloud, pattern)
        if any(i["resource_type"] in CAPACITY_PRICED and i["monthly"] > 0 for i in prod["items"]):
            assert prod["monthly_total"] > dev["monthly_total"], (cloud, pattern)
            grows.append((cloud, pattern))
    assert (Cloud.AWS, Pattern.API_FIRST) in grows


@pytest.mark.parametrize("private_ca", [False, True])
def test_a_private_ca_is_priced_exactly_when_the_stack_creates_one(
    project: ProjectFactory, private_ca: bool
) -> None:
    path = project(Cloud.AWS, Pattern.API_FIRST, private_ca=private_ca)
    captured = of_type(run_stack(path, "dev").resources, PRIVATE_CA)
    lines = [i for i in _json(path, "dev")["items"] if i["resource_type"] == PRIVATE_CA]
    assert sorted(i["resource_name"] for i in lines) == sorted(r.name for r in captured)
    if private_ca:
        assert lines, "the client asked for a private CA: its price must show"
    (entry,) = [t.entries[PRIVATE_CA] for t in load_price_tables() if PRIVATE_CA in t.entries]
    for line, ca in zip(
        sorted(lines, key=lambda i: i["resource_name"]),
        sorted(captured, key=lambda r: r.name),
        strict=True,
    ):
        mode = ca.inputs.get("usageMode", "GENERAL_PURPOSE")
        assert line["monthly"] == entry["cases"][mode]["monthly"] > 0


@pytest.mark.parametrize("cloud", project_clouds())
def test_the_bootstrap_is_priced_too(tmp_path: Path, cloud: Cloud) -> None:
    """Every resource the bootstrap creates is priced, free or usage-priced (no silent gaps),
    and a program that is not an aideploy stack is priced from its inputs alone."""
    import random

    from offline.program import stack_names
    from stacks.cost import Kind, estimate

    project = generate(
        sample_answers(cloud, Pattern.API_FIRST), tmp_path / "p", rng=random.Random(2)
    ).path
    for stack in stack_names(project / "bootstrap"):
        report = estimate(project / "bootstrap", stack)
        assert report.of_kind(Kind.UNPRICED) == (), [
            i.resource_type for i in report.of_kind(Kind.UNPRICED)
        ]
        assert report.items
