"""The sample model server: the HTTP half of docs/model-contract.md, standard library only.

    python -m model.server            # from the project root; listens on MODEL_PORT (8080)

- ``GET <health path>`` and ``GET /ping``: 200 once the model is loaded, 503 before (and while
  draining after SIGTERM); no credentials, no body needed. Platforms use it as readiness.
- ``POST <predict path>`` and ``POST /invocations``: ``{"input": "text"}`` ->
  ``{"prediction", "score", "model", "version"}``; ``{"instances": [...]}`` (Vertex AI's
  shape) -> ``{"predictions": [{"prediction", "score"}, ...]}``. Malformed JSON or a wrong shape
  is a 400, an unknown path a 404, a body over the settings' max_body_bytes a 413, not ready a
  503.
- When the stack serves an LLM (GUARDRAIL_CONFIG set), every prompt passes the guardrail before
  the model and every answer after it (model/guardrail.py; a hosted model's service applies it
  itself): a blocked prompt is a 400 ``{"error", "blocked": "prompt"}``, a withheld answer a 200
  ``{"prediction": <blocked_output_message>, "blocked": "response", ...}``, a check that failed
  a 503 (fail closed). Each is logged as one JSON line with the reasons, never the text.
- Logs one JSON line per request on stdout; writes no file; SIGTERM stops taking new requests,
  finishes those in flight and exits 0.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from model import predictor, telemetry
from model.jsonlog import log
from model.settings import MAX_BODY_BYTES as MAX_BODY_BYTES  # the default cap, re-exported
from model.settings import Settings

try:
    from model import guardrail
except ImportError:  # only LLM projects have the guardrail hook
    guardrail = None  # type: ignore[assignment]

# What the guardrail raises (model/guardrail.py; model/llm.py raises them for a hosted model);
# nothing without an LLM.
_BLOCKED: tuple[type[Exception], ...] = (guardrail.Blocked,) if guardrail else ()
_UNAVAILABLE: tuple[type[Exception], ...] = (guardrail.Unavailable,) if guardrail else ()
# The answer to a call the guardrail could not check (fail closed).
UNAVAILABLE_MESSAGE = "the content check is unavailable; try again later"
# How long SIGTERM waits for requests in flight (ECS gives 30 s before SIGKILL).
DRAIN_SECONDS = 20


@dataclass(frozen=True)
class Response:
    """What a route answers: an HTTP status and a JSON body."""

    status: int
    body: Mapping[str, Any] = field(default_factory=dict)


# A POST route: (request body, request headers) -> response.
Route = Callable[[bytes, Mapping[str, str]], Response]


class ModelService:
    """Readiness and predictions, apart from HTTP so they can be tested and reused (worker)."""

    def __init__(
        self,
        settings: Settings,
        loader: Callable[[], predictor.Predictor] | None = None,
        *,
        guard: Any = None,
        policy: Any = None,
    ) -> None:
        """``guard``: the self-hosted hook (guardrail.Guardrail); ``policy``: the guardrail's
        config (guardrail.Config: the blocked messages), both only when the stack serves an
        LLM (:func:`guardrail_for` builds them from the environment)."""
        self.settings = settings
        self.guard = guard
        self.policy = policy
        if policy is None and guardrail is not None:  # the messages' defaults
            self.policy = guard.config if guard is not None else guardrail.Config()
        # Where blocked calls are counted (make_server sets the server's recorder).
        self.recorder: telemetry.Recorder = telemetry.NO_TELEMETRY
        self._loader = loader or (lambda: predictor.load(settings.load_seconds))
        self._model: predictor.Predictor | None = None
        self._loaded = threading.Event()
        self._draining = threading.Event()
        self._failure: str | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model (blocking). A failure keeps readiness at 503 and is logged."""
        started = time.monotonic()
        try:
            self._model = self._loader()
        except Exception as exc:  # any loading error: stay unready, never serve half a model
            self._failure = f"{type(exc).__name__}: {exc}"
            log("model_load_failed", severity="ERROR", error=self._failure)
            return
        self._loaded.set()
        log(
            "model_ready",
            model=self.settings.model_name,
            version=self.settings.model_version,
            load_ms=round((time.monotonic() - started) * 1000, 1),
        )

    def start_loading(self) -> threading.Thread:
        """Load in the background, so the port answers (503) while weights load."""
        thread = threading.Thread(target=self.load, name="model-load", daemon=True)
        thread.start()
        return thread

    def drain(self) -> None:
        """Stop reporting ready (SIGTERM): load balancers take the instance out of rotation."""
        self._draining.set()

    @property
    def ready(self) -> bool:
        """True once the model is loaded and until draining starts."""
        return self._loaded.is_set() and not self._draining.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Block until loaded (tests, the worker); False on timeout."""
        return self._loaded.wait(timeout)

    @property
    def model(self) -> predictor.Predictor:
        """The loaded model; raises RuntimeError before it is loaded."""
        if self._model is None:
            raise RuntimeError("the model is not loaded")
        return self._model

    # -- routes ---------------------------------------------------------------------------
    def health(self) -> Response:
        """Readiness: 200 only when the model is loaded and the server is not draining."""
        identity = {"model": self.settings.model_name, "version": self.settings.model_version}
        if self.ready:
            return Response(200, {"status": "ready", **identity})
        if self._failure is not None:
            return Response(503, {"status": "failed", **identity})
        state = "draining" if self._draining.is_set() else "loading"
        return Response(503, {"status": state, **identity})

    def predict(self, body: bytes, _headers: Mapping[str, str] | None = None) -> Response:
        """Score ``{"input": text}`` or ``{"instances": [text | {"input": text}, ...]}``."""
        if not self.ready:
            return Response(503, {"error": "the model is not ready"})
        if self.settings.fail_predictions:
            return Response(500, {"error": "failing on purpose: MODEL_FAIL_PREDICTIONS (drill)"})
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Response(400, {"error": "the body is not JSON"})
        identity = {"model": self.settings.model_name, "version": self.settings.model_version}
        try:
            if isinstance(request, dict) and "instances" in request:
                instances = request["instances"]
                if not isinstance(instances, list) or not instances:
                    raise predictor.InputError("instances must be a non-empty list")
                return Response(200, {"predictions": [self._one(item) for item in instances]})
            if isinstance(request, dict) and "input" in request:
                return Response(200, {**self._answer(request["input"]), **identity})
        except predictor.InputError as exc:
            return Response(400, {"error": str(exc)})
        except _BLOCKED as exc:  # a prompt (a response is withheld in _answer)
            self._blocked(exc)
            return Response(400, {"error": self.policy.blocked_input_message, "blocked": "prompt"})
        except _UNAVAILABLE as exc:
            log(
                guardrail.UNAVAILABLE_EVENT,
                severity="ERROR",
                event=guardrail.UNAVAILABLE_EVENT,
                cause=str(exc),
                action="refused (fail closed)",
            )
            return Response(503, {"error": UNAVAILABLE_MESSAGE})
        return Response(400, {"error": 'expected {"input": ...} or {"instances": [...]}'})

    def _one(self, item: object) -> dict[str, object]:
        text = item.get("input") if isinstance(item, dict) else item
        return self._answer(text)

    def _answer(self, text: object) -> dict[str, object]:
        """One prediction as JSON: the prompt checked before the model, the answer after it
        (an answer the guardrail withholds becomes the blocked-output message)."""
        if self.guard is not None and isinstance(text, str):
            text = self.guard.check_prompt(text)
        try:
            answer = self.model.predict(text)
            shown = answer.as_dict()
            if self.guard is not None and isinstance(shown.get("prediction"), str):
                shown["prediction"] = self.guard.check_response(shown["prediction"])
        except _BLOCKED as exc:
            if getattr(exc, "direction", None) != "response":
                raise
            self._blocked(exc)
            return {"prediction": self.policy.blocked_output_message, "blocked": "response"}
        return shown

    def _blocked(self, exc: Exception) -> None:
        """One log line and one count per blocked call: direction and reasons, never text."""
        direction = str(getattr(exc, "direction", "prompt"))
        log(
            guardrail.BLOCKED_EVENT,
            severity="WARNING",
            event=guardrail.BLOCKED_EVENT,
            direction=direction,
            reasons=list(getattr(exc, "reasons", ())),
        )
        self.recorder.blocked(direction)


def guardrail_for(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """(hook, config) for :class:`ModelService` from the environment: (None, None) without an
    LLM; the hook is None for a hosted model (its service checks). An LLM stack whose image
    has no hook refuses to start rather than serve unchecked."""
    if not settings.llm:
        return None, None
    if guardrail is None:
        raise RuntimeError("GUARDRAIL_CONFIG is set but this image has no model/guardrail.py")
    return guardrail.from_env(env), guardrail.load_config(env)


def _handler(
    service: ModelService, post_routes: Mapping[str, Route], recorder: telemetry.Recorder
) -> type[BaseHTTPRequestHandler]:
    settings = service.settings

    class Handler(BaseHTTPRequestHandler):
        server_version = "model"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in settings.health_paths:
                self._answer(service.health(), quiet=True)
            elif path in post_routes:
                self._answer(Response(405, {"error": "use POST"}))
            else:
                self._answer(Response(404, {"error": f"no route GET {path}"}))

        def do_POST(self) -> None:
            started = time.monotonic()
            path = self.path.split("?", 1)[0]
            route = post_routes.get(path)
            if route is None:
                code = 405 if path in settings.health_paths else 404
                self._answer(Response(code, {"error": f"no route POST {path}"}))
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._answer(Response(411, {"error": "Content-Length is required"}), close=True)
                return
            if int(length) > settings.max_body_bytes:
                self._answer(Response(413, {"error": "the body is too large"}), close=True)
                return
            body = self.rfile.read(int(length))
            try:
                response = route(body, dict(self.headers.items()))
            except Exception as exc:  # a route's bug is this request's 500, not the server's end
                log("route_failed", severity="ERROR", path=path, error=repr(exc))
                response = Response(500, {"error": "internal error"})
            # Counted before the answer leaves: whoever reads the metrics after getting the
            # answer (a scrape, a test) sees this request already.
            recorder.request(
                method="POST",
                path=path,
                status=response.status,
                duration_ms=(time.monotonic() - started) * 1000,
            )
            self._answer(response)

        def _answer(self, response: Response, *, quiet: bool = False, close: bool = False) -> None:
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Model-Version", settings.model_version)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            # Probes arrive every few seconds: log them only when they are not a plain 200.
            # Logged before the answer leaves, so the log is complete once the caller has it.
            if not (quiet and response.status == 200):
                log(
                    "request",
                    method=self.command,
                    path=self.path.split("?", 1)[0],
                    status=response.status,
                    variant=settings.variant,
                )
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Silence http.server's own stderr lines: requests are logged as JSON above."""

    return Handler


