"""One step: its context, its attempts (verify, apply, verify) under its retry policy and deadline.

Runs in the step's own thread; the scheduler learns the end through a ``StepResult`` on a queue.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator import retry as retry_mod
from orchestrator.cancel import Cancellation
from orchestrator.clock import Clock, iso
from orchestrator.engine.events import Events
from orchestrator.engine.state import RunState
from orchestrator.errors import Interrupted, OrchestratorError, VerificationFailed
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import StepRecord
from orchestrator.model import EventName, StepStatus
from orchestrator.redact import redact_text as scrub
from orchestrator.runbook import Step
from orchestrator.steps.base import RunOptions, StepContext, StepKind
from orchestrator.steps.resources import RunResources

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.site import Site


@dataclass
class StepResult:
    step_id: str
    status: StepStatus
    error: str | None
    exc: BaseException | None = None
    #: when the step's own thread ended (the scheduler may collect the result later: it waits at an
    #: approval prompt while other steps run on), so the recorded end and duration are the step's
    ended_at: datetime | None = None


def step_context(
    run_id: str, step: Step, site: Site, services: Services, clock: Clock, log: Any, options: RunOptions,
    **run_parts: Any,
) -> StepContext:
    """A step's context: the one place a run's steps and a dry run's plans get theirs (``run_parts``: what
    only a real run has -- its state, deadline, outputs of other steps, progress, cancellation)."""
    return StepContext(
        run_id=run_id,
        step_id=step.id,
        params=step.params,
        site=site,
        services=services,
        clock=clock,
        log=log.bind(step=step.id),
        options=options,
        **run_parts,
    )


class StepSleep:
    """What retrying needs between attempts: a sleep through the step context, so a backoff never runs
    past the step's deadline and a cancel cuts it short."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx

    def sleep(self, seconds: float) -> None:
        self.ctx.sleep(seconds)


class StepRunner:
    def __init__(
        self,
        run: RunState,
        events: Events,
        journal: Journal,
        kinds: dict[str, type[StepKind]],
        clock: Clock,
        cancel: Cancellation,
        site: Site,
        services: Services,
    ) -> None:
        self.run = run
        self.events = events
        self.journal = journal
        self.kinds = kinds
        self.clock = clock
        self.cancel = cancel
        self.site = site
        self.services = services
        #: the per-run resources every step of this execution shares (closed by the engine at its end)
        self.resources = RunResources()

    def context(self, step: Step, rec: StepRecord, register: bool = True) -> StepContext:
        """The step's context; ``register`` (a step about to run) gives it its own cancellation and keeps
        it so its state is journaled when it ends."""

        def persist(state: dict[str, object]) -> None:
            with self.run.lock:
                rec.state = state
                self.journal.save_step(rec)

        ctx = step_context(
            self.run.run_id,
            step,
            self.site,
            self.services,
            self.clock,
            self.run.log,
            self.run.options,
            state=dict(rec.state),
            deadline=self.clock.monotonic() + step.timeout,
            _persist=persist,
            _outputs_of=lambda other: self.outputs_of(step, other),
            _outputs_of_kind=lambda uses: self.outputs_of_kind(step, uses),
            _progress=lambda fields: self.events.show(EventName.STEP_PROGRESS, step.id, fields),
            run_started_at=self.run.started_at,
            announce=self.events.notify if self.events.notifier is not None else None,
            resources=self.resources,
            cancel=self.cancel.child() if register else self.cancel,
        )
        if register:
            self.run.contexts[step.id] = ctx
        return ctx

    def outputs_of(self, step: Step, other: str) -> dict[str, object]:
        """Another step's recorded data; ids resolve within the step's own phase first (so a runbook
        included as a drill phase keeps working unchanged)."""
        for candidate in (f"{step.phase}/{other}" if step.phase else None, other):
            if candidate and candidate in self.run.records:
                return dict(self.run.records[candidate].state)
        return {}

    def outputs_of_kind(self, step: Step, uses: str) -> dict[str, dict[str, object]]:
        """The recorded data of the run's other steps of kind ``uses`` in the step's own phase."""
        with self.run.lock:
            return {
                sid: dict(rec.state)
                for sid, rec in self.run.records.items()
                if sid != step.id and rec.uses == uses and rec.phase == step.phase
            }

    def launch(self, step: Step, ctx: StepContext, done: queue.Queue[StepResult]) -> None:
        """Mark the step running (journaled) and start its thread, the run and step bound to its logs."""
        rec = self.run.records[step.id]
        rec.status = StepStatus.RUNNING
        rec.started_at = iso(self.clock.now())
        rec.error = None
        self.journal.save_step(rec)
        self.events.emit(EventName.STEP_STARTED, step.id, uses=step.uses, owner=step.owner)

        threading.Thread(target=self._work, args=(step, ctx, done), daemon=True, name=f"step:{step.id}").start()

    def _work(self, step: Step, ctx: StepContext, done: queue.Queue[StepResult]) -> None:
        with structlog.contextvars.bound_contextvars(run_id=self.run.run_id, step=step.id):
            try:
                self._attempts(step, ctx)
                result = StepResult(step.id, StepStatus.SUCCEEDED, None)
            except Exception as exc:
                result = self._result_of(step, ctx, exc)
            result.ended_at = self.clock.now()
            done.put(result)

    @staticmethod
    def _result_of(step: Step, ctx: StepContext, exc: Exception) -> StepResult:
        if isinstance(exc, Interrupted) or ctx.cancel.is_set():  # whatever a cancel broke: interrupted
            return StepResult(step.id, StepStatus.INTERRUPTED, scrub(str(exc)) or "interrupted", exc)
        if isinstance(exc, OrchestratorError):
            return StepResult(step.id, StepStatus.FAILED, scrub(str(exc)), exc)
        # a bug in a step: fatal, never retried, reported with its type
        return StepResult(step.id, StepStatus.FAILED, scrub(f"{exc.__class__.__name__}: {exc}"), exc)

    def _attempts(self, step: Step, ctx: StepContext) -> None:
        kind = self.kinds[step.uses]()
        rec = self.run.records[step.id]

        def on_retry(attempt: int, error: BaseException, delay: float) -> None:
            self.events.emit(
                EventName.ATTEMPT_FAILED,
                step.id,
                level="warning",
                attempt=attempt,
                error=scrub(str(error)),
                retry_in_seconds=round(delay, 3),
            )

        for attempt in retry_mod.retrying(step.retry, StepSleep(ctx), on_retry):
            with attempt:
                ctx.check()
                with self.run.lock:
                    rec.attempts += 1
                    self.journal.save_step(rec)
                if kind.verify(ctx):
                    self.events.emit(
                        EventName.STEP_VERIFIED,
                        step.id,
                        applied=False,
                        attempt=rec.attempts,
                        note="already in the desired state",
                    )
                    return
                self._apply(step, kind, ctx, rec)

    def _apply(self, step: Step, kind: StepKind, ctx: StepContext, rec: StepRecord) -> None:
        self.events.emit(EventName.STEP_APPLYING, step.id, attempt=rec.attempts)
        kind.apply(ctx)
        with self.run.lock:
            rec.applied = True
            self.journal.save_step(rec)
        if not kind.verify(ctx):
            raise VerificationFailed(f"step {step.id}: applied, but verification does not see the result")
        self.events.emit(EventName.STEP_VERIFIED, step.id, applied=True, attempt=rec.attempts)
