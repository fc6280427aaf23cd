"""What the model container reads from its environment (docs/model-contract.md).

The stack never passes the port or the paths to every platform (ECS, Container Apps and Azure
Machine Learning only probe them), so the image declares them itself (model/Dockerfile sets
``MODEL_PORT``, ``MODEL_HEALTH_PATH`` and ``MODEL_PREDICT_PATH`` to the stack's values) and a
platform that does tell the container overrides them: Vertex AI sets ``AIP_*``, Cloud Run sets
``PORT`` (or the stack sets ``MODEL_PORT`` where Cloud Run reserves ``PORT`` for a sidecar).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PORT = 8080
DEFAULT_HEALTH_PATH = "/health"
DEFAULT_PREDICT_PATH = "/predict"
# SageMaker's fixed hosting contract (GET /ping, POST /invocations, port 8080). Served on every
# cloud, so one image satisfies SageMaker and the stack's own paths alike.
SAGEMAKER_HEALTH_PATH = "/ping"
SAGEMAKER_PREDICT_PATH = "/invocations"
# Every interface of the container: platforms reach it from outside its network namespace,
# and a container's port is reachable only where the platform publishes it.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # nosec B104

# First match wins: the platform's own variable, then the stack's, then the image's default.
PORT_VARIABLES = ("AIP_HTTP_PORT", "MODEL_PORT", "PORT")
HEALTH_VARIABLES = ("AIP_HEALTH_ROUTE", "MODEL_HEALTH_PATH")
PREDICT_VARIABLES = ("AIP_PREDICT_ROUTE", "MODEL_PREDICT_PATH")
# The rollback drill's failing candidate (see Settings.fail_predictions).
FAIL_VARIABLE = "MODEL_FAIL_PREDICTIONS"
# Identity of what is served; the stack sets them where the platform lets it (AWS: all three,
# Azure and GCP: MODEL_VERSION), the image's build arguments are the fallback.
DEFAULT_MODEL_NAME = "model"
DEFAULT_MODEL_VERSION = "1.0.0"
# Larger than any gateway in front lets through (API Gateway 10 MB, SageMaker 6 MB, the spec's
# max_request_bytes 1 MiB by default); a bound so a client cannot make the server buffer more.
MAX_BODY_BYTES = 6 * 1024 * 1024
# Set whenever the stack serves an LLM (components/llm.py): the guardrail's config, whose
# max_prompt_bytes is then the largest body the server reads (the gateway's cap too).
GUARDRAIL_CONFIG_VARIABLE = "GUARDRAIL_CONFIG"
# The largest max_prompt_bytes the guardrail setting allows (components/llm.py).
MAX_PROMPT_BYTES = 10 * 1024 * 1024


class SettingsError(ValueError):
    """A variable holds a value the contract does not allow."""


def _first(env: Mapping[str, str], names: tuple[str, ...], default: str) -> str:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return default


def _flag(value: str, variable: str) -> bool:
    text = value.strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{variable}: {value!r} is not 1/0, true/false or yes/no")


def _path(value: str, variable: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise SettingsError(f"{variable}: {value!r} is not an absolute URL path")
    return value


def _guardrail_cap(text: str) -> tuple[bool, int]:
    """(serves an LLM, largest body) from GUARDRAIL_CONFIG: its max_prompt_bytes, or the
    default without an LLM."""
    if not text.strip():
        return False, MAX_BODY_BYTES
    try:
        cap = json.loads(text)["max_prompt_bytes"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SettingsError(
            f"{GUARDRAIL_CONFIG_VARIABLE}: not the guardrail's JSON with max_prompt_bytes"
        ) from exc
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_PROMPT_BYTES:
        raise SettingsError(
            f"{GUARDRAIL_CONFIG_VARIABLE}: max_prompt_bytes {cap!r} is not 1..{MAX_PROMPT_BYTES}"
        )
    return True, cap


@dataclass(frozen=True)
class Settings:
    """The container's configuration, resolved once at start."""

    model_name: str
    model_version: str
    variant: str
    port: int
    health_path: str
    predict_path: str
    host: str = ALL_INTERFACES
    # Seconds the sample pretends to load its weights: readiness stays 503 meanwhile.
    load_seconds: float = 0.0
    # The rollback drill's failing candidate (MODEL_FAIL_PREDICTIONS=1, a build argument of
    # model/Dockerfile): every prediction answers 500 while readiness stays 200, so only the
    # canary's error alarms, not the platform's health checks, can catch it.
    fail_predictions: bool = False
    # The largest request body read; a larger one is a 413 before anything looks at it.
    max_body_bytes: int = MAX_BODY_BYTES
    # True when the stack serves an LLM: prompts and answers pass the guardrail (model/server.py).
    llm: bool = False

    @property
    def health_paths(self) -> frozenset[str]:
        """Every GET path that answers readiness."""
        return frozenset({self.health_path, SAGEMAKER_HEALTH_PATH})

    @property
    def predict_paths(self) -> frozenset[str]:
        """Every POST path that answers a prediction."""
        return frozenset({self.predict_path, SAGEMAKER_PREDICT_PATH})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Resolve the settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        port_text = _first(env, PORT_VARIABLES, str(DEFAULT_PORT))
        try:
            port = int(port_text)
        except ValueError as exc:
            raise SettingsError(f"port: {port_text!r} is not a number") from exc
        # 0 asks the operating system for a free port (tests, local runs).
        if not 0 <= port <= 65535:
            raise SettingsError(f"port: {port} is out of range")
        load_text = env.get("MODEL_LOAD_SECONDS", "0") or "0"
        try:
            load_seconds = float(load_text)
        except ValueError as exc:
            raise SettingsError(f"MODEL_LOAD_SECONDS: {load_text!r} is not a number") from exc
        llm, max_body_bytes = _guardrail_cap(env.get(GUARDRAIL_CONFIG_VARIABLE, ""))
        return cls(
            model_name=env.get("MODEL_NAME") or DEFAULT_MODEL_NAME,
            model_version=env.get("MODEL_VERSION") or DEFAULT_MODEL_VERSION,
            variant=env.get("VARIANT") or "stable",
            port=port,
            health_path=_path(_first(env, HEALTH_VARIABLES, DEFAULT_HEALTH_PATH), "health path"),
            predict_path=_path(
                _first(env, PREDICT_VARIABLES, DEFAULT_PREDICT_PATH), "predict path"
            ),
            host=env.get("MODEL_HOST") or ALL_INTERFACES,
            load_seconds=max(0.0, load_seconds),
            fail_predictions=_flag(env.get(FAIL_VARIABLE, ""), FAIL_VARIABLE),
            max_body_bytes=max_body_bytes,
            llm=llm,
        )
