"""Environment parity: do two stacks differ only where stacks/parity.yaml allows?

A release moves dev -> staging -> prod one promotion at a time, so the promotable settings (the
model version and image, the candidate) differ between neighbours while a release is in flight:
those differences are reported as releases in flight, never as drift (the release pull request
that records a new image in dev must pass this check), their values are masked in the
resource fingerprints like the stack's name, and resources a release in flight brings (a
candidate's own workload) are no drift either.

Two views, because either alone misses drift:

* **config**: the stack files, compared key by key; a difference outside the declared ones
  (``may_differ``: capacity, retention, ...) is drift;
* **resources**: each stack's program run under Pulumi's mocks (the offline runner), reduced to
  a normalised fingerprint per resource -- its type, its logical name and its security-relevant
  settings (encryption keys present, TLS versions, public-access flags, model image/version).
  Sizing, retention, names and ids are left out, so declared differences never show, while a
  hand edit in ``__main__.py`` or a component that behaves differently per environment does.

This module depends only on PyYAML, ``stacks.profiles`` and the offline runner, so a generated
project vendors it and runs ``python -m stacks.parity_check`` in its own pipeline, without
aideploy installed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from offline.capture import ProgramError
from offline.program import (
    ProjectError,
    StackRun,
    load_project,
    run_stack,
    stack_file,
    stack_names,
)
from stacks.profiles import ParityRules, flatten, load_parity_rules, parity_violations

FORMATS = ("text", "json", "markdown")
SECRET = "<secret>"  # noqa: S105 - a placeholder shown instead of ciphertext
UNKNOWN = "<unknown>"
# What Pulumi sends for a value not known until deployment (preview under mocks).
_UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class Concern(str, Enum):
    """Why a resource setting is part of the fingerprint."""

    ENCRYPTION = "encryption"
    TLS = "tls"
    EXPOSURE = "network-exposure"
    MODEL = "model"


class Compare(str, Enum):
    """How a setting is compared between stacks."""

    # The value names a per-stack resource (a key's ARN or id), so only whether it is set counts.
    PRESENCE = "presence"
    VALUE = "value"


# Security-relevant input names, as the engine sends them (camelCase), matched exactly against
# the last segment of a flattened input path, or against "parent.leaf" for generic leaf names.
# Sizing (cpu, memory, instance counts), retention (days, deletion protection) and traffic
# weights are deliberately absent: those are the declared differences between environments.
SECURITY_SETTINGS: dict[str, tuple[Concern, Compare]] = {
    # encryption at rest: keys referenced (presence) and algorithms / switches (value)
    **{
        leaf: (Concern.ENCRYPTION, Compare.PRESENCE)
        for leaf in (
            "kmsKeyId",
            "kmsKeyArn",
            "kmsMasterKeyId",
            "kmsKey",
            "kmsKeyName",
            "defaultKmsKeyName",
            "encryptionKey",
            "encryptionKeyName",
            "keyVaultKeyId",
            "keyVaultUri",
            "keyIdentifier",
            "cryptoKey",
        )
    },
    **{
        leaf: (Concern.ENCRYPTION, Compare.VALUE)
        for leaf in (
            "sseAlgorithm",
            "encryptionType",
            "encrypted",
            "storageEncrypted",
            "sqsManagedSseEnabled",
            "keySource",
            "enableKeyRotation",
            "rotationPeriod",
            "serverSideEncryption.enabled",
            "requireInfrastructureEncryption",
        )
    },
    # encryption in transit
    **{
        leaf: (Concern.TLS, Compare.VALUE)
        for leaf in (
            "minTlsVersion",
            "minimumTlsVersion",
            "minimalTlsVersion",
            "tlsVersion",
            "securityPolicy",
            "sslPolicy",
            "httpsOnly",
            "enableHttpsTrafficOnly",
            "supportsHttpsTrafficOnly",
            "requireSsl",
            "sslMode",
            "viewerProtocolPolicy",
            "minimumProtocolVersion",
            "allowInsecure",
            "disableExecuteApiEndpoint",
        )
    },
    # who can reach it
    **{
        leaf: (Concern.EXPOSURE, Compare.VALUE)
        for leaf in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
            "publicNetworkAccess",
            "allowBlobPublicAccess",
            "allowSharedKeyAccess",
            "publicAccess",
            "publicAccessPrevention",
            "uniformBucketLevelAccess",
            "assignPublicIp",
            "publiclyAccessible",
            "mapPublicIpOnLaunch",
            "ingress",
            "ingress.external",
            "cidrBlocks",
            "ipv6CidrBlocks",
            "sourceRanges",
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "defaultAction",
            "member",
            "members",
            "authorizationType",
            "apiKeyRequired",
            "disableLocalAuth",
            "invokerIamDisabled",
            "anonymousPullEnabled",
            "adminUserEnabled",
            "endpointConfiguration.types",
        )
    },
    **{"webAclArn": (Concern.EXPOSURE, Compare.PRESENCE)},
    # what is served
    **{
        leaf: (Concern.MODEL, Compare.VALUE)
        for leaf in (
            "image",
            "imageUri",
            "imageUrl",
            "containerImage",
            "modelDataUrl",
            "model-version",
        )
    },
}

_INDEX_RE = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class Drift:
    """One difference between two stacks that parity does not allow."""

    kind: str  # "config" or "resource"
    pair: tuple[str, str]
    subject: str  # a config path, or "<type> <name>"
    detail: str  # what differs
    left: Any
    right: Any


@dataclass
class ParityReport:
    """Every compared pair and the drift found between them."""

    pairs: list[tuple[str, str]]
    resources: dict[str, int] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)
    # promotable settings that differ: a release on its way (never drift)
    in_flight: list[Drift] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no pair drifted."""
        return not self.drift


