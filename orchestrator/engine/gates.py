"""Approval gates: before a gated step runs, an approval recorded with the run, a drill's own, or the
approver's answer (the prompt); otherwise the reason the run stops before the gate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator import approvals as approvals_mod
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


#: the prompt: True (approved), False (refused) or None (no answer: the run pauses resumably)
Approver = Callable[[GateRequest], "bool | None"]


class Gate(Protocol):
    """What the engine asks before launching a gated step, and where it records approvals given with a
    command (``--yes``, ``--approve``) before anything runs."""

    def admit(self, step: Step) -> Exception | None:
        """None when ``step`` may run; else why the run stops before it."""
        ...

    def record(self, given: list[Approval]) -> None: ...


class ApprovalGate:
    """The approvals of one run: recorded ones first, then the drill's own, then the approver."""

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

    def admit(self, step: Step) -> Exception | None:
        request = self._request(step)
        approval = approvals_mod.find(self.run.approvals, step.id)
        if approval is None and self.run.options.kind == "drill":
            approval = self._grant(step, "drill")
        if approval is None:
            answer = self._ask(step, request)
            if isinstance(answer, Exception):
                return answer
            approval = answer
        self.events.emit(
            EventName.APPROVAL_GRANTED,
            step.id,
            by=approval.by,
            source=approval.source,
            given_at=approval.at,
            changes=request.recorded_changes(),
        )
        return None

    def record(self, given: list[Approval]) -> None:
        """Journal the run's approvals before the engine moves on (a resume honours them)."""
        self.run.approvals = [*self.run.approvals, *given]
        run_id = self.run.run_id
        options = self.journal.get_run(run_id).options
        self.journal.update_run(run_id, options={**options, "approvals": approvals_mod.dump(self.run.approvals)})
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

    def _ask(self, step: Step, request: GateRequest) -> Approval | Exception:
        """Ask the approver (the prompt): an approval, or the reason the run stops before the gate."""
        self.events.emit(
            EventName.APPROVAL_REQUESTED, step.id, owner=step.owner, changes=request.recorded_changes()
        )
        stop: Exception | None = None
        decision: bool | None = None
        try:
            with self.cancel.interruptible():
                decision = self.approver(request)
        except (Interrupted, KeyboardInterrupt) as exc:
            self.cancel.cancel("no answer at the approval prompt")
            stop = Interrupted(f"interrupted at the approval prompt of step {step.id!r}: {exc}")
        if decision:
            return self._grant(step, "prompt")
        rec = self.run.records[step.id]
        rec.status = StepStatus.AWAITING_APPROVAL
        self.journal.save_step(rec)
        if stop is not None:
            self.events.emit(EventName.APPROVAL_INTERRUPTED, step.id, level="warning")
            return stop
        return self._not_approved(step, decision)

    def _not_approved(self, step: Step, decision: bool | None) -> Exception:
        run_id = self.run.run_id
        if decision is False:
            self.events.emit(EventName.APPROVAL_REFUSED, step.id, level="warning", by=approvals_mod.operator())
            return ApprovalRefused(
                f"approval for step {step.id!r} was refused; `orchestrator resume {run_id}` asks again"
            )
        self.events.emit(EventName.APPROVAL_MISSING, step.id, level="warning")
        return ApprovalRequired(
            f"step {step.id!r} needs approval: resume with `orchestrator resume {run_id} --approve {step.id}`"
        )

    def _grant(self, step: Step, source: str) -> Approval:
        approval = Approval(step.id, approvals_mod.operator(), source, iso(self.clock.now()) or "")
        self.record([approval])
        return approval
