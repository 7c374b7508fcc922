"""Team mode: the journal, the run lock and the drill history in one DynamoDB table.

Same interface and semantics as ``SqliteJournal`` (see ``orchestrator.journal``), so that a run
started on one machine can be watched, locked out and resumed from any other machine that can
reach the table (which lives in the *secondary* region: the primary is never needed).

Item layout (hash key ``pk``, range key ``sk``; docs/team-mode.md has the full table):

- ``RUN#<run_id>`` / ``META``                         the run record
- ``RUN#<run_id>`` / ``STEP#<step_id>``               one step record (``ord`` keeps runbook order)
- ``RUN#<run_id>`` / ``EVENT#<seq>#<writer>``         one event; ``seq`` continues across processes
- ``RUNS`` and ``RUNS#<site>`` / ``<started_at>#<run_id>``   listing of runs (newest first, no scan)
- ``LOCK#<site>`` / ``LOCK``                          the site lock (a lease; ``expires_at`` = lease end)
- ``LOCK#<site>`` / ``TAKEOVER#<at>#<token>``         who took a dead holder's lock over, and when
- ``DRILLS`` and ``DRILLS#<site>`` / ``<finished_at>#<run_id>``  drill history (newest first)

Why the writes cannot lose an update or apply twice:

- every logical write is built once (key, content, version) and then retried unchanged, so a retry
  after a throttled or lost response re-puts the same item: never a duplicate event or step;
- a step item carries a ``version`` assigned under a lock when ``save_step`` is called, and the put
  is conditional on the stored version being lower: a slower, older snapshot never overwrites a newer
  one (save_step is called from several engine threads);
- while this journal holds a site's lock, step and run writes for runs of that site are transactions
  with a ``ConditionCheck`` on the lock's token (a fence): a process whose lock was taken over gets
  ``LockLost`` instead of clobbering the new owner's journal;
- the lock is a compare-and-swap on its ``version``: a free lock is created with
  ``attribute_not_exists(pk)``, a dead holder's lock is replaced only if it is still exactly the
  version that was judged dead (a holder on this host is dead when its PID is gone; on another host
  when its lease has expired).

``ConditionalCheckFailed`` is a result, never retried; throttling, 5xx and connection errors are
retried under the "aws" policy (each retry logged) by ``orchestrator.adapters.aws.AwsSession``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import AwsRetryableError, AwsSession
from orchestrator.clock import Clock, SystemClock, iso, parse_iso
from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal import (
    LEASE_SECONDS,
    Holder,
    LockInfo,
    RunNotFound,
    RunRecord,
    StepRecord,
    holder_alive,
)

#: JSON fields larger than this are stored zlib-compressed (an item is limited to 400 KB)
COMPRESS_ABOVE = 64 * 1024
#: how many times a write re-reads and tries again after losing a compare-and-swap race
CONTENTION_ROUNDS = 5

_RUN_FIELDS = tuple(f.name for f in dataclass_fields(RunRecord))
_STEP_FIELDS = tuple(f.name for f in dataclass_fields(StepRecord))
_JSON_FIELDS = {"runbook", "options", "state"}
#: cancellation reasons of a transaction that a retry may get past
_RETRYABLE_REASONS = {
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "TransactionConflict",
    "RequestLimitExceeded",
    "InternalServerError",
}
_RETRYABLE_CODES = {"TransactionConflictException", "TransactionInProgressException"}


class LockLost(LockHeld):
    """This process's lock was taken over: its writes to the run are refused (the new holder owns it)."""


class ConditionFailed(Exception):
    """A conditional write did not apply: a result, never retried, never shown.

    ``reasons``: one code per transaction item ("None" for the items that passed).
    """

    def __init__(self, reasons: list[str]):
        super().__init__(", ".join(reasons))
        self.reasons = reasons


@dataclass
class _Lock:
    info: LockInfo
    version: int
    token: str
    expires_at: float