class ModelHTTPServer(ThreadingHTTPServer):
    """Threads per request; closing waits for requests in flight (graceful stop)."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True


def make_server(
    service: ModelService,
    *,
    extra_routes: Mapping[str, Route] | None = None,
    recorder: telemetry.Recorder | None = None,
) -> ModelHTTPServer:
    """Bind the server to the settings' host and port (0: a free port) without serving yet.

    ``extra_routes`` add or replace POST routes (the event-driven worker on Cloud Run takes
    Pub/Sub pushes on the predict path).
    """
    settings = service.settings
    routes: dict[str, Route] = {path: service.predict for path in settings.predict_paths}
    routes.update(extra_routes or {})
    if recorder is not None:
        service.recorder = recorder
    handler = _handler(service, routes, recorder or telemetry.NO_TELEMETRY)
    return ModelHTTPServer((settings.host, settings.port), handler)


def serve(
    settings: Settings,
    *,
    extra_routes: Callable[[ModelService], Mapping[str, Route]] | None = None,
) -> int:
    """Load the model, serve until SIGTERM or SIGINT, drain, and return the exit code."""
    guard, policy = guardrail_for(settings)
    service = ModelService(settings, guard=guard, policy=policy)
    recorder = telemetry.start(settings)
    server = make_server(
        service,
        extra_routes=extra_routes(service) if extra_routes else None,
        recorder=recorder,
    )
    host, port = server.server_address[:2]
    log(
        "listening",
        host=str(host),
        port=port,
        health=settings.health_path,
        predict=settings.predict_path,
        model=settings.model_name,
        version=settings.model_version,
    )
    service.start_loading()

    def stop(signum: int, _frame: object) -> None:
        log("stopping", signal=signal.Signals(signum).name)
        service.drain()
        # shutdown() waits for serve_forever to return, so it cannot run on the serving thread.
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        waiter = threading.Thread(target=server.server_close, name="drain", daemon=True)
        waiter.start()
        waiter.join(DRAIN_SECONDS)
        recorder.flush()
    log("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m model.server [serve]``: SageMaker starts the image with ``serve``."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["serve"]):
        print("usage: python -m model.server [serve]", file=sys.stderr)
        return 2
    return serve(Settings.from_env())


if __name__ == "__main__":
    sys.exit(main())
