"""Reports of a check: text for people, JSON for scripts, SARIF for code scanning, Markdown for PRs.

Every format is rendered from the same :class:`~policies.runner.engine.StackReport` objects and
the rule metadata the pack itself returned (GetAnalyzerInfo), so descriptions, severities, tags
and remediation steps are the pack's own. Text uses rich when it is installed (it honours
NO_COLOR and drops colour off a terminal) and plain columns otherwise, because generated projects
do not install rich.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from policies.runner.analyzer import PackInfo, RuleInfo
from policies.runner.engine import StackReport, Violation

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://www.pulumi.com/docs/using-pulumi/crossguard/"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "unspecified")
# GitHub code scanning ranks security alerts by this CVSS-like score (0.0-10.0).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
SARIF_LEVEL = {"mandatory": "error", "advisory": "warning"}


class Format(str, Enum):
    """Output formats of ``aideploy check`` and ``python -m policies.check``."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


def exit_code(reports: Sequence[StackReport]) -> int:
    """1 when any stack has a mandatory violation, else 0."""
    return 0 if all(r.passed for r in reports) else 1


def _rule(pack: PackInfo, name: str) -> RuleInfo:
    found = pack.rule(name)
    if found is not None:
        return found
    return RuleInfo(name, name, "advisory", "unspecified", (), "", "resource")


# ---------------------------------------------------------------- json
def to_json(reports: Sequence[StackReport]) -> str:
    """One stack: the contract's object. Several (``--all``): a JSON array of those objects."""
    if len(reports) == 1:
        return json.dumps(reports[0].to_json(), indent=2)
    return json.dumps([r.to_json() for r in reports], indent=2)


# ---------------------------------------------------------------- sarif
def _relative(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _sarif_rule(rule: RuleInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": rule.name,
        "name": "".join(part.capitalize() for part in rule.name.split("-")),
        "shortDescription": {"text": rule.description.split(". ")[0].rstrip(".") + "."},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": rule.remediation or rule.description,
            "markdown": f"**{rule.name}**\n\n{rule.description}\n\n"
            f"**Remediation:** {rule.remediation or 'see the rule description'}",
        },
        "defaultConfiguration": {"level": SARIF_LEVEL.get(rule.level, "note")},
        "properties": {"tags": list(rule.tags), "precision": "very-high"},
    }
    if rule.severity in SECURITY_SEVERITY:
        entry["properties"]["security-severity"] = SECURITY_SEVERITY[rule.severity]
    if rule.url:  # the first benchmark control the rule follows (its tags carry every one)
        entry["helpUri"] = rule.url
    return entry


def _sarif_result(
    v: Violation, index: dict[str, int], artifact: str, report: StackReport
) -> dict[str, Any]:
    fingerprint = hashlib.sha256(f"{v.policy}|{v.urn}|{v.message}".encode()).hexdigest()
    return {
        "ruleId": v.policy,
        "ruleIndex": index[v.policy],
        "level": SARIF_LEVEL.get(v.level, "note"),
        "message": {"text": f"{v.resource_type} {v.resource_name}: {v.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 1},
                },
                "logicalLocations": [
                    {
                        "name": v.resource_name,
                        "fullyQualifiedName": v.urn,
                        "kind": "resource",
                    }
                ],
            }
        ],
        "partialFingerprints": {"aideployViolation/v1": fingerprint},
        "properties": {"stack": report.stack, "resourceType": v.resource_type},
    }


