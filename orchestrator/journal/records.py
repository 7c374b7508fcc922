"""What the journal stores: the run, its steps, a site lock's holder and the lock itself."""

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