# ---------------------------------------------------------------------------------------------
# config


def parity_rules(project_dir: Path) -> ParityRules:
    """The project's own parity rules (stacks/parity.yaml beside its stack files), else ours."""
    path = stack_file(project_dir, "x").parent / "parity.yaml"
    if not path.is_file():
        return load_parity_rules()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path}: malformed YAML") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("may_differ", "promotable")
    ):
        raise ProjectError(f"{path}: expected lists 'may_differ' and 'promotable'")
    return ParityRules(tuple(map(str, data["may_differ"])), tuple(map(str, data["promotable"])))


def _require_stack(project_dir: Path, stack: str) -> Path:
    path = stack_file(project_dir, stack)
    if not path.is_file():
        known = ", ".join(stack_names(project_dir)) or "none"
        raise ProjectError(f"unknown stack {stack!r}: no {path.name} (stacks: {known})")
    return path


def stack_sections(project_dir: Path, stack: str) -> dict[str, Any]:
    """A stack file's config with the project's namespace dropped (``acme:model`` -> ``model``).

    Other namespaces (``aws:region``) keep theirs; encrypted values compare as one placeholder,
    since each stack encrypts with its own key.
    """
    path = _require_stack(project_dir, stack)
    project = load_project(project_dir)["name"]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ProjectError(f"{path}: malformed YAML{where}") from exc
    raw = data.get("config") if isinstance(data, dict) else None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: 'config' must be a mapping")
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).removeprefix(f"{project}:")
        sections[name] = SECRET if isinstance(value, dict) and set(value) == {"secure"} else value
    return sections


def config_drift(
    left: Mapping[str, Any], right: Mapping[str, Any], pair: tuple[str, str], rules: ParityRules
) -> list[Drift]:
    """Config paths that differ outside the declared differences and the promotable settings."""
    return [
        Drift("config", pair, path, "value differs", a, b)
        for path, a, b in parity_violations(left, right, rules)
        if not rules.promotes(path)
    ]


def releases_in_flight(
    left: Mapping[str, Any], right: Mapping[str, Any], pair: tuple[str, str], rules: ParityRules
) -> list[Drift]:
    """Promotable settings that differ: a release recorded in one stack, not yet promoted."""
    return [
        Drift("release", pair, path, "in flight", a, b)
        for path, a, b in parity_violations(left, right, rules)
        if rules.promotes(path)
    ]


# ---------------------------------------------------------------------------------------------
# resources


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested inputs: ``("a.b[0].c", v)``; an empty container is a leaf."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple) and value:
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    else:
        yield path, value


