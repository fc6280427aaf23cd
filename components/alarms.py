"""Cloud-neutral alarm definitions derived from a spec.

Each cloud's monitoring module maps a :class:`Signal` to its own metric (a lookup table there)
and creates one alarm per :class:`AlarmRule`. Thresholds, tiers and evaluation windows are
decided once, here, so an alarm means the same thing on every cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from components.spec import DeploymentSpec


class Signal(str, Enum):
    """What an alarm watches."""

    LATENCY_P50 = "latency-p50"
    LATENCY_P95 = "latency-p95"
    LATENCY_P99 = "latency-p99"
    ERROR_RATE_4XX = "error-rate-4xx"
    ERROR_RATE_5XX = "error-rate-5xx"
    AVAILABILITY = "availability"
    CANARY_ERROR_RATE = "canary-error-rate"
    CANARY_LATENCY_P99 = "canary-latency-p99"
    QUEUE_DEPTH = "queue-depth"
    QUEUE_OLDEST_AGE = "queue-oldest-age"
    DEAD_LETTERS = "dead-letters"
    WORKER_ERROR_RATE = "worker-error-rate"


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

    @property
    def key(self) -> str:
        """Short stable name used in resource names."""
        return self.signal.value


def serving_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """The alarms every serving endpoint has (policy S1), plus the canary's rollback alarms."""
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
        *rollback_alarms(spec),
    ]


def rollback_alarms(spec: DeploymentSpec) -> list[AlarmRule]:
    """Alarms on the candidate version that roll it back (policy S2)."""
    r = spec.rollout
    return [
        AlarmRule(
            Signal.CANARY_ERROR_RATE,
            r.rollback_error_rate,
            Comparison.ABOVE,
            Tier.PAGE if spec.alerts.page_on_critical else Tier.TICKET,
            60,
            2,
            triggers_rollback=True,
        ),
        AlarmRule(
            Signal.CANARY_LATENCY_P99,
            spec.alerts.latency_p99_ms * r.rollback_latency_multiplier,
            Comparison.ABOVE,
            Tier.PAGE if spec.alerts.page_on_critical else Tier.TICKET,
            60,
            2,
            triggers_rollback=True,
        ),
    ]


def traffic_split(spec: DeploymentSpec) -> tuple[int, int]:
    """(stable %, candidate %): always sums to 100; no candidate means no candidate traffic."""
    candidate = spec.rollout.canary_percent if spec.has_candidate else 0
    return 100 - candidate, candidate


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
