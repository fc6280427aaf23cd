"""The rollback's table of stateful resource types, held against the SDKs and the components.

``ci/rollback_plan.py`` lets the pipeline's rollback return a stack to its last deployed commit
only when the preview deletes or replaces no resource of ``STATEFUL_TYPES``. A token that names
no real resource type never matches a preview step, and a data-holding type the components
create but the table lacks would let a rollback delete its data silently. So: every token must
be the type token of a resource class of the installed SDK, and every data-holding type that a
prod stack of any cloud x pattern registers (captured under mocks) must be in the table. Which
captured types hold data is derived from a short list of data services per cloud below, not
from the table itself. The kubernetes stacks create no store (secrets are synced from the
client's store, data lives in the client's systems), so their checks run on the table's own
kubernetes tokens as well as on what the stacks register.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from types import ModuleType

import pulumi
import pytest
from pulumi.type_token import get_type_token

from components.registry import offered_patterns, project_clouds, scaffolded
from components.spec import Cloud, Environment
from tests.conftest import make_spec, run_component

ROOT = Path(__file__).resolve().parents[2]
PLAN_FILE = ROOT / "templates/client-project/{{cookiecutter.project_slug}}/ci/rollback_plan.py"

# The SDK package of each type token's provider prefix.
SDK_PACKAGES: dict[str, str] = {
    "aws": "pulumi_aws",
    "azure-native": "pulumi_azure_native",
    "gcp": "pulumi_gcp",
    "kubernetes": "pulumi_kubernetes",
}

# Where data lives, per cloud: storage, databases, queues and topics, keys, vaults and secrets,
# registries, log storage. A prefix ending in "/" or ":" is a whole service (module); a full
# token is one resource of a service whose other resources hold no data (e.g. CloudWatch alarms).
DATA_SERVICES: dict[str, tuple[str, ...]] = {
    "aws": (
        "aws:s3/",
        "aws:dynamodb/",
        "aws:rds/",
        "aws:efs/",
        "aws:sqs/",
        "aws:sns/",
        "aws:kms/",
        "aws:secretsmanager/",
        "aws:ecr/",
        "aws:cloudwatch/logGroup:",
    ),
    "azure": (
        "azure-native:resources:ResourceGroup",  # deleting it deletes everything in it
        "azure-native:storage:",
        "azure-native:cosmosdb:",
        "azure-native:servicebus:",
        "azure-native:keyvault:",
        "azure-native:containerregistry:",
        "azure-native:operationalinsights:",
        "azure-native:applicationinsights:Component",
        "azure-native:machinelearningservices:Workspace",  # models, runs, datastores
    ),
    "gcp": (
        "gcp:storage/",
        "gcp:firestore/",
        "gcp:sql/",
        "gcp:bigquery/",
        "gcp:pubsub/",
        "gcp:kms/",
        "gcp:secretmanager/",
        "gcp:artifactregistry/",
        "gcp:logging/projectBucketConfig:",
    ),
    # Kinds, not API groups: most of core/v1 and apps/v1 is configuration the program re-creates.
    # Each prefix is a kind (its `<Kind>Patch` does not own the object: see below).
    "kubernetes": (
        "kubernetes:core/v1:Namespace",  # deleting it deletes everything in it
        "kubernetes:core/v1:PersistentVolume",  # and PersistentVolumeClaim
        "kubernetes:core/v1:Secret",
        "kubernetes:apps/v1:StatefulSet",  # its volume claims
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",  # every object of its kind
        "kubernetes:helm.sh/v3:Release",  # whatever the chart installed
    ),
}
# Resources of a data service that hold no data themselves: settings and grants attached to
# the data resource (a policy, an IAM member, versioning, a lifecycle rule, a notification, an
# alias, a subscription to a topic, an index field) and objects the program writes from code.
# Replacing one re-creates it from the commit without losing what the data resource holds.
ATTACHMENT_SUFFIXES = (
    "Policy",
    "IamMember",
    "IAMMember",
    "RoleAssignment",
    "Configuration",
    "Versioning",
    "Logging",
    "Controls",
    "PublicAccessBlock",
    "Notification",
    "Properties",
    "NetworkRuleSet",
    "Alias",
    "TopicSubscription",
    "Field",
    "BucketObject",
)
# A kubernetes `<Kind>Patch` edits fields of an object it does not own: deleting or replacing it
# leaves the object (and its data) as it is.
KUBERNETES_PATCH_SUFFIX = "Patch"

CASES = [(c, p) for c in Cloud for p in offered_patterns() if scaffolded(c, p)]


def load_plan() -> ModuleType:
    """The template's ci/rollback_plan.py (standard library only, no template markup)."""
    spec = importlib.util.spec_from_file_location("generated_rollback_plan", PLAN_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining a class
    spec.loader.exec_module(module)
    return module


PLAN = load_plan()


@cache
def sdk_types(provider: str, module: str) -> frozenset[str]:
    """The type tokens of the resource classes of one module of the installed SDK (a dotted
    ``module`` is a subpackage: pulumi_kubernetes's ``core.v1``)."""
    try:
        sdk = importlib.import_module(f"{SDK_PACKAGES[provider]}.{module}")
    except ModuleNotFoundError:
        return frozenset()
    # The SDKs' modules load lazily (pulumi._utils._LazyModule) and list no members until an
    # attribute is read: reading any one loads the module.
    getattr(sdk, "load_lazy_module", None)
    tokens = set()
    for _, cls in inspect.getmembers(sdk, inspect.isclass):
        token = get_type_token(cls)
        if token and issubclass(cls, pulumi.CustomResource):
            tokens.add(token)
    return frozenset(tokens)


def resolves(token: str) -> bool:
    """True when ``token`` is the type token of a resource class of the installed SDK."""
    provider, module_path, _name = token.split(":")
    if provider == "kubernetes":
        # kubernetes:<API group>/<version>:<Kind> lives in pulumi_kubernetes.<group's first
        # label>.<version>: core/v1 -> core.v1, apiextensions.k8s.io/v1 -> apiextensions.v1.
        group, _, version = module_path.partition("/")
        module = f"{group.split('.')[0]}.{version}"
    else:
        module = module_path.split("/")[0]
    return token in sdk_types(provider, module)


# Objects whose whole content is the program's own (e.g. the uptime canary's script, uploaded
# from components/aws/uptime_fn/): a replacement writes the same bytes again, so nothing is lost.
PROGRAM_CONTENT = frozenset({"aws:s3/bucketObjectv2:BucketObjectv2"})


def is_data_holding(cloud: str, token: str) -> bool:
    """A type of one of the cloud's data services that is not an attachment of one."""
    name = token.rsplit(":", 1)[-1]
    in_service = any(token.startswith(prefix) for prefix in DATA_SERVICES[cloud])
    if cloud == "kubernetes" and name.endswith(KUBERNETES_PATCH_SUFFIX):
        return False
    return in_service and not name.endswith(ATTACHMENT_SUFFIXES) and token not in PROGRAM_CONTENT


def missing_from_table(
    captured: Mapping[str, Iterable[str]], table: Mapping[str, frozenset[str]]
) -> dict[str, set[str]]:
    """Per cloud, the captured data-holding types the table lacks (empty clouds left out)."""
    missing = {}
    for cloud, types in captured.items():
        lacking = {
            t
            for t in map(PLAN.normalise_type, types)
            if is_data_holding(cloud, t) and t not in table[cloud]
        }
        if lacking:
            missing[cloud] = lacking
    return missing


def exercised(captured: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Per cloud, the captured types plus the table's own data-holding tokens: the checks below
    then hold for stores a stack may come to create too, and stay meaningful for a cloud whose
    stacks create none (kubernetes)."""
    table: Mapping[str, frozenset[str]] = PLAN.STATEFUL_TYPES
    return {
        cloud: set(types) | {t for t in table[cloud] if is_data_holding(cloud, t)}
        for cloud, types in captured.items()
    }


@pytest.fixture(scope="module")
def captured() -> dict[str, set[str]]:
    """Every resource type the prod stack of each cloud x pattern registers, per cloud."""
    types: dict[str, set[str]] = {cloud.value: set() for cloud in project_clouds()}
    for cloud, pattern in CASES:
        capture = run_component(make_spec(cloud, pattern, Environment.PROD))
        types[cloud.value] |= {r.type for r in capture.resources}
    return types


# -- the table against the SDKs -----------------------------------------------------------------


def test_the_table_covers_every_cloud() -> None:
    # The generated project's table: clouds `aideploy new` scaffolds.
    assert set(PLAN.STATEFUL_TYPES) == {cloud.value for cloud in project_clouds()}


@pytest.mark.parametrize("cloud", [c.value for c in project_clouds()])
def test_every_token_names_a_resource_type_of_the_installed_sdk(cloud: str) -> None:
    unknown = sorted(t for t in PLAN.STATEFUL_TYPES[cloud] if not resolves(t))
    assert not unknown, f"{cloud}: no resource class of the installed SDK has type {unknown}"


def test_the_sdk_lookup_rejects_what_is_not_a_resource_type() -> None:
    assert resolves("aws:s3/bucketV2:BucketV2")
    assert resolves("azure-native:storage:StorageAccount")
    assert resolves("gcp:kms/cryptoKey:CryptoKey")
    # the module of Application Insights before azure-native v2 (an alias now, not a type)
    assert not resolves("azure-native:insights:Component")
    assert not resolves("aws:s3/bucket:Buckets")
    assert not resolves("gcp:nosuchservice/thing:Thing")
    assert resolves("kubernetes:core/v1:PersistentVolumeClaim")
    assert resolves("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert not resolves("kubernetes:core/v1:PersistentVolumeClaims")
    assert not resolves("kubernetes:core/v2:Secret")  # no such version
    assert not resolves("kubernetes:apps/v1:Secret")  # a kind of another group
    # a custom resource's kind: the cluster's CRD defines it, no class of the SDK does
    assert not resolves("kubernetes:external-secrets.io/v1:ExternalSecret")


# -- the components against the table -----------------------------------------------------------


def test_every_data_holding_type_the_components_create_is_in_the_table(
    captured: dict[str, set[str]],
) -> None:
    held = {
        cloud: {t for t in types if is_data_holding(cloud, t)} for cloud, types in captured.items()
    }
    # the derivation finds the stores every cloud's components are known to create
    assert {"aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:sqs/queue:Queue"} <= held["aws"]
    assert {"azure-native:storage:StorageAccount", "azure-native:keyvault:Vault"} <= held["azure"]
    assert {"gcp:storage/bucket:Bucket", "gcp:kms/cryptoKey:CryptoKey"} <= held["gcp"]
    # the kubernetes stacks were captured but keep no state in the cluster: secrets are synced
    # from the client's store by External Secrets, data lives in the client's systems
    assert {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:external-secrets.io/v1:ExternalSecret",
    } <= (captured["kubernetes"])
    assert missing_from_table(captured, PLAN.STATEFUL_TYPES) == {}


def test_the_kubernetes_derivation_and_table_name_the_same_stores() -> None:
    """No kubernetes stack creates a store, so the table's kubernetes tokens are what the checks
    run on: each must be data-holding by the derivation, and each data kind must be in it."""
    table = PLAN.STATEFUL_TYPES["kubernetes"]
    assert all(is_data_holding("kubernetes", t) for t in table), sorted(table)
    for prefix in DATA_SERVICES["kubernetes"]:
        assert any(t.startswith(prefix) for t in table), prefix


def test_removing_a_captured_type_from_the_table_is_caught(captured: dict[str, set[str]]) -> None:
    """The check above can fail: drop any one data-holding type and it is reported."""
    table: Mapping[str, frozenset[str]] = PLAN.STATEFUL_TYPES
    types_of = exercised(captured)
    assert missing_from_table(types_of, table) == {}
    for cloud, types in types_of.items():
        held = sorted(t for t in types if is_data_holding(cloud, t))
        assert held, f"{cloud}: nothing to drop, so nothing is tested"
        for token in held:
            without = {**table, cloud: table[cloud] - {token}}
            assert missing_from_table(types_of, without) == {cloud: {token}}, token


def test_attachments_of_a_data_service_are_not_data() -> None:
    assert is_data_holding("aws", "aws:s3/bucketV2:BucketV2")
    assert not is_data_holding("aws", "aws:s3/bucketPolicy:BucketPolicy")
    assert not is_data_holding("aws", "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert is_data_holding("gcp", "gcp:pubsub/subscription:Subscription")  # retains messages
    assert not is_data_holding("gcp", "gcp:pubsub/topicIAMMember:TopicIAMMember")
    assert not is_data_holding("azure", "azure-native:storage:BlobServiceProperties")
    assert is_data_holding("kubernetes", "kubernetes:core/v1:PersistentVolumeClaim")
    assert is_data_holding("kubernetes", "kubernetes:core/v1:Namespace")
    assert not is_data_holding("kubernetes", "kubernetes:core/v1:SecretPatch")  # not its owner
    assert not is_data_holding("kubernetes", "kubernetes:core/v1:ConfigMap")  # the program's
    assert not is_data_holding("kubernetes", "kubernetes:apps/v1:Deployment")
    assert not is_data_holding("kubernetes", "kubernetes:external-secrets.io/v1:ExternalSecret")


def test_a_preview_replacing_a_captured_store_stops_the_rollback(
    captured: dict[str, set[str]],
) -> None:
    """The seam the table serves: a replace step of each captured store (azure-native with an
    API version in its token, as a preview may print it) is reported as a destruction."""
    for cloud, types in exercised(captured).items():
        held = sorted(t for t in types if is_data_holding(cloud, t))
        assert held, f"{cloud}: no store to replace, so nothing is tested"
        for token in held:
            shown = _versioned(token) if cloud == "azure" else token
            preview = {"steps": [{"op": "replace", "urn": f"urn:pulumi:prod::p::{shown}::r"}]}
            found = PLAN.stateful_destructions(preview, cloud)
            assert [d.type for d in found] == [token], (cloud, shown)


def test_a_kubernetes_preview_stops_on_its_stores_only() -> None:
    """A kubernetes rollback may replace the workload (a new pod template, a gateway route)
    but not a namespace, a claim or a secret; a patch of one deletes nothing."""
    parent = "aideploy:kubernetes:ApiFirst"

    def step(op: str, token: str, name: str) -> dict[str, object]:
        return {"op": op, "urn": f"urn:pulumi:prod::p::{parent}${token}::{name}"}

    preview = {
        "steps": [
            step("replace", "kubernetes:apps/v1:Deployment", "model"),
            step("delete", "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "route"),
            step("delete", "kubernetes:core/v1:SecretPatch", "patch"),
            step("update", "kubernetes:core/v1:Namespace", "ns"),
            step("delete", "kubernetes:core/v1:Namespace", "old-ns"),
            step("create-replacement", "kubernetes:core/v1:PersistentVolumeClaim", "data"),
            step("delete-replaced", "kubernetes:core/v1:PersistentVolumeClaim", "data"),
        ]
    }
    found = PLAN.stateful_destructions(preview, "kubernetes")
    assert [(d.op, d.type) for d in found] == [
        ("delete", "kubernetes:core/v1:Namespace"),
        ("create-replacement", "kubernetes:core/v1:PersistentVolumeClaim"),
        ("delete-replaced", "kubernetes:core/v1:PersistentVolumeClaim"),
    ]
    assert PLAN.summary(found) == (
        "delete kubernetes:core/v1:Namespace old-ns; "
        "replace kubernetes:core/v1:PersistentVolumeClaim data"
    )


def _versioned(token: str) -> str:
    """``azure-native:storage:X`` with an API version: ``azure-native:storage/v20240101:X``."""
    provider, module, name = token.split(":")
    return f"{provider}:{module}/v20240101:{name}"
