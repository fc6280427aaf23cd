"""GCP legacy access lists: the ACL and dataset-access types that can make data public.

Cloud Storage ACLs and BigQuery dataset access entries are not IAM resources, so the IAM
public-members rule never sees them; with uniform bucket-level access off (or on BigQuery),
one ``allUsers`` entry publishes the data. CIS GCP 5.1 and 7.1, Checkov CKV_GCP_15.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.rules.base import as_list, canonical_type, resource_rule
from policies.rules.references import checkov, cis

PUBLIC_ENTITIES = frozenset({"allUsers", "allAuthenticatedUsers"})
# Predefined ACLs that grant the public or every Google account.
PUBLIC_PREDEFINED = frozenset({"publicRead", "publicReadWrite", "authenticatedRead"})

ENTITY_TYPES = (
    "gcp:storage/bucketAccessControl:BucketAccessControl",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
    "gcp:storage/objectAccessControl:ObjectAccessControl",
)
ROLE_ENTITY_TYPES = (
    "gcp:storage/bucketACL:BucketACL",
    "gcp:storage/defaultObjectACL:DefaultObjectACL",
    "gcp:storage/objectACL:ObjectACL",
)
DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"
DATASET = "gcp:bigquery/dataset:Dataset"


def _entity(value: Any) -> str:
    """The entity of an ACL entry (``READER:allUsers`` -> ``allUsers``)."""
    text = str(value or "")
    return text.split(":", 1)[1] if ":" in text else text


def _dataset_entry(entry: Mapping[str, Any]) -> str | None:
    for key in ("specialGroup", "iamMember"):
        if str(entry.get(key) or "") in PUBLIC_ENTITIES:
            return str(entry.get(key))
    return None


def _public_acl(props: Mapping[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
    token = canonical_type(args.resource_type)
    if token in ENTITY_TYPES:
        if _entity(props.get("entity")) in PUBLIC_ENTITIES:
            yield f"entity {props.get('entity')} gives anyone on the internet access."
    elif token in ROLE_ENTITY_TYPES:
        for entry in as_list(props.get("roleEntities")):
            if _entity(entry) in PUBLIC_ENTITIES:
                yield f"roleEntities {entry} gives anyone on the internet access."
        predefined = str(props.get("predefinedAcl") or "")
        if predefined in PUBLIC_PREDEFINED:
            yield f"predefinedAcl {predefined} makes the data public."
    elif token == DATASET_ACCESS:
        found = _dataset_entry(props)
        if found:
            yield f"dataset access for {found} gives anyone on the internet access."
    elif token == DATASET:
        for entry in as_list(props.get("accesses")):
            if isinstance(entry, Mapping) and (found := _dataset_entry(entry)):
                yield f"accesses entry for {found} gives anyone on the internet access."


acl_disallow_public_entities = resource_rule(
    "gcp-acl-disallow-public-entities",
    "Cloud Storage ACLs and BigQuery dataset access entries must not name allUsers or "
    "allAuthenticatedUsers (nor use a public predefined ACL).",
    types=(*ENTITY_TYPES, *ROLE_ENTITY_TYPES, DATASET_ACCESS, DATASET),
    check=_public_acl,
    severity=Severity.CRITICAL,
    tags=["storage", "public-access"],
    references=[checkov("CKV_GCP_15"), cis("gcp", "5.1"), cis("gcp", "7.1")],
    remediation=(
        "Turn on uniform bucket-level access and grant IAM roles to named principals; on "
        "BigQuery, grant dataset access to groups or service accounts, never allUsers or "
        "allAuthenticatedUsers."
    ),
    since=2,
)

POLICIES = [acl_disallow_public_entities]
