"""docs/model-contract.md and model/ of a generated project, held against their two sources.

Each project's contract doc is checked against (1) its own stack file: the port and paths it
names are the ones the stacks resolve; and (2) the components: the environment variables it
says the stack sets are exactly those the pattern's container gets, and the port and probe or
route paths it names are the ones the captured resources configure. Both sides come from real
files or real programs under mocks; nothing is restated here.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import templates.generator as generator
from components.registry import project_clouds, scaffolded
from components.spec import IMAGE_REGISTRIES, Cloud, Environment, ModelSpec, Pattern
from offline.capture import CapturedResource
from stacks.profiles import deep_merge, load_profile
from templates.generator import generate
from tests.conftest import make_spec, run_component, sample_answers

PATTERNS = (Pattern.API_FIRST, Pattern.EVENT_DRIVEN, Pattern.MANAGED_PLATFORM)
# Every cell a project can be generated for (kubernetes has no managed platform).
COMBOS = [
    (cloud, pattern)
    for cloud in project_clouds()
    for pattern in PATTERNS
    if scaffolded(cloud, pattern)
]
IDS = [f"{c.value}-{p.value}" for c, p in COMBOS]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Cloud, Pattern], Path]:
    """A generated project per cloud and pattern, made once for this module."""
    made: dict[tuple[Cloud, Pattern], Path] = {}

    def project(cloud: Cloud, pattern: Pattern) -> Path:
        if (cloud, pattern) not in made:
            target = tmp_path_factory.mktemp("contract") / f"{cloud.value}-{pattern.value}"
            generate(sample_answers(cloud, pattern), target, rng=random.Random(0))
            made[(cloud, pattern)] = target
        return made[(cloud, pattern)]

    return project


def stack_model(project: Path, stack: str = "dev") -> ModelSpec:
    """The ``model`` section of a generated stack file, as the components read it."""
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    config = yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return ModelSpec.model_validate(config[f"{name}:model"])


def section(doc: str, heading: str) -> str:
    """The text under ``heading`` (any level) up to the next heading of its level or higher."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", doc, re.MULTILINE)
    assert match, f"the contract has no section {heading!r}"
    level = len(match.group(1))
    rest = doc[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_names(text: str) -> set[str]:
    """The backticked names in the first column of the Markdown table(s) in ``text``."""
    return {
        name
        for row in re.findall(r"^\|([^|\n]*)\|", text, re.MULTILINE)
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row)
    }


def glance(doc: str) -> dict[str, str]:
    """The "At a glance" table: rule -> value."""
    rows = re.findall(r"^\| ([a-zA-Z ]+) \| (.+) \|$", section(doc, "At a glance"), re.MULTILINE)
    return {rule.strip(): value for rule, value in rows}


# -- (1) the doc names the stack file's port and paths ------------------------------------------
@pytest.mark.parametrize(("cloud", "pattern"), COMBOS, ids=IDS)
def test_the_contract_names_the_stacks_port_and_paths(
    projects: Callable[[Cloud, Pattern], Path], cloud: Cloud, pattern: Pattern
) -> None:
    project = projects(cloud, pattern)
    model = stack_model(project)
    doc = (project / "docs" / "model-contract.md").read_text()
    rows = glance(doc)
    assert rows["port"].startswith(f"`{model.port}`")
    assert rows["readiness"].startswith(f"`GET {model.health_path}`")
    assert rows["prediction"].startswith(f"`POST {model.predict_path}`")
    assert "{{" not in doc and "{%" not in doc
    # The image the doc tells the client to push is the one the stacks pull (by tag, or on
    # the kubernetes target by digest: the repository is what precedes either).
    image = model.image
    assert image is not None, "the stack file names no image"
    repository = image.split("@", 1)[0] if "@" in image else image.rsplit(":", 1)[0]
    assert rows["image"].startswith(f"`{repository}:<version>`")
    # The Dockerfile declares the same port and paths the doc and the stacks name.
    dockerfile = (project / "model" / "Dockerfile").read_text()
    assert f"ENV MODEL_PORT={model.port}\n" in dockerfile
    assert f"ENV MODEL_HEALTH_PATH={model.health_path}\n" in dockerfile
    assert f"ENV MODEL_PREDICT_PATH={model.predict_path}\n" in dockerfile
    assert f"EXPOSE {model.port}\n" in dockerfile


