"""The offline check: run a stack's program under mocks, then let the UNCHANGED pack judge it.

For each stack this plays the engine's part of a ``pulumi preview --policy-pack``: it reconciles
the pack config, calls Configure and ConfigureStack, Remediate (only when a rule is set to
``remediate``) and Analyze for every custom resource, then AnalyzeStack with every resource and
its parent, dependencies and property dependencies. The verdict is the pack's alone: no rule is
imported here.
"""

from __future__ import annotations

import gc
import queue
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2

from offline.capture import CapturedResource
from offline.program import (
    ProjectError,
    StackRun,
    load_project,
    run_stack,
    stack_config,
    stack_file,
    stack_names,
)
from offline.runs import ProgramRuns
from policies.runner.analyzer import Diagnostic, PackInfo, PackProcess, diagnostics
from policies.runner.pack_config import (
    RuleConfig,
    Waiver,
    load_config_file,
    reconcile,
    waivers,
)

# The pack this package belongs to: the repository's, or the copy vendored in a generated project.
OWN_PACK_DIR = Path(__file__).resolve().parents[1]
FALLBACK_ENVIRONMENT = "prod"  # an unknown stack name is held to the strictest level

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Violation:
    """One violation, in the shape of the ``aideploy check --format json`` contract."""

    policy: str
    level: str
    resource_type: str
    resource_name: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        """Exactly the contract's fields."""
        return {
            "policy": self.policy,
            "level": self.level,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "urn": self.urn,
            "message": self.message,
        }


@dataclass(frozen=True)
class StackReport:
    """Everything one stack's check found."""

    project: str
    stack: str
    resources: int
    violations: tuple[Violation, ...]
    waivers: tuple[Waiver, ...]
    pack: PackInfo
    stack_file: Path
    config_file: Path | None
    notes: tuple[str, ...] = field(default=())

    @property
    def summary(self) -> dict[str, int]:
        """Violations per level."""
        return {
            "mandatory": sum(v.level == "mandatory" for v in self.violations),
            "advisory": sum(v.level == "advisory" for v in self.violations),
        }

    @property
    def passed(self) -> bool:
        """No mandatory violation."""
        return self.summary["mandatory"] == 0

    def to_json(self) -> dict[str, Any]:
        """Exactly the ``aideploy check --format json`` contract."""
        return {
            "stack": self.stack,
            "resources": self.resources,
            "violations": [v.to_json() for v in self.violations],
            "summary": self.summary,
        }


def default_pack_dir(project_dir: Path) -> Path:
    """A generated project's vendored pack when it carries one (its bootstrap program uses the
    project's), else this package's pack."""
    for root in (project_dir, project_dir.parent):
        vendored = root / "policies"
        if (root / ".aideploy.json").is_file() and (vendored / "PulumiPolicy.yaml").is_file():
            return vendored.resolve()
    return OWN_PACK_DIR


# A generated project's bootstrap program (Pulumi project `<name>-bootstrap`) is judged with the
# pack's bootstrap config: prod's levels and the bootstrap's own declared waivers.
BOOTSTRAP_CONFIG = "bootstrap.json"


def bootstrap_config_file(project_dir: Path, pack_dir: Path) -> Path | None:
    """The pack's bootstrap config when ``project_dir`` is a generated bootstrap program."""
    name = str(load_project(project_dir).get("name", ""))
    path = pack_dir / "config" / BOOTSTRAP_CONFIG
    return path if name.endswith("-bootstrap") and path.is_file() else None


def config_file_for(pack_dir: Path, stack: str) -> tuple[Path, str | None]:
    """The stack's environment config in the pack, and a note when it fell back to prod."""
    path = pack_dir / "config" / f"{stack}.json"
    if path.is_file():
        return path, None
    fallback = pack_dir / "config" / f"{FALLBACK_ENVIRONMENT}.json"
    note = f"no policy config for stack {stack!r}: using {FALLBACK_ENVIRONMENT}'s levels"
    return fallback, note


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _seconds(duration: str) -> float:
    """A Go duration string of a RegisterResourceRequest (``"5m30s"``) in seconds."""
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_RE.findall(duration or ""))


