"""The `orchestrator` command: parse arguments, configure logging once, call the use cases
(``orchestrator.usecases``), render their results, map exit codes.

Exit codes (contract): 0 success · 1 the run failed · 2 invalid input · 3 lock held ·
4 not ready / approval refused or missing · 130 interrupted.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from orchestrator import logs
from orchestrator.cancel import sleep_on
from orchestrator.cli_terminal import Progress, approver
from orchestrator.durations import parse_duration
from orchestrator.errors import InvalidInput, OrchestratorError
from orchestrator.inputs import file_kind
from orchestrator.model import RunStatus
from orchestrator.progress import ConsoleStream
from orchestrator.redact import redact_text
from orchestrator.runbook import load_runbook
from orchestrator.settings import Settings, state_dir_from_env
from orchestrator.usecases import Orchestrator, ResumeRequest, RunRequest, RunResult
from orchestrator.usecases.plan import runbook_file

if TYPE_CHECKING:
    from orchestrator.readiness import Readiness
    from orchestrator.usecases.records import StatusResult

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

COMMON = ("state_dir", "log_format", "report_dir", "log_level")
#: the most runs/drills a listing shows (the journal's queries take an SQLite integer)
MAX_LAST = 100_000


class _PathType(click.ParamType[Path]):
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


def settings_from(ctx: click.Context) -> Settings:
    common = ctx.meta.get("common", {})
    state_dir = state_dir_from_env(common.get("state_dir") and str(common["state_dir"]))
    problem = unusable_dir(state_dir)
    if problem:  # --state-dir was checked as it was parsed: this is $ORCHESTRATOR_STATE_DIR or the default
        where = "ORCHESTRATOR_STATE_DIR" if os.environ.get("ORCHESTRATOR_STATE_DIR") else "the state directory"
        raise InvalidInput(f"{state_dir} {problem}", source=where)
    return Settings(
        state_dir=state_dir,
        report_dir=common.get("report_dir"),
        log_format=common.get("log_format", "console"),
        log_level=common.get("log_level", "info"),
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
def cli() -> None:
    """Failover orchestrator for contact centers: fail over to the warm AWS site, fail back, drill."""


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}", ctx=ctx, param=param) from None


class WaitCommand(click.Command):
    """A command with ``--wait[=DURATION]``: the bare flag followed by a word that is not a duration (the run id of
    ``resume --wait RUN_ID``) waits the default hour and leaves the word alone; click would otherwise take it as
    the duration and refuse it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, bare_wait_before_a_word(args))


def bare_wait_before_a_word(args: list[str]) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else None
        out.append(f"--wait={WAIT_DEFAULT}" if arg == "--wait" and following is not None
                   and not following.startswith("-") and not _is_duration(following) else arg)
    return out


def _is_duration(word: str) -> bool:
    try:
        parse_duration(word)
    except ValueError:
        return False
    return True


WAIT_DEFAULT = "1h"


def wait_option(fn: F) -> F:
    return click.option(
        "--wait",
        "wait",
        is_flag=False,
        flag_value=WAIT_DEFAULT,
        default=None,
        metavar="[=DURATION]",
        callback=_duration,
        help="Without a terminal, wait at a gate up to DURATION (default 1h) for `orchestrator approve`/`deny`.",
    )(fn)


def run_options(fn: F) -> F:
    fn = wait_option(fn)
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
        wait: float | None,
        stage: bool = False,
    ) -> None:
        if stage and (yes or approvals):
            given = "--yes" if yes else f"--approve {approvals[0]}"
            raise click.UsageError(f"--stage stops before the first gate and {given} would pass it: give one or "
                                   "the other (after staging, `orchestrator approve RUN_ID` decides)", ctx=ctx)
        settings = _setup(ctx)
        request = RunRequest(
            kind=kind,
            site_file=site_file,
            runbook_file=runbook,
            approvals=tuple(approvals),
            yes=yes,
            accept_rpo_breach=accept_rpo_breach,
        )
        orchestrator = Orchestrator(settings)
        if dry_run:
            planned = orchestrator.dry_run(request)
            for line in planned.lines:
                click.echo(line)
            sys.exit(1 if planned.failures else 0)
        run = {"failover": orchestrator.failover, "failback": orchestrator.failback, "drill": orchestrator.drill}[kind]
        with Progress(kind) as progress:
            result = run(request, approver(progress, settings, wait, stage), progress.factory)
        _finish(result, staged=stage)

    command.__doc__ = {
        "failover": "Fail over to the warm site (default runbook runbooks/failover.yaml).",
        "failback": "Fail back to the primary site (default runbook runbooks/failback.yaml).",
        "drill": "Fail over, verify, fail back and clean up, as one run with one report (approvals auto-granted).",
    }[kind]
    return command


