"""What every part of ``SqliteJournal`` shares: the guarded connection, the lock around it, the file."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.journal.records import RunNotFound
from orchestrator.journal.sqlite.db import GuardedDb


class SqliteBase:
    """The state the parts of ``SqliteJournal`` (runs, events, outbox, lock, rescue) share."""

    path: Path
    #: why the journal file no longer guards anything (removed or replaced under the run), else None
    lost: str | None
    _lock: threading.RLock
    _db: GuardedDb

    def _not_found(self, run_id: str) -> RunNotFound:
        return RunNotFound(f"no run {run_id!r} in this journal", source=str(self.path))
