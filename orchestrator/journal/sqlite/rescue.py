"""A journal file removed or replaced under a run: what the still-open connection holds is saved."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from orchestrator.errors import InvalidInput
from orchestrator.journal.sqlite import schema
from orchestrator.journal.sqlite.base import SqliteBase
from orchestrator.journal.sqlite.db import identity_or_none

_OUTBOX = ",".join(schema.OUTBOX_COLUMNS)


class SqliteRescue(SqliteBase):
    _wal_identity: tuple[int, int] | None
    _shm_identity: tuple[int, int] | None

    @property
    def _wal(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    @property
    def _shm(self) -> Path:
        return self.path.with_name(self.path.name + "-shm")

    def _open_again(self) -> SqliteRescue:
        """A journal opened on the file now at ``path`` (``SqliteJournal`` gives itself)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def rescue(self) -> str:
        """Save this connection's journal (its file was removed or replaced; the connection still reads
        it through its open files) and close it: put it back at ``path`` when nothing is there, else
        merge its runs into the journal now there, else keep it as ``path.rescued-STAMP``. Returns what
        was done, for the operator. The journal cannot be used afterwards."""
        copy = self.path.with_name(f"{self.path.name}.rescued-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        copy.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, contextlib.closing(sqlite3.connect(copy)) as target:
            self._db.backup(target)
            self._db.close()
        # our -wal and -shm left next to another journal file: SQLite would replay that WAL into it as if it
        # were its own (its content is in the copy now)
        for path, mine in ((self._wal, self._wal_identity), (self._shm, self._shm_identity)):
            if mine is not None and identity_or_none(path) == mine:
                path.unlink()
        try:
            os.link(copy, self.path)
        except FileExistsError:
            return self._merge_into_current(copy)
        except OSError as exc:
            return f"its content was saved as {copy} ({exc.strerror} when putting it back)"
        copy.unlink()
        return f"its content was put back at {self.path}"

    def _merge_into_current(self, copy: Path) -> str:
        """Add the rescued runs (and their steps, events, drills) that the journal now at ``path`` lacks."""
        try:
            current = self._open_again()
            try:
                current.merge_from(copy)
            finally:
                current.close()
        except (InvalidInput, sqlite3.Error) as exc:
            return f"its content was saved as {copy} (could not merge it into the new {self.path}: {exc})"
        copy.unlink()
        return f"its runs were merged into the journal now at {self.path}"

    def merge_from(self, other: Path) -> None:
        with self._lock:
            self._db.execute("ATTACH DATABASE ? AS rescued", (str(other),))
            try:
                with self._db.transaction():
                    self._merge_new_runs()
            finally:
                self._db.execute("DETACH DATABASE rescued")

    def _merge_new_runs(self) -> None:
        self._db.execute(
            "CREATE TEMP TABLE new_runs AS SELECT run_id FROM rescued.runs "
            "WHERE run_id NOT IN (SELECT run_id FROM main.runs)"
        )
        for table in ("runs", "steps"):
            self._db.execute(
                f"INSERT INTO main.{table} SELECT * FROM rescued.{table} "  # noqa: S608
                "WHERE run_id IN (SELECT run_id FROM new_runs)"
            )
        self._db.execute(
            "INSERT INTO main.events (run_id, at, step_id, event, fields) SELECT run_id, "
            "at, step_id, event, fields FROM rescued.events WHERE run_id IN "
            "(SELECT run_id FROM new_runs) ORDER BY id"
        )
        self._db.execute("INSERT OR IGNORE INTO main.drills SELECT * FROM rescued.drills")
        self._db.execute(
            f"INSERT OR IGNORE INTO main.outbox ({_OUTBOX}) SELECT {_OUTBOX} FROM rescued.outbox "  # noqa: S608
            "WHERE run_id IN (SELECT run_id FROM new_runs)"
        )
        self._db.execute("DROP TABLE new_runs")
