"""k8s-namespace-restricted and k8s-namespace-default-deny on real programs: a namespace with
the restricted label and a default-deny NetworkPolicy passes; changing any one element of
either fails it (the stack rule pairs namespaces and policies by name, or by the same Output
where a name is not known)."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from offline.capture import CapturedResource
from policies.rules.kubernetes import namespaces
from tests.policies.harness import run_program
from tests.policies.test_kubernetes_common import (
    REMOVE,
    Program,
    changed,
    findings,
    judge,
    waiver,
)

RESTRICTED = namespaces.namespace_restricted
DEFAULT_DENY = namespaces.namespace_default_deny
LABEL = "pod-security.kubernetes.io/enforce"
VERSION = "pod-security.kubernetes.io/enforce-version"
LABELS = {LABEL: "restricted", VERSION: "v1.31"}


def deny_all(name: str, namespace: Any) -> k8s.networking.v1.NetworkPolicy:
    """The default deny: every pod, both directions, no allow rule."""
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
        ),
    )


def namespace(name: str | None = "serving", resource: str = "serving") -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=LABELS),
    )


def closed_namespace() -> None:
    """The compliant pair, plus a narrower allow policy next to the deny (as a workload adds)."""
    ns = namespace()
    deny_all("serving-deny", ns.metadata.name)
    k8s.networking.v1.NetworkPolicy(
        "serving-from-gateway",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns.metadata.name),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "scorer"}),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": "gateway"}
                            )
                        )
                    ]
                )
            ],
        ),
    )


def compliant() -> list[CapturedResource]:
    return run_program(closed_namespace)


def with_deny(**change: Any) -> list[CapturedResource]:
    """The compliant stack with one change to its default-deny policy."""
    return [changed(r, **change) if r.name == "serving-deny" else r for r in compliant()]


# ---------------------------------------------------------------------------- restricted label
def test_a_restricted_namespace_passes() -> None:
    assert judge(RESTRICTED, compliant()) == set()


def with_labels(labels: dict[str, Any]) -> list[CapturedResource]:
    """The compliant stack with the namespace's labels replaced (a label's key holds dots, so
    :func:`changed` cannot reach one label: each case differs from :data:`LABELS` by one)."""
    return [changed(r, metadata__labels=labels) if r.name == "serving" else r for r in compliant()]


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in LABELS.items() if k != key}


@pytest.mark.parametrize("level", [None, "baseline", "privileged", "Restricted", ""])
def test_a_namespace_not_enforcing_restricted_fails(level: str | None) -> None:
    labels = _without(LABEL) if level is None else {**LABELS, LABEL: level}
    (found,) = findings(RESTRICTED, with_labels(labels))
    assert found[0] == "serving" and f"label `{LABEL}` is" in found[1]


@pytest.mark.parametrize("version", ["v1.31", "v1.0", "v1.34"])
def test_a_pinned_enforce_version_passes(version: str) -> None:
    assert judge(RESTRICTED, with_labels({**LABELS, VERSION: version})) == set()


LATEST = "what the profile admits then changes with every cluster upgrade"
MALFORMED = "Pod Security Admission reads only a Kubernetes minor version there"


@pytest.mark.parametrize(
    ("version", "shown", "why"),
    [
        (None, "unset (latest)", LATEST),
        ("latest", '"latest"', LATEST),
        ("1.31", '"1.31"', MALFORMED),
        ("v1.31.2", '"v1.31.2"', MALFORMED),
        ("V1.31", '"V1.31"', MALFORMED),
        ("", '""', MALFORMED),
    ],
    ids=["unset", "latest", "no-v", "patch", "upper-case", "empty"],
)
def test_an_enforce_version_not_pinned_fails(version: str | None, shown: str, why: str) -> None:
    labels = _without(VERSION) if version is None else {**LABELS, VERSION: version}
    assert findings(RESTRICTED, with_labels(labels)) == [
        (
            "serving",
            f'label `{VERSION}` is {shown}: {why}; pin it to the cluster\'s minor (e.g. "v1.31").',
        )
    ]


def test_a_namespace_failing_both_labels_is_told_both() -> None:
    messages = [m for _, m in findings(RESTRICTED, with_labels({LABEL: "baseline"}))]
    assert len(messages) == 2
    assert f"`{LABEL}` is" in messages[0] and f"`{VERSION}` is unset (latest)" in messages[1]


@pytest.mark.parametrize("key", [LABEL, VERSION])
def test_a_label_unknown_at_preview_is_left_to_the_update_run(key: str) -> None:
    assert judge(RESTRICTED, with_labels({**LABELS, key: UNKNOWN_STRING_VALUE})) == set()


def test_labels_unknown_at_preview_are_left_to_the_update_run() -> None:
    resources = [
        changed(r, metadata__labels=UNKNOWN_STRING_VALUE) if r.name == "serving" else r
        for r in compliant()
    ]
    assert judge(RESTRICTED, resources) == set()


def test_a_namespace_without_labels_fails_and_a_waiver_skips_it() -> None:
    program: Program = lambda: k8s.core.v1.Namespace("ingress")  # noqa: E731
    assert judge(RESTRICTED, program) == {"ingress"}
    assert len(findings(RESTRICTED, program)) == 2  # neither the level nor the version
    assert judge(RESTRICTED, program, waiver("ingress")) == set()


# ---------------------------------------------------------------------------- default deny
def test_a_namespace_with_its_default_deny_passes() -> None:
    assert judge(DEFAULT_DENY, compliant()) == set()


def test_a_namespace_without_a_network_policy_fails() -> None:
    resources = [r for r in compliant() if r.name != "serving-deny"]
    assert findings(DEFAULT_DENY, resources) == [
        (
            "serving",
            'namespace "serving" has no default-deny NetworkPolicy in the stack: every pod in '
            "it accepts traffic from, and sends traffic to, anything the cluster network "
            "reaches.",
        )
    ]


DENY_CHANGES: dict[str, dict[str, Any]] = {
    "selects-some-pods": {"spec__podSelector": {"matchLabels": {"app": "scorer"}}},
    "selects-by-expression": {
        "spec__podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    },
    "no-pod-selector": {"spec__podSelector": REMOVE},
    "ingress-only": {"spec__policyTypes": ["Ingress"]},
    "egress-only": {"spec__policyTypes": ["Egress"]},
    "no-policy-types": {"spec__policyTypes": REMOVE},
    "allows-all-ingress": {"spec__ingress": [{}]},
    "allows-egress": {"spec__egress": [{"to": [{"namespaceSelector": {}}]}]},
    "other-namespace": {"metadata__namespace": "default"},
    "no-namespace": {"metadata__namespace": REMOVE},
}


@pytest.mark.parametrize("change", DENY_CHANGES.values(), ids=DENY_CHANGES.keys())
def test_a_policy_that_is_not_a_default_deny_leaves_its_namespace_open(
    change: dict[str, Any],
) -> None:
    assert judge(DEFAULT_DENY, with_deny(**change)) == {"serving"}


def test_an_explicitly_empty_selector_selects_every_pod() -> None:
    resources = with_deny(spec__podSelector={"matchLabels": {}, "matchExpressions": []})
    assert judge(DEFAULT_DENY, resources) == set()


def test_only_the_namespace_without_its_deny_is_reported() -> None:
    def program() -> None:
        closed_namespace()
        namespace("batch", resource="batch")

    assert judge(DEFAULT_DENY, program) == {"batch"}
    assert judge(DEFAULT_DENY, program, waiver("batch")) == set()


def test_an_auto_named_namespace_is_paired_with_the_policy_built_from_it() -> None:
    """Offline the provider never names the namespace, so the policy's namespace comes out
    absent; its metadata still depends on that Namespace (the same Output)."""

    def program() -> None:
        ns = namespace(None)
        deny_all("serving-deny", ns.metadata.name)

    assert judge(DEFAULT_DENY, program) == set()


def test_an_auto_named_namespace_without_a_policy_fails() -> None:
    def program() -> None:
        ns = namespace(None)
        deny_all("elsewhere-deny", "elsewhere")
        k8s.core.v1.ConfigMap("settings", metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns.id))

    assert judge(DEFAULT_DENY, program) == {"serving"}


def _unknown_output() -> Any:
    """A value unknown during the preview: an output the mocks do not return."""
    return k8s.core.v1.ConfigMap("source", data={"k": "v"}).metadata.apply(lambda _: "x")


def test_a_namespace_named_by_an_unknown_output_is_paired_with_its_policy() -> None:
    def program() -> None:
        ns = namespace(_unknown_output())
        deny_all("serving-deny", ns.metadata.name)

    assert judge(DEFAULT_DENY, program) == set()


def test_an_unknown_name_is_covered_by_any_deny_with_an_unknown_namespace() -> None:
    """The documented simplification: names unknown on both sides are taken to match."""

    def program() -> None:
        later = _unknown_output()
        namespace(later)
        deny_all("other-deny", later)

    assert judge(DEFAULT_DENY, program) == set()


def test_an_unknown_name_without_any_such_deny_fails() -> None:
    def program() -> None:
        namespace(_unknown_output())
        deny_all("named-deny", "serving")

    assert judge(DEFAULT_DENY, program) == {"serving"}
