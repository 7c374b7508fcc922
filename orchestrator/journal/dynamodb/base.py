"""What every part of ``DynamoJournal`` shares: the table, the lock, this writer's id, and the fenced write
(a write refused once this process's site lock was taken over)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from orchestrator.errors import InvalidInput
from orchestrator.journal.dynamodb.codec import key, lock_pk, s
from orchestrator.journal.dynamodb.lock import DynamoSiteLock
from orchestrator.journal.dynamodb.table import ConditionFailed, Table
from orchestrator.journal.records import RunNotFound, RunRecord


class DynamoBase:
    """The state the parts of ``DynamoJournal`` (runs, steps, events, outbox) share."""

    source: str
    locks: DynamoSiteLock
    _table: Table
    #: this journal's id, written on its items: a retried put is recognised as its own
    _writer: str
    _lock: threading.RLock
    _run_site: dict[str, str]

    def get_run(self, run_id: str) -> RunRecord:
        raise NotImplementedError

    def _not_found(self, run_id: str) -> RunNotFound:
        return RunNotFound(f"no run {run_id!r} in this journal", source=self.source)

    def _fenced_write(self, run_id: str, write: dict[str, Any], single: str) -> None:
        """One write; inside a transaction with a check on the lock's token while this journal holds
        the lock of the run's site (the fence that stops a process whose lock was taken over)."""
        ((kind, request),) = write.items()
        site = self._site_of(run_id)
        token = self.locks.token(site) if site else None
        if site is None or token is None:
            self._table.call(single, TableName=self._table.name, **request)
            return
        fence = {
            "ConditionCheck": {
                "Key": key(lock_pk(site), "LOCK"),
                "ConditionExpression": "#tok = :t",
                "ExpressionAttributeNames": {"#tok": "token"},
                "ExpressionAttributeValues": {":t": s(token)},
            }
        }
        try:
            self._table.transact([fence, {kind: request}], uuid.uuid4().hex)
        except ConditionFailed as failed:
            if failed.reasons[0] == "ConditionalCheckFailed":
                raise self.locks.lost(site, run_id) from None
            raise

    def _site_of(self, run_id: str) -> str | None:
        if run_id not in self._run_site:
            try:
                self.get_run(run_id)
            except InvalidInput:
                return None
        return self._run_site.get(run_id)