CUSTOM_MODEL = {"port": 9090, "health_path": "/ready", "predict_path": "/v1/score"}


@pytest.mark.parametrize("cloud", project_clouds())
def test_a_stack_with_its_own_port_and_paths_gets_a_contract_and_image_to_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: Cloud
) -> None:
    # The answers have no port or path: a client sets them in the stack files. Put them there
    # through the profiles, as a stack would carry them, and generate.
    monkeypatch.setattr(
        generator,
        "load_profile",
        lambda env: deep_merge(load_profile(env), {"model": dict(CUSTOM_MODEL)}),
    )
    project = tmp_path / "p"
    generate(sample_answers(cloud, Pattern.API_FIRST), project, rng=random.Random(0))
    model = stack_model(project)
    assert (model.port, model.health_path, model.predict_path) == (9090, "/ready", "/v1/score")
    doc = (project / "docs" / "model-contract.md").read_text()
    rows = glance(doc)
    assert rows["port"].startswith("`9090`")
    assert rows["readiness"].startswith("`GET /ready`")
    assert rows["prediction"].startswith("`POST /v1/score`")
    stale = ("GET /health", "POST /predict", "`/health`", "`/predict`", "/health`", "/predict`")
    assert not [s for s in stale if s in doc], "the contract still names the default paths"
    # The project's own contract test holds the server to the same values over HTTP.
    command = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/test_model_contract.py"]
    result = subprocess.run(
        [sys.executable, *command],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


# -- (2) the doc names what the components really configure ------------------------------------
# The container the model image runs in, per resource type: (resource type, container name).
MODEL_CONTAINERS = ("model", "worker")


def _containers(resource: CapturedResource) -> Iterator[dict[str, Any]]:
    """The containers of a captured task definition, container app, job or Cloud Run service."""
    inputs = resource.inputs
    if resource.type == "aws:ecs/taskDefinition:TaskDefinition":
        definitions = inputs["containerDefinitions"]
        yield from json.loads(definitions) if isinstance(definitions, str) else definitions
    elif resource.type == "kubernetes:apps/v1:Deployment":
        yield from inputs["spec"]["template"]["spec"]["containers"]
    elif "template" in inputs and isinstance(inputs["template"], Mapping):
        yield from inputs["template"].get("containers") or []


def _env_names(container: Mapping[str, Any]) -> set[str]:
    entries = container.get("environment") or container.get("env") or container.get("envs") or []
    return {str(e["name"]) for e in entries}


def stack_set_variables(resources: list[CapturedResource]) -> set[str]:
    """Every variable the stack sets on a container that runs the model image."""
    names: set[str] = set()
    for resource in resources:
        if resource.type == "aws:sagemaker/model:Model":
            names |= set(resource.inputs["primaryContainer"].get("environment") or {})
        for container in _containers(resource):
            if container.get("name") in MODEL_CONTAINERS:
                names |= _env_names(container)
    return names


def _one(values: set[Any], what: str) -> Any:
    assert len(values) == 1, f"{what}: expected one value, found {values}"
    return next(iter(values))


def _containers_named(resources: list[CapturedResource]) -> list[dict[str, Any]]:
    return [c for r in resources for c in _containers(r) if c.get("name") in MODEL_CONTAINERS]


def _aws_api_first(resources: list[CapturedResource]) -> dict[str, Any]:
    groups = [r for r in resources if r.type == "aws:lb/targetGroup:TargetGroup"]
    ports = {m["containerPort"] for c in _containers_named(resources) for m in c["portMappings"]}
    return {
        "port": _one({int(p) for p in ports}, "container port"),
        "health": _one({g.inputs["healthCheck"]["path"] for g in groups}, "health check path"),
    }


def _azure_api_first(resources: list[CapturedResource]) -> dict[str, Any]:
    apps = [r for r in resources if r.type.endswith(":ContainerApp") and r.name.endswith("model")]
    probes = [p["httpGet"] for c in _containers_named(apps) for p in c["probes"]]
    return {
        "port": _one(
            {int(a.inputs["configuration"]["ingress"]["targetPort"]) for a in apps}
            | {int(p["port"]) for p in probes},
            "target and probe port",
        ),
        "health": _one({p["path"] for p in probes}, "probe path"),
    }


def _azure_managed_platform(resources: list[CapturedResource]) -> dict[str, Any]:
    configs = [
        r.inputs["properties"]["inferenceConfig"]
        for r in resources
        if r.type.endswith(":EnvironmentVersion")
    ]
    routes = [route for c in configs for route in c.values()]
    return {
        "port": _one({int(r["port"]) for r in routes}, "route port"),
        "health": _one(
            {c["livenessRoute"]["path"] for c in configs}
            | {c["readinessRoute"]["path"] for c in configs},
            "liveness/readiness path",
        ),
        "predict": _one({c["scoringRoute"]["path"] for c in configs}, "scoring path"),
    }


def _gcp_cloud_run(resources: list[CapturedResource]) -> dict[str, Any]:
    containers = _containers_named(resources)
    probes = [c["startupProbe"]["httpGet"] for c in containers]
    ports = {int(p["port"]) for p in probes}
    for c in containers:
        ports |= {int(e["value"]) for e in c.get("envs") or [] if e["name"] == "MODEL_PORT"}
        if c.get("ports"):
            ports.add(int(c["ports"]["containerPort"]))
    return {"port": _one(ports, "model port"), "health": _one({p["path"] for p in probes}, "probe")}


def _gcp_managed_platform(resources: list[CapturedResource]) -> dict[str, Any]:
    models = [r.inputs for r in resources if r.type.endswith("dynamic/gcp:VertexModel")]
    return {
        "port": _one({int(m["port"]) for m in models}, "container port"),
        "health": _one({m["health_route"] for m in models}, "health route"),
        "predict": _one({m["predict_route"] for m in models}, "predict route"),
    }


KUBE_PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def _kubernetes_port(port: Any, named: Mapping[str, int]) -> int:
    """A Kubernetes port reference: a number, or the name of a container port."""
    return named[port] if isinstance(port, str) else int(port)


def _kubernetes_pods(resources: list[CapturedResource]) -> dict[str, Any]:
    """The model's Deployments: the port their probes call and MODEL_PORT, the probes' path."""
    containers = _containers_named(resources)
    ports: set[int] = set()
    paths: set[str] = set()
    for c in containers:
        named = {str(p["name"]): int(p["containerPort"]) for p in c.get("ports") or []}
        ports |= {int(e["value"]) for e in c.get("env") or [] if e["name"] == "MODEL_PORT"}
        for probe in (c[key]["httpGet"] for key in KUBE_PROBES if key in c):
            ports.add(_kubernetes_port(probe["port"], named))
            paths.add(probe["path"])
    return {"port": _one(ports, "probe and model port"), "health": _one(paths, "probe path")}


def _kubernetes_api_first(resources: list[CapturedResource]) -> dict[str, Any]:
    """The probes, and the HTTPRoutes: what they send to the model's Services (the port each
    backend's Service forwards to, the paths of the GET and POST rules)."""
    pods = _kubernetes_pods(resources)
    named = {
        str(p["name"]): int(p["containerPort"])
        for c in _containers_named(resources)
        for p in c.get("ports") or []
    }
    services = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["ports"]
        for r in resources
        if r.type == "kubernetes:core/v1:Service"
    }
    ports: set[int] = {pods["port"]}
    paths: dict[str, set[str]] = {"GET": {pods["health"]}, "POST": set()}
    for route in (r for r in resources if r.type.endswith(":HTTPRoute")):
        for rule in route.inputs["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                (target,) = [
                    p["targetPort"]
                    for p in services[ref["name"]]
                    if int(p["port"]) == int(ref["port"])
                ]
                ports.add(_kubernetes_port(target, named))
            for match in rule["matches"]:
                paths[match["method"]].add(match["path"]["value"])
    return {
        "port": _one(ports, "route, probe and model port"),
        "health": _one(paths["GET"], "health route and probe path"),
        "predict": _one(paths["POST"], "predict route"),
    }


