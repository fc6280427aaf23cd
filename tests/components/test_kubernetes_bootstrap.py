"""The kubernetes target's bootstrap under Pulumi's mocks: guarded namespaces, CI bindings, the
admission policy; and the seams with the stacks (their quotas, what their deployer may create)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # no stubs or py.typed
import pulumi
import pytest
import yaml

from components.bootstrap import (
    ACCOUNT_CONFIG_KEYS,
    BOOTSTRAP_OUTPUTS,
    DEPLOYERS,
    IDENTITY_STACKS,
    BootstrapSpec,
    IdentityRole,
)
from components.kubernetes.bootstrap import (
    DEPLOYER_ROLE,
    DEPLOYER_RULES,
    GUARD_LABEL,
    KubernetesBootstrap,
    ci_user,
    namespace_plan,
)
from components.kubernetes.meta import namespace_name
from components.kubernetes.namespace import pod_security_labels
from components.registry import bootstrap_component_for, bootstrap_inputs
from components.spec import (
    SUPPORTED_KUBERNETES_VERSIONS,
    Cloud,
    Environment,
    Pattern,
)
from offline.capture import Capture, CapturedResource, capture
from offline.program import stack_file
from policies.rules import all_policies
from stacks.parity_check import stack_sections
from templates.answers import example_answers
from templates.generator import plan_project, stack_file_text
from tests.components.test_kubernetes_blocks import CANDIDATE, k8s_spec, manifest
from tests.conftest import ROOT, run_component
from tests.policies.harness import evaluate

K8S = Cloud.KUBERNETES


@functools.cache
def _run(
    pattern: Pattern = Pattern.API_FIRST,
) -> tuple[BootstrapSpec, dict[Environment, Any], Capture]:
    plan = plan_project(example_answers(K8S, pattern))
    (spec,) = plan.bootstrap.values()  # one cluster (one kubeconfig context) for all three
    plans = {env: namespace_plan(plan.specs[env]) for env in Environment}

    def program() -> None:
        KubernetesBootstrap("acme", spec, plans)

    return spec, plans, capture(program, project=spec.project, stack=spec.stack, region=spec.region)


def _kind(cap: Capture, kind: str) -> list[CapturedResource]:
    return [
        r
        for r in cap.resources
        if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind
    ]


def test_each_environment_gets_its_guarded_namespace_sized_from_its_stack() -> None:
    _, plans, cap = _run()
    namespaces = {r.inputs["metadata"]["name"]: r for r in _kind(cap, "Namespace")}
    assert set(namespaces) == {plans[e].name for e in Environment}
    for env in Environment:
        ns = namespaces[plans[env].name]
        labels = ns.inputs["metadata"]["labels"]
        assert pod_security_labels(plans[env].kubernetes_version).items() <= labels.items()
        assert ns.protect == plans[env].protect
        (quota,) = [
            q
            for q in _kind(cap, "ResourceQuota")
            if q.inputs["metadata"]["namespace"] == ns.inputs["metadata"]["name"]
        ]
        # The seam: the quota is the stack's own capacity (prod's ceiling differs from dev's).
        assert quota.inputs["spec"]["hard"] == dict(plans[env].quota)
    assert len({str(plans[e].quota) for e in Environment}) > 1


def test_the_namespace_is_the_one_the_stack_deploys_into() -> None:
    _, plans, _ = _run()
    for env in Environment:
        stack = k8s_spec(Pattern.API_FIRST, env)
        assert plans[env].name == namespace_name(stack)


def _bindings(cap: Capture) -> dict[tuple[str, str], Any]:
    return {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs
        for r in _kind(cap, "RoleBinding")
    }


def test_each_deployer_is_bound_in_its_own_namespace_only() -> None:
    spec, plans, cap = _run()
    bindings = _bindings(cap)
    for env, role in DEPLOYERS.items():
        user = ci_user(spec, spec.ci_environments(role)[0])
        bound = [
            ns for (ns, _), b in bindings.items()
            if any(s["name"] == user for s in b["subjects"])
        ]  # fmt: skip
        assert bound == [plans[env].name], (env, user, bound)
        binding = bindings[(plans[env].name, f"aideploy-{role.value}")]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DEPLOYER_ROLE,
        }  # fmt: skip
    # One user per CI environment: dev's job can never act as prod's deployer.
    users = {ci_user(spec, spec.ci_environments(DEPLOYERS[e])[0]) for e in Environment}
    assert len(users) == 3


def test_previewers_only_view_the_namespaces_they_preview() -> None:
    _, plans, cap = _run()
    bindings = _bindings(cap)
    for role in (IdentityRole.PREVIEW, IdentityRole.PREVIEW_PROD):
        for env in Environment:
            key = (plans[env].name, f"aideploy-{role.value}")
            assert (key in bindings) == (env in IDENTITY_STACKS[role]), key
            if key in bindings:
                assert bindings[key]["roleRef"]["kind"] == "ClusterRole"
                assert bindings[key]["roleRef"]["name"] == "view"


def _plural(kind: str) -> str:
    # Kubernetes' own rule for these kinds: a consonant + y takes "ies" (policies), else "s".
    lower = kind.lower()
    if lower.endswith("y") and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


# What bootstrap owns and the stacks never create (the deployer has no right on them).
BOOTSTRAP_KINDS = frozenset({"Namespace", "ResourceQuota", "LimitRange"})


@pytest.mark.parametrize(
    ("pattern", "overrides"),
    [
        (Pattern.API_FIRST, CANDIDATE),
        (Pattern.API_FIRST, {**CANDIDATE, "cluster": {"kserve": True}}),
        (Pattern.EVENT_DRIVEN, {}),
    ],
    ids=["api-first-candidate", "api-first-kserve", "event-driven"],
)
def test_the_deployer_may_create_everything_its_stack_creates(
    pattern: Pattern, overrides: dict[str, Any]
) -> None:
    # The seam: derived from the captured stack, not restated. A kind the stack creates without
    # the deployer's right fails the first `pulumi up` halfway.
    cap = run_component(k8s_spec(pattern, Environment.PROD, overrides))
    allowed = {(group, kind) for group, kinds in DEPLOYER_RULES for kind in kinds}
    needed = set()
    kinds = {r.inputs.get("kind") for r in cap.resources if r.type.startswith("kubernetes:")}
    assert not kinds & BOOTSTRAP_KINDS, kinds & BOOTSTRAP_KINDS
    guards = [
        r for r in cap.resources
        if r.type.startswith("kubernetes:")
        and GUARD_LABEL in r.inputs["metadata"].get("labels", {})
    ]  # fmt: skip
    assert guards == []  # the default deny is bootstrap's too
    for r in cap.resources:
        if not r.type.startswith("kubernetes:"):
            continue
        api_version = r.inputs["apiVersion"]
        group = api_version.split("/")[0] if "/" in api_version else ""
        needed.add((group, _plural(r.inputs["kind"])))
    assert needed, "the stack created no Kubernetes objects"
    assert needed <= allowed, sorted(needed - allowed)


def test_the_deployer_has_no_right_on_the_guards_or_secrets() -> None:
    _, _, cap = _run()
    (role, *_) = _kind(cap, "Role")
    resources = {res for rule in role.inputs["rules"] for res in rule["resources"]}
    assert not resources & {"namespaces", "resourcequotas", "limitranges", "secrets", "*"}
    verbs = {v for rule in role.inputs["rules"] for v in rule["verbs"]}
    assert not verbs & {"escalate", "bind", "impersonate", "*"}


def test_the_admission_policy_keeps_deployers_off_the_default_deny() -> None:
    spec, plans, cap = _run()
    (policy,) = _kind(cap, "ValidatingAdmissionPolicy")
    (binding,) = _kind(cap, "ValidatingAdmissionPolicyBinding")
    assert binding.inputs["spec"]["policyName"] == policy.inputs["metadata"]["name"]
    assert binding.inputs["spec"]["validationActions"] == ["Deny"]
    match = policy.inputs["spec"]["matchConstraints"]
    assert match["objectSelector"] == {"matchLabels": {GUARD_LABEL: "true"}}
    (expression,) = [v["expression"] for v in policy.inputs["spec"]["validations"]]
    for env in Environment:
        assert ci_user(spec, spec.ci_environments(DEPLOYERS[env])[0]) in expression
    guarded = [
        p for p in _kind(cap, "NetworkPolicy")
        if p.inputs["metadata"]["labels"].get(GUARD_LABEL) == "true"
    ]  # fmt: skip
    assert {p.inputs["metadata"]["namespace"] for p in guarded} == {
        plans[e].name for e in Environment
    }


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_every_object_validates_strictly(version: str) -> None:
    _, _, cap = _run()
    failures = []
    for r in cap.resources:
        if not r.type.startswith("kubernetes:"):
            continue
        doc = manifest(r)
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {e.message}")
    assert failures == []


def test_the_policy_pack_finds_nothing_mandatory() -> None:
    _, _, cap = _run()
    findings = evaluate(all_policies(), cap.resources)
    assert findings == [], findings


def test_the_docs_name_the_users_bootstrap_binds() -> None:
    # The seam between the API server's claim mapping the platform team configures (from the
    # docs) and the RoleBindings: the documented example is the user bootstrap binds for prod.
    spec, _, _ = _run()
    doc = (ROOT / "docs" / "patterns" / "kubernetes.md").read_text(encoding="utf-8")
    prod_user = ci_user(spec, spec.ci_environments(IdentityRole.DEPLOY_PROD)[0])
    assert f"`{prod_user}`" in doc
    for ci, claim in (("github", "claims.repository"), ("gitlab", "claims.project_path")):
        assert f"'ci:{ci}:' + {claim} + ':' + claims.environment" in doc


# -- the bootstrap program's path: stack files -> namespace plans -> outputs --------------------
def _write_project(tmp_path: Path, pattern: Pattern = Pattern.API_FIRST) -> Any:
    """The stack files and Pulumi.yaml `aideploy new` writes, from the generator's own code."""
    plan = plan_project(example_answers(K8S, pattern))
    (tmp_path / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": plan.answers.project_slug, "runtime": "python"})
    )
    for env in Environment:
        path = stack_file(tmp_path, env.value)
        path.parent.mkdir(exist_ok=True)
        path.write_text(stack_file_text(plan, env))
    return plan


