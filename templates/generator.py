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
import random
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.bootstrap import (
    ACCOUNT_CONFIG_KEYS,
    CLIENT_OWNED_STORES,
    REGION_CONFIG_KEYS,
    TENANT_CONFIG_KEY,
    BootstrapSpec,
    account_groups,
    account_of,
    bootstrap_specs,
    registry_of,
)
from components.llm import LlmMode
from components.registry import (
    REGISTRY,
    bootstrap_waivers,
    is_available,
    policy_waivers,
    project_clouds,
)
from components.spec import (
    SHIPPED_PATTERNS,
    WILDCARD_DNS_DOMAINS,
    AuthMode,
    Cloud,
    DeploymentSpec,
    Environment,
    Pattern,
    describe_validation_error,
    spec_from_config,
)
from stacks.profiles import deep_merge, load_profile
from templates.answers import Answers, project_slug
from templates.pipeline_context import (
    EVALUATION,
    LLM_EVALUATION,
    pipeline_context,
    remove_other_ci,
    remove_other_pattern_files,
    vendor_parity_check,
)
from templates.runbooks import runbook_context

if TYPE_CHECKING:
    from stacks.cost import CostReport

__all__ = ["Answers", "GenerationError", "ProjectPlan", "generate", "plan_project", "project_slug"]

TEMPLATE_VERSION = "0.2.0"
TEMPLATES_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = TEMPLATES_DIR / "client-project"
REPO_ROOT = TEMPLATES_DIR.parent
# Template versions, newest first, with migration notes (vendored as docs/template-changelog.md).
CHANGELOG = TEMPLATES_DIR / "CHANGELOG.md"

# Exact pins written into every generated requirements.txt; pyproject.toml pins the same
# versions (a test keeps them in step), so what we test is what clients install.
COMMON_PINS: dict[str, str] = {
    "pulumi": "3.272.0",
    "pulumi-policy": "1.21.0",
    "pydantic": "2.14.3",
    "PyYAML": "6.0.3",
    "pytest": "9.2.0",
    # `python -m stacks.promote` edits stack files keeping their comments.
    "ruamel.yaml": "0.19.1",
}
CLOUD_PINS: dict[Cloud, dict[str, str]] = {
    Cloud.AWS: {"pulumi-aws": "7.51.1"},
    # pulumiverse-time: waits for Azure RBAC propagation before a key or role is used.
    # pulumi-azuread: bootstrap's Entra objects (the rollback webhook's applications).
    Cloud.AZURE: {
        "pulumi-azure-native": "3.29.0",
        "pulumi-azuread": "6.11.1",
        "pulumiverse-time": "0.1.1",
    },
    Cloud.GCP: {"pulumi-gcp": "10.2.0"},
    Cloud.KUBERNETES: {"pulumi-kubernetes": "4.34.2"},
}

# Pins the patterns that ship model files add: the release tool's signatures (cryptography) and,
# per cloud, the key service's client where the signer is not plain HTTPS (AWS KMS via boto3).
SHIPPED_PINS: dict[str, str] = {"cryptography": "50.0.2"}
SHIPPED_CLOUD_PINS: dict[Cloud, dict[str, str]] = {Cloud.AWS: {"boto3": "1.44.8"}}

# The bootstrap program's pack config (policies/config/): prod's levels, its own waivers.
BOOTSTRAP_CONFIG = "bootstrap.json"

# The components every project vendors besides its cloud's package.
SHARED_COMPONENT_FILES = (
    "__init__.py",
    "spec.py",
    "llm.py",
    "registry.py",
    "naming.py",
    "alarms.py",
    "base.py",
    "config.py",
    "bootstrap.py",
    "rollout.py",
)

# The release tool (`python -m ci.release`) and the telemetry contract, vendored into projects of
# a pattern that ships model files.
SHIPPED_COMPONENT_FILES = (
    "release_manifest.py",
    "release_cli.py",
    "release_signers.py",
    "release_channels.py",
    "embedded_telemetry.py",
)

