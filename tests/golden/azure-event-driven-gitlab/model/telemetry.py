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

# Application Insights accepts only Entra-authenticated telemetry here (local auth is off), so
# the exporter signs in as the container's managed identity (AZURE_CLIENT_ID). The canary and
# worker alerts select rows by AppRoleName (= service.name) and AppVersion (= service.version).
CONNECTION_VARIABLE = "APPLICATIONINSIGHTS_CONNECTION_STRING"


def resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """``service.name`` and ``service.version`` the stack did not already set.

    The OpenTelemetry SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself; what is
    missing comes from Container Apps' own CONTAINER_APP_NAME (the name the alerts filter on)
    and MODEL_VERSION.
    """
    attributes: dict[str, str] = {}
    if not env.get("OTEL_SERVICE_NAME"):
        name = env.get("CONTAINER_APP_NAME") or env.get("CONTAINER_APP_JOB_NAME")
        attributes["service.name"] = name or env.get("MODEL_NAME") or "model"
    if "service.version=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.version"] = env.get("MODEL_VERSION") or "0.0.0"
    return attributes


class AppInsightsRecorder(Recorder):
    """Each request or job becomes one Application Insights request (a SERVER span)."""

    def __init__(self, tracer: object, provider: object) -> None:
        self._tracer = tracer
        self._provider = provider

    def _span(
        self, name: str, duration_ms: float, ok: bool, attributes: Mapping[str, object]
    ) -> None:
        import time

        from opentelemetry.trace import SpanKind, Status, StatusCode

        end = time.time_ns()
        start = end - int(duration_ms * 1_000_000)
        span = self._tracer.start_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.SERVER, start_time=start, attributes=dict(attributes)
        )
        span.set_status(Status(StatusCode.OK if ok else StatusCode.ERROR))
        span.end(end_time=end)

    def request(self, *, method: str, path: str, status: int, duration_ms: float) -> None:
        """One request row: Name ``POST <path>``, ResultCode the HTTP status."""
        self._span(
            f"{method} {path}",
            duration_ms,
            status < 500,
            {
                "http.request.method": method,
                "http.route": path,
                "url.path": path,
                "url.scheme": "http",
                "http.response.status_code": status,
            },
        )

    def operation(
        self,
        *,
        name: str,
        success: bool,
        duration_ms: float,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """One job row: Name ``name``, Success, and ``properties`` as custom dimensions."""
        self._span(name, duration_ms, success, dict(properties or {}))

    def flush(self) -> None:
        """Export what is buffered: a job's process exits right after its one job."""
        self._provider.force_flush()  # type: ignore[attr-defined]


def start(settings: Settings) -> Recorder:
    """Send telemetry to Application Insights when the stack wired it, else record nothing."""
    import os

    env = dict(os.environ)
    connection = env.get(CONNECTION_VARIABLE)
    if not connection:
        log("telemetry", exporter="none", reason=f"{CONNECTION_VARIABLE} is not set")
        return NO_TELEMETRY
    try:
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
    except ImportError as exc:  # the image installs model/requirements.txt; a bare venv does not
        log("telemetry", severity="WARNING", exporter="none", reason=f"not installed: {exc}")
        return NO_TELEMETRY
    configure_azure_monitor(
        connection_string=connection,
        credential=ManagedIdentityCredential(client_id=env.get("AZURE_CLIENT_ID")),
        resource=Resource.create(resource_attributes(env)),
        # Every request and job, unsampled: the alerts count rows (count(), not ItemCount), and
        # the distro's default rate-limited sampler (a few traces per second) would drop some.
        sampling_ratio=1.0,
        # Only what this module records: no live metrics, no logging or HTTP client spans.
        enable_live_metrics=False,
        instrumentation_options={"azure_sdk": {"enabled": False}, "urllib": {"enabled": False}},
    )
    log("telemetry", exporter="application-insights", version=settings.model_version)
    return AppInsightsRecorder(trace.get_tracer("model"), trace.get_tracer_provider())
