"""Shared fixtures of the Kubernetes rule tests, and checks of the Kubernetes rule list itself.

The fixtures are real pulumi_kubernetes objects registered under mocks: a hardened pod (an init
container that fetches the model, the serving container) run by every workload kind, captured
once per kind. A failing case copies the captured wire-form inputs and removes or alters exactly
one setting (:func:`changed`), so every case differs from a compliant object by that setting
only. ``judge`` evaluates one rule with the inputs wrapped in pulumi_policy's read-only proxies,
as the pack sees them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource
from policies import pack
from policies.rules import kubernetes
from policies.rules.base import OPERATIONAL, RULE_REFERENCES, RULE_SINCE, RULE_TYPES, SECURITY
from policies.rules.references import CATEGORIES
from policies.runner.analyzer import PackProcess
from policies.runner.engine import analyze_resources, effective_config
from tests.policies.harness import evaluate, names_violating, run_program

REPO = Path(__file__).resolve().parents[2]
Program = Callable[[], Any]
NAMESPACE = "serving"
IMAGE = f"registry.acme.internal/models/scorer:1.4.2@sha256:{'3f' * 32}"
REMOVE = object()  # :func:`changed` deletes the key instead of setting a value

# Where each kind keeps its pod, written out here rather than read from the rules' table, so a
# wrong path in the rules cannot agree with itself in the tests.
POD_AT: dict[str, str] = {
    "kubernetes:core/v1:Pod": "spec",
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:core/v1:ReplicationController": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    "kubernetes:serving.kserve.io/v1beta1:InferenceService": "spec.predictor",
}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


def probe(path: str) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"))


def hardened_container(name: str, *, serving: bool = True) -> k8s.core.v1.ContainerArgs:
    """A container with every setting k8s-workload-hardened asks for (and probes if serving)."""
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=IMAGE,
        security_context=k8s.core.v1.SecurityContextArgs(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        ),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "1Gi"}
        ),
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=8080)]
        if serving
        else None,
        readiness_probe=probe("/ready") if serving else None,
        liveness_probe=probe("/healthz") if serving else None,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
    )


def hardened_pod(**over: Any) -> k8s.core.v1.PodSpecArgs:
    """The pod every workload fixture runs; ``over`` replaces pod fields."""
    fields: dict[str, Any] = {
        "security_context": k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        "service_account_name": "scorer",
        "init_containers": [hardened_container("fetch-model", serving=False)],
        "containers": [hardened_container("server")],
        "volumes": [
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())
        ],
    }
    fields.update(over)
    return k8s.core.v1.PodSpecArgs(**fields)


def _meta(name: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NAMESPACE, labels={"app": "scorer"})


def _template(pod: k8s.core.v1.PodSpecArgs) -> k8s.core.v1.PodTemplateSpecArgs:
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "scorer"}), spec=pod
    )


_SELECTOR = k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "scorer"})

# One real object per workload kind, all running ``pod``.
BUILDERS: dict[str, Callable[[str, k8s.core.v1.PodSpecArgs], pulumi.Resource]] = {
    "kubernetes:core/v1:Pod": lambda n, pod: k8s.core.v1.Pod(n, metadata=_meta(n), spec=pod),
    DEPLOYMENT: lambda n, pod: k8s.apps.v1.Deployment(
        n,
        metadata=_meta(n),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=2, selector=_SELECTOR, template=_template(pod)
        ),
    ),
    "kubernetes:apps/v1:StatefulSet": lambda n, pod: k8s.apps.v1.StatefulSet(
        n,
        metadata=_meta(n),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=n, selector=_SELECTOR, template=_template(pod)
        ),
    ),
    "kubernetes:apps/v1:DaemonSet": lambda n, pod: k8s.apps.v1.DaemonSet(
        n,
        metadata=_meta(n),
        spec=k8s.apps.v1.DaemonSetSpecArgs(selector=_SELECTOR, template=_template(pod)),
    ),
    "kubernetes:apps/v1:ReplicaSet": lambda n, pod: k8s.apps.v1.ReplicaSet(
        n,
        metadata=_meta(n),
        spec=k8s.apps.v1.ReplicaSetSpecArgs(selector=_SELECTOR, template=_template(pod)),
    ),
    "kubernetes:core/v1:ReplicationController": lambda n, pod: k8s.core.v1.ReplicationController(
        n,
        metadata=_meta(n),
        spec=k8s.core.v1.ReplicationControllerSpecArgs(
            selector={"app": "scorer"}, template=_template(pod)
        ),
    ),
    "kubernetes:batch/v1:Job": lambda n, pod: k8s.batch.v1.Job(
        n,
        metadata=_meta(n),
        spec=k8s.batch.v1.JobSpecArgs(template=_template(on_failure(pod))),
    ),
    "kubernetes:batch/v1:CronJob": lambda n, pod: k8s.batch.v1.CronJob(
        n,
        metadata=_meta(n),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule="0 3 * * *",
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=k8s.batch.v1.JobSpecArgs(template=_template(on_failure(pod)))
            ),
        ),
    ),
    # KServe's predictor inlines the pod spec (as components/kubernetes/kserve.py writes it).
    INFERENCE_SERVICE: lambda n, pod: k8s.apiextensions.CustomResource(
        n,
        api_version="serving.kserve.io/v1beta1",
        kind="InferenceService",
        metadata=_meta(n),
        spec={"predictor": pod},
    ),
}


def on_failure(pod: k8s.core.v1.PodSpecArgs) -> k8s.core.v1.PodSpecArgs:
    """A Job's pod restarts on failure only (the API refuses Always)."""
    pod.restart_policy = "OnFailure"
    return pod