for _kind in ("failover", "failback", "drill"):
    _command = _run_command(_kind)
    if _kind == "failover":
        _command = click.option(
            "--stage", is_flag=True,
            help="Run every step that needs no decision, then stop held at the first gate (exit 0).",
        )(_command)
    cli.command(name=_kind, cls=WaitCommand)(_command)


@cli.command(cls=WaitCommand)
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
@wait_option
@common_options
@click.pass_context
def resume(
    ctx: click.Context,
    run_id: str,
    site_file: Path | None,
    yes: bool,
    approvals: tuple[str, ...],
    site_changes: tuple[str, ...],
    wait: float | None,
) -> None:
    """Continue an interrupted or failed run from where it stopped (with the site it was started with)."""
    settings = _setup(ctx)
    request = ResumeRequest(run_id, tuple(approvals), yes, site_file, tuple(site_changes))
    with Progress("resume") as progress:
        result = Orchestrator(settings).resume(request, approver(progress, settings, wait), progress.factory)
    _finish(result)


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
    result = Orchestrator(settings).status(run_id, last, site_file)
    _tell_delivered(result)
    if not result.journal_found:  # nothing recorded here: say where we looked (status only reads)
        click.echo(json.dumps({"runs": []}, indent=2) if as_json else f"no runs yet in {settings.where()}")
        return
    data = {"runs": [r.to_dict() for r in result.runs]}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not result.runs:
        click.echo(f"no runs yet in {settings.where()}" if result.table_site is None
                   else f"no runs yet in the state table of site {result.table_site}")
    for run in data["runs"]:
        click.echo(
            f"{run['run_id']}  {run['kind']}  site={run['site']}  {run['status']}  started {run['started_at']}"
            + (f"\n  error: {run['error']}" if run.get("error") else "")
            + (f"\n  orphaned (no live orchestrator): `orchestrator resume {run['run_id']}`" if run["orphaned"] else "")
            + (f"\n  waiting for a decision at step {run['waiting_for']}: `orchestrator approve {run['run_id']}` or "
               f"`orchestrator deny {run['run_id']}`" if run.get("waiting_for") else "")
        )
        for step in run["steps"]:
            click.echo(
                f"  {step['status']:<18} {step['id']:<32} {step['uses']:<22} attempts={step['attempts']}"
                f" owner={step['owner']}" + (f"  error: {step['error']}" if step["error"] else "")
            )


def _tell_delivered(result: StatusResult) -> None:
    """What opening the runs sent of their outboxes, said on stderr so that ``--json`` stays clean."""
    for pending in result.delivered:
        done, run_id = pending.done, pending.run_id
        if done.messages or done.page_uploaded:
            sent = ", ".join(done.messages) or "none"
            click.echo(f"delivered pending notifications of run {run_id}: {sent}"
                       + ("; status page updated" if done.page_uploaded else ""), err=True)
        if done.superseded_by:
            click.echo(f"status page of run {run_id} not uploaded: run {done.superseded_by} is newer "
                       "(the live page is its)", err=True)
        if done.failed:
            click.echo(f"still pending (sending failed; see the warning above): {', '.join(done.failed)}", err=True)