def _setting_of(path: str) -> tuple[Concern, Compare] | None:
    names = _INDEX_RE.sub("", path).split(".")
    return SECURITY_SETTINGS.get(names[-1]) or (
        SECURITY_SETTINGS.get(".".join(names[-2:])) if len(names) > 1 else None
    )


def _normaliser(tokens: Sequence[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True) if t)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


def _normalise(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return UNKNOWN if value == _UNKNOWN_SENTINEL else pattern.sub("<env>", value)
    return value


@dataclass(frozen=True)
class Setting:
    """A compared value, raw and with the stack's name masked.

    Two stacks' values match when either form matches: masking lets ``acme-staging-key`` equal
    ``acme-prod-key``, and the raw form keeps a constant that merely contains an environment's
    name (``serverless-robot-prod``, a Google service agent) equal to itself.
    """

    raw: Any
    masked: Any

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Setting):
            return NotImplemented
        return bool(self.raw == other.raw or self.masked == other.masked)

    def __hash__(self) -> int:
        return hash(repr(self.masked))


def _shown(value: Any) -> Any:
    return value.raw if isinstance(value, Setting) else value


@dataclass(frozen=True)
class ResourcePrint:
    """A resource reduced to what must match between environments."""

    type: str
    name: str
    settings: Mapping[str, Any]


def declared_values(sections: Mapping[str, Any], rules: ParityRules) -> tuple[str, ...]:
    """The text values of a stack's declared differences (its account, network range, domain,
    name suffix, ...) and of its promotable settings (a release in flight): resources derived
    from them may differ, like the stack's name."""
    values: list[str] = []
    for path, value in flatten(sections).items():
        if not (rules.allows(path) or rules.promotes(path)):
            continue
        # Short words ("dev", "true") would mask unrelated text; declared values are longer,
        # and a model version ("1.0.0") is dotted, never a word.
        shortest = 3 if rules.promotes(path) else 6
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and len(item) >= shortest:
                values.append(item)
    return tuple(values)


def fingerprint(
    run: StackRun, declared: Sequence[str] = ()
) -> dict[tuple[str, str], ResourcePrint]:
    """Every custom resource of a run, keyed by (type, logical name with the stack name masked).

    ``declared`` values (see :func:`declared_values`) are masked like the stack's name.
    """
    env = str(run.config.get(f"{run.project}:environment", run.stack))
    # Short-limit names (a GCP service account id) carry the environment cut to 4 letters.
    pattern = _normaliser([run.stack, env, env[:4], *declared])
    prints: dict[tuple[str, str], ResourcePrint] = {}
    for resource in run.resources:
        if not resource.custom:
            continue  # components are groupings; their children carry the settings
        settings: dict[str, Any] = {}
        for path, value in _walk(dict(resource.inputs)):
            rule = _setting_of(path)
            if rule is None:
                continue
            _, compare = rule
            if compare is Compare.PRESENCE:
                settings[path] = "set" if value not in (None, "", [], {}) else "unset"
            else:
                settings[path] = Setting(value, _normalise(value, pattern))
        name = pattern.sub("<env>", resource.name)
        key = (resource.type, name)
        if key in prints:  # two resources masked to one name: keep both, distinguishable
            key = (resource.type, f"{name}#{sum(1 for k in prints if k[0] == resource.type)}")
        prints[key] = ResourcePrint(resource.type, key[1], settings)
    return prints


