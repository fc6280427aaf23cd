"""Start the UNCHANGED policy pack the way the Pulumi CLI does and talk to it over gRPC.

The CLI starts a Python pack as ``python -u -m pulumi.policy <engine address> <pack folder>``
from inside the pack folder; the pack prints its port on the first stdout line and then answers
the analyzer protocol (``pulumi.runtime.proto.analyzer_pb2``). This module does exactly that, so
what the pack decides here is what it decides in ``pulumi preview``. One process serves every
stack of a run. By default the process runs pulumi-policy's entry point through
:mod:`policies.runner.pack_host`, which spares the analyzer converting each request's properties
once per rule and gives the rules the same proxies; ``AIDEPLOY_PLAIN_PACK=1`` starts the
CLI's exact command instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from offline.program import ProjectError
from policies.runner.pack_config import RuleConfig

# The engine address the pack is given. A Python pack only logs to it; the CLI passes its own.
ENGINE_ADDRESS = "127.0.0.1:0"
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 120.0
# Large stacks produce large AnalyzeStack requests; match the pack's own limits.
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
]

LEVEL_NAMES: dict[int, str] = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
LEVEL_VALUES: dict[str, int] = {name: value for value, name in LEVEL_NAMES.items()}
SEVERITY_NAMES: dict[int, str] = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "unspecified",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


class PackError(ProjectError):
    """The pack could not be started or stopped answering."""


@dataclass(frozen=True)
class RuleInfo:
    """What the pack says about one rule in GetAnalyzerInfo."""

    name: str
    description: str
    level: str
    severity: str
    tags: tuple[str, ...]
    remediation: str
    kind: str  # "resource" or "stack"
    config_schema: Mapping[str, Any] = field(default_factory=dict)
    url: str = ""  # the help URL: the first benchmark control the rule follows


@dataclass(frozen=True)
class PackInfo:
    """The pack's name, version, rules (in pack order) and initial config."""

    name: str
    version: str
    rules: tuple[RuleInfo, ...]
    initial_config: Mapping[str, Any]

    def rule(self, name: str) -> RuleInfo | None:
        """One rule by name."""
        return next((r for r in self.rules if r.name == name), None)


@dataclass(frozen=True)
class Diagnostic:
    """One violation as the pack reported it."""

    policy: str
    level: str
    urn: str
    message: str
    description: str


def _info_from_proto(info: Any) -> PackInfo:
    rules = []
    for p in info.policies:
        schema = MessageToDict(p.configSchema) if p.HasField("configSchema") else {}
        kind = "stack" if p.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource"
        rules.append(
            RuleInfo(
                name=p.name,
                description=p.description,
                level=LEVEL_NAMES.get(p.enforcementLevel, "advisory"),
                severity=SEVERITY_NAMES.get(p.severity, "unspecified"),
                tags=tuple(p.tags),
                remediation=p.remediation_steps,
                kind=kind,
                config_schema=schema,
                url=p.url,
            )
        )
    initial: dict[str, Any] = {}
    for name, cfg in info.initialConfig.items():
        entry: dict[str, Any] = MessageToDict(cfg.properties) if cfg.HasField("properties") else {}
        entry["enforcementLevel"] = LEVEL_NAMES.get(cfg.enforcementLevel, "advisory")
        initial[name] = entry
    return PackInfo(info.name, info.version, tuple(rules), initial)


PLAIN_PACK_ENV = "AIDEPLOY_PLAIN_PACK"


def _host() -> list[str]:
    """How the pack's process starts: ``-m pulumi.policy`` as the CLI does, or (unless
    ``AIDEPLOY_PLAIN_PACK=1``) the same through :mod:`policies.runner.pack_host`, which converts
    each request's properties once instead of once per rule."""
    if os.environ.get(PLAIN_PACK_ENV, "") not in ("", "0"):
        return ["-m", "pulumi.policy"]
    return ["-c", Path(__file__).with_name("pack_host.py").read_text(encoding="utf-8")]


def _drain(stream: IO[bytes], sink: list[str]) -> None:
    """Keep reading a pipe so the pack never blocks on a full buffer; keep the tail for errors."""
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode(errors="replace").rstrip())
        del sink[:-50]


