"""The ``aideploy`` command line: parses, calls one library function per command, maps errors.

Exit codes are stable for scripts and CI: 0 success, 1 a check found a problem (policy
violation, drift), 2 usage error, bad input or a program that could not run.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from components.spec import Cloud, Environment, Pattern


class OneLineErrors(TyperGroup):
    """Usage errors (unknown option, bad choice) as one line on stderr with exit code 2, like
    every other error of the command line, instead of a multi-line box."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            value = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            # typer's own (vendored click) usage errors: bad choice, unknown option, ...
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            format_message = getattr(exc, "format_message", None)
            message = format_message() if callable(format_message) else str(exc)
            message = str(message).replace("Value error, ", "")  # pydantic's prefix
            err_console.print(
                f"[bold red]error:[/] {escape(str(message))}{escape(hint)}",
                highlight=False,
                soft_wrap=True,
            )
            if not standalone_mode:
                raise
            sys.exit(int(getattr(exc, "exit_code", EXIT_USAGE)))
        except typer.Abort:
            if not standalone_mode:
                raise
            err_console.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(EXIT_FAILED)
        if standalone_mode:
            sys.exit(value if isinstance(value, int) else EXIT_OK)
        return value


app = typer.Typer(
    cls=OneLineErrors,
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
    """Print one clear line to stderr and exit with ``code``.

    The message is escaped: regexes, lists and paths in it keep their brackets.
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """The one place that turns library errors into messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from offline.capture import ProgramError
        from offline.program import ProjectError
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
        except BrokenPipeError:
            # The reader went away (`aideploy diff | head`): stop quietly, as other tools do;
            # stdout goes to /dev/null so the interpreter's last flush cannot fail again.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_OK) from None
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))

    return wrapper  # type: ignore[return-value]


def _interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty()


class Asker:
    """Answers from options, else prompts in a terminal, else a one-line error naming the flag.

    Prompts show a suggestion only where one is sensible (a region near the client); nothing
    required is ever filled in silently.
    """

    def __init__(self, no_input: bool) -> None:
        self.interactive = _interactive(no_input)

    def __call__(
        self,
        value: str | None,
        flag: str,
        prompt: str,
        *,
        suggestion: str | None = None,
        choices: tuple[str, ...] = (),
    ) -> str:
        if value is not None:
            return value
        if not self.interactive:
            fail(f"missing answer: {flag} is required with --no-input or without a terminal")
        while True:
            shown = f"{prompt} ({', '.join(choices)})" if choices else prompt
            answer: str = typer.prompt(shown, default=suggestion).strip()
            if not choices or answer in choices:
                return answer
            err_console.print(f"choose one of: {escape(', '.join(choices))}", highlight=False)

    def optional(self, value: str | None, prompt: str) -> str | None:
        """An optional answer: the option, else (in a terminal) a prompt that may stay empty."""
        if value is not None or not self.interactive:
            return value
        answer: str = typer.prompt(prompt, default="", show_default=False).strip()
        return answer or None


# A suggestion shown at the region prompt (never used without the user seeing it).
SUGGESTED_REGION: dict[Cloud, str] = {
    Cloud.AWS: "eu-west-1",
    Cloud.AZURE: "westeurope",
    Cloud.GCP: "europe-west1",
    Cloud.KUBERNETES: "dc-1",
}
ACCOUNT_PROMPT: dict[Cloud, str] = {
    Cloud.AWS: "AWS account id",
    Cloud.AZURE: "Azure subscription id",
    Cloud.GCP: "GCP project id",
    Cloud.KUBERNETES: "kubeconfig context",
}


def _ask_accounts(ask: Asker, cloud: Cloud, given: list[str]) -> list[str]:
    """``--account`` values, or prompts: one id for all environments or one per environment."""
    if given or not ask.interactive:
        return given or [ask(None, "--account", "")]  # fails with the flag's name
    from components.spec import Environment

    what = ACCOUNT_PROMPT[cloud]
    dev = ask(None, "--account", f"{what} for dev")
    staging = ask(None, "--account", f"{what} for staging", suggestion=dev)
    prod = ask(None, "--account", f"{what} for prod", suggestion=staging)
    return [f"{e.value}={v}" for e, v in zip(Environment, (dev, staging, prod), strict=True)]


