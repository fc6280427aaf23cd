"""GCP resource rules (27-32) on small real programs captured under mocks.

Each case starts from a compliant resource and changes one property; inputs are wrapped in the
analyzer's read-only proxies, as the pack sees them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy import Policy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import gcp as gcp_policies
from policies.rules.gcp import iam, logging
from policies.rules.gcp.iam_types import IAM_BINDING_TYPES, IAM_MEMBER_TYPES, IAM_POLICY_TYPES
from tests.policies.harness import evaluate, names_violating, run_program

TARGET = "target"
KEY = "projects/acme/locations/europe-west1/keyRings/ring/cryptoKeys/data"
RUNNER = "runner@acme.iam.gserviceaccount.com"


def findings_for(
    policy: Policy, program: Callable[[], Any], config: dict[str, Any] | None = None
) -> set[str]:
    """Names of the resources ``policy`` flags in ``program``."""
    captured = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs))) for r in run_program(program)
    ]
    return names_violating(evaluate([policy], captured, {policy.name: config or {}}), policy.name)


# --- compliant fixtures ------------------------------------------------------------------


def bucket(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "location": "EU",
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "encryption": gcp.storage.BucketEncryptionArgs(default_kms_key_name=KEY),
    }
    return lambda: gcp.storage.Bucket(TARGET, **{**args, **over})


def bucket_member(member: str) -> Callable[[], object]:
    return lambda: gcp.storage.BucketIAMMember(
        TARGET, bucket="data", role="roles/storage.objectViewer", member=member
    )


def topic_binding(*members: str) -> Callable[[], object]:
    return lambda: gcp.pubsub.TopicIAMBinding(
        TARGET, topic="events", role="roles/pubsub.publisher", members=list(members)
    )


def run_invoker(member: str) -> Callable[[], object]:
    return lambda: gcp.cloudrunv2.ServiceIamMember(
        TARGET, name="api", location="europe-west1", role="roles/run.invoker", member=member
    )


def secret_policy(*bindings: tuple[str, str]) -> Callable[[], object]:
    document = {"bindings": [{"role": role, "members": [m]} for role, m in bindings]}
    return lambda: gcp.secretmanager.SecretIamPolicy(
        TARGET, secret_id="api-key", policy_data=json.dumps(document)
    )


def project_member(role: str, member: str = f"serviceAccount:{RUNNER}") -> Callable[[], object]:
    return lambda: gcp.projects.IAMMember(TARGET, project="acme", role=role, member=member)


def project_binding(role: str) -> Callable[[], object]:
    return lambda: gcp.projects.IAMBinding(
        TARGET, project="acme", role=role, members=[f"serviceAccount:{RUNNER}"]
    )


def project_policy(role: str) -> Callable[[], object]:
    document = {"bindings": [{"role": role, "members": ["group:ml@acme.example"]}]}
    return lambda: gcp.projects.IAMPolicy(TARGET, project="acme", policy_data=json.dumps(document))


def sa_member(role: str) -> Callable[[], object]:
    return lambda: gcp.serviceaccount.IAMMember(
        TARGET,
        service_account_id=f"projects/acme/serviceAccounts/{RUNNER}",
        role=role,
        member="serviceAccount:deployer@acme.iam.gserviceaccount.com",
    )


def sa_key() -> Callable[[], object]:
    def program() -> None:
        account = gcp.serviceaccount.Account("runner", account_id="runner")
        gcp.serviceaccount.Key(TARGET, service_account_id=account.name)

    return program


def sa_only() -> Callable[[], object]:
    return lambda: gcp.serviceaccount.Account(TARGET, account_id="runner")


def crypto_key(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {
        "key_ring": "projects/acme/locations/europe-west1/keyRings/ring",
        "rotation_period": "7776000s",
    }
    return lambda: gcp.kms.CryptoKey(TARGET, **{**args, **over})


def topic(kms_key: str | None = KEY) -> Callable[[], object]:
    return lambda: gcp.pubsub.Topic(TARGET, kms_key_name=kms_key)


def vertex_endpoint(kms_key: str | None = KEY) -> Callable[[], object]:
    spec = gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=kms_key) if kms_key else None
    return lambda: gcp.vertex.AiEndpoint(
        TARGET,
        name="serving",
        location="europe-west1",
        display_name="serving",
        encryption_spec=spec,
    )


def repository(kms_key: str | None = KEY) -> Callable[[], object]:
    return lambda: gcp.artifactregistry.Repository(
        TARGET,
        format="DOCKER",
        repository_id="images",
        location="europe-west1",
        kms_key_name=kms_key,
    )


def firestore(kms_key: str | None = KEY) -> Callable[[], object]:
    cmek = gcp.firestore.DatabaseCmekConfigArgs(kms_key_name=kms_key) if kms_key else None
    return lambda: gcp.firestore.Database(
        TARGET, location_id="eur3", type="FIRESTORE_NATIVE", cmek_config=cmek
    )


def dataset(kms_key: str | None = KEY) -> Callable[[], object]:
    encryption = (
        gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=kms_key)
        if kms_key
        else None
    )
    return lambda: gcp.bigquery.Dataset(
        TARGET, dataset_id="capture", default_encryption_configuration=encryption
    )


def run_v2(
    ingress: str = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", account: str | None = RUNNER
) -> Callable[[], object]:
    return lambda: gcp.cloudrunv2.Service(
        TARGET,
        location="europe-west1",
        ingress=ingress,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=account,
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(image="europe-docker.pkg.dev/x")
            ],
        ),
    )


def run_job(account: str | None = RUNNER) -> Callable[[], object]:
    return lambda: gcp.cloudrunv2.Job(
        TARGET,
        location="europe-west1",
        template=gcp.cloudrunv2.JobTemplateArgs(
            template=gcp.cloudrunv2.JobTemplateTemplateArgs(
                service_account=account,
                containers=[gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="x")],
            )
        ),
    )


def run_v1(ingress: str | None = "internal-and-cloud-load-balancing") -> Callable[[], object]:
    notes = {"run.googleapis.com/ingress": ingress} if ingress else None
    return lambda: gcp.cloudrun.Service(
        TARGET,
        location="europe-west1",
        metadata=gcp.cloudrun.ServiceMetadataArgs(annotations=notes),
        template=gcp.cloudrun.ServiceTemplateArgs(
            spec=gcp.cloudrun.ServiceTemplateSpecArgs(service_account_name=RUNNER)
        ),
    )


def function_v2(
    ingress: str = "ALLOW_INTERNAL_AND_GCLB", account: str | None = RUNNER
) -> Callable[[], object]:
    return lambda: gcp.cloudfunctionsv2.Function(
        TARGET,
        location="europe-west1",
        service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
            ingress_settings=ingress, service_account_email=account
        ),
    )


def function_v1(account: str | None = RUNNER) -> Callable[[], object]:
    return lambda: gcp.cloudfunctions.Function(
        TARGET,
        runtime="python312",
        ingress_settings="ALLOW_INTERNAL_ONLY",
        service_account_email=account,
    )


def log_bucket(retention: int | None = 90) -> Callable[[], object]:
    return lambda: gcp.logging.ProjectBucketConfig(
        TARGET, project="acme", location="global", bucket_id="_Default", retention_days=retention
    )


def ssl_policy(**over: Any) -> Callable[[], object]:
    args: dict[str, Any] = {"min_tls_version": "TLS_1_2", "profile": "MODERN"}
    return lambda: gcp.compute.SSLPolicy(TARGET, **{**args, **over})


DEFAULT_COMPUTE = "123456789-compute@developer.gserviceaccount.com"
OWNER = "roles/owner"
Case = tuple[Callable[[], object], bool]

CASES: dict[str, Case] = {
    # 27: buckets
    "gcp-storage-bucket-require-uniform-access:uniform-ok": (bucket(), False),
    "gcp-storage-bucket-require-uniform-access:uniform-off": (
        bucket(uniform_bucket_level_access=False),
        True,
    ),
    "gcp-storage-bucket-enforce-public-access-prevention:pap-ok": (bucket(), False),
    "gcp-storage-bucket-enforce-public-access-prevention:pap-inherited": (
        bucket(public_access_prevention="inherited"),
        True,
    ),
    "gcp-storage-bucket-enforce-public-access-prevention:pap-unset": (
        bucket(public_access_prevention=None),
        True,
    ),
    "gcp-storage-bucket-require-cmek:bucket-cmek-ok": (bucket(), False),
    "gcp-storage-bucket-require-cmek:bucket-cmek-google-key": (bucket(encryption=None), True),
    # 28: public members on any IAM resource type
    "gcp-iam-disallow-public-members:public-bucket-member-ok": (
        bucket_member(f"serviceAccount:{RUNNER}"),
        False,
    ),
    "gcp-iam-disallow-public-members:public-bucket-member-allusers": (
        bucket_member("allUsers"),
        True,
    ),
    "gcp-iam-disallow-public-members:public-topic-binding-ok": (
        topic_binding("group:ml@acme.example"),
        False,
    ),
    "gcp-iam-disallow-public-members:public-topic-binding-authenticated": (
        topic_binding("group:ml@acme.example", "allAuthenticatedUsers"),
        True,
    ),
    "gcp-iam-disallow-public-members:public-run-invoker-allusers": (run_invoker("allUsers"), True),
    "gcp-iam-disallow-public-members:public-secret-policy-ok": (
        secret_policy(("roles/secretmanager.secretAccessor", f"serviceAccount:{RUNNER}")),
        False,
    ),
    "gcp-iam-disallow-public-members:public-secret-policy-allusers": (
        secret_policy(("roles/secretmanager.secretAccessor", "allUsers")),
        True,
    ),
    "gcp-iam-disallow-public-members:public-lookalike-user": (
        bucket_member("user:allusers@acme.example"),
        False,
    ),
    "gcp-iam-disallow-public-members:public-project-member-allusers": (
        project_member("roles/viewer", "allUsers"),
        True,
    ),
    # 29: privileged project grants, service account keys
    "gcp-iam-disallow-privileged-project-roles:project-role-ok": (
        project_member("roles/aiplatform.user"),
        False,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-owner": (project_member(OWNER), True),
    "gcp-iam-disallow-privileged-project-roles:project-role-editor-binding": (
        project_binding("roles/editor"),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-sa-user": (
        project_member("roles/iam.serviceAccountUser"),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-token-creator-policy": (
        project_policy("roles/iam.serviceAccountTokenCreator"),
        True,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-sa-user-on-one-account": (
        sa_member("roles/iam.serviceAccountUser"),
        False,
    ),
    "gcp-iam-disallow-privileged-project-roles:project-role-lookalike": (
        project_member("roles/ownerish.custom"),
        False,
    ),
    "gcp-iam-disallow-service-account-keys:sa-key-none": (sa_only(), False),
    "gcp-iam-disallow-service-account-keys:sa-key-created": (sa_key(), True),
    # 30: rotation and CMEK
    "gcp-kms-require-key-rotation:rotation-ok": (crypto_key(), False),
    "gcp-kms-require-key-rotation:rotation-unset": (crypto_key(rotation_period=None), True),
    "gcp-kms-require-key-rotation:rotation-yearly": (
        crypto_key(rotation_period="31536000s"),
        True,
    ),
    "gcp-kms-require-key-rotation:rotation-signing-key": (
        crypto_key(rotation_period=None, purpose="ASYMMETRIC_SIGN"),
        False,
    ),
    "gcp-data-services-require-cmek:cmek-topic-ok": (topic(), False),
    "gcp-data-services-require-cmek:cmek-topic-none": (topic(None), True),
    "gcp-data-services-require-cmek:cmek-vertex-ok": (vertex_endpoint(), False),
    "gcp-data-services-require-cmek:cmek-vertex-none": (vertex_endpoint(None), True),
    "gcp-data-services-require-cmek:cmek-registry-none": (repository(None), True),
    "gcp-data-services-require-cmek:cmek-registry-ok": (repository(), False),
    "gcp-data-services-require-cmek:cmek-firestore-none": (firestore(None), True),
    "gcp-data-services-require-cmek:cmek-firestore-ok": (firestore(), False),
    "gcp-data-services-require-cmek:cmek-bigquery-ok": (dataset(), False),
    "gcp-data-services-require-cmek:cmek-bigquery-none": (dataset(None), True),
    # 31: serverless ingress and identity
    "gcp-serverless-restrict-ingress:ingress-run-ok": (run_v2(), False),
    "gcp-serverless-restrict-ingress:ingress-run-all": (
        run_v2(ingress="INGRESS_TRAFFIC_ALL"),
        True,
    ),
    "gcp-serverless-restrict-ingress:ingress-run-v1-ok": (run_v1(), False),
    "gcp-serverless-restrict-ingress:ingress-run-v1-unset": (run_v1(None), True),
    "gcp-serverless-restrict-ingress:ingress-function-ok": (function_v2(), False),
    "gcp-serverless-restrict-ingress:ingress-function-all": (
        function_v2(ingress="ALLOW_ALL"),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-run-ok": (run_v2(), False),
    "gcp-serverless-require-dedicated-identity:identity-run-unset": (
        run_v2(account=None),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-function-default-compute": (
        function_v2(account=DEFAULT_COMPUTE),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-job-ok": (run_job(), False),
    "gcp-serverless-require-dedicated-identity:identity-job-default-compute": (
        run_job(DEFAULT_COMPUTE),
        True,
    ),
    "gcp-serverless-require-dedicated-identity:identity-function-v1-ok": (
        function_v1(),
        False,
    ),
    "gcp-serverless-require-dedicated-identity:identity-function-v1-appspot": (
        function_v1("acme@appspot.gserviceaccount.com"),
        True,
    ),
    # 32: retention, SSL policies
    "gcp-logging-require-retention:retention-ok": (log_bucket(), False),
    "gcp-logging-require-retention:retention-unset": (log_bucket(None), False),
    "gcp-logging-require-retention:retention-short": (log_bucket(7), True),
    "gcp-ssl-policy-require-tls12:ssl-ok": (ssl_policy(), False),
    "gcp-ssl-policy-require-tls12:ssl-tls10": (ssl_policy(min_tls_version="TLS_1_0"), True),
    "gcp-ssl-policy-require-tls12:ssl-compatible": (ssl_policy(profile="COMPATIBLE"), True),
}


BY_NAME: dict[str, Policy] = {p.name: p for p in gcp_policies.POLICIES}


@pytest.mark.parametrize(("case", "program", "violates"), [(k, *v) for k, v in CASES.items()])
def test_rule_on_one_property_change(
    case: str, program: Callable[[], object], violates: bool
) -> None:
    """``<policy name>:<case>``: the compliant fixture passes; each single-property change
    is flagged on exactly that resource."""
    policy = BY_NAME[case.split(":", 1)[0]]
    assert findings_for(policy, program) == ({TARGET} if violates else set())


def test_retention_minimum_comes_from_pack_config() -> None:
    """gcp-logging-require-retention: a 365-day minimum (prod) flags a 90-day log bucket."""
    policy = logging.logging_require_retention
    assert findings_for(policy, log_bucket(), {"minimumRetentionDays": 365}) == {TARGET}
    assert findings_for(policy, log_bucket(None), {"minimumRetentionDays": 31}) == {TARGET}


def test_public_member_waiver() -> None:
    """gcp-iam-disallow-public-members: a waived public grant is skipped, others still fail."""

    def program() -> None:
        for name in ("website", "private"):
            gcp.storage.BucketIAMMember(
                name, bucket=name, role="roles/storage.objectViewer", member="allUsers"
            )

    waiver = {"waivers": [{"resource": "website", "reason": "public static site assets"}]}
    assert findings_for(iam.iam_disallow_public_members, program, waiver) == {"private"}


def test_service_account_key_waiver() -> None:
    """gcp-iam-disallow-service-account-keys: a waiver needs the resource name and a reason."""
    waiver = {"waivers": [{"resource": TARGET, "reason": "vendor tool without WIF, until Q4"}]}
    assert findings_for(iam.iam_disallow_service_account_keys, sa_key(), waiver) == set()


_CLASS = re.compile(
    r"^class ([A-Za-z0-9]*(?:IamMember|IAMMember|IamBinding|IAMBinding|IamPolicy|IAMPolicy))"
    r"\(pulumi\.CustomResource\)",
    re.MULTILINE,
)
_TOKEN = re.compile(r"__init__\(\s*'(gcp:[^']+)'")


def test_iam_type_list_matches_the_installed_sdk() -> None:
    """gcp-iam-disallow-public-members covers every IAM member/binding/policy type of pulumi-gcp."""
    found: set[str] = set()
    for path in Path(gcp.__file__).parent.rglob("*.py"):
        if "iam" not in path.name.lower():
            continue
        text = path.read_text(encoding="utf-8")
        if _CLASS.search(text) and (token := _TOKEN.search(text)):
            found.add(token.group(1))
    committed = {*IAM_MEMBER_TYPES, *IAM_BINDING_TYPES, *IAM_POLICY_TYPES}
    assert len(committed) == len(IAM_MEMBER_TYPES) + len(IAM_BINDING_TYPES) + len(IAM_POLICY_TYPES)
    assert found == committed
    assert "gcp:cloudrunv2/serviceIamMember:ServiceIamMember" in committed
    assert "gcp:projects/iAMPolicy:IAMPolicy" in committed
