"""``aideploy new``: validate answers, render the client-project template, vendor, move into place.

Order of work, so bad input never leaves anything behind:
1. validate every answer (pydantic) and build + validate the spec of every stack;
2. refuse an existing non-empty target unless ``force``;
3. render the cookiecutter template into a temporary folder beside the target and vendor the
   components and the policy pack into it;
4. move the finished folder into place in one rename (replacing the old one only with ``force``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from components.registry import REGISTRY, is_available, policy_waivers
from components.spec import (
    EMAIL_RE,
    IMAGE_RE,
    MODEL_NAME_RE,
    PROJECT_NAME_RE,
    VERSION_RE,
    AuthMode,
    Cloud,
    DeploymentSpec,
    Environment,
    Pattern,
    RolloutStrategy,
    describe_validation_error,
    spec_from_config,
)
from stacks.profiles import deep_merge, load_profile
from templates.pipeline_context import (
    EVALUATION,
    pipeline_context,
    remove_other_ci,
    vendor_parity_check,
)

TEMPLATE_VERSION = "0.1.0"
TEMPLATES_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = TEMPLATES_DIR / "client-project"
REPO_ROOT = TEMPLATES_DIR.parent

# Exact pins written into every generated requirements.txt; pyproject.toml pins the same
# versions (a test keeps them in step), so what we test is what clients install.
COMMON_PINS: dict[str, str] = {
    "pulumi": "3.272.0",
    "pulumi-policy": "1.21.0",
    "pydantic": "2.14.3",
    "PyYAML": "6.0.3",
    "pytest": "9.2.0",
}
CLOUD_PINS: dict[Cloud, dict[str, str]] = {
    Cloud.AWS: {"pulumi-aws": "7.51.1"},
    Cloud.AZURE: {"pulumi-azure-native": "3.29.0"},
    Cloud.GCP: {"pulumi-gcp": "10.2.0"},
}

# Provider configuration each cloud's stack file carries, from the answers.
PROVIDER_CONFIG: dict[Cloud, Callable[[Answers], dict[str, Any]]] = {
    Cloud.AWS: lambda a: {"aws:region": a.region},
    Cloud.AZURE: lambda a: {"azure-native:location": a.region},
    Cloud.GCP: lambda a: {"gcp:region": a.region, "gcp:project": a.gcp_project or a.project_slug},
}

# The components every project vendors besides its cloud's package.
SHARED_COMPONENT_FILES = (
    "__init__.py",
    "spec.py",
    "registry.py",
    "naming.py",
    "alarms.py",
    "base.py",
    "config.py",
)

_NAME_INPUT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 _.-]{0,59}$")
_DESCRIPTION_MAX = 200
_GCP_PROJECT_RE = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"


class GenerationError(Exception):
    """Bad input or a target we must not touch: one clear line for the user."""


def project_slug(name: str) -> str:
    """Turn a display name into a valid Pulumi project / cloud resource prefix.

    ``"Acme Support"`` -> ``"acme-support"``. Anything beyond letters, digits, spaces, dashes,
    underscores and dots is refused rather than silently dropped, so a hostile name never
    becomes a different, surprising one.
    """
    if not _NAME_INPUT_RE.fullmatch(name.strip()):
        raise ValueError(
            "project name must start with a letter and contain only letters, digits, spaces, "
            "dashes, underscores and dots (at most 60 characters)"
        )
    slug = re.sub(r"[ _.]+", "-", name.strip().lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-")
    if not PROJECT_NAME_RE.fullmatch(slug):
        raise ValueError(
            f"project name {name!r} gives {slug!r}, which is not a valid project name "
            "(3-40 characters, lowercase letters, digits and dashes, starting with a letter)"
        )
    return slug


class Answers(BaseModel):
    """What ``aideploy new`` asks. Validated before anything is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cloud: Cloud
    pattern: Pattern
    region: str
    owner: Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)]
    description: str = Field("", max_length=_DESCRIPTION_MAX)
    model_name: Annotated[str, StringConstraints(pattern=MODEL_NAME_RE.pattern)] = "model"
    model_version: Annotated[str, StringConstraints(pattern=VERSION_RE.pattern)] = "1.0.0"
    model_image: Annotated[str, StringConstraints(pattern=IMAGE_RE.pattern)] | None = None
    alert_emails: tuple[Annotated[str, StringConstraints(pattern=EMAIL_RE.pattern)], ...] = ()
    auth: AuthMode = AuthMode.JWT_AND_API_KEY
    rollout: RolloutStrategy = RolloutStrategy.CANARY
    ci: Literal["github", "gitlab"] = "github"
    gcp_project: Annotated[str, StringConstraints(pattern=_GCP_PROJECT_RE)] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        project_slug(value)
        return value.strip()

    @field_validator("description")
    @classmethod
    def _plain_description(cls, value: str) -> str:
        # One line of prose: control characters (newlines included) could break out of YAML or
        # Markdown structure; everything else is escaped where it is written.
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("description must be a single line without control characters")
        return value.strip()

    @property
    def project_slug(self) -> str:
        """The Pulumi project name."""
        return project_slug(self.name)

    @property
    def image(self) -> str:
        """The model image, defaulting to one under the project's name."""
        return (
            self.model_image
            or f"ghcr.io/{self.project_slug}/{self.model_name}:{self.model_version}"
        )


