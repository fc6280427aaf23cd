"""Every route the gateway serves asks for credentials: an Envoy Gateway SecurityPolicy that
authenticates targets the HTTPRoute, or the Gateway the route attaches to.

A stack rule: it pairs each HTTPRoute with the SecurityPolicies of the stack. Envoy Gateway
attaches a policy through ``spec.targetRefs`` (or the older single ``spec.targetRef``): local
references, so a policy reaches only objects of its own namespace. The most specific policy
wins and replaces the others (no merging): one on the route replaces the Gateway's for that
route, one on a listener (a Gateway reference with ``sectionName``) replaces the whole
Gateway's for that listener. So a route is authenticated when

* SecurityPolicies target it, every one of them authenticates, and one covers the whole route
  (no ``sectionName``: one scoped to a rule leaves the others to the Gateway); or, when none
  targets it at all (or only rule-scoped ones that authenticate),
* it attaches to at least one Gateway, and for every Gateway it attaches to, the policies on
  the listeners it may use and on the whole Gateway all authenticate, with one on the whole
  Gateway or on the listener its ``parentRef`` names.

Policies that target the same object without authenticating make the route fail however old
each is: Envoy Gateway keeps the oldest of conflicting policies, which the stack cannot tell.
``targetSelectors`` (attachment by label) are not read: a route covered only that way fails and
is waived with the reason.

Names are compared as plain strings. Where one is not known at preview, the rule keeps it
simple, as k8s-namespace-default-deny does: a reference still unknown (or absent) matches the
route the policy's ``spec`` was built from (a property dependency: the same Output), and two
names both unknown are taken to match; an unknown namespace matches any.

A route labelled ``aideploy.io/public: "true"`` is exempt: the health route the pipeline's
smoke test and uptime checks call without credentials. The label is the program's own claim,
so a review sees it next to the route.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from policies.rules.base import SECURITY, canonical_type, stack_rule
from policies.rules.kubernetes._common import (
    HTTP_ROUTES,
    SECURITY_POLICY,
    UNKNOWN,
    entry,
    items,
    read,
    show,
)
from policies.rules.references import guardrail

GATEWAY_GROUP = "gateway.networking.k8s.io"
ROUTE_KIND = "HTTPRoute"
GATEWAY_KIND = "Gateway"
# The SecurityPolicy fields that demand a credential of the caller.
AUTH_FIELDS: tuple[str, ...] = ("jwt", "apiKeyAuth", "basicAuth", "oidc", "extAuth")
PUBLIC_LABEL = "aideploy.io/public"
PUBLIC = "true"
_AUTH_SHOWN = ", ".join(f"`{f}`" for f in AUTH_FIELDS[:-1]) + f" or `{AUTH_FIELDS[-1]}`"


def _unknown(value: Any) -> bool:
    """Neither a plain string nor absent: an Output still unknown."""
    return value is not None and not isinstance(value, str)


def _namespaces_meet(one: Any, other: Any) -> bool:
    """Same namespace: equal names (absent on both sides is the provider's default namespace
    on both), or either unknown."""
    return _unknown(one) or _unknown(other) or one == other


def _references_meet(one: Any, other: Any) -> bool:
    """Two references to the same object by name: equal strings, or both unknown."""
    if isinstance(one, str) and isinstance(other, str):
        return one == other
    return _unknown(one) and _unknown(other)


def _sections_meet(ref: Any, parent: Any) -> bool:
    """A listener-scoped policy (``ref``) applies to a route attached by ``parent``: the same
    listener, or the route names none (it may attach to every listener), or either unknown."""
    return parent is None or _unknown(ref) or _unknown(parent) or ref == parent


@dataclass(frozen=True)
class Target:
    """One object a SecurityPolicy attaches to."""

    policy: PolicyResource
    kind: Any
    name: Any
    section: Any
    namespace: Any
    authenticates: bool

    @property
    def shown(self) -> str:
        name = read(self.policy.props, "metadata.name")
        return show(name) if isinstance(name, str) else f"'{self.policy.name}'"


@dataclass(frozen=True)
class Parent:
    """A Gateway an HTTPRoute attaches to (``spec.parentRefs``)."""

    name: Any
    namespace: Any
    section: Any


def _authenticates(policy: PolicyResource) -> bool:
    """The policy asks for a credential: one of :data:`AUTH_FIELDS` set (an empty mapping sets
    nothing; a value still unknown at preview counts)."""
    for field in AUTH_FIELDS:
        value = read(policy.props, f"spec.{field}")
        if value is None or (isinstance(value, Mapping) and len(value) == 0):
            continue
        return True
    return False


def _of_gateway_api(ref: Mapping[str, Any]) -> bool:
    group = read(ref, "group")
    return group is None or group == GATEWAY_GROUP or _unknown(group)


def _targets(policy: PolicyResource) -> Iterator[Target]:
    props = policy.props
    namespace = read(props, "metadata.namespace")
    authenticates = _authenticates(policy)
    refs: list[Any] = list(items(read(props, "spec.targetRefs")))
    single = read(props, "spec.targetRef")
    if isinstance(single, Mapping):
        refs.append(single)
    for ref in refs:
        if isinstance(ref, Mapping) and _of_gateway_api(ref):
            yield Target(
                policy,
                read(ref, "kind"),
                read(ref, "name"),
                read(ref, "sectionName"),
                namespace,
                authenticates,
            )


def _parents(route: PolicyResource) -> list[Parent]:
    own = read(route.props, "metadata.namespace")
    parents = []
    for ref in items(read(route.props, "spec.parentRefs")):
        if not isinstance(ref, Mapping) or not _of_gateway_api(ref):
            continue
        if read(ref, "kind") not in (None, GATEWAY_KIND):
            continue  # a Service (mesh) parent: no gateway, no SecurityPolicy
        namespace = read(ref, "namespace")
        parents.append(
            Parent(
                read(ref, "name"), own if namespace is None else namespace, read(ref, "sectionName")
            )
        )
    return parents


def _built_from(policy: PolicyResource, route: PolicyResource) -> bool:
    """The policy's spec was built from the route's outputs (its name)."""
    return any(dep.urn == route.urn for dep in policy.property_dependencies.get("spec", []))


def _targets_route(target: Target, route: PolicyResource) -> bool:
    if target.kind != ROUTE_KIND:
        return False
    if not _namespaces_meet(target.namespace, read(route.props, "metadata.namespace")):
        return False
    name = read(route.props, "metadata.name")
    if isinstance(target.name, str) and isinstance(name, str):
        return target.name == name
    return _built_from(target.policy, route) or (
        _unknown(target.name) and not isinstance(name, str)
    )


def _gateway_covers(targets: Sequence[Target], parent: Parent) -> bool:
    """The policies in force on the listeners ``parent`` may use all authenticate, and one
    covers them all (the whole Gateway, or the one listener the parent names)."""
    on_gateway = [
        t
        for t in targets
        if t.kind == GATEWAY_KIND
        and _namespaces_meet(t.namespace, parent.namespace)
        and _references_meet(t.name, parent.name)
    ]
    listeners = [t for t in on_gateway if t.section is not None]
    scoped = [t for t in listeners if _sections_meet(t.section, parent.section)]
    whole = [t for t in on_gateway if t.section is None]
    if not all(t.authenticates for t in scoped):
        return False
    if parent.section is not None and scoped:
        return True  # the listener's own policy replaces the Gateway's
    return bool(whole) and all(t.authenticates for t in whole)


def _public(route: PolicyResource) -> bool:
    labels = read(route.props, "metadata.labels")
    value = UNKNOWN if labels is UNKNOWN else entry(labels, PUBLIC_LABEL)
    return value is UNKNOWN or value == PUBLIC


def _fault(route: PolicyResource, targets: Sequence[Target]) -> str | None:
    """Why ``route`` is served without credentials, or None when it is not."""
    on_route = [t for t in targets if _targets_route(t, route)]
    weak = sorted({t.shown for t in on_route if not t.authenticates})
    if weak:
        return (
            f"SecurityPolicy {', '.join(weak)} targets it without {_AUTH_SHOWN}, and a route's "
            "own policy replaces its Gateway's"
        )
    if any(t.section is None for t in on_route):
        return None
    parents = _parents(route)
    if parents and all(_gateway_covers(targets, p) for p in parents):
        return None
    return f"no SecurityPolicy with {_AUTH_SHOWN} targets it or the Gateway it attaches to"


def _unauthenticated(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    targets = [
        t
        for p in resources
        if canonical_type(p.resource_type) == SECURITY_POLICY
        for t in _targets(p)
    ]
    for route in resources:
        if canonical_type(route.resource_type) not in HTTP_ROUTES or _public(route):
            continue
        fault = _fault(route, targets)
        if fault is None:
            continue
        name = read(route.props, "metadata.name")
        shown = show(name) if isinstance(name, str) else f"'{route.name}'"
        yield (
            f"HTTPRoute {shown} is served without credentials: {fault}. Anyone who reaches the "
            "gateway calls the model behind it.",
            route.urn,
        )


route_authenticated = stack_rule(
    "k8s-route-authenticated",
    "Every HTTPRoute is the target of an Envoy Gateway SecurityPolicy that authenticates "
    f"({_AUTH_SHOWN}), itself or through its Gateway; a route labelled "
    f'`{PUBLIC_LABEL}: "{PUBLIC}"` (the health route) is exempt.',
    check=_unauthenticated,
    severity=Severity.HIGH,
    tags=["authentication", "network-exposure"],
    # No benchmark control covers Gateway API routes: the cluster's form of guardrail 10 (a
    # serving endpoint's auth is not NONE).
    references=[guardrail("10")],
    remediation=(
        "Target the route with a SecurityPolicy (gateway.envoyproxy.io/v1alpha1) in its "
        'namespace: `targetRefs: [{group: "gateway.networking.k8s.io", kind: "HTTPRoute", '
        "name: <route>}]` and `jwt` (issuer, audiences, remoteJWKS) and/or `apiKeyAuth` "
        "(credentialRefs to a Secret synced from the client's store); or target the Gateway, "
        "which covers every route on it that has no policy of its own. A route meant to be "
        f'called without credentials (the health check only) carries `{PUBLIC_LABEL}: "{PUBLIC}"`.'
    ),
    category=SECURITY,
    types=[*HTTP_ROUTES, SECURITY_POLICY],
    since=3,
)
