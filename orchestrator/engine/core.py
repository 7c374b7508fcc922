"""The engine: runs one run (new or resumed) to an end state, from its parts -- the scheduler (what may
run now), the step runner (attempts, retries, timeouts), the approval gate and compensation.

Every state change is journaled before the engine moves on, so ``resume`` continues after a crash:
completed steps are kept, anything else is verified first and applied again only if needed.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from orchestrator import approvals as approvals_mod
from orchestrator.cancel import Cancellation
from orchestrator.clock import Clock, iso
from orchestrator.engine.compensation import Compensation
from orchestrator.engine.endings import StepEndings
from orchestrator.engine.events import Events, Notifier, Observer
from orchestrator.engine.gates import ApprovalGate, Approver, Gate, GateRequest, Waiting
from orchestrator.engine.runner import StepResult, StepRunner
from orchestrator.engine.scheduler import Scheduler
from orchestrator.engine.state import RunState
from orchestrator.errors import Interrupted, StepTimeout
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import Holder, LockInfo, RunRecord, StepRecord
from orchestrator.logs import Log
from orchestrator.model import RERUNNABLE, EventName, RunStatus, StepStatus
from orchestrator.notifier import BackgroundNotifier
from orchestrator.runbook import Runbook, Step, runbook_from_dict
from orchestrator.site_resources import lock_resources
from orchestrator.steps import registry
from orchestrator.steps.base import RunOptions, StepContext

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.site import Site

#: how long past its deadline a step that does not return is abandoned
HARD_TIMEOUT_GRACE = 30.0
#: how long (real seconds) running steps get to return once the run is cancelled; then they are
#: abandoned as interrupted (a cancel closes their connections and cuts their waits, so they rarely need it)
CANCEL_GRACE = 5.0
#: how long the notifications still queued get when the run was cancelled (exit within seconds)
CANCELLED_FLUSH_SECONDS = 3.0


@dataclass
class Outcome:
    run_id: str
    status: RunStatus
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return RunStatus(self.status).exit_code


def _no_answer(request: GateRequest) -> bool | None:
    return None


def new_step_records(run_id: str, book: Runbook) -> list[StepRecord]:
    # the runbook's order (topological, file order among ready steps), as the dry run and live table number them
    return [StepRecord(run_id, s.id, s.uses, s.owner, phase=s.phase) for s in book.order()]


@dataclass(frozen=True)
class _HeldLock:
    """The site lock :meth:`Engine.create` took for a new run, or :meth:`Engine.hold` for a resumed one (and the
    dead holder it replaced, if any)."""

    run_id: str
    holder: Holder
    previous: LockInfo | None
    site: str


@dataclass
class _Loop:
    """Where the DAG loop stands: the steps running (context, deadline) and why it stops launching."""

    done: queue.Queue[StepResult]
    running: dict[str, tuple[StepContext, float]]
    failure: Step | None = None
    deferred: Step | None = None  # a failed background step (rto: false, on_failure: stop)
    paused: Exception | None = None
    #: the gate the run waits at for a decision (the loop keeps collecting results and launching the
    #: steps that do not depend on it meanwhile), and the other gates reached meanwhile, waiting their turn
    waiting: Waiting | None = None
    later_gates: list[str] = field(default_factory=list)


class Engine:
    """Runs one run (new or resumed) to an end state. Public: ``create``, ``run``, ``cancel``, ``close``."""

    def __init__(
        self,
        *,
        journal: Journal,
        services: Services,
        site: Site,
        clock: Clock,
        log: Log,
        approver: Approver | None = None,
        observer: Observer | None = None,
        notifier: Notifier | None = None,
        max_parallel: int = 16,
        heartbeat_seconds: float = 10.0,
        cancel: Cancellation | None = None,
    ) -> None:
        self.journal = journal
        self.services = services
        self.site = site
        self.clock = clock
        self.base_log = log
        self.approver: Approver = approver or _no_answer
        self.observer = observer
        self.notifier = notifier
        self.max_parallel = max_parallel
        self.heartbeat_seconds = heartbeat_seconds
        #: the run's one cancellation path (signals, a lost lock): see orchestrator/cancel.py
        self.cancel = cancel or Cancellation()
        self._kinds = registry()
        self._created: _HeldLock | None = None

    # ------------------------------------------------------------------ public
    def create(self, run: RunRecord, book: Runbook) -> None:
        """Take the site's lock for the new run, then record the run and its pending steps (nothing is
        executed). The lock comes first so that a command refused by it (``LockHeld``: another run is live)
        writes nothing: no run that ``status`` would show as the latest, none whose approvals a later
        ``resume`` would honour. The lock stays held for :meth:`run` of this run, which releases it."""
        holder = Holder.me(run.run_id)
        previous = self.journal.acquire_lock(run.site, holder, self.clock.now(), resources=self._resources())
        try:
            run.runbook = book.to_dict()
            run.started_at = run.started_at or iso(self.clock.now())
            self.journal.create_run(run, new_step_records(run.run_id, book))
        except BaseException:
            self.journal.release_lock(run.site, holder)
            raise
        self._created = _HeldLock(run.run_id, holder, previous, run.site)

    def hold(self, record: RunRecord) -> None:
        """Take the lock for an existing run now (a resume), before anything about it is written: a command
        refused by it (``LockHeld``) changes nothing. :meth:`run` of this run uses it and releases it;
        :meth:`release_held` releases it when the run is not run after all."""
        holder = Holder.me(record.run_id)
        previous = self.journal.acquire_lock(record.site, holder, self.clock.now(), resources=self._resources())
        self._created = _HeldLock(record.run_id, holder, previous, record.site)

    def release_held(self) -> None:
        """Release the lock :meth:`create` or :meth:`hold` took, when :meth:`run` will not run."""
        held, self._created = self._created, None
        if held is not None:
            self.journal.release_lock(held.site, held.holder)

    def _resources(self) -> tuple[str, ...]:
        """What a run of this engine's site may change: locked with the site (orchestrator.site_resources)."""
        return () if self.site is None else lock_resources(self.site)

    def run(
        self, run_id: str, approvals: set[str] | None = None, approve_all: bool = False, when: str = "resume"
    ) -> Outcome:
        """Execute or resume ``run_id`` until it succeeds, fails, is rolled back or is interrupted.

        ``approvals`` / ``approve_all`` (``--approve`` / ``--yes`` given ``when``) are added to the
        approvals already recorded with the run, and journaled before anything runs."""
        record = self.journal.get_run(run_id)
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            holder, previous = self._lock_for(record)
            try:
                return self._execute_locked(record, holder, previous, approvals or set(), approve_all, when)
            finally:
                self.journal.release_lock(record.site, holder)

    def stand_down(self, run_id: str) -> Outcome:
        """Undo ``run_id`` (a failover stopped before its gate) by each step's compensation, its site lock
        held: ``stood_down`` when every compensation succeeded, else ``failed`` (resumable by another
        ``stand-down``)."""
        record = self.journal.get_run(run_id)
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            holder, _ = self._lock_for(record)
            try:
                return _Execution(self, record).stand_down(record)
            finally:
                self.journal.release_lock(record.site, holder)

    def _execute_locked(
        self,
        record: RunRecord,
        holder: Holder,
        previous: LockInfo | None,
        approvals: set[str],
        approve_all: bool,
        when: str,
    ) -> Outcome:
        """The run, its site lock held (and heartbeaten meanwhile)."""
        execution = _Execution(self, record)
        if previous is not None:
            execution.events.emit(
                EventName.LOCK_TAKEN_OVER,
                None,
                previous_run=previous.holder.run_id,
                previous_pid=previous.holder.pid,
                previous_host=previous.holder.host,
                since=previous.acquired_at,
                level="warning",
            )
        beat_stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(record.site, holder, beat_stop, execution.run.log), daemon=True
        )
        beat.start()
        try:
            return execution.start(record, approvals, approve_all, when)
        finally:
            beat_stop.set()
            execution.runner.resources.close()  # the run's own resources (restore transfers) end with it

    def _lock_for(self, record: RunRecord) -> tuple[Holder, LockInfo | None]:
        """The site lock for ``record``: the one :meth:`create` took for it, else taken now (a resume);
        with the dead holder it replaced, if any."""
        created, self._created = self._created, None
        if created is not None and created.run_id == record.run_id:
            return created.holder, created.previous
        holder = Holder.me(record.run_id)
        return holder, self.journal.acquire_lock(record.site, holder, self.clock.now(), resources=self._resources())

    def close(self) -> None:
        """After ``run``: send the notifications still queued (briefly when the run was cancelled: exit within
        seconds, not after a 20 s flush) and close the adapters' connections."""
        if isinstance(self.notifier, BackgroundNotifier):
            self.notifier.close(interrupted=self.cancel.is_set, interrupted_bound=CANCELLED_FLUSH_SECONDS)
        if self.services is not None:
            self.services.close()

    def _heartbeat(self, site: str, holder: Holder, stop: threading.Event, log: Log) -> None:
        while not stop.wait(self.heartbeat_seconds):
            try:
                if not self.journal.heartbeat(site, holder, self.clock.now()):
                    log.error(EventName.LOCK_LOST.value, site=site)
                    self.cancel.cancel("the site lock was lost")
                    return
            except Exception as exc:
                log.warning("heartbeat_failed", error=str(exc))


