"""S1 and S2 on the kubernetes target: captured api-first stacks, one seam cut at a time.

The prod stack passes both: its HTTPRoutes are serving endpoints (stack.SERVING_TYPES), its
PrometheusRule is an alarm routed to its AlertmanagerConfig, and the rollback path is
PrometheusRule -> AlertmanagerConfig (webhook) -> Service -> Deployment (aideploy-role=rollback)
whose ServiceAccount a RoleBinding gives a Role that patches the predict HTTPRoute, and whose
pods a NetworkPolicy lets read Alertmanager. The same stack without the rollback service fails
S2; cutting the marker, the read, the write or a link fails it with the reason.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from components.spec import Environment, Pattern
from offline.capture import CapturedResource
from policies.rules import stack
from tests.components.test_kubernetes_blocks import CANDIDATE, k8s_spec
from tests.conftest import run_component
from tests.policies.harness import Finding, evaluate

S1 = "aideploy-stack-require-routed-serving-alarms"
S2 = "aideploy-stack-require-rollback-wired-to-alarms"
ROLLBACK = "acme-support-rollback"
ROUTES = {"acme-support-api", "acme-support-health"}


@cache
def captured(
    pattern: Pattern = Pattern.API_FIRST, candidate: bool = True, prometheus: bool = True
) -> tuple[CapturedResource, ...]:
    overrides: dict[str, Any] = dict(CANDIDATE) if candidate else {}
    if not prometheus:
        overrides["cluster"] = {"prometheus": False}
    spec = k8s_spec(pattern, Environment.PROD, overrides)
    return tuple(run_component(spec).resources)


def findings(resources: list[CapturedResource], rule: str = S2) -> list[Finding]:
    return [f for f in evaluate(stack.POLICIES, resources) if f.policy == rule]


def flagged(resources: list[CapturedResource], rule: str = S2) -> set[str]:
    return {f.resource_name for f in findings(resources, rule)}


def without(resources: list[CapturedResource], *names: str) -> list[CapturedResource]:
    present = {r.name for r in resources}
    assert set(names) <= present, set(names) - present  # the cut must exist to mean anything
    return [r for r in resources if r.name not in names]


def edited(
    resources: list[CapturedResource], name: str, edit: Callable[[dict[str, Any]], None]
) -> list[CapturedResource]:
    out = []
    for r in resources:
        if r.name == name:
            inputs = json.loads(json.dumps(r.inputs, default=str))
            edit(inputs)
            r = dataclasses.replace(r, inputs=inputs)
        out.append(r)
    assert any(r.name == name for r in out)
    return out


def unlinked(resources: list[CapturedResource], name: str, prop: str) -> list[CapturedResource]:
    """``name`` without the dependencies of its input ``prop`` (the Output became a literal)."""
    out = []
    for r in resources:
        if r.name == name:
            assert r.property_dependencies.get(prop), (name, prop)
            deps = {k: v for k, v in r.property_dependencies.items() if k != prop}
            r = dataclasses.replace(r, property_dependencies=deps)
        out.append(r)
    return out


def rollback_objects(resources: list[CapturedResource]) -> list[str]:
    return [r.name for r in resources if r.name.startswith(ROLLBACK) and r.custom]


# ---------------------------------------------------------------- passing stacks
@pytest.mark.parametrize("candidate", [True, False])
def test_the_prod_api_first_stack_is_watched_and_rolls_back(candidate: bool) -> None:
    resources = list(captured(candidate=candidate))
    assert findings(resources, S1) == []
    assert findings(resources, S2) == []


def test_the_routes_are_the_endpoints_s2_judges() -> None:
    """Without its rollback the stack fails S2 on exactly its two HTTPRoutes: the rule does
    judge kubernetes stacks (a pass above is not for want of an endpoint)."""
    resources = list(captured())
    cut = without(resources, *rollback_objects(resources))
    assert flagged(cut) == ROUTES
    assert all("reaches a rollback function" in f.message for f in findings(cut))
    assert findings(cut, S1) == []  # still watched: only the rollback is missing


def test_event_driven_has_no_endpoint_to_roll_back() -> None:
    assert findings(list(captured(Pattern.EVENT_DRIVEN, candidate=False)), S2) == []
    assert findings(list(captured(Pattern.EVENT_DRIVEN, candidate=False)), S1) == []


def test_without_prometheus_nothing_watches_or_rolls_back() -> None:
    resources = list(captured(prometheus=False))
    assert flagged(resources, S1) == ROUTES
    assert flagged(resources, S2) == ROUTES


# ---------------------------------------------------------------- one seam cut at a time
def test_an_unmarked_deployment_is_no_rollback() -> None:
    def unmark(inputs: dict[str, Any]) -> None:
        del inputs["metadata"]["labels"]["aideploy-role"]

    cut = edited(list(captured()), ROLLBACK, unmark)
    assert flagged(cut) == ROUTES
    assert all("rollback marker" in f.message for f in findings(cut))


def test_a_service_that_cannot_reach_alertmanager_cannot_verify() -> None:
    cut = without(list(captured()), f"{ROLLBACK}-to-alertmanager")
    assert flagged(cut) == ROUTES
    assert all("read the alarm" in f.message for f in findings(cut))


def test_an_egress_to_another_port_is_no_read() -> None:
    def elsewhere(inputs: dict[str, Any]) -> None:
        inputs["spec"]["egress"][0]["ports"][0]["port"] = 9090

    cut = edited(list(captured()), f"{ROLLBACK}-to-alertmanager", elsewhere)
    assert flagged(cut) == ROUTES
    assert all("read the alarm" in f.message for f in findings(cut))


@pytest.mark.parametrize("cut_name", [f"{ROLLBACK}-binding", f"{ROLLBACK}-role"])
def test_without_the_role_or_its_binding_it_cannot_move_traffic(cut_name: str) -> None:
    cut = without(list(captured()), cut_name)
    assert flagged(cut) == ROUTES
    assert all("change nothing" in f.message for f in findings(cut))


def test_a_role_that_may_only_read_the_route_cannot_move_traffic() -> None:
    def read_only(inputs: dict[str, Any]) -> None:
        inputs["rules"][0]["verbs"] = ["get"]

    cut = edited(list(captured()), f"{ROLLBACK}-role", read_only)
    assert flagged(cut) == ROUTES
    assert all("change nothing" in f.message for f in findings(cut))


def test_a_role_on_another_route_cannot_move_traffic() -> None:
    """The Role names a route by a literal name that is not the stack's."""
    resources = edited(
        list(captured()),
        f"{ROLLBACK}-role",
        lambda i: i["rules"][0].update(resourceNames=["someone-elses-route"]),
    )
    cut = unlinked(resources, f"{ROLLBACK}-role", "rules")
    assert flagged(cut) == ROUTES
    assert all("change nothing" in f.message for f in findings(cut))


def test_a_role_naming_the_route_literally_counts() -> None:
    """A literal resourceName is matched against the stack's routes by name and namespace."""
    cut = unlinked(list(captured()), f"{ROLLBACK}-role", "rules")
    assert findings(cut) == []


def test_a_role_over_every_route_of_the_namespace_counts() -> None:
    def every_route(inputs: dict[str, Any]) -> None:
        del inputs["rules"][0]["resourceNames"]

    assert findings(edited(list(captured()), f"{ROLLBACK}-role", every_route)) == []


@pytest.mark.parametrize(
    ("name", "prop"),
    [
        ("acme-support-alerts", "metadata"),  # the rule no longer names its routing
        ("acme-support-routing", "spec"),  # the webhook is not the Service's URL
        (f"{ROLLBACK}-service", "spec"),  # the Service does not select the Deployment's pods
    ],
)
def test_a_broken_link_reaches_no_rollback(name: str, prop: str) -> None:
    cut = unlinked(list(captured()), name, prop)
    assert flagged(cut) == ROUTES


def test_a_rule_that_names_no_routing_is_unrouted_for_s1() -> None:
    cut = unlinked(list(captured()), "acme-support-alerts", "metadata")
    assert "acme-support-alerts" in flagged(cut, S1)
