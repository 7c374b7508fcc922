"""``SqliteJournal``: the journal in the state dir (one machine), made of its parts (runs, events, outbox,
lock, rescue), each a module of this package."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

from orchestrator.journal.hostlock import ResourceClaims
from orchestrator.journal.sqlite import schema
from orchestrator.journal.sqlite.db import GuardedDb, connect, exclusive, identity, identity_or_none, prepare_state_dir
from orchestrator.journal.sqlite.events import SqliteEvents
from orchestrator.journal.sqlite.lock import SqliteSiteLock
from orchestrator.journal.sqlite.outbox import SqliteOutbox
from orchestrator.journal.sqlite.rescue import SqliteRescue
from orchestrator.journal.sqlite.runs import SqliteRuns


class SqliteJournal(SqliteRuns, SqliteEvents, SqliteOutbox, SqliteSiteLock, SqliteRescue):
    """The journal in ``STATE_DIR/journal.sqlite`` (WAL; every write committed before returning).

    Opening checks that the file is a readable journal (``JournalDamaged`` otherwise, never
    overwriting it) and creates the schema under an exclusive lock of the state dir, so that two
    orchestrators starting at the same moment on a fresh state dir both succeed. Every write checks
    that the file at ``path`` is still the one opened: a journal removed or replaced under a run is
    reported through ``on_lost`` (the engine's cancel) and ``lost``, and ``rescue`` saves it.
    """

    @staticmethod
    def exists_in(state_dir: str | Path) -> bool:
        return (Path(state_dir) / "journal.sqlite").exists()

    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / "journal.sqlite"
        self._lock = threading.RLock()
        self.lost = None
        self.on_lost: Callable[[], None] | None = None
        self._host_locks: dict[str, socket.socket] = {}
        self._claims: dict[str, ResourceClaims] = {}
        prepare_state_dir(self.path.parent)
        with exclusive(self.path.parent):
            self._db = GuardedDb(connect(self.path), self.path, self._check_identity)
            self._identity: tuple[int, int] | None = None
            schema.initialise(self._db, self.path)
            self._identity = identity(self.path)
            self._wal_identity = identity_or_none(self._wal)
            self._shm_identity = identity_or_none(self._shm)

    def _check_identity(self) -> None:
        """Called before each write: is the file at ``path`` still the one this connection writes to?"""
        if self.lost is not None or self._identity is None:
            return
        try:
            now: tuple[int, int] | None = identity(self.path)
        except OSError:
            now = None
        if now == self._identity:
            return
        how = "removed" if now is None else "replaced by another file"
        self.lost = f"the journal {self.path} was {how} while this orchestrator was writing to it"
        if self.on_lost is not None:
            self.on_lost()

    def _open_again(self) -> SqliteJournal:
        return SqliteJournal(self.path.parent)

    def close(self) -> None:
        with self._lock:
            self._release_host_locks()
            self._db.close()