class _Execution:
    """One execution of a run by an engine: its state, created whole here, and the parts that share it."""

    def __init__(self, engine: Engine, record: RunRecord) -> None:
        self.engine = engine
        self.journal = engine.journal
        self.clock = engine.clock
        self.cancel = engine.cancel
        options = RunOptions(
            kind=record.kind, dry_run=False, accept_rpo_breach=record.settings.accept_rpo_breach
        )
        self.run = RunState(
            run_id=record.run_id,
            book=runbook_from_dict(record.runbook),
            options=options,
            records={r.step_id: r for r in self.journal.get_steps(record.run_id)},
            approvals=list(record.settings.approvals),
            log=engine.base_log.bind(run_id=record.run_id),
            started_mono=self.clock.monotonic(),
            started_at=record.started_at,
        )
        self.events = Events(
            record.run_id,
            self.journal,
            self.clock,
            self.run.log,
            engine.observer,
            engine.notifier,
            self.run.started_mono,
        )
        self.runner = StepRunner(
            self.run, self.events, self.journal, engine._kinds, self.clock, self.cancel, engine.site, engine.services
        )
        self.gate: Gate = ApprovalGate(
            self.run, self.events, self.journal, self.clock, self.cancel, self.runner, engine.approver
        )
        self.compensation = Compensation(self.run, self.events, self.journal, self.runner)
        self.endings = StepEndings(self.run, self.events, self.journal, self.clock)

    def start(self, record: RunRecord, approvals: set[str], approve_all: bool, when: str) -> Outcome:
        resumed = record.status != RunStatus.PENDING and any(
            r.status != StepStatus.PENDING for r in self.run.records.values()
        )
        self.journal.mark_running(record.run_id, resumed=resumed)
        started = EventName.RUN_RESUMED if resumed else EventName.RUN_STARTED
        self.events.emit(started, None, kind=record.kind, site=record.site)
        given = approvals_mod.from_flags(tuple(approvals), approve_all, when, iso(self.clock.now()) or "")
        if given:
            self.gate.record(given)
        self.events.notify("resumed" if resumed else "started")
        return self._execute()

    def stand_down(self, record: RunRecord) -> Outcome:
        self.journal.mark_running(record.run_id)
        for rec in self.run.records.values():  # nobody waits at the gate any more
            if rec.status == StepStatus.AWAITING_APPROVAL:
                rec.status = StepStatus.PENDING
                self.journal.save_step(rec)
        ok = self.compensation.stand_down()
        if ok:
            return self._end(RunStatus.STOOD_DOWN, None)
        return self._end(
            RunStatus.FAILED,
            f"stand-down incomplete (see the failed compensations); run `orchestrator stand-down {record.run_id}` "
            "again",
        )

    # ------------------------------------------------------------------ the DAG loop
    def _execute(self) -> Outcome:
        self._reset_rerunnable()
        scheduler = Scheduler(self.run.book, self.run.records)
        for rec in self.run.records.values():  # a resume: show what is already done
            if rec.status != StepStatus.PENDING:
                self.events.show(EventName.STEP_KEPT, rec.step_id, {"status": rec.status, "attempts": rec.attempts})
        loop = _Loop(done=queue.Queue(), running={})
        while True:
            if self.cancel.is_set() and self.run.cancelled_at is None:
                self._note_cancel(loop.running)
            self._tend_gate(scheduler, loop)
            if not self.cancel.is_set() and loop.failure is None and loop.paused is None:
                loop.paused = self._launch_ready(scheduler, loop)
            if not loop.running:
                if loop.waiting is None:
                    break
                if loop.waiting.gave_up:  # nothing else can run and no answer will come here: hold
                    loop.paused = self.gate.give_up(loop.waiting)
                    loop.waiting = None
                    break
            try:
                result = loop.done.get(timeout=0.2)
            except queue.Empty:
                self._abandon_overdue(loop.running)
                self._abandon_on_cancel(loop.running)
                continue
            if result.step_id in loop.running:  # else an abandoned step finally returned: already recorded
                loop.running.pop(result.step_id)
                self._settle(result, scheduler, loop)
        return self._conclude(loop.failure or (None if loop.paused else loop.deferred), loop.paused)

    def _reset_rerunnable(self) -> None:
        for rec in self.run.records.values():
            if rec.status in RERUNNABLE and rec.status != StepStatus.PENDING:
                rec.status = StepStatus.PENDING
                rec.error = None
                self.journal.save_step(rec)

    def _settle(self, result: StepResult, scheduler: Scheduler, loop: _Loop) -> None:
        """Record a step's end and what it means for the rest of the run."""
        failed = self.endings.finish(result)
        if result.status == StepStatus.SUCCEEDED or (failed is not None and failed.on_failure == "continue"):
            scheduler.release(result.step_id)
        if failed is not None and failed.on_failure == "stop" and not failed.rto:
            loop.deferred = loop.deferred or failed  # background work never holds up the service steps
        elif failed is not None and failed.on_failure != "continue" and loop.failure is None:
            loop.failure = failed

    def _tend_gate(self, scheduler: Scheduler, loop: _Loop) -> None:
        """While a gate waits: a decision releases its step (and the gates that waited their turn) or holds
        the run; a Ctrl-C or a failure ends the wait."""
        waiting = loop.waiting
        if waiting is None:
            return
        if self.cancel.is_set() or loop.failure is not None:
            self.gate.abandon(waiting, "the run stopped: " + (self.cancel.reason or "a step failed"))
            loop.waiting = None
            return
        verdict = self.gate.poll(waiting)
        if verdict is None:
            return
        loop.waiting = None
        if isinstance(verdict, Exception):
            loop.paused = verdict
            return
        for step_id in (waiting.step.id, *loop.later_gates):
            scheduler.restore(step_id)
        loop.later_gates.clear()

    def _launch_ready(self, scheduler: Scheduler, loop: _Loop) -> Exception | None:
        """Launch ready steps up to the parallelism; the reason to stop when a gate does not open. A gate
        that waits for a decision is set aside: the steps that do not depend on it go on."""
        while len(loop.running) < self.engine.max_parallel:
            step = scheduler.peek()
            if step is None:
                return None
            if step.gate == "approval":
                if loop.waiting is not None:  # one decision at a time: this gate waits its turn
                    scheduler.defer()
                    loop.later_gates.append(step.id)
                    continue
                verdict = self.gate.admit(step)
                if isinstance(verdict, Waiting):
                    scheduler.defer()
                    loop.waiting = verdict
                    continue
                if verdict is not None:
                    return verdict
            scheduler.take()
            ctx = self.runner.context(step, self.run.records[step.id])
            loop.running[step.id] = (ctx, ctx.deadline or 0.0)
            self.runner.launch(step, ctx, loop.done)
        return None

    def _note_cancel(self, running: dict[str, tuple[StepContext, float]]) -> None:
        """Say at once that the run is stopping (the operator pressed Ctrl-C: show it was heard)."""
        self.run.cancelled_at = time.monotonic()
        self.events.emit(
            EventName.RUN_STOPPING, None, level="warning", reason=self.cancel.reason, waiting_for=sorted(running)
        )

    def _abandon_on_cancel(self, running: dict[str, tuple[StepContext, float]]) -> None:
        """Once cancelled, running steps get CANCEL_GRACE real seconds to return, then are abandoned as
        interrupted (real time: this bounds threads stuck in real I/O, which no fake clock drives)."""
        if not self.cancel.is_set() or not running:
            return
        if self.run.cancelled_at is None or time.monotonic() - self.run.cancelled_at < CANCEL_GRACE:
            return
        for step_id in list(running):
            running.pop(step_id)
            self.endings.finish(
                StepResult(step_id, StepStatus.INTERRUPTED, "abandoned after the run was cancelled", Interrupted(""))
            )

    def _abandon_overdue(self, running: dict[str, tuple[StepContext, float]]) -> None:
        now = self.clock.monotonic()
        for step_id, (ctx, deadline) in list(running.items()):
            if deadline and now > deadline + HARD_TIMEOUT_GRACE:
                ctx.cancel.set()
                running.pop(step_id)
                error = f"step {step_id} did not return within its timeout"
                self.endings.finish(StepResult(step_id, StepStatus.FAILED, error, StepTimeout("abandoned")))

    # ------------------------------------------------------------------ the end
    def _conclude(self, failure: Step | None, paused: Exception | None) -> Outcome:
        run_id = self.run.run_id
        if self.cancel.is_set():
            for rec in self.run.records.values():
                if rec.status == StepStatus.RUNNING:
                    rec.status = StepStatus.INTERRUPTED
                    self.journal.save_step(rec)
            reason = self.cancel.reason or "cancelled"
            return self._end(
                RunStatus.INTERRUPTED, f"interrupted ({reason}); resume with `orchestrator resume {run_id}`"
            )
        if failure is not None:
            error = f"step {failure.id} failed: {self.run.records[failure.id].error}"
            if failure.on_failure == "rollback":
                ok = self.compensation.compensate(failure)
                return self._end(RunStatus.ROLLED_BACK if ok else RunStatus.FAILED, error)
            return self._end(RunStatus.FAILED, error)
        if paused is not None:  # stopped before a gate without a decision, or refused: held (resumable)
            self._end(RunStatus.HELD, str(paused))
            raise paused
        ended = (StepStatus.SUCCEEDED, StepStatus.FAILED)
        unfinished = [r.step_id for r in self.run.records.values() if r.status not in ended]
        if unfinished:
            return self._end(RunStatus.FAILED, f"steps not run: {', '.join(unfinished)}")
        return self._end(RunStatus.SUCCEEDED, None)

    def _end(self, status: RunStatus, error: str | None) -> Outcome:
        run_id = self.run.run_id
        self.journal.finish(run_id, status, iso(self.clock.now()) or "", error)
        level = "info" if status == RunStatus.SUCCEEDED else "warning"
        self.events.emit(EventName.run_ended(status), None, level=level, error=error)
        milestone = "finished" if status == RunStatus.SUCCEEDED else status.value
        self.events.notify(milestone, status=status.value, error=error)
        return Outcome(run_id, status, error)
