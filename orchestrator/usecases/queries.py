"""The reading use cases: status (with the rule of an orphaned run), readiness, drills, evidence, findings;
and the restore worker and the watch, which run beside a run rather than as one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import approvals as approvals_mod
from orchestrator.clock import iso
from orchestrator.errors import InvalidInput
from orchestrator.journal.lease import run_orphaned
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunRecord, StepRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.model import RunStatus, StepStatus
from orchestrator.settings import Settings
from orchestrator.site import Site, load_site
from orchestrator.usecases.plan import half_done_failovers, passed_gate
from orchestrator.usecases.records import (
    DrillsResult,
    EvidenceResult,
    PendingDelivery,
    RunView,
    StatusResult,
    StepView,
    WorkerResult,
)
from orchestrator.usecases.session import has_local_journal, services_of, session
from orchestrator.usecases.wiring import Wiring

if TYPE_CHECKING:
    from orchestrator.backup.worker import WorkerOptions
    from orchestrator.readiness import Readiness
    from orchestrator.watcher import RoundOutcome


def shown_status(run: RunRecord, orphaned: bool) -> str:
    """``running`` only while an orchestrator is alive for the run (contract): a run whose process died
    (kill -9, a lost machine) is shown ``interrupted``, and resumable as such."""
    return RunStatus.INTERRUPTED if orphaned else run.status


def waiting_for(run: RunRecord, steps: list[StepRecord], orphaned: bool) -> str | None:
    """The gate a held run (or a live one) waits at; None for a run nobody runs any more."""
    if orphaned or run.status not in (RunStatus.HELD, RunStatus.RUNNING):
        return None
    return next((s.step_id for s in steps if s.status == StepStatus.AWAITING_APPROVAL), None)


def shown_step_status(status: StepStatus, orphaned: bool, waiting: str | None) -> str:
    """A step as it is now: running with nobody running it is interrupted; awaiting approval with nobody
    waiting at the gate (Ctrl-C at the prompt, a killed run) is not started, so pending."""
    if orphaned and status == StepStatus.RUNNING:
        return StepStatus.INTERRUPTED
    if status == StepStatus.AWAITING_APPROVAL and waiting is None:
        return StepStatus.PENDING
    return status


def run_view(journal: Journal, run: RunRecord) -> RunView:
    orphaned = run_orphaned(journal, run)
    steps = journal.get_steps(run.run_id)
    waiting = waiting_for(run, steps, orphaned)
    return RunView(
        run.run_id, run.kind, run.site, shown_status(run, orphaned), orphaned, run.started_at, run.finished_at,
        run.error, waiting,
        tuple(StepView(s.step_id, s.uses, s.owner, shown_step_status(s.status, orphaned, waiting), s.attempts,
                       s.started_at, s.finished_at, s.duration_seconds, s.error) for s in steps),
    )


class QueryUseCases:
    """status, readiness, drills, evidence verify, findings, restore-worker, watch."""

    settings: Settings

    def _site(self, site_file: Path | None) -> Site | None:
        return load_site(site_file) if site_file else None

    def status(self, run_id: str | None = None, last: int = 1, site_file: Path | None = None) -> StatusResult:
        """Runs and their steps (the latest by default). Opening a run sends what its outbox still holds (a
        run with a live orchestrator delivers its own). Creates nothing where there is no journal."""
        site = self._site(site_file)
        table_site = site.site if site is not None and site.state is not None else None
        if table_site is None and not SqliteJournal.exists_in(self.settings.state_dir):
            if run_id:
                raise InvalidInput(f"no run {run_id!r}: there is no journal in {self.settings.where()}",
                                   source="status")
            return StatusResult((), self.settings.state_dir, None, (), journal_found=False)
        with session(self.settings, site) as opened:
            journal = opened.journal
            runs = [journal.get_run(run_id)] if run_id else journal.list_runs(limit=last,
                                                                            site=site.site if site else None)
            delivered = tuple(self._deliver(journal, runs, site))
            views = tuple(run_view(journal, r) for r in runs)
        return StatusResult(views, self.settings.state_dir, table_site, delivered)

    def _deliver(self, journal: Journal, runs: list[RunRecord], site: Site | None) -> Iterator[PendingDelivery]:
        for run in runs:
            if run.status == RunStatus.RUNNING and not run_orphaned(journal, run):
                continue
            done = Wiring(self.settings).deliver_pending(journal, run, site)
            if done is not None:
                yield PendingDelivery(run.run_id, done)

    def readiness(self, site_file: Path, strict: bool = False, max_drill_age_days: int = 30) -> Readiness:
        """Would a failover work right now?"""
        from orchestrator import readiness as ready_mod
        from orchestrator.evidence import findings as findings_mod
        from orchestrator.evidence import run as evidence_run

        site = load_site(site_file)
        now = self.settings.clock.now()
        with session(self.settings, site) as opened:
            journal = opened.journal
            stopped = half_done_failovers(journal, site.site, lambda r: not run_orphaned(journal, r))
            half_done = [r.run_id for r in stopped]
            past_gate = {r.run_id for r in stopped if passed_gate(journal, r)}
            extra = []
            if site.primary is not None:
                from orchestrator import watcher

                last_round = watcher.store_for(self.settings, site).read(site.site)[1].get("last_round")
                extra.append(ready_mod.watch_recency(last_round, now))
            open_findings = evidence_run.store_for(self.settings.state_dir, site, self.settings.clock).list(site.site)
            extra.append(findings_mod.readiness_check(open_findings, now))
            return ready_mod.evaluate(opened.services, site, journal.drills(site.site, 50), now, strict,
                                      max_drill_age_days, half_done, extra, past_gate)

    def drills(self, site_file: Path | None = None, last: int = 10, chart: Path | None = None) -> DrillsResult:
        """The trend of the last drills: RTO, RPO, pass/fail; each step's p50/p90 over them."""
        from orchestrator import history

        site = self._site(site_file)
        with session(self.settings, site) as opened:
            rows = history.trend_rows(opened.journal.drills(site.site if site else None, last))
        stats = history.step_stats(reversed(rows))  # newest first: the newest drill's step order
        drawn = history.draw_trend(rows, chart) if chart else None
        return DrillsResult(rows, stats, chart, drawn)

    def evidence_verify(self, run_id: str, site_file: Path | None = None) -> EvidenceResult:
        """The pack of ``run_id`` (and its uploaded copy, with a site file) checked against its manifest."""
        from orchestrator.evidence import verify as verify_mod

        verdict = verify_mod.verify_pack(verify_mod.pack_of(self.settings.reports, run_id))
        problems = list(verdict.problems)
        site = load_site(site_file) if site_file is not None else self._site_of_run(run_id)
        if site is not None:  # the copy in the evidence bucket the site names (none named: nothing to check)
            from orchestrator.evidence import upload

            problems += upload.verify_copy(site, run_id, verdict.pack, self.settings.clock)
        return EvidenceResult(run_id, verdict.pack, tuple(problems), verdict.files, verdict.records)

    def _site_of_run(self, run_id: str) -> Site | None:
        """The site a run of the local journal used, as journaled (None: no local journal, or not its run)."""
        from orchestrator import site_change
        from orchestrator.journal.records import RunNotFound

        if not has_local_journal(self.settings):
            return None
        journal = SqliteJournal(self.settings.state_dir)
        try:
            run = journal.get_run(run_id)
        except RunNotFound:
            return None
        finally:
            journal.close()
        return site_change.site_of_run(run.settings, run.site_file)

    def findings(self, only_open: bool = False, site_file: Path | None = None) -> list[dict[str, Any]]:
        from orchestrator.evidence import run as evidence_run

        site = self._site(site_file)
        rows = evidence_run.store_for(self.settings.state_dir, site, self.settings.clock).list(
            site.site if site else None)
        return [f for f in rows if f.get("status") == "open" or not only_open]

    def close_finding(self, finding_id: str, note: str, site_file: Path | None = None) -> dict[str, Any]:
        """Close a finding, saying why (who: the user running it). It opens again if a later run finds it."""
        from orchestrator.evidence import findings as findings_mod
        from orchestrator.evidence import run as evidence_run
        from orchestrator.journal.findings import SqliteFindingStore

        site = self._site(site_file)
        if not note.strip():
            raise InvalidInput("--note must say why the finding is closed", source="findings close")
        store = evidence_run.store_for(self.settings.state_dir, site, self.settings.clock)
        site_name = site.site if site else SqliteFindingStore(self.settings.state_dir).site_of(finding_id)
        if site_name is None:
            raise InvalidInput(f"no finding {finding_id!r} in {self.settings.state_dir} (`orchestrator findings` "
                               "lists them; in team mode pass --site SITE.json)", source="findings close")
        return findings_mod.close(store, site_name, finding_id, approvals_mod.operator(), note,
                                  iso(self.settings.clock.now()) or "")

    def restore_worker(self, site_file: Path, options: WorkerOptions) -> WorkerResult:
        """Restore the bulk tier's work units from the site's queue until SIGTERM (or ``max_units``)."""
        import structlog

        from orchestrator.backup.worker import RestoreWorker

        site = load_site(site_file)
        if site.backup.workers is None:
            raise InvalidInput("has no backup.workers (the queue restore workers take work from)",
                               source=str(site_file), location="backup.workers")
        with services_of(site, self.settings.clock) as services:
            worker = RestoreWorker(services, options, structlog.get_logger("orchestrator.worker"))
            worker.install_signal_handlers()
            stats = worker.serve()
        return WorkerResult(stats.worker, stats.done, stats.failed, stats.files, stats.bytes)

    def watch(self, site_file: Path, stage: bool = False) -> RoundOutcome:
        """One round of probes of the primary (``orchestrator.watcher``)."""
        from orchestrator import watcher
        from orchestrator.usecases import outage_page

        return watcher.watch_round(self.settings, site_file, stage, self._stage_failover,
                                   lambda site, services, outcome: outage_page.publish(
                                       self.settings, site, services, outcome), resumer=self._resume_staged)

    def _stage_failover(self, site_file: Path, detected_at: str) -> str:
        """A failover held at its first gate (nobody is asked; no display), ``detected_at`` the outage's start."""
        from orchestrator.usecases.records import RunRequest, RunResult

        request = RunRequest(kind="failover", site_file=site_file, detected_at=detected_at)
        result: RunResult = self.start(request, lambda gate: None)  # type: ignore[attr-defined]
        return result.outcome.run_id

    def _resume_staged(self, run_id: str) -> str:
        """A staged failover whose watcher was killed, resumed up to its gate (nobody is asked); its status."""
        from orchestrator.usecases.records import ResumeRequest, RunResult

        result: RunResult = self.resume(ResumeRequest(run_id), lambda gate: None)  # type: ignore[attr-defined]
        return str(result.outcome.status)
