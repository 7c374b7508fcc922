"""The journal in the state dir (one machine): ``SqliteJournal``.

It implements every interface of ``orchestrator.journal.protocols``; ``orchestrator.journal.dynamodb`` is
the same on a DynamoDB table (team mode).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.clock import iso
from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.hostlock import HostLock, HostLockBusy, ResourceBusy, ResourceClaims
from orchestrator.journal.lease import describe_busy, describe_lock, lock_alive
from orchestrator.journal.records import Holder, LockInfo, OutboxEntry, RunNotFound, RunRecord, StepRecord
from orchestrator.model import EventRecord, RunStatus, StepStatus

#: how long a journal write (or opening the journal) waits for another process's write to finish
BUSY_TIMEOUT_SECONDS = 15.0


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT, site TEXT, site_file TEXT, runbook TEXT, options TEXT,
    status TEXT, started_at TEXT, finished_at TEXT, error TEXT, resumes INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT, step_id TEXT, uses TEXT, owner TEXT, status TEXT, attempts INTEGER,
    started_at TEXT, finished_at TEXT, duration_seconds REAL, error TEXT, state TEXT, seq INTEGER,
    phase TEXT, applied INTEGER, ord INTEGER, PRIMARY KEY (run_id, step_id));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, at TEXT, step_id TEXT, event TEXT, fields TEXT);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, id);
CREATE TABLE IF NOT EXISTS locks (
    site TEXT PRIMARY KEY, run_id TEXT, host TEXT, pid INTEGER, pid_start TEXT,
    acquired_at TEXT, heartbeat_at TEXT);
CREATE TABLE IF NOT EXISTS drills (
    run_id TEXT PRIMARY KEY, site TEXT, finished_at TEXT, entry TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    entry_id TEXT PRIMARY KEY, run_id TEXT, channel TEXT, milestone TEXT, created_at TEXT, fields TEXT,
    seq INTEGER, sent_at TEXT, receipt TEXT, claimed_by TEXT, claimed_until TEXT);
CREATE INDEX IF NOT EXISTS outbox_run ON outbox(run_id, seq);
"""

_OUTBOX_COLUMNS = (
    "entry_id", "run_id", "channel", "milestone", "created_at", "fields", "seq", "sent_at", "receipt",
    "claimed_by", "claimed_until",
)
#: outbox columns added after the table's first release (a journal written before gets them when opened)
_OUTBOX_ADDED = ("claimed_by", "claimed_until")

_STEP_COLUMNS = (
    "run_id",
    "step_id",
    "uses",
    "owner",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "duration_seconds",
    "error",
    "state",
    "seq",
    "phase",
    "applied",
)


