"""Which module reads a cloud's live release state: ``components/<cloud>/release_watch.py``.

A lookup table, not an ``if cloud == ...`` chain, so tests (and a client with its own monitor)
swap a module in one place. Each module keeps the contract the pipeline codes against:

- ``observe(outputs, settings, minutes, *, client=None) -> dict``: one observation in the JSON
  shape ``components.rollout.parse_observation`` accepts; a firing rollback alarm (matched by
  the exact names in ``outputs["rollback_alarms"]``) is a verified trigger, an alarm state it
  could not read is an unverified one;
- ``rolled_back(outputs, candidate_version, *, client=None) -> bool``: the live system shows an
  automatic rollback removed this candidate from traffic;
- ``drain_candidate(outputs, *, client=None, candidate_version=None) -> str``: all traffic to the stable version now,
  through the API the automatic rollback uses; one line saying what was done;
- ``CLI_TOOLS``: the cloud CLIs it shells out to (docs/ci.md lists them).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, cast

RELEASE_WATCH: dict[str, str] = {
    "aws": "components.aws.release_watch",
    "azure": "components.azure.release_watch",
    "gcp": "components.gcp.release_watch",
    "kubernetes": "components.kubernetes.release_watch",
}


class ReleaseWatch(Protocol):
    """The functions of a ``release_watch`` module the pipeline calls."""

    CLI_TOOLS: tuple[str, ...]

    def observe(
        self,
        outputs: Mapping[str, Any],
        settings: Mapping[str, Any],
        minutes: float,
        *,
        client: Any = None,
    ) -> dict[str, Any]:
        """One observation of the candidate and the stable version over ``minutes``."""

    def rolled_back(
        self, outputs: Mapping[str, Any], candidate_version: str, *, client: Any = None
    ) -> bool:
        """Whether an automatic rollback removed ``candidate_version`` from traffic."""

    def drain_candidate(
        self,
        outputs: Mapping[str, Any],
        *,
        client: Any = None,
        candidate_version: str | None = None,
    ) -> str:
        """Move all traffic to the stable version now and, given the stack file's candidate,
        write the rolled-back marker the guard reads; one line saying what was done."""


def release_watch(cloud: str) -> ReleaseWatch:
    """The release_watch module of ``cloud`` (ValueError for a cloud without one)."""
    try:
        name = RELEASE_WATCH[cloud]
    except KeyError:
        raise ValueError(f"no release watch for cloud {cloud!r}") from None
    return cast(ReleaseWatch, importlib.import_module(name))
