"""Approvals belong to the run: who approved which gated step, how, and when.

``--yes`` / ``--approve STEP`` given when a run starts, answers at the prompt and ``resume --approve`` /
``--yes`` are all kept in the run's journal record (``RunSettings.approvals``, both backends) before the
engine moves on, so a resume, on this machine or another in team mode, never asks again for what was
approved. The report lists them as the contract's ``{step, by, source, at}``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: the step of an approval that covers every gated step (``--yes``)
EVERY_STEP = "*"


@dataclass(frozen=True)
class Approval:
    step: str  # a step id, or EVERY_STEP
    by: str  # the OS user who gave it
    source: str  # "--yes at start", "--approve at start", "prompt", "resume --yes", "resume --approve", "drill",
    # "approve" (``orchestrator approve`` from any terminal)
    at: str  # ISO 8601 UTC
    #: the machine it was given on (``orchestrator approve`` and the prompt; None for older records)
    host: str | None = None
    #: how long the run waited at the gate for this decision (0 when it was given before the gate was reached)
    waited_seconds: float = 0.0

    def covers(self, step_id: str) -> bool:
        return self.step in (EVERY_STEP, step_id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def operator() -> str:
    """Who is answering: the OS user (``SUDO_USER`` first: the person behind a sudo)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return os.environ.get("SUDO_USER") or user


def host() -> str:
    """Where a decision is given: this machine's name."""
    import socket

    return socket.gethostname() or "unknown"


def from_flags(steps: tuple[str, ...] | list[str], yes: bool, when: str, at: str) -> list[Approval]:
    """The approvals that ``--yes`` / ``--approve STEP`` stand for; ``when`` is "start" or "resume"."""
    by = operator()
    out = [Approval(EVERY_STEP, by, f"--yes at {when}" if when == "start" else "resume --yes", at)] if yes else []
    source = "--approve at start" if when == "start" else "resume --approve"
    return out + [Approval(step, by, source, at) for step in sorted(set(steps))]


def dump(approvals: Sequence[Approval]) -> list[dict[str, Any]]:
    return [a.as_dict() for a in approvals]


def find(approvals: Sequence[Approval], step_id: str) -> Approval | None:
    """The first approval covering ``step_id`` (a named one wins over ``--yes``)."""
    named = [a for a in approvals if a.step == step_id]
    return next(iter(named or [a for a in approvals if a.covers(step_id)]), None)