def workload(kind: str, name: str = "scorer", **pod: Any) -> Program:
    """A program registering one ``kind`` workload running the hardened pod (``pod`` overrides
    pod fields)."""
    return lambda: BUILDERS[kind](name, hardened_pod(**pod))


@functools.cache
def captured(kind: str) -> CapturedResource:
    """The compliant ``kind`` workload as the engine receives it (captured once per kind)."""
    (resource,) = [r for r in run_program(workload(kind)) if r.custom]
    return resource


def _walk(inputs: Any, path: str) -> tuple[Any, str | int]:
    """The container of the last step of ``path`` (dotted; digits index lists) and its key.
    Every step but the last must exist: a case never invents the place it changes."""
    steps: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = inputs
    for step in steps[:-1]:
        node = node[step]
    return node, steps[-1]


def changed(resource: CapturedResource, **changes: Any) -> CapturedResource:
    """A copy of ``resource`` whose inputs differ at each dotted path (``__`` stands for a
    dot in the keyword) by the given value, or lose the key for :data:`REMOVE`."""
    inputs = copy.deepcopy(resource.inputs)
    for dotted, value in changes.items():
        node, key = _walk(inputs, dotted.replace("__", "."))
        if value is REMOVE:
            del node[key]
        else:
            node[key] = value
    return dataclasses.replace(resource, inputs=inputs)


def at(kind: str, path: str) -> str:
    """``path`` under ``kind``'s pod spec, as a :func:`changed` keyword."""
    return f"{POD_AT[kind]}.{path}".replace(".", "__")


def proxied(resources: list[CapturedResource]) -> list[CapturedResource]:
    """The inputs wrapped in pulumi_policy's read-only proxies, as the pack hands them over."""
    return [
        dataclasses.replace(r, inputs=unknown_checking_proxy(dict(r.inputs))) for r in resources
    ]


