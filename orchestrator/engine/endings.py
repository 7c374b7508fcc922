"""A step's end: journaled (status, error, times, its state), then told (event, milestone, failure notice)."""

from __future__ import annotations

from orchestrator.clock import Clock, iso, parse_iso
from orchestrator.engine.events import Events
from orchestrator.engine.runner import StepResult
from orchestrator.engine.state import RunState
from orchestrator.errors import RetryableError
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import StepRecord
from orchestrator.model import EventName, StepStatus
from orchestrator.runbook import Step


class StepEndings:
    """Records how each step of the run ended; the run loop decides what a failure means."""

    def __init__(self, run: RunState, events: Events, journal: Journal, clock: Clock) -> None:
        self.run = run
        self.events = events
        self.journal = journal
        self.clock = clock

    def finish(self, result: StepResult) -> Step | None:
        """Journal a step's end; the step when it failed (the loop decides what that means)."""
        step = self.run.book.by_id[result.step_id]
        rec = self.run.records[result.step_id]
        self._record(rec, result)
        if result.status == StepStatus.SUCCEEDED:
            self.events.emit(
                EventName.STEP_SUCCEEDED, step.id, attempts=rec.attempts, duration_seconds=rec.duration_seconds
            )
            if step.milestone:
                self.events.notify(
                    step.milestone, step=step.id, status=StepStatus.SUCCEEDED.value, rto_so_far=self.events.elapsed()
                )
            return None
        if result.status == StepStatus.INTERRUPTED:
            self.events.emit(EventName.STEP_INTERRUPTED, step.id, level="warning", error=result.error)
            return None
        self.events.emit(
            EventName.step_ended(result.status),
            step.id,
            level="error",
            error=result.error,
            classification="retries exhausted" if isinstance(result.exc, RetryableError) else "fatal",
            on_failure=step.on_failure,
        )
        self.events.notify("step_failed", step=step.id, error=result.error)
        return step

    def _record(self, rec: StepRecord, result: StepResult) -> None:
        with self.run.lock:
            rec.status = result.status
            rec.error = result.error
            rec.finished_at = iso(result.ended_at or self.clock.now())
            rec.duration_seconds = _duration(rec.started_at, rec.finished_at)
            ctx = self.run.contexts.get(rec.step_id)
            if ctx is not None:
                rec.state = dict(ctx.state)
            rec.seq = next(self.run.seq) if result.status == StepStatus.SUCCEEDED else rec.seq
            self.journal.save_step(rec)


def _duration(start: str | None, end: str | None) -> float | None:
    a, b = parse_iso(start), parse_iso(end)
    return None if a is None or b is None else round((b - a).total_seconds(), 3)