# The shared decision vectors (tests/vectors/): the project's own tests hold
# `python -m ci.rollout decide` to the same vectors every rollback path is tested with.
SHARED_TEST_VECTORS = ("rollout_decisions.json",)

# Exact pins written into every generated requirements.txt (see above) and the suffix alphabet.
_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class GenerationError(Exception):
    """Bad input or a target we must not touch: one clear line for the user."""


def new_suffix(rng: random.Random | None = None) -> str:
    """A random 6-character name suffix (lowercase letters and digits)."""
    if rng is not None:
        return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(6))
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class ProjectPlan:
    """Everything ``aideploy new`` decides, computed once from the validated answers.

    ``stack_suffixes`` and ``bootstrap`` (per account, with its own suffix) are chosen here, at
    random, and recorded in the files written: no name of an existing stack is ever recomputed.
    ``specs`` are the validated spec of every stack; the stack files are written from the same
    sections they were validated from.
    """

    answers: Answers
    stack_suffixes: dict[Environment, str]
    bootstrap: dict[str, BootstrapSpec]
    sections: dict[Environment, dict[str, Any]]
    specs: dict[Environment, DeploymentSpec]

    @property
    def image(self) -> str:
        """The model image every stack starts with ("" for a pattern that ships model files)."""
        return str(self.sections[Environment.DEV]["model"].get("image", ""))


def client_repository(answers: Answers) -> str | None:
    """On kubernetes, the repository of the client's model image (no tag, no digest): where the
    pipeline pushes the images it builds. None elsewhere (bootstrap creates the registry)."""
    if answers.cloud is not Cloud.KUBERNETES or answers.model_image is None:
        return None
    name = answers.model_image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}"


def sample_image(answers: Answers, bootstrap: dict[str, BootstrapSpec]) -> str:
    """The sample model's image in the project's own registry (created by bootstrap, pushed by
    CI or by hand before the first `pulumi up`), tagged with the model version."""
    return f"{registry_of(bootstrap).image_repository}:{answers.model_version}"