def _decision_command(approve: bool) -> Callable[..., None]:
    @click.argument("run_id")
    @click.option("--step", "step_id", metavar="STEP", help="The gated step (default: the gate the run waits at).")
    @click.option(
        "--site", "site_file", type=PATH, help="Site file (team mode: the run is in its state table)."
    )
    @common_options
    @click.pass_context
    def command(
        ctx: click.Context, run_id: str, step_id: str | None, site_file: Path | None, reason: str | None = None
    ) -> None:
        orchestrator = Orchestrator(_setup(ctx))
        result = orchestrator.decide(run_id, step_id, approve, reason, site_file)
        decision = result.decision
        verb = "approved" if approve else "refused"
        click.echo(f"{verb} step '{decision.step}' of run {run_id} as {decision.by} on {decision.host}")
        if result.run_status != RunStatus.RUNNING:
            then = (f"`orchestrator resume {run_id}` continues it" if approve
                    else f"it stays held: `orchestrator stand-down {run_id}` undoes it")
            click.echo(f"run {run_id} is {result.run_status} (no process waits at the gate): {then}")
            return
        taken = orchestrator.await_taken(result, run_id)
        if taken is None:
            click.echo("recorded: the run's process takes it within seconds when it reaches the gate")
        elif (taken == "approval_granted") != approve:
            click.echo("another decision reached the run first and stands (`orchestrator status` shows it)")
        else:
            click.echo("the waiting run took it" + ("" if approve else ": it stops, held"))

    return command


_approve = _decision_command(True)
_approve.__doc__ = "Approve the gate a run waits at (or --step): the waiting process continues within seconds."
cli.command(name="approve")(_approve)
_deny = click.option("--reason", metavar="TEXT", help="Why (kept with the run and in its report).")(
    _decision_command(False)
)
_deny.__doc__ = "Refuse the gate a run waits at (or --step): the waiting process stops the run, held."
cli.command(name="deny")(_deny)


@cli.command()
@click.option(
    "--site", "site_file", type=PATH, required=True, envvar="ORCHESTRATOR_SITE",
    help="Site file with `primary.probes` (default: $ORCHESTRATOR_SITE).",
)
@click.option("--once", is_flag=True, help="One round (for a scheduler): exit 0 healthy or not down yet, 4 down.")
@click.option("--stage", is_flag=True, help="When the primary goes down, stage a failover held at its gate.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds between rounds (without --once).")
@common_options
@click.pass_context
def watch(ctx: click.Context, site_file: Path, once: bool, stage: bool, interval: float) -> None:
    """Probe the primary site; when every probe has failed for down_after_seconds, tell people (SNS
    primary-down) and, with --stage, have the failover staged at its gate."""
    from orchestrator import watcher

    settings = _setup(ctx)
    orchestrator = Orchestrator(settings)
    stopped = _stop_on_signals()
    while True:
        try:
            outcome = orchestrator.watch(site_file, stage)
        except InvalidInput:
            raise  # the site file: exit 2 naming it, loop or not
        except Exception as exc:
            if once:
                raise
            # the loop is what notices an outage: one failed round (AWS unreachable, a staging that failed)
            # must not end it; the next round continues the same state
            click.echo(f"{settings.clock.now():%H:%M:%S} UTC round failed ({type(exc).__name__}): "
                       f"{redact_text(str(exc))}; next round in {interval:g}s", err=True)
            outcome = None
        for line in watcher.describe(outcome) if outcome is not None else []:
            click.echo(line)
        if once and outcome is not None:
            sys.exit(outcome.exit_code)
        sleep_on(settings.clock, stopped, interval)
        if stopped.is_set():  # after a whole round: a round is never cut in the middle
            sys.exit(130 if stopped.signum == signal.SIGINT else 0)


class _Stop(threading.Event):
    signum = 0


def _stop_on_signals() -> _Stop:
    """SIGINT/SIGTERM end the watch loop between rounds (exit 130 / 0). A staging run inside a round installs
    its own handlers meanwhile (the staged run is then interrupted, resumably) and restores these after."""
    stopped = _Stop()

    def handler(signum: int, frame: object) -> None:
        stopped.signum = signum
        stopped.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stopped


@cli.command("restore-worker")
@click.option(
    "--site", "site_file", type=PATH, required=True, envvar="ORCHESTRATOR_SITE",
    help="Site file with `backup.workers` (default: $ORCHESTRATOR_SITE).",
)
@click.option("--visibility-timeout", type=click.IntRange(2, 43200), default=300, show_default=True,
              help="Seconds a taken unit stays hidden from other workers (renewed while working).")
@click.option("--poll", type=click.IntRange(0, 20), default=10, show_default=True,
              help="Long-poll seconds of one receive.")
@click.option("--retry-after", type=click.IntRange(0, 43200), default=30, show_default=True,
              help="Seconds before a failed unit is tried again.")
@click.option("--threads", type=click.IntRange(1, 32), default=4, show_default=True,
              help="SFTP downloads at once, shared by the units in hand (a unit of one large file takes one).")
