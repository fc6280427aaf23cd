"""The cloud-neutral release model: the stable/candidate pair, the traffic split, and the one
rollback decision every cloud uses (review E.10, "verify the trigger, then fail safe").

This module is standard library only and imports nothing from the rest of ``components`` at run
time, because it is shipped as a single file into the Azure rollback service, the GCP rollback
function and the AWS post-window rollback function, and vendored into every generated project
where ``python -m ci.rollout decide`` calls :func:`decide`. One function, one set of shared
vectors (tests/vectors/rollout_decisions.json), every caller held to both.

The rule:

* a trigger that cannot be verified (malformed payload, unknown rule, read-back failed): HOLD and
  page a person; never act on input whose integrity is unknown;
* a verified trigger that is resolved: IGNORE;
* a verified firing trigger: ROLLBACK, unless fresh data proves the candidate healthy (at least
  ``min_requests`` requests, 5xx rate at most ``error_rate``, p99 at most ``latency_multiplier``
  times the stable version's measured p99): then HOLD and notify;
* no trigger (the pipeline's periodic check): the candidate's own numbers decide, and only with
  at least ``min_requests`` requests (fewer: HOLD). A missing p99 proves nothing either way: the
  error rate alone decides.

Why fail safe after verification: a canary rollback moves at most half the traffic back to the
version that was already serving, while a bad canary costs real errors until someone looks; and
scarce data after a verified, sustained breach is usually the failure itself (crash loops, an
ejected target). A rollback is reported at the ticket tier; only an unverifiable trigger pages.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the spec is pydantic; the shipped copies of this file never import it
    from components.spec import DeploymentSpec

__all__ = [
    "Action",
    "Decision",
    "Observation",
    "ObservationError",
    "Release",
    "Sample",
    "Settings",
    "Trigger",
    "decide",
    "decide_json",
    "main",
    "parse_observation",
    "release",
    "settings_for",
    "traffic_split",
]


class Action(str, Enum):
    """What the caller does."""

    ROLLBACK = "rollback"  # move all traffic back to the stable version
    HOLD = "hold"  # leave the split as it is
    IGNORE = "ignore"  # nothing happened that concerns the release


@dataclass(frozen=True)
class Trigger:
    """The alert that woke the caller, after the caller tried to confirm it with its monitor."""

    verified: bool  # the monitor confirmed it is one of this stack's rollback rules
    firing: bool  # ... and that it is firing now (meaningless when not verified)
    rule: str  # the rule's exact name, for the reason and the logs


@dataclass(frozen=True)
class Sample:
    """One version's traffic over the decision window."""

    requests: int
    errors_5xx: int  # gateway-, load-balancer- and target-generated 5xx and timeouts
    p99_ms: float | None  # None: not measured (too little data, or the signal was missing)

    @property
    def error_rate(self) -> float:
        """5xx per request; 0 without requests."""
        return self.errors_5xx / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Settings:
    """The thresholds, from the stack's rollout settings (see :func:`settings_for`)."""

    error_rate: float
    latency_multiplier: float
    min_requests: int


@dataclass(frozen=True)
class Observation:
    """Everything :func:`decide` looks at."""

    trigger: Trigger | None
    candidate: Sample
    stable: Sample
    settings: Settings


@dataclass(frozen=True)
class Decision:
    """What to do, whether a person must act now, and why (one line)."""

    action: Action
    page: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the ``decide`` contract."""
        return {"action": self.action.value, "page": self.page, "reason": self.reason}


class ObservationError(ValueError):
    """The input does not fit the contract; the message is one line naming the field."""


def _slow(p99: float, multiplier: float, limit: float) -> str:
    return f"candidate p99 {p99:g} ms above {multiplier:g} x stable p99 ({limit:g} ms)"


def _unhealthy(obs: Observation) -> str | None:
    """Why the candidate's fresh data fails to prove it healthy, or None when it proves it."""
    cand, stable, s = obs.candidate, obs.stable, obs.settings
    if cand.requests < s.min_requests:
        return f"only {cand.requests} candidate requests (fewer than {s.min_requests})"
    if cand.error_rate > s.error_rate:
        return f"candidate 5xx rate {cand.error_rate:.2%} above {s.error_rate:.2%}"
    if cand.p99_ms is None:
        return "candidate p99 not measured"
    if stable.p99_ms is None:
        return "stable p99 not measured, so the candidate's latency cannot be compared"
    limit = s.latency_multiplier * stable.p99_ms
    if cand.p99_ms > limit:
        return _slow(cand.p99_ms, s.latency_multiplier, limit)
    return None


