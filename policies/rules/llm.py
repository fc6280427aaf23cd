"""LLM guardrails: every container that serves an LLM has its guardrail attached.

An LLM endpoint is a serving container whose environment carries the guardrail contract
(components/llm.py: ``GUARDRAIL_CONFIG``, ``GUARDRAIL_PROVIDER`` for a self-hosted model,
``LLM_PROVIDER`` for a hosted one). The rule is cloud-neutral; what differs between clouds is
data in the tables below: where each platform keeps a container's environment, and what each
provider needs to be attached (the identifiers the hook or the hosted client passes, and the
guardrail resource of the stack they name). It fails when:

- the container names no provider, or a provider this pack does not know;
- an identifier the provider needs is missing (the guardrail id and version, the Content Safety
  endpoint, the Azure OpenAI deployment, the Model Armor template);
- the stack has no guardrail resource of that provider (a stack with its guardrail removed);
- the guardrail configuration is missing, is not JSON, turns prompt-attack detection off, or
  lets calls through while the guardrail is down (``fail_open``: dev may declare it; the
  rule is advisory in dev, mandatory in staging and prod).

The pack imports no component code: the variable names are repeated here as data, and
tests/policies/test_llm_guardrail.py holds them equal to components/llm.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, PolicyResource, Severity, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.rules.base import SECURITY, as_list, canonical_type, prop_at, stack_rule
from policies.rules.references import owasp_llm

CONFIG_VARIABLE = "GUARDRAIL_CONFIG"
HOOK_PROVIDER_VARIABLE = "GUARDRAIL_PROVIDER"
LLM_PROVIDER_VARIABLE = "LLM_PROVIDER"
MARKERS = (CONFIG_VARIABLE, HOOK_PROVIDER_VARIABLE, LLM_PROVIDER_VARIABLE)

# A container's environment: variable name -> value (None: a secret reference or unknown).
Env = dict[str, str | None]


def _get(mapping: Any, key: str) -> Any:
    """``mapping[key]``, or None when absent or when the analyzer cannot know it during preview
    (a value computed from another resource's output): the rule judges what it can see."""
    if not isinstance(mapping, Mapping):
        return None
    try:
        return mapping.get(key)
    except UnknownValueError:
        return None


def _at(props: Mapping[str, Any], path: str) -> Any:
    node: Any = props
    for key in path.split("."):
        node = _get(node, key)
    return node


def _pairs(entries: Any, value_key: str = "value") -> Env:
    env: Env = {}
    for entry in as_list(entries):
        name = _get(entry, "name")
        if isinstance(name, str):
            value = _get(entry, value_key)
            env[name] = value if isinstance(value, str) else None
    return env


def _ecs(props: Mapping[str, Any]) -> list[tuple[str, Env]]:
    raw = _get(props, "containerDefinitions") or _get(props, "container_definitions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return []
    return [(str(_get(c, "name")), _pairs(_get(c, "environment"))) for c in as_list(raw)]


def _containers_at(path: str, env_key: str) -> Callable[[Mapping[str, Any]], list[tuple[str, Env]]]:
    def read(props: Mapping[str, Any]) -> list[tuple[str, Env]]:
        return [
            (str(_get(c, "name")), _pairs(_get(c, env_key)))
            for c in as_list(_at(props, path))
            if isinstance(c, Mapping)
        ]

    return read


# Where each serving platform keeps its containers' environment (wire names).
CONTAINER_ENVIRONMENTS: dict[str, Callable[[Mapping[str, Any]], list[tuple[str, Env]]]] = {
    "aws:ecs/taskDefinition:TaskDefinition": _ecs,
    "azure-native:app:ContainerApp": _containers_at("template.containers", "env"),
    "gcp:cloudrunv2/service:Service": _containers_at("template.containers", "envs"),
    "kubernetes:apps/v1:Deployment": _containers_at("spec.template.spec.containers", "env"),
}


@dataclass(frozen=True)
class Attachment:
    """What a provider needs to be attached: the identifiers and the stack's guardrail."""

    variables: tuple[str, ...]
    # Resource types of which the stack must hold at least one (each with ``accepts``).
    guardrail_types: tuple[str, ...]
    what: str
    accepts: Callable[[Mapping[str, Any]], bool] = lambda _props: True


def _content_safety(props: Mapping[str, Any]) -> bool:
    return str(_get(props, "kind") or "").lower() == "contentsafety"


def _filtered_deployment(props: Mapping[str, Any]) -> bool:
    # Unknown during preview: the policy's name comes from the RaiPolicy's output.
    try:
        return bool(prop_at(props, "properties.raiPolicyName"))
    except UnknownValueError:
        return True


ATTACHMENTS: dict[str, Attachment] = {
    "bedrock": Attachment(
        ("GUARDRAIL_ID", "GUARDRAIL_VERSION"),
        ("aws:bedrock/guardrailVersion:GuardrailVersion",),
        "a Bedrock guardrail version",
    ),
    "content-safety": Attachment(
        ("CONTENT_SAFETY_ENDPOINT",),
        ("azure-native:cognitiveservices:Account",),
        "an Azure AI Content Safety account",
        _content_safety,
    ),
    "azure-openai": Attachment(
        ("LLM_ENDPOINT", "LLM_DEPLOYMENT"),
        ("azure-native:cognitiveservices:Deployment",),
        "an Azure OpenAI deployment with a content-filter (RAI) policy",
        _filtered_deployment,
    ),
    "model-armor": Attachment(
        ("MODEL_ARMOR_TEMPLATE",),
        ("gcp:modelarmor/template:Template",),
        "a Model Armor template",
    ),
    "vertex": Attachment(
        ("MODEL_ARMOR_TEMPLATE",),
        ("gcp:modelarmor/template:Template",),
        "a Model Armor template",
    ),
    # On premises the model server's own check is the guardrail: its config is what counts.
    "local": Attachment((), (), "the model server's local check"),
}


def _config_problem(raw: str | None) -> str | None:
    if raw is None:  # unknown during preview, or a secret reference: cannot judge
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError:
        return f"{CONFIG_VARIABLE} is not JSON"
    if not isinstance(config, Mapping):
        return f"{CONFIG_VARIABLE} is not a JSON object"
    if config.get("prompt_attack", "off") == "off":
        return "prompt-attack detection is off"
    if config.get("fail_open") is True:
        return "fail_open lets calls through while the guardrail is down"
    return None


def _guardrails(resources: Sequence[PolicyResource], attachment: Attachment) -> bool:
    wanted = set(attachment.guardrail_types)
    return any(
        canonical_type(r.resource_type) in wanted and attachment.accepts(r.props) for r in resources
    )


def _container_problems(env: Env, resources: Sequence[PolicyResource]) -> Iterator[str]:
    provider = env.get(HOOK_PROVIDER_VARIABLE) or env.get(LLM_PROVIDER_VARIABLE)
    if CONFIG_VARIABLE not in env:
        yield f"serves an LLM without {CONFIG_VARIABLE} (the guardrail's settings)"
    else:
        problem = _config_problem(env[CONFIG_VARIABLE])
        if problem:
            yield problem
    names = (HOOK_PROVIDER_VARIABLE, LLM_PROVIDER_VARIABLE)
    if HOOK_PROVIDER_VARIABLE not in env and LLM_PROVIDER_VARIABLE not in env:
        yield f"names no guardrail provider ({' or '.join(names)})"
        return
    if provider is None:  # unknown during preview
        return
    attachment = ATTACHMENTS.get(provider)
    if attachment is None:
        yield f"names an unknown guardrail provider {provider!r}"
        return
    missing = [v for v in attachment.variables if not (v in env and env[v] != "")]
    if missing:
        yield f"passes no {', '.join(missing)} to its {provider} guardrail"
    if attachment.guardrail_types and not _guardrails(resources, attachment):
        yield f"has no {attachment.what} in the stack"


def _check(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for resource in args.resources:
        read = CONTAINER_ENVIRONMENTS.get(canonical_type(resource.resource_type))
        if read is None:
            continue
        for container, env in read(resource.props):
            if not any(marker in env for marker in MARKERS):
                continue
            for problem in _container_problems(env, args.resources):
                yield (f"container {container!r} {problem}", resource.urn)


GUARDRAIL_ATTACHED = stack_rule(
    "aideploy-llm-require-guardrail",
    "Every container that serves an LLM has its guardrail attached: a provider, the "
    "identifiers it needs, the guardrail resource in the stack, prompt-attack detection on "
    "and fail-closed behaviour.",
    check=_check,
    severity=Severity.HIGH,
    tags=["llm", "content-safety"],
    references=[owasp_llm("LLM01"), owasp_llm("LLM02")],
    remediation=(
        "Serve the LLM with the api-first component and `llm.mode` set (the component creates "
        "the guardrail and passes its identifiers); keep llm.guardrail.prompt_attack on and "
        "fail_open false outside dev."
    ),
    category=SECURITY,
    types=(*CONTAINER_ENVIRONMENTS, *{t for a in ATTACHMENTS.values() for t in a.guardrail_types}),
    since=4,
)

POLICIES: list[Policy] = [GUARDRAIL_ATTACHED]
