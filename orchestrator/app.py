"""The former home of the use cases, kept as an import path: everything moved to ``orchestrator.usecases``
(``Orchestrator(settings)``) and ``orchestrator.settings``. ``start`` keeps its old shape for callers that
run a whole failover in-process (tests, benchmarks, the watcher's staged failover)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.engine import Approver, Outcome
from orchestrator.runbook import load_runbook
from orchestrator.settings import Settings, state_dir_from_env
from orchestrator.site import load_site
from orchestrator.usecases.orchestrator import Orchestrator
from orchestrator.usecases.plan import (
    DEFAULT_RUNBOOKS,
    default_runbook,
    half_done_failovers,
    left_out_detail,
    run_runbook,
    runbook_file,
)
from orchestrator.usecases.records import RunRequest
from orchestrator.usecases.runs import ObserverFactory
from orchestrator.usecases.session import build_services, has_local_journal, open_journal

__all__ = [
    "DEFAULT_RUNBOOKS", "ObserverFactory", "RunRequest", "Settings", "build_services", "default_runbook",
    "half_done_failovers", "has_local_journal", "left_out_detail", "load_runbook", "load_site", "open_journal",
    "run_runbook", "runbook_file", "start", "state_dir_from_env",
]


def start(
    settings: Settings, request: RunRequest, approver: Approver, observer_factory: ObserverFactory
) -> tuple[Outcome, Path | None]:
    """A new run, executed to its report: ``Orchestrator(settings).start`` as (outcome, report folder)."""
    result = Orchestrator(settings).start(request, approver, observer_factory)
    return result.outcome, result.folder
