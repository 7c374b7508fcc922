"""The decision point's use cases: approve, deny (and learning whether the waiting run took it), stand-down,
and which failovers of a site are left half done (what readiness names)."""

from __future__ import annotations

from pathlib import Path

from orchestrator import approvals as approvals_mod
from orchestrator import decisions, logs
from orchestrator.clock import iso
from orchestrator.engine import GateRequest, Outcome
from orchestrator.errors import InvalidInput, NotReady
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunNotFound, RunRecord
from orchestrator.model import RunStatus, StepStatus
from orchestrator.report import build
from orchestrator.runbook import runbook_from_dict
from orchestrator.settings import Settings
from orchestrator.site import load_site
from orchestrator.usecases import execute as ex
from orchestrator.usecases.records import DecisionResult, RunResult
from orchestrator.usecases.resume import recorded_run
from orchestrator.usecases.runs import ObserverFactory, _no_display
from orchestrator.usecases.session import open_journal
from orchestrator.usecases.wiring import Wiring

#: statuses of a run that has ended for good: no gate of it waits for a decision any more
FINISHED = (RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK, RunStatus.STOOD_DOWN)
#: step statuses of a gate not passed yet
BEFORE_GATE = (StepStatus.PENDING, StepStatus.AWAITING_APPROVAL)
#: how long ``approve``/``deny`` wait to say that the run waiting at the gate took the decision
DECISION_ACK_SECONDS = 6.0


def journal_of_run(settings: Settings, run_id: str, site_file: Path | None) -> tuple[Journal, RunRecord]:
    """The journal holding ``run_id``: the site's (team mode) when a site file is given, else the local one;
    an unknown run is invalid input (exit 2) naming where it was looked for."""
    journal = open_journal(settings, load_site(site_file) if site_file else None)
    try:
        return journal, journal.get_run(run_id)
    except RunNotFound:
        journal.close()
        where = f"the state table of {site_file}" if site_file else f"the local journal ({settings.state_dir})"
        hint = "" if site_file else "; in team mode pass --site SITE.json"
        raise InvalidInput(f"no run {run_id!r} in {where}{hint}", source="run") from None


def gate_to_decide(journal: Journal, run: RunRecord, step_id: str | None) -> str:
    """The gate a decision for ``run`` is about: ``step_id``, else the gate the run waits at, else its next
    gate not passed yet. Exit 2 for a step the run does not have or that has no gate; exit 4 when the run
    has finished or is past that gate."""
    book = runbook_from_dict(run.runbook)
    if step_id is not None and step_id not in book.by_id:
        raise InvalidInput(f"no step {step_id!r} in run {run.run_id} (runbook {book.name})", source="--step")
    if step_id is not None and book.by_id[step_id].gate != "approval":
        raise InvalidInput(f"step {step_id!r} of run {run.run_id} has no approval gate", source="--step")
    if run.status in FINISHED:
        raise NotReady(f"run {run.run_id} has ended ({run.status}): no gate waits for a decision")
    status = {s.step_id: s.status for s in journal.get_steps(run.run_id)}
    gates = [s.id for s in book.order() if s.gate == "approval"]
    if step_id is None:
        waiting = [g for g in gates if status.get(g) == StepStatus.AWAITING_APPROVAL]
        open_gates = [g for g in gates if status.get(g) in BEFORE_GATE]
        if not (waiting or open_gates):
            raise NotReady(f"run {run.run_id} is past every gate: nothing to decide")
        return (waiting or open_gates)[0]
    if status.get(step_id) not in BEFORE_GATE:
        raise NotReady(f"run {run.run_id} is already past the gate of step {step_id!r} ({status.get(step_id)})")
    return step_id


def _nobody(request: GateRequest) -> bool | None:
    """A stand-down passes no gate: nobody is asked."""
    return None


