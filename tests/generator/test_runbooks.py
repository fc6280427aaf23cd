"""The generated rollback runbook against the resources its project's program registers.

Issue 10 item 5, client-journey review #11: a runbook that names a Container App, a URL map or
an alarm that does not exist fails the person reading it at the worst moment. For every cloud x
pattern a project is generated and its staging and prod stacks are run under mocks (as
`python -m policies.check` does); then every name the runbook shows, every alarm it lists and
every resource a cloud CLI command of it names must be one the stack really registers, in the
environment the command is written for. Nothing here restates a name: both sides come from the
generated files and the captured resources, so a component that renames a thing fails here.
"""

from __future__ import annotations

import random
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import embedded_telemetry as telemetry
from components.alarms import alarm_name, rollback_alarms
from components.registry import offered_patterns, scaffolded
from components.spec import SHIPPED_PATTERNS, Cloud, DeploymentSpec, Environment, Pattern
from policies.runner.capture import CapturedResource
from policies.runner.program import StackRun, run_stack
from templates.generator import generate
from templates.runbooks import RUNBOOK_ENVIRONMENTS, destination_text, has_candidate_path
from tests.conftest import candidate_image, of_type, sample_answers, sample_plan

# Every offered pattern on every cloud that builds it (read from the registry, not by importing
# the component: a component that fails to import must fail its case, not vanish from the list).
CASES = [(c, p) for c in Cloud for p in offered_patterns() if scaffolded(c, p)]

# The resource type each cloud's alarms are (their exact names are alarm_name(spec, key)).
ALARM_TYPES: dict[Cloud, str] = {
    Cloud.AWS: "aws:cloudwatch/metricAlarm:MetricAlarm",
    Cloud.AZURE: "azure-native:monitor:ScheduledQueryRule",
    Cloud.GCP: "gcp:monitoring/alertPolicy:AlertPolicy",
}
# CLI flags whose value names one resource (or several, space separated): the resource type it
# must be found on ("" = any resource of the environment).
NAME_FLAGS: dict[str, str] = {
    "--names": "aws:lb/targetGroup:TargetGroup",
    "--endpoint-name": "aws:sagemaker/endpoint:Endpoint",
    "--stage-name": "aws:apigateway/stage:Stage",
    "--resource-group": "azure-native:resources:ResourceGroup",
    "--workspace-name": "azure-native:machinelearningservices:Workspace",
    "--name": "",
}
# The region a command runs in must be the stack's (its provider config).
REGION_FLAG = "--region"
# CLI flags whose value is a list of "<name>=<weight>" (or AWS shorthand VariantName=<name>,...):
# the names must be traffic targets of this resource type.
WEIGHT_FLAGS: dict[str, str] = {
    "--label-weight": "azure-native:app:ContainerApp",
    "--traffic": "azure-native:machinelearningservices:OnlineDeployment",
    "--mirror-traffic": "azure-native:machinelearningservices:OnlineDeployment",
    "--desired-weights-and-capacities": "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
}
# gcloud command groups whose first positional argument names a resource of this type.
GCLOUD_POSITIONAL: dict[tuple[str, ...], str] = {
    ("compute", "url-maps"): "gcp:compute/uRLMap:URLMap",
    ("run", "services"): "gcp:cloudrunv2/service:Service",
    ("ai", "endpoints"): "gcp:vertex/aiEndpoint:AiEndpoint",
    ("functions", "logs"): "gcp:cloudfunctionsv2/function:Function",
}
# A JMESPath filter naming a resource by name (`items[?name=='x']`): the type it names.
QUERY_NAMES: dict[str, str] = {"get-rest-apis": "aws:apigateway/restApi:RestApi"}
CLIS = ("aws", "az", "gcloud")


@dataclass(frozen=True)
class Project:
    """One generated project: its runbook, its stack specs and its captured stacks."""

    cloud: Cloud
    pattern: Pattern
    slug: str
    runbook: str
    specs: dict[Environment, DeploymentSpec]
    runs: dict[Environment, StackRun]


