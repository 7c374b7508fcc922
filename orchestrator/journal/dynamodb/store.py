"""Team mode: the journal, the run lock and the drill history in one DynamoDB table (``DynamoJournal``).

Same interfaces and semantics as ``SqliteJournal`` (``orchestrator.journal.protocols``), so that a run
started on one machine can be watched, locked out and resumed from any other machine that can
reach the table (which lives in the *secondary* region: the primary is never needed).

Item layout (hash key ``pk``, range key ``sk``; docs/team-mode.md has the full table):

- ``RUN#<run_id>`` / ``META``                         the run record
- ``RUN#<run_id>`` / ``STEP#<step_id>``               one step record (``ord`` keeps runbook order)
- ``RUN#<run_id>`` / ``EVENT#<seq>#<writer>``         one event; ``seq`` continues across processes
- ``RUNS`` and ``RUNS#<site>`` / ``<started_at>#<run_id>``   listing of runs (newest first, no scan)
- ``LOCK#<site>`` / ``LOCK`` and ``TAKEOVER#...``     the site lock and its takeovers (``lock.py``)
- ``CLAIM#<resource>`` / ``CLAIM``                    a resource claimed with a site lock (``lock.py``)
- ``DRILLS`` and ``DRILLS#<site>`` / ``<finished_at>#<run_id>``  drill history (newest first)
- ``RUN#<run_id>`` / ``OUTBOX#<entry_id>``            one notification of the outbox (pending until ``sent_at``;
  ``claimed_by``/``claimed_until``: the process sending it, taken by a conditional update)

Why the writes cannot lose an update or apply twice:

- every logical write is built once (key, content, version) and then retried unchanged, so a retry
  after a throttled or lost response re-puts the same item: never a duplicate event or step;
- a step item carries a ``version`` assigned under a lock when ``save_step`` is called, and the put
  is conditional on the stored version being lower: a slower, older snapshot never overwrites a newer
  one (save_step is called from several engine threads);
- while this journal holds a site's lock, step and run writes for runs of that site are transactions
  with a ``ConditionCheck`` on the lock's token (a fence): a process whose lock was taken over gets
  ``LockLost`` instead of clobbering the new owner's journal;
- the lock is a compare-and-swap on its ``version`` (``lock.py``).

Values are encoded by ``codec.py``; calls, retries and conditional failures are ``table.py``'s.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.dynamodb.codec import Item, av, decode, key, lock_pk, n, py, run_pk, s, value
from orchestrator.journal.dynamodb.lock import CONTENTION_ROUNDS, DynamoSiteLock
from orchestrator.journal.dynamodb.table import ConditionFailed, Table
from orchestrator.journal.records import Holder, LockInfo, OutboxEntry, RunNotFound, RunRecord, StepRecord
from orchestrator.model import EventRecord, RunStatus, StepStatus

_RUN_FIELDS = tuple(f.name for f in dataclass_fields(RunRecord))
_STEP_FIELDS = tuple(f.name for f in dataclass_fields(StepRecord))
_OUTBOX_FIELDS = tuple(f.name for f in dataclass_fields(OutboxEntry) if f.name != "fields")


class DynamoJournal:
    """The ``Journal`` interface on a DynamoDB table (team mode). Thread-safe.

    ``client``: an ``AwsSession`` (tests pass one with fault-injection hooks) or a boto3 DynamoDB
    client; by default an ``AwsSession`` for ``region`` is built on first use.
    """

    def __init__(self, table: str, region: str, clock: Clock | None = None, client: Any = None):
        self.table = table
        self.region = region
        self.clock = clock or SystemClock()
        self._table = Table(table, region, self.clock, client)
        self.source = self._table.source
        self.locks = DynamoSiteLock(self._table)
        self._writer = uuid.uuid4().hex[:12]
        self._lock = threading.RLock()
        self._seq_lock = threading.Lock()
        self._versions: dict[tuple[str, str], int] = {}
        self._orders: dict[tuple[str, str], int] = {}
        self._event_seq: dict[str, int] = {}
        self._run_site: dict[str, str] = {}

    # ================================================================ runs
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
        item = {
            "pk": s(run_pk(run.run_id)),
            "sk": s("META"),
            "writer": s(self._writer),
            **{name: value(name, getattr(run, name)) for name in _RUN_FIELDS},
        }
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            if self._table.get(run_pk(run.run_id), "META").get("writer") != s(self._writer):
                raise InvalidInput(f"run {run.run_id!r} already exists", source=self.source) from None
        self._run_site[run.run_id] = run.site

    def get_run(self, run_id: str) -> RunRecord:
        item = self._table.get(run_pk(run_id), "META")
        if not item:
            raise RunNotFound(f"no run {run_id!r} in this journal", source=self.source)
        run = RunRecord(**{name: decode(name, item.get(name)) for name in _RUN_FIELDS})
        run.status = RunStatus(run.status)
        run.resumes = run.resumes or 0
        self._run_site[run_id] = run.site
        return run

    def update_run(self, run_id: str, **values: Any) -> None:
        """Only the named fields change (SET per field): a concurrent writer's other fields survive."""
        unknown = set(values) - set(_RUN_FIELDS) - {"run_id"}
        if unknown or "run_id" in values:
            raise ValueError(f"cannot update run fields {sorted(unknown or {'run_id'})}")
        names = {f"#f{i}": name for i, name in enumerate(values)}
        attrs = {f":f{i}": value(name, field_value) for i, (name, field_value) in enumerate(values.items())}
        update = {
            "Key": key(run_pk(run_id), "META"),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(values))),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": attrs,
        }
        try:
            self._fenced_write(run_id, {"Update": update}, "update_item")
        except ConditionFailed:
            raise InvalidInput(f"no run {run_id!r} in this journal", source=self.source) from None

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

    # ================================================================ steps
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
        return item.get("writer", {}).get("S", "")

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

    # ================================================================ events
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

    # ================================================================ lock (see lock.py)
    def acquire_lock(
        self, site: str, holder: Holder, now: datetime, resources: Sequence[str] = ()
    ) -> LockInfo | None:
        return self.locks.acquire_lock(site, holder, now, resources)

    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool:
        return self.locks.heartbeat(site, holder, now)

    def release_lock(self, site: str, holder: Holder) -> None:
        self.locks.release_lock(site, holder)

    def current_lock(self, site: str) -> LockInfo | None:
        return self.locks.current_lock(site)

    def takeovers(self, site: str) -> list[dict[str, Any]]:
        """Every recorded takeover of the site's lock, oldest first: at, by (holder), previous (LockInfo)."""
        return self.locks.takeovers(site)

    # ================================================================ drills
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

    # ================================================================ outbox
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

    def close(self) -> None:
        """Nothing to close: boto3 clients hold no state worth flushing."""

    # ================================================================ fenced writes
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
