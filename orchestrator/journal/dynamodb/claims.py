"""Resources a run may change (``orchestrator.site_resources``), claimed with the site lock by the same holder,
all or none: in the table (``CLAIM#<resource>`` / ``CLAIM``, a lease renewed and released with the lock) and
machine-wide (``ResourceClaims``, which a local-mode run on this machine sees too)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestrator.errors import LockHeld
from orchestrator.journal.dynamodb.codec import Item, claim_pk, key, n, s
from orchestrator.journal.dynamodb.lockitems import (
    CONTENTION_ROUNDS,
    HOLDER_MATCH,
    HOLDER_NAMES,
    TRANSACTION_ITEMS,
    held_by,
    holder_values,
    iso_at,
    stored,
)
from orchestrator.journal.dynamodb.table import ConditionFailed, Table
from orchestrator.journal.hostlock import ResourceBusy, ResourceClaims
from orchestrator.journal.lease import describe_busy, describe_claim, lock_alive
from orchestrator.journal.records import Holder, LockInfo


class DynamoClaims:
    """The resource claims of ``DynamoSiteLock`` (its ``acquire_lock`` claims, ``heartbeat`` renews,
    ``release_lock`` releases)."""

    _table: Table
    _lock: threading.Lock
    #: site -> the resources this process claimed in the table with its lock, and machine-wide
    _claimed: dict[str, tuple[str, ...]]
    _host_claims: dict[str, ResourceClaims]

    def current_claim(self, resource: str) -> tuple[str, LockInfo] | None:
        """The claim on ``resource``: the site it was claimed for and by whom; None when it is free."""
        item = self._table.get(claim_pk(resource), "CLAIM")
        if not item:
            return None
        return item["site"]["S"], stored(item, item["site"]["S"]).info

    # ------------------------------------------------------------------ resource claims
    def _claim_on_host(self, site: str, holder: Holder, now: datetime, resources: Sequence[str]) -> None:
        """The machine-wide claims (``ResourceClaims``): a local-mode run on this machine sees them too."""
        with self._lock:
            claims = self._host_claims.setdefault(site, ResourceClaims())
        about = {"run_id": holder.run_id, "site": site, "host": holder.host, "pid": holder.pid,
                 "since": iso_at(now), "where": " --site SITE.json"}
        try:
            claims.claim(resources, about)
        except ResourceBusy as busy:
            raise LockHeld(describe_busy(busy, site)) from None

    def _claim(self, site: str, holder: Holder, now: datetime, resources: tuple[str, ...]) -> None:
        """Claim every resource in the table, all or none: each claim item is created if free, or replaced
        if its holder is this one or dead (compare-and-swap on its ``version``), in one transaction (one
        per TRANSACTION_ITEMS claims, a later one refused undoing the earlier ones). LockHeld naming the
        run, its site and the resource when a live holder has one."""
        for _ in range(CONTENTION_ROUNDS):
            writes = [self._claim_write(site, holder, now, resource) for resource in resources]
            done: list[str] = []
            try:
                for start in range(0, len(writes), TRANSACTION_ITEMS):
                    chunk = writes[start:start + TRANSACTION_ITEMS]
                    self._table.transact(chunk, uuid.uuid4().hex)
                    done.extend(resources[start:start + len(chunk)])
            except ConditionFailed:
                self._unclaim(done, holder)
                continue  # someone else moved first: judge the claims again
            with self._lock:
                self._claimed[site] = resources
            return
        raise LockHeld(f"site {site!r}: the claims on its resources kept changing hands; try again")

    def _claim_write(self, site: str, holder: Holder, now: datetime, resource: str) -> dict[str, Any]:
        item = self._table.get(claim_pk(resource), "CLAIM")
        current = stored(item, item["site"]["S"]) if item else None
        alive = current is not None and lock_alive(current.info, now, lease_ends=current.expires_at)
        if current is not None and current.info.holder != holder and alive:
            holding = current.info.holder
            raise LockHeld(describe_claim(
                resource, site, run_id=holding.run_id, holder_site=current.info.site, host=holding.host,
                pid=holding.pid, since=current.info.acquired_at, where=" --site SITE.json",
            ))
        claim: Item = {
            "pk": s(claim_pk(resource)),
            "sk": s("CLAIM"),
            "resource": s(resource),
            "site": s(site),
            **held_by(holder, now),
            "token": s(uuid.uuid4().hex),
            "version": n(current.version + 1 if current else 1),
        }
        if current is None:
            return {"Put": {"Item": claim, "ConditionExpression": "attribute_not_exists(pk)"}}
        return {"Put": {
            "Item": claim,
            "ConditionExpression": "#ver = :seen",
            "ExpressionAttributeNames": {"#ver": "version"},
            "ExpressionAttributeValues": {":seen": n(current.version)},
        }}

    def _unclaim(self, resources: Sequence[str], holder: Holder) -> None:
        for resource in resources:
            with contextlib.suppress(ConditionFailed):
                self._table.call(
                    "delete_item",
                    TableName=self._table.name,
                    Key=key(claim_pk(resource), "CLAIM"),
                    ConditionExpression=HOLDER_MATCH,
                    ExpressionAttributeNames=HOLDER_NAMES,
                    ExpressionAttributeValues=holder_values(holder),
                )
