"""A run's timeline and the drill history on the table."""

from __future__ import annotations

import json
import threading
from typing import Any

from orchestrator.journal.dynamodb.base import DynamoBase
from orchestrator.journal.dynamodb.codec import av, py, run_pk, s
from orchestrator.model import EventRecord


class DynamoEvents(DynamoBase):
    """``EventLog`` and ``DrillHistory`` on the table."""

    _seq_lock: threading.Lock
    _event_seq: dict[str, int]

    def add_event(self, run_id: str, at: str, event: str, step_id: str | None, fields: dict[str, Any]) -> None:
        """Keyed once per call (sequence + writer): a retried put rewrites the same item."""
        with self._seq_lock:
            if run_id not in self._event_seq:
                self._event_seq[run_id] = self._last_event_seq(run_id)
            seq = self._event_seq[run_id] = self._event_seq[run_id] + 1
        self._table.put(
            {
                "pk": s(run_pk(run_id)),
                "sk": s(f"EVENT#{seq:010d}#{self._writer}"),
                "at": av(at),
                "step_id": av(step_id),
                "event": s(event),
                "fields": s(json.dumps(fields, default=str)),
            }
        )

    def get_events(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {
                "at": py(i.get("at")),
                "step": py(i.get("step_id")),
                "event": i["event"]["S"],
                **json.loads(i["fields"]["S"]),
            }
            for i in self._table.query(run_pk(run_id), prefix="EVENT#")
        ]

    def event_records(self, run_id: str) -> list[EventRecord]:
        """The run's events as records: each one's step id kept apart from its fields."""
        return [
            EventRecord.of(py(i.get("at")), py(i.get("step_id")), i["event"]["S"], json.loads(i["fields"]["S"]))
            for i in self._table.query(run_pk(run_id), prefix="EVENT#")
        ]

    def _last_event_seq(self, run_id: str) -> int:
        for item in self._table.query(run_pk(run_id), prefix="EVENT#", forward=False, page=1):
            return int(item["sk"]["S"].split("#")[1])
        return 0

    def record_drill(self, entry: dict[str, Any]) -> None:
        sort = f"{entry.get('finished_at') or ''}#{entry['run_id']}"
        for pk in ("DRILLS", f"DRILLS#{entry['site']}"):
            self._table.put(
                {
                    "pk": s(pk),
                    "sk": s(sort),
                    "run_id": s(entry["run_id"]),
                    "entry": s(json.dumps(entry, default=str)),
                }
            )

    def drills(self, site: str | None, limit: int) -> list[dict[str, Any]]:
        """Newest first; a drill recorded again (resumed) appears once, with its latest entry."""
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for item in self._table.query(f"DRILLS#{site}" if site else "DRILLS", forward=False):
            if len(out) >= limit:
                break
            if item["run_id"]["S"] not in seen:
                seen.add(item["run_id"]["S"])
                out.append(json.loads(item["entry"]["S"]))
        return out