def stack_sections(
    answers: Answers,
    environment: Environment,
    *,
    suffix: str | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """The project-namespaced config sections of one stack: answers + environment profile."""
    # A device API takes the client's JWTs only (components/<cloud>/delivery.py).
    shipped = answers.pattern in SHIPPED_PATTERNS
    api: dict[str, Any] = {"auth": AuthMode.JWT.value if shipped else answers.auth.value}
    if answers.jwt_issuer is not None:
        api["jwt_issuer"] = answers.jwt_issuer
    if answers.jwt_audience is not None:
        api["jwt_audience"] = answers.jwt_audience
    if environment in answers.domains:
        api["domain"] = answers.domains[environment]
    if answers.private_ca:
        api["private_ca"] = True
    model_image = image or answers.model_image
    if model_image is None and not shipped:
        raise ValueError("the model image is not known yet (the sample model needs a plan)")
    model: dict[str, Any] = {"name": answers.model_name, "version": answers.model_version}
    if not shipped:
        model["image"] = model_image
    base: dict[str, Any] = {
        "cloud": answers.cloud.value,
        "pattern": answers.pattern.value,
        "environment": environment.value,
        "region": answers.region,
        "owner": answers.owner,
        "model": model,
        "api": api,
        "alerts": {"emails": list(answers.alert_emails or (answers.owner,))},
        "rollout": {"strategy": answers.rollout.value},
    }
    if answers.cluster is not None:
        base["cluster"] = answers.cluster.model_dump(mode="json", exclude_none=True)
    if answers.llm is not LlmMode.NONE:
        # Written out in full: the guardrail a reviewer approves is the one in the stack file.
        base["llm"] = answers.llm_settings().model_dump(mode="json", exclude_none=True)
    if suffix is not None:
        base["suffix"] = suffix
    return deep_merge(base, load_profile(environment))


@dataclass(frozen=True)
class Suffixes:
    """The name suffixes a project was generated with (recorded in ``.aideploy.json``).

    An update renders with the recorded ones: a stack's globally unique names never change.
    """

    stacks: dict[Environment, str]
    bootstrap: dict[str, str]

    def to_json(self) -> dict[str, dict[str, str]]:
        """The ``suffixes`` entry of ``.aideploy.json``."""
        return {
            "stacks": {env.value: s for env, s in self.stacks.items()},
            "bootstrap": dict(self.bootstrap),
        }


def plan_project(
    answers: Answers,
    *,
    rng: random.Random | None = None,
    check_specs: bool = True,
    suffixes: Suffixes | None = None,
) -> ProjectPlan:
    """Decide every suffix, build and validate every stack's spec and every bootstrap spec.

    ``rng`` makes the suffixes reproducible (tests, golden renders); without it they are random.
    ``suffixes`` are a project's recorded ones (``aideploy update``); a stack or bootstrap
    account without one (none so far) gets a new one.
    """
    recorded = suffixes or Suffixes({}, {})
    stack_suffixes = {env: recorded.stacks.get(env) or new_suffix(rng) for env in Environment}
    groups = account_groups(answers.accounts)
    bootstrap = bootstrap_specs(
        project=answers.project_slug,
        cloud=answers.cloud,
        pattern=answers.pattern,
        region=answers.region,
        owner=answers.owner,
        accounts=answers.accounts,
        tenant=answers.tenant,
        ci=answers.ci,
        repo=answers.repo,
        model_name=answers.model_name,
        suffixes={name: recorded.bootstrap.get(name) or new_suffix(rng) for name in groups},
        state_endpoint=answers.state_endpoint,
        client_repository=client_repository(answers),
    )
    image = sample_image(answers, bootstrap) if answers.sample_model else answers.model_image
    sections = {
        env: stack_sections(answers, env, suffix=stack_suffixes[env], image=image)
        for env in Environment
    }
    specs = (
        {env: spec_from_config(answers.project_slug, sections[env]) for env in Environment}
        if check_specs
        else {}
    )
    return ProjectPlan(answers, stack_suffixes, bootstrap, sections, specs)


def build_stacks(answers: Answers) -> dict[Environment, DeploymentSpec]:
    """Every environment's validated spec: a bad combination fails before anything is written."""
    return plan_project(answers).specs


def provider_config(answers: Answers, environment: Environment) -> dict[str, Any]:
    """The provider keys of one stack: its region, and the account it must deploy into."""
    cloud = answers.cloud
    account = answers.accounts[environment]
    config: dict[str, Any] = {}
    if cloud in REGION_CONFIG_KEYS:  # a cluster has no region setting
        config[REGION_CONFIG_KEYS[cloud]] = answers.region
    # AWS takes a list of allowed accounts; Azure and GCP name the one subscription / project.
    config[ACCOUNT_CONFIG_KEYS[cloud]] = [account] if cloud is Cloud.AWS else account
    if answers.tenant is not None:
        config[TENANT_CONFIG_KEY] = answers.tenant
    return config


def stack_config(plan: ProjectPlan, environment: Environment) -> dict[str, Any]:
    """The ``config`` mapping of ``stacks/Pulumi.<env>.yaml``: provider config, then the spec's
    sections (namespaced by the project), then the evaluation settings."""
    answers = plan.answers
    slug = answers.project_slug
    config: dict[str, Any] = provider_config(answers, environment)
    for key, value in plan.sections[environment].items():
        config[f"{slug}:{key}"] = value
    # The model-validation stage's dataset, scorer and baseline (eval/run.py); not part of the
    # spec, identical in every stack.
    config[f"{slug}:evaluation"] = dict(
        LLM_EVALUATION if answers.llm is not LlmMode.NONE else EVALUATION
    )
    return config


def stack_file_text(plan: ProjectPlan, environment: Environment) -> str:
    """The text of ``stacks/Pulumi.<env>.yaml``: the partial templates/stack.yaml the project's
    stack files include, rendered with this stack's values (for tools and tests that write a
    stack file without rendering a whole project)."""
    return _render_included_partial(
        "stack.yaml",
        environment=environment.value,
        project=plan.answers.project_slug,
        config=stack_config(plan, environment),
    )


def _render_included_partial(name: str, **values: Any) -> str:
    """Render a partial of templates/client-project/templates/ with ``values`` in the
    environment cookiecutter renders the project in (StrictUndefined, trailing newlines kept,
    the filters of templates/jinja_filters.py): the same bytes as where a project file
    includes it."""
    from cookiecutter.environment import StrictEnvironment
    from jinja2 import FileSystemLoader

    from templates.jinja_filters import EXTENSIONS

    env = StrictEnvironment(
        context={"cookiecutter": {"_extensions": list(EXTENSIONS)}},
        keep_trailing_newline=True,
        loader=FileSystemLoader(str(TEMPLATE_DIR / "templates")),
    )
    return str(env.get_template(name).render(**values))


def _markdown_text(value: str) -> str:
    """Escape text for Markdown prose so it cannot open links, HTML or code."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~&])", r"\\\1", value)


def requirement_pins(cloud: Cloud, pattern: Pattern | None = None) -> list[tuple[str, str]]:
    """The (package, version) pins of requirements.txt, by package name ignoring case: pinned
    public packages only, the client needs nothing from us."""
    pins = {**COMMON_PINS, **CLOUD_PINS[cloud]}
    if pattern in SHIPPED_PATTERNS:
        pins |= {**SHIPPED_PINS, **SHIPPED_CLOUD_PINS.get(cloud, {})}
    return sorted(pins.items(), key=lambda kv: kv[0].lower())


def _estimate_one(plan: ProjectPlan, env: Environment) -> CostReport:
    """One stack's estimate: its component captured under mocks with its spec and account."""
    from components.registry import component_for
    from offline.capture import capture
    from offline.program import StackRun
    from stacks.cost import estimate_run

    answers, spec = plan.answers, plan.specs[env]
    component = component_for(answers.cloud, answers.pattern)
    config = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in provider_config(answers, env).items()
    }

    def program() -> None:
        component(spec.project, spec)

    captured = capture(
        program, project=spec.project, stack=env.value, config=config, region=spec.region
    )
    return estimate_run(StackRun(spec.project, env.value, captured.resources, {}, config), spec)


