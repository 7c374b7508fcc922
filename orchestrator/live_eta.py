"""The ETA of a run in progress, for the status page and the milestone messages: ``eta_source`` builds the
``Callable[[], Eta | None]`` they call, from the journal in use (drill history, the run's DAG and step
states) and the restore's live byte progress (``RestoreProgress``, an engine observer).

Wiring (in ``app.py``, where a run's engine is built)::

    progress = RestoreProgress(settings.clock)
    observer = chain_observers(observer_factory(book), progress)   # the engine's observer
    eta = eta_source(journal, run_id, settings.clock, progress)    # hand to the publisher
    ...
    eta()  # at each milestone: an Eta, or None ("no estimate yet — run a drill")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from orchestrator.clock import Clock
from orchestrator.engine import Observer
from orchestrator.eta import DEFAULT_DRILLS, ByteProgress, Eta, StepHistory, estimate
from orchestrator.history import entry_of
from orchestrator.journal.protocols import Journal
from orchestrator.model import EventName
from orchestrator.runbook import Runbook, runbook_from_dict

#: the step kind whose live byte progress gives its ETA
RESTORE_KIND = "backup.restore"


class RestoreProgress:
    """An engine observer that keeps each step's latest restore byte progress, stamped with the run's
    clock (the pipeline reports it a few times a second; the ETA reads the latest)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._latest: dict[str, tuple[dict[str, Any], datetime]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: str, step_id: str | None, fields: dict[str, object]) -> None:
        if event == EventName.STEP_PROGRESS and step_id and fields.get("bytes_total"):
            with self._lock:
                self._latest[step_id] = (dict(fields), self.clock.now())

    def live(self, book: Runbook) -> dict[str, ByteProgress]:
        """Step id -> the byte progress that step waits for, for each restore step with progress. With
        tiers, each tier's progress goes to its own step's row (``TieredRestore.watch``): a critical step
        waits for the critical bytes, a bulk step for the bulk's; a restore step that has not reported yet
        is timed by the drills."""
        with self._lock:
            latest = dict(self._latest)
        return {step.id: _progress_of(*latest[step.id]) for step in book.steps
                if step.uses == RESTORE_KIND and step.id in latest}


def _progress_of(fields: dict[str, Any], at: datetime) -> ByteProgress:
    done, total = int(fields.get("bytes_done") or 0), int(fields["bytes_total"])
    return ByteProgress(done, total, float(fields.get("bytes_per_second") or 0), at)


def chain_observers(*observers: Observer | None) -> Observer | None:
    """One observer calling each given one in turn (None ones skipped); None when none is given."""
    present = [o for o in observers if o is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def each(event: str, step_id: str | None, fields: dict[str, object]) -> None:
        for observer in present:
            observer(event, step_id, fields)

    return each


def eta_source(
    journal: Journal,
    run_id: str,
    clock: Clock,
    progress: RestoreProgress | None = None,
    last: int = DEFAULT_DRILLS,
) -> Callable[[], Eta | None]:
    """The ETA of ``run_id`` as a function of no argument, for the status page and milestone messages.

    Each call reads the run's step states from ``journal`` (SQLite or the team-mode table: whichever the
    run uses) and estimates with ``orchestrator.eta.estimate`` at ``clock.now()``, with the restore's
    live byte progress from ``progress`` (the ``RestoreProgress`` observer given to the engine; without
    it, running restores are timed by the drills). The runbook and the drill history (the run site's last
    ``last`` drills) are read once, on the first call: they do not change during a run.

    Returns None when there is no estimate (no drill history, a run rolling back), and also when the
    journal cannot be read at that moment (logged as ``eta.unavailable``): an ETA never fails or slows
    the run, and a later call tries again.
    """
    cached: dict[str, Any] = {}
    log = structlog.get_logger("orchestrator").bind(run_id=run_id)

    def current() -> Eta | None:
        try:
            if not cached:
                run = journal.get_run(run_id)
                cached["book"] = runbook_from_dict(run.runbook)
                cached["history"] = StepHistory.from_drills(map(entry_of, journal.drills(run.site, last)), last)
            book: Runbook = cached["book"]
            records = {r.step_id: r for r in journal.get_steps(run_id)}
            live = progress.live(book) if progress is not None else {}
            return estimate(book, records, cached["history"], clock.now(), live)
        except Exception as exc:  # the ETA is a courtesy: never the reason a milestone is not sent
            log.warning("eta.unavailable", error=f"{type(exc).__name__}: {exc}")
            return None

    return current
