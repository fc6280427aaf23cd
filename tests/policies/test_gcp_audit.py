"""Audit log config rules (audit.py): every log type, no exempted principal; one change per
failing case, on audit config resources and on IAM policies' auditConfigs."""

from __future__ import annotations

import json
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy

from policies.rules.gcp import audit
from tests.policies.test_gcp_common import TARGET, Program, judge, waiver

ALL = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
BREAK_GLASS = "user:breakglass@acme.example"


def project_audit(
    types: tuple[str, ...] = ALL, exempt: dict[str, list[str]] | None = None
) -> Program:
    exempt = exempt or {}
    return lambda: gcp.projects.IAMAuditConfig(
        TARGET,
        project="acme",
        service="allServices",
        audit_log_configs=[
            gcp.projects.IAMAuditConfigAuditLogConfigArgs(
                log_type=t, exempted_members=exempt.get(t)
            )
            for t in types
        ],
    )


def org_audit(exempt: list[str] | None = None) -> Program:
    return lambda: gcp.organizations.IamAuditConfig(
        TARGET,
        org_id="1234567890",
        service="aiplatform.googleapis.com",
        audit_log_configs=[
            gcp.organizations.IamAuditConfigAuditLogConfigArgs(
                log_type=t, exempted_members=exempt if t == "DATA_READ" else None
            )
            for t in ALL
        ],
    )


def project_policy(configs: list[dict[str, Any]] | None = None) -> Program:
    document: dict[str, Any] = {
        "bindings": [{"role": "roles/viewer", "members": ["group:ml@acme.example"]}],
    }
    if configs is not None:
        document["auditConfigs"] = configs
    return lambda: gcp.projects.IAMPolicy(TARGET, project="acme", policy_data=json.dumps(document))


def entry(exempt: list[str] | None = None, types: tuple[str, ...] = ALL) -> dict[str, Any]:
    return {
        "service": "allServices",
        "auditLogConfigs": [
            {"logType": t, **({"exemptedMembers": exempt} if exempt else {})} for t in types
        ],
    }


EXEMPT = audit.audit_config_disallow_exemptions
TYPES = audit.audit_config_require_all_log_types

CASES: dict[str, tuple[Policy, Program, bool]] = {
    "gcp-audit-config-disallow-exemptions:no-exemption-ok": (EXEMPT, project_audit(), False),
    "gcp-audit-config-disallow-exemptions:exempted-member": (
        EXEMPT,
        project_audit(exempt={"DATA_READ": [BREAK_GLASS]}),
        True,
    ),
    "gcp-audit-config-disallow-exemptions:org-ok": (EXEMPT, org_audit(), False),
    "gcp-audit-config-disallow-exemptions:org-exempted-member": (
        EXEMPT,
        org_audit([BREAK_GLASS]),
        True,
    ),
    "gcp-audit-config-disallow-exemptions:policy-ok": (
        EXEMPT,
        project_policy([entry()]),
        False,
    ),
    "gcp-audit-config-disallow-exemptions:policy-exempted-member": (
        EXEMPT,
        project_policy([entry([BREAK_GLASS])]),
        True,
    ),
    "gcp-audit-config-disallow-exemptions:policy-without-audit-ok": (
        EXEMPT,
        project_policy(),
        False,
    ),
    "gcp-audit-config-require-all-log-types:all-types-ok": (TYPES, project_audit(), False),
    "gcp-audit-config-require-all-log-types:admin-read-missing": (
        TYPES,
        project_audit(("DATA_READ", "DATA_WRITE")),
        True,
    ),
    "gcp-audit-config-require-all-log-types:policy-data-write-missing": (
        TYPES,
        project_policy([entry(types=("ADMIN_READ", "DATA_READ"))]),
        True,
    ),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_audit_rules(policy: Policy, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_exemption_waiver() -> None:
    """gcp-audit-config-disallow-exemptions: a waived config is skipped."""
    program = project_audit(exempt={"DATA_READ": [BREAK_GLASS]})
    assert judge(EXEMPT, program, waiver(TARGET)) == set()