@pytest.fixture(scope="module", params=CASES, ids=[f"{c.value}-{p.value}" for c, p in CASES])
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    cloud, pattern = request.param
    root = tmp_path_factory.mktemp("runbooks") / f"{cloud.value}-{pattern.value}"
    generate(sample_answers(cloud, pattern), root, rng=random.Random(0))
    plan = sample_plan(cloud, pattern)
    if has_candidate_path(pattern):
        # A release in progress, the moment the runbook is for: a candidate in both stacks.
        for env in RUNBOOK_ENVIRONMENTS:
            with_candidate(root, plan.answers.project_slug, env, candidate_image(cloud, pattern))
    return Project(
        cloud,
        pattern,
        plan.answers.project_slug,
        (root / "docs" / "runbooks" / "rollback.md").read_text(),
        plan.specs,
        {env: run_stack(root, env.value) for env in RUNBOOK_ENVIRONMENTS},
    )


def with_candidate(root: Path, slug: str, env: Environment, image: str) -> None:
    """Name a candidate release in the stack file, as `python -m stacks.promote` would."""
    path = root / "stacks" / f"Pulumi.{env.value}.yaml"
    data = yaml.safe_load(path.read_text())
    rollout = data["config"][f"{slug}:rollout"]
    rollout.update(candidate_version=image.rsplit(":", 1)[1], candidate_image=image)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# -- reading the captured resources ------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def strings_of(resources: list[CapturedResource], type_: str = "") -> set[str]:
    """Every string input of the resources (of ``type_`` when given), at any depth."""
    chosen = of_type(resources, type_) if type_ else resources
    return {s for r in chosen for s in _strings(dict(r.inputs))}


def top_level_strings(resources: list[CapturedResource]) -> set[str]:
    """The string inputs of the resources' first level: their names, not their contents."""
    return {v for r in resources for v in r.inputs.values() if isinstance(v, str)}


# -- reading the runbook -----------------------------------------------------------------------


def code_blocks(text: str) -> dict[Environment, list[str]]:
    """The lines of the runbook's code blocks, by the environment their `# <env>` line names."""
    blocks: dict[Environment, list[str]] = {env: [] for env in Environment}
    for body in re.findall(r"```\n(.*?)```", text, flags=re.S):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        if lines and lines[0].startswith("# ") and lines[0][2:] in {e.value for e in Environment}:
            blocks[Environment(lines[0][2:])].extend(lines[1:])
    return blocks


def cli_commands(line: str) -> Iterator[list[str]]:
    """The cloud CLI commands of a shell line, as words (``VAR=$(cmd)`` and ``"$(cmd)"`` too)."""
    for piece in re.split(r"\$\(|\)\"?(?=\s|$)|\|", line):
        try:
            words = shlex.split(piece.strip().removeprefix('"'))
        except ValueError:
            continue
        while words and "=" in words[0] and not words[0].startswith("-"):
            words = words[1:]  # a variable assignment before the command
        if words and words[0] in CLIS:
            yield words


def flag_values(words: list[str], flag: str) -> list[str]:
    """The values after ``flag`` up to the next flag (``--flag=value`` too)."""
    values: list[str] = []
    for i, word in enumerate(words):
        if word.startswith(f"{flag}="):
            values.append(word.split("=", 1)[1])
        elif word == flag:
            for nxt in words[i + 1 :]:
                if nxt.startswith("--"):
                    break
                values.extend(nxt.split())
    return values


def weighted_names(value: str) -> list[str]:
    """Names in a weight list: ``a=100`` -> a; ``VariantName=a,DesiredWeight=1`` -> a."""
    if "VariantName=" in value:
        return re.findall(r"VariantName=([^,\s]+)", value)
    return [value.split("=", 1)[0]]


