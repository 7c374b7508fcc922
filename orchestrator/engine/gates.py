"""Approval gates: before a gated step runs, an approval recorded with the run, a drill's own, or the
approver's answer (the prompt); otherwise the reason the run stops before the gate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from orchestrator import approvals as approvals_mod
from orchestrator import decisions
from orchestrator.approvals import Approval
from orchestrator.cancel import Cancellation
from orchestrator.clock import Clock, iso
from orchestrator.engine.events import Events
from orchestrator.engine.runner import StepRunner
from orchestrator.engine.state import RunState
from orchestrator.errors import ApprovalRefused, ApprovalRequired, Interrupted
from orchestrator.journal.protocols import Journal
from orchestrator.model import EventName, StepStatus
from orchestrator.redact import redact_text as scrub
from orchestrator.runbook import Step


@dataclass
class GateRequest:
    """What an approver is shown before a gated step runs: the step, exactly what it will change
    (its ``plan``) and where the steps it depends on stand."""

    run_id: str
    step: Step
    changes: list[str]
    needs: list[tuple[str, str]]
    #: what then runs without another question once this step is approved (the ungated steps after it,
    #: e.g. a Connect site's traffic shift after the DNS cutover): (step id, kind, its plan)
    then: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def recorded_changes(self) -> list[str]:
        """The changes as the audit log and the report's approvals keep them: the step's own, then each
        released step's, prefixed ``then STEP:``."""
        return [*self.changes, *(f"then {step_id}: {line}" for step_id, _, lines in self.then for line in lines)]

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


class Answer(StrEnum):
    """What a decision session says when polled."""

    YES = "yes"
    NO = "no"
    #: no answer will come from here (no terminal, ``--stage``, ``--wait`` ran out): the run holds at the
    #: gate once nothing else can run, unless ``approve``/``deny`` arrives first
    NONE = "none"
    WAIT = "wait"


class DecisionSession(Protocol):
    """A place a decision may come from while the run waits at a gate (the prompt at a terminal, a
    ``--wait`` deadline). Polled by the engine's loop, which keeps collecting results meanwhile."""

    def poll(self) -> Answer:
        """The answer so far; raises ``Interrupted`` on EOF/Ctrl-C at the prompt."""
        ...

    def close(self, outcome: str) -> None:
        """The wait ended (``outcome`` says how: who decided, from where); restore the terminal."""
        ...


class DeadlineSession:
    """``--wait``: no terminal; the decision comes with ``approve``/``deny`` (read by the gate) until the
    deadline, on the run's clock; ``say`` tells how the wait ended (the CLI hands its stderr writer)."""

    def __init__(self, clock: Clock, seconds: float, say: Callable[[str], object]) -> None:
        self.clock = clock
        self.deadline = clock.monotonic() + seconds
        self.say = say

    def poll(self) -> Answer:
        return Answer.NONE if self.clock.monotonic() >= self.deadline else Answer.WAIT

    def close(self, outcome: str) -> None:
        self.say(outcome)


#: the approver: True (approved), False (refused) or None (no answer) at once, or a ``DecisionSession``
#: polled while the run keeps working
Approver = Callable[[GateRequest], "bool | DecisionSession | None"]


@dataclass
class Waiting:
    """A gate the run waits at: its step, what the approver was shown, the session asked, since when."""

    step: Step
    request: GateRequest
    session: DecisionSession | None
    started_mono: float
    gave_up: bool = False
    polled: float = field(default=0.0)
    #: when (run clock) the page was last republished for this wait
    published: float = field(default=0.0)


class Gate(Protocol):
    """What the engine asks before launching a gated step, and where it records approvals given with a
    command (``--yes``, ``--approve``) before anything runs."""

    def admit(self, step: Step) -> Exception | Waiting | None:
        """None when ``step`` may run; a ``Waiting`` when a decision is awaited; else why the run stops."""
        ...

    def poll(self, waiting: Waiting) -> Exception | bool | None:
        """True once approved, an exception once refused, None while still waiting."""
        ...

    def give_up(self, waiting: Waiting) -> Exception:
        """Nothing else can run and no decision came: why the run holds."""
        ...

    def abandon(self, waiting: Waiting, why: str) -> None:
        """The run stops for another reason (Ctrl-C, a failure) while waiting."""
        ...

    def record(self, given: list[Approval]) -> None: ...


#: how often (real seconds) a waiting gate reads the journal for ``approve``/``deny`` given elsewhere
DECISION_POLL_SECONDS = 0.5
#: how often (run clock) the status page is republished while a gate waits (managers see it is still waiting)
PAGE_REFRESH_SECONDS = 60.0