def _offered_patterns() -> tuple[str, ...]:
    from components.registry import offered_patterns

    return tuple(p.value for p in offered_patterns())


@app.command()
@handle_errors
def new(
    name: Annotated[str, typer.Argument(help="Project name, e.g. 'acme-support'.")],
    cloud: Annotated[Cloud | None, typer.Option(help="The cloud the client uses.")] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            help="api-first, event-driven, managed-platform or embedded.", metavar="PATTERN"
        ),
    ] = None,
    region: Annotated[str | None, typer.Option(help="The cloud region (required).")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner's email; alerts go here.")] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(
            help="ENV=ID (repeatable): the AWS account id, Azure subscription id or GCP project "
            "id of an environment; a bare ID means all three.",
            metavar="[ENV=]ID",
        ),
    ] = None,
    repo: Annotated[
        str | None,
        typer.Option(
            help="The CI repository (OWNER/NAME, or GitLab group/project).", metavar="REPO"
        ),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Azure only: the Entra ID tenant id.", metavar="GUID")
    ] = None,
    cluster: Annotated[
        Path | None,
        typer.Option(
            help="kubernetes only: a YAML file of what the client's cluster provides (the "
            "`cluster` settings, docs/patterns/kubernetes.md).",
            metavar="FILE",
        ),
    ] = None,
    state_endpoint: Annotated[
        str | None,
        typer.Option(
            help="kubernetes only: the S3 API of the client's object store that keeps the "
            "Pulumi state.",
            metavar="HOST[:PORT]",
        ),
    ] = None,
    model_image: Annotated[
        str | None,
        typer.Option(help="Serving image (a full registry reference).", metavar="IMAGE"),
    ] = None,
    sample_model: Annotated[
        bool,
        typer.Option(
            "--sample-model",
            help="Serve the project's sample model server (built into the project's registry).",
        ),
    ] = False,
    jwt_issuer: Annotated[
        str | None,
        typer.Option(help="JWT issuer URL (api-first with jwt auth; embedded).", metavar="URL"),
    ] = None,
    jwt_audience: Annotated[
        str | None,
        typer.Option(help="JWT audience (api-first with jwt auth; embedded).", metavar="AUD"),
    ] = None,
    domain: Annotated[
        list[str] | None,
        typer.Option(
            help="ENV=HOST (repeatable): the API's host name per environment; a bare HOST is "
            "prod's and dev/staging get dev.HOST/staging.HOST. dev=sslip.io: a wildcard-DNS "
            "name, dev only.",
            metavar="[ENV=]HOST",
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="One line about the project.")] = "",
    model_name: Annotated[str, typer.Option(help="Short model name.")] = "model",
    model_version: Annotated[str, typer.Option(help="Model version to deploy.")] = "1.0.0",
    alert_email: Annotated[
        list[str] | None, typer.Option(help="Alert contact (repeatable); default: owner.")
    ] = None,
    auth: Annotated[str, typer.Option(help="jwt, api-key or jwt+api-key.")] = "jwt+api-key",
    rollout: Annotated[str, typer.Option(help="canary or blue-green.")] = "canary",
    ci: Annotated[str, typer.Option(help="github or gitlab.")] = "github",
    private_ca: Annotated[
        bool,
        typer.Option(
            "--private-ca",
            help="aws api-first: an AWS Private CA for the internal hop (about USD 400/month).",
        ),
    ] = False,
    llm: Annotated[
        str | None,
        typer.Option(
            help="api-first: none, hosted (the cloud's model service: Bedrock, Azure OpenAI, "
            "Vertex AI) or self-hosted (the model image), each behind a guardrail.",
            metavar="MODE",
        ),
    ] = None,
    llm_model: Annotated[
        str | None,
        typer.Option(help="--llm hosted: the model's id on the cloud's service.", metavar="ID"),
    ] = None,
    llm_model_version: Annotated[
        str | None,
        typer.Option(help="--llm hosted on azure: the Azure OpenAI model version.", metavar="V"),
    ] = None,
    no_cost: Annotated[
        bool,
        typer.Option(
            "--no-cost",
            help="Skip the monthly cost estimate (about 3 s: each stack runs under mocks).",
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Target folder; default ./NAME.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing non-empty folder.")
    ] = False,
    git: Annotated[
        bool,
        typer.Option(
            "--git",
            help="Make the project a git repository: the pristine render is the first commit, "
            "on main and on aideploy/template (what `aideploy update` merges from).",
        ),
    ] = False,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never prompt (scripts, CI).")
    ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """Scaffold a self-contained client project for the cloud the client already uses."""
    from components.registry import project_clouds
    from components.spec import GATEWAY_PATTERNS, SHIPPED_PATTERNS, AuthMode, Pattern
    from templates.answers import Answers, per_environment, project_slug
    from templates.generator import generate

    ask = Asker(no_input)
    clouds = project_clouds()
    cloud_enum = cloud or Cloud(
        ask(None, "--cloud", "Cloud", choices=tuple(c.value for c in clouds))
    )
    if cloud_enum not in clouds:
        fail(
            f"--cloud {cloud_enum.value}: its components and policy rules are built, but not the "
            "project template (bootstrap, pipelines, runbooks) yet; choose "
            + ", ".join(c.value for c in clouds)
        )
    offered = _offered_patterns()
    pattern_value = ask(pattern, "--pattern", "Pattern", choices=offered)
    if pattern_value not in offered:
        fail(f"unknown pattern {pattern_value!r}: choose {', '.join(offered)}")
    pattern_enum = Pattern(pattern_value)
    region_value = ask(region, "--region", "Region", suggestion=SUGGESTED_REGION[cloud_enum])
    owner_value = ask(owner, "--owner", "Owner (email; alerts go here)")
    accounts = per_environment(_ask_accounts(ask, cloud_enum, list(account or ())), "account")
    tenant_value = (
        ask(tenant, "--tenant", "Entra ID tenant id") if cloud_enum is Cloud.AZURE else tenant
    )
    on_cluster = cloud_enum is Cloud.KUBERNETES
    cluster_settings = (
        read_cluster_file(
            Path(
                ask(str(cluster) if cluster else None, "--cluster", "Cluster settings file (YAML)")
            )
        )
        if on_cluster
        else (read_cluster_file(cluster) if cluster is not None else None)
    )
    if on_cluster:
        state_endpoint = ask(
            state_endpoint, "--state-endpoint", "Object store for the state (HOST[:PORT])"
        )
    repo_value = ask(repo, "--repo", "CI repository (OWNER/NAME)")
    shipped = pattern_enum in SHIPPED_PATTERNS
    if model_image is None and not sample_model and not shipped:
        if not ask.interactive:
            fail("missing answer: --model-image or --sample-model is required with --no-input")
        image = ask(None, "--model-image", "Model image (a registry reference, or 'sample')")
        sample_model, model_image = image == "sample", (None if image == "sample" else image)
    gateway = pattern_enum in GATEWAY_PATTERNS
    try:
        uses_jwt = AuthMode(auth) in (AuthMode.JWT, AuthMode.JWT_AND_API_KEY)
    except ValueError:
        fail(f"unknown auth {auth!r}: choose jwt, api-key or jwt+api-key")
    if (gateway and uses_jwt) or shipped:
        jwt_issuer = ask(jwt_issuer, "--jwt-issuer", "JWT issuer URL (your identity provider)")
        jwt_audience = ask(jwt_audience, "--jwt-audience", "JWT audience")
    domains: list[str] = list(domain or ())
    if gateway and not domains:
        optional = ask.optional(None, "API domain you own (empty: the cloud's default host name)")
        domains = [optional] if optional else []
    llm_modes = ("none", "hosted", "self-hosted")
    if gateway and llm is None and ask.interactive:
        llm = ask(None, "--llm", "Is the model an LLM", choices=llm_modes)
    if llm is not None and llm not in llm_modes:
        fail(f"unknown --llm {llm!r}: choose {', '.join(llm_modes)}")
    answers = Answers(
        name=name,
        cloud=cloud_enum,
        pattern=pattern_enum,
        region=region_value,
        owner=owner_value,
        accounts=accounts,
        repo=repo_value,
        tenant=tenant_value,
        cluster=cluster_settings,
        state_endpoint=state_endpoint,
        model_image=model_image,
        sample_model=sample_model,
        jwt_issuer=jwt_issuer,
        jwt_audience=jwt_audience,
        domains=domain_hosts(domains),
        description=description,
        model_name=model_name,
        model_version=model_version,
        alert_emails=tuple(alert_email or ()),
        auth=auth,
        rollout=rollout,
        ci=ci,
        private_ca=private_ca,
        llm=llm or "none",
        llm_model=llm_model,
        llm_model_version=llm_model_version,
    )
    if git:
        import shutil

        if shutil.which("git") is None:
            fail("--git: git is not installed")
    target = output or Path(project_slug(name))
    doing = "" if no_cost else " and estimating its monthly cost"
    with console.status(f"Scaffolding {answers.project_slug}{doing} ...", spinner="dots"):
        result = generate(answers, target, force=force, costs=not no_cost)
    if git:
        from templates.update import initialise_git

        initialise_git(result.path)
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
                    "bootstrap_stacks": list(result.plan.bootstrap),
                    "monthly_cost": {
                        env.value: {"currency": r.currency, "monthly_total": r.monthly_total}
                        for env, r in result.costs.items()
                    },
                }
            )
        )
        return
    console.print(
        f"[green]Created[/] {escape(str(result.path))} ({result.files} files, stacks: "
        f"{', '.join(result.stacks)}; bootstrap: {', '.join(result.plan.bootstrap)})",
        highlight=False,
    )
    if result.costs:
        console.print(
            "Monthly list price (usage-priced charges on top; `aideploy cost` itemises): "
            + "; ".join(escape(r.summary()) for r in result.costs.values()),
            highlight=False,
        )
    # On kubernetes one context for all three is the isolation the client chose (namespaces).
    if answers.shared_account and answers.cluster is None:
        console.print(
            f"Note: dev, staging and prod share {ACCOUNT_PROMPT[answers.cloud]} "
            f"{escape(answers.accounts[Environment.DEV])}; one per environment keeps a dev "
            "mistake out of prod (see bootstrap/README.md).",
            highlight=False,
        )
    first = "the model release" if shipped else "the model image"
    console.print(
        f"Next: cd {escape(str(result.path))} and follow README.md: bootstrap, {first}, "
        "then `pulumi up` per stack.",
        highlight=False,
    )


