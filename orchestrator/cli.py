"""The `orchestrator` command: parse arguments, configure logging once, call the app, map exit codes.

Exit codes (contract): 0 success · 1 the run failed · 2 invalid input · 3 lock held ·
4 not ready / approval refused or missing · 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from orchestrator import app, logs
from orchestrator.engine import Approver, GateRequest, Outcome
from orchestrator.errors import Interrupted, InvalidInput, OrchestratorError
from orchestrator.inputs import file_kind
from orchestrator.journal.lease import holder_alive
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunRecord
from orchestrator.model import RunStatus, StepStatus
from orchestrator.progress import ConsoleStream, LiveProgress
from orchestrator.runbook import Runbook

if TYPE_CHECKING:
    from orchestrator.readiness import Readiness
    from orchestrator.site import Site

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

COMMON = ("state_dir", "log_format", "report_dir", "log_level")
#: the most runs/drills a listing shows (the journal's queries take an SQLite integer)
MAX_LAST = 100_000


class _PathType(click.ParamType):
    """A path argument; an empty one is refused (``Path("")`` would silently mean the current directory)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        if not value:
            self.fail("an empty path was given", param, ctx)
        return Path(value)


PATH = _PathType()


def _remember(ctx: click.Context, param: click.Parameter, value: T) -> T:
    if value is not None:
        ctx.meta.setdefault("common", {})[param.name] = value
    return value


def _remember_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--state-dir / --report-dir: checked now, before anything is read or changed (a file or /dev/null
    there would otherwise fail only when the first record or report is written)."""
    if value is not None:
        problem = unusable_dir(value)
        if problem:
            raise click.BadParameter(f"{value}: {problem}", ctx=ctx, param=param)
    return _remember(ctx, param, value)


def _writable_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A file this program will write (``--chart``): not a directory, in a directory it can write; when it
    exists, a regular file (writing to a FIFO would wait for a reader forever)."""
    if value is not None:
        problem = "is a directory" if value.is_dir() else _not_regular(value) or unusable_dir(value.parent)
        if problem:
            raise click.BadParameter(f"{value}: {problem}", ctx=ctx, param=param)
    return value


