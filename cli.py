"""The ``aideploy`` command line: parses, calls one library function per command, maps errors.

Exit codes are stable for scripts and CI: 0 success, 1 a check found a problem (policy
violation, drift), 2 usage error, bad input or a program that could not run.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from components.spec import Cloud, Pattern

app = typer.Typer(
    name="aideploy",
    help="Scaffold, deploy and guard production AI systems on AWS, Azure and GCP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()  # rich honours NO_COLOR and drops colour when not a terminal
err_console = Console(stderr=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(str, Enum):
    """Output for people (text) or for scripts (json)."""

    TEXT = "text"
    JSON = "json"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one clear line to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """The one place that turns library errors into messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from policies.runner.capture import ProgramError
        from policies.runner.program import ProjectError
        from templates.generator import GenerationError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (GenerationError, ProjectError) as exc:
            fail(str(exc))
        except ProgramError as exc:
            fail(f"the Pulumi program failed: {exc}")
        except ValueError as exc:  # pydantic.ValidationError included
            from components.spec import describe_validation_error

            fail(describe_validation_error(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))

    return wrapper  # type: ignore[return-value]


def _interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty()


def _ask(value: str | None, prompt: str, *, no_input: bool, default: str | None = None) -> str:
    """An answer from its option, else a prompt in a terminal, else its default, else an error."""
    if value is not None:
        return value
    if _interactive(no_input):
        answer: str = typer.prompt(prompt, default=default)
        return answer
    if default is not None:
        return default
    flag = "--" + prompt.split(" (")[0].lower().replace(" ", "-")
    fail(f"missing answer: {flag} is required with --no-input or without a terminal")


DEFAULT_REGION: dict[Cloud, str] = {
    Cloud.AWS: "eu-west-1",
    Cloud.AZURE: "westeurope",
    Cloud.GCP: "europe-west1",
}


