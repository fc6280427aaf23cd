"""Request and job telemetry the stack's alarms read (docs/model-contract.md, "Telemetry").

Where the platform measures requests itself (API Gateway and ALB, SageMaker, Cloud Run, Vertex
AI, Azure Machine Learning's traffic log) this is a no-op; where only the container can say
which version answered (Container Apps behind API Management, Container Apps jobs) it sends
Application Insights telemetry. ``start`` below is this project's cloud and pattern's choice.
"""

from __future__ import annotations

from collections.abc import Mapping

from model.jsonlog import log
from model.settings import Settings


class Recorder:
    """Records requests and jobs; this base records nothing (the platform measures)."""

    def request(self, *, method: str, path: str, status: int, duration_ms: float) -> None:
        """One HTTP request the server answered."""

    def operation(
        self,
        *,
        name: str,
        success: bool,
        duration_ms: float,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """One unit of work that is not an HTTP request (a job)."""

    def blocked(self, direction: str) -> None:
        """One call the guardrail blocked: ``direction`` is "prompt" or "response"."""

    def flush(self) -> None:
        """Send what is buffered (before the process exits)."""


NO_TELEMETRY = Recorder()


def start(settings: Settings) -> Recorder:
    """No telemetry from the container: the platform's own request metrics feed the alarms."""
    log("telemetry", exporter="none", reason="the platform measures requests")
    return NO_TELEMETRY
