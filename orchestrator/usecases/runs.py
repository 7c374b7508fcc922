"""The run use cases: failover, failback, drill (a new run), resume, dry run."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from orchestrator import approvals as approvals_mod
from orchestrator import logs, site_change
from orchestrator.clock import iso
from orchestrator.engine import Approver, Engine, Observer, Outcome
from orchestrator.engine.runner import step_context
from orchestrator.errors import OrchestratorError
from orchestrator.journal.lease import run_orphaned
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunRecord, RunSettings
from orchestrator.model import EventName, RunStatus
from orchestrator.report import build
from orchestrator.runbook import Runbook, runbook_from_dict
from orchestrator.settings import Settings
from orchestrator.steps import registry
from orchestrator.usecases import execute as ex
from orchestrator.usecases import plan as planning
from orchestrator.usecases.records import DryRunResult, ResumeRequest, RunPlan, RunRequest, RunResult
from orchestrator.usecases.resume import RecordedRun, record_site_change, record_site_change_locked, recorded_run
from orchestrator.usecases.session import open_journal, services_of
from orchestrator.usecases.wiring import Wiring

#: what the CLI gives a run to build its live display from its runbook (None: no display)
ObserverFactory = Callable[[Runbook], "Observer | None"]


def _no_display(book: Runbook) -> Observer | None:
    return None


class RunUseCases:
    """Runs: each returns a :class:`RunResult` (outcome, report folder, status page)."""

    settings: Settings

    def failover(self, request: RunRequest, approver: Approver, display: ObserverFactory = _no_display) -> RunResult:
        return self.start(request, approver, display)

    def failback(self, request: RunRequest, approver: Approver, display: ObserverFactory = _no_display) -> RunResult:
        return self.start(request, approver, display)

    def drill(self, request: RunRequest, approver: Approver, display: ObserverFactory = _no_display) -> RunResult:
        return self.start(request, approver, display)

    def prepare(self, request: RunRequest, dry_run: bool = False) -> RunPlan:
        return planning.prepare(request, dry_run)

    def start(self, request: RunRequest, approver: Approver, display: ObserverFactory = _no_display) -> RunResult:
        """Validate inputs, record a new run, execute it, write its report."""
        plan = self.prepare(request)
        self.settings.check_directories()
        run_id = planning.new_run_id(request.kind, self.settings.clock)
        # the audit log first: what the checks before the run's creation retry is in it too (every retry visible)
        audit = self.settings.audit_file(run_id)
        logs.open_audit(run_id, audit)
        journal: Journal | None = None
        try:
            with structlog.contextvars.bound_contextvars(run_id=run_id):
                planning.refuse_unmatched_critical(plan, self.settings.clock)
            journal = open_journal(self.settings, plan.site)
            if request.kind in ("failover", "drill"):
                planning.refuse_over_half_done(journal, plan, lambda r: not run_orphaned(journal, r))
            engine = self._create(plan, journal, run_id, approver, display)
        except BaseException:  # not started (refused, lock held, bad input): nothing of it is left behind
            if journal is not None:
                journal.close()
            logs.close_audit(run_id)
            shutil.rmtree(audit.parent, ignore_errors=True)
            raise
        return self._result(ex.execute(self.settings, engine, journal, run_id, (), False), request.site_file)

    def _create(
        self, plan: RunPlan, journal: Journal, run_id: str, approver: Approver, display: ObserverFactory
    ) -> Engine:
        """Record the new run (its site lock taken first) and return the engine that runs it."""
        request, site, now = plan.request, plan.site, iso(self.settings.clock.now()) or ""
        run = RunRecord(
            run_id=run_id,
            kind=request.kind,
            site=site.site,
            site_file=str(Path(request.site_file).resolve()),
            runbook={},
            status=RunStatus.PENDING,
            settings=RunSettings(
                accept_rpo_breach=plan.options.accept_rpo_breach,
                # approvals belong to the run: journaled with it, honoured by every resume
                approvals=tuple(approvals_mod.from_flags(request.approvals, request.yes, "start", now)),
                objectives=site.objectives.model_dump(),
                detected_at=request.detected_at or None,
                site=site_change.journaled(site),
            ),
        )
        engine = Wiring(self.settings).build_engine(journal, site, approver, display(plan.book), plan.book)
        engine.create(run, plan.book)  # takes the site lock first: a command refused by it (exit 3) records nothing
        if plan.left_out:  # a steps_left_out event in the run's timeline (report.json/md) naming each step and key
            journal.add_event(run_id, now, EventName.STEPS_LEFT_OUT.value, None,
                              {"steps": list(plan.left_out), "when": sorted(set(plan.left_out.values()))})
            structlog.get_logger("orchestrator").info(EventName.STEPS_LEFT_OUT.value, run_id=run_id,
                                                      steps=list(plan.left_out))
        return engine

    def _result(self, ended: tuple[Outcome, Path | None], site_file: Path | None) -> RunResult:
        outcome, folder = ended
        page, link = Wiring(self.settings).status_page_of(outcome.run_id, site_file)
        return RunResult(outcome, folder, page, link)

    def resume(self, request: ResumeRequest, approver: Approver, display: ObserverFactory = _no_display) -> RunResult:
        """Continue a run from where it stopped, with the runbook and the site recorded at its start
        (a site file given must match that site; see orchestrator.site_change)."""
        self.settings.check_directories()
        found = recorded_run(self.settings, request.run_id, request.site_file, request.allow_site_changes)
        if found.run.status == RunStatus.SUCCEEDED:
            try:
                if found.changes and request.site_file is not None:
                    record_site_change_locked(self.settings.clock, found, request.site_file)
                Wiring(self.settings).deliver_pending(found.journal, found.run, found.site)
                return self._result(self._resume_succeeded(found.journal, found.run), request.site_file)
            finally:
                found.journal.close()
        book = runbook_from_dict(found.run.runbook)
        engine = self._hold(found, book, request, approver, display)
        ended = ex.execute(self.settings, engine, found.journal, request.run_id, request.approvals, request.yes)
        return self._result(ended, request.site_file)

    def _hold(
        self, found: RecordedRun, book: Runbook, request: ResumeRequest, approver: Approver, display: ObserverFactory
    ) -> Engine:
        """The engine of a resumed run, holding its lock (and the allowed site changes journaled under it)."""
        try:
            planning.check_approvals(book, request.approvals, "--approve")
            engine = Wiring(self.settings).build_engine(found.journal, found.site, approver, display(book), book)
        except BaseException:
            found.journal.close()
            raise
        try:
            # the lock first: a resume refused by it (exit 3: the run, or another on its resources, is live)
            # records nothing, not even the site change it was given
            engine.hold(found.run)
            if found.changes and request.site_file is not None:
                record_site_change(self.settings.clock, found, request.site_file)
        except BaseException:
            engine.release_held()
            engine.close()
            found.journal.close()
            raise
        return engine

    def _resume_succeeded(self, journal: Journal, run: RunRecord) -> tuple[Outcome, Path | None]:
        """A run that already succeeded: nothing to run again. Its report is written when a kill -9 (after the
        journal said succeeded, before or while the report was written) left it missing or incomplete; either
        way the resume succeeds, so a script that resumes after a crash is safe to run twice."""
        folder: Path | None = self.settings.reports / run.run_id
        if not ex.report_written(self.settings.reports / run.run_id):
            report = build(journal, run.run_id)
            folder = ex.report_and_evidence(self.settings, journal, report)
            if run.kind == "drill":
                ex.record_drill(journal, report)
        else:
            structlog.get_logger("orchestrator").warning(
                "resume.nothing_to_do", run_id=run.run_id, reason="the run already succeeded and its report is complete"
            )
        return Outcome(run.run_id, RunStatus.SUCCEEDED), folder

    def dry_run(self, request: RunRequest) -> DryRunResult:
        """What would change, step by step, as lines to print while they come. Takes no lock, writes no
        journal, changes nothing."""
        plan = self.prepare(request, dry_run=True)
        failures: list[str] = []
        return DryRunResult(self._plan_lines(plan, failures), failures)

    def _plan_lines(self, plan: RunPlan, failures: list[str]) -> Iterator[str]:
        site, book = plan.site, plan.book
        kinds = registry()
        log = structlog.get_logger("orchestrator").bind(dry_run=True)
        yield f"DRY RUN of {book.name} ({book.source}) against site {site.site} — nothing will be changed"
        for step_id, key in plan.left_out.items():
            yield f"  left out: {step_id} (only when the site has `{key}`)"
        with services_of(site, self.settings.clock) as services:
            for number, step in enumerate(book.order(), 1):
                ctx = step_context("dry-run", step, site, services, self.settings.clock, log, plan.options)
                kind = kinds[step.uses]()
                gate = " [approval gate]" if step.gate else ""
                yield f"{number:>3}. {step.id} — {step.uses} (owner: {step.owner}){gate}"
                try:
                    for line in kind.plan(ctx):
                        yield f"       {line}"
                except OrchestratorError as exc:
                    failures.append(step.id)
                    yield f"       cannot plan: {exc}"
        yield "DRY RUN complete: no change was made" + (
            f"; {len(failures)} step(s) could not be planned" if failures else "")