@click.option("--max-units", type=click.IntRange(1), default=None, help="Stop after this many units.")
@common_options
@click.pass_context
def restore_worker(ctx: click.Context, site_file: Path, visibility_timeout: int, poll: int, retry_after: int,
                   threads: int, max_units: int | None) -> None:
    """Restore the bulk tier's work units from the site's queue (backup.workers), verified; stops after the
    unit in hand on SIGTERM (exit 0)."""
    from orchestrator.backup.worker import WorkerOptions

    common = ctx.meta.get("common", {})
    logs.configure(common.get("log_format", "console"), common.get("log_level", "info"), stream=sys.stderr)
    options = WorkerOptions(visibility_seconds=visibility_timeout, poll_seconds=poll,
                            retry_after_seconds=retry_after, threads=threads, max_units=max_units)
    stats = Orchestrator(Settings()).restore_worker(site_file, options)
    click.echo(f"restore worker {stats.worker}: {stats.done} unit(s) done, {stats.failed} failed try(s), "
               f"{stats.files} files, {stats.bytes} bytes", err=True)


@cli.command("stand-down")
@click.argument("run_id")
@click.option("--site", "site_file", type=PATH, help="Site file (team mode; default: as recorded).")
@common_options
@click.pass_context
def stand_down(ctx: click.Context, run_id: str, site_file: Path | None) -> None:
    """Undo a held, interrupted or failed failover that has not passed its gate (restored data is kept)."""
    settings = _setup(ctx)
    with Progress("stand-down") as progress:
        result = Orchestrator(settings).stand_down(run_id, progress.factory, site_file)
    if result.outcome.status == RunStatus.STOOD_DOWN:
        click.echo("stood down: every change of the run was undone; the restored data is kept", err=True)
    _finish(result)


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
    result = Orchestrator(_setup(ctx)).readiness(site_file, strict, max_drill_age_days)
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

    result = Orchestrator(_setup(ctx)).drills(site_file, last, chart)
    rows = result.rows
    if chart:
        # said on stderr, so that --json stays clean
        click.echo(f"chart: wrote {result.drawn}" if result.drawn
                   else f"chart: not written to {chart} (no drills recorded yet)", err=True)
    if as_json:
        click.echo(json.dumps({"drills": rows, "steps": [s.to_dict() for s in result.stats]}, indent=2))
    elif rows:
        click.echo(history.render_table(rows))
        click.echo(f"\nPer step, over these {len(rows)} drill(s) (succeeded runs of the step):")
        click.echo(history.render_step_table(result.stats))
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
    file = runbook_file(file)
    book = load_runbook(file)
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

    click.echo(render_runbook(load_runbook(runbook_file(file))))


def _embedded_site() -> ModuleType:
    """The embedded site, loaded by the `sandbox` commands only (the product never imports it); without the
    [sandbox] extra, an error that says how to install it, before anything starts."""
    import orchestrator.sandbox

    orchestrator.sandbox.require_extra()
    from orchestrator.sandbox import site

    return site


@cli.group()
def sandbox() -> None:
    """The embedded site on 127.0.0.1: a moto server, an Amazon Connect double, a real sshd (SFTP provider),
    the VPN appliance (as root a real strongSwan pair in network namespaces, else a fake swanctl), the
    warm-site stack deployed into moto.
    Knobs: ORCHESTRATOR_SANDBOX_MB/_DAYS/_FILES/_SEATS/_DIR/_APPLIANCE (auto, real, fake)/_DOWN_AFTER_SECONDS
    (the primary's down_after_seconds, default 20)."""


@sandbox.command("up")
@common_options
@click.pass_context
def sandbox_up(ctx: click.Context) -> None:
    """Start the embedded site and write its site file."""
    embedded = _embedded_site()

    _setup(ctx)
    state = embedded.up(say=_say)
    click.echo(f"sandbox up: site file {state['site_file']}")
    click.echo(f"VPN appliance: {state.get('appliance', 'fake swanctl')}")
    if "connect" in state:
        click.echo(f"Amazon Connect double: {state['connect']['endpoint']} (AWS_ENDPOINT_URL_CONNECT)")
    if "primary" in state:
        ports = state["primary"]["ports"]
        click.echo(f"primary site (what `orchestrator watch` probes): SBC tcp 127.0.0.1:{ports['sbc']}, agent desktop "
                   f"http://127.0.0.1:{ports['agents']}/, SIP OPTIONS udp 127.0.0.1:{ports['sip']}; "
                   "`orchestrator sandbox primary down|up`")
    click.echo(f"room for {state['failover_budget']} more failovers (moto never frees a terminated seat's address)")
    click.echo("point your tools at it with:  eval \"$(orchestrator sandbox env)\"")