@app.command()
@handle_errors
def new(
    name: Annotated[str, typer.Argument(help="Project name, e.g. 'acme-support'.")],
    cloud: Annotated[str | None, typer.Option(help="aws, azure or gcp.")] = None,
    pattern: Annotated[
        str | None, typer.Option(help="api-first, event-driven, managed-platform, embedded.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="The cloud region.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner's email; alerts go here.")] = None,
    description: Annotated[str, typer.Option(help="One line about the project.")] = "",
    model_name: Annotated[str, typer.Option(help="Short model name.")] = "model",
    model_version: Annotated[str, typer.Option(help="Model version to deploy.")] = "1.0.0",
    model_image: Annotated[str | None, typer.Option(help="Serving container image.")] = None,
    alert_email: Annotated[
        list[str] | None, typer.Option(help="Alert contact (repeatable); default: owner.")
    ] = None,
    auth: Annotated[str, typer.Option(help="jwt, api-key or jwt+api-key.")] = "jwt+api-key",
    rollout: Annotated[str, typer.Option(help="canary or blue-green.")] = "canary",
    ci: Annotated[str, typer.Option(help="github or gitlab.")] = "github",
    gcp_project: Annotated[str | None, typer.Option(help="GCP project id (gcp only).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Target folder; default ./NAME.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing non-empty folder.")] = False,
    no_input: Annotated[bool, typer.Option(help="Never prompt (scripts, CI).")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """Scaffold a self-contained client project for the cloud the client already uses."""
    from templates.generator import Answers, generate, project_slug

    cloud_value = _ask(cloud, "Cloud (aws, azure, gcp)", no_input=no_input)
    try:
        cloud_enum = Cloud(cloud_value)
    except ValueError:
        fail(f"unknown cloud {cloud_value!r}: choose aws, azure or gcp")
    pattern_value = _ask(
        pattern, "Pattern (api-first, event-driven, managed-platform)", no_input=no_input
    )
    answers = Answers(
        name=name,
        cloud=cloud_enum,
        pattern=pattern_value,  # validated by pydantic
        region=_ask(region, "Region", no_input=no_input, default=DEFAULT_REGION[cloud_enum]),
        owner=_ask(owner, "Owner (email)", no_input=no_input),
        description=description,
        model_name=model_name,
        model_version=model_version,
        model_image=model_image,
        alert_emails=tuple(alert_email or ()),
        auth=auth,
        rollout=rollout,
        ci=ci,
        gcp_project=gcp_project,
    )
    target = output or Path(project_slug(name))
    with console.status(f"Scaffolding {answers.project_slug} ...", spinner="dots"):
        result = generate(answers, target, force=force)
    if fmt is OutputFormat.JSON:
        print(
            json.dumps(
                {
                    "project": result.project,
                    "path": str(result.path),
                    "files": result.files,
                    "stacks": list(result.stacks),
                    "cloud": answers.cloud.value,
                    "pattern": answers.pattern.value,
                }
            )
        )
        return
    console.print(
        f"[green]Created[/] {result.path} ({result.files} files, stacks: "
        f"{', '.join(result.stacks)})",
        highlight=False,
    )
    console.print(
        f"Next: cd {result.path} && pip install -r requirements.txt && pytest", highlight=False
    )


@app.command()
@handle_errors
def patterns(
    fmt: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """List every pattern per cloud with the managed services it uses."""
    from components.registry import REGISTRY, is_available

    rows = [
        (pattern, cloud, is_available(cloud, pattern), REGISTRY[(cloud, pattern)].services)
        for pattern in Pattern
        for cloud in Cloud
    ]
    if fmt is OutputFormat.JSON:
        payload = [
            {"pattern": p.value, "cloud": c.value, "available": ok, "services": list(services)}
            for p, c, ok, services in rows
        ]
        print(json.dumps(payload))
        return
    table = Table(title="aideploy patterns")
    for column in ("pattern", "cloud", "status", "managed services"):
        table.add_column(column)
    for p, c, ok, services in rows:
        table.add_row(p.value, c.value, "available" if ok else "planned", ", ".join(services))
    console.print(table)


class ReportFormat(str, Enum):
    """Report output: people (text), scripts (json), PR comments and job summaries (markdown)."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


@app.command()
@handle_errors
def parity(
    directory: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    between: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Two stacks, e.g. --between staging prod; default: adjacent pairs."),
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text, json or markdown.")] = (
        ReportFormat.TEXT
    ),
) -> None:
    """Compare stacks by config and by declared resources; exit 1 on drift."""
    from stacks.parity_check import check_parity, render

    report = check_parity(directory, between)
    print(render(report, fmt.value))  # plain print: drift text must not be read as rich markup
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FAILED)


@app.command()
@handle_errors
def promote(
    directory: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    source: Annotated[str, typer.Option("--from", help="Stack to promote from.")] = "staging",
    target: Annotated[str, typer.Option("--to", help="Stack to promote into.")] = "prod",
    yes: Annotated[bool, typer.Option("--yes", help="Write without asking (CI).")] = False,
) -> None:
    """Copy the promotable settings (model, candidate) into the target stack file."""
    from rich.syntax import Syntax

    from stacks.promote import PromotionError, apply_promotion, plan_promotion

    try:
        plan = plan_promotion(directory, source, target)
    except PromotionError as exc:
        fail(str(exc), EXIT_FAILED)
    if not plan.changed:
        console.print(f"{target} already holds the promotable settings of {source}.")
        return
    console.print(Syntax(plan.diff(), "diff", theme="ansi_dark"))
    if not yes and not sys.stdin.isatty():
        fail("not a terminal: pass --yes to write without confirmation; nothing written")
    if not yes and not typer.confirm(f"Write {plan.path}?", default=False):
        fail("not confirmed; nothing written", EXIT_FAILED)
    apply_promotion(plan)
    console.print(f"[green]Promoted[/] {source} -> {target}: {plan.path}", highlight=False)


@app.command()
@handle_errors
def check(
    directory: Annotated[Path, typer.Argument(help="The Pulumi project folder.")] = Path("."),
    stack: Annotated[str | None, typer.Option(help="The stack to check, e.g. prod.")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Check every stack.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, json, sarif or markdown.")] = "text",
    config: Annotated[
        Path | None, typer.Option(help="Policy config file instead of the stack's environment's.")
    ] = None,
) -> None:
    """Check stacks offline against the policy pack; exit 1 on a mandatory violation.

    With --all, --format json prints a JSON array with one object per stack.
    """
    from policies.check import run

    interactive = sys.stderr.isatty()
    code = run(
        directory,
        stack=stack,
        all_stacks=all_stacks,
        fmt=fmt,
        config_file=config,
        interactive=interactive,
    )
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
