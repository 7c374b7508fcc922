"""The site lock in the journal's DynamoDB table: a lease, taken and renewed by compare-and-swap.

- ``LOCK#<site>`` / ``LOCK``                   the lock (``expires_at`` = the lease's end, read by the TTL)
- ``LOCK#<site>`` / ``TAKEOVER#<at>#<token>``  who took a dead holder's lock over, and when
- ``CLAIM#<resource>`` / ``CLAIM``             one resource a run may change (``orchestrator.site_resources``),
                                               claimed with the site lock by the same holder, all or none
                                               (one transaction), renewed and released with it; a lease too

The claims make two runs of two site names that share a resource exclude each other, across machines;
the holder also claims them machine-wide (``ResourceClaims``), which covers a local-mode run on this machine
too (``claims.py``).

A free lock is created with ``attribute_not_exists(pk)``; a dead holder's lock is replaced only if it is
still exactly the ``version`` that was judged dead (``orchestrator.journal.lease`` judges). Each
acquisition draws a new ``token``: while this process holds the lock, the store's writes to the site's
runs are fenced on it (``token``), so a process whose lock was taken over gets ``LockLost``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from orchestrator.clock import parse_iso
from orchestrator.errors import LockHeld
from orchestrator.journal.dynamodb.claims import DynamoClaims
from orchestrator.journal.dynamodb.codec import Item, claim_pk, decode, key, lock_pk, n, py, run_pk, s
from orchestrator.journal.dynamodb.lockitems import (
    CONTENTION_ROUNDS,
    HOLDER_MATCH,
    HOLDER_NAMES,
    LockLost,
    StoredLock,
    held_by,
    holder_values,
    iso_at,
    stored,
)
from orchestrator.journal.dynamodb.table import ConditionFailed, Table
from orchestrator.journal.hostlock import ResourceClaims
from orchestrator.journal.lease import (
    LEASE_SECONDS,
    describe_lock,
    lease_end,
    lock_alive,
)
from orchestrator.journal.records import Holder, LockInfo
from orchestrator.model import RunStatus

__all__ = ["CONTENTION_ROUNDS", "DynamoSiteLock", "LockLost", "StoredLock"]


class DynamoSiteLock(DynamoClaims):
    """The ``SiteLock`` interface on the table. Thread-safe."""

    def __init__(self, table: Table):
        self._table = table
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}
        #: site -> the resources this process claimed in the table with its lock, and machine-wide
        self._claimed: dict[str, tuple[str, ...]] = {}
        self._host_claims: dict[str, ResourceClaims] = {}

    def token(self, site: str) -> str | None:
        """The token of this process's lock on ``site`` (the fence of its writes); None when it holds none."""
        with self._lock:
            return self._held.get(site)

    def acquire_lock(
        self, site: str, holder: Holder, now: datetime, resources: Sequence[str] = ()
    ) -> LockInfo | None:
        """Take the site lock, then claim ``resources`` (all or none; on a refusal the site lock is
        released again); returns the previous holder's info when a dead one was taken over.

        Raises LockHeld when a live run holds the site or one of the resources (same host: its PID runs;
        another host: its lease, LEASE_SECONDS after its last heartbeat, has not expired at ``now``).
        """
        previous = self._acquire_site(site, holder, now)
        if not resources:
            return previous
        try:
            if holder.pid == os.getpid() and holder.host == socket.gethostname():
                self._claim_on_host(site, holder, now, resources)
            self._claim(site, holder, now, tuple(sorted(set(resources))))
        except BaseException:
            self.release_lock(site, holder)
            raise
        return previous

    def _acquire_site(self, site: str, holder: Holder, now: datetime) -> LockInfo | None:
        for _ in range(CONTENTION_ROUNDS):
            current = self.read(site)
            previous = None
            if current is None:
                self._refuse_if_running_unlocked(site, holder, now)
            if current is not None and current.info.holder != holder:
                if lock_alive(current.info, now, lease_ends=current.expires_at):
                    raise LockHeld(describe_lock(current.info))
                previous = current.info
            token = uuid.uuid4().hex
            try:
                self._write(site, holder, now, token, current, previous)
            except ConditionFailed:
                mine = self.read(site)
                if mine is None or mine.token != token:
                    continue  # someone else moved first: judge the lock again
            with self._lock:
                self._held[site] = token
            return previous
        raise LockHeld(f"site {site!r}: the lock kept changing hands; try again")

    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool:
        """Extend the lease of the lock and of the claims taken with it; False when this holder no longer
        holds one of them (taken over or released)."""
        with self._lock:
            claimed = self._claimed.get(site, ())
        keys = [key(lock_pk(site), "LOCK"), *(key(claim_pk(r), "CLAIM") for r in claimed)]
        names = {**HOLDER_NAMES, "#beat": "heartbeat_at", "#exp": "expires_at", "#ver": "version"}
        values = {":at": s(iso_at(now)), ":exp": n(lease_end(now)), ":one": n(1), **holder_values(holder)}
        try:
            for item_key in keys:
                self._table.call(
                    "update_item",
                    TableName=self._table.name,
                    Key=item_key,
                    UpdateExpression="SET #beat = :at, #exp = :exp, #ver = #ver + :one",
                    ConditionExpression=HOLDER_MATCH,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except ConditionFailed:
            return False
        return True

    def release_lock(self, site: str, holder: Holder) -> None:
        with self._lock:
            self._held.pop(site, None)
            claimed = self._claimed.pop(site, ())
            host_claims = self._host_claims.pop(site, None)
        try:
            for item_key in [*(key(claim_pk(r), "CLAIM") for r in claimed), key(lock_pk(site), "LOCK")]:
                with contextlib.suppress(ConditionFailed):  # not ours any more (taken over), or already released
                    self._table.call(
                        "delete_item",
                        TableName=self._table.name,
                        Key=item_key,
                        ConditionExpression=HOLDER_MATCH,
                        ExpressionAttributeNames=HOLDER_NAMES,
                        ExpressionAttributeValues=holder_values(holder),
                    )
        finally:
            if host_claims is not None:
                host_claims.release()

    def current_lock(self, site: str) -> LockInfo | None:
        current = self.read(site)
        return None if current is None else current.info

    def takeovers(self, site: str) -> list[dict[str, Any]]:
        """Every recorded takeover of the site's lock, oldest first: at, by (holder), previous (LockInfo)."""
        return [json.loads(i["record"]["S"]) for i in self._table.query(lock_pk(site), prefix="TAKEOVER#")]

    def lost(self, site: str, run_id: str) -> LockLost:
        """The error for a refused fenced write (the token stays: every later write is refused too)."""
        current = self.read(site)
        who = "nobody"
        if current is not None:
            holder = current.info.holder
            who = f"run {holder.run_id} (pid {holder.pid} on {holder.host})"
        resume = "" if current is not None else f"; resume it with `orchestrator resume {run_id} --site SITE.json`"
        return LockLost(
            f"the lock on site {site!r} was lost (now held by {who}); this process stopped writing to run "
            f"{run_id}{resume}"
        )

    def read(self, site: str) -> StoredLock | None:
        item = self._table.get(lock_pk(site), "LOCK")
        return stored(item, site) if item else None

    def _refuse_if_running_unlocked(self, site: str, holder: Holder, now: datetime) -> None:
        """No lock item, yet a recent run of the site is running and wrote to the journal within the lease:
        its lock item was deleted under it (by hand: the TTL only removes expired leases). As far as anyone
        can tell it is alive, so the lock is not free until its last write is older than the lease."""
        for entry in self._table.query(f"RUNS#{site}", forward=False, page=3):
            run_id = entry["run_id"]["S"]
            if run_id == holder.run_id:
                continue
            meta = self._table.get(run_pk(run_id), "META")
            if not meta:  # listed, but its creation never finished
                continue
            last = self._last_event_at(run_id) if decode("status", meta.get("status")) == RunStatus.RUNNING else None
            if last is not None and now - last < timedelta(seconds=LEASE_SECONDS):
                raise LockHeld(
                    f"site {site!r} is taken: run {run_id} is running (its last journal write at {iso_at(last)}) "
                    f"but the site's lock item is missing from {self._table.source}, deleted while the run was "
                    f"live; the lock is free {LEASE_SECONDS:.0f} s after that run's last write"
                )

    def _last_event_at(self, run_id: str) -> datetime | None:
        for item in self._table.query(run_pk(run_id), prefix="EVENT#", forward=False, page=1):
            return parse_iso(py(item.get("at")))
        return None

    def _write(
        self,
        site: str,
        holder: Holder,
        now: datetime,
        token: str,
        current: StoredLock | None,
        previous: LockInfo | None,
    ) -> None:
        item: Item = {
            "pk": s(lock_pk(site)),
            "sk": s("LOCK"),
            **held_by(holder, now),
            "token": s(token),
            "version": n(current.version + 1 if current else 1),
        }
        if current is None:
            self._table.put(item, condition="attribute_not_exists(pk)")
            return
        cas = {
            "ConditionExpression": "#ver = :seen",
            "ExpressionAttributeNames": {"#ver": "version"},
            "ExpressionAttributeValues": {":seen": n(current.version)},
        }
        if previous is None:  # the same holder again: refresh
            self._table.call("put_item", TableName=self._table.name, Item=item, **cas)
            return
        record = {"at": iso_at(now), "by": asdict(holder), "previous": asdict(previous)}
        item |= {"taken_over_at": s(iso_at(now)), "taken_over_from": s(json.dumps(asdict(previous)))}
        history = {"pk": s(lock_pk(site)), "sk": s(f"TAKEOVER#{iso_at(now)}#{token}"), "record": s(json.dumps(record))}
        self._table.transact([{"Put": {"Item": item, **cas}}, {"Put": {"Item": history}}], token)
