"""The glue between the CLI and the engine: load inputs, build adapters, run, write the report.

Kept apart from cli.py so tests and benchmarks can run a whole failover in-process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from orchestrator import approvals as approvals_mod
from orchestrator import logs
from orchestrator.cancel import CancellableClock, Cancellation
from orchestrator.clock import Clock, SystemClock, iso
from orchestrator.engine import Engine, Outcome
from orchestrator.errors import InvalidInput, OrchestratorError
from orchestrator.journal import Journal, RunRecord, SqliteJournal
from orchestrator.notifier import BackgroundNotifier
from orchestrator.report import build_report, write_report
from orchestrator.runbook import Runbook, load_runbook
from orchestrator.site import Site, load_site
from orchestrator.steps import registry
from orchestrator.steps.base import RunOptions, StepContext

#: where the default runbooks live: ./runbooks when run from a checkout, else next to the package
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNBOOKS = {"failover": "failover.yaml", "failback": "failback.yaml", "drill": "drill.yaml"}


@dataclass
class Settings:
    state_dir: Path = Path(".orchestrator")
    report_dir: Path | None = None
    log_format: str = "console"
    log_level: str = "info"
    clock: Clock = field(default_factory=SystemClock)

    @property
    def reports(self) -> Path:
        return self.report_dir or self.state_dir / "reports"


def default_runbook(kind: str) -> Path:
    name = DEFAULT_RUNBOOKS[kind]
    local = Path("runbooks") / name
    return local if local.exists() else PACKAGE_ROOT / "runbooks" / name


def open_journal(settings: Settings, site: Site | None = None) -> Journal:
    """The journal for this site: DynamoDB when the site names a state table, else SQLite locally."""
    if site is not None and site.state is not None:
        from orchestrator.journal_dynamodb import DynamoJournal

        return DynamoJournal(site.state.table, region=site.region, clock=settings.clock)
    return SqliteJournal(settings.state_dir)


def build_services(site: Site, clock: Clock):
    from orchestrator.adapters import Services

    return Services(site, clock)


def new_run_id(kind: str, clock: Clock) -> str:
    return f"{clock.now():%Y%m%dT%H%M%SZ}-{kind}-{secrets.token_hex(3)}"


@dataclass
class RunRequest:
    kind: str
    site_file: Path
    runbook_file: Path | None = None
    approvals: tuple[str, ...] = ()
    yes: bool = False
    accept_rpo_breach: bool = False


def start(settings: Settings, request: RunRequest, approver, observer_factory) -> tuple[Outcome, Path]:
    """Validate inputs, record a new run, execute it, write its report."""
    site = load_site(request.site_file)
    book = load_runbook(request.runbook_file or default_runbook(request.kind))
    _check_approvals(book, request.approvals, "--approve")
    journal = open_journal(settings, site)
    run_id = new_run_id(request.kind, settings.clock)
    run = RunRecord(
        run_id=run_id,
        kind=request.kind,
        site=site.site,
        site_file=str(Path(request.site_file).resolve()),
        runbook={},
        status="pending",
        options={
            "accept_rpo_breach": request.accept_rpo_breach,
            # approvals belong to the run: journaled with it, honoured by every resume
            "approvals": approvals_mod.dump(
                approvals_mod.from_flags(request.approvals, request.yes, "start", iso(settings.clock.now()) or "")
            ),
            "objectives": site.objectives.model_dump(),
        },
    )
    engine = _engine(settings, journal, site, approver, observer_factory(book), book)
    engine.create(run, book)
    return _execute(settings, engine, journal, run_id, site, (), False, book)


def resume(
    settings: Settings,
    run_id: str,
    approvals: tuple[str, ...],
    yes: bool,
    approver,
    observer_factory,
    site_file: Path | None = None,
) -> tuple[Outcome, Path]:
    """Continue ``run_id`` from where it stopped (same runbook as recorded at its start)."""
    if site_file is None:
        try:
            site_file = Path(SqliteJournal(settings.state_dir).get_run(run_id).site_file)
        except InvalidInput:
            raise InvalidInput(
                f"no run {run_id!r} in the local journal ({settings.state_dir}); in team mode pass --site SITE.json",
                source="resume",
            ) from None
    site_path = Path(site_file)
    site = load_site(site_path)
    journal = open_journal(settings, site)
    run = journal.get_run(run_id)
    if run.status == "succeeded":
        if not _report_written(settings.reports / run_id):
            # killed (kill -9) after the run succeeded but before its report was complete: write it now
            folder = write_report(build_report(journal, run_id, site), settings.reports)
            if run.kind == "drill":
                _record_drill(journal, folder)
            return Outcome(run_id, "succeeded"), folder
        raise InvalidInput(f"run {run_id} already succeeded; nothing to resume", source="resume")
    from orchestrator.runbook import runbook_from_dict

    book = runbook_from_dict(run.runbook)
    _check_approvals(book, approvals, "--approve")
    engine = _engine(settings, journal, site, approver, observer_factory(book), book)
    return _execute(settings, engine, journal, run_id, site, approvals, yes, book)


def _engine(settings, journal, site, approver, observer, book: Runbook) -> Engine:
    # one cancellation path: the adapters' clock sleeps on it, their connections close on it
    cancel = Cancellation()
    services = build_services(site, CancellableClock(settings.clock, cancel))
    notifier = None if book.kind == "test" else _notifier(services, site)
    return Engine(
        cancel=cancel,
        journal=journal,
        services=services,
        site=site,
        clock=settings.clock,
        log=structlog.get_logger("orchestrator"),
        approver=approver,
        observer=observer,
        notifier=notifier,
    )


def _notifier(services, site) -> Callable[..., None] | None:
    try:
        from orchestrator.steps.notify import publish_event
    except ModuleNotFoundError:
        return None

    def notify(milestone: str, **fields: Any) -> None:
        publish_event(services, site, fields.pop("run_id"), milestone, **fields)

    return BackgroundNotifier(notify)


def _execute(settings, engine: Engine, journal, run_id, site, approvals, yes, book) -> tuple[Outcome, Path]:
    audit = settings.state_dir / "runs" / run_id / "audit.jsonl"
    logs.open_audit(run_id, audit)
    try:
        with _signals_cancel(engine):
            try:
                outcome = engine.run(run_id, approvals=set(approvals), approve_all=yes)
            finally:
                if hasattr(engine.notifier, "close"):
                    if engine.cancel.is_set():  # interrupted: exit within seconds, not after a 20 s flush
                        engine.notifier.flush_seconds = min(engine.notifier.flush_seconds, 3.0)
                    engine.notifier.close()
                folder = write_report(build_report(journal, run_id, site), settings.reports)
                engine.services.close()
        if engine.options.kind == "drill":
            _record_drill(journal, folder)
        return outcome, folder
    finally:
        logs.close_audit(run_id)


def _record_drill(journal, folder: Path) -> None:
    import json

    report = json.loads((folder / "report.json").read_text())
    keys = (
        "run_id",
        "site",
        "status",
        "started_at",
        "finished_at",
        "rto_seconds",
        "rto_objective_seconds",
        "rpo_seconds",
        "rpo_objective_seconds",
        "rto_met",
        "rpo_met",
    )
    journal.record_drill({k: report.get(k) for k in keys})


@contextmanager
def _signals_cancel(engine: Engine):
    """SIGINT/SIGTERM: cancel the run (orchestrator/cancel.py): every wait and backoff ends, every SSH
    channel in use is closed, a prompt is interrupted; the run ends ``interrupted`` (exit 130) within
    seconds, its report written and its lock released. One Ctrl-C is enough; more change nothing."""
    previous = {}

    def handler(signum, frame):
        engine.cancel.on_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not in the main thread (tests)
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_approvals(book: Runbook, approvals, flag: str) -> None:
    for step_id in approvals:
        if step_id not in book.by_id:
            raise InvalidInput(f"{flag} {step_id}: no such step in runbook {book.name}", source=book.source)


# --------------------------------------------------------------------------- dry run


def dry_run(settings: Settings, request: RunRequest, out: Callable[[str], None]) -> int:
    """Print, step by step, what would change. Takes no lock, writes no journal, changes nothing."""
    site = load_site(request.site_file)
    book = load_runbook(request.runbook_file or default_runbook(request.kind))
    _check_approvals(book, request.approvals, "--approve")
    services = build_services(site, settings.clock)
    options = RunOptions(kind=request.kind, dry_run=True, accept_rpo_breach=request.accept_rpo_breach)
    kinds = registry()
    log = structlog.get_logger("orchestrator").bind(dry_run=True)
    out(f"DRY RUN of {book.name} ({book.source}) against site {site.site} — nothing will be changed")
    failures = 0
    for number, step in enumerate(book.order(), 1):
        kind = kinds[step.uses]()
        ctx = StepContext(
            run_id="dry-run",
            step_id=step.id,
            params=step.params,
            site=site,
            services=services,
            clock=settings.clock,
            log=log.bind(step=step.id),
            options=options,
        )
        gate = " [approval gate]" if step.gate else ""
        out(f"{number:>3}. {step.id} — {step.uses} (owner: {step.owner}){gate}")
        try:
            for line in kind.plan(ctx):
                out(f"       {line}")
        except OrchestratorError as exc:
            failures += 1
            out(f"       cannot plan: {exc}")
    services.close()
    out(
        "DRY RUN complete: no change was made"
        + (f"; {failures} step(s) could not be planned" if failures else "")
    )
    return 1 if failures else 0


def state_dir_from_env(value: str | None) -> Path:
    return Path(value or os.environ.get("ORCHESTRATOR_STATE_DIR") or ".orchestrator")


def is_interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _report_written(folder: Path) -> bool:
    """Every report file is there, complete (a kill -9 can stop the process before or while writing them;
    junit.xml is written last)."""
    import json

    try:
        json.loads((folder / "report.json").read_text())
        return "</testsuite" in (folder / "junit.xml").read_text()
    except (OSError, ValueError):
        return False