# `aideploy new`'s flags whose answer field has another name (the rest: dashes -> underscores).
FLAG_FIELDS: dict[str, str] = {
    "account": "accounts",
    "domain": "domains",
    "alert-email": "alert_emails",
}
# `update`'s and `diff`'s own options (for suggestions when a flag is mistyped).
UPDATE_FLAGS = ("--dry-run", "--no-git", "--no-input", "--format")
# Flags that may be repeated (their values become a list).
REPEATED_FLAGS = frozenset({"account", "domain", "alert-email"})


def answers_from_flags(args: Sequence[str]) -> dict[str, Any]:
    """``aideploy new``-style flags (``--llm hosted``, ``--account dev=1``) as answer fields.

    ``aideploy update`` takes them for answers a newer template needs; unknown ones fail.
    """
    from templates.answers import Answers, per_environment

    values: dict[str, list[str]] = {}
    items = list(args)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--") or flag == "--":
            fail(f"unexpected argument {flag!r}")
        name, eq, value = flag[2:].partition("=")
        if not eq:  # a switch such as --sample-model has no value
            value = "true" if not items or items[0].startswith("--") else items.pop(0)
        field_name = FLAG_FIELDS.get(name, name.replace("-", "_"))
        if field_name not in Answers.model_fields:
            import difflib

            known = [*UPDATE_FLAGS, *(f"--{f.replace('_', '-')}" for f in Answers.model_fields)]
            close = difflib.get_close_matches(f"--{name}", known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            fail(
                f"no such option: --{name} ({hint}see aideploy update --help, and aideploy new "
                "--help for the answer flags)"
            )
        values.setdefault(name, []).append(value)
    answers: dict[str, Any] = {}
    for name, given in values.items():
        field_name = FLAG_FIELDS.get(name, name.replace("-", "_"))
        if name == "account":
            answers[field_name] = {e.value: v for e, v in per_environment(given, "account").items()}
        elif name == "domain":
            answers[field_name] = {e.value: v for e, v in domain_hosts(given).items()}
        elif name == "cluster":  # as for `new`: a YAML file of the cluster settings
            answers[field_name] = read_cluster_file(Path(given[-1]))
        elif name in REPEATED_FLAGS:
            answers[field_name] = given
        elif len(given) > 1:
            fail(f"--{name} given twice")
        else:
            answers[field_name] = given[0]
    return answers


def _directory_and_flags(directory: Path, extra: Sequence[str]) -> tuple[Path, list[str]]:
    """Tell the DIRECTORY argument from an answer flag or its value that landed in its place
    (`aideploy update --llm none` run inside the project): the flags are unknown to click, so
    it may take `--sample-model` or the value `none` for the folder."""
    args = list(extra)
    if str(directory).startswith("--"):
        return Path("."), [str(directory), *args]
    takes_value = bool(args) and args[-1].startswith("--") and "=" not in args[-1]
    if takes_value and not directory.exists():
        return Path("."), [*args, str(directory)]
    return directory, args


def _update_plan(directory: Path, extra: Sequence[str], no_input: bool, no_git: bool) -> Any:
    """Plan an update of ``directory``: asks for answers a newer template needs."""
    from templates.update import missing_answers, plan_update, read_record

    directory, extra = _directory_and_flags(directory, extra)

    given = answers_from_flags(extra)
    missing = [m for m in missing_answers(read_record(directory.resolve())) if m not in given]
    if missing:
        ask = Asker(no_input)
        for name in missing:
            flag = "--" + next((f for f, n in FLAG_FIELDS.items() if n == name), name).replace(
                "_", "-"
            )
            given[name] = ask(None, flag, f"The template now needs {flag}")
    with console.status(f"Rendering {directory} with this aideploy ...", spinner="dots"):
        return plan_update(directory, given=given, use_git=False if no_git else None)


def _print_plan(plan: Any, *, diffs: bool) -> bool:
    """The update's files as a table (and, for ``diff``, each file's change); returns whether
    there is anything to do."""
    from templates.generator import TEMPLATE_VERSION
    from templates.update import CHANGES, Action, unified_diff

    what = {
        Action.ADD: "new in the template",
        Action.REPLACE: "replaced (not edited here)",
        Action.DELETE: "deleted (gone from the template, not edited here)",
        Action.MERGE: "merged with git" if plan.git else "new version written beside",
        Action.KEEP_DELETED: "deleted here, changed in the template: "
        + ("a modify/delete conflict to decide" if plan.git else "stays deleted"),
        Action.DROPPED: "gone from the template, edited here: "
        + ("a modify/delete conflict to decide" if plan.git else "kept"),
    }
    legacy = plan.record.files is None
    mode = "git merge" if plan.git else "file by file"
    if not plan.git and not (plan.project / ".git").exists() and _inside_git(plan.project):
        mode += ", since this folder is not the root of its git repository"
    console.print(
        f"{escape(plan.project.name)}: template {escape(plan.from_version)} -> "
        f"{TEMPLATE_VERSION} ({mode})",
        highlight=False,
        soft_wrap=True,
    )
    if legacy:
        console.print(
            "No hashes were recorded at generation: every file that differs from the new "
            "render counts as edited, and files the old template had but this one has not "
            "cannot be told from yours (docs/template-changelog.md says which).",
            highlight=False,
            soft_wrap=True,
        )
    shown = [e for e in plan.entries if e.action in CHANGES]
    kept = [e for e in plan.entries if e.action is Action.KEEP]
    if shown:
        table = Table()
        table.add_column("file", overflow="fold")
        table.add_column("edited here")
        table.add_column("update")
        for entry in shown:
            edited = (
                "unknown (no base)"
                if legacy and entry.action is Action.MERGE
                else ("yes" if entry.edited else "")
            )
            table.add_row(escape(entry.path), edited, what[entry.action])
        console.print(table)
    if kept:
        console.print(
            f"{len(kept)} file(s) edited here that the template did not change are kept as "
            "they are.",
            highlight=False,
        )
    if not shown:
        console.print("Already up to date.")
    if diffs:
        for entry in shown:
            if entry.action in CHANGES:
                typer.echo(unified_diff(plan, entry), nl=False)
    return bool(shown)


def _inside_git(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in path.resolve().parents)


# The options `update` and `diff` share (their extra arguments are `aideploy new`'s flags).
ProjectDir = Annotated[Path, typer.Argument(help="The generated project.")]
NoGit = Annotated[bool, typer.Option("--no-git", help="File by file, even in a git repository.")]
NoInput = Annotated[bool, typer.Option("--no-input", help="Never prompt (scripts, CI).")]
Format = Annotated[OutputFormat, typer.Option("--format", help="text or json.")]
TAKES_NEW_FLAGS = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(context_settings=TAKES_NEW_FLAGS)
@handle_errors
def update(
    ctx: typer.Context,
    directory: ProjectDir = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    no_git: NoGit = False,
    no_input: NoInput = False,
    fmt: Format = OutputFormat.TEXT,
) -> None:
    """Bring a generated project to this aideploy's template, keeping every edit made in it.

    Renders the project again from its recorded answers and merges: with git, through the
    aideploy/template branch (conflicts as ordinary markers); without, unedited files are
    replaced and edited ones get FILE.aideploy-new beside them. Answers a newer template needs
    are asked for, or given as `aideploy new`'s flags. Exit 1: conflicts to resolve.
    """
    from templates.update import apply_update, discard

    plan = _update_plan(directory, ctx.args, no_input, no_git)
    if dry_run:
        try:
            if fmt is OutputFormat.JSON:
                print(json.dumps(plan.to_json()))
            else:
                _print_plan(plan, diffs=False)
        finally:
            discard(plan)
        return
    with console.status("Updating ...", spinner="dots"):
        result = apply_update(plan)
    if fmt is OutputFormat.JSON:
        print(
            json.dumps(
                {**plan.to_json(), "conflicts": list(result.conflicts), "commit": result.commit}
            )
        )
    else:
        changed = _print_plan(plan, diffs=False)
        for path in result.conflicts:
            console.print(f"  conflict: {escape(path)}", highlight=False)
        if result.conflicts and plan.git:
            console.print(
                f"{len(result.conflicts)} file(s) need a decision (conflict markers, or deleted "
                "on one side): resolve them, then `git add`/`git rm` and `git commit` (or "
                "`git merge --abort`).",
                highlight=False,
            )
        elif result.conflicts:
            console.print(
                f"{len(result.conflicts)} edited file(s) have the new version beside them "
                "(FILE.aideploy-new): merge each into its file, then delete it.",
                highlight=False,
            )
        elif changed:
            console.print("[green]Updated.[/] Run the project's tests: `pytest -q`.")
    raise typer.Exit(EXIT_FAILED if result.conflicts else EXIT_OK)


@app.command(context_settings=TAKES_NEW_FLAGS)
@handle_errors
def diff(
    ctx: typer.Context,
    directory: ProjectDir = Path("."),
    no_git: NoGit = False,
    no_input: NoInput = False,
    fmt: Format = OutputFormat.TEXT,
) -> None:
    """Preview `aideploy update`: each file it would change, and how, with the diffs."""
    from templates.update import CHANGES, discard, unified_diff

    plan = _update_plan(directory, ctx.args, no_input, no_git)
    try:
        if fmt is OutputFormat.JSON:
            data = plan.to_json()
            by_path = {e.path: e for e in plan.entries}
            for item in data["files"]:
                entry = by_path[item["path"]]
                item["diff"] = unified_diff(plan, entry) if entry.action in CHANGES else ""
            print(json.dumps(data))
        else:
            _print_plan(plan, diffs=True)
    finally:
        discard(plan)


def read_cluster_file(path: Path) -> dict[str, Any]:
    """The ``--cluster`` file's settings (a YAML mapping; the answers validate its fields)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--cluster {path}: cannot read it ({exc.strerror or exc.__class__.__name__})")
    except yaml.YAMLError:
        fail(f"--cluster {path}: not valid YAML")
    if not isinstance(data, dict):
        fail(f"--cluster {path}: expected a mapping of cluster settings")
    return data


def domain_hosts(values: list[str]) -> dict[Any, str]:
    """``--domain`` values as ``{environment: host}``: a bare HOST is prod's, and dev and staging
    get ``dev.HOST`` and ``staging.HOST``; ``ENV=HOST`` sets one environment."""
    from components.spec import Environment

    bare = [v for v in values if "=" not in v]
    named = [v for v in values if "=" in v]
    if len(bare) > 1:
        raise ValueError("domain: give one bare HOST (prod's), or ENV=HOST for each")
    from templates.answers import per_environment

    hosts = per_environment(named, "domain")
    if bare:
        host = bare[0].strip().lower()
        hosts.setdefault(Environment.PROD, host)
        for env in (Environment.DEV, Environment.STAGING):
            hosts.setdefault(env, f"{env.value}.{host}")
    return {env: value.lower() for env, value in hosts.items()}


@app.command()
@handle_errors
def patterns(
    fmt: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """List every pattern per cloud with the managed services it uses."""
    from components.registry import REGISTRY, is_available, scaffolded

    def status(cloud: Cloud, pattern: Pattern) -> str:
        # "components": the component and its rules are built, `aideploy new` cannot scaffold
        # a project for it yet (the kubernetes target, issue 13).
        if scaffolded(cloud, pattern):
            return "available"
        return "components" if is_available(cloud, pattern) else "planned"

    rows = [
        (pattern, cloud, status(cloud, pattern), REGISTRY[(cloud, pattern)].services)
        for pattern in Pattern
        for cloud in Cloud
        if (cloud, pattern) in REGISTRY  # the kubernetes target runs two of the four
    ]
    if fmt is OutputFormat.JSON:
        payload = [
            {
                "pattern": p.value,
                "cloud": c.value,
                "available": state == "available",
                "status": state,
                "services": list(services),
            }
            for p, c, state, services in rows
        ]
        print(json.dumps(payload))
        return
    table = Table(title="aideploy patterns")
    for column in ("pattern", "cloud", "status", "managed services"):
        table.add_column(column)
    for p, c, state, services in rows:
        table.add_row(p.value, c.value, state, ", ".join(services))
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
    source: Annotated[
        str | None, typer.Option("--from", help="Stack to promote from (default: staging).")
    ] = None,
    target: Annotated[str, typer.Option("--to", help="Stack to write into.")] = "prod",
    image: Annotated[
        str | None,
        typer.Option(
            help="Record a new release instead: its image by digest (REPO@sha256:...), as CI "
            "pushed it; usually --to dev.",
            metavar="REPO@DIGEST",
        ),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="The new release's model version (with --image).")
    ] = None,
    graduate: Annotated[
        bool,
        typer.Option(
            "--graduate",
            help="Make the target's candidate its stable version (after it passed the watch).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Write without asking (CI).")] = False,
) -> None:
    """Promote a release into the next stack as its candidate (--from), record a new release
    in dev (--image), or make a stack's candidate its stable version (--graduate)."""
    from rich.syntax import Syntax

    from stacks.promote import (
        PromotionError,
        apply_promotion,
        plan_graduation,
        plan_promotion,
        plan_release,
    )

    if sum((image is not None, source is not None, graduate)) > 1:
        fail("give one of --from STACK, --image REPO@sha256:... or --graduate")
    if version is not None and image is None:
        fail("--version goes with --image")
    try:
        if image is not None:
            plan = plan_release(directory, target, image, version)
        elif graduate:
            plan = plan_graduation(directory, target)
        else:
            plan = plan_promotion(directory, source or "staging", target)
    except PromotionError as exc:
        fail(str(exc), EXIT_FAILED)
    what = (
        "the release"
        if image is not None
        else "its candidate as stable"
        if graduate
        else f"the newest release of {plan.source} as its candidate"
    )
    if not plan.changed:
        console.print(f"{target} already holds {what}.", highlight=False)
        return
    console.print(Syntax(plan.diff(), "diff", theme="ansi_dark"))
    if not yes and not sys.stdin.isatty():
        fail("not a terminal: pass --yes to write without confirmation; nothing written")
    if not yes and not typer.confirm(f"Write {plan.path}?", default=False):
        fail("not confirmed; nothing written", EXIT_FAILED)
    apply_promotion(plan)
    console.print(
        f"[green]Wrote[/] {escape(what)} into {target}: {escape(str(plan.path))}",
        highlight=False,
    )


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
    list_rules: Annotated[
        bool,
        typer.Option(
            "--list-rules", help="Print the rule catalogue (IDs, levels, controls) and exit."
        ),
    ] = False,
) -> None:
    """Check stacks offline against the policy pack; exit 1 on a mandatory violation.

    With --all, --format json prints a JSON array with one object per stack. With
    --list-rules, prints the catalogue of the pack the check would use (text or json).
    """
    from policies.check import run

    if list_rules:
        _list_rules(directory, fmt)
        return

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


