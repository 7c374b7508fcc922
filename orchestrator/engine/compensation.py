"""Rollback: undo in reverse order of completion, the failed step first (it may have half-applied),
then every completed step whose kind can compensate and whose runbook entry allows it."""

from __future__ import annotations

from orchestrator import retry as retry_mod
from orchestrator.engine.events import Events
from orchestrator.engine.runner import StepRunner, StepSleep
from orchestrator.engine.state import RunState
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import StepRecord
from orchestrator.model import EventName, StepStatus
from orchestrator.redact import redact_text as scrub
from orchestrator.runbook import Step

#: steps a stand-down undoes before the completed ones: failed or interrupted, and those a killed process left
#: running or rolling back (the stand-down holds the site lock: no process works on them), and a compensation
#: that failed (another stand-down tries it again)
HALF_DONE = frozenset({StepStatus.FAILED, StepStatus.INTERRUPTED, StepStatus.RUNNING, StepStatus.ROLLING_BACK,
                       StepStatus.ROLLBACK_FAILED})


class Compensation:
    def __init__(self, run: RunState, events: Events, journal: Journal, runner: StepRunner) -> None:
        self.run = run
        self.events = events
        self.journal = journal
        self.runner = runner

    def compensate(self, failure: Step) -> bool:
        """True when every compensation needed succeeded (the run is then rolled back)."""
        records = self.run.records
        done = sorted((r for r in records.values() if r.status == StepStatus.SUCCEEDED), key=lambda r: -r.seq)
        targets = [rec for rec in (records[failure.id], *done) if self._compensable(rec)]
        self.events.emit(
            EventName.ROLLBACK_STARTED, failure.id, level="warning", steps=[r.step_id for r in targets]
        )
        self.events.notify("rollback_started", step=failure.id)
        ok = True
        for rec in targets:
            ok = self._compensate_one(rec) and ok
        return ok

    def stand_down(self) -> bool:
        """Undo a failover that stopped before its gate (``orchestrator stand-down``): what stopped half-way
        first, then every completed step in reverse order of completion, each by its compensation (steps
        marked ``compensate: false`` -- the restored backups -- are kept). True when every one succeeded."""
        records = self.run.records
        half = [r for r in records.values() if r.status in HALF_DONE]
        done = sorted((r for r in records.values() if r.status == StepStatus.SUCCEEDED), key=lambda r: -r.seq)
        targets = [rec for rec in (*half, *done) if self._compensable(rec)]
        kept = [r.step_id for r in done if not self._compensable(r)]
        for rec in half:  # a killed process's step that changed nothing: no process runs it any more
            if rec.status == StepStatus.RUNNING and rec not in targets:
                rec.status = StepStatus.INTERRUPTED
                self.journal.save_step(rec)
        self.events.emit(
            EventName.STAND_DOWN_STARTED, None, level="warning", steps=[r.step_id for r in targets], kept=kept
        )
        self.events.notify("stand_down_started", steps=[r.step_id for r in targets])
        ok = True
        for rec in targets:
            ok = self._compensate_one(rec) and ok
        return ok

    def _compensable(self, rec: StepRecord) -> bool:
        step = self.run.book.by_id[rec.step_id]
        return step.compensate and self.runner.kinds[step.uses].compensable and (rec.applied or rec.state != {})

    def _compensate_one(self, rec: StepRecord) -> bool:
        step = self.run.book.by_id[rec.step_id]
        kind = self.runner.kinds[step.uses]()
        ctx = self.runner.context(step, rec)
        previous_status = rec.status
        rec.status = StepStatus.ROLLING_BACK
        self.journal.save_step(rec)
        self.events.emit(EventName.COMPENSATION_STARTED, step.id)
        try:
            retry_mod.retrying(step.retry, StepSleep(ctx))(kind.rollback, ctx)
        except Exception as exc:
            rec.status = StepStatus.ROLLBACK_FAILED
            rec.error = scrub(f"{rec.error + '; ' if rec.error else ''}rollback failed: {exc}")
            self.journal.save_step(rec)
            self.events.emit(EventName.COMPENSATION_FAILED, step.id, level="error", error=scrub(str(exc)))
            return False
        rec.status = StepStatus.ROLLED_BACK if previous_status == StepStatus.SUCCEEDED else StepStatus.FAILED
        rec.state = dict(ctx.state)
        self.journal.save_step(rec)
        self.events.emit(EventName.COMPENSATION_SUCCEEDED, step.id)
        return True
