"""Reading AWS IAM documents back from captured resources, for the AWS seam tests.

A deliberately small evaluator: does some Allow statement of a document grant an action
(IAM's case-insensitive `*`/`?` wildcards), and does an unconditioned Deny take it away. It
does not evaluate resources or conditions; the tests that use it check those separately.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import Any

from offline.capture import CapturedResource

DOCUMENT_TYPES = ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy")


def statements(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements (a JSON string or a parsed document)."""
    parsed = json.loads(document) if isinstance(document, str) else document
    found = parsed["Statement"]
    return list(found) if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def allows(documents: Iterable[list[dict[str, Any]]], action: str) -> bool:
    """True when some Allow grants ``action`` and no unconditioned Deny on ``*`` removes it."""
    granted = False
    for document in documents:
        for s in document:
            acts = as_list(s.get("Action"))
            if s["Effect"] == "Allow" and any(_matches(a, action) for a in acts):
                granted = True
            unconditioned = "Condition" not in s and as_list(s.get("Resource")) == ["*"]
            if s["Effect"] == "Deny" and unconditioned and any(_matches(a, action) for a in acts):
                return False
    return granted


def allowed_resources(documents: Iterable[list[dict[str, Any]]], action: str) -> list[str]:
    """Every resource pattern some Allow statement grants ``action`` on."""
    out: list[str] = []
    for document in documents:
        for s in document:
            acts = as_list(s.get("Action"))
            if s["Effect"] == "Allow" and any(_matches(a, action) for a in acts):
                out.extend(as_list(s.get("Resource")))
    return out


def resource_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: `*` and `?` wildcards, case-sensitive."""
    return fnmatch.fnmatchcase(arn, pattern)


def attached_documents(
    resources: list[CapturedResource], role: CapturedResource
) -> list[list[dict[str, Any]]]:
    """The documents of every managed policy attached to ``role`` and its inline policies,
    found through the captured attachments' dependencies (never by name)."""
    by_urn = {r.urn: r for r in resources}
    docs = []
    for r in resources:
        if role.urn not in r.dependencies:
            continue
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            for dep in r.dependencies:
                policy = by_urn.get(dep)
                if policy is not None and policy.type == "aws:iam/policy:Policy":
                    docs.append(statements(policy.inputs["policy"]))
        elif r.type == "aws:iam/rolePolicy:RolePolicy":
            docs.append(statements(r.inputs["policy"]))
    return docs


# Condition keys IAM puts in a request context only when a service calls on the principal's
# behalf with its credentials, and then only for the services documented for aws:CalledVia
# (Athena, CloudFormation, DynamoDB, KMS). A CI deployer's own calls never carry them, so an
# Allow conditioned on one of them never grants the deployer anything.
NOT_IN_A_DIRECT_CALL = frozenset({"aws:calledvia", "aws:calledviafirst", "aws:calledvialast"})


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """The context keys a statement's condition tests (lowercase: IAM's keys are not
    case-sensitive)."""
    condition = statement.get("Condition") or {}
    return {key.lower() for entries in condition.values() for key in entries}


def allows_directly(
    documents: Iterable[list[dict[str, Any]]], action: str, arn: str | None = None
) -> bool:
    """True when some Allow grants ``action`` (on ``arn``, when given) with a condition a direct
    call (the principal's own request, no service in between) can meet."""
    for document in documents:
        for s in document:
            if s["Effect"] != "Allow" or condition_keys(s) & NOT_IN_A_DIRECT_CALL:
                continue
            if not any(_matches(a, action) for a in as_list(s.get("Action"))):
                continue
            if arn is None or any(resource_matches(r, arn) for r in as_list(s.get("Resource"))):
                return True
    return False