def env_of(name: str, slug: str) -> Environment | None:
    """The environment a project-scoped name belongs to (``<slug>-<env>...``)."""
    for env in Environment:
        if name.startswith(f"{slug}-{env.value}"):
            return env
    return None


def is_placeholder(value: str) -> bool:
    """A value the reader fills in (shell variable, an upper-case id, an `<...>` slot)."""
    return value.startswith(("$", "<")) or value.isupper() or value.split("=")[0].isupper()


# -- the tests ---------------------------------------------------------------------------------


def test_every_project_name_in_the_runbook_exists_in_its_environment(project: Project) -> None:
    names = set(
        re.findall(rf"(?<![\w.@/-]){re.escape(project.slug)}(?:-[a-z0-9]+)+", project.runbook)
    )
    assert names, "the runbook names no resource of the stack"
    missing = []
    for name in sorted(names):
        env = env_of(name, project.slug)
        assert env in project.runs, f"{name}: not a name of a stack the runbook covers"
        if name not in strings_of(project.runs[env].resources):
            missing.append(f"{name} ({env.value})")
    assert not missing, f"names their stack never registers: {missing}"


def test_the_runbook_lists_exactly_the_stacks_alarms(project: Project) -> None:
    listed = set(re.findall(r"^\| `([^`]+)` \|", project.runbook, flags=re.M))
    alarms = of_type(project.runs[Environment.PROD].resources, ALARM_TYPES[project.cloud])
    for env, run in project.runs.items():
        spec = project.specs[env]
        captured = top_level_strings(of_type(run.resources, ALARM_TYPES[project.cloud]))
        in_env = {n for n in listed if env_of(n, project.slug) is env}
        assert in_env, f"no alarm listed for {env.value}"
        # every listed alarm is one the stack creates, under exactly that name
        assert in_env <= captured, f"{env.value}: listed but not created: {in_env - captured}"
        if project.pattern in SHIPPED_PATTERNS:
            expected = {alarm_name(spec, rule.key) for rule in telemetry.ALARMS}
            assert in_env == expected, f"{env.value}: the runbook's device alarms differ"
        elif has_candidate_path(project.pattern):
            expected = {alarm_name(spec, rule.key) for rule in rollback_alarms(spec)}
            assert in_env == expected, f"{env.value}: the runbook's rollback alarms differ"
            watched = run.outputs.get("rollback_alarms")
            if isinstance(watched, list):  # the pipeline's watch reads this output
                assert set(watched) == in_env
    assert alarms


def test_every_cli_command_names_real_resources(project: Project) -> None:
    problems: list[str] = []
    commands = 0
    for env, lines in code_blocks(project.runbook).items():
        if not lines:
            continue
        run = project.runs[env]
        every = strings_of(run.resources)
        for line in lines:
            for words in cli_commands(line):
                commands += 1
                problems += _check_command(words, run.resources, every, env)
                regions = set(flag_values(words, REGION_FLAG)) - set(run.config.values())
                problems += [f"{env.value}: {' '.join(words[:3])}: region {r}" for r in regions]
    assert commands, "the runbook has no cloud CLI command"
    assert not problems, "\n".join(problems)


def _check_command(
    words: list[str], resources: list[CapturedResource], every: set[str], env: Environment
) -> list[str]:
    problems = []
    where = f"{env.value}: {' '.join(words[:4])}"
    for flag, type_ in NAME_FLAGS.items():
        known = strings_of(resources, type_) if type_ else every
        for value in flag_values(words, flag):
            if not is_placeholder(value) and value not in known:
                problems.append(f"{where}: {flag} {value} is not a {type_ or 'resource'} name")
    for flag, type_ in WEIGHT_FLAGS.items():
        known = strings_of(resources, type_)
        for value in flag_values(words, flag):
            for name in weighted_names(value):
                if not is_placeholder(name) and name not in known:
                    problems.append(f"{where}: {flag} names {name}, not a target of {type_}")
    if words[0] == "gcloud":
        for group, type_ in GCLOUD_POSITIONAL.items():
            if tuple(words[1:3]) == group:
                target = words[4] if len(words) > 4 else ""
                if target not in top_level_strings(of_type(resources, type_)):
                    problems.append(f"{where}: {target} is not a {type_}")
    for command, type_ in QUERY_NAMES.items():
        if command in words:
            for name in re.findall(r"name=='([^']+)'", " ".join(words)):
                if name not in top_level_strings(of_type(resources, type_)):
                    problems.append(f"{where}: {name} is not a {type_}")
    return problems


