"""Answers are validated and can never inject anything into a generated file."""

from __future__ import annotations

import ast
import json
import random
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.registry import project_clouds
from components.spec import Cloud, Environment, Pattern
from templates import generator
from templates.answers import Answers, project_slug
from templates.generator import GenerationError, generate, plan_project
from tests.conftest import sample_answers

FIRST_PARTY = {"aideploy", "cli", "templates", "stacks", "components", "policies"}
HOSTILE = [
    "'; import os; os.system('x') #",
    '"""\nimport os\n"""',
    "{{ cookiecutter.__class__ }}",
    "{% for x in range(3) %}x{% endfor %}",
    "a\nconfig:\n  aws:region: us-east-1",
    "${{ secrets.TOKEN }}",
    "<script>alert(1)</script>",
    "](javascript:alert(1))",
    "../../etc/passwd",
    "x\x00y",
]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("acme-support", "acme-support"),
        ("Acme Support", "acme-support"),
        ("ACME_support.ai", "acme-support-ai"),
        ("acme  --  ai", "acme-ai"),
    ],
)
def test_project_names_become_valid_pulumi_names(name: str, slug: str) -> None:
    assert project_slug(name) == slug


@pytest.mark.parametrize(
    "name", [*HOSTILE, "", "1acme", "ab", "a" * 61, "acme/ai", "acme;rm", "äcme", "-acme"]
)
def test_hostile_or_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="project name"):
        project_slug(name)


