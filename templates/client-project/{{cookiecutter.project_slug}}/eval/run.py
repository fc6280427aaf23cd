"""Model validation: score the model itself on the evaluation set; exit 1 below the baseline.

    python -m eval.run --stack prod --local                  # the model of this commit, served here
    python -m eval.run --stack staging --endpoint URL        # the deployed model, authenticated
    python -m eval.run --stack prod --recorded               # predictions your batch job wrote

``--local`` starts the model server of model/ on this machine (a free loopback port) and asks it
every row over HTTP, as a client would. ``--endpoint`` asks the deployed stack with the test
client's credentials (docs/ci.md, "Test credentials") and fails when a prediction reports a
model version the stack file does not serve (``model.version`` or ``rollout.candidate_version``):
the score then belongs to another model. ``--artifact FILE`` writes what was scored: the stack,
the versions expected and seen, the stack's images, the score per version and in total.

The dataset (JSON lines: ``input``, ``expected`` and, for ``--recorded``, ``prediction``), the
scorer (``module:function``) and the ``baseline`` come from the ``evaluation`` section of the
stack file, so every environment is held to the same bar.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from eval.scorers import BLOCKED_PROMPT, BLOCKED_RESPONSE

ROOT = Path(__file__).resolve().parents[1]
Scorer = Callable[[str, str], float]
# A prediction and the model version that made it ("" when the source does not say).
Predictor = Callable[[dict[str, Any]], tuple[str, str]]


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


def http_predictor(url: str, headers: dict[str, str]) -> Predictor:
    """POST {"input": ...} to ``url``; the answer's prediction and the version it reports."""
    from ci import api_client

    def predict(row: dict[str, Any]) -> tuple[str, str]:
        reply = api_client.call(url, {"input": row["input"]}, headers, timeout=30)
        body = reply.body if isinstance(reply.body, dict) else {}
        # An LLM's guardrail refusing a prompt (400) or withholding an answer (200): recorded as
        # what it is, for eval.scorers:guardrail_outcome (the refusal names no model version).
        if reply.status == 400 and body.get("blocked") == "prompt":
            return BLOCKED_PROMPT, ""
        if reply.status != 200:
            raise SystemExit(f"error: {url} answered {reply.status}: {reply.body}")
        version = str(body.get("version") or reply.headers.get("X-Model-Version", ""))
        if body.get("blocked") == "response":
            return BLOCKED_RESPONSE, version
        return str(body.get("prediction", body.get("output", ""))), version

    return predict


def recorded_prediction(row: dict[str, Any]) -> tuple[str, str]:
    """The prediction stored in the row by the batch inference job."""
    if "prediction" not in row:
        raise SystemExit("error: a row has no 'prediction'; use --local or --endpoint")
    return str(row["prediction"]), str(row.get("version", ""))


def local_guardrail(stack: str) -> dict[str, str]:
    """For an LLM stack, the environment that puts the guardrail in front of the local server:
    the stack file's own settings, checked by the local rules (no cloud, no credentials). The
    cloud's own guardrail is judged where it runs, by ``--endpoint`` against the deployed stack.
    """
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    llm = config.get(f"{project}:llm")
    if not isinstance(llm, dict) or llm.get("mode", "none") == "none":
        return {}
    return {
        "GUARDRAIL_PROVIDER": "local",
        "GUARDRAIL_CONFIG": json.dumps(llm.get("guardrail", {}), sort_keys=True),
    }