def test_every_stack_output_the_runbook_reads_is_exported(project: Project) -> None:
    named = {
        name
        for phrase in re.findall(r"stack outputs? ((?:`[a-z_]+`(?:, | and )?)+)", project.runbook)
        for name in re.findall(r"`([a-z_]+)`", phrase)
    }
    assert named
    for env, run in project.runs.items():
        assert named <= set(run.outputs), f"{env.value} exports none of {named - set(run.outputs)}"


def test_the_automatic_path_acts_on_the_listed_alarms(project: Project) -> None:
    """Where the cloud's own service rolls back (AWS), it is given exactly the listed alarms."""
    if project.cloud is not Cloud.AWS or not has_candidate_path(project.pattern):
        pytest.skip("the rollback service's names are held by the name test")
    for env, run in project.runs.items():
        spec = project.specs[env]
        expected = {alarm_name(spec, rule.key) for rule in rollback_alarms(spec)}
        acting = strings_of(
            run.resources,
            "aws:ecs/service:Service"
            if project.pattern is Pattern.API_FIRST
            else "aws:sagemaker/endpoint:Endpoint",
        )
        assert expected <= acting, f"{env.value}: not wired to AWS's rollback: {expected - acting}"


def test_the_runbook_routes_each_tier_where_the_stack_file_says(project: Project) -> None:
    for env in RUNBOOK_ENVIRONMENTS:
        alerts = project.specs[env].alerts
        for tier in ("page", "ticket", "info"):
            for destination in alerts.destinations(tier):
                assert destination_text(destination) in project.runbook


def test_the_runbook_says_how_to_roll_back_through_the_pipeline(project: Project) -> None:
    if project.pattern in SHIPPED_PATTERNS:
        # Nothing to switch back on devices: a release is withdrawn by re-publishing the
        # previous model under a newer sequence, with the release tool's own commands.
        assert "python -m ci.release ship model/artifacts" in project.runbook
        assert "Revert the change to `model/artifacts/`" in project.runbook
        assert "next sequence" in project.runbook and "canary" not in project.runbook.lower()
        return
    assert "python -m ci.rollout rollback --stack prod" in project.runbook
    assert "rollback-drill" in project.runbook
    if has_candidate_path(project.pattern):
        assert "rollout.retry_version" in project.runbook
    else:
        # no candidate: rolling back is deploying the previous version, never a canary
        assert "canary" not in project.runbook.lower()
        assert "model.image" in project.runbook


def test_the_cli_reader_finds_commands_and_names() -> None:
    """The parsing the tests rely on, on lines shaped like the runbook's."""
    line = (
        "API_ID=$(aws apigateway get-rest-apis --query \"items[?name=='a-prod-api'].id\" "
        "--output text)"
    )
    [words] = list(cli_commands(line))
    assert words[:2] == ["aws", "apigateway"]
    [words] = list(cli_commands("az x set -g rg --label-weight stable=100 candidate=0"))
    assert flag_values(words, "--label-weight") == ["stable=100", "candidate=0"]
    assert weighted_names("VariantName=stable,DesiredWeight=1") == ["stable"]
    assert env_of("a-prod-api", "a") is Environment.PROD
    assert is_placeholder("STABLE_DEPLOYED_MODEL_ID=100")
    assert not is_placeholder("blue=100")
