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

import json
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
from offline.capture import CapturedResource
from offline.program import StackRun, run_stack
from templates.generator import generate
from templates.runbooks import RUNBOOK_ENVIRONMENTS, has_candidate_path
from tests.conftest import candidate_image, of_type, sample_answers, sample_plan

# Every offered pattern on every cloud that builds it (read from the registry, not by importing
# the component: a component that fails to import must fail its case, not vanish from the list).
CASES = [(c, p) for c in Cloud for p in offered_patterns() if scaffolded(c, p)]

# The resource type each cloud's alarms are (their exact names are alarm_name(spec, key)). On
# the kubernetes target an alarm is a rule of a PrometheusRule, named by its `alert` field.
ALARM_TYPES: dict[Cloud, str] = {
    Cloud.AWS: "aws:cloudwatch/metricAlarm:MetricAlarm",
    Cloud.AZURE: "azure-native:monitor:ScheduledQueryRule",
    Cloud.GCP: "gcp:monitoring/alertPolicy:AlertPolicy",
    Cloud.KUBERNETES: "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
}
# Clouds whose objects are named after the project alone (`<slug>-api`, `<slug>-alerts`), the
# environment being their namespace (`<slug>-<env>`): such a name must exist in every stack.
NAMESPACED_CLOUDS = frozenset({Cloud.KUBERNETES})
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
# kubectl: the flags that take a value (any other flag is a switch), the subcommands whose
# resource comes after a second word, those whose bare argument is a pod, and the short names
# of kinds (a kind is otherwise its lower-case name, singular or plural, optionally followed by
# `.<api group>`).
KUBECTL_VALUE_FLAGS = frozenset(
    {
        "--context", "-n", "--namespace", "-o", "--output", "--tail", "--type", "--patch-file",
        "-p", "--patch", "--timeout", "-l", "--selector", "-c", "--container", "--field-manager",
        "--since", "--to-revision", "-f", "--filename",
    }
)  # fmt: skip
KUBECTL_SUBCOMMANDS = frozenset({"rollout", "set", "config", "auth"})
KUBECTL_POD_ARGUMENT = frozenset({"logs", "port-forward", "exec", "attach"})
KUBECTL_SHORT_NAMES = {
    "deploy": "deployment",
    "svc": "service",
    "hpa": "horizontalpodautoscaler",
    "cm": "configmap",
    "so": "scaledobject",
    "sa": "serviceaccount",
    "netpol": "networkpolicy",
    "pdb": "poddisruptionbudget",
    "po": "pod",
    "ns": "namespace",
}
CLIS = ("aws", "az", "gcloud", "kubectl", "amtool")


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