def local_server(stack: str) -> tuple[str, Callable[[], None]]:
    """The model server of model/, loaded, on a free loopback port: (predict URL, stop)."""
    from model.server import ModelService, guardrail_for, make_server
    from model.settings import Settings

    env = {"MODEL_PORT": "0", "MODEL_HOST": "127.0.0.1", **local_guardrail(stack)}
    settings = Settings.from_env(env)
    guard, policy = guardrail_for(settings, env)
    service = ModelService(settings, guard=guard, policy=policy)
    service.load()
    server = make_server(service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{port}{settings.predict_path}", stop


def expected_versions(stack: str) -> tuple[set[str], dict[str, str | None]]:
    """The versions the stack file serves, and its images (for the artefact)."""
    from ci.stack import stack_release

    release = stack_release(stack)
    versions = {release.stable_version}
    if release.candidate_version:
        versions.add(release.candidate_version)
    images = {"stable": release.stable_image, "candidate": release.candidate_image}
    return versions, images


def evaluate(stack: str, predict: Predictor) -> dict[str, Any]:
    """Score every row; the result per model version and in total."""
    config = evaluation_config(stack)
    scorer = load_scorer(str(config.get("scorer", "eval.scorers:exact_match")))
    per_version: dict[str, list[float]] = {}
    for row in rows(ROOT / config["dataset"]):
        prediction, version = predict(row)
        per_version.setdefault(version, []).append(scorer(prediction, str(row["expected"])))
    scores = [s for values in per_version.values() for s in values]
    if not scores:
        raise SystemExit("error: the evaluation dataset is empty")
    return {
        "stack": stack,
        "baseline": float(config["baseline"]),
        "rows": len(scores),
        "score": sum(scores) / len(scores),
        "by_version": {v: sum(s) / len(s) for v, s in sorted(per_version.items())},
    }


def main(argv: list[str] | None = None) -> int:
    """Exit 0 at or above the baseline (every version), 1 below it or on a foreign version."""
    parser = argparse.ArgumentParser(prog="python -m eval.run")
    parser.add_argument("--stack", default="prod")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--local", action="store_true", help="serve model/ here and score it")
    mode.add_argument("--endpoint", help="score the deployed endpoint (test credentials)")
    mode.add_argument("--recorded", action="store_true", help="score recorded predictions")
    parser.add_argument("--artifact", type=Path, help="write what was scored (JSON)")
    parser.add_argument("--summary", type=Path, help="append a Markdown line (job summary)")
    args = parser.parse_args(argv)
    expected, images = expected_versions(args.stack)
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if args.endpoint:
        from ci import api_client
        from ci.stack import predict_url, stack_spec

        spec = stack_spec(args.stack)
        url = args.endpoint
        if url.startswith("https://"):
            url = predict_url({"endpoint_url": url}, spec.model.predict_path)
        headers = api_client.auth_headers(spec.cloud.value, spec.api.auth.value)
        predict, mode_name = http_predictor(url, headers), "endpoint"
    elif args.local:
        url, stop = local_server(args.stack)
        predict, mode_name = http_predictor(url, {}), "local"
        # the local server is the code of this commit: its version is model/VERSION's or the
        # settings' default, not necessarily the stack's; it is recorded, not enforced
        expected = set()
    else:
        predict, mode_name = recorded_prediction, "recorded"
        expected = set()
    try:
        result = evaluate(args.stack, predict)
    finally:
        stop()
    # "" is a refusal by the guardrail, which names no version; every answer names one.
    foreign = sorted(set(result["by_version"]) - expected - {""}) if expected else []
    passed = not foreign and all(s >= result["baseline"] for s in result["by_version"].values())
    result.update(
        mode=mode_name,
        expected_versions=sorted(expected),
        images=images,
        foreign_versions=foreign,
        passed=passed,
    )
    versions = ", ".join(f"{v or 'guardrail'}={s:.3f}" for v, s in result["by_version"].items())
    line = (
        f"model validation ({args.stack}, {mode_name}): score {result['score']:.3f} on "
        f"{result['rows']} rows, baseline {result['baseline']:.3f}, versions {versions}: "
        f"{'pass' if passed else 'FAIL'}"
    )
    if foreign:
        line += f" (the endpoint reports {', '.join(foreign)}, not what the stack serves)"
    print(line)
    if args.artifact:
        args.artifact.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.summary:
        with args.summary.open("a") as handle:
            handle.write(f"### {line}\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
