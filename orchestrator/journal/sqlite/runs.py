"""Runs and their steps in the journal file: created whole, changed only by explicit writes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.approvals import Approval
from orchestrator.errors import InvalidInput
from orchestrator.journal.records import RunRecord, RunSettings, StepRecord
from orchestrator.journal.sqlite import schema
from orchestrator.journal.sqlite.base import SqliteBase
from orchestrator.journal.sqlite.db import decoding
from orchestrator.model import RunStatus


class SqliteRuns(SqliteBase):
    """``RunStore`` on the file (see ``orchestrator.journal.protocols.RunStore``)."""

    def create_run(self, run: RunRecord, steps: list[StepRecord]) -> None:
        """The run and its pending steps, in one transaction; a run of that id already there is refused
        (``InvalidInput``) and left untouched."""
        with self._lock, self._db.transaction():
            try:
                self._db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", schema.run_row(run))
            except sqlite3.IntegrityError:
                raise InvalidInput(f"run {run.run_id!r} already exists", source=str(self.path)) from None
            for order, step in enumerate(steps):
                self._db.execute(
                    f"INSERT INTO steps VALUES ({','.join('?' * (len(schema.STEP_COLUMNS) + 1))})",  # noqa: S608
                    (*schema.step_row(step), order),
                )

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise self._not_found(run_id)
        with decoding(self.path):
            return schema.run_of(row)

    def list_runs(self, limit: int = 20, site: str | None = None) -> list[RunRecord]:
        query = "SELECT * FROM runs"
        args: tuple[str, ...] = ()
        if site:
            query += " WHERE site=?"
            args = (site,)
        query += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        with decoding(self.path):
            return [schema.run_of(r) for r in rows]

    # ---------------------------------------------------------------- explicit writes
    def mark_running(self, run_id: str, *, resumed: bool = False) -> None:
        self._set(run_id, "status=?, finished_at=NULL, error=NULL, resumes=COALESCE(resumes, 0) + ?",
                  (RunStatus.RUNNING.value, int(resumed)))

    def finish(self, run_id: str, status: RunStatus, finished_at: str, error: str | None) -> None:
        self._set(run_id, "status=?, finished_at=?, error=?", (status.value, finished_at, error))

    def set_error(self, run_id: str, error: str) -> None:
        self._set(run_id, "error=?", (error,))

    def add_approvals(self, run_id: str, approvals: Sequence[Approval]) -> None:
        self._change_settings(run_id, lambda settings: settings.with_approvals(approvals))

    def replace_site(self, run_id: str, site: dict[str, Any]) -> None:
        self._change_settings(run_id, lambda settings: settings.with_site(site))

    def _set(self, run_id: str, assignments: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            rows = self._db.execute(f"UPDATE runs SET {assignments} WHERE run_id=?", (*args, run_id))  # noqa: S608
        if rows.rowcount != 1:
            raise self._not_found(run_id)

    def _change_settings(self, run_id: str, change: Callable[[RunSettings], RunSettings]) -> None:
        """Read, change and write the settings in one transaction (the file's write lock): a concurrent
        change by another process is never lost."""
        with self._lock, self._db.transaction():
            row = self._db.execute("SELECT options FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise self._not_found(run_id)
            with decoding(self.path):
                settings = change(schema.settings_of(row[0]))
            self._db.execute("UPDATE runs SET options=? WHERE run_id=?", (json.dumps(settings.to_json()), run_id))

    # ---------------------------------------------------------------- steps
    def get_steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {','.join(schema.STEP_COLUMNS)} FROM steps WHERE run_id=? ORDER BY ord",  # noqa: S608
                (run_id,),
            ).fetchall()
        with decoding(self.path):
            return [schema.step_of(row) for row in rows]

    def save_step(self, step: StepRecord) -> None:
        sets = ", ".join(f"{c}=?" for c in schema.STEP_COLUMNS[2:])
        with self._lock:
            self._db.execute(
                f"UPDATE steps SET {sets} WHERE run_id=? AND step_id=?",  # noqa: S608
                (*schema.step_row(step)[2:], step.run_id, step.step_id),
            )
