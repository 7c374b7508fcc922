"""The durable journal: runs, steps, events, the run lock and drill history.

Every state change of a run or a step is written here *before* the engine moves on, so a run can be
resumed after the orchestrator itself dies. ``Journal`` is the interface; ``SqliteJournal`` keeps it
in the state dir (one machine). A DynamoDB backend (team mode) implements the same interface.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from orchestrator.clock import iso, parse_iso
from orchestrator.errors import InvalidInput, LockHeld

#: a lock whose holder has not heartbeaten for this long may be taken over (other hosts)
LEASE_SECONDS = 60.0


@dataclass
class RunRecord:
    run_id: str
    kind: str
    site: str
    site_file: str
    runbook: dict
    options: dict
    status: str = "running"
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    resumes: int = 0


@dataclass
class StepRecord:
    run_id: str
    step_id: str
    uses: str
    owner: str
    status: str = "pending"
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    error: str | None = None
    state: dict = field(default_factory=dict)
    seq: int = 0
    phase: str | None = None
    applied: bool = False


@dataclass
class Holder:
    """Who holds (or wants) a site lock."""

    run_id: str
    host: str
    pid: int
    pid_start: str

    @classmethod
    def me(cls, run_id: str) -> Holder:
        return cls(run_id, socket.gethostname(), os.getpid(), process_start(os.getpid()))


@dataclass
class LockInfo:
    site: str
    holder: Holder
    acquired_at: str
    heartbeat_at: str


class Journal(Protocol):
    def create_run(self, run: RunRecord, steps: list[StepRecord]) -> None: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def update_run(self, run_id: str, **fields) -> None: ...
    def list_runs(self, limit: int = 20, site: str | None = None) -> list[RunRecord]: ...
    def get_steps(self, run_id: str) -> list[StepRecord]: ...
    def save_step(self, step: StepRecord) -> None: ...
    def add_event(self, run_id: str, at: str, event: str, step_id: str | None, fields: dict) -> None: ...
    def get_events(self, run_id: str) -> list[dict]: ...
    def acquire_lock(self, site: str, holder: Holder, now: datetime) -> LockInfo | None: ...
    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool: ...
    def release_lock(self, site: str, holder: Holder) -> None: ...
    def current_lock(self, site: str) -> LockInfo | None: ...
    def record_drill(self, entry: dict) -> None: ...
    def drills(self, site: str | None, limit: int) -> list[dict]: ...
    def close(self) -> None: ...


def process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (guards against PID reuse); '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def holder_alive(holder: Holder) -> bool | None:
    """True/False for a holder on this host; None when it is on another host (use the lease)."""
    if holder.host != socket.gethostname():
        return None
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = process_start(holder.pid)
    return not (holder.pid_start and start and start != holder.pid_start)


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
"""

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
    """The journal in ``STATE_DIR/journal.sqlite`` (WAL; every write committed before returning)."""

    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / "journal.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"cannot open the journal: {exc}", source=str(self.path)) from None

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
            raise InvalidInput(f"no run {run_id!r} in this journal", source=str(self.path))
        return self._run(row)

    def update_run(self, run_id: str, **fields) -> None:
        for key in ("runbook", "options"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        sets = ", ".join(f"{k}=?" for k in fields)
        with self._lock:
            self._db.execute(f"UPDATE runs SET {sets} WHERE run_id=?", (*fields.values(), run_id))  # noqa: S608

    def list_runs(self, limit: int = 20, site: str | None = None) -> list[RunRecord]:
        query = "SELECT * FROM runs"
        args: tuple = ()
        if site:
            query += " WHERE site=?"
            args = (site,)
        query += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        return [self._run(r) for r in rows]

    @staticmethod
    def _run(row) -> RunRecord:
        return RunRecord(
            run_id=row[0],
            kind=row[1],
            site=row[2],
            site_file=row[3],
            runbook=json.loads(row[4]),
            options=json.loads(row[5]),
            status=row[6],
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
            data["state"] = json.loads(data["state"] or "{}")
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
    def _step_row(step: StepRecord) -> tuple:
        data = asdict(step)
        data["state"] = json.dumps(data["state"], default=str)
        data["applied"] = int(data["applied"])
        return tuple(data[c] for c in _STEP_COLUMNS)

    # ---------------------------------------------------------------- events
    def add_event(self, run_id: str, at: str, event: str, step_id: str | None, fields: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO events (run_id, at, step_id, event, fields) VALUES (?,?,?,?,?)",
                (run_id, at, step_id, event, json.dumps(fields, default=str)),
            )

    def get_events(self, run_id: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, step_id, event, fields FROM events WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        return [{"at": r[0], "step": r[1], "event": r[2], **json.loads(r[3])} for r in rows]

    # ---------------------------------------------------------------- lock
    def acquire_lock(self, site: str, holder: Holder, now: datetime) -> LockInfo | None:
        """Take the site lock; returns the previous holder's info when a dead one was taken over.

        Raises LockHeld when a live run holds it. A holder on this host is dead when its PID is gone
        (or was reused); a holder on another host is dead when its heartbeat is older than the lease.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT * FROM locks WHERE site=?", (site,)).fetchone()
                previous = None
                if row is not None:
                    current = LockInfo(row[0], Holder(row[1], row[2], row[3], row[4]), row[5], row[6])
                    if current.holder != holder:
                        alive = holder_alive(current.holder)
                        if alive is None:
                            beat = parse_iso(current.heartbeat_at)
                            alive = beat is not None and now - beat < timedelta(seconds=LEASE_SECONDS)
                        if alive:
                            raise LockHeld(
                                f"site {site!r} is locked by run {current.holder.run_id} "
                                f"(pid {current.holder.pid} on {current.holder.host}) since {current.acquired_at}"
                            )
                        previous = current
                self._db.execute(
                    "INSERT OR REPLACE INTO locks VALUES (?,?,?,?,?,?,?)",
                    (site, holder.run_id, holder.host, holder.pid, holder.pid_start, iso(now), iso(now)),
                )
                self._db.execute("COMMIT")
                return previous
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE locks SET heartbeat_at=? WHERE site=? AND run_id=? AND pid=? AND host=?",
                (iso(now), site, holder.run_id, holder.pid, holder.host),
            )
            return cur.rowcount == 1

    def release_lock(self, site: str, holder: Holder) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM locks WHERE site=? AND run_id=? AND pid=? AND host=?",
                (site, holder.run_id, holder.pid, holder.host),
            )

    def current_lock(self, site: str) -> LockInfo | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM locks WHERE site=?", (site,)).fetchone()
        return (
            None if row is None else LockInfo(row[0], Holder(row[1], row[2], row[3], row[4]), row[5], row[6])
        )

    # ---------------------------------------------------------------- drills
    def record_drill(self, entry: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO drills VALUES (?,?,?,?)",
                (entry["run_id"], entry["site"], entry.get("finished_at"), json.dumps(entry)),
            )

    def drills(self, site: str | None, limit: int) -> list[dict]:
        query, args = "SELECT entry FROM drills", ()
        if site:
            query, args = query + " WHERE site=?", (site,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY finished_at DESC LIMIT ?", (*args, limit)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
