"""Namespaces the stack creates: Pod Security Admission enforces the restricted profile, and a
default-deny NetworkPolicy closes every pod's traffic until a narrower policy opens it.

The default-deny check is a stack rule: it pairs each Namespace with the NetworkPolicies of the
stack. A NetworkPolicy belongs to a namespace when its ``metadata.namespace`` equals the
Namespace's ``metadata.name``. Where a name is not a plain string, names cannot be compared, so
the rule keeps it simple:

* a NetworkPolicy whose namespace is still unknown at preview covers the Namespace its
  ``metadata`` was built from (a property dependency on that Namespace: the same Output);
* a Namespace whose own name is not a plain string is covered by any default-deny NetworkPolicy
  whose namespace is unknown too (most likely the same Output), or whose namespace is absent
  but built from that Namespace: offline, an auto-named Namespace has no name (the provider
  names it in the engine's check, which the mocks do not run), so ``ns.metadata.name`` comes
  out absent in the policy built from it.

Otherwise a NetworkPolicy without ``metadata.namespace`` lands in the provider's default
namespace and covers no Namespace of the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from policies.rules.base import SECURITY, canonical_type, resource_rule, stack_rule
from policies.rules.kubernetes._common import (
    NAMESPACE,
    NETWORK_POLICY,
    UNKNOWN,
    entry,
    items,
    read,
    show,
)
from policies.rules.references import checkov, cis, pss

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
RESTRICTED = "restricted"
# What "latest" means moves with every cluster upgrade; a pinned minor ("v1.31", the form Pod
# Security Admission parses) keeps what is admitted fixed until the label is raised on purpose.
LATEST = "latest"
PINNED_VERSION = re.compile(r"v1\.(0|[1-9][0-9]*)")


def _not_restricted(props: Mapping[str, Any], _: ResourceValidationArgs) -> Iterator[str]:
    labels = read(props, "metadata.labels")
    if labels is UNKNOWN:
        return  # the whole map computed at deployment: the update run judges it
    level = entry(labels, ENFORCE_LABEL)
    if level is not UNKNOWN and level != RESTRICTED:
        yield (
            f"Pod Security Admission does not enforce the restricted profile here: label "
            f"`{ENFORCE_LABEL}` is {show(level)}; set it to {show(RESTRICTED)}."
        )
    version = entry(labels, VERSION_LABEL)
    if version is UNKNOWN or (isinstance(version, str) and PINNED_VERSION.fullmatch(version)):
        return
    why = (
        "what the profile admits then changes with every cluster upgrade"
        if version is None or version == LATEST
        else "Pod Security Admission reads only a Kubernetes minor version there"
    )
    shown = f"unset ({LATEST})" if version is None else show(version)
    yield (
        f'label `{VERSION_LABEL}` is {shown}: {why}; pin it to the cluster\'s minor (e.g. "v1.31").'
    )


namespace_restricted = resource_rule(
    "k8s-namespace-restricted",
    "Every namespace the stack creates enforces the restricted Pod Security Standard at a "
    f"pinned version (labels `{ENFORCE_LABEL}: {RESTRICTED}` and `{VERSION_LABEL}: v1.<minor>`, "
    f"not `{LATEST}`).",
    types=[NAMESPACE],
    check=_not_restricted,
    severity=Severity.HIGH,
    tags=["least-privilege"],
    references=[cis("kubernetes", "5.2.1"), pss(RESTRICTED)],
    remediation=(
        f'Label the namespace: `metadata=ObjectMetaArgs(labels={{"{ENFORCE_LABEL}": '
        f'"{RESTRICTED}", "{VERSION_LABEL}": "v1.<cluster minor>"}})`, so the API server '
        "itself refuses a pod this pack would flag, whoever creates it, and a cluster upgrade "
        "cannot change what it admits; raise the version after checking the workloads against "
        "the new one."
    ),
    since=3,
)

DIRECTIONS = frozenset({"Ingress", "Egress"})


def _selects_every_pod(selector: Any) -> bool:
    """An empty label selector (``{}``, or empty ``matchLabels`` / ``matchExpressions``)."""
    if not isinstance(selector, Mapping):
        return False
    for key in ("matchLabels", "matchExpressions"):
        criteria = entry(selector, key)
        if criteria is None:
            continue
        if not isinstance(criteria, (Mapping, Sequence)) or len(criteria) > 0:
            return False  # a selection, or one unknown until deployed
    return True


def _no_rules(value: Any) -> bool:
    """No allow rule at all (an empty rule ``{}`` allows everything)."""
    return value is None or (value is not UNKNOWN and not any(True for _ in items(value)))


def is_default_deny(policy: PolicyResource) -> bool:
    """Whether the NetworkPolicy selects every pod and denies all ingress and egress."""
    props = policy.props
    types = {t for t in items(read(props, "spec.policyTypes")) if isinstance(t, str)}
    return (
        _selects_every_pod(read(props, "spec.podSelector"))
        and types >= DIRECTIONS
        and _no_rules(read(props, "spec.ingress"))
        and _no_rules(read(props, "spec.egress"))
    )


def _built_from(policy: PolicyResource, namespace: PolicyResource) -> bool:
    """The policy's metadata was built from the Namespace's outputs (its name)."""
    return any(dep.urn == namespace.urn for dep in policy.property_dependencies.get("metadata", []))


def _unknown(value: Any) -> bool:
    """Neither a plain string nor absent: an Output still unknown."""
    return value is not None and not isinstance(value, str)


def _namespaces_open(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    denies = [
        (p, read(p.props, "metadata.namespace"))
        for p in resources
        if canonical_type(p.resource_type) == NETWORK_POLICY and is_default_deny(p)
    ]
    named = {ns for _, ns in denies if isinstance(ns, str)}
    unknown = [p for p, ns in denies if _unknown(ns)]
    absent = [p for p, ns in denies if ns is None]
    for namespace in resources:
        if canonical_type(namespace.resource_type) != NAMESPACE:
            continue
        name = read(namespace.props, "metadata.name")
        if isinstance(name, str):
            covered = name in named or any(_built_from(p, namespace) for p in unknown)
        else:
            covered = bool(unknown) or any(_built_from(p, namespace) for p in absent)
        if covered:
            continue
        shown = show(name) if isinstance(name, str) else f"'{namespace.name}'"
        yield (
            f"namespace {shown} has no default-deny NetworkPolicy in the stack: every pod in "
            "it accepts traffic from, and sends traffic to, anything the cluster network "
            "reaches.",
            namespace.urn,
        )


namespace_default_deny = stack_rule(
    "k8s-namespace-default-deny",
    "Every namespace the stack creates holds a default-deny NetworkPolicy: an empty pod "
    "selector, policy types Ingress and Egress, and no allow rule.",
    check=_namespaces_open,
    severity=Severity.HIGH,
    tags=["network-exposure"],
    references=[cis("kubernetes", "5.3.2"), checkov("CKV2_K8S_6")],
    remediation=(
        "In each namespace add `NetworkPolicy(metadata=ObjectMetaArgs(namespace=ns.metadata."
        "name), spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), "
        'policy_types=["Ingress", "Egress"]))` with no `ingress` or `egress`, then one narrower '
        "policy per flow the workload needs (from the gateway, to DNS, to the model store)."
    ),
    category=SECURITY,
    types=[NAMESPACE, NETWORK_POLICY],
    since=3,
)