def stack_sections(answers: Answers, environment: Environment) -> dict[str, Any]:
    """The project-namespaced config sections of one stack: answers + environment profile."""
    base: dict[str, Any] = {
        "cloud": answers.cloud.value,
        "pattern": answers.pattern.value,
        "environment": environment.value,
        "region": answers.region,
        "owner": answers.owner,
        "model": {
            "name": answers.model_name,
            "version": answers.model_version,
            "image": answers.image,
        },
        "api": {"auth": answers.auth.value},
        "alerts": {"emails": list(answers.alert_emails or (answers.owner,))},
        "rollout": {"strategy": answers.rollout.value},
    }
    return deep_merge(base, load_profile(environment))


def build_stacks(answers: Answers) -> dict[Environment, DeploymentSpec]:
    """Every environment's validated spec: a bad combination fails before anything is written."""
    return {
        env: spec_from_config(answers.project_slug, stack_sections(answers, env))
        for env in Environment
    }


def stack_file_text(answers: Answers, environment: Environment) -> str:
    """The YAML of ``stacks/Pulumi.<env>.yaml``: provider config, then the spec's sections."""
    slug = answers.project_slug
    config: dict[str, Any] = dict(PROVIDER_CONFIG[answers.cloud](answers))
    for key, value in stack_sections(answers, environment).items():
        config[f"{slug}:{key}"] = value
    # The model-validation stage's dataset, scorer and baseline (eval/run.py); not part of the
    # spec, identical in every stack.
    config[f"{slug}:evaluation"] = dict(EVALUATION)
    header = (
        f"# Stack {environment.value} of {slug}: generated by aideploy {TEMPLATE_VERSION}.\n"
        "# Only capacity, retention, alert routing and rollout timing may differ between\n"
        "# environments (stacks/parity.yaml in aideploy); everything else must match.\n"
    )
    return header + yaml.safe_dump({"config": config}, sort_keys=False, width=100)


def _markdown_text(value: str) -> str:
    """Escape text for Markdown prose so it cannot open links, HTML or code."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~&])", r"\\\1", value)


def requirements_text(cloud: Cloud) -> str:
    """Pinned public packages only: the client needs nothing from us."""
    pins = {**COMMON_PINS, **CLOUD_PINS[cloud]}
    return "".join(
        f"{pkg}=={ver}\n" for pkg, ver in sorted(pins.items(), key=lambda kv: kv[0].lower())
    )


def template_context(answers: Answers) -> dict[str, Any]:
    """The cookiecutter context. Every free-text value is pre-serialised or escaped here."""
    slug = answers.project_slug
    return {
        "cookiecutter": {
            "project_slug": slug,
            "cloud": answers.cloud.value,
            "pattern": answers.pattern.value,
            "region": answers.region,
            "ci": answers.ci,
            "template_version": TEMPLATE_VERSION,
            "owner_md": _markdown_text(answers.owner),
            "name_md": _markdown_text(answers.name),
            "description_md": _markdown_text(answers.description),
            "pulumi_yaml": yaml.safe_dump(
                {
                    "name": slug,
                    "description": answers.description or f"AI deployment for {answers.name}",
                    "runtime": {
                        "name": "python",
                        "options": {"toolchain": "pip", "virtualenv": ".venv"},
                    },
                    "stackConfigDir": "stacks",
                },
                sort_keys=False,
            ),
            "requirements": requirements_text(answers.cloud),
            "stack_dev": stack_file_text(answers, Environment.DEV),
            "stack_staging": stack_file_text(answers, Environment.STAGING),
            "stack_prod": stack_file_text(answers, Environment.PROD),
            "services": ", ".join(REGISTRY[(answers.cloud, answers.pattern)].services),
            "model_version": answers.model_version,
            # CI workflows, cloud login and the rollback runbook (templates/pipeline_context.py).
            **pipeline_context(answers, build_stacks(answers)),
            "_copy_without_render": [],
        }
    }


def _vendor(project_dir: Path, cloud: Cloud) -> None:
    """Copy the shared components, the chosen cloud's package and the policy pack."""
    src = REPO_ROOT / "components"
    dst = project_dir / "components"
    dst.mkdir()
    for name in SHARED_COMPONENT_FILES:
        shutil.copy2(src / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src / cloud.value, dst / cloud.value, ignore=ignore)
    shutil.copytree(REPO_ROOT / "policies", project_dir / "policies", ignore=ignore)


