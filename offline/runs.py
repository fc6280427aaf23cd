"""Run the stacks' programs in worker processes, streaming each resource back as it registers.

The check's own process talks to the pack; the programs run in a process forked from it before
it starts any thread or gRPC channel. That process runs the first stack (importing the cloud
SDK modules the program uses), then forks one process per remaining stack, so those start with
the SDK already imported and run side by side on the machine's cores. Each program is the same
``run_stack`` call as in one process, started from the same state (nothing of the project stays
imported between stacks); its resources come back through a pipe, in order, as they register.

Where ``os.fork`` is missing or unsafe (Windows, macOS), or with ``AIDEPLOY_CHECK_WORKERS=1``,
the programs run one after the other in this process, as before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from offline.capture import CapturedResource, ProgramError
from offline.program import StackRun, run_stack

WORKERS_ENV = "AIDEPLOY_CHECK_WORKERS"  # 1: every program in this process, one after the other

OnResource = Callable[[str, CapturedResource], None]


def forking() -> bool:
    """Whether programs run in forked worker processes here."""
    if os.environ.get(WORKERS_ENV, "").strip() == "1":
        return False
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def _workers() -> int:
    try:
        wanted = int(os.environ.get(WORKERS_ENV, "") or 0)
    except ValueError:
        wanted = 0
    return wanted if wanted > 0 else max(1, os.cpu_count() or 1)


class _LazyInputs(Mapping[str, Any]):
    """A resource's inputs as Python values, decoded from its request only if asked for."""

    def __init__(self, request: Any) -> None:
        self._request = request
        self._value: Mapping[str, Any] | None = None

    def _values(self) -> Mapping[str, Any]:
        if self._value is None:
            from pulumi.runtime import rpc

            self._value = rpc.deserialize_properties(self._request.object)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._values()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def _encode(r: CapturedResource) -> tuple[Any, ...]:
    request = r.request.SerializeToString() if r.request is not None else None
    inputs = None if request is not None else dict(r.inputs)
    return (
        r.type,
        r.name,
        r.urn,
        r.parent,
        r.custom,
        r.dependencies,
        dict(r.property_dependencies),
        r.protect,
        r.provider,
        request,
        inputs,
    )


def _decode(item: tuple[Any, ...]) -> CapturedResource:
    from pulumi.runtime.proto import resource_pb2

    type_, name, urn, parent, custom, deps, prop_deps, protect, provider, raw, inputs = item
    request = resource_pb2.RegisterResourceRequest.FromString(raw) if raw is not None else None
    return CapturedResource(
        type=type_,
        name=name,
        urn=urn,
        parent=parent,
        custom=custom,
        inputs=_LazyInputs(request) if request is not None else inputs,
        dependencies=deps,
        property_dependencies=prop_deps,
        protect=protect,
        provider=provider,
        request=request,
    )


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else one line saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301  # nosec B301 - our own bytes
    except Exception:  # anything unpicklable is described instead
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return ProgramError(f"{type(exc).__name__}: {message}")
    return exc


def _run_in_child(project_dir: Path, stack: str, out: IO[bytes]) -> None:
    """Run one stack's program and stream what it registers (in a worker process)."""

    def send(message: tuple[str, Any]) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        run = run_stack(project_dir, stack, on_resource=lambda r: send(("resource", _encode(r))))
        try:
            outputs: Mapping[str, Any] = pickle.loads(pickle.dumps(dict(run.outputs)))  # noqa: S301  # nosec B301
        except Exception:  # exports that cannot cross a pipe are not needed
            outputs = {}
        summary = (run.project, run.stack, outputs, run.config, run.placeholder_secrets, run.notes)
        send(("done", summary))
    except BaseException as exc:  # every failure is the parent's to report
        send(("error", _portable(exc)))