def resource_drift(
    left: Mapping[tuple[str, str], ResourcePrint],
    right: Mapping[tuple[str, str], ResourcePrint],
    pair: tuple[str, str],
    explained: frozenset[tuple[str, str]] = frozenset(),
) -> list[Drift]:
    """Resources on one side only (grouped per type, with counts) and settings that differ.

    ``explained`` resources exist on one side only because of a declared difference (e.g. the
    paging route of ``alerts.page_on_critical``) or a release in flight (a candidate's own
    workload); they are not drift.
    """
    drift: list[Drift] = []
    counts_left = Counter(t for t, _ in left)
    counts_right = Counter(t for t, _ in right)
    only: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for key in sorted(set(left) - set(right) - explained):
        only[key[0]][0].append(key[1])
    for key in sorted(set(right) - set(left) - explained):
        only[key[0]][1].append(key[1])
    for type_, (in_left, in_right) in sorted(only.items()):
        names = "; ".join(
            part
            for part in (
                f"only in {pair[0]}: {', '.join(in_left)}" if in_left else "",
                f"only in {pair[1]}: {', '.join(in_right)}" if in_right else "",
            )
            if part
        )
        drift.append(Drift("resource", pair, type_, names, counts_left[type_], counts_right[type_]))
    for key in sorted(set(left) & set(right)):
        a, b = left[key].settings, right[key].settings
        for path in sorted(set(a) | set(b)):
            if a.get(path, "<absent>") != b.get(path, "<absent>"):
                rule = _setting_of(path)
                concern = rule[0].value if rule else "setting"
                drift.append(
                    Drift(
                        "resource",
                        pair,
                        f"{key[0]} {key[1]}",
                        f"{concern}: {path}",
                        _shown(a.get(path, "<absent>")),
                        _shown(b.get(path, "<absent>")),
                    )
                )
    return drift


# ---------------------------------------------------------------------------------------------
# the check


def stack_pairs(project_dir: Path, between: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """The pairs to compare: ``between``, else every adjacent pair (dev-staging, staging-prod)."""
    if between is not None:
        left, right = between
        if left == right:
            raise ProjectError(f"--between needs two different stacks, got {left!r} twice")
        for stack in between:
            _require_stack(project_dir, stack)
        return [(left, right)]
    names = stack_names(project_dir)
    if len(names) < 2:
        raise ProjectError(f"{project_dir}: parity needs at least two stack files, found {names}")
    return list(itertools.pairwise(names))


def check_parity(project_dir: Path, between: tuple[str, str] | None = None) -> ParityReport:
    """Compare the stacks of ``project_dir`` by config and by the resources their programs declare.

    Raises ProjectError (bad project, unknown stack, malformed YAML) or ProgramError (the program
    failed under mocks): usage errors, not drift.
    """
    project_dir = project_dir.resolve()
    load_project(project_dir)
    rules = parity_rules(project_dir)
    pairs = stack_pairs(project_dir, between)
    stacks = list(dict.fromkeys(s for pair in pairs for s in pair))
    sections = {s: stack_sections(project_dir, s) for s in stacks}  # all parsed before any run
    prints: dict[str, dict[tuple[str, str], ResourcePrint]] = {}
    report = ParityReport(pairs)
    for stack in stacks:
        run = run_stack(project_dir, stack)
        prints[stack] = fingerprint(run, declared_values(sections[stack], rules))
        report.resources[stack] = len(prints[stack])
    for left, right in pairs:
        report.drift += config_drift(sections[left], sections[right], (left, right), rules)
        report.in_flight += releases_in_flight(
            sections[left], sections[right], (left, right), rules
        )
        explained: frozenset[tuple[str, str]] = frozenset()
        if set(prints[left]) != set(prints[right]):
            explained = _explained_by_declared_differences(
                project_dir, left, (prints[left], sections[left]), (prints[right], sections[right]),
                rules,
            )  # fmt: skip
        report.drift += resource_drift(prints[left], prints[right], (left, right), explained)
    return report


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def scratch_copy(project_dir: Path, into: Path) -> Path:
    """Copy the project's program, stack files and vendored code (not .git or virtualenvs)."""
    copy = into / project_dir.name
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache*"
    )
    shutil.copytree(project_dir, copy, ignore=ignore, symlinks=True)
    return copy