def to_sarif(reports: Sequence[StackReport], project_dir: Path) -> str:
    """SARIF 2.1.0: one run per stack, each with its own category for code scanning."""
    runs = []
    for report in reports:
        rules = list(report.pack.rules)
        index = {r.name: i for i, r in enumerate(rules)}
        for v in report.violations:  # a diagnostic from a rule GetAnalyzerInfo did not list
            if v.policy not in index:
                index[v.policy] = len(rules)
                rules.append(_rule(report.pack, v.policy))
        artifact = _relative(report.stack_file, project_dir)
        runs.append(
            {
                "tool": {
                    "driver": {
                        "name": report.pack.name,
                        "version": report.pack.version,
                        "informationUri": INFORMATION_URI,
                        "rules": [_sarif_rule(r) for r in rules],
                    }
                },
                "automationDetails": {"id": f"aideploy-check/{report.project}/{report.stack}/"},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": project_dir.resolve().as_uri() + "/"}},
                "artifacts": [{"location": {"uri": artifact, "uriBaseId": "%SRCROOT%"}}],
                "results": [_sarif_result(v, index, artifact, report) for v in report.violations],
                "properties": {
                    "resources": report.resources,
                    "summary": report.summary,
                    "waivers": [w.__dict__ for w in report.waivers],
                },
            }
        )
    return json.dumps({"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}, indent=2)


# ---------------------------------------------------------------- markdown
def _md(text: str) -> str:
    """Table-cell safe: no pipes or newlines, no HTML."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def to_markdown(reports: Sequence[StackReport]) -> str:
    """A pull-request comment: a verdict per stack, the violations, the waivers, the fixes."""
    lines = ["## aideploy guardrails", ""]
    for report in reports:
        s = report.summary
        verdict = "❌ failed" if s["mandatory"] else "✅ passed"
        lines += [
            f"### Stack `{report.stack}`: {verdict}",
            "",
            f"{report.resources} resources checked; {s['mandatory']} mandatory, "
            f"{s['advisory']} advisory violations.",
            "",
        ]
        if report.violations:
            lines += ["| level | severity | rule | resource | message |", "|---|---|---|---|---|"]
            for v in report.violations:
                rule = _rule(report.pack, v.policy)
                lines.append(
                    f"| {v.level} | {rule.severity} | `{v.policy}` | "
                    f"`{_md(v.resource_name)}` ({_md(v.resource_type)}) | {_md(v.message)} |"
                )
            lines += ["", "<details><summary>How to fix</summary>", ""]
            for name in sorted({v.policy for v in report.violations}):
                lines.append(f"- `{name}`: {_md(_rule(report.pack, name).remediation)}")
            lines += ["", "</details>", ""]
        if report.waivers:
            lines += ["**Waivers**", "", "| rule | resource | reason |", "|---|---|---|"]
            for w in report.waivers:
                unused = "" if w.used else " (no such resource in this stack)"
                lines.append(f"| `{w.policy}` | `{_md(w.resource)}`{unused} | {_md(w.reason)} |")
            lines.append("")
        for note in report.notes:
            lines.append(f"> {_md(note)}")
        if report.notes:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- text
def _grouped(report: StackReport) -> list[tuple[str, list[Violation]]]:
    groups: dict[str, list[Violation]] = {}
    for v in report.violations:
        groups.setdefault(_rule(report.pack, v.policy).severity, []).append(v)
    return [(sev, groups[sev]) for sev in SEVERITY_ORDER if sev in groups]


def _text_plain(reports: Sequence[StackReport]) -> str:
    out: list[str] = []
    for report in reports:
        s = report.summary
        verdict = "FAILED" if s["mandatory"] else "passed"
        out.append(
            f"stack {report.stack}: {verdict} - {report.resources} resources, "
            f"{s['mandatory']} mandatory, {s['advisory']} advisory"
        )
        for severity, items in _grouped(report):
            out.append(f"  [{severity}]")
            for v in items:
                out.append(f"    {v.level:<9} {v.policy}  {v.resource_type} {v.resource_name}")
                out.append(f"              {v.message}")
        fixes = sorted({v.policy for v in report.violations})
        if fixes:
            out.append("  how to fix:")
            out += [f"    {n}: {_rule(report.pack, n).remediation}" for n in fixes]
        for w in report.waivers:
            used = "" if w.used else " (no such resource in this stack)"
            out.append(f"  waived: {w.policy} for {w.resource}{used}: {w.reason}")
        out += [f"  note: {n}" for n in report.notes]
    return "\n".join(out) + "\n"


def _text_rich(reports: Sequence[StackReport], width: int | None) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width or 120,
        no_color="NO_COLOR" in os.environ,
        force_terminal=width is not None and "NO_COLOR" not in os.environ,
        highlight=False,
    )
    styles = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}
    for report in reports:
        s = report.summary
        verdict = "[bold red]FAILED[/]" if s["mandatory"] else "[bold green]passed[/]"
        console.print(
            f"[bold]stack {report.stack}[/]: {verdict} - {report.resources} resources, "
            f"{s['mandatory']} mandatory, {s['advisory']} advisory"
        )
        for severity, items in _grouped(report):
            table = Table(title=f"{severity} severity", title_style=styles.get(severity, ""))
            table.add_column("level")
            table.add_column("rule", overflow="fold")
            table.add_column("resource", overflow="fold")
            table.add_column("message", overflow="fold")
            for v in items:
                level = "[red]mandatory[/]" if v.level == "mandatory" else "advisory"
                table.add_row(level, v.policy, f"{v.resource_name}\n{v.resource_type}", v.message)
            console.print(table)
        fixes = sorted({v.policy for v in report.violations})
        if fixes:
            console.print("[bold]How to fix[/]")
            for name in fixes:
                console.print(f"  [bold]{name}[/]: {_rule(report.pack, name).remediation}")
        if report.waivers:
            console.print("[bold]Waivers[/]")
            for w in report.waivers:
                used = "" if w.used else " [dim](no such resource in this stack)[/]"
                console.print(f"  {w.policy} for {w.resource}{used}: {w.reason}")
        for note in report.notes:
            console.print(f"[dim]note: {note}[/]")
        console.print()
    return buffer.getvalue()


def to_text(reports: Sequence[StackReport], *, terminal_width: int | None = None) -> str:
    """A readable report grouped by severity, with remediation, waivers and notes.

    ``terminal_width`` is given when the output goes to a terminal (colour, unless NO_COLOR).
    """
    try:
        import rich  # noqa: F401
    except ImportError:
        return _text_plain(reports)
    return _text_rich(reports, terminal_width)


def render(
    reports: Sequence[StackReport],
    fmt: Format,
    *,
    project_dir: Path,
    terminal_width: int | None = None,
) -> str:
    """The report in ``fmt``."""
    if fmt is Format.JSON:
        return to_json(reports) + "\n"
    if fmt is Format.SARIF:
        return to_sarif(reports, project_dir) + "\n"
    if fmt is Format.MARKDOWN:
        return to_markdown(reports)
    return to_text(reports, terminal_width=terminal_width)