def _not_regular(path: Path) -> str | None:
    """Why an existing ``path`` is not a regular file to write (a FIFO, a device, a socket), or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing (it will be created) or unreachable (unusable_dir says why)
    return None if stat.S_ISREG(mode) else f"is {file_kind(mode)}, not a regular file"


def unusable_dir(path: Path) -> str | None:
    """Why ``path`` cannot be a directory this program writes into (created if missing), or None."""
    path = Path(path)
    probe = path
    while True:
        try:
            mode = probe.stat().st_mode
        except FileNotFoundError:
            if probe.parent == probe:
                return None
            probe = probe.parent
            continue
        except OSError as exc:  # a loop of symbolic links, a file on the way, a permission denied
            return f"cannot be used ({probe}: {exc.strerror or exc.__class__.__name__})"
        if not stat.S_ISDIR(mode):
            return "is not a directory" if probe == path else f"cannot be created: {probe} is not a directory"
        if not os.access(probe, os.W_OK | os.X_OK):
            return f"cannot be written: {probe} is not writable"
        return None


def common_options(fn: F) -> F:
    """--state-dir/--log-format/--report-dir/--log-level, accepted before or after the subcommand."""
    options = [
        click.option(
            "--state-dir",
            type=PATH,
            callback=_remember_dir,
            expose_value=False,
            help="State directory (default .orchestrator/ or $ORCHESTRATOR_STATE_DIR).",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["json", "console"]),
            callback=_remember,
            expose_value=False,
            help="Log format on stderr.",
        ),
        click.option(
            "--report-dir",
            type=PATH,
            callback=_remember_dir,
            expose_value=False,
            help="Where reports go (default STATE_DIR/reports).",
        ),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            callback=_remember,
            expose_value=False,
            help="Console log level (the audit log keeps everything).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def settings_from(ctx: click.Context) -> app.Settings:
    common = ctx.meta.get("common", {})
    state_dir = app.state_dir_from_env(common.get("state_dir") and str(common["state_dir"]))
    problem = unusable_dir(state_dir)
    if problem:  # --state-dir was checked as it was parsed: this is $ORCHESTRATOR_STATE_DIR or the default
        where = "ORCHESTRATOR_STATE_DIR" if os.environ.get("ORCHESTRATOR_STATE_DIR") else "the state directory"
        raise InvalidInput(f"{state_dir} {problem}", source=where)
    return app.Settings(
        state_dir=state_dir,
        report_dir=common.get("report_dir"),
        log_format=common.get("log_format", "console"),
        log_level=common.get("log_level", "info"),
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
def cli() -> None:
    """Failover orchestrator for contact centers: fail over to the warm AWS site, fail back, drill."""


def run_options(fn: F) -> F:
    fn = click.option("--accept-rpo-breach", is_flag=True, help="Restore a snapshot older than the RPO.")(fn)
    fn = click.option("--approve", "approvals", multiple=True, metavar="STEP", help="Approve a gated step.")(
        fn
    )
    fn = click.option("--yes", "-y", is_flag=True, help="Approve every gated step.")(fn)
    fn = click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")(fn)
    fn = click.option(
        "--runbook", type=PATH, help="Runbook file (default per command)."
    )(fn)
    fn = click.option(
        "--site",
        "site_file",
        type=PATH,
        required=True,
        envvar="ORCHESTRATOR_SITE",
        help="Site file (the warm-site stack's outputs; default: $ORCHESTRATOR_SITE).",
    )(fn)
    return common_options(fn)


def _run_command(kind: str) -> Callable[..., None]:
    @run_options
    @click.pass_context
    def command(
        ctx: click.Context,
        site_file: Path,
        runbook: Path | None,
        dry_run: bool,
        yes: bool,
        approvals: tuple[str, ...],
        accept_rpo_breach: bool,
    ) -> None:
        settings = _setup(ctx)
        request = app.RunRequest(
            kind=kind,
            site_file=site_file,
            runbook_file=runbook,
            approvals=tuple(approvals),
            yes=yes,
            accept_rpo_breach=accept_rpo_breach,
        )
        if dry_run:
            sys.exit(app.dry_run(settings, request, click.echo))
        with _progress(settings, kind) as progress:
            outcome, folder = app.start(settings, request, _approver(progress), progress.factory)
        _finish(outcome, folder, settings, site_file)

    command.__doc__ = {
        "failover": "Fail over to the warm site (default runbook runbooks/failover.yaml).",
        "failback": "Fail back to the primary site (default runbook runbooks/failback.yaml).",
        "drill": "Fail over, verify, fail back and clean up, as one run with one report (approvals auto-granted).",
    }[kind]
    return command


for _kind in ("failover", "failback", "drill"):
    cli.command(name=_kind)(_run_command(_kind))


@cli.command()
@click.argument("run_id")
@click.option(
    "--site", "site_file", type=PATH, help="Site file (default: as recorded)."
)
@click.option("--yes", "-y", is_flag=True, help="Approve every gated step.")
@click.option("--approve", "approvals", multiple=True, metavar="STEP", help="Approve a gated step.")
@click.option(
    "--allow-site-change",
    "site_changes",
    multiple=True,
    metavar="KEY",
    help="Let --site change this key of the run's site (e.g. vpn.appliance.host; see docs/decisions.md).",
)
@common_options
@click.pass_context
def resume(
    ctx: click.Context,
    run_id: str,
    site_file: Path | None,
    yes: bool,
    approvals: tuple[str, ...],
    site_changes: tuple[str, ...],
) -> None:
    """Continue an interrupted or failed run from where it stopped (with the site it was started with)."""
    settings = _setup(ctx)
    with _progress(settings, "resume") as progress:
        outcome, folder = app.resume(
            settings,
            run_id,
            tuple(approvals),
            yes,
            _approver(progress),
            progress.factory,
            site_file,
            tuple(site_changes),
        )
    _finish(outcome, folder, settings, site_file)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--last",
    type=click.IntRange(1, MAX_LAST),
    default=1,
    show_default=True,
    help="How many recent runs (without RUN_ID).",
)
@click.option(
    "--site", "site_file", type=PATH, help="Site file (team mode: read its state table)."
)
@common_options
@click.pass_context
def status(ctx: click.Context, run_id: str | None, as_json: bool, last: int, site_file: Path | None) -> None:
    """Runs and their steps (the latest run by default)."""
    settings = _setup(ctx)
    site = app.load_site(site_file) if site_file else None
    journal = app.open_journal(settings, site)
    if run_id:
        runs = [journal.get_run(run_id)]
    else:
        runs = journal.list_runs(limit=last, site=site.site if site else None)
    _deliver_pending(settings, journal, runs, site)
    data = {"runs": [_run_json(journal, r) for r in runs]}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not runs:
        click.echo("no runs yet")
    for run in data["runs"]:
        click.echo(
            f"{run['run_id']}  {run['kind']}  site={run['site']}  {run['status']}  started {run['started_at']}"
            + (f"\n  error: {run['error']}" if run.get("error") else "")
            + (f"\n  orphaned (no live orchestrator): `orchestrator resume {run['run_id']}`" if run["orphaned"] else "")
        )
        for step in run["steps"]:
            click.echo(
                f"  {step['status']:<18} {step['id']:<32} {step['uses']:<20} attempts={step['attempts']}"
                f" owner={step['owner']}" + (f"  error: {step['error']}" if step["error"] else "")
            )


def _deliver_pending(settings: app.Settings, journal: Journal, runs: list[RunRecord], site: Site | None) -> None:
    """Opening a run sends what its outbox still holds (milestones of a process killed before it sent them),
    said on stderr so that ``--json`` stays clean. A run with a live orchestrator delivers its own."""
    for run in runs:
        if run.status == RunStatus.RUNNING and not _orphaned(journal, run):
            continue
        done = app.deliver_pending(settings, journal, run, site)
        if done is not None and (done.messages or done.page_uploaded):
            sent = ", ".join(done.messages) or "none"
            click.echo(f"delivered pending notifications of run {run.run_id}: {sent}"
                       + ("; status page updated" if done.page_uploaded else ""), err=True)
        if done is not None and done.failed:
            click.echo(f"still pending (sending failed; see the warning above): {', '.join(done.failed)}", err=True)


def _shown_status(run: RunRecord, orphaned: bool) -> str:
    """``running`` only while an orchestrator is alive for the run (contract): a run whose process died
    (kill -9, a lost machine) is shown ``interrupted``, and resumable as such."""
    return RunStatus.INTERRUPTED if orphaned else run.status


def _orphaned(journal: Journal, run: RunRecord) -> bool:
    """A run the journal calls running whose orchestrator is gone (killed, machine lost): resume it."""
    if run.status != RunStatus.RUNNING:
        return False
    lock = journal.current_lock(run.site)
    if lock is None or lock.holder.run_id != run.run_id:
        return True
    return holder_alive(lock.holder) is False


def _run_json(journal: Journal, run: RunRecord) -> dict[str, Any]:
    orphaned = _orphaned(journal, run)
    return {
        "run_id": run.run_id,
        "kind": run.kind,
        "site": run.site,
        "status": _shown_status(run, orphaned),
        "orphaned": orphaned,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "steps": [
            {
                "id": s.step_id,
                "uses": s.uses,
                "owner": s.owner,
                "status": StepStatus.INTERRUPTED if orphaned and s.status == StepStatus.RUNNING else s.status,
                "attempts": s.attempts,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "duration_seconds": s.duration_seconds,
                "error": s.error,
            }
            for s in journal.get_steps(run.run_id)
        ],
    }


@cli.command()
@click.option(
    "--site", "site_file", type=PATH, required=True, envvar="ORCHESTRATOR_SITE",
    help="Site file (default: $ORCHESTRATOR_SITE).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--strict", is_flag=True, help="Warnings (drift, no recent drill) also make it not ready.")
@click.option(
    "--max-drill-age-days",
    type=click.IntRange(0, 36500),
    default=30,
    show_default=True,
    help="Older drills are a warning.",
)
@common_options
@click.pass_context
def readiness(
    ctx: click.Context, site_file: Path, as_json: bool, strict: bool, max_drill_age_days: int
) -> None:
    """Would a failover work right now? Exit 0 ready, 4 not ready."""
    from orchestrator import readiness as ready_mod

    settings = _setup(ctx)
    site = app.load_site(site_file)
    journal = app.open_journal(settings, site)
    services = app.build_services(site, settings.clock)
    try:
        result = ready_mod.evaluate(
            services, site, journal.drills(site.site, 50), settings.clock.now(), strict, max_drill_age_days
        )
    finally:
        services.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _readiness_table(result)
    sys.exit(0 if result.ready else 4)


def _readiness_table(result: Readiness) -> None:
    from rich.table import Table

    title = f"readiness of {result.site}: {'READY' if result.ready else 'NOT READY'}"
    table = Table(title=title, title_justify="left")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in result.checks:
        verdict = "ok" if check.ok else ("FAIL" if check.blocking else "warn")
        style = "green" if check.ok else ("bold red" if check.blocking else "yellow")
        table.add_row(check.name, f"[{style}]{verdict}[/{style}]", check.detail)
    Console(width=160).print(table)


@cli.command()
@click.option(
    "--site", "site_file", type=PATH, help="Only this site's drills (and its table)."
)
@click.option("--last", type=click.IntRange(1, MAX_LAST), default=10, show_default=True, help="How many drills.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--chart", type=PATH, callback=_writable_file, help="Also draw the RTO trend to this PNG file.")
@common_options
@click.pass_context
def drills(ctx: click.Context, site_file: Path | None, last: int, as_json: bool, chart: Path | None) -> None:
    """The trend of the last N drills: RTO, RPO, pass/fail; each step's p50/p90 over them."""
    from orchestrator import history

    settings = _setup(ctx)
    site = app.load_site(site_file) if site_file else None
    journal = app.open_journal(settings, site)
    rows = history.trend_rows(journal.drills(site.site if site else None, last))
    stats = history.step_stats(reversed(rows))  # newest first: the newest drill's step order
    if chart:
        history.draw_trend(rows, chart)
    if as_json:
        click.echo(json.dumps({"drills": rows, "steps": [s.to_dict() for s in stats]}, indent=2))
    elif rows:
        click.echo(history.render_table(rows))
        click.echo(f"\nPer step, over these {len(rows)} drill(s) (succeeded runs of the step):")
        click.echo(history.render_step_table(stats))
    else:
        click.echo("no drills recorded yet")