@sandbox.command("down")
@common_options
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop everything the embedded site started."""
    embedded = _embedded_site()

    _setup(ctx)
    click.echo("sandbox down" if embedded.down() else "sandbox was not up")


@sandbox.command("env")
@common_options
@click.pass_context
def sandbox_env(ctx: click.Context) -> None:
    """Print the exports that point the aws CLI, boto3 and the orchestrator at the embedded site."""
    embedded = _embedded_site()

    _setup(ctx)
    state = embedded.load_state()
    if state is None:
        raise click.ClickException("the sandbox is not up (orchestrator sandbox up)")
    for key, value in embedded.env_for(state).items():
        click.echo(f"export {key}={shlex.quote(value)}")
    click.echo("unset AWS_CA_BUNDLE AWS_PROFILE")


@sandbox.group("primary", invoke_without_command=True)
@common_options
@click.pass_context
def sandbox_primary(ctx: click.Context) -> None:
    """The embedded site's primary (what `orchestrator watch` probes): `down` stops its endpoints (SBC TCP and
    agent desktop HTTP refused, SIP OPTIONS unanswered), `up` starts them again on the same ports; alone or
    `status`, whether each answers."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(sandbox_primary_status)


@sandbox_primary.command("status")
@common_options
@click.pass_context
def sandbox_primary_status(ctx: click.Context) -> None:
    """Whether each of the primary's endpoints answers (exit 0 all, 4 none or some)."""
    embedded = _embedded_site()

    _setup(ctx)
    answers = embedded.primary_answers()
    for name, ok, detail in answers:
        click.echo(f"  {'ok  ' if ok else 'FAIL'} {name:<8} {detail}")
    answering = sum(ok for _, ok, _ in answers)
    click.echo("primary: " + ("up" if answering == len(answers) else "down" if answering == 0 else "partly up"))
    sys.exit(0 if answering == len(answers) else 4)


@sandbox_primary.command("down")
@common_options
@click.pass_context
def sandbox_primary_down(ctx: click.Context) -> None:
    """Stop the primary's endpoints: TCP and HTTP refused, SIP silent (what `watch` then detects)."""
    embedded = _embedded_site()

    _setup(ctx)
    click.echo("primary down" if embedded.primary_down() else "primary was already down")


@sandbox_primary.command("up")
@common_options
@click.pass_context
def sandbox_primary_up(ctx: click.Context) -> None:
    """Start the primary's endpoints again on the same ports (the site file's probes stay valid)."""
    embedded = _embedded_site()

    _setup(ctx)
    click.echo("primary up" if embedded.primary_up() else "primary was already up")