def _list_rules(directory: Path, fmt: str) -> None:
    """The catalogue of the pack ``aideploy check DIR`` would use, with the project's levels."""
    import os
    import subprocess  # nosec B404 - runs our own module with fixed arguments

    from policies.runner.engine import OWN_PACK_DIR, default_pack_dir

    if fmt not in ("text", "json"):
        fail(f"--list-rules prints text or json, not {fmt}")
    pack_dir = default_pack_dir(directory.resolve())
    if pack_dir != OWN_PACK_DIR:
        # A project's vendored pack may differ from ours: ask it, in its own interpreter path.
        result = subprocess.run(
            [sys.executable, "-m", "policies.catalogue", "--format", fmt],
            cwd=pack_dir.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            fail(f"the project's pack could not list its rules: {last}")
        typer.echo(result.stdout, nl=False)
        return
    from policies.catalogue import catalogue, to_json, to_text

    entries = catalogue()
    if fmt == "json":
        typer.echo(to_json(entries))
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        typer.echo(to_text(entries, color=bool(color)), nl=False)


@app.command()
@handle_errors
def cost(
    directory: Annotated[Path, typer.Argument(help="The Pulumi project folder.")] = Path("."),
    stack: Annotated[str | None, typer.Option(help="The stack to estimate, e.g. dev.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """Estimate a stack's monthly list price per resource, from the dated price table.

    Runs the stack under mocks (no cloud, no credentials). Usage-priced items (requests,
    data transfer, log ingestion) are listed with their unit prices, never in the total.
    """
    from stacks.cost import estimate, render_text

    if stack is None:
        fail("missing option: --stack (e.g. --stack dev)")
    report = estimate(directory, stack)
    if fmt is OutputFormat.JSON:
        print(json.dumps(report.to_json()))
        return
    console.print(render_text(report))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
