"""Every rule of the pack, in one explicit list."""

from __future__ import annotations

from pulumi_policy import Policy

from policies.rules import aws, azure, gcp, kubernetes, llm, stack


def all_policies() -> list[Policy]:
    """The pack's rules: AWS, Azure, GCP, Kubernetes, the LLM rule, then the stack rules."""
    return [
        *aws.POLICIES,
        *azure.POLICIES,
        *gcp.POLICIES,
        *kubernetes.POLICIES,
        *llm.POLICIES,
        *stack.POLICIES,
    ]