# Tool caches a developer may have left inside the template folder; never part of a project.
_CACHE_DIRS = frozenset(
    {"__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache", ".hypothesis"}
)


def _drop_caches(project_dir: Path) -> None:
    for path in sorted(project_dir.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _CACHE_DIRS:
            shutil.rmtree(path, ignore_errors=True)


def _record_waivers(project_dir: Path, answers: Answers) -> None:
    """Write the component's declared waivers (each with its reason) into every pack config.

    Both runners read policies/config/<env>.json, so a control the cloud cannot provide is
    waived visibly and with a reason, never silently.
    """
    declared = policy_waivers(answers.cloud, answers.pattern, answers.project_slug)
    if not declared:
        return
    for config_file in sorted((project_dir / "policies" / "config").glob("*.json")):
        config = merge_waivers(json.loads(config_file.read_text()), declared)
        config_file.write_text(json.dumps(config, indent=2) + "\n")


def merge_waivers(
    config: dict[str, Any], declared: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    """``config`` (pack config) with the declared waivers added to each rule's list."""
    for rule, waivers in declared.items():
        entry = config.setdefault(rule, {})
        existing = entry.setdefault("waivers", [])
        existing.extend(w for w in waivers if w not in existing)
    return config


def _is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


@dataclass(frozen=True)
class GenerationResult:
    """Where the project landed and what it holds."""

    path: Path
    project: str
    files: int
    stacks: tuple[str, ...]


def generate(answers: Answers, target: Path, *, force: bool = False) -> GenerationResult:
    """Scaffold the client project for ``answers`` at ``target``, atomically."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_files

    try:
        build_stacks(answers)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise GenerationError(f"invalid answers: {describe_validation_error(exc)}") from exc
    if not is_available(answers.cloud, answers.pattern):
        raise GenerationError(
            f"the {answers.pattern.value} pattern is not available on {answers.cloud.value} yet"
        )

    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise GenerationError(f"{target} exists and is not a folder")
    if _is_nonempty_dir(target) and not force:
        raise GenerationError(f"{target} exists and is not empty; use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)

    # Render beside the target so the final move is a rename on one filesystem.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        try:
            rendered = Path(
                generate_files(
                    repo_dir=str(TEMPLATE_DIR),
                    context=template_context(answers),
                    output_dir=str(staging),
                    accept_hooks=False,
                )
            )
        except CookiecutterException as exc:
            raise GenerationError(f"template error: {exc}") from exc
        _drop_caches(rendered)
        _vendor(rendered, answers.cloud)
        _record_waivers(rendered, answers)
        # Only the chosen CI system's files stay; the parity check runs in the client's pipeline.
        remove_other_ci(rendered, answers.ci)
        vendor_parity_check(rendered)
        (rendered / ".aideploy.json").write_text(
            json.dumps(
                {
                    "template_version": TEMPLATE_VERSION,
                    "answers": answers.model_dump(mode="json"),
                    "project": answers.project_slug,
                },
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
        files = sum(1 for p in rendered.rglob("*") if p.is_file())
        _move_into_place(rendered, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return GenerationResult(
        target, answers.project_slug, files, tuple(e.value for e in Environment)
    )


def _move_into_place(rendered: Path, target: Path) -> None:
    """Replace ``target`` with ``rendered``; the old content survives until the new is in place."""
    if not target.exists():
        os.replace(rendered, target)
        return
    backup = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, backup)
    try:
        os.replace(rendered, target)
    except OSError:
        os.replace(backup, target)  # put the user's folder back as it was
        raise
    shutil.rmtree(backup, ignore_errors=True)