@cli.group()
def runbook() -> None:
    """Check or render a runbook."""


@runbook.command("validate")
@click.argument("file", type=PATH)
@common_options
@click.pass_context
def runbook_validate(ctx: click.Context, file: Path) -> None:
    """Check a runbook: step kinds, parameters, dependencies, cycles, durations.

    FILE may also name a default runbook: failover, failback or drill."""
    _setup(ctx)
    file = app.runbook_file(file)
    book = app.load_runbook(file)
    click.echo(f"{file}: ok ({len(book.steps)} steps, runbook {book.name!r})")


@runbook.command("render")
@click.argument("file", type=PATH)
@common_options
@click.pass_context
def runbook_render(ctx: click.Context, file: Path) -> None:
    """Print a runbook as Markdown a human can follow by hand.

    FILE may also name a default runbook: failover, failback or drill."""
    _setup(ctx)
    from orchestrator.render import render_runbook

    click.echo(render_runbook(app.load_runbook(app.runbook_file(file))))


@cli.group()
def sandbox() -> None:
    """The embedded site on 127.0.0.1: a moto server, an Amazon Connect double, a real sshd (SFTP provider),
    the VPN appliance (as root a real strongSwan pair in network namespaces, else a fake swanctl), the
    warm-site stack deployed into moto.
    Knobs: ORCHESTRATOR_SANDBOX_MB/_DAYS/_FILES/_SEATS/_DIR/_APPLIANCE (auto, real, fake)."""


