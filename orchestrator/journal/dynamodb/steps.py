"""A run's steps on the table: each item versioned, so an older snapshot never overwrites a newer one."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import fields as dataclass_fields

from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.dynamodb.base import DynamoBase
from orchestrator.journal.dynamodb.codec import Item, decode, n, run_pk, s, value
from orchestrator.journal.dynamodb.lock import CONTENTION_ROUNDS
from orchestrator.journal.dynamodb.table import ConditionFailed
from orchestrator.journal.records import StepRecord
from orchestrator.model import StepStatus

_STEP_FIELDS = tuple(f.name for f in dataclass_fields(StepRecord))


class DynamoSteps(DynamoBase):
    _versions: dict[tuple[str, str], int]
    _orders: dict[tuple[str, str], int]

    def get_steps(self, run_id: str) -> list[StepRecord]:
        items = sorted(self._table.query(run_pk(run_id), prefix="STEP#"), key=lambda i: int(i["ord"]["N"]))
        steps = []
        with self._lock:
            for item in items:
                step = StepRecord(**{name: decode(name, item.get(name)) for name in _STEP_FIELDS})
                step.status = StepStatus(step.status)
                step.state = step.state or {}
                step.applied = bool(step.applied)
                step_key = (run_id, step.step_id)
                self._versions[step_key] = max(self._versions.get(step_key, 0), int(item["version"]["N"]))
                self._orders[step_key] = int(item["ord"]["N"])
                steps.append(step)
        return steps

    def save_step(self, step: StepRecord) -> None:
        """Snapshot + version under the lock, write outside it: of this journal's own snapshots an
        older one never overwrites a newer one; against another journal's write the last call wins."""
        step_key = (step.run_id, step.step_id)
        if step_key not in self._versions:
            self._seed_version(step)
        for _ in range(CONTENTION_ROUNDS):
            with self._lock:
                version = self._versions[step_key] = self._versions[step_key] + 1
                item = self._step_item(step, self._orders.get(step_key, 0), version)
            put = {
                "Item": item,
                "ConditionExpression": "attribute_exists(pk) AND #v < :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": n(version)},
            }
            try:
                self._fenced_write(step.run_id, {"Put": put}, "put_item")
                return
            except ConditionFailed:
                # our own newer snapshot (or this one, retried after a lost response) is stored: done;
                # another journal's is: write ours over it with a higher version
                if self._seed_version(step) == self._writer:
                    return
        raise LockHeld(f"step {step.step_id} of run {step.run_id} keeps being written by another process")

    def _seed_version(self, step: StepRecord) -> str:
        """Learn the stored version and order of a step; returns which journal wrote it last."""
        item = self._table.get(run_pk(step.run_id), f"STEP#{step.step_id}")
        if not item:
            raise InvalidInput(f"no step {step.step_id!r} in run {step.run_id!r}", source=self.source)
        with self._lock:
            step_key = (step.run_id, step.step_id)
            self._versions[step_key] = max(self._versions.get(step_key, 0), int(item["version"]["N"]))
            self._orders[step_key] = int(item["ord"]["N"])
        writer: str = item.get("writer", {}).get("S", "")
        return writer

    def _step_item(self, step: StepRecord, order: int, version: int) -> Item:
        data = asdict(step)
        self._orders[(step.run_id, step.step_id)] = order
        return {
            "pk": s(run_pk(step.run_id)),
            "sk": s(f"STEP#{step.step_id}"),
            "ord": n(order),
            "version": n(version),
            "writer": s(self._writer),
            **{name: value(name, data[name]) for name in _STEP_FIELDS},
        }