@sandbox.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@common_options
@click.pass_context
def sandbox_run(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Start the embedded site, run `orchestrator COMMAND --site SITE ...` against it, stop it.

    Example: orchestrator sandbox run -- failover --yes
    """
    embedded = _embedded_site()

    _setup(ctx)
    was_up = embedded.load_state() is not None
    state = embedded.up(say=_say)
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


# --------------------------------------------------------------------------- evidence and findings (1.2)


@cli.group()
def evidence() -> None:
    """The evidence pack of a run (REPORT_DIR/RUN_ID/evidence/)."""


@evidence.command("verify")
@click.argument("run_id")
@click.option("--site", "site_file", type=PATH, help="Site file: also check the copy in its evidence bucket.")
@common_options
@click.pass_context
def evidence_verify(ctx: click.Context, run_id: str, site_file: Path | None) -> None:
    """Exit 0 when the pack (and its uploaded copy) is intact; 1 naming each file and audit record that was
    altered, removed or added (the whole pack of a reported run too); 2 for a run with neither pack
    nor report under the report dir."""
    verdict = Orchestrator(_setup(ctx)).evidence_verify(run_id, site_file)
    problems = verdict.problems
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"evidence of run {run_id}: NOT INTACT ({len(problems)} problem(s)) in {verdict.pack}", err=True)
        sys.exit(1)
    click.echo(f"evidence of run {run_id}: intact ({verdict.files} files, {verdict.records} audit records "
               f"chained) in {verdict.pack}")


@cli.group(invoke_without_command=True)
@click.option("--open", "only_open", is_flag=True, help="Only the open ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--site", "site_file", type=PATH, help="Site file (team mode: its state table; else local).")
@common_options
@click.pass_context
def findings(ctx: click.Context, only_open: bool, as_json: bool, site_file: Path | None) -> None:
    """What runs found (objectives missed, slow steps, retries, overrides, warnings), tracked from run to run."""
    if ctx.invoked_subcommand is not None:
        ctx.meta["findings_site"] = site_file
        return
    rows = Orchestrator(_setup(ctx)).findings(only_open, site_file)
    if as_json:
        click.echo(json.dumps({"findings": rows}, indent=2))
        return
    if not rows:
        click.echo("no findings" + (" open" if only_open else ""))
    for f in rows:
        recurred = f" (recurred {f['recurred']}x)" if f.get("recurred") else ""
        closed = f" by {f['closed_by']} at {f['closed_at']}: {f['note']}" if f.get("status") == "closed" else ""
        click.echo(f"{f['id']}  {f['status']}{recurred}{closed}  {f['site']}  {f['kind']}  step {f.get('step') or '-'}"
                   f"  owner {f.get('owner') or '-'}  runs {len(f.get('runs') or [])}  "
                   f"first {f.get('first_seen')}  last {f.get('last_seen')}\n    {f.get('detail')}")


@findings.command("close")
@click.argument("finding_id")
@click.option("--note", required=True, help="Why it is closed (kept with the finding).")
@click.option("--site", "site_file", type=PATH, help="Site file (team mode: its state table).")
@common_options
@click.pass_context
def findings_close(ctx: click.Context, finding_id: str, note: str, site_file: Path | None) -> None:
    """Close a finding, saying why (who: the user running it). It opens again if a later run finds it."""
    orchestrator = Orchestrator(_setup(ctx))
    done = orchestrator.close_finding(finding_id, note, site_file or ctx.meta.get("findings_site"))
    click.echo(f"{done['id']}: closed by {done['closed_by']} at {done['closed_at']}: {done['note']}")


# --------------------------------------------------------------------------- helpers


def _say(text: str) -> None:
    """A stage of a slow start, on stderr (stdout stays what scripts read)."""
    click.echo(text, err=True)


def _setup(ctx: click.Context) -> Settings:
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


def _finish(result: RunResult, staged: bool = False) -> None:
    outcome = result.outcome
    # an error that starts with the status says it once ("interrupted (SIGINT); resume ..."), not twice
    said = outcome.error if outcome.error and outcome.error.startswith(str(outcome.status)) else None
    told = said or str(outcome.status) + (f" — {outcome.error}" if outcome.error else "")
    click.echo(f"run {outcome.run_id}: {told}")
    if outcome.status == RunStatus.HELD and outcome.error:
        click.echo(f"held: {outcome.error}", err=True)
    click.echo(f"report: {result.folder / 'report.md'}" if result.folder
               else "report: not written (see the warning above)")
    if result.page is not None:
        click.echo(f"status page: {result.page}")
    link = result.link
    if link is not None:
        click.echo(f"status page link (presigned, for managers and agents): {link.url}")
        click.echo("status page link works until " + (
            f"{link.expires_at:%Y-%m-%d %H:%M:%S} UTC ({link.expires_in_seconds} s)" if link.expires_at is not None
            else "the temporary credentials that signed it expire (when, is unknown)"))
    sys.exit(0 if staged and outcome.status == RunStatus.HELD else outcome.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: exceptions become the contract's exit codes with one clear line."""
    try:
        cli.main(args=argv, prog_name="orchestrator", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        if isinstance(exc, click.MissingParameter) and exc.param is not None and isinstance(exc.param.envvar, str):
            # an option that may come from the environment says so when missing ("... or set ORCHESTRATOR_SITE")
            exc = click.MissingParameter(f"Give it, or set {exc.param.envvar}.", ctx=exc.ctx, param=exc.param)
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