def _answers(**overrides: Any) -> Answers:
    """Complete answers (tests/conftest.py), with fields overridden as a user would type them."""
    cloud, pattern = overrides.get("cloud", "aws"), overrides.get("pattern", "api-first")
    if cloud not in {c.value for c in Cloud} or pattern not in {p.value for p in Pattern}:
        base = sample_answers(Cloud.AWS, Pattern.API_FIRST).model_dump()
        return Answers.model_validate({**base, **overrides})
    rest = {k: v for k, v in overrides.items() if k not in ("cloud", "pattern")}
    return sample_answers(Cloud(cloud), Pattern(pattern), **rest)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("owner", "ops@acme"),
        ("owner", "ops@acme.example\nx: y"),
        ("cloud", "ibm"),
        ("pattern", "monolith"),
        ("model_version", "1.0 ; rm"),
        ("model_image", "ghcr.io/acme/model:1.0\n"),
        ("model_name", "Model"),
        ("alert_emails", ["not-an-email"]),
        ("description", "two\nlines"),
        ("description", "x" * 201),
        ("ci", "jenkins"),
        ("accounts", {"dev": "1234", "staging": "123456789012", "prod": "123456789012"}),
        ("accounts", {"dev": "123456789012"}),
        ("repo", "acme support"),
        ("repo", "acme"),
        ("tenant", "44444444-4444-4444-4444-444444444444"),
        ("jwt_issuer", None),
        ("jwt_issuer", "http://login.acme.example"),
        ("domains", {"prod": "api.sslip.io"}),
        ("domains", {"prod": "https://api.acme.example"}),
    ],
)
def test_bad_answers_fail_validation(field: str, value: object) -> None:
    with pytest.raises(pydantic.ValidationError):
        _answers(**{field: value})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cloud": "azure", "region": "westeurope", "tenant": None}, "tenant"),
        ({"cloud": "gcp", "region": "europe-west1", "domains": {}}, "needs a domain"),
        ({"sample_model": True, "model_image": "ghcr.io/acme/model:1"}, "either --model-image"),
        ({"sample_model": False}, "either --model-image"),
        (
            {"pattern": "managed-platform", "model_image": "ghcr.io/acme/model:1"},
            "only from Amazon ECR",
        ),
        ({"region": "westeurope"}, "belongs to azure, not to aws"),
        ({"sample_model": False, "model_image": "nginx:latest"}, "not a full image reference"),
        ({"region": "eu-west-9"}, "did you mean"),
        ({"pattern": "event-driven", "domains": {"prod": "api.acme.example"}}, "no API gateway"),
        ({"pattern": "event-driven", "private_ca": True}, "only the aws api-first"),
    ],
)
def test_answers_a_deploy_needs_are_never_silently_defaulted(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        _answers(**overrides)


def test_one_account_for_all_environments_is_allowed_and_known() -> None:
    answers = _answers()
    assert answers.shared_account
    split = _answers(
        accounts={"dev": "111111111111", "staging": "111111111111", "prod": "222222222222"}
    )
    assert not split.shared_account


def test_unknown_region_fails_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a known aws region"):
        _answers(region="mars-north-1")
    # A spec that fails only when merged with a profile is still refused before any write.
    answers = _answers()
    bad = answers.model_copy(update={"region": "mars-north-1"})
    with pytest.raises(GenerationError, match="region"):
        generate(bad, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def any_component_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render without depending on a cloud's component being finished."""
    monkeypatch.setattr(generator, "is_available", lambda cloud, pattern: True)


def _render(tmp_path: Path, answers: Answers) -> Path:
    target = tmp_path / "project"
    generate(answers, target, force=True, rng=random.Random(0))
    return target


def _check_files_are_inert(project: Path, answers: Answers) -> None:
    """Every generated file parses, and free text round-trips as data, never as code."""
    template_root = generator.TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    for path in project.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(project)
        text = path.read_text()
        if path.suffix == ".py":
            ast.parse(text)
            template_file = template_root / rel
            source = template_file.read_text() if template_file.is_file() else ""
            if source and "{%" not in source and "{{" not in source:
                # Python files hold no answers at all: identical to the template.
                assert text == template_file.read_text(), rel
            # Templated Python (per-cloud partials) carries values computed from validated
            # answers, never free text.
            # (a short string can occur anywhere by chance: check the ones a payload needs)
            hostile = set(answers.description) & set("'\"{}%;()<>$`\\")
            if hostile and len(answers.description) >= 8 and answers.description not in source:
                assert answers.description not in text, rel
        elif path.suffix in {".yaml", ".yml"}:
            yaml.safe_load(text)
        elif path.suffix == ".json":
            json.loads(text)
    pulumi_yaml = yaml.safe_load((project / "Pulumi.yaml").read_text())
    if answers.description:
        assert pulumi_yaml["description"] == answers.description
    assert set(pulumi_yaml) == {"name", "description", "runtime", "stackConfigDir"}
    recorded = json.loads((project / ".aideploy.json").read_text())
    assert recorded["answers"]["description"] == answers.description
    for env in Environment:
        stack = yaml.safe_load((project / "stacks" / f"Pulumi.{env.value}.yaml").read_text())
        keys = set(stack)
        assert keys == {"config"}
        assert stack["config"][f"{answers.project_slug}:environment"] == env.value


@pytest.mark.usefixtures("any_component_available")
@pytest.mark.parametrize("text", HOSTILE[:-1])
def test_hostile_descriptions_stay_inert(tmp_path: Path, text: str) -> None:
    if "\n" in text:
        with pytest.raises(pydantic.ValidationError):
            _answers(description=text)
        return
    answers = _answers(description=text)
    project = _render(tmp_path, answers)
    _check_files_are_inert(project, answers)
    readme = (project / "README.md").read_text()
    assert "<script>" not in readme and "](javascript" not in readme


@pytest.mark.usefixtures("any_component_available")
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    description=st.text(max_size=120),
    cloud=st.sampled_from(project_clouds()),
)
def test_any_answer_text_is_refused_or_inert(
    tmp_path_factory: pytest.TempPathFactory, description: str, cloud: Cloud
) -> None:
    try:
        answers = _answers(description=description, cloud=cloud.value)
    except pydantic.ValidationError:
        return
    project = _render(tmp_path_factory.mktemp("fuzz"), answers)
    _check_files_are_inert(project, answers)


@pytest.mark.usefixtures("any_component_available")
def test_existing_target_is_refused_without_force(tmp_path: Path) -> None:
    target = tmp_path / "project"
    target.mkdir()
    (target / "keep.txt").write_text("client work")
    with pytest.raises(GenerationError, match="--force"):
        generate(_answers(), target)
    assert (target / "keep.txt").read_text() == "client work"
    generate(_answers(), target, force=True)
    assert not (target / "keep.txt").exists()
    assert (target / "Pulumi.yaml").is_file()


@pytest.mark.usefixtures("any_component_available")
def test_failure_part_way_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "project"
    target.mkdir()
    (target / "keep.txt").write_text("client work")

    def broken_vendor(project_dir: Path, cloud: Cloud, pattern: object = None) -> None:
        (project_dir / "half-written").write_text("x")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generator, "_vendor", broken_vendor)
    with pytest.raises(OSError):
        generate(_answers(), target, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


@pytest.mark.usefixtures("any_component_available")
@pytest.mark.parametrize("cloud", project_clouds())
def test_vendors_only_the_chosen_cloud(tmp_path: Path, cloud: Cloud) -> None:
    project = _render(tmp_path, _answers(cloud=cloud.value))
    vendored = {p.name for p in (project / "components").iterdir() if p.is_dir()}
    assert vendored - {"__pycache__"} == {cloud.value}
    requirements = (project / "requirements.txt").read_text().splitlines()
    assert all("==" in line for line in requirements)
    sdks = {line.split("==")[0] for line in requirements if line.startswith("pulumi-")}
    expected = {
        Cloud.AWS: {"pulumi-aws"},
        # pulumi-azuread: the bootstrap's Entra objects (the rollback webhook's applications).
        Cloud.AZURE: {"pulumi-azure-native", "pulumi-azuread"},
        Cloud.GCP: {"pulumi-gcp"},
        Cloud.KUBERNETES: {"pulumi-kubernetes"},
    }
    assert sdks == {"pulumi-policy", *expected[cloud]}
    assert "aideploy" not in (project / "requirements.txt").read_text()


@pytest.mark.usefixtures("any_component_available")
def test_generated_code_never_imports_aideploy(tmp_path: Path) -> None:
    project = _render(tmp_path, _answers())
    for path in project.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root in FIRST_PARTY:
                    # Our code may be imported only where it is vendored into the project.
                    vendored = (project / root / "__init__.py").is_file() or (
                        project / f"{root}.py"
                    ).is_file()
                    assert vendored, (path, name)


def test_stack_files_differ_only_where_parity_allows() -> None:
    from stacks.profiles import parity_violations

    specs = plan_project(_answers(), rng=random.Random(0)).specs
    dumped = {env: spec.model_dump(mode="json") for env, spec in specs.items()}
    assert parity_violations(dumped[Environment.DEV], dumped[Environment.STAGING]) == []
    assert parity_violations(dumped[Environment.STAGING], dumped[Environment.PROD]) == []


def test_pins_match_the_installed_sdks() -> None:
    from importlib.metadata import version

    pins = {**generator.COMMON_PINS}
    for cloud_pins in generator.CLOUD_PINS.values():
        pins.update(cloud_pins)
    for package, pinned in pins.items():
        assert version(package) == pinned, package


def test_patterns_cover_every_cloud() -> None:
    from components.registry import REGISTRY
    from components.spec import CLUSTER_PATTERNS

    # every cloud x pattern, but a cluster runs only the patterns that need no managed service
    cells = {
        (c, p)
        for c in project_clouds()
        for p in Pattern
        if c is not Cloud.KUBERNETES or p in CLUSTER_PATTERNS
    }
    assert cells == set(REGISTRY)
