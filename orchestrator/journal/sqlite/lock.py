"""The site lock in the journal file, with the host lock and the machine-wide resource claims that back it."""

from __future__ import annotations

import os
import shlex
import socket
import time
from collections.abc import Sequence
from datetime import datetime

from orchestrator.clock import iso
from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.hostlock import HostLock, HostLockBusy, ResourceBusy, ResourceClaims
from orchestrator.journal.lease import describe_busy, describe_lock, lock_alive
from orchestrator.journal.records import Holder, LockInfo
from orchestrator.journal.sqlite import schema
from orchestrator.journal.sqlite.base import SqliteBase
from orchestrator.journal.sqlite.db import BUSY_TIMEOUT_SECONDS, JournalBusy


class SqliteSiteLock(SqliteBase):
    """``SiteLock`` on the file (see ``acquire_lock``)."""

    _host_locks: dict[str, socket.socket]
    _claims: dict[str, ResourceClaims]

    def acquire_lock(
        self, site: str, holder: Holder, now: datetime, resources: Sequence[str] = ()
    ) -> LockInfo | None:
        """Take the site lock and claim ``resources`` (``orchestrator.site_resources``), all or none;
        returns the previous holder's info when a dead one was taken over.

        Raises LockHeld when a live run holds the site, or any of the resources. A holder on this host is
        dead when its PID is gone (or was reused); a holder on another host is dead when its heartbeat is
        older than the lease. This process, as holder, also binds a host lock that lives as long as it
        does (see ``HostLock``), so a lock row that vanished with the journal file never lets a second run
        in; and it claims the resources machine-wide (``ResourceClaims``: whatever state dir another run
        on this machine uses).
        """
        mine = holder.pid == os.getpid() and holder.host == socket.gethostname()
        if mine and site not in self._host_locks:
            self._host_locks[site] = self._bind_host_lock(site)
        try:
            if mine and resources:
                self._claim(site, holder, now, resources)
            return self._acquire_row(site, holder, now)
        except BaseException:
            if mine:
                self._drop_host_lock(site)
            raise

    def _acquire_row(self, site: str, holder: Holder, now: datetime) -> LockInfo | None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except JournalBusy:
                raise self._held_error(site, f"the journal stayed busy for {BUSY_TIMEOUT_SECONDS:.0f} s") from None
            try:
                current = schema.lock_of(self._db.execute("SELECT * FROM locks WHERE site=?", (site,)).fetchone())
                previous = None
                if current is not None and current.holder != holder:
                    if lock_alive(current, now):
                        raise LockHeld(describe_lock(current))
                    previous = current
                self._db.execute(
                    "INSERT OR REPLACE INTO locks VALUES (?,?,?,?,?,?,?)",
                    (site, holder.run_id, holder.host, holder.pid, holder.pid_start, iso(now), iso(now)),
                )
                self._db.execute("COMMIT")
                return previous
            except BaseException:
                self._db.rollback()
                raise

    def _bind_host_lock(self, site: str) -> socket.socket:
        """Bind this (state dir, site)'s abstract socket; LockHeld naming the live holder if it is bound."""
        key = f"{self.path.parent.resolve()}\0{site}"
        try:
            return HostLock.bind(key)
        except HostLockBusy as busy:
            raise self._held_error(site, busy.describe()) from None

    def _claim(self, site: str, holder: Holder, now: datetime, resources: Sequence[str]) -> None:
        """Claim the resources machine-wide; LockHeld naming the run (and its site) that holds one."""
        claims = self._claims.setdefault(site, ResourceClaims())
        where = f" --state-dir {shlex.quote(str(self.path.parent.resolve()))}"
        about = {"run_id": holder.run_id, "site": site, "host": holder.host, "pid": holder.pid,
                 "since": iso(now), "where": where}
        try:
            claims.claim(resources, about)
        except ResourceBusy as busy:
            raise LockHeld(describe_busy(busy, site)) from None

    def _drop_host_lock(self, site: str) -> None:
        sock = self._host_locks.pop(site, None)
        if sock is not None:
            sock.close()
        claims = self._claims.pop(site, None)
        if claims is not None:
            claims.release()

    def _held_error(self, site: str, detail: str) -> LockHeld:
        """LockHeld naming the holder as the journal records it (waiting briefly for a holder that has
        just bound its host lock to write its row), else as ``detail`` describes it."""
        deadline = time.monotonic() + 2.0
        while True:
            try:
                current = self.current_lock(site)
            except InvalidInput:
                current = None
            if current is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if current is not None:
            return LockHeld(describe_lock(current))
        return LockHeld(f"site {site!r} is locked by {detail}; the journal {self.path} holds no lock row for it")

    def heartbeat(self, site: str, holder: Holder, now: datetime) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE locks SET heartbeat_at=? WHERE site=? AND run_id=? AND pid=? AND host=?",
                (iso(now), site, holder.run_id, holder.pid, holder.host),
            )
            # a journal removed or replaced under the run: its lock row no longer guards anything
            return cur.rowcount == 1 and self.lost is None

    def release_lock(self, site: str, holder: Holder) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "DELETE FROM locks WHERE site=? AND run_id=? AND pid=? AND host=?",
                    (site, holder.run_id, holder.pid, holder.host),
                )
        finally:
            if holder.pid == os.getpid():
                self._drop_host_lock(site)

    def current_lock(self, site: str) -> LockInfo | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM locks WHERE site=?", (site,)).fetchone()
        return schema.lock_of(row)

    def _release_host_locks(self) -> None:
        for site in list(self._host_locks):
            self._drop_host_lock(site)
