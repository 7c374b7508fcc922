"""The lock and claim items as read and matched: shared by the site lock (``lock.py``) and the resource claims
(``claims.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.clock import iso
from orchestrator.errors import LockHeld
from orchestrator.journal.dynamodb.codec import Item, n, s
from orchestrator.journal.lease import lease_end
from orchestrator.journal.records import Holder, LockInfo

#: how many times a write re-reads and tries again after losing a compare-and-swap race
CONTENTION_ROUNDS = 5
#: the most items one DynamoDB transaction may hold (claims beyond it go in further transactions)
TRANSACTION_ITEMS = 100

#: a conditional write applied only while the item is still this holder's
HOLDER_MATCH = "#r = :r AND #p = :p AND #h = :h"
HOLDER_NAMES = {"#r": "run_id", "#p": "pid", "#h": "host"}


class LockLost(LockHeld):
    """This process's lock was taken over: its writes to the run are refused (the new holder owns it)."""


@dataclass
class StoredLock:
    """The lock item as read: who holds it, and what a compare-and-swap and the fence check against."""

    info: LockInfo
    version: int
    token: str
    expires_at: float


def stored(item: Item, site: str) -> StoredLock:
    holder = Holder(item["run_id"]["S"], item["host"]["S"], int(item["pid"]["N"]), item["pid_start"]["S"])
    info = LockInfo(site, holder, item["acquired_at"]["S"], item["heartbeat_at"]["S"])
    return StoredLock(info, int(item["version"]["N"]), item["token"]["S"], float(item["expires_at"]["N"]))


def holder_values(holder: Holder) -> Item:
    return {":r": s(holder.run_id), ":p": n(holder.pid), ":h": s(holder.host)}


def held_by(holder: Holder, now: datetime) -> Item:
    """The attributes a lock or claim item carries for its holder, taken (or taken over) at ``now``."""
    return {
        "run_id": s(holder.run_id),
        "host": s(holder.host),
        "pid": n(holder.pid),
        "pid_start": s(holder.pid_start),
        "acquired_at": s(iso_at(now)),
        "heartbeat_at": s(iso_at(now)),
        "expires_at": n(lease_end(now)),
    }


def iso_at(moment: datetime) -> str:
    """``iso`` of a moment that is never None."""
    text = iso(moment)
    assert text is not None
    return text