_FORKED_PLAN: ProjectPlan | None = None


def _estimate_forked(env: Environment) -> CostReport:
    if _FORKED_PLAN is None:  # set by estimate_costs before the fork
        raise RuntimeError("no plan to estimate")
    return _estimate_one(_FORKED_PLAN, env)


def estimate_costs(plan: ProjectPlan) -> dict[Environment, CostReport]:
    """Each stack's monthly list price (stacks/cost.py), from the component run under mocks
    with the stack's own spec and account: what `aideploy cost` reports on the project.

    The three runs are independent, so where the platform can fork, two processes share them
    (the cloud SDK, imported once here, is inherited): scaffolding is a wait people feel.
    """
    import multiprocessing
    import os

    from components.registry import component_for

    component_for(plan.answers.cloud, plan.answers.pattern)  # import the SDK before forking
    envs = list(plan.specs)
    if "fork" not in multiprocessing.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return {env: _estimate_one(plan, env) for env in envs}
    global _FORKED_PLAN
    _FORKED_PLAN = plan
    try:
        with multiprocessing.get_context("fork").Pool(min(2, len(envs))) as pool:
            reports = pool.map(_estimate_forked, envs)
    finally:
        _FORKED_PLAN = None
    return dict(zip(envs, reports, strict=True))


