"""Entry point of the rollback Cloud Function (gen2, Pub/Sub CloudEvent from an alert policy).

The archive's root is the import root when deployed: this file, the ``logic`` package, and the
shipped ``rollout_decision.py`` (components/rollout.py) and ``release_watch.py``
(components/gcp/release_watch.py), which logic.handler imports by those names.
"""

from __future__ import annotations

from typing import Any

from logic.handler import handle  # type: ignore[import-not-found,unused-ignore]


def on_alert(cloud_event: Any) -> None:
    """Cloud Functions entry point: ``cloud_event.data`` is the Pub/Sub message envelope."""
    handle(dict(cloud_event.data))
