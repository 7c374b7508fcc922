"""The journal's interfaces, narrow so that each caller types against what it uses.

``SqliteJournal`` and ``DynamoJournal`` implement all of them; ``Journal`` is their sum, for the engine and
the app, which create runs, journal events, hold the site lock and record drills.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from orchestrator.approvals import Approval
from orchestrator.journal.records import Holder, LockInfo, OutboxEntry, RunRecord, StepRecord
from orchestrator.model import EventRecord, RunStatus


class RunStore(Protocol):
    """Runs and their steps.

    A run changes only through the explicit writes below, each changing only what it names (a concurrent
    writer's other fields survive); each raises ``RunNotFound`` for a run the journal does not hold."""

    def create_run(self, run: RunRecord, steps: list[StepRecord]) -> None: ...
    def get_run(self, run_id: str) -> RunRecord: ...

    def mark_running(self, run_id: str, *, resumed: bool = False) -> None:
        """The run is running again: no end, no error; ``resumed`` counts one more resume."""
        ...

    def finish(self, run_id: str, status: RunStatus, finished_at: str, error: str | None) -> None:
        """The run ended (or stopped resumably) with ``status`` at ``finished_at``."""
        ...

    def set_error(self, run_id: str, error: str) -> None:
        """Why the run stopped, said after its end (e.g. its journal file was lost under it)."""
        ...

    def add_approvals(self, run_id: str, approvals: Sequence[Approval]) -> None:
        """Append ``approvals`` to the run's settings (kept with the run: a resume honours them)."""
        ...

    def replace_site(self, run_id: str, site: dict[str, Any]) -> None:
        """The run's own site is now ``site`` (``site_change.journaled``): a resume allowed a change."""
        ...

    def list_runs(self, limit: int = 20, site: str | None = None) -> list[RunRecord]: ...
    def get_steps(self, run_id: str) -> list[StepRecord]: ...
    def save_step(self, step: StepRecord) -> None: ...


class EventLog(Protocol):
    """A run's timeline, in the order it was written."""

    def add_event(self, run_id: str, at: str, event: str, step_id: str | None, fields: dict[str, Any]) -> None: ...
    def get_events(self, run_id: str) -> list[dict[str, Any]]: ...
    def event_records(self, run_id: str) -> list[EventRecord]: ...


class SiteLock(Protocol):
    """One live run per site, and per resource a run may change (``resources``: the keys of
    ``orchestrator.site_resources``, claimed with the site lock, all or none, released with it). A dead
    holder's lock is taken over: see ``orchestrator.journal.lease``."""

    def acquire_lock(
        self, site: str, holder: Holder, now: datetime, resources: Sequence[str] = ()
    ) -> LockInfo | None: ...
    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool: ...
    def release_lock(self, site: str, holder: Holder) -> None: ...
    def current_lock(self, site: str) -> LockInfo | None: ...


class DrillHistory(Protocol):
    """The entries of finished drills, newest first."""

    def record_drill(self, entry: dict[str, Any]) -> None: ...
    def drills(self, site: str | None, limit: int) -> list[dict[str, Any]]: ...


class Outbox(Protocol):
    """Notifications written before they are sent and marked sent after (``OutboxEntry``)."""

    def add_outbox(self, entry: OutboxEntry) -> None:
        """Journal ``entry``; an entry of the same id already there is kept as it is."""
        ...

    def outbox(self, run_id: str) -> list[OutboxEntry]:
        """Every entry of the run, in the order they were created."""
        ...

    def claim_outbox(
        self, run_id: str, entry_id: str, claimer: str, now: str, until: str, stale: str | None = None
    ) -> bool:
        """Take the entry for sending, atomically across processes and machines: it becomes ``claimer``'s
        until ``until`` (ISO 8601 UTC) only while it is pending and unclaimed, or its claim ran out
        (``claimed_until`` < ``now``), or it is already ``claimer``'s, or its claimer is ``stale`` (one known
        dead). True when taken: the caller sends it, then ``mark_sent``."""
        ...

    def mark_sent(self, run_id: str, entry_id: str, at: str, receipt: str | None) -> None: ...


class RunReader(Protocol):
    """What a report reads: a run, its steps and its events."""

    def get_run(self, run_id: str) -> RunRecord: ...
    def get_steps(self, run_id: str) -> list[StepRecord]: ...
    def get_events(self, run_id: str) -> list[dict[str, Any]]: ...
    def event_records(self, run_id: str) -> list[EventRecord]: ...


class Journal(RunStore, EventLog, SiteLock, DrillHistory, Outbox, Protocol):
    """All of the journal, and its end."""

    def close(self) -> None: ...
