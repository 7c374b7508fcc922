"""The journal file's tables, how a journal written by an earlier release is brought up to date when opened,
and records as rows and back.

The layout is the one every release since 1.0 wrote (the outbox's claim columns are added to an older
file when opened); a run's ``RunSettings`` is the JSON object of its ``options`` column."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator.journal.records import Holder, LockInfo, OutboxEntry, RunRecord, RunSettings, StepRecord
from orchestrator.journal.sqlite.db import GuardedDb, JournalDamaged, Row
from orchestrator.model import RunStatus, StepStatus

SCHEMA = """
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

OUTBOX_COLUMNS = (
    "entry_id", "run_id", "channel", "milestone", "created_at", "fields", "seq", "sent_at", "receipt",
    "claimed_by", "claimed_until",
)
#: outbox columns added after the table's first release (a journal written before gets them when opened)
_OUTBOX_ADDED = ("claimed_by", "claimed_until")

STEP_COLUMNS = (
    "run_id", "step_id", "uses", "owner", "status", "attempts", "started_at", "finished_at", "duration_seconds",
    "error", "state", "seq", "phase", "applied",
)


def initialise(db: GuardedDb, path: Path) -> None:
    """WAL mode and the schema, after checking that the file is ours and undamaged (quick_check)."""
    db.execute("PRAGMA synchronous=NORMAL")
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "runs" not in tables:
        raise JournalDamaged(path, f"it is an SQLite file of another program: tables {sorted(tables)[:5]}")
    problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        raise JournalDamaged(path, " ".join(" ".join(problems).split()))
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    for column in _OUTBOX_ADDED:
        if column not in columns:  # under the state dir's exclusive lock: one opener adds it
            db.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")


def run_row(run: RunRecord) -> Row:
    return (
        run.run_id, run.kind, run.site, run.site_file, json.dumps(run.runbook), json.dumps(run.settings.to_json()),
        run.status, run.started_at, run.finished_at, run.error, run.resumes,
    )


def run_of(row: Row) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        kind=row[1],
        site=row[2],
        site_file=row[3],
        runbook=json.loads(row[4]),
        settings=settings_of(row[5]),
        status=RunStatus(row[6]),
        started_at=row[7],
        finished_at=row[8],
        error=row[9],
        resumes=row[10] or 0,
    )


def settings_of(text: str | None) -> RunSettings:
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        raise ValueError("the run's options are not an object")
    return RunSettings.from_json(data)


def step_row(step: StepRecord) -> Row:
    data = asdict(step)
    data["state"] = json.dumps(data["state"], default=str)
    data["applied"] = int(data["applied"])
    return tuple(data[c] for c in STEP_COLUMNS)


def step_of(row: Row) -> StepRecord:
    data = dict(zip(STEP_COLUMNS, row, strict=True))
    data["state"] = json.loads(data["state"] or "{}")
    data["status"] = StepStatus(data["status"])
    data["applied"] = bool(data["applied"])
    return StepRecord(**data)


def event_of(row: Row) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(row[3])
    return {"at": row[0], "step": row[1], "event": row[2], **fields}


def outbox_row(entry: OutboxEntry) -> Row:
    row = {**asdict(entry), "fields": json.dumps(entry.fields, default=str)}
    return tuple(row[c] for c in OUTBOX_COLUMNS)


def outbox_of(row: Row) -> OutboxEntry:
    return OutboxEntry(**{**dict(zip(OUTBOX_COLUMNS, row, strict=True)), "fields": json.loads(row[5] or "{}")})


def lock_of(row: Row | None) -> LockInfo | None:
    return None if row is None else LockInfo(row[0], Holder(row[1], row[2], row[3], row[4]), row[5], row[6])
