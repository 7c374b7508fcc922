"""A run's timeline and the drill history in the journal file."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.journal.sqlite import schema
from orchestrator.journal.sqlite.base import SqliteBase
from orchestrator.journal.sqlite.db import decoding
from orchestrator.model import EventRecord


class SqliteEvents(SqliteBase):
    """``EventLog`` and ``DrillHistory`` on the file."""

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
        with decoding(self.path):
            return [schema.event_of(r) for r in rows]

    def event_records(self, run_id: str) -> list[EventRecord]:
        """The run's events as records: each one's step id kept apart from its fields."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, step_id, event, fields FROM events WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        with decoding(self.path):
            return [EventRecord.of(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

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
        with decoding(self.path):
            return [json.loads(r[0]) for r in rows]
