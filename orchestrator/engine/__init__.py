"""Run a runbook's DAG: parallel ready steps, retries, timeouts, approvals, journal, resume, rollback.

The engine knows nothing about AWS: steps reach the world through ``services``, time through the
injected ``clock``, the journal through the ``Journal`` interface. Its parts:

- ``core``: ``Engine`` (the public API: ``create``, ``run``, ``cancel``, ``close``) and the DAG loop;
- ``state``: the per-run state, one object created at run start;
- ``scheduler``: the ready set (dependencies, topological order);
- ``runner``: one step's context and attempts (verify, apply, verify; retries; deadline);
- ``gates``: approval gates behind a small interface;
- ``compensation``: rollback in reverse completion order;
- ``events``: journal, log and display of every event.
"""

from orchestrator.engine.core import Engine, Outcome, new_step_records
from orchestrator.engine.events import Notifier, Observer
from orchestrator.engine.gates import Approver, GateRequest
from orchestrator.errors import FatalError
from orchestrator.model import RERUNNABLE

__all__ = [
    "RERUNNABLE",
    "Approver",
    "Engine",
    "FatalError",
    "GateRequest",
    "Notifier",
    "Observer",
    "Outcome",
    "new_step_records",
]
