"""Running a recorded run to its end: signals cancel it, a lost journal file stops it resumably, its report and
evidence pack are written whatever happened, a drill joins the drill history."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType

import structlog

from orchestrator import history, logs
from orchestrator.engine import Engine, Outcome
from orchestrator.errors import NotReady
from orchestrator.evidence import run as evidence_run
from orchestrator.journal.protocols import Journal
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.model import EventName, RunStatus
from orchestrator.report import Report, build, to_json, write_report
from orchestrator.settings import Settings


def execute(
    settings: Settings, engine: Engine, journal: Journal, run_id: str, approvals: tuple[str, ...], yes: bool
) -> tuple[Outcome, Path | None]:
    """Run ``run_id`` (its lock held by ``engine``), then write its report; the journal is closed at the end."""
    logs.open_audit(run_id, settings.audit_file(run_id))
    if isinstance(journal, SqliteJournal):
        journal.on_lost = engine.cancel.set  # a journal file removed under the run stops it, resumably
    lost = None
    try:
        with signals_cancel(engine), structlog.contextvars.bound_contextvars(run_id=run_id):
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
                folder = report_and_evidence(settings, journal, report)
        if report.kind == "drill":
            record_drill(journal, report)
        if lost is not None:
            outcome = Outcome(run_id, outcome.status, f"{lost}{_rescue(journal, run_id)}")
        return outcome, folder
    except BaseException:
        if lost is not None:
            _rescue(journal, run_id)
        raise
    finally:
        logs.close_audit(run_id)
        journal.close()


def _note_lost_journal(journal: Journal, run_id: str) -> str | None:
    """When the journal file was removed or replaced during the run: record why the run stopped (in the
    journal as it still is open) and return the start of the operator's message; None otherwise."""
    reason = getattr(journal, "lost", None)
    if reason is None:
        return None
    stopped = "the run was stopped; " if journal.get_run(run_id).status == RunStatus.INTERRUPTED else ""
    journal.set_error(run_id, f"{reason}; {stopped}resume with `orchestrator resume {run_id}`")
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


def report_and_evidence(settings: Settings, journal: Journal, report: Report) -> Path | None:
    """The run's findings into its report, the report written, then its evidence pack (contract 1.2)."""
    as_json = to_json(report)  # the evidence pack reads the report as report.json holds it
    evidence_run.add_findings(settings.state_dir, journal, as_json, settings.clock)
    folder = write_report_files(replace(report, findings=as_json.get("findings")), settings.reports)
    evidence_run.write(settings.reports, settings.state_dir, journal, as_json, settings.clock)
    return folder


def write_report_files(report: Report, reports: Path) -> Path | None:
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


def record_drill(journal: Journal, report: Report) -> None:
    """The drill's entry in the drill history: its RTO and RPO, and each step's duration (what `drills`
    tabulates and the ETA of later runs is learned from)."""
    rto_phase = journal.get_run(report.run_id).runbook.get("rto_phase")
    journal.record_drill(history.entry_json(history.drill_entry(report, rto_phase)))


def report_written(folder: Path) -> bool:
    """Every report file is there, complete (a kill -9 can stop the process before or while writing them;
    junit.xml is written last, then the evidence pack)."""
    try:
        json.loads((folder / "report.json").read_text())
        # the evidence pack (1.2) is written after the report files
        return "</testsuite" in (folder / "junit.xml").read_text() and (folder / "evidence" / "manifest.json").is_file()
    except (OSError, ValueError):
        return False


@contextmanager
def signals_cancel(engine: Engine) -> Iterator[None]:
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