def _nothing(_resources: list[CapturedResource]) -> dict[str, Any]:
    return {}


# What each platform is configured to call, read from the captured resources. SageMaker and the
# queue workers on AWS and Azure are given no port or path (SageMaker's are fixed: /ping and
# /invocations on 8080; the workers call their queue).
RouteReader = Callable[[list[CapturedResource]], dict[str, Any]]
CONFIGURED_ROUTES: dict[tuple[Cloud, Pattern], RouteReader] = {
    (Cloud.AWS, Pattern.API_FIRST): _aws_api_first,
    (Cloud.AWS, Pattern.EVENT_DRIVEN): _nothing,
    (Cloud.AWS, Pattern.MANAGED_PLATFORM): _nothing,
    (Cloud.AZURE, Pattern.API_FIRST): _azure_api_first,
    (Cloud.AZURE, Pattern.EVENT_DRIVEN): _nothing,
    (Cloud.AZURE, Pattern.MANAGED_PLATFORM): _azure_managed_platform,
    (Cloud.GCP, Pattern.API_FIRST): _gcp_cloud_run,
    (Cloud.GCP, Pattern.EVENT_DRIVEN): _gcp_cloud_run,
    (Cloud.GCP, Pattern.MANAGED_PLATFORM): _gcp_managed_platform,
    (Cloud.KUBERNETES, Pattern.API_FIRST): _kubernetes_api_first,
    (Cloud.KUBERNETES, Pattern.EVENT_DRIVEN): _kubernetes_pods,
}


