"""Cloud KMS rotation and customer-managed keys (30): one property changed per failing case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi_gcp as gcp
import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules.gcp import kms
from tests.policies.harness import evaluate, run_program
from tests.policies.test_gcp_common import KEY, RUNNER, TARGET, Program, judge, waiver


def crypto_key(**over: Any) -> Program:
    args: dict[str, Any] = {
        "key_ring": "projects/acme/locations/europe-west1/keyRings/ring",
        "rotation_period": "7776000s",
    }
    return lambda: gcp.kms.CryptoKey(TARGET, **{**args, **over})


def topic(kms_key: str | None = KEY) -> Program:
    return lambda: gcp.pubsub.Topic(TARGET, kms_key_name=kms_key)


def vertex_endpoint(kms_key: str | None = KEY) -> Program:
    spec = gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=kms_key) if kms_key else None
    return lambda: gcp.vertex.AiEndpoint(
        TARGET,
        name="serving",
        location="europe-west1",
        display_name="serving",
        encryption_spec=spec,
    )


def repository(kms_key: str | None = KEY) -> Program:
    return lambda: gcp.artifactregistry.Repository(
        TARGET,
        format="DOCKER",
        repository_id="images",
        location="europe-west1",
        kms_key_name=kms_key,
    )


def firestore(kms_key: str | None = KEY) -> Program:
    cmek = gcp.firestore.DatabaseCmekConfigArgs(kms_key_name=kms_key) if kms_key else None
    return lambda: gcp.firestore.Database(
        TARGET, location_id="eur3", type="FIRESTORE_NATIVE", cmek_config=cmek
    )


def dataset(kms_key: str | None = KEY) -> Program:
    encryption = (
        gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=kms_key)
        if kms_key
        else None
    )
    return lambda: gcp.bigquery.Dataset(
        TARGET, dataset_id="capture", default_encryption_configuration=encryption
    )


def vertex_dataset(kms_key: str | None = KEY) -> Program:
    spec = gcp.vertex.AiDatasetEncryptionSpecArgs(kms_key_name=kms_key) if kms_key else None
    return lambda: gcp.vertex.AiDataset(
        TARGET,
        display_name="training",
        region="europe-west1",
        metadata_schema_uri=(
            "gs://google-cloud-aiplatform/schema/dataset/metadata/image_1.0.0.yaml"
        ),
        encryption_spec=spec,
    )


def run_service(kms_key: str | None = KEY) -> Program:
    return lambda: gcp.cloudrunv2.Service(
        TARGET,
        location="europe-west1",
        ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=RUNNER,
            encryption_key=kms_key,
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(image="europe-docker.pkg.dev/x")
            ],
        ),
    )


def run_job(kms_key: str | None = KEY) -> Program:
    return lambda: gcp.cloudrunv2.Job(
        TARGET,
        location="europe-west1",
        template=gcp.cloudrunv2.JobTemplateArgs(
            template=gcp.cloudrunv2.JobTemplateTemplateArgs(
                service_account=RUNNER,
                encryption_key=kms_key,
                containers=[gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="x")],
            )
        ),
    )


def function_v2(kms_key: str | None = KEY) -> Program:
    return lambda: gcp.cloudfunctionsv2.Function(
        TARGET,
        location="europe-west1",
        kms_key_name=kms_key,
        service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
            ingress_settings="ALLOW_INTERNAL_ONLY", service_account_email=RUNNER
        ),
    )


def log_bucket(kms_key: str | None = KEY) -> Program:
    cmek = (
        gcp.logging.ProjectBucketConfigCmekSettingsArgs(kms_key_name=kms_key) if kms_key else None
    )
    return lambda: gcp.logging.ProjectBucketConfig(
        TARGET,
        project="acme",
        location="europe-west1",
        bucket_id="stack-logs",
        retention_days=90,
        cmek_settings=cmek,
    )


ROTATION = kms.kms_require_key_rotation
DATA = kms.data_services_require_cmek
RUNTIME = kms.runtime_and_logs_require_cmek

CASES: dict[str, tuple[Any, Program, bool]] = {
    "gcp-kms-require-key-rotation:rotation-ok": (ROTATION, crypto_key(), False),
    "gcp-kms-require-key-rotation:rotation-unset": (
        ROTATION,
        crypto_key(rotation_period=None),
        True,
    ),
    "gcp-kms-require-key-rotation:rotation-yearly": (
        ROTATION,
        crypto_key(rotation_period="31536000s"),
        True,
    ),
    "gcp-kms-require-key-rotation:rotation-signing-key": (
        ROTATION,
        crypto_key(rotation_period=None, purpose="ASYMMETRIC_SIGN"),
        False,
    ),
    "gcp-data-services-require-cmek:cmek-topic-ok": (DATA, topic(), False),
    "gcp-data-services-require-cmek:cmek-topic-none": (DATA, topic(None), True),
    "gcp-data-services-require-cmek:cmek-vertex-ok": (DATA, vertex_endpoint(), False),
    "gcp-data-services-require-cmek:cmek-vertex-none": (DATA, vertex_endpoint(None), True),
    "gcp-data-services-require-cmek:cmek-vertex-dataset-ok": (DATA, vertex_dataset(), False),
    "gcp-data-services-require-cmek:cmek-vertex-dataset-none": (
        DATA,
        vertex_dataset(None),
        True,
    ),
    "gcp-data-services-require-cmek:cmek-registry-none": (DATA, repository(None), True),
    "gcp-data-services-require-cmek:cmek-registry-ok": (DATA, repository(), False),
    "gcp-data-services-require-cmek:cmek-firestore-none": (DATA, firestore(None), True),
    "gcp-data-services-require-cmek:cmek-firestore-ok": (DATA, firestore(), False),
    "gcp-data-services-require-cmek:cmek-bigquery-ok": (DATA, dataset(), False),
    "gcp-data-services-require-cmek:cmek-bigquery-none": (DATA, dataset(None), True),
    # D-2: Cloud Run, Functions v2 and log buckets
    "gcp-runtime-and-logs-require-cmek:run-service-ok": (RUNTIME, run_service(), False),
    "gcp-runtime-and-logs-require-cmek:run-service-google-key": (
        RUNTIME,
        run_service(None),
        True,
    ),
    "gcp-runtime-and-logs-require-cmek:run-job-ok": (RUNTIME, run_job(), False),
    "gcp-runtime-and-logs-require-cmek:run-job-google-key": (RUNTIME, run_job(None), True),
    "gcp-runtime-and-logs-require-cmek:function-ok": (RUNTIME, function_v2(), False),
    "gcp-runtime-and-logs-require-cmek:function-google-key": (
        RUNTIME,
        function_v2(None),
        True,
    ),
    "gcp-runtime-and-logs-require-cmek:log-bucket-ok": (RUNTIME, log_bucket(), False),
    "gcp-runtime-and-logs-require-cmek:log-bucket-google-key": (
        RUNTIME,
        log_bucket(None),
        True,
    ),
    "gcp-runtime-and-logs-require-cmek:topic-is-not-its-type": (RUNTIME, topic(None), False),
}


@pytest.mark.parametrize(("policy", "program", "violates"), CASES.values(), ids=CASES.keys())
def test_kms_rules(policy: Any, program: Program, violates: bool) -> None:
    assert judge(policy, program) == ({TARGET} if violates else set())


def test_runtime_cmek_waiver() -> None:
    """gcp-runtime-and-logs-require-cmek: a waived log bucket is skipped."""
    assert judge(RUNTIME, log_bucket(None), waiver(TARGET)) == set()


def test_runtime_cmek_message_names_the_field() -> None:
    """The finding says what is wrong and which field to set."""
    resources = [
        replace(r, inputs=unknown_checking_proxy(dict(r.inputs)))
        for r in run_program(run_service(None))
    ]
    [finding] = evaluate([RUNTIME], resources)
    assert "not encrypted with a customer-managed key" in finding.message
    assert "template.encryptionKey" in finding.message
