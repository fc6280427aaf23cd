"""Every built stack keeps the URNs recorded in tests/components/data/urns (see urn_snapshots).

A lost URN is a resource Pulumi would delete and create anew under a client's live stack: keep
the logical name and parent, or add an alias. A new URN is fine once reviewed: regenerate the
snapshot (``python -m tests.components.urn_snapshots --write``) and commit the diff.
"""

from __future__ import annotations

import pulumi
import pytest

from components.spec import Cloud, Environment, Pattern
from offline.capture import capture
from tests.components import urn_snapshots


@pytest.mark.parametrize(
    ("cloud", "pattern", "environment"),
    urn_snapshots.cases(),
    ids=lambda v: v.value,
)
def test_stack_keeps_its_recorded_urns(
    cloud: Cloud, pattern: Pattern, environment: Environment
) -> None:
    path = urn_snapshots.snapshot_path(cloud, pattern, environment)
    assert path.is_file(), f"no snapshot {path.name}: record it with --write"
    recorded = set(path.read_text(encoding="utf-8").split())
    resources = urn_snapshots.capture_urns(cloud, pattern, environment)
    lost, new = urn_snapshots.compare(recorded, resources)
    assert not lost, (
        "resources an existing stack would replace (keep the logical name and parent, or add "
        "an alias):\n  " + "\n  ".join(lost)
    )
    assert not new, (
        "resources the snapshot does not know (review, then regenerate with "
        "`python -m tests.components.urn_snapshots --write`):\n  " + "\n  ".join(new)
    )


def test_every_built_pattern_has_snapshots_and_no_stray_ones() -> None:
    expected = {urn_snapshots.snapshot_path(*case).name for case in urn_snapshots.cases()}
    present = {p.name for p in urn_snapshots.SNAPSHOT_DIR.glob("*.txt")}
    assert present == expected
    assert len(expected) == 3 * len(urn_snapshots.built())


def _moved_program(alias: bool) -> None:
    """A bucket moved under a new component, with or without an alias to where it was."""

    class Store(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("aideploy:test:Store", name)
            import pulumi_aws as aws

            opts = pulumi.ResourceOptions(
                parent=self,
                aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)] if alias else None,
            )
            aws.s3.BucketV2("data", opts=opts)

    Store("store")


@pytest.mark.parametrize("alias", [False, True])
def test_a_move_is_lost_without_an_alias_and_kept_with_one(alias: bool) -> None:
    """The comparison itself: a bucket recorded at the stack's root, later moved into a
    component, is kept only when it carries an alias to its recorded place."""
    recorded = {"urn:pulumi:dev::fixture::pulumi:pulumi:Stack$aws:s3/bucketV2:BucketV2::data"}
    resources = capture(lambda: _moved_program(alias), project="fixture", stack="dev").resources
    lost, new = urn_snapshots.compare(recorded, resources)
    if alias:
        assert lost == []
        assert new == ["urn:pulumi:dev::fixture::pulumi:pulumi:Stack$aideploy:test:Store::store"]
    else:
        assert lost == sorted(recorded)