def _program_run(tmp_path: Path, spec: BootstrapSpec) -> Capture:
    """What bootstrap/__main__.py does: the registry's inputs hook reads the stack files."""

    def program() -> None:
        inputs = bootstrap_inputs(spec.cloud, spec, lambda env: stack_sections(tmp_path, env.value))
        component = bootstrap_component_for(spec.cloud)(spec.project, spec, **inputs)
        for key, value in component.outputs().items():
            pulumi.export(key, value)

    return capture(program, project=f"{spec.project}-bootstrap", stack=spec.stack)


def test_the_program_sizes_namespaces_from_the_stack_files(tmp_path: Path) -> None:
    plan = _write_project(tmp_path)
    (spec,) = plan.bootstrap.values()
    inputs = bootstrap_inputs(K8S, spec, lambda env: stack_sections(tmp_path, env.value))
    assert inputs == {"namespaces": {e: namespace_plan(plan.specs[e]) for e in Environment}}
    # A capacity raised in prod's stack file raises prod's quota at the next bootstrap run.
    path = stack_file(tmp_path, "prod")
    data = yaml.safe_load(path.read_text())
    key = f"{plan.answers.project_slug}:capacity"
    data["config"][key]["max_instances"] *= 2
    path.write_text(yaml.safe_dump(data))
    raised = bootstrap_inputs(K8S, spec, lambda env: stack_sections(tmp_path, env.value))
    prod, before = raised["namespaces"][Environment.PROD], inputs["namespaces"][Environment.PROD]
    assert prod.quota != before.quota
    assert raised["namespaces"][Environment.DEV] == inputs["namespaces"][Environment.DEV]


