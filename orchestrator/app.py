"""The glue between the CLI and the engine: load inputs, build adapters, run, write the report.

Kept apart from cli.py so tests and benchmarks can run a whole failover in-process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import structlog

from orchestrator import approvals as approvals_mod
from orchestrator import decisions, history, live_eta, logs, site_change
from orchestrator.cancel import CancellableClock, Cancellation
from orchestrator.clock import Clock, SystemClock, iso
from orchestrator.engine import Approver, Engine, Notifier, Observer, Outcome
from orchestrator.errors import InvalidInput, NotReady, OrchestratorError
from orchestrator.evidence import run as evidence_run
from orchestrator.journal.lease import run_orphaned
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import Holder, RunNotFound, RunRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.live_eta import RestoreProgress, chain_observers
from orchestrator.model import EventName, RunStatus, StepStatus
from orchestrator.publisher import (
    ORPHANED_FIELD,
    Delivered,
    Delivery,
    EtaSource,
    Outbox,
    Publisher,
    deliver_in_bound,
)
from orchestrator.report import Report, build, to_json, write_report
from orchestrator.runbook import Runbook, load_runbook
from orchestrator.site import Site, load_site
from orchestrator.site_resources import lock_resources
from orchestrator.steps import registry
from orchestrator.steps.base import RunOptions, StepContext

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.adapters.s3 import PresignedLink

#: what the CLI gives a run to build its live display from its runbook (None: no display)
ObserverFactory = Callable[[Runbook], "Observer | None"]

#: the default runbooks: package data of ``orchestrator.runbooks`` (the top-level runbooks/ folder, mapped in)
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
    """The default runbook of ``kind``: ``runbooks/KIND.yaml`` of the current directory when there is one (the
    contract's default path), else the installed one -- the checkout's runbooks/ in an editable install, the
    wheel's copy otherwise (installed packages are plain files, so it is a real path)."""
    local = Path("runbooks") / DEFAULT_RUNBOOKS[kind]
    if local.is_file():
        return local
    return Path(str(resources.files("orchestrator.runbooks").joinpath(DEFAULT_RUNBOOKS[kind])))


def runbook_file(argument: Path) -> Path:
    """What ``runbook validate/render ARGUMENT`` reads: the file ARGUMENT, or, when no such file exists and
    ARGUMENT is a default runbook's name (failover, failback, drill), that installed runbook."""
    if not argument.exists() and str(argument) in DEFAULT_RUNBOOKS:
        return default_runbook(str(argument))
    return argument


def run_runbook(book: Runbook, site: Site) -> Runbook:
    """The steps a run on ``site`` is made of: those whose ``when`` the site satisfies (decided once, at the
    run's creation; the journal keeps this runbook, so a resume runs the same steps). Approvals given for a
    left-out step are checked against the whole runbook and simply not used. A runbook none of whose steps
    is for this site is invalid input: a run that does nothing must not report a failover as done."""
    run_book = book.for_site(site)
    if not run_book.steps:
        keys = ", ".join(sorted({s.when for s in book.steps if s.when}))
        raise InvalidInput(f"no step of runbook {book.name!r} is for site {site.site!r}: every step needs a site "
                           f"key it does not have ({keys})", source=book.source, location="steps")
    return run_book


def left_out_detail(book: Runbook, site: Site) -> dict[str, str]:
    """Step id -> the site key it waited for, for the steps a run on ``site`` is made without."""
    return {s.id: s.when for s in book.left_out_on(site) if s.when is not None}


def _journal_left_out(settings: Settings, journal: Journal, run_id: str, left_out: dict[str, str]) -> None:
    """A ``steps_left_out`` event in the run's timeline (report.json/md) naming each step and its key."""
    if not left_out:
        return
    journal.add_event(run_id, iso(settings.clock.now()) or "", EventName.STEPS_LEFT_OUT.value, None,
                      {"steps": list(left_out), "when": sorted(set(left_out.values()))})
    structlog.get_logger("orchestrator").info(EventName.STEPS_LEFT_OUT.value, run_id=run_id, steps=list(left_out))


def open_journal(settings: Settings, site: Site | None = None) -> Journal:
    """The journal for this site: DynamoDB when the site names a state table, else SQLite locally."""
    if site is not None and site.state is not None:
        from orchestrator.journal.dynamodb.store import DynamoJournal

        return DynamoJournal(site.state.table, region=site.region, clock=settings.clock)
    return SqliteJournal(settings.state_dir)


def has_local_journal(settings: Settings) -> bool:
    """Whether the state dir holds a journal (reading commands do not create one where there is none)."""
    return SqliteJournal.exists_in(settings.state_dir)


def build_services(site: Site, clock: Clock) -> Services:
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
    #: when ``orchestrator watch`` saw the primary go down (a staged failover): the report's ``detected_at``
    detected_at: str | None = None


def start(
    settings: Settings, request: RunRequest, approver: Approver, observer_factory: ObserverFactory
) -> tuple[Outcome, Path | None]:
    """Validate inputs, record a new run, execute it, write its report."""
    site = load_site(request.site_file)
    full = load_runbook(request.runbook_file or default_runbook(request.kind))
    _check_approvals(full, request.approvals, "--approve")
    book = run_runbook(full, site)
    check_directories(settings)
    run_id = new_run_id(request.kind, settings.clock)
    # the audit log first: what the checks before the run's creation retry is in it too (every retry visible)
    audit = settings.state_dir / "runs" / run_id / "audit.jsonl"
    logs.open_audit(run_id, audit)
    try:
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            refuse_unmatched_critical(settings, book, site, request.site_file)
        journal = open_journal(settings, site)
        engine = _create(settings, request, site, full, book, journal, run_id, approver, observer_factory)
    except BaseException:  # not started (refused, lock held, bad input): nothing of it is left behind
        logs.close_audit(run_id)
        shutil.rmtree(audit.parent, ignore_errors=True)
        raise
    return _execute(settings, engine, journal, run_id, (), False)


def _create(
    settings: Settings,
    request: RunRequest,
    site: Site,
    full: Runbook,
    book: Runbook,
    journal: Journal,
    run_id: str,
    approver: Approver,
    observer_factory: ObserverFactory,
) -> Engine:
    """Record the new run (its site lock taken first) and return the engine that runs it."""
    run = RunRecord(
        run_id=run_id,
        kind=request.kind,
        site=site.site,
        site_file=str(Path(request.site_file).resolve()),
        runbook={},
        status=RunStatus.PENDING,
        options={
            "accept_rpo_breach": request.accept_rpo_breach,
            # approvals belong to the run: journaled with it, honoured by every resume
            "approvals": approvals_mod.dump(
                approvals_mod.from_flags(request.approvals, request.yes, "start", iso(settings.clock.now()) or "")
            ),
            "objectives": site.objectives.model_dump(),
            **({"detected_at": request.detected_at} if request.detected_at else {}),
            site_change.JOURNAL_KEY: site_change.journaled(site),
        },
    )
    engine = _engine(settings, journal, site, approver, observer_factory(book), book)
    engine.create(run, book)  # takes the site lock first: a command refused by it (exit 3) records nothing
    _journal_left_out(settings, journal, run_id, left_out_detail(full, site))
    return engine


def refuse_unmatched_critical(settings: Settings, book: Runbook, site: Site, site_file: Path) -> None:
    """Before a run that restores tiers is even recorded: every ``backup.critical`` pattern must match a file of
    the newest complete snapshot, or the run would restore (and mark, and cut over on) a critical tier without
    what a pattern names. Not ready (exit 4), naming each pattern; nothing is changed or journaled. When the
    provider cannot be asked now, the run starts and its preflight step asks again (with its retries)."""
    from orchestrator.backup.contract import Tier
    from orchestrator.checks import critical_pattern_answer

    if site.backup.critical is None or not any(
        s.uses == "backup.restore" and getattr(s.params, "tier", Tier.ALL) is not Tier.ALL for s in book.steps
    ):
        return
    services = build_services(site, settings.clock)
    try:
        answer = critical_pattern_answer(services, site)
    except OrchestratorError as exc:
        structlog.get_logger("orchestrator").warning("preflight.critical_patterns_unchecked", error=str(exc))
        return
    finally:
        services.close()
    refusal = answer.refusal() if answer is not None else None
    if refusal is not None:
        raise NotReady(f"{site_file}: {refusal}; the {book.kind or 'run'} was not started and nothing was changed "
                       "(correct backup.critical, then check with `orchestrator readiness`)")


def resume(
    settings: Settings,
    run_id: str,
    approvals: tuple[str, ...],
    yes: bool,
    approver: Approver,
    observer_factory: ObserverFactory,
    site_file: Path | None = None,
    allow_site_changes: tuple[str, ...] = (),
) -> tuple[Outcome, Path | None]:
    """Continue ``run_id`` from where it stopped, with the runbook and the site recorded at its start
    (a site file given must match that site; see orchestrator.site_change)."""
    check_directories(settings)
    journal, run, site, changes = _run_and_site(settings, run_id, site_file, allow_site_changes)
    if run.status == RunStatus.SUCCEEDED:
        if changes and site_file is not None:
            _record_site_change_locked(settings, journal, run, site, changes, site_file)
        deliver_pending(settings, journal, run, site)
        return _resume_succeeded(settings, journal, run)
    from orchestrator.runbook import runbook_from_dict

    book = runbook_from_dict(run.runbook)
    _check_approvals(book, approvals, "--approve")
    engine = _engine(settings, journal, site, approver, observer_factory(book), book)
    try:
        # the lock first: a resume refused by it (exit 3: the run, or another on its resources, is live)
        # records nothing, not even the site change it was given
        engine.hold(run)
        if changes and site_file is not None:
            _record_site_change(settings, journal, run, site, changes, site_file)
    except BaseException:
        engine.release_held()
        engine.close()
        raise
    return _execute(settings, engine, journal, run_id, approvals, yes)


def _resume_succeeded(settings: Settings, journal: Journal, run: RunRecord) -> tuple[Outcome, Path | None]:
    """A run that already succeeded: nothing to run again. Its report is written when a kill -9 (after the
    journal said succeeded, before or while the report was written) left it missing or incomplete; either way
    the resume succeeds, so a script that resumes after a crash is safe to run twice."""
    folder: Path | None = settings.reports / run.run_id
    if not _report_written(settings.reports / run.run_id):
        report = build(journal, run.run_id)
        folder = _report_and_evidence(settings, journal, report)
        if run.kind == "drill":
            _record_drill(journal, report)
    else:
        structlog.get_logger("orchestrator").warning(
            "resume.nothing_to_do", run_id=run.run_id, reason="the run already succeeded and its report is complete"
        )
    return Outcome(run.run_id, RunStatus.SUCCEEDED), folder


def _run_and_site(
    settings: Settings, run_id: str, site_file: Path | None, allowed: tuple[str, ...]
) -> tuple[Journal, RunRecord, Site, list[site_change.Difference]]:
    """The run's journal, record and site: the journaled site, or the given file's when it matches it;
    and the allowed changes, for the caller to journal (``_record_site_change``) once it holds the lock.
    Writes nothing."""
    if site_file is None:
        if allowed:
            raise InvalidInput("--allow-site-change needs --site SITE.json (the changed site file)", source="resume")
        local = SqliteJournal(settings.state_dir)
        try:
            run = local.get_run(run_id)
        except RunNotFound:
            raise InvalidInput(
                f"no run {run_id!r} in the local journal ({local.path}); in team mode pass --site SITE.json",
                source="resume",
            ) from None
        return local, run, site_change.site_of_run(run.options, run.site_file) or load_site(run.site_file), []
    given = load_site(site_file)
    journal = open_journal(settings, given)
    run = journal.get_run(run_id)
    if given.site != run.site:
        raise InvalidInput(
            f"is the site file of site {given.site!r}; run {run_id} belongs to site {run.site!r}",
            source=str(site_file),
            location="site",
        )
    recorded = site_change.site_of_run(run.options, run.site_file)
    if recorded is None:  # a run started before sites were journaled: the site name is all we can check
        return journal, run, given, []
    changes = site_change.check_allowed(run_id, site_change.differences(recorded, given), allowed, str(site_file))
    return journal, run, given, changes


def _record_site_change_locked(
    settings: Settings,
    journal: Journal,
    run: RunRecord,
    given: Site,
    changes: list[site_change.Difference],
    site_file: Path,
) -> None:
    """``_record_site_change`` for a run that will not run (it already succeeded), under its lock all the
    same: refused (exit 3) while a live run holds the site or its resources, it records nothing."""
    holder = Holder.me(run.run_id)
    journal.acquire_lock(run.site, holder, settings.clock.now(), resources=lock_resources(given))
    try:
        _record_site_change(settings, journal, run, given, changes, site_file)
    finally:
        journal.release_lock(run.site, holder)


def _record_site_change(
    settings: Settings,
    journal: Journal,
    run: RunRecord,
    given: Site,
    changes: list[site_change.Difference],
    site_file: Path,
) -> None:
    """Journal the allowed changes (an event in the run's timeline and report) and make the new site
    the run's own, so a later resume compares against it."""
    journal.add_event(
        run.run_id,
        iso(settings.clock.now()) or "",
        EventName.SITE_CHANGED.value,
        None,
        {
            "site_file": str(Path(site_file).resolve()),
            "changes": [{"key": c.key, "was": c.journaled, "now": c.given} for c in changes],
        },
    )
    journal.update_run(run.run_id, options={**run.options, site_change.JOURNAL_KEY: site_change.journaled(given)})
    structlog.get_logger("orchestrator").warning(
        EventName.SITE_CHANGED.value, run_id=run.run_id, changes=[c.describe() for c in changes]
    )


def check_directories(settings: Settings) -> None:
    """The state and report directories exist (or are created) and can be written, before any change."""
    _writable_directory(settings.state_dir, "state directory")
    _writable_directory(settings.reports, "report directory")


def _writable_directory(folder: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"cannot use it as the {what}: not a directory", source=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidInput(f"cannot write in it as the {what}: {exc.strerror or exc}", source=str(folder)) from None


def _engine(
    settings: Settings,
    journal: Journal,
    site: Site,
    approver: Approver,
    observer: Observer | None,
    book: Runbook,
) -> Engine:
    # one cancellation path: the adapters' clock sleeps on it, their connections close on it
    cancel = Cancellation()
    services = build_services(site, CancellableClock(settings.clock, cancel))
    progress = RestoreProgress(settings.clock)  # the restore's live bytes, for the ETA
    notifier = None if book.kind == "test" else _publisher(settings, journal, site, services, progress)
    return Engine(
        cancel=cancel,
        journal=journal,
        services=services,
        site=site,
        clock=settings.clock,
        log=structlog.get_logger("orchestrator"),
        approver=approver,
        observer=chain_observers(observer, progress),
        notifier=notifier,
    )


# --------------------------------------------------------------------------- milestones and the status page


def eta_source(
    settings: Settings, journal: Journal, progress: RestoreProgress | None, run_id: str
) -> EtaSource:
    """What the status page and every milestone message show as the ETA of ``run_id``: learned from the
    site's drill history (p50..p90 of each step over the last drills) along the run's remaining critical
    path, with the restore's live bytes when this process runs it (``progress``); None ("No estimate yet —
    run a drill") without drill history."""
    return live_eta.eta_source(journal, run_id, settings.clock, progress)


def _delivery(
    settings: Settings, journal: Journal, site: Site, services: Services, progress: RestoreProgress | None = None,
    live: bool = True,
) -> Delivery:
    log = structlog.get_logger("orchestrator.notify")
    return Delivery(journal, site, services, settings.reports,
                    functools.partial(eta_source, settings, journal, progress), log, live=live)


def _publisher(
    settings: Settings, journal: Journal, site: Site, services: Services, progress: RestoreProgress | None = None
) -> Notifier:
    """The run's milestones: journaled in the outbox, delivered (page + SNS) in the background."""
    return Publisher(Outbox(journal, settings.clock), _delivery(settings, journal, site, services, progress))


#: how long a command that opens a run (status, resume of a finished run) waits for its pending notifications
PENDING_DELIVERY_SECONDS = 20.0


def deliver_pending(settings: Settings, journal: Journal, run: RunRecord, site: Site | None = None) -> Delivered | None:
    """Send what the outbox of ``run`` still holds (a process killed before it sent its last milestones), in
    at most ``PENDING_DELIVERY_SECONDS``; None when nothing was pending (or the time ran out). A run whose
    orchestrator is gone (killed) gets, once, an ``interrupted`` milestone first: its page, left saying "in
    progress" by the dead process, is republished as stopped and everyone is told."""
    orphaned = run_orphaned(journal, run)
    if orphaned:
        _tell_orphaned(settings, journal, run)
    if not any(e.pending for e in journal.outbox(run.run_id)):
        return None
    try:
        site = site or site_change.site_of_run(run.options, run.site_file) or load_site(run.site_file)
    except (OrchestratorError, OSError) as exc:  # the run's site cannot be read: its messages stay pending
        structlog.get_logger("orchestrator.notify").warning("outbox.no_site", run_id=run.run_id, error=str(exc))
        return None
    services = build_services(site, settings.clock)
    try:
        # no orchestrator runs it now (killed): its page says it stopped, not "in progress"
        delivery = _delivery(settings, journal, site, services, live=not orphaned)
        done = deliver_in_bound(delivery, run.run_id, PENDING_DELIVERY_SECONDS)
    finally:
        services.close()
    if done is not None:
        structlog.get_logger("orchestrator.notify").info(
            "outbox.delivered", run_id=run.run_id, messages=done.messages, page_uploaded=done.page_uploaded,
            still_pending=done.failed,
        )
    return done


#: the milestone a run whose orchestrator is gone gets from the next command that sees it (``status``)
ORPHANED_MILESTONE = "interrupted"


def _tell_orphaned(settings: Settings, journal: Journal, run: RunRecord) -> None:
    """Journal an ``interrupted`` milestone for a run whose orchestrator died, unless one was journaled since
    the run last (re)started: each kill is told once, however often ``status`` is run."""
    started = [e["at"] for e in journal.get_events(run.run_id)
               if e["event"] in (EventName.RUN_STARTED, EventName.RUN_RESUMED) and e.get("at")]
    since = max(started, default="")
    if any(e.milestone == ORPHANED_MILESTONE and e.created_at >= since for e in journal.outbox(run.run_id)):
        return
    Outbox(journal, settings.clock).record(run.run_id, ORPHANED_MILESTONE, {
        "status": RunStatus.INTERRUPTED.value, ORPHANED_FIELD: True,
        "error": f"no orchestrator runs it any more (killed, or its machine lost): `orchestrator resume {run.run_id}`",
    })


def status_page_of(
    settings: Settings, run_id: str, site_file: Path | None = None
) -> tuple[Path | None, PresignedLink | None]:
    """Where the page of ``run_id`` is: its file (when written) and a fresh presigned link (when the site
    publishes it to S3; computed locally, no call), with how long it really works (the signing credentials'
    end may come before the site's ``link_expiry_seconds``)."""
    from orchestrator.status_page import PAGE_FILE

    page = settings.reports / run_id / PAGE_FILE
    try:
        journal = open_journal(settings, load_site(site_file) if site_file else None)
        run = journal.get_run(run_id)
        site = site_change.site_of_run(run.options, run.site_file) or load_site(run.site_file)
        if site.notify.status_page is None:
            return (page if page.is_file() else None), None
        services = build_services(site, settings.clock)
        link = services.s3.presign_get(
            site.notify.status_page.bucket, site.notify.status_page.key, site.notify.status_page.link_expiry_seconds
        )
    except (OrchestratorError, OSError) as exc:
        structlog.get_logger("orchestrator").warning("status_page.link_failed", run_id=run_id, error=str(exc))
        link = None
    return (page if page.is_file() else None), link


def _execute(
    settings: Settings, engine: Engine, journal: Journal, run_id: str, approvals: tuple[str, ...], yes: bool
) -> tuple[Outcome, Path | None]:
    audit = settings.state_dir / "runs" / run_id / "audit.jsonl"
    logs.open_audit(run_id, audit)
    if isinstance(journal, SqliteJournal):
        journal.on_lost = engine.cancel.set  # a journal file removed under the run stops it, resumably
    lost = None
    try:
        with _signals_cancel(engine), structlog.contextvars.bound_contextvars(run_id=run_id):
            try:
                outcome = engine.run(run_id, approvals=set(approvals), approve_all=yes)
            except NotReady as exc:  # stopped before a gate without a decision, or refused: held, resumable
                if journal.get_run(run_id).status != RunStatus.HELD:
                    raise
                outcome = Outcome(run_id, RunStatus.HELD, str(exc))
            finally:
                engine.close()
                lost = _note_lost_journal(journal, run_id)
                report = build(journal, run_id)
                folder = _report_and_evidence(settings, journal, report)
        if report.kind == "drill":
            _record_drill(journal, report)
        if lost is not None:
            outcome = Outcome(run_id, outcome.status, f"{lost}{_rescue(journal, run_id)}")
        return outcome, folder
    except BaseException:
        if lost is not None:
            _rescue(journal, run_id)
        raise
    finally:
        logs.close_audit(run_id)


def _note_lost_journal(journal: Journal, run_id: str) -> str | None:
    """When the journal file was removed or replaced during the run: record why the run stopped (in the
    journal as it still is open) and return the start of the operator's message; None otherwise."""
    reason = getattr(journal, "lost", None)
    if reason is None:
        return None
    stopped = "the run was stopped; " if journal.get_run(run_id).status == RunStatus.INTERRUPTED else ""
    journal.update_run(run_id, error=f"{reason}; {stopped}resume with `orchestrator resume {run_id}`")
    return f"{reason}; {stopped}"


def _rescue(journal: Journal, run_id: str) -> str:
    """Save what the lost journal file held (only a local journal file can be lost: see SqliteJournal)."""
    if not isinstance(journal, SqliteJournal):
        return "the journal was not lost"
    saved = journal.rescue()
    structlog.get_logger("orchestrator").error(
        EventName.JOURNAL_LOST.value, run_id=run_id, reason=journal.lost, saved=saved
    )
    return f"{saved}; resume with `orchestrator resume {run_id}`"


def _report_and_evidence(settings: Settings, journal: Journal, report: Report) -> Path | None:
    """The run's findings into its report, the report written, then its evidence pack (contract 1.2)."""
    as_json = to_json(report)  # the evidence pack reads the report as report.json holds it
    evidence_run.add_findings(settings.state_dir, journal, as_json, settings.clock)
    folder = _write_report(replace(report, findings=as_json.get("findings")), settings.reports)
    evidence_run.write(settings.reports, settings.state_dir, journal, as_json, settings.clock)
    return folder


def _write_report(report: Report, reports: Path) -> Path | None:
    """Write the report files; a report that cannot be written is a warning (the run's outcome stands)."""
    try:
        return write_report(report, reports)
    except OSError as exc:
        structlog.get_logger("orchestrator").warning(
            "report_not_written",
            run_id=report.run_id,
            report_dir=str(reports),
            error=f"{exc.__class__.__name__}: {exc.strerror or exc}",
            hint="the run is in the journal; `orchestrator status RUN_ID --json` shows it",
        )
        return None


def _record_drill(journal: Journal, report: Report) -> None:
    """The drill's entry in the drill history: its RTO and RPO, and each step's duration (what `drills`
    tabulates and the ETA of later runs is learned from)."""
    rto_phase = journal.get_run(report.run_id).runbook.get("rto_phase")
    journal.record_drill(history.entry_json(history.drill_entry(report, rto_phase)))


@contextmanager
def _signals_cancel(engine: Engine) -> Iterator[None]:
    """SIGINT/SIGTERM: cancel the run (orchestrator/cancel.py): every wait and backoff ends, every SSH
    channel in use is closed, a prompt is interrupted; the run ends ``interrupted`` (exit 130) within
    seconds, its report written and its lock released. One Ctrl-C is enough; more change nothing."""
    previous = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        engine.cancel.on_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not in the main thread (tests)
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_approvals(book: Runbook, approvals: Iterable[str], flag: str) -> None:
    for step_id in approvals:
        if step_id not in book.by_id:
            raise InvalidInput(f"{flag} {step_id}: no such step in runbook {book.name}", source=book.source)


# --------------------------------------------------------------------------- the decision point


#: statuses of a run that has ended for good: no gate of it waits for a decision any more
FINISHED = (RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK, RunStatus.STOOD_DOWN)
#: step statuses of a gate not passed yet
BEFORE_GATE = (StepStatus.PENDING, StepStatus.AWAITING_APPROVAL)


def journal_of_run(settings: Settings, run_id: str, site_file: Path | None) -> tuple[Journal, RunRecord]:
    """The journal holding ``run_id``: the site's (team mode) when a site file is given, else the local one;
    an unknown run is invalid input (exit 2) naming where it was looked for."""
    journal = open_journal(settings, load_site(site_file) if site_file else None)
    try:
        return journal, journal.get_run(run_id)
    except RunNotFound:
        where = f"the state table of {site_file}" if site_file else f"the local journal ({settings.state_dir})"
        hint = "" if site_file else "; in team mode pass --site SITE.json"
        raise InvalidInput(f"no run {run_id!r} in {where}{hint}", source="run") from None


def gate_to_decide(journal: Journal, run: RunRecord, step_id: str | None) -> str:
    """The gate a decision for ``run`` is about: ``step_id``, else the gate the run waits at, else its next
    gate not passed yet. Exit 2 for a step the run does not have or that has no gate; exit 4 when the run
    has finished or is past that gate."""
    from orchestrator.runbook import runbook_from_dict

    book = runbook_from_dict(run.runbook)
    if step_id is not None and step_id not in book.by_id:
        raise InvalidInput(f"no step {step_id!r} in run {run.run_id} (runbook {book.name})", source="--step")
    if step_id is not None and book.by_id[step_id].gate != "approval":
        raise InvalidInput(f"step {step_id!r} of run {run.run_id} has no approval gate", source="--step")
    if run.status in FINISHED:
        raise NotReady(f"run {run.run_id} has ended ({run.status}): no gate waits for a decision")
    status = {s.step_id: s.status for s in journal.get_steps(run.run_id)}
    gates = [s.id for s in book.order() if s.gate == "approval"]
    if step_id is None:
        waiting = [g for g in gates if status.get(g) == StepStatus.AWAITING_APPROVAL]
        open_gates = [g for g in gates if status.get(g) in BEFORE_GATE]
        if not (waiting or open_gates):
            raise NotReady(f"run {run.run_id} is past every gate: nothing to decide")
        return (waiting or open_gates)[0]
    if status.get(step_id) not in BEFORE_GATE:
        raise NotReady(f"run {run.run_id} is already past the gate of step {step_id!r} ({status.get(step_id)})")
    return step_id


def decide(
    settings: Settings, run_id: str, step_id: str | None, approve: bool, reason: str | None, site_file: Path | None
) -> tuple[decisions.Decision, RunRecord]:
    """``orchestrator approve`` / ``deny``: journal the decision (who: this user; where: this host). A process
    of the run waiting at that gate takes it within seconds; a run with none takes it on ``resume``."""
    journal, run = journal_of_run(settings, run_id, site_file)
    try:
        step = gate_to_decide(journal, run, step_id)
        decision = decisions.new(
            step, approve, approvals_mod.operator(), approvals_mod.host(), iso(settings.clock.now()) or "", reason
        )
        decisions.record(journal, run_id, decision)
        return decision, run
    finally:
        journal.close()


def decision_taken(settings: Settings, run_id: str, decision_id: str, site_file: Path | None) -> str | None:
    """How the decision ``decision_id`` was acted on so far: the gate event that consumed it
    (``approval_granted``/``approval_refused``), or None."""
    journal, _ = journal_of_run(settings, run_id, site_file)
    try:
        for event in journal.get_events(run_id):
            if event.get("event") in decisions.CONSUMING and decision_id in (event.get("decisions") or []):
                return str(event["event"])
        return None
    finally:
        journal.close()


def stand_down(
    settings: Settings, run_id: str, observer_factory: ObserverFactory, site_file: Path | None = None
) -> tuple[Outcome, Path | None]:
    """Undo a held, interrupted or failed failover that has not passed a gate: each step's compensation in
    reverse (tunnels down, seats back to warm, the announcement removed, traffic distribution as read
    before), the restored data kept. A run past its gate is invalid input (exit 2): fail back instead."""
    from orchestrator.runbook import runbook_from_dict

    check_directories(settings)
    journal, run, site, _ = _run_and_site(settings, run_id, site_file, ())  # no change is allowed here
    if run.kind != "failover":
        raise InvalidInput(f"run {run_id} is a {run.kind}: stand-down undoes a failover", source="stand-down")
    if run.status == RunStatus.STOOD_DOWN:
        return Outcome(run_id, RunStatus.STOOD_DOWN, "already stood down"), settings.reports / run_id
    book = runbook_from_dict(run.runbook)
    status = {s.step_id: s.status for s in journal.get_steps(run_id)}
    passed = [s.id for s in book.order() if s.gate == "approval" and status.get(s.id) not in BEFORE_GATE]
    if passed or run.status in FINISHED:
        raise InvalidInput(
            f"run {run_id} is past its gate ({', '.join(passed) or run.status}): stand-down cannot undo a cutover; "
            f"fail back instead: `orchestrator failback --site {run.site_file}`",
            source="stand-down",
        )
    engine = _engine(settings, journal, site, lambda request: None, observer_factory(book), book)
    audit = settings.state_dir / "runs" / run_id / "audit.jsonl"
    logs.open_audit(run_id, audit)
    try:
        with _signals_cancel(engine):
            try:
                outcome = engine.stand_down(run_id)
            finally:
                engine.close()
                folder = _report_and_evidence(settings, journal, build(journal, run_id))
        return outcome, folder
    finally:
        logs.close_audit(run_id)


def half_done_failovers(journal: Journal, site: str, now_alive: Callable[[RunRecord], bool]) -> list[RunRecord]:
    """The site's failovers left ``held``, ``interrupted`` or ``failed`` (or running with no live process)
    with changes made and not stood down, newer than the site's last successful failback or drill."""
    out = []
    for run in journal.list_runs(limit=50, site=site):
        if run.kind in ("failback", "drill") and run.status == RunStatus.SUCCEEDED:
            break  # the site was brought back to its start after anything older
        if run.kind != "failover":
            continue
        stopped = run.status in (RunStatus.HELD, RunStatus.INTERRUPTED, RunStatus.FAILED) or (
            run.status == RunStatus.RUNNING and not now_alive(run)
        )
        if stopped and any(s.applied or s.status == StepStatus.SUCCEEDED for s in journal.get_steps(run.run_id)):
            out.append(run)
    return out


# --------------------------------------------------------------------------- dry run


def dry_run(settings: Settings, request: RunRequest, out: Callable[[str], None]) -> int:
    """Print, step by step, what would change. Takes no lock, writes no journal, changes nothing."""
    site = load_site(request.site_file)
    full = load_runbook(request.runbook_file or default_runbook(request.kind))
    _check_approvals(full, request.approvals, "--approve")
    book = run_runbook(full, site)
    services = build_services(site, settings.clock)
    options = RunOptions(kind=request.kind, dry_run=True, accept_rpo_breach=request.accept_rpo_breach)
    kinds = registry()
    log = structlog.get_logger("orchestrator").bind(dry_run=True)
    out(f"DRY RUN of {book.name} ({book.source}) against site {site.site} — nothing will be changed")
    for step_id, key in left_out_detail(full, site).items():
        out(f"  left out: {step_id} (only when the site has `{key}`)")
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
    junit.xml is written last, then the evidence pack)."""
    import json

    try:
        json.loads((folder / "report.json").read_text())
        # the evidence pack (1.2) is written after the report files
        return "</testsuite" in (folder / "junit.xml").read_text() and (folder / "evidence" / "manifest.json").is_file()
    except (OSError, ValueError):
        return False