class GateUseCases:
    """approve, deny, stand-down."""

    settings: Settings

    def approve(self, run_id: str, step_id: str | None = None, site_file: Path | None = None) -> DecisionResult:
        return self.decide(run_id, step_id, True, None, site_file)

    def deny(self, run_id: str, step_id: str | None = None, reason: str | None = None,
             site_file: Path | None = None) -> DecisionResult:
        return self.decide(run_id, step_id, False, reason, site_file)

    def decide(
        self, run_id: str, step_id: str | None, approve: bool, reason: str | None, site_file: Path | None
    ) -> DecisionResult:
        """Journal the decision (who: this user; where: this host). A process of the run waiting at that gate
        takes it within seconds; a run with none takes it on ``resume``."""
        journal, run = journal_of_run(self.settings, run_id, site_file)
        try:
            step = gate_to_decide(journal, run, step_id)
            decision = decisions.new(step, approve, approvals_mod.operator(), approvals_mod.host(),
                                     iso(self.settings.clock.now()) or "", reason)
            decisions.record(journal, run_id, decision)
            return DecisionResult(decision, RunStatus(run.status), site_file)
        finally:
            journal.close()

    def decision_taken(self, run_id: str, decision_id: str, site_file: Path | None) -> str | None:
        """How the decision was acted on so far: the gate event that consumed it (``approval_granted`` /
        ``approval_refused``), or None."""
        journal, _ = journal_of_run(self.settings, run_id, site_file)
        try:
            for event in journal.get_events(run_id):
                if event.get("event") in decisions.CONSUMING and decision_id in (event.get("decisions") or []):
                    return str(event["event"])
            return None
        finally:
            journal.close()

    def await_taken(self, result: DecisionResult, run_id: str) -> str | None:
        """Wait (up to ``DECISION_ACK_SECONDS``) for the run waiting at the gate to take the decision."""
        clock = self.settings.clock
        deadline = clock.monotonic() + DECISION_ACK_SECONDS
        while True:
            taken = self.decision_taken(run_id, result.decision.decision_id, result.site_file)
            if taken is not None or clock.monotonic() >= deadline:
                return taken
            clock.sleep(0.25)

    def stand_down(self, run_id: str, display: ObserverFactory = _no_display,
                   site_file: Path | None = None) -> RunResult:
        """Undo a held, interrupted or failed failover that has not passed a gate: each step's compensation in
        reverse (tunnels down, seats back to warm, the announcement removed, traffic distribution as read
        before), the restored data kept. A run past its gate is invalid input (exit 2): fail back instead."""
        self.settings.check_directories()
        found = recorded_run(self.settings, run_id, site_file, (), "stand-down")  # no change is allowed here
        journal, run = found.journal, found.run
        try:
            _check_standable(journal, run)
        except BaseException:
            journal.close()
            raise
        if run.status == RunStatus.STOOD_DOWN:
            journal.close()
            outcome = Outcome(run_id, RunStatus.STOOD_DOWN, "already stood down")
            page = Wiring(self.settings).status_page_of(run_id, site_file)
            return RunResult(outcome, self.settings.reports / run_id, *page)
        book = runbook_from_dict(run.runbook)
        engine = Wiring(self.settings).build_engine(journal, found.site, _nobody, display(book), book)
        logs.open_audit(run_id, self.settings.audit_file(run_id))
        try:
            with ex.signals_cancel(engine):
                try:
                    outcome = engine.stand_down(run_id)
                finally:
                    engine.close()
                    folder = ex.report_and_evidence(self.settings, journal, build(journal, run_id))
        finally:
            logs.close_audit(run_id)
            journal.close()
        return RunResult(outcome, folder, *Wiring(self.settings).status_page_of(run_id, site_file))


def _check_standable(journal: Journal, run: RunRecord) -> None:
    """A failover not past its gate (a stood-down one passes: there is nothing left to do)."""
    if run.kind != "failover":
        raise InvalidInput(f"run {run.run_id} is a {run.kind}: stand-down undoes a failover", source="stand-down")
    if run.status == RunStatus.STOOD_DOWN:
        return
    book = runbook_from_dict(run.runbook)
    status = {s.step_id: s.status for s in journal.get_steps(run.run_id)}
    passed = [s.id for s in book.order() if s.gate == "approval" and status.get(s.id) not in BEFORE_GATE]
    if passed or run.status in FINISHED:
        raise InvalidInput(
            f"run {run.run_id} is past its gate ({', '.join(passed) or run.status}): stand-down cannot undo a "
            f"cutover; fail back instead: `orchestrator failback --site {run.site_file}`",
            source="stand-down",
        )