def cost_context(costs: dict[Environment, CostReport] | None) -> dict[str, Any]:
    """The README's cost table: per stack, the monthly total and the biggest fixed items."""
    if not costs:
        return {"stacks": [], "notes": []}
    stacks = []
    for env, report in costs.items():
        fixed = [i for i in report.items if i.kind.value == "fixed" and i.monthly > 0]
        top = sorted(fixed, key=lambda i: -i.monthly)[:3]
        stacks.append(
            {
                "stack": env.value,
                "total": f"{report.monthly_total:,.2f}",
                "currency": report.currency,
                "usage": bool(report.usage_priced),
                "top": ", ".join(
                    f"{_markdown_text(i.resource_type.split(':')[-1])} {i.monthly:,.2f}"
                    for i in top
                ),
            }
        )
    first = next(iter(costs.values()))
    return {
        "stacks": stacks,
        "notes": [
            f"{first.cloud} list prices for {first.price_region} as of "
            f"{first.price_table_date}, {first.currency}"
        ],
    }


def template_context(
    plan: ProjectPlan, costs: dict[Environment, CostReport] | None = None
) -> dict[str, Any]:
    """The cookiecutter context: values only, the templates write the files. Free text is
    escaped here for Markdown (``*_md``) or written into YAML by the ``to_yaml`` filter
    (templates/jinja_filters.py, loaded through ``_extensions``)."""
    from templates.jinja_filters import EXTENSIONS

    answers = plan.answers
    slug = answers.project_slug
    # The spec is built once (plan_project); only a plan made without checking has none.
    dev_spec = plan.specs.get(Environment.DEV)
    if dev_spec is None:
        dev_spec = spec_from_config(slug, plan.sections[Environment.DEV])
    return {
        "cookiecutter": {
            "project_slug": slug,
            "cloud": answers.cloud.value,
            "pattern": answers.pattern.value,
            "region": answers.region,
            "ci": answers.ci.value,
            "template_version": TEMPLATE_VERSION,
            "owner_md": _markdown_text(answers.owner),
            "name_md": _markdown_text(answers.name),
            "description_md": _markdown_text(answers.description),
            # Pulumi.yaml's description (free text: the template writes it with to_yaml).
            "pulumi_description": answers.description or f"AI deployment for {answers.name}",
            "requirement_pins": requirement_pins(answers.cloud, answers.pattern),
            # A pattern that ships signed model files to apps (embedded): no image, a release
            # tool, a sample app (templates choose their files and steps by this flag).
            "ships_model": answers.pattern in SHIPPED_PATTERNS,
            # Each stack file's config mapping, by environment (templates/stack.yaml).
            "stack_config": {env.value: stack_config(plan, env) for env in Environment},
            "services": ", ".join(REGISTRY[(answers.cloud, answers.pattern)].services),
            "model_version": answers.model_version,
            "model_name": answers.model_name,
            "model_image": plan.image,
            # The model contract's port and paths as the stacks resolve them (the spec's defaults
            # unless the stack file sets them; parity keeps them equal): docs/model-contract.md.
            "model_contract": dev_spec.model.model_dump(
                mode="json", include={"port", "health_path", "predict_path"}
            ),
            "sample_model": answers.sample_model,
            # "none", "hosted" or "self-hosted" (components/llm.py): the model server's guardrail
            # hook, hosted-model client and the guardrail runbook are rendered by this value.
            "llm": answers.llm.value,
            "llm_model": answers.llm_settings().model or "",
            "repo": answers.repo,
            "pulumi_version": COMMON_PINS["pulumi"],
            "domains": {
                e.value: (
                    # a bare wildcard-DNS domain stands for the gateway's address under it
                    f"<the load balancer's IP, dashed>.{answers.domains[e]}"
                    if answers.domains[e] in WILDCARD_DNS_DOMAINS
                    else answers.domains[e]
                )
                for e in Environment
                if e in answers.domains
            },
            # What bootstrap creates, per account (components/bootstrap.py names them).
            "bootstrap": bootstrap_context(plan),
            "costs": cost_context(costs),
            # CI workflows, cloud login and the rollback runbook (templates/pipeline_context.py).
            **pipeline_context(answers, plan.specs),
            # The rollback runbook's real names, alarms and routes (templates/runbooks.py).
            "runbook": runbook_context(plan.specs),
            "_copy_without_render": [],
            # The Jinja extensions cookiecutter loads (the to_yaml filter).
            "_extensions": list(EXTENSIONS),
        }
    }


