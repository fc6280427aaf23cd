"""Cloud-neutral alarm definitions derived from a spec.

Each cloud's monitoring module maps a :class:`Signal` to its own metric (a lookup table there)
and creates one alarm per :class:`AlarmRule`. Thresholds, tiers and evaluation windows are
decided once, here, so an alarm means the same thing on every cloud.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import Enum

from components.rollout import traffic_split
from components.spec import DeploymentSpec

__all__ = [
    "AlarmRule",
    "Comparison",
    "Signal",
    "Tier",
    "alarm_name",
    "event_alarms",
    "guardrail_alarms",
    "rollback_alarms",
    "serving_alarms",
    "traffic_split",
]


class Signal(str, Enum):
    """What an alarm watches."""

    LATENCY_P50 = "latency-p50"
    LATENCY_P95 = "latency-p95"
    LATENCY_P99 = "latency-p99"
    ERROR_RATE_4XX = "error-rate-4xx"
    ERROR_RATE_5XX = "error-rate-5xx"
    AVAILABILITY = "availability"
    CANARY_ERROR_RATE = "canary-error-rate"
    # The absolute ceiling: candidate p99 above multiplier x the configured p99 alarm.
    CANARY_LATENCY_P99 = "canary-latency-p99"
    # The regression rule (review E4): candidate p99 / the stable version's measured p99.
    CANARY_LATENCY_RATIO = "canary-latency-ratio"
    # The candidate gets under half its configured share while stable serves traffic: a crash
    # loop or an ejected target produces no error data, only silence (review E.10 step 1).
    CANARY_STARVED = "canary-starved"
    QUEUE_DEPTH = "queue-depth"
    QUEUE_OLDEST_AGE = "queue-oldest-age"
    DEAD_LETTERS = "dead-letters"
    WORKER_ERROR_RATE = "worker-error-rate"
    # An LLM's guardrail refusing prompts or withholding answers (components.llm): a spike is an
    # attack, a misbehaving client or a filter set too tight.
    GUARDRAIL_BLOCKED_PROMPTS = "guardrail-blocked-prompts"
    GUARDRAIL_BLOCKED_RESPONSES = "guardrail-blocked-responses"


class Tier(str, Enum):
    """Alert tiers: who is told and how urgently."""

    PAGE = "page"  # wakes someone: customer-facing breach
    TICKET = "ticket"  # next working day
    INFO = "info"  # dashboards and the team channel


class Comparison(str, Enum):
    """Direction of a breach."""

    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True)
class AlarmRule:
    """One alarm, independent of cloud. Units: ms for latency, ratio 0-1 for rates."""

    signal: Signal
    threshold: float
    comparison: Comparison
    tier: Tier
    period_seconds: int = 60
    evaluation_periods: int = 5
    triggers_rollback: bool = False
    # The volume guard: a period with fewer candidate requests than this does not breach
    # (0: no guard). Units as ``rollout.min_requests``: requests per period.
    min_requests: int = 0

    @property
    def key(self) -> str:
        """Short stable name used in resource names."""
        return self.signal.value


def serving_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """The alarms every serving endpoint has (policy S1), plus the canary's rollback alarms."""
    return [*endpoint_alarms(spec), *rollback_alarms(spec)]


# The window the guardrail alarms count blocked calls over (GuardrailSettings is per 5 minutes).
GUARDRAIL_PERIOD_SECONDS = 300


def guardrail_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """Warning-tier alarms on spikes of blocked prompts and withheld answers (LLM stacks only).

    Units: blocked calls per five-minute period, counted from the model server's
    ``guardrail_blocked`` log event (components.llm.BLOCKED_EVENT) or, on premises, its counter.
    One period is enough: a spike is news now, and nothing is rolled back for it.
    """
    if not spec.llm.enabled:
        return []
    limit = spec.llm.guardrail.alert_blocked_per_5min
    period = GUARDRAIL_PERIOD_SECONDS
    return [
        AlarmRule(
            Signal.GUARDRAIL_BLOCKED_PROMPTS, limit, Comparison.ABOVE, Tier.TICKET, period, 1
        ),
        AlarmRule(
            Signal.GUARDRAIL_BLOCKED_RESPONSES, limit, Comparison.ABOVE, Tier.TICKET, period, 1
        ),
    ]


