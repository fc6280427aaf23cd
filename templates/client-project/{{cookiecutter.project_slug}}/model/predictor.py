"""The sample model: a deterministic, rule-based support-ticket classifier.

It stands in for the client's model with the same shape a real one has: it is *loaded* once
(here: a keyword table, after an optional delay that imitates reading weights), then answers
``predict(text)`` with a label and a score. It labels the evaluation set in eval/data/ (account,
billing, technical). Replace this module (keep ``load`` and ``Predictor.predict``) to serve
your own model; docs/model-contract.md says what the rest of the container must keep doing.

With ``LLM_PROVIDER`` set (a project generated with ``--llm hosted``; the stack sets it),
``load`` returns the hosted LLM of model/llm.py instead: the cloud's model service with its
guardrail attached. The classifier stays the stand-in for a self-hosted model.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

# Keyword stems per label; the label with most hits wins, ties go to the earlier label.
KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "billing": ("charge", "refund", "invoice", "vat", "payment", "bill", "price", "paid"),
    "account": (
        "password",
        "account",
        "login",
        "log in",
        "sign in",
        "two-factor",
        "2fa",
        "address",
        "email",
        "profile",
    ),
    "technical": (
        "crash",
        "error",
        "bug",
        "broken",
        "empty",
        "slow",
        "timeout",
        "export",
        "upload",
        "dashboard",
    ),
}
FALLBACK_LABEL = "other"
# Longest input the sample accepts (characters); the gateways cap the body size before this.
MAX_INPUT_CHARS = 10_000


class InputError(ValueError):
    """The request's input is not something the model can score (a 4xx, not a 5xx)."""


@dataclass(frozen=True)
class Prediction:
    """One answer: the label and how sure the model is of it (0..1)."""

    label: str
    score: float

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of one prediction."""
        return {"prediction": self.label, "score": self.score}


class Predictor(Protocol):
    """A loaded model: what the server, the worker and the tests call."""

    def predict(self, text: object) -> Prediction:
        """Answer one input; raises InputError for an input the model cannot take."""
        ...


class KeywordPredictor:
    """The sample classifier, loaded. Thread-safe: it holds only immutable state."""

    def __init__(self, keywords: Mapping[str, tuple[str, ...]]) -> None:
        self._patterns = {
            label: tuple(re.compile(rf"\b{re.escape(word)}", re.IGNORECASE) for word in words)
            for label, words in keywords.items()
        }

    def predict(self, text: object) -> Prediction:
        """Classify one text. Same input, same output (no randomness, no state)."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("input must be a non-empty string")
        if len(text) > MAX_INPUT_CHARS:
            raise InputError(f"input is longer than {MAX_INPUT_CHARS} characters")
        hits = {
            label: sum(1 for pattern in patterns if pattern.search(text))
            for label, patterns in self._patterns.items()
        }
        best = max(hits, key=lambda label: hits[label])
        total = sum(hits.values())
        if total == 0:
            return Prediction(FALLBACK_LABEL, 0.0)
        return Prediction(best, round(hits[best] / total, 4))


# A project that ships the model's files to apps (the embedded pattern) keeps them here; the
# server then loads exactly those, so the pipeline's model validation scores what is released.
ARTIFACTS = Path(__file__).resolve().with_name("artifacts") / "keywords.json"


def from_weights(weights: Mapping[str, object]) -> Predictor:
    """The model from its weights file's content (``model/artifacts/keywords.json``)."""
    keywords = weights.get("keywords")
    if not isinstance(keywords, Mapping):
        raise ValueError("the weights have no keyword table")
    return KeywordPredictor({str(k): tuple(str(w) for w in v) for k, v in keywords.items()})


# Set by the stack of a hosted-LLM project (components/llm.py names the same variable).
LLM_PROVIDER_VARIABLE = "LLM_PROVIDER"


def load(load_seconds: float = 0.0, env: Mapping[str, str] | None = None) -> Predictor:
    """Load the model. A real model reads its weights here (from the image, or a download into
    /tmp, the only writable path); the sample only waits ``load_seconds`` to show readiness,
    and reads ``model/artifacts/`` where the project ships one. With ``LLM_PROVIDER`` in
    ``env`` (default: the process environment) it is the hosted LLM (model/llm.py)."""
    env = os.environ if env is None else env
    if env.get(LLM_PROVIDER_VARIABLE, "").strip():
        try:
            hosted = importlib.import_module("model.llm")
        except ModuleNotFoundError as exc:
            if exc.name != "model.llm":
                raise
            raise RuntimeError(
                f"{LLM_PROVIDER_VARIABLE} is set, but this project has no hosted-LLM client "
                "(model/llm.py comes with `aideploy new --llm hosted`)"
            ) from exc
        return cast(Predictor, hosted.from_env(env))
    if load_seconds > 0:
        time.sleep(load_seconds)
    if ARTIFACTS.is_file():
        return from_weights(json.loads(ARTIFACTS.read_text(encoding="utf-8")))
    return KeywordPredictor(KEYWORDS)