def bootstrap_context(plan: ProjectPlan) -> dict[str, Any]:
    """Values the bootstrap files and docs show: one entry per account, plus per environment."""
    answers = plan.answers
    accounts = []
    for stack, spec in plan.bootstrap.items():
        accounts.append(
            {
                "stack": stack,
                "account": spec.account,
                "environments": [e.value for e in spec.environments],
                "registry": spec.registry,
                "backend_url": spec.backend_url,
                "state_name": spec.state_name,
                "identities": {r.value: spec.identity_name(r) for r in spec.identities},
            }
        )
    environments = {}
    for env in Environment:
        spec = account_of(plan.bootstrap, env)
        environments[env.value] = {
            "stack": spec.stack,
            "account": spec.account,
            "backend_url": spec.backend_url,
            "secrets_provider": spec.secrets_provider(env),
        }
    return {
        "accounts": accounts,
        "environments": environments,
        "shared_account": answers.shared_account,
        "image_repository": registry_of(plan.bootstrap).image_repository,
        "client_owned": answers.cloud in CLIENT_OWNED_STORES,
        "registry_stack": registry_of(plan.bootstrap).stack,
        "registry_account": registry_of(plan.bootstrap).account,
    }


def bootstrap_stack_text(plan: ProjectPlan, stack: str) -> str:
    """``bootstrap/stacks/Pulumi.<stack>.yaml`` from its template (one file per account)."""
    spec = plan.bootstrap[stack]
    answers = plan.answers
    provider: dict[str, Any] = {}
    if answers.cloud in REGION_CONFIG_KEYS:  # a cluster has no region setting
        provider[REGION_CONFIG_KEYS[answers.cloud]] = answers.region
    provider[ACCOUNT_CONFIG_KEYS[answers.cloud]] = (
        [spec.account] if answers.cloud is Cloud.AWS else spec.account
    )
    if answers.tenant is not None:
        provider[TENANT_CONFIG_KEY] = answers.tenant
    return render_partial(
        "bootstrap-stack.yaml",
        project=answers.project_slug,
        provider=provider,
        spec=spec.model_dump(mode="json"),
    )


def render_partial(name: str, **values: Any) -> str:
    """Render a template of templates/client-project/templates/ (StrictUndefined) with values.

    Files there are rendered once per item (a bootstrap stack per account) or included by the
    project's templates; they are never copied into a project as they are.
    """
    return _render_included_partial(name, **values)


