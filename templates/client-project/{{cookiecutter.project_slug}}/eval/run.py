"""Stage 2 of the pipeline: score the model on the evaluation set; exit 1 below the baseline.

    python -m eval.run --stack prod                         # recorded predictions in the dataset
    python -m eval.run --stack staging --endpoint URL       # ask a deployed endpoint

The dataset (JSON lines: ``input``, ``expected`` and, offline, the model's ``prediction``), the
scorer (``module:function``) and the ``baseline`` come from the ``evaluation`` section of the
stack file, so every environment is held to the same bar. Swap in your own dataset and scorer
there; to score a model offline, add a ``prediction`` per row from your batch inference job.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
Scorer = Callable[[str, str], float]


def evaluation_config(stack: str) -> dict[str, Any]:
    """The ``evaluation`` section of a stack file."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    section = config.get(f"{project}:evaluation")
    if not isinstance(section, dict) or "baseline" not in section:
        raise SystemExit(f"error: stacks/Pulumi.{stack}.yaml has no evaluation.baseline")
    return section


def load_scorer(ref: str) -> Scorer:
    """``"eval.scorers:exact_match"`` -> the function."""
    module, _, name = ref.partition(":")
    scorer: Scorer = getattr(importlib.import_module(module), name)
    return scorer


def rows(path: Path) -> Iterator[dict[str, Any]]:
    """The dataset's rows (blank lines skipped)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if "input" not in row or "expected" not in row:
                raise SystemExit(f"error: {path}:{number}: a row needs 'input' and 'expected'")
            yield row


def endpoint_predictor(url: str, path: str = "/predict") -> Callable[[dict[str, Any]], str]:
    """Ask a deployed endpoint: POST {"input": ...} and read "prediction" (or "output")."""

    if not url.startswith("https://"):
        raise SystemExit(f"error: --endpoint must be an https:// URL, got {url!r}")

    def predict(row: dict[str, Any]) -> str:
        request = urllib.request.Request(  # noqa: S310 - https checked above
            url.rstrip("/") + path,
            data=json.dumps({"input": row["input"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
            body = json.loads(response.read())
        return str(body.get("prediction", body.get("output", "")))

    return predict


def recorded_prediction(row: dict[str, Any]) -> str:
    """The prediction stored in the row by the batch inference job."""
    if "prediction" not in row:
        raise SystemExit("error: a row has no 'prediction'; pass --endpoint or add predictions")
    return str(row["prediction"])


def evaluate(stack: str, endpoint: str | None = None) -> tuple[float, float, int]:
    """(score, baseline, rows scored)."""
    config = evaluation_config(stack)
    scorer = load_scorer(str(config.get("scorer", "eval.scorers:exact_match")))
    predict = endpoint_predictor(endpoint) if endpoint else recorded_prediction
    scores = [scorer(predict(row), str(row["expected"])) for row in rows(ROOT / config["dataset"])]
    if not scores:
        raise SystemExit("error: the evaluation dataset is empty")
    return sum(scores) / len(scores), float(config["baseline"]), len(scores)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 at or above the baseline, 1 below it."""
    parser = argparse.ArgumentParser(prog="python -m eval.run")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--endpoint", help="score a deployed endpoint instead of recorded rows")
    parser.add_argument("--summary", type=Path, help="append a Markdown line (job summary)")
    args = parser.parse_args(argv)
    score, baseline, count = evaluate(args.stack, args.endpoint)
    passed = score >= baseline
    line = (
        f"model validation ({args.stack}): score {score:.3f} on {count} rows, "
        f"baseline {baseline:.3f}: {'pass' if passed else 'FAIL'}"
    )
    print(line)
    if args.summary:
        with args.summary.open("a") as handle:
            handle.write(f"### {line}\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
