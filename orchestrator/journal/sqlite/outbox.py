"""The outbox of notifications in the journal file (``orchestrator.journal.protocols.Outbox``)."""

from __future__ import annotations

from orchestrator.journal.records import OutboxEntry
from orchestrator.journal.sqlite import schema
from orchestrator.journal.sqlite.base import SqliteBase
from orchestrator.journal.sqlite.db import decoding

_COLUMNS = ",".join(schema.OUTBOX_COLUMNS)


class SqliteOutbox(SqliteBase):
    def add_outbox(self, entry: OutboxEntry) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR IGNORE INTO outbox ({_COLUMNS}) "  # noqa: S608
                f"VALUES ({','.join('?' * len(schema.OUTBOX_COLUMNS))})",
                schema.outbox_row(entry),
            )

    def outbox(self, run_id: str) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE run_id=? ORDER BY seq, rowid",  # noqa: S608
                (run_id,),
            ).fetchall()
        with decoding(self.path):
            return [schema.outbox_of(r) for r in rows]

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