@sandbox.command("up")
@common_options
@click.pass_context
def sandbox_up(ctx: click.Context) -> None:
    """Start the embedded site and write its site file."""
    from orchestrator.sandbox import site as embedded

    _setup(ctx)
    state = embedded.up()
    click.echo(f"sandbox up: site file {state['site_file']}")
    click.echo(f"VPN appliance: {state.get('appliance', 'fake swanctl')}")
    if "connect" in state:
        click.echo(f"Amazon Connect double: {state['connect']['endpoint']} (AWS_ENDPOINT_URL_CONNECT)")
    click.echo(f"room for {state['failover_budget']} more failovers (moto never frees a terminated seat's address)")
    click.echo("point your tools at it with:  eval \"$(orchestrator sandbox env)\"")


@sandbox.command("down")
@common_options
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop everything the embedded site started."""
    from orchestrator.sandbox import site as embedded

    _setup(ctx)
    click.echo("sandbox down" if embedded.down() else "sandbox was not up")


@sandbox.command("env")
@common_options
@click.pass_context
def sandbox_env(ctx: click.Context) -> None:
    """Print the exports that point the aws CLI, boto3 and the orchestrator at the embedded site."""
    from orchestrator.sandbox import site as embedded

    _setup(ctx)
    state = embedded.load_state()
    if state is None:
        raise click.ClickException("the sandbox is not up (orchestrator sandbox up)")
    for key, value in embedded.env_for(state).items():
        click.echo(f"export {key}={shlex.quote(value)}")
    click.echo("unset AWS_CA_BUNDLE AWS_PROFILE")


@sandbox.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@common_options
@click.pass_context
def sandbox_run(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Start the embedded site, run `orchestrator COMMAND --site SITE ...` against it, stop it.

    Example: orchestrator sandbox run -- failover --yes
    """
    from orchestrator.sandbox import site as embedded

    _setup(ctx)
    was_up = embedded.load_state() is not None
    state = embedded.up()
    code = 0
    try:
        embedded.apply_env(state)
        args = [command[0], "--site", state["site_file"], *command[1:]]
        click.echo(f"VPN appliance: {state.get('appliance', 'fake swanctl')}", err=True)
        click.echo(f"$ orchestrator {' '.join(args)}", err=True)
        try:
            cli.main(args=args, prog_name="orchestrator", standalone_mode=False, obj=ctx.obj)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        if not was_up:
            embedded.down()
            click.echo("sandbox down: every process it started is stopped", err=True)
    sys.exit(code)