def findings(
    policy: Policy,
    subject: Program | list[CapturedResource],
    config: Mapping[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """(resource name, message) of each violation ``policy`` reports on a program or on
    captured resources."""
    resources = subject if isinstance(subject, list) else run_program(subject)
    found = evaluate([policy], proxied(resources), {policy.name: config or {}})
    return [(f.resource_name, f.message) for f in found if f.policy == policy.name]


def judge(
    policy: Policy,
    subject: Program | list[CapturedResource],
    config: Mapping[str, Any] | None = None,
) -> set[str]:
    """Names of the resources ``policy`` flags."""
    resources = subject if isinstance(subject, list) else run_program(subject)
    found = evaluate([policy], proxied(resources), {policy.name: config or {}})
    return names_violating(found, policy.name)


def waiver(resource: str, reason: str = "accepted risk: ticket SEC-123") -> dict[str, Any]:
    """Pack config waiving a rule for one named resource."""
    return {"waivers": [{"resource": resource, "reason": reason}]}


# ---------------------------------------------------------------------------- the rule list
def test_fixtures_are_the_kinds_the_rules_judge() -> None:
    """Every workload kind a pod rule judges has a fixture, and nothing else does."""
    from policies.rules.kubernetes import _common

    assert set(POD_AT) == set(BUILDERS) == set(_common.WORKLOADS)
    for kind in POD_AT:
        assert captured(kind).type == kind  # the SDK registers the token the rules name


def test_kubernetes_rule_list_is_complete_and_described() -> None:
    """The package lists every rule its modules define, once, named ``k8s-...``."""
    from tests.policies.test_pack_meta import _rule_modules

    names = [p.name for p in kubernetes.POLICIES]
    defined = {n for n, module in _rule_modules().items() if module.startswith("kubernetes/")}
    assert set(names) == defined and len(set(names)) == len(names)
    for p in kubernetes.POLICIES:
        assert re.fullmatch(r"k8s(-[a-z0-9]+)+", p.name), p.name
        assert p.description and p.remediation_steps and p.severity is not None
        assert p.tags and p.tags[0] in {SECURITY, OPERATIONAL}, p.name
        assert set(p.tags) & set(CATEGORIES), p.name
        assert RULE_REFERENCES[p.name] and p.framework is not None and p.url, p.name


def test_security_rules_are_mandatory_and_the_probe_rule_advisory_in_dev() -> None:
    levels = {env: json.loads(pack.config_path(env).read_text()) for env in pack.ENVIRONMENTS}
    for p in kubernetes.POLICIES:
        operational = (p.tags or [])[0] == OPERATIONAL
        expected = EnforcementLevel.ADVISORY if operational else EnforcementLevel.MANDATORY
        assert p.enforcement_level == expected, p.name
        dev = "advisory" if operational else "mandatory"
        assert [levels[env][p.name]["enforcementLevel"] for env in pack.ENVIRONMENTS] == [
            dev,
            "mandatory",
            "mandatory",
        ], p.name
    assert [p.name for p in kubernetes.POLICIES if (p.tags or [])[0] == OPERATIONAL] == [
        "k8s-serving-probes"
    ]


def test_the_kubernetes_rules_arrived_in_rule_set_3() -> None:
    """They arrived in revision 3, so a project generated before it gets them advisory."""
    assert {RULE_SINCE[p.name] for p in kubernetes.POLICIES} == {3}
    assert pack.project_baseline() == pack.RULESET
    assert all(pack.newer_than_baseline(p.name, 2) for p in kubernetes.POLICIES)
    assert not any(pack.newer_than_baseline(p.name, 3) for p in kubernetes.POLICIES)


def test_resource_rules_judge_only_pulumi_kubernetes_tokens() -> None:
    for p in kubernetes.POLICIES:
        assert all(t.startswith("kubernetes:") for t in RULE_TYPES[p.name]), p.name


def test_docs_list_the_kubernetes_rules_in_their_own_table() -> None:
    text = (REPO / "docs" / "rules.md").read_text()
    table = text.split("## Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    for p in kubernetes.POLICIES:
        assert f"| `{p.name}` |" in table, p.name


def test_pod_security_standards_references_are_checked() -> None:
    from policies.rules.references import pss

    assert pss("restricted/seccomp").url.endswith("pod-security-standards/#restricted")
    assert pss("baseline").tag == "k8s-pss:baseline"
    with pytest.raises(ValueError):
        pss("restricted/volume-typos")


# ---------------------------------------------------------------------------- over the protocol
def _mixed() -> None:
    """Compliant and failing objects of every rule, with values a preview does not know yet:
    outputs of an object whose mock returns no metadata (an image reference, a namespace name)
    and an auto-named namespace's name."""
    source = k8s.core.v1.ConfigMap("model-ref", data={"model": "scorer"})
    later = source.metadata.apply(lambda _: "computed")  # unknown during this preview
    restricted = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "v1.31",
    }
    team = k8s.core.v1.Namespace("team", metadata=k8s.meta.v1.ObjectMetaArgs(labels=restricted))
    batch = k8s.core.v1.Namespace(
        "batch", metadata=k8s.meta.v1.ObjectMetaArgs(name=later, labels=restricted)
    )
    for name, ns in (("team", team), ("batch", batch)):
        k8s.networking.v1.NetworkPolicy(
            f"{name}-deny",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns.metadata.name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
        )
    k8s.core.v1.Namespace("open", metadata=k8s.meta.v1.ObjectMetaArgs(name="open"))
    server = hardened_container("server")
    server.image = later.apply(lambda _: IMAGE)
    BUILDERS[DEPLOYMENT]("scorer", hardened_pod(containers=[server]))
    tagged = hardened_container("server")
    tagged.image = "registry.acme.internal/models/scorer:latest"
    BUILDERS[DEPLOYMENT]("tagged", hardened_pod(containers=[tagged], host_network=True))
    k8s.core.v1.Secret("api-key", string_data={"key": "not-from-the-store"})
    k8s.core.v1.Service(
        "public",
        spec=k8s.core.v1.ServiceSpecArgs(
            type="LoadBalancer", ports=[k8s.core.v1.ServicePortArgs(port=443)]
        ),
    )
    k8s.core.v1.ServiceAccount("runner")

    # A route named by an unknown Output and the policy naming it by the same Output; a route
    # no policy covers.
    def route(name: str, route_name: Any) -> None:
        k8s.apiextensions.CustomResource(
            name,
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=route_name, namespace=NAMESPACE),
            spec={"parentRefs": [{"name": "edge"}]},
        )

    route("api", later)
    route("open-route", "open-route")
    k8s.apiextensions.CustomResource(
        "api-auth",
        api_version="gateway.envoyproxy.io/v1alpha1",
        kind="SecurityPolicy",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=NAMESPACE),
        spec={
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": later}
            ],
            "apiKeyAuth": {"credentialRefs": [{"kind": "Secret", "name": "keys"}]},
        },
    )