def test_a_stack_file_of_another_environment_is_refused(tmp_path: Path) -> None:
    plan = _write_project(tmp_path)
    (spec,) = plan.bootstrap.values()
    with pytest.raises(ValueError, match="stack file of dev describes kubernetes prod"):
        bootstrap_inputs(K8S, spec, lambda env: stack_sections(tmp_path, "prod"))


def test_outputs_name_what_ci_and_the_stacks_use(tmp_path: Path) -> None:
    plan = _write_project(tmp_path)
    (spec,) = plan.bootstrap.values()
    outputs = _program_run(tmp_path, spec).stack_outputs()
    assert set(outputs) == set(BOOTSTRAP_OUTPUTS)
    # The client's store, path-style, and the client's Vault transit keys, one per environment.
    assert outputs["backend_url"] == (
        f"s3://{spec.state_name}?endpoint={plan.answers.state_endpoint}"
        "&s3ForcePathStyle=true&region=us-east-1"
    )
    assert outputs["secrets_providers"] == {
        e.value: f"hashivault://{spec.secrets_key_name(e)}" for e in Environment
    }
    # Images go where the client's model image already lives.
    assert plan.answers.model_image is not None
    assert outputs["image_repository"] == plan.answers.model_image.split("@")[0]
    for env in Environment:
        stack = yaml.safe_load(stack_file(tmp_path, env.value).read_text())["config"]
        for ci_env in spec.ci_environments(DEPLOYERS[env]):
            variables = outputs["ci_variables"][ci_env]
            # ci/kube_credentials.py names its context after KUBE_CONTEXT; the stack pins it.
            assert variables["KUBE_CONTEXT"] == stack[ACCOUNT_CONFIG_KEYS[K8S]]
            assert variables["PULUMI_BACKEND_URL"] == outputs["backend_url"]
        assert outputs["stack_prerequisites"][env.value] == {
            "namespace": namespace_name(plan.specs[env])
        }
    # No cluster user for the image release: it pushes with the registry's robot account.
    assert outputs["identities"][IdentityRole.PUBLISH.value] == []
    assert "release" not in outputs["ci_variables"]