def _properties(r: CapturedResource) -> struct_pb2.Struct:
    """The resource's inputs as the engine sends them: the request's own ``object`` Struct."""
    if r.request is not None:
        obj: struct_pb2.Struct = r.request.object
        return obj
    props = struct_pb2.Struct()
    props.update(dict(r.inputs))
    return props


def _options(r: CapturedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    req = r.request
    if req is None:
        return analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent)
    timeouts = None
    if req.HasField("customTimeouts"):
        t = req.customTimeouts
        timeouts = analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=_seconds(t.create), update=_seconds(t.update), delete=_seconds(t.delete)
        )
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=req.protect,
        ignoreChanges=list(req.ignoreChanges),
        deleteBeforeReplace=req.deleteBeforeReplace,
        deleteBeforeReplaceDefined=req.deleteBeforeReplaceDefined,
        additionalSecretOutputs=list(req.additionalSecretOutputs),
        aliases=list(req.aliasURNs),
        customTimeouts=timeouts,
        parent=req.parent,
    )


def _provider(
    r: CapturedResource, by_urn: Mapping[str, CapturedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The explicit provider a resource names (``urn::id``), when the program registered it."""
    # A provider reference is "<urn>::<id>" and URNs themselves contain "::": cut at the last.
    urn = r.provider.rsplit("::", 1)[0] if r.provider else ""
    provider = by_urn.get(urn)
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_properties(provider), urn=provider.urn, name=provider.name
    )


def stack_urn(project: str, stack: str) -> str:
    """The root stack resource's URN."""
    return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"


def _violation(
    d: Diagnostic, target: CapturedResource | None, project: str, stack: str
) -> Violation:
    if target is None:  # a stack rule that named no resource: it is about the stack
        return Violation(
            d.policy,
            d.level,
            "pulumi:pulumi:Stack",
            f"{project}-{stack}",
            d.urn or stack_urn(project, stack),
            d.message,
        )
    return Violation(d.policy, d.level, target.type, target.name, target.urn, d.message)


_LEVEL_ORDER = {"mandatory": 0, "advisory": 1}


class ResourceFeed:
    """Resources of one stack, handed from the program's thread to the analysis thread as they
    register, so the pack judges them while the program is still running (as the engine does
    during a preview)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[CapturedResource | None] = queue.SimpleQueue()
        self.failed = False

    def put(self, resource: CapturedResource) -> None:
        """One more resource registered."""
        self._queue.put(resource)

    def close(self, *, failed: bool = False) -> None:
        """The program ended (``failed``: with an error, so nothing will be reported)."""
        self.failed = failed
        self._queue.put(None)

    def __iter__(self) -> Iterator[CapturedResource]:
        while (item := self._queue.get()) is not None:
            yield item


def analyze_resources(
    pack: PackProcess,
    resources: Iterable[CapturedResource],
    effective: Mapping[str, RuleConfig],
    *,
    project: str,
    stack: str,
) -> tuple[list[Violation], list[str]]:
    """Remediate/Analyze each custom resource, then AnalyzeStack; (violations, notes).

    ``resources`` may be a :class:`ResourceFeed`: each custom resource is sent to the pack as
    soon as it arrives and the answers are collected at the end. With a rule at ``remediate``
    level the engine remediates before it analyses, so the resources are gathered first.
    """
    remediate = any(rule.level == "remediate" for rule in effective.values())
    seen: list[CapturedResource] = []
    by_urn: dict[str, CapturedResource] = {}
    props: dict[str, struct_pb2.Struct] = {}
    notes: list[str] = []

    def request(r: CapturedResource) -> analyzer_pb2.AnalyzeRequest:
        return analyzer_pb2.AnalyzeRequest(
            type=r.type,
            properties=props[r.urn],
            urn=r.urn,
            name=r.name,
            options=_options(r),
            provider=_provider(r, by_urn),
        )

    in_flight: list[tuple[CapturedResource, Any]] = []
    for r in resources:
        seen.append(r)
        by_urn[r.urn] = r
        props[r.urn] = _properties(r)
        if r.custom and not remediate:
            in_flight.append((r, pack.analyze_async(request(r))))

    if remediate:
        for r in seen:
            if not r.custom:
                continue
            for remediation in pack.remediate(request(r)).remediations:
                if remediation.HasField("properties"):
                    props[r.urn] = remediation.properties
                    notes.append(f"{remediation.policyName} remediated {r.name}")
                if remediation.diagnostic:
                    notes.append(f"{remediation.policyName}: {remediation.diagnostic}")
            in_flight.append((r, pack.analyze_async(request(r))))

    violations: list[Violation] = []
    for r, answer in in_flight:
        for d in diagnostics(pack.result(answer, "Analyze")):
            violations.append(_violation(d, by_urn.get(d.urn, r), project, stack))

    stack_request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=props[r.urn],
                urn=r.urn,
                name=r.name,
                options=_options(r),
                provider=_provider(r, by_urn),
                parent=r.parent,
                dependencies=list(r.dependencies),
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
                    for key, urns in r.property_dependencies.items()
                },
            )
            for r in seen
        ]
    )
    for d in diagnostics(pack.analyze_stack(stack_request)):
        violations.append(_violation(d, by_urn.get(d.urn), project, stack))
    violations.sort(key=lambda v: (_LEVEL_ORDER.get(v.level, 2), v.policy, v.resource_name))
    return violations, notes


def effective_config(info: PackInfo, config_file: Path | None) -> dict[str, RuleConfig]:
    """Reconcile the pack's defaults, its initial config and the user's file."""
    rules = {r.name: (r.level, r.config_schema) for r in info.rules}
    user = load_config_file(config_file) if config_file is not None else None
    source = str(config_file) if config_file is not None else "policy config"
    return reconcile(rules, info.initial_config, user, source=source)


def _config_for(
    pack: PackProcess, stack: str, config_file: Path | None
) -> tuple[Path | None, list[str]]:
    """The config file to use for ``stack`` and any note about the choice."""
    if config_file is not None:
        return config_file, []
    path, note = config_file_for(pack.pack_dir, stack)
    # A pack without config files runs at its own defaults.
    return (path if path.is_file() else None), ([note] if note else [])


@dataclass(frozen=True)
class _Verdict:
    """What the pack said about one stack, before the program's run is known."""

    info: PackInfo
    effective: Mapping[str, RuleConfig]
    config_file: Path | None
    violations: list[Violation]
    config_notes: list[str]
    remediation_notes: list[str]


def _judge(
    pack: PackProcess,
    resources: Iterable[CapturedResource],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: Iterable[str],
    config_file: Path | None,
) -> _Verdict:
    """Configure the pack for one stack, then have it judge ``resources``."""
    config_file, notes = _config_for(pack, stack, config_file)
    info = pack.info()
    effective = effective_config(info, config_file)
    pack.configure(effective)
    pack.configure_stack(project=project, stack=stack, config=config, secret_keys=secret_keys)
    violations, more = analyze_resources(pack, resources, effective, project=project, stack=stack)
    return _Verdict(info, effective, config_file, violations, notes, more)


def _report(project_dir: Path, run: StackRun, verdict: _Verdict) -> StackReport:
    names = {r.name for r in run.resources}
    return StackReport(
        project=run.project,
        stack=run.stack,
        resources=sum(1 for r in run.resources if r.custom),
        violations=tuple(verdict.violations),
        waivers=tuple(waivers(verdict.effective, names)),
        pack=verdict.info,
        stack_file=stack_file(project_dir.resolve(), run.stack),
        config_file=verdict.config_file,
        notes=(*verdict.config_notes, *run.notes, *verdict.remediation_notes),
    )


def analyze_run(
    pack: PackProcess,
    project_dir: Path,
    run: StackRun,
    *,
    config_file: Path | None = None,
    progress: Progress | None = None,
) -> StackReport:
    """Have the pack check what one stack's program registered."""
    if progress:
        progress(f"checking {len(run.resources)} resources of stack {run.stack}")
    verdict = _judge(
        pack,
        run.resources,
        project=run.project,
        stack=run.stack,
        config=run.config,
        secret_keys=run.placeholder_secrets,
        config_file=config_file,
    )
    return _report(project_dir, run, verdict)


def check_stack(
    pack: PackProcess,
    project_dir: Path,
    stack: str,
    *,
    config_file: Path | None = None,
    progress: Progress | None = None,
) -> StackReport:
    """Run one stack's program and have the pack check what it registered."""
    if progress:
        progress(f"running the program for stack {stack}")
    run = run_stack(project_dir, stack)
    return analyze_run(pack, project_dir, run, config_file=config_file, progress=progress)


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for one check.

    Importing a cloud SDK and registering resources allocate millions of objects that live
    until the process ends; the collector rescans them again and again (measured: a three-stack
    AWS project ran 2.5x slower with it). Reference counting still frees everything else, and
    the collector's previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def resolve_stacks(project_dir: Path, stack: str | None, all_stacks: bool) -> list[str]:
    """The stacks to check: one named stack, or every stack file (``--all``)."""
    load_project(project_dir)
    if all_stacks:
        if stack is not None:
            raise ProjectError("give either --stack or --all, not both")
        names = stack_names(project_dir)
        if not names:
            raise ProjectError(f"{project_dir}: no stack files (Pulumi.<stack>.yaml) found")
        return names
    if stack is None:
        raise ProjectError("name a stack with --stack, or check every stack with --all")
    return [stack]


def check_project(
    project_dir: Path,
    stacks: Iterable[str],
    *,
    config_file: Path | None = None,
    pack_dir: Path | None = None,
    progress: Progress | None = None,
) -> list[StackReport]:
    """Check the given stacks with one pack process started once for all of them.

    Work overlaps on the machine's cores: the programs run in worker processes
    (:mod:`offline.runs`: the first stack, then the others side by side, starting with
    the cloud SDK imported), the pack boots while the first program runs, and it judges each
    resource (in its own process) while the programs are still registering the next ones; a
    thread here feeds it, stack after stack, in order, so the reports are those of one stack
    after the other.
    """
    project_dir = project_dir.resolve()
    pack_dir = pack_dir or default_pack_dir(project_dir)
    config_file = config_file or bootstrap_config_file(project_dir, pack_dir)
    if config_file is not None:
        load_config_file(config_file)  # a missing or malformed file fails before any work
    say = progress or (lambda _msg: None)
    stacks = list(stacks)
    project = str(load_project(project_dir)["name"])
    configs = {stack: stack_config(project_dir, stack) for stack in stacks}
    feeds = {stack: ResourceFeed() for stack in stacks}
    say("starting the policy pack")
    # The programs' processes are forked first, before this one starts a thread or a channel.
    with (
        _without_cyclic_gc(),
        ProgramRuns(project_dir, stacks, lambda stack, r: feeds[stack].put(r)) as runs,
        PackProcess(pack_dir) as pack,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyze") as analyzer,
    ):
        pending: list[tuple[StackRun, Future[_Verdict]]] = []
        verdicts: list[Future[_Verdict]] = []
        for stack in stacks:
            config, secrets = configs[stack]
            verdicts.append(
                analyzer.submit(
                    _judge,
                    pack,
                    feeds[stack],
                    project=project,
                    stack=stack,
                    config=config,
                    secret_keys=secrets,
                    config_file=config_file,
                )
            )
        try:
            for stack, verdict in zip(stacks, verdicts, strict=True):
                say(f"running the program for stack {stack} and checking its resources")
                try:
                    run = runs.result(stack)
                except BaseException:
                    feeds[stack].close(failed=True)
                    raise
                feeds[stack].close()
                pending.append((run, verdict))
        except BaseException:
            for verdict in verdicts:
                verdict.cancel()  # the stacks not judged yet never will be
            for feed in feeds.values():  # and the one being judged ends with what it has
                feed.close(failed=True)
            raise
        say("waiting for the policy pack")
        return [_report(project_dir, run, verdict.result()) for run, verdict in pending]
