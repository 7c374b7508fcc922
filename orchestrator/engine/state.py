"""The state of one run while the engine executes it: created whole at run start, one object."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from orchestrator.approvals import Approval
from orchestrator.journal.records import StepRecord
from orchestrator.logs import Log
from orchestrator.runbook import Runbook
from orchestrator.steps.base import RunOptions, StepContext


@dataclass
class RunState:
    """What the parts of the engine share about the run in progress (never outlives ``Engine.run``)."""

    run_id: str
    book: Runbook
    options: RunOptions
    #: step id -> its journal record, updated in place and saved after every change
    records: dict[str, StepRecord]
    #: the approvals recorded with the run (and those given since it started)
    approvals: list[Approval]
    #: the run's logger (``run_id`` bound)
    log: Log
    #: clock.monotonic() when this execution began (milestones report the elapsed time from it)
    started_mono: float
    #: when the run started (ISO 8601; a resumed run keeps its original start)
    started_at: str | None
    #: the context of each step launched in this execution (its state is journaled when it ends)
    contexts: dict[str, StepContext] = field(default_factory=dict)
    #: completion order of succeeded steps (compensation runs in reverse)
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: guards records shared by the step threads and the scheduler
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: real monotonic time the cancel was noticed (running steps get a grace from then)
    cancelled_at: float | None = None
