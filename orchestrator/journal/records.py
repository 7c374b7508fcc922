"""What the journal stores: the run (and its ``RunSettings``), its steps, a site lock's holder and the lock
itself, and the outbox of notifications (each written before it is sent, marked sent after)."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.approvals import Approval
from orchestrator.errors import InvalidInput
from orchestrator.model import RunStatus, StepStatus


class RunNotFound(InvalidInput):
    """The journal was read and holds no run of that id."""


#: the keys of a run's stored settings that ``RunSettings`` names (any other key is kept as it is)
_SETTINGS_KEYS = ("accept_rpo_breach", "approvals", "objectives", "detected_at", "site", "approved")


@dataclass(frozen=True)
class RunSettings:
    """What a run was started with and what it was given since, as the journal keeps it with the run.

    Stored as one JSON object (the ``options`` column / attribute, the same keys since 1.0): ``from_json`` /
    ``to_json``. Changed only through the journal's explicit writes (``add_approvals``, ``replace_site``),
    never rewritten whole by a caller."""

    accept_rpo_breach: bool = False
    #: the run's approvals, in the order they were given (``--yes``/``--approve`` at start, prompt, resume...)
    approvals: tuple[Approval, ...] = ()
    #: the site's objectives when the run started (``{"rto_seconds", "rpo_seconds"}``)
    objectives: dict[str, Any] | None = None
    #: when the outage was detected (``watch`` starting the run), ISO 8601 UTC
    detected_at: str | None = None
    #: the run's own site, as ``site_change.journaled`` keeps it (None for runs started before 1.1)
    site: dict[str, Any] | None = None
    #: keys this version does not know, kept exactly as they were read
    other: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSettings:
        """The settings stored as ``data``; runs journaled before 1.1 kept only the approved step ids
        (``approved``): each becomes an approval by "unknown"."""
        approvals = [Approval(**entry) for entry in data.get("approvals") or [] if isinstance(entry, dict)]
        recorded = {a.step for a in approvals}
        legacy = [step for step in data.get("approved") or [] if step not in recorded]
        approvals += [Approval(step, "unknown", "--approve", "") for step in legacy]
        return cls(
            accept_rpo_breach=bool(data.get("accept_rpo_breach")),
            approvals=tuple(approvals),
            objectives=data.get("objectives"),
            detected_at=data.get("detected_at"),
            site=data.get("site"),
            other={k: v for k, v in data.items() if k not in _SETTINGS_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form (``from_json`` reversed; absent values are left out)."""
        data: dict[str, Any] = {
            **self.other,
            "accept_rpo_breach": self.accept_rpo_breach,
            "approvals": [a.as_dict() for a in self.approvals],
        }
        optional = {"objectives": self.objectives, "detected_at": self.detected_at, "site": self.site}
        return data | {k: v for k, v in optional.items() if v is not None}

    def with_approvals(self, added: Sequence[Approval]) -> RunSettings:
        return replace(self, approvals=(*self.approvals, *added))

    def with_site(self, site: dict[str, Any]) -> RunSettings:
        return replace(self, site=site)


@dataclass
class RunRecord:
    run_id: str
    kind: str
    site: str
    site_file: str
    runbook: dict[str, Any]
    settings: RunSettings = field(default_factory=RunSettings)
    status: RunStatus = RunStatus.RUNNING
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    resumes: int = 0

    @property
    def options(self) -> dict[str, Any]:
        """The settings in their stored JSON form (read-only; prefer ``settings``)."""
        return self.settings.to_json()


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
