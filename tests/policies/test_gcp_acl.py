"""Cloud Storage ACLs and BigQuery dataset access: no public entities (CIS GCP 5.1, 7.1)."""

from __future__ import annotations

import pulumi_gcp as gcp
import pytest

from policies.rules.gcp import acl
from tests.policies.test_gcp_common import TARGET, Program, judge, waiver

RULE = acl.acl_disallow_public_entities
assert RULE.name == "gcp-acl-disallow-public-entities"


def bucket_entity(entity: str) -> Program:
    return lambda: gcp.storage.BucketAccessControl(
        TARGET, bucket="data", role="READER", entity=entity
    )


def object_acl(*entries: str, predefined: str | None = None) -> Program:
    def program() -> None:
        gcp.storage.ObjectACL(
            TARGET,
            bucket="data",
            object="model.bin",
            role_entities=list(entries) or None,
            predefined_acl=predefined,
        )

    return program


def default_acl(*entries: str) -> Program:
    return lambda: gcp.storage.DefaultObjectACL(TARGET, bucket="data", role_entities=list(entries))


def dataset_access(**kwargs: str) -> Program:
    return lambda: gcp.bigquery.DatasetAccess(TARGET, dataset_id="results", role="READER", **kwargs)


def dataset(*entries: dict[str, str]) -> Program:
    return lambda: gcp.bigquery.Dataset(
        TARGET,
        dataset_id="results",
        accesses=[gcp.bigquery.DatasetAccessArgs(role="READER", **e) for e in entries],
    )


@pytest.mark.parametrize(
    ("program", "flagged"),
    [
        (bucket_entity("group-ml@acme.example"), False),
        (bucket_entity("allUsers"), True),
        (bucket_entity("allAuthenticatedUsers"), True),
        (object_acl("READER:user-ana@acme.example"), False),
        (object_acl("READER:allUsers"), True),
        (object_acl(predefined="private"), False),
        (object_acl(predefined="publicRead"), True),
        (default_acl("OWNER:project-owners-123", "READER:allAuthenticatedUsers"), True),
        (dataset_access(group_by_email="ml@acme.example"), False),
        (dataset_access(special_group="allAuthenticatedUsers"), True),
        (dataset_access(iam_member="allUsers"), True),
        (dataset({"group_by_email": "ml@acme.example"}), False),
        (dataset({"special_group": "projectReaders"}, {"iam_member": "allUsers"}), True),
    ],
    ids=[
        "bucket-group",
        "bucket-all-users",
        "bucket-all-authenticated",
        "object-user",
        "object-all-users",
        "object-private",
        "object-public-read",
        "default-object-all-authenticated",
        "dataset-access-group",
        "dataset-access-all-authenticated",
        "dataset-access-all-users",
        "dataset-group",
        "dataset-all-users",
    ],
)
def test_public_entities_are_flagged(program: Program, flagged: bool) -> None:
    assert judge(RULE, program) == ({TARGET} if flagged else set())


def test_a_waiver_with_a_reason_silences_it() -> None:
    config = waiver(TARGET, "public model card, approved in SEC-42")
    assert judge(RULE, bucket_entity("allUsers"), config) == set()


def test_the_message_says_anyone_on_the_internet_gets_access() -> None:
    from tests.policies.harness import evaluate, run_program

    (finding,) = evaluate([RULE], run_program(bucket_entity("allUsers")))
    assert "anyone on the internet" in finding.message
