"""The report of a run as typed, frozen records: what every form of it (report.json, report.md, junit.xml,
the timeline picture, the status page, the drill history) is written from.

A field keeps the contract's name (``Report.rto_seconds`` is report.json's ``rto_seconds``); what can be
derived from other fields (``rto_met``, the retries, the time spent waiting for a decision) is a property,
so it can never disagree with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.model import COMPENSATION_STATUS, EventName, EventRecord, RunStatus, StepStatus

__all__ = ["ApprovalEntry", "DrillEntry", "DrillStep", "EventRecord", "Refusal", "Report", "StepReport",
           "VpnProbe"]

#: the events that end a wait at a gate, each with the ``waited_seconds`` it lasted
WAIT_ENDS = frozenset({EventName.APPROVAL_GRANTED, EventName.APPROVAL_REFUSED, EventName.APPROVAL_MISSING,
                       EventName.APPROVAL_INTERRUPTED})


@dataclass(frozen=True)
class StepReport:
    """One step of the run as the journal has it, with what its runbook entry says of it."""

    id: str
    uses: str
    owner: str
    status: str
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    error: str | None = None
    applied: bool = False
    phase: str | None = None
    needs: tuple[str, ...] = ()
    gate: str | None = None
    #: what the step recorded (the journal's step state): restore figures, the VPN probe, ...
    outputs: Mapping[str, Any] = field(default_factory=dict)
    #: counts for the RTO (False: background work such as the bulk restore)
    rto: bool = True


@dataclass(frozen=True)
class ApprovalEntry:
    """The contract's ``{step, by, source, at}`` of an approved gated step, where and after how long."""

    step: str
    by: str
    source: str
    at: str
    host: str | None = None
    waited_seconds: float = 0.0
    #: the changes shown to the approver when the gate was passed (None: none shown)
    changes: object | None = None


@dataclass(frozen=True)
class Refusal:
    """A refusal at a gate (``n`` at the prompt, ``deny``): who, where, when, why."""

    step: str | None
    by: str | None = None
    host: str | None = None
    at: str | None = None
    reason: str | None = None
    source: str | None = None
    waited_seconds: float | None = None


@dataclass(frozen=True)
class VpnProbe:
    """The appliance's pings through the tunnel, as a VPN step recorded them (``figures`` kept whole)."""

    step: str
    figures: Mapping[str, Any]

    @property
    def address(self) -> object:
        return self.figures.get("address")

    @property
    def sent(self) -> object:
        return self.figures.get("sent")

    @property
    def received(self) -> object:
        return self.figures.get("received")

    @property
    def rtt_ms(self) -> float | None:
        value = self.figures.get("rtt_ms")
        return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Report:
    """A run: who, what, how it went against its objectives, each step, and every event in order."""

    run_id: str
    kind: str
    site: str
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    rto_seconds: float | None = None
    rto_objective_seconds: float | None = None
    rpo_seconds: float | None = None
    rpo_objective_seconds: float | None = None
    rpo_breach_accepted: bool = False
    #: run start -> the complete restore marker written (None when no restore wrote one)
    data_restored_seconds: float | None = None
    restore_bytes_per_second: float | None = None
    vpn_probe: tuple[VpnProbe, ...] = ()
    error: str | None = None
    runbook: str | None = None
    runbook_source: str | None = None
    resumes: int = 0
    steps: tuple[StepReport, ...] = ()
    approvals: tuple[ApprovalEntry, ...] = ()
    #: 1.2: when `orchestrator watch` saw the primary go down (a staged failover)
    detected_at: str | None = None
    #: 1.2: run start -> the test call answered by an agent at the backup site
    first_call_answered_seconds: float | None = None
    rto_from_detection_seconds: float | None = None
    refusals: tuple[Refusal, ...] = ()
    #: every event of the run, in the order journaled
    timeline: tuple[EventRecord, ...] = ()
    #: 1.2: what the run found (``{new, recurred, open}``), added once recorded (None: not recorded)
    findings: Mapping[str, Any] | None = None

    @property
    def rto_met(self) -> bool | None:
        return _met(self.rto_seconds, self.rto_objective_seconds)

    @property
    def rpo_met(self) -> bool | None:
        return _met(self.rpo_seconds, self.rpo_objective_seconds)

    @property
    def retries(self) -> tuple[EventRecord, ...]:
        return tuple(e for e in self.timeline if e.name == EventName.ATTEMPT_FAILED)

    @property
    def compensations(self) -> tuple[EventRecord, ...]:
        return tuple(e for e in self.timeline if e.name in COMPENSATION_STATUS)

    @property
    def site_changes(self) -> tuple[EventRecord, ...]:
        return tuple(e for e in self.timeline if e.name == EventName.SITE_CHANGED)

    @property
    def decision_seconds(self) -> float:
        """1.2: the time the run waited at gates for a decision (part of the RTO, never learned by the ETA)."""
        waits = (e.fields.get("waited_seconds") for e in self.timeline if e.name in WAIT_ENDS)
        return round(sum(w for w in waits if isinstance(w, int | float)), 3)

    def step(self, step_id: str) -> StepReport | None:
        return next((s for s in self.steps if s.id == step_id), None)


def _met(value: float | None, objective: float | None) -> bool | None:
    return None if value is None or objective is None else value <= objective


@dataclass(frozen=True)
class DrillStep:
    """One step of a drill as its history entry keeps it: what the ETA of later runs is learned from."""

    id: str
    uses: str | None
    status: str | None
    duration_seconds: float | None
    #: when it ended, in seconds after the run started
    end_seconds: float | None
    needs: tuple[str, ...]
    #: counts for the RTO (of the drill's RTO phase)
    rto: bool
    #: a restore's figures (``history.RESTORE_FIGURES``: bytes, bytes_transferred, bytes_per_second)
    figures: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DrillEntry:
    """A drill's line in the drill history: its RTO and RPO against the objectives, and its steps."""

    run_id: str
    site: str | None = None
    status: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    rto_seconds: float | None = None
    rto_objective_seconds: float | None = None
    rpo_seconds: float | None = None
    rpo_objective_seconds: float | None = None
    rto_met: bool | None = None
    rpo_met: bool | None = None
    data_restored_seconds: float | None = None
    #: what readiness predicts the critical restore time from
    restore_bytes_per_second: float | None = None
    steps: tuple[DrillStep, ...] = ()

    @property
    def passed(self) -> bool:
        """Succeeded, within both objectives (a missing verdict is no failure)."""
        return self.status == RunStatus.SUCCEEDED and self.rto_met is not False and self.rpo_met is not False

    def succeeded_durations(self) -> list[tuple[str, float]]:
        """(step id, seconds) of each step that succeeded with a duration: the ETA's samples."""
        return [(s.id, float(s.duration_seconds)) for s in self.steps
                if s.status == StepStatus.SUCCEEDED and isinstance(s.duration_seconds, int | float)]