def test_the_mixed_program_holds_values_unknown_at_preview() -> None:
    """The protocol test below really meets unknowns (a fixture guard)."""
    by_name = {r.name: r.inputs for r in run_program(_mixed)}
    pod = by_name["scorer"]["spec"]["template"]["spec"]
    assert isinstance(pod["containers"][0]["image"], pulumi.output.Unknown)
    assert isinstance(by_name["batch"]["metadata"]["name"], pulumi.output.Unknown)
    assert not isinstance(by_name["batch-deny"]["metadata"].get("namespace"), str)
    assert "namespace" not in by_name["team-deny"]["metadata"]  # the mocks never name "team"
    assert isinstance(by_name["api"]["metadata"]["name"], pulumi.output.Unknown)
    ref = by_name["api-auth"]["spec"]["targetRefs"][0]
    assert isinstance(ref["name"], pulumi.output.Unknown)


def test_the_pack_over_grpc_agrees_and_survives_unknowns() -> None:
    """The unchanged pack, driven as `pulumi preview` drives it, reports what the in-process
    rules do, and no Kubernetes rule gives up on a value unknown at preview."""
    resources = run_program(_mixed)
    with PackProcess(REPO / "policies") as running:
        effective = effective_config(running.info(), REPO / "policies" / "config" / "dev.json")
        running.configure(effective)
        violations, _ = analyze_resources(
            running, resources, effective, project="fixture", stack="dev"
        )
    names = {p.name for p in kubernetes.POLICIES}
    over_grpc = {(v.policy, v.resource_name) for v in violations if v.policy in names}
    in_process = {
        (f.policy, f.resource_name) for f in evaluate(kubernetes.POLICIES, proxied(resources))
    }
    assert over_grpc == in_process
    assert over_grpc == {
        ("k8s-image-by-digest", "tagged"),
        ("k8s-no-privileged-or-host-namespaces", "tagged"),
        ("k8s-namespace-restricted", "open"),
        ("k8s-namespace-default-deny", "open"),
        ("k8s-no-plain-secrets", "api-key"),
        ("k8s-service-not-exposed", "public"),
        ("k8s-service-account-token", "runner"),
        ("k8s-route-authenticated", "open-route"),
    }
    assert not [v for v in violations if "can't run policy" in v.message]
