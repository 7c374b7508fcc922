"""The SQLite connection's edge: errors translated (``JournalDamaged``, ``JournalBusy``), every write checked
against a journal file removed or replaced under it, the state dir prepared and taken in turns when opened."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput, LockHeld

#: how long a journal write (or opening the journal) waits for another process's write to finish
BUSY_TIMEOUT_SECONDS = 15.0

#: a row as sqlite3 returns it (columns of any SQLite type)
Row = tuple[Any, ...]

#: statements that change the journal file (checked against a removed or replaced file first)
_WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN", "REPLACE")


class JournalDamaged(InvalidInput):
    """The journal file cannot be read as a journal (garbage, damaged pages, another program's file).

    Never repaired or overwritten by the orchestrator: the message says what the operator can do."""

    def __init__(self, path: Path | str, cause: str):
        super().__init__(
            f"the journal {path} is damaged ({cause}); it was left exactly as it is. Runs recorded in it cannot "
            f"be read or resumed until it is repaired: restore it from a backup, or try "
            f"`sqlite3 {path} .recover | sqlite3 {path}.recovered` and move the result in its place. "
            f"To start afresh instead, move it aside (with its -wal and -shm files): "
            f"`mv {path} {path}.damaged`"
        )
        self.source = str(path)


class JournalBusy(LockHeld):
    """Another process kept the journal locked past the busy timeout (exit 3, like a held site lock)."""


class Rows:
    """Rows read eagerly inside the error translation (a damaged page can fail on any fetch)."""

    def __init__(self, rows: list[Row], rowcount: int):
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)


class GuardedDb:
    """The SQLite connection with its errors translated at the edge: a damaged file becomes
    ``JournalDamaged`` (exit 2), a busy timeout ``JournalBusy`` (exit 3), a file that cannot be opened or
    written ``InvalidInput`` naming it; every write first checks the file is still the one opened."""

    def __init__(self, conn: sqlite3.Connection, path: Path, before_write: Callable[[], None]):
        self._conn, self._path, self._before_write = conn, path, before_write

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> Rows:
        if sql.lstrip().upper().startswith(_WRITES):
            self._before_write()
        with self._translated():
            cursor = self._conn.execute(sql, args)
            return Rows(cursor.fetchall(), cursor.rowcount)

    def executescript(self, script: str) -> None:
        with self._translated():
            self._conn.executescript(script)

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE (the write lock, at once) ... COMMIT; ROLLBACK on any error."""
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.execute("COMMIT")

    def backup(self, target: sqlite3.Connection) -> None:
        with self._translated():
            self._conn.backup(target)

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # our bug, not the file's
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise JournalBusy(
                    f"the journal {self._path} stayed locked by another process for "
                    f"{BUSY_TIMEOUT_SECONDS:.0f} s ({text})"
                ) from None
            if any(word in text for word in ("unable to open", "readonly", "disk I/O", "full")):
                raise InvalidInput(f"cannot use the journal: {text}", source=str(self._path)) from None
            raise JournalDamaged(self._path, text) from None
        except sqlite3.DatabaseError as exc:
            raise JournalDamaged(self._path, str(exc)) from None


def connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise InvalidInput(f"cannot open the journal: {exc}", source=str(path)) from None


@contextlib.contextmanager
def decoding(path: Path) -> Iterator[None]:
    """JSON columns that do not decode: the file's content was damaged (SQLite has no page checksums)."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise JournalDamaged(path, f"a record does not decode: {exc.__class__.__name__}") from None


def prepare_state_dir(folder: Path) -> None:
    """Create the state dir; InvalidInput naming it when it cannot be one (a file, /dev/null, no access)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput("cannot use it as the state directory: not a directory", source=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot use it as the state directory: {exc.strerror or exc}", source=str(folder)) from None


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """An exclusive flock on the state dir itself while the journal is opened and its schema created:
    SQLite may answer "database is locked" at once, without waiting, when two connections create the
    schema or switch to WAL together (a deadlock it refuses to wait for), so openers take turns."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise JournalBusy(
                        f"the journal {folder / 'journal.sqlite'} is being opened by another process "
                        f"for more than {BUSY_TIMEOUT_SECONDS:.0f} s"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the flock


def identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def identity_or_none(path: Path) -> tuple[int, int] | None:
    try:
        return identity(path)
    except OSError:
        return None