class DynamoJournal:
    """The ``Journal`` interface on a DynamoDB table (team mode). Thread-safe.

    ``client``: an ``AwsSession`` (tests pass one with fault-injection hooks) or a boto3 DynamoDB
    client; by default an ``AwsSession`` for ``region`` is built on first use.
    """

    def __init__(self, table: str, region: str, clock: Clock | None = None, client: Any = None):
        self.table = table
        self.region = region
        self.clock = clock or SystemClock()
        self.source = f"dynamodb://{region}/{table}"
        self._aws = client if isinstance(client, AwsSession) else AwsSession(region, clock=self.clock)
        self._client = None if isinstance(client, AwsSession) else client
        self._writer = uuid.uuid4().hex[:12]
        self._lock = threading.RLock()
        self._seq_lock = threading.Lock()
        self._versions: dict[tuple[str, str], int] = {}
        self._orders: dict[tuple[str, str], int] = {}
        self._event_seq: dict[str, int] = {}
        self._run_site: dict[str, str] = {}
        self._held: dict[str, str] = {}

    # ================================================================ runs
    def create_run(self, run: RunRecord, steps: list[StepRecord]) -> None:
        """Steps and listing first, the run record last: a run that exists is always complete. Another
        journal's run of the same id is never overwritten (a retry of our own put is harmless)."""
        for order, step in enumerate(steps):
            try:
                self._call(
                    "put_item",
                    TableName=self.table,
                    Item=self._step_item(step, order, version=1),
                    ConditionExpression="attribute_not_exists(pk) OR #w = :me",
                    ExpressionAttributeNames={"#w": "writer"},
                    ExpressionAttributeValues={":me": _s(self._writer)},
                )
            except ConditionFailed:
                raise InvalidInput(f"run {run.run_id!r} already exists", source=self.source) from None
            self._versions[(run.run_id, step.step_id)] = 1
        for pk in ("RUNS", f"RUNS#{run.site}"):
            self._put(
                {
                    "pk": _s(pk),
                    "sk": _s(f"{run.started_at or ''}#{run.run_id}"),
                    "run_id": _s(run.run_id),
                    "site": _s(run.site),
                    "kind": _s(run.kind),
                }
            )
        item = {
            "pk": _s(_run_pk(run.run_id)),
            "sk": _s("META"),
            "writer": _s(self._writer),
            **{name: _value(name, getattr(run, name)) for name in _RUN_FIELDS},
        }
        try:
            self._put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            if self._raw_get(_run_pk(run.run_id), "META").get("writer") != _s(self._writer):
                raise InvalidInput(f"run {run.run_id!r} already exists", source=self.source) from None
        self._run_site[run.run_id] = run.site

    def get_run(self, run_id: str) -> RunRecord:
        item = self._raw_get(_run_pk(run_id), "META")
        if not item:
            raise RunNotFound(f"no run {run_id!r} in this journal", source=self.source)
        run = RunRecord(**{name: _decode(name, item.get(name)) for name in _RUN_FIELDS})
        run.resumes = run.resumes or 0
        self._run_site[run_id] = run.site
        return run

    def update_run(self, run_id: str, **values: Any) -> None:
        """Only the named fields change (SET per field): a concurrent writer's other fields survive."""
        unknown = set(values) - set(_RUN_FIELDS) - {"run_id"}
        if unknown or "run_id" in values:
            raise ValueError(f"cannot update run fields {sorted(unknown or {'run_id'})}")
        names = {f"#f{i}": name for i, name in enumerate(values)}
        attrs = {f":f{i}": _value(name, value) for i, (name, value) in enumerate(values.items())}
        update = {
            "Key": _key(_run_pk(run_id), "META"),
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
        for entry in self._query(f"RUNS#{site}" if site else "RUNS", forward=False):
            try:
                runs.append(self.get_run(entry["run_id"]["S"]))
            except InvalidInput:  # listed, but its creation never finished
                continue
            if len(runs) >= limit:
                break
        return runs

    # ================================================================ steps
    def get_steps(self, run_id: str) -> list[StepRecord]:
        items = sorted(self._query(_run_pk(run_id), prefix="STEP#"), key=lambda i: int(i["ord"]["N"]))
        steps = []
        with self._lock:
            for item in items:
                step = StepRecord(**{name: _decode(name, item.get(name)) for name in _STEP_FIELDS})
                step.state = step.state or {}
                step.applied = bool(step.applied)
                key = (run_id, step.step_id)
                self._versions[key] = max(self._versions.get(key, 0), int(item["version"]["N"]))
                self._orders[key] = int(item["ord"]["N"])
                steps.append(step)
        return steps

    def save_step(self, step: StepRecord) -> None:
        """Snapshot + version under the lock, write outside it: of this journal's own snapshots an
        older one never overwrites a newer one; against another journal's write the last call wins."""
        key = (step.run_id, step.step_id)
        if key not in self._versions:
            self._seed_version(step)
        for _ in range(CONTENTION_ROUNDS):
            with self._lock:
                version = self._versions[key] = self._versions[key] + 1
                item = self._step_item(step, self._orders.get(key, 0), version)
            put = {
                "Item": item,
                "ConditionExpression": "attribute_exists(pk) AND #v < :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": _n(version)},
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
        item = self._raw_get(_run_pk(step.run_id), f"STEP#{step.step_id}")
        if not item:
            raise InvalidInput(f"no step {step.step_id!r} in run {step.run_id!r}", source=self.source)
        with self._lock:
            key = (step.run_id, step.step_id)
            self._versions[key] = max(self._versions.get(key, 0), int(item["version"]["N"]))
            self._orders[key] = int(item["ord"]["N"])
        return item.get("writer", {}).get("S", "")

    def _step_item(self, step: StepRecord, order: int, version: int) -> dict:
        data = asdict(step)
        self._orders[(step.run_id, step.step_id)] = order
        return {
            "pk": _s(_run_pk(step.run_id)),
            "sk": _s(f"STEP#{step.step_id}"),
            "ord": _n(order),
            "version": _n(version),
            "writer": _s(self._writer),
            **{name: _value(name, data[name]) for name in _STEP_FIELDS},
        }

    # ================================================================ events
    def add_event(self, run_id: str, at: str, event: str, step_id: str | None, fields: dict) -> None:
        """Keyed once per call (sequence + writer): a retried put rewrites the same item."""
        with self._seq_lock:
            if run_id not in self._event_seq:
                self._event_seq[run_id] = self._last_event_seq(run_id)
            seq = self._event_seq[run_id] = self._event_seq[run_id] + 1
        self._put(
            {
                "pk": _s(_run_pk(run_id)),
                "sk": _s(f"EVENT#{seq:010d}#{self._writer}"),
                "at": _av(at),
                "step_id": _av(step_id),
                "event": _s(event),
                "fields": _s(json.dumps(fields, default=str)),
            }
        )

    def get_events(self, run_id: str) -> list[dict]:
        return [
            {
                "at": _py(i.get("at")),
                "step": _py(i.get("step_id")),
                "event": i["event"]["S"],
                **json.loads(i["fields"]["S"]),
            }
            for i in self._query(_run_pk(run_id), prefix="EVENT#")
        ]

    def _last_event_seq(self, run_id: str) -> int:
        for item in self._query(_run_pk(run_id), prefix="EVENT#", forward=False, page=1):
            return int(item["sk"]["S"].split("#")[1])
        return 0

    # ================================================================ lock
    def acquire_lock(self, site: str, holder: Holder, now: datetime) -> LockInfo | None:
        """Take the site lock; returns the previous holder's info when a dead one was taken over.

        Raises LockHeld when a live run holds it (same host: its PID runs; another host: its lease,
        LEASE_SECONDS after its last heartbeat, has not expired at ``now``).
        """
        for _ in range(CONTENTION_ROUNDS):
            current = self._read_lock(site)
            previous = None
            if current is None:
                self._refuse_if_running_unlocked(site, holder, now)
            if current is not None and current.info.holder != holder:
                if _alive(current, now):
                    raise _held_error(site, current.info)
                previous = current.info
            token = uuid.uuid4().hex
            try:
                self._write_lock(site, holder, now, token, current, previous)
            except ConditionFailed:
                mine = self._read_lock(site)
                if mine is None or mine.token != token:
                    continue  # someone else moved first: judge the lock again
            with self._lock:
                self._held[site] = token
            return previous
        raise LockHeld(f"site {site!r}: the lock kept changing hands; try again")

    def _refuse_if_running_unlocked(self, site: str, holder: Holder, now: datetime) -> None:
        """No lock item, yet a recent run of the site is running and wrote to the journal within the lease:
        its lock item was deleted under it (by hand: the TTL only removes expired leases). As far as anyone
        can tell it is alive, so the lock is not free until its last write is older than the lease."""
        for entry in self._query(f"RUNS#{site}", forward=False, page=3):
            run_id = entry["run_id"]["S"]
            if run_id == holder.run_id:
                continue
            try:
                run = self.get_run(run_id)
            except InvalidInput:
                continue
            last = self._last_event_at(run_id) if run.status == "running" else None
            if last is not None and now - last < timedelta(seconds=LEASE_SECONDS):
                raise LockHeld(
                    f"site {site!r} is taken: run {run_id} is running (its last journal write at {iso(last)}) "
                    f"but the site's lock item is missing from {self.source}, deleted while the run was live; "
                    f"the lock is free {LEASE_SECONDS:.0f} s after that run's last write"
                )

    def _last_event_at(self, run_id: str) -> datetime | None:
        for item in self._query(_run_pk(run_id), prefix="EVENT#", forward=False, page=1):
            return parse_iso(_py(item.get("at")))
        return None

    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool:
        """Extend the lease; False when this holder no longer holds the lock (taken over or released)."""
        names = {**_HOLDER_NAMES, "#beat": "heartbeat_at", "#exp": "expires_at", "#ver": "version"}
        values = {":at": _s(iso(now)), ":exp": _n(_lease_end(now)), ":one": _n(1), **_holder_values(holder)}
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=_key(_lock_pk(site), "LOCK"),
                UpdateExpression="SET #beat = :at, #exp = :exp, #ver = #ver + :one",
                ConditionExpression=_HOLDER_MATCH,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return False
        return True

    def release_lock(self, site: str, holder: Holder) -> None:
        with self._lock:
            self._held.pop(site, None)
        with contextlib.suppress(ConditionFailed):  # not ours any more (taken over), or already released
            self._call(
                "delete_item",
                TableName=self.table,
                Key=_key(_lock_pk(site), "LOCK"),
                ConditionExpression=_HOLDER_MATCH,
                ExpressionAttributeNames=_HOLDER_NAMES,
                ExpressionAttributeValues=_holder_values(holder),
            )

    def current_lock(self, site: str) -> LockInfo | None:
        current = self._read_lock(site)
        return None if current is None else current.info

    def takeovers(self, site: str) -> list[dict]:
        """Every recorded takeover of the site's lock, oldest first: at, by (holder), previous (LockInfo)."""
        return [json.loads(i["record"]["S"]) for i in self._query(_lock_pk(site), prefix="TAKEOVER#")]

    def _read_lock(self, site: str) -> _Lock | None:
        item = self._raw_get(_lock_pk(site), "LOCK")
        if not item:
            return None
        holder = Holder(item["run_id"]["S"], item["host"]["S"], int(item["pid"]["N"]), item["pid_start"]["S"])
        info = LockInfo(site, holder, item["acquired_at"]["S"], item["heartbeat_at"]["S"])
        return _Lock(info, int(item["version"]["N"]), item["token"]["S"], float(item["expires_at"]["N"]))

    def _write_lock(
        self, site: str, holder: Holder, now: datetime, token: str, current: _Lock | None, previous: LockInfo | None
    ) -> None:
        item = {
            "pk": _s(_lock_pk(site)),
            "sk": _s("LOCK"),
            "run_id": _s(holder.run_id),
            "host": _s(holder.host),
            "pid": _n(holder.pid),
            "pid_start": _s(holder.pid_start),
            "acquired_at": _s(iso(now)),
            "heartbeat_at": _s(iso(now)),
            "expires_at": _n(_lease_end(now)),
            "token": _s(token),
            "version": _n(current.version + 1 if current else 1),
        }
        if current is None:
            self._put(item, condition="attribute_not_exists(pk)")
            return
        cas = {
            "ConditionExpression": "#ver = :seen",
            "ExpressionAttributeNames": {"#ver": "version"},
            "ExpressionAttributeValues": {":seen": _n(current.version)},
        }
        if previous is None:  # the same holder again: refresh
            self._call("put_item", TableName=self.table, Item=item, **cas)
            return
        record = {"at": iso(now), "by": asdict(holder), "previous": asdict(previous)}
        item |= {"taken_over_at": _s(iso(now)), "taken_over_from": _s(json.dumps(asdict(previous)))}
        history = {"pk": _s(_lock_pk(site)), "sk": _s(f"TAKEOVER#{iso(now)}#{token}"), "record": _s(json.dumps(record))}
        self._transact([{"Put": {"Item": item, **cas}}, {"Put": {"Item": history}}], token)

    # ================================================================ drills
    def record_drill(self, entry: dict) -> None:
        sort = f"{entry.get('finished_at') or ''}#{entry['run_id']}"
        for pk in ("DRILLS", f"DRILLS#{entry['site']}"):
            self._put(
                {
                    "pk": _s(pk),
                    "sk": _s(sort),
                    "run_id": _s(entry["run_id"]),
                    "entry": _s(json.dumps(entry, default=str)),
                }
            )

    def drills(self, site: str | None, limit: int) -> list[dict]:
        """Newest first; a drill recorded again (resumed) appears once, with its latest entry."""
        seen: set[str] = set()
        out: list[dict] = []
        for item in self._query(f"DRILLS#{site}" if site else "DRILLS", forward=False):
            if len(out) >= limit:
                break
            if item["run_id"]["S"] not in seen:
                seen.add(item["run_id"]["S"])
                out.append(json.loads(item["entry"]["S"]))
        return out

    def close(self) -> None:
        """Nothing to close: boto3 clients hold no state worth flushing."""

    # ================================================================ the table
    def _fenced_write(self, run_id: str, write: dict, single: str) -> None:
        """One write; inside a transaction with a check on the lock's token while this journal holds
        the lock of the run's site (the fence that stops a process whose lock was taken over)."""
        ((kind, request),) = write.items()
        site = self._site_of(run_id)
        with self._lock:
            token = self._held.get(site) if site else None
        if token is None:
            self._call(single, TableName=self.table, **request)
            return
        fence = {
            "ConditionCheck": {
                "Key": _key(_lock_pk(site), "LOCK"),
                "ConditionExpression": "#tok = :t",
                "ExpressionAttributeNames": {"#tok": "token"},
                "ExpressionAttributeValues": {":t": _s(token)},
            }
        }
        try:
            self._transact([fence, {kind: request}], uuid.uuid4().hex)
        except ConditionFailed as failed:
            if failed.reasons[0] == "ConditionalCheckFailed":
                raise self._lost(site, run_id) from None
            raise

    def _site_of(self, run_id: str) -> str | None:
        if run_id not in self._run_site:
            try:
                self.get_run(run_id)
            except InvalidInput:
                return None
        return self._run_site.get(run_id)

    def _lost(self, site: str, run_id: str) -> LockLost:
        """The error for a refused fenced write (the token stays: every later write is refused too)."""
        current = self._read_lock(site)
        who = "nobody"
        if current is not None:
            holder = current.info.holder
            who = f"run {holder.run_id} (pid {holder.pid} on {holder.host})"
        resume = "" if current is not None else f"; resume it with `orchestrator resume {run_id} --site SITE.json`"
        return LockLost(
            f"the lock on site {site!r} was lost (now held by {who}); this process stopped writing to run "
            f"{run_id}{resume}"
        )

    def _put(self, item: dict, condition: str | None = None) -> None:
        extra = {"ConditionExpression": condition} if condition else {}
        self._call("put_item", TableName=self.table, Item=item, **extra)

    def _transact(self, items: list[dict], token: str) -> None:
        for entry in items:
            next(iter(entry.values()))["TableName"] = self.table
        self._call("transact_write_items", TransactItems=items, ClientRequestToken=token)

    def _raw_get(self, pk: str, sk: str) -> dict:
        answer = self._call("get_item", TableName=self.table, Key=_key(pk, sk), ConsistentRead=True)
        return answer.get("Item") or {}

    def _query(
        self, pk: str, prefix: str | None = None, forward: bool = True, page: int | None = None
    ) -> Iterator[dict]:
        """Every item of a partition (optionally one sk prefix), paginated; strongly consistent."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "ScanIndexForward": forward,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(pk)},
        }
        if prefix:
            request["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            request["ExpressionAttributeValues"][":prefix"] = _s(prefix)
        if page:
            request["Limit"] = page
        while True:
            answer = self._call("query", **request)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer or page:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _call(self, method: str, **kwargs: Any) -> dict:
        """One API call: our retries (logged), conditional failures as ``ConditionFailed``."""
        fn: Callable[..., dict] = getattr(self._dynamodb(), method)

        def attempt() -> dict:
            try:
                return fn(**kwargs)
            except ClientError as exc:
                _raise_result(exc, method)
                raise

        return self._aws.run(attempt, service="dynamodb", operation=method)

    def _dynamodb(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._aws.client("dynamodb")
            return self._client


# -------------------------------------------------------------------- helpers

_HOLDER_MATCH = "#r = :r AND #p = :p AND #h = :h"
_HOLDER_NAMES = {"#r": "run_id", "#p": "pid", "#h": "host"}


def _holder_values(holder: Holder) -> dict:
    return {":r": _s(holder.run_id), ":p": _n(holder.pid), ":h": _s(holder.host)}


def _alive(lock: _Lock, now: datetime) -> bool:
    alive = holder_alive(lock.info.holder)
    if alive is None:  # another host: only the lease can tell
        alive = now.timestamp() < lock.expires_at
    return alive


def _held_error(site: str, info: LockInfo) -> LockHeld:
    return LockHeld(
        f"site {site!r} is locked by run {info.holder.run_id} "
        f"(pid {info.holder.pid} on {info.holder.host}) since {info.acquired_at}"
    )


def _lease_end(now: datetime) -> float:
    return round(now.astimezone(UTC).timestamp() + LEASE_SECONDS, 3)


def _raise_result(exc: ClientError, method: str) -> None:
    """Turn a conditional failure into ``ConditionFailed`` and a retryable cancelled transaction into
    a retryable error; anything else goes on to the adapter's translation."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "500":
        # a 500 whose body is not DynamoDB's JSON: every call the journal makes exists, so this is a server
        # fault (seen from moto's server under concurrent transactions), and each journal write is retried
        # unchanged, so a retry is safe
        raise _retryable(method, "HTTP 500", "a 500 answer without DynamoDB's error body") from exc
    if code == "ConditionalCheckFailedException":
        raise ConditionFailed(["ConditionalCheckFailed"]) from None
    if code == "TransactionCanceledException":
        reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons:
            raise ConditionFailed(reasons) from None
        if set(reasons) & _RETRYABLE_REASONS:
            raise _retryable(method, code, ", ".join(reasons)) from exc
    if code in _RETRYABLE_CODES:
        raise _retryable(method, code, str(exc)) from exc


def _retryable(method: str, code: str, detail: str) -> AwsRetryableError:
    error = AwsRetryableError(f"dynamodb.{method}: {code}: {detail}")
    error.service, error.operation, error.code = "dynamodb", method, code
    return error


def _run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def _lock_pk(site: str) -> str:
    return f"LOCK#{site}"


def _key(pk: str, sk: str) -> dict:
    return {"pk": _s(pk), "sk": _s(sk)}


def _s(text: str) -> dict:
    return {"S": text}


def _n(number: float) -> dict:
    return {"N": repr(number)}


def _value(name: str, value: Any) -> dict:
    """A record field as an attribute value; dict fields as JSON (compressed when large)."""
    if name in _JSON_FIELDS:
        text = json.dumps(value, default=str)
        return {"B": zlib.compress(text.encode())} if len(text) > COMPRESS_ABOVE else _s(text)
    return _av(value)


def _decode(name: str, av: dict | None) -> Any:
    value = _py(av)
    if name in _JSON_FIELDS and value is not None:
        return json.loads(zlib.decompress(value).decode() if isinstance(value, bytes) else value)
    return value


def _av(value: Any) -> dict:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return _n(value)
    if isinstance(value, bytes):
        return {"B": value}
    return _s(str(value))


def _py(av: dict | None) -> Any:
    if not av or "NULL" in av:
        return None
    ((kind, value),) = av.items()
    if kind == "N":
        return float(value) if any(c in value for c in ".eE") else int(value)
    return value
