"""gcp-audit-logs-require-ai-and-storage (rule 32): a stack that uses Vertex AI or Cloud Storage
turns on their data access audit logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pulumi_gcp as gcp
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.rules.gcp.logging import audit_logs_require_ai_and_storage
from tests.policies.harness import evaluate, names_violating, run_program

POLICY = audit_logs_require_ai_and_storage
AI = "aiplatform.googleapis.com"
STORAGE = "storage.googleapis.com"
BOTH = ("DATA_READ", "DATA_WRITE")


def stack(
    audits: dict[str, tuple[str, ...]] | None = None,
    *,
    with_data: bool = True,
    policy_document: bool = False,
) -> Callable[[], None]:
    """A bucket and a Vertex endpoint, plus audit configs {service: log types}."""
    audits = {AI: BOTH, STORAGE: BOTH} if audits is None else audits

    def program() -> None:
        if with_data:
            gcp.storage.Bucket("artifacts", location="EU")
            gcp.vertex.AiEndpoint(
                "serving", name="serving", location="europe-west1", display_name="serving"
            )
        gcp.storage.BucketIAMMember(
            "reader",
            bucket="artifacts",
            role="roles/storage.objectViewer",
            member="group:ml@acme.example",
        )
        if policy_document:
            document = {
                "auditConfigs": [
                    {"service": s, "auditLogConfigs": [{"logType": t} for t in types]}
                    for s, types in audits.items()
                ]
            }
            gcp.projects.IAMPolicy("project", project="acme", policy_data=json.dumps(document))
            return
        for service, types in audits.items():
            gcp.projects.IAMAuditConfig(
                f"audit-{service.split('.')[0]}",
                project="acme",
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=t) for t in types
                ],
            )

    return program


CASES: dict[str, tuple[Callable[[], None], set[str]]] = {
    "both-audited": (stack(), set()),
    "all-services": (stack({"allServices": BOTH}), set()),
    "policy-document": (stack(policy_document=True), set()),
    "ai-missing": (stack({STORAGE: BOTH}), {"serving"}),
    "storage-read-only": (stack({AI: BOTH, STORAGE: ("DATA_READ",)}), {"artifacts"}),
    "none": (stack({}), {"serving", "artifacts"}),
    "no-data-resources": (stack({}, with_data=False), set()),
    "policy-document-ai-missing": (stack({STORAGE: BOTH}, policy_document=True), {"serving"}),
}


@pytest.mark.parametrize(
    ("program", "expected"),
    list(CASES.values()),
    ids=[f"gcp-audit-logs-require-ai-and-storage:{k}" for k in CASES],
)
def test_audit_logs_for_used_services(program: Callable[[], None], expected: set[str]) -> None:
    """gcp-audit-logs-require-ai-and-storage: one audit config changed per case."""
    captured = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs))) for r in run_program(program)
    ]
    assert names_violating(evaluate([POLICY], captured), POLICY.name) == expected


def test_audit_logs_waiver() -> None:
    """gcp-audit-logs-require-ai-and-storage: a waiver on the reported resource silences it."""
    captured = run_program(stack({STORAGE: BOTH}))
    waiver = {"waivers": [{"resource": "serving", "reason": "sandbox endpoint, no real data"}]}
    assert (
        names_violating(evaluate([POLICY], captured, {POLICY.name: waiver}), POLICY.name) == set()
    )


def test_preview_unknown_audit_service_does_not_abort_the_stack_check() -> None:
    """gcp-audit-logs-require-ai-and-storage: an audit config whose service is unknown in preview
    counts for nothing, and the check still runs."""
    captured = []
    for r in run_program(stack()):
        inputs = dict(r.inputs)
        if r.name == "audit-aiplatform":
            inputs["service"] = UNKNOWN_STRING_VALUE
        captured.append(replace(r, inputs=unknown_checking_proxy(inputs)))
    assert names_violating(evaluate([POLICY], captured), POLICY.name) == {"serving"}
