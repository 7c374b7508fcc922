"""Run a runbook's DAG: parallel ready steps, retries, timeouts, approvals, journal, resume, rollback.

The engine knows nothing about AWS: steps reach the world through ``services``, time through the
injected ``clock``, the journal through the ``Journal`` interface. Every state change is written to
the journal before the engine moves on, so ``resume`` continues after a crash: completed steps are
kept, anything else is verified first and applied again only if needed.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator import approvals as approvals_mod
from orchestrator import retry as retry_mod
from orchestrator.approvals import Approval
from orchestrator.cancel import Cancellation
from orchestrator.clock import Clock, iso
from orchestrator.errors import (
    ApprovalRefused,
    ApprovalRequired,
    FatalError,
    Interrupted,
    OrchestratorError,
    RetryableError,
    StepTimeout,
    VerificationFailed,
)
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import Holder, RunRecord, StepRecord
from orchestrator.redact import redact_text as scrub
from orchestrator.runbook import Runbook, Step, runbook_from_dict
from orchestrator.steps import registry
from orchestrator.steps.base import RunOptions, StepContext

#: step statuses that a resume runs again (verify first)
RERUNNABLE = {
    "pending",
    "running",
    "failed",
    "interrupted",
    "awaiting_approval",
    "rolled_back",
    "rollback_failed",
    "rolling_back",
    "timed_out",
}
#: how long past its deadline a step that does not return is abandoned
HARD_TIMEOUT_GRACE = 30.0
#: how long (real seconds) running steps get to return once the run is cancelled; then they are
#: abandoned as interrupted (a cancel closes their connections and cuts their waits, so they rarely need it)
CANCEL_GRACE = 5.0

Observer = Callable[[str, "str | None", dict], None]


@dataclass
class GateRequest:
    """What an approver is shown before a gated step runs: the step, exactly what it will change
    (its ``plan``) and where the steps it depends on stand."""

    run_id: str
    step: Step
    changes: list[str]
    needs: list[tuple[str, str]]

    # approvers written for a bare Step keep working
    @property
    def id(self) -> str:
        return self.step.id

    @property
    def uses(self) -> str:
        return self.step.uses

    @property
    def owner(self) -> str:
        return self.step.owner


Approver = Callable[[GateRequest], "bool | None"]


@dataclass
class Outcome:
    run_id: str
    status: str
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return {"succeeded": 0, "interrupted": 130}.get(self.status, 1)


@dataclass
class _Result:
    step_id: str
    status: str
    error: str | None
    exc: BaseException | None = None


def new_step_records(run_id: str, book: Runbook) -> list[StepRecord]:
    return [StepRecord(run_id, s.id, s.uses, s.owner, phase=s.phase) for s in book.steps]


class Engine:
    """Runs one run (new or resumed) to an end state."""

    def __init__(
        self,
        *,
        journal: Journal,
        services: Any,
        site: Any,
        clock: Clock,
        log: Any,
        approver: Approver | None = None,
        observer: Observer | None = None,
        notifier: Callable[..., None] | None = None,
        max_parallel: int = 16,
        heartbeat_seconds: float = 10.0,
        cancel: Cancellation | None = None,
    ):
        self.journal = journal
        self.services = services
        self.site = site
        self.clock = clock
        self.base_log = log
        self.approver = approver or (lambda step: None)
        self.observer = observer
        self.notifier = notifier
        self.max_parallel = max_parallel
        self.heartbeat_seconds = heartbeat_seconds
        #: the run's one cancellation path (signals, a lost lock): see orchestrator/cancel.py
        self.cancel = cancel or Cancellation()
        self._kinds = registry()
        self._seq = itertools.count(1)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ public
    def create(self, run: RunRecord, book: Runbook) -> None:
        """Record a new run and its pending steps (nothing is executed)."""
        run.runbook = book.to_dict()
        run.started_at = run.started_at or iso(self.clock.now())
        self.journal.create_run(run, new_step_records(run.run_id, book))

    def run(
        self, run_id: str, approvals: set[str] | None = None, approve_all: bool = False, when: str = "resume"
    ) -> Outcome:
        """Execute or resume ``run_id`` until it succeeds, fails, is rolled back or is interrupted.

        ``approvals`` / ``approve_all`` (``--approve`` / ``--yes`` given ``when``) are added to the
        approvals already recorded with the run, and journaled before anything runs."""
        run = self.journal.get_run(run_id)
        self.run_id = run_id
        self.book = runbook_from_dict(run.runbook)
        self.options = RunOptions(
            kind=run.kind, dry_run=False, accept_rpo_breach=bool(run.options.get("accept_rpo_breach"))
        )
        self.records = {r.step_id: r for r in self.journal.get_steps(run_id)}
        self._contexts: dict[str, StepContext] = {}
        self.approvals: list[Approval] = approvals_mod.load(run.options)
        self._cancelled_at: float | None = None
        self.log = self.base_log.bind(run_id=run_id)
        self._started_mono = self.clock.monotonic()
        self.run_started_at = run.started_at
        holder = Holder.me(run_id)
        previous = self.journal.acquire_lock(run.site, holder, self.clock.now())
        resumed = run.status != "pending" and any(r.status != "pending" for r in self.records.values())
        if previous is not None:
            self.emit(
                "lock_taken_over",
                None,
                previous_run=previous.holder.run_id,
                previous_pid=previous.holder.pid,
                previous_host=previous.holder.host,
                since=previous.acquired_at,
                level="warning",
            )
        beat_stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(run.site, holder, beat_stop), daemon=True)
        beat.start()
        try:
            self.journal.update_run(
                run_id,
                status="running",
                finished_at=None,
                error=None,
                resumes=run.resumes + (1 if resumed else 0),
            )
            self.emit("run_resumed" if resumed else "run_started", None, kind=run.kind, site=run.site)
            given = approvals_mod.from_flags(tuple(approvals or ()), approve_all, when, iso(self.clock.now()))
            if given:
                self._record_approvals(given)
            self._notify("resumed" if resumed else "started")
            outcome = self._execute()
        finally:
            beat_stop.set()
            self.journal.release_lock(run.site, holder)
        return outcome

    # ------------------------------------------------------------------ events
    def emit(self, event: str, step_id: str | None, level: str = "info", **fields: Any) -> None:
        fields = {k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        self.journal.add_event(self.run_id, iso(self.clock.now()), event, step_id, fields)
        getattr(self.log, level)(event, step=step_id, **fields)
        if self.observer is not None:
            self.observer(event, step_id, fields)

    def _notify(self, milestone: str, **fields: Any) -> None:
        if self.notifier is None:
            return
        try:
            self.notifier(milestone, run_id=self.run_id, elapsed_seconds=self._elapsed(), **fields)
        except Exception as exc:  # a notification never fails the failover
            self.log.warning("notify_failed", milestone=milestone, error=scrub(str(exc)))

    def _elapsed(self) -> float:
        return round(self.clock.monotonic() - self._started_mono, 3)

    def _heartbeat(self, site: str, holder: Holder, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_seconds):
            try:
                if not self.journal.heartbeat(site, holder, self.clock.now()):
                    self.log.error("lock_lost", site=site)
                    self.cancel.cancel("the site lock was lost")
                    return
            except Exception as exc:
                self.log.warning("heartbeat_failed", error=str(exc))

    # ------------------------------------------------------------------ the DAG loop
    def _execute(self) -> Outcome:
        for rec in self.records.values():
            if rec.status in RERUNNABLE and rec.status != "pending":
                rec.status = "pending"
                rec.error = None
                self.journal.save_step(rec)
        self._init_ready()
        if self.observer is not None:  # a resume: show what is already done
            for rec in self.records.values():
                if rec.status != "pending":
                    self.observer("step_kept", rec.step_id, {"status": rec.status, "attempts": rec.attempts})
        done: queue.Queue[_Result] = queue.Queue()
        running: dict[str, tuple[StepContext, float]] = {}
        failure: Step | None = None
        deferred: Step | None = None  # a failed background step (rto: false, on_failure: stop)
        paused: Exception | None = None
        while True:
            if self.cancel.is_set() and self._cancelled_at is None:
                self._note_cancel(running)
            if not self.cancel.is_set() and failure is None and paused is None:
                paused = self._launch_ready(running, done)
            if not running:
                break
            try:
                result = done.get(timeout=0.2)
            except queue.Empty:
                self._abandon_overdue(running, done)
                self._abandon_on_cancel(running)
                continue
            if result.step_id not in running:
                continue  # an abandoned step finally returned: its result was already recorded
            running.pop(result.step_id)
            failed = self._finish(result)
            if result.status == "succeeded" or (failed is not None and failed.on_failure == "continue"):
                self._release(result.step_id)
            if failed is not None and failed.on_failure == "stop" and not failed.rto:
                deferred = deferred or failed  # background work never holds up the service steps
            elif failed is not None and failed.on_failure != "continue" and failure is None:
                failure = failed
        return self._conclude(failure or (None if paused else deferred), paused)

    def _launch_ready(self, running: dict, done: queue.Queue) -> Exception | None:
        while self._ready and len(running) < self.max_parallel:
            position = self._ready[0]
            step = self._order[position]
            rec = self.records[step.id]
            if rec.status != "pending" or step.id in running:
                heapq.heappop(self._ready)
                continue
            if step.gate == "approval":
                stop = self._pass_gate(step)
                if stop is not None:
                    return stop
            heapq.heappop(self._ready)
            ctx = self._context(step, rec)
            running[step.id] = (ctx, ctx.deadline or 0.0)
            rec.status = "running"
            rec.started_at = iso(self.clock.now())
            rec.error = None
            self.journal.save_step(rec)
            self.emit("step_started", step.id, uses=step.uses, owner=step.owner)
            threading.Thread(
                target=self._worker, args=(step, ctx, done), daemon=True, name=f"step:{step.id}"
            ).start()
        return None

    def _init_ready(self) -> None:
        """The ready queue (positions in topological order) and the dependents map; a step joins the
        queue when its last dependency is satisfied (see _release)."""
        self._order = self.book.order()
        self._position = {s.id: i for i, s in enumerate(self._order)}
        self._dependents = self.book.dependents()
        self._ready = [
            self._position[s.id]
            for s in self._order
            if self.records[s.id].status == "pending" and self._deps_met(s)
        ]
        heapq.heapify(self._ready)

    def _release(self, step_id: str) -> None:
        for child in self._dependents[step_id]:
            step = self.book.by_id[child]
            if self.records[child].status == "pending" and self._deps_met(step):
                heapq.heappush(self._ready, self._position[child])

    def _deps_met(self, step: Step) -> bool:
        for need in step.needs:
            dep = self.records[need]
            tolerated = dep.status == "failed" and self.book.by_id[need].on_failure == "continue"
            if dep.status != "succeeded" and not tolerated:
                return False
        return True

    # ------------------------------------------------------------------ approval gates
    def _pass_gate(self, step: Step) -> Exception | None:
        """None when ``step`` may run (approved now or earlier); else why the run stops before it."""
        request = self._gate_request(step)
        approval = approvals_mod.find(self.approvals, step.id)
        if approval is None and self.options.kind == "drill":
            approval = self._grant(step, "drill")
        if approval is None:
            answer = self._ask(step, request)
            if isinstance(answer, Exception):
                return answer
            approval = answer
        self.emit(
            "approval_granted",
            step.id,
            by=approval.by,
            source=approval.source,
            given_at=approval.at,
            changes=request.changes,
        )
        return None

    def _gate_request(self, step: Step) -> GateRequest:
        needs = [(need, self.records[need].status) for need in step.needs]
        ctx = self._context(step, self.records[step.id], register=False)
        try:
            changes = list(self._kinds[step.uses]().plan(ctx))
        except Exception as exc:  # the plan informs the approver; not knowing it is no reason to stop
            error = scrub(f"{type(exc).__name__}: {exc}")
            self.emit("approval_plan_failed", step.id, level="warning", error=error)
            changes = [f"cannot tell what it will change: {error}"]
        return GateRequest(self.run_id, step, changes, needs)

    def _ask(self, step: Step, request: GateRequest) -> Approval | Exception:
        """Ask the approver (the prompt): an approval, or the reason the run stops before the gate."""
        rec = self.records[step.id]
        self.emit("approval_requested", step.id, owner=step.owner, changes=request.changes)
        try:
            with self.cancel.interruptible():
                decision = self.approver(request)
        except (Interrupted, KeyboardInterrupt) as exc:
            self.cancel.cancel("no answer at the approval prompt")
            decision, stop = None, Interrupted(f"interrupted at the approval prompt of step {step.id!r}: {exc}")
        else:
            stop = None
        if decision:
            return self._grant(step, "prompt")
        rec.status = "awaiting_approval"
        self.journal.save_step(rec)
        if stop is not None:
            self.emit("approval_interrupted", step.id, level="warning")
            return stop
        if decision is False:
            self.emit("approval_refused", step.id, level="warning", by=approvals_mod.operator())
            return ApprovalRefused(
                f"approval for step {step.id!r} was refused; `orchestrator resume {self.run_id}` asks again"
            )
        self.emit("approval_missing", step.id, level="warning")
        return ApprovalRequired(
            f"step {step.id!r} needs approval: resume with `orchestrator resume {self.run_id} --approve {step.id}`"
        )

    def _grant(self, step: Step, source: str) -> Approval:
        approval = Approval(step.id, approvals_mod.operator(), source, iso(self.clock.now()) or "")
        self._record_approvals([approval])
        return approval

    def _record_approvals(self, given: list[Approval]) -> None:
        """Journal the run's approvals before the engine moves on (a resume honours them)."""
        self.approvals = [*self.approvals, *given]
        options = self.journal.get_run(self.run_id).options
        self.journal.update_run(self.run_id, options={**options, "approvals": approvals_mod.dump(self.approvals)})
        for approval in given:
            step_id = None if approval.step == approvals_mod.EVERY_STEP else approval.step
            self.emit("approval_recorded", step_id, by=approval.by, source=approval.source, given_at=approval.at)

    def _note_cancel(self, running: dict) -> None:
        """Say at once that the run is stopping (the operator pressed Ctrl-C: show it was heard)."""
        self._cancelled_at = time.monotonic()
        self.emit("run_stopping", None, level="warning", reason=self.cancel.reason, waiting_for=sorted(running))

    def _abandon_on_cancel(self, running: dict) -> None:
        """Once cancelled, running steps get CANCEL_GRACE real seconds to return, then are abandoned as
        interrupted (real time: this bounds threads stuck in real I/O, which no fake clock drives)."""
        if not self.cancel.is_set() or not running:
            return
        if self._cancelled_at is None or time.monotonic() - self._cancelled_at < CANCEL_GRACE:
            return
        for step_id in list(running):
            running.pop(step_id)
            self._finish(_Result(step_id, "interrupted", "abandoned after the run was cancelled", Interrupted("")))

    def _abandon_overdue(self, running: dict, done: queue.Queue) -> None:
        now = self.clock.monotonic()
        for step_id, (ctx, deadline) in list(running.items()):
            if deadline and now > deadline + HARD_TIMEOUT_GRACE:
                ctx.cancel.set()
                running.pop(step_id)
                self._finish(
                    _Result(
                        step_id,
                        "failed",
                        f"step {step_id} did not return within its timeout",
                        StepTimeout("abandoned"),
                    )
                )

    # ------------------------------------------------------------------ one step
    def _context(self, step: Step, rec: StepRecord, register: bool = True) -> StepContext:
        def persist(state: dict) -> None:
            with self._lock:
                rec.state = state
                self.journal.save_step(rec)

        ctx = StepContext(
            run_id=self.run_id,
            step_id=step.id,
            params=step.params,
            site=self.site,
            services=self.services,
            clock=self.clock,
            log=self.log.bind(step=step.id),
            options=self.options,
            state=dict(rec.state),
            deadline=self.clock.monotonic() + step.timeout,
            _persist=persist,
            _outputs_of=lambda other: self._outputs_of(step, other),
            _progress=lambda fields: self._progress(step.id, fields),
            run_started_at=self.run_started_at,
            cancel=self.cancel.child() if register else self.cancel,
        )
        if register:
            self._contexts[step.id] = ctx
        return ctx

    def _progress(self, step_id: str, fields: dict) -> None:
        if self.observer is not None:
            self.observer("step_progress", step_id, fields)

    def _outputs_of(self, step: Step, other: str) -> dict:
        """Another step's recorded data; ids resolve within the step's own phase first (so a runbook
        included as a drill phase keeps working unchanged)."""
        for candidate in (f"{step.phase}/{other}" if step.phase else None, other):
            if candidate and candidate in self.records:
                return dict(self.records[candidate].state)
        return {}

    def _worker(self, step: Step, ctx: StepContext, done: queue.Queue) -> None:
        try:
            self._attempts(step, ctx)
            done.put(_Result(step.id, "succeeded", None))
        except Exception as exc:
            done.put(self._result_of(step, ctx, exc))

    @staticmethod
    def _result_of(step: Step, ctx: StepContext, exc: Exception) -> _Result:
        if isinstance(exc, Interrupted) or ctx.cancel.is_set():  # whatever a cancel broke: interrupted
            return _Result(step.id, "interrupted", scrub(str(exc)) or "interrupted", exc)
        if isinstance(exc, OrchestratorError):
            return _Result(step.id, "failed", scrub(str(exc)), exc)
        # a bug in a step: fatal, never retried, reported with its type
        return _Result(step.id, "failed", scrub(f"{exc.__class__.__name__}: {exc}"), exc)

    def _attempts(self, step: Step, ctx: StepContext) -> None:
        kind = self._kinds[step.uses]()
        rec = self.records[step.id]

        def on_retry(attempt: int, error: BaseException, delay: float) -> None:
            self.emit(
                "attempt_failed",
                step.id,
                level="warning",
                attempt=attempt,
                error=scrub(str(error)),
                retry_in_seconds=round(delay, 3),
            )

        controller = retry_mod.retrying(step.retry, _DeadlineClock(ctx), on_retry)
        for attempt in controller:
            with attempt:
                ctx.check()
                with self._lock:
                    rec.attempts += 1
                    self.journal.save_step(rec)
                if kind.verify(ctx):
                    self.emit(
                        "step_verified",
                        step.id,
                        applied=False,
                        attempt=rec.attempts,
                        note="already in the desired state",
                    )
                    return
                self.emit("step_applying", step.id, attempt=rec.attempts)
                kind.apply(ctx)
                with self._lock:
                    rec.applied = True
                    self.journal.save_step(rec)
                if not kind.verify(ctx):
                    raise VerificationFailed(
                        f"step {step.id}: applied, but verification does not see the result"
                    )
                self.emit("step_verified", step.id, applied=True, attempt=rec.attempts)

    def _finish(self, result: _Result) -> Step | None:
        step = self.book.by_id[result.step_id]
        rec = self.records[result.step_id]
        with self._lock:
            rec.status = result.status
            rec.error = result.error
            rec.finished_at = iso(self.clock.now())
            ctx = self._contexts.get(step.id)
            rec.duration_seconds = _duration(rec.started_at, rec.finished_at)
            if ctx is not None:
                rec.state = dict(ctx.state)
            rec.seq = next(self._seq) if result.status == "succeeded" else rec.seq
            self.journal.save_step(rec)
        if result.status == "succeeded":
            self.emit("step_succeeded", step.id, attempts=rec.attempts, duration_seconds=rec.duration_seconds)
            if step.milestone:
                self._notify(step.milestone, step=step.id, status="succeeded", rto_so_far=self._elapsed())
            return None
        if result.status == "interrupted":
            self.emit("step_interrupted", step.id, level="warning", error=result.error)
            return None
        kind = "fatal" if not isinstance(result.exc, RetryableError) else "retries exhausted"
        self.emit(
            "step_" + result.status,
            step.id,
            level="error",
            error=result.error,
            classification=kind,
            on_failure=step.on_failure,
        )
        self._notify("step_failed", step=step.id, error=result.error)
        return step

    # ------------------------------------------------------------------ the end
    def _conclude(self, failure: Step | None, paused: Exception | None) -> Outcome:
        if self.cancel.is_set():
            for rec in self.records.values():
                if rec.status == "running":
                    rec.status = "interrupted"
                    self.journal.save_step(rec)
            return self._end(
                "interrupted",
                f"interrupted ({self.cancel.reason or 'cancelled'}); resume with `orchestrator resume {self.run_id}`",
            )
        if failure is not None:
            error = self.records[failure.id].error
            if failure.on_failure == "rollback":
                ok = self._compensate(failure)
                return self._end("rolled_back" if ok else "failed", f"step {failure.id} failed: {error}")
            return self._end("failed", f"step {failure.id} failed: {error}")
        if paused is not None:
            self._end("interrupted", str(paused))
            raise paused
        unfinished = [r.step_id for r in self.records.values() if r.status not in ("succeeded", "failed")]
        if unfinished:
            return self._end("failed", f"steps not run: {', '.join(unfinished)}")
        return self._end("succeeded", None)

    def _compensate(self, failure: Step) -> bool:
        """Undo in reverse order of completion: the failed step first (it may have half-applied),
        then every completed step whose kind can compensate and whose runbook entry allows it."""
        done = sorted((r for r in self.records.values() if r.status == "succeeded"), key=lambda r: -r.seq)
        targets = [self.records[failure.id], *done]
        self.emit(
            "rollback_started",
            failure.id,
            level="warning",
            steps=[r.step_id for r in targets if self._compensable(r)],
        )
        self._notify("rollback_started", step=failure.id)
        ok = True
        for rec in targets:
            if not self._compensable(rec):
                continue
            ok = self._compensate_one(rec) and ok
        return ok

    def _compensable(self, rec: StepRecord) -> bool:
        step = self.book.by_id[rec.step_id]
        return step.compensate and self._kinds[step.uses].compensable and (rec.applied or rec.state != {})

    def _compensate_one(self, rec: StepRecord) -> bool:
        step = self.book.by_id[rec.step_id]
        kind = self._kinds[step.uses]()
        ctx = self._context(step, rec)
        previous_status = rec.status
        rec.status = "rolling_back"
        self.journal.save_step(rec)
        self.emit("compensation_started", step.id)
        try:
            retry_mod.retrying(step.retry, _DeadlineClock(ctx))(kind.rollback, ctx)
        except Exception as exc:
            rec.status = "rollback_failed"
            rec.error = scrub(f"{rec.error + '; ' if rec.error else ''}rollback failed: {exc}")
            self.journal.save_step(rec)
            self.emit("compensation_failed", step.id, level="error", error=scrub(str(exc)))
            return False
        rec.status = "rolled_back" if previous_status == "succeeded" else "failed"
        rec.state = dict(ctx.state)
        self.journal.save_step(rec)
        self.emit("compensation_succeeded", step.id)
        return True

    def _end(self, status: str, error: str | None) -> Outcome:
        self.journal.update_run(self.run_id, status=status, finished_at=iso(self.clock.now()), error=error)
        self.emit("run_" + status, None, level="info" if status == "succeeded" else "warning", error=error)
        self._notify("finished" if status == "succeeded" else status, status=status, error=error)
        return Outcome(self.run_id, status, error)


class _DeadlineClock:
    """The clock tenacity sleeps on between attempts: through the step context, so a retry backoff
    never runs past the step's deadline and is cut short by a cancel."""

    def __init__(self, ctx: StepContext):
        self.ctx = ctx

    def sleep(self, seconds: float) -> None:
        self.ctx.sleep(seconds)

    def monotonic(self) -> float:
        return self.ctx.clock.monotonic()

    def now(self):
        return self.ctx.clock.now()


def _duration(start: str | None, end: str | None) -> float | None:
    from orchestrator.clock import parse_iso

    a, b = parse_iso(start), parse_iso(end)
    return None if a is None or b is None else round((b - a).total_seconds(), 3)


__all__ = ["Engine", "FatalError", "Outcome", "new_step_records"]
