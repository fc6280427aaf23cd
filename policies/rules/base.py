"""Building blocks for rules: tolerant type matching, waivers, IAM document parsing.

Every rule is a public ``pulumi_policy`` class instance, built through :func:`resource_rule` or
:func:`stack_rule` so that each carries severity, tags, remediation steps and the waiver schema,
and so that a waiver (a resource name plus a written reason in pack config) is honoured the
same way everywhere.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.rules.references import Reference

# Category decides the default level per environment (policies/config/*.json): security rules
# are mandatory everywhere; operational rules are advisory in dev, mandatory in staging/prod.
SECURITY = "security"
OPERATIONAL = "operational"

WAIVER_SCHEMA = PolicyConfigSchema(
    properties={
        "waivers": {
            "type": "array",
            "default": [],
            "items": {
                "type": "object",
                "properties": {
                    "resource": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "minLength": 10},
                },
                "required": ["resource", "reason"],
                "additionalProperties": False,
            },
        }
    }
)

# AWS v7 keeps deprecated aliases of some types; a rule names the canonical token and matches all.
TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("aws:s3/bucketV2:BucketV2",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("aws:s3/bucketVersioningV2:BucketVersioningV2",),
    "aws:s3/bucketLogging:BucketLogging": ("aws:s3/bucketLoggingV2:BucketLoggingV2",),
    "aws:s3/bucketAcl:BucketAcl": ("aws:s3/bucketAclV2:BucketAclV2",),
}


@functools.lru_cache(maxsize=4096)
def canonical_type(resource_type: str) -> str:
    """``azure-native:storage/v20230101:StorageAccount`` -> ``azure-native:storage:StorageAccount``;
    an AWS alias -> its canonical token; anything else unchanged."""
    if resource_type.startswith("azure-native:"):
        parts = resource_type.split(":")
        if len(parts) == 3 and "/" in parts[1]:
            return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
        return resource_type
    for canonical, aliases in TYPE_ALIASES.items():
        if resource_type in aliases:
            return canonical
    return resource_type


def type_matches(resource_type: str, wanted: Iterable[str]) -> bool:
    """Exact membership after canonicalisation: never a substring match."""
    # Stack rules call this for every resource against every other: no set built per call.
    members = wanted if isinstance(wanted, (set, frozenset)) else set(wanted)
    return canonical_type(resource_type) in members


def waived_resources(config: Mapping[str, Any] | None) -> dict[str, str]:
    """Resource name -> reason, from a policy's config."""
    waivers = (config or {}).get("waivers") or []
    return {w["resource"]: w["reason"] for w in waivers if w.get("resource") and w.get("reason")}


def parse_document(value: Any) -> dict[str, Any]:
    """An IAM / bucket / key policy document: JSON string on the wire, or already a mapping."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def as_list(value: Any) -> list[Any]:
    """IAM fields may be one value or a list."""
    if value is None:
        return []
    # The analyzer hands lists over as read-only Sequence proxies, not as ``list``.
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def prop_at(props: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted wire path (``"properties.networkAcls.defaultAction"``), or None."""
    value: Any = props
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _config_schema(extra: Mapping[str, Any] | None) -> PolicyConfigSchema:
    """The waiver schema, plus a rule's own config properties when it has any."""
    if not extra:
        return WAIVER_SCHEMA
    return PolicyConfigSchema(properties={**(WAIVER_SCHEMA.properties or {}), **extra})


# The rule-set revision each rule arrived in (see policies/pack.py RULESET): a project whose
# recorded baseline is older gets the rule as advisory until its config raises it.
RULE_SINCE: dict[str, int] = {}
# Every rule's references, by name (the pack carries them as tags, framework and URL too).
RULE_REFERENCES: dict[str, tuple[Reference, ...]] = {}
# The resource types a resource rule judges (empty for stack rules), for the catalogue.
RULE_TYPES: dict[str, tuple[str, ...]] = {}


def _metadata(
    name: str, tags: list[str], references: Sequence[Reference], since: int
) -> tuple[list[str], PolicyComplianceFramework | None, str | None]:
    """Record a rule's references and revision; its tags, framework and URL for the pack."""
    if name in RULE_SINCE:
        raise ValueError(f"two rules named {name}")
    RULE_SINCE[name] = since
    RULE_REFERENCES[name] = tuple(references)
    ref_tags = [r.tag for r in references]
    first = references[0] if references else None
    framework = (
        PolicyComplianceFramework(name=first.framework, reference=first.control) if first else None
    )
    return [*tags, *ref_tags], framework, first.url if first else None


ResourceCheck = Callable[[Mapping[str, Any], ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]


def resource_rule(
    name: str,
    description: str,
    *,
    types: Iterable[str],
    check: ResourceCheck,
    severity: Severity,
    tags: list[str],
    remediation: str,
    category: str = SECURITY,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config_properties: Mapping[str, Any] | None = None,
    references: Sequence[Reference] = (),
    since: int = 1,
) -> ResourceValidationPolicy:
    """A resource rule: ``check(props, args)`` yields one message per violation.

    ``config_properties`` adds JSON-schema properties (e.g. a minimum retention) next to the
    waivers; ``check`` reads them with ``args.get_config()``. ``references`` are the benchmark
    controls the rule follows (policies/rules/references.py); ``since`` the rule-set revision
    it arrived in (policies/pack.py ``RULESET``).
    """
    all_tags, framework, url = _metadata(name, [category, *tags], references, since)
    wanted = frozenset(types)
    RULE_TYPES[name] = tuple(sorted(wanted))

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not type_matches(args.resource_type, wanted):
            return
        if args.name in waived_resources(args.get_config()):
            return
        for message in check(args.props, args):
            report(message, None)

    policy = ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        config_schema=_config_schema(config_properties),
        severity=severity,
        tags=all_tags,
        remediation_steps=remediation,
        framework=framework,
        url=url,
    )
    return policy


def stack_rule(
    name: str,
    description: str,
    *,
    check: StackCheck,
    severity: Severity,
    tags: list[str],
    remediation: str,
    category: str = OPERATIONAL,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config_properties: Mapping[str, Any] | None = None,
    references: Sequence[Reference] = (),
    since: int = 1,
    types: Iterable[str] = (),
) -> StackValidationPolicy:
    """A stack rule: ``check(args)`` yields (message, urn-or-None) per violation.

    ``types`` names the resource types it judges, for the catalogue only (a stack rule sees
    every resource)."""
    all_tags, framework, url = _metadata(name, [category, *tags], references, since)
    RULE_TYPES[name] = tuple(sorted(set(types)))

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        waived = waived_resources(args.get_config())
        by_urn = {r.urn: r.name for r in args.resources}
        for message, urn in check(args):
            if urn is not None and by_urn.get(urn) in waived:
                continue
            report(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        config_schema=_config_schema(config_properties),
        severity=severity,
        tags=all_tags,
        remediation_steps=remediation,
        framework=framework,
        url=url,
    )
