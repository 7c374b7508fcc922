"""The run's vocabulary: statuses and event names as ``StrEnum`` members.

A ``StrEnum`` member *is* its string (``RunStatus.SUCCEEDED == "succeeded"``), so the journal, the report
and ``status --json`` keep the contract's exact words while the code names them once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    INTERRUPTED = "interrupted"
    #: stopped before a gated step without a decision: no terminal, refused (``n``, ``deny``) or staged
    #: (``--stage``); resumable (contract 1.2)
    HELD = "held"
    #: a held, interrupted or failed failover undone by ``orchestrator stand-down`` (restored data kept)
    STOOD_DOWN = "stood_down"

    @property
    def exit_code(self) -> int:
        """The contract's exit code of a run that ended in this status."""
        return {RunStatus.SUCCEEDED: 0, RunStatus.INTERRUPTED: 130, RunStatus.HELD: 4, RunStatus.STOOD_DOWN: 0}.get(
            self, 1
        )


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    AWAITING_APPROVAL = "awaiting_approval"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"


#: step statuses that a resume runs again (verifying first)
RERUNNABLE: frozenset[StepStatus] = frozenset(set(StepStatus) - {StepStatus.SUCCEEDED})


class EventName(StrEnum):
    """Every event the engine journals (and logs); the report and the live table read them by name."""

    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    RUN_STOPPING = "run_stopping"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_FAILED = "run_failed"
    RUN_ROLLED_BACK = "run_rolled_back"
    RUN_INTERRUPTED = "run_interrupted"
    STEP_STARTED = "step_started"
    STEP_APPLYING = "step_applying"
    STEP_VERIFIED = "step_verified"
    STEP_PROGRESS = "step_progress"
    STEP_KEPT = "step_kept"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_FAILED = "step_failed"
    STEP_INTERRUPTED = "step_interrupted"
    ATTEMPT_FAILED = "attempt_failed"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_RECORDED = "approval_recorded"
    APPROVAL_REFUSED = "approval_refused"
    APPROVAL_MISSING = "approval_missing"
    APPROVAL_INTERRUPTED = "approval_interrupted"
    APPROVAL_PLAN_FAILED = "approval_plan_failed"
    #: the run waits at a gate for a decision (the prompt, ``approve``/``deny`` from anywhere, ``--wait``)
    DECISION_WAITING = "decision_waiting"
    #: ``orchestrator approve`` / ``deny`` recorded a decision for a gate of the run (who, where, why)
    DECISION = "decision"
    RUN_HELD = "run_held"
    STAND_DOWN_STARTED = "stand_down_started"
    RUN_STOOD_DOWN = "run_stood_down"
    ROLLBACK_STARTED = "rollback_started"
    COMPENSATION_STARTED = "compensation_started"
    COMPENSATION_SUCCEEDED = "compensation_succeeded"
    COMPENSATION_FAILED = "compensation_failed"
    LOCK_TAKEN_OVER = "lock_taken_over"
    LOCK_LOST = "lock_lost"
    JOURNAL_LOST = "journal_lost"
    SITE_CHANGED = "site_changed"
    #: the runbook's steps this run is made without (``when: KEY`` and the site has no KEY)
    STEPS_LEFT_OUT = "steps_left_out"

    @classmethod
    def run_ended(cls, status: RunStatus) -> EventName:
        """The event that closes a run in ``status`` (ValueError for a status that does not end a run)."""
        if status not in _RUN_ENDED:
            raise ValueError(f"no run ends {status}")
        return _RUN_ENDED[status]

    @classmethod
    def step_ended(cls, status: StepStatus) -> EventName:
        """The event that closes a step's attempt loop in ``status`` (succeeded, failed or interrupted;
        ValueError otherwise)."""
        if status not in _STEP_ENDED:
            raise ValueError(f"no step attempt loop ends {status}")
        return _STEP_ENDED[status]


_RUN_ENDED: dict[RunStatus, EventName] = {
    RunStatus.SUCCEEDED: EventName.RUN_SUCCEEDED,
    RunStatus.FAILED: EventName.RUN_FAILED,
    RunStatus.ROLLED_BACK: EventName.RUN_ROLLED_BACK,
    RunStatus.INTERRUPTED: EventName.RUN_INTERRUPTED,
    RunStatus.HELD: EventName.RUN_HELD,
    RunStatus.STOOD_DOWN: EventName.RUN_STOOD_DOWN,
}
_STEP_ENDED: dict[StepStatus, EventName] = {
    StepStatus.SUCCEEDED: EventName.STEP_SUCCEEDED,
    StepStatus.FAILED: EventName.STEP_FAILED,
    StepStatus.INTERRUPTED: EventName.STEP_INTERRUPTED,
}

#: the step-ending events and the status each leaves the step in (the live table reads them)
STEP_ENDINGS: dict[EventName, StepStatus] = {event: status for status, event in _STEP_ENDED.items()}
#: the compensation events and the status each leaves the step in
COMPENSATION_STATUS: dict[EventName, StepStatus] = {
    EventName.COMPENSATION_STARTED: StepStatus.ROLLING_BACK,
    EventName.COMPENSATION_SUCCEEDED: StepStatus.ROLLED_BACK,
    EventName.COMPENSATION_FAILED: StepStatus.ROLLBACK_FAILED,
}


@dataclass(frozen=True)
class EventRecord:
    """One journaled event read back: when, of which step (None: of the run), its name, and its own fields.

    The step id is kept apart from ``fields``, so an event with a field named ``step`` (or ``at``, ``event``)
    can never pass for another step's event."""

    at: str | None
    step_id: str | None
    #: an ``EventName``; a name this version does not know (a newer journal) is kept as its string
    name: EventName | str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, at: str | None, step_id: str | None, name: str, fields: Mapping[str, Any]) -> EventRecord:
        """The record of a journal row (the event's name typed when this version knows it)."""
        known = name in EventName._value2member_map_
        return cls(at, step_id, EventName(name) if known else name, dict(fields))

    def get(self, key: str) -> Any:
        """The event's own field ``key`` (None when it has none)."""
        return self.fields.get(key)
