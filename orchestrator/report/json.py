"""report.json: the ``Report`` as the contract's JSON object (keys and their order as in 1.0-1.2), and back.

``to_json`` is what is written; ``from_json`` reads a report.json (or a part of one) into a ``Report``, the
fields it lacks at their defaults, so that anything holding a report as JSON can use the typed forms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.model import EventRecord, StepStatus
from orchestrator.report.model import ApprovalEntry, Refusal, Report, StepReport, VpnProbe

#: an event's keys of its own in report.json; a field of the same name never replaces them
EVENT_KEYS = ("at", "step", "event")

JsonObject = dict[str, Any]


def dumps(report: Report) -> str:
    """The text of report.json."""
    return json.dumps(to_json(report), indent=2, default=str) + "\n"


def to_json(report: Report) -> JsonObject:
    """The report as report.json holds it."""
    out: JsonObject = {
        "run_id": report.run_id, "kind": report.kind, "site": report.site, "status": report.status,
        "started_at": report.started_at, "finished_at": report.finished_at,
        "rto_seconds": report.rto_seconds, "rto_objective_seconds": report.rto_objective_seconds,
        "rto_met": report.rto_met,
        "rpo_seconds": report.rpo_seconds, "rpo_objective_seconds": report.rpo_objective_seconds,
        "rpo_met": report.rpo_met, "rpo_breach_accepted": report.rpo_breach_accepted,
        "data_restored_seconds": report.data_restored_seconds,
        "restore_bytes_per_second": report.restore_bytes_per_second,
        "vpn_probe": [{"step": p.step, **p.figures} for p in report.vpn_probe],
        "error": report.error, "runbook": report.runbook, "runbook_source": report.runbook_source,
        "resumes": report.resumes,
        "steps": [step_json(s) for s in report.steps],
        "retries": [event_json(e) for e in report.retries],
        "approvals": [approval_json(a) for a in report.approvals],
        "decision_seconds": report.decision_seconds,
        "detected_at": report.detected_at,
        "first_call_answered_seconds": report.first_call_answered_seconds,
        "rto_from_detection_seconds": report.rto_from_detection_seconds,
        "refusals": [refusal_json(r) for r in report.refusals],
        "compensations": [event_json(e) for e in report.compensations],
        "site_changes": [event_json(e) for e in report.site_changes],
        "timeline": [event_json(e) for e in report.timeline],
    }
    if report.findings is not None:
        out["findings"] = dict(report.findings)
    return out


def step_json(step: StepReport) -> JsonObject:
    return {"id": step.id, "uses": step.uses, "owner": step.owner, "status": step.status, "attempts": step.attempts,
            "started_at": step.started_at, "finished_at": step.finished_at,
            "duration_seconds": step.duration_seconds, "error": step.error, "applied": step.applied,
            "phase": step.phase, "needs": list(step.needs), "gate": step.gate, "outputs": dict(step.outputs),
            "rto": step.rto}


def event_json(event: EventRecord) -> JsonObject:
    """``{at, step, event, **fields}``: the step is the event's own, whatever its fields are named."""
    own = {k: v for k, v in event.fields.items() if k not in EVENT_KEYS}
    return {"at": event.at, "step": event.step_id, "event": event.name, **own}


def approval_json(approval: ApprovalEntry) -> JsonObject:
    out: JsonObject = {"step": approval.step, "by": approval.by, "source": approval.source, "at": approval.at,
                       "host": approval.host, "waited_seconds": approval.waited_seconds}
    if approval.changes is not None:
        out["changes"] = approval.changes
    return out


def refusal_json(refusal: Refusal) -> JsonObject:
    return {"step": refusal.step, "by": refusal.by, "host": refusal.host, "at": refusal.at,
            "reason": refusal.reason, "source": refusal.source, "waited_seconds": refusal.waited_seconds}


# --------------------------------------------------------------------------- reading it back


def from_json(data: Mapping[str, Any]) -> Report:
    """A report.json object (or part of one: missing fields take their defaults) as a ``Report``."""
    return Report(
        run_id=str(data.get("run_id") or ""), kind=str(data.get("kind") or ""), site=str(data.get("site") or ""),
        status=str(data.get("status") or ""),
        started_at=data.get("started_at"), finished_at=data.get("finished_at"),
        rto_seconds=data.get("rto_seconds"), rto_objective_seconds=data.get("rto_objective_seconds"),
        rpo_seconds=data.get("rpo_seconds"), rpo_objective_seconds=data.get("rpo_objective_seconds"),
        rpo_breach_accepted=bool(data.get("rpo_breach_accepted")),
        data_restored_seconds=data.get("data_restored_seconds"),
        restore_bytes_per_second=data.get("restore_bytes_per_second"),
        vpn_probe=tuple(VpnProbe(str(p.get("step")), {k: v for k, v in p.items() if k != "step"})
                        for p in data.get("vpn_probe") or []),
        error=data.get("error"), runbook=data.get("runbook"), runbook_source=data.get("runbook_source"),
        resumes=int(data.get("resumes") or 0),
        steps=tuple(step_from_json(s) for s in data.get("steps") or []),
        approvals=tuple(_approval(a) for a in data.get("approvals") or []),
        detected_at=data.get("detected_at"),
        first_call_answered_seconds=data.get("first_call_answered_seconds"),
        rto_from_detection_seconds=data.get("rto_from_detection_seconds"),
        refusals=tuple(Refusal(**{k: r.get(k) for k in _REFUSAL_KEYS}) for r in data.get("refusals") or []),
        timeline=tuple(event_from_json(e) for e in data.get("timeline") or []),
        findings=data.get("findings"),
    )


_REFUSAL_KEYS = ("step", "by", "host", "at", "reason", "source", "waited_seconds")


def step_from_json(step: Mapping[str, Any]) -> StepReport:
    return StepReport(
        id=str(step["id"]), uses=str(step.get("uses") or ""), owner=str(step.get("owner") or ""),
        status=str(step.get("status") or StepStatus.PENDING), attempts=int(step.get("attempts") or 0),
        started_at=step.get("started_at"), finished_at=step.get("finished_at"),
        duration_seconds=step.get("duration_seconds"), error=step.get("error"),
        applied=bool(step.get("applied")), phase=step.get("phase"), needs=tuple(step.get("needs") or ()),
        gate=step.get("gate"), outputs=step.get("outputs") or {}, rto=step.get("rto", True) is not False,
    )


def event_from_json(event: Mapping[str, Any]) -> EventRecord:
    fields = {k: v for k, v in event.items() if k not in EVENT_KEYS}
    return EventRecord.of(event.get("at"), event.get("step"), str(event.get("event") or ""), fields)


def _approval(entry: Mapping[str, Any]) -> ApprovalEntry:
    return ApprovalEntry(step=str(entry.get("step")), by=str(entry.get("by")), source=str(entry.get("source")),
                         at=str(entry.get("at")), host=entry.get("host"),
                         waited_seconds=entry.get("waited_seconds") or 0.0, changes=entry.get("changes"))
