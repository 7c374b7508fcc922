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

Values are encoded by ``codec.py``; calls, retries and conditional failures are ``table.py``'s. The
journal's parts: ``runs.py`` (runs, explicit writes), ``steps.py``, ``events.py`` (timeline, drills),
``outbox.py``, ``base.py`` (the fenced write), ``lock.py`` / ``claims.py`` (the site lock, resource claims).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestrator.clock import Clock, SystemClock
from orchestrator.journal.dynamodb.events import DynamoEvents
from orchestrator.journal.dynamodb.lock import DynamoSiteLock
from orchestrator.journal.dynamodb.outbox import DynamoOutbox
from orchestrator.journal.dynamodb.runs import DynamoRuns
from orchestrator.journal.dynamodb.table import Table
from orchestrator.journal.records import Holder, LockInfo


class DynamoJournal(DynamoRuns, DynamoEvents, DynamoOutbox):
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

    def close(self) -> None:
        """Nothing to close: boto3 clients hold no state worth flushing."""