class SqliteJournal:
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
        self.lost: str | None = None
        self.on_lost: Callable[[], None] | None = None
        self._host_locks: dict[str, socket.socket] = {}
        self._claims: dict[str, ResourceClaims] = {}
        _prepare_state_dir(self.path.parent)
        with _exclusive(self.path.parent):
            conn = self._connect()
            self._db = _GuardedDb(conn, self.path, self._check_identity)
            self._identity: tuple[int, int] | None = None
            self._initialise()
            self._identity = _identity(self.path)
            self._wal_identity = _identity_or_none(self._wal)
            self._shm_identity = _identity_or_none(self._shm)

    @property
    def _wal(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    @property
    def _shm(self) -> Path:
        return self.path.with_name(self.path.name + "-shm")

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise InvalidInput(f"cannot open the journal: {exc}", source=str(self.path)) from None

    def _initialise(self) -> None:
        """WAL mode and the schema, after checking that the file is ours and undamaged (quick_check)."""
        self._db.execute("PRAGMA synchronous=NORMAL")
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "runs" not in tables:
            raise JournalDamaged(self.path, f"it is an SQLite file of another program: tables {sorted(tables)[:5]}")
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise JournalDamaged(self.path, " ".join(" ".join(problems).split()))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        for column in _OUTBOX_ADDED:
            if column not in columns:  # under the state dir's exclusive lock: one opener adds it
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")

    def _check_identity(self) -> None:
        """Called before each write: is the file at ``path`` still the one this connection writes to?"""
        if self.lost is not None or self._identity is None:
            return
        try:
            now = _identity(self.path)
        except OSError:
            now = None
        if now == self._identity:
            return
        how = "removed" if now is None else "replaced by another file"
        self.lost = f"the journal {self.path} was {how} while this orchestrator was writing to it"
        if self.on_lost is not None:
            self.on_lost()

    # ---------------------------------------------------------------- runs
    def create_run(self, run: RunRecord, steps: list[StepRecord]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        run.run_id,
                        run.kind,
                        run.site,
                        run.site_file,
                        json.dumps(run.runbook),
                        json.dumps(run.options),
                        run.status,
                        run.started_at,
                        run.finished_at,
                        run.error,
                        run.resumes,
                    ),
                )
                for order, step in enumerate(steps):
                    self._db.execute(
                        f"INSERT INTO steps VALUES ({','.join('?' * (len(_STEP_COLUMNS) + 1))})",  # noqa: S608
                        (*self._step_row(step), order),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in this journal", source=str(self.path))
        with _decoding(self.path):
            return self._run(row)

    def update_run(self, run_id: str, **fields: Any) -> None:
        for key in ("runbook", "options"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        sets = ", ".join(f"{k}=?" for k in fields)
        with self._lock:
            self._db.execute(f"UPDATE runs SET {sets} WHERE run_id=?", (*fields.values(), run_id))  # noqa: S608

    def list_runs(self, limit: int = 20, site: str | None = None) -> list[RunRecord]:
        query = "SELECT * FROM runs"
        args: tuple[str, ...] = ()
        if site:
            query += " WHERE site=?"
            args = (site,)
        query += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        with _decoding(self.path):
            return [self._run(r) for r in rows]

    @staticmethod
    def _run(row: _Row) -> RunRecord:
        return RunRecord(
            run_id=row[0],
            kind=row[1],
            site=row[2],
            site_file=row[3],
            runbook=json.loads(row[4]),
            options=json.loads(row[5]),
            status=RunStatus(row[6]),
            started_at=row[7],
            finished_at=row[8],
            error=row[9],
            resumes=row[10] or 0,
        )

    # ---------------------------------------------------------------- steps
    def get_steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {','.join(_STEP_COLUMNS)} FROM steps WHERE run_id=? ORDER BY ord",  # noqa: S608
                (run_id,),
            ).fetchall()
        out = []
        for row in rows:
            data = dict(zip(_STEP_COLUMNS, row, strict=True))
            with _decoding(self.path):
                data["state"] = json.loads(data["state"] or "{}")
                data["status"] = StepStatus(data["status"])
            data["applied"] = bool(data["applied"])
            out.append(StepRecord(**data))
        return out

    def save_step(self, step: StepRecord) -> None:
        sets = ", ".join(f"{c}=?" for c in _STEP_COLUMNS[2:])
        with self._lock:
            self._db.execute(
                f"UPDATE steps SET {sets} WHERE run_id=? AND step_id=?",  # noqa: S608
                (*self._step_row(step)[2:], step.run_id, step.step_id),
            )

    @staticmethod
    def _step_row(step: StepRecord) -> tuple[Any, ...]:
        data = asdict(step)
        data["state"] = json.dumps(data["state"], default=str)
        data["applied"] = int(data["applied"])
        return tuple(data[c] for c in _STEP_COLUMNS)

    # ---------------------------------------------------------------- events
    def add_event(self, run_id: str, at: str, event: str, step_id: str | None, fields: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO events (run_id, at, step_id, event, fields) VALUES (?,?,?,?,?)",
                (run_id, at, step_id, event, json.dumps(fields, default=str)),
            )

    def get_events(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, step_id, event, fields FROM events WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        with _decoding(self.path):
            return [{"at": r[0], "step": r[1], "event": r[2], **json.loads(r[3])} for r in rows]

    def event_records(self, run_id: str) -> list[EventRecord]:
        """The run's events as records: each one's step id kept apart from its fields."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, step_id, event, fields FROM events WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        with _decoding(self.path):
            return [EventRecord.of(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    # ---------------------------------------------------------------- lock
    def acquire_lock(
        self, site: str, holder: Holder, now: datetime, resources: Sequence[str] = ()
    ) -> LockInfo | None:
        """Take the site lock and claim ``resources`` (``orchestrator.site_resources``), all or none;
        returns the previous holder's info when a dead one was taken over.

        Raises LockHeld when a live run holds the site, or any of the resources. A holder on this host is
        dead when its PID is gone (or was reused); a holder on another host is dead when its heartbeat is
        older than the lease. This process, as holder, also binds a host lock that lives as long as it
        does (see ``HostLock``), so a lock row that vanished with the journal file never lets a second run
        in; and it claims the resources machine-wide (``ResourceClaims``: whatever state dir another run
        on this machine uses).
        """
        mine = holder.pid == os.getpid() and holder.host == socket.gethostname()
        if mine and site not in self._host_locks:
            self._host_locks[site] = self._bind_host_lock(site)
        try:
            if mine and resources:
                self._claim(site, holder, now, resources)
            return self._acquire_row(site, holder, now)
        except BaseException:
            if mine:
                self._drop_host_lock(site)
            raise

    def _acquire_row(self, site: str, holder: Holder, now: datetime) -> LockInfo | None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except JournalBusy:
                raise self._held_error(site, f"the journal stayed busy for {BUSY_TIMEOUT_SECONDS:.0f} s") from None
            try:
                row = self._db.execute("SELECT * FROM locks WHERE site=?", (site,)).fetchone()
                previous = None
                if row is not None:
                    current = LockInfo(row[0], Holder(row[1], row[2], row[3], row[4]), row[5], row[6])
                    if current.holder != holder:
                        if lock_alive(current, now):
                            raise LockHeld(describe_lock(current))
                        previous = current
                self._db.execute(
                    "INSERT OR REPLACE INTO locks VALUES (?,?,?,?,?,?,?)",
                    (site, holder.run_id, holder.host, holder.pid, holder.pid_start, iso(now), iso(now)),
                )
                self._db.execute("COMMIT")
                return previous
            except BaseException:
                self._db.rollback()
                raise

    def _bind_host_lock(self, site: str) -> socket.socket:
        """Bind this (state dir, site)'s abstract socket; LockHeld naming the live holder if it is bound."""
        key = f"{self.path.parent.resolve()}\0{site}"
        try:
            return HostLock.bind(key)
        except HostLockBusy as busy:
            raise self._held_error(site, busy.describe()) from None

    def _claim(self, site: str, holder: Holder, now: datetime, resources: Sequence[str]) -> None:
        """Claim the resources machine-wide; LockHeld naming the run (and its site) that holds one."""
        claims = self._claims.setdefault(site, ResourceClaims())
        where = f" --state-dir {shlex.quote(str(self.path.parent.resolve()))}"
        about = {"run_id": holder.run_id, "site": site, "host": holder.host, "pid": holder.pid,
                 "since": iso(now), "where": where}
        try:
            claims.claim(resources, about)
        except ResourceBusy as busy:
            raise LockHeld(describe_busy(busy, site)) from None

    def _drop_host_lock(self, site: str) -> None:
        sock = self._host_locks.pop(site, None)
        if sock is not None:
            sock.close()
        claims = self._claims.pop(site, None)
        if claims is not None:
            claims.release()

    def _held_error(self, site: str, detail: str) -> LockHeld:
        """LockHeld naming the holder as the journal records it (waiting briefly for a holder that has
        just bound its host lock to write its row), else as ``detail`` describes it."""
        deadline = time.monotonic() + 2.0
        while True:
            try:
                current = self.current_lock(site)
            except InvalidInput:
                current = None
            if current is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if current is not None:
            return LockHeld(describe_lock(current))
        return LockHeld(f"site {site!r} is locked by {detail}; the journal {self.path} holds no lock row for it")

    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE locks SET heartbeat_at=? WHERE site=? AND run_id=? AND pid=? AND host=?",
                (iso(now), site, holder.run_id, holder.pid, holder.host),
            )
            # a journal removed or replaced under the run: its lock row no longer guards anything
            return cur.rowcount == 1 and self.lost is None

    def release_lock(self, site: str, holder: Holder) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "DELETE FROM locks WHERE site=? AND run_id=? AND pid=? AND host=?",
                    (site, holder.run_id, holder.pid, holder.host),
                )
        finally:
            if holder.pid == os.getpid():
                self._drop_host_lock(site)

    def current_lock(self, site: str) -> LockInfo | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM locks WHERE site=?", (site,)).fetchone()
        return None if row is None else LockInfo(row[0], Holder(row[1], row[2], row[3], row[4]), row[5], row[6])

    # ---------------------------------------------------------------- drills
    def record_drill(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO drills VALUES (?,?,?,?)",
                (entry["run_id"], entry["site"], entry.get("finished_at"), json.dumps(entry)),
            )

    def drills(self, site: str | None, limit: int) -> list[dict[str, Any]]:
        args: tuple[str, ...]
        query, args = "SELECT entry FROM drills", ()
        if site:
            query, args = query + " WHERE site=?", (site,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY finished_at DESC LIMIT ?", (*args, limit)).fetchall()
        with _decoding(self.path):
            return [json.loads(r[0]) for r in rows]

    # ---------------------------------------------------------------- outbox
    def add_outbox(self, entry: OutboxEntry) -> None:
        row = {**asdict(entry), "fields": json.dumps(entry.fields, default=str)}
        with self._lock:
            self._db.execute(
                f"INSERT OR IGNORE INTO outbox ({','.join(_OUTBOX_COLUMNS)}) "  # noqa: S608
                f"VALUES ({','.join('?' * len(_OUTBOX_COLUMNS))})",
                tuple(row[c] for c in _OUTBOX_COLUMNS),
            )

    def outbox(self, run_id: str) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {','.join(_OUTBOX_COLUMNS)} FROM outbox WHERE run_id=? ORDER BY seq, rowid",  # noqa: S608
                (run_id,),
            ).fetchall()
        with _decoding(self.path):
            return [
                OutboxEntry(**{**dict(zip(_OUTBOX_COLUMNS, r, strict=True)), "fields": json.loads(r[5] or "{}")})
                for r in rows
            ]

    def claim_outbox(
        self, run_id: str, entry_id: str, claimer: str, now: str, until: str, stale: str | None = None
    ) -> bool:
        """One UPDATE, atomic across processes (SQLite's write lock): see ``protocols.Outbox.claim_outbox``."""
        with self._lock:
            rows = self._db.execute(
                "UPDATE outbox SET claimed_by=?, claimed_until=? WHERE run_id=? AND entry_id=? AND sent_at IS NULL AND "
                "(claimed_by IS NULL OR claimed_until IS NULL OR claimed_until < ? OR claimed_by=? OR claimed_by=?)",
                (claimer, until, run_id, entry_id, now, claimer, stale or claimer),
            )
        return rows.rowcount == 1

    def mark_sent(self, run_id: str, entry_id: str, at: str, receipt: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET sent_at=?, receipt=? WHERE run_id=? AND entry_id=?", (at, receipt, run_id, entry_id)
            )

    def close(self) -> None:
        with self._lock:
            for site in list(self._host_locks):
                self._drop_host_lock(site)
            self._db.close()

    # ---------------------------------------------------------------- a journal lost under a run
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
            if mine is not None and _identity_or_none(path) == mine:
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
            current = SqliteJournal(self.path.parent)
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
                self._db.execute("BEGIN IMMEDIATE")
                try:
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
                        f"INSERT OR IGNORE INTO main.outbox ({','.join(_OUTBOX_COLUMNS)}) "  # noqa: S608
                        f"SELECT {','.join(_OUTBOX_COLUMNS)} FROM rescued.outbox "
                        "WHERE run_id IN (SELECT run_id FROM new_runs)"
                    )
                    self._db.execute("DROP TABLE new_runs")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.rollback()
                    raise
            finally:
                self._db.execute("DETACH DATABASE rescued")