# --------------------------------------------------------------------------- helpers


def _setup(ctx: click.Context) -> app.Settings:
    settings = settings_from(ctx)
    stream = sys.stderr
    if sys.stderr.isatty() and settings.log_format == "console":
        ctx.meta["console"] = Console(stderr=True)
        stream = ConsoleStream(ctx.meta["console"])
        if "log_level" not in ctx.meta.get("common", {}):
            # a calm terminal: the live table is the screen; info lines go to the audit log only
            settings.log_level = "warning"
    logs.configure(settings.log_format, settings.log_level, stream=stream)
    ctx.meta["settings"] = settings
    return settings


class _progress:
    """Live table on a terminal (console logs only); plain structlog lines otherwise."""

    def __init__(self, settings: app.Settings, title: str):
        ctx = click.get_current_context()
        self.console = ctx.meta.get("console")
        self.title = title
        self.live: LiveProgress | None = None

    def factory(self, book: Runbook) -> LiveProgress | None:
        if self.console is None:
            return None
        self.live = LiveProgress(self.console, f"{book.name} ({self.title})")
        self.live.seed([(s.id, s.uses, s.owner) for s in book.order()])
        self.live.__enter__()
        return self.live

    def __enter__(self) -> _progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)


def _approver(progress: _progress) -> Approver:
    """The prompt at a gated step: below the live table (paused while asking), showing exactly what
    the step will change and where its dependencies stand. Off a terminal it answers nothing (the run
    stops resumably, exit 4). EOF or Ctrl-C at the prompt interrupts the run (exit 130)."""

    def ask(request: GateRequest) -> bool | None:
        if not app.is_interactive():
            return None
        with progress.live.paused() if progress.live is not None else contextlib.nullcontext():
            click.echo(_gate_text(request), err=True)
            try:
                return click.confirm(
                    f"Approve step '{request.id}' ({request.uses}, owner {request.owner})?", default=False, err=True
                )
            except (click.exceptions.Abort, Interrupted):
                click.echo("", err=True)  # end the prompt's line: what follows starts on its own
                raise Interrupted("no answer at the approval prompt (EOF or Ctrl-C)") from None

    return ask


def _gate_text(request: GateRequest) -> str:
    needs = ", ".join(f"{step} {status}" for step, status in request.needs) or "none"
    lines = [
        "",
        f"Approval needed for step '{request.id}' ({request.uses}, owner {request.owner}) of run {request.run_id}",
        f"  depends on: {needs}",
        "  it will change:",
        *(f"    {line}" for line in request.changes or ["(nothing: already in the desired state)"]),
    ]
    if request.then:
        lines.append("  then, with no further question:")
        for step_id, uses, plan in request.then:
            lines.append(f"    {step_id} ({uses}):")
            lines += [f"      {line}" for line in plan or ["(nothing to change)"]]
    return "\n".join(lines)


def _finish(outcome: Outcome, folder: Path | None, settings: app.Settings, site_file: Path | None = None) -> None:
    click.echo(f"run {outcome.run_id}: {outcome.status}" + (f" — {outcome.error}" if outcome.error else ""))
    click.echo(f"report: {folder / 'report.md'}" if folder else "report: not written (see the warning above)")
    page, link = app.status_page_of(settings, outcome.run_id, site_file)
    if page is not None:
        click.echo(f"status page: {page}")
    if link is not None:
        click.echo(f"status page link (presigned, for managers and agents): {link}")
    sys.exit(outcome.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: exceptions become the contract's exit codes with one clear line."""
    try:
        cli.main(args=argv, prog_name="orchestrator", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InvalidInput as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OrchestratorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; the run stays resumable (orchestrator status)", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one clear line (secrets scrubbed); the traceback on request
        from orchestrator.redact import redact_text

        click.echo(f"internal error ({exc.__class__.__name__}): {redact_text(str(exc))}", err=True)
        if os.environ.get("ORCHESTRATOR_TRACEBACK"):
            import traceback

            click.echo(redact_text(traceback.format_exc()), err=True)
        else:
            click.echo("set ORCHESTRATOR_TRACEBACK=1 for the traceback; runs stay resumable", err=True)
        sys.exit(1)
    finally:
        logs.close_audit()
    sys.exit(0)