def _vendor(project_dir: Path, cloud: Cloud, pattern: Pattern | None = None) -> None:
    """Copy the shared components, the chosen cloud's package, the policy pack and the offline
    engine."""
    src = REPO_ROOT / "components"
    dst = project_dir / "components"
    dst.mkdir()
    shipped = SHIPPED_COMPONENT_FILES if pattern in SHIPPED_PATTERNS else ()
    for name in (*SHARED_COMPONENT_FILES, *shipped):
        shutil.copy2(src / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src / cloud.value, dst / cloud.value, ignore=ignore)
    shutil.copytree(REPO_ROOT / "policies", project_dir / "policies", ignore=ignore)
    # The engine the offline check, parity, cost and the project's tests run stacks with.
    shutil.copytree(REPO_ROOT / "offline", project_dir / "offline", ignore=ignore)
    vectors = project_dir / "tests" / "vectors"
    vectors.mkdir(parents=True, exist_ok=True)
    for name in SHARED_TEST_VECTORS:
        shutil.copy2(REPO_ROOT / "tests" / "vectors" / name, vectors / name)
    # The pattern docs the vendored components cite ("see docs/patterns/<cloud>.md").
    docs = project_dir / "docs" / "patterns"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "docs" / "patterns" / f"{cloud.value}.md", docs / f"{cloud.value}.md")
    # The rule catalogue the vendored pack was generated with (python -m policies.catalogue).
    shutil.copy2(REPO_ROOT / "docs" / "rules.md", project_dir / "docs" / "rules.md")
    # The template's versions and migration notes: an update brings the new entries along.
    shutil.copy2(CHANGELOG, project_dir / "docs" / "template-changelog.md")


# Tool caches a developer may have left inside the template folder; never part of a project.
_CACHE_DIRS = frozenset(
    {"__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache", ".hypothesis"}
)


def _drop_caches(project_dir: Path) -> None:
    for path in sorted(project_dir.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _CACHE_DIRS:
            shutil.rmtree(path, ignore_errors=True)


def _record_waivers(project_dir: Path, plan: ProjectPlan) -> None:
    """Write the component's declared waivers (each with its reason) into each environment's
    pack config, and the bootstrap's into policies/config/bootstrap.json.

    Both runners read policies/config/<env>.json, so a control the cloud cannot provide is
    waived visibly and with a reason, never silently; each environment's file names only what
    that environment's stack needs waived (its spec decides: a domain, a private CA).
    """
    answers = plan.answers
    config_dir = project_dir / "policies" / "config"
    # The bootstrap program is held to prod's levels, with its own declared waivers only.
    bootstrap = merge_waivers(
        json.loads((config_dir / "prod.json").read_text()),
        bootstrap_waivers(answers.cloud, answers.project_slug),
    )
    for env, spec in plan.specs.items():
        config_file = config_dir / f"{env.value}.json"
        declared = policy_waivers(answers.cloud, answers.pattern, answers.project_slug, spec)
        config = merge_waivers(json.loads(config_file.read_text()), declared)
        config_file.write_text(json.dumps(config, indent=2) + "\n")
    (config_dir / BOOTSTRAP_CONFIG).write_text(json.dumps(bootstrap, indent=2) + "\n")


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
    plan: ProjectPlan
    costs: dict[Environment, CostReport] = field(default_factory=dict)


# The project's record of how it was generated: answers, template version, suffixes and the
# hash of every file of the pristine render (what `aideploy update` merges against).
RECORD_FILE = ".aideploy.json"
# Parts of a project's tree that are never the template's: tools' caches, the virtualenv, git.
UNTRACKED_PARTS = frozenset({".git", ".venv", "venv", "node_modules", *_CACHE_DIRS})


def file_hash(data: bytes) -> str:
    """The hash recorded per file: sha256 of its bytes with CRLF line ends read as LF, so a
    checkout that converts line ends (git's core.autocrlf on Windows) is not an edit."""
    import hashlib

    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    """``{relative POSIX path: hash}`` of every file under ``root`` that a render can hold:
    everything but the record itself, caches, virtualenvs and git's own folder."""
    hashes: dict[str, str] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] == RECORD_FILE or UNTRACKED_PARTS.intersection(rel.parts):
            continue
        if rel.parts[0].startswith(".aideploy-update-"):  # an update's own backup, mid-move
            continue
        if path.is_file() and not path.is_symlink():
            hashes[rel.as_posix()] = file_hash(path.read_bytes())
    return dict(sorted(hashes.items()))