def prometheus_rules(resources: list[CapturedResource]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every alerting rule of the PrometheusRules, with the namespace it is created in."""
    for r in of_type(resources, ALARM_TYPES[Cloud.KUBERNETES]):
        namespace = r.inputs["metadata"]["namespace"]
        for group in r.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield namespace, rule


def alarm_names(cloud: Cloud, resources: list[CapturedResource]) -> set[str]:
    """The names of the stack's alarms: the alarm resources' names, or on the kubernetes target
    the `alert` of every rule of its PrometheusRules."""
    if cloud is Cloud.KUBERNETES:
        return {rule["alert"] for _, rule in prometheus_rules(resources)}
    return top_level_strings(of_type(resources, ALARM_TYPES[cloud]))


def kube_kind(resource: CapturedResource) -> tuple[str, str] | None:
    """A captured Kubernetes object's kind (lower case) and API group ("" for the core group)."""
    kind, api_version = resource.inputs.get("kind"), resource.inputs.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return None
    return kind.lower(), api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def kube_objects(
    resources: list[CapturedResource], type_word: str, name: str, namespace: str
) -> list[CapturedResource]:
    """The captured objects kubectl's ``<type_word> <name> -n <namespace>`` addresses."""
    kind, _, group = type_word.lower().partition(".")
    kind = KUBECTL_SHORT_NAMES.get(kind, kind)
    found = []
    for r in resources:
        known = kube_kind(r)
        if known is None:
            continue
        own, own_group = known
        plural = own[:-1] + "ies" if own.endswith("y") else own + "s"
        metadata = r.inputs.get("metadata") or {}
        if (
            kind in (own, plural)
            and (not group or group == own_group)
            and metadata.get("name") == name
            and metadata.get("namespace") == namespace
        ):
            found.append(r)
    return found


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


def kubectl_arguments(words: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """A kubectl command's flags (name -> values) and positional words."""
    flags: dict[str, list[str]] = {}
    positional: list[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            values = flags.setdefault(name, [])
            if eq:
                values.append(value)
            elif name in KUBECTL_VALUE_FLAGS and i + 1 < len(words):
                values.append(words[i + 1])
                i += 1
        else:
            positional.append(word)
        i += 1
    return flags, positional


def kubectl_targets(positional: list[str]) -> list[tuple[str, str]]:
    """The (type, name) pairs a kubectl command addresses: ``get deployments a b``,
    ``logs deployment/a``, ``rollout undo deployment/a``; a bare ``logs`` argument is a pod."""
    if not positional:
        return []
    verb, *rest = positional
    if verb in KUBECTL_SUBCOMMANDS:
        rest = rest[1:]
    if not rest:
        return []
    if "/" in rest[0]:
        return [(w.split("/", 1)[0], w.split("/", 1)[1]) for w in rest if "/" in w]
    if verb in KUBECTL_POD_ARGUMENT:
        return [("pod", rest[0])]
    return [(rest[0], name) for name in rest[1:]]


def here_documents(lines: list[str]) -> dict[str, str]:
    """The files a code block writes with ``cat > FILE <<EOF`` ... ``EOF``: file -> text."""
    files: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    for line in lines:
        if current is not None:
            if line == "EOF":
                files[current] = "\n".join(body)
                current, body = None, []
            else:
                body.append(line)
        elif match := re.fullmatch(r"cat > (\S+) <<'?EOF'?", line):
            current = match.group(1)
    return files


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


def environments_of(name: str, project: Project) -> list[Environment]:
    """The stacks a name of the runbook must exist in: the one it names (``<slug>-<env>...``);
    on a namespaced cloud a name without an environment is an object's, in every stack."""
    env = env_of(name, project.slug)
    if env is None and project.cloud in NAMESPACED_CLOUDS:
        return list(project.runs)
    return [env] if env is not None else []


def test_every_project_name_in_the_runbook_exists_in_its_environment(project: Project) -> None:
    names = set(
        re.findall(rf"(?<![\w.@/-]){re.escape(project.slug)}(?:-[a-z0-9]+)+", project.runbook)
    )
    assert names, "the runbook names no resource of the stack"
    missing = []
    for name in sorted(names):
        envs = environments_of(name, project)
        assert envs, f"{name}: not a name of a stack the runbook covers"
        for env in envs:
            assert env in project.runs, f"{name}: not a name of a stack the runbook covers"
            if name not in strings_of(project.runs[env].resources):
                missing.append(f"{name} ({env.value})")
    assert not missing, f"names their stack never registers: {missing}"


def test_the_runbook_lists_exactly_the_stacks_alarms(project: Project) -> None:
    listed = set(re.findall(r"^\| `([^`]+)` \|", project.runbook, flags=re.M))
    alarms = of_type(project.runs[Environment.PROD].resources, ALARM_TYPES[project.cloud])
    for env, run in project.runs.items():
        spec = project.specs[env]
        captured = alarm_names(project.cloud, run.resources)
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
        files = here_documents(lines)
        for line in lines:
            for words in cli_commands(line):
                commands += 1
                if words[0] == "kubectl":
                    problems += _check_kubectl(words, run, env, files)
                    continue
                if words[0] == "amtool":
                    problems += _check_amtool(words, run.resources, env)
                    continue
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


def _check_kubectl(
    words: list[str], run: StackRun, env: Environment, files: Mapping[str, str]
) -> list[str]:
    """kubectl: the context is the one the stack pins, and every object it names is one the
    stack creates, of that kind, in the namespace the command gives; a merge patch from a file
    keeps the object's spec as the stack wrote it (only weights may change)."""
    flags, positional = kubectl_arguments(words)
    where = f"{env.value}: {' '.join(positional[:3])}"
    problems = [
        f"{where}: context {c} is not the stack's"
        for c in flags.get("--context", [])
        if not is_placeholder(c) and c not in run.config.values()
    ]
    if "--context" not in flags:
        problems.append(f"{where}: no --context (the stack's kubernetes:context)")
    namespaces = flags.get("-n", []) + flags.get("--namespace", [])
    targets = kubectl_targets(positional)
    if targets and len(namespaces) != 1:
        problems.append(f"{where}: names objects without one namespace")
        return problems
    for type_word, name in targets:
        if is_placeholder(name):
            continue
        objects = kube_objects(run.resources, type_word, name, namespaces[0])
        if not objects:
            problems.append(f"{where}: {type_word} {name} is not in {namespaces[0]}")
            continue
        for patch_file in flags.get("--patch-file", []):
            problems += _check_patch(where, files.get(patch_file), objects[0])
    return problems


def _without_weights(value: Any) -> Any:
    """``value`` with every backendRef's weight left out (the one thing a drain changes)."""
    if isinstance(value, Mapping):
        return {k: _without_weights(v) for k, v in value.items() if k != "weight"}
    if isinstance(value, list):
        return [_without_weights(v) for v in value]
    return value


def _check_patch(where: str, text: str | None, target: CapturedResource) -> list[str]:
    if text is None:
        return [f"{where}: the patch file is not written by the block"]
    # The shell fills in the time and the version: any value keeps the JSON's shape.
    patch = json.loads(text.replace("$(date +%s)", "0").replace("$version", "v"))
    written = target.inputs.get("spec") or {}
    changed = {
        key: value
        for key, value in (patch.get("spec") or {}).items()
        if _without_weights(value) != _without_weights(written.get(key))
    }
    return [f"{where}: the patch changes spec.{key} beyond its weights" for key in changed]


def _check_amtool(
    words: list[str], resources: list[CapturedResource], env: Environment
) -> list[str]:
    """amtool: a query's alertname is a rule of the stack's PrometheusRule, with that
    namespace label."""
    matchers = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    if "alertname" not in matchers:
        return []
    rules = {
        rule["alert"]: rule.get("labels", {}).get("namespace", namespace)
        for namespace, rule in prometheus_rules(resources)
    }
    name, namespace = matchers["alertname"], matchers.get("namespace")
    if name not in rules:
        return [f"{env.value}: amtool: {name} is not an alert of the stack"]
    if namespace is not None and namespace != rules[name]:
        return [f"{env.value}: amtool: {name} is in {rules[name]}, not {namespace}"]
    return []


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
    """Where the cloud's own service rolls back (AWS), it is given exactly the listed alarms; on
    the kubernetes target exactly they carry rollback="true" and the rollback service's
    configuration names them."""
    if project.cloud is Cloud.KUBERNETES and has_candidate_path(project.pattern):
        for env, run in project.runs.items():
            expected = {
                alarm_name(project.specs[env], r.key) for r in rollback_alarms(project.specs[env])
            }
            labelled = {
                rule["alert"]
                for _, rule in prometheus_rules(run.resources)
                if rule.get("labels", {}).get("rollback") == "true"
            }
            assert labelled == expected, f'{env.value}: rollback="true" on {labelled}'
            acting = kubernetes_rollback_alerts(run.resources)
            assert expected <= acting, f"{env.value}: not given to the service: {expected - acting}"
        return
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


def kubernetes_rollback_alerts(resources: list[CapturedResource]) -> set[str]:
    """The alerts the rollback service acts on: ``alerts`` of the ROLLBACK_CONFIG its
    Deployment's containers are given."""
    alerts: set[str] = set()
    for r in of_type(resources, "kubernetes:apps/v1:Deployment"):
        for container in r.inputs["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env") or []:
                if variable["name"] == "ROLLBACK_CONFIG":
                    alerts |= set(json.loads(variable["value"])["alerts"])
    return alerts


def test_the_runbook_routes_each_tier_where_the_stack_file_says(project: Project) -> None:
    for env in RUNBOOK_ENVIRONMENTS:
        alerts = project.specs[env].alerts
        for tier in ("page", "ticket", "info"):
            for destination in alerts.destinations(tier):
                # never a webhook URL (a secret): the config key of the secret holding it
                kind = destination.kind.value
                text = (
                    f"{kind} to {destination.address}"
                    if destination.address is not None
                    else f"{kind} webhook (URL in the secret `{destination.secret}`)"
                )
                assert text in project.runbook
    if project.cloud is Cloud.KUBERNETES:
        # Webhook URLs are the store entry's properties the stack's ExternalSecret copies.
        from components.kubernetes.patterns import ALERTS_STORE_KEY

        entry = ALERTS_STORE_KEY.format(project=project.slug, environment="<env>")
        assert f"`{entry}`" in project.runbook
        assert "pulumi config set --secret" not in project.runbook


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
    flags, positional = kubectl_arguments(
        shlex.split("kubectl --context c -n a-prod rollout undo deployment/a-x --timeout 10m")
    )
    assert flags == {"--context": ["c"], "-n": ["a-prod"], "--timeout": ["10m"]}
    assert kubectl_targets(positional) == [("deployment", "a-x")]
    _, positional = kubectl_arguments(shlex.split("kubectl -n n get deployments a b -o wide"))
    assert kubectl_targets(positional) == [("deployments", "a"), ("deployments", "b")]
    assert here_documents(["cat > f.json <<EOF", "{}", "EOF"]) == {"f.json": "{}"}
    assert is_placeholder("STABLE_DEPLOYED_MODEL_ID=100")
    assert not is_placeholder("blue=100")