@cache
def captured(
    cloud: Cloud, pattern: Pattern, setting: tuple[str, str] | None = None
) -> list[CapturedResource]:
    """The dev stack's component under mocks, the spec exactly as a generated project holds it
    (with one optional ``(dotted.setting, value)`` added)."""
    overrides: dict[str, Any] = {}
    if setting is not None:
        *parents, leaf = setting[0].split(".")
        place = overrides
        for key in parents:
            place = place.setdefault(key, {})
        place[leaf] = setting[1]
    return list(run_component(make_spec(cloud, pattern, Environment.DEV, overrides)).resources)


# A variable the contract says is set "only with `<setting>`" (a stack file setting): the value
# the test gives that setting to see them set.
CONDITIONAL_SETTINGS: dict[str, str] = {"cluster.ca_bundle_key": "acme-support/ca"}


def conditional_names(text: str) -> dict[str, str]:
    """The variables of the table's rows that say they are set only with a setting: name ->
    the setting."""
    found: dict[str, str] = {}
    for row in re.findall(r"^\|.*\|$", text, re.MULTILINE):
        condition = re.search(r"only (?:with|when)[^`|]*`([a-z_]+(?:\.[a-z_]+)+)`", row)
        if condition:
            first = row.split("|")[1]
            found |= dict.fromkeys(re.findall(r"`([A-Z][A-Z0-9_]*)`", first), condition.group(1))
    return found


