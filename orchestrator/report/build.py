"""The journal of a run -> its ``Report``.

Everything is derived from the journal, so a report can be rebuilt at any time (a resume of a run killed
before its report was complete writes it) and an interrupted or resumed run is reported like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import approvals as approvals_mod
from orchestrator.clock import parse_iso
from orchestrator.journal.protocols import RunReader
from orchestrator.journal.records import RunRecord, StepRecord
from orchestrator.model import EventName, EventRecord, StepStatus
from orchestrator.report.model import ApprovalEntry, Refusal, Report, StepReport, VpnProbe

_Spec = Mapping[str, Mapping[str, Any]]


def build(journal: RunReader, run_id: str) -> Report:
    """The report of ``run_id`` as the journal has it now."""
    run = journal.get_run(run_id)
    steps = journal.get_steps(run_id)
    events = tuple(journal.event_records(run_id))
    book = run.runbook
    spec: dict[str, Mapping[str, Any]] = {s["id"]: s for s in book.get("steps", [])}
    rto = _rto(run, steps, book.get("rto_phase"), spec)
    objectives = run.settings.objectives or {}
    return Report(
        run_id=run.run_id, kind=run.kind, site=run.site, status=run.status,
        started_at=run.started_at, finished_at=run.finished_at,
        rto_seconds=rto, rto_objective_seconds=objectives.get("rto_seconds"),
        rpo_seconds=_rpo(steps), rpo_objective_seconds=objectives.get("rpo_seconds"),
        rpo_breach_accepted=any(s.state.get("rpo_breach_accepted") for s in steps),
        data_restored_seconds=_data_restored(run, steps),
        restore_bytes_per_second=_restore_throughput(steps),
        vpn_probe=tuple(VpnProbe(s.step_id, s.state["probe"]) for s in steps if isinstance(s.state.get("probe"), dict)),
        error=run.error, runbook=book.get("name"), runbook_source=book.get("source"), resumes=run.resumes,
        steps=tuple(step_report(s, spec.get(s.step_id, {})) for s in steps),
        approvals=_approvals(run, spec, events),
        detected_at=run.settings.detected_at,
        first_call_answered_seconds=_first_call_answered(run, steps),
        rto_from_detection_seconds=_from_detection(run, rto),
        refusals=tuple(_refusal(e) for e in events if e.name == EventName.APPROVAL_REFUSED),
        timeline=events,
    )


def step_report(rec: StepRecord, spec: Mapping[str, Any]) -> StepReport:
    """A step's journal record with what its runbook entry says of it (needs, gate, counts for the RTO)."""
    return StepReport(
        id=rec.step_id, uses=rec.uses, owner=rec.owner, status=rec.status, attempts=rec.attempts,
        started_at=rec.started_at, finished_at=rec.finished_at, duration_seconds=rec.duration_seconds,
        error=rec.error, applied=rec.applied, phase=rec.phase, needs=tuple(spec.get("needs", [])),
        gate=spec.get("gate"), outputs=rec.state, rto=spec.get("rto", True),
    )


def _rpo(steps: Sequence[StepRecord]) -> float | None:
    return max((s.state["rpo_seconds"] for s in steps if isinstance(s.state.get("rpo_seconds"), int | float)),
               default=None)


def _refusal(event: EventRecord) -> Refusal:
    """A refusal as the report keeps it: ``{step, by, host, at, reason, source, waited_seconds}``."""
    return Refusal(step=event.step_id, by=event.get("by"), host=event.get("host"), at=event.at,
                   reason=event.get("reason"), source=event.get("source"), waited_seconds=event.get("waited_seconds"))


def _first_call_answered(run: RunRecord, steps: Sequence[StepRecord]) -> float | None:
    started = parse_iso(run.started_at)
    answers = [moment for s in steps if s.uses == "connect.test_call" and s.status == StepStatus.SUCCEEDED
               and (moment := parse_iso(s.state.get("answered_at"))) is not None]
    if started is None or not answers:
        return None
    return round((min(answers) - started).total_seconds(), 3)


def _from_detection(run: RunRecord, rto: float | None) -> float | None:
    detected, started = parse_iso(run.settings.detected_at), parse_iso(run.started_at)
    if rto is None or detected is None or started is None:
        return None
    return round(rto + (started - detected).total_seconds(), 3)


def _approvals(run: RunRecord, spec: _Spec, events: Sequence[EventRecord]) -> tuple[ApprovalEntry, ...]:
    """The contract's ``{step, by, source, at}`` for each approved gated step (plus the changes shown
    when its gate was passed); refusals and prompts stay in the timeline."""
    gated = [step_id for step_id, step in spec.items() if step.get("gate") == "approval"]
    changes = {e.step_id: e.get("changes") for e in events
               if e.name == EventName.APPROVAL_GRANTED and e.step_id and e.get("changes")}
    recorded = run.settings.approvals
    found = ((step, approval) for step in gated if (approval := approvals_mod.find(recorded, step)) is not None)
    return tuple(ApprovalEntry(step=step, by=a.by, source=a.source, at=a.at, host=a.host,
                               waited_seconds=a.waited_seconds, changes=changes.get(step))
                 for step, a in found)


def _rto(run: RunRecord, steps: Sequence[StepRecord], rto_phase: str | None, spec: _Spec) -> float | None:
    """Run start to the last RTO-counted step verified (of the RTO phase, in a drill); None if not
    achieved. A failed step whose runbook entry tolerates failure (``on_failure: continue``, e.g. a
    notification) does not stop service from being restored; a step marked ``rto: false`` (the bulk
    restore) does not count at all, finished or not."""
    tolerated = {i for i, step in spec.items() if step.get("on_failure") == "continue"}
    background = {i for i, step in spec.items() if step.get("rto") is False}
    scope = [s for s in steps if (rto_phase is None or s.phase == rto_phase)
             and s.step_id not in background
             and not (s.status == StepStatus.FAILED and s.step_id in tolerated | background)]
    if not scope or any(s.status != StepStatus.SUCCEEDED for s in scope):
        return None
    start = parse_iso(run.started_at)
    ends = [end for s in scope if (end := parse_iso(s.finished_at)) is not None]
    if start is None or not ends:
        return None
    return round((max(ends) - start).total_seconds(), 3)


def _data_restored(run: RunRecord, steps: Sequence[StepRecord]) -> float | None:
    """Run start to the complete restore marker written (recorded by the restore step that wrote it);
    None when no restore wrote one in this run."""
    start = parse_iso(run.started_at)
    written = [at for s in steps if isinstance(s.state.get("complete_marker_written_at"), str)
               and (at := parse_iso(s.state["complete_marker_written_at"])) is not None]
    if start is None or not written:
        return None
    return round((max(written) - start).total_seconds(), 3)


def _restore_throughput(steps: Sequence[StepRecord]) -> float | None:
    """Bytes per second of the critical (or untiered) restore of this run: what readiness predicts from."""
    rates = [s.state["bytes_per_second"] for s in steps
             if s.uses == "backup.restore" and s.state.get("tier") != "bulk"
             and s.state.get("bytes_transferred") and isinstance(s.state.get("bytes_per_second"), int | float)]
    return max(rates, default=None)