def endpoint_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """The alarms every endpoint has (policy S1): latency, error rates, availability."""
    a = spec.alerts
    # Breaches sustained this many one-minute periods raise an alarm (a declared difference).
    n = spec.alerts.evaluation_minutes
    critical = Tier.PAGE if a.page_on_critical else Tier.TICKET
    return [
        AlarmRule(Signal.LATENCY_P50, a.latency_p50_ms, Comparison.ABOVE, Tier.INFO, 60, n),
        AlarmRule(Signal.LATENCY_P95, a.latency_p95_ms, Comparison.ABOVE, Tier.TICKET, 60, n),
        AlarmRule(Signal.LATENCY_P99, a.latency_p99_ms, Comparison.ABOVE, critical, 60, n),
        AlarmRule(Signal.ERROR_RATE_4XX, a.error_rate_4xx, Comparison.ABOVE, Tier.TICKET, 60, n),
        AlarmRule(Signal.ERROR_RATE_5XX, a.error_rate_5xx, Comparison.ABOVE, critical, 60, n),
        AlarmRule(Signal.AVAILABILITY, a.availability_target, Comparison.BELOW, critical, 60, n),
    ]


def rollback_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """Alarms on the candidate version that roll it back (policy S2, review E.10).

    Every one carries the volume guard (``rollout.min_requests`` per period), so a quiet night
    does not roll a healthy candidate back, and the starved rule catches the candidate that
    produces no data at all. They are reported at the ticket tier: the rollback acts at once and
    a person looks the next working day; the rollback path itself pages when it cannot act.
    """
    r = spec.rollout
    guard = r.min_requests
    return [
        AlarmRule(
            Signal.CANARY_ERROR_RATE, r.rollback_error_rate, Comparison.ABOVE, Tier.TICKET,
            60, 2, triggers_rollback=True, min_requests=guard,
        ),
        AlarmRule(
            Signal.CANARY_LATENCY_RATIO, r.rollback_latency_multiplier, Comparison.ABOVE,
            Tier.TICKET, 60, 2, triggers_rollback=True, min_requests=guard,
        ),
        AlarmRule(
            Signal.CANARY_LATENCY_P99, spec.alerts.latency_p99_ms * r.rollback_latency_multiplier,
            Comparison.ABOVE, Tier.TICKET, 60, 2, triggers_rollback=True, min_requests=guard,
        ),
        # Share of requests (0-1) the candidate receives; below half the share it is given
        # (0 without a candidate: a share cannot be below 0, so the rule cannot fire).
        AlarmRule(
            Signal.CANARY_STARVED, traffic_split(spec)[1] / 200, Comparison.BELOW, Tier.TICKET,
            60, 5, triggers_rollback=True, min_requests=guard,
        ),
    ]  # fmt: skip


# CloudWatch allows 255 characters, Azure alert rules 260, GCP display names 512: 120 keeps every
# alarm name readable in a console and well inside every limit.
ALARM_NAME_MAX = 120


def alarm_name(spec: DeploymentSpec, key: str, max_len: int = ALARM_NAME_MAX) -> str:
    """The exact name of a stack's alarm: ``<project>-<environment>-<key>``.

    The key (``canary-error-rate``) and the environment are never cut (review #10: a watch finds
    its alarms by exact name from the stack's outputs, and a staging alarm never matches a prod
    watch); only an over-long project part is shortened, with a hash so it stays unique.
    """
    project = re.sub(r"[^a-z0-9-]", "", spec.project.lower())
    tail = f"-{spec.environment.value}-{key}"
    room = max_len - len(tail)
    if room < 8:
        raise ValueError(f"alarm key {key!r} is too long for a {max_len}-character alarm name")
    if len(project) > room:
        digest = hashlib.sha256(project.encode()).hexdigest()[:6]
        project = f"{project[: room - 7]}-{digest}"
    return f"{project}{tail}"


