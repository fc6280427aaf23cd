"""The neutral Pulumi DIY state layout every cloud's bootstrap derives its state grants from.

The object keys below are the ones Pulumi itself writes for a stack, built the way pulumi/pulumi
pkg/backend/diy builds them (store.go StackBasePath/HistoryDir/BackupDir, state.go backupTarget,
addToHistory and backupStack, lock.go lockPath with backend.go FullyQualifiedName). Each test
holds that the prefixes cover exactly one stack's keys, so a grant built from them reaches its
own stack and nothing of another.
"""

from __future__ import annotations

import itertools

import pytest

from components.bootstrap import (
    PREVIEW_STATE_KINDS,
    STATE_READ_ONLY_PATHS,
    state_object_prefixes,
)

PROJECTS = ("acme-support", "acme-support-bootstrap", "acme")
STACKS = ("dev", "staging", "prod", "shared", "dev-staging")
NANOS = 1764806400123456789  # a time.Now().UnixNano() Pulumi puts in history and backup names
LOCK_ID = "5f0c6c2e-7b4e-4a39-9a53-3c2b1f1a9e10"  # b.lockID, a UUID per backend instance


def pulumi_keys(project: str, stack: str) -> dict[str, tuple[str, ...]]:
    """The object keys Pulumi writes for one stack in project mode, by kind."""
    base = f".pulumi/stacks/{project}/{stack}"
    history = f".pulumi/history/{project}/{stack}/{stack}-{NANOS}"
    return {
        "stack": tuple(
            f"{base}{ext}{bak}"
            for ext in (".json", ".json.gz", ".json.zst")
            for bak in ("", ".bak")
        ),
        "history": (
            f"{history}.history.json",
            f"{history}.checkpoint.json",
            f"{history}.history.json.gz",
        ),
        "backups": (
            f".pulumi/backups/{project}/{stack}/{stack}.{NANOS}.json",
            f".pulumi/backups/{project}/{stack}/{stack}.{NANOS}.json.zst",
        ),
        # lockPath: path.Join(stackLockDir("organization/<project>/<stack>"), lockID + ".json")
        "locks": (f".pulumi/locks/organization/{project}/{stack}/{LOCK_ID}.json",),
    }


def _kinds_matching(key: str, project: str, stack: str) -> list[str]:
    return [
        kind
        for kind, prefix in state_object_prefixes(project, stack).items()
        if key.startswith(prefix)
    ]


@pytest.mark.parametrize("project", PROJECTS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_key_pulumi_writes_for_a_stack_is_under_exactly_its_kinds_prefix(
    project: str, stack: str
) -> None:
    for kind, keys in pulumi_keys(project, stack).items():
        for key in keys:
            assert _kinds_matching(key, project, stack) == [kind], key


def test_no_stack_prefix_reaches_another_stacks_keys() -> None:
    stacks = list(itertools.product(PROJECTS, STACKS))
    for (p1, s1), (p2, s2) in itertools.permutations(stacks, 2):
        for keys in pulumi_keys(p2, s2).values():
            for key in keys:
                assert _kinds_matching(key, p1, s1) == [], (p1, s1, key)


def test_the_lock_prefix_is_the_fully_qualified_organization_path() -> None:
    # The defect this layout replaced: `.pulumi/locks/<project>/<stack>/` matches no lock.
    lock = pulumi_keys("acme", "dev")["locks"][0]
    assert lock.startswith(state_object_prefixes("acme", "dev")["locks"])
    assert not lock.startswith(".pulumi/locks/acme/dev/")


def test_what_everyone_reads_belongs_to_no_stack() -> None:
    assert STATE_READ_ONLY_PATHS == (".pulumi/meta.yaml",)
    for project, stack in itertools.product(PROJECTS, STACKS):
        for path in STATE_READ_ONLY_PATHS:
            assert _kinds_matching(path, project, stack) == []


def test_previewers_read_the_checkpoint_and_history_and_never_the_locks() -> None:
    kinds = set(state_object_prefixes("acme", "dev"))
    assert set(PREVIEW_STATE_KINDS) <= kinds
    assert "stack" in PREVIEW_STATE_KINDS
    assert "locks" not in PREVIEW_STATE_KINDS


@pytest.mark.parametrize(
    ("project", "stack"), [("acme/x", "dev"), ("acme", "dev/../prod"), ("", "dev"), ("acme", "")]
)
def test_a_name_that_is_not_one_path_segment_is_refused(project: str, stack: str) -> None:
    with pytest.raises(ValueError, match="one-segment"):
        state_object_prefixes(project, stack)
