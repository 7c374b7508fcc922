"""What the journal stores: the run, its steps, a site lock's holder and the lock itself, and the outbox of
notifications (each written before it is sent, marked sent after)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput
from orchestrator.model import RunStatus, StepStatus


class RunNotFound(InvalidInput):
    """The journal was read and holds no run of that id."""


@dataclass
class RunRecord:
    run_id: str
    kind: str
    site: str
    site_file: str
    runbook: dict[str, Any]
    options: dict[str, Any]
    status: RunStatus = RunStatus.RUNNING
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    resumes: int = 0


@dataclass
class StepRecord:
    run_id: str
    step_id: str
    uses: str
    owner: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    error: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    phase: str | None = None
    applied: bool = False


@dataclass
class OutboxEntry:
    """One notification of a run, journaled before it is sent so that no milestone is lost (issue 15): a
    process killed before sending leaves it pending, and the next command that opens the run sends it.

    ``entry_id`` is stable (``RUN_ID:MILESTONE``, ``#N`` appended for a milestone that recurs, e.g. a second
    ``resumed``): it travels with the message, so a duplicate delivery is recognisable."""

    entry_id: str
    run_id: str
    #: where it goes: ``sns`` (the milestone message) or ``status_page`` (the page upload)
    channel: str
    milestone: str
    created_at: str
    #: the milestone's own fields (step, status, error, elapsed_seconds...)
    fields: dict[str, Any] = field(default_factory=dict)
    #: order of creation within the run
    seq: int = 0
    sent_at: str | None = None
    #: what the far side answered (the SNS MessageId, the S3 key)
    receipt: str | None = None
    #: the process delivering it now (``claimer_id``), until ``claimed_until`` (ISO 8601 UTC): a claim taken
    #: atomically before sending, so that several processes delivering the same outbox send it once (issue 23)
    claimed_by: str | None = None
    claimed_until: str | None = None

    @property
    def pending(self) -> bool:
        return self.sent_at is None


@dataclass
class Holder:
    """Who holds (or wants) a site lock."""

    run_id: str
    host: str
    pid: int
    pid_start: str

    @classmethod
    def me(cls, run_id: str) -> Holder:
        return cls(run_id, socket.gethostname(), os.getpid(), process_start(os.getpid()))


@dataclass
class LockInfo:
    site: str
    holder: Holder
    acquired_at: str
    heartbeat_at: str


def process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (guards against PID reuse); '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""