# -- Event-driven pattern ----------------------------------------------------------------------
# A message is delivered at most this many times; the next failure moves it to the dead-letter
# queue, where it waits (with an alarm) instead of being retried forever or dropped.
MAX_DELIVERIES = 5
# The visibility (lock, ack) timeout is this multiple of the worker's maximum processing time,
# AWS's guidance for SQS-driven workers, so a slow but healthy job is not redelivered mid-flight.
VISIBILITY_TIMEOUT_FACTOR = 6
# The spec has no processing-time field (it is shared by every pattern), so the worker's maximum
# processing time is derived from the latency p99 alarm: a job may run PROCESSING_P99_MULTIPLIER
# times the p99 the team alarms on, at least MIN_PROCESSING_SECONDS (a cold start loads the
# model) and at most MAX_PROCESSING_SECONDS, so that 6x fits the strictest queue limit we use
# (Pub/Sub's 600 s ack deadline). Raising alerts.latency_p99_ms raises the timeout with it.
PROCESSING_P99_MULTIPLIER = 10
MIN_PROCESSING_SECONDS = 60
MAX_PROCESSING_SECONDS = 100
# The queue-depth alarm fires when the backlog exceeds what the full worker fleet (at its
# concurrency ceiling, one job per worker) clears in this many seconds.
BACKLOG_DRAIN_SECONDS = 900


def worker_bounds(spec: DeploymentSpec) -> tuple[int, int]:
    """(min, max) always-on workers: zero at rest where the profile scales to zero (dev), the
    profile's bounds elsewhere. One job per worker, so max is the concurrency ceiling."""
    floor = 0 if spec.capacity.scale_to_zero else spec.capacity.min_instances
    return floor, spec.capacity.max_instances


def max_processing_seconds(spec: DeploymentSpec) -> int:
    """The longest one job may run before the worker's timeout stops it (whole seconds)."""
    derived = -(-spec.alerts.latency_p99_ms * PROCESSING_P99_MULTIPLIER // 1000)  # ceil
    return max(MIN_PROCESSING_SECONDS, min(MAX_PROCESSING_SECONDS, derived))


def visibility_timeout_seconds(spec: DeploymentSpec) -> int:
    """How long a delivered message stays invisible (locked, unacked) before redelivery."""
    return VISIBILITY_TIMEOUT_FACTOR * max_processing_seconds(spec)


def event_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """The alarms of an event-driven deployment: its queue, its dead letters and its workers.

    Units: QUEUE_DEPTH in messages, QUEUE_OLDEST_AGE in seconds, DEAD_LETTERS in messages,
    WORKER_ERROR_RATE a ratio 0-1, LATENCY_* the worker's processing latency in ms.
    """
    a = spec.alerts
    # Breaches sustained this many one-minute periods raise an alarm (a declared difference).
    n = spec.alerts.evaluation_minutes
    critical = Tier.PAGE if a.page_on_critical else Tier.TICKET
    depth = spec.capacity.max_instances * BACKLOG_DRAIN_SECONDS // max_processing_seconds(spec)
    # A message older than every retry it could have had means nothing is draining the queue.
    oldest = MAX_DELIVERIES * visibility_timeout_seconds(spec)
    return [
        AlarmRule(Signal.QUEUE_DEPTH, depth, Comparison.ABOVE, Tier.TICKET, 60, n),
        AlarmRule(Signal.QUEUE_OLDEST_AGE, oldest, Comparison.ABOVE, critical, 60, n),
        # One dead letter is already lost work: alarm at once, not after a sustained window.
        AlarmRule(Signal.DEAD_LETTERS, 0, Comparison.ABOVE, Tier.TICKET, 60, 1),
        AlarmRule(Signal.WORKER_ERROR_RATE, a.error_rate_5xx, Comparison.ABOVE, critical, 60, n),
        AlarmRule(Signal.LATENCY_P50, a.latency_p50_ms, Comparison.ABOVE, Tier.INFO, 60, n),
        AlarmRule(Signal.LATENCY_P95, a.latency_p95_ms, Comparison.ABOVE, Tier.TICKET, 60, n),
        AlarmRule(Signal.LATENCY_P99, a.latency_p99_ms, Comparison.ABOVE, critical, 60, n),
    ]
