"""In-process evaluation of rules on resources captured from real programs.

Fast feedback for rule tests: the same ``pulumi_policy`` argument classes the pack's analyzer
builds, fed with the wire-form (camelCase) inputs captured under mocks. The offline runner's
protocol tests prove the same rules answer the same way over gRPC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from offline.capture import CapturedResource, capture


@dataclass(frozen=True)
class Finding:
    """One violation reported by one policy."""

    policy: str
    resource_type: str
    resource_name: str
    message: str


def _wire(r: CapturedResource) -> Mapping[str, Any]:
    """Inputs as the analyzer presents them to rules: wrapped in pulumi_policy's proxies."""
    if not isinstance(r.inputs, dict):  # already proxied by the test itself
        return r.inputs
    return unknown_checking_proxy(r.inputs)


def _opts(r: CapturedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=r.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=r.parent or None,
    )


def evaluate(
    policies: Iterable[Policy],
    resources: list[CapturedResource],
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Every violation the policies report on ``resources`` (custom resources only)."""
    config = config or {}
    findings: list[Finding] = []
    customs = [r for r in resources if r.custom]
    by_urn: dict[str, PolicyResource] = {}
    for r in customs:
        # The pack hands rules read-only proxies (lists are Sequences, not lists): so do we.
        by_urn[r.urn] = PolicyResource(
            r.type, _wire(r), r.urn, r.name, _opts(r), None, None, [], {}
        )
    for r in customs:  # second pass: links between resources
        res = by_urn[r.urn]
        res.parent = by_urn.get(r.parent)
        res.dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
        res.property_dependencies = {
            k: [by_urn[d] for d in v if d in by_urn] for k, v in r.property_dependencies.items()
        }
    for policy in policies:
        policy_config = {"waivers": [], **dict(config.get(policy.name, {}))}

        def report(
            message: str, urn: str | None = None, *, _p: Policy = policy, _r: Any = None
        ) -> None:
            target = by_urn.get(urn) if urn else _r
            findings.append(
                Finding(
                    _p.name,
                    getattr(target, "resource_type", ""),
                    getattr(target, "name", ""),
                    message,
                )
            )

        if isinstance(policy, ResourceValidationPolicy):
            for r in customs:
                args = ResourceValidationArgs(
                    r.type, _wire(r), r.urn, r.name, _opts(r), None, policy_config
                )
                policy.validate(args, _bind(report, by_urn[r.urn]))
        elif isinstance(policy, StackValidationPolicy):
            stack_args = StackValidationArgs(list(by_urn.values()), policy_config)
            policy.validate(stack_args, report)
    return findings


def _bind(
    report: Callable[..., None], resource: PolicyResource
) -> Callable[[str, str | None], None]:
    def bound(message: str, urn: str | None = None) -> None:
        report(message, urn, _r=resource)

    return bound


def run_program(program: Callable[[], Any], *, stack: str = "dev") -> list[CapturedResource]:
    """Capture a small real Pulumi program (the fixture style every rule test uses)."""
    return capture(program, project="fixture", stack=stack).resources


def names_violating(findings: list[Finding], policy: str) -> set[str]:
    """Resource names the given policy flagged."""
    return {f.resource_name for f in findings if f.policy == policy}