def _explained_by_declared_differences(
    project_dir: Path,
    left: str,
    left_run: tuple[Mapping[tuple[str, str], ResourcePrint], Mapping[str, Any]],
    right_run: tuple[Mapping[tuple[str, str], ResourcePrint], Mapping[str, Any]],
    rules: ParityRules,
) -> frozenset[tuple[str, str]]:
    """Resources whose presence follows from the declared differences and the releases in flight
    alone.

    Runs ``left``'s program once more with ``right``'s values at every declared-difference path
    and every promotable one (on a scratch copy; the stack name stays ``left``): a resource that
    this run gains or loses the way ``right`` has it is explained by those settings, not by
    drift. A release in flight may bring its own resources: a candidate that the platform
    serves from a workload of its own (kubernetes' candidate Deployment and Service) exists
    only in the stack the release was promoted into, until it graduates.
    """
    (left_prints, left_sections), (right_prints, right_sections) = left_run, right_run
    a, b = flatten(left_sections), flatten(right_sections)

    def differs(path: str) -> bool:
        return rules.allows(path) or rules.promotes(path)

    merged = {k: v for k, v in a.items() if not differs(k)}
    merged.update({k: v for k, v in b.items() if differs(k)})
    project = load_project(project_dir)["name"]
    config = {
        (key if ":" in key else f"{project}:{key}"): value
        for key, value in _unflatten(merged).items()
    }
    with tempfile.TemporaryDirectory(prefix="aideploy-parity-") as scratch:
        copy = scratch_copy(project_dir, Path(scratch))
        stack_file(copy, left).write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        declared = declared_values(_unflatten(merged), rules)
        counterfactual = set(fingerprint(run_stack(copy, left), declared))
    original = set(left_prints)
    gained = (counterfactual - original) & set(right_prints)
    lost = original - counterfactual - set(right_prints)
    return frozenset(gained | lost)


# ---------------------------------------------------------------------------------------------
# reports


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _md(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", text)


def render(report: ParityReport, fmt: str = "text") -> str:
    """The report as text (people), json (scripts) or markdown (a PR comment / job summary)."""
    if fmt == "json":
        return json.dumps(
            {
                "pairs": [list(p) for p in report.pairs],
                "resources": report.resources,
                "drift": [{**asdict(d), "pair": list(d.pair)} for d in report.drift],
                "in_flight": [{**asdict(d), "pair": list(d.pair)} for d in report.in_flight],
                "ok": report.ok,
            },
            default=str,
            sort_keys=True,
        )
    pairs = ", ".join(f"{a} vs {b}" for a, b in report.pairs)
    counts = ", ".join(f"{s}: {n}" for s, n in report.resources.items())
    if fmt == "markdown":
        verdict = "no drift" if report.ok else f"{len(report.drift)} drift finding(s)"
        lines = [
            f"### Environment parity: {verdict}",
            "",
            f"Compared {pairs} ({counts} resources).",
        ]
        if report.drift:
            lines += [
                "",
                "| pair | kind | subject | what | left | right |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {d.pair[0]} vs {d.pair[1]} | {d.kind} | {_md(d.subject)} | {_md(d.detail)} "
                f"| {_md(_show(d.left))} | {_md(_show(d.right))} |"
                for d in report.drift
            ]
        if report.in_flight:
            lines += ["", "Releases in flight (promote them in order; not drift):", ""]
            lines += [
                f"- {d.pair[0]} -> {d.pair[1]}: `{_md(d.subject)}` {_md(_show(d.left))} / "
                f"{_md(_show(d.right))}"
                for d in report.in_flight
            ]
        return "\n".join(lines)
    lines = [f"parity: compared {pairs} ({counts} resources)"]
    lines += [
        f"RELEASE IN FLIGHT {d.pair[0]} -> {d.pair[1]} {d.subject}: {_show(d.left)} / "
        f"{_show(d.right)} (python -m stacks.promote --from {d.pair[0]} --to {d.pair[1]})"
        for d in report.in_flight
    ]
    lines += [
        f"DRIFT {d.pair[0]} vs {d.pair[1]} [{d.kind}] {d.subject}: {d.detail}: "
        f"{_show(d.left)} != {_show(d.right)}"
        for d in report.drift
    ]
    lines.append("no drift" if report.ok else f"{len(report.drift)} drift finding(s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stacks.parity_check [DIR] [--between A B] [--format F]``; exit 0/1/2."""
    parser = argparse.ArgumentParser(
        prog="python -m stacks.parity_check", description="Check dev/staging/prod parity."
    )
    parser.add_argument("project", nargs="?", default=".", type=Path)
    parser.add_argument("--between", nargs=2, metavar=("STACK", "STACK"))
    parser.add_argument("--format", choices=FORMATS, default="text")
    args = parser.parse_args(argv)
    try:
        report = check_parity(args.project, tuple(args.between) if args.between else None)
    except (ProjectError, ProgramError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(report, args.format))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
