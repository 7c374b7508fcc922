"""The outbox of notifications on the table (``orchestrator.journal.protocols.Outbox``)."""

from __future__ import annotations

import json
from dataclasses import fields as dataclass_fields

from orchestrator.journal.dynamodb.base import DynamoBase
from orchestrator.journal.dynamodb.codec import av, key, py, run_pk, s
from orchestrator.journal.dynamodb.table import ConditionFailed
from orchestrator.journal.records import OutboxEntry

_OUTBOX_FIELDS = tuple(f.name for f in dataclass_fields(OutboxEntry) if f.name != "fields")


class DynamoOutbox(DynamoBase):
    def add_outbox(self, entry: OutboxEntry) -> None:
        """Not fenced by the site lock: any process that opens the run may deliver (and so journal) its
        notifications. An entry already there (a retried put, a second writer) is kept."""
        item = {
            "pk": s(run_pk(entry.run_id)),
            "sk": s(f"OUTBOX#{entry.entry_id}"),
            "fields": s(json.dumps(entry.fields, default=str)),
            **{name: av(getattr(entry, name)) for name in _OUTBOX_FIELDS},
        }
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            return

    def outbox(self, run_id: str) -> list[OutboxEntry]:
        entries = [
            OutboxEntry(
                **{name: py(item.get(name)) for name in _OUTBOX_FIELDS}, fields=json.loads(item["fields"]["S"])
            )
            for item in self._table.query(run_pk(run_id), prefix="OUTBOX#")
        ]
        return sorted(entries, key=lambda e: e.seq)

    def claim_outbox(
        self, run_id: str, entry_id: str, claimer: str, now: str, until: str, stale: str | None = None
    ) -> bool:
        """A conditional update (atomic across machines): see ``protocols.Outbox.claim_outbox``."""
        try:
            self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=key(run_pk(run_id), f"OUTBOX#{entry_id}"),
                UpdateExpression="SET claimed_by = :me, claimed_until = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(sent_at) OR attribute_type(sent_at, :null)) AND "
                    "(attribute_not_exists(claimed_by) OR attribute_type(claimed_by, :null) "
                    "OR claimed_until < :now OR claimed_by = :me OR claimed_by = :stale)"
                ),
                ExpressionAttributeValues={
                    ":me": s(claimer), ":until": s(until), ":now": s(now), ":stale": s(stale or claimer),
                    ":null": s("NULL"),
                },
            )
        except ConditionFailed:
            return False
        return True

    def mark_sent(self, run_id: str, entry_id: str, at: str, receipt: str | None) -> None:
        self._table.call(
            "update_item",
            TableName=self._table.name,
            Key=key(run_pk(run_id), f"OUTBOX#{entry_id}"),
            UpdateExpression="SET sent_at = :at, receipt = :r",
            ExpressionAttributeValues={":at": s(at), ":r": av(receipt)},
        )