class ApprovalGate:
    """The approvals of one run: recorded ones first, then the drill's own, then decisions given with
    ``approve``/``deny``, then the approver (the prompt), polled while the run goes on."""

    def __init__(
        self,
        run: RunState,
        events: Events,
        journal: Journal,
        clock: Clock,
        cancel: Cancellation,
        runner: StepRunner,
        approver: Approver,
    ) -> None:
        self.run = run
        self.events = events
        self.journal = journal
        self.clock = clock
        self.cancel = cancel
        self.runner = runner
        self.approver = approver
        self._consumed: dict[str, list[str]] = {}

    def admit(self, step: Step) -> Exception | Waiting | None:
        request = self._request(step)
        approval = approvals_mod.find(self.run.approvals, step.id)
        if approval is None and self.run.options.kind == "drill":
            approval = self._grant(step, "drill")
        if approval is None:
            given = decisions.pending(self.journal.get_events(self.run.run_id), step.id)
            if given:  # decided while no process waited here: the latest word stands
                verdict = self._decided(step, given[-1], given, 0.0)
                if isinstance(verdict, Exception):
                    return verdict
                approval = verdict
        if approval is None:
            return self._wait(step, request)
        self._granted(step, request, approval)
        return None

    def _granted(self, step: Step, request: GateRequest, approval: Approval) -> None:
        self.events.emit(
            EventName.APPROVAL_GRANTED,
            step.id,
            by=approval.by,
            source=approval.source,
            host=approval.host,
            given_at=approval.at,
            waited_seconds=approval.waited_seconds,
            decisions=self._consumed.pop(step.id, []),
            changes=request.recorded_changes(),
        )

    def poll(self, waiting: Waiting) -> Exception | bool | None:
        step = waiting.step
        if self.clock.monotonic() - waiting.published >= PAGE_REFRESH_SECONDS:
            waiting.published = self.clock.monotonic()
            self.events.notify("waiting_for_decision", step=step.id, owner=step.owner, page_only=True)
        now = time.monotonic()
        if now - waiting.polled >= DECISION_POLL_SECONDS:
            waiting.polled = now
            given = decisions.pending(self.journal.get_events(self.run.run_id), step.id)
            if given:  # a process waits here: the first decision recorded wins
                return self._settle(waiting, self._decided(step, given[0], given, self._waited(waiting)))
        if waiting.session is None or waiting.gave_up:
            return None
        try:
            answer = waiting.session.poll()
        except (Interrupted, KeyboardInterrupt) as exc:
            self.cancel.cancel("no answer at the approval prompt")
            return Interrupted(f"interrupted at the approval prompt of step {step.id!r}: {exc}")
        if answer == Answer.YES:
            return self._settle(waiting, self._grant(step, "prompt", self._waited(waiting)))
        if answer == Answer.NO:
            by = approvals_mod.operator()
            return self._settle(waiting, self._refuse(step, by, approvals_mod.host(), "prompt", None,
                                                      self._waited(waiting), []))
        if answer == Answer.NONE:
            waiting.gave_up = True
            waiting.session.close(self._hold_hint(step))
        return None

    def _settle(self, waiting: Waiting, verdict: Approval | Exception) -> Exception | bool:
        """The wait ends with ``verdict``: the step may run (True; the loop launches it) or the run holds."""
        if isinstance(verdict, Exception):
            if waiting.session is not None and not waiting.gave_up:
                waiting.session.close(str(verdict))
            return verdict
        if waiting.session is not None and not waiting.gave_up:
            where = f" on {verdict.host}" if verdict.host else ""
            via = "at this terminal" if verdict.source == "prompt" else f"with `orchestrator {verdict.source}`"
            waiting.session.close(f"step {waiting.step.id!r} approved by {verdict.by}{where} {via}")
        rec = self.run.records[waiting.step.id]
        rec.status = StepStatus.PENDING
        self.journal.save_step(rec)
        return True

    def give_up(self, waiting: Waiting) -> Exception:
        step = waiting.step
        self.events.emit(
            EventName.APPROVAL_MISSING, step.id, level="warning", waited_seconds=self._waited(waiting)
        )
        if waiting.session is not None and not waiting.gave_up:
            waiting.session.close(self._hold_hint(step))
        return ApprovalRequired(self._hold_hint(step))

    def abandon(self, waiting: Waiting, why: str) -> None:
        if waiting.session is not None and not waiting.gave_up:
            waiting.session.close(why)
        rec = self.run.records[waiting.step.id]
        rec.status = StepStatus.PENDING  # nobody waits any more: status must not say awaiting_approval
        self.journal.save_step(rec)
        self.events.emit(
            EventName.APPROVAL_INTERRUPTED, waiting.step.id, level="warning", reason=why,
            waited_seconds=self._waited(waiting),
        )

    def _hold_hint(self, step: Step) -> str:
        run_id = self.run.run_id
        return (
            f"step {step.id!r} needs approval (owner {step.owner}): `orchestrator approve {run_id}` from any "
            f"terminal, then `orchestrator resume {run_id}` (or resume with `--approve {step.id}`); "
            f"`orchestrator stand-down {run_id}` undoes what the run did"
        )

    def _waited(self, waiting: Waiting) -> float:
        return round(max(0.0, self.clock.monotonic() - waiting.started_mono), 3)

    def _decided(
        self, step: Step, decision: decisions.Decision, given: list[decisions.Decision], waited: float
    ) -> Approval | Exception:
        ids = [d.decision_id for d in given]
        if decision.approve:
            self._consumed[step.id] = ids
            approval = Approval(step.id, decision.by, "approve", decision.at, decision.host, waited)
            self.record([approval])
            return approval
        return self._refuse(step, decision.by, decision.host, "deny", decision.reason, waited, ids)

    def _refuse(
        self, step: Step, by: str, host: str, source: str, reason: str | None, waited: float, ids: list[str]
    ) -> Exception:
        self.events.emit(
            EventName.APPROVAL_REFUSED, step.id, level="warning", by=by, host=host, source=source,
            reason=reason, waited_seconds=waited, decisions=ids,
        )
        self.events.notify("decision_refused", step=step.id, by=by, reason=reason)
        run_id = self.run.run_id
        why = f" ({reason})" if reason else ""
        return ApprovalRefused(
            f"approval for step {step.id!r} was refused by {by} on {host}{why}; the run is held: "
            f"`orchestrator resume {run_id}` asks again, `orchestrator stand-down {run_id}` undoes what it did"
        )

    def record(self, given: list[Approval]) -> None:
        """Journal the run's approvals before the engine moves on (a resume honours them)."""
        self.run.approvals = [*self.run.approvals, *given]
        run_id = self.run.run_id
        self.journal.add_approvals(run_id, given)
        for approval in given:
            step_id = None if approval.step == approvals_mod.EVERY_STEP else approval.step
            self.events.emit(
                EventName.APPROVAL_RECORDED, step_id, by=approval.by, source=approval.source, given_at=approval.at
            )

    def _request(self, step: Step) -> GateRequest:
        needs = [(need, str(self.run.records[need].status)) for need in step.needs]
        try:
            changes = self._plan(step)
        except Exception as exc:  # the plan informs the approver; not knowing it is no reason to stop
            error = scrub(f"{type(exc).__name__}: {exc}")
            self.events.emit(EventName.APPROVAL_PLAN_FAILED, step.id, level="warning", error=error)
            changes = [f"cannot tell what it will change: {error}"]
        then = []
        for later in self._released(step):
            try:
                lines = self._plan(later)
            except Exception as exc:  # it runs later, when what it reads may be there: say so, go on
                lines = [f"cannot tell yet: {scrub(f'{type(exc).__name__}: {exc}')}"]
            then.append((later.id, later.uses, lines))
        return GateRequest(self.run.run_id, step, changes, needs, then)

    def _plan(self, step: Step) -> list[str]:
        ctx = self.runner.context(step, self.run.records[step.id], register=False)
        return list(self.runner.kinds[step.uses]().plan(ctx))

    def _released(self, step: Step) -> list[Step]:
        """The steps not yet done that this approval lets run with no further question: those after
        ``step`` (needing it, directly or through other such steps) that carry no gate of their own."""
        reached, released = {step.id}, []
        for later in self.run.book.order():
            if later.id in reached or later.gate or not reached.intersection(later.needs):
                continue
            reached.add(later.id)
            if self.run.records[later.id].status != StepStatus.SUCCEEDED:
                released.append(later)
        return released

    def _wait(self, step: Step, request: GateRequest) -> Exception | Waiting | None:
        """Start waiting at the gate: journaled (the step ``awaiting_approval``), the page republished, the
        approver asked. A plain approver answers at once (the old, blocking form); a session is polled."""
        self.events.emit(
            EventName.APPROVAL_REQUESTED, step.id, owner=step.owner, changes=request.recorded_changes()
        )
        rec = self.run.records[step.id]
        rec.status = StepStatus.AWAITING_APPROVAL
        self.journal.save_step(rec)
        self.events.notify("waiting_for_decision", step=step.id, owner=step.owner)
        waiting = Waiting(step, request, None, self.clock.monotonic(), published=self.clock.monotonic())
        try:
            with self.cancel.interruptible():
                answer = self.approver(request)
        except (Interrupted, KeyboardInterrupt) as exc:
            self.cancel.cancel("no answer at the approval prompt")
            return Interrupted(f"interrupted at the approval prompt of step {step.id!r}: {exc}")
        if answer is True:
            verdict = self._settle(waiting, self._grant(step, "prompt", self._waited(waiting)))
            if isinstance(verdict, Exception):
                return verdict
            self._granted(step, request, approvals_mod.find(self.run.approvals, step.id) or self.run.approvals[-1])
            return None
        if answer is False:
            by = approvals_mod.operator()
            return self._refuse(step, by, approvals_mod.host(), "prompt", None, self._waited(waiting), [])
        if answer is None:
            waiting.gave_up = True
        else:
            waiting.session = answer
        return waiting

    def _grant(self, step: Step, source: str, waited: float = 0.0) -> Approval:
        approval = Approval(
            step.id, approvals_mod.operator(), source, iso(self.clock.now()) or "", approvals_mod.host(), waited
        )
        self.record([approval])
        return approval