@pytest.mark.parametrize(("cloud", "pattern"), COMBOS, ids=IDS)
def test_the_variables_the_contract_says_the_stack_sets_are_exactly_those_it_sets(
    projects: Callable[[Cloud, Pattern], Path], cloud: Cloud, pattern: Pattern
) -> None:
    doc = (projects(cloud, pattern) / "docs" / "model-contract.md").read_text()
    documented = table_names(section(doc, "Set by the stack"))
    conditional = conditional_names(section(doc, "Set by the stack"))
    # Without the settings they name, the stack sets exactly the unconditional ones...
    actual = stack_set_variables(captured(cloud, pattern))
    always = documented - set(conditional)
    assert always == actual, (
        f"documented but not set: {sorted(always - actual)}; "
        f"set but not documented: {sorted(actual - always)}"
    )
    # ... and with each, exactly those and the ones it adds.
    for setting in sorted(set(conditional.values())):
        assert setting in CONDITIONAL_SETTINGS, f"no value to try {setting} with"
        with_setting = stack_set_variables(
            captured(cloud, pattern, (setting, CONDITIONAL_SETTINGS[setting]))
        )
        expected = always | {n for n, s in conditional.items() if s == setting}
        assert with_setting == expected, (
            f"with {setting}: documented but not set: {sorted(expected - with_setting)}; "
            f"set but not documented: {sorted(with_setting - expected)}"
        )


@pytest.mark.parametrize(("cloud", "pattern"), COMBOS, ids=IDS)
def test_the_port_and_paths_the_contract_names_are_what_the_platform_is_configured_to_call(
    projects: Callable[[Cloud, Pattern], Path], cloud: Cloud, pattern: Pattern
) -> None:
    model = stack_model(projects(cloud, pattern))
    configured = CONFIGURED_ROUTES[(cloud, pattern)](captured(cloud, pattern))
    documented = {"port": model.port, "health": model.health_path, "predict": model.predict_path}
    assert configured == {key: documented[key] for key in configured}


def test_every_cloud_and_pattern_has_a_route_reader() -> None:
    assert set(CONFIGURED_ROUTES) == set(COMBOS)


@pytest.mark.parametrize(("cloud", "pattern"), COMBOS, ids=IDS)
def test_the_contract_names_only_files_and_registries_that_exist(
    projects: Callable[[Cloud, Pattern], Path], cloud: Cloud, pattern: Pattern
) -> None:
    project = projects(cloud, pattern)
    doc = (project / "docs" / "model-contract.md").read_text()
    named = r"((?:components|model|tests|stacks|eval)/[\w./-]+\.(?:py|yaml|md|txt))"
    for path in set(re.findall(named, doc)):
        assert (project / path).is_file(), f"the contract names {path}, which is not in the project"
    for path in ("model/Dockerfile", "model/README.md", "model/requirements.txt"):
        assert (project / path).is_file()
    # Where the image may live: every registry the spec allows for this pattern is named.
    for _, registry in IMAGE_REGISTRIES.get((cloud, pattern), ()):
        assert registry in section(doc, "Where the image lives"), registry
    # The worker (and its section) exists exactly for the event-driven pattern.
    event_driven = pattern is Pattern.EVENT_DRIVEN
    assert (project / "model" / "worker.py").is_file() is event_driven
    assert (project / "model" / "jobs.py").is_file() is event_driven
    assert ("\n## Worker\n" in doc) is event_driven