def record_text(plan: ProjectPlan, files: dict[str, str], *, costs: bool) -> str:
    """``.aideploy.json``: what an update needs to render this project's pristine files again."""
    answers = plan.answers
    suffixes = Suffixes(
        plan.stack_suffixes, {name: spec.suffix for name, spec in plan.bootstrap.items()}
    )
    record = {
        "template_version": TEMPLATE_VERSION,
        "answers": answers.model_dump(mode="json"),
        "project": answers.project_slug,
        "suffixes": suffixes.to_json(),
        # Whether the README carries the cost table (an update estimates again).
        "costs": costs,
        "files": files,
    }
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def check_generatable(answers: Answers) -> None:
    """Refuse a cloud or pattern the template cannot scaffold yet (one line)."""
    if answers.cloud not in project_clouds():
        raise GenerationError(
            f"{answers.cloud.value}: its components, bootstrap and policy rules are built, but "
            "not the project template (pipelines, runbooks) yet; `aideploy new` cannot "
            "scaffold it"
        )
    if not is_available(answers.cloud, answers.pattern):
        raise GenerationError(
            f"the {answers.pattern.value} pattern is not available on {answers.cloud.value} yet"
        )


def render_project(
    plan: ProjectPlan, staging: Path, costs: dict[Environment, CostReport] | None = None
) -> Path:
    """Render the whole project of ``plan`` into a new folder under ``staging``; return it.

    Deterministic for a plan: the same answers and suffixes give the same bytes, which is what
    lets ``aideploy update`` tell the client's edits from the template's changes.
    """
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_files

    answers = plan.answers
    reports = costs or {}
    try:
        rendered = Path(
            generate_files(
                repo_dir=str(TEMPLATE_DIR),
                context=template_context(plan, reports),
                output_dir=str(staging),
                accept_hooks=False,
            )
        )
    except CookiecutterException as exc:
        raise GenerationError(f"template error: {exc}") from exc
    _drop_caches(rendered)
    _vendor(rendered, answers.cloud, answers.pattern)
    _record_waivers(rendered, plan)
    # Only the chosen CI system's files stay; the parity check runs in the client's pipeline.
    remove_other_ci(rendered, answers.ci.value)
    remove_other_pattern_files(rendered, answers.pattern in SHIPPED_PATTERNS)
    vendor_parity_check(rendered)
    bootstrap_stacks = rendered / "bootstrap" / "stacks"
    bootstrap_stacks.mkdir(parents=True, exist_ok=True)
    for stack in plan.bootstrap:
        (bootstrap_stacks / f"Pulumi.{stack}.yaml").write_text(bootstrap_stack_text(plan, stack))
    (rendered / RECORD_FILE).write_text(
        record_text(plan, tree_hashes(rendered), costs=bool(reports))
    )
    return rendered


def generate(
    answers: Answers,
    target: Path,
    *,
    force: bool = False,
    rng: random.Random | None = None,
    costs: bool = False,
) -> GenerationResult:
    """Scaffold the client project for ``answers`` at ``target``, atomically.

    ``rng`` makes the random name suffixes reproducible (tests); by default they are random.
    ``costs`` estimates each stack's monthly list price for the README and the result (runs
    the component under mocks once per stack: a few seconds; `aideploy new` asks for it).
    """
    try:
        plan = plan_project(answers, rng=rng)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise GenerationError(f"invalid answers: {describe_validation_error(exc)}") from exc
    check_generatable(answers)

    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise GenerationError(f"{target} exists and is not a folder")
    if _is_nonempty_dir(target) and not force:
        raise GenerationError(f"{target} exists and is not empty; use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    reports = estimate_costs(plan) if costs else {}

    # Render beside the target so the final move is a rename on one filesystem.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        rendered = render_project(plan, staging, reports)
        files = sum(1 for p in rendered.rglob("*") if p.is_file())
        _move_into_place(rendered, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return GenerationResult(
        target, answers.project_slug, files, tuple(e.value for e in Environment), plan, reports
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