class PackProcess:
    """One running pack process and a stub connected to it. Use as a context manager."""

    def __init__(self, pack_dir: Path, python: str | None = None) -> None:
        self.pack_dir = pack_dir.resolve()
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PackError(f"{self.pack_dir}: no PulumiPolicy.yaml; not a policy pack")
        self.python = python or sys.executable
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._info: PackInfo | None = None
        self._stderr: list[str] = []
        self._port_line: list[str] = []
        self._ready = threading.Event()

    def start(self) -> PackProcess:
        """Spawn the pack; returns at once (the port is awaited on first use)."""
        if self._proc is not None:
            return self
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            [self.python, "-u", *_host(), ENGINE_ADDRESS, str(self.pack_dir)],
            cwd=self.pack_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._read_port, args=(self._proc.stdout,), daemon=True).start()
        threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr), daemon=True).start()
        return self

    def _read_port(self, stdout: IO[bytes]) -> None:
        first = stdout.readline()
        self._port_line.append(first.decode(errors="replace").strip())
        self._ready.set()
        _drain(stdout, [])  # a rule that prints must not block the pack

    def _failure(self, what: str) -> PackError:
        tail = next((line for line in reversed(self._stderr) if line.strip()), "")
        detail = f": {tail}" if tail else ""
        return PackError(f"the policy pack at {self.pack_dir} {what}{detail}")

    @property
    def stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        """The connected stub (starting the pack and waiting for its port if needed)."""
        if self._stub is None:
            self.start()
            if not self._ready.wait(START_TIMEOUT_S):
                raise self._failure(f"did not start within {START_TIMEOUT_S:.0f} s")
            line = self._port_line[0] if self._port_line else ""
            if not line.isdigit():
                assert self._proc is not None
                self._proc.wait(timeout=10)
                raise self._failure("failed to start")
            self._channel = grpc.insecure_channel(f"127.0.0.1:{line}", options=_CHANNEL_OPTIONS)
            self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        return self._stub

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise self._failure(f"failed in {method} ({exc.code().name})") from exc

    def info(self) -> PackInfo:
        """GetAnalyzerInfo, asked once per process."""
        if self._info is None:
            self._info = _info_from_proto(self._call("GetAnalyzerInfo", empty_pb2.Empty()))
        return self._info

    def configure(self, effective: Mapping[str, RuleConfig]) -> None:
        """Configure: every rule's reconciled level and properties, as the engine sends them."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, rule in effective.items():
            props = struct_pb2.Struct()
            props.update(dict(rule.properties))
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(
                    enforcementLevel=LEVEL_VALUES[rule.level],  # type: ignore[arg-type]
                    properties=props,
                )
            )
        self._call("Configure", request)

    def configure_stack(
        self, *, project: str, stack: str, config: Mapping[str, str], secret_keys: Iterable[str]
    ) -> None:
        """ConfigureStack: the stack being analysed, as in a preview (dry run)."""
        self._call(
            "ConfigureStack",
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack,
                project=project,
                organization="organization",
                dry_run=True,
                config=dict(config),
                config_secret_keys=list(secret_keys),
            ),
        )

    def analyze_async(self, request: Any) -> Any:
        """Send one Analyze without waiting: the pack works while we go on (see result)."""
        return self.stub.Analyze.future(request, timeout=CALL_TIMEOUT_S)

    def result(self, call: Any, method: str) -> Any:
        """The answer of an asynchronous call, or a PackError."""
        try:
            return call.result()
        except grpc.RpcError as exc:
            raise self._failure(f"failed in {method} ({exc.code().name})") from exc

    def analyze_many(self, requests: list[Any]) -> list[Any]:
        """Analyze every request; sent concurrently so our side overlaps the pack's work."""
        calls = [self.analyze_async(r) for r in requests]
        return [self.result(c, "Analyze") for c in calls]

    def remediate(self, request: Any) -> Any:
        """Remediate one resource."""
        return self._call("Remediate", request)

    def analyze_stack(self, request: Any) -> Any:
        """AnalyzeStack over every resource of the stack."""
        return self._call("AnalyzeStack", request)

    def close(self) -> None:
        """Stop the pack process and the channel."""
        if self._channel is not None:
            self._channel.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> PackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def diagnostics(response: Any) -> list[Diagnostic]:
    """The violations in an AnalyzeResponse."""
    found = []
    for d in response.diagnostics:
        message = d.message
        # The pack prefixes every message with the rule's description; keep the specific part.
        if d.description and message.startswith(d.description):
            message = message[len(d.description) :].lstrip("\n") or d.description
        found.append(
            Diagnostic(
                policy=d.policyName,
                level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
                urn=d.urn,
                message=message,
                description=d.description,
            )
        )
    return found