def _breach(obs: Observation) -> str | None:
    """Without a trigger: why the candidate's numbers prove a breach, or None."""
    cand, stable, s = obs.candidate, obs.stable, obs.settings
    if cand.error_rate > s.error_rate:
        return f"candidate 5xx rate {cand.error_rate:.2%} above {s.error_rate:.2%}"
    if cand.p99_ms is not None and stable.p99_ms is not None:
        limit = s.latency_multiplier * stable.p99_ms
        if cand.p99_ms > limit:
            return _slow(cand.p99_ms, s.latency_multiplier, limit)
    return None


def decide(obs: Observation) -> Decision:
    """The one rollback rule (see the module docstring). Pure: same input, same decision."""
    trigger, s = obs.trigger, obs.settings
    if trigger is not None:
        if not trigger.verified:
            return Decision(
                Action.HOLD,
                True,
                f"trigger {trigger.rule!r} could not be verified: a person decides",
            )
        if not trigger.firing:
            return Decision(Action.IGNORE, False, f"trigger {trigger.rule!r} is resolved")
        why = _unhealthy(obs)
        if why is None:
            return Decision(
                Action.HOLD,
                False,
                f"trigger {trigger.rule!r} fires but fresh data shows the candidate healthy",
            )
        return Decision(Action.ROLLBACK, False, f"trigger {trigger.rule!r} fires and {why}")
    if obs.candidate.requests < s.min_requests:
        return Decision(
            Action.HOLD,
            False,
            f"only {obs.candidate.requests} candidate requests (fewer than {s.min_requests}): "
            "too little data to judge",
        )
    why = _breach(obs)
    if why is not None:
        return Decision(Action.ROLLBACK, False, why)
    return Decision(Action.HOLD, False, "candidate within its error-rate and latency limits")


# -- the JSON contract -------------------------------------------------------------------------


