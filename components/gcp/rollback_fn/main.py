"""Entry point of the rollback Cloud Function (gen2, Pub/Sub CloudEvent from an alert policy).

Only this file uses a top-level import, because the function's folder is its import root when
deployed; everything else lives in the ``logic`` package so tests import it from the repository.
"""

from __future__ import annotations

from typing import Any

from logic.handler import handle  # type: ignore[import-not-found,unused-ignore]


def on_alert(cloud_event: Any) -> None:
    """Cloud Functions entry point: ``cloud_event.data`` is the Pub/Sub message envelope."""
    handle(dict(cloud_event.data))