@pytest.mark.parametrize(("cloud", "pattern"), COMBOS, ids=IDS)
def test_the_model_package_pins_only_what_its_cloud_and_pattern_need(
    projects: Callable[[Cloud, Pattern], Path], cloud: Cloud, pattern: Pattern
) -> None:
    project = projects(cloud, pattern)
    pins = [
        line
        for line in (project / "model" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.]*", p) for p in pins), pins
    sources = "\n".join(p.read_text() for p in (project / "model").glob("*.py"))
    sdk = r"^\s*(?:from|import) (boto3|azure|google|opentelemetry)\b"
    imported = set(re.findall(sdk, sources, re.MULTILINE))
    # Every cloud SDK the model package imports is pinned (and nothing is pinned for nothing).
    expected = {
        "boto3": {"boto3"},
        "azure": {"azure-identity"},
        "opentelemetry": {"azure-monitor-opentelemetry"},
    }
    needed = set().union(*(expected.get(name, {name}) for name in imported)) if imported else set()
    pinned = {p.split("==")[0] for p in pins}
    assert needed <= pinned, f"imported {sorted(imported)} but pinned {sorted(pinned)}"
    assert bool(pins) is bool(imported)
    # The project's own requirements never carry the image's.
    project_pins = (project / "requirements.txt").read_text()
    assert not any(p.split("==")[0] + "==" in project_pins for p in pins)


@pytest.mark.parametrize("role", ["producer", "reader"])
def test_the_aws_contract_names_the_tag_the_client_roles_trust(
    projects: Callable[[Cloud, Pattern], Path], role: str
) -> None:
    # Review B2: the producer and reader roles admit only principals carrying a tag. The tag a
    # client's IAM admin reads in docs/model-contract.md is the one the real trust policy asks.
    spec = make_spec(Cloud.AWS, Pattern.EVENT_DRIVEN, Environment.DEV)
    (captured,) = [
        r
        for r in run_component(spec).resources
        if r.type == "aws:iam/role:Role" and r.name.endswith(f"-{role}-role")
    ]
    trust = json.loads(captured.inputs["assumeRolePolicy"])
    (key,) = [
        k
        for statement in trust["Statement"]
        for condition in statement.get("Condition", {}).values()
        for k in condition
        if k.startswith("aws:PrincipalTag/")
    ]
    tag = key.split("/", 1)[1]
    assert tag.startswith(f"aideploy-{spec.project}-{spec.environment.value}-")
    project = projects(Cloud.AWS, Pattern.EVENT_DRIVEN)
    slug = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    documented = tag.replace(
        f"-{spec.project}-{spec.environment.value}-", f"-{slug}-<environment>-"
    )
    doc = (project / "docs" / "model-contract.md").read_text()
    assert f"`{documented}`" in section(doc, "Who may send jobs and read results")


# -- (1b) an LLM project: the guardrail's variables too ------------------------------------------
LLM_COMBOS = [
    (Cloud.AWS, "hosted", {}),
    (Cloud.AWS, "self-hosted", {}),
    (Cloud.AZURE, "hosted", {}),
    (Cloud.AZURE, "self-hosted", {}),
    (Cloud.GCP, "hosted", {"region": "us-central1"}),
    (Cloud.GCP, "self-hosted", {}),
    (Cloud.KUBERNETES, "self-hosted", {}),
]


@pytest.mark.parametrize(
    ("cloud", "mode", "extra"), LLM_COMBOS, ids=[f"{c.value}-{m}" for c, m, _ in LLM_COMBOS]
)
def test_an_llm_projects_contract_names_exactly_the_variables_its_stack_sets(
    tmp_path: Path, cloud: Cloud, mode: str, extra: dict[str, Any]
) -> None:
    from tests.conftest import sample_plan

    answers = {"llm": mode, **extra}
    target = tmp_path / "p"
    generate(sample_answers(cloud, Pattern.API_FIRST, **answers), target, rng=random.Random(0))
    doc = (target / "docs" / "model-contract.md").read_text()
    documented = table_names(section(doc, "Set by the stack"))
    conditional = set(conditional_names(section(doc, "Set by the stack")))
    plan = sample_plan(cloud, Pattern.API_FIRST, **answers)
    dev = plan.sections[Environment.DEV]
    spec = make_spec(cloud, Pattern.API_FIRST, Environment.DEV, {"llm": dev["llm"], **extra})
    actual = stack_set_variables(list(run_component(spec).resources))
    assert documented - conditional == actual, (
        f"documented but not set: {sorted(documented - conditional - actual)}; "
        f"set but not documented: {sorted(actual - (documented - conditional))}"
    )
