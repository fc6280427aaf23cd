"""Is it safe to return a stack to an earlier commit? Read from `pulumi preview --json`.

The pipeline's rollback returns the stack to the last successfully deployed commit (the stack
tag ``aideploy:last-deployed-commit``), whole tree: components, policies and requirements, not
only the stack file. A commit can be older than a resource that holds data (a bucket, a table,
a queue, a key, a vault, a database, a registry, a log group, a volume): returning to it would
delete or replace that resource, and its data with it. So the rollback previews first and goes
on only when no step deletes or replaces a stateful resource; otherwise it stops and pages a
person.

Pure functions over the preview's JSON, tested with recorded previews. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Resource types (Pulumi type tokens) whose deletion or replacement loses data or identity that
# cannot be re-created: stored objects and rows, queued messages, key material (and everything
# encrypted under it), secrets, images, logs, volumes, and the containers that hold them
# (a resource group, a namespace). azure-native tokens are written without an API version (see
# `normalise_type`). A kubernetes `*Patch` resource is not here: deleting one leaves its object.
STATEFUL_TYPES: Mapping[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "aws:s3/bucket:Bucket",
            "aws:s3/bucketV2:BucketV2",
            "aws:dynamodb/table:Table",
            "aws:sqs/queue:Queue",
            "aws:sns/topic:Topic",  # confirmed subscriptions must be confirmed again
            "aws:kms/key:Key",
            "aws:secretsmanager/secret:Secret",
            "aws:ecr/repository:Repository",
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:acmpca/certificateAuthority:CertificateAuthority",
            "aws:rds/instance:Instance",
            "aws:rds/cluster:Cluster",
            "aws:efs/fileSystem:FileSystem",
            "aws:cloudtrail/trail:Trail",
        }
    ),
    "azure": frozenset(
        {
            "azure-native:resources:ResourceGroup",  # deleting it deletes everything in it
            "azure-native:storage:StorageAccount",
            "azure-native:storage:BlobContainer",
            "azure-native:cosmosdb:DatabaseAccount",
            "azure-native:cosmosdb:SqlResourceSqlDatabase",
            "azure-native:cosmosdb:SqlResourceSqlContainer",
            "azure-native:servicebus:Namespace",
            "azure-native:servicebus:Queue",
            "azure-native:keyvault:Vault",
            "azure-native:keyvault:Key",
            "azure-native:keyvault:Secret",
            "azure-native:containerregistry:Registry",
            "azure-native:operationalinsights:Workspace",
            "azure-native:applicationinsights:Component",  # azure-native v2+ (was insights)
            "azure-native:machinelearningservices:Workspace",
            "azure-native:eventgrid:Topic",
        }
    ),
    "gcp": frozenset(
        {
            "gcp:storage/bucket:Bucket",
            "gcp:firestore/database:Database",
            "gcp:pubsub/topic:Topic",
            "gcp:pubsub/subscription:Subscription",
            "gcp:kms/keyRing:KeyRing",
            "gcp:kms/cryptoKey:CryptoKey",
            "gcp:secretmanager/secret:Secret",
            "gcp:artifactregistry/repository:Repository",
            "gcp:logging/projectBucketConfig:ProjectBucketConfig",
            "gcp:sql/databaseInstance:DatabaseInstance",
            "gcp:bigquery/dataset:Dataset",
        }
    ),
    # pulumi-kubernetes tokens (kubernetes:<group>/<version>:<Kind>). The stacks keep no state in
    # the cluster (secrets are synced from the client's store, data lives in the client's
    # systems), so none of these is expected in a preview; any that appears is guarded.
    "kubernetes": frozenset(
        {
            "kubernetes:core/v1:Namespace",  # deleting it deletes everything in it
            "kubernetes:core/v1:PersistentVolumeClaim",  # its volume, by the reclaim policy
            "kubernetes:core/v1:PersistentVolume",  # the disk behind it, by the reclaim policy
            "kubernetes:core/v1:Secret",  # key material that may exist nowhere else
            "kubernetes:apps/v1:StatefulSet",  # its pods' identities and volume claims
            # deleting a CRD deletes every object of its kind in the whole cluster
            "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
            "kubernetes:helm.sh/v3:Release",  # uninstalls the chart, volumes and all
        }
    ),
}

# Preview step operations that remove the resource as it is (a replacement is a create of a new
# resource plus a delete of the old one; Pulumi reports it as one to three steps).
DESTRUCTIVE_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced"})

# azure-native's versioned tokens: azure-native:storage/v20230101:StorageAccount.
_AZURE_VERSION = re.compile(r"^(azure-native:[A-Za-z0-9]+)/v[0-9a-z]+(:[A-Za-z0-9]+)$")


class PreviewError(ValueError):
    """The preview's JSON is not what `pulumi preview --json` prints."""


@dataclass(frozen=True)
class Destruction:
    """One step of the preview that would delete or replace a stateful resource."""

    op: str
    type: str
    urn: str

    def line(self) -> str:
        """One line for the log and the page (the three steps of a replacement read `replace`)."""
        op = "delete" if self.op == "delete" else "replace"
        return f"{op} {self.type} {self.urn.rsplit('::', 1)[-1]}"


def normalise_type(token: str) -> str:
    """A type token without the azure-native API version."""
    match = _AZURE_VERSION.match(token)
    return f"{match.group(1)}{match.group(2)}" if match else token


def _type_of(step: Mapping[str, Any]) -> str:
    for state in ("oldState", "newState"):
        value = step.get(state)
        if isinstance(value, Mapping) and isinstance(value.get("type"), str):
            return str(value["type"])
    urn = str(step.get("urn", ""))
    # urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>
    parts = urn.split("::")
    if len(parts) >= 4:
        return parts[2].rsplit("$", 1)[-1]
    raise PreviewError(f"a preview step has no type: {urn or step!r}")


def steps_of(preview: Any) -> list[Mapping[str, Any]]:
    """The steps of `pulumi preview --json` (PreviewError when the shape is not that)."""
    if not isinstance(preview, Mapping) or not isinstance(preview.get("steps", []), list):
        raise PreviewError("expected the object `pulumi preview --json` prints, with `steps`")
    steps = preview.get("steps", [])
    if not all(isinstance(step, Mapping) and isinstance(step.get("op"), str) for step in steps):
        raise PreviewError("every preview step needs an `op`")
    return list(steps)


def stateful_destructions(preview: Any, cloud: str) -> list[Destruction]:
    """The steps that would delete or replace a stateful resource of ``cloud``."""
    stateful = STATEFUL_TYPES[cloud]
    found: list[Destruction] = []
    for step in steps_of(preview):
        op = str(step["op"])
        if op not in DESTRUCTIVE_OPS:
            continue
        token = normalise_type(_type_of(step))
        if token in stateful:
            found.append(Destruction(op, token, str(step.get("urn", ""))))
    return found


def summary(destructions: Iterable[Destruction]) -> str:
    """One line naming every destructive step (deduplicated by resource)."""
    seen: dict[str, Destruction] = {}
    for item in destructions:
        seen.setdefault(item.urn, item)
    return "; ".join(item.line() for item in seen.values())
