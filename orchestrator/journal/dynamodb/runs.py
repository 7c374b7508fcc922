"""Runs on the table: created whole (steps and listing first, the record last), changed only by explicit
writes, each fenced by the site lock while this journal holds it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.approvals import Approval
from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.dynamodb.codec import decode, key, run_attributes, run_of, run_pk, s, value
from orchestrator.journal.dynamodb.lock import CONTENTION_ROUNDS
from orchestrator.journal.dynamodb.steps import DynamoSteps
from orchestrator.journal.dynamodb.table import ConditionFailed
from orchestrator.journal.records import RunRecord, RunSettings, StepRecord
from orchestrator.model import RunStatus


class DynamoRuns(DynamoSteps):
    """``RunStore`` on the table: runs here, created with their steps (``steps.py``)."""

    def create_run(self, run: RunRecord, steps: list[StepRecord]) -> None:
        """Steps and listing first, the run record last: a run that exists is always complete. Another
        journal's run of the same id is never overwritten (a retry of our own put is harmless)."""
        for order, step in enumerate(steps):
            try:
                self._table.call(
                    "put_item",
                    TableName=self._table.name,
                    Item=self._step_item(step, order, version=1),
                    ConditionExpression="attribute_not_exists(pk) OR #w = :me",
                    ExpressionAttributeNames={"#w": "writer"},
                    ExpressionAttributeValues={":me": s(self._writer)},
                )
            except ConditionFailed:
                raise InvalidInput(f"run {run.run_id!r} already exists", source=self.source) from None
            self._versions[(run.run_id, step.step_id)] = 1
        for pk in ("RUNS", f"RUNS#{run.site}"):
            self._table.put(
                {
                    "pk": s(pk),
                    "sk": s(f"{run.started_at or ''}#{run.run_id}"),
                    "run_id": s(run.run_id),
                    "site": s(run.site),
                    "kind": s(run.kind),
                }
            )
        item = {"pk": s(run_pk(run.run_id)), "sk": s("META"), "writer": s(self._writer), **run_attributes(run)}
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            if self._table.get(run_pk(run.run_id), "META").get("writer") != s(self._writer):
                raise InvalidInput(f"run {run.run_id!r} already exists", source=self.source) from None
        self._run_site[run.run_id] = run.site

    def get_run(self, run_id: str) -> RunRecord:
        item = self._table.get(run_pk(run_id), "META")
        if not item:
            raise self._not_found(run_id)
        run = run_of(item)
        self._run_site[run_id] = run.site
        return run

    def list_runs(self, limit: int = 20, site: str | None = None) -> list[RunRecord]:
        runs = []
        for entry in self._table.query(f"RUNS#{site}" if site else "RUNS", forward=False):
            try:
                runs.append(self.get_run(entry["run_id"]["S"]))
            except InvalidInput:  # listed, but its creation never finished
                continue
            if len(runs) >= limit:
                break
        return runs

    # ---------------------------------------------------------------- explicit writes
    def mark_running(self, run_id: str, *, resumed: bool = False) -> None:
        values: dict[str, Any] = {"status": RunStatus.RUNNING.value, "finished_at": None, "error": None}
        if resumed:
            values["resumes"] = self.get_run(run_id).resumes + 1
        self._set(run_id, values)

    def finish(self, run_id: str, status: RunStatus, finished_at: str, error: str | None) -> None:
        self._set(run_id, {"status": status.value, "finished_at": finished_at, "error": error})

    def set_error(self, run_id: str, error: str) -> None:
        self._set(run_id, {"error": error})

    def add_approvals(self, run_id: str, approvals: Sequence[Approval]) -> None:
        self._change_settings(run_id, lambda settings: settings.with_approvals(approvals))

    def replace_site(self, run_id: str, site: dict[str, Any]) -> None:
        self._change_settings(run_id, lambda settings: settings.with_site(site))

    def _set(self, run_id: str, values: dict[str, Any]) -> None:
        """Only the named attributes change (SET per attribute): a concurrent writer's others survive."""
        update = {
            "Key": key(run_pk(run_id), "META"),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(values))),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {f"#f{i}": name for i, name in enumerate(values)},
            "ExpressionAttributeValues": {f":f{i}": value(name, v) for i, (name, v) in enumerate(values.items())},
        }
        try:
            self._fenced_write(run_id, {"Update": update}, "update_item")
        except ConditionFailed:
            raise self._not_found(run_id) from None

    def _change_settings(self, run_id: str, change: Callable[[RunSettings], RunSettings]) -> None:
        """Read, change and write the settings, a compare-and-swap on the stored ones: a concurrent change by
        another process is read again and kept, never lost."""
        for _ in range(CONTENTION_ROUNDS):
            item = self._table.get(run_pk(run_id), "META")
            if not item:
                raise self._not_found(run_id)
            stored = item["options"]
            settings = change(RunSettings.from_json(decode("options", stored) or {}))
            update = {
                "Key": key(run_pk(run_id), "META"),
                "UpdateExpression": "SET #o = :new",
                "ConditionExpression": "#o = :old",
                "ExpressionAttributeNames": {"#o": "options"},
                "ExpressionAttributeValues": {":new": value("options", settings.to_json()), ":old": stored},
            }
            try:
                self._fenced_write(run_id, {"Update": update}, "update_item")
                return
            except ConditionFailed:
                continue
        raise LockHeld(f"the settings of run {run_id} keep being written by another process")