def _field(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ObservationError(f"{where}.{key} is missing")
    return data[key]


def _object(
    value: Any, where: str, keys: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ObservationError(f"{where} must be an object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise ObservationError(f"{where} has unknown key(s): {', '.join(unknown)}")
    for key in sorted(keys - optional):
        _field(value, key, where)
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ObservationError(f"{where} must be true or false")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ObservationError(f"{where} must be a whole number >= 0")
    if value > _LARGEST:
        raise ObservationError(f"{where} is out of range")
    return value


# Counts and milliseconds beyond this are not measurements (and a float cannot hold 10**400).
# The tag every rollback function carries (GCP: aideploy's label ``role``), so the policy pack's
# S2 (policies/rules/rollback_paths.py) tells the rollback from any other consumer of an alarm.
ROLLBACK_MARKER: dict[str, str] = {"aideploy-role": "rollback"}

_LARGEST = 10**15


def _number(value: Any, where: str, *, nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST:
        raise ObservationError(f"{where} is out of range")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ObservationError(
            f"{where} must be a finite number" + (" or null" if nullable else "")
        )
    if value < 0:
        raise ObservationError(f"{where} must be >= 0")
    return float(value)


def _sample(value: Any, where: str) -> Sample:
    data = _object(value, where, {"requests", "errors_5xx", "p99_ms"})
    requests = _count(data["requests"], f"{where}.requests")
    errors = _count(data["errors_5xx"], f"{where}.errors_5xx")
    if errors > requests:
        raise ObservationError(
            f"{where}.errors_5xx ({errors}) exceeds {where}.requests ({requests})"
        )
    return Sample(requests, errors, _number(data["p99_ms"], f"{where}.p99_ms", nullable=True))


def parse_observation(data: Any) -> Observation:
    """The observation in ``data`` (parsed JSON), or :class:`ObservationError` naming the field."""
    top = _object(
        data, "observation", {"trigger", "candidate", "stable", "settings"}, frozenset({"trigger"})
    )
    trigger: Trigger | None = None
    if top.get("trigger") is not None:
        t = _object(top["trigger"], "trigger", {"verified", "firing", "rule"})
        rule = t["rule"]
        # The caller names the rule it verified; an empty name is no rule at all.
        if not isinstance(rule, str) or not rule.strip() or len(rule) > 512:
            raise ObservationError("trigger.rule must be the rule's name (1-512 characters)")
        trigger = Trigger(
            _bool(t["verified"], "trigger.verified"), _bool(t["firing"], "trigger.firing"), rule
        )
    s = _object(top["settings"], "settings", {"error_rate", "latency_multiplier", "min_requests"})
    error_rate = _number(s["error_rate"], "settings.error_rate")
    multiplier = _number(s["latency_multiplier"], "settings.latency_multiplier")
    assert error_rate is not None and multiplier is not None  # not nullable  # nosec B101
    if not 0 < error_rate <= 1:
        raise ObservationError("settings.error_rate must be in (0, 1]")
    if multiplier < 1:
        raise ObservationError("settings.latency_multiplier must be >= 1")
    min_requests = _count(s["min_requests"], "settings.min_requests")
    if min_requests < 1:
        raise ObservationError("settings.min_requests must be >= 1")
    return Observation(
        trigger,
        _sample(top["candidate"], "candidate"),
        _sample(top["stable"], "stable"),
        Settings(error_rate, multiplier, min_requests),
    )


# One observation is a few hundred characters; anything vastly larger is not one.
_MAX_INPUT = 65_536


def decide_json(text: str) -> dict[str, Any]:
    """The decision for one JSON observation, as the contract's JSON object."""
    if len(text) > _MAX_INPUT:
        raise ObservationError(f"input is larger than {_MAX_INPUT} characters")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ObservationError(f"input is not JSON: {error}") from None
    except RecursionError:
        raise ObservationError("input is nested too deeply") from None
    return decide(parse_observation(data)).to_dict()


def main(stdin: Any = None, stdout: Any = None, stderr: Any = None) -> int:
    """One JSON observation on stdin, one JSON decision on stdout; exit 0, or 2 on bad input."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        decision = decide_json(stdin.read())
    except ObservationError as error:
        print(f"error: {error}".replace("\n", " "), file=stderr)
        return 2
    print(json.dumps(decision, sort_keys=True), file=stdout)
    return 0


# -- the release and its split -----------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """The stable/candidate pair a stack serves, and the candidate's share of traffic."""

    stable_version: str
    stable_image: str | None
    candidate_version: str | None
    candidate_image: str | None
    candidate_percent: int  # 0 without a candidate

    @property
    def has_candidate(self) -> bool:
        """Whether a candidate takes traffic beside the stable version."""
        return self.candidate_version is not None

    @property
    def stable_percent(self) -> int:
        """The stable version's share: the rest of the traffic."""
        return 100 - self.candidate_percent

    def as_dict(self) -> dict[str, Any]:
        """Plain values, e.g. for a function's configuration."""
        return asdict(self)


def release(spec: DeploymentSpec) -> Release:
    """The stack's release, from its spec."""
    candidate = spec.rollout.canary_percent if spec.has_candidate else 0
    return Release(
        stable_version=spec.model.version,
        # "" for a pattern that ships model files (embedded): it has no image and no candidate.
        stable_image=spec.model.image or "",
        candidate_version=spec.rollout.candidate_version,
        candidate_image=spec.rollout.candidate_image,
        candidate_percent=candidate,
    )


def traffic_split(spec: DeploymentSpec) -> tuple[int, int]:
    """(stable %, candidate %): always sums to 100; no candidate means no candidate traffic."""
    r = release(spec)
    return r.stable_percent, r.candidate_percent


def settings_for(spec: DeploymentSpec) -> Settings:
    """The decision thresholds of a stack (``rollout.*``)."""
    r = spec.rollout
    return Settings(r.rollback_error_rate, r.rollback_latency_multiplier, r.min_requests)


if __name__ == "__main__":
    sys.exit(main())