def _exit_child(code: int) -> None:
    """Leave a worker process at once: flush the program's output, run no finalizer."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream has nothing to flush
            stream.flush()
    os._exit(code)


def _without_source_positions() -> None:
    """Skip the SDK's walk of the Python stack for every resource (in a worker process only).

    The SDK records where each resource was declared (``sourcePosition``, ``stackTrace`` of the
    RegisterResource request) for the engine's display; the analyzer protocol never carries
    them, so the check's verdict cannot depend on them, and the walk is a sixth of the time a
    program takes under mocks.
    """
    try:
        from pulumi.runtime import resource
        from pulumi.runtime.proto import source_pb2
    except ImportError:
        return
    if callable(getattr(resource, "_get_stack_trace", None)):
        setattr(resource, "_get_stack_trace", source_pb2.StackTrace)  # noqa: B010


def _supervise(project_dir: Path, stacks: Sequence[str], pipes: Sequence[int]) -> None:
    """The forked runner: the first stack here, then a process per remaining stack."""
    _without_source_positions()
    with os.fdopen(pipes[0], "wb") as out:
        _run_in_child(project_dir, stacks[0], out)
    running: list[int] = []
    limit = _workers()
    for stack, fd in zip(stacks[1:], pipes[1:], strict=True):
        if len(running) >= limit:
            os.waitpid(running.pop(0), 0)
        for s in (sys.stdout, sys.stderr):
            s.flush()
        pid = os.fork()
        if pid == 0:
            try:
                with os.fdopen(fd, "wb") as out:
                    _run_in_child(project_dir, stack, out)
            finally:
                _exit_child(0)
        os.close(fd)
        running.append(pid)
    for pid in running:
        os.waitpid(pid, 0)


class _Stream:
    """One stack's results as they arrive from its worker."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.done = threading.Event()
        self.run: StackRun | None = None
        self.error: BaseException | None = None


class ProgramRuns:
    """The programs of ``stacks``, run (see the module docstring) as soon as this is entered.

    ``on_resource(stack, resource)`` is called, from a reader thread, with each resource as it
    registers; :meth:`result` waits for one stack's run (raising its program's error).
    """

    def __init__(self, project_dir: Path, stacks: Sequence[str], on_resource: OnResource) -> None:
        self.project_dir = project_dir
        self.stacks = list(stacks)
        self.on_resource = on_resource
        self._streams = {s: _Stream(s) for s in self.stacks}
        self._pid: int | None = None
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> ProgramRuns:
        if self.stacks and forking():
            self._fork()
        return self

    def _fork(self) -> None:
        pipes = [os.pipe() for _ in self.stacks]
        for s in (sys.stdout, sys.stderr):
            s.flush()  # or the worker would write this process's buffered output again
        pid = os.fork()
        if pid == 0:  # the runner process
            code = 0
            try:
                os.setpgid(0, 0)  # its own group, so the check can stop it and its workers
                for read, _write in pipes:
                    os.close(read)
                _supervise(self.project_dir, self.stacks, [w for _r, w in pipes])
            except BaseException:  # reported through the pipes or not at all
                code = 1
            finally:
                _exit_child(code)
        self._pid = pid
        with contextlib.suppress(OSError):  # as the runner does itself: whichever runs first
            os.setpgid(pid, pid)
        for (read, write), stack in zip(pipes, self.stacks, strict=True):
            os.close(write)
            reader = threading.Thread(
                target=self._read,
                args=(os.fdopen(read, "rb"), self._streams[stack]),
                name=f"program-{stack}",
                daemon=True,
            )
            reader.start()
            self._readers.append(reader)

    def _read(self, source: IO[bytes], stream: _Stream) -> None:
        resources: list[CapturedResource] = []
        try:
            with source:
                while True:
                    try:
                        kind, payload = pickle.load(source)  # noqa: S301  # nosec B301 - our forked worker
                    except EOFError:
                        raise ProgramError(
                            f"the process running stack {stream.stack}'s program ended early"
                        ) from None
                    if kind == "resource":
                        resource = _decode(payload)
                        resources.append(resource)
                        self.on_resource(stream.stack, resource)
                    elif kind == "done":
                        project, stack, outputs, config, secrets, notes = payload
                        stream.run = StackRun(
                            project, stack, resources, outputs, config, secrets, notes
                        )
                        return
                    else:
                        raise payload
        except BaseException as exc:  # handed to whoever waits for the stack
            stream.error = exc
        finally:
            stream.done.set()

    def result(self, stack: str) -> StackRun:
        """The stack's run, once its program has ended (in this process when not forking)."""
        stream = self._streams[stack]
        if self._pid is None and not stream.done.is_set():
            try:
                stream.run = run_stack(
                    self.project_dir, stack, on_resource=lambda r: self.on_resource(stack, r)
                )
            except BaseException as exc:
                stream.error = exc
            stream.done.set()
        stream.done.wait()
        if stream.error is not None:
            raise stream.error
        assert stream.run is not None
        return stream.run

    def __exit__(self, *exc: object) -> None:
        if self._pid is None:
            return
        if exc[0] is not None:  # a stack failed or the check was interrupted: stop the rest
            with contextlib.suppress(OSError):
                os.killpg(self._pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)
        self._pid = None