@contextlib.contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """JSON columns that do not decode: the file's content was damaged (SQLite has no page checksums)."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise JournalDamaged(path, f"a record does not decode: {exc.__class__.__name__}") from None


def _prepare_state_dir(folder: Path) -> None:
    """Create the state dir; InvalidInput naming it when it cannot be one (a file, /dev/null, no access)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput("cannot use it as the state directory: not a directory", source=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot use it as the state directory: {exc.strerror or exc}", source=str(folder)) from None


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
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


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _identity_or_none(path: Path) -> tuple[int, int] | None:
    try:
        return _identity(path)
    except OSError:
        return None


#: a row as sqlite3 returns it (columns of any SQLite type)
_Row = tuple[Any, ...]

#: statements that change the journal file (checked against a removed or replaced file first)
_WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN", "REPLACE")


class _Rows:
    """Rows read eagerly inside the error translation (a damaged page can fail on any fetch)."""

    def __init__(self, rows: list[_Row], rowcount: int):
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self) -> _Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[_Row]:
        return self._rows

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._rows)


class _GuardedDb:
    """The SQLite connection with its errors translated at the edge: a damaged file becomes
    ``JournalDamaged`` (exit 2), a busy timeout ``JournalBusy`` (exit 3), a file that cannot be opened or
    written ``InvalidInput`` naming it; every write first checks the file is still the one opened."""

    def __init__(self, conn: sqlite3.Connection, path: Path, before_write: Callable[[], None]):
        self._conn, self._path, self._before_write = conn, path, before_write

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> _Rows:
        if sql.lstrip().upper().startswith(_WRITES):
            self._before_write()
        with self._translated():
            cursor = self._conn.execute(sql, args)
            return _Rows(cursor.fetchall(), cursor.rowcount)

    def executescript(self, script: str) -> None:
        with self._translated():
            self._conn.executescript(script)

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

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

